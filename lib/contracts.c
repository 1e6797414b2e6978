/*
 * The few state functions that one command writes and another reads, kept
 * here so that neither owns the other's table.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

int
fs_keys_finalize(struct fs_state *st, const char *event_id)
{
	/* A mark covering the keys stored so far, folded in by the next fs-dedupe
	 * (lib/dedupe.c); none while no key is stored, so none pile up. */
	static const char mark[] = "INSERT INTO idem_final (k, upto)"
	    " SELECT ?, m FROM (SELECT max(seq) AS m FROM idem_store) WHERE m IS NOT NULL";
	unsigned char bin[16];
	size_t len = strlen(event_id);

	/* A canonical id is kept as its 16 bytes in SQLite; PostgreSQL's k is
	 * text (lib/schema_pg.c), and a canonical id's text is the id itself. */
	return st->db && fs_idem_key(event_id, len, bin) ? fs_state_run(st, mark, "b", bin, sizeof bin)
	    : fs_state_run(st, mark, "t", event_id, len);
}

int
fs_source_mode(struct fs_state *st, const char *source, char mode[16])
{
	fs_stmt *q = fs_state_query(st, "SELECT mode FROM source_modes WHERE source = ?", "s", source);
	char *s;

	strcpy(mode, "webhook");
	if (q == NULL || fs_state_get_text(st, q, &s) < 0)
		return -1;
	if (s)
		snprintf(mode, 16, "%s", s);
	free(s);
	return 0;
}

int
fs_source_mode_set(struct fs_state *st, const char *source, const char *mode, const char *why,
		   const char *run_id)
{
	char now[21], old[16];
	jv detail;

	if (strcmp(mode, "webhook") != 0 && strcmp(mode, "polling") != 0) {
		fs_err("mode must be webhook or polling, not '%s'", mode);
		return -1;
	}
	if (fs_source_mode(st, source, old) != 0)
		return -1;
	if (strcmp(old, mode) == 0)
		return 0;
	fs_time_format(fs_now(), now);
	if (fs_state_run(st,
	    "INSERT INTO source_modes (source, mode, changed_at, good_streak) VALUES (?, ?, ?, 0)"
	    " ON CONFLICT (source) DO UPDATE SET mode = excluded.mode,"
	    " changed_at = excluded.changed_at, good_streak = 0", "sss", source, mode, now) != 0)
		return -1;
	detail = jv_object_set(jv_object(), jv_string("from"), jv_string(old));
	detail = jv_object_set(detail, jv_string("to"), jv_string(mode));
	detail = jv_object_set(detail, jv_string("why"), jv_string(why ? why : "manual"));
	return fs_changelog(st, strcmp(mode, "polling") == 0 ? "fallback.polling" : "fallback.webhook",
			    run_id, NULL, source, detail);
}

int
fs_hold_latest(struct fs_state *st, int64_t *id)
{
	return fs_state_int(st, id, "SELECT coalesce(max(id), 0) FROM holds", NULL);
}

int
fs_hold_active(struct fs_state *st, const char *scope, const char *name)
{
	fs_stmt *q = fs_state_query(st,
	    "SELECT count(*) FROM holds WHERE scope = ? AND name = ? AND lifted_at IS NULL", "ss", scope, name);
	int64_t n;

	if (q == NULL || fs_state_get_int(st, q, &n) < 0)
		return -1;
	return n > 0;
}

int
fs_event_taken(struct fs_state *st, const char *event_id)
{
	int64_t n;

	if (fs_state_int(st, &n, "SELECT EXISTS (SELECT 1 FROM enrolments WHERE event_id = ?)"
			 " OR EXISTS (SELECT 1 FROM changelog WHERE event_id = ?)", "ss", event_id, event_id) != 0)
		return -1;
	return n != 0;
}
