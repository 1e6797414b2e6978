/*
 * Every setting of the configuration, in one table: the section types, the
 * kinds a source or target can be, and each key with the kinds it applies
 * to, its default and the shape of its value.
 *
 * Commands read settings through fs_setting and fs_config_setting, which
 * give the table's default when the file sets none: the defaults that
 * --print-config shows (fs_config_print) are the ones in use.
 * fs_config_load checks every section and key of the file against the
 * table (fs_config_check), so that a typo anywhere in the file stops every
 * command, cron's included, with the file, the line and the nearest key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"
#include "vendors.h"	/* the connectors' defaults (macros only) */

#define HS FS_KIND_HUBSPOT
#define LE FS_KIND_LOB_EVENTS
#define CSV FS_KIND_CSV
#define LOB FS_KIND_LOB
#define JB FS_KIND_JOBBER
#define QB FS_KIND_QUICKBOOKS
#define SH FS_KIND_SHEETS
#define ST FS_KIND_SERVICETITAN
#define PCM FS_KIND_POSTCARDMANIA
#define PE FS_KIND_POSTCARDMANIA_EVENTS
#define ANY_SOURCE (HS | LE | CSV | LOB | JB | QB | SH | ST | PE)

/* A row of the table: section, key, kinds, type, then what it has of .def, .from, .unless, .choices, .flags. */
#define ROW(section_, key_, kinds_, type_, ...) \
	{.section = section_, .key = key_, .kinds = kinds_, .type = type_, __VA_ARGS__}

/* Bit i is kinds[i]. */
static const char *const kinds[] = {"hubspot", "lob-events", "csv", "lob", "jobber", "quickbooks", "sheets",
				     "servicetitan", "postcardmania", "postcardmania-events", NULL};

const struct fs_section_type fs_section_types[] = {
	{"source", true, ANY_SOURCE},
	{"target", true, HS | LOB | JB | SH | ST | PCM},
	{"campaign", true, 0},
	{"thresholds", false, 0},
	{"alert", false, 0},
	{"dedupe", false, 0},
	{"hook", false, 0},
	{"report", false, 0},	/* reserved: no keys yet */
	{"state", false, 0},
	{NULL, false, 0},
};

