/*
 * The state in PostgreSQL (issue 19): a postgresql:// URL as --state or
 * $FS_STATE.  lib/state.c keeps the SQLite file and hands each call to
 * here when the state is a database; lib/ above it does not know which.
 *
 * What stands in for what SQLite gives:
 * - BEGIN IMMEDIATE (one writer at a time, the others wait up to the busy
 *   timeout): BEGIN, then a transaction-level advisory lock that every
 *   writer of the database takes, waited for up to lock_timeout.  Every
 *   guarantee the commands draw from SQLite's single writer holds across
 *   hosts the same way.  A plain BEGIN (a reader's, fs-report's) is
 *   REPEATABLE READ: one snapshot, as SQLite's read transaction.
 * - PRAGMA user_version: the one row of table fs_schema (lib/schema_pg.c).
 * - sqlite3_last_insert_rowid: lastval(), the identity column's sequence.
 * - SQL: lib/'s statements are SQLite's; each is rewritten once, when
 *   prepared: ? parameters become $1..$n, INSERT OR IGNORE becomes
 *   INSERT ... ON CONFLICT DO NOTHING, INSERT OR REPLACE an upsert on
 *   the table's primary key, INDEXED BY hints go, a IS b is IS NOT
 *   DISTINCT FROM, a subquery in FROM gets a name, json_object() is
 *   json_build_object() minified, GLOB the schema's #~, char(n) chr(n).  What else
 *   differs is made the same by functions of the schema's (json_extract,
 *   group_concat, ...), not here.
 * Values travel as text, blobs (bytea) as binary.  One connection per
 * process, as the commands open one state each.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "fieldsync.h"
#include "state_pg.h"

/*
 * libpq is loaded when a database is first named, not linked into every
 * command: its libraries (TLS, Kerberos, LDAP) more than double the start
 * of fs-hook, which a web server starts once per delivery, and a state in
 * SQLite never needs them.  Each function is called through a pointer of
 * its own declared type.
 */
#define PQ_FUNCS(X) X(PQclear) X(PQgetvalue) X(PQresultStatus) X(PQnfields) X(PQftype) X(PQexec) \
	X(PQresultErrorMessage) X(PQntuples) X(PQfreemem) X(PQunescapeBytea) X(PQgetisnull) \
	X(PQerrorMessage) X(PQstatus) X(PQsetNoticeProcessor) X(PQprepare) X(PQgetlength) X(PQfinish) \
	X(PQexecPrepared) X(PQconninfoParse) X(PQconninfoFree) X(PQconnectdbParams) X(PQcmdTuples) \
	X(PQcmdStatus)
#define PQ_POINTER(f) static __typeof__(f) *pq_##f;
PQ_FUNCS(PQ_POINTER)

/* 0 when libpq is there; else -1, and why in one line, said once. */
static int
pq_load(const char *url)
{
	static int loaded;	/* 1 loaded, -1 missing */
	void *lib;
	char *shown;

	if (loaded)
		return loaded > 0 ? 0 : -1;
	loaded = -1;
	if ((lib = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL)) == NULL)
		goto missing;
#define PQ_LOAD(f) if ((*(void **)&pq_##f = dlsym(lib, #f)) == NULL) goto missing;
	PQ_FUNCS(PQ_LOAD)
	loaded = 1;
	return 0;
missing:
	shown = fs_pg_redact(url);
	fs_err("state '%s': PostgreSQL's client library cannot be loaded: %s (Debian: apt-get install libpq5)",
	       shown, dlerror());
	free(shown);
	return -1;
}
#define PQclear (*pq_PQclear)
#define PQgetvalue (*pq_PQgetvalue)
#define PQresultStatus (*pq_PQresultStatus)
#define PQnfields (*pq_PQnfields)
#define PQftype (*pq_PQftype)
#define PQexec (*pq_PQexec)
#define PQresultErrorMessage (*pq_PQresultErrorMessage)
#define PQntuples (*pq_PQntuples)
#define PQfreemem (*pq_PQfreemem)
#define PQunescapeBytea (*pq_PQunescapeBytea)
#define PQgetisnull (*pq_PQgetisnull)
#define PQerrorMessage (*pq_PQerrorMessage)
#define PQstatus (*pq_PQstatus)
#define PQsetNoticeProcessor (*pq_PQsetNoticeProcessor)
#define PQprepare (*pq_PQprepare)
#define PQgetlength (*pq_PQgetlength)
#define PQfinish (*pq_PQfinish)
#define PQexecPrepared (*pq_PQexecPrepared)
#define PQconninfoParse (*pq_PQconninfoParse)
#define PQconninfoFree (*pq_PQconninfoFree)
#define PQconnectdbParams (*pq_PQconnectdbParams)
#define PQcmdTuples (*pq_PQcmdTuples)
#define PQcmdStatus (*pq_PQcmdStatus)

