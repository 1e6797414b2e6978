/*
 * fs-state's work, the sysadmin's care of the state file: what is in it
 * (info), whether it is sound (check), and an online copy (backup).
 * Opening and migrating are lib/state.c's.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fieldsync.h"

/* Pages a backup step copies: 4 MiB at SQLite's default page size. */
#define BACKUP_STEP_PAGES 1024

static int64_t
file_size(const char *path, const char *suffix)
{
	char *f = fs_xasprintf("%s%s", path, suffix);
	struct stat sb;
	int64_t n = stat(f, &sb) == 0 ? (int64_t)sb.st_size : 0;

	free(f);
	return n;
}

static jv
text_or_null(fs_stmt *q, int i)
{
	const char *s = fs_col_text(q, i);

	return s ? jv_string(s) : jv_null();
}

static jv
waiting(const char *table, const char *name, const char *state, int64_t rows, jv oldest)
{
	jv o = jv_object();

	o = jv_object_set(o, jv_string("table"), jv_string(table));
	o = jv_object_set(o, jv_string("name"), name ? jv_string(name) : jv_null());
	o = jv_object_set(o, jv_string("state"), jv_string(state));
	o = jv_object_set(o, jv_string("rows"), jv_number((double)rows));
	return jv_object_set(o, jv_string("oldest"), oldest);
}

/* SELECT count(*) FROM "name", its quotes doubled. */
static char *
quoted_count(const char *name)
{
	size_t n = strlen(name), k = 0;
	char *q = fs_xmalloc(2 * n + 32);

	k = (size_t)sprintf(q, "SELECT count(*) FROM \"");
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '"')
			q[k++] = '"';
		q[k++] = name[i];
	}
	strcpy(q + k, "\"");
	return q;
}

/* Row counts of every table.  Their names come from the file, so these
 * statements are made and finalized here, not kept in the statement cache. */
static int
table_rows(struct fs_state *st, jv *tables)
{
	fs_stmt *names = fs_state_prepare(st, st->pg ?
	    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename" :
	    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
	    " ORDER BY name");
	int rc;

	if (names == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, names)) == 1) {
		const char *name = fs_col_text(names, 0);
		char *sql = quoted_count(name);
		fs_stmt *q = fs_state_prepare_new(st, sql, false);
		int step = q ? fs_stmt_step(q) : -1;

		if (step == FS_ROW)
			*tables = jv_object_set(*tables, jv_string(name), jv_number((double)fs_col_int64(q, 0)));
		else if (q)
			fs_state_error(st, name);
		fs_stmt_free(q);
		free(sql);
		if (step != FS_ROW) {
			fs_stmt_reset(names);
			return -1;
		}
	}
	return rc;
}

/* Work that waits: the outbox's pending and held rows per target, the
 * inbox's undrained rows per source, open dead letters, debounce holds not
 * yet released, open alerts and active watchdog holds. */
static int
pending_work(struct fs_state *st, jv *out)
{
	static const struct {
		const char *table, *state, *sql;
	} one[] = {
		{"dlq", "open", "SELECT count(*), min(at) FROM dlq WHERE state = 'open'"},
		{"debounce", "held", "SELECT count(*), min(received_at) FROM debounce WHERE released_by IS NULL"},
		{"alerts", "open", "SELECT count(*), min(opened_at) FROM alerts WHERE state = 'open'"},
	};
	fs_stmt *q;
	int rc, n;

	q = fs_state_prepare(st, "SELECT target, state, count(*), min(enqueued_at) FROM outbox"
				 " WHERE state IN ('pending', 'held') GROUP BY target, state ORDER BY target, state");
	if (q == NULL)
		return -1;
	for (n = 0; (rc = fs_state_step_row(st, q)) == 1; n++)
		*out = jv_array_append(*out, waiting("outbox", fs_col_text(q, 0),
						     fs_col_text(q, 1),
						     fs_col_int64(q, 2), text_or_null(q, 3)));
	if (rc < 0)
		return -1;
	if (n == 0)
		*out = jv_array_append(*out, waiting("outbox", NULL, "pending", 0, jv_null()));
	q = fs_state_prepare(st, "SELECT source, count(*), min(received_at) FROM inbox WHERE drained_at IS NULL"
				 " GROUP BY source ORDER BY source");
	if (q == NULL)
		return -1;
	for (n = 0; (rc = fs_state_step_row(st, q)) == 1; n++)
		*out = jv_array_append(*out, waiting("inbox", fs_col_text(q, 0), "undrained",
						     fs_col_int64(q, 1), text_or_null(q, 2)));
	if (rc < 0)
		return -1;
	if (n == 0)
		*out = jv_array_append(*out, waiting("inbox", NULL, "undrained", 0, jv_null()));
	for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
		if ((q = fs_state_prepare(st, one[i].sql)) == NULL || (rc = fs_state_step_row(st, q)) < 0)
			return -1;
		*out = jv_array_append(*out, waiting(one[i].table, NULL, one[i].state,
						     rc ? fs_col_int64(q, 0) : 0, rc ? text_or_null(q, 1) : jv_null()));
		if (rc)
			fs_stmt_reset(q);
	}
	q = fs_state_prepare(st, "SELECT scope || ' ' || name, since FROM holds WHERE lifted_at IS NULL"
				 " ORDER BY since, id");
	if (q == NULL)
		return -1;
	for (n = 0; (rc = fs_state_step_row(st, q)) == 1; n++)
		*out = jv_array_append(*out, waiting("holds", fs_col_text(q, 0), "active", 1,
						     text_or_null(q, 1)));
	if (rc < 0)
		return -1;
	if (n == 0)
		*out = jv_array_append(*out, waiting("holds", NULL, "active", 0, jv_null()));
	return 0;
}

