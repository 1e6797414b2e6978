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

/* Frames in the WAL after this process's last commit. */
static int wal_frames;

static int
note_frames(void *ctx, sqlite3 *db, const char *name, int frames)
{
	(void)ctx;
	(void)db;
	(void)name;
	wal_frames = frames;
	return SQLITE_OK;
}

void
fs_hook_state_tune(struct fs_state *st)
{
	/* The last connection to close checkpoints the WAL and syncs the
	 * file: once per request here.  Leave it to fs_hook_state_settle. */
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
	/* No automatic checkpoint inside the commit, before the answer:
	 * the hook replaces it. */
	sqlite3_wal_hook(st->db, note_frames, NULL);
}

int
fs_hook_state_settle(struct fs_state *st)
{
	const char *env = getenv("FS_HOOK_CKPT");
	sqlite3_stmt *q;
	int64_t version;
	char same[48];
	int limit = env && *env ? atoi(env) : FS_HOOK_CKPT_FRAMES, busy_ms, rc;

	/*
	 * A process that opens the file when no other has it open rebuilds
	 * the WAL index by reading every valid frame of the WAL, and that
	 * rebuild forgets what was checkpointed, so the WAL never restarts
	 * from its beginning: one short-lived process after another, it only
	 * grows.  Truncating it is what keeps the next open cheap.  TRUNCATE
	 * holds off other writers for the copy (a few pages and one sync);
	 * a process that finds another checkpointing leaves it to that one.
	 */
	if (st->db == NULL || wal_frames < limit)
		return 0;
	/* The copy and its sync first, without blocking writers; then
	 * TRUNCATE holds them off only for what came in meanwhile.  It also
	 * waits, holding them off all the while, for every reader of an older
	 * snapshot to finish, and fs-report or fs-state backup reads one for
	 * seconds or minutes: it waits FS_HOOK_CKPT_WAIT_MS at most, and a
	 * later request tries again. */
	if (sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) != SQLITE_OK)
		return sqlite3_errcode(st->db) == SQLITE_BUSY ? 0 : -1;
	busy_ms = st->busy_ms;
	st->busy_ms = FS_HOOK_CKPT_WAIT_MS;
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	st->busy_ms = busy_ms;
	if (rc != SQLITE_OK)
		return sqlite3_errcode(st->db) == SQLITE_BUSY ? 0 : -1;
	/* The first commit into an empty WAL syncs its header, under the
	 * write lock: pay that here, after the answer, not in the next
	 * request.  Rewriting user_version with the value it has, read under
	 * the same write lock, is such a commit and changes nothing. */
	if (fs_state_begin(st) != 0)
		return -1;
	q = fs_state_prepare(st, "PRAGMA user_version");
	if (q == NULL || fs_state_get_int(st, q, &version) < 0)
		goto fail;
	snprintf(same, sizeof same, "PRAGMA user_version = %lld", (long long)version);
	if (fs_state_exec(st, same) != 0 || fs_state_commit(st) != 0)
		goto fail;
	return 0;
fail:
	fs_state_rollback(st);
	return -1;
}

int
fs_inbox_store(struct fs_state *st, const char *source, const char *delivery_id, const void *body,
	       size_t len)
{
	char now[21];
	int64_t added;

	fs_time_format(fs_now(), now);
	added = fs_state_changes(st, "INSERT INTO inbox (source, delivery_id, received_at, body) VALUES (?, ?, ?, ?)"
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
	sqlite3_stmt *q;
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
	sqlite3_bind_int(q, 1, good);
	sqlite3_bind_text(q, 2, source, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		streak = sqlite3_column_int(q, 0);
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
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