/* Every writer's lock (an arbitrary key of fieldsync's: "fsync" in ASCII). */
#define WRITER_LOCK "7378593643"

/* PostgreSQL's type oids (catalog/pg_type_d.h, not shipped by libpq-dev). */
enum { BOOLOID = 16, BYTEAOID = 17, INT8OID = 20, INT2OID = 21, INT4OID = 23, TEXTOID = 25, OIDOID = 26,
       FLOAT4OID = 700, FLOAT8OID = 701, NUMERICOID = 1700 };

struct fs_pg {
	PGconn *conn;
	char *err;		/* the last error's first line */
	int64_t changed;	/* rows the last INSERT, UPDATE or DELETE changed */
	unsigned nstmts;	/* prepared statements, for their names */
	bool lost_said;		/* the lost connection has been reported */
	char *said;		/* the last error reported */
};

struct fs_pg_stmt {
	struct fs_state *st;
	char name[16];
	int nparams;
	char **val;		/* bound values: owned copies, NULL for NULL */
	int *len, *fmt;
	PGresult *res;		/* the result being stepped through, or NULL */
	int row, nrows;
	unsigned char **blob;	/* decoded bytea of the current row, by column */
	size_t *bloblen;
	int ncols;
	char scratch[2];	/* "1" or "0" for a boolean read as text */
};

bool
fs_pg_url(const char *path)
{
	return path && (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0);
}

/* The URL without its password: what messages show. */
char *
fs_pg_redact(const char *url)
{
	const char *scheme_end = strstr(url, "://"), *at, *colon;

	if (scheme_end == NULL)
		return fs_xstrdup(url);
	scheme_end += 3;
	at = strchr(scheme_end, '@');
	colon = memchr(scheme_end, ':', at ? (size_t)(at - scheme_end) : 0);
	if (at == NULL || colon == NULL)
		return fs_xstrdup(url);
	return fs_xasprintf("%.*s:***%s", (int)(colon - url), url, at);
}

/*
 * The database a URL names, as a file name can carry it: "DBNAME@HOST:PORT"
 * with anything but letters, digits, '.', '-' and '_' as '_'.  The user and
 * password are left out, so that hosts and users who name the same database
 * differently (fs-hook as www-data, fs-health from cron) name it alike.
 */
char *
fs_pg_place(const char *url)
{
	PQconninfoOption *opts, *o;
	const char *db = NULL, *host = NULL, *port = NULL;
	char *place;

	if (pq_load(url) != 0)
		return NULL;
	opts = PQconninfoParse(url, NULL);
	for (o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
	}
	place = fs_xasprintf("%s@%s:%s", db && *db ? db : "-", host && *host ? host : "-", port && *port ? port : "-");
	PQconninfoFree(opts);
	for (char *c = place; *c; c++)
		if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_' || *c == '@' || *c == ':'))
			*c = '_';
	return place;
}

static void
set_err(struct fs_pg *pg, const char *msg)
{
	size_t n = strcspn(msg, "\n");

	free(pg->err);
	pg->err = fs_xasprintf("%.*s", (int)n, msg);
}

/* A statement's error: its result's, or the connection's when the result
 * has none (no result at all: the server went away mid-statement). */
static void
res_err(struct fs_pg *pg, const PGresult *r)
{
	const char *msg = r ? PQresultErrorMessage(r) : "";

	set_err(pg, *msg ? msg : *PQerrorMessage(pg->conn) ? PQerrorMessage(pg->conn) : "no answer from the server");
}

/* The connection is gone (the server restarted or went away): for good, as
 * nothing reconnects, since what the process had begun is lost with it. */
bool
fs_pg_lost(const struct fs_state *st)
{
	return st->pg && st->pg->conn && PQstatus(st->pg->conn) == CONNECTION_BAD;
}

/*
 * Whether the error about to be reported is one of a lost connection said
 * already: every later statement fails for the same reason, and one line
 * says it.  (The first failure may come before libpq has seen the
 * connection close: the same message again counts too.)
 */