/*
 * {"path", "schema": {"version", "fieldsync"}, "size": {"file", "wal",
 * "shm", "total"}, "access": {"mode", "owner", "group"}, "tables": {NAME:
 * rows}, "pending": [{"table", "name", "state", "rows", "oldest"}]}, read
 * in one transaction.  pending is null at another schema version than
 * this fieldsync's, whose tables it may not know.
 */
jv
fs_state_info(struct fs_state *st)
{
	jv info = jv_object(), size = jv_object(), access = jv_object(), schema = jv_object();
	jv tables = jv_object(), pending = jv_array();
	struct stat sb;
	struct passwd *pw;
	struct group *gr;
	char mode[8] = "";
	int64_t total = 0;

	if (st->pg) {
		/* A database: its size and owner, as PostgreSQL says; no file,
		 * mode or group (null in json, "-" in text). */
		fs_stmt *q = fs_state_prepare_new(st, "SELECT pg_database_size(current_database()),"
						  " pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()", false);

		if (q != NULL && fs_stmt_step(q) == FS_ROW) {
			total = fs_col_int64(q, 0);
			access = jv_object_set(access, jv_string("owner"), jv_string(fs_col_text(q, 1)));
		}
		fs_stmt_free(q);
		size = jv_object_set(size, jv_string("database"), jv_number((double)total));
		size = jv_object_set(size, jv_string("total"), jv_number((double)total));
	}
	for (int i = 0; i < 3 && !st->pg; i++) {
		static const char *const suffix[] = {"", "-wal", "-shm"}, *const key[] = {"file", "wal", "shm"};
		int64_t n = file_size(st->path, suffix[i]);

		size = jv_object_set(size, jv_string(key[i]), jv_number((double)n));
		total += n;
	}
	size = jv_object_set(size, jv_string("total"), jv_number((double)total));
	if (!st->pg && stat(st->path, &sb) == 0) {
		snprintf(mode, sizeof mode, "%04o", (unsigned)(sb.st_mode & 07777));
		pw = getpwuid(sb.st_uid);
		gr = getgrgid(sb.st_gid);
		access = jv_object_set(access, jv_string("mode"), jv_string(mode));
		access = jv_object_set(access, jv_string("owner"),
				       pw ? jv_string(pw->pw_name) : jv_string_fmt("%ld", (long)sb.st_uid));
		access = jv_object_set(access, jv_string("group"),
				       gr ? jv_string(gr->gr_name) : jv_string_fmt("%ld", (long)sb.st_gid));
	}
	schema = jv_object_set(schema, jv_string("version"), jv_number(st->version));
	schema = jv_object_set(schema, jv_string("fieldsync"), jv_number(fs_nmigrations));
	if (fs_state_exec(st, "BEGIN") != 0)
		goto fail;
	if (table_rows(st, &tables) != 0 || (st->version == fs_nmigrations && pending_work(st, &pending) != 0)) {
		fs_state_exec(st, "ROLLBACK");
		goto fail;
	}
	fs_state_exec(st, "COMMIT");
	info = jv_object_set(info, jv_string("path"), jv_string(st->path));
	info = jv_object_set(info, jv_string("schema"), schema);
	info = jv_object_set(info, jv_string("size"), size);
	info = jv_object_set(info, jv_string("access"), access);
	info = jv_object_set(info, jv_string("tables"), tables);
	if (st->version == fs_nmigrations)
		return jv_object_set(info, jv_string("pending"), pending);
	jv_free(pending);
	return jv_object_set(info, jv_string("pending"), jv_null());
fail:
	jv_free(info);
	jv_free(size);
	jv_free(access);
	jv_free(schema);
	jv_free(tables);
	jv_free(pending);
	return jv_invalid();
}

