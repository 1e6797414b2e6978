/*
 * fs-dedupe: drop repeated events and debounce flicker; and, as "fs-dedupe
 * scan", report contacts that are probably the same person.  (One active
 * campaign per contact and goal is fs-push's: it takes the enrolment in the
 * transaction that puts the piece in its outbox.)
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

#define PRUNE_BATCH 5000
#define HELD_LINES 64		/* the hot path's lines waiting for their keys' rows */
#define WAIT_LINES 16		/* the hot path's lines judged together, their ids prefetched */

/* Run counters; the ones with a name also go to dedupe_counts per day. */
enum { FORWARDED, IDEMPOTENCY, DEBOUNCE, HELD, RELEASED, NCOUNT };
static const char *const count_names[NCOUNT] = {NULL, "idempotency", "debounce", "held", "released"};

struct dedupe {
	struct fs_cli *cli;
	struct fs_loop *lp;
	int64_t ttl, debounce;
	fs_time now;
	bool commit;
	struct fs_idem *ix;
	struct fs_buf forwarded;	/* ids forwarded since the last checkpoint, NUL-separated */
	struct fs_buf released;	/* the sources whose holds this run has released, NUL-separated */
	const char *last_source;	/* the last one of them looked up */
	size_t last_len;
	struct fs_buf held;	/* new events waiting for fs_idem_flush, each with its "\n" */
	int nheld;
	/* At the end of held: lines not judged yet, whose ids' slots are being
	 * loaded into the cache meanwhile (offsets into held). */
	struct waiting {
		size_t off, len, id_off, id_len;
		struct fs_idem_probe probe;
	} wait[WAIT_LINES];
	int nwait;
	long events, count[NCOUNT], stored[NCOUNT];
	int64_t pruned;
};

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-dedupe [-qvV] [-c config] [-s state] [--commit] [--debounce duration]\n"
		   "                 [--print-config] [--stats] [--ttl duration]\n"
		   "       fs-dedupe [-qvV] [-c config] [-s state] scan [--format ndjson|text|csv]\n"
		   "                 [--from time]\n");
	exit(status);
}

/* A duration from an option or the config; -1 with the error said. */
static int
duration(const char *text, const char *what, int64_t *secs)
{
	if (fs_duration_parse(text, secs) != 0) {
		fs_err("%s: malformed duration '%s' (want e.g. 90s, 15m, 24h, 3d)", what, text);
		return -1;
	}
	return 0;
}

/* What is wrong with an event, "; "-separated; empty when nothing. */
static void
check_event(jv ev, struct fs_buf *why)
{
	static const char *const need[] = {"id", "object", "kind", NULL};
	const char *kind = fs_jstr(ev, "kind");

	for (int i = 0; need[i]; i++) {
		jv v = fs_jget(ev, need[i]);

		if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL)
			fs_buf_addf(why, "%smissing \"%s\"", why->len ? "; " : "", need[i]);
		else if (jv_get_kind(v) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(v)) == 0)
			fs_buf_addf(why, "%s\"%s\" is not a non-empty string", why->len ? "; " : "", need[i]);
		jv_free(v);
	}
	if (kind && *kind && !fs_kind_known(kind))
		fs_buf_addf(why, "%sunknown kind \"%s\"", why->len ? "; " : "", kind);
	if (kind && strcmp(kind, "mail.requested") == 0) {
		jv data = fs_jget(ev, "data");

		if (fs_jstr(data, "contact_id") == NULL)
			fs_buf_addf(why, "%smissing \"data.contact_id\"", why->len ? "; " : "");
		if (fs_jstr(data, "campaign") == NULL)
			fs_buf_addf(why, "%smissing \"data.campaign\"", why->len ? "; " : "");
		jv_free(data);
	}
}

static int
state_failed(struct dedupe *d)
{
	fs_loop_fail(d->lp, FS_EXIT_STATE);
	return -1;
}

/* Sends an event on. */
static void
forward(struct dedupe *d, const char *id, const char *line, size_t len)
{
	fs_emit_raw(d->lp, line, len);
	d->lp->stats.emitted--;	/* forwarded, not made here */
	d->count[FORWARDED]++;
	if (d->commit)
		fs_buf_add(&d->forwarded, id, strlen(id) + 1);
}

static int on_release(const struct fs_hold *h, void *ctx);

