/*
 * Every setting of the configuration, in one table: the section types, the
 * kinds a source or target can be, and each key with the kinds it applies
 * to, its default and the shape of its value.
 *
 * Commands read settings through fs_setting and fs_config_setting, which
 * give the table's default when the file sets none.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

#define HS FS_KIND_HUBSPOT
#define LE FS_KIND_LOB_EVENTS
#define CSV FS_KIND_CSV
#define LOB FS_KIND_LOB
#define ANY_SOURCE (HS | LE | CSV | LOB)

/* A row of the table: section, key, kinds, type, then what it has of .def, .from, .unless, .choices, .flags. */
#define ROW(section_, key_, kinds_, type_, ...) \
	{.section = section_, .key = key_, .kinds = kinds_, .type = type_, __VA_ARGS__}

/* Bit i is kinds[i]. */
static const char *const kinds[] = {"hubspot", "lob-events", "csv", "lob", NULL};

const struct fs_section_type fs_section_types[] = {
	{"source", true, ANY_SOURCE},
	{"target", true, HS | LOB},
	{"campaign", true, 0},
	{"thresholds", false, 0},
	{"alert", false, 0},
	{"dedupe", false, 0},
	{"hook", false, 0},	/* reserved: no keys yet */
	{"report", false, 0},	/* reserved: no keys yet */
	{"state", false, 0},
	{NULL, false, 0},
};

/* HubSpot's streams, the signature schemes, and the contact properties the shipped maps read. */
#define STREAMS "contacts, calls, emails, meetings, tasks, deals"
#define SCHEMES "lob, hubspot-v3, standard-webhooks"
#define CONTACT_PROPS "email, firstname, lastname, phone, company, address, address2, city, state, zip, " \
		      "country, lifecyclestage, hubspot_owner_id, lastmodifieddate"

/*
 * One row per key and group of kinds that share its default: a key whose
 * default differs by kind has a row per default.  Rows of a section are in
 * the order --print-config prints them.  A key ending in ".*" is a family
 * (map.STREAM); FS_SET_HIDDEN rows only give the default of a family the
 * file may not name.
 */