bool
fs_pg_lost_said(struct fs_state *st)
{
	struct fs_pg *pg = st->pg;
	bool lost = fs_pg_lost(st);
	bool said = lost && (pg->lost_said || (pg->said && pg->err && strcmp(pg->said, pg->err) == 0));

	pg->lost_said |= lost;
	free(pg->said);
	pg->said = pg->err ? fs_xstrdup(pg->err) : NULL;
	return said;
}

const char *
fs_pg_errmsg(struct fs_state *st)
{
	return st->pg && st->pg->err ? st->pg->err : "unknown error";
}

/* Notices ("relation already exists, skipping") are not the user's business. */
static void
quiet(void *arg, const char *message)
{
	(void)arg;
	fs_debug("postgresql: %s", message);
}

static int
exec_ok(struct fs_pg *pg, const char *sql)
{
	PGresult *r = PQexec(pg->conn, sql);
	ExecStatusType s = PQresultStatus(r);
	int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -1;

	if (rc != 0)
		res_err(pg, r);
	PQclear(r);
	return rc;
}

/*
 * A process that may take a lease holds, for as long as its connection
 * lasts, a shared advisory lock keyed by its host's name and its pid: a
 * process on another host can then tell that the holder of a lease is gone
 * (killed, its connection closed), as one on the same host tells by its
 * pid (fs_pg_process_alive).  Shared, as one process may open the state
 * twice.
 */
static void
alive_lock_sql(char *sql, size_t size)
{
	char host[256] = "";
	size_t n;

	gethostname(host, sizeof host - 1);
	n = (size_t)snprintf(sql, size, "; SELECT pg_advisory_lock_shared(hashtext('");
	for (const char *c = host; *c && n + 64 < size; c++) {
		if (*c == '\'')	/* a quote doubled, as SQL's strings take it */
			sql[n++] = '\'';
		sql[n++] = *c;
	}
	snprintf(sql + n, size - n, "'), %ld)", (long)getpid());
}

/* 1: the process pid of host holds its lock (alive_lock_sql), 0: none does, -1: error (said). */
int
fs_pg_process_alive(struct fs_state *st, const char *host, int64_t pid)
{
	int64_t n = 0;

	if (fs_state_int(st, &n,
	    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted"
	    " AND classid = hashtext(?)::oid AND objid = ?::oid"
	    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
	    "si", host, pid) != 0)
		return -1;
	return n > 0;
}

int
fs_pg_open(struct fs_state *st, const char *url, int flags)
{
	/* The URL last: what it says overrides these defaults (libpq applies
	 * the keywords in order, the URL's expanded in dbname's place). */
	const char *keys[] = {"application_name", "connect_timeout", "dbname", NULL};
	const char *vals[] = {"fieldsync", "10", url, NULL};
	char set[800], alive[600] = "";

	if (pq_load(url) != 0)
		return -1;
	st->pg = fs_xmalloc(sizeof *st->pg);
	*st->pg = (struct fs_pg){0};
	st->pg->conn = PQconnectdbParams(keys, vals, 1);
	if (st->pg->conn == NULL || PQstatus(st->pg->conn) != CONNECTION_OK) {
		set_err(st->pg, st->pg->conn ? PQerrorMessage(st->pg->conn) : "out of memory");
		fs_err("state '%s': cannot connect: %s", st->path, st->pg->err);
		return -1;
	}
	PQsetNoticeProcessor(st->pg->conn, quiet, NULL);
	/* A writer waits for the lock as long as SQLite's busy timeout would. */
	if (!(flags & FS_STATE_READONLY))
		alive_lock_sql(alive, sizeof alive);
	snprintf(set, sizeof set, "SET lock_timeout = %d; SET TIME ZONE 'UTC'; SET client_min_messages = warning%s%s",
		 st->busy_ms, flags & FS_STATE_READONLY ? "; SET default_transaction_read_only = on" : "", alive);
	if (exec_ok(st->pg, set) != 0) {
		fs_err("state '%s': %s", st->path, st->pg->err);
		return -1;
	}
	return 0;
}

void
fs_pg_close(struct fs_state *st)
{
	if (st->pg == NULL)
		return;
	if (st->pg->conn)
		PQfinish(st->pg->conn);
	free(st->pg->err);
	free(st->pg->said);
	free(st->pg);
	st->pg = NULL;
}

int
fs_pg_exec(struct fs_state *st, const char *sql)
{
	/* A reader's transaction sees one snapshot, as SQLite's does. */
	if (strcmp(sql, "BEGIN") == 0)
		sql = "BEGIN ISOLATION LEVEL REPEATABLE READ";
	return exec_ok(st->pg, sql);
}

