/*
 * fs-pull: fetch what changed at a source since the last committed run and
 * write it as records, each batch followed by the checkpoint that covers it.
 *
 *   hubspot     the webhook inbox (contact ids -> batch read), then CRM v3
 *               search per stream (contacts, calls, emails, meetings, tasks,
 *               deals won), keyset-paged on (last-modified time, id)
 *   lob-events  the webhook inbox; in polling mode also the pieces in flight
 *   csv:FILE    one record per row (libcsv); ndjson:FILE one per line
 *
 * fs-pull commits no cursor unless --commit: the command that ends the
 * pipeline commits each checkpoint once what came before it is durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

#define PAGE 200		/* search page (HubSpot's maximum) */
#define ASSOC_PAGE 100		/* engagements and deals: one association batch a page */
#define BATCH 100		/* batch read inputs */
#define INBOX_ROWS 100		/* inbox rows per checkpoint */
#define POLL_PIECES 50		/* polled pieces per checkpoint */
#define PRUNE_BATCH 5000	/* rows a retention transaction */

struct csv_describe;

struct pull {
	struct fs_cli *cli;
	struct fs_endpoint ep;
	const char *name;	/* the source's name on the records */
	const char *as;
	char now[21];
	int64_t since_ms;	/* -1 when no --since */
	int64_t lookback_ms;	/* HubSpot search streams re-read this much before the cursor */
	long limit;		/* per stream; 0 for none */
	bool commit, dry_run, describe;
	struct csv_describe *desc;	/* --describe of a CSV */
	struct fs_http http;
	bool http_ready;
	int status;
	long records, dead, checkpoints;
	int64_t started;
	/* csv */
	char **head;
	size_t *head_len;
	int nhead;
	struct fs_buf line, hdr_csv;
	struct fs_buf rec_head, rec_mid;	/* a record up to its key, and from it to data */
	/* search records wait here for the checkpoint that covers them */
	struct fs_buf held;
	bool hold;
	const char *stream;
	bool in_txn;
	/* retention, in seconds; -1 for never */
	int64_t inbox_keep, keys_keep, polled_keep;
	int64_t pruned_bodies, pruned_rows, pruned_events;	/* what this run pruned */
};

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-pull [-qvV] [-c config] [-s state] [--as name] [--commit] [--dry-run]\n"
		   "               [--limit n] [--print-config] [--since time] source\n"
		   "       fs-pull [-c config] --describe source\n");
	exit(status);
}

static void
fail(struct pull *p, int status)
{
	if (p->status == FS_EXIT_OK || p->status == FS_EXIT_DLQ)
		if (status > p->status)
			p->status = status;
}

/* An error, or a reader that closed the pipe: either way, stop pulling. */
static bool
failed(const struct pull *p)
{
	return p->status > FS_EXIT_DLQ || fs_stdout_closed();
}

/* ---- output ---- */

/* Standard output, once flushed, goes to /dev/null: the reader sees its end. */
static void
detach_stdout(void)
{
	int fd = open("/dev/null", O_WRONLY);

	if (fd >= 0 && dup2(fd, STDOUT_FILENO) >= 0 && fd != STDOUT_FILENO)
		close(fd);
}

static void
progress(struct pull *p, const char *stream, long pages, bool last)
{
	double secs = (double)(fs_mono_ms() - p->started) / 1000.0;

	if (!fs_progress_enabled())
		return;
	fprintf(stderr, "\r%s: %s %s: %ld pages, %ld records, %.1f requests/s%s", fs_progname, p->name,
		stream, pages, p->records, secs > 0 ? (double)p->http.requests / secs : 0.0, last ? "\n" : "");
}

static int
flush_out(struct pull *p)
{
	fs_step("write");
	fail(p, fs_stdout_flush(FS_EXIT_OK));
	return ferror(stdout) ? -1 : 0;
}

static void
emit_record(struct pull *p, const char *stream, const char *key, jv data)
{
	jv r = jv_object(), s;

	r = jv_object_set(r, jv_string("type"), jv_string("record"));
	r = jv_object_set(r, jv_string("source"), jv_string(p->name));
	r = jv_object_set(r, jv_string("stream"), jv_string(stream));
	r = jv_object_set(r, jv_string("key"), jv_string(key));
	r = jv_object_set(r, jv_string("fetched_at"), jv_string(p->now));
	r = jv_object_set(r, jv_string("data"), data);
	s = jv_dump_string(r, 0);
	if (p->hold) {
		fs_buf_adds(&p->held, jv_string_value(s));
		fs_buf_addc(&p->held, '\n');
	} else {
		fputs(jv_string_value(s), stdout);
		putchar('\n');
	}
	jv_free(s);
	p->records++;
}

/* After the records it covers; with --commit, committed once they are written. */
static int
emit_checkpoint(struct pull *p, const char *stream, const char *cursor)
{
	jv c = jv_object(), s;

	c = jv_object_set(c, jv_string("type"), jv_string("checkpoint"));
	c = jv_object_set(c, jv_string("source"), jv_string(p->name));
	c = jv_object_set(c, jv_string("stream"), jv_string(stream));
	c = jv_object_set(c, jv_string("cursor"), jv_string(cursor));
	if (p->held.len) {
		fwrite(p->held.data, 1, p->held.len, stdout);
		p->held.len = 0;
	}
	s = jv_dump_string(c, 0);
	fputs(jv_string_value(s), stdout);
	putchar('\n');
	jv_free(s);
	p->checkpoints++;
	if (flush_out(p) != 0)
		return -1;
	if (p->commit) {
		struct fs_state *st = &p->cli->st;

		if (fs_state_begin(st) != 0 || fs_cursor_commit(st, p->name, stream, cursor, p->cli->run_id) != 0 ||
		    fs_state_commit(st) != 0) {
			fs_state_rollback(st);
			fail(p, FS_EXIT_STATE);
			return -1;
		}
	}
	return 0;
}

