/*
 * QuickBooks Online's connector (Intuit's Accounting API, v3): three
 * streams, customers (contact.changed), invoices and payments
 * (outcome.revenue), read from one company (the realm), with OAuth 2 and
 * refresh-token rotation (lib/oauth.c; Intuit's token endpoint takes the
 * client's credentials in HTTP Basic).  Webhooks carry entity names and
 * ids only: draining the inbox reads the objects.
 *
 * How a stream is read (tests/fakes/README-qbo.md has the sources):
 *  - Change data capture, GET cdc?entities=E&changedSince=T, when the
 *    cursor is less than 30 days old (Intuit's window, less an hour for
 *    clocks that differ).  One entity a request, so Intuit's cap of 1,000
 *    objects an answer is the entity's own.  The answer says nothing when
 *    it left objects out: a full one (cdc_max) is not trusted, and the
 *    stream is read with the query instead; so it is when CDC refuses
 *    the time (400), QuickBooks' clock being ahead of ours.
 *  - The query, select * from E where MetaData.LastUpdatedTime >= T
 *    orderby MetaData.LastUpdatedTime, paged with STARTPOSITION and
 *    MAXRESULTS: on a first run, after 30 days, and after a full or
 *    refused CDC answer.  Offset paging skips rows when an object changes between
 *    pages (it moves to the end), so each page asks again from the
 *    newest time read, past the rows already read at that time.
 *
 * QuickBooks writes times with whole seconds, so many objects share one.
 * The cursor is lib/keyset.c's "TIME ID ID ...": the newest
 * LastUpdatedTime emitted and the ids emitted at it.  Both reads are
 * oldest first, so a checkpoint may follow any page.
 *
 * Throttling is Intuit's 500 requests a minute a realm (rate) and 10 at
 * once: fs-pull sends one request at a time.  A 429 is fs_http_request's
 * to wait for and send again; Intuit sends no Retry-After, so the wait is
 * throttle_wait (a minute: the limit's window).
 */
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

#define CDC_DAYS 30
#define CDC_MARGIN_MS (3600 * 1000LL)

struct qb_stream {
	const char *name, *entity;	/* customers, Customer */
	const char *condition;	/* always in the WHERE clause, or NULL */
};

/* Queries leave inactive customers out unless the WHERE clause names Active. */
static const struct qb_stream qb_streams[] = {
	{"customers", "Customer", "Active IN (true, false)"},
	{"invoices", "Invoice", NULL},
	{"payments", "Payment", NULL},
	{NULL, NULL, NULL},
};

static const struct fs_stream streams[] = {
	{"customers", "MetaData.LastUpdatedTime", false},
	{"invoices", "MetaData.LastUpdatedTime", false},
	{"payments", "MetaData.LastUpdatedTime", false},
	{NULL, NULL, false},
};

