/*
 * fs-dedupe's state: idempotency keys, debounce holds, campaign enrolments,
 * per-day counters and the duplicate sets a scan finds.
 *
 * Keys and enrolments are written tentative (final = 0) with the run that
 * wrote them; they count for that run at once and for every other run only
 * once the command that ends the pipeline confirms them (fs_keys_finalize).
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

int
fs_dedupe_tune(struct fs_state *st)
{
	/* Keys are random: a bigger page cache keeps the hot part of the
	 * index in memory on large runs (64 MiB at most, taken as needed). */
	return fs_state_exec(st, "PRAGMA cache_size = -65536");
}

int
fs_idem_record(struct fs_state *st, const char *id, fs_time now, int64_t ttl, const char *run_id)
{
	/* One statement: insert, or re-arm a key that does not count. */
	sqlite3_stmt *q = fs_state_prepare(st,
	    "INSERT INTO idem_keys (id, first_seen_ts, expires_ts, run_id, final)"
	    " VALUES (?1, ?2, ?2 + ?3, ?4, 0)"
	    " ON CONFLICT (id) DO UPDATE SET first_seen_ts = excluded.first_seen_ts,"
	    "  expires_ts = excluded.expires_ts, run_id = excluded.run_id, final = 0"
	    " WHERE NOT ((final = 1 AND first_seen_ts > ?2 - ?3) OR run_id IS ?4)");

	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, id);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_int64(q, 3, ttl);
	fs_bind_text(q, 4, run_id);
	if (fs_state_step_done(st, q) != 0)
		return -1;
	return sqlite3_changes(st->db) > 0;
}

int
fs_idem_prune(struct fs_state *st, fs_time now, int64_t ttl, int batch, int64_t *n)
{
	sqlite3_stmt *q;
	int changed;

	*n = 0;
	do {
		if (fs_state_begin(st) != 0)
			return -1;
		q = fs_state_prepare(st,
		    "DELETE FROM idem_keys WHERE id IN (SELECT id FROM idem_keys"
		    " WHERE expires_ts <= ?1 AND first_seen_ts <= ?1 - ?2 LIMIT ?3)");
		if (q == NULL)
			goto fail;
		sqlite3_bind_int64(q, 1, now);
		sqlite3_bind_int64(q, 2, ttl);
		sqlite3_bind_int(q, 3, batch);
		if (fs_state_step_done(st, q) != 0)
			goto fail;
		changed = sqlite3_changes(st->db);
		if (fs_state_commit(st) != 0)
			goto fail;
		*n += changed;
	} while (changed >= batch);
	return 0;
fail:
	fs_state_rollback(st);
	return -1;
}

int
fs_hold_add(struct fs_state *st, const char *kind, const char *object, const char *event_id,
	    const char *line, size_t len, fs_time now, fs_time release_at)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "INSERT INTO debounce (kind, object, event_id, line, received_at, release_at)"
	    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING");
	char at[21], until[21];

	if (q == NULL)
		return -1;
	fs_time_format(now, at);
	fs_time_format(release_at, until);
	fs_bind_text(q, 1, kind);
	fs_bind_text(q, 2, object);
	fs_bind_text(q, 3, event_id);
	sqlite3_bind_text(q, 4, line, (int)len, SQLITE_TRANSIENT);
	fs_bind_text(q, 5, at);
	fs_bind_text(q, 6, until);
	if (fs_state_step_done(st, q) != 0)
		return -1;
	return sqlite3_changes(st->db) > 0;
}

struct hold_list {
	struct fs_hold *h;
	int n;
};

static void
holds_free(struct hold_list *l)
{
	for (int i = 0; i < l->n; i++) {
		free((char *)l->h[i].kind);
		free((char *)l->h[i].object);
		free((char *)l->h[i].event_id);
		free((char *)l->h[i].line);
	}
	free(l->h);
	l->h = NULL;
	l->n = 0;
}