/*
 * The first line of a source in this run releases that source's due holds,
 * ahead of it: holds come out only in a pipeline that reads their source,
 * never in another one (whose end would not take them).
 */
static int
release_for(struct dedupe *d, const char *source, size_t len)
{
	long collapsed = 0;
	char *name;

	if (d->last_source && d->last_len == len && memcmp(d->last_source, source, len) == 0)
		return 0;
	for (size_t off = 0; off < d->released.len; off += strlen(d->released.data + off) + 1)
		if (strlen(d->released.data + off) == len && memcmp(d->released.data + off, source, len) == 0) {
			d->last_source = d->released.data + off;
			d->last_len = len;
			return 0;
		}
	name = fs_xasprintf("%.*s", (int)len, source);
	fs_buf_add(&d->released, name, len + 1);
	d->last_source = NULL;	/* the buffer may have moved */
	if (fs_loop_txn(d->lp) != 0 ||
	    fs_holds_release(&d->cli->st, d->ix, d->now, d->cli->run_id, name, on_release, d, &collapsed) != 0) {
		free(name);
		return state_failed(d);
	}
	free(name);
	d->count[DEBOUNCE] += collapsed;
	return 0;
}

/* The members of an event line that the hot path reads. */
enum { M_TYPE, M_ID, M_KIND, M_OBJECT, M_SOURCE, NMEMBERS };
static const struct fs_str member_names[NMEMBERS] = {
	{"type", 4}, {"id", 2}, {"kind", 4}, {"object", 6}, {"source", 6}
};

/* Each member the hot path reads is there, and not empty. */
static bool
all_there(const struct fs_str m[NMEMBERS])
{
	for (int i = 0; i < NMEMBERS; i++)
		if (m[i].p == NULL || m[i].n == 0)
			return false;
	return true;
}

/* Judges the waiting lines in order: repeats leave held, new ones stay. */
static void
judge_waiting(struct dedupe *d)
{
	size_t to = d->nwait > 0 ? d->wait[0].off : d->held.len;

	for (int i = 0; i < d->nwait; i++) {
		const struct waiting *w = &d->wait[i];
		const char *id = d->held.data + w->id_off;

		if (fs_idem_check_probe(d->ix, &w->probe, id, w->id_len) == 0) {
			d->count[IDEMPOTENCY]++;
			continue;
		}
		d->count[FORWARDED]++;
		if (d->commit) {
			fs_buf_add(&d->forwarded, id, w->id_len);
			fs_buf_addc(&d->forwarded, '\0');
		}
		if (to != w->off)	/* a repeat before it left a gap */
			memmove(d->held.data + to, d->held.data + w->off, w->len + 1);
		to += w->len + 1;
		d->nheld++;
	}
	d->held.len = to;
	d->nwait = 0;
}

/*
 * Writes the keys the hot path decided on, then the lines they let through,
 * in the loop's open transaction: output waits for its commit, so no line
 * leaves before its key.  Before any other line, and at each checkpoint.
 */
static int
flush_held(struct dedupe *d)
{
	judge_waiting(d);
	if (d->nheld == 0)
		return 0;
	if (fs_loop_txn(d->lp) != 0)
		return -1;
	if (fs_idem_flush(d->ix) != 0)
		return state_failed(d);
	/* Forwarded, not made here: no fs_emit_raw, which would count them. */
	fs_buf_add(&d->lp->out, d->held.data, d->held.len);
	d->held.len = 0;
	d->nheld = 0;
	return 0;
}

/* Before the loop waits for input: the lines waiting go out. */
static int
on_idle(struct fs_loop *lp, void *ctx)
{
	(void)lp;
	return flush_held(ctx);
}

/*
 * The hot path, before the line is parsed: an event that needs nothing but
 * its id (not a mail.requested, no debounce) is judged from its raw bytes.
 * 1 handled, 0 for the usual way, -1 for a state error.
 */
