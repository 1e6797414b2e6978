/* The audit trail: an append-only table every command writes through here. */
#include <stdlib.h>
#include <time.h>

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

int
fs_changelog_run(struct fs_cli *cli, const char *object, int status, jv detail)
{
	struct fs_state *st = &cli->st;
	struct timespec now;

	if (!fs_state_is_open(st) || status == FS_EXIT_USAGE || status == FS_EXIT_STATE) {
		jv_free(detail);
		return 0;
	}
	detail = jv_object_set(detail, jv_string("exit"), jv_number(status));
	clock_gettime(CLOCK_MONOTONIC, &now);
	detail = jv_object_set(detail, jv_string("ms"), jv_number((double)((now.tv_sec - cli->started.tv_sec) * 1000 +
									  (now.tv_nsec - cli->started.tv_nsec) / 1000000)));
	if (fs_state_begin(st) != 0) {
		jv_free(detail);
		return -1;
	}
	if (fs_changelog(st, "run", cli->run_id, NULL, object, detail) != 0 || fs_state_commit(st) != 0) {
		fs_state_rollback(st);
		return -1;
	}
	return 0;
}

int
fs_changelog_has(struct fs_state *st, const char *kind, const char *event_id)
{
	int64_t n;

	if (fs_state_int(st, &n, "SELECT count(*) FROM changelog INDEXED BY changelog_by_event"
			 " WHERE event_id = ? AND kind = ?", "ss", event_id, kind) != 0)
		return -1;
	return n > 0;
}
