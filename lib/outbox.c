/*
 * fs-push's state: the outbox of deliveries (enqueue, holds, claims with
 * leases, attempts, sent / dead), the mail pieces with their status
 * history, and the CRM evidence fs-report reads (activities, revenue).
 *
 * A row's life: 'pending' (new, or waiting for its next attempt), 'held'
 * while a watchdog hold covers its target or campaign, then 'sent' or
 * 'dead'.  A run claims the due rows it is about to send (claimed_by,
 * claim_pid, claim_host, claim_until) in a committed transaction before any
 * request goes out, so overlapping runs never send one row twice; a claim
 * whose holder process has died, or whose lease has run out, is freed by
 * the next run that looks.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

static void
now_text(char out[21])
{
	fs_time_format(fs_now(), out);
}

void
fs_outbox_row_free(struct fs_outbox_row *r)
{
	free(r->event_id);
	free(r->kind);
	free(r->contact_id);
	free(r->campaign);
	free(r->line);
	free(r->requested_at);
	free(r->enqueued_at);
	free(r->first_attempt_at);
	free(r->history);
	memset(r, 0, sizeof *r);
}

int
fs_outbox_enqueue(struct fs_state *st, const struct fs_outbox_new *n)
{
	char now[21];
	int64_t changed;

	now_text(now);
	changed = fs_state_changes(st,
	    "INSERT INTO outbox (target, event_id, kind, contact_id, campaign, line, run_id,"
	    " requested_at, enqueued_at, price) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, nullif(?, -1.0))"
	    " ON CONFLICT (target, event_id) DO NOTHING", "ssssstsssd", n->target, n->event_id, n->kind,
	    n->contact_id, n->campaign, n->line, n->len, n->run_id, n->requested_at ? n->requested_at : now, now,
	    n->price < 0 ? -1.0 : n->price);
	if (changed != 0)
		return changed < 0 ? -1 : 1;
	/* Already there: a no-op, unless the row is dead and this is a DLQ
	 * replay.  Which it is can only be told once fs-dlq has marked its entry
	 * replayed, after it wrote the line, so the line waits beside the row,
	 * with this run's id, until this run's fs_outbox_replays looks (after
	 * its end of input). */
	changed = fs_state_changes(st, "UPDATE outbox SET replay_line = ?, replay_run = ?"
				   " WHERE target = ? AND event_id = ? AND state = 'dead'",
				   "tsss", n->line, n->len, n->run_id, n->target, n->event_id);
	return changed < 0 ? -1 : changed > 0 ? 2 : 0;
}

int
fs_outbox_has(struct fs_state *st, const char *target, const char *event_id)
{
	int64_t n;

	return fs_state_int(st, &n, "SELECT count(*) FROM outbox WHERE target = ? AND event_id = ?", "ss",
			    target, event_id) != 0 ? -1 : n > 0;
}

int
fs_outbox_replays(struct fs_state *st, const char *target, const char *run_id, long *revived)
{
	fs_stmt *q;
	char now[21];
	struct {
		int64_t id;
		char *event_id, *contact_id;
		bool replay;
	} *r = NULL;
	int n = 0, rc, ok = 0;

	*revived = 0;
	now_text(now);
	if (fs_state_begin(st) != 0)
		return -1;
	/* A replay is what fs-dlq replay marked so after the row died; the
	 * absence of an open entry proves nothing (an operator may have purged
	 * it, letting the piece die), so only that mark revives a row.  Lines
	 * other runs read are theirs: their entries may not be marked yet. */
	q = fs_state_query(st,
	    "SELECT id, event_id, contact_id, EXISTS (SELECT 1 FROM dlq WHERE dlq.event_id = outbox.event_id"
	    "   AND dlq.command = 'fs-push' AND dlq.state = 'replayed' AND dlq.replayed_at >= outbox.done_at)"
	    " FROM outbox WHERE target = ? AND state = 'dead' AND replay_line IS NOT NULL AND replay_run = ?", "ss",
	    target, run_id);
	if (q == NULL)
		goto fail;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		r = fs_xrealloc(r, (size_t)(n + 1) * sizeof *r);
		r[n].id = fs_col_int64(q, 0);
		r[n].event_id = fs_col_dup(q, 1);
		r[n].contact_id = fs_col_dup(q, 2);
		r[n].replay = fs_col_int(q, 3) != 0;
		n++;
	}
	if (rc < 0)
		ok = -1;
	for (int i = 0; i < n && ok == 0; i++) {
		/* A replay goes back in line with the (maybe repaired) line, and
		 * the vendor is asked first whether it already has the piece; a
		 * mere repeat of a dead event changes nothing. */
		if ((r[i].replay
		     ? fs_state_run(st, "UPDATE outbox SET state = 'pending', line = replay_line, replay_line = NULL, replay_run = NULL,"
				    " run_id = ?, attempts = 0, next_attempt_at = NULL, enqueued_at = ?,"
				    " first_attempt_at = NULL, done_at = NULL, last_run_id = NULL, check_vendor = 1,"
				    " history = '[]' WHERE id = ?", "ssi", run_id, now, r[i].id)
		     : fs_state_run(st, "UPDATE outbox SET replay_line = NULL, replay_run = NULL WHERE id = ?", "i", r[i].id)) != 0) {
			ok = -1;
			break;
		}
		if (r[i].replay) {
			jv detail = jv_object_set(jv_object(), jv_string("target"), jv_string(target));
			char *object = r[i].contact_id ? fs_xasprintf("contact:%s", r[i].contact_id) : NULL;

			ok = fs_changelog(st, "send.replay", run_id, r[i].event_id, object, detail);
			free(object);
			(*revived)++;
		}
	}
	for (int i = 0; i < n; i++) {
		free(r[i].event_id);
		free(r[i].contact_id);
	}
	free(r);
	if (ok != 0)
		goto fail;
	return fs_state_commit(st);
