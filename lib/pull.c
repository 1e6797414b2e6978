/*
 * What every connector's pull shares (lib/vendors.h): records and
 * checkpoints on standard output, dead letters, requests, the webhook inbox
 * and its retention.  fs-pull owns the struct fs_pull a run fills.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

#define INBOX_ROWS 100		/* inbox rows per checkpoint */
#define PRUNE_BATCH 5000	/* rows a retention transaction */

void
fs_pull_fail(struct fs_pull *p, int status)
{
	if (p->status == FS_EXIT_OK || p->status == FS_EXIT_DLQ)
		if (status > p->status)
			p->status = status;
}

/* An error, or a reader that closed the pipe: either way, stop pulling. */
bool
fs_pull_failed(const struct fs_pull *p)
{
	return p->status > FS_EXIT_DLQ || fs_stdout_closed();
}

void
fs_pull_progress(struct fs_pull *p, const char *stream, long pages, bool last)
{
	double secs = (double)(fs_mono_ms() - p->started) / 1000.0;

	if (!fs_progress_enabled())
		return;
	fprintf(stderr, "\r%s: %s %s: %ld pages, %ld records, %.1f requests/s%s", fs_progname, p->name,
		stream, pages, p->records, secs > 0 ? (double)p->http.requests / secs : 0.0, last ? "\n" : "");
}

int
fs_pull_flush(struct fs_pull *p)
{
	fs_step("write");
	fs_pull_fail(p, fs_stdout_flush(FS_EXIT_OK));
	return ferror(stdout) ? -1 : 0;
}

void
fs_pull_record(struct fs_pull *p, const char *stream, const char *key, jv data)
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
int
fs_pull_checkpoint(struct fs_pull *p, const char *stream, const char *cursor)
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
	if (fs_pull_flush(p) != 0)
		return -1;
	if (p->commit) {
		struct fs_state *st = &p->cli->st;

		if (fs_state_begin(st) != 0 || fs_cursor_commit(st, p->name, stream, cursor, p->cli->run_id) != 0 ||
		    fs_state_commit(st) != 0) {
			fs_state_rollback(st);
			fs_pull_fail(p, FS_EXIT_STATE);
			return -1;
		}
	}
	return 0;
}

int
fs_pull_dead(struct fs_pull *p, const char *bytes, size_t len, long lineno, const char *fmt, ...)
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
	fs_pull_fail(p, FS_EXIT_DLQ);
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
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}


/* A request whose answer must be JSON with want_key; jv_invalid() after a failure (said). */
jv
fs_pull_call(struct fs_pull *p, const char *method, const char *path, jv body, const char *want_key, long *status)
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
		fs_pull_fail(p, FS_EXIT_REMOTE);
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
		fs_pull_fail(p, FS_EXIT_REMOTE);
		return jv_invalid();
	}
	fs_http_response_free(&r);
	return out;
}

static int
http_base(struct fs_pull *p)
{
	const char *at = fs_setting(&p->ep, "attempts");

	if (fs_http_init(&p->http, p->name, fs_setting(&p->ep, "url"), fs_setting(&p->ep, "rate")) != 0)
		return -1;
	p->http_ready = true;
	p->http.dry_run = p->dry_run;
	if ((p->http.attempts = atoi(at)) < 1) {
		fs_err("source '%s': attempts must be 1 or more, not '%s'", p->name, at);
		return -1;
	}
	return 0;
}