const struct fs_setting fs_settings[] = {
	/* [source "NAME"]: where records come from. */
	ROW("source", "kind", ANY_SOURCE, FS_V_KIND),
	ROW("source", "url", HS, FS_V_URL, .def = "https://api.hubapi.com"),
	ROW("source", "url", LE, FS_V_URL, .def = "https://api.lob.com/v1"),
	ROW("source", "token_env", HS, FS_V_ENV, .def = "HUBSPOT_TOKEN", .unless = "token_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "token_env", LE, FS_V_ENV, .def = "LOB_API_KEY", .unless = "token_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "token_file", HS | LE, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "rate", HS, FS_V_RATE, .def = "100/10s"),
	ROW("source", "rate", LE, FS_V_RATE, .def = "150/5s"),
	ROW("source", "search_rate", HS, FS_V_RATE, .def = "5/1s"),
	ROW("source", "attempts", HS | LE, FS_V_COUNT, .def = "6"),
	ROW("source", "interval", ANY_SOURCE, FS_V_DURATION, .def = "5m"),
	ROW("source", "streams", HS, FS_V_LIST, .def = STREAMS, .choices = STREAMS),
	ROW("source", "lookback", HS, FS_V_DURATION, .def = "60s"),
	ROW("source", "properties", HS, FS_V_LIST, .def = CONTACT_PROPS),
	ROW("source", "properties.contacts", HS, FS_V_LIST, .from = "properties"),
	ROW("source", "properties.calls", HS, FS_V_LIST,
	    .def = "hs_timestamp, hubspot_owner_id, hs_call_status, hs_call_direction"),
	ROW("source", "properties.emails", HS, FS_V_LIST,
	    .def = "hs_timestamp, hubspot_owner_id, hs_email_direction, hs_email_status"),
	ROW("source", "properties.meetings", HS, FS_V_LIST, .def = "hs_timestamp, hubspot_owner_id, hs_meeting_outcome"),
	ROW("source", "properties.tasks", HS, FS_V_LIST,
	    .def = "hs_timestamp, hubspot_owner_id, hs_task_status, hs_task_type"),
	ROW("source", "properties.deals", HS, FS_V_LIST,
	    .def = "amount, closedate, dealstage, pipeline, dealname, deal_currency_code, hubspot_owner_id"),
	ROW("source", "status_property", HS, FS_V_TEXT, .def = "lifecyclestage"),
	ROW("source", "won_stages", HS, FS_V_LIST, .def = "closedwon"),
	ROW("source", "currency", HS, FS_V_TEXT, .def = "USD"),
	ROW("source", "default_country", HS | CSV, FS_V_TEXT, .def = "US"),
	ROW("source", "file", CSV, FS_V_FILE),
	ROW("source", "map", ANY_SOURCE, FS_V_MAP),
	ROW("source", "map.contacts", HS, FS_V_MAP, .def = "hubspot-contact.jq", .from = "map"),
	ROW("source", "map.calls", HS, FS_V_MAP, .def = "hubspot-engagement.jq", .from = "map"),
	ROW("source", "map.emails", HS, FS_V_MAP, .def = "hubspot-engagement.jq", .from = "map"),
	ROW("source", "map.meetings", HS, FS_V_MAP, .def = "hubspot-engagement.jq", .from = "map"),
	ROW("source", "map.tasks", HS, FS_V_MAP, .def = "hubspot-engagement.jq", .from = "map"),
	ROW("source", "map.deals", HS, FS_V_MAP, .def = "hubspot-deal.jq", .from = "map"),
	ROW("source", "map.rows", CSV, FS_V_MAP, .def = "csv-contact.jq", .from = "map"),
	ROW("source", "map.mail-history", CSV, FS_V_MAP, .def = "csv-mail-history.jq", .from = "map"),
	ROW("source", "map.events", LE | LOB, FS_V_MAP, .def = "lob-event.jq", .from = "map"),
	ROW("source", "map.*", CSV, FS_V_MAP, .def = "csv-contact.jq", .from = "map"),	/* fs-pull --as NAME csv:FILE */
	ROW("source", "map.*", HS, FS_V_MAP, .def = "hubspot-engagement.jq", .from = "map",
	    .flags = FS_SET_HIDDEN),
	ROW("source", "map.*", LE | LOB, FS_V_MAP, .def = "lob-event.jq", .from = "map", .flags = FS_SET_HIDDEN),
	ROW("source", "secret_env", ANY_SOURCE, FS_V_ENV, .flags = FS_SET_SECRET),
	ROW("source", "secret_file", ANY_SOURCE, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "signature", HS, FS_V_CHOICE, .def = "hubspot-v3", .choices = SCHEMES),
	ROW("source", "signature", LE | LOB, FS_V_CHOICE, .def = "lob", .choices = SCHEMES),
	ROW("source", "signature", CSV, FS_V_CHOICE, .def = "standard-webhooks", .choices = SCHEMES),
	ROW("source", "max_body", ANY_SOURCE, FS_V_SIZE, .def = "1M"),
	ROW("source", "hook_url", ANY_SOURCE, FS_V_URL),
	ROW("source", "inbox_retention", HS | LE, FS_V_RETENTION, .def = "14d"),
	ROW("source", "inbox_key_retention", HS | LE, FS_V_RETENTION, .def = "30d"),
	ROW("source", "polled_retention", LE, FS_V_RETENTION, .def = "30d"),

	/* [target "NAME"]: where fs-push sends. */
	ROW("target", "kind", HS | LOB, FS_V_KIND),
	ROW("target", "url", LOB, FS_V_URL, .def = "https://api.lob.com/v1"),
	ROW("target", "url", HS, FS_V_URL, .def = "https://api.hubapi.com"),
	ROW("target", "token_env", LOB, FS_V_ENV, .def = "LOB_API_KEY", .unless = "token_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "token_env", HS, FS_V_ENV, .def = "HUBSPOT_TOKEN", .unless = "token_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "token_file", HS | LOB, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "rate", LOB, FS_V_RATE, .def = "150/5s"),
	ROW("target", "rate", HS, FS_V_RATE, .def = "100/10s"),
	ROW("target", "retry", HS | LOB, FS_V_RETRY, .def = "30s..6h x8"),
	ROW("target", "give_up", HS | LOB, FS_V_DURATION, .def = "3d"),
	ROW("target", "timeout", HS | LOB, FS_V_DURATION, .def = "30s"),
	ROW("target", "parallel", LOB, FS_V_COUNT, .def = "16"),
	ROW("target", "parallel", HS, FS_V_COUNT, .def = "4"),
	ROW("target", "use_type", LOB, FS_V_CHOICE, .def = "marketing", .choices = "marketing, operational"),
	ROW("target", "size", LOB, FS_V_TEXT),
	ROW("target", "mail_type", LOB, FS_V_TEXT),
	ROW("target", "color", LOB, FS_V_BOOL, .def = "false"),
	ROW("target", "price", LOB, FS_V_PRICES),
	ROW("target", "sla", LOB, FS_V_SLA, .def = "mailed 2bd, delivered 7bd"),
	ROW("target", "prop_mail_status", HS, FS_V_TEXT, .def = "fieldsync_mail_status"),
	ROW("target", "prop_last_mail_sent", HS, FS_V_TEXT, .def = "fieldsync_last_mail_sent"),
	ROW("target", "prop_last_follow_up", HS, FS_V_TEXT, .def = "fieldsync_last_follow_up"),

	/* [campaign "NAME"]: who gets mail. */
	ROW("campaign", "trigger", 0, FS_V_TRIGGER, .flags = FS_SET_REQUIRED),
	ROW("campaign", "goal", 0, FS_V_TEXT, .flags = FS_SET_NAMED),
	ROW("campaign", "format", 0, FS_V_CHOICE, .def = "postcard", .choices = "postcard, letter"),
	ROW("campaign", "template", 0, FS_V_TEXT),
	ROW("campaign", "back", 0, FS_V_TEXT, .from = "template"),
	ROW("campaign", "from", 0, FS_V_TEXT),
	ROW("campaign", "active", 0, FS_V_DURATION, .def = "30d"),

	/* [thresholds]: what fs-health and fs-watchdog judge by. */
	ROW("thresholds", "webhook_failures", 0, FS_V_COUNT, .def = "3"),
	ROW("thresholds", "no_ping", 0, FS_V_DURATION, .def = "15m"),
	ROW("thresholds", "dlq_max", 0, FS_V_COUNT, .def = "50"),
	ROW("thresholds", "retry_storm", 0, FS_V_COUNT, .def = "10"),
	ROW("thresholds", "follow_up_sla", 0, FS_V_BIZDAYS, .def = "3bd"),
	ROW("thresholds", "holidays", 0, FS_V_DATES),
	ROW("thresholds", "attribution", 0, FS_V_DURATION, .def = "90d"),

	/* [alert]: how fs-watchdog tells people. */
	ROW("alert", "command", 0, FS_V_COMMAND),
	ROW("alert", "webhook_env", 0, FS_V_ENV, .flags = FS_SET_SECRET),

	/* [dedupe]: fs-dedupe's windows. */
	ROW("dedupe", "ttl", 0, FS_V_DURATION, .def = "24h"),
	ROW("dedupe", "debounce", 0, FS_V_DURATION, .def = "0s"),

	/* [state]: the state file. */
	ROW("state", "group", 0, FS_V_GROUP),

	{.section = NULL},
};