fail:
	fs_state_rollback(st);
	return -1;
}

int
fs_outbox_state(struct fs_state *st, const char *target, const char *event_id, char **state)
{
	fs_stmt *q = fs_state_query(st, "SELECT state FROM outbox WHERE target = ? AND event_id = ?",
					 "ss", target, event_id);

	*state = NULL;
	if (q == NULL)
		return -1;
	return fs_state_get_text(st, q, state) < 0 ? -1 : 0;
}

static int free_dead_claims(struct fs_state *st, const char *target, const char *run_id);

/* The send.held row of the mail row q returned (event_id, attempts, kind, campaign, contact_id, price). */
static int
held_log(struct fs_state *st, const char *target, fs_stmt *q, const char *run_id)
{
	const char *campaign = fs_col_text(q, 3), *contact = fs_col_text(q, 4);
	char *object = contact ? fs_xasprintf("contact:%s", contact) : NULL;
	jv d = jv_object_set(jv_object(), jv_string("target"), jv_string(target));
	int rc;

	d = jv_object_set(d, jv_string("campaign"), campaign ? jv_string(campaign) : jv_null());
	d = jv_object_set(d, jv_string("contact_id"), contact ? jv_string(contact) : jv_null());
	d = fs_detail_price(d, fs_col_double(q, 5));
	rc = fs_changelog(st, "send.held", run_id, fs_col_text(q, 0), object, d);
	free(object);
	return rc;
}

/* Moves rows between 'pending' and 'held'; fn hears of each row newly held. */
static int
set_held(struct fs_state *st, const char *target, const char *campaign, bool any_campaign, bool hold,
	 const char *run_id, fs_outbox_held_fn fn, void *ctx, long *count)
{
	/* Four statements, not one with an OR, so that each one uses the index. */
	/* A row being sent is not held: its answer is recorded as it comes,
	 * and a row still pending then is held by the next look. */
	static const char *const sql[2][2] = {
		{"UPDATE outbox SET state = 'pending' WHERE target = ?1 AND state = 'held' AND campaign IS ?2"
		 " RETURNING event_id, attempts",
		 "UPDATE outbox SET state = 'pending' WHERE target = ?1 AND state = 'held' RETURNING event_id, attempts"},
		{"UPDATE outbox SET state = 'held' WHERE target = ?1 AND state = 'pending' AND campaign IS ?2"
		 " AND claimed_by IS NULL RETURNING event_id, attempts, kind, campaign, contact_id, coalesce(price, -1)",
		 "UPDATE outbox SET state = 'held' WHERE target = ?1 AND state = 'pending' AND claimed_by IS NULL"
		 " RETURNING event_id, attempts, kind, campaign, contact_id, coalesce(price, -1)"},
	};
	fs_stmt *q = fs_state_query(st, sql[hold][any_campaign], any_campaign ? "s" : "ss", target, campaign);
	int rc;

	*count = 0;
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		(*count)++;
		if (!hold)
			continue;
		/* A mail piece held has its changelog row (and price): the
		 * report counts held pieces and their cost per campaign. */
		if (strcmp(fs_col_text(q, 2), "mail.requested") == 0 &&
		    held_log(st, target, q, run_id) != 0) {
			fs_stmt_reset(q);
			return -1;
		}
		if (fn)
			fn(fs_col_text(q, 0), fs_col_int(q, 1), ctx);
	}
	return rc;
}

static int
hold_log(struct fs_state *st, const char *kind, const char *scope, const char *name, const char *target,
	 long rows, const char *run_id)
{
	jv d = jv_object();

	d = jv_object_set(d, jv_string("scope"), jv_string(scope));
	d = jv_object_set(d, jv_string("name"), jv_string(name));
	d = jv_object_set(d, jv_string("target"), jv_string(target));
	d = jv_object_set(d, jv_string("rows"), jv_number((double)rows));
	return fs_changelog(st, kind, run_id, NULL, NULL, d);
}

/* The names of the campaigns under an active hold (few: a person lifts them). */
static int
held_campaigns(struct fs_state *st, char ***names, int *n)
{
	fs_stmt *q = fs_state_prepare(st,
	    "SELECT DISTINCT name FROM holds WHERE scope = 'campaign' AND lifted_at IS NULL ORDER BY name");
	int rc;

	*names = NULL;
	*n = 0;
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		*names = fs_xrealloc(*names, (size_t)(*n + 1) * sizeof **names);
		(*names)[(*n)++] = fs_col_dup(q, 0);
	}
	return rc;
}

