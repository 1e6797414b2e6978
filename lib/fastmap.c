/*
 * Built-in maps: the shipped jq maps that the hot path runs as C.
 *
 * lib/maps/hubspot-contact.jq (with lib/maps/common.jq before it) stays the
 * reference.  fs_map_load runs a map here only when the program text it
 * would compile is exactly the text this file implements (its SHA-256 is
 * below); any edit of either file sends every record back through libjq.
 * tests/12-normalize-fastpath.t runs both over the same records and
 * compares them byte for byte.
 *
 * The C handles records whose mapped values are strings, nulls or absent,
 * which is what HubSpot sends.  Anything else (a number where a string is
 * expected, properties that are not an object) it hands back to the jq
 * program, which says what jq says.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fieldsync.h"

/* SHA-256 of common.jq, "\n", hubspot-contact.jq: the text implemented here. */
#define HUBSPOT_CONTACT_SHA256 "a6ba4dcd21d35fbe7eeff1565b28f19be92b7dc04e45b0419a7af8010673148c"

const char *const fs_hs_props[FS_HS_NIN] = {
	[FS_HS_EMAIL] = "email", [FS_HS_FIRSTNAME] = "firstname", [FS_HS_LASTNAME] = "lastname",
	[FS_HS_PHONE] = "phone", [FS_HS_COMPANY] = "company", [FS_HS_ADDRESS] = "address",
	[FS_HS_ADDRESS2] = "address2", [FS_HS_CITY] = "city", [FS_HS_STATE] = "state",
	[FS_HS_ZIP] = "zip", [FS_HS_COUNTRY] = "country", [FS_HS_OWNER] = "hubspot_owner_id",
	[FS_HS_LASTMOD] = "lastmodifieddate", [FS_HS_HSLASTMOD] = "hs_lastmodifieddate",
};

const char *const fs_contact_fields[FS_C_N] = {
	"id", "email", "phone", "first_name", "last_name", "company",
	"line1", "line2", "city", "region", "postal_code", "country",
	"status", "owner", "updated_at",
};

static bool
str_is(struct fs_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.p && s.n == n && memcmp(s.p, lit, n) == 0;
}