int
fs_pg_begin(struct fs_state *st)
{
	if (exec_ok(st->pg, "BEGIN") != 0)
		return -1;
	if (exec_ok(st->pg, "SELECT pg_advisory_xact_lock(" WRITER_LOCK ")") != 0) {
		PQclear(PQexec(st->pg->conn, "ROLLBACK"));
		return -1;
	}
	return 0;
}

/* Appends n bytes of s to the buffer b (len, cap). */
static void
put(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*b = fs_xrealloc(*b, *cap);
	}
	memcpy(*b + *len, s, n);
	*len += n;
	(*b)[*len] = '\0';
}

static bool
word_at(const char *p, const char *word)
{
	size_t n = strlen(word);

	return strncasecmp(p, word, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_';
}

/*
 * SQLite's SQL as PostgreSQL takes it: ? -> $n (not inside quotes or
 * comments), INSERT OR IGNORE -> INSERT ... ON CONFLICT DO NOTHING, no
 * INDEXED BY.  *nparams gets the count.
 */
char *
fs_pg_sql(const char *sql, int *nparams)
{
	size_t len = 0, cap = strlen(sql) + 64;
	char *out = fs_xmalloc(cap), num[16];
	bool ignore = false;
	int n = 0;

	out[0] = '\0';
	for (const char *p = sql; *p;) {
		if (*p == '\'' || *p == '"') {
			const char *q = p + 1;

			while (*q && !(*q == *p && q[1] != *p))
				q += *q == *p ? 2 : 1;
			if (*q)
				q++;
			put(&out, &len, &cap, p, (size_t)(q - p));
			p = q;
		} else if (p[0] == '-' && p[1] == '-') {
			size_t k = strcspn(p, "\n");

			put(&out, &len, &cap, p, k);
			p += k;
		} else if (*p == '?') {
			/* ?NNN is parameter NNN; a bare ? the one after the highest so far, as in SQLite. */
			int k = isdigit((unsigned char)p[1]) ? atoi(p + 1) : n + 1;

			if (k > n)
				n = k;
			snprintf(num, sizeof num, "$%d", k);
			put(&out, &len, &cap, num, strlen(num));
			p++;
			while (isdigit((unsigned char)*p))
				p++;
		} else if ((p == sql || !isalnum((unsigned char)p[-1])) && word_at(p, "INSERT OR IGNORE")) {
			put(&out, &len, &cap, "INSERT", 6);
			p += 16;
			ignore = true;
		} else if ((p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) && word_at(p, "IS") &&
			   isspace((unsigned char)p[2])) {
			/* SQLite's a IS b / a IS NOT b compare any two values:
			 * IS [NOT] DISTINCT FROM, unless b is NULL, TRUE or FALSE. */
			const char *w = p + 2, *after;
			bool not = false;

			while (isspace((unsigned char)*w))
				w++;
			if (word_at(w, "NOT")) {
				not = true;
				w += 3;
				while (isspace((unsigned char)*w))
					w++;
			}
			after = w;
			if (word_at(w, "NULL") || word_at(w, "TRUE") || word_at(w, "FALSE") || word_at(w, "DISTINCT") ||
			    word_at(w, "UNKNOWN") || (!not && word_at(w, "NOT"))) {
				put(&out, &len, &cap, p, 2);
				p += 2;
			} else {
				const char *as = not ? "IS DISTINCT FROM " : "IS NOT DISTINCT FROM ";

				put(&out, &len, &cap, as, strlen(as));
				p = after;
			}
		} else if ((p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) && word_at(p, "GLOB")) {
			/* a GLOB b: the schema's operator (lib/schema_pg.c). */
			put(&out, &len, &cap, "#~", 2);
			p += 4;
		} else if ((p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) && strncasecmp(p, "char(", 5) == 0) {
			/* SQLite's char(n), the character n: PostgreSQL reads char( as a type. */
			put(&out, &len, &cap, "chr(", 4);
			p += 5;
		} else if ((p == sql || !isalnum((unsigned char)p[-1])) && word_at(p, "INDEXED BY")) {
			p += 10;
			while (isspace((unsigned char)*p))
				p++;
			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
		} else {
			put(&out, &len, &cap, p, 1);
			p++;
		}
	}
	if (ignore) {
		while (len > 0 && (isspace((unsigned char)out[len - 1]) || out[len - 1] == ';'))
			out[--len] = '\0';
		put(&out, &len, &cap, " ON CONFLICT DO NOTHING", 23);
	}
	*nparams = n;
	return out;
}

/* The index just past the parenthesis that closes the one at s[i]; quotes skipped. */
static size_t
closing(const char *s, size_t i)
{
	int depth = 0;

	for (; s[i]; i++) {
		if (s[i] == '\'' || s[i] == '"') {
			char c = s[i];

			for (i++; s[i] && !(s[i] == c && s[i + 1] != c); i += s[i] == c ? 2 : 1)
				;
			if (!s[i])
				break;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')' && --depth == 0) {
			return i + 1;
		}
	}
	return i;
}

/*
 * PostgreSQL 15 wants a name for each subquery in FROM (SQLite and
 * PostgreSQL 16 do not): FROM (SELECT ...) WHERE ... gets AS fs_sN.
 */
static char *
alias_subqueries(char *sql)
{
	static const char *const follow[] = {"WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "UNION", "EXCEPT",
					     "INTERSECT", "JOIN", "LEFT", "RIGHT", "INNER", "CROSS", "FULL",
					     "NATURAL", "HAVING", "WINDOW", "ON", "RETURNING", NULL};
	int nsub = 0;

	for (size_t i = 0; sql[i]; i++) {
		size_t j, end;
		bool bare;

		if (sql[i] == '\'' || sql[i] == '"') {
			char c = sql[i];

			for (i++; sql[i] && !(sql[i] == c && sql[i + 1] != c); i += sql[i] == c ? 2 : 1)
				;
			if (!sql[i])
				break;
			continue;
		}
		if (!((i == 0 || !(isalnum((unsigned char)sql[i - 1]) || sql[i - 1] == '_')) &&
		      (word_at(sql + i, "FROM") || word_at(sql + i, "JOIN"))))
			continue;
		for (j = i + 4; isspace((unsigned char)sql[j]); j++)
			;
		if (sql[j] != '(')
			continue;
		/* IS [NOT] DISTINCT FROM (SELECT ...): a value, not a table. */
		if (i >= 9 && strncasecmp(sql + i - 9, "DISTINCT ", 9) == 0)
			continue;
		end = closing(sql, j);
		for (j = end; isspace((unsigned char)sql[j]); j++)
			;
		bare = sql[j] == '\0' || sql[j] == ')' || sql[j] == ',' || sql[j] == ';';
		for (int f = 0; !bare && follow[f]; f++)
			bare = word_at(sql + j, follow[f]);
		if (bare) {
			char *more = fs_xasprintf("%.*s AS fs_s%d%s", (int)end, sql, ++nsub, sql + end);

			free(sql);
			sql = more;
		}
	}
	return sql;
}

/*
 * SQLite's json_object(k, v, ...) as PostgreSQL's json_build_object, its
 * JSON minified as SQLite's (fs_json_min, lib/schema_pg.c): text, as
 * SQLite's JSON is text (a UNION with a text column), but json as the
 * argument of json_group_array, which keeps JSON values as they are.
 */
static char *
rewrite_json_object(char *sql)
{
	for (size_t i = 0; sql[i]; i++) {
		size_t j, end;
		bool in_array;
		char *more;

		if (sql[i] == '\'' || sql[i] == '"') {
			char c = sql[i];

			for (i++; sql[i] && !(sql[i] == c && sql[i + 1] != c); i += sql[i] == c ? 2 : 1)
				;
			if (!sql[i])
				break;
			continue;
		}
		if (!((i == 0 || !(isalnum((unsigned char)sql[i - 1]) || sql[i - 1] == '_')) &&
		      strncasecmp(sql + i, "json_object", 11) == 0))
			continue;
		for (j = i + 11; isspace((unsigned char)sql[j]); j++)
			;
		if (sql[j] != '(')
			continue;
		end = closing(sql, j);
		for (j = i; j > 0 && isspace((unsigned char)sql[j - 1]); j--)
			;
		in_array = j >= 17 && strncasecmp(sql + j - 17, "json_group_array(", 17) == 0;
		more = fs_xasprintf("%.*sfs_json_min(json_build_object%.*s)%s%s", (int)i, sql, (int)(end - i - 11),
				    sql + i + 11, in_array ? "" : "::text", sql + end);
		i += strlen("fs_json_min(json_build_object");
		free(sql);
		sql = more;
	}
	return sql;
}

static void *
zeroed(size_t n)
{
	return memset(fs_xmalloc(n), 0, n);
}

/*
 * INSERT OR REPLACE INTO t (c1, c2, ...) ...: SQLite deletes the row whose
 * key the new one has, then inserts.  PostgreSQL's form names the key:
 * INSERT INTO t (...) ... ON CONFLICT (key) DO UPDATE SET c = excluded.c
 * for each column given that is not in the key (t's primary key, read from
 * the catalog once per statement).  NULL when sql is not such an insert.
 */
static char *
replace_as_upsert(struct fs_state *st, const char *sql)
{
	const char *p = sql, *name, *open, *close;
	char table[64], *key = NULL, *set = NULL, *out, *sel;
	size_t n;
	PGresult *r;

	while (isspace((unsigned char)*p))
		p++;
	if (!word_at(p, "INSERT OR REPLACE INTO"))
		return NULL;
	name = p + 22;
	while (isspace((unsigned char)*name))
		name++;
	n = strspn(name, "abcdefghijklmnopqrstuvwxyz_0123456789");
	if (n == 0 || n >= sizeof table || (open = strchr(name + n, '(')) == NULL ||
	    (close = strchr(open, ')')) == NULL)
		return NULL;
	memcpy(table, name, n);
	table[n] = '\0';
	sel = fs_xasprintf("SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_index i"
			   " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
			   " WHERE i.indrelid = to_regclass('%s') AND i.indisprimary", table);
	r = PQexec(st->pg->conn, sel);
	free(sel);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		key = fs_xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (key == NULL)
		return NULL;
	/* Each column of the list that is not in the key. */
	for (const char *c = open + 1; c < close;) {
		size_t k;
		char col[64];
		bool in_key = false;

		c += strspn(c, " ,\t\n");
		k = strspn(c, "abcdefghijklmnopqrstuvwxyz_0123456789");
		if (k == 0 || k >= sizeof col)
			break;
		memcpy(col, c, k);
		col[k] = '\0';
		c += k;
		for (const char *kp = key; *kp;) {
			size_t kl = strcspn(kp, ",");

			if (kl == k && strncmp(kp, col, k) == 0)
				in_key = true;
			kp += kl;
			kp += strspn(kp, ", ");
		}
		if (!in_key) {
			char *more = fs_xasprintf("%s%s%s = excluded.%s", set ? set : "", set ? ", " : "", col, col);

			free(set);
			set = more;
		}
	}
	n = strlen(sql);
	while (n > 0 && (isspace((unsigned char)sql[n - 1]) || sql[n - 1] == ';'))
		n--;
	out = fs_xasprintf("INSERT INTO%.*s ON CONFLICT (%s) DO %s%s", (int)(n - (size_t)(name - 1 - sql)),
			   name - 1, key, set ? "UPDATE SET " : "NOTHING", set ? set : "");
	free(key);
	free(set);
	return out;
}

/* SQLite's SQL as PostgreSQL takes it, all but what needs the catalog
 * (INSERT OR REPLACE): fs_pg_sql, names for subqueries, json_object. */
char *
fs_pg_rewrite(const char *sql, int *nparams)
{
	return rewrite_json_object(alias_subqueries(fs_pg_sql(sql, nparams)));
}

struct fs_pg_stmt *
fs_pg_prepare(struct fs_state *st, const char *sql)
{
	struct fs_pg_stmt *q = fs_xmalloc(sizeof *q);
	char *pgsql, *upsert = replace_as_upsert(st, sql);
	Oid *types;
	PGresult *r;

	*q = (struct fs_pg_stmt){.st = st, .row = -1};
	pgsql = fs_pg_rewrite(upsert ? upsert : sql, &q->nparams);
	free(upsert);
	snprintf(q->name, sizeof q->name, "fs%u", st->pg->nstmts++);
	/* A numbered parameter the statement never names (lib/report.c's
	 * filters bind ?1..?7 and use some) has no type to infer: text. */
	types = zeroed(((size_t)q->nparams + 1) * sizeof *types);
	for (int i = 0; i < q->nparams; i++)
		types[i] = TEXTOID;
	for (const char *c = pgsql; *c; c++) {
		if (*c == '\'' || *c == '"') {
			char quote = *c;

			for (c++; *c && !(*c == quote && c[1] != quote); c += *c == quote ? 2 : 1)
				;
			if (!*c)
				break;
		} else if (*c == '$' && isdigit((unsigned char)c[1])) {
			int k = atoi(c + 1);

			if (k >= 1 && k <= q->nparams)
				types[k - 1] = 0;
		}
	}
	r = PQprepare(st->pg->conn, q->name, pgsql, q->nparams, types);
	free(types);
	free(pgsql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		res_err(st->pg, r);
		PQclear(r);
		free(q);
		return NULL;
	}
	PQclear(r);
	q->val = zeroed(((size_t)q->nparams + 1) * sizeof *q->val);
	q->len = zeroed(((size_t)q->nparams + 1) * sizeof *q->len);
	q->fmt = zeroed(((size_t)q->nparams + 1) * sizeof *q->fmt);
	return q;
}

static void
drop_result(struct fs_pg_stmt *q)
{
	for (int i = 0; i < q->ncols && q->blob; i++) {
		PQfreemem(q->blob[i]);
		q->blob[i] = NULL;
	}
	if (q->res)
		PQclear(q->res);
	q->res = NULL;
	q->row = -1;
	q->nrows = 0;
}

void
fs_pg_stmt_reset(struct fs_pg_stmt *q)
{
	drop_result(q);
}

void
fs_pg_stmt_clear(struct fs_pg_stmt *q)
{
	for (int i = 0; i < q->nparams; i++) {
		free(q->val[i]);
		q->val[i] = NULL;
		q->len[i] = q->fmt[i] = 0;
	}
}

void
fs_pg_stmt_free(struct fs_pg_stmt *q)
{
	char dealloc[32];

	if (q == NULL)
		return;
	drop_result(q);
	fs_pg_stmt_clear(q);
	if (q->st->pg && q->st->pg->conn) {
		snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", q->name);
		PQclear(PQexec(q->st->pg->conn, dealloc));
	}
	free(q->blob);
	free(q->bloblen);
	free(q->val);
	free(q->len);
	free(q->fmt);
	free(q);
}

void
fs_pg_bind(struct fs_pg_stmt *q, int i, const void *p, size_t n, bool binary)
{
	if (i < 1 || i > q->nparams)
		return;
	free(q->val[i - 1]);
	q->val[i - 1] = NULL;
	if (p) {
		q->val[i - 1] = fs_xmalloc(n + 1);
		memcpy(q->val[i - 1], p, n);
		q->val[i - 1][n] = '\0';
	}
	q->len[i - 1] = (int)n;
	q->fmt[i - 1] = binary;
}

void
fs_pg_bind_int64(struct fs_pg_stmt *q, int i, int64_t v)
{
	char s[24];

	snprintf(s, sizeof s, "%" PRId64, v);
	fs_pg_bind(q, i, s, strlen(s), false);
}

void
fs_pg_bind_double(struct fs_pg_stmt *q, int i, double v)
{
	char s[32];

	snprintf(s, sizeof s, "%.17g", v);
	fs_pg_bind(q, i, s, strlen(s), false);
}

int
fs_pg_step(struct fs_pg_stmt *q)
{
	struct fs_pg *pg = q->st->pg;

	if (q->res == NULL) {
		ExecStatusType s;

		q->res = PQexecPrepared(pg->conn, q->name, q->nparams, (const char *const *)q->val, q->len, q->fmt, 0);
		s = PQresultStatus(q->res);
		if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
			res_err(pg, q->res);
			drop_result(q);
			return -1;
		}
		if (strncmp(PQcmdStatus(q->res), "SELECT", 6) != 0)
			pg->changed = strtoll(PQcmdTuples(q->res), NULL, 10);
		q->nrows = PQntuples(q->res);
		if (PQnfields(q->res) > q->ncols) {
			q->blob = fs_xrealloc(q->blob, (size_t)PQnfields(q->res) * sizeof *q->blob);
			q->bloblen = fs_xrealloc(q->bloblen, (size_t)PQnfields(q->res) * sizeof *q->bloblen);
			for (int i = q->ncols; i < PQnfields(q->res); i++)
				q->blob[i] = NULL;
			q->ncols = PQnfields(q->res);
		}
		q->row = 0;
	} else {
		for (int i = 0; i < q->ncols; i++) {
			PQfreemem(q->blob[i]);
			q->blob[i] = NULL;
		}
		q->row++;
	}
	return q->row < q->nrows ? FS_ROW : FS_DONE;
}

