/* The dead-letter queue: every failure with its reason and original bytes. */
#include <string.h>

#include "fieldsync.h"

static void
bind_text(sqlite3_stmt *q, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(q, i);
}

static int64_t
find(struct fs_state *st, const char *sql, const char *a, const char *b, const char *c)
{
	sqlite3_stmt *q = fs_state_prepare(st, sql);
	int64_t id = 0;
	int rc;

	if (q == NULL)
		return -1;
	bind_text(q, 1, a);
	bind_text(q, 2, b);
	bind_text(q, 3, c);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		fs_state_error(st, NULL);
		return -1;
	}
	return id;
}

int64_t
fs_dlq_add(struct fs_state *st, const struct fs_dead *d)
{
	char fp[65], now[21];
	int64_t id, replayed;
	sqlite3_stmt *q;
	int i = 1;

	fs_sha256_hex(d->bytes, d->len, fp);
	fs_time_format(fs_now(), now);
	/* The same line failing the same way again (a re-run after a crash) is
	 * one dead letter seen twice, not two. */
	id = find(st, "SELECT id FROM dlq WHERE fingerprint = ? AND state = 'open'"
		  " AND command = ? AND reason = ?", fp, d->command, d->reason);
	if (id < 0)
		return -1;
	if (id > 0) {
		q = fs_state_prepare(st, "UPDATE dlq SET seen = seen + 1, last_seen_at = ?,"
				     " run_id = ? WHERE id = ?");
		if (q == NULL)
			return -1;
		bind_text(q, 1, now);
		bind_text(q, 2, d->run_id);
		sqlite3_bind_int64(q, 3, id);
		return fs_state_step_done(st, q) == 0 ? id : -1;
	}
	/* Unused parameters are left unbound: find() binds up to three. */
	replayed = find(st, "SELECT max(id) FROM dlq WHERE fingerprint = ? AND state = 'replayed'",
			fp, NULL, NULL);
	if (replayed < 0)
		return -1;
	q = fs_state_prepare(st,
	    "INSERT INTO dlq (at, command, run_id, source, event_id, lineno, reason, bytes,"
	    " fingerprint, http_status, response, attempts, last_seen_at, replay_of)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (q == NULL)
		return -1;
	bind_text(q, i++, now);
	bind_text(q, i++, d->command);
	bind_text(q, i++, d->run_id);
	bind_text(q, i++, d->source);
	bind_text(q, i++, d->event_id);
	if (d->lineno > 0)
		sqlite3_bind_int64(q, i++, d->lineno);
	else
		sqlite3_bind_null(q, i++);
	bind_text(q, i++, d->reason);
	sqlite3_bind_blob(q, i++, d->bytes, (int)d->len, SQLITE_TRANSIENT);
	bind_text(q, i++, fp);
	if (d->http_status)
		sqlite3_bind_int(q, i++, d->http_status);
	else
		sqlite3_bind_null(q, i++);
	bind_text(q, i++, d->response);
	bind_text(q, i++, d->attempts);
	bind_text(q, i++, now);
	if (replayed > 0)
		sqlite3_bind_int64(q, i++, replayed);
	else
		sqlite3_bind_null(q, i++);
	if (fs_state_step_done(st, q) != 0)
		return -1;
	return sqlite3_last_insert_rowid(st->db);
}