/* The source's url, rate and attempts, without a token (a connector that keeps its own); -1 a usage error. */
int
fs_pull_http_base(struct fs_pull *p)
{
	if (http_base(p) != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return 0;
}

static int
http_setup(struct fs_pull *p, bool basic)
{
	const char *env = fs_setting(&p->ep, "token_env");
	char *token;

	if (http_base(p) != 0)
		return -1;
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

/* The source's url, rate, attempts and token (token_env, or token_file); a failure is a usage error. */
int
fs_pull_http_setup(struct fs_pull *p, bool basic)
{
	if (http_setup(p, basic) != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return 0;
}

/* Milliseconds since the epoch of an RFC 3339 time (fraction kept to ms). */
int
fs_time_ms(const char *s, int64_t *ms)
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

/* "2026-11-29T11:00:00.123Z": ms since the epoch as RFC 3339 UTC with milliseconds. */
void
fs_ms_format(int64_t ms, char out[32])
{
	char base[21];
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;

	fs_time_format(secs, base);
	snprintf(out, 32, "%.19s.%03dZ", base, (int)(ms - secs * 1000));
}

jv
fs_split_list(const char *s)
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

/* The inbox's rows after the committed cursor: each batch's records (v->inbox), then its checkpoint. */
int
fs_pull_drain(struct fs_pull *p, const struct fs_vendor *v)
{
	char *saved = NULL, *end, cursor[32];
	int64_t after = 0;

	if (fs_cursor_get(&p->cli->st, p->name, "inbox", &saved) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (saved) {
		after = strtoll(saved, &end, 10);
		if (*end || after < 0) {
			fs_err("%s: committed inbox cursor is not a row id: '%s'", p->name, saved);
			free(saved);
			fs_pull_fail(p, FS_EXIT_STATE);
			return -1;
		}
		free(saved);
	}
	if (!p->dry_run && (fs_inbox_mark_drained(&p->cli->st, p->name, after) != 0)) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	while (!fs_pull_failed(p)) {
		struct fs_inbox_row *rows;
		int n;

		if (fs_inbox_fetch(&p->cli->st, p->name, after, INBOX_ROWS, &rows, &n) != 0) {
			fs_pull_fail(p, FS_EXIT_STATE);
			return -1;
		}
		if (n == 0)
			break;
		if (p->dry_run)
			printf("# %s: %d inbox rows after id %lld to drain\n", p->name, n, (long long)after);
		v->inbox(p, rows, n);
		after = rows[n - 1].id;
		fs_inbox_rows_free(rows, n);
		if (fs_pull_failed(p) || p->dry_run)
			break;
		snprintf(cursor, sizeof cursor, "%lld", (long long)after);
		if (fs_pull_checkpoint(p, "inbox", cursor) != 0)
			return -1;
	}
	return fs_pull_failed(p) ? -1 : 0;
}

/* A committed cursor of stream, as a number (0 when none). */
int
fs_pull_cursor_number(struct fs_pull *p, const char *stream, int64_t *v)
{
	char *saved = NULL, *end;

	*v = 0;
	if (fs_cursor_get(&p->cli->st, p->name, stream, &saved) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (saved) {
		*v = strtoll(saved, &end, 10);
		if (*end || *v < 0) {
			fs_err("%s: committed %s cursor is not a number: '%s'", p->name, stream, saved);
			free(saved);
			fs_pull_fail(p, FS_EXIT_STATE);
			return -1;
		}
	}
	free(saved);
	return 0;
}

/* Events recorded by runs whose checkpoints were never committed are emitted again. */
/* ---- retention ---- */

/* A retention setting of the source: a duration, or never (-1); never too when it is not the kind's. */
static int
retention_setting(struct fs_pull *p, const char *key, int64_t *secs)
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

int
fs_pull_retention(struct fs_pull *p)
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
void
fs_pull_prune(struct fs_pull *p, bool polled)
{
	struct fs_state *st = &p->cli->st;
	int64_t inbox, poll = 0, bodies = 0, rows = 0, events = 0;
	char b[21], r[21], e[21];

	if (fs_pull_cursor_number(p, "inbox", &inbox) != 0 || (polled && fs_pull_cursor_number(p, "poll", &poll) != 0))
		return;
	if (fs_inbox_prune(st, p->name, inbox, cutoff(p->inbox_keep, b), cutoff(p->keys_keep, r), PRUNE_BATCH,
			   &bodies, &rows) != 0 ||
	    (polled && p->polled_keep >= 0 &&
	     fs_poll_prune(st, p->name, poll, inbox, cutoff(p->polled_keep, e), PRUNE_BATCH, &events) != 0)) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return;
	}
	p->pruned_bodies = bodies;
	p->pruned_rows = rows;
	p->pruned_events = events;
	if (bodies + rows + events == 0)
		return;
	if (polled)
		fs_debug("%s: pruned past retention: %lld inbox bod%s, %lld inbox row%s, %lld emitted event%s",
			 p->name, (long long)bodies, bodies == 1 ? "y" : "ies", (long long)rows, rows == 1 ? "" : "s",
			 (long long)events, events == 1 ? "" : "s");
	else
		fs_debug("%s: pruned past retention: %lld inbox bod%s, %lld inbox row%s", p->name,
			 (long long)bodies, bodies == 1 ? "y" : "ies", (long long)rows, rows == 1 ? "" : "s");
}

void
fs_piece_events_free(struct fs_piece_event *ev, int n)
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
 * committed (each connector's start forgets them, as lob_start does).
 */
int
fs_pull_emit_events(struct fs_pull *p, struct fs_piece_event *ev, int n, bool drained)
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
			fs_pull_record(p, "events", ev[i].key, jv_copy(ev[i].data));
	if (nfresh > 0 && !drained) {
		snprintf(cursor, sizeof cursor, "%lld", (long long)poll);
		rc = fs_pull_checkpoint(p, "poll", cursor);
	}
	free(fresh);
	return rc;
state:
	fs_state_rollback(st);
	free(fresh);
	fs_pull_fail(p, FS_EXIT_STATE);
	return -1;
}
