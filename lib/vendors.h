/*
 * Connectors: one a vendor, in lib/vendors/ (its maps in lib/maps, its fake
 * in tests/fakes), listed in lib/vendors.c.  A command asks for a kind
 * (fs_vendor_find) and calls what the connector has; it knows no vendor.
 *
 * The pull side (fs-pull) and the push side (fs-push) are filled; receive
 * (verify) is declared for the command that will use it.  What every
 * connector's pull shares (records and checkpoints on standard output, dead
 * letters, HTTP with rate limits and retries, the webhook inbox, the state
 * file) is lib/pull.c's, behind struct fs_pull; what every push shares (the
 * outbox's rows claimed and settled, results, dead letters, retries, the
 * sender) is lib/push.c's, behind struct fs_push.
 */
#ifndef FS_VENDORS_H
#define FS_VENDORS_H

#include "fieldsync.h"

/* vendors/jobber.c's defaults, which lib/settings.c's table shows and gives
 * (a macro: fs-hook links the table, not the connectors). */
#define FS_JOBBER_URL "https://api.getjobber.com"	/* GraphQL at /api/graphql, OAuth at /api/oauth/token */
#define FS_JOBBER_RATE "2500/300s"	/* Jobber's DDoS guard; the query-cost bucket is followed apart */
#define FS_JOBBER_VERSION "2025-01-20"	/* X-JOBBER-GRAPHQL-VERSION */
#define FS_JOBBER_PAGE "50"	/* nodes a page: 50 clients cost about 1,100 of the 10,000 points */

/* vendors/sheets.c's defaults: 60 requests a minute a user is Google's quota (300 a project). */
#define FS_SHEETS_URL "https://sheets.googleapis.com"
#define FS_SHEETS_TOKEN_URL "https://oauth2.googleapis.com/token"
#define FS_SHEETS_RATE "60/60s"
/* vendors/postcardmania.c's defaults. */
#define FS_PCM_URL "https://v3.pcmintegrations.com"
#define FS_PCM_RATE "10/1s"	/* PostcardMania publishes no limit: a guess, kept low */

/* vendors/quickbooks.c's defaults. */
#define FS_QBO_URL "https://quickbooks.api.intuit.com"	/* the sandbox: https://sandbox-quickbooks.api.intuit.com */
#define FS_QBO_TOKEN_URL "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
#define FS_QBO_RATE "500/60s"	/* Intuit's throttle: 500 requests a minute a realm */
#define FS_QBO_MINORVERSION "75"	/* ?minorversion= on every request */
#define FS_QBO_PAGE "1000"	/* MAXRESULTS: 1,000 at most */
#define FS_QBO_CDC_MAX "1000"	/* objects a CDC answer holds at most: a full one may have left some out */

/* vendors/servicetitan.c's defaults. */
#define FS_ST_URL "https://api.servicetitan.io"	/* the integration environment: https://api-integration.servicetitan.io */
#define FS_ST_TOKEN_URL "https://auth.servicetitan.io/connect/token"
#define FS_ST_RATE "60/1s"	/* 60 requests a second an application a tenant */
#define FS_ST_PAGE "500"	/* pageSize: 1 to 5,000 */
#define FS_ST_SIGNATURE_HEADER "X-ServiceTitan-Signature"	/* integrators' guess: ServiceTitan does not publish it */

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

struct fs_preview_row;

