/*
 * The duplicate scan: which contacts are probably one person.
 *
 * Every contact is normalised once (e-mail case, phone digits, name tokens
 * with nicknames folded, street words abbreviated one way), then put in a few
 * blocks (same e-mail, same phone, name sound + postal code, both names'
 * sounds, house number + street sound).  Only pairs that share a block are
 * compared, so the cost grows with the contacts, not with their square.  A
 * pair matches on e-mail, on phone with a close name, or on close name and
 * close address; a different first name at the same address, phone and
 * surname is a family member and never matches without the same e-mail.
 *
 * An address matches only when it names the same home: the same house
 * number, and no unit or ZIP that differ.  Towns repeat names, and two men
 * called Sven Thomas on Oak Drive are two people unless they live at one
 * number.
 *
 * Sets are complete-linkage clusters: a contact joins a set only when it
 * matches every member, so a chain A~B~C (A's duplicate B resembles a
 * namesake C) never puts A and C together.  A set's score is its weakest
 * pair's.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

#define MAX_BLOCK 400		/* larger blocks say little and cost much: skipped */

struct contact {
	char *id, *seen;
	char *email, *phone, *first, *last, *line1, *num, *unit, *street, *city, *postal;
	char first_sdx[5], last_sdx[5], street_sdx[5];
	char *raw[FS_CONTACT_NFIELDS];	/* the fields as given, for the report */
};

struct fs_scan {
	struct contact *c;
	int n, cap;
	struct fs_counts index;	/* id -> 1 + position */
};

/* Nicknames and short forms, folded onto one given name. */
static const char *const nicknames[][2] = {
	{"abby", "abigail"}, {"al", "albert"}, {"alex", "alexander"}, {"andy", "andrew"},
	{"drew", "andrew"}, {"tony", "anthony"}, {"barb", "barbara"}, {"ben", "benjamin"},
	{"bill", "william"}, {"billy", "william"}, {"will", "william"}, {"willy", "william"},
	{"liam", "william"}, {"bob", "robert"}, {"bobby", "robert"}, {"rob", "robert"},
	{"robbie", "robert"}, {"bert", "robert"}, {"cathy", "catherine"}, {"kathy", "katherine"},
	{"kate", "katherine"}, {"katie", "katherine"}, {"kath", "katherine"}, {"kathryn", "katherine"},
	{"catherine", "katherine"}, {"kitty", "katherine"}, {"chris", "christopher"},
	{"chuck", "charles"}, {"charlie", "charles"}, {"dan", "daniel"}, {"danny", "daniel"},
	{"dave", "david"}, {"davey", "david"}, {"deb", "deborah"}, {"debbie", "deborah"},
	{"dick", "richard"}, {"rick", "richard"}, {"rich", "richard"}, {"ricky", "richard"},
	{"don", "donald"}, {"ed", "edward"}, {"eddie", "edward"}, {"ted", "edward"},
	{"ned", "edward"}, {"liz", "elizabeth"}, {"lizzie", "elizabeth"}, {"beth", "elizabeth"},
	{"betty", "elizabeth"}, {"betsy", "elizabeth"}, {"eliza", "elizabeth"}, {"libby", "elizabeth"},
	{"fred", "frederick"}, {"freddie", "frederick"}, {"frank", "francis"}, {"gabe", "gabriel"},
	{"greg", "gregory"}, {"hank", "henry"}, {"harry", "henry"}, {"jack", "john"},
	{"johnny", "john"}, {"jon", "john"}, {"jim", "james"}, {"jimmy", "james"},
	{"jamie", "james"}, {"jen", "jennifer"}, {"jenny", "jennifer"}, {"jeff", "jeffrey"},
	{"jerry", "gerald"}, {"joe", "joseph"}, {"joey", "joseph"}, {"josh", "joshua"},
	{"judy", "judith"}, {"kim", "kimberly"}, {"larry", "lawrence"}, {"len", "leonard"},
	{"lenny", "leonard"}, {"maggie", "margaret"}, {"meg", "margaret"}, {"peggy", "margaret"},
	{"marge", "margaret"}, {"matt", "matthew"}, {"mike", "michael"}, {"mikey", "michael"},
	{"mick", "michael"}, {"mickey", "michael"}, {"nate", "nathan"}, {"nick", "nicholas"},
	{"pam", "pamela"}, {"pat", "patricia"}, {"patty", "patricia"}, {"trish", "patricia"},
	{"pete", "peter"}, {"phil", "philip"}, {"ray", "raymond"}, {"ron", "ronald"},
	{"ronnie", "ronald"}, {"sam", "samuel"}, {"sammy", "samuel"}, {"sandy", "sandra"},
	{"steve", "stephen"}, {"steven", "stephen"}, {"stevie", "stephen"}, {"sue", "susan"},
	{"susie", "susan"}, {"suzy", "susan"}, {"tom", "thomas"}, {"tommy", "thomas"},
	{"tim", "timothy"}, {"timmy", "timothy"}, {"vicky", "victoria"}, {"vic", "victor"},
	{"walt", "walter"}, {"wally", "walter"}, {"zach", "zachary"}, {"zack", "zachary"},
	{"alf", "alfred"}, {"alfie", "alfred"}, {"archie", "archibald"}, {"bea", "beatrice"},
	{"connie", "constance"}, {"di", "diana"}, {"dot", "dorothy"}, {"dottie", "dorothy"},
	{"doug", "douglas"}, {"gerry", "gerald"}, {"jo", "joanne"}, {"ken", "kenneth"},
	{"kenny", "kenneth"}, {"lou", "louis"}, {"mandy", "amanda"}, {"mel", "melissa"},
	{"molly", "mary"}, {"polly", "mary"}, {"nan", "ann"}, {"nancy", "ann"}, {"anne", "ann"},
	{"annie", "ann"}, {"nell", "helen"}, {"ollie", "oliver"}, {"reg", "reginald"},
	{"stan", "stanley"}, {"val", "valerie"}, {"bart", "bartholomew"}, {"wes", "wesley"},
};

