/* The dead-letter queue: every failure with its reason and original bytes. */
#include <string.h>

#include "fieldsync.h"

/* The id a query from fs_state_query finds: 0 when none, -1 on error. */
static int64_t
find(struct fs_state *st, fs_stmt *q)
{
	int64_t id = 0;

	if (q == NULL || fs_state_get_int(st, q, &id) < 0)
		return -1;
	return id;
}

int64_t
fs_dlq_add(struct fs_state *st, const struct fs_dead *d)
{
	char fp[65], now[21];
	int64_t id, replayed;

	fs_sha256_hex(d->bytes, d->len, fp);
	fs_time_format(fs_now(), now);
	/* The same line failing the same way again (a re-run after a crash) is
	 * one dead letter seen twice, not two. */
	id = find(st, fs_state_query(st, "SELECT id FROM dlq WHERE fingerprint = ? AND state = 'open'"
				     " AND command = ? AND reason = ?", "sss", fp, d->command, d->reason));
	if (id < 0)
		return -1;
	if (id > 0)
		return fs_state_run(st, "UPDATE dlq SET seen = seen + 1, last_seen_at = ?, run_id = ? WHERE id = ?",
				    "ssi", now, d->run_id, id) == 0 ? id : -1;
	replayed = find(st, fs_state_query(st, "SELECT max(id) FROM dlq WHERE fingerprint = ? AND state = 'replayed'",
					   "s", fp));
	if (replayed < 0)
		return -1;
	if (fs_state_run(st,
	    "INSERT INTO dlq (at, command, run_id, source, event_id, lineno, reason, bytes,"
	    " fingerprint, http_status, response, attempts, last_seen_at, replay_of)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "sssssnsbsnsssn",
	    now, d->command, d->run_id, d->source, d->event_id, (int64_t)(d->lineno > 0 ? d->lineno : 0),
	    d->reason, d->bytes, d->len, fp, (int64_t)d->http_status, d->response, d->attempts, now,
	    replayed) != 0)
		return -1;
	return fs_state_last_id(st);
}

static const char *
col_text(fs_stmt *q, int i)
{
	return fs_col_text(q, i);
}

int
fs_dlq_each(struct fs_state *st, bool all, int64_t id, fs_dlq_fn fn, void *ctx)
{
	fs_stmt *q = fs_state_query(st,
	    "SELECT id, at, command, run_id, source, event_id, lineno, reason, bytes,"
	    " http_status, response, attempts, seen, last_seen_at, state, replayed_at, replay_of"
	    " FROM dlq WHERE (?1 OR state = 'open') AND (?2 = 0 OR id = ?2) ORDER BY id",
	    "ii", (int64_t)(all || id != 0), id);
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		struct fs_dead_row r = {
			.id = fs_col_int64(q, 0), .at = col_text(q, 1), .command = col_text(q, 2),
			.run_id = col_text(q, 3), .source = col_text(q, 4), .event_id = col_text(q, 5),
			.lineno = fs_col_int64(q, 6), .reason = col_text(q, 7),
			.bytes = fs_col_blob(q, 8), .len = (size_t)fs_col_bytes(q, 8),
			.http_status = fs_col_int(q, 9), .response = col_text(q, 10),
			.attempts = col_text(q, 11), .seen = fs_col_int(q, 12),
			.last_seen_at = col_text(q, 13), .state = col_text(q, 14),
			.replayed_at = col_text(q, 15), .replay_of = fs_col_int64(q, 16),
		};

		if (fn(&r, ctx) != 0) {
			fs_stmt_reset(q);
			return -1;
		}
	}
	return rc;
}

int
fs_dlq_count(struct fs_state *st, int64_t *n)
{
	fs_stmt *q = fs_state_prepare(st, "SELECT count(*) FROM dlq WHERE state = 'open'");

	if (q == NULL)
		return -1;
	return fs_state_get_int(st, q, n) < 0 ? -1 : 0;
}

int
fs_dlq_mark_replayed(struct fs_state *st, int64_t id, const char *run_id)
{
	char now[21];

	fs_time_format(fs_now(), now);
	if (fs_state_run(st, "UPDATE dlq SET state = 'replayed', replayed_at = ? WHERE id = ? AND state = 'open'",
			 "si", now, id) != 0)
		return -1;
	return fs_changelog(st, "dlq.replay", run_id, NULL, NULL,
			    jv_object_set(jv_object(), jv_string("dlq_id"), jv_number((double)id)));
}

int
fs_dlq_purge(struct fs_state *st, fs_time before, const char *run_id, int64_t *n)
{
	char cut[21];
	jv detail;

	fs_time_format(before, cut);
	if ((*n = fs_state_changes(st, "DELETE FROM dlq WHERE max(at, last_seen_at, coalesce(replayed_at, at)) < ?",
				   "s", cut)) < 0)
		return -1;
	detail = jv_object_set(jv_object(), jv_string("purged"), jv_number((double)*n));
	detail = jv_object_set(detail, jv_string("older_than"), jv_string(cut));
	return fs_changelog(st, "dlq.purge", run_id, NULL, NULL, detail);
}

int
fs_dlq_reopen(struct fs_state *st, int64_t id, const char *run_id)
{
	int64_t n = fs_state_changes(st, "UPDATE dlq SET state = 'open', replayed_at = NULL WHERE id = ? AND state = 'replayed'",
				     "i", id);

	if (n <= 0)
		return (int)n;
	return fs_changelog(st, "dlq.reopen", run_id, NULL, NULL,
			    jv_object_set(jv_object(), jv_string("dlq_id"), jv_number((double)id))) == 0 ? 1 : -1;
}

int
fs_dlq_replayed_at(struct fs_state *st, int64_t id, char **at)
{
	return fs_state_text(st, at, "SELECT replayed_at FROM dlq WHERE id = ? AND state = 'replayed'", "i", id);
}