static bool
have(struct fs_pg_stmt *q, int i)
{
	return q->res && q->row >= 0 && q->row < q->nrows && i >= 0 && i < PQnfields(q->res);
}

bool
fs_pg_col_null(struct fs_pg_stmt *q, int i)
{
	return !have(q, i) || PQgetisnull(q->res, q->row, i);
}

enum fs_col_type
fs_pg_col_type(struct fs_pg_stmt *q, int i)
{
	if (fs_pg_col_null(q, i))
		return FS_COL_NULL;
	switch (PQftype(q->res, i)) {
	case BOOLOID: case INT2OID: case INT4OID: case INT8OID: case OIDOID:
		return FS_COL_INT;
	case FLOAT4OID: case FLOAT8OID: case NUMERICOID:
		return FS_COL_FLOAT;
	case BYTEAOID:
		return FS_COL_BLOB;
	default:
		return FS_COL_TEXT;
	}
}

const char *
fs_pg_col_text(struct fs_pg_stmt *q, int i)
{
	const char *v;

	if (fs_pg_col_null(q, i))
		return NULL;
	v = PQgetvalue(q->res, q->row, i);
	/* SQLite has no booleans: a comparison reads as 1 or 0. */
	if (PQftype(q->res, i) == BOOLOID) {
		q->scratch[0] = v[0] == 't' ? '1' : '0';
		q->scratch[1] = '\0';
		return q->scratch;
	}
	if (PQftype(q->res, i) == BYTEAOID)
		return fs_pg_col_blob(q, i);	/* NUL-terminated: PQunescapeBytea leaves room */
	return v;
}