/* HubSpot's streams, the signature schemes, and the contact properties the shipped maps read. */
#define STREAMS "contacts, calls, emails, meetings, tasks, deals"
#define JB_STREAMS "clients, jobs, invoices"
#define QB_STREAMS "customers, invoices, payments"
#define ST_STREAMS "customers, locations, jobs, invoices"
#define SCHEMES "lob, hubspot-v3, jobber, intuit, servicetitan, standard-webhooks"
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
	ROW("source", "token_file", HS | LE | PE, FS_V_FILE, .flags = FS_SET_SECRET),
	/* PostcardMania: an API key and secret, exchanged for a token (POST /auth/login). */
	ROW("source", "url", PE, FS_V_URL, .def = FS_PCM_URL),
	ROW("source", "token_env", PE, FS_V_ENV, .def = "PCM_API_KEY", .unless = "token_file", .flags = FS_SET_SECRET),
	ROW("source", "secret_env", PE, FS_V_ENV, .def = "PCM_API_SECRET", .unless = "secret_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "child_ref", PE, FS_V_TEXT),
	ROW("source", "rate", PE, FS_V_RATE, .def = FS_PCM_RATE),
	/* Jobber: OAuth (oauth_file, the client id and secret), or a bare access token. */
	ROW("source", "url", JB, FS_V_URL, .def = FS_JOBBER_URL),
	ROW("source", "oauth_file", JB | QB, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "client_id_env", JB, FS_V_ENV, .def = "JOBBER_CLIENT_ID", .unless = "client_id_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "client_id_file", JB | QB, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "token_env", JB, FS_V_ENV, .def = "JOBBER_ACCESS_TOKEN", .unless = "oauth_file",
	    .flags = FS_SET_SECRET),
	/* QuickBooks Online: OAuth as Jobber, the client secret apart from the webhooks' verifier token. */
	ROW("source", "url", QB, FS_V_URL, .def = FS_QBO_URL),
	ROW("source", "token_url", QB, FS_V_URL, .def = FS_QBO_TOKEN_URL),
	ROW("source", "realm", QB, FS_V_TEXT),
	ROW("source", "client_id_env", QB, FS_V_ENV, .def = "QBO_CLIENT_ID", .unless = "client_id_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "client_secret_env", QB, FS_V_ENV, .def = "QBO_CLIENT_SECRET", .unless = "client_secret_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "client_secret_file", QB | ST, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "token_env", QB, FS_V_ENV, .def = "QBO_ACCESS_TOKEN", .unless = "oauth_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "minorversion", QB, FS_V_COUNT, .def = FS_QBO_MINORVERSION),
	ROW("source", "page_size", QB, FS_V_COUNT, .def = FS_QBO_PAGE),
	ROW("source", "cdc_max", QB, FS_V_COUNT, .def = FS_QBO_CDC_MAX),
	ROW("source", "rate", QB, FS_V_RATE, .def = FS_QBO_RATE),
	/* ServiceTitan: the client-credentials grant per tenant, and the application's ST-App-Key. */
	ROW("source", "url", ST, FS_V_URL, .def = FS_ST_URL),
	ROW("source", "token_url", ST, FS_V_URL, .def = FS_ST_TOKEN_URL),
	ROW("source", "tenant", ST, FS_V_TEXT),
	ROW("source", "app_key_env", ST, FS_V_ENV, .def = "ST_APP_KEY", .unless = "app_key_file", .flags = FS_SET_SECRET),
	ROW("source", "app_key_file", ST, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "client_id_env", ST, FS_V_ENV, .def = "ST_CLIENT_ID", .unless = "client_id_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "client_id_file", ST, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "client_secret_env", ST, FS_V_ENV, .def = "ST_CLIENT_SECRET", .unless = "client_secret_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "read", ST, FS_V_CHOICE, .def = "export", .choices = "export, list"),
	ROW("source", "page_size", ST, FS_V_COUNT, .def = FS_ST_PAGE),
	ROW("source", "rate", ST, FS_V_RATE, .def = FS_ST_RATE),
	ROW("source", "api_version", JB, FS_V_TEXT, .def = FS_JOBBER_VERSION),
	ROW("source", "page_size", JB, FS_V_COUNT, .def = FS_JOBBER_PAGE),
	ROW("source", "rate", JB, FS_V_RATE, .def = FS_JOBBER_RATE),
	ROW("source", "rate", HS, FS_V_RATE, .def = "100/10s"),
	ROW("source", "rate", LE, FS_V_RATE, .def = "150/5s"),
	ROW("source", "search_rate", HS, FS_V_RATE, .def = "5/1s"),
	/* Google Sheets: the spreadsheet's range, keyed by its id column; OAuth as Jobber, or a bare token. */
	ROW("source", "url", SH, FS_V_URL, .def = FS_SHEETS_URL),
	ROW("source", "spreadsheet", SH, FS_V_TEXT),
	ROW("source", "range", SH, FS_V_TEXT, .def = "Sheet1"),
	ROW("source", "id_column", SH, FS_V_TEXT, .def = "id"),
	ROW("source", "header_changed", SH, FS_V_CHOICE, .def = "stop", .choices = "stop, accept"),
	ROW("source", "token_env", SH, FS_V_ENV, .def = "GOOGLE_ACCESS_TOKEN", .unless = "oauth_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "oauth_file", SH, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "service_account_file", SH, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "token_url", SH, FS_V_URL, .def = FS_SHEETS_TOKEN_URL),
	ROW("source", "client_id_env", SH, FS_V_ENV, .def = "GOOGLE_CLIENT_ID", .unless = "client_id_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "client_id_file", SH, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "rate", SH, FS_V_RATE, .def = FS_SHEETS_RATE),
	ROW("source", "attempts", HS | LE | JB | QB | SH | ST | PE, FS_V_COUNT, .def = "6"),
	ROW("source", "throttle_wait", QB, FS_V_DURATION, .def = "60s"),
	ROW("source", "interval", ANY_SOURCE, FS_V_DURATION, .def = "5m"),
	ROW("source", "streams", HS, FS_V_LIST, .def = STREAMS, .choices = STREAMS),
	ROW("source", "streams", JB, FS_V_LIST, .def = JB_STREAMS, .choices = JB_STREAMS),
	ROW("source", "streams", QB, FS_V_LIST, .def = QB_STREAMS, .choices = QB_STREAMS),
	ROW("source", "streams", SH, FS_V_LIST, .def = "rows", .choices = "rows"),
	ROW("source", "streams", ST, FS_V_LIST, .def = ST_STREAMS, .choices = ST_STREAMS),
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
	ROW("source", "suppress_property", HS, FS_V_TEXT),
	ROW("source", "won_stages", HS, FS_V_LIST, .def = "closedwon"),
	ROW("source", "currency", HS | JB | QB | ST, FS_V_TEXT, .def = "USD"),
	ROW("source", "default_country", HS | CSV | JB | QB | SH | ST, FS_V_TEXT, .def = "US"),
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
	ROW("source", "map.clients", JB, FS_V_MAP, .def = "jobber-client.jq", .from = "map"),
	ROW("source", "map.jobs", JB, FS_V_MAP, .def = "jobber-job.jq", .from = "map"),
	ROW("source", "map.invoices", JB, FS_V_MAP, .def = "jobber-invoice.jq", .from = "map"),
	ROW("source", "map.customers", QB, FS_V_MAP, .def = "quickbooks-customer.jq", .from = "map"),
	ROW("source", "map.invoices", QB, FS_V_MAP, .def = "quickbooks-invoice.jq", .from = "map"),
	ROW("source", "map.payments", QB, FS_V_MAP, .def = "quickbooks-payment.jq", .from = "map"),
	ROW("source", "map.customers", ST, FS_V_MAP, .def = "servicetitan-customer.jq", .from = "map"),
	ROW("source", "map.jobs", ST, FS_V_MAP, .def = "servicetitan-job.jq", .from = "map"),
	ROW("source", "map.invoices", ST, FS_V_MAP, .def = "servicetitan-invoice.jq", .from = "map"),
	ROW("source", "map.jobs", CSV, FS_V_MAP, .def = "csv-job.jq", .from = "map"),
	ROW("source", "map.events", LE | LOB, FS_V_MAP, .def = "lob-event.jq", .from = "map"),
	ROW("source", "map.rows", SH, FS_V_MAP, .def = "sheets-contact.jq", .from = "map"),
	ROW("source", "map.*", SH, FS_V_MAP, .def = "sheets-contact.jq", .from = "map", .flags = FS_SET_HIDDEN),
	ROW("source", "map.events", PE, FS_V_MAP, .def = "postcardmania-event.jq", .from = "map"),
	ROW("source", "map.*", CSV, FS_V_MAP, .def = "csv-contact.jq", .from = "map"),	/* fs-pull --as NAME csv:FILE */
	ROW("source", "map.*", HS, FS_V_MAP, .def = "hubspot-engagement.jq", .from = "map",
	    .flags = FS_SET_HIDDEN),
	ROW("source", "map.*", LE | LOB, FS_V_MAP, .def = "lob-event.jq", .from = "map", .flags = FS_SET_HIDDEN),
	ROW("source", "map.*", JB, FS_V_MAP, .def = "jobber-client.jq", .from = "map", .flags = FS_SET_HIDDEN),
	ROW("source", "map.*", QB, FS_V_MAP, .def = "quickbooks-customer.jq", .from = "map", .flags = FS_SET_HIDDEN),
	ROW("source", "map.*", ST, FS_V_MAP, .def = "servicetitan-customer.jq", .from = "map", .flags = FS_SET_HIDDEN),
	/* ServiceTitan signs webhooks with the app's HMAC key, in a header it does not publish. */
	ROW("source", "secret_env", ST, FS_V_ENV, .def = "ST_WEBHOOK_KEY", .unless = "secret_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "map.*", PE, FS_V_MAP, .def = "postcardmania-event.jq", .from = "map", .flags = FS_SET_HIDDEN),
	/* QuickBooks signs webhooks with the app's verifier token (fs-hook reads secret_env). */
	ROW("source", "secret_env", QB, FS_V_ENV, .def = "QBO_VERIFIER_TOKEN", .unless = "secret_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "secret_env", SH, FS_V_ENV, .def = "GOOGLE_CLIENT_SECRET", .unless = "secret_file",
	    .flags = FS_SET_SECRET),
	/* Jobber signs webhooks with the app's client secret: the same secret for the token endpoint. */
	ROW("source", "secret_env", JB, FS_V_ENV, .def = "JOBBER_CLIENT_SECRET", .unless = "secret_file",
	    .flags = FS_SET_SECRET),
	ROW("source", "secret_env", ANY_SOURCE, FS_V_ENV, .flags = FS_SET_SECRET),
	ROW("source", "secret_file", ANY_SOURCE, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("source", "signature", HS, FS_V_CHOICE, .def = "hubspot-v3", .choices = SCHEMES),
	ROW("source", "signature", LE | LOB, FS_V_CHOICE, .def = "lob", .choices = SCHEMES),
	ROW("source", "signature", CSV, FS_V_CHOICE, .def = "standard-webhooks", .choices = SCHEMES),
	ROW("source", "signature", JB, FS_V_CHOICE, .def = "jobber", .choices = SCHEMES),
	ROW("source", "signature", QB, FS_V_CHOICE, .def = "intuit", .choices = SCHEMES),
	ROW("source", "signature", ST, FS_V_CHOICE, .def = "servicetitan", .choices = SCHEMES),
	ROW("source", "max_body", ANY_SOURCE, FS_V_SIZE, .def = "1M"),
	ROW("source", "hook_url", ANY_SOURCE, FS_V_URL),
	ROW("source", "inbox_retention", HS | LE | JB | QB | ST, FS_V_RETENTION, .def = "14d"),
	ROW("source", "inbox_key_retention", HS | LE | JB | QB | ST, FS_V_RETENTION, .def = "30d"),
	ROW("source", "polled_retention", LE | PE, FS_V_RETENTION, .def = "30d"),

	/* [target "NAME"]: where fs-push sends. */
	ROW("target", "kind", HS | LOB | JB | SH | ST | PCM, FS_V_KIND),
	ROW("target", "url", LOB, FS_V_URL, .def = "https://api.lob.com/v1"),
	ROW("target", "url", HS, FS_V_URL, .def = "https://api.hubapi.com"),
	ROW("target", "token_env", LOB, FS_V_ENV, .def = "LOB_API_KEY", .unless = "token_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "token_env", HS, FS_V_ENV, .def = "HUBSPOT_TOKEN", .unless = "token_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "token_file", HS | LOB | JB | PCM, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "rate", LOB, FS_V_RATE, .def = "150/5s"),
	ROW("target", "rate", HS, FS_V_RATE, .def = "100/10s"),
	ROW("target", "retry", HS | LOB | JB | ST | PCM, FS_V_RETRY, .def = "30s..6h x8"),
	ROW("target", "give_up", HS | LOB | JB | ST | PCM, FS_V_DURATION, .def = "3d"),
	ROW("target", "timeout", HS | LOB | JB | ST | PCM, FS_V_DURATION, .def = "30s"),
	ROW("target", "parallel", LOB, FS_V_COUNT, .def = "16"),
	ROW("target", "parallel", HS, FS_V_COUNT, .def = "4"),
	ROW("target", "use_type", LOB, FS_V_CHOICE, .def = "marketing", .choices = "marketing, operational"),
	ROW("target", "size", LOB, FS_V_TEXT),
	ROW("target", "mail_type", LOB, FS_V_TEXT),
	ROW("target", "color", LOB, FS_V_BOOL, .def = "false"),
	ROW("target", "price", LOB | PCM, FS_V_PRICES),
	ROW("target", "sla", LOB | PCM, FS_V_SLA, .def = "mailed 2bd, delivered 7bd"),
	ROW("target", "prop_mail_status", HS, FS_V_TEXT, .def = "fieldsync_mail_status"),
	ROW("target", "prop_last_mail_sent", HS, FS_V_TEXT, .def = "fieldsync_last_mail_sent"),
	ROW("target", "prop_last_follow_up", HS, FS_V_TEXT, .def = "fieldsync_last_follow_up"),
	/* Jobber takes write-backs with the source's OAuth settings (status_field: its custom field, else notes). */
	ROW("target", "url", JB, FS_V_URL, .def = FS_JOBBER_URL),
	ROW("target", "oauth_file", JB, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "client_id_env", JB, FS_V_ENV, .def = "JOBBER_CLIENT_ID", .unless = "client_id_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "client_id_file", JB, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "secret_env", JB, FS_V_ENV, .def = "JOBBER_CLIENT_SECRET", .unless = "secret_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "secret_file", JB, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "token_env", JB, FS_V_ENV, .def = "JOBBER_ACCESS_TOKEN", .unless = "oauth_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "api_version", JB, FS_V_TEXT, .def = FS_JOBBER_VERSION),
	ROW("target", "rate", JB, FS_V_RATE, .def = FS_JOBBER_RATE),
	ROW("target", "parallel", JB, FS_V_COUNT, .def = "2"),
	ROW("target", "status_field", JB, FS_V_TEXT, .def = "Mail status"),
	/* Google Sheets: mail status and the day it was mailed, into named columns of the row with the id. */
	ROW("target", "url", SH, FS_V_URL, .def = FS_SHEETS_URL),
	ROW("target", "spreadsheet", SH, FS_V_TEXT),
	ROW("target", "range", SH, FS_V_TEXT, .def = "Sheet1"),
	ROW("target", "id_column", SH, FS_V_TEXT, .def = "id"),
	ROW("target", "status_column", SH, FS_V_TEXT, .def = "Mail status"),
	ROW("target", "sent_column", SH, FS_V_TEXT, .def = "Last mail sent"),
	ROW("target", "token_env", SH, FS_V_ENV, .def = "GOOGLE_ACCESS_TOKEN", .unless = "oauth_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "oauth_file", SH, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "service_account_file", SH, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "token_url", SH, FS_V_URL, .def = FS_SHEETS_TOKEN_URL),
	ROW("target", "client_id_env", SH, FS_V_ENV, .def = "GOOGLE_CLIENT_ID", .unless = "client_id_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "client_id_file", SH, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "secret_env", SH, FS_V_ENV, .def = "GOOGLE_CLIENT_SECRET", .unless = "secret_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "secret_file", SH, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "rate", SH, FS_V_RATE, .def = FS_SHEETS_RATE),
	ROW("target", "retry", SH, FS_V_RETRY, .def = "30s..6h x8"),
	ROW("target", "give_up", SH, FS_V_DURATION, .def = "3d"),
	ROW("target", "timeout", SH, FS_V_DURATION, .def = "30s"),
	ROW("target", "parallel", SH, FS_V_COUNT, .def = "1"),
	/* ServiceTitan takes write-backs into a customer custom field (its typeId), with the source's credentials. */
	ROW("target", "url", ST, FS_V_URL, .def = FS_ST_URL),
	ROW("target", "token_url", ST, FS_V_URL, .def = FS_ST_TOKEN_URL),
	ROW("target", "tenant", ST, FS_V_TEXT),
	ROW("target", "app_key_env", ST, FS_V_ENV, .def = "ST_APP_KEY", .unless = "app_key_file", .flags = FS_SET_SECRET),
	ROW("target", "app_key_file", ST, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "client_id_env", ST, FS_V_ENV, .def = "ST_CLIENT_ID", .unless = "client_id_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "client_id_file", ST, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "client_secret_env", ST, FS_V_ENV, .def = "ST_CLIENT_SECRET", .unless = "client_secret_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "client_secret_file", ST, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "rate", ST, FS_V_RATE, .def = FS_ST_RATE),
	ROW("target", "parallel", ST, FS_V_COUNT, .def = "4"),
	ROW("target", "status_field_id", ST, FS_V_TEXT),
	/* PostcardMania: orders, with the key and secret exchanged for a token. */
	ROW("target", "url", PCM, FS_V_URL, .def = FS_PCM_URL),
	ROW("target", "token_env", PCM, FS_V_ENV, .def = "PCM_API_KEY", .unless = "token_file", .flags = FS_SET_SECRET),
	ROW("target", "secret_env", PCM, FS_V_ENV, .def = "PCM_API_SECRET", .unless = "secret_file",
	    .flags = FS_SET_SECRET),
	ROW("target", "secret_file", PCM, FS_V_FILE, .flags = FS_SET_SECRET),
	ROW("target", "child_ref", PCM, FS_V_TEXT),
	ROW("target", "rate", PCM, FS_V_RATE, .def = FS_PCM_RATE),
	ROW("target", "parallel", PCM, FS_V_COUNT, .def = "4"),
	ROW("target", "mail_class", PCM, FS_V_CHOICE, .def = "FirstClass", .choices = "FirstClass, Standard"),
	ROW("target", "size", PCM, FS_V_TEXT, .def = "46"),

	/* [campaign "NAME"]: who gets mail (fs-normalize), and when (fs-push). */
	ROW("campaign", "trigger", 0, FS_V_TRIGGER, .flags = FS_SET_REQUIRED),
	ROW("campaign", "on", 0, FS_V_CHOICE, .def = "contact", .choices = "contact, job"),
	ROW("campaign", "goal", 0, FS_V_TEXT, .flags = FS_SET_NAMED),
	ROW("campaign", "format", 0, FS_V_CHOICE, .def = "postcard", .choices = "postcard, letter"),
	ROW("campaign", "template", 0, FS_V_TEXT),
	ROW("campaign", "back", 0, FS_V_TEXT, .from = "template"),
	ROW("campaign", "from", 0, FS_V_TEXT),
	ROW("campaign", "active", 0, FS_V_DURATION, .def = "30d"),
	ROW("campaign", "backfill", 0, FS_V_DURATION),
	ROW("campaign", "only", 0, FS_V_FILTER),
	ROW("campaign", "except", 0, FS_V_FILTER),
	ROW("campaign", "reentry", 0, FS_V_RETENTION, .def = "never"),
	ROW("campaign", "cap", 0, FS_V_CAP),
	ROW("campaign", "send_delay", 0, FS_V_DURATION),
	ROW("campaign", "target", 0, FS_V_TEXT),	/* the mail target that mails it (lib/push_take.c) */

	/* [thresholds]: what fs-health and fs-watchdog judge by. */
	ROW("thresholds", "webhook_failures", 0, FS_V_COUNT, .def = "3"),
	ROW("thresholds", "unsigned_max", 0, FS_V_COUNT, .def = "100"),
	ROW("thresholds", "no_ping", 0, FS_V_DURATION, .def = "15m"),
	ROW("thresholds", "dlq_max", 0, FS_V_COUNT, .def = "50"),
	ROW("thresholds", "retry_storm", 0, FS_V_COUNT, .def = "10"),
	ROW("thresholds", "follow_up_sla", 0, FS_V_BIZDAYS, .def = "3bd"),
	ROW("thresholds", "holidays", 0, FS_V_DATES),
	ROW("thresholds", "attribution", 0, FS_V_DURATION, .def = "90d"),
	ROW("thresholds", "timezone", 0, FS_V_TIMEZONE, .def = "UTC"),

	/* [alert]: how fs-watchdog tells people. */
	ROW("alert", "command", 0, FS_V_COMMAND),
	ROW("alert", "webhook_env", 0, FS_V_ENV, .flags = FS_SET_SECRET),

	/* [dedupe]: fs-dedupe's windows. */
	ROW("dedupe", "ttl", 0, FS_V_DURATION, .def = "24h"),
	ROW("dedupe", "debounce", 0, FS_V_DURATION, .def = "0s"),

	/* [hook]: fs-hook, the webhook receiver. */
	ROW("hook", "wake_dir", 0, FS_V_FILE),

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

/* "hubspot, lob-events or csv": the kinds of a mask, in table order. */
static void
kind_list(unsigned mask, const char *last_sep, struct fs_buf *b)
{
	int n = 0, total = 0;

	for (int i = 0; kinds[i]; i++)
		total += (mask >> i) & 1;
	for (int i = 0; kinds[i]; i++)
		if (mask & (1u << i)) {
			if (n > 0)
				fs_buf_adds(b, n == total - 1 ? last_sep : ", ");
			fs_buf_adds(b, kinds[i]);
			n++;
		}
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

bool
fs_setting_key_known(const char *key)
{
	for (const struct fs_setting *s = fs_settings; s->section; s++)
		if (strcmp(s->key, key) == 0)
			return true;
	return false;
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

/* ---- checking a loaded file ---- */

int
fs_edit_distance(const char *a, const char *b)
{
	/* Optimal string alignment: insertions, deletions, substitutions and
	 * transpositions of neighbours, each 1; three rows of the matrix. */
	size_t n = strlen(a), m = strlen(b);
	int *row = fs_xmalloc(3 * (m + 1) * sizeof *row), *two = row, *one = row + m + 1, *cur = row + 2 * (m + 1);
	int d;

	for (size_t j = 0; j <= m; j++)
		one[j] = (int)j;
	for (size_t i = 1; i <= n; i++) {
		cur[0] = (int)i;
		for (size_t j = 1; j <= m; j++) {
			int cost = a[i - 1] != b[j - 1];

			d = one[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (one[j - 1] + cost < d)
				d = one[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && two[j - 2] + 1 < d)
				d = two[j - 2] + 1;
			cur[j] = d;
		}
		int *t = two;

		two = one;
		one = cur;
		cur = t;
	}
	d = one[m];
	free(row);
	return d;
}

/* The nearest of the names: within 2 edits, else the first one word starts; NULL when none is near. */
static const char *
nearest(const char *word, const char *const *names, int n)
{
	const char *best = NULL;
	int best_d = 3;

	for (int i = 0; i < n; i++) {
		int d = fs_edit_distance(word, names[i]);

		if (d < best_d) {
			best = names[i];
			best_d = d;
		}
	}
	if (best == NULL && strlen(word) >= 3)
		for (int i = 0; i < n && best == NULL; i++)
			if (strncmp(names[i], word, strlen(word)) == 0)
				best = names[i];
	return best;
}

struct checker {
	const struct fs_config *cfg;
	const char *path;
	int errors;
};

static void
section_label(const struct fs_section *s, char *out, size_t n)
{
	if (*s->name)
		snprintf(out, n, "[%s \"%s\"]", s->type, s->name);
	else
		snprintf(out, n, "[%s]", s->type);
}

/* One line on stderr: "fieldsync.conf:4: ...". */
static void
problem(struct checker *c, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fs_err("%s:%d: %s", c->path, line, msg);
	c->errors++;
}

/* The kind of a source or target section: its kind line, or its name; 0 after a problem. */
static unsigned
check_kind(struct checker *c, const struct fs_section *s, const struct fs_section_type *t, const char *label)
{
	const char *kind = NULL;
	int line = s->line;
	unsigned bit;
	struct fs_buf list = {0};

	for (int i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, "kind") == 0) {
			kind = s->kv[i].value;
			line = s->kv[i].line;
		}
	kind_list(t->kinds, " or ", &list);
	if (kind == NULL) {
		if ((fs_kind_bit(s->name) & t->kinds) != 0) {
			fs_buf_free(&list);
			return fs_kind_bit(s->name);
		}
		problem(c, line, "missing 'kind' in %s (%s)", label, list.data);
	} else if ((bit = fs_kind_bit(kind)) & t->kinds) {
		fs_buf_free(&list);
		return bit;
	} else if (bit != 0) {
		problem(c, line, "%s cannot be of kind %s (%s)", label, kind, list.data);
	} else {
		const char *names[sizeof kinds / sizeof kinds[0]];
		const char *near;
		int n = 0;

		for (int i = 0; kinds[i]; i++)
			if (t->kinds & (1u << i))
				names[n++] = kinds[i];
		if ((near = nearest(kind, names, n)) != NULL)
			problem(c, line, "unknown kind '%s' in %s (did you mean '%s'?)", kind, label, near);
		else
			problem(c, line, "unknown kind '%s' in %s (%s)", kind, label, list.data);
	}
	fs_buf_free(&list);
	return 0;
}

/*
 * A key that would hold a secret: the message points at the keys that name
 * where one lives, token_env and token_file (secret_env and secret_file for
 * a key that says "secret", or when the kind takes no token), or
 * [alert]'s webhook_env.  The value is never shown.
 */
static bool
check_secret(struct checker *c, const struct fs_kv *kv, const char *type, unsigned kbit, const char *label)
{
	const char *stems[2] = {"token", "secret"};
	const struct fs_setting *e = NULL, *f = NULL;
	char name[32];

	if (fs_is_safe_key(kv->key))
		return false;
	if (strstr(kv->key, "secret")) {
		stems[0] = "secret";
		stems[1] = "token";
	}
	for (int i = 0; i < 2 && e == NULL; i++) {
		snprintf(name, sizeof name, "%s_env", stems[i]);
		if ((e = find(type, kbit, name, false)) != NULL) {
			snprintf(name, sizeof name, "%s_file", stems[i]);
			f = find(type, kbit, name, false);
		}
	}
	for (const struct fs_setting *s = fs_settings; s->section && e == NULL; s++)
		if (applies(s, type, kbit) && (s->flags & FS_SET_SECRET) && s->type == FS_V_ENV)
			e = s;
	if (e == NULL)
		return false;
	if (f)
		problem(c, kv->line, "no secrets in the config: '%s' in %s (set %s to the environment variable"
			" that holds it, or %s to a mode 0600 file)", kv->key, label, e->key, f->key);
	else
		problem(c, kv->line, "no secrets in the config: '%s' in %s (set %s to the environment variable"
			" that holds it)", kv->key, label, e->key);
	return true;
}

/*
 * A value of the numeric types: its shape, and a range that keeps every
 * sum and product the commands make of it inside an int64_t and every time
 * they write inside RFC 3339's four-digit years.  The commands read these
 * values again and say more about what they need (a timeout above 0).
 */
static void
check_value(struct checker *c, const struct fs_kv *kv, const struct fs_setting *row)
{
	const char *v = kv->value, *shape;
	char range[96];
	long long days_max = FS_DURATION_MAX / 86400;
	struct fs_rate_limit rate;
	struct fs_retry retry;
	struct fs_holidays days;
	int64_t secs;
	size_t size;
	long count;
	int bd, rc;

	errno = 0;
	switch (row->type) {
	case FS_V_DURATION:
		/* lookback takes 0 for none. */
		rc = strcmp(v, "0") == 0 ? 0 : fs_duration_parse(v, &secs);
		shape = "a duration (90s, 15m, 24h, 3d, 2w)";
		snprintf(range, sizeof range, "at most %lldd", days_max);
		break;
	case FS_V_RETENTION:
		rc = strcmp(v, "never") == 0 ? 0 : fs_duration_parse(v, &secs);
		shape = "a duration (14d) or never";
		snprintf(range, sizeof range, "at most %lldd", days_max);
		break;
	case FS_V_RATE:
		/* search_rate takes none. */
		rc = strcmp(v, "none") == 0 ? 0 : fs_rate_limit_parse(v, &rate);
		shape = "a rate (100/10s, 10/500ms, 150/s, off)";
		snprintf(range, sizeof range, "at most %d requests in a window of at most %lldd", FS_RATE_MAX, days_max);
		break;
	case FS_V_RETRY:
		rc = fs_retry_parse(v, &retry);
		shape = "a retry schedule (first delay..cap xATTEMPTS: 30s..6h x8)";
		snprintf(range, sizeof range, "delays of at most %lldd, at most %d attempts", days_max, FS_RETRY_MAX);
		break;
	case FS_V_COUNT:
		rc = fs_count_parse(v, &count);
		shape = "a count (a whole number)";
		snprintf(range, sizeof range, "0 to %d", FS_COUNT_MAX);
		break;
	case FS_V_BIZDAYS:
		rc = fs_bizdays_parse(v, &bd);
		shape = "a number of business days (3bd)";
		snprintf(range, sizeof range, "at most %dbd", FS_BIZDAYS_MAX);
		break;
	case FS_V_SIZE:
		rc = fs_size_parse(v, &size);
		shape = "a size (1048576, 512k, 1M)";
		snprintf(range, sizeof range, "1 byte to %lluM", FS_SIZE_MAX / (1024 * 1024));
		break;
	case FS_V_DATES:
		rc = fs_holidays_parse(v, &days);
		shape = "a list of dates (2026-12-25, 2027-01-01)";
		snprintf(range, sizeof range, "at most %zu dates", sizeof days.day / sizeof days.day[0]);
		if (rc != 0 && days.n >= (int)(sizeof days.day / sizeof days.day[0]))
			errno = ERANGE;
		else if (rc != 0)
			errno = EINVAL;
		break;
	default:
		return;
	}
	if (rc == 0)
		return;
	if (errno == ERANGE)
		problem(c, kv->line, "%s '%s' is out of range (%s)", kv->key, v, range);
	else
		problem(c, kv->line, "%s '%s' is not %s", kv->key, v, shape);
}

static void
check_key(struct checker *c, const struct fs_kv *kv, const char *type, unsigned kbit, const char *label,
	  const char *kind)
{
	const struct fs_setting *row;
	unsigned elsewhere = 0;
	const char *names[256], *near;
	int n = 0;

	if ((row = find(type, kbit, kv->key, false)) != NULL) {
		check_value(c, kv, row);
		return;
	}
	for (const struct fs_setting *s = fs_settings; s->section; s++)
		if (strcmp(s->section, type) == 0 && strcmp(s->key, kv->key) == 0)
			elsewhere |= s->kinds;
	if (elsewhere) {
		struct fs_buf list = {0};

		kind_list(elsewhere, " and ", &list);
		problem(c, kv->line, "key '%s' does not apply to %s of kind %s (only to %s)", kv->key, label, kind,
			list.data);
		fs_buf_free(&list);
		return;
	}
	if (check_secret(c, kv, type, kbit, label))
		return;
	for (const struct fs_setting *s = fs_settings; s->section && n < 256; s++)
		if (applies(s, type, kbit) && !is_family(s->key) && (n == 0 || strcmp(names[n - 1], s->key) != 0))
			names[n++] = s->key;
	if ((near = nearest(kv->key, names, n)) != NULL)
		problem(c, kv->line, "unknown key '%s' in %s (did you mean '%s'?)", kv->key, label, near);
	else
		problem(c, kv->line, "unknown key '%s' in %s", kv->key, label);
}

static void
check_section(struct checker *c, const struct fs_section *s)
{
	const struct fs_section_type *t = fs_section_type(s->type);
	char label[300];
	unsigned kbit = ~0u;
	const char *kind = NULL;

	section_label(s, label, sizeof label);
	if (t == NULL)
		return;		/* the parser refuses unknown sections */
	if (t->named && *s->name == '\0') {
		problem(c, s->line, "[%s] needs a name: [%s \"NAME\"]", s->type, s->type);
		return;
	}
	if (!t->named && *s->name != '\0') {
		problem(c, s->line, "%s takes no name: [%s]", label, s->type);
		return;
	}
	if (t->kinds) {
		if ((kbit = check_kind(c, s, t, label)) == 0)
			kbit = ~0u;	/* said; the keys are still checked against every kind */
		else
			for (int i = 0; kinds[i]; i++)
				if (kbit == 1u << i)
					kind = kinds[i];
	}
	for (int i = 0; i < s->nkv; i++)
		check_key(c, &s->kv[i], s->type, kbit, label, kind);
}

int
fs_config_check(const struct fs_config *cfg)
{
	struct checker c = {cfg, cfg->path ? cfg->path : "config", 0};

	for (int i = 0; i < cfg->nsec; i++)
		check_section(&c, &cfg->sec[i]);
	return c.errors ? -1 : 0;
}

const char *
fs_section_type_nearest(const char *type)
{
	const char *names[16];
	int n = 0;

	for (const struct fs_section_type *t = fs_section_types; t->name && n < 16; t++)
		names[n++] = t->name;
	return nearest(type, names, n);
}

/* ---- --print-config ---- */

#define REDACTED "(redacted)"

/*
 * A URL as --print-config shows it: a user name and password
 * (https://user:pass@host) and the value of every query parameter
 * (?hapikey=...) are where tokens end up, and are redacted; the scheme,
 * host, path and parameter names are kept.  NULL when nothing is redacted.
 */
static char *
redact_url(const char *v)
{
	struct fs_buf b = {0};
	const char *p = v, *host = strstr(v, "://"), *at, *q;
	bool changed = false;

	if (host) {
		host += 3;
		at = host + strcspn(host, "@/?#");
		if (*at == '@') {
			fs_buf_add(&b, v, (size_t)(host - v));
			fs_buf_adds(&b, REDACTED);
			p = at;
			changed = true;
		}
	}
	q = p + strcspn(p, "?#");
	fs_buf_add(&b, p, (size_t)(q - p));
	if (*q == '?') {
		fs_buf_addc(&b, '?');
		for (p = q + 1; *p && *p != '#';) {
			size_t n = strcspn(p, "&#"), name = strcspn(p, "=&#");

			if (n > 0) {
				/* A parameter without '=' may be a token itself. */
				fs_buf_add(&b, p, name < n ? name : 0);
				fs_buf_adds(&b, name < n ? "=" REDACTED : REDACTED);
				changed = true;
			}
			p += n;
			if (*p == '&')
				fs_buf_addc(&b, *p++);
		}
		q = p;
	}
	if (*q == '#') {
		fs_buf_adds(&b, "#" REDACTED);
		changed = true;
	}
	if (!changed) {
		fs_buf_free(&b);
		return NULL;
	}
	return b.data;
}

/*
 * [alert] command as --print-config shows it: the program, and its
 * arguments redacted, for they are where a bearer token or a webhook URL
 * ends up (curl -H 'Authorization: Bearer ...').  A first word that is not
 * a plain program name (an assignment, a quote, a pipeline) is redacted
 * too.  NULL when there are no arguments.
 */
static char *
redact_command(const char *v)
{
	size_t lead = strspn(v, " \t"), n = strcspn(v + lead, " \t");
	const char *rest = v + lead + n;

	rest += strspn(rest, " \t");
	for (size_t i = 0; i < n; i++) {
		char c = v[lead + i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_./+-", c)))
			return fs_xstrdup(REDACTED);
	}
	if (*rest == '\0')
		return NULL;
	return fs_xasprintf("%.*s " REDACTED, (int)n, v + lead);
}

static void
print_value(FILE *f, const char *key, enum fs_value type, const struct value *v)
{
	char *own = v->v == NULL ? NULL : type == FS_V_URL ? redact_url(v->v)
		  : type == FS_V_COMMAND ? redact_command(v->v) : NULL;
	const char *shown = v->v && !fs_is_safe_key(key) ? REDACTED : own ? own : v->v;

	switch (v->origin) {
	case SET:
		fprintf(f, "%s =%s%s\n", key, *shown ? " " : "", shown);
		break;
	case DEFAULT:
		fprintf(f, "%s = %s  # default\n", key, shown);
		break;
	case FROM:
		fprintf(f, "%s = %s  # default: %s\n", key, shown, v->other);
		break;
	case NAME:
		fprintf(f, "%s = %s  # default: the section's name\n", key, shown);
		break;
	case NONE:
		fprintf(f, "# %s =\n", key);
		break;
	case UNLESS:
		fprintf(f, "# %s =  (not used: %s is set)\n", key, v->other);
		break;
	}
	free(own);
}

/* Whether key was printed before in this section (rows repeat a key for other kinds). */
static bool
printed_before(const struct fs_setting *row, const struct place *p)
{
	for (const struct fs_setting *s = fs_settings; s != row; s++)
		if (applies(s, p->type, p->kbit) && strcmp(s->key, row->key) == 0)
			return true;
	return false;
}

static void
print_section(FILE *f, const struct place *p, bool first)
{
	if (!first)
		fputc('\n', f);
	if (*p->name)
		fprintf(f, "[%s \"%s\"]\n", p->type, p->name);
	else
		fprintf(f, "[%s]\n", p->type);
	for (const struct fs_setting *s = fs_settings; s->section; s++) {
		struct value v;

		if (!applies(s, p->type, p->kbit) || (s->flags & FS_SET_HIDDEN) || printed_before(s, p))
			continue;
		if (!is_family(s->key)) {
			v = resolve(p, s->key, 0);
			print_value(f, s->key, s->type, &v);
			continue;
		}
		/* A family's members the file sets that have no row of their own, each once. */
		for (int i = 0; p->sec && i < p->sec->nkv; i++) {
			const char *key = p->sec->kv[i].key;
			bool again = false;

			if (!in_family(s->key, key) || find(p->type, p->kbit, key, false) != s)
				continue;
			for (int j = 0; j < i; j++)
				again |= strcmp(p->sec->kv[j].key, key) == 0;
			if (!again) {
				v = resolve(p, key, 0);
				print_value(f, key, s->type, &v);
			}
		}
	}
}

/* The sections a missing file leaves at their defaults: built-in kinds usable without a section. */
static const struct {
	const char *type, *name;
} builtin_sections[] = {
	{"source", "hubspot"}, {"source", "lob-events"}, {"source", "csv"}, {"target", "lob"}, {"target", "hubspot"},
};

void
fs_config_print(const struct fs_config *cfg, FILE *f)
{
	bool first = true;
	struct place p;

	fprintf(f, "# config: %s\n", cfg->path ? cfg->path : "(none: all defaults)");
	for (int i = 0; i < cfg->nsec; i++) {
		place_of(cfg, cfg->sec[i].type, cfg->sec[i].name, &p);
		print_section(f, &p, first);
		first = false;
	}
	if (cfg->path == NULL)
		for (size_t i = 0; i < sizeof builtin_sections / sizeof builtin_sections[0]; i++) {
			place_of(cfg, builtin_sections[i].type, builtin_sections[i].name, &p);
			print_section(f, &p, first);
			first = false;
		}
	/* Sections without a name that have defaults, when the file leaves them out. */
	for (const struct fs_section_type *t = fs_section_types; t->name; t++) {
		bool defaults = false;

		if (t->named || fs_config_section(cfg, t->name, "") != NULL)
			continue;
		for (const struct fs_setting *s = fs_settings; s->section; s++)
			defaults |= strcmp(s->section, t->name) == 0 && s->def != NULL;
		if (defaults) {
			place_of(cfg, t->name, "", &p);
			print_section(f, &p, first);
			first = false;
		}
	}
}

bool
fs_config_secret_in_env(const struct fs_config *cfg)
{
	const char *v;

	/* The defaults (HUBSPOT_TOKEN, LOB_API_KEY), which a bare built-in kind uses. */
	for (const struct fs_setting *s = fs_settings; s->section; s++)
		if ((s->flags & FS_SET_SECRET) && s->type == FS_V_ENV && s->def && (v = getenv(s->def)) && *v)
			return true;
	for (int i = 0; i < cfg->nsec; i++) {
		const struct fs_section *sec = &cfg->sec[i];

		for (int j = 0; j < sec->nkv; j++) {
			const struct fs_setting *row = find(sec->type, ~0u, sec->kv[j].key, false);

			if (row && (row->flags & FS_SET_SECRET) && row->type == FS_V_ENV &&
			    (v = getenv(sec->kv[j].value)) && *v)
				return true;
		}
	}
	return false;
}
