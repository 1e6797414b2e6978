/* Campaign settings every command reads alike ([campaign "NAME"]). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

const char *
fs_campaign_goal(const struct fs_config *cfg, jv data)
{
	const char *goal = fs_jstr(data, "goal"), *campaign = fs_jstr(data, "campaign");

	if (goal && *goal)
		return goal;
	return campaign ? fs_config_setting(cfg, "campaign", campaign, "goal") : NULL;
}

int
fs_campaign_active(const struct fs_config *cfg, const char *campaign, int64_t *secs)
{
	const char *v = fs_config_setting(cfg, "campaign", campaign, "active");

	if (fs_duration_parse(v, secs) != 0) {
		fs_err("campaign '%s': malformed duration '%s' for 'active' (want e.g. 30d)", campaign, v);
		return -1;
	}
	return 0;
}

int
fs_campaigns_check(const struct fs_config *cfg)
{
	for (int i = 0; i < cfg->nsec; i++) {
		const char *name = cfg->sec[i].name;
		int64_t secs;
		long n;

		if (strcmp(cfg->sec[i].type, "campaign") != 0)
			continue;
		if (fs_campaign_active(cfg, name, &secs) != 0 || fs_campaign_reentry(cfg, name, &secs) != 0 ||
		    fs_campaign_cap(cfg, name, &n) != 0 || fs_campaign_send_delay(cfg, name, &secs) != 0)
			return -1;
	}
	return 0;
}

int
fs_campaign_reentry(const struct fs_config *cfg, const char *campaign, int64_t *secs)
{
	const char *v = fs_config_setting(cfg, "campaign", campaign, "reentry");

	*secs = -1;
	if (strcmp(v, "never") == 0)
		return 0;
	if (fs_duration_parse(v, secs) != 0 || *secs < 0) {
		fs_err("campaign '%s': 'reentry' must be never or a duration (as 365d), not '%s'", campaign, v);
		return -1;
	}
	return 0;
}

int
fs_campaign_cap(const struct fs_config *cfg, const char *campaign, long *n)
{
	const char *v = fs_config_setting(cfg, "campaign", campaign, "cap");
	char *end;

	*n = 0;
	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	*n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *n <= 0 || *n > 1000000 || strcmp(fs_trim(end), "/day") != 0) {
		fs_err("campaign '%s': 'cap' must be N/day (as 50/day), N from 1 to 1000000, not '%s'", campaign, v);
		*n = 0;
		return -1;
	}
	return 0;
}

int
fs_campaign_send_delay(const struct fs_config *cfg, const char *campaign, int64_t *secs)
{
	const char *v = fs_config_setting(cfg, "campaign", campaign, "send_delay");

	*secs = 0;
	if (v == NULL || *v == '\0')
		return 0;
	if (fs_duration_parse(v, secs) != 0 || *secs < 0 || *secs > 180 * 86400) {
		fs_err("campaign '%s': 'send_delay' must be a duration up to 180d (Lob's limit), not '%s'", campaign, v);
		return -1;
	}
	return 0;
}
/*
 * Triggers and filters (fieldsync(7), "Campaigns"):
 *
 *   trigger = FIELD = V1[, V2 ...]        also FIELD in V1, V2
 *   only    = COND [and COND ...]         every one holds
 *   except  = COND [and COND ...]         any one holding leaves the event out
 *   COND    = FIELD = V1[, V2]  |  FIELD in V1[, V2]  |  FIELD != V1[, V2]
 *           | FIELD not in V1[, V2]  |  FIELD (< | <= | > | >=) NUMBER
 *
 * A value may be written in double quotes, to hold a comma or the word and.
 * FIELD is a field of the campaign's event (contact.changed, or job.changed
 * with on = job): an address's fields by their own names (region), tags
 * (or tag) for any of a list.  A job campaign's filters may also name its
 * contact's fields: contact.FIELD, or a field jobs do not have (owner).
 */

static const char *const contact_fields[] = {
	"id", "email", "phone", "first_name", "last_name", "company", "status", "owner",
	"line1", "line2", "city", "region", "postal_code", "country", "tags", NULL
};
static const char *const job_fields[] = {
	"id", "contact_id", "status", "type", "completed_at", "total", "currency",
	"line1", "line2", "city", "region", "postal_code", "country", "tags", NULL
};

