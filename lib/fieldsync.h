/*
 * fieldsync: the library every fs-* command is built on.
 *
 * Grouped by the file that defines each function.  Library functions return
 * -1 (or NULL) on failure after saying why on stderr, and leave the decision
 * to exit to the command.
 */
#ifndef FIELDSYNC_H
#define FIELDSYNC_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <jv.h>
#include <sqlite3.h>

#define FS_VERSION "0.1.0"

/* Exit status, shared by every command (DESIGN.md, "Exit status"). */
enum fs_exit {
	FS_EXIT_OK = 0,		/* all done */
	FS_EXIT_DLQ = 1,	/* done, but some lines went to the DLQ */
	FS_EXIT_USAGE = 2,	/* usage or config error */
	FS_EXIT_STATE = 3,	/* state file error */
	FS_EXIT_REMOTE = 4,	/* remote (a vendor) unavailable, or a write to stdout failed */
	FS_EXIT_PAUSED = 5,	/* paused by a watchdog hold */
};

/* Timestamps are whole seconds since the epoch, UTC. */
typedef int64_t fs_time;

// log.c
extern const char *fs_progname;	/* "fs-normalize"; set by fs_cli_init */
extern int fs_verbosity;	/* 0 quiet, 1 normal, 2 verbose */
void fs_err(const char *fmt, ...);	/* always: "prog: msg"; ":" at the end appends strerror */
/* When set, messages are kept here, one a line without "prog: ", instead of
 * going to stderr (fs-health puts the first on its status line). */
extern struct fs_buf *fs_err_keep;
void fs_info(const char *fmt, ...);	/* unless -q */
void fs_debug(const char *fmt, ...);	/* only with -v */
bool fs_progress_enabled(void);	/* stderr is a terminal and not -q */

// step.c: the durable steps of a run, numbered for the crash and interleaving tests.
/* Before each commit, write of output and vendor request: FS_CRASH_AT=N
 * kills the process before its Nth step, FS_STEP_LOG=FILE lists them,
 * FS_STEP_DELAY=MS sleeps up to MS ms (lib/step.c). */
void fs_step(const char *what);

// util.c
void *fs_xmalloc(size_t n);	/* abort with a message on exhaustion */
void *fs_xrealloc(void *p, size_t n);
char *fs_xstrdup(const char *s);
char *fs_xasprintf(const char *fmt, ...);
struct fs_buf {
	char *data;
	size_t len, cap;
};
void fs_buf_add(struct fs_buf *b, const void *p, size_t n);
void fs_buf_adds(struct fs_buf *b, const char *s);
void fs_buf_addf(struct fs_buf *b, const char *fmt, ...);
void fs_buf_addc(struct fs_buf *b, char c);
void fs_buf_free(struct fs_buf *b);
char *fs_trim(char *s);		/* in place, both ends */
void fs_secret_free(char *secret);	/* zeroes, then frees; NULL-safe */
/* Before a secret is read: no core file from here on (RLIMIT_CORE 0, also
 * for the programs this one starts) and not dumpable (PR_SET_DUMPABLE 0: no
 * ptrace or /proc/PID/mem, environ by other processes of the user).  Once. */
void fs_secret_guard(void);
void fs_sha256_hex(const void *p, size_t n, char out[65]);
const char *fs_jstr(jv obj, const char *key);	/* borrowed string or NULL */
jv fs_jget(jv obj, const char *key);	/* invalid unless obj is an object; consumes nothing */
jv fs_jget_path(jv obj, const char *dotted);	/* "to.line1"; consumes nothing */
char *fs_jdump(jv v);		/* compact JSON, malloc'd; consumes nothing */
bool fs_is_safe_key(const char *name);	/* config keys that may print */
struct fs_count {
	char *key;
	long n;
};
struct fs_counts {		/* string -> counter hash map */
	struct fs_count *e;
	size_t cap, len;
};
/* The counter for key (n bytes), made at 0 when create; NULL if absent. */
long *fs_counts_at(struct fs_counts *m, const char *key, size_t n, bool create);
void fs_counts_free(struct fs_counts *m);
#define FS_COUNT_MAX 1000000
/* A count setting: digits, 0 .. FS_COUNT_MAX; -1 with errno EINVAL or ERANGE. */
int fs_count_parse(const char *s, long *out);
#define FS_SIZE_MAX (64ULL * 1024 * 1024)
/* A size setting: "1048576", "512k", "1M", 1 .. FS_SIZE_MAX bytes; -1 with errno EINVAL or ERANGE. */
int fs_size_parse(const char *s, size_t *out);

// json.c
struct fs_str {			/* a borrowed string; p == NULL is null */
	const char *p;
	size_t n;
};
/* Strict RFC 8259 check of one JSON text, UTF-8 included.  Returns NULL
 * when valid, else a static reason ("invalid JSON at byte 7"). */
const char *fs_json_check(const char *p, size_t n, size_t *errpos);
bool fs_utf8_valid(const char *p, size_t n, size_t *errpos);
/* fs_json_check that also finds the top-level members named in want[]: a
 * wanted member whose value is a string without escapes gets its contents
 * in value[] (p NULL otherwise).  plain stays true only when the text is an
 * object, no top-level name has an escape, and every wanted member that is
 * there at all is there once with such a string: the hot path may then
 * trust value[] and skip the parser. */
#define FS_JSON_TOP_MAX 8
struct fs_json_top {
	const struct fs_str *want;
	int nwant;		/* at most FS_JSON_TOP_MAX */
	struct fs_str value[FS_JSON_TOP_MAX];
	bool plain;
};
const char *fs_json_check_top(const char *p, size_t n, size_t *errpos, struct fs_json_top *top);

// time.c: times, durations, and the settings made of them (rate, retry).
fs_time fs_now(void);		/* $FS_NOW when set, else the wall clock */
int fs_now_check(void);		/* -1 with a message when $FS_NOW is malformed */
int fs_time_parse(const char *s, fs_time *out);	/* RFC 3339, any offset; -1 if not */
bool fs_time_valid(const char *s);
#define FS_TIME_MIN (-62167219200LL)	/* 0000-01-01T00:00:00Z */
#define FS_TIME_MAX 253402300799LL	/* 9999-12-31T23:59:59Z */
/* 2026-11-30T01:02:03Z; a time outside FS_TIME_MIN..FS_TIME_MAX is written as the nearer of them. */
void fs_time_format(fs_time t, char out[21]);
/* The parsers of settings return -1 with errno EINVAL when the text is not
 * of their shape, ERANGE when it is but its value is out of range. */
#define FS_DURATION_MAX (36500LL * 86400)	/* 100 years: now plus any duration stays in RFC 3339's years */
int fs_duration_parse(const char *s, int64_t *secs);	/* 90s 15m 24h 3d 2w, at most FS_DURATION_MAX */
#define FS_BIZDAYS_MAX 3650
int fs_bizdays_parse(const char *s, int *days);	/* "3bd", at most FS_BIZDAYS_MAX */
struct fs_rate_limit {			/* a `rate` setting: n requests per window */
	int n;				/* 0: no limit ("off") */
	int64_t window_ms;
};
#define FS_RATE_MAX 1000000		/* requests in one window */
/* "100/10s", "10/500ms", "150/s", "5" (per second), "off"; -1 (errno EINVAL
 * or ERANGE) if malformed, or over FS_RATE_MAX or a window of FS_DURATION_MAX. */
int fs_rate_limit_parse(const char *s, struct fs_rate_limit *r);
struct fs_retry {			/* a `retry` setting: "30s..6h x8" */
	int64_t base, cap;		/* first delay .. cap, in seconds */
	int max;			/* attempts */
};
#define FS_RETRY_MAX 1000		/* attempts */
int fs_retry_parse(const char *s, struct fs_retry *r);	/* -1 (errno EINVAL or ERANGE) if malformed or out of range */
struct fs_holidays {
	int n;
	int32_t day[64];	/* days since the epoch */
};
int fs_holidays_parse(const char *list, struct fs_holidays *h);	/* "2026-12-25, 2027-01-01" */
/* The moment N business days after t (weekends and holidays skipped). */
fs_time fs_bizdays_add(fs_time t, int n, const struct fs_holidays *h);
/* Whole business days from a to b (0 when b <= a). */
int fs_bizdays_between(fs_time a, fs_time b, const struct fs_holidays *h);
bool fs_tz_valid(const char *tz);	/* "UTC", or a zone /usr/share/zoneinfo has */
/* The local day of t in time zone tz (an IANA name): its first second and the next day's. */
int fs_local_day(fs_time t, const char *tz, fs_time *start, fs_time *next);
/* A time a user types: RFC 3339, or a plain date YYYY-MM-DD meaning that
 * day's first second in time zone tz (the next day's with end_of_day); -1 if neither. */
int fs_time_arg(const char *s, const char *tz, bool end_of_day, fs_time *t);
bool fs_tz_is_utc(const char *tz);	/* NULL, "" or "UTC" */
/*
 * A time zone for many times (a report's rows): the UTC offset of each UTC
 * day asked about is kept, so that TZ is swapped in once a day, not once a
 * time.  fs_zone_init first; tz is kept, not copied.
 */
#define FS_ZONE_CACHE 64
struct fs_zone {
	const char *tz;
	bool utc;
	int64_t day[FS_ZONE_CACHE];	/* the UTC day a slot holds, INT64_MIN for none */
	int32_t off[FS_ZONE_CACHE];
};
void fs_zone_init(struct fs_zone *z, const char *tz);
int32_t fs_zone_offset(struct fs_zone *z, fs_time t);	/* seconds east of UTC at t */
/* The local clock at t read as UTC (t + its offset): local days and
 * business days are counted on it with the UTC arithmetic. */
fs_time fs_zone_wall(struct fs_zone *z, fs_time t);
/* RFC 3339 in the zone with its offset, 2026-03-08T17:00:00-07:00; UTC keeps its Z. */
void fs_zone_format(struct fs_zone *z, fs_time t, char out[26]);

// config.c
struct fs_kv {
	char *key, *value;
	int line;
};
struct fs_section {
	char *type;		/* "source", "target", "campaign", "thresholds", ... (fs_section_types) */
	char *name;		/* "hubspot" for [source "hubspot"], else "" */
	struct fs_kv *kv;
	int nkv;
	int line;
};
struct fs_config {
	char *path;		/* NULL when the default file was absent */
	struct fs_section *sec;
	int nsec;
};
/* Loads path, or $FS_CONFIG, or ./fieldsync.conf (absent: empty config),
 * and checks it whole against the settings table (fs_config_check). */
int fs_config_load(const char *path, struct fs_config *cfg);
void fs_config_free(struct fs_config *cfg);
struct fs_section *fs_config_section(const struct fs_config *cfg, const char *type, const char *name);
/* The value the file sets, NULL when it sets none: fs_setting and
 * fs_config_setting (settings.c) give the default instead. */
const char *fs_section_get(const struct fs_section *s, const char *key);	/* NULL-safe */
const char *fs_config_get(const struct fs_config *cfg, const char *type, const char *name, const char *key);
/* A source or target: its section, or the built-in kind of that name. */
struct fs_endpoint {
	const char *type;	/* "source" or "target" */
	const char *name, *kind;
	struct fs_section *sec;	/* NULL for a bare built-in kind */
};
int fs_endpoint_find(const struct fs_config *cfg, const char *type, const char *name, struct fs_endpoint *ep);
bool fs_kind_builtin(const char *kind);
/* The secret named by token_env (its default included) or token_file, or
 * by secret_env or secret_file; NULL if none is set. */
char *fs_endpoint_secret(const struct fs_endpoint *ep, const char *envkey, const char *filekey);

// settings.c: every setting in one table (section, key, kinds, default), the check of a loaded file, --print-config.
enum {				/* the kinds of sources and targets, as bits */
	FS_KIND_HUBSPOT = 1, FS_KIND_LOB_EVENTS = 2, FS_KIND_CSV = 4, FS_KIND_LOB = 8, FS_KIND_JOBBER = 16,
	FS_KIND_QUICKBOOKS = 32, FS_KIND_SHEETS = 64, FS_KIND_SERVICETITAN = 128,
	FS_KIND_POSTCARDMANIA = 256, FS_KIND_POSTCARDMANIA_EVENTS = 512
};
enum fs_value {			/* what a value looks like: for a validator to check */
	FS_V_TEXT, FS_V_KIND, FS_V_URL, FS_V_ENV, FS_V_FILE, FS_V_MAP, FS_V_RATE, FS_V_RETRY, FS_V_COUNT,
	FS_V_DURATION, FS_V_RETENTION, FS_V_BIZDAYS, FS_V_DATES, FS_V_LIST, FS_V_CHOICE, FS_V_BOOL, FS_V_SIZE,
	FS_V_PRICES, FS_V_SLA, FS_V_TRIGGER, FS_V_COMMAND, FS_V_GROUP,
	FS_V_FILTER,		/* only, except: conditions (lib/campaign.c) */
	FS_V_CAP,		/* "N/day" */
	FS_V_TIMEZONE		/* an IANA name: "UTC", "America/Chicago" */
};
#define FS_SET_SECRET 1u	/* names where a secret lives (token_env): printed, the secret never */
#define FS_SET_NAMED 2u		/* unset: the section's name */
#define FS_SET_REQUIRED 4u	/* the section's command refuses a section without it */
#define FS_SET_HIDDEN 8u	/* a family's default only: the file may not name its members */
struct fs_setting {
	const char *section;	/* "source" */
	const char *key;	/* "rate"; "map.*" is a family: map.contacts, map.rows, ... */
	unsigned kinds;		/* FS_KIND_* it applies to; 0 in a section without kinds */
	enum fs_value type;
	const char *def;	/* the default, NULL for none */
	const char *from;	/* unset: this key's value comes first ("template" for back) */
	const char *unless;	/* the default is void when this key is set (token_file for token_env) */
	const char *choices;	/* FS_V_CHOICE, FS_V_LIST: the values it may take */
	unsigned flags;		/* FS_SET_* */
};
extern const struct fs_setting fs_settings[];	/* ends with a NULL section */
struct fs_section_type {
	const char *name;
	bool named;		/* [source "NAME"]; else [thresholds] */
	unsigned kinds;		/* the kinds its sections may be; 0 when they have none */
};
extern const struct fs_section_type fs_section_types[];	/* ends with a NULL name */
const struct fs_section_type *fs_section_type(const char *name);	/* NULL if unknown */
const char *fs_section_type_nearest(const char *name);	/* a known type close to name, or NULL */
unsigned fs_kind_bit(const char *kind);	/* FS_KIND_*, 0 for none */
/* The value of key for an endpoint: as the file sets it, else its default
 * for the endpoint's kind (NULL when there is none).  A key the table does
 * not have for the section type is a bug: it aborts. */