/* Reads (id, kind, object, event_id, line) rows into l. */
static int
holds_read(struct fs_state *st, sqlite3_stmt *q, struct hold_list *l)
{
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct fs_hold *h;

		l->h = fs_xrealloc(l->h, (size_t)(l->n + 1) * sizeof *l->h);
		h = &l->h[l->n++];
		h->id = sqlite3_column_int64(q, 0);
		h->kind = fs_col_dup(q, 1);
		h->object = fs_col_dup(q, 2);
		h->event_id = fs_col_dup(q, 3);
		h->len = (size_t)sqlite3_column_bytes(q, 4);
		h->line = fs_xmalloc(h->len + 1);
		memcpy((char *)h->line, sqlite3_column_blob(q, 4), h->len);
		((char *)h->line)[h->len] = '\0';
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		fs_state_error(st, NULL);
		return -1;
	}
	return 0;
}

static int
hold_exec_id(struct fs_state *st, const char *sql, int64_t id, const char *run_id)
{
	sqlite3_stmt *q = fs_state_prepare(st, sql);

	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, id);
	if (run_id)
		fs_bind_text(q, 2, run_id);
	return fs_state_step_done(st, q);
}

/* Hands each hold to fn: kept as released by run_id when fn says 1, deleted when 0. */
static int
holds_emit(struct fs_state *st, struct hold_list *l, const char *run_id, fs_hold_fn fn, void *ctx)
{
	for (int i = 0; i < l->n; i++) {
		int keep = fn(&l->h[i], ctx);

		if (keep < 0)
			return -1;
		if (hold_exec_id(st, keep ? "UPDATE debounce SET released_by = ?2 WHERE id = ?1"
				     : "DELETE FROM debounce WHERE id = ?1", l->h[i].id, keep ? run_id : NULL) != 0)
			return -1;
	}
	return 0;
}

int
fs_holds_release(struct fs_state *st, fs_time now, const char *run_id, fs_hold_fn fn, void *ctx,
		 long *collapsed)
{
	struct hold_list l = {0};
	sqlite3_stmt *q;
	char at[21];

	*collapsed = 0;
	fs_time_format(now, at);
	/* Released holds whose key the end of the pipeline confirmed are done. */
	if (fs_state_exec(st, "DELETE FROM debounce WHERE released_by IS NOT NULL AND EXISTS"
			  " (SELECT 1 FROM idem_keys k WHERE k.id = debounce.event_id AND k.final = 1)") != 0)
		return -1;
	/* Released by a run that died before they were taken downstream: again. */
	q = fs_state_prepare(st,
	    "SELECT id, kind, object, event_id, line FROM debounce"
	    " WHERE released_by IS NOT NULL AND released_by IS NOT ?1 ORDER BY id");
	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, run_id);
	if (holds_read(st, q, &l) != 0 || holds_emit(st, &l, run_id, fn, ctx) != 0)
		goto fail;
	holds_free(&l);
	/* Quiet objects: the last hold of each comes out, the earlier ones collapse into it. */
	q = fs_state_prepare(st,
	    "SELECT d.id, d.kind, d.object, d.event_id, d.line FROM debounce d JOIN"
	    " (SELECT max(id) AS last, min(id) AS first FROM debounce WHERE released_by IS NULL"
	    "  GROUP BY kind, object HAVING max(release_at) <= ?1) g ON d.id = g.last ORDER BY g.first");
	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, at);
	if (holds_read(st, q, &l) != 0)
		goto fail;
	for (int i = 0; i < l.n; i++) {
		q = fs_state_prepare(st, "DELETE FROM debounce WHERE kind = ? AND object = ? AND id < ?"
				     " AND released_by IS NULL");
		if (q == NULL)
			goto fail;
		fs_bind_text(q, 1, l.h[i].kind);
		fs_bind_text(q, 2, l.h[i].object);
		sqlite3_bind_int64(q, 3, l.h[i].id);
		if (fs_state_step_done(st, q) != 0)
			goto fail;
		*collapsed += sqlite3_changes(st->db);
	}
	if (holds_emit(st, &l, run_id, fn, ctx) != 0)
		goto fail;
	holds_free(&l);
	return 0;
fail:
	holds_free(&l);
	return -1;
}

int
fs_holds_count(struct fs_state *st, int64_t *n)
{
	sqlite3_stmt *q = fs_state_prepare(st, "SELECT count(*) FROM debounce WHERE released_by IS NULL");

	*n = 0;
	if (q == NULL)
		return -1;
	return fs_state_get_int(st, q, n) < 0 ? -1 : 0;
}