unsigned
fs_kind_bit(const char *kind)
{
	for (int i = 0; kind && kinds[i]; i++)
		if (strcmp(kind, kinds[i]) == 0)
			return 1u << i;
	return 0;
}

const struct fs_section_type *
fs_section_type(const char *name)
{
	for (const struct fs_section_type *t = fs_section_types; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static bool
is_family(const char *key)
{
	size_t n = strlen(key);

	return n > 2 && strcmp(key + n - 2, ".*") == 0;
}

/* "map.events" is of the family "map.*". */
static bool
in_family(const char *family, const char *key)
{
	size_t n = strlen(family) - 1;

	return strncmp(family, key, n) == 0 && key[n] != '\0';
}

static bool
applies(const struct fs_setting *s, const char *type, unsigned kbit)
{
	return strcmp(s->section, type) == 0 && (s->kinds == 0 || (s->kinds & kbit));
}

/*
 * The row of key in a section of type and kind: the key's own row, else
 * the family's (hidden families only with hidden).  kbit ~0u: any kind.
 */
static const struct fs_setting *
find(const char *type, unsigned kbit, const char *key, bool hidden)
{
	const struct fs_setting *family = NULL;

	for (const struct fs_setting *s = fs_settings; s->section; s++) {
		if (!applies(s, type, kbit))
			continue;
		if (strcmp(s->key, key) == 0)
			return s;
		if (family == NULL && is_family(s->key) && in_family(s->key, key) &&
		    (hidden || !(s->flags & FS_SET_HIDDEN)))
			family = s;
	}
	return family;
}

/* A section as settings are looked up in it. */
struct place {
	const char *type, *name, *kind;	/* kind NULL: none, or a section type without kinds */
	unsigned kbit;
	const struct fs_section *sec;	/* NULL: not in the file */
};

/* How a value came about, for --print-config. */
enum origin { SET, DEFAULT, FROM, NAME, NONE, UNLESS };

struct value {
	const char *v;
	enum origin origin;
	const char *other;	/* FROM: the key it came from; UNLESS: the key that is set */
};

static struct value
resolve(const struct place *p, const char *key, int depth)
{
	const struct fs_setting *row = find(p->type, p->kbit, key, true);
	const char *v = fs_section_get(p->sec, key);
	struct value from;

	if (v != NULL)
		return (struct value){v, SET, NULL};
	if (strcmp(key, "kind") == 0)
		return (struct value){p->kind, p->kind ? NAME : NONE, NULL};
	if (row == NULL)
		return (struct value){NULL, NONE, NULL};
	if (row->from && depth < 4 && (from = resolve(p, row->from, depth + 1)).v != NULL)
		return (struct value){from.v, FROM, row->from};
	if (row->flags & FS_SET_NAMED)
		return (struct value){p->name, NAME, NULL};
	if (row->unless && fs_section_get(p->sec, row->unless) != NULL)
		return (struct value){NULL, UNLESS, row->unless};
	return (struct value){row->def, row->def ? DEFAULT : NONE, NULL};
}

/* Asking for a key the table does not have is a bug in the caller. */
static void
must_know(const char *type, const char *key)
{
	if (find(type, ~0u, key, true) == NULL) {
		fs_err("internal error: no setting '%s' in [%s]", key, type);
		abort();
	}
}

static void
place_of(const struct fs_config *cfg, const char *type, const char *name, struct place *p)
{
	const struct fs_section_type *t = fs_section_type(type);

	p->type = type;
	p->name = name ? name : "";
	p->sec = fs_config_section(cfg, type, p->name);
	p->kind = NULL;
	if (t && t->kinds) {
		p->kind = fs_section_get(p->sec, "kind");
		if (p->kind == NULL && fs_kind_bit(p->name))
			p->kind = p->name;
	}
	p->kbit = fs_kind_bit(p->kind);
}

const char *
fs_setting(const struct fs_endpoint *ep, const char *key)
{
	struct place p = {ep->type, ep->name, ep->kind, fs_kind_bit(ep->kind), ep->sec};

	if (ep->type == NULL)
		return NULL;
	must_know(ep->type, key);
	return resolve(&p, key, 0).v;
}

const char *
fs_setting_default(const struct fs_endpoint *ep, const char *key)
{
	struct place p = {ep->type, ep->name, ep->kind, fs_kind_bit(ep->kind), NULL};

	if (ep->type == NULL)
		return NULL;
	must_know(ep->type, key);
	return resolve(&p, key, 0).v;
}

const char *
fs_config_setting(const struct fs_config *cfg, const char *type, const char *name, const char *key)
{
	struct place p;

	must_know(type, key);
	place_of(cfg, type, name, &p);
	return resolve(&p, key, 0).v;
}

bool
fs_setting_applies(const struct fs_setting *s, const struct fs_endpoint *ep)
{
	return ep->type && applies(s, ep->type, fs_kind_bit(ep->kind)) && !is_family(s->key);
}