const char *fs_setting(const struct fs_endpoint *ep, const char *key);
const char *fs_setting_default(const struct fs_endpoint *ep, const char *key);	/* ignoring the file */
/* The same for any section: name "" for [thresholds]; no section in the file means all defaults. */
const char *fs_config_setting(const struct fs_config *cfg, const char *type, const char *name, const char *key);
/* A mail target's price ("postcard 0.65, letter 1.10") into value and
 * priced, [0] postcard and [1] letter; -1 when malformed. */
int fs_price_parse(const char *price, double value[2], bool priced[2]);
bool fs_setting_applies(const struct fs_setting *s, const struct fs_endpoint *ep);	/* a key (not a family) of ep's kind */
bool fs_setting_key_known(const char *key);	/* a key of some section */
/* Every section and key of a loaded file: unknown keys (with the nearest
 * known one), keys of another kind, secrets, kinds, names.  Each problem is
 * one line on stderr naming the file and line; -1 if any. */
int fs_config_check(const struct fs_config *cfg);
/* Whether the environment holds a secret the configuration names: a
 * token_env, secret_env or webhook_env of the file, or a default one. */
bool fs_config_secret_in_env(const struct fs_config *cfg);
/* The effective configuration, defaults marked, secrets redacted: a config
 * file that loads to the same settings. */
void fs_config_print(const struct fs_config *cfg, FILE *f);
int fs_edit_distance(const char *a, const char *b);	/* Damerau-Levenshtein (optimal string alignment) */

// campaign.c: what every command reads of [campaign "NAME"].
/* A mail request's goal: its own, else its campaign's, else the campaign's name. */
const char *fs_campaign_goal(const struct fs_config *cfg, jv data);
/* A campaign's "active" (default 30 days); -1 with the error said when malformed. */
int fs_campaign_active(const struct fs_config *cfg, const char *campaign, int64_t *secs);
int fs_campaign_reentry(const struct fs_config *cfg, const char *campaign, int64_t *secs);	/* -1 in *secs: never */
int fs_campaign_cap(const struct fs_config *cfg, const char *campaign, long *n);	/* pieces a day; 0 none */
int fs_campaign_send_delay(const struct fs_config *cfg, const char *campaign, int64_t *secs);	/* 0: none */
int fs_campaigns_check(const struct fs_config *cfg);	/* every campaign's settings parse; -1 if not */
/* A condition on an event's field: a trigger, or one of only's and except's. */
enum fs_cond_op { FS_COND_IN, FS_COND_NOT_IN, FS_COND_LT, FS_COND_LE, FS_COND_GT, FS_COND_GE };
struct fs_cond {
	char *field;		/* canonical: "status", "region", "tags"; "contact.owner" (a job campaign's contact) */
	enum fs_cond_op op;
	char **values;		/* as written, at least one */
	int nvalues;
	double number;		/* LT .. GE */
};
struct fs_campaign {		/* what fs-normalize fires by */
	const char *name, *goal, *format, *template, *back, *from;	/* the config's */
	bool on_job;		/* on = job: job.changed events, else contact.changed */
	struct fs_cond trigger;	/* FS_COND_IN */
	struct fs_cond *only, *except;
	int nonly, nexcept;
	bool backfill;		/* set: first sight fires from backfill_secs before the first run */
	int64_t backfill_secs;
	int line;		/* its trigger's line in the config */
};
/* Every [campaign] of cfg, checked: on, format, backfill, and the grammar
 * and fields of trigger, only and except (a vendor's name for a field gets
 * a hint).  -1 after one line per problem naming the file and line.  With
 * out NULL, only checks (fs_config_load does, for every command): a
 * campaign without a trigger is fs-normalize's to refuse. */
int fs_campaigns_load(const struct fs_config *cfg, struct fs_campaign **out, int *n);
void fs_campaigns_free(struct fs_campaign *c, int n);
const char *const *fs_campaign_fields(bool on_job);	/* the fields a condition may name, NULL-ended */
bool fs_field_numeric(const char *field);	/* compared with < <= > >= */
/* Whether c holds for a field's values (n 0: absent; tags: several). */
bool fs_cond_holds(const struct fs_cond *c, const char *const *values, int n);
bool fs_cond_matches(const struct fs_cond *c, const char *value);	/* a trigger: value is one of it */

// state.c
struct fs_state {
	sqlite3 *db;		/* SQLite's connection, or NULL */
	struct fs_pg *pg;	/* PostgreSQL's (lib/state_pg.c), or NULL */
	char *path;
	int depth;		/* open transactions */
	int busy_ms;		/* how long to wait for a lock ($FS_BUSY_TIMEOUT) */
	struct timespec busy_since;
	int version;		/* the file's schema version (fs_nmigrations unless FS_STATE_ANY_SCHEMA) */
	bool readonly;		/* opened with FS_STATE_READONLY */
};
/* A statement of the state's SQL: SQLite's, or lib/state_pg.c's for
 * PostgreSQL; read and bound through the fs_col_ and fs_bind_ helpers
 * below; stepping one gives FS_ROW or FS_DONE. */
struct fs_pg_stmt;
typedef struct fs_stmt {
	sqlite3_stmt *lite;
	struct fs_pg_stmt *pg;
} fs_stmt;
enum { FS_DONE = 0, FS_ROW = 1 };
/* How fs_state_open_flags opens the file, or'ed together. */
#define FS_STATE_READONLY 1	/* read only: never creates, never writes (fs-health, fs-report) */
#define FS_STATE_EXISTING 2	/* a missing file is an error, not a new state */
#define FS_STATE_ANY_SCHEMA 4	/* any schema version opens as it is (fs-state: info, backup, migrate) */
/*
 * Opens path, or $FS_STATE, or ./fieldsync.db.  A missing file (unless
 * FS_STATE_EXISTING or READONLY) is created at the current schema, mode 0600,
 * or 0660 and owned by group when one is given; with a group, the file and its
 * -wal and -shm get that group and mode whenever this user owns them.  A file
 * at an older schema version is refused with a message that says to run
 * fs-state migrate, a newer one too.  The -wal and -shm stay beside the file
 * after the last close, so that a user who may only read can open it.
 */
int fs_state_open_flags(const char *path, int flags, const char *group, struct fs_state *st);
/* Whether st is open, on either engine. */
static inline bool fs_state_is_open(const struct fs_state *st) { return st->db != NULL || st->pg != NULL; }
int fs_state_open(const char *path, struct fs_state *st);	/* read and write, no group */
/* Makes an empty file, which must not be there yet, as a new state file is
 * made: 0600, or 0660 in group (fs-state backup's copy). */
int fs_state_file_create(const char *path, const char *group);
/* A file beside the state, read and write: made as fs_state_file_create
 * makes one when it is missing.  The descriptor, or -1 (said). */
int fs_state_file_open(const char *path, const char *group);
/* The state file's path: path, else $FS_STATE, else ./fieldsync.db. */
const char *fs_state_path(const char *path);
/* A file of this host's own that goes with the state (fs-hook's counts of
 * unsigned requests): STATE-SUFFIX beside a state file; for a database,
 * fieldsync-SUFFIX.DBNAME@HOST:PORT in $TMPDIR, else /var/tmp, so that each
 * host keeps its own.  NULL for ":memory:".  malloc'd. */
char *fs_state_side_file(const char *state_path, const char *suffix);
/* Applies fs_migrations[from..to-1] and sets user_version to to, in the
 * caller's transaction (a new file, fs_state_migrate, tests' old files). */
int fs_schema_apply(struct fs_state *st, int from, int to);
/* Brings an older schema to this fieldsync's, in one transaction with a
 * state.migrate changelog row: *from and *to say what it did (equal when
 * there was nothing to do).  A newer schema is an error. */
int fs_state_migrate(struct fs_state *st, const char *run_id, int *from, int *to);
void fs_state_close(struct fs_state *st);
int fs_state_begin(struct fs_state *st);	/* BEGIN IMMEDIATE; nests by counting */
int fs_state_commit(struct fs_state *st);
void fs_state_rollback(struct fs_state *st);
int fs_state_exec(struct fs_state *st, const char *sql);
fs_stmt *fs_state_prepare(struct fs_state *st, const char *sql);	/* cached */
int fs_state_step_done(struct fs_state *st, fs_stmt *stmt);	/* step + reset; -1 on error */
void fs_state_error(struct fs_state *st, const char *what);
/* The cached statement for sql with its parameters bound in order from the
 * arguments, one a letter of types: 's' const char * (NULL binds NULL),
 * 't' text and 'b' blob (const void *, size_t), 'i' int64_t (cast ints and
 * longs: they are read as int64_t), 'n' the same but 0 binds NULL, 'd'
 * double.  NULL on error (reported). */
fs_stmt *fs_state_query(struct fs_state *st, const char *sql, const char *types, ...);
fs_stmt *fs_state_vquery(struct fs_state *st, const char *sql, const char *types, va_list ap);
/* fs_state_query, then fs_state_step_done: 0, or -1 on error (reported). */
int fs_state_run(struct fs_state *st, const char *sql, const char *types, ...);
/* The same, returning the number of rows changed, or -1. */
int64_t fs_state_changes(struct fs_state *st, const char *sql, const char *types, ...);
/* The first column of the first row of sql (bound as fs_state_query): text
 * malloc'd into *out, NULL when no row or NULL; or an integer, 0 when no
 * row or NULL.  0, or -1 on error (reported). */
int fs_state_text(struct fs_state *st, char **out, const char *sql, const char *types, ...);
int fs_state_int(struct fs_state *st, int64_t *out, const char *sql, const char *types, ...);
/*
 * Statement helpers, for lib/ only: what lib/ reads and binds goes through
 * these, so that only lib/state*.c speaks the engine's own API (issue 19's
 * second backend stands behind the same names).  A blob or text bound
 * with its length is not copied: it must outlive the statement's step.
 */