/* Street words, each folded onto one short form. */
static const char *const street_words[][2] = {
	{"street", "st"}, {"str", "st"}, {"avenue", "ave"}, {"av", "ave"}, {"road", "rd"},
	{"drive", "dr"}, {"drv", "dr"}, {"lane", "ln"}, {"court", "ct"}, {"place", "pl"},
	{"boulevard", "blvd"}, {"highway", "hwy"}, {"parkway", "pkwy"}, {"crescent", "cres"},
	{"circle", "cir"}, {"terrace", "tce"}, {"ter", "tce"}, {"square", "sq"}, {"close", "cl"},
	{"north", "n"}, {"south", "s"}, {"east", "e"}, {"west", "w"}, {"apartment", "apt"},
	{"suite", "ste"}, {"mount", "mt"}, {"saint", "st"}, {"way", "wy"}, {"grove", "gr"},
	{"parade", "pde"}, {"point", "pt"}, {"circuit", "cct"}, {"esplanade", "esp"},
	{"trail", "trl"}, {"expressway", "expy"}, {"freeway", "fwy"}, {"heights", "hts"},
};

const char *
fs_nickname(const char *first)
{
	for (size_t i = 0; i < sizeof nicknames / sizeof nicknames[0]; i++)
		if (strcmp(first, nicknames[i][0]) == 0)
			return nicknames[i][1];
	return first;
}

static const char *
street_word(const char *w)
{
	for (size_t i = 0; i < sizeof street_words / sizeof street_words[0]; i++)
		if (strcmp(w, street_words[i][0]) == 0)
			return street_words[i][1];
	return w;
}

void
fs_soundex(const char *s, char out[5])
{
	/*                       abcdefghijklmnopqrstuvwxyz */
	static const char code[] = "01230120022455012623010202";
	int n = 0;
	char last = 0;

	memset(out, 0, 5);
	for (; *s && n < 4; s++) {
		int ch = tolower((unsigned char)*s);
		char c;

		if (ch < 'a' || ch > 'z')
			continue;
		c = code[ch - 'a'];
		if (n == 0) {
			out[n++] = (char)toupper(ch);
			last = c;
		} else if (c != '0' && c != last) {
			out[n++] = c;
			last = c;
		} else if (ch != 'h' && ch != 'w') {
			last = c;
		}
	}
	while (n > 0 && n < 4)
		out[n++] = '0';
}