/* Vendors' and exports' names for canonical fields, for hints. */
static const struct {
	const char *name, *field;
	bool job;		/* the name is a job's (deal's) */
} vendor_names[] = {
	{"lifecyclestage", "status", false}, {"lifecycle_stage", "status", false},
	{"job_status", "status", false}, {"stage", "status", false},
	{"hubspot_owner_id", "owner", false}, {"owner_id", "owner", false},
	{"firstname", "first_name", false}, {"lastname", "last_name", false},
	{"email_address", "email", false}, {"phone_number", "phone", false}, {"mobilephone", "phone", false},
	{"company_name", "company", false},
	{"address", "line1", false}, {"street", "line1", false}, {"address2", "line2", false},
	{"state", "region", false}, {"province", "region", false},
	{"zip", "postal_code", false}, {"zip_code", "postal_code", false}, {"zipcode", "postal_code", false},
	{"postcode", "postal_code", false},
	{"dealstage", "status", true}, {"amount", "total", true}, {"closedate", "completed_at", true},
	{"dealtype", "type", true}, {"job_type", "type", true}, {"deal_currency_code", "currency", true},
};

static bool
listed(const char *s, const char *const *set)
{
	for (int i = 0; set[i]; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

const char *const *
fs_campaign_fields(bool on_job)
{
	return on_job ? job_fields : contact_fields;
}

bool
fs_field_numeric(const char *field)
{
	return strcmp(field, "total") == 0;
}

/* "address.region" is region; "tag" is tags. */
static const char *
canonical_name(const char *f)
{
	if (strncmp(f, "address.", 8) == 0 && listed(f + 8, contact_fields) &&
	    (strcmp(f + 8, "line1") == 0 || strcmp(f + 8, "line2") == 0 || strcmp(f + 8, "city") == 0 ||
	     strcmp(f + 8, "region") == 0 || strcmp(f + 8, "postal_code") == 0 || strcmp(f + 8, "country") == 0))
		return f + 8;
	return strcmp(f, "tag") == 0 ? "tags" : f;
}

struct place {
	const struct fs_config *cfg;
	const char *campaign, *key;
	int line;
	int errors;
};

static void
problem(struct place *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fs_err("%s:%d: campaign '%s': %s: %s", p->cfg->path ? p->cfg->path : "config", p->line, p->campaign,
	       p->key, msg);
	p->errors++;
}

/* A HubSpot source of cfg whose status_property is not lifecyclestage, or NULL. */
static const struct fs_section *
custom_status_source(const struct fs_config *cfg, const char **property)
{
	for (int i = 0; i < cfg->nsec; i++) {
		const struct fs_section *s = &cfg->sec[i];
		const char *kind = fs_section_get(s, "kind"), *sp;

		if (strcmp(s->type, "source") != 0 || strcmp(kind ? kind : s->name, "hubspot") != 0)
			continue;
		sp = fs_config_setting(cfg, "source", s->name, "status_property");
		if (sp && strcmp(sp, "lifecyclestage") != 0) {
			*property = sp;
			return s;
		}
	}
	return NULL;
}

/* Why field is not one of the event's, and what to write instead. */
static void
unknown_field(struct place *p, const char *field, bool on_job, bool trigger, const char *example)
{
	const char *event = on_job ? "job.changed" : "contact.changed", *sp = NULL, *near = NULL;
	const char *const *fields = fs_campaign_fields(on_job);
	const struct fs_section *src = custom_status_source(p->cfg, &sp);
	struct fs_buf list = {0};
	int best = 3;

	for (int i = 0; fields[i]; i++) {
		fs_buf_addf(&list, "%s%s", i ? ", " : "", fields[i]);
		if (fs_edit_distance(field, fields[i]) < best) {
			best = fs_edit_distance(field, fields[i]);
			near = fields[i];
		}
	}
	if (strcmp(field, "lifecyclestage") == 0 && !on_job && src) {
		problem(p, "'lifecyclestage' is HubSpot's property, not a field of %s, and source '%s' takes status from"
			" '%s' (its status_property): set status_property = lifecyclestage there to trigger on"
			" lifecycle stages", event, src->name, sp);
	} else if (!on_job && src && strcmp(field, sp) == 0) {
		problem(p, "'%s' is source '%s''s status_property, not a field of %s: write '%s = status = %s'", field,
			src->name, event, p->key, example);
	} else if (strcmp(field, "lifecyclestage") == 0 && !on_job) {
		problem(p, "'lifecyclestage' is HubSpot's property, not a field of %s: HubSpot's lifecyclestage is the"
			" canonical status, so write '%s = status = %s'", event, p->key, example);
	} else if (strncmp(field, "hs_", 3) == 0 && !on_job) {
		problem(p, "'%s' is HubSpot's property, not a field of %s: to trigger on it, set"
			" status_property = %s in the HubSpot source and write '%s = status = %s'", field, event,
			field, p->key, example);
	} else {
		size_t k;

		for (k = 0; k < sizeof vendor_names / sizeof vendor_names[0]; k++)
			if (strcmp(field, vendor_names[k].name) == 0)
				break;
		if (k < sizeof vendor_names / sizeof vendor_names[0] && vendor_names[k].job == on_job &&
		    listed(vendor_names[k].field, fields) && trigger)
			problem(p, "'%s' is a vendor's name, not a field of %s: write '%s = %s = %s'", field, event,
				p->key, vendor_names[k].field, example);
		else if (k < sizeof vendor_names / sizeof vendor_names[0] && vendor_names[k].job == on_job &&
			 listed(vendor_names[k].field, fields))
			problem(p, "'%s' is a vendor's name, not a field of %s: name it '%s'", field, event,
				vendor_names[k].field);
		else if (k < sizeof vendor_names / sizeof vendor_names[0] && vendor_names[k].job && !on_job)
			problem(p, "'%s' is a deal's or job's field: a campaign on jobs says 'on = job' and names"
				" '%s'", field, vendor_names[k].field);
		else if (!on_job && listed(field, job_fields))
			problem(p, "'%s' is a job's field: a campaign on jobs says 'on = job'", field);
		else if (near)
			problem(p, "unknown field '%s' (did you mean '%s'? %s has %s)", field, near, event, list.data);
		else
			problem(p, "unknown field '%s' (%s has %s)", field, event, list.data);
	}
	fs_buf_free(&list);
}

static const char *
skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* At s: the word "and" between blanks (s at the blank before it): its length, else 0. */
static size_t
and_at(const char *s)
{
	const char *t = skip_space(s);

	if (t == s || strncmp(t, "and", 3) != 0 || (t[3] != ' ' && t[3] != '\t' && t[3] != '\0'))
		return 0;
	return (size_t)(skip_space(t + 3) - s);
}

/*
 * One condition at *s: FIELD OP VALUES, up to the end or " and ".  0 with
 * *s after it, -1 after saying why.  in_filter: every operator; else = and in.
 */
static int
parse_cond(struct place *p, const char **s, bool in_filter, struct fs_cond *c)
{
	static const struct {
		const char *text;
		enum fs_cond_op op;
	} ops[] = {
		{"not in", FS_COND_NOT_IN}, {"in", FS_COND_IN}, {"!=", FS_COND_NOT_IN}, {"<=", FS_COND_LE},
		{">=", FS_COND_GE}, {"\xe2\x89\xa4", FS_COND_LE}, {"\xe2\x89\xa5", FS_COND_GE},
		{"=", FS_COND_IN}, {"<", FS_COND_LT}, {">", FS_COND_GT},
	};
	const char *q = skip_space(*s), *start = q;
	size_t k;

	memset(c, 0, sizeof *c);
	while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' ||
	       *q == '.')
		q++;
	if (q == start) {
		problem(p, "no field before the operator in '%s' (want FIELD = VALUE)", *s);
		return -1;
	}
	c->field = fs_xasprintf("%.*s", (int)(q - start), start);
	q = skip_space(q);
	for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
		size_t n = strlen(ops[k].text);
		bool word = ops[k].text[0] >= 'a' && ops[k].text[0] <= 'z';

		if (strncmp(q, ops[k].text, n) == 0 && (!word || q[n] == ' ' || q[n] == '\t'))
			break;
	}
	if (k == sizeof ops / sizeof ops[0]) {
		problem(p, "no operator after '%s' (want %s)", c->field,
			in_filter ? "=, !=, in, not in, <, <=, > or >=" : "= or in");
		return -1;
	}
	if (!in_filter && ops[k].op != FS_COND_IN) {
		problem(p, "'%s' is not an operator of triggers (= or in): a trigger fires on entering values",
			ops[k].text);
		return -1;
	}
	c->op = ops[k].op;
	q += strlen(ops[k].text);
	/* The values: comma-separated, each trimmed or in double quotes. */
	for (;;) {
		const char *v = skip_space(q), *end;
		char *value;

		if (*v == '"') {
			if ((end = strchr(v + 1, '"')) == NULL) {
				problem(p, "a value's double quote is not closed in '%s'", *s);
				return -1;
			}
			value = fs_xasprintf("%.*s", (int)(end - v - 1), v + 1);
			q = end + 1;
			if (*skip_space(q) == ',' || *skip_space(q) == '\0')
				q = skip_space(q);
		} else {
			for (end = v; *end && *end != ',' && *end != '"' && !(in_filter && and_at(end)); end++)
				;
			value = fs_xasprintf("%.*s", (int)(end - v), v);
			fs_trim(value);
			q = end;
		}
		if (*value == '\0') {
			free(value);
			problem(p, "an empty value in '%s'", *s);
			return -1;
		}
		c->values = fs_xrealloc(c->values, (size_t)(c->nvalues + 1) * sizeof *c->values);
		c->values[c->nvalues++] = value;
		if (*q != ',')
			break;
		q++;
	}
	if (*q != '\0' && !(in_filter && and_at(q))) {
		problem(p, "unexpected '%s' after the values of '%s'", q, c->field);
		return -1;
	}
	if (c->op >= FS_COND_LT) {
		char *end;

		errno = 0;
		c->number = c->nvalues == 1 ? strtod(c->values[0], &end) : 0;
		if (c->nvalues != 1 || errno || *end || end == c->values[0]) {
			problem(p, "'%s %s' wants one number, not '%s'", c->field, ops[k].text, c->values[0]);
			return -1;
		}
	}
	*s = q;
	return 0;
}

