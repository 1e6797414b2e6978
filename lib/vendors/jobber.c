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
	int gen;		/* refreshes so far: a request sent with an older token is sent again */
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
throttled_wait(struct fs_http *http, jv ans, int attempt)
{
	jv max = fs_jget_path(ans, "extensions.cost.throttleStatus.maximumAvailable");
	double most = jv_get_kind(max) == JV_KIND_NUMBER ? jv_number_value(max) : -1;
	int64_t wait = bucket_wait(bucket.last_cost);

	jv_free(max);
	if (most >= 0 && bucket.last_cost > most) {
		fs_err("%s: POST %s: a query of cost %.0f can never run (the bucket holds %.0f): lower page_size",
		       http->name, GRAPHQL, bucket.last_cost, most);
		return false;
	}
	http->retries++;
	fs_debug("%s: POST %s: throttled (cost %.0f, %.0f available); retry %d of %d in %lld ms", http->name,
		 GRAPHQL, bucket.last_cost, bucket.available, attempt, http->attempts - 1,
		 (long long)(wait < 100 ? 100 : wait));
	bucket_sleep(wait, 100);
	return true;
}

/* An answer that is not 200: one line, then the run stops (a 401 after a refresh included). */
static void
http_failure(const struct fs_http *http, const struct fs_http_response *r)
{
	jv ans = r->body.len ? jv_parse_sized(r->body.data, (int)r->body.len) : jv_invalid();
	char msg[512] = "";
	const char *why = fs_jstr(ans, "message");

	if (error_code(ans, msg, sizeof msg) != NULL)
		why = msg;
	fs_err("%s: POST %s: HTTP %ld%s%s", http->name, GRAPHQL, r->status, why ? ": " : "", why ? why : "");
	jv_free(ans);
}

/* A new access token after a 401 (the refresh token rotated), onto http; -1 said, *status the run's. */
static int
auth_refresh(struct fs_http *http, int *status)
{
	int st = FS_EXIT_REMOTE;

	if (fs_oauth_refresh(&auth.oauth, http, &st) != 0) {
		*status = st;
		return -1;
	}
	auth.gen++;
	fs_http_bearer(http, auth.oauth.access);
	return 0;
}

/*
 * One GraphQL request on http: its data, or jv_invalid() after saying why
 * with *status set (a dry run prints the request, says nothing and leaves
 * *status alone).  HTTP errors, 429 and 5xx are fs_http_request's; an
 * expired access token is refreshed once; THROTTLED waits for the bucket,
 * within http's attempts.  fs-pull and fs-push's look-ups both ask this way.
 */
static jv
gql_call(struct fs_http *http, const char *query, jv variables, int *status)
{
	jv body = jv_object_set(jv_object(), jv_string("query"), jv_string(query));
	char *text, msg[512];
	jv out = jv_invalid();

	body = jv_object_set(body, jv_string("variables"), variables);
	text = fs_jdump(body);
	jv_free(body);
	for (int attempt = 1;;) {
		struct fs_http_response r;
		const char *code;
		jv ans;
		int rc;

		bucket_sleep(bucket_wait(bucket.last_cost), 0);
		rc = fs_http_request(http, "POST", GRAPHQL, text, NULL, &r);
		if (rc != 0) {
			if (rc < 0)
				*status = FS_EXIT_REMOTE;
			fs_http_response_free(&r);
			break;
		}
		if (r.status == 401 && auth.oauth.file && !auth.refreshed) {
			fs_http_response_free(&r);
			auth.refreshed = true;
			if (auth_refresh(http, status) != 0)
				break;
			continue;
		}
		if (r.status != 200) {
			http_failure(http, &r);
			*status = FS_EXIT_REMOTE;
			fs_http_response_free(&r);
			break;
		}
		ans = jv_parse_sized(r.body.data, (int)r.body.len);
		fs_http_response_free(&r);
		auth.refreshed = false;
		bucket_learn(ans);
		code = error_code(ans, msg, sizeof msg);
		if (code && strcmp(code, "THROTTLED") == 0) {
			if (attempt < http->attempts && throttled_wait(http, ans, attempt)) {
				attempt++;
				jv_free(ans);
				continue;
			}
			if (attempt >= http->attempts)
				fs_err("%s: POST %s: throttled (query cost %.0f, %.0f points available) after %d attempts",
				       http->name, GRAPHQL, bucket.last_cost, bucket.available, attempt);
			*status = FS_EXIT_REMOTE;
		} else if (code) {
			fs_err("%s: POST %s: %s%s%s", http->name, GRAPHQL, msg, *code ? " " : "", *code ? code : "");
			*status = FS_EXIT_REMOTE;
		} else if (jv_get_kind(out = fs_jget(ans, "data")) != JV_KIND_OBJECT) {
			fs_err("%s: POST %s: an answer without \"data\"", http->name, GRAPHQL);
			jv_free(out);
			out = jv_invalid();
			*status = FS_EXIT_REMOTE;
		}
		jv_free(ans);
		break;
	}
	free(text);
	return out;
}