enum fs_col_type { FS_COL_INT, FS_COL_FLOAT, FS_COL_TEXT, FS_COL_BLOB, FS_COL_NULL };
void fs_bind_text(fs_stmt *q, int i, const char *s);	/* text, or NULL when s is NULL */
char *fs_col_dup(fs_stmt *q, int i);	/* a column's text, malloc'd; NULL for NULL */
/* PostgreSQL's side of each (lib/state_pg.c). */
const char *fs_pg_col_text(struct fs_pg_stmt *q, int i);
int64_t fs_pg_col_int64(struct fs_pg_stmt *q, int i);
double fs_pg_col_double(struct fs_pg_stmt *q, int i);
const void *fs_pg_col_blob(struct fs_pg_stmt *q, int i);
size_t fs_pg_col_bytes(struct fs_pg_stmt *q, int i);
int fs_pg_col_count(struct fs_pg_stmt *q);
bool fs_pg_col_null(struct fs_pg_stmt *q, int i);
void fs_pg_bind(struct fs_pg_stmt *q, int i, const void *p, size_t n, bool binary);	/* p NULL: NULL */
void fs_pg_bind_int64(struct fs_pg_stmt *q, int i, int64_t v);
void fs_pg_bind_double(struct fs_pg_stmt *q, int i, double v);
void fs_pg_stmt_reset(struct fs_pg_stmt *q);
void fs_pg_stmt_clear(struct fs_pg_stmt *q);
static inline const char *fs_col_text(fs_stmt *q, int i)
{ return q->pg ? fs_pg_col_text(q->pg, i) : (const char *)sqlite3_column_text(q->lite, i); }
static inline int64_t fs_col_int64(fs_stmt *q, int i)
{ return q->pg ? fs_pg_col_int64(q->pg, i) : sqlite3_column_int64(q->lite, i); }
static inline int fs_col_int(fs_stmt *q, int i)
{ return q->pg ? (int)fs_pg_col_int64(q->pg, i) : sqlite3_column_int(q->lite, i); }
static inline double fs_col_double(fs_stmt *q, int i)
{ return q->pg ? fs_pg_col_double(q->pg, i) : sqlite3_column_double(q->lite, i); }
static inline const void *fs_col_blob(fs_stmt *q, int i)
{ return q->pg ? fs_pg_col_blob(q->pg, i) : sqlite3_column_blob(q->lite, i); }
static inline size_t fs_col_bytes(fs_stmt *q, int i)
{ return q->pg ? fs_pg_col_bytes(q->pg, i) : (size_t)sqlite3_column_bytes(q->lite, i); }
static inline int fs_col_count(fs_stmt *q)
{ return q->pg ? fs_pg_col_count(q->pg) : sqlite3_column_count(q->lite); }
static inline bool fs_col_null(fs_stmt *q, int i)
{ return q->pg ? fs_pg_col_null(q->pg, i) : sqlite3_column_type(q->lite, i) == SQLITE_NULL; }
enum fs_col_type fs_col_type(fs_stmt *q, int i);
static inline void fs_bind_int64(fs_stmt *q, int i, int64_t v)
{ if (q->pg) fs_pg_bind_int64(q->pg, i, v); else sqlite3_bind_int64(q->lite, i, v); }
static inline void fs_bind_int(fs_stmt *q, int i, int v) { fs_bind_int64(q, i, v); }
static inline void fs_bind_double(fs_stmt *q, int i, double v)
{ if (q->pg) fs_pg_bind_double(q->pg, i, v); else sqlite3_bind_double(q->lite, i, v); }
static inline void fs_bind_null(fs_stmt *q, int i)
{ if (q->pg) fs_pg_bind(q->pg, i, NULL, 0, false); else sqlite3_bind_null(q->lite, i); }
static inline void fs_bind_blob(fs_stmt *q, int i, const void *p, size_t n)
{ if (q->pg) fs_pg_bind(q->pg, i, p, n, true); else sqlite3_bind_blob(q->lite, i, p, (int)n, SQLITE_STATIC); }
static inline void fs_bind_text_n(fs_stmt *q, int i, const char *s, size_t n)
{ if (q->pg) fs_pg_bind(q->pg, i, s, n, false); else sqlite3_bind_text(q->lite, i, s, (int)n, SQLITE_STATIC); }
static inline void fs_stmt_reset(fs_stmt *q) { if (q->pg) fs_pg_stmt_reset(q->pg); else sqlite3_reset(q->lite); }
static inline void fs_stmt_clear(fs_stmt *q) { if (q->pg) fs_pg_stmt_clear(q->pg); else sqlite3_clear_bindings(q->lite); }
/* Steps q: FS_ROW, FS_DONE, or -1 on an error (not reported: fs_state_error says it). */
int fs_stmt_step(fs_stmt *q);
/* A statement outside the cache, for SQL made on the fly (kept: one that
 * lives as long as the connection); freed by fs_stmt_free.  NULL on error (reported). */
fs_stmt *fs_state_prepare_new(struct fs_state *st, const char *sql, bool kept);
void fs_stmt_free(fs_stmt *q);
int64_t fs_state_last_id(struct fs_state *st);	/* the rowid of the last row inserted */
int64_t fs_state_changed(struct fs_state *st);	/* rows the last statement changed */
/* A function of one text argument for the connection's SQL: fn writes its
 * text result, at most FS_SQL_FN_MAX - 1 bytes, into out and returns true,
 * or returns false for NULL.  fn NULL removes it.  0, or -1 (reported). */
#define FS_SQL_FN_MAX 64
int fs_state_function(struct fs_state *st, const char *name, bool (*fn)(void *data, const char *arg, char *out),
		      void *data);
/* The zone (a TZ value, NULL: UTC) of the SQL's local_day(at) on a state
 * that cannot call fs_state_function's fn (PostgreSQL: the schema's own
 * local_day reads it); nothing to do on SQLite.  0, or -1 (reported). */
int fs_state_zone(struct fs_state *st, const char *tz);
/* Steps q once: 1 a row (read it, then sqlite3_reset), 0 none (q reset), -1 error (reported, q reset). */
int fs_state_step_row(struct fs_state *st, fs_stmt *q);
/* Steps q once and resets it: the first column of its row in *out (NULL / 0 when
 * none); 1 a row, 0 none, -1 error (reported). */
int fs_state_get_text(struct fs_state *st, fs_stmt *q, char **out);
int fs_state_get_int(struct fs_state *st, fs_stmt *q, int64_t *out);
/* Cursors. */
int fs_cursor_get(struct fs_state *st, const char *source, const char *stream, char **cursor);
int fs_cursor_commit(struct fs_state *st, const char *source, const char *stream, const char *cursor, const char *run_id);
/* Leases: cron-safety.  Returns 1 taken, 0 held by a live run, -1 error.
 * A lease whose holder process is gone (same host) is taken at once. */
int fs_lease_take(struct fs_state *st, const char *name, const char *run_id, int64_t ttl);
int fs_lease_release(struct fs_state *st, const char *name, const char *run_id);
/* The current status of a mail piece by vendor id; NULL when unknown. */
int fs_piece_status(struct fs_state *st, const char *vendor_id, char **status);

// customers.c: an accounting source's customers matched to CRM contacts.
/* Store the customer (contact.changed's data from a FS_VENDOR_CUSTOMERS
 * source) with its match: *matched says whether a contact was found.
 * 0, or -1 on a state error (reported). */
int fs_customer_observe(struct fs_state *st, const char *source, const char *version, jv data, bool *matched);
/* Match again, in a transaction of its own, every customer that has no
 * contact (none: no transaction); *matched counts those that found one now. */
int fs_customers_rematch(struct fs_state *st, int64_t *matched);

// observe.c: what fs-normalize remembers of contacts, jobs, campaigns and sources.
/* What the state file knew of an object before this version of it. */
struct fs_seen {
	bool known;		/* an earlier version: prev holds its fields */
	bool stale;		/* older than the version it has, never seen: fires nothing */
	bool newer;		/* newer than the version it had (or the first): written now */
	jv prev;		/* that version's fields by canonical name, address fields flat ("region"); or null */
	fs_time seen_at;	/* when this version was first seen: now, or before for a version seen again */
};
void fs_seen_free(struct fs_seen *s);
/* Records a contact.changed's data as seen, in the open transaction: the
 * newest version wins, and the same version seen again answers as it did
 * the first time (a re-run after a crash fires the same). */
int fs_contact_observe(struct fs_state *st, const char *source, jv contact, struct fs_seen *seen);
/* The same from the fields in fs_contact_fields order (FS_C_*), NULL for absent; tags a JSON array or NULL. */
int fs_contact_observe_row(struct fs_state *st, const char *source, const char *const v[], bool do_not_mail,
			   const char *tags, struct fs_seen *seen);
int fs_job_observe(struct fs_state *st, const char *source, jv job, struct fs_seen *seen);	/* job.changed's data */
/* A stored contact as contact.changed's data (address nested, do_not_mail, tags), or null when unknown. */
int fs_contact_get(struct fs_state *st, const char *id, jv *out);
/* Each campaign's first run into first[] (0: none yet); with record, the
 * campaigns that have none are recorded as run now, in the open transaction. */
int fs_campaign_first_runs(struct fs_state *st, const struct fs_campaign *c, int n, const char *run_id, bool record,
			   fs_time *first);
/* Keeps what was last said of a campaign's checks (NULL: nothing to say), in
 * a transaction of its own when it changed: 1 when notice is new and should
 * be said, 0 when said before (or NULL), -1 on error. */
int fs_campaign_notice(struct fs_state *st, const char *campaign, const char *notice, const char *run_id);
/* A mail request fs-normalize emitted, kept until the end of the pipeline
 * takes it (fs_event_taken), in the open transaction. */
int fs_entry_add(struct fs_state *st, const char *source, const char *object, const char *campaign,
		 const char *event_id, const char *line, size_t len, const char *run_id);
/* The requests of an object kept since since, but by run_id: those taken
 * are forgotten, fn gets each other one (its id and line) to emit again.
 * 0, or -1 on error. */
#define FS_ENTRY_KEEP (7 * 86400)	/* how long a request is asked for again */
typedef int (*fs_entry_fn)(const char *event_id, const char *line, void *ctx);
int fs_entries_pending(struct fs_state *st, const char *source, const char *object, fs_time since,
		       const char *run_id, fs_entry_fn fn, void *ctx);
int fs_entries_prune(struct fs_state *st, fs_time before, int64_t *pruned);	/* kept since before: given up */
/* A source's listing of one object type ("contacts", "deals", "jobs") from
 * fs-pull --describe: an array of {name, type, label, options, mapped}, in
 * place of the one before, in the open transaction. */
int fs_source_fields_store(struct fs_state *st, const char *source, const char *object, jv fields);
/* The stored listing (null when none) and when it was made. */
int fs_source_fields_get(struct fs_state *st, const char *source, const char *object, jv *fields,
			 char **described_at);

// fire.c: campaign triggers fired as fs-normalize reads contacts and jobs.
struct fs_fire {
	struct fs_cli *cli;
	struct fs_campaign *campaigns;
	int ncampaigns;
	fs_time *first_run;	/* each campaign's, once recorded */
	bool first_recorded;
	long requests, again;	/* mail requests emitted; asked for again */
};
struct fs_loop;
struct fs_line;
/* Each campaign's first run recorded, once a run has something to fire on; -1 on a state error. */
int fs_fire_first_runs(struct fs_fire *f);
/* Whether campaign i fires: value (the trigger field's, or NULL) enters its
 * trigger; changed_at is the version's time, for backfill. */
bool fs_fire_enters(const struct fs_fire *f, int i, const char *value, const struct fs_seen *seen,
		    const char *changed_at);
/* A newer version of an object: the requests on its earlier ones that no pipeline took, emitted again. */
int fs_fire_ask_again(struct fs_fire *f, struct fs_loop *lp, const char *source, const char *object,
		      const struct fs_seen *seen);
/* contact.changed and job.changed (valid events): the object remembered,
 * then a mail.requested for each campaign it enters.  0, or -1 (said). */
int fs_fire_contact(struct fs_fire *f, struct fs_loop *lp, struct fs_line *ln, jv ev);
int fs_fire_job(struct fs_fire *f, struct fs_loop *lp, struct fs_line *ln, jv ev);

// state_admin.c: fs-state's work (info, check, backup).
/* What is in the state: schema version, file sizes, access, row counts per
 * table, the oldest waiting work (state_admin.c has the shape); invalid on
 * a state error (said). */
jv fs_state_info(struct fs_state *st);
int fs_state_info_text(jv info, FILE *f);	/* -1 on a write error */
/* PRAGMA integrity_check and foreign_key_check: one line on out per
 * problem, counted in *integrity and *foreign. */
int fs_state_check(struct fs_state *st, FILE *out, int64_t *integrity, int64_t *foreign);
/* Copies the state, online, to file, which must not be there: made as
 * fs_state_file_create makes it, then checked (integrity); its schema
 * version in *version.  Anything short of a sound copy removes it; -1. */
int fs_state_backup(struct fs_state *st, const char *file, const char *group, int *version);

// address.c: a mailing address in one normalised form (USPS abbreviations, '#' units, ZIP5).
/* "12 N MAIN ST #4|78701" (with the town and region instead of a ZIP when
 * there is no US ZIP), malloc'd; NULL without a street line. */
char *fs_address_key(const char *line1, const char *line2, const char *city, const char *region,
		     const char *postal);
/* The same from one line as people write it: "LINE1[, LINE2], CITY, REGION ZIP",
 * or "LINE1, ZIP". */
char *fs_address_key_text(const char *text);

// suppress.c: the do-not-mail list (fs-suppress), checked by fs-push before any request.
struct fs_suppression {		/* one entry, borrowed */
	const char *kind;	/* "contact" or "address" */
	const char *value;	/* a contact id, or fs_address_key's form */
	const char *shown;	/* as it was given */
	const char *reason, *origin;	/* origin: "manual", "import", "returned" */
	const char *added_at;
};
/* Adds one with a changelog row, in the open transaction: 1 added, 0 listed already, -1 error. */
int fs_suppress_add(struct fs_state *st, const struct fs_suppression *s, const char *run_id);
int fs_suppress_remove(struct fs_state *st, const char *kind, const char *value, const char *run_id);	/* 1, 0, -1 */
typedef int (*fs_suppress_fn)(const struct fs_suppression *s, void *ctx);
int fs_suppress_each(struct fs_state *st, fs_suppress_fn fn, void *ctx);
char *fs_address_key_of(jv to);	/* fs_address_key of a mail request's "to" */
/* Why a mail request to contact_id at address to must not be sent (the CRM's
 * flag, the contact or the address on the list), malloc'd in *why; NULL when
 * it may go.  0, or -1 on error. */
int fs_suppress_check(struct fs_state *st, const char *contact_id, jv to, bool crm_flag, char **why);

// dedupe.c: fs-dedupe's state (keys, debounce holds, enrolments, counters, duplicate sets).
/* The idempotency keys, in memory for one run: prunes the keys of runs first
 * seen at or before now - ttl (batch rows a transaction; *pruned counts them),
 * folds in what fs_keys_finalize marked, and reads the live keys.  Call it
 * outside a transaction; NULL on a state error. */
struct fs_idem;
struct fs_idem *fs_idem_open(struct fs_state *st, fs_time now, int64_t ttl, const char *run_id, int batch,
			     int64_t *pruned);