static int
on_fast(struct fs_loop *lp, struct fs_line *ln, void *ctx)
{
	struct dedupe *d = ctx;
	const struct fs_str *m = ln->members;
	struct waiting *w;
	char kind[32];

	(void)lp;
	if (d->debounce > 0 || m == NULL || !all_there(m) ||
	    m[M_TYPE].n != 5 || memcmp(m[M_TYPE].p, "event", 5) != 0 || m[M_KIND].n >= sizeof kind)
		return flush_held(d);
	memcpy(kind, m[M_KIND].p, m[M_KIND].n);
	kind[m[M_KIND].n] = '\0';
	if (!fs_kind_known(kind))
		return flush_held(d);
	/* A new source's holds go out first, ahead of the lines waiting. */
	if (d->last_source == NULL || d->last_len != m[M_SOURCE].n ||
	    memcmp(d->last_source, m[M_SOURCE].p, m[M_SOURCE].n) != 0) {
		if (flush_held(d) != 0 || release_for(d, m[M_SOURCE].p, m[M_SOURCE].n) != 0)
			return -1;
	}
	d->events++;
	w = &d->wait[d->nwait++];
	w->off = d->held.len;
	w->len = ln->len;
	w->id_off = d->held.len + (size_t)(m[M_ID].p - ln->bytes);
	w->id_len = m[M_ID].n;
	fs_idem_prefetch(d->ix, m[M_ID].p, m[M_ID].n, &w->probe);
	fs_buf_add(&d->held, ln->bytes, ln->len);
	fs_buf_addc(&d->held, '\n');
	if (d->nwait == WAIT_LINES) {
		judge_waiting(d);
		if (d->nheld >= HELD_LINES && flush_held(d) != 0)
			return -1;
	}
	return 1;
}

static int
on_event(struct fs_loop *lp, struct fs_line *ln, void *ctx)
{
	struct dedupe *d = ctx;
	struct fs_state *st = &d->cli->st;
	struct fs_buf why = {0};
	const char *id, *kind, *object, *source;
	int rc;

	d->events++;
	check_event(ln->obj, &why);
	if (why.len > 0) {
		rc = fs_reject(lp, ln, fs_jstr(ln->obj, "id"), "%s", why.data);
		fs_buf_free(&why);
		return rc;
	}
	id = fs_jstr(ln->obj, "id");
	kind = fs_jstr(ln->obj, "kind");
	object = fs_jstr(ln->obj, "object");
	source = fs_jstr(ln->obj, "source") ? fs_jstr(ln->obj, "source") : "";
	if (release_for(d, source, strlen(source)) != 0 || fs_loop_txn(lp) != 0)
		return -1;
	if ((rc = fs_idem_record(d->ix, id, strlen(id))) < 0)
		return state_failed(d);
	if (rc == 0) {
		d->count[IDEMPOTENCY]++;
		return 0;
	}
	if (d->debounce > 0) {
		jv data = fs_jget(ln->obj, "data");
		char *collapse = fs_collapse_key(kind, object, fs_jstr(data, "campaign"));
		struct fs_hold_new h = {
			.kind = kind, .object = object, .event_id = id, .source = source, .collapse = collapse,
			.line = ln->bytes, .len = ln->len, .now = d->now, .release_at = d->now + d->debounce,
		};

		rc = fs_hold_add(st, &h);
		free(collapse);
		jv_free(data);
		if (rc < 0)
			return state_failed(d);
		d->count[rc ? HELD : IDEMPOTENCY]++;
		return 0;
	}
	forward(d, id, ln->bytes, ln->len);
	return 0;
}

static int
on_release(const struct fs_hold *h, void *ctx)
{
	struct dedupe *d = ctx;
	int rc = fs_idem_record(d->ix, h->event_id, strlen(h->event_id));

	if (rc < 0) {
		fs_loop_fail(d->lp, FS_EXIT_STATE);
	} else if (rc == 0) {
		d->count[IDEMPOTENCY]++;
	} else {
		forward(d, h->event_id, h->line, h->len);
		d->count[RELEASED]++;
	}
	return rc;
}

/* Counters since the last store go to dedupe_counts, in the open transaction. */
static int
store_counts(struct dedupe *d)
{
	for (int i = 0; i < NCOUNT; i++) {
		if (count_names[i] == NULL)
			continue;
		if (fs_dedupe_count(&d->cli->st, d->now, count_names[i], d->count[i] - d->stored[i]) != 0)
			return -1;
		d->stored[i] = d->count[i];
	}
	return 0;
}