static const char *
str(jv o, const char *key, char buf[32])
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));

	if (jv_get_kind(v) == JV_KIND_STRING)
		snprintf(buf, 32, "%s", jv_string_value(v));
	else if (jv_get_kind(v) == JV_KIND_NUMBER)
		snprintf(buf, 32, "%.0f", jv_number_value(v));
	else
		snprintf(buf, 32, "-");
	jv_free(v);
	return buf;
}

int
fs_state_info_text(jv info, FILE *f)
{
	jv schema = jv_object_get(jv_copy(info), jv_string("schema"));
	jv size = jv_object_get(jv_copy(info), jv_string("size"));
	jv access = jv_object_get(jv_copy(info), jv_string("access"));
	jv tables = jv_object_get(jv_copy(info), jv_string("tables"));
	jv pending = jv_object_get(jv_copy(info), jv_string("pending"));
	jv path = jv_object_get(jv_copy(info), jv_string("path"));
	char a[32], b[32], c[32], d[32];
	int version = (int)jv_number_value(jv_object_get(jv_copy(schema), jv_string("version")));

	fprintf(f, "state    %s\n", jv_string_value(path));
	fprintf(f, "schema   version %d (this fieldsync: %d)%s\n", version, fs_nmigrations,
		version < fs_nmigrations ? ": run 'fs-state backup FILE', then 'fs-state migrate'"
		: version > fs_nmigrations ? ": newer than this fieldsync" : "");
	if (jv_object_has(jv_copy(size), jv_string("database")))
		fprintf(f, "size     %s bytes (the database)\n", str(size, "total", a));
	else
		fprintf(f, "size     %s bytes: file %s, wal %s, shm %s\n", str(size, "total", a), str(size, "file", b),
			str(size, "wal", c), str(size, "shm", d));
	fprintf(f, "access   mode %s, owner %s, group %s\n", str(access, "mode", a), str(access, "owner", b),
		str(access, "group", c));
	fprintf(f, "\n%-31s %10s\n", "TABLE", "ROWS");
	jv_object_foreach(tables, name, rows) {
		fprintf(f, "%-31s %10.0f\n", jv_string_value(name), jv_number_value(rows));
		jv_free(name);
		jv_free(rows);
	}
	if (jv_get_kind(pending) == JV_KIND_ARRAY) {
		fprintf(f, "\n%-31s %10s  %s\n", "WAITING", "ROWS", "OLDEST");
		jv_array_foreach(pending, i, w) {
			char label[128];
			jv name = jv_object_get(jv_copy(w), jv_string("name"));

			(void)i;
			snprintf(label, sizeof label, "%s%s%s (%s)", str(w, "table", a),
				 jv_get_kind(name) == JV_KIND_STRING ? " " : "",
				 jv_get_kind(name) == JV_KIND_STRING ? jv_string_value(name) : "", str(w, "state", b));
			fprintf(f, "%-31s %10s  %s\n", label, str(w, "rows", c), str(w, "oldest", d));
			jv_free(name);
			jv_free(w);
		}
	}
	jv_free(schema);
	jv_free(size);
	jv_free(access);
	jv_free(tables);
	jv_free(pending);
	jv_free(path);
	return ferror(f) ? -1 : 0;
}

int
fs_state_check(struct fs_state *st, FILE *out, int64_t *integrity, int64_t *foreign)
{
	sqlite3_stmt *q = NULL;
	int rc;

	if (st->pg) {
		/* PostgreSQL checks its own pages and always enforces foreign
		 * keys: no problem to list (standard output is the problems). */
		*integrity = *foreign = 0;
		fs_info("'%s' is a PostgreSQL database: its pages are PostgreSQL's to check (amcheck), "
			"and it enforces foreign keys itself", st->path);
		return 0;
	}
	*integrity = *foreign = 0;
	/* Up to 100 problems, SQLite's default; a file too damaged to be
	 * walked at all is one problem, SQLite's error. */
	if (sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK) {
		fprintf(out, "integrity: %s\n", sqlite3_errmsg(st->db));
		++*integrity;
	} else {
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			const char *s = (const char *)sqlite3_column_text(q, 0);

			if (s && strcmp(s, "ok") != 0) {
				fprintf(out, "integrity: %s\n", s);
				++*integrity;
			}
		}
		if (rc != SQLITE_DONE) {
			fprintf(out, "integrity: %s\n", sqlite3_errmsg(st->db));
			++*integrity;
		}
	}
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &q, NULL) != SQLITE_OK) {
		fprintf(out, "foreign key: %s\n", sqlite3_errmsg(st->db));
		++*foreign;
	} else {
		/* table, rowid, parent, fkid: a row that refers to a missing one. */
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			fprintf(out, "foreign key: %s row %s refers to a missing %s row\n", sqlite3_column_text(q, 0),
				sqlite3_column_type(q, 1) == SQLITE_NULL ? "?" : (const char *)sqlite3_column_text(q, 1),
				sqlite3_column_text(q, 2));
			++*foreign;
		}
		if (rc != SQLITE_DONE) {
			fprintf(out, "foreign key: %s\n", sqlite3_errmsg(st->db));
			++*foreign;
		}
	}
	sqlite3_finalize(q);
	return 0;
}