void fs_idem_free(struct fs_idem *ix);
/* Records an event id, tentative, in the open transaction: 1 when it is new
 * (forward it), 0 when it was seen (final and first seen less than ttl ago, or
 * recorded by this run), -1 on a state error. */
int fs_idem_record(struct fs_idem *ix, const char *id, size_t len);
/* The same, but the row waits for fs_idem_flush: forward the event only after
 * that, so that no line leaves before its key (never -1). */
int fs_idem_check(struct fs_idem *ix, const char *id, size_t len);
/* An id's key and hash, worked out once for fs_idem_prefetch and fs_idem_check_probe. */
struct fs_idem_probe {
	uint64_t h;
	bool canon;		/* stored as the 16 bytes of bin */
	unsigned char bin[16];
};
/* Starts loading the memory a check of this id will read (the table is
 * larger than the caches, so a caller that checks ids a few lines later does
 * not wait for each one), and fills *probe for that check. */
void fs_idem_prefetch(const struct fs_idem *ix, const char *id, size_t len, struct fs_idem_probe *probe);
/* fs_idem_check with the probe fs_idem_prefetch filled for the same id. */
int fs_idem_check_probe(struct fs_idem *ix, const struct fs_idem_probe *probe, const char *id, size_t len);
int fs_idem_flush(struct fs_idem *ix);	/* writes the waiting rows in the open transaction */
/* Makes a key this run recorded final, in the open transaction (--commit). */
int fs_idem_finalize(struct fs_idem *ix, const char *id, size_t len);
bool fs_idem_final(struct fs_idem *ix, const char *id);	/* final when the run began, or made so */
/* A canonical event id ("evt_" and 32 lower-case hex digits) as the 16 bytes
 * the key store keeps; false for any other id, which is kept as text. */
bool fs_idem_key(const char *id, size_t len, unsigned char bin[16]);
struct fs_hold_new {		/* a line debounce holds */
	const char *kind, *object, *event_id, *source;
	const char *collapse;	/* fs_collapse_key, or NULL */
	const char *line;
	size_t len;
	fs_time now, release_at;
};
/* Holds a line until release_at: 1 held, 0 already held (same event id). */
int fs_hold_add(struct fs_state *st, const struct fs_hold_new *h);
struct fs_hold {		/* one hold, borrowed for a callback */
	int64_t id;
	const char *kind, *object, *event_id, *line;
	size_t len;
};
/* Returns 1 when the hold was emitted (kept as released until its key is final), 0 to delete it. */
typedef int (*fs_hold_fn)(const struct fs_hold *h, void *ctx);
/* Hands fn, in order, the holds of source (and of no source) that are due:
 * those released by a run that is gone before their key was confirmed, the
 * last hold of each quiet collapse key (*collapsed counts the earlier ones
 * folded into it), and each hold that never collapses.  Only an fs-dedupe
 * that reads that source releases them: a hold stays in its own pipeline. */
int fs_holds_release(struct fs_state *st, struct fs_idem *ix, fs_time now, const char *run_id, const char *source,
		     fs_hold_fn fn, void *ctx, long *collapsed);
int fs_holds_count(struct fs_state *st, int64_t *n);	/* holds not yet released */
struct fs_enrolment {
	char *event_id, *campaign, *started_at, *active_until;
};
struct fs_enrol_req {		/* one mail request's claim on its subject and goal */
	const char *subject, *goal, *campaign, *event_id, *run_id;
	fs_time now;
	int64_t active;		/* seconds the enrolment lasts */
	int64_t reentry;	/* seconds before the subject may enter the campaign again; -1 never */
};
/* One active enrolment per subject and goal, race-free across processes:
 * in the open write transaction, takes it for r->event_id when no other
 * event holds it past r->now, and the subject's last enrolment in the same
 * campaign (by another event) is at least r->reentry old.  1 enrolled
 * (now, or before by this same event), 0 blocked by the goal's enrolment,
 * 2 blocked by re-entry (*e is the enrolment in the way), -1 error. */
int fs_enrol(struct fs_state *st, const struct fs_enrol_req *r, struct fs_enrolment *e);
int fs_unenrol(struct fs_state *st, const char *subject, const char *goal, const char *event_id);
void fs_enrolment_free(struct fs_enrolment *e);
/* Adds n to today's (by now) counter what in dedupe_counts. */
int fs_dedupe_count(struct fs_state *st, fs_time now, const char *what, long n);
int fs_duplicate_set_store(struct fs_state *st, const char *scan_id, const char *members, double score,
			   const char *reasons, fs_time now);
enum {				/* the fields of a contact, for the scan */
	FS_CONTACT_ID, FS_CONTACT_EMAIL, FS_CONTACT_PHONE, FS_CONTACT_FIRST, FS_CONTACT_LAST,
	FS_CONTACT_LINE1, FS_CONTACT_CITY, FS_CONTACT_REGION, FS_CONTACT_POSTAL, FS_CONTACT_SEEN,
	FS_CONTACT_NFIELDS
};
typedef int (*fs_contact_fn)(const char *const f[FS_CONTACT_NFIELDS], void *ctx);
int fs_contacts_each(struct fs_state *st, fs_contact_fn fn, void *ctx);	/* every stored contact, by id */

// scan.c: the fuzzy duplicate scan.
double fs_jaro_winkler(const char *a, const char *b);	/* 0..1; 1 when equal */
void fs_soundex(const char *s, char out[5]);	/* "R163"; "" for no letters */
const char *fs_nickname(const char *first);	/* "bill" -> "william"; lower case in */
struct fs_scan;
struct fs_scan *fs_scan_new(void);
void fs_scan_free(struct fs_scan *s);
struct fs_cli;
/* fs-dedupe scan (lib/dedupe_scan.c): the sets among the stored contacts and
 * those on standard input, in format (ndjson, text, csv; NULL: text on a
 * terminal), from_opt the earliest update considered; an exit status. */
int fs_dedupe_scan(struct fs_cli *cli, const char *from_opt, const char *format);
/* Adds a contact (fields as above, NULL when absent); the same id again replaces it. */
void fs_scan_add(struct fs_scan *s, const char *const f[FS_CONTACT_NFIELDS]);
int fs_scan_size(const struct fs_scan *s);
#define FS_REASON_EMAIL 1u
#define FS_REASON_PHONE 2u
#define FS_REASON_NAME_ADDRESS 4u
struct fs_dupset {
	const char **members;	/* contact ids, natural order */
	const char *const *const *fields;	/* each member's fields as added (FS_CONTACT_*), NULL when absent */
	int n;
	double score;		/* the weakest pair's score (every pair matches), 2 decimals */
	unsigned reasons;	/* FS_REASON_* */
};
typedef int (*fs_dupset_fn)(const struct fs_dupset *d, void *ctx);
/* Calls fn for each set of two or more, by first member, every member matching
 * every other (complete linkage); with from, only sets
 * with a member seen at or after it. */
int fs_scan_run(struct fs_scan *s, const char *from, fs_dupset_fn fn, void *ctx);
// hook.c: webhook signatures (fs-hook).
#define FS_HOOK_WINDOW 300	/* seconds a signed timestamp may be off $FS_NOW's clock */
struct fs_hook_req {
	const char *method, *uri;	/* uri: the URL as the vendor called it (a scheme may sign it) */
	const char *body;	/* NUL-terminated after len bytes */
	size_t len;
	const char *(*header)(const char *name, void *ctx);	/* a request header or NULL */
	void *ctx;
};
/* A webhook signature scheme, the setting signature's value: a vendor's
 * own (its connector's, lib/vendors/) or fs_standard_webhooks. */
struct fs_signature {
	const char *name;	/* "standard-webhooks" */
	const char *header, *stamp_header;	/* the signature's and its timestamp's (NULL: it signs no time) */
	bool header_named;	/* the setting may name the header: NAME:HEADER (the vendor does not publish it) */
	const char *id_header;	/* a delivery id the signature covers too; NULL for none */
	const char *older[3];	/* headers of the scheme's older versions, which sign too; NULL-ended */
	char opens;	/* the first character of a body of the scheme's shape; 0 for any JSON */
	const char *wrong_shape;	/* why a body that does not open so is refused */
	/* The signature sig (its header's value) is the one secret makes of r, stamp and id. */
	bool (*verify)(const struct fs_hook_req *r, const char *secret, const char *sig, const char *stamp,
		       const char *id);
	bool (*shaped)(jv body);	/* the vendor's event as the scheme sends it (body borrowed) */
	char *(*delivery_id)(const struct fs_hook_req *r);	/* NULL for none */
};
extern const struct fs_signature fs_standard_webhooks, fs_lob_signature, fs_hubspot_signature, fs_jobber_signature,
	fs_intuit_signature;
extern const struct fs_signature fs_servicetitan_signature;
/* The scheme a signature setting names, "NAME" or, when header_named,
 * "NAME:HEADER"; NULL if there is none such. */
const struct fs_signature *fs_signature_find(const char *spec);
/* The request carries one of the scheme's signature headers (its
 * signature, timestamp or id, or an older version's), however wrong: a
 * delivery to verify.  A request with none is no delivery (a probe). */
bool fs_hook_signed(const struct fs_signature *s, const struct fs_hook_req *r);
/* The body is the vendor's event as its scheme sends it: an unsigned one is
 * a delivery whose headers were lost. */
bool fs_hook_vendor_shaped(const struct fs_signature *s, const char *body, size_t len);
/* Checks signature, then timestamp window; -1 with a static *why. */
int fs_hook_verify(const struct fs_signature *s, const struct fs_hook_req *r, const char *secret, fs_time now,
		   const char **why);
/* CGI's CONTENT_LENGTH: digits only (RFC 3875), nothing after them: 0 with
 * the length, 1 when it is over cap (*out the length, SIZE_MAX past it), -1
 * when it is not a length (55junk, -1, 1e3, " 5"). */
int fs_hook_content_length(const char *s, size_t cap, size_t *out);
/* NULL when the body is JSON of the scheme's shape, else a static reason. */
const char *fs_hook_check_body(const struct fs_signature *s, const char *body, size_t len);
/* The scheme's delivery id (Standard Webhooks: webhook-id), else "sha256:" of the body. */
char *fs_hook_delivery_id(const struct fs_signature *s, const struct fs_hook_req *r);
/* For the schemes: HMAC-SHA256 of the parts' concatenation; out holds 32 bytes. */
void fs_hmac_sha256_parts(const void *key, size_t keylen, const char *const *parts, const size_t *lens, int n,
			  unsigned char out[32]);
void fs_base64(const unsigned char *p, size_t n, char *out);	/* padded; out holds 4 * ((n + 2) / 3) + 1 bytes */
bool fs_same_text(const char *a, const char *b);	/* equal, in constant time for strings of one length */
char *fs_json_id_text(jv v);	/* a number or non-empty string id as text, else NULL; consumes v */

// inbox_store.c: fs-hook's writes.
#define FS_GOOD_STREAK 3	/* good deliveries in a row that end polling */
#define FS_HOOK_CKPT_FRAMES 256	/* WAL frames past which fs-hook checkpoints */
#define FS_HOOK_CKPT_WAIT_MS 20	/* how long its checkpoint waits for readers (and holds off writers) */
/* fs-hook runs once per request: no WAL checkpoint at every close, nor
 * inside the commit. */
void fs_hook_state_tune(struct fs_state *st);
/* After the answer: a passive checkpoint once the WAL holds
 * FS_HOOK_CKPT_FRAMES frames ($FS_HOOK_CKPT overrides), so that the next
 * process to open the file alone reads a short WAL. */
int fs_hook_state_settle(struct fs_state *st);
/* Stores a raw body once per (source, delivery_id): 1 stored, 0 a repeat, -1 error. */
int fs_inbox_store(struct fs_state *st, const char *source, const char *delivery_id, const void *body,
		   size_t len);
/* One row of the request log (every request, answered or not). */
int fs_request_log(struct fs_state *st, const char *source, int status, size_t bytes, int64_t latency_us,
		   const char *reason);
/* Counts a good (2xx) or failed delivery for a source in polling mode; the third good one in a row switches it back to webhook. */
int fs_source_delivery(struct fs_state *st, const char *source, bool good, const char *run_id);
/* Touches dir/source (made when absent, mode 0660 less the umask), the wake
 * file whose change starts the pipeline that drains the source's inbox
 * (fs-run --wake, a systemd .path unit).  -1 with a message on stderr. */
int fs_wake_touch(const char *dir, const char *source);

// probes.c: unsigned requests to fs-hook, counted in STATE-hook, beside the state file, not in it.
struct fs_probes {		/* one source's counts (source "-": unknown sources) */
	int64_t last_hour;	/* unsigned requests in the last hour (in ten-minute steps) */
	int64_t total;		/* since the file was made */
	fs_time last_at;	/* the newest, 0 when none */
	int64_t stripped;	/* of them, the vendor's event body without its headers, since the last good delivery */
	fs_time stripped_at;
	int64_t stripped_total;
	bool seen;		/* the file has a slot for the source */
};
char *fs_probes_path(const char *state_path);	/* malloc'd; NULL for an in-memory state */
/* Counts one unsigned request (shaped: with the vendor's event body) to
 * source at now; the file is made as the state is, in group.  -1 (said). */