/* The code point at p (valid UTF-8, as every string here is) and its length. */
static unsigned
decode(const unsigned char *p, size_t *len)
{
	if (p[0] < 0x80)
		return *len = 1, p[0];
	if (p[0] < 0xe0)
		return *len = 2, (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu);
	if (p[0] < 0xf0)
		return *len = 3, (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
	return *len = 4, (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
}

/* Oniguruma's \s for UTF-8, as jq 1.6 runs it (checked code point by code point). */
static bool
is_space(unsigned c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

/* Length of the white space at p, 0 when none. */
static size_t
space_at(const char *p, const char *end)
{
	size_t len;

	if (p >= end)
		return 0;
	if ((unsigned char)*p < 0x80)
		return is_space((unsigned char)*p) ? 1 : 0;
	return is_space(decode((const unsigned char *)p, &len)) ? len : 0;
}

/* fs_clean: trimmed of white space at both ends; "" becomes null. */
static struct fs_str
clean(struct fs_str s)
{
	const char *p = s.p, *end;
	size_t k;

	if (s.p == NULL)
		return s;	/* before s.p + s.n: NULL + 0 is undefined */
	end = s.p + s.n;
	while ((k = space_at(p, end)) > 0)
		p += k;
	while (end > p) {
		const char *q = end - 1;

		while (q > p && ((unsigned char)*q & 0xc0) == 0x80)
			q--;
		if (space_at(q, end) == 0)
			break;
		end = q;
	}
	return end > p ? (struct fs_str){p, (size_t)(end - p)} : (struct fs_str){NULL, 0};
}

/* Room for a new string; the caller reserved enough (see fs_hubspot_contact). */
static char *
scratch(struct fs_contact_out *o, size_t n)
{
	char *p = o->scratch.data + o->scratch.len;

	o->scratch.len += n;
	return p;
}

static struct fs_str
ascii_case(struct fs_contact_out *o, struct fs_str s, bool up)
{
	char *buf = scratch(o, s.n);

	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];

		buf[i] = up ? (c >= 'a' && c <= 'z' ? c - 32 : c) : (c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	return (struct fs_str){buf, s.n};
}

static bool
two_letters(struct fs_str s)
{
	for (size_t i = 0; i < s.n; i++)
		if (!((s.p[i] >= 'a' && s.p[i] <= 'z') || (s.p[i] >= 'A' && s.p[i] <= 'Z')))
			return false;
	return s.n == 2;
}

static const char *
lookup(const char *const *table, struct fs_str key)
{
	char low[32];

	if (key.n >= sizeof low)
		return NULL;
	for (size_t i = 0; i < key.n; i++)
		low[i] = key.p[i] >= 'A' && key.p[i] <= 'Z' ? key.p[i] + 32 : key.p[i];
	for (int i = 0; table[i]; i += 2)
		if (strlen(table[i]) == key.n && memcmp(table[i], low, key.n) == 0)
			return table[i + 1];
	return NULL;
}

static const char *const countries[] = {
	"united states", "US", "united states of america", "US", "usa", "US", "us", "US",
	"u.s.", "US", "u.s.a.", "US", "america", "US", "canada", "CA", "mexico", "MX",
	"united kingdom", "GB", "uk", "GB", "great britain", "GB", "england", "GB",
	"ireland", "IE", "australia", "AU", "new zealand", "NZ", "germany", "DE",
	"france", "FR", "spain", "ES", "italy", "IT", "netherlands", "NL", NULL,
};

static const char *const regions[] = {
	"alabama", "AL", "alaska", "AK", "arizona", "AZ", "arkansas", "AR", "california", "CA",
	"colorado", "CO", "connecticut", "CT", "delaware", "DE", "florida", "FL", "georgia", "GA",
	"hawaii", "HI", "idaho", "ID", "illinois", "IL", "indiana", "IN", "iowa", "IA",
	"kansas", "KS", "kentucky", "KY", "louisiana", "LA", "maine", "ME", "maryland", "MD",
	"massachusetts", "MA", "michigan", "MI", "minnesota", "MN", "mississippi", "MS",
	"missouri", "MO", "montana", "MT", "nebraska", "NE", "nevada", "NV",
	"new hampshire", "NH", "new jersey", "NJ", "new mexico", "NM", "new york", "NY",
	"north carolina", "NC", "north dakota", "ND", "ohio", "OH", "oklahoma", "OK",
	"oregon", "OR", "pennsylvania", "PA", "rhode island", "RI", "south carolina", "SC",
	"south dakota", "SD", "tennessee", "TN", "texas", "TX", "utah", "UT", "vermont", "VT",
	"virginia", "VA", "washington", "WA", "west virginia", "WV", "wisconsin", "WI",
	"wyoming", "WY", "district of columbia", "DC", "puerto rico", "PR", NULL,
};

/* fs_country and fs_us_region: a table, else two letters upper-cased, else as it is. */
static struct fs_str
coded(struct fs_contact_out *o, struct fs_str s, const char *const *table)
{
	const char *code;

	s = clean(s);
	if (s.p == NULL)
		return s;
	if ((code = lookup(table, s)) != NULL)
		return (struct fs_str){code, 2};
	return two_letters(s) ? ascii_case(o, s, true) : s;
}

/* gsub("[^0-9]"; ""): the ASCII digits of s, into out (at least s.n bytes). */
static size_t
digits_of(struct fs_str s, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] >= '0' && s.p[i] <= '9')
			out[n++] = s.p[i];
	return n;
}

/* fs_zip($country) */
static struct fs_str
zip(struct fs_contact_out *o, struct fs_str s, struct fs_str country)
{
	char small[16], *d;
	size_t n;

	s = clean(s);
	if (s.p == NULL || !str_is(country, "US"))
		return s;
	d = s.n < sizeof small ? small : fs_xmalloc(s.n);
	n = digits_of(s, d);
	if (n == 9) {
		char *z = scratch(o, 10);

		memcpy(z, d, 5);
		z[5] = '-';
		memcpy(z + 6, d + 5, 4);
		s = (struct fs_str){z, 10};
	} else if (n == 5) {
		s = (struct fs_str){memcpy(scratch(o, 5), d, 5), 5};
	}
	if (d != small)
		free(d);
	return s;
}

/* Case-insensitive letter c (lower case) at p, as Oniguruma folds it; its length or 0. */
static size_t
letter_at(const char *p, const char *end, char c)
{
	if (p >= end)
		return 0;
	if (((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) && (*p | 0x20) == c)
		return 1;
	/* U+017F LATIN SMALL LETTER LONG S folds to "s". */
	if (c == 's' && end - p >= 2 && (unsigned char)p[0] == 0xc5 && (unsigned char)p[1] == 0xbf)
		return 2;
	return 0;
}

static const char *
word_at(const char *p, const char *end, const char *w)
{
	for (; *w; w++) {
		size_t k = letter_at(p, end, *w);

		if (k == 0)
			return NULL;
		p += k;
	}
	return p;
}

/* \s*[0-9]+$ from p. */
static bool
digits_to_end(const char *p, const char *end)
{
	size_t k;
	const char *d;

	while ((k = space_at(p, end)) > 0)
		p += k;
	for (d = p; p < end && *p >= '0' && *p <= '9'; p++)
		;
	return p > d && p == end;
}

/* \s*(x|ext\.?|extension)\s*[0-9]+$ matches the whole of [p, end), case-insensitively. */
static bool
extension_at(const char *p, const char *end)
{
	const char *q;
	size_t k;

	while ((k = space_at(p, end)) > 0)
		p += k;
	if ((q = word_at(p, end, "x")) != NULL && digits_to_end(q, end))
		return true;
	if ((q = word_at(p, end, "ext")) != NULL &&
	    (digits_to_end(q, end) || (q < end && *q == '.' && digits_to_end(q + 1, end))))
		return true;
	return (q = word_at(p, end, "extension")) != NULL && digits_to_end(q, end);
}

/* sub("\\s*(x|ext\\.?|extension)\\s*[0-9]+$"; ""; "i"): s less a trailing extension. */
static struct fs_str
strip_extension(struct fs_str s)
{
	const char *end = s.p + s.n;
	bool prev_space = false;

	for (const char *p = s.p; p < end;) {
		size_t k = space_at(p, end), len;

		/* Inside a run of white space the match would have started at its beginning. */
		if (!(k > 0 && prev_space) && extension_at(p, end))
			return (struct fs_str){s.p, (size_t)(p - s.p)};
		prev_space = k > 0;
		if ((unsigned char)*p < 0x80)
			p++;
		else
			decode((const unsigned char *)p, &len), p += len;
	}
	return s;
}

/* fs_e164($country) */
static struct fs_str
e164(struct fs_contact_out *o, struct fs_str s, struct fs_str country)
{
	struct fs_str n;
	char *d;
	size_t nd;

	s = clean(s);
	if (s.p == NULL)
		return s;
	n = strip_extension(s);
	d = scratch(o, n.n + 2);
	nd = digits_of(n, d + 2);
	if (n.n > 0 && n.p[0] == '+' && nd >= 7) {
		d[1] = '+';
		return (struct fs_str){d + 1, nd + 1};
	}
	if (nd == 10 && (country.p == NULL || str_is(country, "US") || str_is(country, "CA"))) {
		d[0] = '+', d[1] = '1';
		return (struct fs_str){d, nd + 2};
	}
	if (nd == 11 && d[2] == '1') {
		d[1] = '+';
		return (struct fs_str){d + 1, nd + 1};
	}
	return s;
}

static bool
all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* "dddd-dd-dd" at p */
static bool
date_at(const char *p)
{
	return all_digits(p, 4) && p[4] == '-' && all_digits(p + 5, 2) && p[7] == '-' && all_digits(p + 8, 2);
}

/* fs_time on a string */
static struct fs_str
ftime(struct fs_contact_out *o, struct fs_str s)
{
	s = clean(s);
	if (s.p == NULL)
		return s;
	if (s.n == 13 && all_digits(s.p, 13)) {
		/* tonumber / 1000 | floor | todate.  common.jq reads a number only in
		 * the years 1000 to 9999 (todate aborts libjq outside gmtime's
		 * range); 13 digits are at most 2286, inside it, and the check is
		 * here so that a wider pattern cannot take this path past it. */
		char digits[14], *buf = scratch(o, 24);
		struct tm tm;
		double ms;
		time_t t;

		memcpy(digits, s.p, 13);
		digits[13] = '\0';
		ms = strtod(digits, NULL);
		if (!(ms >= -30610224000000.0 && ms < 253402300800000.0))
			return s;
		t = (time_t)floor(ms / 1000);
		if (gmtime_r(&t, &tm) == NULL)
			return s;
		return (struct fs_str){buf, strftime(buf, 24, "%Y-%m-%dT%H:%M:%SZ", &tm)};
	}
	if (s.n == 10 && date_at(s.p)) {
		char *buf = scratch(o, 20);

		memcpy(buf, s.p, 10);
		memcpy(buf + 10, "T00:00:00Z", 10);
		return (struct fs_str){buf, 20};
	}
	if (s.n == 19 && date_at(s.p) && s.p[10] == ' ' && all_digits(s.p + 11, 2) && s.p[13] == ':' &&
	    all_digits(s.p + 14, 2) && s.p[16] == ':' && all_digits(s.p + 17, 2)) {
		char *buf = scratch(o, 20);

		memcpy(buf, s.p, 19);
		buf[10] = 'T';
		buf[19] = 'Z';
		return (struct fs_str){buf, 20};
	}
	return s;
}

/* hs_true: HubSpot's true (or yes, or 1), in any case, trimmed. */
static bool
truthy(struct fs_str s)
{
	static const char *const yes[] = {"true", "yes", "1"};

	s = clean(s);
	for (size_t i = 0; s.p && i < sizeof yes / sizeof yes[0]; i++) {
		size_t k, n = strlen(yes[i]);

		for (k = 0; k < n && s.n == n && (s.p[k] >= 'A' && s.p[k] <= 'Z' ? s.p[k] + 32 : s.p[k]) == yes[i][k]; k++)
			;
		if (k == n && s.n == n)
			return true;
	}
	return false;
}

static struct fs_str
first_of(struct fs_str a, struct fs_str b)
{
	return a.p ? a : b;
}

void
fs_hubspot_contact(const struct fs_str in[FS_HS_NIN], const char *default_country, struct fs_contact_out *o)
{
	struct fs_str country, version, *f = o->f;
	size_t need = 160;

	/* Every string made here fits in the sum of the inputs and a little more. */
	for (int i = 0; i < FS_HS_NIN; i++)
		need += in[i].p ? in[i].n + 4 : 0;
	o->scratch.len = 0;
	if (o->scratch.cap < need) {
		o->scratch.data = fs_xrealloc(o->scratch.data, need);
		o->scratch.cap = need;
	}
	country = coded(o, in[FS_HS_COUNTRY], countries);
	if (country.p == NULL && first_of(in[FS_HS_ADDRESS], first_of(in[FS_HS_CITY], in[FS_HS_ZIP])).p != NULL)
		country = default_country ? (struct fs_str){default_country, strlen(default_country)}
					  : (struct fs_str){"US", 2};
	version = ftime(o, first_of(in[FS_HS_UPDATED_AT], first_of(in[FS_HS_LASTMOD], in[FS_HS_HSLASTMOD])));
	o->version = version;
	f[FS_C_ID] = in[FS_HS_ID].p ? in[FS_HS_ID] : (struct fs_str){"null", 4};
	f[FS_C_EMAIL] = clean(in[FS_HS_EMAIL]);
	if (f[FS_C_EMAIL].p)
		f[FS_C_EMAIL] = ascii_case(o, f[FS_C_EMAIL], false);
	f[FS_C_PHONE] = e164(o, in[FS_HS_PHONE], country);
	f[FS_C_FIRST_NAME] = clean(in[FS_HS_FIRSTNAME]);
	f[FS_C_LAST_NAME] = clean(in[FS_HS_LASTNAME]);
	f[FS_C_COMPANY] = clean(in[FS_HS_COMPANY]);
	f[FS_C_LINE1] = clean(in[FS_HS_ADDRESS]);
	f[FS_C_LINE2] = clean(in[FS_HS_ADDRESS2]);
	f[FS_C_CITY] = clean(in[FS_HS_CITY]);
	f[FS_C_REGION] = str_is(country, "US") ? coded(o, in[FS_HS_STATE], regions) : clean(in[FS_HS_STATE]);
	f[FS_C_POSTAL_CODE] = zip(o, in[FS_HS_ZIP], country);
	f[FS_C_COUNTRY] = country;
	f[FS_C_STATUS] = clean(in[FS_HS_STATUS]);
	f[FS_C_OWNER] = clean(in[FS_HS_OWNER]);
	f[FS_C_UPDATED_AT] = version;
	o->do_not_mail = truthy(in[FS_HS_SUPPRESS]);
}

/* The jv face of the same map, for fs_map_run. */

static jv
prop(jv obj, const char *key)
{
	jv v;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_null();
	v = jv_object_get(jv_copy(obj), jv_string(key));
	return jv_is_valid(v) ? v : jv_null();
}

/* A string or null input; false when the value is anything else. */
static bool
str_in(jv v, struct fs_str *out)
{
	if (jv_get_kind(v) == JV_KIND_NULL) {
		*out = (struct fs_str){NULL, 0};
	} else if (jv_get_kind(v) == JV_KIND_STRING) {
		*out = (struct fs_str){jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v))};
		/* A NUL inside would be cut short by the validators' C strings. */
		if (memchr(out->p, '\0', out->n) != NULL)
			return false;
	} else {
		return false;
	}
	return true;
}