double
fs_jaro_winkler(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), range, m = 0, t = 0, k = 0, prefix = 0;
	bool fa[64] = {0}, fb[64] = {0};
	double j;

	if (la == 0 || lb == 0)
		return la == lb ? 1.0 : 0.0;
	if (la > 64)
		la = 64;
	if (lb > 64)
		lb = 64;
	range = (la > lb ? la : lb) / 2;
	range = range > 0 ? range - 1 : 0;
	for (size_t i = 0; i < la; i++) {
		size_t lo = i > range ? i - range : 0, hi = i + range + 1 < lb ? i + range + 1 : lb;

		for (size_t x = lo; x < hi; x++)
			if (!fb[x] && a[i] == b[x]) {
				fa[i] = fb[x] = true;
				m++;
				break;
			}
	}
	if (m == 0)
		return 0.0;
	for (size_t i = 0; i < la; i++) {
		if (!fa[i])
			continue;
		while (!fb[k])
			k++;
		if (a[i] != b[k])
			t++;
		k++;
	}
	j = ((double)m / la + (double)m / lb + (m - t / 2.0) / m) / 3.0;
	while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix])
		prefix++;
	return j > 0.7 ? j + prefix * 0.1 * (1.0 - j) : j;
}

/* Lower-case letters and digits, words separated by one space. */
static char *
fold(const char *s, bool keep_digits)
{
	struct fs_buf b = {0};
	bool space = false;

	fs_buf_adds(&b, "");
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalpha(ch) || (keep_digits && isdigit(ch)) || ch >= 0x80) {
			if (space && b.len > 0)
				fs_buf_addc(&b, ' ');
			space = false;
			fs_buf_addc(&b, (char)tolower(ch));
		} else if (ch != '\'') {
			space = true;
		}
	}
	return b.data;
}

static char *
nonempty(char *s)
{
	if (s && *s == '\0') {
		free(s);
		return NULL;
	}
	return s;
}

static char *
norm_email(const char *s)
{
	char *e;

	if (s == NULL)
		return NULL;
	e = fs_xstrdup(s);
	fs_trim(e);
	for (char *p = e; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return nonempty(e);
}

/* E.164 when it can be told: "+" kept, ten digits taken as North American. */
static char *
norm_phone(const char *s)
{
	char digits[32];
	size_t n = 0;
	bool plus = false;

	for (; s && *s; s++) {
		if (*s == '+' && n == 0)
			plus = true;
		else if (isdigit((unsigned char)*s) && n < sizeof digits - 1)
			digits[n++] = *s;
	}
	digits[n] = '\0';
	if (n < 7)
		return NULL;
	if (plus)
		return fs_xasprintf("+%s", digits);
	if (n == 10)
		return fs_xasprintf("+1%s", digits);
	if (n == 11 && digits[0] == '1')
		return fs_xasprintf("+%s", digits);
	return fs_xstrdup(digits);
}

/* The given name without spaces ("ja ck", "Mary Ann"), nickname folded. */
static char *
norm_first(const char *s)
{
	char *f = fold(s, false), *w = f, *out;

	for (char *r = f; *r; r++)
		if (*r != ' ')
			*w++ = *r;
	*w = '\0';
	out = fs_xstrdup(fs_nickname(f));
	free(f);
	return nonempty(out);
}

/* The surname without spaces ("mc carthy" = "mccarthy"). */
static char *
norm_last(const char *s)
{
	char *f = fold(s, false), *w = f;

	for (char *r = f; *r; r++)
		if (*r != ' ')
			*w++ = *r;
	*w = '\0';
	return nonempty(f);
}

/* Words that say the next one is a unit within the building. */
static bool
unit_word(const char *w)
{
	static const char *const words[] = {"apt", "unit", "ste", "flat", "fl", "floor", "rm", "room", "lot", "bldg"};

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcmp(w, words[i]) == 0)
			return true;
	return false;
}