static void
cond_free(struct fs_cond *c)
{
	for (int i = 0; i < c->nvalues; i++)
		free(c->values[i]);
	free(c->values);
	free(c->field);
	memset(c, 0, sizeof *c);
}

/* A condition's field: known for the event, numeric where compared.  0 or -1 (said). */
static int
check_field(struct place *p, struct fs_cond *c, bool on_job, bool trigger)
{
	const char *f = canonical_name(c->field);
	bool contact_side = false;

	if (on_job && !trigger && strncmp(f, "contact.", 8) == 0) {
		f = canonical_name(f + 8);
		contact_side = true;
	} else if (on_job && !trigger && !listed(f, job_fields) && listed(f, contact_fields)) {
		contact_side = true;
	}
	if (!listed(f, contact_side ? contact_fields : fs_campaign_fields(on_job))) {
		unknown_field(p, c->field, on_job && !contact_side, trigger, c->values[0]);
		return -1;
	}
	if (trigger && strcmp(f, "tags") == 0) {
		problem(p, "a trigger is on one value that enters it; tags are a filter's (only = tag = %s)",
			c->values[0]);
		return -1;
	}
	if (c->op >= FS_COND_LT && !fs_field_numeric(f)) {
		problem(p, "'%s' is not a number: compare it with = or in", c->field);
		return -1;
	}
	f = contact_side ? fs_xasprintf("contact.%s", f) : fs_xstrdup(f);
	free(c->field);
	c->field = (char *)f;
	return 0;
}