/* One fs-push run of one target: the library's (lib/push.c), lent to the connector. */
struct fs_push {
	struct fs_cli *cli;	/* config and state */
	struct fs_endpoint ep;
	const struct fs_vendor *vendor;	/* the target's connector */
	const char *target;
	bool mail;		/* its connector creates mail pieces (campaigns, caps, the preview, cancel) */
	bool dry_run, retry_only;
	int parallel, chunk;	/* requests at once; rows claimed at once */
	struct fs_rate_limit rate;
	struct fs_retry retry;
	int64_t give_up, timeout;
	char *url, *secret;
	void *settings;		/* the connector's (push_start), malloc'd, borrowing from the config */
	double price[2];	/* postcard, letter: [target] price */
	bool priced[2];
	/* sending */
	struct fs_push_http *http;
	struct fs_http easy;	/* one request at a time: fs-push cancel */
	bool easy_ready;
	struct fs_outbox_row *chunk_rows;
	int nchunk, ichunk;
	int64_t holds_seen, holds_looked_ms;	/* the newest hold when last looked, and when */
	bool no_more, stop;
	struct fs_buf out;	/* results and events, written once what they tell of is committed */
	int status;		/* FS_EXIT_*, the worst so far */
	/* counts */
	long taken, queued, repeats, replays, ignored, suppressed;
	long sent, adopted, retrying, dead, held_now, requests, accepted, resumed, capped, suppressed_rows;
	long planned;		/* --dry-run of a write-back target: the updates it would send */
	const char *tz;		/* the business's time zone: its days are the caps' */
	/* the preview (--dry-run): the input, then what each row would come to */
	bool preview, took_input;
	const char *format;	/* text or csv */
	struct fs_buf preview_in;
	struct fs_preview_row *prev;
	int nprev;
	jv input_order;		/* event id -> its line in the input */
	char last_error[256];
};

/*
 * One request of a push run and the outbox rows it sends (a piece, or a
 * batch of write-backs).  A connector that keeps more per request embeds it
 * first in a struct of its own, allocated by fs_push_req_new, and frees its
 * part in clear.
 */
struct fs_push_req {
	struct fs_push_job j;	/* the request, then its answer; j.user is this */
	struct fs_outbox_row *rows;
	int nrows;
	jv *hist;		/* each row's attempt history */
	int *tries;		/* each row's attempts */
	int n429;
	/* The dead letter tells of this answer rather than the last one (the
	 * failed create, not the look at the vendor after it). */
	bool answer_kept;
	long kept_status;
	char *kept_resp;
	void (*clear)(struct fs_push_req *);	/* the connector's part */
};

/* A piece the vendor has, for fs_push_piece_sent. */
struct fs_push_piece {
	const char *vendor_id;
	const char *detail;	/* the vendor's name for its creation (its mail.status event's detail) */
	const char *found_by;	/* adopted: the request that found it; NULL when created now */
	const char *send_date;	/* asked of the vendor, or NULL */
};

struct fs_hook_req;

#define FS_VENDOR_INBOX 1u	/* webhooks land in the inbox: drained, and pruned past retention */
#define FS_VENDOR_POLLED 2u	/* polled events are remembered too (polled_retention) */
#define FS_VENDOR_FILE 4u	/* reads a file ('file', or pull KIND:FILE) */
#define FS_VENDOR_KEY_AS_USER 8u	/* push: the API key is basic auth's user name, else a bearer token */
#define FS_VENDOR_CUSTOMERS 16u	/* its contacts are customers, matched to the CRM's (lib/customers.c) */
#define FS_VENDOR_OWN_401 32u	/* push: a 401 goes to answer (an OAuth token it refreshes), not a stop */

