/*
 * fs-hook's writes: the webhook inbox, the request log, the streak of good
 * deliveries that takes a source in polling mode back to webhooks, and the
 * wake file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fieldsync.h"

int
fs_inbox_store(struct fs_state *st, const char *source, const char *delivery_id, const void *body,
	       size_t len)
{
	char now[21];
	int64_t added;

	fs_time_format(fs_now(), now);
	/* A repeat is looked for first: PostgreSQL's identity takes its next
	 * value before ON CONFLICT finds the row there, so a repeat answered
	 * by the conflict alone leaves a gap in the ids (the inbox row numbers
	 * fs-pull and fs-dlq show); SQLite's rowid has none. */
	added = fs_state_changes(st, "INSERT INTO inbox (source, delivery_id, received_at, body) SELECT ?1, ?2, ?3, ?4"
				     " WHERE NOT EXISTS (SELECT 1 FROM inbox WHERE source = ?1 AND delivery_id = ?2)"
				     " ON CONFLICT (source, delivery_id) DO NOTHING",
				 "sssb", source, delivery_id, now, len ? body : "", len);
	return added < 0 ? -1 : added > 0;
}

int
fs_request_log(struct fs_state *st, const char *source, int status, size_t bytes, int64_t latency_us,
	       const char *reason)
{
	char now[21];

	fs_time_format(fs_now(), now);
	return fs_state_run(st, "INSERT INTO requests (at, source, status, bytes, latency_us, reason)"
				" VALUES (?, ?, ?, ?, ?, ?)",
			    "ssiiis", now, source, (int64_t)status, (int64_t)bytes, latency_us, reason);
}

int
fs_source_delivery(struct fs_state *st, const char *source, bool good, const char *run_id)
{
	fs_stmt *q;
	char mode[16];
	int rc, streak = 0;

	if (fs_source_mode(st, source, mode) != 0)
		return -1;
	if (strcmp(mode, "polling") != 0)
		return 0;
	q = fs_state_prepare(st,
	    "UPDATE source_modes SET good_streak = CASE WHEN ? THEN good_streak + 1 ELSE 0 END"
	    " WHERE source = ? RETURNING good_streak");
	if (q == NULL)
		return -1;
	fs_bind_int(q, 1, good);
	fs_bind_text(q, 2, source);
	rc = fs_stmt_step(q);
	if (rc == FS_ROW)
		streak = fs_col_int(q, 0);
	if (rc == FS_ROW)
		rc = fs_stmt_step(q);
	fs_stmt_reset(q);
	if (rc != FS_DONE) {
		fs_state_error(st, NULL);
		return -1;
	}
	if (streak >= FS_GOOD_STREAK)
		return fs_source_mode_set(st, source, "webhook", "three good deliveries in a row", run_id);
	return 0;
}

int
fs_wake_touch(const char *dir, const char *source)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, source) >= sizeof path) {
		errno = ENAMETOOLONG;
		fs_err("cannot touch wake file '%s/%s':", dir, source);
		return -1;
	}
	/* One system call when the file is there: its times become now, which
	 * inotify reports as IN_ATTRIB (systemd's PathModified= and fs-run
	 * --wake watch for it).  The first time, creating it is the change. */
	if (utimensat(AT_FDCWD, path, NULL, 0) == 0)
		return 0;
	if (errno == ENOENT &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0660)) >= 0) {
		close(fd);
		return 0;
	}
	fs_err("cannot touch wake file '%s':", path);
	return -1;
}
