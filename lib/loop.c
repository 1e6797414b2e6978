/*
 * The NDJSON loop: read lines in constant memory, check them, hand the ones
 * the command acts on to its callback, pass the others through in order,
 * and commit state before the output that depends on it is written.
 *
 * Transactions are short: the loop commits whenever its input would block,
 * at each checkpoint, at the end of input, and every few thousand lines, and
 * it never holds a write transaction while it waits on a pipe.  Every stage
 * of a pipeline writes to the same state file, so one stage waiting on its
 * reader while holding the lock would stall the stage after it.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fieldsync.h"

#define READ_CHUNK (64 * 1024)
#define COMMIT_LINES 20000
#define FLUSH_BYTES (8 * 1024 * 1024)

void
fs_loop_init(struct fs_loop *lp, struct fs_cli *cli, const struct fs_loop_ops *ops, void *ctx)
{
	memset(lp, 0, sizeof *lp);
	lp->cli = cli;
	lp->st = fs_state_is_open(&cli->st) ? &cli->st : NULL;
	lp->ops = ops;
	lp->ctx = ctx;
	lp->max_line = 1024 * 1024;
}

void
fs_loop_fail(struct fs_loop *lp, int status)
{
	/* DLQ (1) < any error; among errors the first one wins. */
	if (lp->status == FS_EXIT_OK || lp->status == FS_EXIT_DLQ)
		if (status > lp->status)
			lp->status = status;
}

void
fs_emit_raw(struct fs_loop *lp, const char *p, size_t n)
{
	fs_buf_add(&lp->out, p, n);
	fs_buf_addc(&lp->out, '\n');
	lp->stats.emitted++;
}