static void
free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * Called before each chunk is claimed, so it must not cost in proportion to
 * the outbox: it reads the holds, holds the pending rows they cover (through
 * the (target, state, campaign) index) and looks only at rows already held.
 */
int
fs_outbox_apply_holds(struct fs_state *st, const char *target, bool campaigns, const char *run_id,
		      fs_outbox_held_fn fn, void *ctx, struct fs_outbox_holds *h)
{
	fs_stmt *q;
	char **names = NULL, **held_now = NULL;
	int n = 0, nheld = 0, rc, held;
	long count;
	int64_t all;

	memset(h, 0, sizeof *h);
	if (fs_state_begin(st) != 0)
		return -1;
	if (free_dead_claims(st, target, run_id) != 0 || (held = fs_hold_active(st, "target", target)) < 0)
		goto fail;
	if (held) {
		if (set_held(st, target, NULL, true, true, run_id, fn, ctx, &count) != 0)
			goto fail;
		if (count > 0 && hold_log(st, "hold.wait", "target", target, target, count, run_id) != 0)
			goto fail;
		h->newly_held = count;
		h->target_held = true;
	} else {
		/* Campaign holds cover mail targets only. */
		if (campaigns && held_campaigns(st, &names, &n) != 0)
			goto fail;
		for (int i = 0; i < n; i++) {
			if (set_held(st, target, names[i], false, true, run_id, fn, ctx, &count) != 0)
				goto fail;
			if (count > 0 && hold_log(st, "hold.wait", "campaign", names[i], target, count, run_id) != 0)
				goto fail;
			h->newly_held += count;
			if (h->held_campaign[0] == '\0')
				snprintf(h->held_campaign, sizeof h->held_campaign, "%s", names[i]);
		}
		/* Rows held whose hold is gone go back in line. */
		q = fs_state_query(st, "SELECT DISTINCT campaign FROM outbox WHERE target = ? AND state = 'held'",
				   "s", target);
		if (q == NULL)
			goto fail;
		while ((rc = fs_state_step_row(st, q)) == 1) {
			held_now = fs_xrealloc(held_now, (size_t)(nheld + 1) * sizeof *held_now);
			held_now[nheld++] = fs_col_dup(q, 0);
		}
		if (rc < 0)
			goto fail;
		for (int i = 0; i < nheld; i++) {
			bool still = false;

			for (int k = 0; k < n && !still; k++)
				still = held_now[i] && strcmp(held_now[i], names[k]) == 0;
			if (still)
				continue;
			if (set_held(st, target, held_now[i], false, false, run_id, fn, ctx, &count) != 0)
				goto fail;
			if (count > 0 && hold_log(st, "hold.resume", "target", target, target, count, run_id) != 0)
				goto fail;
			h->resumed += count;
		}
	}
	q = fs_state_query(st, "SELECT count(*) FROM outbox WHERE target = ? AND state = 'held'", "s", target);
	if (q == NULL || fs_state_get_int(st, q, &all) < 0)
		goto fail;
	h->held = (long)all;
	free_names(names, n);
	free_names(held_now, nheld);
	return fs_state_commit(st);
fail:
	free_names(names, n);
	free_names(held_now, nheld);
	fs_state_rollback(st);
	return -1;
}

static bool
same_host(const char *host)
{
	char me[256] = "";

	gethostname(me, sizeof me - 1);
	return host && strcmp(host, me) == 0;
}

