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
	rc = is_scan ? fs_dedupe_scan(&cli, from, format) : filter(&cli, ttl, debounce, commit, stats);
	return fs_cli_finish(&cli, rc);
}