int64_t
fs_pg_col_int64(struct fs_pg_stmt *q, int i)
{
	const char *v;

	if (fs_pg_col_null(q, i))
		return 0;
	v = PQgetvalue(q->res, q->row, i);
	switch (PQftype(q->res, i)) {
	case BOOLOID:
		return v[0] == 't';
	case FLOAT4OID: case FLOAT8OID: case NUMERICOID:
		return (int64_t)strtod(v, NULL);
	default:
		return strtoll(v, NULL, 10);
	}
}

double
fs_pg_col_double(struct fs_pg_stmt *q, int i)
{
	if (fs_pg_col_null(q, i))
		return 0;
	if (PQftype(q->res, i) == BOOLOID)
		return PQgetvalue(q->res, q->row, i)[0] == 't';
	return strtod(PQgetvalue(q->res, q->row, i), NULL);
}

const void *
fs_pg_col_blob(struct fs_pg_stmt *q, int i)
{
	if (fs_pg_col_null(q, i))
		return NULL;
	if (PQftype(q->res, i) != BYTEAOID)
		return PQgetvalue(q->res, q->row, i);
	if (q->blob[i] == NULL) {
		size_t n = 0;
		unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(q->res, q->row, i), &n);
		unsigned char *z = fs_xmalloc(n + 1);

		/* A copy with a NUL after it, as SQLite's blobs read as text have. */
		memcpy(z, b, n);
		z[n] = '\0';
		PQfreemem(b);
		q->blob[i] = z;
		q->bloblen[i] = n;
	}
	return q->blob[i];
}