struct fs_vendor {
	const char *kind;	/* the config's kind = */
	unsigned flags;		/* FS_VENDOR_* */
	const struct fs_stream *streams;	/* ended by a NULL name; NULL for none */
	const char *saved_stream;	/* the stream of raw NDJSON pulled --as a source of this kind */
	const char *pulled_as;	/* a target's kind: the kind that pulls its events (lob: lob-events) */
	/* pull: each hook says what went wrong (fs_pull_fail) and returns -1 */
	int (*start)(struct fs_pull *);	/* settings, HTTP: before the inbox */
	int (*describe)(struct fs_pull *);	/* --describe: the source's fields; NULL if it has none */
	int (*inbox)(struct fs_pull *, const struct fs_inbox_row *rows, int n);	/* records of one batch */
	int (*pull)(struct fs_pull *, const struct fs_stream *);	/* records and checkpoints */
	int (*poll)(struct fs_pull *);	/* objects in flight, when webhooks fail */
	int (*read)(struct fs_pull *, const char *path);	/* a file source's rows */
	void (*after)(struct fs_pull *);	/* after the run, standard output closed */
	/*
	 * push: a mail vendor creates (and cancels) pieces, a CRM takes
	 * write-backs.  create and write_back claim rows (fs_push_next_row)
	 * and return their request, NULL when none is left; answer settles
	 * the rows (fs_push_row_*) and returns 0, or 1 to send the request
	 * (refilled) again.  Each says what went wrong.
	 */
	const char *const *takes;	/* the event kinds its target puts in its outbox, ended by NULL */
	int (*push_start)(struct fs_push *);	/* the kind's own settings, checked */
	struct fs_push_job *(*create)(struct fs_push *);
	struct fs_push_job *(*write_back)(struct fs_push *);
	int (*answer)(struct fs_push *, struct fs_push_job *);
	int (*cancel)(struct fs_push *, const char *vendor_id);	/* 0 cancelled, 1 refused, -1 unreachable */
	void (*plan)(struct fs_push *, jv ev, const char *note);	/* --dry-run: what a write-back would do */
	void (*push_free)(struct fs_push *);	/* what push_start kept besides p->settings */
	/*
	 * receive and normalize.  A webhook signature scheme is a struct
	 * fs_signature of the vendor's (lib/vendors/NAME-signature.c, listed in
	 * lib/hook.c), not a hook here: fs-hook, started once per request,
	 * links the schemes without the connectors (nor libcurl).  For
	 * fs-normalize, a record with no stream is of saved_stream.
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
bool fs_vendor_pulls(const struct fs_vendor *v);	/* it has something to pull */
bool fs_vendor_describes(const struct fs_vendor *v);	/* fs-pull --describe lists its fields */
bool fs_vendor_pushes(const struct fs_vendor *v);	/* it creates pieces or takes write-backs */
bool fs_vendor_creates(const struct fs_vendor *v);	/* a mail vendor: it creates pieces */
/* Whether a target of target_kind puts events of kind in its outbox; and
 * whether any kind of target does.  The end of a pipeline confirms
 * (fs_keys_finalize) only the events it took, and those no target takes:
 * an event that belongs to another target's pipeline stays open. */
bool fs_vendor_takes(const char *target_kind, const char *kind);
bool fs_kind_targeted(const char *kind);
char *fs_vendor_kinds(bool (*has)(const struct fs_vendor *));	/* "hubspot or lob", malloc'd */
extern const struct fs_vendor fs_vendor_hubspot, fs_vendor_lob_events, fs_vendor_lob, fs_vendor_csv,
	fs_vendor_jobber, fs_vendor_quickbooks, fs_vendor_sheets;
extern const struct fs_vendor fs_vendor_servicetitan;
extern const struct fs_vendor fs_vendor_postcardmania_events, fs_vendor_postcardmania;

// pull.c: what connectors share for fs-pull.
/* One tracking event of a mail piece, polled or drained from the webhook inbox. */
struct fs_piece_event {
	char *piece, *key;	/* the vendor's piece id; the event's key */
	jv data;
	int64_t inbox_id;	/* drained from this inbox row; 0 when polled */
};
/* The events not emitted (and committed) before, then, when polled, the poll checkpoint. */
int fs_pull_emit_events(struct fs_pull *p, struct fs_piece_event *ev, int n, bool drained);
void fs_piece_events_free(struct fs_piece_event *ev, int n);
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
int fs_pull_http_base(struct fs_pull *p);	/* url, rate, attempts, no token; -1 a usage error */
int fs_pull_cursor_number(struct fs_pull *p, const char *stream, int64_t *v);	/* 0 when none */
/* The webhook inbox after the committed cursor, INBOX_ROWS rows a checkpoint, through v->inbox. */
int fs_pull_drain(struct fs_pull *p, const struct fs_vendor *v);
int fs_pull_retention(struct fs_pull *p);	/* inbox_retention and the rest, read and checked */
void fs_pull_prune(struct fs_pull *p, bool polled);	/* what is past retention */
jv fs_split_list(const char *s);	/* "a, b,c" -> ["a","b","c"] */
int fs_time_ms(const char *s, int64_t *ms);	/* RFC 3339 to ms since the epoch (fraction kept to ms) */
void fs_ms_format(int64_t ms, char out[32]);	/* ms since the epoch to RFC 3339 UTC, with ms */

// pull_oauth.c: OAuth 2 for connectors (oauth_file, client_id_env/_file, secret_env/_file).
/* The credentials into o and the bearer token onto p->http (a dry run: none); -1 said.  The client
 * secret's keys are secret_env and secret_file (Jobber: the webhook's secret too). */
int fs_pull_oauth_setup(struct fs_pull *p, struct fs_oauth *o, const char *token_url, const char *secret_env,
			const char *secret_file);
int fs_pull_oauth_http(struct fs_pull *p);	/* url, rate, attempts; a bearer token_env unless oauth_file */
int fs_pull_oauth_refresh(struct fs_pull *p, struct fs_oauth *o);	/* after a 401; -1 said, the run failed */
/* The same credentials from any endpoint's settings (a target's too), the token file loaded; -1 said. */
int fs_oauth_setup(const struct fs_endpoint *ep, struct fs_oauth *o, const char *token_url, const char *secret_env,
		   const char *secret_file);
/* The client id and secret alone (client_id_env/_file, client_secret_env/_file), for the client-credentials grant; -1 said. */
int fs_oauth_setup_client(const struct fs_endpoint *ep, struct fs_oauth *o);

// describe.c: --describe of a connector whose fields are its own, not asked of the vendor.
struct fs_field_desc {
	const char *name, *type, *label, *values;	/* type "derived": made by the map; values: "a, b", NULL for none */
};
/* Prints a contact's and a job's fields (jobs' prefixed "jobs.") and keeps both listings; -1 said. */
int fs_describe_fixed(struct fs_pull *p, const char *contacts_map, const struct fs_field_desc *contacts,
		      const char *jobs_map, const struct fs_field_desc *jobs);

// keyset.c: "TIME ID ID ..." cursors over ties (the newest time emitted, the ids emitted at it).
struct fs_keyset {
	bool set;
	int64_t t;		/* ms since the epoch */
	jv ids;			/* object: id -> true */
};
int fs_keyset_parse(const char *s, struct fs_keyset *c);	/* c->ids an empty object already; -1 if not one */
char *fs_keyset_text(const struct fs_keyset *c);	/* malloc'd, ids in order */
/* Where a stream starts: --since (at or after it), else its committed cursor; -1 said (exit 3). */
int fs_keyset_start(struct fs_pull *p, const char *stream, struct fs_keyset *c);
bool fs_keyset_is_new(const struct fs_keyset *c, int64_t t, const char *id);	/* not emitted before */
void fs_keyset_advance(struct fs_keyset *to, int64_t t, const char *id);	/* the cursor after (t, id) */

// push.c: what connectors share for fs-push, and the run fs-push drives.
void fs_push_fail(struct fs_push *p, int status);	/* status, unless worse was said */
const char *fs_push_setting(const struct fs_push *p, const char *key);	/* an empty value counts as unset */
int fs_push_configure(struct fs_push *p, int parallel);	/* the target's settings; -1 a usage error (said) */
void fs_push_free(struct fs_push *p);
int fs_push_sender(struct fs_push *p);	/* the sender, with the target's key; -1 a state error */
int fs_push_send(struct fs_push *p);	/* the due rows, through the connector */
/* The next claimed row, claiming more (after looking at holds) when needed; NULL when none is left. */
struct fs_outbox_row *fs_push_next_row(struct fs_push *p);
bool fs_push_rows_claimed(const struct fs_push *p);	/* some claimed are not handed out yet */
/* A request for nrows rows, of size bytes (a connector's struct that begins with one). */
struct fs_push_req *fs_push_req_new(int nrows, size_t size);
void fs_push_req_take(struct fs_push_req *r, struct fs_outbox_row *row);	/* moves a claimed row in */
void fs_push_req_free(struct fs_push_req *r);
void fs_push_attempt(struct fs_push_req *r, int i, const char *error);	/* appended to row i's history */
/* Row i's outcomes: 1 settled, 0 someone else had settled it, -1 a state error. */
int fs_push_row_dead(struct fs_push *p, struct fs_push_req *r, int i, const char *reason);
int fs_push_row_retry(struct fs_push *p, struct fs_push_req *r, int i, const char *error);
int fs_push_row_written(struct fs_push *p, struct fs_push_req *r, int i, jv properties);	/* a CRM took it */
int fs_push_piece_sent(struct fs_push *p, struct fs_push_req *r, const struct fs_push_piece *pc);
void fs_push_dead_local(struct fs_push *p, struct fs_push_req *r, const char *reason);	/* without a request */
char *fs_push_gave_up(struct fs_push *p, struct fs_push_req *r, int i, const char *error);	/* the reason, or NULL */
bool fs_push_transient(long http_status);	/* a failure that may pass */
char *fs_push_answer_error(const struct fs_push_job *j);	/* "HTTP 422: message", malloc'd */
const char *fs_push_mail_label(const char *status);	/* "delivered" -> "Delivered", as a CRM shows it; NULL if unknown */
/* A mail.status event's data as that label, malloc'd: with latest, the piece's latest status instead
 * (never an older one that arrived late); NULL with *why (malloc'd) for an unknown status. */
char *fs_push_status_label(struct fs_push *p, jv data, bool latest, char **why);
void fs_push_day(const char *t, char out[11]);	/* an RFC 3339 time's UTC day, "" when none */
/* A result line: what became of one event (why: the reason, or NULL). */
void fs_push_result(struct fs_push *p, const char *event_id, const char *status, const char *vendor_id,
		    int http_status, int attempts, const char *why);
/* A mail row's last word before it is claimed (an fs_claim check): suppressed, capped, or 0 to claim it. */
int fs_push_check_row(struct fs_state *st, const struct fs_outbox_row *r, void *push);
char *fs_push_enrol_subject(jv data);	/* the job of a job campaign, else the contact */
/* fs-push cancel: the pieces' targets, configured on first use. */
struct fs_push_cancel {
	struct fs_cli *cli;
	struct fs_push **targets;
	int ntargets;
	long cancelled, refused, unreachable;
	bool failed;
};
int fs_push_cancel_piece(const struct fs_piece_row *r, void *cancel);	/* an fs_piece_fn */
int fs_push_cancel_known(const struct fs_piece_row *r, void *cancel);	/* refuses the settled ones */
void fs_push_cancel_free(struct fs_push_cancel *c);
// push_take.c: events into the outbox, and the preview of what a run would do with them.
int fs_push_campaigns_routed(const struct fs_push *p);	/* each campaign's mail target is clear; -1 said */
int fs_push_take_event(struct fs_push *p, jv ev, const char *bytes, size_t len);	/* 0, or -1 a state error */
void fs_push_preview_add(struct fs_push *p, const char *status, const char *event_id, const char *line,
			 const char *reason);
int fs_push_preview(struct fs_push *p);	/* --dry-run of a mail target */
void fs_push_plan(struct fs_push *p);	/* --dry-run of a write-back target */

#endif