/* fs-pull's request: gql_call on the source's client, its failure the run's. */
static jv
graphql(struct fs_pull *p, const char *query, jv variables)
{
	int status = FS_EXIT_OK;
	jv out;

	if (fs_pull_failed(p)) {
		jv_free(variables);
		return jv_invalid();
	}
	out = gql_call(&p->http, query, variables, &status);
	if (status != FS_EXIT_OK)
		fs_pull_fail(p, status);
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

/* The stream a webhook topic is about (CLIENT_UPDATE: clients); NULL for one with nothing to read.
 * A completed visit is about its job: VISIT_COMPLETE's item is read as its visit's job. */
static const struct jb_stream *
topic_stream(const char *topic)
{
	static const char *const prefix[][2] = {
		{"CLIENT_", "clients"}, {"JOB_", "jobs"}, {"INVOICE_", "invoices"}, {"VISIT_COMPLETE", "jobs"},
	};
	size_t n = strlen(topic);

	/* A destroyed object cannot be read back. */
	if (n > 8 && strcmp(topic + n - 8, "_DESTROY") == 0)
		return NULL;
	for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++)
		if (strncmp(topic, prefix[i][0], strlen(prefix[i][0])) == 0)
			return jb_stream(prefix[i][1]);
	return NULL;
}

/*
 * APP_DISCONNECT: the account took the app's access away, so every request
 * will be refused until someone connects it again.  Dropped silently, the
 * next pulls would only fail; it is an alert (once, fs-health shows it
 * until acknowledged), and the drain goes on.
 */
static int
disconnected(struct fs_pull *p, const struct fs_inbox_row *r, const char *account)
{
	char *text = fs_xasprintf("Jobber app disconnected from account %s: connect it again and write its"
				  " tokens to oauth_file", account ? account : "(unknown)");
	int rc = 0;

	if (p->dry_run)
		printf("# %s: inbox row %lld: would raise an alert: %s\n", p->name, (long long)r->id, text);
	else if (fs_alert_raise(&p->cli->st, &p->cli->cfg, "disconnect", p->name, 2, text, p->cli->run_id) < 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		rc = -1;
	}
	free(text);
	return rc;
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
	} else if (strcmp(topic, "APP_DISCONNECT") == 0) {
		rc = disconnected(p, r, fs_jstr(ev, "accountId"));
	} else if ((js = topic_stream(topic)) == NULL) {
		fs_debug("%s: inbox row %lld: %s: nothing to read", p->name, (long long)r->id, topic);
	} else {
		/* Visits are read apart: their id is no job's. */
		const char *list = strcmp(topic, "VISIT_COMPLETE") == 0 ? "visits" : js->name;

		if (!jv_object_has(jv_copy(*seen), jv_string_fmt("%s %s", list, item))) {
			jv ids = jv_object_get(jv_copy(*wanted), jv_string(list));

			if (!jv_is_valid(ids)) {
				jv_free(ids);
				ids = jv_array();
			}
			*seen = jv_object_set(*seen, jv_string_fmt("%s %s", list, item), jv_true());
			*wanted = jv_object_set(*wanted, jv_string(list), jv_array_append(ids, jv_string(item)));
		}
	}
	jv_free(ev);
	jv_free(body);
	return rc;
}