static const struct qb_stream *
qb_stream(const char *name)
{
	for (const struct qb_stream *s = qb_streams; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* The stream of an entity name as webhooks write it (Invoice, invoice); NULL for one not pulled. */
static const struct qb_stream *
entity_stream(const char *entity)
{
	for (const struct qb_stream *s = qb_streams; entity && s->name; s++)
		if (strcasecmp(s->entity, entity) == 0)
			return s;
	return NULL;
}

/* The run's credentials (oauth.file NULL for a bare token_env) and settings. */
static struct {
	struct fs_oauth oauth;
	bool refreshed;		/* once a request: a second 401 is the answer */
	const char *realm, *minorversion;
	long page, cdc_max;
} qb;

static void
qb_free(void)
{
	fs_oauth_free(&qb.oauth);
	memset(&qb, 0, sizeof qb);
}

/* ---- requests ---- */

/* Intuit's error: Fault.Error[0] (lower-case in the gateway's 401 and 403), "Message: Detail". */
static char *
fault_text(const struct fs_http_response *r)
{
	jv ans = r->body.len ? jv_parse_sized(r->body.data, (int)r->body.len) : jv_invalid();
	jv e = fs_jget_path(ans, "Fault.Error");
	const char *msg, *detail;
	char *out;

	if (jv_get_kind(e) != JV_KIND_ARRAY) {
		jv_free(e);
		e = fs_jget_path(ans, "fault.error");
	}
	if (jv_get_kind(e) == JV_KIND_ARRAY && jv_array_length(jv_copy(e)) > 0) {
		e = jv_array_get(e, 0);
	} else {
		jv_free(e);
		e = jv_null();
	}
	msg = fs_jstr(e, "Message") ? fs_jstr(e, "Message") : fs_jstr(e, "message");
	detail = fs_jstr(e, "Detail") ? fs_jstr(e, "Detail") : fs_jstr(e, "detail");
	out = fs_xasprintf("%s%s%s", msg ? msg : "", msg && detail ? ": " : "", detail ? detail : "");
	jv_free(e);
	jv_free(ans);
	return out;
}

/*
 * GET /v3/company/REALM/WHAT (with minorversion): the answer, which holds
 * want_key, or jv_invalid() after saying why (a dry run prints the request
 * and says nothing).  Connection errors, 429 and 5xx are fs_http_request's;
 * an expired access token is refreshed once.  An answer of status
 * `expected' (0 for none) is the caller's to judge: null, nothing said.
 */
static jv
qb_get(struct fs_pull *p, const char *what, const char *want_key, long expected)
{
	char *path = fs_xasprintf("/v3/company/%s/%s%sminorversion=%s", qb.realm, what, strchr(what, '?') ? "&" : "?",
				  qb.minorversion);
	size_t shown = strcspn(path, "?");	/* messages leave the query string out */
	jv out = jv_invalid();

	while (!fs_pull_failed(p)) {
		struct fs_http_response r;
		int rc = fs_http_request(&p->http, "GET", path, NULL, want_key, &r);

		if (rc != 0) {
			if (rc < 0)
				fs_pull_fail(p, FS_EXIT_REMOTE);
		} else if (r.status == 401 && qb.oauth.file && !qb.refreshed) {
			fs_http_response_free(&r);
			qb.refreshed = true;
			if (fs_pull_oauth_refresh(p, &qb.oauth) != 0)
				break;
			continue;
		} else if (r.status == expected) {
			out = jv_null();
		} else if (r.status != 200) {
			char *why = fault_text(&r);

			/* 401 after a refresh, 403: the app's authorisation or the realm needs a person. */
			fs_err("%s: GET %.*s: HTTP %ld%s%s", p->name, (int)shown, path, r.status, *why ? ": " : "", why);
			fs_pull_fail(p, r.status == 401 || r.status == 403 ? FS_EXIT_USAGE : FS_EXIT_REMOTE);
			free(why);
		} else {
			qb.refreshed = false;
			out = jv_parse_sized(r.body.data, (int)r.body.len);
		}
		fs_http_response_free(&r);
		break;
	}
	free(path);
	return out;
}

/* An object's id and LastUpdatedTime; false for one that lacks them. */
static bool
object_of(jv o, const char **id, int64_t *t)
{
	jv meta = fs_jget(o, "MetaData");
	bool ok;

	*id = fs_jstr(o, "Id");
	ok = *id && **id && !strchr(*id, ' ') && fs_time_ms(fs_jstr(meta, "LastUpdatedTime"), t) == 0;
	jv_free(meta);
	return ok;
}

/* ---- streams ---- */

/* One stream's run: where it started, and where it is. */
struct qb_run {
	const struct qb_stream *qs;
	struct fs_keyset from, to;
	long count, pages;
	bool limited;		/* --limit reached */
};

/* One object, unless the run emitted it already; -1 (said) for one without an Id and a time. */
static int
emit_object(struct fs_pull *p, struct qb_run *run, jv o)
{
	const char *id;
	int64_t t;

	if (!object_of(o, &id, &t)) {
		fs_err("%s: %s: an object without an \"Id\" and a \"MetaData.LastUpdatedTime\"", p->name, run->qs->entity);
		fs_pull_fail(p, FS_EXIT_REMOTE);
		jv_free(o);
		return -1;
	}
	if (!run->limited && fs_keyset_is_new(&run->to, t, id)) {
		fs_keyset_advance(&run->to, t, id);
		fs_pull_record(p, run->qs->name, id, jv_copy(o));
		run->count++;
		run->limited = p->limit > 0 && run->count >= p->limit;
	}
	jv_free(o);
	return 0;
}

/* What is emitted so far is covered: a checkpoint, if the cursor moved. */
static int
checkpoint(struct fs_pull *p, struct qb_run *run, long *covered)
{
	char *text;
	int rc;

	if (p->dry_run || run->count == *covered || !run->to.set)
		return 0;
	*covered = run->count;
	text = fs_keyset_text(&run->to);
	rc = fs_pull_checkpoint(p, run->qs->name, text);
	free(text);
	return rc;
}

/* A time as QuickBooks reads it in a query or changedSince: whole seconds, in UTC. */
static void
qb_time(int64_t ms, char out[32])
{
	char full[32];

	fs_ms_format(ms - (ms % 1000 + 1000) % 1000, full);
	snprintf(out, 32, "%.19s+00:00", full);
}

/* select * from E [where ...] orderby MetaData.LastUpdatedTime startposition N maxresults M */
static char *
page_query(const struct qb_run *run, bool from_set, int64_t from, long position)
{
	struct fs_buf q = {0};
	char ts[32];
	char *enc, *what;

	fs_buf_addf(&q, "select * from %s", run->qs->entity);
	if (from_set) {
		qb_time(from, ts);
		fs_buf_addf(&q, " where MetaData.LastUpdatedTime >= '%s'", ts);
	}
	if (run->qs->condition)
		fs_buf_addf(&q, " %s %s", from_set ? "and" : "where", run->qs->condition);
	fs_buf_addf(&q, " orderby MetaData.LastUpdatedTime startposition %ld maxresults %ld", position, qb.page);
	enc = fs_urlencode(q.data);
	what = fs_xasprintf("query?query=%s", enc);
	free(enc);
	fs_buf_free(&q);
	return what;
}

/* The entity's list in an answer's QueryResponse, which it frees (none: an empty list). */
static jv
entity_list(jv response, const char *entity)
{
	jv list = fs_jget(response, entity);

	jv_free(response);
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		list = jv_array();
	}
	return list;
}

/* An array's first element, else null. */
static jv
first(jv a)
{
	jv out = jv_get_kind(a) == JV_KIND_ARRAY && jv_array_length(jv_copy(a)) > 0 ? jv_array_get(jv_copy(a), 0)
										 : jv_null();

	jv_free(a);
	return out;
}

/*
 * The query, page after page, from the run's cursor.  Each page asks from
 * the newest time read so far and starts past the rows read at that time
 * (the vendor's order among them assumed stable; the cursor's ids catch a
 * row read twice if it is not).
 */
static void
read_query(struct fs_pull *p, struct qb_run *run)
{
	bool from_set = run->from.set;
	int64_t from = run->from.t;
	long position = 1, covered = 0;

	while (!fs_pull_failed(p) && !run->limited) {
		char *what = page_query(run, from_set, from, position);
		long n, at_last = 0;
		jv ans = qb_get(p, what, "QueryResponse", 0);
		jv rows = entity_list(fs_jget(ans, "QueryResponse"), run->qs->entity);
		int64_t last = from;

		free(what);
		if (!jv_is_valid(ans)) {
			jv_free(rows);
			break;
		}
		jv_free(ans);
		run->pages++;
		n = jv_array_length(jv_copy(rows));
		jv_array_foreach(rows, i, o) {
			const char *id;
			int64_t t;

			(void)i;
			if (object_of(o, &id, &t)) {
				at_last = t == last ? at_last + 1 : 1;
				last = t;
			}
			if (emit_object(p, run, o) != 0)
				break;
		}
		jv_free(rows);
		if (fs_pull_failed(p) || checkpoint(p, run, &covered) != 0)
			break;
		fs_pull_progress(p, run->qs->name, run->pages, false);
		if (n < qb.page)
			break;
		if (from_set && last == from) {
			position += n;	/* a whole page at one time: the next one past it */
		} else {
			from_set = true;
			from = last;
			position = 1 + at_last;
		}
	}
}

/* The CDC answer's objects of the run's entity, oldest first (ties by Id); null when CDC refused the
 * cursor's time, jv_invalid() after a failure. */
static jv
read_cdc(struct fs_pull *p, struct qb_run *run)
{
	char ts[32], *enc, *what;
	jv ans, cdc, qr, list, keys;

	qb_time(run->from.t, ts);
	enc = fs_urlencode(ts);
	what = fs_xasprintf("cdc?entities=%s&changedSince=%s", run->qs->entity, enc);
	/* 400: most likely a changedSince older than QuickBooks keeps (clocks that differ by more than the margin). */
	ans = qb_get(p, what, "CDCResponse", 400);
	free(what);
	free(enc);
	if (jv_get_kind(ans) != JV_KIND_OBJECT)
		return ans;
	/* {"CDCResponse":[{"QueryResponse":[{"Invoice":[...]}]}]}: one entity asked, one answered. */
	cdc = first(fs_jget(ans, "CDCResponse"));
	qr = first(fs_jget(cdc, "QueryResponse"));
	list = entity_list(qr, run->qs->entity);
	jv_free(cdc);
	jv_free(ans);
	keys = jv_array();
	jv_array_foreach(list, i, o) {
		const char *id;
		int64_t t = 0;

		(void)i;
		if (!object_of(o, &id, &t))
			id = "";
		keys = jv_array_append(keys, JV_ARRAY(jv_number((double)t), jv_number(atof(id)), jv_string(id)));
		jv_free(o);
	}
	return jv_sort(list, keys);
}

/* Changes since a cursor less than 30 days old: CDC, unless its answer is full. */
static void
read_changes(struct fs_pull *p, struct qb_run *run)
{
	jv list = read_cdc(p, run);
	long n, covered = 0;

	if (!jv_is_valid(list))
		return;
	run->pages++;
	if (jv_get_kind(list) == JV_KIND_NULL) {
		fs_info("%s %s: CDC refused the cursor's time: reading the query instead", p->name, run->qs->name);
		read_query(p, run);
		return;
	}
	n = jv_array_length(jv_copy(list));
	if (n >= qb.cdc_max) {
		/* Intuit keeps some and says nothing of the rest: read the entity with the query. */
		fs_info("%s %s: CDC answered %ld objects, its most: reading the query instead", p->name,
			run->qs->name, n);
		jv_free(list);
		read_query(p, run);
		return;
	}
	jv_array_foreach(list, i, o) {
		(void)i;
		if (emit_object(p, run, o) != 0)
			break;
	}
	jv_free(list);
	if (!fs_pull_failed(p))
		checkpoint(p, run, &covered);
}

/* The cursor is recent enough for CDC (Intuit's 30 days, less a margin). */
static bool
cdc_reaches(const struct fs_pull *p, const struct fs_keyset *from)
{
	int64_t now;

	if (!from->set || fs_time_ms(p->now, &now) != 0)
		return false;
	return now - from->t <= CDC_DAYS * 86400000LL - CDC_MARGIN_MS;
}

static int
quickbooks_pull(struct fs_pull *p, const struct fs_stream *s)
{
	struct qb_run run = {.qs = qb_stream(s->name)};

	if (fs_keyset_start(p, s->name, &run.from) != 0) {
		jv_free(run.from.ids);
		return -1;
	}
	run.to.ids = jv_copy(run.from.ids);
	run.to.t = run.from.t;
	run.to.set = run.from.set && p->since_ms < 0;
	if (cdc_reaches(p, &run.from))
		read_changes(p, &run);
	else
		read_query(p, &run);
	if (run.pages)
		fs_pull_progress(p, s->name, run.pages, true);
	fs_debug("%s %s: %ld records in %ld requests", p->name, s->name, run.count, run.pages);
	jv_free(run.from.ids);
	jv_free(run.to.ids);
	return fs_pull_failed(p) ? -1 : 0;
}

/* ---- the webhook inbox: entity names and ids, read back ---- */

/* One entity a webhook names: its id joins its stream's list (once); realms and deletions not read are skipped. */
static void
want(struct fs_pull *p, const char *realm, const char *entity, const char *id, const char *operation, jv *wanted)
{
	const struct qb_stream *qs = entity_stream(entity);
	jv ids;

	if (qs == NULL || id == NULL || (realm && strcmp(realm, qb.realm) != 0) ||
	    (operation && strcasecmp(operation, "Delete") == 0) || strspn(id, "0123456789") != strlen(id)) {
		/* Another company's, an entity not pulled, or one that cannot be read back. */
		fs_debug("%s: webhook: %s %s %s (realm %s): nothing to read", p->name, operation ? operation : "?",
			 entity ? entity : "?", id ? id : "?", realm ? realm : "?");
		return;
	}
	ids = jv_object_get(jv_copy(*wanted), jv_string(qs->name));
	if (!jv_is_valid(ids)) {
		jv_free(ids);
		ids = jv_object();
	}
	*wanted = jv_object_set(*wanted, jv_string(qs->name), jv_object_set(ids, jv_string(id), jv_true()));
}

/* The classic payload (borrowed): eventNotifications[].dataChangeEvent.entities[]. */
static void
want_classic(struct fs_pull *p, jv body, jv *wanted)
{
	jv notes = fs_jget(body, "eventNotifications");

	jv_array_foreach(notes, i, note) {
		jv entities = fs_jget_path(note, "dataChangeEvent.entities");

		(void)i;
		if (jv_get_kind(entities) == JV_KIND_ARRAY)
			jv_array_foreach(entities, j, e) {
				(void)j;
				want(p, fs_jstr(note, "realmId"), fs_jstr(e, "name"), fs_jstr(e, "id"),
				     fs_jstr(e, "operation"), wanted);
				jv_free(e);
			}
		jv_free(entities);
		jv_free(note);
	}
	jv_free(notes);
}

/* CloudEvents, an array: type "qbo.invoice.updated.v1", intuitentityid, intuitaccountid. */
static void
want_cloudevents(struct fs_pull *p, jv body, jv *wanted)
{
	jv_array_foreach(body, i, ev) {
		const char *type = fs_jstr(ev, "type");
		char entity[64] = "", verb[32] = "";

		(void)i;
		if (type && sscanf(type, "qbo.%63[^.].%31[^.].", entity, verb) == 2)
			want(p, fs_jstr(ev, "intuitaccountid"), entity, fs_jstr(ev, "intuitentityid"),
			     strcmp(verb, "deleted") == 0 ? "Delete" : verb, wanted);
		jv_free(ev);
	}
	jv_free(body);
}

/* One inbox row, in either format; a row that is neither goes to the DLQ. */
static int
inbox_row(struct fs_pull *p, const struct fs_inbox_row *r, jv *wanted)
{
	jv body = jv_parse_sized(r->body, (int)r->len), notes = fs_jget(body, "eventNotifications");
	int rc = 0;

	if (jv_get_kind(body) == JV_KIND_ARRAY) {
		want_cloudevents(p, jv_copy(body), wanted);
	} else if (jv_get_kind(notes) == JV_KIND_ARRAY) {
		want_classic(p, body, wanted);
	} else {
		rc = fs_pull_dead(p, r->body, r->len, r->id, "inbox row %lld: not a QuickBooks webhook",
				  (long long)r->id);
	}
	jv_free(notes);
	jv_free(body);
	return rc;
}

/* A stream's objects by id, by the query (Id IN ...), a page of ids a request; gone ones are not answered. */
static void
read_by_id(struct fs_pull *p, const struct qb_stream *qs, jv ids)
{
	jv keys = jv_keys(ids);
	int n = jv_array_length(jv_copy(keys));

	for (int at = 0; at < n && !fs_pull_failed(p); at += (int)qb.page) {
		struct fs_buf q = {0};
		char *enc, *what;
		jv ans, rows;

		fs_buf_addf(&q, "select * from %s where Id in (", qs->entity);
		for (int i = at; i < n && i < at + qb.page; i++) {
			jv id = jv_array_get(jv_copy(keys), i);

			fs_buf_addf(&q, "%s'%s'", i > at ? ", " : "", jv_string_value(id));
			jv_free(id);
		}
		fs_buf_addf(&q, ")%s%s maxresults %ld", qs->condition ? " and " : "", qs->condition ? qs->condition : "",
			    qb.page);
		enc = fs_urlencode(q.data);
		what = fs_xasprintf("query?query=%s", enc);
		ans = qb_get(p, what, "QueryResponse", 0);
		rows = entity_list(fs_jget(ans, "QueryResponse"), qs->entity);
		jv_array_foreach(rows, i, o) {
			const char *id = fs_jstr(o, "Id");

			(void)i;
			if (id)
				fs_pull_record(p, qs->name, id, jv_copy(o));
			jv_free(o);
		}
		jv_free(rows);
		jv_free(ans);
		free(what);
		free(enc);
		fs_buf_free(&q);
	}
	jv_free(keys);
}

static int
quickbooks_inbox(struct fs_pull *p, const struct fs_inbox_row *rows, int n)
{
	jv wanted = jv_object();

	/* Each object once a batch, however many webhooks named it (at-least-once delivery). */
	for (int i = 0; i < n && !fs_pull_failed(p); i++)
		inbox_row(p, &rows[i], &wanted);
	for (const struct qb_stream *qs = qb_streams; qs->name && !fs_pull_failed(p); qs++) {
		jv ids = jv_object_get(jv_copy(wanted), jv_string(qs->name));

		if (jv_is_valid(ids))
			read_by_id(p, qs, ids);
		else
			jv_free(ids);
	}
	jv_free(wanted);
	return fs_pull_failed(p) ? -1 : 0;
}

/* ---- settings ---- */

/* A setting that must be a whole number from least to most; -1 said. */
static int
number_setting(struct fs_pull *p, const char *key, long least, long most, long *out)
{
	const char *v = fs_setting(&p->ep, key);
	char *end;

	*out = v ? strtol(v, &end, 10) : 0;
	if (v == NULL || end == v || *end || *out < least || *out > most) {
		fs_err("source '%s': %s must be a number from %ld to %ld, not '%s'", p->name, key, least, most,
		       v ? v : "");
		return -1;
	}
	return 0;
}

static int
settings(struct fs_pull *p)
{
	long minor;
	int64_t wait;

	qb.realm = fs_setting(&p->ep, "realm");
	qb.minorversion = fs_setting(&p->ep, "minorversion");
	if (qb.realm == NULL || !*qb.realm || strspn(qb.realm, "0123456789") != strlen(qb.realm)) {
		fs_err("source '%s': realm must be the company's id (a number), not '%s'", p->name,
		       qb.realm ? qb.realm : "");
		return -1;
	}
	if (number_setting(p, "page_size", 1, 1000, &qb.page) != 0 ||
	    number_setting(p, "cdc_max", 1, 1000000, &qb.cdc_max) != 0 ||
	    number_setting(p, "minorversion", 1, 999, &minor) != 0)
		return -1;
	/* Intuit's 429 says nothing of when to come back; its limit is per
	 * minute, so a minute is what is sure to be enough. */
	if (fs_duration_parse(fs_setting(&p->ep, "throttle_wait"), &wait) != 0) {
		fs_err("source '%s': throttle_wait must be a duration (60s), not '%s'", p->name,
		       fs_setting(&p->ep, "throttle_wait"));
		return -1;
	}
	p->http.bare_429_ms = wait * 1000;
	if (fs_setting(&p->ep, "oauth_file") == NULL)
		return 0;
	qb.oauth.basic = true;
	return fs_pull_oauth_setup(p, &qb.oauth, fs_setting(&p->ep, "token_url"), "client_secret_env",
				   "client_secret_file");
}

static int
quickbooks_start(struct fs_pull *p)
{
	qb_free();
	if (fs_pull_oauth_http(p) != 0)
		return -1;
	if (settings(p) != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return 0;
}

static void
quickbooks_after(struct fs_pull *p)
{
	(void)p;
	qb_free();
}

const struct fs_vendor fs_vendor_quickbooks = {
	.kind = "quickbooks",
	.flags = FS_VENDOR_INBOX | FS_VENDOR_CUSTOMERS,
	.streams = streams,
	.saved_stream = "customers",
	.start = quickbooks_start,
	.inbox = quickbooks_inbox,
	.pull = quickbooks_pull,
	.after = quickbooks_after,
};