/* Street words folded; the house number and the unit ("Apt 4", "#4") apart. */
static void
norm_street(const char *s, char **num, char **unit, char **street)
{
	struct fs_buf in = {0};
	char *f, *save = NULL;
	struct fs_buf b = {0};
	bool unit_next = false;

	/* fold() drops '#': it becomes a unit word first. */
	fs_buf_adds(&in, "");
	for (; s && *s; s++)
		if (*s == '#')
			fs_buf_adds(&in, " unit ");
		else
			fs_buf_addc(&in, *s);
	f = fold(in.data, true);
	fs_buf_free(&in);
	*num = *unit = NULL;
	fs_buf_adds(&b, "");
	for (char *w = strtok_r(f, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (unit_next) {
			unit_next = false;
			if (*unit == NULL) {
				*unit = fs_xstrdup(w);
				continue;
			}
		}
		if (*num == NULL && isdigit((unsigned char)*w)) {
			*num = fs_xstrdup(w);
			continue;
		}
		if (unit_word(street_word(w))) {
			unit_next = true;
			continue;
		}
		if (b.len > 0)
			fs_buf_addc(&b, ' ');
		fs_buf_adds(&b, street_word(w));
	}
	free(f);
	*street = nonempty(b.data);
}

static char *
norm_postal(const char *s)
{
	struct fs_buf b = {0};

	fs_buf_adds(&b, "");
	for (; s && *s; s++)
		if (isalnum((unsigned char)*s))
			fs_buf_addc(&b, (char)toupper((unsigned char)*s));
	return nonempty(b.data);
}

static void
contact_free(struct contact *c)
{
	free(c->id);
	free(c->seen);
	free(c->email);
	free(c->phone);
	free(c->first);
	free(c->last);
	free(c->line1);
	free(c->num);
	free(c->unit);
	free(c->street);
	free(c->city);
	free(c->postal);
	for (int i = 0; i < FS_CONTACT_NFIELDS; i++)
		free(c->raw[i]);
}

struct fs_scan *
fs_scan_new(void)
{
	struct fs_scan *s = fs_xmalloc(sizeof *s);

	memset(s, 0, sizeof *s);
	return s;
}

void
fs_scan_free(struct fs_scan *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->n; i++)
		contact_free(&s->c[i]);
	free(s->c);
	fs_counts_free(&s->index);
	free(s);
}

int
fs_scan_size(const struct fs_scan *s)
{
	return s->n;
}

void
fs_scan_add(struct fs_scan *s, const char *const f[FS_CONTACT_NFIELDS])
{
	const char *id = f[FS_CONTACT_ID];
	long *pos;
	struct contact *c;
	char *city;

	if (id == NULL || *id == '\0')
		return;
	pos = fs_counts_at(&s->index, id, strlen(id), true);
	if (*pos > 0) {
		c = &s->c[*pos - 1];
		contact_free(c);
	} else {
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 256;
			s->c = fs_xrealloc(s->c, (size_t)s->cap * sizeof *s->c);
		}
		c = &s->c[s->n++];
		*pos = s->n;
	}
	memset(c, 0, sizeof *c);
	c->id = fs_xstrdup(id);
	c->seen = fs_xstrdup(f[FS_CONTACT_SEEN] ? f[FS_CONTACT_SEEN] : "");
	for (int i = 0; i < FS_CONTACT_NFIELDS; i++)
		c->raw[i] = f[i] && *f[i] ? fs_xstrdup(f[i]) : NULL;
	c->email = norm_email(f[FS_CONTACT_EMAIL]);
	c->phone = norm_phone(f[FS_CONTACT_PHONE]);
	c->first = norm_first(f[FS_CONTACT_FIRST]);
	c->last = norm_last(f[FS_CONTACT_LAST]);
	norm_street(f[FS_CONTACT_LINE1], &c->num, &c->unit, &c->street);
	city = fold(f[FS_CONTACT_CITY], false);
	c->city = nonempty(city);
	c->postal = norm_postal(f[FS_CONTACT_POSTAL]);
	if (c->first)
		fs_soundex(c->first, c->first_sdx);
	if (c->last)
		fs_soundex(c->last, c->last_sdx);
	if (c->street)
		fs_soundex(c->street, c->street_sdx);
}

