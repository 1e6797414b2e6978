/* The audit trail: an append-only table every command writes through here. */
#include <stdlib.h>

#include "fieldsync.h"

int
fs_changelog(struct fs_state *st, const char *kind, const char *run_id, const char *event_id,
	     const char *object, jv detail)
{
	char now[21], *text;
	int rc;

	if (!jv_is_valid(detail) || jv_get_kind(detail) != JV_KIND_OBJECT) {
		jv_free(detail);
		detail = jv_object();
	}
	text = fs_jdump(detail);
	jv_free(detail);
	fs_time_format(fs_now(), now);
	rc = fs_state_run(st,
	    "INSERT INTO changelog (at, kind, run_id, event_id, object, detail) VALUES (?, ?, ?, ?, ?, ?)",
	    "ssssss", now, kind, run_id, event_id, object, text);
	free(text);
	return rc;
}
