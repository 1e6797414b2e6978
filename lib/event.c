/* Canonical events (DESIGN.md): deterministic ids and validation. */
#include <ctype.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "fieldsync.h"

static const char *const kinds[] = {
	"contact.changed", "mail.requested", "mail.status", "job.changed", "activity.follow_up", "outcome.revenue",
	NULL
};
static const char *const mail_statuses[] = {"queued", "sent", "delivered", "returned", "failed", "cancelled", NULL};
static const char *const formats[] = {"postcard", "letter", NULL};
static const char us_states[] =
	" AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ"
	" NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR VI GU AS MP AA AE AP ";

static bool
one_of(const char *s, const char *const *set)
{
	for (int i = 0; s && set[i]; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

bool
fs_kind_known(const char *kind)
{
	return one_of(kind, kinds);
}

/* Which events each kind of target puts in its outbox. */
static const struct {
	const char *target, *kind;
} takes[] = {
	{"lob", "mail.requested"},
	{"hubspot", "mail.status"},
	{"hubspot", "activity.follow_up"},
	{"jobber", "mail.status"},
};

bool
fs_target_takes(const char *target_kind, const char *kind)
{
	for (size_t i = 0; i < sizeof takes / sizeof takes[0]; i++)
		if (strcmp(takes[i].target, target_kind) == 0 && strcmp(takes[i].kind, kind) == 0)
			return true;
	return false;
}

bool
fs_kind_targeted(const char *kind)
{
	for (size_t i = 0; i < sizeof takes / sizeof takes[0]; i++)
		if (strcmp(takes[i].kind, kind) == 0)
			return true;
	return false;
}

char *
fs_collapse_key(const char *kind, const char *object, const char *campaign)
{
	if (kind == NULL || object == NULL)
		return NULL;
	if (strcmp(kind, "contact.changed") == 0 || strcmp(kind, "job.changed") == 0)
		return fs_xstrdup(object);
	if (strcmp(kind, "mail.requested") == 0)
		return fs_xasprintf("%s\t%s", object, campaign ? campaign : "");
	return NULL;
}

void
fs_event_id(const char *source, const char *object, const char *kind, const char *version, char out[40])
{
	struct fs_buf b = {0};
	char hex[65];

	/* Unit separators keep ("a","bc") and ("ab","c") apart. */
	fs_buf_adds(&b, source ? source : "");
	fs_buf_addc(&b, '\x1f');
	fs_buf_adds(&b, object ? object : "");
	fs_buf_addc(&b, '\x1f');
	fs_buf_adds(&b, kind ? kind : "");
	fs_buf_addc(&b, '\x1f');
	fs_buf_adds(&b, version ? version : "");
	fs_sha256_hex(b.data, b.len, hex);
	fs_buf_free(&b);
	snprintf(out, 40, "evt_%.32s", hex);
}

bool
fs_email_valid(const char *s)
{
	const char *at = strchr(s, '@'), *dom, *p;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL)
		return false;
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ')
			return false;
	dom = at + 1;
	if (*dom == '.' || *dom == '\0' || strchr(dom, '.') == NULL || dom[strlen(dom) - 1] == '.' ||
	    strstr(dom, "..") != NULL)
		return false;
	return true;
}

static bool
e164(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n > 16 || s[0] != '+' || s[1] == '0')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool
us_zip(const char *s)
{
	size_t n = strlen(s);

	if (n != 5 && n != 10)
		return false;
	for (size_t i = 0; i < n; i++)
		if (i == 5 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool
us_state(const char *s)
{
	char key[5];

	if (strlen(s) != 2)
		return false;
	snprintf(key, sizeof key, " %c%c ", s[0], s[1]);
	return strstr(us_states, key) != NULL;
}

/* A field that fails its check: its dotted name, value and reason (repair). */
struct moved {
	char *name;
	const char *reason;
};

struct check {
	jv obj;
	const char *prefix;	/* "to." for nested fields */
	struct fs_buf *why;
	int n;
	/* fs_event_repair: optional fields that fail are listed here instead. */
	bool repair;
	struct moved *moved;
	int nmoved;
};

/* One violation: "\"to.line1\" is not a string"; reason without its verb. */
static void
verdict(struct check *c, const char *field, const char *reason, bool required)
{
	if (c->repair && !required) {
		c->moved = fs_xrealloc(c->moved, (size_t)(c->nmoved + 1) * sizeof *c->moved);
		c->moved[c->nmoved].name = fs_xasprintf("%s%s", c->prefix, field);
		c->moved[c->nmoved++].reason = reason;
		return;
	}
	if (c->n++ > 0)
		fs_buf_adds(c->why, "; ");
	fs_buf_addf(c->why, "\"%s%s\" %s%s", c->prefix, field, strncmp(reason, "contains", 8) == 0 ? "" : "is ",
		    reason);
}

static void
missing(struct check *c, const char *field)
{
	if (c->n++ > 0)
		fs_buf_adds(c->why, "; ");
	fs_buf_addf(c->why, "missing \"%s%s\"", c->prefix, field);
}

/* Strings in an array, none empty. */
static bool
strings(jv a)
{
	bool ok = true;

	jv_array_foreach(a, i, v) {
		(void)i;
		ok = ok && jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0 &&
		     strlen(jv_string_value(v)) == (size_t)jv_string_length_bytes(jv_copy(v));
		jv_free(v);
	}
	jv_free(a);
	return ok;
}

/*
 * kind: 's' string, 'n' number, 'o' object, 't' time, 'e' e-mail, 'p' phone,
 * 'b' true or false, 'a' an array of strings.
 */
static void
field(struct check *c, const char *name, char kind, bool required)
{
	jv v = fs_jget(c->obj, name);
	jv_kind k = jv_get_kind(v);
	bool boolean = k == JV_KIND_TRUE || k == JV_KIND_FALSE;

	if (k == JV_KIND_INVALID || k == JV_KIND_NULL || (k == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) == 0)) {
		if (required)
			missing(c, name);
	} else if (kind == 'n' ? k != JV_KIND_NUMBER : kind == 'o' ? k != JV_KIND_OBJECT
		   : kind == 'b' ? !boolean : kind == 'a' ? k != JV_KIND_ARRAY : k != JV_KIND_STRING) {
		verdict(c, name, kind == 'n' ? "not a number" : kind == 'o' ? "not an object" : kind == 'b' ? "not true or false"
			: kind == 'a' ? "not an array" : "not a string", required);
	} else if (k == JV_KIND_NUMBER && !isfinite(jv_number_value(v))) {
		/* tonumber makes NaN of "nan" and infinity of "1e999"; jq writes
		 * them as null and 1.7976931348623157e+308. */
		verdict(c, name, "not a finite number", required);
	} else if (kind == 'a') {
		if (!strings(jv_copy(v)))
			verdict(c, name, "not an array of strings", required);
	} else if (k == JV_KIND_STRING &&
		   strlen(jv_string_value(v)) != (size_t)jv_string_length_bytes(jv_copy(v))) {
		/* The C checks below would stop at the NUL and pass what follows. */
		verdict(c, name, "contains a NUL character", required);
	} else if (kind == 't' && !fs_time_valid(jv_string_value(v))) {
		verdict(c, name, "not an RFC 3339 time", required);
	} else if (kind == 'e' && !fs_email_valid(jv_string_value(v))) {
		verdict(c, name, "not a valid e-mail", required);
	} else if (kind == 'p' && !e164(jv_string_value(v))) {
		verdict(c, name, "not an E.164 phone number", required);
	}
	jv_free(v);
}

static void
enum_field(struct check *c, const char *name, const char *const *set, const char *reason, bool required)
{
	const char *s = fs_jstr(c->obj, name);
	jv v = fs_jget(c->obj, name);
	/* The whole string: "\u0000x" or "postcard\u0000x" is none of them. */
	bool nul = s && strlen(s) != (size_t)jv_string_length_bytes(jv_copy(v));
	int moved = c->nmoved;

	jv_free(v);
	field(c, name, 's', required);
	/* Moved already (repair), it is moved once. */
	if (s && (*s || nul) && (nul || !one_of(s, set)) && c->nmoved == moved)
		verdict(c, name, reason, required);
}

static void
address(struct check *parent, const char *name, bool complete, bool with_name)
{
	jv a = fs_jget(parent->obj, name);
	char prefix[32];
	struct check c = {a, prefix, parent->why, parent->n, parent->repair, parent->moved, parent->nmoved};
	const char *country, *zip, *region;

	snprintf(prefix, sizeof prefix, "%s.", name);
	if (jv_get_kind(a) != JV_KIND_OBJECT) {
		if (complete || (jv_is_valid(a) && jv_get_kind(a) != JV_KIND_NULL))
			field(parent, name, 'o', complete);
		jv_free(a);
		return;
	}
	if (with_name)
		field(&c, "name", 's', complete);
	field(&c, "line1", 's', complete);
	field(&c, "line2", 's', false);
	country = fs_jstr(a, "country");
	field(&c, "city", 's', complete);
	/* Lob needs a state for US addresses only. */
	field(&c, "region", 's', complete && (country == NULL || strcmp(country, "US") == 0));
	field(&c, "postal_code", 's', complete);
	field(&c, "country", 's', complete);
	if (country && strcmp(country, "US") == 0) {
		if ((zip = fs_jstr(a, "postal_code")) && *zip && !us_zip(zip))
			verdict(&c, "postal_code", "not a US ZIP code", complete);
		if ((region = fs_jstr(a, "region")) && *region && !us_state(region))
			verdict(&c, "region", "not a US state code", complete);
	} else if (country && (strlen(country) != 2 || !isupper((unsigned char)country[0]) ||
			       !isupper((unsigned char)country[1]))) {
		verdict(&c, "country", "not an ISO 3166 country code", complete);
	}
	parent->n = c.n;
	parent->moved = c.moved;
	parent->nmoved = c.nmoved;
	jv_free(a);
}

/* The checks of one kind's data. */
static void
check_data(struct check *c, const char *kind)
{
	if (strcmp(kind, "contact.changed") == 0) {
		field(c, "id", 's', true);
		field(c, "updated_at", 't', true);
		field(c, "email", 'e', false);
		field(c, "phone", 'p', false);
		field(c, "first_name", 's', false);
		field(c, "last_name", 's', false);
		field(c, "company", 's', false);
		field(c, "status", 's', false);
		field(c, "owner", 's', false);
		field(c, "do_not_mail", 'b', false);
		field(c, "tags", 'a', false);
		address(c, "address", false, false);
	} else if (strcmp(kind, "job.changed") == 0) {
		field(c, "id", 's', true);
		field(c, "contact_id", 's', true);
		field(c, "status", 's', true);
		field(c, "updated_at", 't', true);
		field(c, "type", 's', false);
		field(c, "completed_at", 't', false);
		field(c, "total", 'n', false);
		field(c, "currency", 's', false);
		field(c, "tags", 'a', false);
		address(c, "address", false, false);
	} else if (strcmp(kind, "mail.requested") == 0) {
		field(c, "contact_id", 's', true);
		field(c, "campaign", 's', true);
		field(c, "goal", 's', true);
		enum_field(c, "format", formats, "not one of postcard, letter", true);
		address(c, "to", true, true);
		field(c, "trigger", 'o', true);
		field(c, "job_id", 's', false);
		field(c, "do_not_mail", 'b', false);
	} else if (strcmp(kind, "mail.status") == 0) {
		field(c, "vendor", 's', true);
		field(c, "vendor_id", 's', true);
		enum_field(c, "status", mail_statuses, "not one of queued, sent, delivered, returned, failed, cancelled", true);
		field(c, "mail_id", 's', false);
		field(c, "contact_id", 's', false);
		field(c, "campaign", 's', false);
		field(c, "detail", 's', false);
	} else if (strcmp(kind, "activity.follow_up") == 0) {
		field(c, "contact_id", 's', true);
		field(c, "type", 's', true);
		field(c, "at", 't', true);
		field(c, "owner", 's', false);
	} else if (strcmp(kind, "outcome.revenue") == 0) {
		field(c, "contact_id", 's', true);
		field(c, "deal_id", 's', true);
		field(c, "amount", 'n', true);
		field(c, "currency", 's', true);
		field(c, "at", 't', true);
	}
}

int
fs_event_validate(jv ev, struct fs_buf *why)
{
	struct check top = {ev, "", why, 0, false, NULL, 0};
	const char *kind = fs_jstr(ev, "kind");
	jv data = fs_jget(ev, "data");
	struct check c = {data, "", why, 0, false, NULL, 0};

	field(&top, "id", 's', true);
	field(&top, "source", 's', true);
	field(&top, "object", 's', true);
	field(&top, "occurred_at", 't', true);
	enum_field(&top, "kind", kinds, "not one of contact.changed, mail.requested, mail.status, job.changed, "
		   "activity.follow_up, outcome.revenue", true);
	field(&top, "data", 'o', true);
	if (jv_get_kind(data) != JV_KIND_OBJECT || !fs_kind_known(kind)) {
		jv_free(data);
		return top.n ? -1 : 0;
	}
	c.n = top.n;
	check_data(&c, kind);
	jv_free(data);
	return c.n ? -1 : 0;
}

/* Deletes the dotted member name ("address.postal_code") of obj. */
static jv
delete_path(jv obj, const char *name)
{
	const char *dot = strchr(name, '.');
	jv inner;

	if (dot == NULL)
		return jv_object_delete(obj, jv_string(name));
	inner = fs_jget(obj, "address");
	if (strncmp(name, "address.", 8) != 0 || jv_get_kind(inner) != JV_KIND_OBJECT) {
		jv_free(inner);
		return obj;
	}
	inner = jv_object_delete(inner, jv_string(dot + 1));
	if (jv_object_length(jv_copy(inner)) == 0) {
		jv_free(inner);
		return jv_object_delete(obj, jv_string("address"));
	}
	return jv_object_set(obj, jv_string("address"), inner);
}

int
fs_event_repair(jv *ev, struct fs_counts *counts)
{
	const char *kind = fs_jstr(*ev, "kind");
	jv data = fs_jget(*ev, "data"), invalid;
	struct check c = {data, "", NULL, 0, true, NULL, 0};
	struct fs_buf why = {0};
	int n;

	if (jv_get_kind(data) != JV_KIND_OBJECT || !fs_kind_known(kind)) {
		jv_free(data);
		return 0;
	}
	c.why = &why;
	check_data(&c, kind);
	fs_buf_free(&why);
	if ((n = c.nmoved) == 0) {
		jv_free(data);
		return 0;
	}
	invalid = fs_jget(data, "invalid");
	if (jv_get_kind(invalid) != JV_KIND_OBJECT) {
		jv_free(invalid);
		invalid = jv_object();
	}
	for (int i = 0; i < c.nmoved; i++) {
		jv v = fs_jget_path(data, c.moved[i].name), entry = jv_object();

		entry = jv_object_set(entry, jv_string("value"), v);
		entry = jv_object_set(entry, jv_string("reason"), jv_string(c.moved[i].reason));
		invalid = jv_object_set(invalid, jv_string(c.moved[i].name), entry);
		data = delete_path(data, c.moved[i].name);
		if (counts)
			(*fs_counts_at(counts, c.moved[i].name, strlen(c.moved[i].name), true))++;
		free(c.moved[i].name);
	}
	free(c.moved);
	data = jv_object_set(jv_object_delete(data, jv_string("invalid")), jv_string("invalid"), invalid);
	*ev = jv_object_set(*ev, jv_string("data"), data);
	return n;
}

bool
fs_e164_valid(const char *s)
{
	return e164(s);
}

bool
fs_us_zip_valid(const char *s)
{
	return us_zip(s);
}

bool
fs_us_state_valid(const char *s)
{
	return us_state(s);
}