static bool
holder_dead(const char *host, long pid)
{
	if (!same_host(host) || pid <= 0)
		return false;	/* cannot tell: trust the lease */
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Frees the claims of runs that died (same host) or whose lease ran out. */
static int
free_dead_claims(struct fs_state *st, const char *target, const char *run_id)
{
	fs_stmt *q = fs_state_query(st,
	    "SELECT claimed_by, max(claim_pid), max(claim_host), max(claim_until), count(*)"
	    " FROM outbox INDEXED BY outbox_by_claim WHERE claimed_by IS NOT NULL AND claimed_by != ? AND target = ?"
	    " AND state IN ('pending', 'held') GROUP BY claimed_by", "ss", run_id, target);
	struct dead {
		char *run;
		long pid, rows;
		bool expired;
	} *dead = NULL;
	int n = 0, rc, ok = 0;
	char now[21];

	if (q == NULL)
		return -1;
	now_text(now);
	while ((rc = fs_state_step_row(st, q)) == 1) {
		const char *until = fs_col_text(q, 3);
		long pid = (long)fs_col_int64(q, 1);
		bool expired = until == NULL || strcmp(until, now) <= 0;

		if (expired || holder_dead(fs_col_text(q, 2), pid)) {
			dead = fs_xrealloc(dead, (size_t)(n + 1) * sizeof *dead);
			dead[n] = (struct dead){fs_col_dup(q, 0), pid, (long)fs_col_int64(q, 4), expired};
			n++;
		}
	}
	if (rc < 0)
		ok = -1;
	for (int i = 0; i < n && ok == 0; i++) {
		jv d;

		if (fs_state_run(st, "UPDATE outbox SET claimed_by = NULL, claim_pid = NULL, claim_host = NULL,"
				 " claim_until = NULL WHERE claimed_by = ? AND state IN ('pending', 'held')",
				 "s", dead[i].run) != 0) {
			ok = -1;
			break;
		}
		d = jv_object();
		d = jv_object_set(d, jv_string("target"), jv_string(target));
		d = jv_object_set(d, jv_string("from_run"), jv_string(dead[i].run));
		d = jv_object_set(d, jv_string("pid"), jv_number((double)dead[i].pid));
		d = jv_object_set(d, jv_string("rows"), jv_number((double)dead[i].rows));
		d = jv_object_set(d, jv_string("why"), jv_string(dead[i].expired ? "lease expired" : "holder died"));
		ok = fs_changelog(st, "outbox.reclaim", run_id, NULL, NULL, d);
	}
	for (int i = 0; i < n; i++)
		free(dead[i].run);
	free(dead);
	return ok;
}

int
fs_outbox_claim(struct fs_state *st, const struct fs_claim *c, struct fs_outbox_row **rows)
{
	fs_stmt *q;
	char now[21], until[21], host[256] = "";
	int n = 0, kept = 0, rc;

	*rows = NULL;
	now_text(now);
	fs_time_format(c->lease_until, until);
	gethostname(host, sizeof host - 1);
	if (fs_state_begin(st) != 0)
		return -1;
	if (free_dead_claims(st, c->target, c->run_id) != 0)
		goto fail;
	/* A hold set since the last look at holds is obeyed here, in the
	 * transaction that claims: no row under a hold is claimed. */
	q = fs_state_query(st,
	    "SELECT id, event_id, kind, contact_id, campaign, line, requested_at, enqueued_at,"
	    " first_attempt_at, history, attempts, check_vendor, claims, coalesce(price, -1) FROM outbox INDEXED BY outbox_due"
	    " WHERE target = ?1 AND state = 'pending' AND claimed_by IS NULL"
	    " AND (next_attempt_at IS NULL OR next_attempt_at <= ?2)"
	    " AND (last_run_id IS NULL OR last_run_id != ?3)"
	    " AND NOT EXISTS (SELECT 1 FROM holds WHERE lifted_at IS NULL AND (scope = 'target' AND name = ?1"
	    "  OR ?5 AND scope = 'campaign' AND name = outbox.campaign))"
	    " ORDER BY id LIMIT ?4",
	    "sssii", c->target, now, c->run_id, (int64_t)c->limit, (int64_t)c->campaigns);
	if (q == NULL)
		goto fail;
	*rows = fs_xmalloc((size_t)(c->limit > 0 ? c->limit : 1) * sizeof **rows);
	while ((rc = fs_state_step_row(st, q)) == 1) {
		struct fs_outbox_row *r = &(*rows)[n++];

		r->id = fs_col_int64(q, 0);
		r->event_id = fs_col_dup(q, 1);
		r->kind = fs_col_dup(q, 2);
		r->contact_id = fs_col_dup(q, 3);
		r->campaign = fs_col_dup(q, 4);
		r->line = fs_col_dup(q, 5);
		r->requested_at = fs_col_dup(q, 6);
		r->enqueued_at = fs_col_dup(q, 7);
		r->first_attempt_at = fs_col_dup(q, 8);
		r->history = fs_col_dup(q, 9);
		r->attempts = fs_col_int(q, 10);
		r->check_vendor = fs_col_int(q, 11) != 0;
		r->claims = fs_col_int(q, 12) + 1;
		r->price = fs_col_double(q, 13);
		if (r->first_attempt_at == NULL)
			r->first_attempt_at = fs_xstrdup(now);
	}
	if (rc < 0)
		goto fail;
	/* Each row in order: the caller's last word (a list it is now on, a cap
	 * reached today), then the claim, one row at a time, so that what it
	 * counts includes the rows claimed before it.  The first attempt's time
	 * is stored before the request goes out: a retry a day later must know
	 * the vendor's idempotency window has passed even when the first run
	 * died before it heard back. */
	for (int i = 0; i < n; i++) {
		struct fs_outbox_row *r = &(*rows)[i];
		int dealt = c->check ? c->check(st, r, c->ctx) : 0;

		if (dealt < 0)
			goto fail;
		if (dealt > 0) {
			fs_outbox_row_free(r);
			continue;
		}
		/* A deferral's reason (a cap) ends with it: a row claimed again
		 * that then retries is retrying, not capped (fs-health). */
		if (fs_state_run(st,
		    "UPDATE outbox SET claimed_by = ?, claim_pid = ?, claim_host = ?, claim_until = ?,"
		    " first_attempt_at = coalesce(first_attempt_at, ?), last_run_id = ?, claims = claims + 1,"
		    " reason = NULL WHERE id = ?",
		    "sissssi", c->run_id, (int64_t)getpid(), host, until, now, c->run_id, r->id) != 0)
			goto fail;
		if (kept != i)
			(*rows)[kept] = *r;
		kept++;
	}
	if (fs_state_commit(st) != 0)
		goto fail2;
	if (kept == 0) {	/* no array for the caller to free */
		free(*rows);
		*rows = NULL;
	}
	/* None to send yet some dealt with: the caller claims again. */
	return kept == 0 && n > 0 ? FS_CLAIM_AGAIN : kept;
fail:
	fs_state_rollback(st);
fail2:
	for (int i = 0; i < n; i++)
		fs_outbox_row_free(&(*rows)[i]);
	free(*rows);
	*rows = NULL;
	return -1;
}

int
fs_outbox_settle(struct fs_state *st, int64_t id, const char *state, const char *reason)
{
	char now[21];
	int64_t n;

	now_text(now);
	n = fs_state_changes(st,
	    "UPDATE outbox SET state = ?, reason = ?, done_at = ?, next_attempt_at = NULL, claimed_by = NULL,"
	    " claim_pid = NULL, claim_host = NULL, claim_until = NULL WHERE id = ? AND state IN ('pending', 'held')",
	    "sssi", state, reason, now, id);
	return n < 0 ? -1 : n > 0;
}

int
fs_outbox_defer(struct fs_state *st, int64_t id, fs_time until, const char *reason)
{
	char at[21];

	fs_time_format(until, at);
	return fs_state_run(st, "UPDATE outbox SET next_attempt_at = ?, reason = ? WHERE id = ? AND state = 'pending'",
			    "ssi", at, reason, id);
}

int
fs_outbox_campaign_used(struct fs_state *st, const char *target, const char *campaign, fs_time from, fs_time to,
			int64_t *n)
{
	char a[21], b[21];
	int64_t pieces, claimed;

	fs_time_format(from, a);
	fs_time_format(to, b);
	if (fs_state_int(st, &pieces, "SELECT count(*) FROM pieces INDEXED BY pieces_by_campaign"
			 " WHERE campaign = ? AND queued_at >= ? AND queued_at < ? AND target = ?",
			 "ssss", campaign, a, b, target) != 0 ||
	    fs_state_int(st, &claimed, "SELECT count(*) FROM outbox INDEXED BY outbox_by_campaign"
			 " WHERE target = ? AND state = 'pending' AND campaign = ? AND claimed_by IS NOT NULL",
			 "ss", target, campaign) != 0)
		return -1;
	*n = pieces + claimed;
	return 0;
}

int
fs_outbox_busy(struct fs_state *st, const char *target, const char *run_id, long *rows, char **holder,
	       long *pid)
{
	fs_stmt *q = fs_state_query(st,
	    "SELECT count(*), max(claimed_by), max(claim_pid) FROM outbox"
	    " WHERE target = ? AND state = 'pending' AND claimed_by IS NOT NULL AND claimed_by != ?",
	    "ss", target, run_id);
	int rc;

	*rows = 0;
	*holder = NULL;
	*pid = 0;
	if (q == NULL)
		return -1;
	rc = fs_stmt_step(q);
	if (rc == FS_ROW) {
		*rows = (long)fs_col_int64(q, 0);
		*holder = fs_col_dup(q, 1);
		*pid = (long)fs_col_int64(q, 2);
	}
	fs_stmt_reset(q);
	if (rc != FS_ROW) {
		fs_state_error(st, NULL);
		return -1;
	}
	return 0;
}

int
fs_outbox_unclaim(struct fs_state *st, const char *run_id, const int64_t *ids, int n)
{
	if (n == 0)
		return 0;
	if (fs_state_begin(st) != 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (fs_state_run(st,
		    "UPDATE outbox SET claimed_by = NULL, claim_pid = NULL, claim_host = NULL, claim_until = NULL,"
		    " claims = max(claims - 1, 0) WHERE id = ? AND claimed_by = ?", "is", ids[i], run_id) != 0) {
			fs_state_rollback(st);
			return -1;
		}
	return fs_state_commit(st);
}

int
fs_outbox_release(struct fs_state *st, const char *run_id)
{
	return fs_state_run(st,
	    "UPDATE outbox SET claimed_by = NULL, claim_pid = NULL, claim_host = NULL, claim_until = NULL"
	    " WHERE claimed_by = ? AND state IN ('pending', 'held')", "s", run_id);
}

int
fs_outbox_mark(struct fs_state *st, const struct fs_outbox_mark *m)
{
	const char *history = m->history ? m->history : "[]";
	char now[21], next[21];
	int64_t n;

	now_text(now);
	/* A row a hold covers now ('held', from a state file of an older
	 * fieldsync) still takes the vendor's answer: a piece made is recorded. */
	if (strcmp(m->state, "pending") == 0) {
		fs_time_format(m->next_attempt_at, next);
		n = fs_state_changes(st,
		    "UPDATE outbox SET attempts = ?, history = ?, http_status = ?, last_error = ?,"
		    " next_attempt_at = ?, claimed_by = NULL, claim_pid = NULL, claim_host = NULL,"
		    " claim_until = NULL WHERE id = ? AND state IN ('pending', 'held')",
		    "isnssi", (int64_t)m->attempts, history, (int64_t)m->http_status, m->error, next, m->id);
	} else {
		n = fs_state_changes(st,
		    "UPDATE outbox SET attempts = ?, history = ?, http_status = ?, last_error = ?,"
		    " state = ?, vendor_id = ?, done_at = ?, next_attempt_at = NULL, check_vendor = 0,"
		    " claimed_by = NULL, claim_pid = NULL, claim_host = NULL, claim_until = NULL"
		    " WHERE id = ? AND state IN ('pending', 'held')", "isnssssi",
		    (int64_t)m->attempts, history, (int64_t)m->http_status, m->error, m->state, m->vendor_id, now,
		    m->id);
	}
	return n < 0 ? -1 : n > 0;
}

int
fs_outbox_counts(struct fs_state *st, const char *target, struct fs_outbox_counts *c)
{
	fs_stmt *q = fs_state_query(st, "SELECT state, count(*) FROM outbox WHERE target = ? GROUP BY state",
					 "s", target);
	int rc;

	memset(c, 0, sizeof *c);
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		const char *s = fs_col_text(q, 0);
		long n = (long)fs_col_int64(q, 1);

		if (strcmp(s, "pending") == 0)
			c->pending = n;
		else if (strcmp(s, "held") == 0)
			c->held = n;
		else if (strcmp(s, "sent") == 0)
			c->sent = n;
		else if (strcmp(s, "dead") == 0)
			c->dead = n;
	}
	return rc;
}

/* Status order: a piece's status only moves forward. */
static int
rank(const char *status)
{
	static const char *const order[] = {"queued", "sent", "delivered", "returned", "failed", "cancelled", NULL};

	for (int i = 0; status && order[i]; i++)
		if (strcmp(status, order[i]) == 0)
			return i < 3 ? i : 3;
	return -1;
}

int
fs_outbox_status_rank(const char *status)
{
	return rank(status);
}

int
fs_outbox_piece_add(struct fs_state *st, const struct fs_piece *p)
{
	char now[21];

	now_text(now);
	if (fs_state_run(st,
	    "INSERT INTO pieces (vendor_id, event_id, target, contact_id, campaign, goal, format, owner,"
	    " status, requested_at, queued_at, updated_at, send_date)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)"
	    " ON CONFLICT DO NOTHING", "ssssssssssss", p->vendor_id, p->event_id, p->target, p->contact_id,
	    p->campaign, p->goal, p->format, p->owner, p->requested_at, p->queued_at, now, p->send_date) != 0)
		return -1;
	return fs_state_run(st,
	    "INSERT OR IGNORE INTO piece_status (event_id, vendor_id, status, detail, at) VALUES (?, ?, 'queued', ?, ?)",
	    "ssss", p->status_event_id, p->vendor_id, p->detail, p->queued_at);
}

/* A piece returned as undeliverable: its address joins the do-not-mail list. */
static int
suppress_returned(struct fs_state *st, const char *vendor_id, const char *at)
{
	char *line = NULL, *key, *reason;
	jv ev, data, to;
	int rc = 0;

	if (fs_state_text(st, &line, "SELECT o.line FROM pieces p JOIN outbox o ON o.event_id = p.event_id"
			  " AND o.target = p.target WHERE p.vendor_id = ?", "s", vendor_id) != 0)
		return -1;
	if (line == NULL)
		return 0;	/* a piece sent by hand, or before fieldsync: no address known */
	ev = jv_parse(line);
	data = fs_jget(ev, "data");
	to = fs_jget(data, "to");
	if ((key = fs_address_key_of(to)) != NULL) {
		struct fs_suppression s = {.kind = "address", .value = key, .origin = "returned"};
		char *shown = fs_xasprintf("%s, %s %s %s", fs_jstr(to, "line1") ? fs_jstr(to, "line1") : "",
					   fs_jstr(to, "city") ? fs_jstr(to, "city") : "",
					   fs_jstr(to, "region") ? fs_jstr(to, "region") : "",
					   fs_jstr(to, "postal_code") ? fs_jstr(to, "postal_code") : "");

		reason = fs_xasprintf("%s, returned %s", vendor_id, at ? at : "");
		s.shown = shown;
		s.reason = reason;
		rc = fs_suppress_add(st, &s, NULL) < 0 ? -1 : 0;
		free(reason);
		free(shown);
		free(key);
	}
	jv_free(to);
	jv_free(data);
	jv_free(ev);
	free(line);
	return rc;
}

int
fs_outbox_piece_status(struct fs_state *st, const char *status_event_id, jv data, const char *at)
{
	const char *vendor_id = fs_jstr(data, "vendor_id"), *status = fs_jstr(data, "status");
	const char *mail_id = fs_jstr(data, "mail_id");
	const char *vendor = fs_jstr(data, "vendor");
	char now[21];
	int64_t fresh;

	if (vendor_id == NULL || status == NULL)
		return 0;
	now_text(now);
	fresh = fs_state_changes(st,
	    "INSERT OR IGNORE INTO piece_status (event_id, vendor_id, status, detail, at) VALUES (?, ?, ?, ?, ?)",
	    "sssss", status_event_id, vendor_id, status, fs_jstr(data, "detail"), at);
	if (fresh <= 0)
		return fresh < 0 ? -1 : 0;
	/* A piece fieldsync did not send (mailed before it, or by hand) is
	 * recorded when its event id is known. */
	if (mail_id && fs_state_run(st,
	    "INSERT INTO pieces (vendor_id, event_id, target, contact_id, campaign, status, updated_at)"
	    " VALUES (?, ?, ?, ?, ?, 'queued', ?) ON CONFLICT DO NOTHING", "ssssss", vendor_id, mail_id,
	    vendor ? vendor : "lob", fs_jstr(data, "contact_id"), fs_jstr(data, "campaign"), now) != 0)
		return -1;
	/* Each status keeps its first time; the status itself only moves forward. */
	if (fs_state_run(st,
	    "UPDATE pieces SET"
	    " status = CASE WHEN ?2 > (CASE status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1"
	    "   WHEN 'delivered' THEN 2 ELSE 3 END) THEN ?3 ELSE status END,"
	    " queued_at = CASE WHEN ?3 = 'queued' THEN coalesce(queued_at, ?4) ELSE queued_at END,"
	    " mailed_at = CASE WHEN ?3 = 'sent' THEN coalesce(mailed_at, ?4) ELSE mailed_at END,"
	    " delivered_at = CASE WHEN ?3 = 'delivered' THEN coalesce(delivered_at, ?4) ELSE delivered_at END,"
	    " returned_at = CASE WHEN ?3 = 'returned' THEN coalesce(returned_at, ?4) ELSE returned_at END,"
	    " failed_at = CASE WHEN ?3 = 'failed' THEN coalesce(failed_at, ?4) ELSE failed_at END,"
	    " cancelled_at = CASE WHEN ?3 = 'cancelled' THEN coalesce(cancelled_at, ?4) ELSE cancelled_at END,"
	    " updated_at = ?5 WHERE vendor_id = ?1", "sisss", vendor_id, (int64_t)rank(status), status, at, now) != 0)
		return -1;
	if (strcmp(status, "returned") == 0 && suppress_returned(st, vendor_id, at) != 0)
		return -1;
	return 1;
}

int
fs_outbox_activity(struct fs_state *st, const char *event_id, jv data)
{
	if (fs_jstr(data, "contact_id") == NULL || fs_jstr(data, "at") == NULL)
		return 0;
	return fs_state_run(st,
	    "INSERT OR IGNORE INTO activities (event_id, contact_id, type, owner, at) VALUES (?, ?, ?, ?, ?)",
	    "sssss", event_id, fs_jstr(data, "contact_id"), fs_jstr(data, "type"), fs_jstr(data, "owner"),
	    fs_jstr(data, "at"));
}

int
fs_outbox_revenue(struct fs_state *st, const char *event_id, const char *source, jv data)
{
	fs_stmt *q = fs_state_prepare(st,
	    "INSERT OR IGNORE INTO revenue (event_id, contact_id, deal_id, amount, currency, at, source)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?)");
	jv amount = fs_jget(data, "amount");

	if (q == NULL) {
		jv_free(amount);
		return -1;
	}
	if (fs_jstr(data, "contact_id") == NULL || fs_jstr(data, "at") == NULL) {
		jv_free(amount);
		return 0;
	}
	fs_bind_text(q, 1, event_id);
	fs_bind_text(q, 2, fs_jstr(data, "contact_id"));
	fs_bind_text(q, 3, fs_jstr(data, "deal_id"));
	if (jv_get_kind(amount) == JV_KIND_NUMBER)
		fs_bind_double(q, 4, jv_number_value(amount));
	else if (jv_get_kind(amount) == JV_KIND_STRING)
		fs_bind_double(q, 4, atof(jv_string_value(amount)));
	else
		fs_bind_null(q, 4);
	jv_free(amount);
	fs_bind_text(q, 5, fs_jstr(data, "currency"));
	fs_bind_text(q, 6, fs_jstr(data, "at"));
	fs_bind_text(q, 7, source);
	return fs_state_step_done(st, q);
}

/* A piece's price: its outbox row's, -1 when none (a piece from the mail history has none). */
#define PIECE_PRICE \
	"coalesce((SELECT price FROM outbox o WHERE o.target = pieces.target AND o.event_id = pieces.event_id), -1)"

jv
fs_detail_price(jv detail, double price)
{
	return price >= 0 ? jv_object_set(detail, jv_string("price"), jv_number(price)) : detail;
}

int
fs_outbox_cancellable(struct fs_state *st, const char *campaign, fs_time since, fs_piece_fn fn, void *ctx)
{
	char at[21];
	fs_stmt *q;
	int rc;

	fs_time_format(since, at);
	q = fs_state_query(st,
	    "SELECT vendor_id, target, contact_id, campaign, status, send_date, " PIECE_PRICE " FROM pieces INDEXED BY pieces_by_campaign"
	    " WHERE campaign = ? AND queued_at >= ? AND status NOT IN ('delivered', 'returned', 'failed', 'cancelled')"
	    " ORDER BY queued_at, vendor_id", "ss", campaign, at);
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		struct fs_piece_row r = {
			fs_col_text(q, 0), fs_col_text(q, 1),
			fs_col_text(q, 2), fs_col_text(q, 3),
			fs_col_text(q, 4), fs_col_text(q, 5),
			fs_col_double(q, 6),
		};

		if (fn(&r, ctx) != 0) {
			fs_stmt_reset(q);
			return -1;
		}
	}
	return rc;
}

