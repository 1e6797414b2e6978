/* The SQLite state file: open, schema, transactions, cursors, leases. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fieldsync.h"
#include "state_pg.h"

/* A small cache of prepared statements, keyed by the SQL text. */
struct stmt_cache {
	const char *sql;
	fs_stmt stmt;
	struct stmt_cache *next;
};

static struct stmt_cache *cache;

void
fs_state_error(struct fs_state *st, const char *what)
{
	const char *msg = st->pg ? fs_pg_errmsg(st) : st->db ? sqlite3_errmsg(st->db) : "no database";

	if (st->pg && fs_pg_lost_said(st))
		return;
	fs_err("state '%s': %s%s%s", st->path ? st->path : "?", what ? what : "", what ? ": " : "", msg);
}

/* The files SQLite keeps for a state in WAL mode: itself, its log and its index. */
static const char *const side_suffix[] = {"", "-wal", "-shm"};

/* The group the state's files are shared with ([state] group), if any. */
struct share {
	bool on;
	gid_t gid;
	const char *name;
};

static int
share_find(const char *name, struct share *sh)
{
	struct group *g;

	errno = 0;
	if ((g = getgrnam(name)) == NULL) {
		if (errno)
			fs_err("[state] group: cannot look up '%s':", name);
		else
			fs_err("[state] group: no group '%s'", name);
		return -1;
	}
	*sh = (struct share){true, g->gr_gid, name};
	return 0;
}

/*
 * A file to read and write: its directory must be there, the file must not
 * be read-only by its mode, and the directory must be writable when SQLite
 * has a file to make in it (the state itself, or its -wal or -shm).
 */