int fs_probes_count(const char *state_path, const char *group, const char *source, bool shaped, fs_time now);
/* A good delivery to source: its stripped count starts again.  -1 (said). */
int fs_probes_good(const char *state_path, const char *source);
/* The sources the file has counts of ("-" among them), malloc'd; none without a file; -1 (said). */
int fs_probes_sources(const char *state_path, char ***names, int *n);
/* source's counts as of now, all 0 when the file or the slot is not there; -1 (said). */
int fs_probes_read(const char *state_path, const char *source, fs_time now, struct fs_probes *out);

// health.c: the health panel (fs-health, fs-watchdog).
struct fs_thresholds {		/* [thresholds], with their defaults */
	int webhook_failures;	/* 3 */
	long unsigned_max;	/* 100 unsigned requests to fs-hook in an hour, for one source */
	int64_t no_ping;	/* 15m, in seconds */
	long dlq_max;		/* 50 */
	long retry_storm;	/* 10 deliveries of one target retrying */
	int follow_up_sla;	/* 3bd */
	struct fs_holidays holidays;
};
int fs_thresholds_load(const struct fs_config *cfg, struct fs_thresholds *t);
struct fs_problem {
	int level;		/* 1 WARNING, 2 CRITICAL */
	const char *rule;	/* "webhook", "sync_lag", "dlq", "retry_storm", "hold" */
	char *subject, *text;	/* a source, target or campaign; what is wrong */
};
struct fs_health_source {
	char *name;
	const char *kind;
	char mode[16];
	char *last_event_at, *last_good_at, *last_pull_at;	/* NULL: never */
	int64_t failures;	/* refused deliveries since the last 2xx */
	int64_t sig_failures;	/* of them, refused for their signature or timestamp (401) */
	struct fs_probes probes;	/* unsigned requests (probes.c) */
	int64_t lag, interval;	/* seconds since the last committed pull (-1: never), interval */
	int64_t in_flight, silent;	/* lob pieces in flight; seconds without an event (-1: n/a) */
};
struct fs_health_target {
	char *name;
	const char *kind;
	char *last_sent_at, *next_attempt_at, *last_error;
	int64_t retrying, held, dead, hold_alert;	/* hold_alert: the alert holding it, 0 if none */
};
struct fs_health {
	fs_time now;
	int level;		/* worst problem: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN */
	struct fs_health_source *src;
	struct fs_health_target *tgt;
	struct fs_problem *problems;
	int nsrc, ntgt, nproblems;
	int64_t dlq;
	long dlq_max;
	struct fs_probes unknown;	/* unsigned requests to sources fs-hook does not know */
};
/* Configured sources and targets, and built-in kinds the state file has used. */
int fs_health_collect(struct fs_state *st, const struct fs_config *cfg, const struct fs_thresholds *t,
		      struct fs_health *h);
void fs_health_free(struct fs_health *h);
const char *fs_level_name(int level);	/* "OK" ... "UNKNOWN" */
void fs_duration_format(int64_t secs, char out[24]);	/* "2h05m", "17m", "45s" */

// alerts.c: alerts, holds and notifications (fs-watchdog).
/* One watchdog run: opens, re-notifies and resolves alerts, puts holds,
 * switches failing webhook sources to polling.  With dry_run, only says on
 * it what it would do.  0 done, 1 a notification failed, -1 error. */
int fs_watchdog_run(struct fs_state *st, const struct fs_config *cfg, const struct fs_thresholds *t,
		    const char *run_id, FILE *dry_run);
/* Acknowledges an alert, open or already resolved, and lifts the holds it
 * still has, with a changelog row (who, when, recovery time) also given in
 * *out (the caller frees it).  -2 when there is no such alert or it was
 * acknowledged before (said on stderr). */
int fs_alert_ack(struct fs_state *st, int64_t id, const char *by, const char *note, const char *run_id,
		 jv *out);
/* A hold by hand: a manual alert (rule "manual") on scope ("campaign" or
 * "target") name, holding it at once until acknowledged, with its
 * changelog rows, and the alert channels told.  0 done, 1 done but a
 * notification failed (said), -1 error. */
int fs_alert_hold(struct fs_state *st, const struct fs_config *cfg, const char *scope, const char *name, const char *by,
		  const char *note, const char *run_id, int64_t *id);
/* An alert a vendor's event raises rather than a rule finds (rule "disconnect": Jobber's app
 * disconnected): opened once a rule and subject, the channels told, shown by fs-health until
 * acknowledged (fs-watchdog never resolves it).  1 opened, 0 open already, -1 error. */
int fs_alert_raise(struct fs_state *st, const struct fs_config *cfg, const char *rule, const char *subject, int level,
		   const char *text, const char *run_id);
struct fs_alert {		/* one row, borrowed for a callback */
	int64_t id;
	const char *rule, *subject, *state, *opened_at, *last_notified_at, *acked_by, *acked_at, *note;
	const char *resolved_at, *detail, *holds;	/* holds: "target mail, ..." or NULL */
	int notify_count;
};
typedef int (*fs_alert_fn)(const struct fs_alert *a, void *ctx);
/* Open and acknowledged alerts, and those that changed since recent, by id. */
int fs_alerts_each(struct fs_state *st, fs_time recent, fs_alert_fn fn, void *ctx);
// fastmap.c: shipped maps built in as C, for the hot path.
/* Runs a map on one input like fs_map_run; jv_invalid() without a message
 * hands the record back to the jq program. */
typedef jv (*fs_builtin_map)(jv args, jv input);
/* The built-in equivalent of a jq program text (common.jq included): its
 * name ("hubspot-contact") and function, or NULL. */
const char *fs_builtin_map_find(const char *text, size_t n, fs_builtin_map *run);
/* hubspot-contact's inputs: data.id, data.updatedAt, the status property, the
 * properties named in fs_hs_props, and the suppress_property (absent when the
 * source sets none); each a string or null. */
enum {
	FS_HS_ID, FS_HS_UPDATED_AT, FS_HS_STATUS, FS_HS_EMAIL, FS_HS_FIRSTNAME, FS_HS_LASTNAME,
	FS_HS_PHONE, FS_HS_COMPANY, FS_HS_ADDRESS, FS_HS_ADDRESS2, FS_HS_CITY, FS_HS_STATE,
	FS_HS_ZIP, FS_HS_COUNTRY, FS_HS_OWNER, FS_HS_LASTMOD, FS_HS_HSLASTMOD, FS_HS_SUPPRESS, FS_HS_NIN
};
extern const char *const fs_hs_props[FS_HS_NIN];	/* property names; NULL for the first three and the last */
/* A contact.changed data object, in output order (line1..country in "address"). */
enum {
	FS_C_ID, FS_C_EMAIL, FS_C_PHONE, FS_C_FIRST_NAME, FS_C_LAST_NAME, FS_C_COMPANY,
	FS_C_LINE1, FS_C_LINE2, FS_C_CITY, FS_C_REGION, FS_C_POSTAL_CODE, FS_C_COUNTRY,
	FS_C_STATUS, FS_C_OWNER, FS_C_UPDATED_AT, FS_C_N
};
extern const char *const fs_contact_fields[FS_C_N];	/* "id", "email", ... */
struct fs_contact_out {
	struct fs_str f[FS_C_N];	/* p == NULL: absent */
	bool do_not_mail;	/* "do_not_mail":true, before updated_at */
	struct fs_str version;
	struct fs_buf scratch;	/* holds the strings made; reused from call to call */
};
/* lib/maps/hubspot-contact.jq on string-or-null inputs. */
void fs_hubspot_contact(const struct fs_str in[FS_HS_NIN], const char *default_country,
			struct fs_contact_out *out);

// jscan.c: the hot path's JSON scanner (for lines fs_json_check accepted).
struct fs_jnode {
	char kind;		/* 'o' object, 'a' array, 's' string, 'n' number, 't', 'f', 'z' null */
	struct fs_str key;	/* its key in the parent object */
	struct fs_str str;	/* a string, decoded; a number's text */
	int child, next;	/* an object's first member; the next member; -1 for none */
};
struct fs_jtree {
	struct fs_jnode *n;
	int len, cap;
	struct fs_buf text;	/* decoded strings that held escapes */
};
/* Reads an object line into t; returns the root's index, or -1 when the line
 * is not an object or holds what only libjq reads the same way ("\u0000",
 * an unpaired surrogate, a duplicate key, more than 4096 values). */
int fs_jscan(struct fs_jtree *t, const char *p, size_t n);
int fs_jscan_get(const struct fs_jtree *t, int obj, const char *key);	/* member index or -1 */
void fs_jscan_free(struct fs_jtree *t);
// push_http.c: fs-push's sender (libcurl multi) and its rate buckets.
struct fs_rate_limit;
struct curl_slist;
struct fs_push_job {		/* one request; the caller owns it */
	char *url, *body;	/* body: JSON, or NULL for a GET */
	const char *method;	/* NULL: POST when there is a body, else GET */
	const char *bucket;	/* rate bucket, one per endpoint: "POST /postcards" */
	struct curl_slist *headers;	/* the caller's extra headers */
	void *user;
	long http_status;	/* the answer: 0 when none came (see curl_code, errbuf) */
	int curl_code;
	char errbuf[256];
	struct fs_buf resp;	/* the body, NUL-terminated, at most 64 KiB kept */
	double retry_after, rate_reset;	/* seconds, -1 when absent */
	int64_t started_ms, elapsed_ms;
	struct curl_slist *headers_all;	/* the engine's */
};
struct fs_push_http_ops {
	struct fs_push_job *(*next)(void *ctx);	/* a job to start, or NULL when none is left */
	int (*done)(struct fs_push_job *j, void *ctx);	/* 0 finished, 1 send it again, -1 stop */
	int (*flush)(void *ctx);	/* after each round of answers (commit, then write) */
};
struct fs_push_http_stats {
	long requests, throttled;	/* requests started; 429s seen */
};
struct fs_push_http;
struct fs_push_http *fs_push_http_new(int parallel, const struct fs_rate_limit *rate, long timeout_ms);
void fs_push_http_auth_basic(struct fs_push_http *h, const char *user);	/* Lob: key as user name */
void fs_push_http_auth_bearer(struct fs_push_http *h, const char *token);	/* HubSpot */
/* Runs jobs until next() has no more and every answer is in; -1 when a callback failed. */
int fs_push_http_run(struct fs_push_http *h, const struct fs_push_http_ops *ops, void *ctx);
const struct fs_push_http_stats *fs_push_http_stats(const struct fs_push_http *h);
void fs_push_http_free(struct fs_push_http *h);
void fs_push_job_clear(struct fs_push_job *j);	/* frees url, body, headers and answer */
void fs_push_job_header(struct fs_push_job *j, const char *line);	/* "Name: value" */

// outbox.c: fs-push's outbox, mail pieces and their status, CRM evidence.
struct fs_outbox_new {		/* one event going into the outbox */
	const char *target, *event_id, *kind, *contact_id, *campaign, *requested_at, *run_id;
	const char *line;	/* the event's line, stored as it came */
	size_t len;
	double price;		/* of the piece, from [target] price; < 0: none */
};
/* 1 added, 0 already there (a no-op), 2 a dead row fed in again (kept
 * beside it for fs_outbox_replays), -1 on error. */
int fs_outbox_enqueue(struct fs_state *st, const struct fs_outbox_new *n);
int fs_outbox_has(struct fs_state *st, const char *target, const char *event_id);	/* 1, 0, -1 */
/* Dead rows fed in again whose fs-push dead letter fs-dlq replay marked
 * replayed after the row died go back in line, vendor checked first; the
 * others were mere repeats (a re-pull, or a row whose entry was purged),
 * and stay dead.  Its own transaction; *revived says how many. */
int fs_outbox_replays(struct fs_state *st, const char *target, const char *run_id, long *revived);
/* The state of an event's row ("pending", "held", "sent", "dead"), NULL when none. */
int fs_outbox_state(struct fs_state *st, const char *target, const char *event_id, char **state);
struct fs_outbox_holds {
	long newly_held, resumed, held;	/* rows held now, released now, held in all */
	bool target_held;
	char held_campaign[128];	/* the first held campaign, if any */
};
typedef void (*fs_outbox_held_fn)(const char *event_id, int attempts, void *ctx);
/* Holds rows of a held target (and campaign, when campaigns) and releases
 * rows whose hold is lifted, in order, with changelog rows; fn hears of each
 * row newly held.  Its own transaction. */
int fs_outbox_apply_holds(struct fs_state *st, const char *target, bool campaigns, const char *run_id,
			  fs_outbox_held_fn fn, void *ctx, struct fs_outbox_holds *h);
struct fs_outbox_row {		/* one claimed row, malloc'd copies */
	int64_t id;
	char *event_id, *kind, *contact_id, *campaign, *line;
	char *requested_at, *enqueued_at, *first_attempt_at, *history;
	int attempts;
	double price;		/* < 0: none */
	int claims;		/* this claim included */
	bool check_vendor;	/* ask the vendor for an existing piece first */
};
struct fs_claim {		/* what fs_outbox_claim takes */
	const char *target, *run_id;
	bool campaigns;		/* campaign holds apply too (mail targets) */
	fs_time lease_until;
	int limit;
	/* The caller's last word on each row, in the claim's transaction: 0
	 * claim it, 1 it was dealt with (settled or deferred: not claimed), -1
	 * error.  NULL: claim every row. */
	int (*check)(struct fs_state *st, const struct fs_outbox_row *r, void *ctx);
	void *ctx;
};
#define FS_CLAIM_AGAIN (-2)	/* none claimed, but rows were dealt with: claim again */
/* Claims up to limit due rows in order, leased to run_id until lease_until,
 * after freeing the claims of dead runs, and none that a hold covers (of
 * the target, or with campaigns of the row's campaign) or that check deals
 * with; its own transaction.  Returns the count (rows in *rows, free each
 * with fs_outbox_row_free, then free *rows; NULL when none is claimed),
 * FS_CLAIM_AGAIN, or -1 on error. */
