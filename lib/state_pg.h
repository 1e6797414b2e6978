/* lib/state_pg.c: the state in PostgreSQL, for lib/state*.c only. */
#ifndef FS_STATE_PG_H
#define FS_STATE_PG_H

bool fs_pg_url(const char *path);	/* postgresql://... or postgres://... */
char *fs_pg_redact(const char *url);	/* the URL without its password, malloc'd */
char *fs_pg_place(const char *url);	/* "DBNAME@HOST:PORT", for a file name, malloc'd; NULL: no libpq (said) */
int fs_pg_open(struct fs_state *st, const char *url, int flags);	/* -1: said */
void fs_pg_close(struct fs_state *st);
int fs_pg_exec(struct fs_state *st, const char *sql);	/* -1: fs_pg_errmsg says why */
int fs_pg_begin(struct fs_state *st);	/* BEGIN and the writers' lock */
bool fs_pg_lost(const struct fs_state *st);	/* the connection is gone */
bool fs_pg_lost_said(struct fs_state *st);	/* and this is not the first error it made */
const char *fs_pg_errmsg(struct fs_state *st);
char *fs_pg_sql(const char *sql, int *nparams);	/* SQLite's SQL as PostgreSQL takes it */
char *fs_pg_rewrite(const char *sql, int *nparams);	/* and FROM's subqueries named, json_object */
struct fs_pg_stmt *fs_pg_prepare(struct fs_state *st, const char *sql);	/* NULL: fs_pg_errmsg */
int fs_pg_step(struct fs_pg_stmt *q);	/* FS_ROW, FS_DONE, -1 */
void fs_pg_stmt_free(struct fs_pg_stmt *q);
enum fs_col_type fs_pg_col_type(struct fs_pg_stmt *q, int i);
int64_t fs_pg_last_id(struct fs_state *st);
int64_t fs_pg_changed(struct fs_state *st);
int fs_pg_process_alive(struct fs_state *st, const char *host, int64_t pid);	/* 1, 0, -1: error */
int fs_pg_schema_seen(struct fs_state *st, int *version, int64_t *objects);

#endif