int
fs_outbox_piece(struct fs_state *st, const char *vendor_id, fs_piece_fn fn, void *ctx)
{
	fs_stmt *q = fs_state_query(st,
	    "SELECT vendor_id, target, contact_id, campaign, status, send_date, " PIECE_PRICE " FROM pieces WHERE vendor_id = ?",
	    "s", vendor_id);
	int rc;

	if (q == NULL || (rc = fs_state_step_row(st, q)) < 0)
		return -1;
	if (rc == 1) {
		struct fs_piece_row r = {
			fs_col_text(q, 0), fs_col_text(q, 1),
			fs_col_text(q, 2), fs_col_text(q, 3),
			fs_col_text(q, 4), fs_col_text(q, 5),
			fs_col_double(q, 6),
		};

		rc = fn(&r, ctx) == 0 ? 1 : -1;
		fs_stmt_reset(q);
	}
	return rc;
}

int
fs_outbox_withdraw(struct fs_state *st, const char *campaign, fs_time since, const char *run_id, long *withdrawn,
		   long *busy)
{
	char at[21], now[21];
	fs_stmt *q;
	int rc;

	fs_time_format(since, at);
	now_text(now);
	int64_t sending;

	*withdrawn = *busy = 0;
	if (fs_state_int(st, &sending, "SELECT count(*) FROM outbox WHERE campaign = ? AND state = 'pending'"
			 " AND claimed_by IS NOT NULL AND enqueued_at >= ?", "ss", campaign, at) != 0)
		return -1;
	*busy = (long)sending;
	/* A row being sent now is left to its run: the piece it makes is
	 * cancelled by the next cancel, once it is there. */
	q = fs_state_query(st,
	    "UPDATE outbox SET state = 'cancelled', reason = 'withdrawn by fs-push cancel', done_at = ?,"
	    " next_attempt_at = NULL WHERE campaign = ? AND state IN ('pending', 'held') AND claimed_by IS NULL"
	    " AND enqueued_at >= ? RETURNING event_id, contact_id, coalesce(price, -1)", "sss", now, campaign, at);
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		const char *contact = fs_col_text(q, 1);
		char *object = contact ? fs_xasprintf("contact:%s", contact) : NULL;
		jv detail = jv_object_set(jv_object(), jv_string("campaign"), jv_string(campaign));
		int r;

		detail = jv_object_set(detail, jv_string("contact_id"), contact ? jv_string(contact) : jv_null());
		detail = jv_object_set(detail, jv_string("before_sending"), jv_true());
		detail = fs_detail_price(detail, fs_col_double(q, 2));
		r = fs_changelog(st, "send.cancel", run_id, fs_col_text(q, 0), object, detail);
		free(object);
		if (r != 0) {
			fs_stmt_reset(q);
			return -1;
		}
		(*withdrawn)++;
	}
	return rc;
}

