/*
 * The webhook inbox as fs-pull drains it, the pieces it polls, and what
 * polling has emitted.  fs-hook stores rows (its own file); this file only
 * reads them and marks them drained.
 *
 * Drain protocol: fs-pull emits the records of inbox rows, then a
 * checkpoint {"stream":"inbox","cursor":"<last row id>"}.  A row is drained
 * once the committed inbox cursor reaches its id; drained_at is written on
 * the next run (fs_inbox_mark_drained), so a crash anywhere re-reads the
 * rows that were not committed, and never the ones that were.
 *
 * Lob events, drained or polled, are also written to polled_events, so a
 * switch between the two paths emits no event twice: see lib/schema.c.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

/* A column's text, malloc'd; "" for NULL, so that callers never see NULL. */
static char *
col_or_empty(fs_stmt *q, int i)
{
	char *s = fs_col_dup(q, i);

	return s ? s : fs_xstrdup("");
}

int
fs_inbox_fetch(struct fs_state *st, const char *source, int64_t after_id, int limit,
	       struct fs_inbox_row **rows, int *n)
{
	fs_stmt *q = fs_state_prepare(st,
	    "SELECT id, delivery_id, received_at, body FROM inbox"
	    " WHERE source = ? AND id > ? AND body IS NOT NULL ORDER BY id LIMIT ?");
	int rc, cap = 0;

	*rows = NULL;
	*n = 0;
	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, source);
	fs_bind_int64(q, 2, after_id);
	fs_bind_int(q, 3, limit > 0 ? limit : -1);
	while ((rc = fs_stmt_step(q)) == FS_ROW) {
		struct fs_inbox_row *r;
		size_t len = (size_t)fs_col_bytes(q, 3);
		const void *body = fs_col_blob(q, 3);

		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*rows = fs_xrealloc(*rows, (size_t)cap * sizeof **rows);
		}
		r = &(*rows)[(*n)++];
		r->id = fs_col_int64(q, 0);
		r->delivery_id = col_or_empty(q, 1);
		r->received_at = col_or_empty(q, 2);
		r->body = fs_xmalloc(len + 1);
		if (len)
			memcpy(r->body, body, len);
		r->body[len] = '\0';
		r->len = len;
	}
	fs_stmt_reset(q);
	if (rc != FS_DONE) {
		fs_state_error(st, "inbox");
		fs_inbox_rows_free(*rows, *n);
		*rows = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

void
fs_inbox_rows_free(struct fs_inbox_row *rows, int n)
{
	for (int i = 0; i < n; i++) {
		free(rows[i].delivery_id);
		free(rows[i].received_at);
		free(rows[i].body);
	}
	free(rows);
}

int
fs_inbox_mark_drained(struct fs_state *st, const char *source, int64_t upto)
{
	char now[21];

	fs_time_format(fs_now(), now);
	return fs_state_run(st, "UPDATE inbox SET drained_at = ? WHERE source = ? AND id <= ? AND drained_at IS NULL",
			    "ssi", now, source, upto);
}

int
fs_pieces_in_flight(struct fs_state *st, char ***ids, int *n)
{
	fs_stmt *q = fs_state_prepare(st,
	    "SELECT vendor_id FROM pieces WHERE status NOT IN ('delivered', 'returned', 'failed')"
	    " ORDER BY vendor_id");
	int rc, cap = 0;

	*ids = NULL;
	*n = 0;
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*ids = fs_xrealloc(*ids, (size_t)cap * sizeof **ids);
		}
		(*ids)[(*n)++] = col_or_empty(q, 0);
	}
	return rc;
}

int
fs_poll_forget_uncommitted(struct fs_state *st, const char *source, int64_t committed)
{
	return fs_state_run(st, "DELETE FROM polled_events WHERE source = ? AND poll_id > ?", "si", source, committed);
}

int64_t
fs_poll_begin(struct fs_state *st, const char *source, const char *run_id)
{
	char now[21];

	fs_time_format(fs_now(), now);
	if (fs_state_run(st, "INSERT INTO polls (source, run_id, at) VALUES (?, ?, ?)", "sss", source, run_id, now) != 0)
		return -1;
	return fs_state_last_id(st);
}

int
fs_poll_seen(struct fs_state *st, const char *source, const char *vendor_id, const char *key)
{
	fs_stmt *q = fs_state_query(st, "SELECT 1 FROM polled_events WHERE source = ? AND vendor_id = ?"
					     " AND event_key = ?", "sss", source, vendor_id, key);
	int64_t one;

	return q ? fs_state_get_int(st, q, &one) : -1;
}

