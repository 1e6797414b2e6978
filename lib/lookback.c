/*
 * fs-pull's HubSpot look-back: which (id, modified time) pairs a search
 * stream has emitted near its cursor, so that re-reading the last minute
 * before the cursor (HubSpot's search index lags writes) emits the records
 * that became visible late, and none that went out before.
 *
 * Each pair is written with the number of the checkpoint that covers it
 * (the cursor's third part, "TIME/ID/N").  At the start of a run, pairs of
 * checkpoints past the committed one were never taken downstream and are
 * forgotten; pairs older than the committed time minus the margin can no
 * longer be read again and are dropped.
 */
#include "fieldsync.h"

int
fs_lookback_forget(struct fs_state *st, const char *source, const char *stream, int64_t committed_batch,
		   int64_t before_ms)
{
	return fs_state_run(st, "DELETE FROM hubspot_seen WHERE source = ?1 AND stream = ?2"
				" AND (batch > ?3 OR modified_ms < ?4)",
			    "ssii", source, stream, committed_batch, before_ms);
}

int
fs_lookback_seen(struct fs_state *st, const char *source, const char *stream, int64_t id, int64_t modified_ms)
{
	fs_stmt *q = fs_state_query(st, "SELECT 1 FROM hubspot_seen WHERE source = ? AND stream = ?"
					     " AND id = ? AND modified_ms = ?",
					 "ssii", source, stream, id, modified_ms);
	int64_t one;

	return q ? fs_state_get_int(st, q, &one) : -1;
}

int
fs_lookback_record(struct fs_state *st, const char *source, const char *stream, int64_t id, int64_t modified_ms,
		   int64_t batch)
{
	return fs_state_run(st, "INSERT OR REPLACE INTO hubspot_seen (source, stream, id, modified_ms, batch)"
				" VALUES (?, ?, ?, ?, ?)",
			    "ssiii", source, stream, id, modified_ms, batch);
}
