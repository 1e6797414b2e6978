/*
 * old-state FILE N: makes FILE a state file at schema version N, as the
 * fieldsync whose schema ended there made it: the first N migrations of
 * lib/schema.c, applied by fs_schema_apply (the code fs-state migrate
 * runs), in WAL mode, its -wal and -shm kept as fieldsync keeps them (so
 * that a reader may open it).  For the tests of migration; FILE must not
 * exist.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

int
main(int argc, char *argv[])
{
	struct fs_state st = {0};
	char *end;
	long n;
	int rc;

	fs_progname = "old-state";
	if (argc != 3 || (n = strtol(argv[2], &end, 10)) < 0 || *end || n > fs_nmigrations) {
		fprintf(stderr, "usage: old-state file version (0 to %d)\n", fs_nmigrations);
		return 2;
	}
	st.path = argv[1];
	if (access(argv[1], F_OK) == 0) {
		fs_err("'%s' exists", argv[1]);
		return 3;
	}
	if (sqlite3_open_v2(argv[1], &st.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		fs_state_error(&st, "cannot create");
		sqlite3_close(st.db);
		return 3;
	}
	sqlite3_file_control(st.db, "main", SQLITE_FCNTL_PERSIST_WAL, &(int){1});
	rc = fs_state_exec(&st, "PRAGMA journal_mode = WAL") != 0 || fs_state_exec(&st, "BEGIN") != 0 ||
	     fs_schema_apply(&st, 0, (int)n) != 0 || fs_state_exec(&st, "COMMIT") != 0;
	sqlite3_close(st.db);
	return rc ? 3 : 0;
}