int fs_outbox_claim(struct fs_state *st, const struct fs_claim *c, struct fs_outbox_row **rows);
/* Ends a row that was not sent: state "suppressed" or "cancelled", with the
 * reason.  1 done, 0 the row was no longer pending or held, -1 error. */
int fs_outbox_settle(struct fs_state *st, int64_t id, const char *state, const char *reason);
/* A pending row waits until until (a cap: the next day), with the reason. */
int fs_outbox_defer(struct fs_state *st, int64_t id, fs_time until, const char *reason);
/* A campaign's pieces of target queued in [from, to), and its rows being sent now. */
int fs_outbox_campaign_used(struct fs_state *st, const char *target, const char *campaign, fs_time from, fs_time to,
			    int64_t *n);
void fs_outbox_row_free(struct fs_outbox_row *r);
/* Due rows claimed by other runs: how many, and one holder. */
int fs_outbox_busy(struct fs_state *st, const char *target, const char *run_id, long *rows, char **holder,
		   long *pid);
int fs_outbox_release(struct fs_state *st, const char *run_id);	/* drops run_id's unfinished claims */
/* Gives back claimed rows no request was made for (not counted as claims):
 * the next run sends them without asking the vendor first. */
int fs_outbox_unclaim(struct fs_state *st, const char *run_id, const int64_t *ids, int n);
struct fs_outbox_mark {		/* what became of one attempt */
	int64_t id;
	const char *state;	/* "pending" (retry at next_attempt_at), "sent", "dead" */
	fs_time next_attempt_at;
	int attempts, http_status;
	const char *history, *error, *vendor_id;
};
/* 1 marked, 0 the row was no longer pending (someone else finished it). */
int fs_outbox_mark(struct fs_state *st, const struct fs_outbox_mark *m);
struct fs_outbox_counts {
	long pending, held, sent, dead;
};
int fs_outbox_counts(struct fs_state *st, const char *target, struct fs_outbox_counts *c);
int fs_outbox_status_rank(const char *status);	/* queued 0, sent 1, delivered 2, returned/failed 3 */
struct fs_piece {		/* a piece the vendor accepted */
	const char *vendor_id, *event_id, *target, *contact_id, *campaign, *goal, *format, *owner;
	const char *requested_at, *queued_at, *status_event_id, *detail;
	const char *send_date;	/* asked of the vendor, or NULL */
};
int fs_outbox_piece_add(struct fs_state *st, const struct fs_piece *p);	/* with its 'queued' status row */
/* A mail.status event's data: piece_status row, pieces moved forward.  1 new, 0 seen before. */
int fs_outbox_piece_status(struct fs_state *st, const char *status_event_id, jv data, const char *at);
struct fs_piece_row {		/* a piece at the vendor, borrowed */
	const char *vendor_id, *target, *contact_id, *campaign, *status, *send_date;
	double price;		/* its outbox row's; < 0: none */
};
typedef int (*fs_piece_fn)(const struct fs_piece_row *r, void *ctx);
/* The pieces of campaign queued since since that may still be cancelled (not delivered, returned, failed or cancelled). */
int fs_outbox_cancellable(struct fs_state *st, const char *campaign, fs_time since, fs_piece_fn fn, void *ctx);
int fs_outbox_piece(struct fs_state *st, const char *vendor_id, fs_piece_fn fn, void *ctx);	/* 1 found, 0 none */
/* Withdraws the rows of campaign enqueued since since that were not sent (a
 * row being sent now is left to its run: *busy counts them), each with a
 * send.cancel changelog row; in the open transaction. */
int fs_outbox_withdraw(struct fs_state *st, const char *campaign, fs_time since, const char *run_id, long *withdrawn,
		       long *busy);
typedef int (*fs_outbox_line_fn)(const char *event_id, const char *line, void *ctx);
int fs_outbox_held_each(struct fs_state *st, const char *target, fs_outbox_line_fn fn, void *ctx);	/* held rows, in order */
/* The vendor cancelled a piece: its status, history and send.cancel changelog row. */
int fs_outbox_piece_cancelled(struct fs_state *st, const struct fs_piece_row *r, const char *run_id);
/* detail with "price" set when price >= 0: what the changelog's mail rows
 * carry, so that fs-report adds up what was spent, held and spared. */
jv fs_detail_price(jv detail, double price);
int fs_outbox_activity(struct fs_state *st, const char *event_id, jv data);	/* activity.follow_up */
int fs_outbox_revenue(struct fs_state *st, const char *event_id, const char *source, jv data);	/* outcome.revenue */

// http.c: what both senders share (settings, backoff, headers, secrets), then
// fs-pull's libcurl easy requests with a rate limit, retries and a dry run.
int64_t fs_mono_ms(void);		/* the real monotonic clock, in ms */
void fs_sleep_ms(int64_t ms);
/* Full jitter: random in [least, min(cap, first * 2^(attempt-1))], attempt >= 1, any unit. */
int64_t fs_backoff(int attempt, int64_t first, int64_t cap, int64_t least);
int64_t fs_retry_after_ms(const char *value);	/* seconds or HTTP-date; -1 if unreadable */
int64_t fs_rate_reset_ms(const char *value);	/* epoch seconds to ms from now; -1 if unreadable or past */
/* A header line's trimmed value (not NUL-terminated; *vlen bytes) when its name is name, else NULL. */
const char *fs_http_header(const char *line, size_t len, const char *name, size_t *vlen);
char *fs_urlencode(const char *s);	/* percent-encodes all but unreserved; malloc'd */
char *fs_bearer_header(const char *token);	/* "Authorization: Bearer ..."; NULL for NULL */
struct fs_rate {			/* at most max requests in any window_ms */
	int max, head, n;
	int64_t window_ms, *stamps;
};
int fs_rate_parse(const char *s, struct fs_rate *r);	/* as fs_rate_limit_parse; -1 if bad */
int64_t fs_rate_wait(struct fs_rate *r);	/* sleeps until one more request fits; the ms slept */
void fs_rate_done(struct fs_rate *r);	/* the last request answered: it counts from now */
void fs_rate_sync(struct fs_rate *r, long remaining);	/* the server has only remaining left */
void fs_rate_block(struct fs_rate *r, int64_t ms);	/* no request for ms (a 429) */
void fs_rate_free(struct fs_rate *r);
struct fs_http_response {
	long status;		/* 0 when no answer came */
	struct fs_buf body;
	char *retry_after;
	long rl_max, rl_remaining, rl_interval_ms;	/* -1 when not sent */
};
struct fs_http {
	void *curl;		/* CURL *, kept for keep-alive */
	void *headers;		/* more request headers (fs_http_header_add) */
	const char *content_type;	/* of request bodies; NULL for application/json */
	const char *name;	/* the source, for messages */
	char *base_url, *auth, *user;
	struct fs_rate rate;
	struct fs_rate search_rate;	/* paths ending in /search also wait for this one */
	long connect_timeout_ms, timeout_ms;
	int attempts;		/* tries per request, the first included */
	int64_t backoff_base_ms, backoff_cap_ms;
	int64_t bare_429_ms;	/* the wait after a 429 that says neither Retry-After nor a rate limit (1 s) */
	bool dry_run;		/* print requests (Authorization redacted), send none */
	FILE *dry_out;		/* default stdout */
	long requests, retries;
};
int fs_http_init(struct fs_http *h, const char *name, const char *base_url, const char *rate);
void fs_http_free(struct fs_http *h);
int fs_http_search_rate(struct fs_http *h, const char *rate);	/* N/WINDOW or none; -1 if bad */
void fs_http_bearer(struct fs_http *h, const char *token);	/* Authorization: Bearer */
void fs_http_basic(struct fs_http *h, const char *user);	/* basic auth, empty password */
void fs_http_header_add(struct fs_http *h, const char *line);	/* "Name: value" on every request */
/* One request (path relative to base_url, or a whole URL), retried on
 * connection errors, timeouts, 429 and 5xx, and on a 2xx whose body is not
 * JSON or lacks want_key.  0 with the final answer in resp (any status);
 * 1 in a dry run (printed, nothing sent); -1 after the last attempt. */
int fs_http_request(struct fs_http *h, const char *method, const char *path, const char *body,
		    const char *want_key, struct fs_http_response *resp);
void fs_http_response_free(struct fs_http_response *r);

// oauth.c: OAuth 2 tokens in a mode 0600 file, refreshed with refresh-token rotation.
struct fs_oauth {
	const char *name;	/* the source, for messages */
	const char *file;	/* the token file: {"access_token","refresh_token","expires_at"} */
	const char *token_url;	/* the token endpoint: a path of the API's base URL, or a whole URL */
	char *access, *refresh;	/* the file's */
	fs_time expires_at;	/* when the access token ends, from the file; 0 when it does not say */
	char *client_id, *client_secret;	/* the caller's, freed with the rest */
	bool basic;		/* the client's id and secret in HTTP Basic (Intuit), else in the form (Jobber) */
};
int fs_oauth_load(struct fs_oauth *o);	/* reads the file (refused unless 0600); -1 said */
/* The JSON of a file refused unless mode 0600 (key: its setting, for messages), null when it is not
 * JSON; jv_invalid() after saying why ("WHO: cannot open KEY 'PATH'"). */
jv fs_private_json(const char *who, const char *key, const char *path);
/* The access token failed: under a lock on FILE.lock, the file again; if it
 * still holds that token, the refresh grant, and the new pair written,
 * synced and renamed over the file before this returns.  -1 said, with the
 * exit status in *status (2: the grant refused, 3: the file, 4: the remote). */
int fs_oauth_refresh(struct fs_oauth *o, struct fs_http *api, int *status);
void fs_oauth_free(struct fs_oauth *o);	/* zeroes the secrets; the struct may be loaded again */
/* The access token ends within FS_OAUTH_AHEAD seconds (or has): refresh it
 * before a run's first request rather than after its 401. */
#define FS_OAUTH_AHEAD 300
bool fs_oauth_due(const struct fs_oauth *o);
/* The client-credentials grant (no refresh token, no file): a new access
 * token into o->access and its lifetime in seconds (0: not said); -1 said,
 * with the exit status in *status. */
int fs_oauth_client_token(struct fs_oauth *o, struct fs_http *api, int64_t *expires_in, int *status);

// owners.c: owners' names from HubSpot's owners API, for the reports.
/* When source's names are a day old (an hour after a failed try), fetches
 * them through h and keeps them in the state file; a failure is said on
 * stderr, and is no failure of the caller's. */
void fs_owners_refresh(struct fs_state *st, struct fs_http *h, const char *source);

// csvin.c: CSV input through libcsv (RFC 4180).
struct fs_csv_row {
	long rowno;		/* 1 for the first record (the header) */
	int nfields;
	char *field;		/* the fields, each NUL-terminated, at off[i] */
	size_t *off, *len;
	bool unterminated;	/* the last record ran into an open quote at the end */
};
#define fs_csv_field(row, i) ((row)->field + (row)->off[i])
typedef int (*fs_csv_fn)(const struct fs_csv_row *row, void *ctx);	/* 0, or -1 to stop */
/* Reads fd to its end, a record at a time; a leading UTF-8 BOM is dropped. */
int fs_csv_read(int fd, fs_csv_fn fn, void *ctx);
int fs_csv_read_libcsv(int fd, fs_csv_fn fn, void *ctx);	/* every row through libcsv: tests compare */
void fs_csv_format(struct fs_buf *b, const struct fs_csv_row *row);	/* back to CSV, no line end */

// csvout.c: CSV cells for the files fieldsync writes for people (fs-report, previews, scans).
/* Appends one RFC 4180 cell: quoted when it holds a comma, a quote or a line
 * end, or starts or ends with a blank.  A cell that starts with = + - @, a tab
 * or a carriage return (a formula to a spreadsheet) is neutralised as OWASP
 * recommends: quoted, with a leading ' that the spreadsheet shows as text;
 * a plain number (fs_csv_number: "-12.5") is left as it is.  Every CSV
 * writer uses it, for any text that a CRM record or a vendor chose. */
void fs_csv_cell(struct fs_buf *b, const char *s, size_t n);
int fs_csv_fcell(FILE *f, const char *s);	/* the same onto f; NULL is an empty cell; -1 on a write error */
bool fs_csv_number(const char *s, size_t n);	/* -?D[.D][e[+-]D], D one or more digits */

// inbox.c: draining the webhook inbox; the pieces and events polling sees.
struct fs_inbox_row {
	int64_t id;
	char *delivery_id, *received_at;
	char *body;		/* the raw request body, NUL-terminated */
	size_t len;
};
/* Up to limit rows of source with id > after_id, in id order (malloc'd). */
int fs_inbox_fetch(struct fs_state *st, const char *source, int64_t after_id, int limit,
		   struct fs_inbox_row **rows, int *n);
