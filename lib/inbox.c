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
col_or_empty(sqlite3_stmt *q, int i)
{
	char *s = fs_col_dup(q, i);

	return s ? s : fs_xstrdup("");
}

int
fs_inbox_fetch(struct fs_state *st, const char *source, int64_t after_id, int limit,
	       struct fs_inbox_row **rows, int *n)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "SELECT id, delivery_id, received_at, body FROM inbox"
	    " WHERE source = ? AND id > ? ORDER BY id LIMIT ?");
	int rc, cap = 0;

	*rows = NULL;
	*n = 0;
	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, source);
	sqlite3_bind_int64(q, 2, after_id);
	sqlite3_bind_int(q, 3, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct fs_inbox_row *r;
		size_t len = (size_t)sqlite3_column_bytes(q, 3);
		const void *body = sqlite3_column_blob(q, 3);

		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*rows = fs_xrealloc(*rows, (size_t)cap * sizeof **rows);
		}
		r = &(*rows)[(*n)++];
		r->id = sqlite3_column_int64(q, 0);
		r->delivery_id = col_or_empty(q, 1);
		r->received_at = col_or_empty(q, 2);
		r->body = fs_xmalloc(len + 1);
		if (len)
			memcpy(r->body, body, len);
		r->body[len] = '\0';
		r->len = len;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
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
	sqlite3_stmt *q = fs_state_prepare(st,
	    "UPDATE inbox SET drained_at = ? WHERE source = ? AND id <= ? AND drained_at IS NULL");
	char now[21];

	if (q == NULL)
		return -1;
	fs_time_format(fs_now(), now);
	fs_bind_text(q, 1, now);
	fs_bind_text(q, 2, source);
	sqlite3_bind_int64(q, 3, upto);
	return fs_state_step_done(st, q);
}

int
fs_pieces_in_flight(struct fs_state *st, char ***ids, int *n)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "SELECT vendor_id FROM pieces WHERE status NOT IN ('delivered', 'returned', 'failed')"
	    " ORDER BY vendor_id");
	int rc, cap = 0;

	*ids = NULL;
	*n = 0;
	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*ids = fs_xrealloc(*ids, (size_t)cap * sizeof **ids);
		}
		(*ids)[(*n)++] = col_or_empty(q, 0);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		fs_state_error(st, "pieces");
		return -1;
	}
	return 0;
}

int
fs_poll_forget_uncommitted(struct fs_state *st, const char *source, int64_t committed)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "DELETE FROM polled_events WHERE source = ? AND poll_id > ?");

	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, source);
	sqlite3_bind_int64(q, 2, committed);
	return fs_state_step_done(st, q);
}

int64_t
fs_poll_begin(struct fs_state *st, const char *source, const char *run_id)
{
	sqlite3_stmt *q = fs_state_prepare(st, "INSERT INTO polls (source, run_id, at) VALUES (?, ?, ?)");
	char now[21];

	if (q == NULL)
		return -1;
	fs_time_format(fs_now(), now);
	fs_bind_text(q, 1, source);
	fs_bind_text(q, 2, run_id);
	fs_bind_text(q, 3, now);
	if (fs_state_step_done(st, q) != 0)
		return -1;
	return sqlite3_last_insert_rowid(st->db);
}

int
fs_poll_seen(struct fs_state *st, const char *source, const char *vendor_id, const char *key)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "SELECT 1 FROM polled_events WHERE source = ? AND vendor_id = ? AND event_key = ?");
	int64_t one;

	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, source);
	fs_bind_text(q, 2, vendor_id);
	fs_bind_text(q, 3, key);
	return fs_state_get_int(st, q, &one);
}

int
fs_poll_record(struct fs_state *st, const char *source, const char *vendor_id, const char *key,
	       int64_t poll_id)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "INSERT OR REPLACE INTO polled_events (source, vendor_id, event_key, poll_id) VALUES (?, ?, ?, ?)");

	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, source);
	fs_bind_text(q, 2, vendor_id);
	fs_bind_text(q, 3, key);
	sqlite3_bind_int64(q, 4, poll_id);
	return fs_state_step_done(st, q);
}

int
fs_poll_forget_undrained(struct fs_state *st, const char *source, int64_t committed)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "DELETE FROM polled_events WHERE source = ? AND inbox_id > ?");

	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, source);
	sqlite3_bind_int64(q, 2, committed);
	return fs_state_step_done(st, q);
}

int
fs_poll_record_drained(struct fs_state *st, const char *source, const char *vendor_id, const char *key,
		       int64_t inbox_id)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "INSERT OR REPLACE INTO polled_events (source, vendor_id, event_key, poll_id, inbox_id)"
	    " VALUES (?, ?, ?, 0, ?)");

	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, source);
	fs_bind_text(q, 2, vendor_id);
	fs_bind_text(q, 3, key);
	sqlite3_bind_int64(q, 4, inbox_id);
	return fs_state_step_done(st, q);
}