/* Similarity of two optional strings; -1 when either is missing. */
static double
sim(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return -1;
	return strcmp(a, b) == 0 ? 1.0 : fs_jaro_winkler(a, b);
}

/* Given names: equal after nicknames, or one is the other's initial. */
static double
first_sim(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return -1;
	if ((a[1] == '\0' || b[1] == '\0') && a[0] == b[0])
		return 0.9;
	return sim(a, b);
}

/* Names, also read swapped.  *first gets the given-name score of the reading chosen. */
static double
name_sim(const struct contact *x, const struct contact *y, double *first)
{
	double f = first_sim(x->first, y->first), l = sim(x->last, y->last), best, fs, ls;

	if (f >= 0 && l >= 0) {
		best = (f + l) / 2;
		*first = f;
		fs = sim(x->first, y->last);
		ls = sim(x->last, y->first);
		if (fs >= 0 && ls >= 0 && (fs + ls) / 2 > best) {
			best = (fs + ls) / 2;
			*first = fs < ls ? fs : ls;
		}
		return best;
	}
	/* One name part missing: the other must carry it, a little discounted. */
	*first = f;
	if (l >= 0)
		return l * 0.92;
	if (f >= 0)
		return f * 0.9;
	/* A given name against a surname: a form that put the name in one field. */
	if (x->first && y->last)
		return sim(x->first, y->last) * 0.85;
	if (x->last && y->first)
		return sim(x->last, y->first) * 0.85;
	return -1;
}

/* ZIPs alike: the first five digits of a US ZIP+4, else the whole code. */
static bool
same_postal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la >= 5 && lb >= 5 && strspn(a, "0123456789") >= 5 && strspn(b, "0123456789") >= 5)
		return strncmp(a, b, 5) == 0;
	return strcmp(a, b) == 0;
}

/* One keying slip: codes of one length that differ in one character, or in
 * two neighbours swapped ("3201" for "3021"). */
static bool
one_slip(const char *a, const char *b)
{
	size_t n = strlen(a), i = 0;

	if (n != strlen(b))
		return false;
	while (i < n && a[i] == b[i])
		i++;
	if (i == n)
		return true;
	if (strcmp(a + i + 1, b + i + 1) == 0)
		return true;
	return i + 1 < n && a[i] == b[i + 1] && a[i + 1] == b[i] && strcmp(a + i + 2, b + i + 2) == 0;
}

/*
 * One home: the same house number, and no unit or ZIP that differ where
 * both have one.  A street name is shared by a whole street, so it alone
 * never makes two records one address.  A ZIP one keying slip away is the
 * same ZIP when the town is the same too: the house number, the street
 * (addr_sim's) and the town already name the home.
 */
static bool
same_home(const struct contact *x, const struct contact *y)
{
	if (x->num == NULL || y->num == NULL || strcmp(x->num, y->num) != 0)
		return false;
	if (x->unit && y->unit && strcmp(x->unit, y->unit) != 0)
		return false;
	if (x->postal == NULL || y->postal == NULL || same_postal(x->postal, y->postal))
		return true;
	return x->city && y->city && strcmp(x->city, y->city) == 0 && one_slip(x->postal, y->postal);
}

/* Address: street, postal code, city, as available (the home is same_home's). */
static double
addr_sim(const struct contact *x, const struct contact *y)
{
	double total = 0, weight = 0, s;

	if ((s = sim(x->street, y->street)) >= 0) {
		total += 0.5 * s;
		weight += 0.5;
	}
	if ((s = sim(x->postal, y->postal)) >= 0) {
		total += 0.3 * (s == 1.0 ? 1.0 : s * 0.8);
		weight += 0.3;
	}
	if ((s = sim(x->city, y->city)) >= 0) {
		total += 0.2 * s;
		weight += 0.2;
	}
	return weight >= 0.5 ? total / weight : -1;
}

