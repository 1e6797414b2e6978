/*
 * The state file's schema.  fs_migrations[i] takes a file from
 * PRAGMA user_version i to i+1.  A new file gets them all when it is made;
 * an existing file at an older version is migrated only by fs-state migrate
 * (lib/state.c), in one transaction, with foreign keys on: a migration that
 * rebuilds a table turns them off itself.  Append; never edit one that has
 * shipped, since files made by it exist.
 * Times are RFC 3339 UTC text ("2026-11-30T01:02:03Z"), so that
 * `sqlite3 fieldsync.db` reads well and text order is time order; hot
 * tables that need arithmetic keep epoch seconds in columns named *_ts.
 */
#include "fieldsync.h"

const char *const fs_migrations[] = {
	/* 0 -> 1: everything, grouped by the command that owns it. */
	/* Shared: cursors, leases, dead letters, the audit trail, contacts. */
	"CREATE TABLE cursors ("
	"  source TEXT NOT NULL, stream TEXT NOT NULL, cursor TEXT NOT NULL,"
	"  run_id TEXT, committed_at TEXT NOT NULL, PRIMARY KEY (source, stream));"
	"CREATE TABLE leases ("
	"  name TEXT PRIMARY KEY, run_id TEXT NOT NULL, pid INTEGER NOT NULL,"
	"  host TEXT NOT NULL, taken_at TEXT NOT NULL, expires_at TEXT NOT NULL);"
	"CREATE TABLE dlq ("
	"  id INTEGER PRIMARY KEY, at TEXT NOT NULL, command TEXT NOT NULL,"
	"  run_id TEXT, source TEXT, event_id TEXT, lineno INTEGER,"
	"  reason TEXT NOT NULL, bytes BLOB NOT NULL, fingerprint TEXT NOT NULL,"
	"  http_status INTEGER, response TEXT, attempts TEXT,"
	"  seen INTEGER NOT NULL DEFAULT 1, last_seen_at TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'replayed')),"
	"  replayed_at TEXT, replay_of INTEGER REFERENCES dlq(id) ON DELETE SET NULL);"
	"CREATE INDEX dlq_by_fingerprint ON dlq(fingerprint, state);"
	"CREATE INDEX dlq_by_state_at ON dlq(state, at);"
	"CREATE TABLE changelog ("
	"  id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL,"
	"  run_id TEXT, event_id TEXT, object TEXT, detail TEXT NOT NULL DEFAULT '{}');"
	"CREATE INDEX changelog_by_at ON changelog(at);"
	"CREATE INDEX changelog_by_kind_at ON changelog(kind, at);"
	"CREATE INDEX changelog_by_event ON changelog(event_id);"
	"CREATE INDEX changelog_by_object ON changelog(object);"
	"CREATE INDEX changelog_by_run ON changelog(run_id);"
	"CREATE TRIGGER changelog_no_update BEFORE UPDATE ON changelog"
	"  BEGIN SELECT RAISE(ABORT, 'changelog is append-only'); END;"
	"CREATE TRIGGER changelog_no_delete BEFORE DELETE ON changelog"
	"  BEGIN SELECT RAISE(ABORT, 'changelog is append-only'); END;"
	"CREATE TABLE contacts ("
	"  id TEXT PRIMARY KEY, source TEXT, version TEXT NOT NULL,"
	"  status TEXT, prev_status TEXT, owner TEXT, email TEXT, phone TEXT,"
	"  first_name TEXT, last_name TEXT, company TEXT, line1 TEXT, line2 TEXT,"
	"  city TEXT, region TEXT, postal_code TEXT, country TEXT,"
	"  updated_at TEXT, seen_at TEXT NOT NULL);"
	"CREATE INDEX contacts_by_email ON contacts(email);"
	/* fs-dedupe: idempotency keys, debounce holds, enrolments, counters, scans.
	 * A key with final = 0 is tentative: it counts only for the run that
	 * wrote it until fs_keys_finalize confirms it (DESIGN.md). */
	/* Keys are appended in the order first seen (lib/dedupe.c says why): k is
	 * a canonical id's 16 bytes or any other id's text; idem_runs has each
	 * writing run's time and TTL; idem_final has the marks fs_keys_finalize
	 * leaves for the next fs-dedupe to fold in.  idem_keys shows them. */
	"CREATE TABLE idem_runs ("
	"  run INTEGER PRIMARY KEY, run_id TEXT, first_seen_ts INTEGER NOT NULL, ttl INTEGER NOT NULL);"
	"CREATE TABLE idem_store ("
	"  seq INTEGER PRIMARY KEY, k NOT NULL, run INTEGER NOT NULL, final INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE idem_final (k NOT NULL, upto INTEGER NOT NULL);"
	"CREATE VIEW idem_keys AS SELECT"
	"  CASE WHEN typeof(s.k) = 'blob' THEN 'evt_' || lower(hex(s.k)) ELSE s.k END AS id,"
	"  r.first_seen_ts, r.first_seen_ts + r.ttl AS expires_ts, r.run_id,"
	"  s.final OR EXISTS (SELECT 1 FROM idem_final f WHERE f.upto >= s.seq AND (f.k = s.k OR"
	"   (typeof(f.k) = 'blob' AND 'evt_' || lower(hex(f.k)) = s.k))) AS final, s.seq"
	"  FROM idem_store s JOIN idem_runs r USING (run);"
	"CREATE TRIGGER idem_keys_insert INSTEAD OF INSERT ON idem_keys BEGIN"
	"  INSERT INTO idem_runs (run_id, first_seen_ts, ttl) VALUES (NEW.run_id, NEW.first_seen_ts,"
	"   coalesce(NEW.expires_ts - NEW.first_seen_ts, 86400));"
	"  INSERT INTO idem_store (k, run, final) VALUES (NEW.id, last_insert_rowid(), coalesce(NEW.final, 0));"
	"  END;"
	"CREATE TRIGGER idem_keys_delete INSTEAD OF DELETE ON idem_keys BEGIN"
	"  DELETE FROM idem_store WHERE seq = OLD.seq; END;"
	"CREATE TABLE debounce ("
	"  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, object TEXT NOT NULL,"
	"  event_id TEXT NOT NULL UNIQUE, line TEXT NOT NULL, received_at TEXT NOT NULL,"
	"  release_at TEXT NOT NULL, released_by TEXT);"
	"CREATE INDEX debounce_by_object ON debounce(kind, object, id);"
	"CREATE TABLE enrolments ("
	"  id INTEGER PRIMARY KEY, contact_id TEXT NOT NULL, goal TEXT NOT NULL,"
	"  campaign TEXT NOT NULL, event_id TEXT NOT NULL UNIQUE, run_id TEXT,"
	"  started_at TEXT NOT NULL, active_until TEXT NOT NULL, final INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX enrolments_by_contact_goal ON enrolments(contact_id, goal, active_until);"
	"CREATE TABLE dedupe_counts ("
	"  day TEXT NOT NULL, what TEXT NOT NULL, n INTEGER NOT NULL,"
	"  PRIMARY KEY (day, what));"
	"CREATE TABLE duplicate_sets ("
	"  scan_id TEXT NOT NULL, members TEXT NOT NULL, score REAL NOT NULL,"
	"  reasons TEXT NOT NULL, at TEXT NOT NULL);"
	"CREATE INDEX duplicate_sets_by_scan ON duplicate_sets(scan_id);"
	/* fs-push: the outbox and the mail pieces with their status history. */
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY, target TEXT NOT NULL, event_id TEXT NOT NULL,"
	"  kind TEXT NOT NULL, contact_id TEXT, campaign TEXT, line TEXT NOT NULL, run_id TEXT,"
	"  state TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (state IN ('pending', 'held', 'sent', 'dead')),"
	"  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT,"
	"  claimed_by TEXT, claim_pid INTEGER, claim_host TEXT, claim_until TEXT,"
	"  requested_at TEXT NOT NULL, enqueued_at TEXT NOT NULL, first_attempt_at TEXT, done_at TEXT,"
	"  vendor_id TEXT, http_status INTEGER, last_error TEXT, history TEXT NOT NULL DEFAULT '[]',"
	"  check_vendor INTEGER NOT NULL DEFAULT 0, last_run_id TEXT, replay_line TEXT,"
	"  UNIQUE (target, event_id));"
	/* outbox_due: a claim walks a target's pending rows in order and stops
	 * after a chunk, whatever the size of the outbox. */
	"CREATE INDEX outbox_due ON outbox(target, state, id);"
	"CREATE INDEX outbox_by_campaign ON outbox(target, state, campaign);"
	"CREATE INDEX outbox_by_claim ON outbox(claimed_by) WHERE claimed_by IS NOT NULL;"
	"CREATE TABLE pieces ("
	"  vendor_id TEXT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, target TEXT NOT NULL,"
	"  contact_id TEXT, campaign TEXT, goal TEXT, format TEXT, owner TEXT,"
	"  status TEXT NOT NULL, requested_at TEXT, queued_at TEXT, mailed_at TEXT,"
	"  delivered_at TEXT, returned_at TEXT, failed_at TEXT, updated_at TEXT NOT NULL);"
	"CREATE INDEX pieces_by_contact ON pieces(contact_id);"
	"CREATE INDEX pieces_by_status ON pieces(status, updated_at);"
	"CREATE TABLE piece_status ("
	"  event_id TEXT PRIMARY KEY, vendor_id TEXT NOT NULL, status TEXT NOT NULL,"
	"  detail TEXT, at TEXT NOT NULL);"
	"CREATE INDEX piece_status_by_piece ON piece_status(vendor_id, at);"
	/* CRM evidence for the follow-up SLA and attribution. */
	"CREATE TABLE activities ("
	"  event_id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, type TEXT,"
	"  owner TEXT, at TEXT NOT NULL);"
	"CREATE INDEX activities_by_contact ON activities(contact_id, at);"
	"CREATE TABLE revenue ("
	"  event_id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, deal_id TEXT,"
	"  amount REAL, currency TEXT, at TEXT NOT NULL);"
	"CREATE INDEX revenue_by_contact ON revenue(contact_id, at);"
	/* fs-hook, fs-health, fs-watchdog. */
	/* A row's body is NULL once fs-pull has drained it, the drain is
	 * committed and the source's inbox_retention has passed; the row (its
	 * delivery id, which tells fs-hook a repeat delivery) goes after
	 * inbox_key_retention, except a source's newest row (lib/inbox.c). */
	"CREATE TABLE inbox ("
	"  id INTEGER PRIMARY KEY, source TEXT NOT NULL, delivery_id TEXT NOT NULL,"
	"  received_at TEXT NOT NULL, body BLOB, drained_at TEXT,"
	"  UNIQUE (source, delivery_id));"
	"CREATE INDEX inbox_undrained ON inbox(source, drained_at, id);"
	/* The rows that still have a body, oldest first: pruning reads only them. */
	"CREATE INDEX inbox_bodies ON inbox(source, received_at) WHERE body IS NOT NULL;"
	/* The last event per source (fs-health, fs-watchdog): without it, each run
	 * reads every stored body. */
	"CREATE INDEX inbox_by_source_received ON inbox(source, received_at);"
	/* fs-pull: what polling a vendor, or draining its webhook inbox, has
	 * emitted, per piece, so that a tracking event goes down the pipe once
	 * whichever path saw it.  Each batch of polled emissions takes a poll
	 * id, which is also the cursor of the checkpoint after it; an event
	 * drained from the inbox has poll_id 0 and the inbox row's id in
	 * inbox_id, which the inbox checkpoint's cursor covers.  Rows past the
	 * committed cursor were never taken downstream and are forgotten
	 * (emitted again) on the next run.  at is when the event was recorded:
	 * those of pieces no longer in flight go after the source's
	 * polled_retention (lib/inbox.c), and so do committed polls rows. */
	"CREATE TABLE polls ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, run_id TEXT, at TEXT NOT NULL);"
	"CREATE TABLE polled_events ("
	"  source TEXT NOT NULL, vendor_id TEXT NOT NULL, event_key TEXT NOT NULL,"
	"  poll_id INTEGER NOT NULL, inbox_id INTEGER, at TEXT NOT NULL,"
	"  PRIMARY KEY (source, vendor_id, event_key)) WITHOUT ROWID;"
	"CREATE INDEX polled_events_by_at ON polled_events(source, at);"
	"CREATE INDEX polled_events_by_poll ON polled_events(source, poll_id);"
	"CREATE INDEX polled_events_by_inbox ON polled_events(source, inbox_id) WHERE inbox_id IS NOT NULL;"
	/* fs-pull: the (id, modified time) pairs a HubSpot search stream has
	 * emitted within its look-back margin, each with the number of the
	 * checkpoint covering it (lib/lookback.c). */
	"CREATE TABLE hubspot_seen ("
	"  source TEXT NOT NULL, stream TEXT NOT NULL, id INTEGER NOT NULL, modified_ms INTEGER NOT NULL,"
	"  batch INTEGER NOT NULL, PRIMARY KEY (source, stream, id, modified_ms)) WITHOUT ROWID;"
	"CREATE INDEX hubspot_seen_by_time ON hubspot_seen(source, stream, modified_ms);"
	"CREATE TABLE requests ("
	"  id INTEGER PRIMARY KEY, at TEXT NOT NULL, source TEXT NOT NULL,"
	"  status INTEGER NOT NULL, bytes INTEGER NOT NULL, latency_us INTEGER NOT NULL,"
	"  reason TEXT);"
	"CREATE INDEX requests_by_source_at ON requests(source, at);"
	"CREATE TABLE source_modes ("
	"  source TEXT PRIMARY KEY, mode TEXT NOT NULL CHECK (mode IN ('webhook', 'polling')),"
	"  changed_at TEXT NOT NULL, good_streak INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE alerts ("
	"  id INTEGER PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acked', 'resolved')),"
	"  opened_at TEXT NOT NULL, last_notified_at TEXT, notify_count INTEGER NOT NULL DEFAULT 0,"
	"  acked_by TEXT, acked_at TEXT, note TEXT, resolved_at TEXT, detail TEXT NOT NULL DEFAULT '{}');"
	"CREATE INDEX alerts_by_state ON alerts(state, rule, subject);"
	"CREATE TABLE holds ("
	"  id INTEGER PRIMARY KEY, scope TEXT NOT NULL CHECK (scope IN ('target', 'campaign')),"
	"  name TEXT NOT NULL, alert_id INTEGER REFERENCES alerts(id),"
	"  since TEXT NOT NULL, lifted_at TEXT);"
	"CREATE INDEX holds_active ON holds(scope, name, lifted_at);"
	/* fs-report: indexes and summary tables kept by triggers, so that every
	 * report reads a window of rows, never the whole history. */
	"CREATE INDEX changelog_by_contact ON changelog(json_extract(detail, '$.contact_id'), at)"
	"  WHERE json_extract(detail, '$.contact_id') IS NOT NULL;"
	"CREATE INDEX changelog_by_campaign ON changelog(json_extract(detail, '$.campaign'), at)"
	"  WHERE json_extract(detail, '$.campaign') IS NOT NULL;"
	"CREATE INDEX pieces_by_delivered ON pieces(delivered_at) WHERE delivered_at IS NOT NULL;"
	"CREATE INDEX pieces_by_start ON pieces("
	"  coalesce(requested_at, queued_at, mailed_at, delivered_at, returned_at, failed_at, updated_at));"
	"CREATE INDEX outbox_retrying ON outbox(next_attempt_at) WHERE state = 'pending' AND attempts > 0;"
	"CREATE INDEX inbox_by_received ON inbox(received_at);"
	"CREATE INDEX alerts_by_opened ON alerts(opened_at);"
	"CREATE INDEX duplicate_sets_by_at ON duplicate_sets(at, scan_id);"
	"CREATE TABLE request_hours ("
	"  hour TEXT NOT NULL, source TEXT NOT NULL, ok INTEGER NOT NULL DEFAULT 0,"
	"  failed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (hour, source)) WITHOUT ROWID;"
	"CREATE TRIGGER request_hours_count AFTER INSERT ON requests BEGIN"
	"  INSERT INTO request_hours (hour, source, ok, failed)"
	"  VALUES (substr(NEW.at, 1, 13), NEW.source, NEW.status BETWEEN 200 AND 299,"
	"          NOT (NEW.status BETWEEN 200 AND 299))"
	"  ON CONFLICT (hour, source) DO UPDATE SET ok = ok + excluded.ok, failed = failed + excluded.failed;"
	"  END;",
	/* 1 -> 2: the waiting rows alone, for fs-state info (which a monitoring
	 * job may run every minute): without these it reads every outbox row ever
	 * sent and every inbox row kept, to find the few still waiting. */
	"CREATE INDEX outbox_waiting ON outbox(target, state, enqueued_at) WHERE state IN ('pending', 'held');"
	"CREATE INDEX inbox_waiting ON inbox(source, received_at) WHERE drained_at IS NULL;",
	/* 2 -> 3: the spine holds under concurrency (issue 13). */
	/* One active enrolment per subject (a contact; a job for job campaigns)
	 * and goal.  fs-push claims it with one upsert in the transaction that
	 * puts the piece in the outbox, so that whatever runs at once, one event
	 * holds it until active_until; enrolments keeps the history.  Tentative
	 * enrolments are gone: one whose event reached an outbox was final in
	 * effect, the others never will be. */
	"CREATE TABLE active_enrolments ("
	"  subject TEXT NOT NULL, goal TEXT NOT NULL, event_id TEXT NOT NULL, campaign TEXT NOT NULL,"
	"  started_at TEXT NOT NULL, active_until TEXT NOT NULL, PRIMARY KEY (subject, goal)) WITHOUT ROWID;"
	"UPDATE enrolments SET final = 1 WHERE final = 0 AND event_id IN (SELECT event_id FROM outbox);"
	"DELETE FROM enrolments WHERE final = 0;"
	"INSERT INTO active_enrolments (subject, goal, event_id, campaign, started_at, active_until)"
	"  SELECT contact_id, goal, event_id, campaign, started_at, max(active_until) FROM enrolments"
	"  GROUP BY contact_id, goal;"
	/* Debounce holds belong to the pipeline of their source (a hold is
	 * released by an fs-dedupe that reads that source, never by another
	 * pipeline's), collapse only with holds of the same key (NULL: never),
	 * and say who released them, so that only a dead releaser's holds are
	 * released again. */
	"ALTER TABLE debounce ADD COLUMN source TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE debounce ADD COLUMN collapse TEXT;"
	"ALTER TABLE debounce ADD COLUMN released_at TEXT;"
	"ALTER TABLE debounce ADD COLUMN released_pid INTEGER;"
	"ALTER TABLE debounce ADD COLUMN released_host TEXT;"
	"UPDATE debounce SET source = coalesce(json_extract(line, '$.source'), ''),"
	"  collapse = CASE kind WHEN 'contact.changed' THEN object WHEN 'job.changed' THEN object"
	"   WHEN 'mail.requested' THEN object || char(9) || coalesce(json_extract(line, '$.data.campaign'), '') END;"
	"CREATE INDEX debounce_by_source ON debounce(source, released_by, collapse, id);"
	/* How many times a row was claimed: a row claimed again without an
	 * answer recorded may have reached the vendor, which is asked first. */
	"ALTER TABLE outbox ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;",
	/* 3 -> 4: campaigns fire when a value enters their trigger (issue 15). */
	/* A contact keeps the version it had before this one (prev_version,
	 * NULL when this one was its first sight) and that version's fields as
	 * JSON (prev), so that the same version seen again answers as it did;
	 * do_not_mail is the CRM's flag (suppress_property), tags a JSON array.
	 * A row of an older file knew its previous status only. */
	"ALTER TABLE contacts ADD COLUMN do_not_mail INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE contacts ADD COLUMN tags TEXT;"
	"ALTER TABLE contacts ADD COLUMN prev_version TEXT;"
	"ALTER TABLE contacts ADD COLUMN prev TEXT;"
	"UPDATE contacts SET prev_version = '', prev = json_object('status', prev_status)"
	"  WHERE prev_status IS NOT NULL;"
	/* Jobs (job.changed: field-service jobs, HubSpot deals) as contacts are. */
	"CREATE TABLE jobs ("
	"  source TEXT NOT NULL, id TEXT NOT NULL, contact_id TEXT, version TEXT NOT NULL,"
	"  status TEXT, type TEXT, completed_at TEXT, total REAL, currency TEXT,"
	"  line1 TEXT, line2 TEXT, city TEXT, region TEXT, postal_code TEXT, country TEXT, tags TEXT,"
	"  prev_version TEXT, prev TEXT, updated_at TEXT, seen_at TEXT NOT NULL,"
	"  PRIMARY KEY (source, id));"
	"CREATE INDEX jobs_by_contact ON jobs(contact_id);"
	/* Each campaign's first run: first sight fires only within its backfill
	 * before it, and only a version seen after it fires at all.  notice is
	 * what fs-normalize last said about checking the campaign, said once. */
	"CREATE TABLE campaigns ("
	"  campaign TEXT PRIMARY KEY, first_run_at TEXT NOT NULL, first_run_id TEXT, notice TEXT);"
	/* A source's fields as fs-pull --describe listed them, and the values
	 * of those that have a fixed set (options, a JSON array): what campaign
	 * triggers are checked against. */
	"CREATE TABLE source_fields ("
	"  source TEXT NOT NULL, object TEXT NOT NULL, name TEXT NOT NULL, type TEXT, label TEXT,"
	"  options TEXT, mapped INTEGER NOT NULL DEFAULT 0, described_at TEXT NOT NULL,"
	"  PRIMARY KEY (source, object, name)) WITHOUT ROWID;"
	/* The mail requests fs-normalize asked for, until the end of the
	 * pipeline has taken them (an enrolment or a changelog row names the
	 * event): a request a dead stage lost, whose contact changed again
	 * before the pipeline re-read it, is asked for again then. */
	"CREATE TABLE entries ("
	"  event_id TEXT PRIMARY KEY, source TEXT NOT NULL, object TEXT NOT NULL, campaign TEXT NOT NULL,"
	"  line TEXT NOT NULL, at TEXT NOT NULL, run_id TEXT);"
	"CREATE INDEX entries_by_object ON entries(source, object);"
	"CREATE INDEX entries_by_at ON entries(at);",
	/* 4 -> 5: campaigns' brakes (issue 15).  An outbox row may end
	 * suppressed (a do-not-mail list, the CRM's flag, a return) or
	 * cancelled (withdrawn before it went, or with its piece), with the
	 * reason; SQLite changes a CHECK only by making the table again.  A
	 * mail row keeps the price of its format when it was queued (NULL: no
	 * [target] price), for the cost of what was sent, held or spared. */
	"CREATE TABLE outbox4 ("
	"  id INTEGER PRIMARY KEY, target TEXT NOT NULL, event_id TEXT NOT NULL,"
	"  kind TEXT NOT NULL, contact_id TEXT, campaign TEXT, line TEXT NOT NULL, run_id TEXT,"
	"  state TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (state IN ('pending', 'held', 'sent', 'dead', 'suppressed', 'cancelled')),"
	"  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT,"
	"  claimed_by TEXT, claim_pid INTEGER, claim_host TEXT, claim_until TEXT,"
	"  requested_at TEXT NOT NULL, enqueued_at TEXT NOT NULL, first_attempt_at TEXT, done_at TEXT,"
	"  vendor_id TEXT, http_status INTEGER, last_error TEXT, history TEXT NOT NULL DEFAULT '[]',"
	"  check_vendor INTEGER NOT NULL DEFAULT 0, last_run_id TEXT, replay_line TEXT,"
	"  claims INTEGER NOT NULL DEFAULT 0, reason TEXT, price REAL,"
	"  UNIQUE (target, event_id));"
	"INSERT INTO outbox4 (id, target, event_id, kind, contact_id, campaign, line, run_id, state, attempts,"
	"  next_attempt_at, claimed_by, claim_pid, claim_host, claim_until, requested_at, enqueued_at,"
	"  first_attempt_at, done_at, vendor_id, http_status, last_error, history, check_vendor, last_run_id,"
	"  replay_line, claims) SELECT id, target, event_id, kind, contact_id, campaign, line, run_id, state,"
	"  attempts, next_attempt_at, claimed_by, claim_pid, claim_host, claim_until, requested_at, enqueued_at,"
	"  first_attempt_at, done_at, vendor_id, http_status, last_error, history, check_vendor, last_run_id,"
	"  replay_line, claims FROM outbox;"
	"DROP TABLE outbox;"
	"ALTER TABLE outbox4 RENAME TO outbox;"
	"CREATE INDEX outbox_due ON outbox(target, state, id);"
	"CREATE INDEX outbox_by_campaign ON outbox(target, state, campaign);"
	"CREATE INDEX outbox_by_claim ON outbox(claimed_by) WHERE claimed_by IS NOT NULL;"
	"CREATE INDEX outbox_retrying ON outbox(next_attempt_at) WHERE state = 'pending' AND attempts > 0;"
	"CREATE INDEX outbox_waiting ON outbox(target, state, enqueued_at) WHERE state IN ('pending', 'held');"
	/* The do-not-mail list (fs-suppress): a contact id, or an address in
	 * its normalised form (lib/address.c), each once. */
	"CREATE TABLE suppressions ("
	"  id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('contact', 'address')),"
	"  value TEXT NOT NULL, shown TEXT NOT NULL, reason TEXT, origin TEXT NOT NULL,"
	"  added_at TEXT NOT NULL, run_id TEXT, UNIQUE (kind, value));"
	/* A piece asked for a later send date can still be cancelled until then. */
	"ALTER TABLE pieces ADD COLUMN send_date TEXT;"
	"ALTER TABLE pieces ADD COLUMN cancelled_at TEXT;"
	/* A campaign's pieces of one day, for its cap. */
	"CREATE INDEX pieces_by_campaign ON pieces(campaign, queued_at);",
	/* 5 -> 6: owners by name in the reports (issue 16).  fs-pull keeps the
	 * names HubSpot's owners API gives (name: first and last, else the
	 * email; NULL when it has neither) and keeps an owner once seen, so
	 * that an owner archived since still reads as a name on old pieces.
	 * owner_refresh says when a source's owners were last fetched (NULL:
	 * never yet) and last asked for, so that a failing owners endpoint is
	 * asked again after an hour, not on every run. */
	"CREATE TABLE owners ("
	"  id TEXT PRIMARY KEY, source TEXT NOT NULL, name TEXT, email TEXT,"
	"  archived INTEGER NOT NULL DEFAULT 0, seen_at TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE owner_refresh ("
	"  source TEXT PRIMARY KEY, refreshed_at TEXT, tried_at TEXT NOT NULL) WITHOUT ROWID;",
	/* 6 -> 7: a replay's line belongs to the fs-push that read it.  Any
	 * fs-push looked at every waiting line, and one running beside a replay
	 * could look before fs-dlq had marked its entry replayed, take the line
	 * for a mere repeat and drop it: the entry replayed, the row dead, no
	 * piece.  Only the run that read the line decides now, after its end of
	 * input, when the mark is made. */
	"ALTER TABLE outbox ADD COLUMN replay_run TEXT;",
	/* 7 -> 8: an accounting source's customers matched to CRM contacts
	 * (lib/customers.c).  A row keeps what the match was made on, so a
	 * customer with none (contact_id NULL, reason 'none') can be matched
	 * again when its contact arrives; reason is email, phone, address or
	 * none, and candidates how many contacts that rule found.  A revenue
	 * row remembers its source, whose customer its contact_id may be; rows
	 * from before have none and are read as they were.  The matching's
	 * indexes on contacts (phone, postal code) are made by lib/customers.c
	 * at the first customer, not here: they cost every contact write a
	 * third more, which an installation with no accounting source should
	 * not pay. */
	"CREATE TABLE customer_matches ("
	"  source TEXT NOT NULL, customer_id TEXT NOT NULL, version TEXT NOT NULL, name TEXT,"
	"  email TEXT, phone TEXT, line1 TEXT, line2 TEXT, city TEXT, region TEXT, postal_code TEXT,"
	"  contact_id TEXT, reason TEXT NOT NULL, candidates INTEGER NOT NULL, matched_at TEXT NOT NULL,"
	"  PRIMARY KEY (source, customer_id)) WITHOUT ROWID;"
	"CREATE INDEX customer_matches_by_contact ON customer_matches(contact_id);"
	"ALTER TABLE revenue ADD COLUMN source TEXT;",
	/* 8 -> 9: what a Google Sheets source's polls saw (lib/vendors/sheets.c):
	 * its header and, by id, each row's version, first-seen time, row
	 * number and values (JSON), a deleted one kept as a tombstone.  The
	 * committed cursor names the snapshot the next poll is compared with;
	 * the newest other one keeps a crashed poll's first-seen times. */
	"CREATE TABLE sheet_snapshots ("
	"  source TEXT NOT NULL, snapshot TEXT NOT NULL, taken_at TEXT NOT NULL,"
	"  header TEXT NOT NULL, rows TEXT NOT NULL, PRIMARY KEY (source, snapshot));",
};

const int fs_nmigrations = sizeof fs_migrations / sizeof fs_migrations[0];