static int
check_path(const char *path, int flags)
{
	char *copy = fs_xstrdup(path), *dir = dirname(copy);
	struct stat sb, file;
	bool there = false, all_there = true;
	int rc = -1;

	for (int i = 0; i < 3; i++) {
		char *f = fs_xasprintf("%s%s", path, side_suffix[i]);

		if (stat(f, i == 0 ? &file : &sb) != 0)
			all_there = false;
		else if (i == 0)
			there = true;
		free(f);
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		fs_err("cannot open state '%s': directory '%s' does not exist", path, dir);
	else if (!there && (flags & FS_STATE_EXISTING))
		fs_err("cannot open state '%s': %s", path, strerror(ENOENT));
	else if (there && (file.st_mode & 0222) == 0)
		/* Checked by mode, not access(2), so that root sees it too. */
		fs_err("cannot open state '%s': the file is read-only", path);
	else if (!all_there && access(dir, W_OK) != 0)
		fs_err("cannot open state '%s': directory '%s' is not writable", path, dir);
	else
		rc = 0;
	free(copy);
	return rc;
}

/*
 * A file to read only: it must be there and readable, and so must its -wal
 * and -shm when they are (SQLite would say "unable to open database file"
 * for any of them).
 */
static int
check_readable(const char *path)
{
	for (int i = 0; i < 3; i++) {
		char *f = fs_xasprintf("%s%s", path, side_suffix[i]);
		int fd = open(f, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

		if (fd < 0 && (i == 0 || errno != ENOENT)) {
			fs_err("cannot open state '%s':", f);
			free(f);
			return -1;
		}
		if (fd >= 0)
			close(fd);
		free(f);
	}
	return 0;
}

/*
 * Makes a missing state file before SQLite would (0644 less the umask):
 * 0600, or 0660 in the shared group.  0 when made, or already there and
 * that is fine (!must_be_new).
 */
static int
create_file(const char *path, const struct share *sh, bool must_be_new)
{
	mode_t mode = sh->on ? 0660 : 0600;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0) {
		if (errno == EEXIST && !must_be_new)
			return 0;
		fs_err("cannot create '%s':", path);
		return -1;
	}
	/* fchmod too: the umask may have taken the group's bits. */
	if ((sh->on && fchown(fd, (uid_t)-1, sh->gid) != 0) || fchmod(fd, mode) != 0) {
		if (sh->on)
			fs_err("cannot give '%s' to group '%s':", path, sh->name);
		else
			fs_err("cannot make '%s' mode %04o:", path, (unsigned)mode);
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * With a group: the state, its -wal and its -shm that this user owns get the
 * group and mode 0660.  SQLite makes a -wal or -shm with the file's mode, but
 * in the group of the process that makes it (unless that is root, or the
 * directory is set-group-ID).
 */
static int
share_files(const char *path, const struct share *sh)
{
	uid_t me = geteuid();

	for (int i = 0; i < 3; i++) {
		char *f = fs_xasprintf("%s%s", path, side_suffix[i]);
		struct stat sb;
		int rc = 0;

		if (stat(f, &sb) == 0 && (sb.st_uid == me || me == 0)) {
			if (sb.st_gid != sh->gid && chown(f, (uid_t)-1, sh->gid) != 0) {
				fs_err("cannot give state '%s' to group '%s':", f, sh->name);
				rc = -1;
			} else if (rc == 0 && (sb.st_mode & 07777) != 0660 && chmod(f, 0660) != 0) {
				fs_err("cannot make state '%s' mode 0660:", f);
				rc = -1;
			}
		}
		free(f);
		if (rc != 0)
			return -1;
	}
	return 0;
}

int
fs_state_file_create(const char *path, const char *group)
{
	struct share sh = {0};

	if (group && *group && share_find(group, &sh) != 0)
		return -1;
	return create_file(path, &sh, true);
}

int
fs_state_file_open(const char *path, const char *group)
{
	struct share sh = {0};
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0 || errno != ENOENT)
		goto out;
	if ((group && *group && share_find(group, &sh) != 0) || create_file(path, &sh, false) != 0)
		return -1;
	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
out:
	if (fd < 0)
		fs_err("cannot open '%s':", path);
	return fd;
}

const char *
fs_state_path(const char *path)
{
	const char *env = getenv("FS_STATE");

	return path ? path : env && *env ? env : "fieldsync.db";
}

char *
fs_state_side_file(const char *state_path, const char *suffix)
{
	const char *tmp = getenv("TMPDIR");
	char *place, *file;

	if (state_path == NULL || strcmp(state_path, ":memory:") == 0)
		return NULL;
	if (!fs_pg_url(state_path))
		return fs_xasprintf("%s-%s", state_path, suffix);
	/* A URL is no path; a file in /var/tmp outlives a reboot, as the
	 * counts should, and is this host's own. */
	if ((place = fs_pg_place(state_path)) == NULL)
		return NULL;	/* no libpq: no state either, said */
	file = fs_xasprintf("%s/fieldsync-%s.%s", tmp && *tmp ? tmp : "/var/tmp", suffix, place);
	free(place);
	return file;
}

static int
user_version(struct fs_state *st)
{
	sqlite3_stmt *q;
	int version = -1;
	int64_t objects;

	if (st->pg) {
		if (fs_pg_schema_seen(st, &version, &objects) == 0)
			return version;
		fs_state_error(st, NULL);
		return -1;
	}
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	else
		fs_state_error(st, NULL);
	sqlite3_finalize(q);
	return version;
}

/*
 * The schema version, and the count of tables, indexes, views and triggers
 * (none in a new file), read in one statement: one snapshot.  Read apart, a
 * process that made the file in between would show as version 0 with tables.
 */
static int
schema_seen(struct fs_state *st, int *version, int64_t *objects)
{
	sqlite3_stmt *q;
	int rc = -1;

	if (st->pg) {
		if ((rc = fs_pg_schema_seen(st, version, objects)) != 0)
			fs_state_error(st, NULL);
		return rc;
	}
	if (sqlite3_prepare_v2(st->db, "SELECT (SELECT user_version FROM pragma_user_version),"
			       " (SELECT count(*) FROM sqlite_schema)", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW) {
		*version = sqlite3_column_int(q, 0);
		*objects = sqlite3_column_int64(q, 1);
		rc = 0;
	} else {
		fs_state_error(st, NULL);
	}
	sqlite3_finalize(q);
	return rc;
}

int
fs_schema_apply(struct fs_state *st, int from, int to)
{
	const char *const *migrations = st->pg ? fs_pg_migrations : fs_migrations;
	char pragma[48];

	if (from < 0 || from > to || to > fs_nmigrations) {
		fs_err("state '%s': no migrations from schema version %d to %d", st->path, from, to);
		return -1;
	}
	for (int version = from; version < to; version++)
		if (fs_state_exec(st, migrations[version]) != 0)
			return -1;
	if (st->pg)	/* each migration moves fs_schema's version itself */
		return 0;
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", to);
	return fs_state_exec(st, pragma);
}

/*
 * A new file (no schema objects, version 0) gets the current schema: that is
 * its creation, not a migration.  Any other version but the current one is
 * refused, unless FS_STATE_ANY_SCHEMA: an older file is migrated only by
 * fs-state migrate, after a backup, never behind the operator's back.
 */
static int
check_schema(struct fs_state *st, int flags)
{
	int version;
	int64_t objects;

	if (schema_seen(st, &version, &objects) != 0)
		return -1;
	if (version == 0 && objects == 0 && !st->readonly) {
		if (fs_state_begin(st) != 0)
			return -1;
		/* Another process may have made it in between: read it again under the lock. */
		if (schema_seen(st, &version, &objects) != 0) {
			fs_state_rollback(st);
			return -1;
		}
		if (version == 0 && objects == 0) {
			if (fs_schema_apply(st, 0, fs_nmigrations) != 0) {
				fs_state_rollback(st);
				return -1;
			}
			version = fs_nmigrations;
		}
		if (fs_state_commit(st) != 0)
			return -1;
	}
	st->version = version;
	if (version == fs_nmigrations)
		return 0;
	if (version == 0 && objects == 0) {
		fs_err("state '%s' is empty: no fieldsync command has written to it yet", st->path);
		return -1;
	}
	if (version == 0) {
		fs_err("state '%s': not a fieldsync state file (tables, but no schema version)", st->path);
		return -1;
	}
	if (flags & FS_STATE_ANY_SCHEMA)
		return 0;
	if (version > fs_nmigrations)
		fs_err("state '%s' has schema version %d, newer than this fieldsync's %d: use a newer fieldsync",
		       st->path, version, fs_nmigrations);
	else
		fs_err("state '%s' has schema version %d and this fieldsync needs %d:"
		       " run 'fs-state backup FILE', then 'fs-state migrate'", st->path, version, fs_nmigrations);
	return -1;
}

int
fs_state_migrate(struct fs_state *st, const char *run_id, int *from, int *to)
{
	int version;
	jv detail;

	if (fs_state_begin(st) != 0)
		return -1;
	if ((version = user_version(st)) < 0)
		goto fail;
	*from = *to = version;
	if (version > fs_nmigrations) {
		fs_err("state '%s' has schema version %d, newer than this fieldsync's %d: nothing to migrate",
		       st->path, version, fs_nmigrations);
		goto fail;
	}
	if (version < fs_nmigrations) {
		if (fs_schema_apply(st, version, fs_nmigrations) != 0)
			goto fail;
		detail = jv_object_set(jv_object(), jv_string("from"), jv_number(version));
		detail = jv_object_set(detail, jv_string("to"), jv_number(fs_nmigrations));
		detail = jv_object_set(detail, jv_string("fieldsync"), jv_string(FS_VERSION));
		if (fs_changelog(st, "state.migrate", run_id, NULL, NULL, detail) != 0)
			goto fail;
		*to = fs_nmigrations;
	}
	if (fs_state_commit(st) != 0)
		return -1;
	st->version = *to;
	return 0;
fail:
	fs_state_rollback(st);
	return -1;
}

/*
 * SQLite's own busy handler sleeps in steps of up to 100 ms; with a dozen
 * short writers (fs-hook runs once per request) that turns a 1 ms wait into
 * 100 ms.  This one polls every 0.2-1 ms, with jitter, up to the timeout.
 */
static int
busy_wait(void *arg, int count)
{
	struct fs_state *st = arg;
	struct timespec now, nap = {0, 200000 + (count % 8) * 100000};

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (count == 0)
		st->busy_since = now;
	else if ((now.tv_sec - st->busy_since.tv_sec) * 1000 +
		 (now.tv_nsec - st->busy_since.tv_nsec) / 1000000 >= st->busy_ms)
		return 0;
	nanosleep(&nap, NULL);
	return 1;
}

/* Why the first read failed, in words an operator can act on. */
static void
open_error(struct fs_state *st)
{
	int code = sqlite3_extended_errcode(st->db);

	if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
		fs_err("state '%s': not a fieldsync state file (%s)", st->path, sqlite3_errmsg(st->db));
	} else if (code == SQLITE_READONLY_DIRECTORY) {
		/* SQLite 3.22 and later read a WAL file read-only when its -shm is
		 * there, or can be made; neither is the case. */
		char *copy = fs_xstrdup(st->path);

		fs_err("cannot open state '%s': no '%s-shm' beside it, and directory '%s' is not writable"
		       " (a command that writes the state makes one)", st->path, st->path, dirname(copy));
		free(copy);
	} else {
		fs_state_error(st, NULL);
	}
}

int
fs_state_open_flags(const char *path, int flags, const char *group, struct fs_state *st)
{
	const char *bt = getenv("FS_BUSY_TIMEOUT");
	/* The first read tells a corrupt or foreign file from a state file.
	 * Read and write, it also turns WAL on: when several stages of a first
	 * pipeline create the file together, each can hold a read lock and want
	 * the write lock that does it; SQLite then answers SQLITE_BUSY at once
	 * instead of calling the busy handler (waiting would deadlock), so we
	 * back off and try again. */
	const char *first = flags & FS_STATE_READONLY ? "SELECT count(*) FROM sqlite_schema" : "PRAGMA journal_mode = WAL";
	struct share sh = {0};
	bool file;
	sqlite3_stmt *q;
	int rc;

	memset(st, 0, sizeof *st);
	path = fs_state_path(path);
	st->readonly = flags & FS_STATE_READONLY;
	st->busy_ms = bt && *bt ? atoi(bt) : 10000;
	if (fs_pg_url(path)) {
		/* Messages name the database without its password. */
		st->path = fs_pg_redact(path);
		if (fs_pg_open(st, path, flags) != 0 || check_schema(st, flags) != 0)
			goto fail;
		return 0;
	}
	st->path = fs_xstrdup(path);
	file = strcmp(path, ":memory:") != 0;
	if (group && *group && !st->readonly && share_find(group, &sh) != 0)
		goto fail;
	if (file && st->readonly && check_readable(path) != 0)
		goto fail;
	if (file && !st->readonly && (check_path(path, flags) != 0 || create_file(path, &sh, false) != 0))
		goto fail;
	rc = sqlite3_open_v2(path, &st->db, st->readonly ? SQLITE_OPEN_READONLY
			     : SQLITE_OPEN_READWRITE | (file ? 0 : SQLITE_OPEN_CREATE), NULL);
	if (rc != SQLITE_OK) {
		fs_state_error(st, "cannot open");
		goto fail;
	}
	sqlite3_busy_handler(st->db, busy_wait, st);
	if (!st->readonly) {
		/* The -wal and -shm stay beside the file after the last close, so
		 * that a user who may not make them can still read the state, and
		 * so that they keep the group they were given.  The WAL is cut to
		 * nothing at that close (journal_size_limit, below). */
		int on = 1;

		sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &on);
	}
	for (int tries = 0;; tries++) {
		rc = sqlite3_prepare_v2(st->db, first, -1, &q, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(q);
		sqlite3_finalize(q);
		if ((rc & 0xff) != SQLITE_BUSY || busy_wait(st, tries) == 0)
			break;
	}
	if (rc != SQLITE_ROW) {
		open_error(st);
		goto fail;
	}
	/* A 16 MiB page cache keeps the indexes of a big run in memory; a
	 * checkpoint every 8192 pages (32 MiB of WAL) writes each page once
	 * for several commits, not once per commit; a WAL past 64 MiB is cut
	 * back after a checkpoint. */
	if (fs_state_exec(st, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
			  " PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 8192;"
			  " PRAGMA journal_size_limit = 67108864") != 0)
		goto fail;
	/* The schema first: a file this fieldsync refuses keeps its mode. */
	if (check_schema(st, flags) != 0 || (file && sh.on && share_files(path, &sh) != 0))
		goto fail;
	return 0;
fail:
	fs_state_close(st);
	return -1;
}

int
fs_state_open(const char *path, struct fs_state *st)
{
	return fs_state_open_flags(path, 0, NULL, st);
}

void
fs_state_close(struct fs_state *st)
{
	while (cache) {
		struct stmt_cache *next = cache->next;

		if (cache->stmt.pg)
			fs_pg_stmt_free(cache->stmt.pg);
		else
			sqlite3_finalize(cache->stmt.lite);
		free(cache);
		cache = next;
	}
	fs_pg_close(st);
	if (st->db)
		sqlite3_close(st->db);
	free(st->path);
	memset(st, 0, sizeof *st);
}

int
fs_state_exec(struct fs_state *st, const char *sql)
{
	char *msg = NULL;

	if (st->pg) {
		if (fs_pg_exec(st, sql) == 0)
			return 0;
		fs_err("state '%s': %s", st->path, fs_pg_errmsg(st));
		return -1;
	}
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fs_err("state '%s': %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
fs_state_begin(struct fs_state *st)
{
	if (st->depth++ > 0)
		return 0;
	if (st->pg && fs_pg_begin(st) != 0) {
		fs_state_error(st, "begin");
		st->depth = 0;
		return -1;
	}
	if (!st->pg && fs_state_exec(st, "BEGIN IMMEDIATE") != 0) {
		st->depth = 0;
		return -1;
	}
	return 0;
}

int
fs_state_commit(struct fs_state *st)
{
	if (st->depth == 0 || --st->depth > 0)
		return 0;
	fs_step("commit");
	return fs_state_exec(st, "COMMIT");
}

void
fs_state_rollback(struct fs_state *st)
{
	if (st->depth == 0)
		return;
	st->depth = 0;
	if (st->pg)
		fs_pg_exec(st, "ROLLBACK");
	else
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

fs_stmt *
fs_state_prepare(struct fs_state *st, const char *sql)
{
	struct stmt_cache *c;

	for (c = cache; c; c = c->next)
		if (c->sql == sql || strcmp(c->sql, sql) == 0) {
			fs_stmt_reset(&c->stmt);
			fs_stmt_clear(&c->stmt);
			return &c->stmt;
		}
	c = fs_xmalloc(sizeof *c);
	c->stmt = (fs_stmt){0};
	if (st->pg ? (c->stmt.pg = fs_pg_prepare(st, sql)) == NULL
		   : sqlite3_prepare_v2(st->db, sql, -1, &c->stmt.lite, NULL) != SQLITE_OK) {
		fs_state_error(st, NULL);
		free(c);
		return NULL;
	}
	c->sql = sql;
	c->next = cache;
	cache = c;
	return &c->stmt;
}

int
fs_state_step_done(struct fs_state *st, fs_stmt *stmt)
{
	int rc = fs_stmt_step(stmt);

	fs_stmt_reset(stmt);
	if (rc < 0) {
		fs_state_error(st, NULL);
		return -1;
	}
	return 0;
}

fs_stmt *
fs_state_vquery(struct fs_state *st, const char *sql, const char *types, va_list ap)
{
	fs_stmt *q = fs_state_prepare(st, sql);

	if (q == NULL)
		return NULL;
	for (int i = 1; types && types[i - 1]; i++) {
		const void *p;
		size_t n;

		switch (types[i - 1]) {
		case 's':
			fs_bind_text(q, i, va_arg(ap, const char *));
			break;
		case 't':
			p = va_arg(ap, const char *);
			n = va_arg(ap, size_t);
			if (q->pg)
				fs_pg_bind(q->pg, i, p, n, false);
			else
				sqlite3_bind_text(q->lite, i, p, (int)n, SQLITE_TRANSIENT);
			break;
		case 'b':
			p = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			if (q->pg)
				fs_pg_bind(q->pg, i, p, n, true);
			else
				sqlite3_bind_blob(q->lite, i, p, (int)n, SQLITE_TRANSIENT);
			break;
		case 'i':
			fs_bind_int64(q, i, va_arg(ap, int64_t));
			break;
		case 'n': {
			int64_t v = va_arg(ap, int64_t);

			if (v)
				fs_bind_int64(q, i, v);
			else
				fs_bind_null(q, i);
			break;
		}
		case 'd':
			fs_bind_double(q, i, va_arg(ap, double));
			break;
		default:
			fs_err("state '%s': no bind type '%c'", st->path, types[i - 1]);
			return NULL;
		}
	}
	return q;
}

fs_stmt *
fs_state_query(struct fs_state *st, const char *sql, const char *types, ...)
{
	va_list ap;
	fs_stmt *q;

	va_start(ap, types);
	q = fs_state_vquery(st, sql, types, ap);
	va_end(ap);
	return q;
}

int
fs_state_run(struct fs_state *st, const char *sql, const char *types, ...)
{
	va_list ap;
	fs_stmt *q;

	va_start(ap, types);
	q = fs_state_vquery(st, sql, types, ap);
	va_end(ap);
	return q ? fs_state_step_done(st, q) : -1;
}

int64_t
fs_state_changes(struct fs_state *st, const char *sql, const char *types, ...)
{
	va_list ap;
	fs_stmt *q;

	va_start(ap, types);
	q = fs_state_vquery(st, sql, types, ap);
	va_end(ap);
	if (q == NULL || fs_state_step_done(st, q) != 0)
		return -1;
	return fs_state_changed(st);
}

/* The first column of sql's first row: text when text, else a number. */
static int
query_one(struct fs_state *st, const char *sql, const char *types, va_list ap, char **text, int64_t *num)
{
	fs_stmt *q = fs_state_vquery(st, sql, types, ap);

	if (q == NULL)
		return -1;
	return (text ? fs_state_get_text(st, q, text) : fs_state_get_int(st, q, num)) < 0 ? -1 : 0;
}

int
fs_state_text(struct fs_state *st, char **out, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	*out = NULL;
	va_start(ap, types);
	rc = query_one(st, sql, types, ap, out, NULL);
	va_end(ap);
	return rc;
}

int
fs_state_int(struct fs_state *st, int64_t *out, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	*out = 0;
	va_start(ap, types);
	rc = query_one(st, sql, types, ap, NULL, out);
	va_end(ap);
	return rc;
}

void
fs_bind_text(fs_stmt *q, int i, const char *s)
{
	if (q->pg)
		fs_pg_bind(q->pg, i, s, s ? strlen(s) : 0, false);
	else if (s)
		sqlite3_bind_text(q->lite, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(q->lite, i);
}

enum fs_col_type
fs_col_type(fs_stmt *q, int i)
{
	if (q->pg)
		return fs_pg_col_type(q->pg, i);
	switch (sqlite3_column_type(q->lite, i)) {
	case SQLITE_INTEGER:
		return FS_COL_INT;
	case SQLITE_FLOAT:
		return FS_COL_FLOAT;
	case SQLITE_BLOB:
		return FS_COL_BLOB;
	case SQLITE_NULL:
		return FS_COL_NULL;
	default:
		return FS_COL_TEXT;
	}
}

int
fs_stmt_step(fs_stmt *q)
{
	int rc;

	if (q->pg)
		return fs_pg_step(q->pg);
	rc = sqlite3_step(q->lite);
	return rc == SQLITE_ROW ? FS_ROW : rc == SQLITE_DONE ? FS_DONE : -1;
}

fs_stmt *
fs_state_prepare_new(struct fs_state *st, const char *sql, bool kept)
{
	fs_stmt *q = fs_xmalloc(sizeof *q);

	*q = (fs_stmt){0};
	if (st->pg ? (q->pg = fs_pg_prepare(st, sql)) == NULL
		   : sqlite3_prepare_v3(st->db, sql, -1, kept ? SQLITE_PREPARE_PERSISTENT : 0, &q->lite, NULL)
			     != SQLITE_OK) {
		fs_state_error(st, NULL);
		free(q);
		return NULL;
	}
	return q;
}

void
fs_stmt_free(fs_stmt *q)
{
	if (q == NULL)
		return;
	if (q->pg)
		fs_pg_stmt_free(q->pg);
	else
		sqlite3_finalize(q->lite);
	free(q);
}

int64_t
fs_state_last_id(struct fs_state *st)
{
	return st->pg ? fs_pg_last_id(st) : sqlite3_last_insert_rowid(st->db);
}

int64_t
fs_state_changed(struct fs_state *st)
{
	return st->pg ? fs_pg_changed(st) : sqlite3_changes64(st->db);
}

struct sql_fn {
	bool (*fn)(void *data, const char *arg, char *out);
	void *data;
};

static void
sql_fn_call(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct sql_fn *f = sqlite3_user_data(ctx);
	char out[FS_SQL_FN_MAX];

	(void)argc;
	if (!f->fn(f->data, (const char *)sqlite3_value_text(argv[0]), out))
		sqlite3_result_null(ctx);
	else
		sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

int
fs_state_function(struct fs_state *st, const char *name, bool (*fn)(void *data, const char *arg, char *out),
		  void *data)
{
	struct sql_fn *f = NULL;

	/* PostgreSQL cannot call fn: the schema has a function of that name
	 * (lib/schema_pg.c), in the zone fs_state_zone gave. */
	if (st->pg)
		return 0;
	if (fn) {
		f = fs_xmalloc(sizeof *f);
		*f = (struct sql_fn){fn, data};
	}
	/* SQLite frees f (sqlite3_free's stand-in, free) when the function is replaced or the connection closes. */
	if (sqlite3_create_function_v2(st->db, name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, f, fn ? sql_fn_call : NULL,
				       NULL, NULL, free) != SQLITE_OK) {
		fs_state_error(st, name);
		return -1;
	}
	return 0;
}

int
fs_state_zone(struct fs_state *st, const char *tz)
{
	fs_stmt *q;
	int rc;

	if (!st->pg)
		return 0;
	q = fs_state_prepare(st, "SELECT set_config('fieldsync.tz', ?, false)");
	if (q == NULL)
		return -1;
	fs_bind_text(q, 1, tz && *tz ? tz : "UTC");
	rc = fs_stmt_step(q);
	fs_stmt_reset(q);
	if (rc != FS_ROW) {
		fs_state_error(st, "zone");
		return -1;
	}
	return 0;
}

char *
fs_col_dup(fs_stmt *q, int i)
{
	const char *s = fs_col_text(q, i);

	return s ? fs_xstrdup(s) : NULL;
}

int
fs_state_step_row(struct fs_state *st, fs_stmt *q)
{
	int rc = fs_stmt_step(q);

	if (rc < 0) {
		fs_state_error(st, NULL);
		fs_stmt_reset(q);
		return -1;
	}
	if (rc == FS_DONE)
		fs_stmt_reset(q);
	return rc == FS_ROW;
}

int
fs_state_get_text(struct fs_state *st, fs_stmt *q, char **out)
{
	int rc = fs_state_step_row(st, q);

	*out = rc == 1 ? fs_col_dup(q, 0) : NULL;
	fs_stmt_reset(q);
	return rc;
}

int
fs_state_get_int(struct fs_state *st, fs_stmt *q, int64_t *out)
{
	int rc = fs_state_step_row(st, q);

	*out = rc == 1 ? fs_col_int64(q, 0) : 0;
	fs_stmt_reset(q);
	return rc;
}

static void
now_text(char out[21])
{
	fs_time_format(fs_now(), out);
}

int
fs_cursor_get(struct fs_state *st, const char *source, const char *stream, char **cursor)
{
	fs_stmt *q = fs_state_query(st, "SELECT cursor FROM cursors WHERE source = ? AND stream = ?",
					 "ss", source, stream ? stream : "");

	*cursor = NULL;
	if (q == NULL)
		return -1;
	return fs_state_get_text(st, q, cursor) < 0 ? -1 : 0;
}

int
fs_cursor_commit(struct fs_state *st, const char *source, const char *stream, const char *cursor,
		 const char *run_id)
{
	char now[21];

	now_text(now);
	return fs_state_run(st,
	    "INSERT INTO cursors (source, stream, cursor, run_id, committed_at) VALUES (?, ?, ?, ?, ?)"
	    " ON CONFLICT (source, stream) DO UPDATE SET cursor = excluded.cursor,"
	    " run_id = excluded.run_id, committed_at = excluded.committed_at",
	    "sssss", source, stream ? stream : "", cursor, run_id, now);
}

/*
 * Whether the process that took a lease is still there: 1 yes, 0 gone, -1
 * an error (said).  On this host its pid tells.  In a database, so does its
 * connection, from any host: each process that may take a lease holds a
 * lock of its own while connected (state_pg.c), which a process killed on
 * another host has lost.  A host that vanished (its power cut) keeps its
 * connections open until the database's TCP keepalive gives up on them:
 * the lease's expiry covers that.  Between hosts sharing a SQLite file
 * nothing tells, and the expiry is trusted.
 */
static int
holder_alive(struct fs_state *st, const char *host, long pid)
{
	char me[256] = "";

	if (host == NULL)
		return 1;
	gethostname(me, sizeof me - 1);
	if (strcmp(host, me) == 0)
		return kill((pid_t)pid, 0) == 0 || errno == EPERM;
	return st->pg ? fs_pg_process_alive(st, host, pid) : 1;
}

int
fs_lease_take(struct fs_state *st, const char *name, const char *run_id, int64_t ttl)
{
	fs_stmt *q;
	char now[21], until[21], host[256] = "";
	int rc, taken = 1;

	if (fs_state_begin(st) != 0)
		return -1;
	now_text(now);
	fs_time_format(fs_now() + ttl, until);
	gethostname(host, sizeof host - 1);
	q = fs_state_query(st, "SELECT run_id, pid, host, expires_at FROM leases WHERE name = ?", "s", name);
	if (q == NULL)
		goto fail;
	if ((rc = fs_state_step_row(st, q)) < 0)
		goto fail;
	if (rc == 1) {
		bool held = strcmp(fs_col_text(q, 0), run_id) != 0 && strcmp(fs_col_text(q, 3), now) > 0;
		long pid = fs_col_int64(q, 1);
		char *h = fs_col_dup(q, 2);
		int alive;

		fs_stmt_reset(q);	/* before another query: its columns are gone then */
		alive = held ? holder_alive(st, h, pid) : 0;
		free(h);
		if (alive < 0)
			goto fail;
		if (alive)
			taken = 0;
	}
	if (taken && fs_state_run(st,
	    "INSERT OR REPLACE INTO leases (name, run_id, pid, host, taken_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
	    "ssisss", name, run_id, (int64_t)getpid(), host, now, until) != 0)
		goto fail;
	if (fs_state_commit(st) != 0)
		return -1;
	return taken;
fail:
	fs_state_rollback(st);
	return -1;
}

int
fs_lease_release(struct fs_state *st, const char *name, const char *run_id)
{
	return fs_state_run(st, "DELETE FROM leases WHERE name = ? AND run_id = ?", "ss", name, run_id);
}

int
fs_piece_status(struct fs_state *st, const char *vendor_id, char **status)
{
	fs_stmt *q = fs_state_query(st, "SELECT status FROM pieces WHERE vendor_id = ?", "s", vendor_id);

	*status = NULL;
	if (q == NULL)
		return -1;
	return fs_state_get_text(st, q, status) < 0 ? -1 : 0;
}
