/*
 * A mailing address in one normalised form, so that "12 North Main Street,
 * Apt. 4" and "12 n main st #4" are the same door: upper case, punctuation
 * gone, USPS street suffixes, directionals and unit designators abbreviated
 * one way (USPS Publication 28, appendices C1 and C2), every unit designator
 * folded to '#', and the ZIP cut to its first five digits.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fieldsync.h"

/* Word -> its one short form.  Suffixes first, then directionals. */
static const char *const words[][2] = {
	{"ALLEY", "ALY"}, {"ALLY", "ALY"}, {"AVENUE", "AVE"}, {"AV", "AVE"}, {"AVEN", "AVE"},
	{"AVENU", "AVE"}, {"AVN", "AVE"}, {"AVNUE", "AVE"}, {"BOULEVARD", "BLVD"}, {"BOUL", "BLVD"},
	{"BOULV", "BLVD"}, {"BRIDGE", "BRG"}, {"CENTER", "CTR"}, {"CENTRE", "CTR"}, {"CIRCLE", "CIR"},
	{"CIRC", "CIR"}, {"CIRCL", "CIR"}, {"COURT", "CT"}, {"COVE", "CV"}, {"CREEK", "CRK"},
	{"CRESCENT", "CRES"}, {"CROSSING", "XING"}, {"DRIVE", "DR"}, {"DRIV", "DR"}, {"DRV", "DR"},
	{"EXPRESSWAY", "EXPY"}, {"EXPRESS", "EXPY"}, {"FREEWAY", "FWY"}, {"GARDENS", "GDNS"},
	{"GARDEN", "GDN"}, {"HEIGHTS", "HTS"}, {"HIGHWAY", "HWY"}, {"HIGHWY", "HWY"}, {"HILL", "HL"},
	{"HOLLOW", "HOLW"}, {"JUNCTION", "JCT"}, {"LAKE", "LK"}, {"LANE", "LN"}, {"LOOP", "LOOP"},
	{"MEADOWS", "MDWS"}, {"MOUNT", "MT"}, {"MOUNTAIN", "MTN"}, {"PARKWAY", "PKWY"}, {"PARKWY", "PKWY"},
	{"PKWAY", "PKWY"}, {"PLACE", "PL"}, {"PLAZA", "PLZ"}, {"POINT", "PT"}, {"RIDGE", "RDG"},
	{"ROAD", "RD"}, {"ROUTE", "RTE"}, {"SQUARE", "SQ"}, {"STREET", "ST"}, {"STRT", "ST"},
	{"STR", "ST"}, {"TERRACE", "TER"}, {"TRAIL", "TRL"}, {"TRAILS", "TRL"}, {"TURNPIKE", "TPKE"},
	{"VALLEY", "VLY"}, {"VIEW", "VW"}, {"VILLAGE", "VLG"}, {"WAY", "WAY"},
	{"NORTH", "N"}, {"SOUTH", "S"}, {"EAST", "E"}, {"WEST", "W"}, {"NORTHEAST", "NE"},
	{"NORTHWEST", "NW"}, {"SOUTHEAST", "SE"}, {"SOUTHWEST", "SW"},
};

/* Unit designators (USPS C2): all the same '#' for matching. */
static const char *const units[] = {
	"APARTMENT", "APT", "SUITE", "STE", "UNIT", "ROOM", "RM", "FLOOR", "FL", "BUILDING", "BLDG",
	"DEPARTMENT", "DEPT", "SPACE", "SPC", "LOT", "TRAILER", "TRLR", "OFFICE", "OFC", "#",
};

static const char *
short_form(const char *w)
{
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcmp(w, units[i]) == 0)
			return "#";
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcmp(w, words[i][0]) == 0)
			return words[i][1];
	return w;
}

/* The words of s, upper case, '#' a word of its own, other punctuation a gap. */
static void
add_words(struct fs_buf *b, const char *s)
{
	char w[128];
	size_t n = 0;

	for (;; s++) {
		unsigned char ch = s && *s ? (unsigned char)*s : '\0';

		if (isalnum(ch) || ch >= 0x80 || (ch == '-' && n > 0)) {
			if (n < sizeof w - 1)
				w[n++] = (char)toupper(ch);
			continue;
		}
		if (n > 0) {
			w[n] = '\0';
			while (n > 0 && w[n - 1] == '-')	/* "4-" */
				w[--n] = '\0';
			if (n > 0) {
				if (b->len > 0)
					fs_buf_addc(b, ' ');
				fs_buf_adds(b, short_form(w));
			}
			n = 0;
		}
		if (ch == '#') {
			if (b->len > 0)
				fs_buf_addc(b, ' ');
			fs_buf_addc(b, '#');
		}
		if (ch == '\0')
			break;
	}
}