/* The verdict on one pair: 0 when not the same person, else reasons and score. */
static unsigned
compare(const struct contact *x, const struct contact *y, double *score)
{
	bool email = x->email && y->email && strcmp(x->email, y->email) == 0;
	bool phone = x->phone && y->phone && strcmp(x->phone, y->phone) == 0;
	double first = -1, n = name_sim(x, y, &first), a = addr_sim(x, y);
	unsigned why = 0;

	/* Same e-mail: the same person unless the given names plainly differ. */
	if (email && (n < 0 || first < 0 || first >= 0.75))
		why |= FS_REASON_EMAIL;
	/* A shared landline is a household; it needs the name too. */
	if (phone && n >= 0.9 && (first < 0 || first >= 0.85))
		why |= FS_REASON_PHONE;
	if (n >= 0.85 && a >= 0.72 && (first < 0 || first >= 0.8) && n + a >= 1.7 && same_home(x, y))
		why |= FS_REASON_NAME_ADDRESS;
	if (why == 0)
		return 0;
	{
		double evidence = (why & FS_REASON_EMAIL ? 1.0 : 0) + (why & FS_REASON_PHONE ? 0.8 : 0);
		double s = 0.4 * (n >= 0 ? n : 0.8) + 0.3 * (a >= 0 ? a : 0.8) + 0.3 * (evidence > 1 ? 1 : evidence);

		if ((why & FS_REASON_NAME_ADDRESS) && evidence == 0)
			s = 0.55 * n + 0.45 * a;
		*score = s > 1 ? 1 : s;
	}
	return why;
}

/* Blocks: key -> list of contact positions. */
struct block {
	char *key;
	int *pos, n, cap;
};

struct blocks {
	struct fs_counts index;	/* key -> 1 + block number */
	struct block *b;
	int n, cap;
};

static void
block_add(struct blocks *bs, const char *key, int pos)
{
	long *at = fs_counts_at(&bs->index, key, strlen(key), true);
	struct block *b;

	if (*at == 0) {
		if (bs->n == bs->cap) {
			bs->cap = bs->cap ? 2 * bs->cap : 1024;
			bs->b = fs_xrealloc(bs->b, (size_t)bs->cap * sizeof *bs->b);
		}
		b = &bs->b[bs->n++];
		memset(b, 0, sizeof *b);
		*at = bs->n;
	}
	b = &bs->b[*at - 1];
	if (b->n > 0 && b->pos[b->n - 1] == pos)
		return;
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 4;
		b->pos = fs_xrealloc(b->pos, (size_t)b->cap * sizeof *b->pos);
	}
	b->pos[b->n++] = pos;
}

static void
blocks_of(struct blocks *bs, const struct contact *c, int pos)
{
	char key[256];

	if (c->email) {
		snprintf(key, sizeof key, "e%s", c->email);
		block_add(bs, key, pos);
	}
	if (c->phone) {
		snprintf(key, sizeof key, "p%s", c->phone);
		block_add(bs, key, pos);
	}
	/* Either name's sound with the postal code: swapped names meet too. */
	if (c->postal) {
		if (c->last) {
			snprintf(key, sizeof key, "n%s%s", c->last_sdx, c->postal);
			block_add(bs, key, pos);
		}
		if (c->first) {
			snprintf(key, sizeof key, "n%s%s", c->first_sdx, c->postal);
			block_add(bs, key, pos);
		}
	}
	/* Both names' sounds, in either order, for a wrong or missing postal code. */
	if (c->first && c->last) {
		bool lt = strcmp(c->first_sdx, c->last_sdx) < 0;

		snprintf(key, sizeof key, "f%s%s", lt ? c->first_sdx : c->last_sdx, lt ? c->last_sdx : c->first_sdx);
		block_add(bs, key, pos);
	}
	/* House and street, for names spelt past recognition. */
	if (c->num && c->street) {
		snprintf(key, sizeof key, "a%s%s", c->num, c->street_sdx);
		block_add(bs, key, pos);
	}
}