/* Removes a copy that did not come out whole, and what SQLite left beside it. */
static void
remove_copy(const char *file)
{
	static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};

	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		char *f = fs_xasprintf("%s%s", file, suffix[i]);

		unlink(f);
		free(f);
	}
}

/* The copy's PRAGMA integrity_check says ok (0), or its first problem (-1);
 * then its schema version. */
static int
copy_sound(sqlite3 *db, const char *file, int *version)
{
	sqlite3_stmt *q = NULL;
	const char *why = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW)
		why = sqlite3_errmsg(db);
	else if (strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0)
		why = (const char *)sqlite3_column_text(q, 0);
	if (why)
		fs_err("backup: the copy '%s' fails its integrity check (%s): removed; run 'fs-state check'", file, why);
	sqlite3_finalize(q);
	if (why)
		return -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
		*version = sqlite3_column_int(q, 0);
		rc = 0;
	} else {
		fs_err("backup: cannot read the copy '%s': %s", file, sqlite3_errmsg(db));
	}
	sqlite3_finalize(q);
	return rc;
}

int
fs_state_backup(struct fs_state *st, const char *file, const char *group, int *version)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b = NULL;
	sqlite3_stmt *q = NULL;
	bool wal = false, snapshot = false;
	int rc = SQLITE_ERROR;

	if (st->pg) {
		fs_err("backup: the state '%s' is a PostgreSQL database: back it up with pg_dump", st->path);
		return -1;
	}
	if (fs_state_file_create(file, group) != 0)
		return -1;
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		wal = strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0;
	sqlite3_finalize(q);
	/*
	 * In WAL mode (the state's), the copy reads one snapshot from the
	 * first step to the last: a reader holds off no writer there, and
	 * writes in between do not restart the copy.  A file in rollback mode
	 * is copied as SQLite's documentation shows: each step under its own
	 * read lock, writers let in between (a write restarts the copy).
	 */
	if (wal) {
		if (fs_state_exec(st, "BEGIN") != 0 || fs_state_exec(st, "SELECT count(*) FROM sqlite_schema") != 0)
			goto fail;
		snapshot = true;
	}
	if (sqlite3_open_v2(file, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    (b = sqlite3_backup_init(dst, "main", st->db, "main")) == NULL) {
		fs_err("backup: cannot write '%s': %s", file, dst ? sqlite3_errmsg(dst) : "out of memory");
		goto fail;
	}
	for (;;) {
		struct timespec nap = {0, 10 * 1000000};

		rc = sqlite3_backup_step(b, BACKUP_STEP_PAGES);
		fs_debug("backup: %d of %d pages left", sqlite3_backup_remaining(b), sqlite3_backup_pagecount(b));
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		if (rc != SQLITE_OK || !wal)
			nanosleep(&nap, NULL);
	}
	if (sqlite3_backup_finish(b) != SQLITE_OK || rc != SQLITE_DONE) {
		fs_err("backup: cannot copy '%s' to '%s': %s", st->path, file, sqlite3_errmsg(dst));
		b = NULL;
		goto fail;
	}
	b = NULL;
	if (snapshot) {
		fs_state_exec(st, "COMMIT");
		snapshot = false;
	}
	if (copy_sound(dst, file, version) != 0)
		goto fail;
	/* Closing it folds its WAL in and removes it: the copy is one file. */
	if (sqlite3_close(dst) != SQLITE_OK) {
		fs_err("backup: cannot close '%s': %s", file, sqlite3_errmsg(dst));
		dst = NULL;
		goto fail;
	}
	return 0;
fail:
	if (b)
		sqlite3_backup_finish(b);
	if (snapshot)
		fs_state_exec(st, "ROLLBACK");
	sqlite3_close(dst);
	remove_copy(file);
	return -1;
}
