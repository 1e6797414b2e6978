/*
 * Connectors: one a vendor, in lib/vendors/ (its maps in lib/maps, its fake
 * in tests/fakes), listed in lib/vendors.c.  A command asks for a kind
 * (fs_vendor_find) and calls what the connector has; it knows no vendor.
 *
 * The pull side is filled now (fs-pull); receive (verify) and push (create,
 * cancel, write_back) are declared for the commands that will use them.
 * What every connector shares (records and checkpoints on standard output,
 * dead letters, HTTP with rate limits and retries, the webhook inbox, the
 * state file) is lib/pull.c's, behind struct fs_pull.
 */
#ifndef FS_VENDORS_H
#define FS_VENDORS_H

#include "fieldsync.h"

/* One fs-pull run of one source: the library's, lent to the connector. */
struct fs_pull {
	struct fs_cli *cli;	/* config and state */
	struct fs_endpoint ep;
	const char *name;	/* the source's name on the records */
	const char *as;		/* --as */
	const char *stream;	/* the records' stream, for sources with one (CSV, NDJSON) */
	char now[21];		/* fetched_at */
	char mode[16];		/* the source's mode (fs_source_mode), for connectors that read it */
	int64_t since_ms;	/* -1 when no --since */
	int64_t lookback_ms;	/* cursors are re-read this much before the committed one */
	long limit;		/* records per stream; 0 for none */
	bool commit, dry_run, describe;
	struct fs_http http;
	bool http_ready;
	int status;		/* FS_EXIT_*, the worst so far */
	long records, dead, checkpoints;
	int64_t started;	/* fs_mono_ms() at the start */
	/* records wait here for the checkpoint that covers them while hold is set */
	struct fs_buf held;
	bool hold;
	/* retention, in seconds; -1 for never */
	int64_t inbox_keep, keys_keep, polled_keep;
	int64_t pruned_bodies, pruned_rows, pruned_events;	/* what this run pruned */
};

/* A stream a connector pulls: its name (the records' stream and the
 * cursor's), and how its query follows a keyset cursor. */
struct fs_stream {
	const char *name;	/* contacts, calls, ...; the setting properties.NAME lists its fields */
	const char *modified;	/* the property the cursor follows (its last-modified time) */
	bool assoc;		/* its records carry their associated contacts */
};

/* For the push side (not used yet). */
struct fs_push;
struct fs_hook_req;

#define FS_VENDOR_INBOX 1u	/* webhooks land in the inbox: drained, and pruned past retention */
#define FS_VENDOR_POLLED 2u	/* polled events are remembered too (polled_retention) */
#define FS_VENDOR_FILE 4u	/* reads a file ('file', or pull KIND:FILE) */

struct fs_vendor {
	const char *kind;	/* the config's kind = */
	unsigned flags;		/* FS_VENDOR_* */
	const struct fs_stream *streams;	/* ended by a NULL name; NULL for none */
	const char *saved_stream;	/* the stream of raw NDJSON pulled --as a source of this kind */
	/* pull: each hook says what went wrong (fs_pull_fail) and returns -1 */
	int (*start)(struct fs_pull *);	/* settings, HTTP: before the inbox */
	int (*describe)(struct fs_pull *);	/* --describe: the source's fields; NULL if it has none */
	int (*inbox)(struct fs_pull *, const struct fs_inbox_row *rows, int n);	/* records of one batch */
	int (*pull)(struct fs_pull *, const struct fs_stream *);	/* records and checkpoints */
	int (*poll)(struct fs_pull *);	/* objects in flight, when webhooks fail */
	int (*read)(struct fs_pull *, const char *path);	/* a file source's rows */
	void (*after)(struct fs_pull *);	/* after the run, standard output closed */
	/* receive and push: later */
	int (*verify)(const struct fs_hook_req *, const char *secret);
	int (*create)(struct fs_push *, const struct fs_piece *);
	int (*cancel)(struct fs_push *, const char *vendor_id);
	int (*write_back)(struct fs_push *, jv batch);
	/*
	 * receive and normalize.  A webhook signature scheme is a struct
	 * fs_signature of the vendor's (lib/vendors/NAME-signature.c, listed in
	 * lib/hook.c), not a hook here: fs-hook, started once per request,
	 * links the schemes without the connectors, so verify above stays
	 * unset.  For fs-normalize, a record with no stream is of saved_stream.
	 */
	/* Adds the paths a stream's records are read at besides its map's, for drift. */
	void (*map_reads)(const struct fs_endpoint *, const char *stream, struct fs_counts *reads);
	/* The vendor's name of the canonical field a campaign triggers on (on_job: of a job), NULL if it has
	 * none; a connector without it gives no contacts or jobs, and no trigger is checked against it. */
	const char *(*trigger_property)(const struct fs_endpoint *, bool on_job, const char *field);
	const char *jobs_object;	/* the fs-pull --describe listing of its jobs ("contacts" is its contacts') */
	const char *status_setting;	/* the setting that names where status comes from, for the hint */
	const char *fast_map;	/* the shipped contact map fast_contact does in C, for the hot path */
	/* The contact fast_map makes of a record's scanned data: false sends the record the usual way. */
	bool (*fast_contact)(const struct fs_jtree *, int data, const struct fs_map *, struct fs_contact_out *);
};

const struct fs_vendor *fs_vendor_find(const char *kind);	/* NULL if no connector has that kind */
const struct fs_vendor *fs_vendor_at(int i);	/* the i-th connector, from 0; NULL past the last */
extern const struct fs_vendor fs_vendor_hubspot, fs_vendor_lob_events, fs_vendor_csv;

// pull.c: what connectors share for fs-pull.
void fs_pull_fail(struct fs_pull *p, int status);	/* status, unless worse was said */
bool fs_pull_failed(const struct fs_pull *p);	/* an error, or the reader closed the pipe: stop */
void fs_pull_progress(struct fs_pull *p, const char *stream, long pages, bool last);
int fs_pull_flush(struct fs_pull *p);	/* standard output; -1 on a write error */
void fs_pull_record(struct fs_pull *p, const char *stream, const char *key, jv data);
/* After the records it covers; with --commit, committed once they are written. */
int fs_pull_checkpoint(struct fs_pull *p, const char *stream, const char *cursor);
/* One bad input: a line on stderr and a DLQ entry; the run goes on. */
int fs_pull_dead(struct fs_pull *p, const char *bytes, size_t len, long lineno, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* A request whose answer must be JSON with want_key; jv_invalid() after a failure (said). */
jv fs_pull_call(struct fs_pull *p, const char *method, const char *path, jv body, const char *want_key,
		long *status);
int fs_pull_http_setup(struct fs_pull *p, bool basic);	/* url, rate, attempts, token (bearer or basic); -1 a usage error */
int fs_pull_cursor_number(struct fs_pull *p, const char *stream, int64_t *v);	/* 0 when none */
/* The webhook inbox after the committed cursor, INBOX_ROWS rows a checkpoint, through v->inbox. */
int fs_pull_drain(struct fs_pull *p, const struct fs_vendor *v);
int fs_pull_retention(struct fs_pull *p);	/* inbox_retention and the rest, read and checked */
void fs_pull_prune(struct fs_pull *p, bool polled);	/* what is past retention */
jv fs_split_list(const char *s);	/* "a, b,c" -> ["a","b","c"] */
int fs_time_ms(const char *s, int64_t *ms);	/* RFC 3339 to ms since the epoch (fraction kept to ms) */

#endif