/* One request for a stream's objects by id, as aliases o0, o1, ...; gone ones (null) are skipped.
 * With visits, the ids are visits' and each one's job is read. */
static int
read_by_id(struct fs_pull *p, const struct jb_stream *js, jv ids, bool visits)
{
	struct fs_buf q = {0};
	jv vars = jv_object(), data;
	int n = jv_array_length(jv_copy(ids));

	fs_buf_addf(&q, "query %sBy%sId(", js->type, visits ? "Visit" : "");
	for (int i = 0; i < n; i++)
		fs_buf_addf(&q, "%s$i%d: EncodedId!", i ? ", " : "", i);
	fs_buf_adds(&q, ") {");
	for (int i = 0; i < n; i++) {
		if (visits)
			fs_buf_addf(&q, " o%d: visit(id: $i%d) { %s { %s } }", i, i, js->one, js->fields);
		else
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

		snprintf(alias, sizeof alias, visits ? "o%d.job" : "o%d", i);
		node = fs_jget_path(data, alias);
		if ((id = fs_jstr(node, "id")) != NULL) {
			fs_pull_record(p, js->name, id, jv_copy(node));
		} else {
			asked = jv_array_get(jv_copy(ids), i);
			fs_debug("%s: %s %s is gone", p->name, visits ? "visit" : js->one, jv_string_value(asked));
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
			read_by_id(p, js, ids, false);
		else
			jv_free(ids);
	}
	if (!fs_pull_failed(p) && jv_object_has(jv_copy(wanted), jv_string("visits")))
		read_by_id(p, jb_stream("jobs"), jv_object_get(jv_copy(wanted), jv_string("visits")), true);
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

/* ---- --describe, and the fields campaigns trigger on ---- */

/*
 * The fields fs-pull reads of a client and of a job (the queries above),
 * with Jobber's types, and the status the shipped maps make of them: a
 * client's is lead, archived or active; a job's is completed once it has
 * completedAt, else its jobStatus.  The listing is the connector's, not
 * asked of Jobber (its schema is the same for every account), so that
 * campaigns on = job can be checked against the statuses a job can have.
 */

#define JOB_STATUSES "requires_invoicing, archived, late, today, upcoming, action_required, on_hold, unscheduled, active"

static const struct fs_field_desc client_fields[] = {
	{"id", "EncodedId", "ID", NULL}, {"firstName", "String", "First name", NULL},
	{"lastName", "String", "Last name", NULL}, {"companyName", "String", "Company name", NULL},
	{"isCompany", "Boolean", "Is a company", NULL}, {"isArchived", "Boolean", "Archived", NULL},
	{"isLead", "Boolean", "Lead", NULL}, {"emails", "[Email]", "Emails", NULL},
	{"phones", "[ClientPhoneNumber]", "Phone numbers", NULL},
	{"billingAddress", "ClientAddress", "Billing address", NULL},
	{"createdAt", "ISO8601DateTime", "Created", NULL}, {"updatedAt", "ISO8601DateTime", "Updated", NULL},
	{"status", "derived", "Status (isLead, isArchived)", "lead, archived, active"},
	{NULL, NULL, NULL, NULL},
};

static const struct fs_field_desc job_fields[] = {
	{"id", "EncodedId", "ID", NULL}, {"jobNumber", "Int", "Job number", NULL}, {"title", "String", "Title", NULL},
	{"jobStatus", "JobStatusTypeEnum", "Job status", JOB_STATUSES},
	{"completedAt", "ISO8601DateTime", "Completed", NULL}, {"total", "Float", "Total", NULL},
	{"client", "Client", "Client", NULL}, {"createdAt", "ISO8601DateTime", "Created", NULL},
	{"updatedAt", "ISO8601DateTime", "Updated", NULL},
	{"status", "derived", "Status (completedAt, jobStatus)", "completed, " JOB_STATUSES},
	{NULL, NULL, NULL, NULL},
};

/* The listing of clients and jobs, kept in the state file, where fs-normalize checks campaign triggers. */
static int
jobber_describe(struct fs_pull *p)
{
	return fs_describe_fixed(p, "map.clients", client_fields, "map.jobs", job_fields);
}

/* The field of a client or a job a canonical field comes from (the shipped maps), or NULL. */
static const char *
jobber_property(const struct fs_endpoint *ep, bool on_job, const char *field)
{
	static const char *const contact[][2] = {
		{"id", "id"}, {"email", "emails"}, {"phone", "phones"}, {"first_name", "firstName"},
		{"last_name", "lastName"}, {"company", "companyName"}, {"status", "status"},
		{"line1", "billingAddress"}, {"line2", "billingAddress"}, {"city", "billingAddress"},
		{"region", "billingAddress"}, {"postal_code", "billingAddress"}, {"country", "billingAddress"},
		{"updated_at", "updatedAt"},
	};
	static const char *const job[][2] = {
		{"id", "id"}, {"contact_id", "client"}, {"status", "status"}, {"type", "title"},
		{"completed_at", "completedAt"}, {"total", "total"}, {"updated_at", "updatedAt"},
	};

	(void)ep;
	for (size_t i = 0; !on_job && i < sizeof contact / sizeof contact[0]; i++)
		if (strcmp(contact[i][0], field) == 0)
			return contact[i][1];
	for (size_t i = 0; on_job && i < sizeof job / sizeof job[0]; i++)
		if (strcmp(job[i][0], field) == 0)
			return job[i][1];
	return NULL;
}

/* ---- push: mail status written back to the client (fs-push, kind jobber) ---- */

/*
 * Each mail.status event is written to its contact's client: into the
 * client's text custom field named status_field when the account has one
 * (custom fields need Jobber's Connect plan or higher), else as a note on
 * the client, one a status change.  The custom field is looked up once a
 * run (customFieldConfigurations); fieldsync never creates it, since an app
 * cannot delete a custom field it made and the account's admin decides.
 *
 * Setting a field to the same value twice is harmless, but a note sent
 * twice is two notes: a note carries its event's id, and a row that may
 * have been sent before (claimed before, or tried) first reads the
 * client's notes and is settled, without a second note, when one has it.
 */

#define LOOK_ATTEMPTS 3	/* tries of a look-up (the custom fields, a client's notes) */
#define THROTTLED_MAX 6	/* a write-back throttled this often waits for the next run */

struct jb_push {
	const char *field;	/* status_field */
	char field_id[256];	/* its configuration's id; "" for notes */
	bool looked;		/* the custom fields were looked up this run */
	int gen;		/* the token generation the sender has */
	char version[80];	/* the X-JOBBER-GRAPHQL-VERSION header */
};

/* One row's request: the mutation, and what it writes. */
struct jb_req {
	struct fs_push_req r;	/* first: lib/push.c's part */
	jv wrote;		/* {"custom_field":{NAME:VALUE}} or {"note":TEXT} */
	int gen, throttled;	/* the token generation it was sent with; THROTTLED answers */
	bool refreshed;		/* a refresh was made for it: a second 401 is the answer */
};

static void
req_clear(struct fs_push_req *r)
{
	jv_free(((struct jb_req *)r)->wrote);
}

/* The look-ups' client: the target's url and rate, the bearer token, the version header. */
static int
look_http(struct fs_push *p, const struct jb_push *s)
{
	if (fs_http_init(&p->easy, p->target, p->url, fs_push_setting(p, "rate")) != 0)
		return -1;
	p->easy_ready = true;
	p->easy.attempts = LOOK_ATTEMPTS;
	fs_http_header_add(&p->easy, s->version);
	if (p->secret)
		fs_http_bearer(&p->easy, p->secret);
	return 0;
}

static int
jobber_push_start(struct fs_push *p)
{
	const char *version = fs_push_setting(p, "api_version");
	struct jb_push *s = fs_xmalloc(sizeof *s);

	memset(s, 0, sizeof *s);
	p->settings = s;
	auth_free();
	memset(&bucket, 0, sizeof bucket);
	s->field = fs_push_setting(p, "status_field");
	if (!is_date(version)) {
		fs_err("target '%s': api_version must be a date such as %s, not '%s'", p->target, FS_JOBBER_VERSION,
		       version);
		return -1;
	}
	snprintf(s->version, sizeof s->version, "X-JOBBER-GRAPHQL-VERSION: %s", version);
	if (p->dry_run)
		return 0;
	if (fs_setting(&p->ep, "oauth_file")) {
		if (fs_oauth_setup(&p->ep, &auth.oauth, TOKEN_PATH, "secret_env", "secret_file") != 0)
			return -1;
		p->secret = fs_xstrdup(auth.oauth.access);
	} else {
		p->secret = fs_endpoint_secret(&p->ep, "token_env", "token_file");
	}
	return look_http(p, s);
}

static void
jobber_push_free(struct fs_push *p)
{
	(void)p;
	auth_free();
}

/* The sender's token, after a refresh by the look-ups or by an answer. */
static void
sender_token(struct fs_push *p)
{
	struct jb_push *s = p->settings;

	if (s->gen != auth.gen && p->http) {
		fs_push_http_auth_bearer(p->http, auth.oauth.access);
		s->gen = auth.gen;
	}
}

/* A look-up of the run: its data, or jv_invalid() with the run stopped (said). */
static jv
look(struct fs_push *p, const char *query, jv variables)
{
	int status = FS_EXIT_OK;
	jv out = gql_call(&p->easy, query, variables, &status);

	sender_token(p);
	if (!jv_is_valid(out)) {
		fs_push_fail(p, status == FS_EXIT_OK ? FS_EXIT_REMOTE : status);
		p->stop = true;
	}
	return out;
}

/* The id of the account's client custom field named status_field, once a run ("" when it has none). */
static int
find_field(struct fs_push *p, struct jb_push *s)
{
	static const char query[] = "query CustomFields($after: String) { customFieldConfigurations(first: 100, "
				    "after: $after) { nodes { ... on CustomFieldConfigurationText { id name appliesTo } } "
				    "pageInfo { endCursor hasNextPage } } }";
	char *after = NULL;

	s->looked = true;
	do {
		jv vars = after ? jv_object_set(jv_object(), jv_string("after"), jv_string(after)) : jv_object();
		jv data = look(p, query, vars), conn = fs_jget(data, "customFieldConfigurations");
		jv nodes = fs_jget(conn, "nodes"), info = fs_jget(conn, "pageInfo"), more = fs_jget(info, "hasNextPage");
		const char *end = fs_jstr(info, "endCursor");

		if (jv_get_kind(nodes) == JV_KIND_ARRAY)
			jv_array_foreach(nodes, i, n) {
				const char *name = fs_jstr(n, "name"), *applies = fs_jstr(n, "appliesTo");
				const char *id = fs_jstr(n, "id");

				(void)i;
				if (!s->field_id[0] && id && name && applies && strcmp(name, s->field) == 0 &&
				    strcmp(applies, "ALL_CLIENTS") == 0)
					snprintf(s->field_id, sizeof s->field_id, "%s", id);
				jv_free(n);
			}
		free(after);
		after = jv_get_kind(more) == JV_KIND_TRUE && end ? fs_xstrdup(end) : NULL;
		jv_free(more);
		jv_free(info);
		jv_free(nodes);
		jv_free(conn);
		jv_free(data);
	} while (after && !p->stop);
	free(after);
	if (p->stop)
		return -1;
	if (s->field_id[0])
		fs_debug("%s: mail status goes to the client custom field '%s'", p->target, s->field);
	else
		fs_debug("%s: the account has no client custom field '%s': mail status goes to notes", p->target,
			 s->field);
	return 0;
}

/* The tag a note carries, so that a resent write-back finds it. */
static char *
note_tag(const char *event_id)
{
	return fs_xasprintf("[fieldsync %s]", event_id);
}

/* Whether the client has a note carrying the event's tag: 1 yes, 0 no, -1 the run stopped. */
static int
note_there(struct fs_push *p, const char *client, const char *event_id)
{
	static const char query[] = "query ClientNotes($id: EncodedId!, $after: String) { client(id: $id) { "
				    "notes(first: 100, after: $after) { nodes { message } "
				    "pageInfo { endCursor hasNextPage } } } }";
	char *tag = note_tag(event_id), *after = NULL;
	int found = 0;

	do {
		jv vars = jv_object_set(jv_object(), jv_string("id"), jv_string(client));
		jv data, notes, nodes, info, more;
		const char *end;

		if (after)
			vars = jv_object_set(vars, jv_string("after"), jv_string(after));
		data = look(p, query, vars);
		notes = fs_jget_path(data, "client.notes");
		nodes = fs_jget(notes, "nodes");
		info = fs_jget(notes, "pageInfo");
		more = fs_jget(info, "hasNextPage");
		end = fs_jstr(info, "endCursor");
		if (jv_get_kind(nodes) == JV_KIND_ARRAY)
			jv_array_foreach(nodes, i, n) {
				const char *m = fs_jstr(n, "message");

				(void)i;
				found |= m && strstr(m, tag) != NULL;
				jv_free(n);
			}
		free(after);
		after = !found && jv_get_kind(more) == JV_KIND_TRUE && end ? fs_xstrdup(end) : NULL;
		jv_free(more);
		jv_free(info);
		jv_free(nodes);
		jv_free(notes);
		jv_free(data);
	} while (after && !p->stop);
	free(after);
	free(tag);
	return p->stop ? -1 : found;
}

/* What a row writes: the status label (the piece's latest for a field), and the note's text. */
static int
row_status(struct fs_push *p, const struct fs_outbox_row *r, bool latest, char **label, char **note, char **why)
{
	jv ev = jv_parse(r->line), data = fs_jget(ev, "data");
	const char *vendor_id = fs_jstr(data, "vendor_id");
	const char *campaign = fs_jstr(data, "campaign");
	char day[11], *tag;

	*label = *note = *why = NULL;
	/* A field shows the piece's latest status, never an older one that arrived late. */
	if (r->contact_id == NULL)
		*why = fs_xstrdup("no contact_id: no Jobber client to write to");
	else
		*label = fs_push_status_label(p, data, latest, why);
	if (*why == NULL) {
		fs_push_day(fs_jstr(ev, "occurred_at"), day);
		tag = note_tag(r->event_id);
		*note = fs_xasprintf("Mail %s%s%s (piece %s%s%s) %s", *label, *day ? " on " : "",
				     day, vendor_id ? vendor_id : "-", campaign ? ", campaign " : "",
				     campaign ? campaign : "", tag);
		free(tag);
	}
	jv_free(data);
	jv_free(ev);
	return *why ? -1 : 0;
}

/* The mutation that writes one row: the custom field, or a note. */
static void
row_request(struct fs_push *p, struct jb_req *q, const char *label, const char *note)
{
	const struct jb_push *s = p->settings;
	const char *client = q->r.rows[0].contact_id;
	jv vars = jv_object_set(jv_object(), jv_string("client"), jv_string(client)), body;
	const char *query;

	if (s->field_id[0]) {
		query = "mutation MailStatus($client: EncodedId!, $field: EncodedId!, $value: String!) { "
			"clientEdit(clientId: $client, input: {customFields: [{customFieldConfigurationId: $field, "
			"valueText: $value}]}) { client { id } userErrors { message path } } }";
		vars = jv_object_set(vars, jv_string("field"), jv_string(s->field_id));
		vars = jv_object_set(vars, jv_string("value"), jv_string(label));
		q->wrote = jv_object_set(jv_object(), jv_string("custom_field"),
					 jv_object_set(jv_object(), jv_string(s->field), jv_string(label)));
		q->r.j.bucket = "POST /api/graphql clientEdit";
	} else {
		query = "mutation MailNote($client: EncodedId!, $message: String!) { clientCreateNote(clientId: "
			"$client, input: {message: $message}) { clientNote { id } userErrors { message path } } }";
		vars = jv_object_set(vars, jv_string("message"), jv_string(note));
		q->wrote = jv_object_set(jv_object(), jv_string("note"), jv_string(note));
		q->r.j.bucket = "POST /api/graphql clientCreateNote";
	}
	body = jv_object_set(jv_object(), jv_string("query"), jv_string(query));
	body = jv_object_set(body, jv_string("variables"), vars);
	q->r.j.body = fs_jdump(body);
	jv_free(body);
	q->r.j.url = fs_xasprintf("%s%s", p->url, GRAPHQL);
	q->r.j.method = "POST";
	fs_push_job_header(&q->r.j, s->version);
	q->gen = auth.gen;
}

/* The next row's request; a row that writes nothing is dead-lettered, one whose note is there is settled. */
static struct fs_push_job *
jobber_write_back(struct fs_push *p)
{
	struct jb_push *s = p->settings;
	struct fs_outbox_row *r;

	while ((r = fs_push_next_row(p)) != NULL) {
		struct jb_req *q = (struct jb_req *)fs_push_req_new(1, sizeof *q);
		char *label, *note, *why;
		int there = 0;

		q->wrote = jv_null();
		q->r.clear = req_clear;
		fs_push_req_take(&q->r, r);
		r = &q->r.rows[0];
		/* Looked up with the first row: a run with nothing to write asks nothing. */
		if (!s->looked && find_field(p, s) != 0) {
			fs_push_req_free(&q->r);
			return NULL;
		}
		if (row_status(p, r, s->field_id[0] != '\0', &label, &note, &why) != 0) {
			fs_push_dead_local(p, &q->r, why);
			fs_push_req_free(&q->r);
			free(why);
			continue;
		}
		/* A row claimed before, or tried, may have left its note: look before writing another. */
		if (!s->field_id[0] && (r->claims > 1 || r->attempts > 0))
			there = note_there(p, r->contact_id, r->event_id);
		if (there != 0) {
			if (there > 0) {
				q->r.j.http_status = 200;
				q->r.j.bucket = "POST /api/graphql client.notes";
				q->r.tries[0]++;
				fs_push_attempt(&q->r, 0, NULL);
				jv_free(q->wrote);
				q->wrote = jv_object_set(jv_object(), jv_string("note"), jv_string(note));
				q->wrote = jv_object_set(q->wrote, jv_string("found"), jv_true());
				if (fs_push_row_written(p, &q->r, 0, jv_copy(q->wrote)) < 0)
					p->stop = true;
			}
			fs_push_req_free(&q->r);
			free(label);
			free(note);
			if (p->stop)
				return NULL;
			continue;
		}
		row_request(p, q, label, note);
		free(label);
		free(note);
		sender_token(p);
		bucket_sleep(bucket_wait(bucket.last_cost), 0);
		return &q->r.j;
	}
	return NULL;
}

/* A 401: the token refreshed once for all the requests sent with it, then this one sent again. */
static int
refused(struct fs_push *p, struct jb_req *q)
{
	int status = FS_EXIT_USAGE;

	if (auth.oauth.file == NULL || (q->gen == auth.gen && q->refreshed)) {
		if (!p->stop)
			fs_err("%s: HTTP 401: the access token was refused; check %s", p->target,
			       auth.oauth.file ? "oauth_file (re-authorise the app)" : fs_push_setting(p, "token_env"));
	} else if (q->gen < auth.gen || auth_refresh(&p->easy, &status) == 0) {
		/* Refreshed now, or by another request since this one was sent. */
		q->refreshed |= q->gen == auth.gen - 1;
		q->gen = auth.gen;
		sender_token(p);
		return 1;
	}
	fs_push_fail(p, status);
	p->stop = true;
	fs_push_req_free(&q->r);
	return 0;	/* the rows stay pending, claims are released at the end */
}

/* A row's failure: retried when it may pass, else its dead letter. */
static int
failed(struct fs_push *p, struct jb_req *q, const char *error, bool transient)
{
	int rc;

	fs_push_attempt(&q->r, 0, error);
	rc = transient ? fs_push_row_retry(p, &q->r, 0, error) : fs_push_row_dead(p, &q->r, 0, error);
	return rc;
}

/* A mutation's answer: written, throttled (sent again after the wait), or the row's failure. */
static int
jobber_answer(struct fs_push *p, struct fs_push_job *j)
{
	struct jb_req *q = (struct jb_req *)j->user;
	const char *root = strstr(j->body, "clientEdit(") ? "clientEdit" : "clientCreateNote";
	jv ans, errs;
	char msg[512], *e = NULL;
	const char *code;
	int rc;

	if (j->http_status == 401)
		return refused(p, q);
	q->r.tries[0]++;
	if (j->http_status != 200) {
		e = fs_push_answer_error(j);
		rc = failed(p, q, e, fs_push_transient(j->http_status));
		goto out;
	}
	ans = jv_parse(j->resp.data ? j->resp.data : "");
	bucket_learn(ans);
	snprintf(msg, sizeof msg, "data.%s.userErrors", root);
	errs = fs_jget_path(ans, msg);
	code = error_code(ans, msg, sizeof msg);
	if (code && strcmp(code, "THROTTLED") == 0 && ++q->throttled < THROTTLED_MAX) {
		q->r.tries[0]--;	/* waiting for the bucket is no attempt */
		jv_free(errs);
		jv_free(ans);
		bucket_sleep(bucket_wait(bucket.last_cost), 100);
		return 1;
	}
	if (code) {
		e = fs_xasprintf("%s%s%s", msg, *code ? " " : "", code);
		rc = failed(p, q, e, strcmp(code, "THROTTLED") == 0);
	} else if (jv_get_kind(errs) == JV_KIND_ARRAY && jv_array_length(jv_copy(errs)) > 0) {
		jv first = jv_array_get(jv_copy(errs), 0);

		e = fs_xasprintf("%s: %s", root, fs_jstr(first, "message") ? fs_jstr(first, "message") : "refused");
		jv_free(first);
		rc = failed(p, q, e, false);
	} else if (jv_get_kind(errs) != JV_KIND_ARRAY) {
		e = fs_xasprintf("%s: an answer without userErrors", root);
		rc = failed(p, q, e, true);
	} else {
		p->accepted++;
		fs_push_attempt(&q->r, 0, NULL);
		rc = fs_push_row_written(p, &q->r, 0, jv_copy(q->wrote));
	}
	jv_free(errs);
	jv_free(ans);
out:
	free(e);
	fs_push_req_free(&q->r);
	if (rc < 0)
		p->stop = true;
	return 0;
}

/* --dry-run: what one event would write (the look-up of the custom field is not made). */
static void
jobber_plan(struct fs_push *p, jv ev, const char *note)
{
	const struct jb_push *s = p->settings;
	jv data = fs_jget(ev, "data");
	struct fs_outbox_row r = {.contact_id = (char *)fs_jstr(data, "contact_id"), .event_id = (char *)fs_jstr(ev, "id")};
	char *label, *text, *why;

	r.line = fs_jdump(ev);
	if (row_status(p, &r, true, &label, &text, &why) == 0) {
		p->planned++;
		printf("would write client %s: %s (custom field '%s', else a note)%s\n", r.contact_id, label, s->field,
		       note);
		free(label);
		free(text);
	} else {
		printf("would dead-letter %s: %s\n", r.event_id, why);
		free(why);
	}
	free(r.line);
	jv_free(data);
}

/* Mail status written back to the client. */
static const char *const jb_takes[] = {"mail.status", NULL};

const struct fs_vendor fs_vendor_jobber = {
	.kind = "jobber",
	.flags = FS_VENDOR_INBOX | FS_VENDOR_OWN_401,
	.streams = streams,
	.saved_stream = "clients",
	.start = jobber_start,
	.describe = jobber_describe,
	.inbox = jobber_inbox,
	.pull = jobber_pull,
	.after = jobber_after,
	.takes = jb_takes,
	.push_start = jobber_push_start,
	.write_back = jobber_write_back,
	.answer = jobber_answer,
	.plan = jobber_plan,
	.push_free = jobber_push_free,
	.trigger_property = jobber_property,
	.jobs_object = "jobs",
};