char *
fs_address_key(const char *line1, const char *line2, const char *city, const char *region, const char *postal)
{
	struct fs_buf b = {0}, tail = {0};
	size_t digits = 0;
	char *out, *r, *w;

	fs_buf_adds(&b, "");
	add_words(&b, line1);
	add_words(&b, line2);
	/* "# 4" and "#4": one unit, written "#4". */
	for (r = w = b.data; *r; r++) {
		*w++ = *r;
		if (*r == '#' && r[1] == ' ')
			r++;
	}
	*w = '\0';
	b.len = (size_t)(w - b.data);
	if (b.len == 0) {
		fs_buf_free(&b);
		return NULL;
	}
	fs_buf_adds(&tail, "");
	for (const char *p = postal; p && *p && digits < 5; p++)
		if (isdigit((unsigned char)*p))
			fs_buf_addc(&tail, *p), digits++;
	if (digits < 5) {	/* no US ZIP: the town says where */
		fs_buf_free(&tail);
		fs_buf_adds(&tail, "");
		add_words(&tail, city);
		add_words(&tail, region);
		add_words(&tail, postal);
	}
	out = fs_xasprintf("%s|%s", b.data, tail.data);
	fs_buf_free(&b);
	fs_buf_free(&tail);
	return out;
}

/* A ZIP: five digits, or ZIP+4. */
static bool
is_zip(const char *w)
{
	size_t n = strspn(w, "0123456789");

	return n == 5 && (w[5] == '\0' || (w[5] == '-' && strspn(w + 6, "0123456789") == 4 && w[10] == '\0'));
}

/* A part that names a unit, not a town: "Apt 4", "Suite 200", "#4". */
static bool
is_unit(const char *part)
{
	static const char *const units[] = {"apt", "apartment", "unit", "suite", "ste", "bldg", "building", "fl",
					     "floor", "rm", "room", "lot", "spc", "space", "dept", "#", NULL};
	size_t n = strcspn(part, " #.");

	if (part[0] == '#')
		return true;
	for (int i = 0; units[i]; i++)
		if (strlen(units[i]) == n && strncasecmp(part, units[i], n) == 0)
			return true;
	return false;
}

/*
 * "LINE1[, UNIT], CITY, REGION ZIP" as people write it: the ZIP is the last
 * five-digit word of any part after the street, whatever the commas
 * ("Austin, 78701" or "Austin TX 78701"); a part that names a unit is the
 * second line.  Without a ZIP the town must be there (CITY[, REGION]).
 */
char *
fs_address_key_text(const char *text)
{
	char *copy = fs_xstrdup(text), *part[8], *save = NULL, *key = NULL, *zip = NULL;
	const char *line2 = NULL, *city = NULL, *region = NULL;
	int n = 0;

	for (char *p = strtok_r(copy, ",", &save); p && n < 8; p = strtok_r(NULL, ",", &save))
		if (*(p = fs_trim(p)))
			part[n++] = p;
	/* A door has a number: "Austin, TX" names a town, not an address. */
	if (n == 0 || strpbrk(part[0], "0123456789") == NULL)
		goto out;
	for (int i = n - 1; i >= 1 && zip == NULL; i--) {
		char *sp = strrchr(part[i], ' '), *w = sp ? sp + 1 : part[i];

		if (is_zip(w)) {
			zip = w;
			if (sp) {
				*sp = '\0';
				fs_trim(part[i]);
			} else {
				part[i] = NULL;	/* the part was the ZIP alone */
			}
		}
	}
	for (int i = 1; i < n; i++) {
		if (part[i] == NULL || part[i][0] == '\0')
			continue;
		if (line2 == NULL && city == NULL && is_unit(part[i]))
			line2 = part[i];
		else if (city == NULL)
			city = part[i];
		else if (region == NULL)
			region = part[i];
	}
	if (zip || city)
		key = fs_address_key(part[0], line2, city, region, zip);
out:
	free(copy);
	return key;
}