void
fs_emit(struct fs_loop *lp, jv v)
{
	jv s = jv_dump_string(v, 0);

	fs_emit_raw(lp, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
}

static int
flush_out(struct fs_loop *lp)
{
	size_t off = 0;

	if (lp->out.len > 0)
		fs_step("write");
	while (off < lp->out.len) {
		ssize_t n = write(STDOUT_FILENO, lp->out.data + off, lp->out.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* A reader that closed the pipe stops the loop without a word. */
			lp->out.len = 0;
			fs_loop_fail(lp, fs_stdout_error(FS_EXIT_OK));
			return -1;
		}
		off += (size_t)n;
	}
	lp->out.len = 0;
	return 0;
}

int
fs_loop_txn(struct fs_loop *lp)
{
	if (lp->st == NULL || lp->st->depth > 0)
		return 0;
	if (fs_state_begin(lp->st) != 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

/* Commits what is open, then writes the output that depends on it. */
static int
commit_and_flush(struct fs_loop *lp)
{
	if (lp->st && lp->st->depth > 0 && fs_state_commit(lp->st) != 0) {
		fs_state_rollback(lp->st);
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	return flush_out(lp);
}

int
fs_reject(struct fs_loop *lp, const struct fs_line *ln, const char *event_id, const char *fmt, ...)
{
	char reason[2048];
	va_list ap;
	struct fs_dead d = {0};

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (ln->lineno > 0)
		fs_err("line %ld: %s", ln->lineno, reason);
	else
		fs_err("%s", reason);
	lp->stats.dead++;
	fs_loop_fail(lp, FS_EXIT_DLQ);
	if (lp->st == NULL)
		return 0;
	if (fs_loop_txn(lp) != 0)
		return -1;
	d.command = fs_progname;
	d.run_id = lp->cli->run_id;
	d.reason = reason;
	d.source = lp->source;
	d.event_id = event_id;
	d.bytes = ln->bytes;
	d.len = ln->len;
	d.lineno = ln->lineno;
	if (fs_dlq_add(lp->st, &d) < 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

static bool
acts_on(const struct fs_loop_ops *ops, const char *type)
{
	for (int i = 0; ops->types && ops->types[i]; i++)
		if (strcmp(ops->types[i], type) == 0)
			return true;
	return false;
}

/* The output written so far reaches the disk, when it is a file. */
static void
sync_out(void)
{
	struct stat sb;

	if (fstat(STDOUT_FILENO, &sb) == 0 && S_ISREG(sb.st_mode))
		fdatasync(STDOUT_FILENO);
}

static int
commit_cursor(struct fs_loop *lp, jv cp)
{
	const char *source = fs_jstr(cp, "source"), *stream = fs_jstr(cp, "stream");
	jv cursor = fs_jget(cp, "cursor");
	int rc = 0;

	if (source && jv_is_valid(cursor) && jv_get_kind(cursor) != JV_KIND_NULL) {
		char *text = jv_get_kind(cursor) == JV_KIND_STRING
		    ? fs_xstrdup(jv_string_value(cursor)) : fs_jdump(cursor);

		rc = fs_cursor_commit(lp->st, source, stream, text, lp->cli->run_id);
		free(text);
	}
	jv_free(cursor);
	if (rc != 0)
		fs_loop_fail(lp, FS_EXIT_STATE);
	return rc;
}

/*
 * A checkpoint: what the lines before it did is committed, then they are
 * written.  When this command ends the pipeline, only then does the
 * checkpoint become final (its cursor, and with ops->final the keys): a run
 * killed while the lines are being written has committed nothing that
 * covers them, and its re-run writes them again.
 */
static int
checkpoint(struct fs_loop *lp, const struct fs_line *ln, jv cp)
{
	if (fs_loop_txn(lp) != 0)
		return -1;
	if (lp->ops->checkpoint && lp->ops->checkpoint(lp, cp, lp->ctx) != 0)
		return -1;
	if (commit_and_flush(lp) != 0)
		return -1;
	if (lp->commit_cursors && lp->st) {
		sync_out();
		if (fs_loop_txn(lp) != 0)
			return -1;
		if (lp->ops->final && lp->ops->final(lp, cp, lp->ctx) != 0)
			return -1;
		if (jv_get_kind(cp) == JV_KIND_OBJECT && commit_cursor(lp, cp) != 0)
			return -1;
		if (commit_and_flush(lp) != 0)
			return -1;
	}
	if (lp->ops->committed && lp->ops->committed(lp, cp, lp->ctx) != 0)
		return -1;
	if (ln) {
		if (!lp->forward_none) {
			fs_emit_raw(lp, ln->bytes, ln->len);
			lp->stats.emitted--;	/* forwarded, not made here */
		}
		lp->stats.checkpoints++;
	}
	return flush_out(lp);
}

/* One complete line (without its "\n"). Returns -1 to stop the loop. */
static int
handle_line(struct fs_loop *lp, char *p, size_t n, long lineno)
{
	struct fs_line ln = {p, n, lineno, jv_invalid(), NULL, NULL};
	struct fs_json_top top = {lp->ops->members, lp->ops->nmembers, {{0}}, false};
	const char *why;
	size_t pos = 0;
	jv obj, type;
	int rc = 0;

	if (n > 0 && p[n - 1] == '\r')
		ln.len = --n;
	lp->stats.lines++;
	if (n == 0 || strspn(p, " \t") == n) {
		lp->stats.blank++;
		return 0;
	}
	/* Text the JSON check accepts is valid UTF-8; only a rejected line needs
	 * the UTF-8 check, whose reason comes first. */
	if ((why = fs_json_check_top(p, n, &pos, lp->ops->fast ? &top : NULL)) != NULL) {
		/* A last line cut short is what a stage before this one leaves
		 * when it is killed while writing: the line comes again with the
		 * re-run, and the reason says so, for the operator's purge. */
		const char *cut = lp->unterminated ? " (the last line, with no newline: cut short?)" : "";

		if (!fs_utf8_valid(p, n, &pos))
			return fs_reject(lp, &ln, NULL, "invalid UTF-8 at byte %zu%s", pos + 1, cut);
		return fs_reject(lp, &ln, NULL, "%s at byte %zu%s", why, pos + 1, cut);
	}
	if (lp->ops->fast) {
		ln.members = top.plain ? top.value : NULL;
		if ((rc = lp->ops->fast(lp, &ln, lp->ctx)) != 0)
			return rc < 0 ? -1 : 0;
	}
	obj = jv_parse_sized(p, (int)n);
	if (!jv_is_valid(obj)) {
		jv_free(obj);
		return fs_reject(lp, &ln, NULL, "invalid JSON");
	}
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		jv_free(obj);
		return fs_reject(lp, &ln, NULL, "not a JSON object");
	}
	ln.obj = obj;
	type = fs_jget(obj, "type");
	if (jv_get_kind(type) == JV_KIND_STRING)
		ln.type = jv_string_value(type);
	if (ln.type == NULL && !(lp->ops->raw_ok && !jv_is_valid(type))) {
		rc = fs_reject(lp, &ln, NULL, jv_is_valid(type) ? "\"type\" is not a string" : "missing \"type\"");
	} else if (ln.type && strcmp(ln.type, "checkpoint") == 0) {
		rc = checkpoint(lp, &ln, obj);
	} else if (lp->commit_cursors && lp->ops->pipeline && strcmp(ln.type, "record") == 0 &&
		   !acts_on(lp->ops, ln.type)) {
		/* Passed through, it would be lost once the cursor after it commits. */
		fs_err("line %ld: a record from '%s' reached %s: fs-normalize is missing (%s)", lineno,
		       fs_jstr(obj, "source") ? fs_jstr(obj, "source") : "?", fs_progname, lp->ops->pipeline);
		fs_loop_fail(lp, FS_EXIT_USAGE);
		rc = -1;
	} else if (ln.type == NULL || acts_on(lp->ops, ln.type)) {
		rc = lp->ops->line(lp, &ln, lp->ctx);
	} else {
		if (!lp->forward_none) {
			fs_emit_raw(lp, p, n);
			lp->stats.emitted--;
		}
		lp->stats.passed++;
	}
	jv_free(type);
	jv_free(obj);
	return rc;
}

static void
progress(struct fs_loop *lp, bool last)
{
	static time_t shown;
	time_t now = time(NULL);

	if (!fs_progress_enabled() || (!last && now == shown))
		return;
	shown = now;
	fprintf(stderr, "\r%s: %ld lines, %ld out, %ld dead%s", fs_progname, lp->stats.lines,
		lp->stats.emitted + lp->stats.passed, lp->stats.dead, last ? "\n" : "");
}

/*
 * The line reader: constant memory whatever the input.  A line longer than
 * max_line is returned as its first max_line bytes with too_long set, and
 * the rest of it is read and dropped.
 */
struct reader {
	int fd;
	char *buf, *head;
	size_t cap, have, start, scanned, max;
	bool eof;
};

struct line_read {
	char *p;
	size_t n, total;
	bool too_long;
	bool unterminated;	/* the last line, with no newline after it */
};

/* Returns 1 with a line, 0 at the end of input, -1 on a read error. */
static int
next_line(struct reader *r, struct line_read *out, struct fs_loop *lp)
{
	bool dropping = false;

	out->too_long = false;
	out->unterminated = false;
	for (;;) {
		char *nl = memchr(r->buf + r->scanned, '\n', r->have - r->scanned);
		ssize_t n;

		if (nl != NULL || (r->eof && r->have > r->start)) {
			size_t end = nl ? (size_t)(nl - r->buf) : r->have;

			out->unterminated = nl == NULL;
			if (dropping) {
				out->total += end - r->start;
				out->p = r->head;
				out->n = r->max;
				out->too_long = true;
			} else if (end - r->start > r->max) {
				/* Whole in the buffer, but longer than allowed all the same. */
				if (r->head == NULL)
					r->head = fs_xmalloc(r->max + 1);
				memcpy(r->head, r->buf + r->start, r->max);
				out->total = end - r->start;
				out->p = r->head;
				out->n = r->max;
				out->too_long = true;
			} else {
				out->p = r->buf + r->start;
				out->n = out->total = end - r->start;
				out->p[out->n] = '\0';
			}
			r->start = r->scanned = nl ? end + 1 : r->have;
			return 1;
		}
		if (r->eof)
			return dropping ? (out->p = r->head, out->n = r->max, out->too_long = true, 1) : 0;
		r->scanned = r->have;
		/* More than max bytes with no newline: too long.  Exactly max may
		 * yet be a whole line, its newline in the next read. */
		if (!dropping && r->have - r->start > r->max) {
			if (r->head == NULL)
				r->head = fs_xmalloc(r->max + 1);
			memcpy(r->head, r->buf + r->start, r->max);
			r->head[r->max] = '\0';
			dropping = true;
			out->total = r->have - r->start;
			r->have = r->start = r->scanned = 0;
		} else if (dropping) {
			out->total += r->have - r->start;
			r->have = r->start = r->scanned = 0;
		} else if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->have - r->start);
			r->have -= r->start;
			r->scanned -= r->start;
			r->start = 0;
		}
		/* About to wait for input: commit first, never hold the lock while blocked. */
		{
			struct pollfd pfd = {r->fd, POLLIN, 0};

			if (poll(&pfd, 1, 0) == 0) {
				if (lp->ops->idle && lp->ops->idle(lp, lp->ctx) != 0)
					return -1;
				if ((lp->out.len > 0 || (lp->st && lp->st->depth > 0)) && commit_and_flush(lp) != 0)
					return -1;
			}
		}
		n = read(r->fd, r->buf + r->have, r->cap - 1 - r->have);
		if (fs_interrupted) {
			/* Asked to stop: nothing after the last commit is kept. */
			lp->interrupted = true;
			return -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fs_err("read error on standard input:");
			fs_loop_fail(lp, FS_EXIT_USAGE);
			return -1;
		}
		if (n == 0)
			r->eof = true;
		r->have += (size_t)n;
	}
}

static int
reject_too_long(struct fs_loop *lp, const struct line_read *lr, long lineno)
{
	struct fs_line ln = {lr->p, lr->n, lineno, jv_invalid(), NULL, NULL};

	lp->stats.lines++;
	return fs_reject(lp, &ln, NULL, "line longer than %zu bytes (%zu bytes; the DLQ keeps the first %zu)",
			 lp->max_line, lr->total, lp->max_line);
}

int
fs_loop_run(struct fs_loop *lp, int fd)
{
	struct reader r = {fd, NULL, NULL, lp->max_line + READ_CHUNK + 1, 0, 0, 0, lp->max_line, false};
	struct line_read lr;
	long lineno = 0, since_commit = 0;
	int rc;

	r.buf = fs_xmalloc(r.cap);
	while ((rc = next_line(&r, &lr, lp)) == 1) {
		lineno++;
		lp->unterminated = lr.unterminated;
		if (lr.too_long ? reject_too_long(lp, &lr, lineno) != 0
				: handle_line(lp, lr.p, lr.n, lineno) != 0) {
			rc = -1;
			break;
		}
		if (++since_commit >= COMMIT_LINES || lp->out.len >= FLUSH_BYTES) {
			since_commit = 0;
			if (commit_and_flush(lp) != 0) {
				rc = -1;
				break;
			}
			progress(lp, false);
		}
	}
	free(r.buf);
	free(r.head);
	if (rc < 0 && lp->status <= FS_EXIT_DLQ && !fs_stdout_closed() && !lp->interrupted)
		lp->status = FS_EXIT_STATE;
	if (rc == 0)
		checkpoint(lp, NULL, jv_null());
	else if (lp->st)
		fs_state_rollback(lp->st);
	progress(lp, true);
	fs_buf_free(&lp->out);
	return lp->status;
}