static jv
jstr(struct fs_str s)
{
	return s.p ? jv_string_sized(s.p, (int)s.n) : jv_null();
}

static const char *
arg(jv args, const char *key)
{
	jv v = prop(args, key);
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;

	jv_free(v);	/* args holds it */
	return s;
}

static jv
hubspot_contact(jv args, jv input)
{
	jv d = prop(input, "data"), p = prop(d, "properties"), held[FS_HS_NIN], data, addr, out;
	const char *status_property = arg(args, "status_property"), *dc = arg(args, "default_country");
	const char *suppress_property = arg(args, "suppress_property");
	struct fs_str in[FS_HS_NIN];
	struct fs_contact_out o = {0};
	bool ok = jv_get_kind(input) == JV_KIND_OBJECT && jv_get_kind(d) == JV_KIND_OBJECT &&
		  (jv_get_kind(p) == JV_KIND_OBJECT || jv_get_kind(p) == JV_KIND_NULL);

	for (int i = 0; i < FS_HS_NIN; i++) {
		held[i] = i == FS_HS_ID ? prop(d, "id") : i == FS_HS_UPDATED_AT ? prop(d, "updatedAt")
			: i == FS_HS_STATUS ? prop(p, status_property ? status_property : "lifecyclestage")
			: i == FS_HS_SUPPRESS ? (suppress_property ? prop(p, suppress_property) : jv_null())
			: prop(p, fs_hs_props[i]);
		ok = ok && str_in(held[i], &in[i]);
	}
	out = jv_invalid();
	if (ok) {
		fs_hubspot_contact(in, dc, &o);
		data = jv_object();
		addr = jv_object();
		for (int i = 0; i < FS_C_N; i++) {
			bool in_addr = i >= FS_C_LINE1 && i <= FS_C_COUNTRY;

			if (i == FS_C_UPDATED_AT && o.do_not_mail)
				data = jv_object_set(data, jv_string("do_not_mail"), jv_true());
			if (o.f[i].p != NULL)
				*(in_addr ? &addr : &data) = jv_object_set(in_addr ? addr : data,
					jv_string(fs_contact_fields[i]), jstr(o.f[i]));
			if (i == FS_C_COUNTRY && jv_object_length(jv_copy(addr)) > 0)
				data = jv_object_set(data, jv_string("address"), jv_copy(addr));
		}
		jv_free(addr);
		out = jv_object_set(jv_object(), jv_string("kind"), jv_string("contact.changed"));
		out = jv_object_set(out, jv_string("object"),
				    jv_string_concat(jv_string("contact:"), jstr(o.f[FS_C_ID])));
		out = jv_object_set(out, jv_string("version"), jstr(o.version));
		out = jv_object_set(out, jv_string("occurred_at"), jstr(o.version));
		out = jv_object_set(out, jv_string("data"), data);
		out = jv_array_append(jv_array(), out);
		fs_buf_free(&o.scratch);
	}
	for (int i = 0; i < FS_HS_NIN; i++)
		jv_free(held[i]);
	jv_free(d), jv_free(p), jv_free(input), jv_free(args);
	return out;
}

static const struct {
	const char *name, *sha256;
	fs_builtin_map run;
} builtins[] = {
	{"hubspot-contact", HUBSPOT_CONTACT_SHA256, hubspot_contact},
};

const char *
fs_builtin_map_find(const char *text, size_t n, fs_builtin_map *run)
{
	char hex[65];

	fs_sha256_hex(text, n, hex);
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
		if (strcmp(builtins[i].sha256, hex) == 0) {
			*run = builtins[i].run;
			return builtins[i].name;
		}
	*run = NULL;
	return NULL;
}