size_t
fs_pg_col_bytes(struct fs_pg_stmt *q, int i)
{
	if (fs_pg_col_null(q, i))
		return 0;
	if (PQftype(q->res, i) == BYTEAOID) {
		fs_pg_col_blob(q, i);
		return q->bloblen[i];
	}
	return (size_t)PQgetlength(q->res, q->row, i);
}

int
fs_pg_col_count(struct fs_pg_stmt *q)
{
	return q->res ? PQnfields(q->res) : 0;
}

int64_t
fs_pg_last_id(struct fs_state *st)
{
	PGresult *r = PQexec(st->pg->conn, "SELECT lastval()");
	int64_t id = PQresultStatus(r) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;

	PQclear(r);
	return id;
}

int64_t
fs_pg_changed(struct fs_state *st)
{
	return st->pg->changed;
}

/* The schema version (fs_schema's row; 0 when there is no such table) and the count of relations. */
int
fs_pg_schema_seen(struct fs_state *st, int *version, int64_t *objects)
{
	PGresult *r = PQexec(st->pg->conn,
			     "SELECT to_regclass('fs_schema') IS NOT NULL, (SELECT count(*) FROM pg_class c"
			     " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema())");
	bool has;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		res_err(st->pg, r);
		PQclear(r);
		return -1;
	}
	has = PQgetvalue(r, 0, 0)[0] == 't';
	*objects = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	PQclear(r);
	*version = 0;
	if (!has)
		return 0;
	r = PQexec(st->pg->conn, "SELECT version FROM fs_schema");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		res_err(st->pg, r);
		PQclear(r);
		return -1;
	}
	if (PQntuples(r) > 0)
		*version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}
