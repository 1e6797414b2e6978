/*
 * Jobber's connector: GraphQL at /api/graphql (the X-JOBBER-GRAPHQL-VERSION
 * header on every request), OAuth 2 with refresh-token rotation, and three
 * streams: clients (contact.changed), jobs (job.changed) and paid invoices
 * (outcome.revenue).  Webhooks carry ids only: draining the inbox reads
 * each object by id.
 *
 * Jobber's API decides how a stream is read (tests/fakes/README-jobber.md):
 * clients and invoices filter on updatedAt but cannot be sorted by it, and
 * jobs sort by UPDATED_AT but cannot be filtered on it (newest first, until
 * the cursor).  Neither order lets a checkpoint fall mid-stream, so a
 * stream's records wait for its one checkpoint at the end.  The cursor is
 * the newest updatedAt read and the ids read at that time:
 * "2026-11-29T11:00:00.000Z ID ID ...".  Jobber does not say how it orders
 * records that share a time, nor whether its "after" is inclusive, so the
 * query asks from a millisecond before the cursor and the ids decide:
 * a record at the cursor's time whose id the cursor holds was emitted.
 *
 * Throttling comes inside a 200 answer (THROTTLED, with the query-cost
 * bucket's state in extensions.cost): the request waits for the points it
 * needs and is sent again, within the source's attempts.
 */
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

#define GRAPHQL "/api/graphql"
#define TOKEN_PATH "/api/oauth/token"

/* The fields each stream reads; a record's data is its node as fetched. */
#define CLIENT_FIELDS "id firstName lastName companyName isCompany isArchived isLead " \
	"emails { address primary } phones { number primary } " \
	"billingAddress { street1 street2 city province postalCode country } createdAt updatedAt"
#define JOB_FIELDS "id jobNumber title jobStatus completedAt total client { id } createdAt updatedAt"
#define INVOICE_FIELDS "id invoiceNumber invoiceStatus subject total jobIds issuedDate receivedDate " \
	"amounts { total paymentsTotal invoiceBalance } client { id } createdAt updatedAt"

struct jb_stream {
	const char *name, *root, *one;	/* clients; the list's root field; the object's by id */
	const char *type, *filter;	/* Client; its filter input type, NULL when the query has none */
	const char *fields;
	bool newest_first;	/* no updatedAt filter: sorted UPDATED_AT DESCENDING, read to the cursor */
};

static const struct jb_stream jb_streams[] = {
	{"clients", "clients", "client", "Client", "ClientFilterAttributes", CLIENT_FIELDS, false},
	{"jobs", "jobs", "job", "Job", NULL, JOB_FIELDS, true},
	{"invoices", "invoices", "invoice", "Invoice", "InvoiceFilterAttributes", INVOICE_FIELDS, false},
	{NULL, NULL, NULL, NULL, NULL, NULL, false},
};

static const struct fs_stream streams[] = {
	{"clients", "updatedAt", false},
	{"jobs", "updatedAt", false},
	{"invoices", "updatedAt", false},
	{NULL, NULL, false},
};