/* Inside the checkpoint's transaction: the source's holds, the lines waiting, the counters. */
static int
on_checkpoint(struct fs_loop *lp, jv cp, void *ctx)
{
	struct dedupe *d = ctx;
	const char *source = fs_jstr(cp, "source");

	if (flush_held(d) != 0 || (source && release_for(d, source, strlen(source)) != 0))
		return -1;
	if (store_counts(d) != 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

/* --commit: once the lines are written, the keys forwarded become final. */
static int
on_final(struct fs_loop *lp, jv cp, void *ctx)
{
	struct dedupe *d = ctx;

	(void)cp;
	for (size_t off = 0; off < d->forwarded.len; off += strlen(d->forwarded.data + off) + 1)
		if (fs_idem_finalize(d->ix, d->forwarded.data + off, strlen(d->forwarded.data + off)) != 0) {
			fs_loop_fail(lp, FS_EXIT_STATE);
			return -1;
		}
	d->forwarded.len = 0;
	return 0;
}

/* The run's counts, as --stats prints them and the changelog's run row keeps them. */
static jv
counts(const struct dedupe *d)
{
	jv o = jv_object_set(jv_object(), jv_string("events"), jv_number((double)d->events));

	o = jv_object_set(o, jv_string("forwarded"), jv_number((double)d->count[FORWARDED]));
	for (int i = 0; i < NCOUNT; i++)
		if (count_names[i])
			o = jv_object_set(o, jv_string(count_names[i]), jv_number((double)d->count[i]));
	o = jv_object_set(o, jv_string("dead"), jv_number((double)d->lp->stats.dead));
	o = jv_object_set(o, jv_string("passed"), jv_number((double)d->lp->stats.passed));
	return jv_object_set(o, jv_string("pruned"), jv_number((double)d->pruned));
}

/*
 * The summary: on stderr with -v, and in the changelog when the run did
 * something (an idle tick, with only checkpoints passing through, leaves no
 * row).  Returns the status, raised to FS_EXIT_STATE if the row could not
 * be written.
 */
static int
report(struct dedupe *d, bool stats, int status)
{
	fs_debug("%ld events: %ld forwarded, %ld repeated, %ld held, %ld released, %ld collapsed, "
		 "%ld dead; %lld expired keys pruned",
		 d->events, d->count[FORWARDED], d->count[IDEMPOTENCY], d->count[HELD], d->count[RELEASED],
		 d->count[DEBOUNCE], d->lp->stats.dead, (long long)d->pruned);
	if (stats) {
		jv o = jv_object_set(jv_object(), jv_string("type"), jv_string("stats"));
		jv s;

		o = jv_object_set(o, jv_string("command"), jv_string("fs-dedupe"));
		o = jv_object_set(o, jv_string("run_id"), jv_string(d->cli->run_id));
		o = jv_object_merge(o, counts(d));
		s = jv_dump_string(o, 0);
		printf("%s\n", jv_string_value(s));
		jv_free(s);
	}
	if ((d->events || d->count[RELEASED] || d->count[DEBOUNCE] || d->lp->stats.dead || d->pruned) &&
	    fs_changelog_run(d->cli, "fs-dedupe", status, counts(d)) != 0 && status < FS_EXIT_STATE)
		status = FS_EXIT_STATE;
	return status;
}

static int
filter(struct fs_cli *cli, const char *ttl_opt, const char *debounce_opt, bool commit, bool stats)
{
	static const char *const types[] = {"event", NULL};
	struct fs_loop_ops ops = {.types = types, .line = on_event, .checkpoint = on_checkpoint, .final = on_final,
				  .idle = on_idle, .fast = on_fast, .members = member_names, .nmembers = NMEMBERS,
				  .pipeline = "fs-pull | fs-normalize | fs-dedupe --commit"};
	struct dedupe d = {0};
	struct fs_loop lp;
	const char *v;
	int status;

	d.cli = cli;
	d.commit = commit;
	v = fs_config_setting(&cli->cfg, "dedupe", "", "ttl");
	if (duration(v, "[dedupe] ttl", &d.ttl) != 0)
		return FS_EXIT_USAGE;
	v = fs_config_setting(&cli->cfg, "dedupe", "", "debounce");
	if (duration(v, "[dedupe] debounce", &d.debounce) != 0)
		return FS_EXIT_USAGE;
	if (ttl_opt && duration(ttl_opt, "--ttl", &d.ttl) != 0)
		return FS_EXIT_USAGE;
	if (debounce_opt && duration(debounce_opt, "--debounce", &d.debounce) != 0)
		return FS_EXIT_USAGE;
	if (fs_cli_state(cli) != 0)
		return FS_EXIT_STATE;
	d.now = fs_now();
	fs_loop_init(&lp, cli, &ops, &d);
	d.lp = &lp;
	lp.commit_cursors = commit;
	/* Expired keys first, a batch per transaction; holds are released as
	 * their sources show up. */
	if ((d.ix = fs_idem_open(&cli->st, d.now, d.ttl, cli->run_id, PRUNE_BATCH, &d.pruned)) == NULL)
		return FS_EXIT_STATE;
	status = fs_loop_run(&lp, STDIN_FILENO);
	status = report(&d, stats, status);
	fs_buf_free(&lp.out);
	fs_buf_free(&d.forwarded);
	fs_buf_free(&d.released);
	fs_buf_free(&d.held);
	fs_idem_free(d.ix);
	return status;
}

/* The scan. */

enum scan_format { SCAN_NDJSON, SCAN_TEXT, SCAN_CSV };

struct scan {
	struct fs_cli *cli;
	struct fs_scan *s;
	enum scan_format format;
	const char *scan_id;
	long sets, dead;
	fs_time now;
};

static int
add_stored(const char *const f[FS_CONTACT_NFIELDS], void *ctx)
{
	struct scan *sc = ctx;
	const char *g[FS_CONTACT_NFIELDS];
	char *id = fs_xasprintf("contact:%s", f[FS_CONTACT_ID]);

	memcpy(g, f, sizeof g);
	g[FS_CONTACT_ID] = id;
	fs_scan_add(sc->s, g);
	free(id);
	return 0;
}

static int
scan_reject(struct scan *sc, const char *line, size_t len, long lineno, const char *reason)
{
	struct fs_dead dd = {0};

	fs_err("line %ld: %s", lineno, reason);
	sc->dead++;
	dd.command = fs_progname;
	dd.run_id = sc->cli->run_id;
	dd.reason = reason;
	dd.bytes = line;
	dd.len = len;
	dd.lineno = lineno;
	return fs_dlq_add(&sc->cli->st, &dd) < 0 ? -1 : 0;
}

/*
 * Standard input, read whole into memory (*buf, *len; NULL when it is a
 * terminal or empty) before the scan takes the state's write lock: in
 * "fs-normalize | fs-dedupe scan" the stage upstream writes the state as it
 * goes, and would wait for our lock while we waited for its lines, until
 * its busy timeout failed it.
 */
static int
slurp_stdin(char **buf, size_t *len)
{
	FILE *mem;
	char chunk[65536];
	size_t n;

	*buf = NULL;
	*len = 0;
	if (isatty(STDIN_FILENO))
		return 0;
	if ((mem = open_memstream(buf, len)) == NULL) {
		fs_err("cannot buffer standard input:");
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		fwrite(chunk, 1, n, mem);
	if (ferror(stdin) || fclose(mem) != 0) {
		fs_err("cannot read standard input:");
		free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

/* contact.changed events (in buf, len bytes) join (and override) the stored contacts. */
static int
add_stdin(struct scan *sc, char *buf, size_t buflen)
{
	FILE *in = fmemopen(buf, buflen, "r");
	char *line = NULL, seen[21];
	size_t cap = 0, pos;
	ssize_t len;
	long lineno = 0;
	int rc = 0;

	if (in == NULL) {
		fs_err("cannot read standard input:");
		return -1;
	}
	fs_time_format(sc->now, seen);
	while (rc == 0 && (len = getline(&line, &cap, in)) > 0) {
		const char *why;
		jv ev, data, addr;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strspn(line, " \t") == (size_t)len)
			continue;
		if (!fs_utf8_valid(line, (size_t)len, &pos)) {
			char reason[64];

			snprintf(reason, sizeof reason, "invalid UTF-8 at byte %zu", pos + 1);
			rc = scan_reject(sc, line, (size_t)len, lineno, reason);
			continue;
		}
		if ((why = fs_json_check(line, (size_t)len, &pos)) != NULL) {
			char reason[128];

			snprintf(reason, sizeof reason, "%s at byte %zu", why, pos + 1);
			rc = scan_reject(sc, line, (size_t)len, lineno, reason);
			continue;
		}
		ev = jv_parse_sized(line, (int)len);
		if (jv_get_kind(ev) != JV_KIND_OBJECT) {
			rc = scan_reject(sc, line, (size_t)len, lineno, "not a JSON object");
			jv_free(ev);
			continue;
		}
		if (fs_jstr(ev, "type") == NULL || strcmp(fs_jstr(ev, "type"), "event") != 0 ||
		    fs_jstr(ev, "kind") == NULL || strcmp(fs_jstr(ev, "kind"), "contact.changed") != 0) {
			jv_free(ev);	/* other lines say nothing about contacts */
			continue;
		}
		data = fs_jget(ev, "data");
		if (fs_jstr(data, "id") == NULL) {
			rc = scan_reject(sc, line, (size_t)len, lineno, "contact.changed: missing \"data.id\"");
		} else {
			const char *f[FS_CONTACT_NFIELDS];
			char *id = fs_xasprintf("contact:%s", fs_jstr(data, "id"));

			addr = fs_jget(data, "address");
			f[FS_CONTACT_ID] = id;
			f[FS_CONTACT_EMAIL] = fs_jstr(data, "email");
			f[FS_CONTACT_PHONE] = fs_jstr(data, "phone");
			f[FS_CONTACT_FIRST] = fs_jstr(data, "first_name");
			f[FS_CONTACT_LAST] = fs_jstr(data, "last_name");
			f[FS_CONTACT_LINE1] = fs_jstr(addr, "line1");
			f[FS_CONTACT_CITY] = fs_jstr(addr, "city");
			f[FS_CONTACT_REGION] = fs_jstr(addr, "region");
			f[FS_CONTACT_POSTAL] = fs_jstr(addr, "postal_code");
			f[FS_CONTACT_SEEN] = seen;
			fs_scan_add(sc->s, f);
			free(id);
			jv_free(addr);
		}
		jv_free(data);
		jv_free(ev);
	}
	free(line);
	fclose(in);
	return rc;
}

static jv
reasons_json(unsigned why)
{
	jv r = jv_array();

	if (why & FS_REASON_EMAIL)
		r = jv_array_append(r, jv_string("email"));
	if (why & FS_REASON_PHONE)
		r = jv_array_append(r, jv_string("phone"));
	if (why & FS_REASON_NAME_ADDRESS)
		r = jv_array_append(r, jv_string("name+address"));
	return r;
}

/* Text for a terminal: a control byte from the CRM (an escape sequence) shows as '?'. */
static void
add_printable(struct fs_buf *b, const char *s)
{
	for (; s && *s; s++)
		fs_buf_addc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/* Parts that are there, each after sep (none before the first); 0 when none. */
static int
add_parts(struct fs_buf *b, const char *sep, const char *const *parts, int n)
{
	int added = 0;

	for (int i = 0; i < n; i++) {
		if (parts[i] == NULL)
			continue;
		if (added++)
			fs_buf_adds(b, sep);
		add_printable(b, parts[i]);
	}
	return added;
}

/*
 * One member for a person to read: "contact:1: Bill Smith; 12 Oak St,
 * Springfield, IL 62701; bill@example.com; 217-555-0101", a missing part
 * said so, so that the analyst can find the record in the CRM by what it
 * holds.
 */
static void
text_member(struct fs_buf *b, const char *id, const char *const *f)
{
	const char *name[] = {f[FS_CONTACT_FIRST], f[FS_CONTACT_LAST]};
	const char *town[] = {f[FS_CONTACT_REGION], f[FS_CONTACT_POSTAL]};
	struct fs_buf place = {0};
	const char *addr[3];

	fs_buf_adds(&place, "");
	add_parts(&place, " ", town, 2);
	addr[0] = f[FS_CONTACT_LINE1];
	addr[1] = f[FS_CONTACT_CITY];
	addr[2] = place.len ? place.data : NULL;
	fs_buf_adds(b, "  ");
	add_printable(b, id);
	fs_buf_adds(b, ": ");
	if (add_parts(b, " ", name, 2) == 0)
		fs_buf_adds(b, "(no name)");
	fs_buf_adds(b, "; ");
	if (add_parts(b, ", ", addr, 3) == 0)
		fs_buf_adds(b, "(no address)");
	fs_buf_adds(b, "; ");
	add_printable(b, f[FS_CONTACT_EMAIL] ? f[FS_CONTACT_EMAIL] : "(no e-mail)");
	fs_buf_adds(b, "; ");
	add_printable(b, f[FS_CONTACT_PHONE] ? f[FS_CONTACT_PHONE] : "(no phone)");
	fs_buf_addc(b, '\n');
	fs_buf_free(&place);
}

/* The CSV columns: one row a member, the set's number, score and reasons on each. */
static const char *const csv_header =
	"set,score,reasons,member,first_name,last_name,line1,city,region,postal_code,email,phone";
static const int csv_fields[] = {
	FS_CONTACT_FIRST, FS_CONTACT_LAST, FS_CONTACT_LINE1, FS_CONTACT_CITY, FS_CONTACT_REGION,
	FS_CONTACT_POSTAL, FS_CONTACT_EMAIL, FS_CONTACT_PHONE,
};

/* Every cell through fs_csv_cell: names and addresses come from the CRM, and
 * "=HYPERLINK(...)" in a first name must not run in the analyst's spreadsheet. */
static void
csv_member(struct fs_buf *b, long set, const char *score, const char *why, const char *id,
	   const char *const *f)
{
	fs_buf_addf(b, "%ld,%s,", set, score);
	fs_csv_cell(b, why, strlen(why));
	fs_buf_addc(b, ',');
	fs_csv_cell(b, id, strlen(id));
	for (size_t i = 0; i < sizeof csv_fields / sizeof csv_fields[0]; i++) {
		const char *v = f[csv_fields[i]];

		fs_buf_addc(b, ',');
		fs_csv_cell(b, v, v ? strlen(v) : 0);
	}
	fs_buf_adds(b, "\r\n");
}

static int
on_set(const struct fs_dupset *set, void *ctx)
{
	struct scan *sc = ctx;
	jv members = jv_array(), reasons = reasons_json(set->reasons), o;
	struct fs_buf why = {0}, out = {0};
	char *m, *r, score[16];
	int rc;

	for (int i = 0; i < set->n; i++)
		members = jv_array_append(members, jv_string(set->members[i]));
	m = fs_jdump(members);
	r = fs_jdump(reasons);
	rc = fs_duplicate_set_store(&sc->cli->st, sc->scan_id, m, set->score, r, sc->now);
	sc->sets++;
	fs_buf_adds(&why, "");
	jv_array_foreach(reasons, i, w) {
		fs_buf_addf(&why, "%s%s", i ? ", " : "", jv_string_value(w));
		jv_free(w);
	}
	snprintf(score, sizeof score, "%.2f", set->score);
	fs_buf_adds(&out, "");
	switch (sc->format) {
	case SCAN_TEXT:
		fs_buf_addf(&out, "%sset %ld: score %s, matched on %s\n", sc->sets > 1 ? "\n" : "", sc->sets, score,
			    why.data);
		for (int i = 0; i < set->n; i++)
			text_member(&out, set->members[i], set->fields[i]);
		break;
	case SCAN_CSV:
		for (int i = 0; i < set->n; i++)
			csv_member(&out, sc->sets, score, why.data, set->members[i], set->fields[i]);
		break;
	case SCAN_NDJSON:
		o = jv_object_set(jv_object(), jv_string("type"), jv_string("duplicate_set"));
		o = jv_object_set(o, jv_string("members"), members);
		o = jv_object_set(o, jv_string("score"), jv_number(set->score));
		o = jv_object_set(o, jv_string("reasons"), reasons);
		members = jv_invalid();
		reasons = jv_invalid();
		free(m);
		m = fs_jdump(o);
		fs_buf_addf(&out, "%s\n", m);
		jv_free(o);
		break;
	}
	fwrite(out.data, 1, out.len, stdout);
	jv_free(members);
	jv_free(reasons);
	fs_buf_free(&why);
	fs_buf_free(&out);
	free(m);
	free(r);
	return rc;
}

static int
scan(struct fs_cli *cli, const char *from_opt, const char *format)
{
	struct scan sc = {0};
	char from[21], *scan_id, *input;
	size_t input_len;
	fs_time t;
	int rc, scanned;
	jv detail;

	sc.cli = cli;
	if (format == NULL || strcmp(format, "ndjson") == 0) {
		sc.format = SCAN_NDJSON;
	} else if (strcmp(format, "text") == 0) {
		sc.format = SCAN_TEXT;
	} else if (strcmp(format, "csv") == 0) {
		sc.format = SCAN_CSV;
	} else {
		fs_err("--format: must be ndjson, text or csv, not '%s'", format);
		return FS_EXIT_USAGE;
	}
	if (from_opt) {
		if (fs_cli_time(cli, "--from", from_opt, false, &t) != 0)
			return FS_EXIT_USAGE;
		fs_time_format(t, from);
	}
	if (fs_cli_state(cli) != 0)
		return FS_EXIT_STATE;
	if (slurp_stdin(&input, &input_len) != 0)
		return FS_EXIT_STATE;
	sc.now = fs_now();
	scan_id = fs_xasprintf("scan_%s", cli->run_id + 4);
	sc.scan_id = scan_id;
	sc.s = fs_scan_new();
	if (fs_state_begin(&cli->st) != 0)
		goto fail;
	if (fs_contacts_each(&cli->st, add_stored, &sc) != 0)
		goto fail;
	if (input_len > 0 && add_stdin(&sc, input, input_len) != 0)
		goto fail;
	scanned = fs_scan_size(sc.s);
	if (sc.format == SCAN_CSV)
		printf("%s\r\n", csv_header);
	if (fs_scan_run(sc.s, from_opt ? from : NULL, on_set, &sc) != 0)
		goto fail;
	if (sc.format == SCAN_TEXT && sc.sets == 0)
		printf("no duplicate sets\n");
	detail = jv_object_set(jv_object(), jv_string("scan_id"), jv_string(scan_id));
	detail = jv_object_set(detail, jv_string("scanned"), jv_number(scanned));
	detail = jv_object_set(detail, jv_string("sets"), jv_number((double)sc.sets));
	if (from_opt)
		detail = jv_object_set(detail, jv_string("from"), jv_string(from));
	if (fs_changelog(&cli->st, "dedupe.scan", cli->run_id, NULL, NULL, detail) != 0 ||
	    fs_state_commit(&cli->st) != 0)
		goto fail;
	fs_debug("%d contacts scanned, %ld duplicate sets", scanned, sc.sets);
	rc = sc.dead ? FS_EXIT_DLQ : FS_EXIT_OK;
	fs_scan_free(sc.s);
	free(scan_id);
	free(input);
	return rc;
fail:
	fs_state_rollback(&cli->st);
	fs_scan_free(sc.s);
	free(scan_id);
	free(input);
	return FS_EXIT_STATE;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"commit", no_argument, NULL, 'C'},
		{"debounce", required_argument, NULL, 'D'},
		{"format", required_argument, NULL, 'F'},
		{"from", required_argument, NULL, 'f'},
		{"stats", no_argument, NULL, 'S'},
		{"ttl", required_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	struct fs_cli cli;
	const char *ttl = NULL, *debounce = NULL, *from = NULL, *format = NULL;
	bool commit = false, stats = false, is_scan;
	int opt, rc;

	fs_cli_init(&cli, "fs-dedupe");
	while ((opt = getopt_long(argc, argv, FS_CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
		if (fs_cli_option(&cli, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'C':
			commit = true;
			break;
		case 'D':
			debounce = optarg;
			break;
		case 'F':
			format = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 'S':
			stats = true;
			break;
		case 'T':
			ttl = optarg;
			break;
		default:
			usage(stderr, FS_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	is_scan = argc == 1 && strcmp(argv[0], "scan") == 0;
	if (argc > 1 || (argc == 1 && !is_scan)) {
		fs_err("unknown command '%s'", argv[0]);
		usage(stderr, FS_EXIT_USAGE);
	}
	if (is_scan && (commit || debounce || stats || ttl)) {
		fs_err("scan takes only --format and --from");
		usage(stderr, FS_EXIT_USAGE);
	}
	if (!is_scan && (from || format)) {
		fs_err("--format and --from belong to 'fs-dedupe scan'");
		usage(stderr, FS_EXIT_USAGE);
	}
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	rc = is_scan ? scan(&cli, from, format) : filter(&cli, ttl, debounce, commit, stats);
	return fs_cli_finish(&cli, rc);
}