/* A set of pairs already compared, open addressing on (i << 32 | j). */
struct pairset {
	uint64_t *slot;
	size_t cap, len;
};

static bool
pair_insert(struct pairset *p, int i, int j)
{
	uint64_t key = ((uint64_t)(uint32_t)i << 32 | (uint32_t)j) + 1, h;

	if (2 * (p->len + 1) > p->cap) {
		struct pairset bigger = {NULL, p->cap ? 2 * p->cap : 4096, 0};

		bigger.slot = fs_xmalloc(bigger.cap * sizeof *bigger.slot);
		memset(bigger.slot, 0, bigger.cap * sizeof *bigger.slot);
		for (size_t k = 0; k < p->cap; k++)
			if (p->slot[k]) {
				h = p->slot[k] * 0x9E3779B97F4A7C15ULL;
				for (size_t s = h & (bigger.cap - 1);; s = (s + 1) & (bigger.cap - 1))
					if (bigger.slot[s] == 0) {
						bigger.slot[s] = p->slot[k];
						break;
					}
			}
		bigger.len = p->len;
		free(p->slot);
		*p = bigger;
	}
	h = key * 0x9E3779B97F4A7C15ULL;
	for (size_t s = h & (p->cap - 1);; s = (s + 1) & (p->cap - 1)) {
		if (p->slot[s] == key)
			return false;
		if (p->slot[s] == 0) {
			p->slot[s] = key;
			p->len++;
			return true;
		}
	}
}

static int
find(int *parent, int i)
{
	while (parent[i] != i) {
		parent[i] = parent[parent[i]];
		i = parent[i];
	}
	return i;
}

struct edge {
	int i, j;
	double score;
	unsigned why;
};

static int
by_score(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return x->i != y->i ? x->i - y->i : x->j - y->j;
}

static int
by_pair(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	return x->i != y->i ? x->i - y->i : x->j - y->j;
}

/* The matching pair i, j (any order) among edges sorted by_pair, or NULL. */
static const struct edge *
edge_of(const struct edge *byp, size_t n, int i, int j)
{
	struct edge key = {i < j ? i : j, i < j ? j : i, 0, 0};

	return bsearch(&key, byp, n, sizeof *byp, by_pair);
}

/* Whether every member of set a matches every member of set b (complete linkage). */
static bool
all_match(const int *next, const struct edge *byp, size_t n, int a, int b)
{
	int i = a;

	do {
		int j = b;

		do {
			if (edge_of(byp, n, i, j) == NULL)
				return false;
			j = next[j];
		} while (j != b);
		i = next[i];
	} while (i != a);
	return true;
}

/* Ids in natural order: "contact:9" before "contact:10". */
static int
id_cmp(const char *a, const char *b)
{
	return strverscmp(a, b);
}

static const struct fs_scan *sort_scan;

static int
by_id(const void *a, const void *b)
{
	return id_cmp(sort_scan->c[*(const int *)a].id, sort_scan->c[*(const int *)b].id);
}

struct set {
	int *m, n;
};

static int
by_first_member(const void *a, const void *b)
{
	const struct set *x = a, *y = b;

	return id_cmp(sort_scan->c[x->m[0]].id, sort_scan->c[y->m[0]].id);
}