static const struct jb_stream *
jb_stream(const char *name)
{
	for (const struct jb_stream *s = jb_streams; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* ---- OAuth ---- */

/*
 * The run's credentials.  With oauth_file, the access and refresh tokens
 * live in that file (lib/oauth.c keeps it), and the client id and secret
 * come from the environment or 0600 files; without it, token_env holds a
 * bare access token, which is not refreshed.
 */
static struct jb_auth {
	struct fs_oauth oauth;	/* .file NULL for a bare token */
	bool refreshed;		/* once a request: a second 401 is the answer */
} auth;

static void
auth_free(void)
{
	fs_oauth_free(&auth.oauth);
	memset(&auth, 0, sizeof auth);
}

/* ---- GraphQL ---- */

/* The bucket as the last answer left it: a request waits for what it needs. */
static struct {
	double available, restore, last_cost;
	bool known;
} bucket;

static void
bucket_learn(jv ans)
{
	jv cost = fs_jget_path(ans, "extensions.cost"), ts = fs_jget(cost, "throttleStatus");
	jv avail = fs_jget(ts, "currentlyAvailable"), rate = fs_jget(ts, "restoreRate");
	jv req = fs_jget(cost, "requestedQueryCost");

	if (jv_get_kind(avail) == JV_KIND_NUMBER && jv_get_kind(rate) == JV_KIND_NUMBER) {
		bucket.available = jv_number_value(avail);
		bucket.restore = jv_number_value(rate);
		bucket.known = true;
	}
	if (jv_get_kind(req) == JV_KIND_NUMBER)
		bucket.last_cost = jv_number_value(req);
	jv_free(req);
	jv_free(rate);
	jv_free(avail);
	jv_free(ts);
	jv_free(cost);
}

/* How long until the bucket holds cost points (ms), at restoreRate a second. */
static int64_t
bucket_wait(double cost)
{
	double need = cost - bucket.available;

	if (!bucket.known || need <= 0)
		return 0;
	if (bucket.restore <= 0)
		return 1000;
	return (int64_t)(need * 1000.0 / bucket.restore) + 1;
}

/* Sleeps ms (at least least) for the bucket; it then holds what the last query cost. */
static int64_t
bucket_sleep(int64_t ms, int64_t least)
{
	if (ms < least)
		ms = least;
	if (ms > 0) {
		fs_sleep_ms(ms);
		if (bucket.available < bucket.last_cost)
			bucket.available = bucket.last_cost;
	}
	return ms;
}

/* The first GraphQL error's code ("THROTTLED"), or "" when it has none; NULL without errors. */
static const char *
error_code(jv ans, char *msg, size_t size)
{
	static char code[64];
	jv errors = fs_jget(ans, "errors"), first, c;

	if (jv_get_kind(errors) != JV_KIND_ARRAY || jv_array_length(jv_copy(errors)) == 0) {
		jv_free(errors);
		return NULL;
	}
	first = jv_array_get(errors, 0);
	c = fs_jget_path(first, "extensions.code");
	snprintf(code, sizeof code, "%s", jv_get_kind(c) == JV_KIND_STRING ? jv_string_value(c) : "");
	snprintf(msg, size, "%s", fs_jstr(first, "message") ? fs_jstr(first, "message") : "(no message)");
	jv_free(c);
	jv_free(first);
	return code;
}

/* A throttled request: waits for the points it asked for; false when it never can have them. */
static bool
throttled_wait(struct fs_pull *p, jv ans, int attempt)
{
	jv max = fs_jget_path(ans, "extensions.cost.throttleStatus.maximumAvailable");
	double most = jv_get_kind(max) == JV_KIND_NUMBER ? jv_number_value(max) : -1;
	int64_t wait = bucket_wait(bucket.last_cost);

	jv_free(max);
	if (most >= 0 && bucket.last_cost > most) {
		fs_err("%s: POST %s: a query of cost %.0f can never run (the bucket holds %.0f): lower page_size",
		       p->name, GRAPHQL, bucket.last_cost, most);
		return false;
	}
	p->http.retries++;
	fs_debug("%s: POST %s: throttled (cost %.0f, %.0f available); retry %d of %d in %lld ms", p->name,
		 GRAPHQL, bucket.last_cost, bucket.available, attempt, p->http.attempts - 1,
		 (long long)(wait < 100 ? 100 : wait));
	bucket_sleep(wait, 100);
	return true;
}

/* An answer that is not 200: one line, then the run stops (a 401 after a refresh included). */
static void
http_failure(struct fs_pull *p, const struct fs_http_response *r)
{
	jv ans = r->body.len ? jv_parse_sized(r->body.data, (int)r->body.len) : jv_invalid();
	char msg[512] = "";
	const char *why = fs_jstr(ans, "message");

	if (error_code(ans, msg, sizeof msg) != NULL)
		why = msg;
	fs_err("%s: POST %s: HTTP %ld%s%s", p->name, GRAPHQL, r->status, why ? ": " : "", why ? why : "");
	jv_free(ans);
	fs_pull_fail(p, FS_EXIT_REMOTE);
}

/*
 * One GraphQL request: its data, or jv_invalid() after saying why (a dry
 * run prints the request and says nothing).  HTTP errors, 429 and 5xx are
 * fs_http_request's; an expired access token is refreshed once; THROTTLED
 * waits for the bucket, within the source's attempts.
 */
static jv
graphql(struct fs_pull *p, const char *query, jv variables)
{
	jv body = jv_object_set(jv_object(), jv_string("query"), jv_string(query));
	char *text, msg[512];
	jv out = jv_invalid();

	body = jv_object_set(body, jv_string("variables"), variables);
	text = fs_jdump(body);
	jv_free(body);
	for (int attempt = 1; !fs_pull_failed(p);) {
		struct fs_http_response r;
		const char *code;
		jv ans;
		int rc;

		bucket_sleep(bucket_wait(bucket.last_cost), 0);
		rc = fs_http_request(&p->http, "POST", GRAPHQL, text, NULL, &r);
		if (rc != 0) {
			if (rc < 0)
				fs_pull_fail(p, FS_EXIT_REMOTE);
			fs_http_response_free(&r);
			break;
		}
		if (r.status == 401 && auth.oauth.file && !auth.refreshed) {
			fs_http_response_free(&r);
			auth.refreshed = true;
			if (fs_pull_oauth_refresh(p, &auth.oauth) != 0)
				break;
			continue;
		}
		if (r.status != 200) {
			http_failure(p, &r);
			fs_http_response_free(&r);
			break;
		}
		ans = jv_parse_sized(r.body.data, (int)r.body.len);
		fs_http_response_free(&r);
		auth.refreshed = false;
		bucket_learn(ans);
		code = error_code(ans, msg, sizeof msg);
		if (code && strcmp(code, "THROTTLED") == 0) {
			if (attempt < p->http.attempts && throttled_wait(p, ans, attempt)) {
				attempt++;
				jv_free(ans);
				continue;
			}
			if (attempt >= p->http.attempts)
				fs_err("%s: POST %s: throttled (query cost %.0f, %.0f points available) after %d attempts",
				       p->name, GRAPHQL, bucket.last_cost, bucket.available, attempt);
			fs_pull_fail(p, FS_EXIT_REMOTE);
		} else if (code) {
			fs_err("%s: POST %s: %s%s%s", p->name, GRAPHQL, msg, *code ? " " : "", *code ? code : "");
			fs_pull_fail(p, FS_EXIT_REMOTE);
		} else if (jv_get_kind(out = fs_jget(ans, "data")) != JV_KIND_OBJECT) {
			fs_err("%s: POST %s: an answer without \"data\"", p->name, GRAPHQL);
			jv_free(out);
			out = jv_invalid();
			fs_pull_fail(p, FS_EXIT_REMOTE);
		}
		jv_free(ans);
		break;
	}
	free(text);
	return out;
}

/* ---- streams ---- */

/* One stream's run: where it started, what it emitted, where it ends. */
struct jb_run {
	struct fs_keyset from, to;
	long count, pages;
	bool passed;		/* newest first: a record older than the cursor came, the rest is older */
	bool limited;		/* --limit stopped it */
};

static bool
node_of(jv node, const char **id, int64_t *t)
{
	*id = fs_jstr(node, "id");
	return *id && **id && !strchr(*id, ' ') && fs_time_ms(fs_jstr(node, "updatedAt"), t) == 0;
}

/* A page's nodes: the new ones emitted (up to --limit); -1 on a node without an id and an updatedAt. */
static int
emit_page(struct fs_pull *p, const struct jb_stream *js, struct jb_run *run, jv nodes)
{
	int rc = 0;

	jv_array_foreach(nodes, i, node) {
		const char *id;
		int64_t t;

		(void)i;
		if (rc == 0 && !run->passed && !run->limited) {
			if (!node_of(node, &id, &t)) {
				fs_err("%s: %s: a node without an \"id\" and an \"updatedAt\" time", p->name, js->name);
				fs_pull_fail(p, FS_EXIT_REMOTE);
				rc = -1;
			} else if (js->newest_first && run->from.set && t < run->from.t) {
				run->passed = true;
			} else if (fs_keyset_is_new(&run->from, t, id)) {
				fs_keyset_advance(&run->to, t, id);
				fs_pull_record(p, js->name, id, jv_copy(node));
				run->count++;
				run->limited = p->limit > 0 && run->count >= p->limit;
			}
		}
		jv_free(node);
	}
	jv_free(nodes);
	return rc;
}

static char *
list_query(const struct jb_stream *js)
{
	if (js->newest_first)
		return fs_xasprintf("query %s($first: Int!, $after: String) { %s(first: $first, after: $after, "
				    "sort: [{key: UPDATED_AT, direction: DESCENDING}]) { nodes { %s } "
				    "pageInfo { endCursor hasNextPage } } }", js->type, js->root, js->fields);
	return fs_xasprintf("query %s($first: Int!, $after: String, $filter: %s) { %s(first: $first, after: $after, "
			    "filter: $filter) { nodes { %s } pageInfo { endCursor hasNextPage } } }", js->type,
			    js->filter, js->root, js->fields);
}

/* A page's variables: after the page cursor, and (filtered streams) from just before the cursor's time. */
static jv
list_variables(struct fs_pull *p, const struct jb_stream *js, const struct jb_run *run, const char *after)
{
	jv v = jv_object_set(jv_object(), jv_string("first"), jv_number(atoi(fs_setting(&p->ep, "page_size"))));
	jv filter;

	if (after)
		v = jv_object_set(v, jv_string("after"), jv_string(after));
	if (js->newest_first)
		return v;
	filter = jv_object();
	if (run->from.set) {
		char ts[32];

		fs_ms_format(run->from.t - 1, ts);
		filter = jv_object_set(filter, jv_string("updatedAt"),
				       jv_object_set(jv_object(), jv_string("after"), jv_string(ts)));
	}
	if (strcmp(js->name, "invoices") == 0)
		filter = jv_object_set(filter, jv_string("status"), jv_string("paid"));
	return jv_object_set(v, jv_string("filter"), filter);
}

/* The held records go out: with the stream's checkpoint, or alone when --limit cut it short. */
static int
stream_end(struct fs_pull *p, const struct jb_stream *js, struct jb_run *run)
{
	char *text;
	int rc;

	if (run->limited) {
		/* What was not read is older or unordered: the cursor cannot move. */
		fwrite(p->held.data, 1, p->held.len, stdout);
		p->held.len = 0;
		fs_debug("%s %s: --limit reached: no checkpoint", p->name, js->name);
		return fs_pull_flush(p);
	}
	if (run->count == 0)
		return 0;
	text = fs_keyset_text(&run->to);
	rc = fs_pull_checkpoint(p, js->name, text);
	free(text);
	return rc;
}

/* One page after another, until the last (or, newest first, until the cursor). */
static void
read_pages(struct fs_pull *p, const struct jb_stream *js, struct jb_run *run)
{
	char *query = list_query(js), *after = NULL;

	while (!fs_pull_failed(p) && !run->passed && !run->limited) {
		jv data = graphql(p, query, list_variables(p, js, run, after));
		jv conn = fs_jget(data, js->root), info = fs_jget(conn, "pageInfo");
		jv nodes = fs_jget(conn, "nodes"), next = fs_jget(info, "hasNextPage");
		bool more = jv_get_kind(next) == JV_KIND_TRUE;
		const char *end = fs_jstr(info, "endCursor");

		jv_free(next);

		if (jv_is_valid(data) && jv_get_kind(nodes) != JV_KIND_ARRAY) {
			fs_err("%s: %s: the answer has no list of nodes", p->name, js->name);
			fs_pull_fail(p, FS_EXIT_REMOTE);
		}
		if (!jv_is_valid(data) || fs_pull_failed(p)) {
			jv_free(nodes);
			jv_free(info);
			jv_free(conn);
			jv_free(data);
			break;
		}
		run->pages++;
		emit_page(p, js, run, nodes);
		free(after);
		after = more && end ? fs_xstrdup(end) : NULL;
		jv_free(info);
		jv_free(conn);
		jv_free(data);
		fs_pull_progress(p, js->name, run->pages, false);
		if (after == NULL)
			break;
	}
	free(after);
	free(query);
}

static int
jobber_pull(struct fs_pull *p, const struct fs_stream *s)
{
	const struct jb_stream *js = jb_stream(s->name);
	struct jb_run run = {0};

	if (fs_keyset_start(p, s->name, &run.from) != 0) {
		jv_free(run.from.ids);
		return -1;
	}
	run.to.ids = jv_copy(run.from.ids);
	run.to.t = run.from.t;
	run.to.set = run.from.set && p->since_ms < 0;
	p->hold = true;
	read_pages(p, js, &run);
	p->hold = false;
	if (!fs_pull_failed(p) && !p->dry_run)
		stream_end(p, js, &run);
	/* Records no checkpoint covers (the run failed) are not written. */
	p->held.len = 0;
	if (run.pages)
		fs_pull_progress(p, s->name, run.pages, true);
	fs_debug("%s %s: %ld records in %ld pages", p->name, s->name, run.count, run.pages);
	jv_free(run.from.ids);
	jv_free(run.to.ids);
	return fs_pull_failed(p) ? -1 : 0;
}

/* ---- the webhook inbox: ids, read back ---- */

/* The stream a webhook topic is about (CLIENT_UPDATE: clients); NULL for one with nothing to read. */
static const struct jb_stream *
topic_stream(const char *topic)
{
	static const char *const prefix[][2] = {{"CLIENT_", "clients"}, {"JOB_", "jobs"}, {"INVOICE_", "invoices"}};
	size_t n = strlen(topic);

	/* A destroyed object cannot be read back. */
	if (n > 8 && strcmp(topic + n - 8, "_DESTROY") == 0)
		return NULL;
	for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++)
		if (strncmp(topic, prefix[i][0], strlen(prefix[i][0])) == 0)
			return jb_stream(prefix[i][1]);
	return NULL;
}

/* One inbox row: its item's id joins its stream's list (once); a row that is no webhook goes to the DLQ. */
static int
inbox_row(struct fs_pull *p, const struct fs_inbox_row *r, jv *wanted, jv *seen)
{
	jv body = jv_parse_sized(r->body, (int)r->len), ev = fs_jget_path(body, "data.webHookEvent");
	const char *topic = fs_jstr(ev, "topic"), *item = fs_jstr(ev, "itemId");
	const struct jb_stream *js;
	int rc = 0;

	if (fs_json_check(r->body, r->len, NULL) != NULL || topic == NULL || item == NULL) {
		rc = fs_pull_dead(p, r->body, r->len, r->id, "inbox row %lld: not a Jobber webhook event",
				  (long long)r->id);
	} else if ((js = topic_stream(topic)) == NULL) {
		fs_debug("%s: inbox row %lld: %s: nothing to read", p->name, (long long)r->id, topic);
	} else if (!jv_object_has(jv_copy(*seen), jv_string_fmt("%s %s", js->name, item))) {
		jv ids = jv_object_get(jv_copy(*wanted), jv_string(js->name));

		if (!jv_is_valid(ids)) {
			jv_free(ids);
			ids = jv_array();
		}
		*seen = jv_object_set(*seen, jv_string_fmt("%s %s", js->name, item), jv_true());
		*wanted = jv_object_set(*wanted, jv_string(js->name), jv_array_append(ids, jv_string(item)));
	}
	jv_free(ev);
	jv_free(body);
	return rc;
}

/* One request for a stream's objects by id, as aliases o0, o1, ...; gone ones (null) are skipped. */
static int
read_by_id(struct fs_pull *p, const struct jb_stream *js, jv ids)
{
	struct fs_buf q = {0};
	jv vars = jv_object(), data;
	int n = jv_array_length(jv_copy(ids));

	fs_buf_addf(&q, "query %sById(", js->type);
	for (int i = 0; i < n; i++)
		fs_buf_addf(&q, "%s$i%d: EncodedId!", i ? ", " : "", i);
	fs_buf_adds(&q, ") {");
	for (int i = 0; i < n; i++) {
		fs_buf_addf(&q, " o%d: %s(id: $i%d) { %s }", i, js->one, i, js->fields);
		vars = jv_object_set(vars, jv_string_fmt("i%d", i), jv_array_get(jv_copy(ids), i));
	}
	fs_buf_adds(&q, " }");
	data = graphql(p, q.data, vars);
	fs_buf_free(&q);
	for (int i = 0; jv_is_valid(data) && i < n; i++) {
		char alias[16];
		jv node, asked;
		const char *id;

		snprintf(alias, sizeof alias, "o%d", i);
		node = fs_jget(data, alias);
		if ((id = fs_jstr(node, "id")) != NULL) {
			fs_pull_record(p, js->name, id, jv_copy(node));
		} else {
			asked = jv_array_get(jv_copy(ids), i);
			fs_debug("%s: %s %s is gone", p->name, js->one, jv_string_value(asked));
			jv_free(asked);
		}
		jv_free(node);
	}
	jv_free(data);
	jv_free(ids);
	return fs_pull_failed(p) ? -1 : 0;
}

static int
jobber_inbox(struct fs_pull *p, const struct fs_inbox_row *rows, int n)
{
	jv wanted = jv_object(), seen = jv_object();

	/* Each object once a batch, however many webhooks named it (at-least-once delivery). */
	for (int i = 0; i < n && !fs_pull_failed(p); i++)
		inbox_row(p, &rows[i], &wanted, &seen);
	jv_free(seen);
	for (const struct jb_stream *js = jb_streams; js->name && !fs_pull_failed(p); js++) {
		jv ids = jv_object_get(jv_copy(wanted), jv_string(js->name));

		if (jv_is_valid(ids))
			read_by_id(p, js, ids);
		else
			jv_free(ids);
	}
	jv_free(wanted);
	return fs_pull_failed(p) ? -1 : 0;
}

/* ---- settings ---- */

static bool
is_date(const char *s)
{
	fs_time t;
	char full[32];

	if (strlen(s) != 10)
		return false;
	snprintf(full, sizeof full, "%sT00:00:00Z", s);
	return fs_time_parse(full, &t) == 0;
}

static int
settings(struct fs_pull *p)
{
	const char *version = fs_setting(&p->ep, "api_version"), *page = fs_setting(&p->ep, "page_size");
	char header[80];

	if (!is_date(version)) {
		fs_err("source '%s': api_version must be a date such as %s, not '%s'", p->name, FS_JOBBER_VERSION,
		       version);
		return -1;
	}
	if (atoi(page) < 1) {
		fs_err("source '%s': page_size must be 1 or more, not '%s'", p->name, page);
		return -1;
	}
	snprintf(header, sizeof header, "X-JOBBER-GRAPHQL-VERSION: %s", version);
	fs_http_header_add(&p->http, header);
	if (fs_setting(&p->ep, "oauth_file") == NULL)
		return 0;
	return fs_pull_oauth_setup(p, &auth.oauth, TOKEN_PATH, "secret_env", "secret_file");
}

static int
jobber_start(struct fs_pull *p)
{
	auth_free();
	memset(&bucket, 0, sizeof bucket);
	if (fs_pull_oauth_http(p) != 0)
		return -1;
	if (settings(p) != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return 0;
}

static void
jobber_after(struct fs_pull *p)
{
	(void)p;
	auth_free();
}

const struct fs_vendor fs_vendor_jobber = {
	.kind = "jobber",
	.flags = FS_VENDOR_INBOX,
	.streams = streams,
	.saved_stream = "clients",
	.start = jobber_start,
	.inbox = jobber_inbox,
	.pull = jobber_pull,
	.after = jobber_after,
};