/* An emitted event, polled (poll_id, no inbox row) or drained (poll 0, inbox_id). */
static int
record_emitted(struct fs_state *st, const char *source, const char *vendor_id, const char *key,
	       int64_t poll_id, int64_t inbox_id)
{
	char now[21];

	fs_time_format(fs_now(), now);
	return fs_state_run(st, "INSERT OR REPLACE INTO polled_events (source, vendor_id, event_key, poll_id, inbox_id, at)"
				" VALUES (?, ?, ?, ?, ?, ?)", "sssins", source, vendor_id, key, poll_id, inbox_id, now);
}

int
fs_poll_record(struct fs_state *st, const char *source, const char *vendor_id, const char *key,
	       int64_t poll_id)
{
	return record_emitted(st, source, vendor_id, key, poll_id, 0);
}

int
fs_poll_forget_undrained(struct fs_state *st, const char *source, int64_t committed)
{
	return fs_state_run(st, "DELETE FROM polled_events WHERE source = ? AND inbox_id > ?", "si", source, committed);
}

int
fs_poll_record_drained(struct fs_state *st, const char *source, const char *vendor_id, const char *key,
		       int64_t inbox_id)
{
	return record_emitted(st, source, vendor_id, key, 0, inbox_id);
}

/*
 * Retention.  Each prune runs q (its parameters bound, the batch size
 * last) in transactions of one batch each, until a batch finds
 * fewer rows than that: never one long write lock, and a crash between
 * batches leaves only fewer rows to prune next time.
 */
static int
prune_batches(struct fs_state *st, fs_stmt *q, int batch, int64_t *count)
{
	int n;

	*count = 0;
	do {
		if (fs_state_begin(st) != 0)
			return -1;
		if (fs_state_step_done(st, q) != 0) {
			fs_state_rollback(st);
			return -1;
		}
		n = fs_state_changed(st);
		if (fs_state_commit(st) != 0)
			return -1;
		*count += n;
	} while (n >= batch);
	return 0;
}

int
fs_inbox_prune(struct fs_state *st, const char *source, int64_t committed, const char *bodies_before,
	       const char *rows_before, int batch, int64_t *bodies, int64_t *rows)
{
	fs_stmt *q;

	*bodies = *rows = 0;
	/* Bodies first: the rows that lose theirs now keep their delivery id. */
	if (bodies_before) {
		q = fs_state_query(st,
		    "UPDATE inbox SET body = NULL WHERE id IN (SELECT id FROM inbox INDEXED BY inbox_bodies"
		    "  WHERE source = ?1 AND body IS NOT NULL AND received_at < ?2"
		    "  AND drained_at IS NOT NULL AND id <= ?3 LIMIT ?4)", "ssii", source, bodies_before, committed,
		    (int64_t)batch);
		if (q == NULL || prune_batches(st, q, batch, bodies) != 0)
			return -1;
	}
	/* The source's newest row stays whatever its age: it is the last
	 * event received that fs-health and fs-report show. */
	if (rows_before) {
		q = fs_state_query(st,
		    "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox INDEXED BY inbox_by_source_received"
		    "  WHERE source = ?1 AND received_at < ?2 AND drained_at IS NOT NULL AND id <= ?3"
		    "  AND id IS NOT (SELECT id FROM inbox n WHERE n.source = ?1"
		    "   ORDER BY n.received_at DESC, n.id DESC LIMIT 1) LIMIT ?4)", "ssii", source, rows_before,
		    committed, (int64_t)batch);
		if (q == NULL || prune_batches(st, q, batch, rows) != 0)
			return -1;
	}
	return 0;
}

int
fs_poll_prune(struct fs_state *st, const char *source, int64_t poll_committed, int64_t inbox_committed,
	      const char *before, int batch, int64_t *pruned)
{
	fs_stmt *q = fs_state_query(st,
	    "DELETE FROM polled_events WHERE (source, vendor_id, event_key) IN ("
	    " SELECT e.source, e.vendor_id, e.event_key FROM polled_events e INDEXED BY polled_events_by_at"
	    "  LEFT JOIN pieces p ON p.vendor_id = e.vendor_id"
	    "  WHERE e.source = ?1 AND e.at < ?2 AND e.poll_id <= ?3 AND coalesce(e.inbox_id, 0) <= ?4"
	    "  AND (p.vendor_id IS NULL OR p.status IN ('delivered', 'returned', 'failed')) LIMIT ?5)",
	    "ssiii", source, before, poll_committed, inbox_committed, (int64_t)batch);

	int64_t polls;

	*pruned = 0;
	if (q == NULL || prune_batches(st, q, batch, pruned) != 0)
		return -1;
	/* The poll records behind them: each only numbered a batch (the
	 * numbers are never reused, AUTOINCREMENT), and one a run would
	 * otherwise pile up forever. */
	q = fs_state_query(st,
	    "DELETE FROM polls WHERE id IN (SELECT id FROM polls"
	    "  WHERE source = ?1 AND at < ?2 AND id <= ?3 LIMIT ?4)",
	    "ssii", source, before, poll_committed, (int64_t)batch);
	return q ? prune_batches(st, q, batch, &polls) : -1;
}