int
fs_outbox_piece_cancelled(struct fs_state *st, const struct fs_piece_row *r, const char *run_id)
{
	char now[21], status_id[40], *object = fs_xasprintf("mail:%s", r->vendor_id), *contact;
	jv data = jv_object(), detail;
	int rc;

	now_text(now);
	fs_event_id(r->target, object, "mail.status", "cancelled", status_id);
	data = jv_object_set(data, jv_string("vendor_id"), jv_string(r->vendor_id));
	data = jv_object_set(data, jv_string("status"), jv_string("cancelled"));
	data = jv_object_set(data, jv_string("detail"), jv_string("cancelled by fs-push cancel"));
	rc = fs_outbox_piece_status(st, status_id, data, now) < 0 ? -1 : 0;
	jv_free(data);
	free(object);
	if (rc != 0)
		return -1;
	detail = jv_object_set(jv_object(), jv_string("vendor_id"), jv_string(r->vendor_id));
	detail = jv_object_set(detail, jv_string("target"), jv_string(r->target));
	detail = jv_object_set(detail, jv_string("campaign"), r->campaign ? jv_string(r->campaign) : jv_null());
	detail = jv_object_set(detail, jv_string("contact_id"), r->contact_id ? jv_string(r->contact_id) : jv_null());
	if (r->send_date)
		detail = jv_object_set(detail, jv_string("send_date"), jv_string(r->send_date));
	detail = fs_detail_price(detail, r->price);
	contact = r->contact_id ? fs_xasprintf("contact:%s", r->contact_id) : NULL;
	rc = fs_changelog(st, "send.cancel", run_id, NULL, contact, detail);
	free(contact);
	return rc;
}

int
fs_outbox_held_each(struct fs_state *st, const char *target, fs_outbox_line_fn fn, void *ctx)
{
	fs_stmt *q = fs_state_query(st,
	    "SELECT event_id, line FROM outbox INDEXED BY outbox_due WHERE target = ? AND state = 'held' ORDER BY id",
	    "s", target);
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1)
		if (fn(fs_col_text(q, 0), fs_col_text(q, 1), ctx) != 0) {
			fs_stmt_reset(q);
			return -1;
		}
	return rc;
}