int
fs_enrolment_blocking(struct fs_state *st, const char *contact_id, const char *goal, fs_time now,
		      const char *run_id, struct fs_enrolment *e)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "SELECT event_id, campaign, started_at, active_until FROM enrolments"
	    " WHERE contact_id = ?1 AND goal = ?2 AND active_until > ?3 AND (final = 1 OR run_id IS ?4)"
	    " ORDER BY started_at, id LIMIT 1");
	char at[21];
	int rc;

	memset(e, 0, sizeof *e);
	if (q == NULL)
		return -1;
	fs_time_format(now, at);
	fs_bind_text(q, 1, contact_id);
	fs_bind_text(q, 2, goal);
	fs_bind_text(q, 3, at);
	fs_bind_text(q, 4, run_id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		e->event_id = fs_col_dup(q, 0);
		e->campaign = fs_col_dup(q, 1);
		e->started_at = fs_col_dup(q, 2);
		e->active_until = fs_col_dup(q, 3);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		fs_state_error(st, NULL);
		return -1;
	}
	return rc == SQLITE_ROW;
}

void
fs_enrolment_free(struct fs_enrolment *e)
{
	free(e->event_id);
	free(e->campaign);
	free(e->started_at);
	free(e->active_until);
	memset(e, 0, sizeof *e);
}

int
fs_enrolment_record(struct fs_state *st, const char *contact_id, const char *goal, const char *campaign,
		    const char *event_id, const char *run_id, fs_time now, int64_t active)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "INSERT INTO enrolments (contact_id, goal, campaign, event_id, run_id, started_at, active_until, final)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (event_id) DO UPDATE SET"
	    " contact_id = excluded.contact_id, goal = excluded.goal, campaign = excluded.campaign,"
	    " run_id = excluded.run_id, started_at = excluded.started_at,"
	    " active_until = excluded.active_until, final = 0");
	char at[21], until[21];

	if (q == NULL)
		return -1;
	fs_time_format(now, at);
	fs_time_format(now + active, until);
	fs_bind_text(q, 1, contact_id);
	fs_bind_text(q, 2, goal);
	fs_bind_text(q, 3, campaign);
	fs_bind_text(q, 4, event_id);
	fs_bind_text(q, 5, run_id);
	fs_bind_text(q, 6, at);
	fs_bind_text(q, 7, until);
	return fs_state_step_done(st, q);
}

int
fs_dedupe_count(struct fs_state *st, fs_time now, const char *what, long n)
{
	sqlite3_stmt *q;
	char day[21];

	if (n == 0)
		return 0;
	q = fs_state_prepare(st, "INSERT INTO dedupe_counts (day, what, n) VALUES (?, ?, ?)"
			     " ON CONFLICT (day, what) DO UPDATE SET n = n + excluded.n");
	if (q == NULL)
		return -1;
	fs_time_format(now, day);
	day[10] = '\0';
	fs_bind_text(q, 1, day);
	fs_bind_text(q, 2, what);
	sqlite3_bind_int64(q, 3, n);
	return fs_state_step_done(st, q);
}

int
fs_duplicate_set_store(struct fs_state *st, const char *scan_id, const char *members, double score,
		       const char *reasons, fs_time now)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "INSERT INTO duplicate_sets (scan_id, members, score, reasons, at) VALUES (?, ?, ?, ?, ?)");
	char at[21];

	if (q == NULL)
		return -1;
	fs_time_format(now, at);
	fs_bind_text(q, 1, scan_id);
	fs_bind_text(q, 2, members);
	sqlite3_bind_double(q, 3, score);
	fs_bind_text(q, 4, reasons);
	fs_bind_text(q, 5, at);
	return fs_state_step_done(st, q);
}

int
fs_contacts_each(struct fs_state *st, fs_contact_fn fn, void *ctx)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "SELECT id, email, phone, first_name, last_name, line1, city, region, postal_code, seen_at"
	    " FROM contacts ORDER BY id");
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *f[FS_CONTACT_NFIELDS];

		for (int i = 0; i < FS_CONTACT_NFIELDS; i++)
			f[i] = (const char *)sqlite3_column_text(q, i);
		if (fn(f, ctx) != 0) {
			sqlite3_reset(q);
			return -1;
		}
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		fs_state_error(st, NULL);
		return -1;
	}
	return 0;
}