static int
dead(struct pull *p, const char *bytes, size_t len, long lineno, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* One bad input: a line on stderr and a DLQ entry; the run goes on. */
static int
dead(struct pull *p, const char *bytes, size_t len, long lineno, const char *fmt, ...)
{
	struct fs_dead d = {0};
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	p->dead++;
	if (p->describe)
		return 0;	/* a listing leaves what does not map out */
	fs_err("%s", reason);
	fail(p, FS_EXIT_DLQ);
	d.command = "fs-pull";
	d.run_id = p->cli->run_id;
	d.reason = reason;
	d.source = p->name;
	d.bytes = bytes;
	d.len = len;
	d.lineno = lineno;
	if (fs_state_begin(&p->cli->st) != 0 || fs_dlq_add(&p->cli->st, &d) < 0 ||
	    fs_state_commit(&p->cli->st) != 0) {
		fs_state_rollback(&p->cli->st);
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

/* ---- HTTP helpers ---- */

/* A request whose answer must be JSON with want_key; NULL after a failure (said). */
static jv
call(struct pull *p, const char *method, const char *path, jv body, const char *want_key, long *status)
{
	struct fs_http_response r;
	char *text = jv_is_valid(body) ? fs_jdump(body) : NULL;
	int rc = fs_http_request(&p->http, method, path, text, want_key, &r);
	jv out;

	jv_free(body);
	free(text);
	*status = r.status;
	if (rc == 1) {
		fs_http_response_free(&r);
		return jv_invalid();
	}
	if (rc != 0) {
		fs_http_response_free(&r);
		fail(p, FS_EXIT_REMOTE);
		return jv_invalid();
	}
	out = r.body.len ? jv_parse_sized(r.body.data, (int)r.body.len) : jv_null();
	if (!jv_is_valid(out)) {
		jv_free(out);
		out = jv_null();
	}
	if (r.status >= 400 && r.status != 404) {
		const char *msg = fs_jstr(out, "message");
		jv err = fs_jget(out, "error");

		if (msg == NULL)
			msg = fs_jstr(err, "message");
		fs_err("%s: %s %s: HTTP %ld%s%s", p->name, method, path, r.status, msg ? ": " : "",
		       msg ? msg : "");
		jv_free(err);
		jv_free(out);
		fs_http_response_free(&r);
		fail(p, FS_EXIT_REMOTE);
		return jv_invalid();
	}
	fs_http_response_free(&r);
	return out;
}

/* The source's url, rate, attempts and token (token_env, or token_file). */
static int
http_setup(struct pull *p, bool basic)
{
	const char *at = fs_setting(&p->ep, "attempts"), *env = fs_setting(&p->ep, "token_env");
	char *token;

	if (fs_http_init(&p->http, p->name, fs_setting(&p->ep, "url"), fs_setting(&p->ep, "rate")) != 0)
		return -1;
	p->http_ready = true;
	p->http.dry_run = p->dry_run;
	if ((p->http.attempts = atoi(at)) < 1) {
		fs_err("source '%s': attempts must be 1 or more, not '%s'", p->name, at);
		return -1;
	}
	token = fs_endpoint_secret(&p->ep, "token_env", "token_file");
	if (token == NULL && !p->dry_run) {
		if (env == NULL)
			fs_err("source '%s': no token in its token_file", p->name);
		else
			fs_err("source '%s': no token: $%s is not set", p->name, env);
		return -1;
	}
	if (basic)
		fs_http_basic(&p->http, token ? token : "");
	else
		fs_http_bearer(&p->http, token ? token : "");
	fs_secret_free(token);
	return 0;
}

/* ---- HubSpot ---- */

/* Milliseconds since the epoch of an RFC 3339 time (fraction kept to ms). */
static int
time_ms(const char *s, int64_t *ms)
{
	fs_time t;
	int frac = 0, digits = 0;

	if (s == NULL || fs_time_parse(s, &t) != 0)
		return -1;
	if (s[19] == '.')
		for (const char *q = s + 20; *q >= '0' && *q <= '9'; q++)
			if (digits < 3)
				frac = frac * 10 + (*q - '0'), digits++;
	while (digits && digits < 3)
		frac *= 10, digits++;
	*ms = (int64_t)t * 1000 + frac;
	return 0;
}

static void
format_ms(int64_t ms, char out[32])
{
	char base[21];
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;

	fs_time_format(secs, base);
	snprintf(out, 32, "%.19s.%03dZ", base, (int)(ms - secs * 1000));
}

struct hs_cursor {
	bool set, inclusive;	/* inclusive: >= t, no id (from --since) */
	int64_t t, id;
	int64_t batch;		/* the checkpoint's number (look-back), 0 for none */
};

/*
 * "2026-11-29T11:00:00.123Z/102": everything up to that (time, id) is done;
 * "…/102/7" is the 7th checkpoint of a stream with a look-back margin.
 */
static int
cursor_parse(const char *s, struct hs_cursor *c)
{
	const char *slash = strchr(s, '/');
	char tbuf[64], *end;

	memset(c, 0, sizeof *c);
	if (slash == NULL || (size_t)(slash - s) >= sizeof tbuf)
		return -1;
	memcpy(tbuf, s, (size_t)(slash - s));
	tbuf[slash - s] = '\0';
	if (time_ms(tbuf, &c->t) != 0)
		return -1;
	errno = 0;
	c->id = strtoll(slash + 1, &end, 10);
	if (errno || end == slash + 1 || (*end && *end != '/'))
		return -1;
	if (*end == '/') {
		const char *b = end + 1;

		c->batch = strtoll(b, &end, 10);
		if (errno || end == b || *end || c->batch < 0)
			return -1;
	}
	c->set = true;
	return 0;
}

static char *
cursor_text(int64_t t, int64_t id, int64_t batch)
{
	char ts[32];

	format_ms(t, ts);
	if (batch > 0)
		return fs_xasprintf("%s/%lld/%lld", ts, (long long)id, (long long)batch);
	return fs_xasprintf("%s/%lld", ts, (long long)id);
}

/*
 * One search stream's run.  With a look-back margin the first query starts
 * that long before the committed cursor (floor): what is at or before the
 * floor and was emitted before (hubspot_seen) is skipped, what became
 * visible since is emitted, and checkpoints never go back past the floor.
 */
struct hs_run {
	struct hs_cursor floor;	/* the committed cursor */
	int64_t lookback;	/* ms; 0 for none */
	bool filter;		/* skip pairs at or before the floor that were emitted */
	int64_t batch;		/* the number of the last checkpoint */
	long fresh;		/* records emitted since the last checkpoint */
};

static bool
at_or_before(int64_t t, int64_t id, const struct hs_cursor *c)
{
	return c->set && (t < c->t || (t == c->t && id <= c->id));
}

struct hs_stream {
	const char *name;	/* contacts, calls, ..., deals; its properties are the setting properties.NAME */
	const char *modprop;
	bool assoc;		/* add the associated contacts */
};

static const struct hs_stream hs_streams[] = {
	{"contacts", "lastmodifieddate", false},
	{"calls", "hs_lastmodifieddate", true},
	{"emails", "hs_lastmodifieddate", true},
	{"meetings", "hs_lastmodifieddate", true},
	{"tasks", "hs_lastmodifieddate", true},
	{"deals", "hs_lastmodifieddate", true},
	{NULL, NULL, false},
};

static jv
split_list(const char *s)
{
	jv a = jv_array();
	char *copy = fs_xstrdup(s), *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t = fs_trim(t);
		if (*t)
			a = jv_array_append(a, jv_string(t));
	}
	free(copy);
	return a;
}

/* A stream's properties.STREAM setting (contacts: else properties); contacts also the
 * status_property and suppress_property, unless the list has them. */
static jv
stream_props(struct pull *p, const struct hs_stream *s)
{
	char key[64];
	const char *extra[2] = {fs_setting(&p->ep, "status_property"), fs_setting(&p->ep, "suppress_property")};
	jv a;

	snprintf(key, sizeof key, "properties.%s", s->name);
	a = split_list(fs_setting(&p->ep, key));
	for (int k = 0; k < 2 && strcmp(s->name, "contacts") == 0; k++) {
		bool listed = false;

		if (extra[k] == NULL)
			continue;
		jv_array_foreach(a, i, v) {
			(void)i;
			listed |= strcmp(jv_string_value(v), extra[k]) == 0;
			jv_free(v);
		}
		if (!listed)
			a = jv_array_append(a, jv_string(extra[k]));
	}
	return a;
}

static jv
filter(const char *prop, const char *op, jv value)
{
	jv f = jv_object();

	f = jv_object_set(f, jv_string("propertyName"), jv_string(prop));
	f = jv_object_set(f, jv_string("operator"), jv_string(op));
	if (jv_get_kind(value) == JV_KIND_ARRAY)
		f = jv_object_set(f, jv_string("values"), value);
	else
		f = jv_object_set(f, jv_string("value"), value);
	return f;
}

#define NOT_IN_MAX 100		/* values of one NOT_IN filter */
#define PARTIAL_MAX 500		/* ids of a partly emitted timestamp, at most (5 NOT_IN filters) */

struct partial {		/* a timestamp whose records are only partly out */
	int64_t t, id[PARTIAL_MAX];
	int n;
};

/* How many ids a query can exclude: one group holds 6 filters, one is the time (and one the deal stage). */
static int
partial_cap(const struct hs_stream *s)
{
	return strcmp(s->name, "deals") == 0 ? 4 * NOT_IN_MAX : 5 * NOT_IN_MAX;
}

static int64_t
partial_max(const struct partial *part)
{
	int64_t m = -1;

	for (int i = 0; i < part->n; i++)
		if (part->id[i] > m)
			m = part->id[i];
	return m;
}

static bool
partial_has(const struct partial *part, int64_t id)
{
	for (int i = 0; i < part->n; i++)
		if (part->id[i] == id)
			return true;
	return false;
}

static jv
num_text(int64_t v)
{
	return jv_string_fmt("%lld", (long long)v);
}

/* The search body: after the cursor, or in tie mode every id after it at one time. */
/*
 * The search body.  Normal: after the cursor, or, while a timestamp is only
 * partly emitted, that timestamp on minus the ids already out (NOT_IN).
 * Tie mode: one timestamp, by id, after an id.
 */
static jv
search_body(struct pull *p, const struct hs_stream *s, const struct hs_cursor *c, bool tie, int limit,
	    const struct partial *part)
{
	jv body = jv_object(), groups = jv_array(), sort = jv_object();
	const char *won = fs_setting(&p->ep, "won_stages");

	if (tie) {
		jv g = jv_array_append(jv_array(), filter(s->modprop, "EQ", num_text(c->t)));

		if (c->id >= 0)
			g = jv_array_append(g, filter("hs_object_id", "GT", num_text(c->id)));
		groups = jv_array_append(groups, g);
	} else if (part->n > 0) {
		jv g = jv_array_append(jv_array(), filter(s->modprop, "GTE", num_text(part->t)));

		for (int off = 0; off < part->n; off += NOT_IN_MAX) {
			jv ids = jv_array();

			for (int i = off; i < part->n && i < off + NOT_IN_MAX; i++)
				ids = jv_array_append(ids, num_text(part->id[i]));
			g = jv_array_append(g, filter("hs_object_id", "NOT_IN", ids));
		}
		groups = jv_array_append(groups, g);
	} else if (c->set && c->inclusive) {
		groups = jv_array_append(groups, jv_array_append(jv_array(), filter(s->modprop, "GTE", num_text(c->t))));
	} else if (c->set) {
		groups = jv_array_append(groups, jv_array_append(jv_array(), filter(s->modprop, "GT", num_text(c->t))));
		groups = jv_array_append(groups, jv_array_append(jv_array_append(jv_array(),
			filter(s->modprop, "EQ", num_text(c->t))), filter("hs_object_id", "GT", num_text(c->id))));
	}
	if (strcmp(s->name, "deals") == 0) {
		jv stages = split_list(won), ng = jv_array();

		if (jv_array_length(jv_copy(groups)) == 0)
			groups = jv_array_append(groups, jv_array());
		jv_array_foreach(groups, i, g) {
			(void)i;
			ng = jv_array_append(ng, jv_array_append(g, filter("dealstage", "IN", jv_copy(stages))));
		}
		jv_free(groups);
		jv_free(stages);
		groups = ng;
	}
	if (jv_array_length(jv_copy(groups)) > 0) {
		jv fg = jv_array();

		jv_array_foreach(groups, i, g) {
			(void)i;
			fg = jv_array_append(fg, jv_object_set(jv_object(), jv_string("filters"), g));
		}
		body = jv_object_set(body, jv_string("filterGroups"), fg);
	}
	jv_free(groups);
	sort = jv_object_set(sort, jv_string("propertyName"), jv_string(tie ? "hs_object_id" : s->modprop));
	sort = jv_object_set(sort, jv_string("direction"), jv_string("ASCENDING"));
	body = jv_object_set(body, jv_string("sorts"), jv_array_append(jv_array(), sort));
	body = jv_object_set(body, jv_string("properties"), stream_props(p, s));
	body = jv_object_set(body, jv_string("limit"), jv_number(limit));
	return body;
}

struct item {
	int64_t t, id;
	jv obj;
};

static int
by_time_id(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static int
item_of(struct pull *p, const struct hs_stream *s, jv obj, struct item *it)
{
	jv props = fs_jget(obj, "properties");
	const char *id = fs_jstr(obj, "id"), *mod = fs_jstr(props, s->modprop);
	char *end;

	if (mod == NULL)
		mod = fs_jstr(obj, "updatedAt");
	it->obj = obj;
	it->id = id ? strtoll(id, &end, 10) : -1;
	if (id == NULL || *end || it->id < 0 || time_ms(mod, &it->t) != 0) {
		fs_err("%s: %s search: a result without a numeric \"id\" and a \"%s\" time", p->name, s->name,
		       s->modprop);
		jv_free(props);
		return -1;
	}
	jv_free(props);
	return 0;
}

/* Adds "associations":{"contacts":{"results":[{"id","type"}]}} to each item. */
static int
add_associations(struct pull *p, const struct hs_stream *s, struct item *it, int n)
{
	jv inputs = jv_array(), body, ans, by = jv_object();
	char path[128], type[48];
	long status;

	if (n == 0)
		return 0;
	snprintf(type, sizeof type, "%.*s_to_contact", (int)strlen(s->name) - 1, s->name);
	for (int i = 0; i < n; i++)
		inputs = jv_array_append(inputs, jv_object_set(jv_object(), jv_string("id"),
							       jv_string_fmt("%lld", (long long)it[i].id)));
	body = jv_object_set(jv_object(), jv_string("inputs"), inputs);
	snprintf(path, sizeof path, "/crm/v4/associations/%s/contacts/batch/read", s->name);
	ans = call(p, "POST", path, body, "results", &status);
	if (!jv_is_valid(ans)) {
		jv_free(by);
		return -1;
	}
	jv results = fs_jget(ans, "results");
	jv_array_foreach(results, i, r) {
		jv from = fs_jget(r, "from"), to = fs_jget(r, "to"), list = jv_array();
		const char *fid = fs_jstr(from, "id");

		(void)i;
		if (jv_get_kind(to) == JV_KIND_ARRAY)
			jv_array_foreach(to, j, t) {
				jv oid = fs_jget(t, "toObjectId");

				(void)j;
				if (jv_get_kind(oid) == JV_KIND_NUMBER)
					list = jv_array_append(list, jv_object_set(jv_object_set(jv_object(),
						jv_string("id"), jv_string_fmt("%.0f", jv_number_value(oid))),
						jv_string("type"), jv_string(type)));
				else if (jv_get_kind(oid) == JV_KIND_STRING)
					list = jv_array_append(list, jv_object_set(jv_object_set(jv_object(),
						jv_string("id"), jv_copy(oid)), jv_string("type"), jv_string(type)));
				jv_free(oid);
				jv_free(t);
			}
		if (fid)
			by = jv_object_set(by, jv_string(fid), list);
		else
			jv_free(list);
		jv_free(from);
		jv_free(to);
		jv_free(r);
	}
	jv_free(results);
	jv_free(ans);
	for (int i = 0; i < n; i++) {
		char id[32];
		jv list;

		snprintf(id, sizeof id, "%lld", (long long)it[i].id);
		list = jv_object_get(jv_copy(by), jv_string(id));
		if (!jv_is_valid(list)) {
			jv_free(list);
			list = jv_array();
		}
		if (jv_array_length(jv_copy(list)) > 0)
			it[i].obj = jv_object_set(it[i].obj, jv_string("associations"),
				jv_object_set(jv_object(), jv_string("contacts"),
					      jv_object_set(jv_object(), jv_string("results"), list)));
		else
			jv_free(list);
	}
	jv_free(by);
	return 0;
}

/*
 * Emits items [0, n) (up to --limit), but those the look-back finds were
 * emitted before; returns how many were dealt with (emitted or skipped),
 * -1 on failure.  The pairs within the margin are recorded, and committed,
 * before the records go out.
 */
static int
emit_items(struct pull *p, const struct hs_stream *s, struct hs_run *run, struct item *it, int n, long *count)
{
	struct fs_state *st = &p->cli->st;
	struct item *sel;
	int *idx, k = 0, done = 0;
	char key[32];

	if (n <= 0 || (p->limit > 0 && *count >= p->limit))
		return 0;
	sel = fs_xmalloc((size_t)n * sizeof *sel);
	idx = fs_xmalloc((size_t)n * sizeof *idx);
	if (run->lookback > 0 && !p->dry_run && fs_state_begin(st) != 0)
		goto state;
	for (done = 0; done < n && (p->limit == 0 || *count + k < p->limit); done++) {
		const struct item *x = &it[done];

		if (run->lookback > 0 && !p->dry_run) {
			if (run->filter && at_or_before(x->t, x->id, &run->floor)) {
				int seen = fs_lookback_seen(st, p->name, s->name, x->id, x->t);

				if (seen < 0)
					goto state;
				if (seen) {
					fs_debug("%s %s: %lld at %lld was emitted before: not again", p->name, s->name,
						 (long long)x->id, (long long)x->t);
					continue;
				}
			}
		}
		sel[k] = *x;
		idx[k++] = done;
	}
	/* The checkpoint that covers them is at the last item dealt with or later:
	 * pairs older than its margin can never be read again. */
	for (int j = 0; run->lookback > 0 && !p->dry_run && j < k; j++)
		if (sel[j].t >= it[done - 1].t - run->lookback &&
		    fs_lookback_record(st, p->name, s->name, sel[j].id, sel[j].t, run->batch + 1) != 0)
			goto state;
	if (run->lookback > 0 && !p->dry_run && fs_state_commit(st) != 0)
		goto state;
	if (s->assoc && k > 0) {
		if (add_associations(p, s, sel, k) != 0) {
			done = -1;
			goto out;
		}
		for (int j = 0; j < k; j++)
			it[idx[j]].obj = sel[j].obj;
	}
	for (int j = 0; j < k; j++) {
		snprintf(key, sizeof key, "%lld", (long long)sel[j].id);
		emit_record(p, s->name, key, jv_copy(sel[j].obj));
	}
	*count += k;
	run->fresh += k;
out:
	free(sel);
	free(idx);
	return done;
state:
	fs_state_rollback(st);
	fail(p, FS_EXIT_STATE);
	done = -1;
	goto out;
}

/*
 * Everything up to (t, id) is out: the next query starts after it, and a
 * checkpoint says so, unless it would say nothing new (a look-back page of
 * records all emitted before, at or before the committed cursor).
 */
static int
checkpoint_at(struct pull *p, const struct hs_stream *s, struct hs_run *run, struct hs_cursor *c, int64_t t,
	      int64_t id)
{
	char *text;
	int rc;

	c->set = true;
	c->inclusive = false;
	c->t = t;
	c->id = id;
	if (at_or_before(t, id, &run->floor)) {
		if (run->fresh == 0)
			return 0;
		t = run->floor.t;	/* late records: the cursor stays where it was */
		id = run->floor.id;
	}
	run->fresh = 0;
	if (run->lookback > 0)
		run->batch++;
	text = cursor_text(t, id, run->lookback > 0 ? run->batch : 0);
	rc = emit_checkpoint(p, s->name, text);
	free(text);
	return rc;
}

static bool
has_next(jv ans)
{
	jv paging = fs_jget(ans, "paging"), next = fs_jget(paging, "next");
	bool yes = jv_get_kind(next) == JV_KIND_OBJECT;

	jv_free(next);
	jv_free(paging);
	return yes;
}

/*
 * Keyset paging: every page is a new query for what comes after what was
 * emitted, so the 10,000-result cap of one query never applies and records
 * that change between pages cannot shift an offset.  HubSpot does not
 * promise the order of records that share a timestamp, so nothing relies on
 * it: a full page's last timestamp may continue on the next page; its
 * records go out, and the next query excludes their ids (NOT_IN) at that
 * timestamp.  The checkpoint only ever covers whole timestamps, or a prefix
 * by id of one timestamp read in tie mode (that timestamp alone, sorted by
 * id), which serves timestamps shared by more records than fit the list.
 */
static int
pull_stream(struct pull *p, const struct hs_stream *s)
{
	struct hs_cursor c = {0}, committed = {0};
	struct hs_run run = {0};
	struct partial part = {0};
	char *saved = NULL, path[96];
	bool tie = false;
	long count = 0, pages = 0;
	int limit = s->assoc ? ASSOC_PAGE : PAGE;

	if (fs_cursor_get(&p->cli->st, p->name, s->name, &saved) != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (saved && cursor_parse(saved, &committed) != 0) {
		fs_err("%s: committed cursor of stream %s is not TIME/ID: '%s'", p->name, s->name, saved);
		free(saved);
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	free(saved);
	run.lookback = p->lookback_ms;
	run.batch = committed.batch;
	if (run.lookback > 0 && !p->dry_run &&
	    fs_lookback_forget(&p->cli->st, p->name, s->name, committed.batch,
			       committed.set ? committed.t - run.lookback : 0) != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (p->since_ms >= 0) {
		c.set = c.inclusive = true;
		c.t = p->since_ms;
	} else if (committed.set && run.lookback > 0) {
		/* Read the margin again: what the search index showed late comes now. */
		run.floor = committed;
		run.filter = true;
		c.set = c.inclusive = true;
		c.t = committed.t - run.lookback;
	} else {
		c = committed;
	}
	snprintf(path, sizeof path, "/crm/v3/objects/%s/search", s->name);
	p->hold = true;
	while (!failed(p) && (p->limit == 0 || count < p->limit)) {
		long status;
		jv ans = call(p, "POST", path, search_body(p, s, &c, tie, limit, &part), "results", &status);
		jv results;
		struct item *it;
		int n, i, rc = 0;
		bool done = false, final_page;

		if (!jv_is_valid(ans) || p->dry_run) {
			jv_free(ans);
			break;
		}
		pages++;
		results = fs_jget(ans, "results");
		if (jv_get_kind(results) != JV_KIND_ARRAY) {
			fs_err("%s: %s search: \"results\" is not a list", p->name, s->name);
			jv_free(results);
			jv_free(ans);
			fail(p, FS_EXIT_REMOTE);
			break;
		}
		n = jv_array_length(jv_copy(results));
		/* A full page without paging.next is the query's last: no need to ask again. */
		final_page = n < limit || !has_next(ans);
		it = fs_xmalloc((size_t)(n ? n : 1) * sizeof *it);
		for (i = 0; i < n; i++)
			if (item_of(p, s, jv_array_get(jv_copy(results), i), &it[i]) != 0) {
				jv_free(it[i].obj);
				fail(p, FS_EXIT_REMOTE);
				break;
			}
		jv_free(results);
		jv_free(ans);
		if (i < n) {
			while (i-- > 0)
				jv_free(it[i].obj);
			free(it);
			break;
		}
		qsort(it, (size_t)n, sizeof *it, by_time_id);
		if (tie) {
			/* One timestamp, by id: what is not out yet goes, the cursor moves to the last id. */
			int64_t last = n > 0 ? it[n - 1].id : 0;
			int k = 0, m;

			for (i = 0; i < n; i++)
				if (!partial_has(&part, it[i].id)) {
					struct item t = it[k];

					it[k++] = it[i];
					it[i] = t;
				}
			if ((m = emit_items(p, s, &run, it, k, &count)) < 0)
				rc = -1;
			else if (m == k && n > 0)
				rc = checkpoint_at(p, s, &run, &c, c.t, last);
			else if (m > 0)
				rc = checkpoint_at(p, s, &run, &c, c.t, it[m - 1].id);
			if (final_page) {
				tie = false;	/* the next query starts after this timestamp */
				part.n = 0;
			}
		} else if (final_page) {
			/* The last page: with it, a partly emitted timestamp is complete too. */
			if ((i = emit_items(p, s, &run, it, n, &count)) < 0) {
				rc = -1;
			} else if (i > 0 || part.n > 0) {
				int64_t t = i > 0 ? it[i - 1].t : part.t, id = i > 0 ? it[i - 1].id : partial_max(&part);

				if (i == n && part.n > 0 && part.t == t && partial_max(&part) > id)
					id = partial_max(&part);
				rc = checkpoint_at(p, s, &run, &c, t, id);
			}
			part.n = 0;
			done = true;
		} else if (it[0].t == it[n - 1].t) {
			/* A whole page at one timestamp: it goes out and the next query
			 * excludes its ids too, while they fit; else it is read by id. */
			if (part.n > 0 && part.t != it[0].t) {
				/* The partial timestamp is complete: none of it was left. */
				rc = checkpoint_at(p, s, &run, &c, part.t, partial_max(&part));
				part.n = 0;
			}
			if (rc == 0 && part.n + n <= partial_cap(s) && !(p->limit > 0 && count + n > p->limit)) {
				int m = emit_items(p, s, &run, it, n, &count);

				if (m < 0)
					rc = -1;
				part.t = it[0].t;
				for (i = 0; i < m; i++)
					part.id[part.n++] = it[i].id;
			} else if (rc == 0) {
				c.id = c.set && !c.inclusive && c.t == it[0].t ? c.id : -1;
				c.t = it[0].t;
				c.set = true;
				c.inclusive = false;
				tie = true;
			}
		} else {
			int whole = n, m;

			while (whole > 0 && it[whole - 1].t == it[n - 1].t)
				whole--;
			m = emit_items(p, s, &run, it, whole, &count);
			if (m > 0) {
				int64_t id = it[m - 1].id;

				/* A partly emitted timestamp completed on this page: all its ids are out. */
				if (part.n > 0 && part.t == it[m - 1].t && partial_max(&part) > id)
					id = partial_max(&part);
				rc = checkpoint_at(p, s, &run, &c, it[m - 1].t, id);
			} else if (m < 0)
				rc = -1;
			part.n = 0;
			if (rc == 0 && m == whole && p->limit > 0 && count + (n - whole) >= p->limit) {
				/* The limit falls in the last timestamp: it waits for the next run,
				 * so that every record this run writes has a checkpoint after it. */
				done = true;
			} else if (rc == 0 && m == whole && n - whole <= partial_cap(s)) {
				/* The last timestamp, as far as this page has it. */
				m = emit_items(p, s, &run, it + whole, n - whole, &count);
				if (m < 0)
					rc = -1;
				part.t = it[n - 1].t;
				for (i = 0; i < m; i++)
					part.id[part.n++] = it[whole + i].id;
			} else if (rc == 0 && m == whole) {
				c.id = -1;
				c.t = it[n - 1].t;
				tie = true;
			}
		}
		for (i = 0; i < n; i++)
			jv_free(it[i].obj);
		free(it);
		progress(p, s->name, pages, false);
		if (rc != 0 || done)
			break;
	}
	/* Records no checkpoint covers (the run failed) are not written. */
	p->hold = false;
	p->held.len = 0;
	if (pages)
		progress(p, s->name, pages, true);
	fs_debug("%s %s: %ld records in %ld pages", p->name, s->name, count, pages);
	return failed(p) ? -1 : 0;
}

/* Contacts by id (webhook notifications), in batches; unknown ids are skipped. */
static int
read_contacts(struct pull *p, jv ids)
{
	int n = jv_array_length(jv_copy(ids));

	for (int off = 0; off < n && !failed(p); off += BATCH) {
		jv inputs = jv_array(), body, ans, results;
		long status;

		for (int i = off; i < n && i < off + BATCH; i++)
			inputs = jv_array_append(inputs, jv_object_set(jv_object(), jv_string("id"),
								       jv_array_get(jv_copy(ids), i)));
		body = jv_object_set(jv_object(), jv_string("properties"), stream_props(p, &hs_streams[0]));
		body = jv_object_set(body, jv_string("inputs"), inputs);
		ans = call(p, "POST", "/crm/v3/objects/contacts/batch/read", body, "results", &status);
		if (!jv_is_valid(ans))
			return p->dry_run ? 0 : -1;
		results = fs_jget(ans, "results");
		if (status == 207)
			fs_debug("%s: some notified contacts are gone (HTTP 207)", p->name);
		if (jv_get_kind(results) == JV_KIND_ARRAY)
			jv_array_foreach(results, i, r) {
				const char *id = fs_jstr(r, "id");

				(void)i;
				if (id)
					emit_record(p, "contacts", id, jv_copy(r));
				jv_free(r);
			}
		jv_free(results);
		jv_free(ans);
	}
	return failed(p) ? -1 : 0;
}

/* ---- the webhook inbox ---- */

struct lob_event {
	char *piece, *key;
	jv data;
	int64_t inbox_id;	/* drained from this inbox row; 0 when polled */
};

static jv lob_from_webhook(jv ev, const char **why);
static int lob_emit(struct pull *p, struct lob_event *ev, int n, bool drained);
static void lob_events_free(struct lob_event *ev, int n);

static int
inbox_row_hubspot(struct pull *p, const struct fs_inbox_row *r, jv *ids, jv *seen)
{
	jv body = jv_parse_sized(r->body, (int)r->len);

	if (fs_json_check(r->body, r->len, NULL) != NULL || jv_get_kind(body) != JV_KIND_ARRAY) {
		jv_free(body);
		return dead(p, r->body, r->len, r->id, "inbox row %lld: not a JSON array of HubSpot events",
			    (long long)r->id);
	}
	jv_array_foreach(body, i, e) {
		const char *type = fs_jstr(e, "subscriptionType");
		jv oid = fs_jget(e, "objectId");
		jv id = jv_get_kind(oid) == JV_KIND_NUMBER ? jv_string_fmt("%.0f", jv_number_value(oid))
		      : jv_get_kind(oid) == JV_KIND_STRING ? jv_copy(oid) : jv_invalid();

		(void)i;
		/* Deleted contacts cannot be read; everything else about a contact can. */
		if (jv_is_valid(id) && type && strncmp(type, "contact.", 8) == 0 &&
		    strcmp(type, "contact.deletion") != 0 && strcmp(type, "contact.privacyDeletion") != 0 &&
		    !jv_object_has(jv_copy(*seen), jv_copy(id))) {
			*seen = jv_object_set(*seen, jv_copy(id), jv_true());
			*ids = jv_array_append(*ids, id);
		} else {
			jv_free(id);
		}
		jv_free(oid);
		jv_free(e);
	}
	jv_free(body);
	return 0;
}

/* One Lob webhook event, kept for lob_emit (the batch's events go out together). */
static int
inbox_row_lob(struct pull *p, const struct fs_inbox_row *r, struct lob_event **out, int *n, int *cap)
{
	jv ev = jv_parse_sized(r->body, (int)r->len), data;
	size_t pos = 0;
	const char *why = NULL, *check = fs_json_check(r->body, r->len, &pos);

	if (check) {
		jv_free(ev);
		return dead(p, r->body, r->len, r->id, "inbox row %lld: %s at byte %zu", (long long)r->id,
			    check, pos + 1);
	}
	if (jv_get_kind(ev) != JV_KIND_OBJECT) {
		jv_free(ev);
		return dead(p, r->body, r->len, r->id, "inbox row %lld: not a JSON object", (long long)r->id);
	}
	data = lob_from_webhook(ev, &why);
	if (!jv_is_valid(data)) {
		jv_free(data);
		return dead(p, r->body, r->len, r->id, "inbox row %lld: %s", (long long)r->id, why);
	}
	if (*n == *cap)
		*out = fs_xrealloc(*out, (size_t)(*cap = *cap ? *cap * 2 : 64) * sizeof **out);
	(*out)[*n].piece = fs_xstrdup(fs_jstr(data, "reference_id"));
	(*out)[*n].key = fs_xstrdup(fs_jstr(data, "id"));
	(*out)[*n].data = data;
	(*out)[*n].inbox_id = r->id;
	(*n)++;
	return 0;
}

static int
drain_inbox(struct pull *p, bool hubspot)
{
	char *saved = NULL, *end, cursor[32];
	int64_t after = 0;

	if (fs_cursor_get(&p->cli->st, p->name, "inbox", &saved) != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (saved) {
		after = strtoll(saved, &end, 10);
		if (*end || after < 0) {
			fs_err("%s: committed inbox cursor is not a row id: '%s'", p->name, saved);
			free(saved);
			fail(p, FS_EXIT_STATE);
			return -1;
		}
		free(saved);
	}
	if (!p->dry_run && (fs_inbox_mark_drained(&p->cli->st, p->name, after) != 0)) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	while (!failed(p)) {
		struct fs_inbox_row *rows;
		int n;
		jv ids = jv_array(), seen = jv_object();
		struct lob_event *ev = NULL;
		int nev = 0, cap = 0;

		if (fs_inbox_fetch(&p->cli->st, p->name, after, INBOX_ROWS, &rows, &n) != 0) {
			jv_free(ids), jv_free(seen);
			fail(p, FS_EXIT_STATE);
			return -1;
		}
		if (n == 0) {
			jv_free(ids), jv_free(seen);
			break;
		}
		if (p->dry_run)
			printf("# %s: %d inbox rows after id %lld to drain\n", p->name, n, (long long)after);
		for (int i = 0; i < n && !failed(p); i++)
			if (hubspot)
				inbox_row_hubspot(p, &rows[i], &ids, &seen);
			else if (!p->dry_run)
				inbox_row_lob(p, &rows[i], &ev, &nev, &cap);
		if (hubspot && !failed(p))
			read_contacts(p, ids);
		if (!hubspot && !failed(p) && !p->dry_run)
			lob_emit(p, ev, nev, true);
		lob_events_free(ev, nev);
		after = rows[n - 1].id;
		fs_inbox_rows_free(rows, n);
		jv_free(ids);
		jv_free(seen);
		if (failed(p) || p->dry_run)
			break;
		snprintf(cursor, sizeof cursor, "%lld", (long long)after);
		if (emit_checkpoint(p, "inbox", cursor) != 0)
			return -1;
	}
	return failed(p) ? -1 : 0;
}

/* ---- Lob tracking events ---- */

/*
 * Both paths (webhook inbox and polling) emit one canonical event object per
 * tracking event, in Lob's webhook shape, so fs-normalize gives the same
 * event id whichever path saw it:
 *
 *   {"id":K,"object":"event","event_type":{"id":"postcard.delivered"},
 *    "reference_id":"psc_…","date_created":T,
 *    "body":{"id":"psc_…","object":"postcard","metadata":{…},"tracking_events":[TE]}}
 *
 * K is the tracking event's id (evnt_…) and T its time; an event without a
 * tracking event (failed, deleted, rendered_pdf, …) has K "psc_…:postcard.failed"
 * and T the piece's date_modified.  TE keeps id, type, name, time, location.
 */
static char *
slug(const char *name)
{
	char *s = fs_xstrdup(name);

	for (char *q = s; *q; q++)
		*q = *q == ' ' ? '_' : (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
	return s;
}

/* "postcard.in_transit" or "letter.certified.delivered" for a tracking event. */
static char *
te_type(const char *singular, jv te)
{
	const char *name = fs_jstr(te, "name"), *type = fs_jstr(te, "type");
	char *sl, *out;

	if (name == NULL)
		return NULL;
	sl = slug(name);
	out = fs_xasprintf("%s.%s%s", singular, type && strcmp(type, "certified") == 0 ? "certified." : "", sl);
	free(sl);
	return out;
}

static jv
te_trim(jv te)
{
	static const char *const keep[] = {"id", "type", "name", "time", "location", NULL};
	jv out = jv_object();

	for (int i = 0; keep[i]; i++) {
		jv v = fs_jget(te, keep[i]);

		out = jv_object_set(out, jv_string(keep[i]), jv_is_valid(v) ? v : (jv_free(v), jv_null()));
	}
	jv_free(te);
	return out;
}

static jv
lob_canonical(const char *piece, const char *object, jv metadata, const char *type_id, jv te,
	      const char *fallback_date)
{
	jv data = jv_object(), body = jv_object();
	const char *date = NULL;
	char *key;

	if (jv_is_valid(te)) {
		te = te_trim(te);
		key = fs_xstrdup(fs_jstr(te, "id"));
		date = fs_jstr(te, "time");
	} else {
		key = fs_xasprintf("%s:%s", piece, type_id);
	}
	if (date == NULL)
		date = fallback_date;
	data = jv_object_set(data, jv_string("id"), jv_string(key));
	data = jv_object_set(data, jv_string("object"), jv_string("event"));
	data = jv_object_set(data, jv_string("event_type"),
			     jv_object_set(jv_object(), jv_string("id"), jv_string(type_id)));
	data = jv_object_set(data, jv_string("reference_id"), jv_string(piece));
	data = jv_object_set(data, jv_string("date_created"), date ? jv_string(date) : jv_null());
	body = jv_object_set(body, jv_string("id"), jv_string(piece));
	body = jv_object_set(body, jv_string("object"), jv_string(object));
	body = jv_object_set(body, jv_string("metadata"),
			     jv_get_kind(metadata) == JV_KIND_OBJECT ? metadata : (jv_free(metadata), jv_object()));
	if (jv_is_valid(te))
		body = jv_object_set(body, jv_string("tracking_events"), jv_array_append(jv_array(), te));
	data = jv_object_set(data, jv_string("body"), body);
	free(key);
	return data;
}

static const char *
singular_of(const char *piece)
{
	return strncmp(piece, "ltr_", 4) == 0 ? "letter" : "postcard";
}

static jv
lob_from_webhook(jv ev, const char **why)
{
	jv body = fs_jget(ev, "body"), et = fs_jget(ev, "event_type"), tes, found = jv_invalid(), out;
	const char *piece = fs_jstr(body, "id"), *type_id = fs_jstr(et, "id");
	const char *object, *date;

	if (piece == NULL || type_id == NULL) {
		*why = piece ? "missing \"event_type.id\"" : "missing \"body.id\"";
		jv_free(body), jv_free(et), jv_free(ev);
		return jv_invalid();
	}
	object = fs_jstr(body, "object");
	if (object == NULL)
		object = singular_of(piece);
	/* The body is the piece after the event: its newest tracking event of this type is it. */
	tes = fs_jget(body, "tracking_events");
	if (jv_get_kind(tes) == JV_KIND_ARRAY)
		jv_array_foreach(tes, i, te) {
			char *t = te_type(object, te);

			(void)i;
			if (t && strcmp(t, type_id) == 0) {
				jv_free(found);
				found = jv_copy(te);
			}
			free(t);
			jv_free(te);
		}
	jv_free(tes);
	date = fs_jstr(body, "date_modified");
	if (date == NULL)
		date = fs_jstr(ev, "date_created");
	out = lob_canonical(piece, object, fs_jget(body, "metadata"), type_id, found, date);
	jv_free(body), jv_free(et), jv_free(ev);
	return out;
}

/* The events one polled piece shows: its tracking events, then failed / deleted. */
static void
piece_events(jv piece, struct lob_event **ev, int *n, int *cap)
{
	const char *id = fs_jstr(piece, "id"), *object = fs_jstr(piece, "object");
	const char *status = fs_jstr(piece, "status"), *date = fs_jstr(piece, "date_modified");
	jv tes = fs_jget(piece, "tracking_events"), deleted = fs_jget(piece, "deleted");
	char *extra[2];
	int nextra = 0;

	if (id == NULL) {
		jv_free(tes), jv_free(deleted);
		return;
	}
	if (object == NULL)
		object = singular_of(id);
	if (status && strcmp(status, "failed") == 0)
		extra[nextra++] = fs_xasprintf("%s.failed", object);
	if (jv_get_kind(deleted) == JV_KIND_TRUE)
		extra[nextra++] = fs_xasprintf("%s.deleted", object);
	if (jv_get_kind(tes) == JV_KIND_ARRAY)
		jv_array_foreach(tes, i, te) {
			char *t = te_type(object, te);

			(void)i;
			if (t && fs_jstr(te, "id")) {
				if (*n == *cap)
					*ev = fs_xrealloc(*ev, (size_t)(*cap = *cap ? *cap * 2 : 64) * sizeof **ev);
				(*ev)[*n].piece = fs_xstrdup(id);
				(*ev)[*n].data = lob_canonical(id, object, fs_jget(piece, "metadata"), t, jv_copy(te), date);
				(*ev)[*n].key = fs_xstrdup(fs_jstr((*ev)[*n].data, "id"));
				(*ev)[*n].inbox_id = 0;
				(*n)++;
			}
			free(t);
			jv_free(te);
		}
	for (int i = 0; i < nextra; i++) {
		if (*n == *cap)
			*ev = fs_xrealloc(*ev, (size_t)(*cap = *cap ? *cap * 2 : 64) * sizeof **ev);
		(*ev)[*n].piece = fs_xstrdup(id);
		(*ev)[*n].data = lob_canonical(id, object, fs_jget(piece, "metadata"), extra[i], jv_invalid(), date);
		(*ev)[*n].key = fs_xstrdup(fs_jstr((*ev)[*n].data, "id"));
		(*ev)[*n].inbox_id = 0;
		(*n)++;
		free(extra[i]);
	}
	jv_free(tes);
	jv_free(deleted);
}

static void
lob_events_free(struct lob_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		free(ev[i].piece);
		free(ev[i].key);
		jv_free(ev[i].data);
	}
	free(ev);
}

/*
 * Emits the events that neither path has emitted (and had committed) before:
 * polled ones, then the poll checkpoint; drained ones, whose inbox
 * checkpoint the caller writes.  What is recorded is committed before the
 * records go out, and forgotten by the next run unless their checkpoint was
 * committed (pull_lob_events).
 */
static int
lob_emit(struct pull *p, struct lob_event *ev, int n, bool drained)
{
	struct fs_state *st = &p->cli->st;
	int64_t poll = 0;
	bool *fresh = fs_xmalloc((size_t)(n ? n : 1) * sizeof *fresh);
	int nfresh = 0, rc = 0;
	char cursor[32];

	if (fs_state_begin(st) != 0)
		goto state;
	for (int i = 0; i < n; i++) {
		int seen = fs_poll_seen(st, p->name, ev[i].piece, ev[i].key);

		if (seen < 0)
			goto state;
		if ((fresh[i] = seen == 0)) {
			if (drained) {
				if (fs_poll_record_drained(st, p->name, ev[i].piece, ev[i].key, ev[i].inbox_id) != 0)
					goto state;
			} else {
				if (poll == 0 && (poll = fs_poll_begin(st, p->name, p->cli->run_id)) < 0)
					goto state;
				if (fs_poll_record(st, p->name, ev[i].piece, ev[i].key, poll) != 0)
					goto state;
			}
			nfresh++;
		} else {
			fs_debug("%s: event %s of %s was emitted before: not again", p->name, ev[i].key, ev[i].piece);
		}
	}
	if (fs_state_commit(st) != 0)
		goto state;
	for (int i = 0; i < n; i++)
		if (fresh[i])
			emit_record(p, "events", ev[i].key, jv_copy(ev[i].data));
	if (nfresh > 0 && !drained) {
		snprintf(cursor, sizeof cursor, "%lld", (long long)poll);
		rc = emit_checkpoint(p, "poll", cursor);
	}
	free(fresh);
	return rc;
state:
	fs_state_rollback(st);
	free(fresh);
	fail(p, FS_EXIT_STATE);
	return -1;
}

static int
poll_lob(struct pull *p)
{
	char **ids = NULL;
	int nids = 0;

	if (fs_pieces_in_flight(&p->cli->st, &ids, &nids) != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	for (int off = 0; off < nids && !failed(p); off += POLL_PIECES) {
		struct lob_event *ev = NULL;
		int n = 0, cap = 0;

		for (int i = off; i < nids && i < off + POLL_PIECES && !failed(p); i++) {
			char path[256];
			long status;
			jv piece;

			if (strncmp(ids[i], "psc_", 4) != 0 && strncmp(ids[i], "ltr_", 4) != 0) {
				fs_debug("%s: %s is not a Lob postcard or letter id: not polled", p->name, ids[i]);
				continue;
			}
			snprintf(path, sizeof path, "/%s/%s", strncmp(ids[i], "ltr_", 4) == 0 ? "letters" : "postcards",
				 ids[i]);
			piece = call(p, "GET", path, jv_invalid(), "id", &status);
			if (!jv_is_valid(piece))
				continue;
			if (status == 404)
				fs_info("%s: piece %s is not known to Lob", p->name, ids[i]);
			else
				piece_events(piece, &ev, &n, &cap);
			jv_free(piece);
		}
		if (!failed(p) && !p->dry_run)
			lob_emit(p, ev, n, false);
		lob_events_free(ev, n);
	}
	for (int i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	return failed(p) ? -1 : 0;
}

/* ---- CSV ---- */

/* Bytes a JSON string must escape. */
static const unsigned char json_esc[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

/*
 * s[0..n) as a JSON string at o, which has room for 6n + 2 bytes; returns
 * the end.  *high is set when a byte is 0x80 or above (UTF-8 to check).
 */
static char *
json_str_at(char *o, const char *s, size_t n, bool *high)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0, i = 0;
	unsigned char or = 0;

	*o++ = '"';
	for (;;) {
		while (i < n && !json_esc[u[i]])
			or |= u[i++];
		memcpy(o, s + run, i - run);
		o += i - run;
		if (i == n)
			break;
		*o++ = '\\';
		switch (u[i]) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[u[i] >> 4];
			o[4] = hex[u[i] & 15];
			o += 5;
		}
		run = ++i;
	}
	*o++ = '"';
	if (or & 0x80)
		*high = true;
	return o;
}

/* Room for n more bytes after b->len. */
static char *
buf_room(struct fs_buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = fs_xrealloc(b->data, cap);
		b->cap = cap;
	}
	return b->data + b->len;
}

static void
json_str(struct fs_buf *b, const char *s, size_t n)
{
	bool high = false;
	char *o = buf_room(b, 6 * n + 2);

	b->len = (size_t)(json_str_at(o, s, n, &high) - b->data);
	b->data[b->len] = '\0';
}

static int
csv_dead(struct pull *p, const struct fs_csv_row *row, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A bad row goes to the DLQ as a one-row CSV (header and row), ready to replay. */
static int
csv_dead(struct pull *p, const struct fs_csv_row *row, const char *fmt, ...)
{
	struct fs_buf b = {0};
	char reason[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	fs_buf_add(&b, p->hdr_csv.data, p->hdr_csv.len);
	fs_buf_addc(&b, '\n');
	fs_csv_format(&b, row);
	fs_buf_addc(&b, '\n');
	rc = dead(p, b.data, b.len, row->rowno, "row %ld: %s", row->rowno, reason);
	fs_buf_free(&b);
	return rc;
}

static int csv_out(struct pull *p);
/* ---- --describe of a CSV ---- */

/*
 * A CSV has no list of fields but its header: its listing is what its rows
 * become through the source's map, each canonical field that comes out with
 * its type, and the status values the export holds (up to DESCRIBE_VALUES;
 * more are taken as free text).  Rows that do not map are left out.
 */
#define DESCRIBE_VALUES 200

struct csv_describe {
	struct fs_map *map;
	jv seen[2];		/* contacts, jobs: field -> {"type", "values": {value: true}} */
	long mapped;
};

static void
describe_field(jv *seen, const char *name, jv v)
{
	jv f = fs_jget(*seen, name), values;
	jv_kind k = jv_get_kind(v);

	if (!jv_is_valid(f))
		f = jv_object_set(jv_object(), jv_string("values"), jv_object());
	if (fs_jstr(f, "type") == NULL)
		f = jv_object_set(f, jv_string("type"), jv_string(k == JV_KIND_NUMBER ? "number" : k == JV_KIND_ARRAY
			? "array" : k == JV_KIND_TRUE || k == JV_KIND_FALSE ? "bool" : "string"));
	if (strcmp(name, "status") == 0 && k == JV_KIND_STRING) {
		values = fs_jget(f, "values");
		if (jv_get_kind(values) == JV_KIND_OBJECT && jv_object_length(jv_copy(values)) <= DESCRIBE_VALUES)
			values = jv_object_set(values, jv_copy(v), jv_true());
		f = jv_object_set(f, jv_string("values"), values);
	}
	jv_free(v);
	*seen = jv_object_set(*seen, jv_string(name), f);
}

/* The records in p->line, through the map. */
static void
describe_lines(struct pull *p)
{
	struct csv_describe *d = p->desc;
	char *line = p->line.data, *end = line + p->line.len;

	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		jv out = jv_parse_sized(line, (int)((nl ? nl : end) - line));

		line = nl ? nl + 1 : end;
		if (!jv_is_valid(out)) {
			jv_free(out);
			continue;
		}
		out = fs_map_run(d->map, out);
		if (!jv_is_valid(out)) {
			jv_free(out);
			continue;
		}
		jv_array_foreach(out, i, o) {
			const char *kind = fs_jstr(o, "kind");
			int which = kind && strcmp(kind, "contact.changed") == 0 ? 0
				  : kind && strcmp(kind, "job.changed") == 0 ? 1 : -1;
			jv data = fs_jget(o, "data");

			(void)i;
			if (which >= 0 && jv_get_kind(data) == JV_KIND_OBJECT) {
				d->mapped++;
				/* (jv_object_foreach reads its object again and again: a variable, not a copy.) */
				jv_object_foreach(data, k, v) {
					const char *name = jv_string_value(k);

					if (strcmp(name, "address") == 0 && jv_get_kind(v) == JV_KIND_OBJECT) {
						jv_object_foreach(v, ak, av) {
							describe_field(&d->seen[which], jv_string_value(ak), av);
							jv_free(ak);
						}
					} else if (strcmp(name, "invalid") != 0 && jv_get_kind(v) != JV_KIND_NULL) {
						describe_field(&d->seen[which], name, jv_copy(v));
					}
					jv_free(v);
					jv_free(k);
				}
			}
			jv_free(data);
			jv_free(o);
		}
		jv_free(out);
	}
	p->line.len = 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints and stores what describe_lines saw. */
static int
describe_csv_end(struct pull *p)
{
	struct csv_describe *d = p->desc;
	static const char *const objects[] = {"contacts", "jobs"};
	struct fs_state *st = &p->cli->st;
	int rc = 0;

	if (fs_state_begin(st) != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	for (int w = 0; w < 2 && rc == 0; w++) {
		jv listing = jv_array(), keys = jv_keys(jv_copy(d->seen[w]));

		if (jv_object_length(jv_copy(d->seen[w])) == 0) {
			jv_free(keys);
			jv_free(listing);
			continue;
		}
		jv_array_foreach(keys, i, k) {
			jv f = fs_jget(d->seen[w], jv_string_value(k)), values = fs_jget(f, "values");
			jv opts = jv_array(), e;
			int n = jv_object_length(jv_copy(values));
			struct fs_buf shown = {0};

			(void)i;
			if (n > 0 && n <= DESCRIBE_VALUES) {
				char **names = fs_xmalloc((size_t)n * sizeof *names);
				int m = 0;

				jv_object_foreach(values, vk, vv) {
					names[m++] = fs_xstrdup(jv_string_value(vk));
					jv_free(vk);
					jv_free(vv);
				}
				qsort(names, (size_t)m, sizeof *names, by_name);
				for (int j = 0; j < m; j++) {
					fs_buf_addf(&shown, "%s%s", j ? ", " : "", names[j]);
					opts = jv_array_append(opts, jv_string(names[j]));
					free(names[j]);
				}
				free(names);
			}
			printf("%s%s%s\t%s\t-\tmapped\t%s\n", w ? objects[w] : "", w ? "." : "", jv_string_value(k),
			       fs_jstr(f, "type"), shown.len ? shown.data : "-");
			e = jv_object_set(jv_object(), jv_string("name"), jv_copy(k));
			e = jv_object_set(e, jv_string("type"), jv_string(fs_jstr(f, "type")));
			e = jv_object_set(e, jv_string("options"), opts);
			e = jv_object_set(e, jv_string("mapped"), jv_true());
			listing = jv_array_append(listing, e);
			fs_buf_free(&shown);
			jv_free(values);
			jv_free(f);
			jv_free(k);
		}
		jv_free(keys);
		if (fs_source_fields_store(st, p->name, objects[w], listing) != 0)
			rc = -1;
		jv_free(listing);
	}
	if (rc != 0 || fs_state_commit(st) != 0) {
		fs_state_rollback(st);
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	fs_debug("%s: %ld of %ld rows map to contacts or jobs; the listing is kept in the state file", p->name,
		 d->mapped, p->records);
	return 0;
}

static int
describe_csv_start(struct pull *p)
{
	struct fs_endpoint ep;
	char key[128], *path;

	if (fs_endpoint_find(&p->cli->cfg, "source", p->name, &ep) != 0) {
		fail(p, FS_EXIT_USAGE);
		return -1;
	}
	snprintf(key, sizeof key, "map.%s", p->stream);
	if ((path = fs_map_find(fs_setting(&ep, key))) == NULL) {
		fs_err("%s: no map '%s' for stream '%s'", p->name, fs_setting(&ep, key), p->stream);
		fail(p, FS_EXIT_USAGE);
		return -1;
	}
	p->desc = fs_xmalloc(sizeof *p->desc);
	p->desc->map = fs_map_load(path, fs_map_args(&ep));
	p->desc->seen[0] = jv_object();
	p->desc->seen[1] = jv_object();
	p->desc->mapped = 0;
	free(path);
	if (p->desc->map == NULL) {
		fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return 0;
}

static void
describe_csv_free(struct pull *p)
{
	if (p->desc == NULL)
		return;
	fs_map_free(p->desc->map);
	jv_free(p->desc->seen[0]);
	jv_free(p->desc->seen[1]);
	free(p->desc);
	p->desc = NULL;
}


static char *
put_decimal(char *o, unsigned long v)
{
	char digits[24];
	int k = 0;

	do
		digits[k++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (k > 0)
		*o++ = digits[--k];
	return o;
}

static int
on_csv_row(const struct fs_csv_row *row, void *ctx)
{
	struct pull *p = ctx;
	struct fs_buf *b = &p->line;
	size_t pos, need, mark;
	bool high = false;
	char *o;

	if (row->rowno == 1) {
		p->nhead = row->nfields;
		p->head = fs_xmalloc((size_t)row->nfields * sizeof *p->head);
		p->head_len = fs_xmalloc((size_t)row->nfields * sizeof *p->head_len);
		for (int i = 0; i < row->nfields; i++) {
			struct fs_buf k = {0};
			const char *f = fs_csv_field(row, i);

			if (!fs_utf8_valid(f, row->len[i], &pos)) {
				fs_err("row 1: the header is not UTF-8 (column %d)", i + 1);
				fail(p, FS_EXIT_USAGE);
				p->nhead = i;
				return -1;
			}
			for (int j = 0; j < i; j++)
				if (row->len[j] == row->len[i] && memcmp(fs_csv_field(row, j), f, row->len[i]) == 0) {
					fs_err("row 1: column %d has the same name as column %d: '%s'", i + 1, j + 1, f);
					fail(p, FS_EXIT_USAGE);
					p->nhead = i;
					return -1;
				}
			json_str(&k, f, row->len[i]);
			fs_buf_addc(&k, ':');
			p->head[i] = k.data;
			p->head_len[i] = k.len;
		}
		fs_csv_format(&p->hdr_csv, row);
		fs_buf_adds(&p->rec_head, "{\"type\":\"record\",\"source\":");
		json_str(&p->rec_head, p->name, strlen(p->name));
		fs_buf_adds(&p->rec_head, ",\"stream\":");
		json_str(&p->rec_head, p->stream, strlen(p->stream));
		fs_buf_adds(&p->rec_head, ",\"key\":\"");
		fs_buf_addf(&p->rec_mid, "\",\"fetched_at\":\"%s\",\"data\":{", p->now);
		return 0;
	}
	if (p->limit > 0 && p->records >= p->limit)
		return -1;
	if (row->unterminated)
		return csv_dead(p, row, "a quoted field is not closed before the end of the input");
	if (row->nfields != p->nhead)
		return csv_dead(p, row, "%d field%s, the header has %d", row->nfields,
				row->nfields == 1 ? "" : "s", p->nhead);
	need = p->rec_head.len + 24 + p->rec_mid.len + 3;
	for (int i = 0; i < row->nfields; i++)
		need += p->head_len[i] + 1 + 6 * row->len[i] + 2;
	mark = b->len;
	o = buf_room(b, need);
	memcpy(o, p->rec_head.data, p->rec_head.len);
	o += p->rec_head.len;
	o = put_decimal(o, (unsigned long)row->rowno);
	memcpy(o, p->rec_mid.data, p->rec_mid.len);
	o += p->rec_mid.len;
	for (int i = 0; i < row->nfields; i++) {
		if (i > 0)
			*o++ = ',';
		memcpy(o, p->head[i], p->head_len[i]);
		o += p->head_len[i];
		o = json_str_at(o, fs_csv_field(row, i), row->len[i], &high);
	}
	memcpy(o, "}}\n", 3);
	o += 3;
	if (high)
		for (int i = 0; i < row->nfields; i++)
			if (!fs_utf8_valid(fs_csv_field(row, i), row->len[i], &pos)) {
				b->len = mark;
				return csv_dead(p, row, "invalid UTF-8 in column %d at byte %zu", i + 1, pos + 1);
			}
	b->len = (size_t)(o - b->data);
	p->records++;
	/* Rows leave in blocks; pull_csv writes what is left. */
	if (b->len >= 64 * 1024)
		return csv_out(p);
	return 0;
}

/* The rows written so far, to standard output. */
static int
csv_out(struct pull *p)
{
	struct fs_buf *b = &p->line;

	if (p->desc) {
		describe_lines(p);
		return 0;
	}
	if (b->len > 0 && fwrite(b->data, 1, b->len, stdout) != b->len) {
		b->len = 0;
		return flush_out(p);
	}
	b->len = 0;
	return 0;
}

static int
pull_csv(struct pull *p, const char *path)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fs_err("cannot open '%s':", path);
		fail(p, FS_EXIT_USAGE);
		return -1;
	}
	p->stream = p->as ? p->as : "rows";
	if (p->describe && describe_csv_start(p) != 0) {
		if (fd != STDIN_FILENO)
			close(fd);
		describe_csv_free(p);
		return -1;
	}
	fs_csv_read(fd, on_csv_row, p);
	csv_out(p);
	if (p->desc) {
		if (!failed(p))
			describe_csv_end(p);
		describe_csv_free(p);
		p->records = 0;	/* nothing was pulled: no run row */
	}
	if (fd != STDIN_FILENO)
		close(fd);
	for (int i = 0; i < p->nhead; i++)
		free(p->head[i]);
	free(p->head);
	free(p->head_len);
	fs_buf_free(&p->line);
	fs_buf_free(&p->hdr_csv);
	fs_buf_free(&p->rec_head);
	fs_buf_free(&p->rec_mid);
	return flush_out(p);
}

/* ---- NDJSON ---- */

static int
pull_ndjson(struct pull *p, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;

	if (f == NULL) {
		fs_err("cannot open '%s':", path);
		fail(p, FS_EXIT_USAGE);
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0 && !failed(p)) {
		const char *why;
		size_t pos = 0;
		jv obj;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (strspn(line, " \t") == (size_t)n)
			continue;
		if (!fs_utf8_valid(line, (size_t)n, &pos)) {
			dead(p, line, (size_t)n, lineno, "line %ld: invalid UTF-8 at byte %zu", lineno, pos + 1);
			continue;
		}
		if ((why = fs_json_check(line, (size_t)n, &pos)) != NULL) {
			dead(p, line, (size_t)n, lineno, "line %ld: %s at byte %zu", lineno, why, pos + 1);
			continue;
		}
		obj = jv_parse_sized(line, (int)n);
		if (jv_get_kind(obj) != JV_KIND_OBJECT) {
			dead(p, line, (size_t)n, lineno, "line %ld: not a JSON object", lineno);
		} else if (fs_jstr(obj, "type")) {
			/* Already a pipe message (a saved run, a record): passed on as it is. */
			fwrite(line, 1, (size_t)n, stdout);
			putchar('\n');
		} else if (p->as == NULL) {
			dead(p, line, (size_t)n, lineno, "line %ld: a raw object needs --as SOURCE", lineno);
		} else {
			char key[32];

			snprintf(key, sizeof key, "%ld", lineno);
			emit_record(p, p->stream, key, jv_copy(obj));
		}
		jv_free(obj);
		if (p->limit > 0 && p->records >= p->limit)
			break;
	}
	if (ferror(f)) {
		fs_err("read error on '%s':", path);
		fail(p, FS_EXIT_USAGE);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return flush_out(p);
}

/* ---- --describe ---- */

/*
 * One object type's properties: printed, one a line (NAME TYPE LABEL
 * MAPPED VALUES, NAME prefixed for objects other than contacts), and kept
 * in *listing for the state file.  The values are an enumeration's options
 * ("-" when it has none).
 */
static int
describe_object(struct pull *p, const char *object, const char *mapkey, jv *listing)
{
	struct fs_map *m = NULL;
	char *path = fs_map_find(fs_setting(&p->ep, mapkey)), url[64];
	const char *const *reads = NULL, *extra[2] = {NULL, NULL};
	int nreads = 0;
	long status;
	jv ans, results;

	if (strcmp(object, "contacts") == 0) {
		/* The properties the source names are mapped too. */
		extra[0] = fs_setting(&p->ep, "status_property");
		extra[1] = fs_setting(&p->ep, "suppress_property");
	}
	if (path && (m = fs_map_load(path, jv_object())) != NULL)
		reads = fs_map_reads(m, &nreads);
	free(path);
	snprintf(url, sizeof url, "/crm/v3/properties/%s", object);
	ans = call(p, "GET", url, jv_invalid(), "results", &status);
	if (!jv_is_valid(ans)) {
		fs_map_free(m);
		return -1;
	}
	results = fs_jget(ans, "results");
	jv_array_foreach(results, i, prop) {
		const char *name = fs_jstr(prop, "name"), *type = fs_jstr(prop, "type");
		const char *label = fs_jstr(prop, "label");
		jv options = fs_jget(prop, "options"), values = jv_array(), f;
		struct fs_buf shown = {0};
		bool mapped = false;

		(void)i;
		for (int k = 0; name && k < nreads; k++) {
			const char *r = reads[k][0] == '?' ? reads[k] + 1 : reads[k];

			if (strncmp(r, "data.properties.", 16) == 0 && strcmp(r + 16, name) == 0)
				mapped = true;
		}
		for (int k = 0; name && k < 2; k++)
			mapped |= extra[k] && strcmp(extra[k], name) == 0;
		if (jv_get_kind(options) == JV_KIND_ARRAY)
			jv_array_foreach(options, k, o) {
				const char *v = fs_jstr(o, "value");

				if (v) {
					fs_buf_addf(&shown, "%s%s", shown.len ? ", " : "", v);
					values = jv_array_append(values, jv_string(v));
				}
				(void)k;
				jv_free(o);
			}
		if (name) {
			printf("%s%s%s\t%s\t%s\t%s\t%s\n", strcmp(object, "contacts") ? object : "",
			       strcmp(object, "contacts") ? "." : "", name, type ? type : "", label ? label : "",
			       mapped ? "mapped" : "-", shown.len ? shown.data : "-");
			f = jv_object_set(jv_object(), jv_string("name"), jv_string(name));
			f = jv_object_set(f, jv_string("type"), type ? jv_string(type) : jv_null());
			f = jv_object_set(f, jv_string("label"), label ? jv_string(label) : jv_null());
			f = jv_object_set(f, jv_string("options"), jv_copy(values));
			f = jv_object_set(f, jv_string("mapped"), mapped ? jv_true() : jv_false());
			*listing = jv_array_append(*listing, f);
		}
		fs_buf_free(&shown);
		jv_free(values);
		jv_free(options);
		jv_free(prop);
	}
	jv_free(results);
	jv_free(ans);
	fs_map_free(m);
	return 0;
}

/*
 * The mapping list of contacts, and of deals when the source pulls them;
 * stored in the state file, where fs-normalize checks campaign triggers
 * against it (a status no source gives, a property it does not have).
 */
static int
describe_hubspot(struct pull *p)
{
	jv streams = split_list(fs_setting(&p->ep, "streams")), contacts = jv_array(), deals = jv_array();
	bool with_deals = false;
	int rc;

	jv_array_foreach(streams, i, s) {
		(void)i;
		with_deals |= strcmp(jv_string_value(s), "deals") == 0;
		jv_free(s);
	}
	jv_free(streams);
	rc = describe_object(p, "contacts", "map.contacts", &contacts);
	if (rc == 0 && with_deals)
		rc = describe_object(p, "deals", "map.deals", &deals);
	if (rc == 0) {
		struct fs_state *st = &p->cli->st;

		if (fs_state_begin(st) != 0 || fs_source_fields_store(st, p->name, "contacts", contacts) != 0 ||
		    (with_deals && fs_source_fields_store(st, p->name, "deals", deals) != 0) ||
		    fs_state_commit(st) != 0) {
			fs_state_rollback(st);
			fail(p, FS_EXIT_STATE);
			rc = -1;
		} else {
			fs_debug("%s: the listing is kept in the state file (%d contact properties, %d deal properties)",
				 p->name, jv_array_length(jv_copy(contacts)), jv_array_length(jv_copy(deals)));
		}
	}
	jv_free(contacts);
	jv_free(deals);
	if (rc != 0)
		return -1;
	return flush_out(p);
}

/* ---- main ---- */

/* The source's lookback (0 turns it off). */
static int
lookback_setting(struct pull *p)
{
	const char *v = fs_setting(&p->ep, "lookback");
	int64_t secs = 0;

	if (strcmp(v, "0") != 0 && (fs_duration_parse(v, &secs) != 0 || secs < 0)) {
		fs_err("source '%s': lookback must be a duration such as %s or 0, not '%s'", p->name,
		       fs_setting_default(&p->ep, "lookback"), v);
		return -1;
	}
	p->lookback_ms = secs * 1000;
	return 0;
}

static int
pull_hubspot(struct pull *p)
{
	jv streams = split_list(fs_setting(&p->ep, "streams"));

	if (http_setup(p, false) != 0) {
		jv_free(streams);
		fail(p, FS_EXIT_USAGE);
		return -1;
	}
	if (p->describe) {
		jv_free(streams);
		return describe_hubspot(p);
	}
	/* HubSpot's search endpoints allow about 5 requests a second per account
	 * and send no rate-limit headers: they are paced on their own as well. */
	if (lookback_setting(p) != 0 || fs_http_search_rate(&p->http, fs_setting(&p->ep, "search_rate")) != 0) {
		jv_free(streams);
		fail(p, FS_EXIT_USAGE);
		return -1;
	}
	jv_array_foreach(streams, i, s) {
		int k;

		(void)i;
		for (k = 0; hs_streams[k].name && strcmp(hs_streams[k].name, jv_string_value(s)) != 0; k++)
			;
		if (hs_streams[k].name == NULL) {
			fs_err("source '%s': unknown stream '%s' (contacts, calls, emails, meetings, tasks, deals)",
			       p->name, jv_string_value(s));
			fail(p, FS_EXIT_USAGE);
		}
		jv_free(s);
	}
	if (!failed(p))
		drain_inbox(p, true);
	jv_array_foreach(streams, i, s) {
		(void)i;
		for (int k = 0; hs_streams[k].name && !failed(p); k++)
			if (strcmp(hs_streams[k].name, jv_string_value(s)) == 0)
				pull_stream(p, &hs_streams[k]);
		jv_free(s);
	}
	jv_free(streams);
	return failed(p) ? -1 : 0;
}

/* A committed cursor of stream, as a number (0 when none). */
static int
cursor_number(struct pull *p, const char *stream, int64_t *v)
{
	char *saved = NULL, *end;

	*v = 0;
	if (fs_cursor_get(&p->cli->st, p->name, stream, &saved) != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (saved) {
		*v = strtoll(saved, &end, 10);
		if (*end || *v < 0) {
			fs_err("%s: committed %s cursor is not a number: '%s'", p->name, stream, saved);
			free(saved);
			fail(p, FS_EXIT_STATE);
			return -1;
		}
	}
	free(saved);
	return 0;
}

/* Events recorded by runs whose checkpoints were never committed are emitted again. */
static int
forget_uncommitted(struct pull *p)
{
	int64_t poll, inbox;

	if (cursor_number(p, "poll", &poll) != 0 || cursor_number(p, "inbox", &inbox) != 0)
		return -1;
	if (fs_poll_forget_uncommitted(&p->cli->st, p->name, poll) != 0 ||
	    fs_poll_forget_undrained(&p->cli->st, p->name, inbox) != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

static int
pull_lob_events(struct pull *p)
{
	char mode[16];

	if (p->describe) {
		fs_err("--describe lists a HubSpot source's properties, or what a CSV's rows map to; '%s' is a %s source",
		       p->name, p->ep.kind);
		fail(p, FS_EXIT_USAGE);
		return -1;
	}
	if (fs_source_mode(&p->cli->st, p->name, mode) != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (!p->dry_run && forget_uncommitted(p) != 0)
		return -1;
	if (drain_inbox(p, false) != 0)
		return -1;
	if (strcmp(mode, "polling") != 0)
		return 0;
	if (http_setup(p, true) != 0) {
		fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return poll_lob(p);
}

/* ---- retention ---- */

/* A retention setting of the source: a duration, or never (-1); never too when it is not the kind's. */
static int
retention_setting(struct pull *p, const char *key, int64_t *secs)
{
	const char *v = fs_setting(&p->ep, key);

	if (v == NULL || strcmp(v, "never") == 0) {
		*secs = -1;
		return 0;
	}
	if (fs_duration_parse(v, secs) != 0) {
		fs_err("source '%s': %s must be a duration such as %s, or never, not '%s'", p->name, key,
		       fs_setting_default(&p->ep, key), v);
		return -1;
	}
	return 0;
}

static int
retention_settings(struct pull *p)
{
	if (retention_setting(p, "inbox_retention", &p->inbox_keep) != 0 ||
	    retention_setting(p, "inbox_key_retention", &p->keys_keep) != 0 ||
	    retention_setting(p, "polled_retention", &p->polled_keep) != 0)
		return -1;
	/* A row goes with its body: keys kept for less time would cut the body's retention short. */
	if (p->keys_keep >= 0 && (p->inbox_keep < 0 || p->keys_keep < p->inbox_keep)) {
		fs_err("source '%s': inbox_key_retention (%s) is shorter than inbox_retention (%s)", p->name,
		       fs_setting(&p->ep, "inbox_key_retention"), fs_setting(&p->ep, "inbox_retention"));
		return -1;
	}
	return 0;
}

/* now - secs as stored times are written, or NULL (never) when secs < 0. */
static const char *
cutoff(int64_t secs, char out[21])
{
	if (secs < 0)
		return NULL;
	fs_time_format(fs_now() - secs, out);
	return out;
}

/*
 * After the run, what is past retention goes: of the inbox, only rows that
 * the drain at the start of this run marked drained (their checkpoint was
 * committed), a run later than they were taken downstream.  Standard
 * output is closed first, so that the pipeline downstream does not wait.
 */
static void
prune(struct pull *p, bool lob)
{
	struct fs_state *st = &p->cli->st;
	int64_t inbox, poll = 0, bodies = 0, rows = 0, events = 0;
	char b[21], r[21], e[21];

	if (cursor_number(p, "inbox", &inbox) != 0 || (lob && cursor_number(p, "poll", &poll) != 0))
		return;
	if (fs_inbox_prune(st, p->name, inbox, cutoff(p->inbox_keep, b), cutoff(p->keys_keep, r), PRUNE_BATCH,
			   &bodies, &rows) != 0 ||
	    (lob && p->polled_keep >= 0 &&
	     fs_poll_prune(st, p->name, poll, inbox, cutoff(p->polled_keep, e), PRUNE_BATCH, &events) != 0)) {
		fail(p, FS_EXIT_STATE);
		return;
	}
	p->pruned_bodies = bodies;
	p->pruned_rows = rows;
	p->pruned_events = events;
	if (bodies + rows + events == 0)
		return;
	if (lob)
		fs_debug("%s: pruned past retention: %lld inbox bod%s, %lld inbox row%s, %lld emitted event%s",
			 p->name, (long long)bodies, bodies == 1 ? "y" : "ies", (long long)rows, rows == 1 ? "" : "s",
			 (long long)events, events == 1 ? "" : "s");
	else
		fs_debug("%s: pruned past retention: %lld inbox bod%s, %lld inbox row%s", p->name,
			 (long long)bodies, bodies == 1 ? "y" : "ies", (long long)rows, rows == 1 ? "" : "s");
}

/*
 * A HubSpot pull that went well also keeps the owners' names fresh for the
 * reports (lib/owners.c): after the records, with standard output closed,
 * so that the pipeline never waits for it, and never in a dry run, which
 * changes no state.
 */
static void
refresh_owners(struct pull *p)
{
	if (strcmp(p->ep.kind, "hubspot") != 0 || !p->http_ready ||
	    (p->status != FS_EXIT_OK && p->status != FS_EXIT_DLQ))
		return;
	fs_owners_refresh(&p->cli->st, &p->http, p->name);
}

/* The run's row in the changelog, when it fetched, dead-lettered or pruned something. */
static void
record_run(struct pull *p)
{
	char object[256];
	jv c;

	if (p->dry_run || p->describe ||
	    p->records + p->dead + p->pruned_bodies + p->pruned_rows + p->pruned_events == 0)
		return;
	c = jv_object_set(jv_object(), jv_string("source"), jv_string(p->name));
	c = jv_object_set(c, jv_string("records"), jv_number((double)p->records));
	c = jv_object_set(c, jv_string("checkpoints"), jv_number((double)p->checkpoints));
	c = jv_object_set(c, jv_string("dead"), jv_number((double)p->dead));
	if (p->http_ready) {
		c = jv_object_set(c, jv_string("requests"), jv_number((double)p->http.requests));
		c = jv_object_set(c, jv_string("retries"), jv_number((double)p->http.retries));
	}
	c = jv_object_set(c, jv_string("pruned"),
			  jv_object_set(jv_object_set(jv_object_set(jv_object(), jv_string("inbox_bodies"),
								    jv_number((double)p->pruned_bodies)),
						      jv_string("inbox_rows"), jv_number((double)p->pruned_rows)),
					jv_string("events"), jv_number((double)p->pruned_events)));
	snprintf(object, sizeof object, "fs-pull:%s", p->name);
	if (fs_changelog_run(p->cli, object, p->status, c) != 0)
		fail(p, FS_EXIT_STATE);
}

/*
 * A run that found nothing new still says it looked: a successful run that
 * wrote no checkpoint ends with {"stream":"run","cursor":"<its time>"}, so
 * that committing it tells fs-health the source is in step (a quiet CRM is
 * not a stale one).  A failed run writes none, and so does --dry-run.
 */
static void
quiet_checkpoint(struct pull *p)
{
	if (failed(p) || p->dry_run || p->describe || p->checkpoints > 0)
		return;
	emit_checkpoint(p, "run", p->now);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"as", required_argument, NULL, 'a'},
		{"commit", no_argument, NULL, 'C'},
		{"describe", no_argument, NULL, 'D'},
		{"dry-run", no_argument, NULL, 'n'},
		{"limit", required_argument, NULL, 'l'},
		{"since", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	struct pull p = {0};
	struct fs_cli cli;
	const char *arg, *file = NULL, *since = NULL;
	char lease[256];
	bool is_csv = false, is_ndjson = false, leased = false;
	int opt, rc;
	char *end;

	fs_cli_init(&cli, "fs-pull");
	p.cli = &cli;
	p.since_ms = -1;
	p.started = fs_mono_ms();
	while ((opt = getopt_long(argc, argv, FS_CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
		if (fs_cli_option(&cli, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'a':
			p.as = optarg;
			break;
		case 'C':
			p.commit = true;
			break;
		case 'D':
			p.describe = true;
			break;
		case 'l':
			errno = 0;
			p.limit = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || p.limit < 1) {
				fs_err("--limit must be a whole number above 0, not '%s'", optarg);
				usage(stderr, FS_EXIT_USAGE);
			}
			break;
		case 'n':
			p.dry_run = true;
			break;
		case 'S':
			since = optarg;	/* read once the config names the time zone */
			break;
		default:
			usage(stderr, FS_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage(stderr, FS_EXIT_USAGE);
	arg = argv[0];
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	if (since) {
		fs_time t;

		if (fs_cli_time(&cli, "--since", since, false, &t) != 0)
			return fs_cli_finish(&cli, FS_EXIT_USAGE);
		/* An RFC 3339 time keeps its milliseconds; a plain date has none. */
		if (time_ms(since, &p.since_ms) != 0)
			p.since_ms = t * 1000;
	}
	fs_time_format(fs_now(), p.now);
	if (strncmp(arg, "csv:", 4) == 0) {
		is_csv = true;
		file = arg + 4;
		p.name = "csv";
	} else if (strncmp(arg, "ndjson:", 7) == 0) {
		is_ndjson = true;
		file = arg + 7;
		p.name = p.as ? p.as : "ndjson";
	} else {
		if (fs_endpoint_find(&cli.cfg, "source", arg, &p.ep) != 0)
			return fs_cli_finish(&cli, FS_EXIT_USAGE);
		p.name = arg;
		if (strcmp(p.ep.kind, "csv") == 0) {
			if ((file = fs_setting(&p.ep, "file")) == NULL) {
				fs_err("source '%s': a csv source needs 'file' (or pull csv:FILE)", arg);
				return fs_cli_finish(&cli, FS_EXIT_USAGE);
			}
			is_csv = true;
		} else if (strcmp(p.ep.kind, "lob") == 0) {
			fs_err("source '%s' is of kind lob (a target); pull its tracking events as kind lob-events", arg);
			return fs_cli_finish(&cli, FS_EXIT_USAGE);
		}
	}
	if ((is_csv || is_ndjson) && (file == NULL || *file == '\0')) {
		fs_err("%s: no file named", arg);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (p.describe && is_ndjson) {
		fs_err("--describe lists a HubSpot source's properties, or what a CSV's rows map to; '%s' is NDJSON", arg);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (!is_csv && !is_ndjson && retention_settings(&p) != 0)
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	if (fs_cli_state(&cli) != 0)
		return fs_cli_finish(&cli, FS_EXIT_STATE);
	if (!p.dry_run && !p.describe) {
		snprintf(lease, sizeof lease, "fs-pull:%s", p.name);
		rc = fs_lease_take(&cli.st, lease, cli.run_id, 3600);
		if (rc < 0)
			return fs_cli_finish(&cli, FS_EXIT_STATE);
		if (rc == 0) {
			fs_info("source '%s' is being pulled by another run: nothing to do", p.name);
			return fs_cli_finish(&cli, FS_EXIT_OK);
		}
		leased = true;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	if (is_csv)
		pull_csv(&p, file);
	else if (is_ndjson) {
		p.stream = p.as ? (fs_endpoint_find(&cli.cfg, "source", p.as, &p.ep) == 0 &&
				   strcmp(p.ep.kind, "hubspot") == 0 ? "contacts" : strcmp(p.ep.kind ? p.ep.kind : "",
				   "csv") == 0 ? "rows" : "events") : "records";
		pull_ndjson(&p, file);
	} else {
		if (strcmp(p.ep.kind, "hubspot") == 0)
			pull_hubspot(&p);
		else
			pull_lob_events(&p);
		quiet_checkpoint(&p);
	}
	flush_out(&p);
	/* A run that failed on the state file, or was misconfigured, leaves it be. */
	if (!is_csv && !is_ndjson && !p.dry_run && !p.describe && p.status != FS_EXIT_STATE &&
	    p.status != FS_EXIT_USAGE) {
		detach_stdout();
		prune(&p, strcmp(p.ep.kind, "lob-events") == 0);
		refresh_owners(&p);
	}
	fs_buf_free(&p.held);
	record_run(&p);
	if (p.http_ready) {
		fs_debug("%s: %ld requests, %ld retries", p.name, p.http.requests, p.http.retries);
		fs_http_free(&p.http);
	}
	if (p.dead)
		fs_info("%ld record%s went to the dead-letter queue (fs-dlq list)", p.dead, p.dead == 1 ? "" : "s");
	fs_debug("%ld records, %ld checkpoints", p.records, p.checkpoints);
	if (leased)
		fs_lease_release(&cli.st, lease, cli.run_id);
	return fs_cli_finish(&cli, p.status);
}
