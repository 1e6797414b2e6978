/*
 * What every connector's push shares (lib/vendors.h), and the run fs-push
 * drives: the target's settings, the outbox's due rows claimed (after the
 * holds, the do-not-mail list and the caps have had their say), sent
 * through the connector's create or write_back hook, and settled as sent,
 * retrying or dead, each with its changelog row and its result line; and
 * fs-push cancel's pieces, through the connector's cancel hook.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vendors.h"

#define MAX_429 10		/* a row resent this often after 429s waits for the next run */

/* The first error wins; the DLQ (1) gives way to any error. */
void
fs_push_fail(struct fs_push *p, int status)
{
	if (p->status == FS_EXIT_OK || p->status == FS_EXIT_DLQ)
		if (status > p->status)
			p->status = status;
}

/* A setting of the target; an empty value counts as unset. */
const char *
fs_push_setting(const struct fs_push *p, const char *key)
{
	const char *v = fs_setting(&p->ep, key);

	return v && *v ? v : fs_setting_default(&p->ep, key);
}

/* Where the key is looked for, for messages: token_env (default included), else token_file. */
static const char *
key_source(const struct fs_push *p)
{
	const char *v = fs_push_setting(p, "token_env");

	return v ? v : fs_push_setting(p, "token_file");
}

static int
write_all(int fd, const char *s, size_t n)
{
	if (n > 0)
		fs_step("write");
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
txn(struct fs_push *p)
{
	if (p->cli->st.depth > 0)
		return 0;
	if (fs_state_begin(&p->cli->st) != 0) {
		fs_push_fail(p, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

/* Commits what the answers changed, then writes the lines that tell of it. */
static int
flush(void *ctx)
{
	struct fs_push *p = ctx;

	if (p->cli->st.depth > 0 && fs_state_commit(&p->cli->st) != 0) {
		fs_state_rollback(&p->cli->st);
		fs_push_fail(p, FS_EXIT_STATE);
		p->stop = true;
		p->out.len = 0;
		return -1;
	}
	/* The sends go on when the reader has gone: they are the work. */
	if (p->out.len > 0 && !fs_stdout_closed() && write_all(STDOUT_FILENO, p->out.data, p->out.len) != 0)
		fs_push_fail(p, fs_stdout_error(FS_EXIT_OK));
	p->out.len = 0;
	return 0;
}

static void
emit(struct fs_push *p, jv v)
{
	char *s = fs_jdump(v);

	fs_buf_adds(&p->out, s);
	fs_buf_addc(&p->out, '\n');
	free(s);
	jv_free(v);
}

void
fs_push_result(struct fs_push *p, const char *event_id, const char *status, const char *vendor_id,
	       int http_status, int attempts, const char *why)
{
	jv r;

	if (p->preview)
		return;		/* the preview says it its own way */
	r = jv_object();

	r = jv_object_set(r, jv_string("type"), jv_string("result"));
	r = jv_object_set(r, jv_string("event_id"), jv_string(event_id));
	r = jv_object_set(r, jv_string("target"), jv_string(p->target));
	r = jv_object_set(r, jv_string("status"), jv_string(status));
	r = jv_object_set(r, jv_string("vendor_id"), vendor_id ? jv_string(vendor_id) : jv_null());
	r = jv_object_set(r, jv_string("http_status"), http_status ? jv_number(http_status) : jv_null());
	r = jv_object_set(r, jv_string("attempts"), jv_number(attempts));
	if (why)
		r = jv_object_set(r, jv_string("reason"), jv_string(why));
	emit(p, r);
}

static void
emit_result(struct fs_push *p, const char *event_id, const char *status, const char *vendor_id,
	    int http_status, int attempts)
{
	fs_push_result(p, event_id, status, vendor_id, http_status, attempts, NULL);
}

static char *
contact_object(const char *contact_id)
{
	return contact_id ? fs_xasprintf("contact:%s", contact_id) : NULL;
}

/* One attempt (the request's answer), appended to row i's history. */
void
fs_push_attempt(struct fs_push_req *rq, int i, const char *error)
{
	const struct fs_push_job *j = &rq->j;
	char now[21];
	jv a = jv_object();

	fs_time_format(fs_now(), now);
	a = jv_object_set(a, jv_string("at"), jv_string(now));
	a = jv_object_set(a, jv_string("request"), jv_string_fmt("%s", j->bucket ? j->bucket : ""));
	a = jv_object_set(a, jv_string("http_status"), j->http_status ? jv_number((double)j->http_status) : jv_null());
	if (error)
		a = jv_object_set(a, jv_string("error"), jv_string(error));
	a = jv_object_set(a, jv_string("ms"), jv_number((double)j->elapsed_ms));
	rq->hist[i] = jv_array_append(rq->hist[i], a);
}

/* ---- what becomes of a row ---- */

static int
mark(struct fs_push *p, struct fs_push_req *rq, int i, const char *state, fs_time next, const char *error,
     const char *vendor_id, long http_status)
{
	char *hist = fs_jdump(rq->hist[i]);
	struct fs_outbox_mark m = {
		.id = rq->rows[i].id, .state = state, .next_attempt_at = next, .attempts = rq->tries[i],
		.http_status = (int)http_status, .history = hist, .error = error, .vendor_id = vendor_id,
	};
	int rc;

	if (txn(p) != 0) {
		free(hist);
		return -1;
	}
	rc = fs_outbox_mark(&p->cli->st, &m);
	free(hist);
	if (rc < 0)
		fs_push_fail(p, FS_EXIT_STATE);
	return rc;
}

int
fs_push_row_dead(struct fs_push *p, struct fs_push_req *rq, int i, const char *reason)
{
	struct fs_outbox_row *r = &rq->rows[i];
	/* After a last look at the vendor, the dead letter tells of the failed send, not of the look. */
	long status = rq->answer_kept ? rq->kept_status : rq->j.http_status;
	const char *resp = rq->answer_kept ? rq->kept_resp : rq->j.resp.len ? rq->j.resp.data : NULL;
	char *hist = fs_jdump(rq->hist[i]), *object = contact_object(r->contact_id);
	struct fs_dead d = {
		.command = "fs-push", .run_id = p->cli->run_id, .reason = reason, .source = p->target,
		.event_id = r->event_id, .bytes = r->line, .len = strlen(r->line),
		.http_status = (int)status, .response = status ? resp : NULL, .attempts = hist,
	};
	int64_t id;
	int rc;
	jv detail;

	if ((rc = mark(p, rq, i, "dead", 0, reason, NULL, status)) <= 0) {
		free(hist);
		free(object);
		return rc;
	}
	if ((id = fs_dlq_add(&p->cli->st, &d)) < 0) {
		free(hist);
		free(object);
		fs_push_fail(p, FS_EXIT_STATE);
		return -1;
	}
	detail = jv_object();
	detail = jv_object_set(detail, jv_string("target"), jv_string(p->target));
	detail = jv_object_set(detail, jv_string("dlq_id"), jv_number((double)id));
	detail = jv_object_set(detail, jv_string("http_status"),
			       status ? jv_number((double)status) : jv_null());
	detail = jv_object_set(detail, jv_string("attempts"), jv_number(rq->tries[i]));
	detail = jv_object_set(detail, jv_string("reason"), jv_string(reason));
	rc = fs_changelog(&p->cli->st, "send.dead", p->cli->run_id, r->event_id, object, detail);
	free(hist);
	free(object);
	if (rc != 0) {
		fs_push_fail(p, FS_EXIT_STATE);
		return -1;
	}
	fs_err("%s: %s (dead letter #%lld)", r->event_id, reason, (long long)id);
	emit_result(p, r->event_id, "dead", NULL, (int)status, rq->tries[i]);
	p->dead++;
	fs_push_fail(p, FS_EXIT_DLQ);
	return 1;
}

/* The dead letter's reason when a row has had its last try, else NULL. */
char *
fs_push_gave_up(struct fs_push *p, struct fs_push_req *rq, int i, const char *error)
{
	fs_time now = fs_now(), enq = now;
	char age[32];

	fs_time_parse(rq->rows[i].enqueued_at, &enq);
	if (rq->tries[i] >= p->retry.max)
		snprintf(age, sizeof age, "%d attempts", rq->tries[i]);
	else if (now - enq >= p->give_up)
		snprintf(age, sizeof age, "%lldh", (long long)((now - enq) / 3600));
	else
		return NULL;
	return fs_xasprintf("gave up after %s: %s", age, error);
}

/* A failure that may pass: try again later, or give up into the DLQ. */
int
fs_push_row_retry(struct fs_push *p, struct fs_push_req *rq, int i, const char *error)
{
	struct fs_outbox_row *r = &rq->rows[i];
	fs_time now = fs_now(), next;
	char at[21], *object, *reason;
	int rc;
	jv detail;

	snprintf(p->last_error, sizeof p->last_error, "%s", error);
	if ((reason = fs_push_gave_up(p, rq, i, error)) != NULL) {
		rc = fs_push_row_dead(p, rq, i, reason);
		free(reason);
		return rc;
	}
	next = now + fs_backoff(rq->tries[i], p->retry.base, p->retry.cap, 1);
	if ((rc = mark(p, rq, i, "pending", next, error, NULL, rq->j.http_status)) <= 0)
		return rc;
	fs_time_format(next, at);
	object = contact_object(r->contact_id);
	detail = jv_object();
	detail = jv_object_set(detail, jv_string("target"), jv_string(p->target));
	detail = jv_object_set(detail, jv_string("attempts"), jv_number(rq->tries[i]));
	detail = jv_object_set(detail, jv_string("http_status"),
			       rq->j.http_status ? jv_number((double)rq->j.http_status) : jv_null());
	detail = jv_object_set(detail, jv_string("error"), jv_string(error));
	detail = jv_object_set(detail, jv_string("next_attempt_at"), jv_string(at));
	rc = fs_changelog(&p->cli->st, "send.retry", p->cli->run_id, r->event_id, object, detail);
	free(object);
	if (rc != 0) {
		fs_push_fail(p, FS_EXIT_STATE);
		return -1;
	}
	emit_result(p, r->event_id, "retrying", NULL, (int)rq->j.http_status, rq->tries[i]);
	p->retrying++;
	return 1;
}

/* A CRM took row i's properties (consumed). */
int
fs_push_row_written(struct fs_push *p, struct fs_push_req *rq, int i, jv properties)
{
	struct fs_outbox_row *r = &rq->rows[i];
	char *object;
	jv detail;
	int rc;

	if ((rc = mark(p, rq, i, "sent", 0, NULL, r->contact_id, rq->j.http_status)) <= 0) {
		jv_free(properties);
		return rc;
	}
	object = contact_object(r->contact_id);
	detail = jv_object();
	detail = jv_object_set(detail, jv_string("target"), jv_string(p->target));
	detail = jv_object_set(detail, jv_string("contact_id"), jv_string(r->contact_id));
	detail = jv_object_set(detail, jv_string("properties"), properties);
	detail = jv_object_set(detail, jv_string("http_status"), jv_number((double)rq->j.http_status));
	detail = jv_object_set(detail, jv_string("attempts"), jv_number(rq->tries[i]));
	rc = fs_changelog(&p->cli->st, "crm.update", p->cli->run_id, r->event_id, object, detail);
	free(object);
	if (rc != 0) {
		fs_push_fail(p, FS_EXIT_STATE);
		return -1;
	}
	emit_result(p, r->event_id, "sent", r->contact_id, (int)rq->j.http_status, rq->tries[i]);
	p->sent++;
	return 1;
}

/* A piece the vendor has: created now, or found there (adopted, pc->found_by says how). */
int
fs_push_piece_sent(struct fs_push *p, struct fs_push_req *rq, const struct fs_push_piece *pc)
{
	struct fs_outbox_row *r = &rq->rows[0];
	jv request = jv_parse(r->line), data = fs_jget(request, "data"), detail, ev, sd;
	char now[21], status_id[40], *object, *mail_object;
	const char *accepted = now;	/* $FS_NOW's clock, as every stored time */
	const char *vendor_id = pc->vendor_id;
	bool adopted = pc->found_by != NULL;
	int rc;

	fs_time_format(fs_now(), now);
	if ((rc = mark(p, rq, 0, "sent", 0, NULL, vendor_id, rq->j.http_status)) <= 0) {
		jv_free(data);
		jv_free(request);
		return rc;
	}
	mail_object = fs_xasprintf("mail:%s", vendor_id);
	fs_event_id(p->target, mail_object, "mail.status", "queued", status_id);
	{
		struct fs_piece piece = {
			.vendor_id = vendor_id, .event_id = r->event_id, .target = p->target,
			.contact_id = r->contact_id, .campaign = r->campaign, .goal = fs_jstr(data, "goal"),
			.format = fs_jstr(data, "format"), .requested_at = r->requested_at, .queued_at = accepted,
			.status_event_id = status_id, .detail = pc->detail, .send_date = pc->send_date,
		};

		rc = fs_outbox_piece_add(&p->cli->st, &piece);
	}
	object = contact_object(r->contact_id);
	if (rc == 0 && adopted) {
		detail = jv_object();
		detail = jv_object_set(detail, jv_string("target"), jv_string(p->target));
		detail = jv_object_set(detail, jv_string("vendor_id"), jv_string(vendor_id));
		detail = jv_object_set(detail, jv_string("found_by"), jv_string(pc->found_by));
		rc = fs_changelog(&p->cli->st, "send.adopt", p->cli->run_id, r->event_id, object, detail);
	}
	if (rc == 0) {
		detail = jv_object();
		detail = jv_object_set(detail, jv_string("contact_id"), r->contact_id ? jv_string(r->contact_id) : jv_null());
		detail = jv_object_set(detail, jv_string("campaign"), r->campaign ? jv_string(r->campaign) : jv_null());
		detail = jv_object_set(detail, jv_string("vendor_id"), jv_string(vendor_id));
		detail = jv_object_set(detail, jv_string("http_status"), jv_number((double)rq->j.http_status));
		detail = jv_object_set(detail, jv_string("attempts"), jv_number(rq->tries[0]));
		detail = jv_object_set(detail, jv_string("requested_at"), jv_string(r->requested_at));
		detail = jv_object_set(detail, jv_string("first_attempt_at"), jv_string(r->first_attempt_at));
		detail = jv_object_set(detail, jv_string("accepted_at"), jv_string(accepted));
		if (adopted)
			detail = jv_object_set(detail, jv_string("adopted"), jv_true());
		detail = fs_detail_price(detail, r->price);
		rc = fs_changelog(&p->cli->st, "send", p->cli->run_id, r->event_id, object, detail);
	}
	free(object);
	if (rc != 0) {
		free(mail_object);
		jv_free(data);
		jv_free(request);
		fs_push_fail(p, FS_EXIT_STATE);
		return -1;
	}
	emit_result(p, r->event_id, "sent", vendor_id, (int)rq->j.http_status, rq->tries[0]);
	sd = jv_object();
	sd = jv_object_set(sd, jv_string("mail_id"), jv_string(r->event_id));
	sd = jv_object_set(sd, jv_string("vendor"), jv_string(p->ep.kind));
	sd = jv_object_set(sd, jv_string("vendor_id"), jv_string(vendor_id));
	if (r->contact_id)
		sd = jv_object_set(sd, jv_string("contact_id"), jv_string(r->contact_id));
	if (r->campaign)
		sd = jv_object_set(sd, jv_string("campaign"), jv_string(r->campaign));
	sd = jv_object_set(sd, jv_string("status"), jv_string("queued"));
	sd = jv_object_set(sd, jv_string("detail"), jv_string(pc->detail));
	ev = jv_object();
	ev = jv_object_set(ev, jv_string("type"), jv_string("event"));
	ev = jv_object_set(ev, jv_string("id"), jv_string(status_id));
	ev = jv_object_set(ev, jv_string("run_id"), jv_string(p->cli->run_id));
	ev = jv_object_set(ev, jv_string("source"), jv_string(p->target));
	ev = jv_object_set(ev, jv_string("kind"), jv_string("mail.status"));
	ev = jv_object_set(ev, jv_string("object"), jv_string(mail_object));
	ev = jv_object_set(ev, jv_string("occurred_at"), jv_string(accepted));
	ev = jv_object_set(ev, jv_string("data"), sd);
	emit(p, ev);
	free(mail_object);
	jv_free(data);
	jv_free(request);
	p->sent++;
	p->adopted += adopted;
	return 1;
}

/* ---- claiming rows ---- */

static void
on_held(const char *event_id, int attempts, void *ctx)
{
	struct fs_push *p = ctx;

	emit_result(p, event_id, "held", NULL, 0, attempts);
	p->held_now++;
}

/* Whom a campaign's enrolment is for: the job of a job campaign, else the contact. */
char *
fs_push_enrol_subject(jv data)
{
	const char *job = fs_jstr(data, "job_id");

	return job ? fs_xasprintf("job:%s", job) : fs_xstrdup(fs_jstr(data, "contact_id"));
}

/*
 * A mail row's last word before it is claimed, in the claim's transaction:
 * a do-not-mail list it is now on (or the CRM's flag) settles it as
 * suppressed; a campaign that has had its cap today defers it to the
 * business's next day.  1 dealt with, 0 claim it, -1 error.
 */
int
fs_push_check_row(struct fs_state *st, const struct fs_outbox_row *r, void *ctx)
{
	struct fs_push *p = ctx;
	jv ev = jv_parse(r->line), data = fs_jget(ev, "data"), to = fs_jget(data, "to"), flag;
	char *why = NULL, *object;
	long cap = 0;
	int rc = 0;

	if (!p->mail || strcmp(r->kind, "mail.requested") != 0)
		goto out;
	flag = fs_jget(data, "do_not_mail");
	rc = fs_suppress_check(st, r->contact_id, to, jv_get_kind(flag) == JV_KIND_TRUE, &why);
	jv_free(flag);
	if (rc != 0)
		goto out;
	if (why) {
		jv detail = jv_object_set(jv_object(), jv_string("target"), jv_string(p->target));

		detail = jv_object_set(detail, jv_string("contact_id"), r->contact_id ? jv_string(r->contact_id) : jv_null());
		detail = jv_object_set(detail, jv_string("campaign"), r->campaign ? jv_string(r->campaign) : jv_null());
		detail = jv_object_set(detail, jv_string("reason"), jv_string(why));
		detail = fs_detail_price(detail, r->price);
		object = contact_object(r->contact_id);
		if ((rc = fs_outbox_settle(st, r->id, "suppressed", why)) > 0) {
			char *subject = fs_push_enrol_subject(data);

			if (fs_unenrol(st, subject, fs_campaign_goal(&p->cli->cfg, data), r->event_id) != 0) {
				jv_free(detail);
				rc = -1;
			} else {
				rc = fs_changelog(st, "send.suppressed", p->cli->run_id, r->event_id, object, detail) == 0
				    ? 1 : -1;
			}
			free(subject);
		} else {
			jv_free(detail);
		}
		free(object);
		if (rc > 0) {
			fs_push_result(p, r->event_id, "suppressed", NULL, 0, r->attempts, why);
			fs_push_preview_add(p, "suppressed", r->event_id, r->line, why);
			p->suppressed++;
			p->suppressed_rows++;
		}
		goto out;
	}
	if (r->campaign && fs_campaign_cap(&p->cli->cfg, r->campaign, &cap) == 0 && cap > 0) {
		fs_time start, next;
		int64_t used;

		if (fs_local_day(fs_now(), p->tz, &start, &next) != 0 ||
		    fs_outbox_campaign_used(st, p->target, r->campaign, start, next, &used) != 0) {
			rc = -1;
			goto out;
		}
		if (used >= cap) {
			char *reason = fs_xasprintf("cap: %ld/day for campaign %s", cap, r->campaign);

			rc = fs_outbox_defer(st, r->id, next, reason) == 0 ? 1 : -1;
			if (rc > 0) {
				jv detail = jv_object_set(jv_object(), jv_string("target"), jv_string(p->target));
				char until[21];

				fs_time_format(next, until);
				detail = jv_object_set(detail, jv_string("contact_id"),
						       r->contact_id ? jv_string(r->contact_id) : jv_null());
				detail = jv_object_set(detail, jv_string("campaign"), jv_string(r->campaign));
				detail = jv_object_set(detail, jv_string("cap"), jv_number((double)cap));
				detail = jv_object_set(detail, jv_string("until"), jv_string(until));
				detail = fs_detail_price(detail, r->price);
				object = contact_object(r->contact_id);
				rc = fs_changelog(st, "send.capped", p->cli->run_id, r->event_id, object, detail) == 0 ? 1 : -1;
				free(object);
			}
			if (rc > 0) {
				fs_push_result(p, r->event_id, "capped", NULL, 0, r->attempts, reason);
				fs_push_preview_add(p, "capped", r->event_id, r->line, reason);
				p->capped++;
			}
			free(reason);
		}
	}
out:
	free(why);
	jv_free(to);
	jv_free(data);
	jv_free(ev);
	return rc;
}

/* The rest of the chunk goes back unclaimed (no request was made for it). */
static int
drop_chunk(struct fs_push *p)
{
	int64_t *ids = fs_xmalloc(sizeof *ids * (size_t)(p->nchunk + 1));
	int n = 0, rc;

	for (int i = p->ichunk; i < p->nchunk; i++)
		ids[n++] = p->chunk_rows[i].id;
	rc = fs_outbox_unclaim(&p->cli->st, p->cli->run_id, ids, n);
	free(ids);
	for (int i = 0; i < p->nchunk; i++)
		fs_outbox_row_free(&p->chunk_rows[i]);
	free(p->chunk_rows);
	p->chunk_rows = NULL;
	p->nchunk = p->ichunk = 0;
	return rc;
}

/* Whether a hold was put since the last look (looked at once a second at
 * most): the run stops handing out its chunk and looks at the holds. */
static bool
new_hold(struct fs_push *p)
{
	int64_t now = fs_mono_ms(), latest;

	if (now - p->holds_looked_ms < 1000)
		return false;
	p->holds_looked_ms = now;
	return fs_hold_latest(&p->cli->st, &latest) == 0 && latest > p->holds_seen;
}

/* Whether rows claimed are still to be handed out (fs_push_next_row gives one without a new claim). */
bool
fs_push_rows_claimed(const struct fs_push *p)
{
	return p->ichunk < p->nchunk;
}

/* The next claimed row, claiming more (after looking at holds) when needed. */
struct fs_outbox_row *
fs_push_next_row(struct fs_push *p)
{
	struct fs_outbox_holds h;

	if (p->stop || p->no_more || fs_interrupted)
		return NULL;
	if (p->ichunk < p->nchunk && !new_hold(p))
		return &p->chunk_rows[p->ichunk++];
	if (drop_chunk(p) != 0) {
		fs_push_fail(p, FS_EXIT_STATE);
		p->stop = true;
		return NULL;
	}
	/* A hold set while this run sends stops it here: the requests in
	 * flight finish, the rows not yet asked for are held. */
	if (fs_hold_latest(&p->cli->st, &p->holds_seen) != 0 ||
	    fs_outbox_apply_holds(&p->cli->st, p->target, p->mail, p->cli->run_id, on_held, p, &h) != 0) {
		fs_push_fail(p, FS_EXIT_STATE);
		p->stop = true;
		return NULL;
	}
	p->resumed += h.resumed;
	if (h.resumed > 0)
		fs_debug("%s: %ld held row%s released: the hold is lifted", p->target, h.resumed,
			 h.resumed == 1 ? "" : "s");
	{
		struct fs_claim c = {
			.target = p->target, .run_id = p->cli->run_id, .campaigns = p->mail,
			.lease_until = fs_now() + 15 * 60 + (int64_t)p->chunk * p->rate.window_ms / 1000 / p->rate.n,
			.limit = p->chunk, .check = fs_push_check_row, .ctx = p,
		};

		/* Rows dealt with (suppressed, capped) make room for others. */
		while ((p->nchunk = fs_outbox_claim(&p->cli->st, &c, &p->chunk_rows)) == FS_CLAIM_AGAIN)
			flush(p);
	}
	if (p->nchunk < 0) {
		p->nchunk = 0;
		fs_push_fail(p, FS_EXIT_STATE);
		p->stop = true;
		return NULL;
	}
	flush(p);	/* the held results */
	if (p->nchunk == 0) {
		p->no_more = true;
		return NULL;
	}
	return &p->chunk_rows[p->ichunk++];
}

/* A request for nrows rows, size bytes long: a connector's struct may begin with one. */
struct fs_push_req *
fs_push_req_new(int nrows, size_t size)
{
	struct fs_push_req *rq = fs_xmalloc(size);

	memset(rq, 0, size);
	rq->j.user = rq;
	rq->rows = fs_xmalloc((size_t)nrows * sizeof *rq->rows);
	rq->hist = fs_xmalloc((size_t)nrows * sizeof *rq->hist);
	rq->tries = fs_xmalloc((size_t)nrows * sizeof *rq->tries);
	return rq;
}

/* Moves a claimed row into the request. */
void
fs_push_req_take(struct fs_push_req *rq, struct fs_outbox_row *r)
{
	int i = rq->nrows++;
	jv h = jv_parse(r->history ? r->history : "[]");

	rq->rows[i] = *r;
	memset(r, 0, sizeof *r);
	rq->hist[i] = jv_get_kind(h) == JV_KIND_ARRAY ? h : (jv_free(h), jv_array());
	rq->tries[i] = rq->rows[i].attempts;
}

void
fs_push_req_free(struct fs_push_req *rq)
{
	if (rq->clear)
		rq->clear(rq);
	for (int i = 0; i < rq->nrows; i++) {
		fs_outbox_row_free(&rq->rows[i]);
		jv_free(rq->hist[i]);
	}
	free(rq->rows);
	free(rq->hist);
	free(rq->tries);
	free(rq->kept_resp);
	fs_push_job_clear(&rq->j);
	free(rq);
}

/* A row that cannot be sent as it is: the DLQ, without a request. */
void
fs_push_dead_local(struct fs_push *p, struct fs_push_req *rq, const char *reason)
{
	for (int i = 0; i < rq->nrows; i++)
		if (fs_push_row_dead(p, rq, i, reason) < 0)
			p->stop = true;
	flush(p);
}

/* Answers every vendor's are alike in: 1 send it again, 0 done with it, -2 the connector decides. */
static int
common_answer(struct fs_push *p, struct fs_push_req *rq)
{
	long s = rq->j.http_status;

	if (s == 429 && ++rq->n429 <= MAX_429)
		return 1;	/* the bucket has slowed down; send it again */
	if (s == 401 && (p->vendor->flags & FS_VENDOR_OWN_401))
		return -2;	/* the connector refreshes its token */
	if (s == 401 || s == 403) {
		if (!p->stop)
			fs_err("%s: HTTP %ld: the API key was refused; check %s", p->target, s, key_source(p));
		fs_push_fail(p, FS_EXIT_USAGE);
		p->stop = true;
		return 0;	/* the rows stay pending, claims are released at the end */
	}
	return -2;
}

bool
fs_push_transient(long s)
{
	return s == 0 || s == 408 || s == 409 || s == 425 || s == 429 || s >= 500;
}

/* An error answer's message, malloc'd: {"error":{"message":...}}, {"message":...} or an RFC 7807
 * problem's {"title":...} (ServiceTitan's); NULL when none. */
static char *
answer_message(const char *resp)
{
	jv v = jv_parse(resp ? resp : ""), err = fs_jget(v, "error");
	const char *msg = jv_get_kind(err) == JV_KIND_OBJECT ? fs_jstr(err, "message") : NULL;
	char *out;

	if (msg == NULL)
		msg = fs_jstr(v, "message");
	if (msg == NULL)
		msg = fs_jstr(v, "title");
	out = msg ? fs_xstrdup(msg) : NULL;
	jv_free(err);
	jv_free(v);
	return out;
}

char *
fs_push_answer_error(const struct fs_push_job *j)
{
	char *msg;

	if (j->http_status == 0)
		return fs_xstrdup(j->errbuf[0] ? j->errbuf : "no answer");
	if ((msg = answer_message(j->resp.data)) != NULL) {
		char *e = fs_xasprintf("HTTP %ld: %s", j->http_status, msg);

		free(msg);
		return e;
	}
	return fs_xasprintf("HTTP %ld", j->http_status);
}

/* A mail status as a CRM shows it: "queued" -> "Queued"; NULL if unknown. */
const char *
fs_push_mail_label(const char *status)
{
	static const char *const map[][2] = {
		{"queued", "Queued"}, {"sent", "Sent"}, {"delivered", "Delivered"},
		{"returned", "Returned"}, {"failed", "Failed"}, {"cancelled", "Cancelled"}, {NULL, NULL},
	};

	for (int i = 0; status && map[i][0]; i++)
		if (strcmp(status, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

char *
fs_push_status_label(struct fs_push *p, jv data, bool latest, char **why)
{
	const char *status = fs_jstr(data, "status"), *vendor_id = fs_jstr(data, "vendor_id");
	char *now_status = NULL, *label = NULL;

	*why = NULL;
	if (latest && vendor_id && fs_piece_status(&p->cli->st, vendor_id, &now_status) == 0 && now_status &&
	    fs_outbox_status_rank(now_status) > fs_outbox_status_rank(status))
		status = now_status;
	if (fs_push_mail_label(status) == NULL)
		*why = fs_xasprintf("unknown mail status \"%s\"", status ? status : "");
	else
		label = fs_xstrdup(fs_push_mail_label(status));
	free(now_status);
	return label;
}

/* The day (YYYY-MM-DD, UTC) of an RFC 3339 time; "" when t is none. */
void
fs_push_day(const char *t, char out[11])
{
	fs_time v;
	char buf[21];

	out[0] = '\0';
	if (t && fs_time_parse(t, &v) == 0) {
		fs_time_format(v, buf);
		memcpy(out, buf, 10);
		out[10] = '\0';
	}
}

/* ---- the send phase ---- */

/* The connector's next request: a piece to create, or a batch to write back. */
static struct fs_push_job *
next_request(void *ctx)
{
	struct fs_push *p = ctx;

	return p->mail ? p->vendor->create(p) : p->vendor->write_back(p);
}

/* An answer: what every vendor's answers share, then the connector's say. */
static int
answered(struct fs_push_job *j, void *ctx)
{
	struct fs_push *p = ctx;
	struct fs_push_req *rq = j->user;
	int again;

	p->requests++;
	if ((again = common_answer(p, rq)) == -2)
		return p->vendor->answer(p, j);
	if (again == 0)
		fs_push_req_free(rq);
	return again;
}

/* The due rows, through the connector; 0, or -1 when the run had to stop. */
int
fs_push_send(struct fs_push *p)
{
	static const struct fs_push_http_ops ops = {next_request, answered, flush};
	long revived;
	int rc;

	if (p->stop)
		return 0;
	if (p->secret == NULL) {
		struct fs_outbox_counts c;

		/* Nothing to send needs no key. */
		if (fs_outbox_counts(&p->cli->st, p->target, &c) != 0) {
			fs_push_fail(p, FS_EXIT_STATE);
			return -1;
		}
		if (c.pending == 0)
			return 0;
		fs_err("%s: no API key: set %s", p->target, key_source(p));
		fs_push_fail(p, FS_EXIT_USAGE);
		p->stop = true;
		return -1;
	}
	if (fs_outbox_replays(&p->cli->st, p->target, p->cli->run_id, &revived) != 0) {
		fs_push_fail(p, FS_EXIT_STATE);
		p->stop = true;
		return -1;
	}
	p->replays += revived;
	p->no_more = false;
	rc = fs_push_http_run(p->http, &ops, p);
	flush(p);
	/* Interrupted or stopped: the rows never asked for go back as they were. */
	if (drop_chunk(p) != 0)
		rc = -1;
	if (rc != 0) {
		fs_push_fail(p, FS_EXIT_STATE);
		p->stop = true;
	}
	if (fs_outbox_release(&p->cli->st, p->cli->run_id) != 0)
		fs_push_fail(p, FS_EXIT_STATE);
	return rc;
}

/* ---- configuration ---- */

static int
load_prices(struct fs_push *p)
{
	const char *price = p->mail ? fs_push_setting(p, "price") : NULL;

	if (price && fs_price_parse(price, p->price, p->priced) != 0) {
		fs_err("target '%s': malformed price '%s' (want 'postcard 0.65, letter 1.10')", p->target, price);
		return -1;
	}
	return 0;
}

/* The target's settings, and its connector's; -1 when one is wrong (said). */
int
fs_push_configure(struct fs_push *p, int parallel)
{
	const char *rate, *retry, *give_up, *timeout, *url;
	int64_t secs;
	size_t n;

	if (fs_endpoint_find(&p->cli->cfg, "target", p->target, &p->ep) != 0)
		return -1;
	/* The settings refuse such a kind first; this guards a kind they let through. */
	if ((p->vendor = fs_vendor_find(p->ep.kind)) == NULL || !fs_vendor_pushes(p->vendor)) {
		char *kinds = fs_vendor_kinds(fs_vendor_pushes);

		fs_err("target '%s': kind '%s' cannot be pushed to (%s)", p->target, p->ep.kind, kinds);
		free(kinds);
		return -1;
	}
	p->mail = p->vendor->create != NULL;
	rate = fs_push_setting(p, "rate");
	if (fs_rate_limit_parse(rate, &p->rate) != 0 || p->rate.n <= 0) {
		fs_err("target '%s': malformed rate '%s' (want N/DURATION, as 150/5s)", p->target, rate);
		return -1;
	}
	retry = fs_push_setting(p, "retry");
	if (fs_retry_parse(retry, &p->retry) != 0) {
		fs_err("target '%s': malformed retry '%s' (want FIRST..CAP xATTEMPTS, as 30s..6h x8)", p->target, retry);
		return -1;
	}
	give_up = fs_push_setting(p, "give_up");
	if (fs_duration_parse(give_up, &p->give_up) != 0) {
		fs_err("target '%s': malformed give_up '%s'", p->target, give_up);
		return -1;
	}
	timeout = fs_push_setting(p, "timeout");
	if (fs_duration_parse(timeout, &secs) != 0 || secs <= 0) {
		fs_err("target '%s': malformed timeout '%s'", p->target, timeout);
		return -1;
	}
	p->timeout = secs;
	if (parallel <= 0) {
		const char *v = fs_push_setting(p, "parallel");

		parallel = atoi(v);
		if (parallel <= 0 || parallel > 256) {
			fs_err("target '%s': parallel must be 1 to 256, not '%s'", p->target, v);
			return -1;
		}
	}
	p->parallel = parallel;
	p->chunk = p->mail ? (parallel * 4 > 100 ? parallel * 4 : 100) : 100;
	url = fs_push_setting(p, "url");
	p->url = fs_xstrdup(url);
	n = strlen(p->url);
	while (n > 0 && p->url[n - 1] == '/')
		p->url[--n] = '\0';
	if (p->vendor->push_start && p->vendor->push_start(p) != 0)
		return -1;
	if ((p->tz = fs_cli_timezone(p->cli)) == NULL)
		return -1;
	if (load_prices(p) != 0 || fs_campaigns_check(&p->cli->cfg) != 0)
		return -1;
	if (p->mail && fs_push_campaigns_routed(p) != 0)
		return -1;
	/* A connector with OAuth tokens has set its access token already. */
	if (p->secret == NULL)
		p->secret = fs_endpoint_secret(&p->ep, "token_env", "token_file");
	return 0;
}

/* The sender, with the target's key as its connector presents it. */
int
fs_push_sender(struct fs_push *p)
{
	if ((p->http = fs_push_http_new(p->parallel, &p->rate, (long)p->timeout * 1000)) == NULL)
		return -1;
	if (p->secret && (p->vendor->flags & FS_VENDOR_KEY_AS_USER))
		fs_push_http_auth_basic(p->http, p->secret);
	else if (p->secret)
		fs_push_http_auth_bearer(p->http, p->secret);
	return 0;
}

void
fs_push_free(struct fs_push *p)
{
	fs_push_http_free(p->http);
	p->http = NULL;
	if (p->easy_ready)
		fs_http_free(&p->easy);
	p->easy_ready = false;
	fs_buf_free(&p->out);
	fs_buf_free(&p->preview_in);
	fs_secret_free(p->secret);
	p->secret = NULL;
	free(p->url);
	p->url = NULL;
	if (p->vendor && p->vendor->push_free)
		p->vendor->push_free(p);
	free(p->settings);
	p->settings = NULL;
}

/* ---- fs-push cancel ---- */

/* A target the pieces are on, configured on first use, with its client; NULL with the error said. */
static struct fs_push *
cancel_target(struct fs_push_cancel *c, const char *target)
{
	struct fs_push *p;

	for (int i = 0; i < c->ntargets; i++)
		if (strcmp(c->targets[i]->target, target) == 0)
			return c->targets[i];
	p = fs_xmalloc(sizeof *p);
	memset(p, 0, sizeof *p);
	p->cli = c->cli;
	p->target = fs_xstrdup(target);
	if (fs_push_configure(p, 1) != 0 || p->vendor->cancel == NULL) {
		if (p->vendor == NULL || p->vendor->cancel == NULL)
			fs_err("cancel: target '%s' is not a mail target", target);
	} else if (p->secret == NULL) {
		fs_err("cancel: %s: no API key: set %s", target, fs_push_setting(p, "token_env"));
	} else if (fs_http_init(&p->easy, p->target, p->url, fs_push_setting(p, "rate")) == 0) {
		p->easy_ready = true;
		if (p->vendor->flags & FS_VENDOR_KEY_AS_USER)
			fs_http_basic(&p->easy, p->secret);
		else
			fs_http_bearer(&p->easy, p->secret);
		c->targets = fs_xrealloc(c->targets, (size_t)(c->ntargets + 1) * sizeof *c->targets);
		return c->targets[c->ntargets++] = p;
	}
	free((char *)p->target);
	fs_push_free(p);
	free(p);
	return NULL;
}

/* One piece: cancelled at the vendor (the connector), then its cancelled status, history and changelog row. */
int
fs_push_cancel_piece(const struct fs_piece_row *r, void *ctx)
{
	struct fs_push_cancel *c = ctx;
	struct fs_push *p = cancel_target(c, r->target);
	int rc;

	if (p == NULL) {
		c->failed = true;
		return -1;
	}
	if ((rc = p->vendor->cancel(p, r->vendor_id)) < 0) {
		c->unreachable++;
	} else if (rc > 0) {
		c->refused++;
	} else if (fs_state_begin(&c->cli->st) != 0 || fs_outbox_piece_cancelled(&c->cli->st, r, c->cli->run_id) != 0 ||
		   fs_state_commit(&c->cli->st) != 0) {
		fs_state_rollback(&c->cli->st);
		c->failed = true;
	} else {
		printf("cancelled %s (contact %s, campaign %s)\n", r->vendor_id, r->contact_id ? r->contact_id : "-",
		       r->campaign ? r->campaign : "-");
		c->cancelled++;
	}
	return 0;
}

/* A piece named on the command line: one delivered, returned, failed or cancelled is refused. */
int
fs_push_cancel_known(const struct fs_piece_row *r, void *ctx)
{
	if (strcmp(r->status, "cancelled") == 0 || strcmp(r->status, "delivered") == 0 ||
	    strcmp(r->status, "returned") == 0 || strcmp(r->status, "failed") == 0) {
		fs_err("cancel: %s is %s already", r->vendor_id, r->status);
		((struct fs_push_cancel *)ctx)->refused++;
		return 0;
	}
	return fs_push_cancel_piece(r, ctx);
}

void
fs_push_cancel_free(struct fs_push_cancel *c)
{
	for (int i = 0; i < c->ntargets; i++) {
		free((char *)c->targets[i]->target);
		fs_push_free(c->targets[i]);
		free(c->targets[i]);
	}
	free(c->targets);
	c->targets = NULL;
	c->ntargets = 0;
}