void fs_inbox_rows_free(struct fs_inbox_row *rows, int n);
/* Sets drained_at on the rows of source up to id upto (the committed inbox cursor). */
int fs_inbox_mark_drained(struct fs_state *st, const char *source, int64_t upto);
/* Vendor ids of mail pieces not yet delivered, returned or failed. */
int fs_pieces_in_flight(struct fs_state *st, char ***ids, int *n);
/* Polling's emissions: forget those past the committed poll cursor, start a
 * batch (its id is the checkpoint's cursor), test and record one event. */
int fs_poll_forget_uncommitted(struct fs_state *st, const char *source, int64_t committed);
int64_t fs_poll_begin(struct fs_state *st, const char *source, const char *run_id);
int fs_poll_seen(struct fs_state *st, const char *source, const char *vendor_id, const char *key);
int fs_poll_record(struct fs_state *st, const char *source, const char *vendor_id, const char *key,
		   int64_t poll_id);
/* The same for events drained from inbox row inbox_id: forget those past the committed inbox cursor, record one. */
int fs_poll_forget_undrained(struct fs_state *st, const char *source, int64_t committed);
int fs_poll_record_drained(struct fs_state *st, const char *source, const char *vendor_id, const char *key,
			   int64_t inbox_id);
/* Retention, in transactions of batch rows: of source's rows drained under the
 * committed inbox cursor, clears the bodies of those received before
 * bodies_before, then deletes those received before rows_before except the
 * source's newest row (a NULL time prunes nothing); counts what it did. */
int fs_inbox_prune(struct fs_state *st, const char *source, int64_t committed, const char *bodies_before,
		   const char *rows_before, int batch, int64_t *bodies, int64_t *rows);
/* Deletes committed emissions recorded before `before` whose piece is no
 * longer in flight (delivered, returned, failed) or not in pieces at all. */
int fs_poll_prune(struct fs_state *st, const char *source, int64_t poll_committed, int64_t inbox_committed,
		  const char *before, int batch, int64_t *pruned);

// report.c: fs-report's reports, each built as one JSON document (see report.c).
struct fs_report_opts {
	fs_time from, to;		/* the window [from, to) */
	fs_time base_from, base_to;	/* pilot: the baseline window */
	const char *contact, *campaign, *event_id, *run_id, *kind;	/* changelog filters, or NULL */
	struct fs_holidays holidays;
	int follow_up_bd, mailed_bd, delivered_bd;	/* SLAs in business days */
	struct fs_report_sla {		/* each mail target's vendor SLA, in the config's order */
		const char *target, *kind;	/* the config's strings */
		int mailed_bd, delivered_bd;
	} sla[16];
	int nsla;
	int64_t attribution;		/* seconds */
	int webhook_failures, dlq_max;	/* thresholds the health panel colours by */
	const char *tz;			/* [thresholds] timezone: days, business days, the times printed */
};
bool fs_report_known(const char *name);	/* sla health dedupe changelog pilot outcomes */
const char *fs_report_sections(const char *name);	/* "followup, speed, ..." */
/* The words text and HTML print for a key column's name ("Follow-up SLA missed (%)"); else key. */
const char *fs_report_label(const char *key);
bool fs_report_has_section(const char *name, const char *section);
/* The SLAs, holidays and thresholds from the config; -1 with a message. */
int fs_report_opts_config(const struct fs_config *cfg, struct fs_report_opts *o);
/* "FROM..TO", each as fs_time_arg takes it in time zone tz (TO's date inclusive). */
int fs_report_range(const char *s, const char *tz, fs_time *from, fs_time *to);
/* The report; an invalid jv after saying why on stderr. */
jv fs_report_build(struct fs_state *st, const char *name, const struct fs_report_opts *o);

// report_render.c: the text, CSV and NDJSON renderers.
int fs_report_text(jv rep, FILE *f);	/* aligned tables within 100 columns */
/* RFC 4180 with a header row: the named section, or the report's first. -1 if no such section.
 * excel: for Excel, which takes a file as the system's code page without a
 * UTF-8 BOM and reads RFC 3339 times as text: the BOM first, and each time
 * cell as "2026-11-30 01:02:03" (the clock of its zone, without the offset), a date-time to it. */
int fs_report_csv(jv rep, const char *section, bool excel, FILE *f);
int fs_report_ndjson(jv rep, FILE *f);	/* a header line, then one line per row */
/* Keeps only the named section; -1 if the report has none of that name. */
int fs_report_only(jv *rep, const char *section);
/* A section's columns and rows as a table for people shows them (text, HTML):
 * a "label" column's value (an owner's name) in place of the column before
 * it, where it has one; "wide" columns only when with_wide.  Consumes cols
 * and rows; the rows in *out_rows. */
jv fs_report_shown(jv cols, jv rows, bool with_wide, jv *out_rows);
/* An RFC 3339 time as text and HTML show it: 2026-11-30 01:02, and its
 * offset when it has one (2026-03-08 17:00 -07:00); s itself when not of
 * fs_time_format's or fs_zone_format's shape.  Returns out. */
#define FS_REPORT_WHEN 24
const char *fs_report_when(const char *s, char out[FS_REPORT_WHEN]);
/* The window [from, to) as text and HTML head it: "2026-11-16 01:00 to
 * 2026-11-30 01:00 UTC", an offset for UTC when the zone is not, each
 * time's own when they differ (a DST change inside). */
#define FS_REPORT_WINDOW 64
const char *fs_report_window(const char *from, const char *to, char out[FS_REPORT_WINDOW]);

// report_html.c
/* One self-contained dashboard page: reps is an array of reports, the first the main one. */
int fs_report_html(jv reps, const char *tz, FILE *f);	/* tz: the report's zone, for its day ticks */

// lookback.c: the (id, modified) pairs a HubSpot search stream emitted near its cursor.
/* Forgets pairs of checkpoints past committed_batch, and pairs modified before before_ms. */
int fs_lookback_forget(struct fs_state *st, const char *source, const char *stream, int64_t committed_batch,
		       int64_t before_ms);
/* 1 if the pair was emitted (and kept), 0 if not, -1 on error. */
int fs_lookback_seen(struct fs_state *st, const char *source, const char *stream, int64_t id, int64_t modified_ms);
/* Records a pair with the number of the checkpoint that will cover it. */
int fs_lookback_record(struct fs_state *st, const char *source, const char *stream, int64_t id, int64_t modified_ms,
		       int64_t batch);

// sha256.c: SHA-256 and HMAC-SHA256 without libcrypto (fs-hook starts per request).
struct fs_sha256 {
	uint32_t h[8];
	uint64_t len;		/* bytes hashed so far */
	unsigned char buf[64];
	size_t n;		/* bytes waiting in buf */
};
struct fs_hmac_sha256 {
	struct fs_sha256 inner, outer;
};
void fs_sha256_init(struct fs_sha256 *c);
void fs_sha256_update(struct fs_sha256 *c, const void *data, size_t len);
void fs_sha256_final(struct fs_sha256 *c, unsigned char out[32]);	/* then zeroes c */
void fs_sha256(const void *data, size_t len, unsigned char out[32]);
void fs_hmac_sha256_init(struct fs_hmac_sha256 *m, const void *key, size_t keylen);
void fs_hmac_sha256_update(struct fs_hmac_sha256 *m, const void *data, size_t len);
void fs_hmac_sha256_final(struct fs_hmac_sha256 *m, unsigned char out[32]);
/* got is base64 (with padding) of HMAC-SHA256 of body keyed with secret (Jobber's and Intuit's webhooks);
 * false when either is NULL.  Compared in constant time. */
bool fs_hmac_base64_matches(const char *secret, const void *body, size_t len, const char *got);
void fs_secure_zero(void *p, size_t n);	/* a memset the compiler keeps */
bool fs_same_secret(const void *a, const void *b, size_t n);	/* equal, in constant time */

// contracts.c: state one command writes and another reads.
/* Makes fs-dedupe's tentative key for event_id final.  The command that
 * ends the pipeline calls it in the transaction that makes the event's
 * effect durable: fs-push as it puts the event in its outbox (or records
 * it), a command with --commit at the checkpoint, once the lines it covers
 * are written. */
int fs_keys_finalize(struct fs_state *st, const char *event_id);
/* A source's mode: "webhook" (the default) or "polling". */
int fs_source_mode(struct fs_state *st, const char *source, char mode[16]);
/* Changes it, with a changelog row (fallback.polling / fallback.webhook). */
int fs_source_mode_set(struct fs_state *st, const char *source, const char *mode, const char *why,
		       const char *run_id);
/* 1 when a hold is active on scope ("target" or "campaign") name, 0 if not, -1 on error. */
int fs_hold_active(struct fs_state *st, const char *scope, const char *name);
int fs_hold_latest(struct fs_state *st, int64_t *id);	/* the newest hold's id, 0 when none: a new hold is news */
/* 1 when the end of a pipeline has taken an event: fs-push leaves, in the
 * transaction that takes a mail request, an enrolment or a changelog row
 * naming its id, whatever it decides (enrolled, suppressed, ...).  0 if
 * not yet, -1 on error.  fs-normalize asks, to ask again for one lost. */
int fs_event_taken(struct fs_state *st, const char *event_id);

// schema.c
extern const char *const fs_migrations[];	/* fs_migrations[i] takes version i to i+1 */
extern const int fs_nmigrations;
// schema_pg.c
extern const char *const fs_pg_migrations[];	/* PostgreSQL: fs_pg_migrations[i] takes fs_schema.version i to i+1 */
extern const int fs_pg_nmigrations;		/* equals fs_nmigrations: version N is the same schema on both */

// dlq.c
struct fs_dead {
	const char *command, *run_id, *reason, *source, *event_id;
	const char *bytes;
	size_t len;
	long lineno;
	int http_status;	/* 0 when none */
	const char *response;	/* NULL when none */
	const char *attempts;	/* JSON array, NULL when none */
};
/* Adds one entry (inside the caller's transaction).  An open entry with the
 * same command, reason and bytes is counted again instead; a line that was
 * replayed and fails again is linked to the entry it came from. */
int64_t fs_dlq_add(struct fs_state *st, const struct fs_dead *d);
struct fs_dead_row {		/* one stored entry, borrowed for a callback */
	int64_t id, replay_of;
	const char *at, *command, *run_id, *source, *event_id, *reason, *state;
	const char *last_seen_at, *replayed_at, *response, *attempts;
	const void *bytes;
	size_t len;
	long lineno;
	int http_status, seen;
};
typedef int (*fs_dlq_fn)(const struct fs_dead_row *r, void *ctx);
/* Open entries (all of them with all), or only entry id when id != 0, by id. */
int fs_dlq_each(struct fs_state *st, bool all, int64_t id, fs_dlq_fn fn, void *ctx);
int fs_dlq_count(struct fs_state *st, int64_t *n);	/* open entries */
/* Marks an entry replayed, with its changelog row. */
int fs_dlq_mark_replayed(struct fs_state *st, int64_t id, const char *run_id);
/* Deletes entries with nothing newer than before (created, seen again or
 * replayed), with a changelog row; *n says how many. */
int fs_dlq_purge(struct fs_state *st, fs_time before, const char *run_id, int64_t *n);
/* Opens a replayed entry again, with a changelog row: 1 done, 0 no such replayed entry. */
int fs_dlq_reopen(struct fs_state *st, int64_t id, const char *run_id);
int fs_dlq_replayed_at(struct fs_state *st, int64_t id, char **at);	/* when a replayed entry was; NULL if not one */

// changelog.c
/* Appends an audit row: kind ("send", "dlq.replay", ...), and detail as JSON. */
int fs_changelog(struct fs_state *st, const char *kind, const char *run_id,
		 const char *event_id, const char *object, jv detail);
/* 1 when the changelog has a row of kind for event_id, 0 if not, -1 on error. */
int fs_changelog_has(struct fs_state *st, const char *kind, const char *event_id);
/* The summary of a run that did something, as one "run" row in a
 * transaction of its own: object names the command ("fs-push:mail"), detail
 * (consumed) its counts, to which "exit" (status) and "ms" (the real time
 * since fs_cli_init) are added.  Call it only when the run did something, so
 * that an idle tick leaves no row; nothing is written for a run that failed
 * on the state file or on its usage. */
struct fs_cli;
int fs_changelog_run(struct fs_cli *cli, const char *object, int status, jv detail);

// cli.c
struct fs_cli {
	const char *config_path, *state_path;
	bool print_config;
	char run_id[48];
	struct timespec started;	/* the monotonic clock at fs_cli_init */
	struct fs_config cfg;
	struct fs_state st;
};
/* Long options every command shares; the caller appends its own. */
#define FS_CLI_COMMON_LONGOPTS \
	{"config", required_argument, NULL, 'c'}, \
	{"state", required_argument, NULL, 's'}, \
	{"quiet", no_argument, NULL, 'q'}, \
	{"verbose", no_argument, NULL, 'v'}, \
	{"help", no_argument, NULL, 'h'}, \
	{"version", no_argument, NULL, 'V'}, \
	{"print-config", no_argument, NULL, 0x100}
#define FS_CLI_COMMON_OPTSTRING "c:hqs:vV"
void fs_cli_init(struct fs_cli *cli, const char *progname);
/* SIGINT and SIGTERM set fs_interrupted (to the signal) instead of killing
 * the process, so that a command finishes what is in flight and records it;
 * a second one kills at once.  The NDJSON loop stops reading. */
