/*
 * fs-hook's hold on the SQLite state's write-ahead log: one process per
 * request, so the checkpoint that SQLite makes inside a commit or at the
 * last close is moved after the answer (fs_hook_state_settle).  SQLite's
 * own business, beside lib/state.c: nothing else in lib/ speaks to the
 * engine.
 */
#include <stdlib.h>
#include <stdio.h>

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
	/* PostgreSQL's log is its own business. */
	if (st->db == NULL)
		return;
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
	fs_stmt *q;
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