static int
parse_filter(struct place *p, const char *text, bool on_job, struct fs_cond **out, int *n)
{
	const char *s = text;

	for (;;) {
		struct fs_cond c;
		size_t k;

		if (parse_cond(p, &s, true, &c) != 0 || check_field(p, &c, on_job, false) != 0) {
			cond_free(&c);
			return -1;
		}
		*out = fs_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
		(*out)[(*n)++] = c;
		if ((k = and_at(s)) == 0)
			return 0;
		s += k;
		if (*s == '\0') {
			problem(p, "nothing after 'and' in '%s'", text);
			return -1;
		}
	}
}

/* The line of key in s (its last setting), else the section's. */
static int
line_of(const struct fs_section *s, const char *key)
{
	int line = s->line;

	for (int i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			line = s->kv[i].line;
	return line;
}

static int
load_one(const struct fs_config *cfg, const struct fs_section *s, struct fs_campaign *c, bool need_trigger)
{
	struct place p = {cfg, s->name, "trigger", line_of(s, "trigger"), 0};
	const char *trigger = fs_section_get(s, "trigger"), *on, *v, *t;

	memset(c, 0, sizeof *c);
	c->name = s->name;
	c->goal = fs_config_setting(cfg, "campaign", s->name, "goal");
	c->format = fs_config_setting(cfg, "campaign", s->name, "format");
	c->template = fs_config_setting(cfg, "campaign", s->name, "template");
	c->back = fs_config_setting(cfg, "campaign", s->name, "back");
	c->from = fs_config_setting(cfg, "campaign", s->name, "from");
	c->line = p.line;
	on = fs_config_setting(cfg, "campaign", s->name, "on");
	if (strcmp(on, "contact") != 0 && strcmp(on, "job") != 0) {
		p.key = "on", p.line = line_of(s, "on");
		problem(&p, "'%s' is not contact or job", on);
	}
	c->on_job = strcmp(on, "job") == 0;
	if (strcmp(c->format, "postcard") != 0 && strcmp(c->format, "letter") != 0) {
		p.key = "format", p.line = line_of(s, "format");
		problem(&p, "'%s' is not postcard or letter", c->format);
	}
	if ((v = fs_section_get(s, "backfill")) != NULL) {
		p.key = "backfill", p.line = line_of(s, "backfill");
		if (fs_duration_parse(v, &c->backfill_secs) != 0)
			problem(&p, "'%s' is not a duration (0s, 15m, 24h, 7d)", v);
		c->backfill = true;
	}
	p.key = "trigger", p.line = c->line;
	if (trigger == NULL) {
		/* Required by fs-normalize only (FS_SET_REQUIRED): fs-push reads a campaign's goal. */
		p.line = s->line;
		if (need_trigger)
			problem(&p, "missing (want trigger = FIELD = VALUE)");
	} else if ((t = trigger, parse_cond(&p, &t, false, &c->trigger)) == 0) {
		check_field(&p, &c->trigger, c->on_job, true);
	}
	if ((v = fs_section_get(s, "only")) != NULL) {
		p.key = "only", p.line = line_of(s, "only");
		parse_filter(&p, v, c->on_job, &c->only, &c->nonly);
	}
	if ((v = fs_section_get(s, "except")) != NULL) {
		p.key = "except", p.line = line_of(s, "except");
		parse_filter(&p, v, c->on_job, &c->except, &c->nexcept);
	}
	return p.errors ? -1 : 0;
}

int
fs_campaigns_load(const struct fs_config *cfg, struct fs_campaign **out, int *n)
{
	struct fs_campaign *all = NULL;
	int count = 0, errors = 0;

	for (int i = 0; i < cfg->nsec; i++) {
		if (strcmp(cfg->sec[i].type, "campaign") != 0)
			continue;
		all = fs_xrealloc(all, (size_t)(count + 1) * sizeof *all);
		errors += load_one(cfg, &cfg->sec[i], &all[count++], out != NULL) != 0;
	}
	if (errors || out == NULL) {
		fs_campaigns_free(all, count);
		if (out)
			*out = NULL, *n = 0;
		return errors ? -1 : 0;
	}
	*out = all;
	*n = count;
	return 0;
}

void
fs_campaigns_free(struct fs_campaign *c, int n)
{
	for (int i = 0; i < n; i++) {
		cond_free(&c[i].trigger);
		for (int k = 0; k < c[i].nonly; k++)
			cond_free(&c[i].only[k]);
		for (int k = 0; k < c[i].nexcept; k++)
			cond_free(&c[i].except[k]);
		free(c[i].only);
		free(c[i].except);
	}
	free(c);
}

bool
fs_cond_holds(const struct fs_cond *c, const char *const *values, int n)
{
	bool any = false;

	if (c->op >= FS_COND_LT) {
		for (int i = 0; i < n && !any; i++) {
			char *end;
			double v;

			errno = 0;
			v = strtod(values[i], &end);
			if (errno || *end || end == values[i])
				continue;
			any = c->op == FS_COND_LT ? v < c->number : c->op == FS_COND_LE ? v <= c->number
			    : c->op == FS_COND_GT ? v > c->number : v >= c->number;
		}
		return any;
	}
	for (int i = 0; i < n && !any; i++)
		for (int k = 0; k < c->nvalues && !any; k++) {
			char *e1, *e2;
			double a, b;

			/* A number's field: 250 is 250.0. */
			if (fs_field_numeric(c->field) && (a = strtod(values[i], &e1), *e1 == '\0' && e1 != values[i]) &&
			    (b = strtod(c->values[k], &e2), *e2 == '\0' && e2 != c->values[k]))
				any = a == b;
			else
				any = strcmp(values[i], c->values[k]) == 0;
		}
	return c->op == FS_COND_IN ? any : !any;
}

bool
fs_cond_matches(const struct fs_cond *c, const char *value)
{
	return value != NULL && fs_cond_holds(c, &value, 1) && c->op == FS_COND_IN;
}