extern volatile sig_atomic_t fs_interrupted;
void fs_cli_stop_on_signals(void);
/* Handles a common option; 1 handled, 0 not a common option. -h and -V exit. */
int fs_cli_option(struct fs_cli *cli, int opt, const char *arg, void (*usage)(FILE *, int));
/* Loads config (and prints it with --print-config, then returns 1). */
int fs_cli_config(struct fs_cli *cli);
/* Opens the state file ([state] group from the config), with FS_STATE_* flags. */
int fs_cli_state_open(struct fs_cli *cli, int flags);
int fs_cli_state(struct fs_cli *cli);	/* to read and write, made when missing */
void fs_run_id(char out[48]);
/* A failed write on stdout, judged: a reader that closed the pipe (EPIPE) is
 * no error, says nothing, and keeps status; any other is said once and makes
 * an OK or DLQ status FS_EXIT_REMOTE.  fs_stdout_error reads errno right
 * after a failed write(2); fs_stdout_flush flushes stdio's stdout and judges
 * any failure it has seen.  Both return the status to go on with. */
int fs_stdout_error(int status);
int fs_stdout_flush(int status);
bool fs_stdout_closed(void);	/* a reader has closed stdout: stop writing */
/* Flushes and checks stdout (fs_stdout_flush), closes the state, frees. */
int fs_cli_finish(struct fs_cli *cli, int status);
/* [thresholds] timezone; NULL with a message when this machine does not know it
 * (the C library would take an unknown name for UTC without a word). */
const char *fs_cli_timezone(const struct fs_cli *cli);
/* An option's time (fs_time_arg, in the config's [thresholds] timezone);
 * -1 after the one-line "OPT: 'S' is not a time ..." error. */
int fs_cli_time(const struct fs_cli *cli, const char *opt, const char *s, bool end_of_day, fs_time *t);

// loop.c: the NDJSON loop every filter runs.
struct fs_line {
	const char *bytes;	/* the original line, without "\n" or "\r" */
	size_t len;
	long lineno;
	jv obj;			/* the parsed object (borrowed) */
	const char *type;	/* NULL for a raw object in --source mode */
	/* For ops->fast: the values of ops->members, or NULL when the line is
	 * not plain (struct fs_json_top) and only the parser may read it. */
	const struct fs_str *members;
};
struct fs_loop;
struct fs_loop_ops {
	const char *const *types;	/* the types the command acts on */
	bool raw_ok;		/* lines without "type" are handed over too */
	/* One line of an acted-on type. Return 0, or -1 for a fatal error. */
	int (*line)(struct fs_loop *lp, struct fs_line *ln, void *ctx);
	/* A checkpoint, or the end of input (cp is jv_null()), before commit. */
	int (*checkpoint)(struct fs_loop *lp, jv cp, void *ctx);
	/* When this command ends the pipeline (commit_cursors): after the lines
	 * before the checkpoint are written, in the transaction that commits
	 * its cursor, which makes them final. */
	int (*final)(struct fs_loop *lp, jv cp, void *ctx);
	/* After a checkpoint's commit, before it is forwarded. */
	int (*committed)(struct fs_loop *lp, jv cp, void *ctx);
	/* Optional, before the loop commits and waits for more input: lines
	 * the command holds back go out now, not when more input comes. */
	int (*idle)(struct fs_loop *lp, void *ctx);
	/* Optional, before a line is parsed (it is valid UTF-8 and JSON; ln->obj
	 * is invalid): 1 handled, 0 to go the usual way, -1 for a fatal error. */
	int (*fast)(struct fs_loop *lp, struct fs_line *ln, void *ctx);
	const struct fs_str *members;	/* top-level members fast reads */
	int nmembers;
	/* The pipeline this command ends, for the error when a record reaches
	 * it there ("fs-pull | fs-normalize | fs-dedupe | fs-push"): a stage is
	 * missing, and nothing is committed.  NULL: records pass through. */
	const char *pipeline;
};
struct fs_loop_stats {
	long lines, blank, passed, dead, emitted, checkpoints;
};
struct fs_loop {
	struct fs_cli *cli;
	struct fs_state *st;	/* may be NULL: then nothing is written */
	const struct fs_loop_ops *ops;
	void *ctx;
	size_t max_line;	/* default 1 MiB */
	bool commit_cursors;	/* --commit: this command ends the pipeline */
	bool forward_none;	/* the output is a report (a preview): no line passes through */
	struct fs_loop_stats stats;
	struct fs_buf out;	/* buffered output, written after each commit */
	int status;		/* worst exit status so far */
	bool unterminated;	/* the line being handled is the last, with no newline */
	bool interrupted;	/* stopped reading on fs_interrupted */
	const char *source;	/* --source NAME, for DLQ rows */
};
void fs_loop_init(struct fs_loop *lp, struct fs_cli *cli, const struct fs_loop_ops *ops, void *ctx);
/* Reads fd to its end. Returns the exit status. */
int fs_loop_run(struct fs_loop *lp, int fd);
void fs_emit(struct fs_loop *lp, jv v);	/* consumes v; compact, "\n" */
void fs_emit_raw(struct fs_loop *lp, const char *p, size_t n);
/* A bad line: one error line on stderr, a DLQ entry with the original bytes. */
int fs_reject(struct fs_loop *lp, const struct fs_line *ln, const char *event_id, const char *fmt, ...);
/* Raises the run's exit status (the first error wins over DLQ). */
void fs_loop_fail(struct fs_loop *lp, int status);
/* Opens the loop's transaction when none is open (callbacks that write call it). */
int fs_loop_txn(struct fs_loop *lp);

// maps.c: jq mapping programs.
struct fs_map;
/* Finds a map by file name in $FS_MAPDIR, the checkout's lib/maps, ../share/fieldsync/maps beside the binary, or DATADIR/maps. */
char *fs_map_find(const char *name);
struct fs_map *fs_map_load(const char *path, jv args);	/* args: $source settings */
jv fs_map_args(const struct fs_endpoint *ep);	/* $source: the source's settings that may print, defaults included */
void fs_map_free(struct fs_map *m);
/* Runs the map on one input; returns an array of outputs or an invalid with a message. */
jv fs_map_run(struct fs_map *m, jv input);
/* Paths declared by the map's "# reads:" line, for drift. */
const char *const *fs_map_reads(const struct fs_map *m, int *n);
/* The built-in C map that runs instead of the jq program ("hubspot-contact"), or NULL. */
const char *fs_map_builtin(const struct fs_map *m);
/* A $source setting as the map sees it, or NULL. */
const char *fs_map_arg(const struct fs_map *m, const char *key);

// event.c: canonical events.
/* evt_ + 32 hex of SHA-256 over source, object, kind and version. */
void fs_event_id(const char *source, const char *object, const char *kind,
		 const char *version, char out[40]);
/* Checks one canonical event; appends each violation to why ("; "-separated). */
int fs_event_validate(jv ev, struct fs_buf *why);
/* Moves each optional field of the event's data that fails its check to
 * data.invalid.FIELD as {"value":...,"reason":...} (FIELD dotted for an
 * address's: "address.postal_code"), counting each in counts (may be NULL).
 * Returns how many moved; the fields an event cannot do without stay, for
 * fs_event_validate to refuse. */
int fs_event_repair(jv *ev, struct fs_counts *counts);
bool fs_email_valid(const char *s);
bool fs_e164_valid(const char *s);	/* the checks fs_event_validate makes, one by one */
bool fs_us_zip_valid(const char *s);
bool fs_us_state_valid(const char *s);
bool fs_kind_known(const char *kind);
/* What debounce collapses an event with, malloc'd: the later of two events
 * with one key stands for both.  A contact's or a job's changes collapse
 * by object, a mail request by object and campaign; NULL for the kinds that
 * never collapse (a mail status, a follow-up, revenue: each is a fact). */
char *fs_collapse_key(const char *kind, const char *object, const char *campaign);

// normalize.c: fs-normalize's machinery (maps and drift, campaign fields, trigger checks, the hot path's JSON).
struct fs_vendor;
/* One source's map for one stream, loaded at its first record. */
struct fs_norm_map {
	char *source, *stream;
	struct fs_map *map;	/* NULL: none could be loaded (why says so) */
	char *why;
	struct fs_counts reads;	/* every path the map reads, for drift */
	const char **need;	/* the paths it expects to be present */
	int nneed;
	const struct fs_vendor *fast;	/* its map is this connector's fast_map: the hot path may take it */
	const struct fs_vendor *vendor;	/* the source's connector; NULL when unknown */
};
/* The map of source's stream (NULL: its connector's saved_stream): map_opt,
 * else map.STREAM, else map, else the kind's shipped map for the stream. */
void fs_norm_map_load(struct fs_norm_map *m, const struct fs_config *cfg, const char *source, const char *stream,
		      const char *map_opt);
void fs_norm_map_free(struct fs_norm_map *m);
/* Drift: the input fields a map never reads, and the map paths absent, by path. */
struct fs_drift {
	struct fs_counts unmapped, absent;
};
bool fs_drift_covered(struct fs_counts *reads, const char *path);	/* the map reads path, or a parent's ".*" */
/* Counts one record's drift; returns how much there was, with the first in why. */
int fs_drift_count(struct fs_drift *d, struct fs_norm_map *m, jv record, struct fs_buf *why);
/* With -v, one summary line, then every path, sorted, with its count (the
 * run's changelog row keeps the two numbers). */
void fs_drift_report(struct fs_drift *d);
void fs_drift_free(struct fs_drift *d);
jv fs_counts_json(struct fs_counts *m);	/* an object, keys sorted */
/* Where a campaign's condition reads a field: an event's data, or the hot path's strings. */
struct fs_fields {
	jv data;		/* contact.changed's or job.changed's data; invalid on the hot path */
	char *const *cs;	/* the hot path's contact fields (FS_C_*), or NULL */
	jv contact;		/* a job's contact as the state knows it, or null */
	jv to;			/* a job's piece's address (its own or its contact's), or null */
	char num[32];
	const char *list[32];
};
int fs_fields_values(struct fs_fields *f, const char *name);	/* into f->list, borrowed; 0 when absent */
bool fs_filters_pass(const struct fs_campaign *c, struct fs_fields *f);	/* its only and except hold */
jv fs_mailing_address(jv contact, jv address);	/* to: the name from the contact, the lines from address */
/* One canonical event: its id from source, object, kind and version; its times canonical; raw kept when valid. */
jv fs_event_make(const char *run_id, const char *source, const char *kind, const char *object, const char *version,
		 jv occurred_at, jv data, jv raw);
/* mail.requested's data for campaign c: contact (its id, do_not_mail), job (null for a contact
 * campaign), to the address, the trigger field's value from and to. */
jv fs_mail_request_data(const struct fs_campaign *c, jv contact, jv job, jv to, const char *from, const char *value);
/*
 * Checking triggers against what the sources give (fieldsync(7), "Checking
 * a campaign"): 0, FS_EXIT_USAGE when a trigger asks what no source gives
 * (said on stderr), FS_EXIT_STATE.
 */
int fs_campaigns_check_sources(struct fs_cli *cli, const struct fs_campaign *c, int n);
/* The hot path (a record read with fs_jscan, its contact as strings, FS_C_*). */
/* A scanned line's record: its data's node (root for a raw object of source_opt), -1 when the
 * hot path does not take it; its source and stream (empty when none) copied out. */
int fs_jscan_record(const struct fs_jtree *t, int root, const char *source_opt, char *source, size_t source_size,
		    char *stream, size_t stream_size);
bool fs_jscan_copy(const struct fs_jtree *t, int i, char *buf, size_t size);	/* a short string node as a C string */
/* fs_jget_path on a scanned record: data is its "data", root the line (-1 for a raw object). */
bool fs_jscan_present(const struct fs_jtree *t, int root, int data, const char *path);
struct fs_scan_unmapped {	/* a scanned record's unmapped paths, up to 16; reused */
	struct fs_buf path;
	char *paths[16];
	int n;
};
void fs_scan_unmapped_clear(struct fs_scan_unmapped *u);
/* fs_drift_count on a scanned record: false, with nothing counted, when it
 * has more unmapped paths than u keeps, or drift when strict (the usual way says why). */
bool fs_drift_scanned(struct fs_drift *d, struct fs_scan_unmapped *u, struct fs_norm_map *m, const struct fs_jtree *t,
		      int root, int data, bool strict);
const char *fs_contact_field(char *const cs[], const char *name);	/* as fs_fields_values finds it */
bool fs_contact_row_valid(char *const cs[]);	/* contact.changed would be valid, with nothing to repair */
/* mail.requested for campaign c would be valid (fs_event_validate's rules). */
bool fs_contact_row_mailable(const struct fs_campaign *c, char *const cs[]);
/* The contact's fields as C strings in text (updated_at made canonical in canon), its object
 * ("contact:ID") and its version: false when the version is not a time. */
bool fs_contact_strings(const struct fs_contact_out *o, struct fs_buf *text, char *cs[FS_C_N], char canon[21],
			char **object, char **version);
/* contact.changed's data, and the "}" that ends its event. */
void fs_put_contact(struct fs_buf *b, char *const cs[], bool do_not_mail);
void fs_put_address(struct fs_buf *b, char *const cs[], const char *name);	/* the address lines, name first */
/* JSON string as jq 1.6 writes it: only '"', '\', controls and DEL escaped. */
void fs_put_json(struct fs_buf *b, const char *p, size_t n);
void fs_put_member(struct fs_buf *b, bool *first, const char *key, const char *value);	/* value NULL: null */

#endif
