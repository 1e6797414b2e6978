/* The audit trail: an append-only table every command writes through here. */
#include <stdlib.h>

#include "fieldsync.h"

int
fs_changelog(struct fs_state *st, const char *kind, const char *run_id, const char *event_id,
	     const char *object, jv detail)
{
	sqlite3_stmt *q = fs_state_prepare(st,
	    "INSERT INTO changelog (at, kind, run_id, event_id, object, detail) VALUES (?, ?, ?, ?, ?, ?)");
	char now[21], *text;
	int rc;

	if (q == NULL) {
		jv_free(detail);
		return -1;
	}
	if (!jv_is_valid(detail) || jv_get_kind(detail) != JV_KIND_OBJECT) {
		jv_free(detail);
		detail = jv_object();
	}
	text = fs_jdump(detail);
	jv_free(detail);
	fs_time_format(fs_now(), now);
	fs_bind_text(q, 1, now);
	fs_bind_text(q, 2, kind);
	if (run_id)
		fs_bind_text(q, 3, run_id);
	if (event_id)
		fs_bind_text(q, 4, event_id);
	if (object)
		fs_bind_text(q, 5, object);
	sqlite3_bind_text(q, 6, text, -1, free);
	rc = fs_state_step_done(st, q);
	return rc;
}