int
fs_scan_run(struct fs_scan *s, const char *from, fs_dupset_fn fn, void *ctx)
{
	size_t nc = (size_t)(s->n ? s->n : 1);
	struct blocks bs = {0};
	struct pairset seen = {0};
	int *parent = fs_xmalloc(nc * sizeof *parent);
	struct set *sets = fs_xmalloc(nc * sizeof *sets);
	int *setof = fs_xmalloc(nc * sizeof *setof);
	int *next = fs_xmalloc(nc * sizeof *next);
	struct edge *edges = NULL, *byp;
	size_t nedges = 0, edges_cap = 0;
	int nsets = 0, rc = 0;

	for (int i = 0; i < s->n; i++) {
		parent[i] = i;
		next[i] = i;
		setof[i] = -1;
		blocks_of(&bs, &s->c[i], i);
	}
	for (int k = 0; k < bs.n; k++) {
		struct block *b = &bs.b[k];

		if (b->n > MAX_BLOCK)
			continue;
		for (int x = 0; x < b->n; x++)
			for (int y = x + 1; y < b->n; y++) {
				int i = b->pos[x] < b->pos[y] ? b->pos[x] : b->pos[y];
				int j = b->pos[x] < b->pos[y] ? b->pos[y] : b->pos[x];
				double score = 0;
				unsigned why;

				if (i == j || !pair_insert(&seen, i, j))
					continue;
				if ((why = compare(&s->c[i], &s->c[j], &score)) == 0)
					continue;
				if (nedges == edges_cap) {
					edges_cap = edges_cap ? 2 * edges_cap : 1024;
					edges = fs_xrealloc(edges, edges_cap * sizeof *edges);
				}
				edges[nedges++] = (struct edge){i, j, score, why};
			}
	}
	/* The pairs by contact, to look a pair up; and strongest first, to
	 * grow the sets: two sets join only when every member of one matches
	 * every member of the other, so no contact links two people. */
	byp = fs_xmalloc((nedges ? nedges : 1) * sizeof *byp);
	if (nedges > 0) {
		memcpy(byp, edges, nedges * sizeof *edges);
		qsort(byp, nedges, sizeof *byp, by_pair);
		qsort(edges, nedges, sizeof *edges, by_score);
	}
	for (size_t k = 0; k < nedges; k++) {
		int i = find(parent, edges[k].i), j = find(parent, edges[k].j), t;

		if (i == j || !all_match(next, byp, nedges, i, j))
			continue;
		parent[j] = i;
		/* Splice the two circular member lists. */
		t = next[i];
		next[i] = next[j];
		next[j] = t;
	}
	free(edges);
	for (int i = 0; i < s->n; i++) {
		int r = find(parent, i);

		if (setof[r] < 0) {
			setof[r] = nsets;
			sets[nsets++] = (struct set){NULL, 0};
		}
	}
	for (int i = 0; i < s->n; i++) {
		struct set *t = &sets[setof[find(parent, i)]];

		t->m = fs_xrealloc(t->m, (size_t)(t->n + 1) * sizeof *t->m);
		t->m[t->n++] = i;
	}
	sort_scan = s;
	for (int k = 0; k < nsets; k++)
		qsort(sets[k].m, (size_t)sets[k].n, sizeof *sets[k].m, by_id);
	qsort(sets, (size_t)nsets, sizeof *sets, by_first_member);
	for (int k = 0; k < nsets && rc == 0; k++) {
		struct set *t = &sets[k];
		bool recent = from == NULL;
		const char **ids;
		const char *const **fields;
		struct fs_dupset d = {0};

		if (t->n < 2)
			continue;
		for (int i = 0; i < t->n && !recent; i++)
			recent = strcmp(s->c[t->m[i]].seen, from) >= 0;
		if (!recent)
			continue;
		ids = fs_xmalloc((size_t)t->n * sizeof *ids);
		fields = fs_xmalloc((size_t)t->n * sizeof *fields);
		d.score = 1;
		for (int i = 0; i < t->n; i++) {
			ids[i] = s->c[t->m[i]].id;
			fields[i] = (const char *const *)s->c[t->m[i]].raw;
			/* The weakest pair is the set's score: every pair is one. */
			for (int j = i + 1; j < t->n; j++) {
				const struct edge *e = edge_of(byp, nedges, t->m[i], t->m[j]);

				if (e->score < d.score)
					d.score = e->score;
				d.reasons |= e->why;
			}
		}
		d.members = ids;
		d.fields = fields;
		d.n = t->n;
		d.score = round(100 * d.score) / 100;
		rc = fn(&d, ctx);
		free(ids);
		free(fields);
	}
	for (int k = 0; k < nsets; k++)
		free(sets[k].m);
	for (int k = 0; k < bs.n; k++)
		free(bs.b[k].pos);
	free(bs.b);
	fs_counts_free(&bs.index);
	free(seen.slot);
	free(byp);
	free(parent);
	free(sets);
	free(setof);
	free(next);
	return rc;
}
