/*
 * fs-push: the end of the pipeline.  Each event it acts on goes into the
 * outbox in the transaction that commits the checkpoint after it; then the
 * due rows are sent: mail pieces to Lob (kind lob), mail status and
 * follow-up dates to HubSpot (kind hubspot), each exactly once.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

#define DAY (24 * 3600)
#define MAX_429 10		/* a row resent this often after 429s waits for the next run */

enum stage { LIST, CREATE, BATCH };

struct push;

struct job {
	struct fs_push_job j;
	struct push *p;
	struct fs_outbox_row *rows;
	int nrows;
	enum stage stage;
	const char *resource;	/* Lob: "postcards", "letters" */
	char *create_body;
	jv ev;			/* Lob: the mail.requested event */
	jv props;		/* HubSpot: row index -> properties written */
	jv *hist;		/* each row's attempt history */
	int *tries;		/* each row's attempts */
	int n429;
	bool tried;		/* this run's attempt is counted (a look and a create are one) */
	bool listed;
	bool last_look;		/* Lob: asking for the piece before a dead letter */
	char send_date[21];	/* Lob: the send date asked for, "" for none */
	char *dead_reason;	/* the dead letter's reason while it asks */
	long dead_status;	/* the failed attempt's answer, kept for the dead letter */
	char *dead_resp;
};

struct push {
	struct fs_cli *cli;
	struct fs_endpoint ep;
	const char *target;
	bool lob, dry_run, retry_only;
	int parallel, chunk;
	struct fs_rate_limit rate;
	struct fs_retry retry;
	int64_t give_up, timeout;
	char *url, *secret;
	struct fs_lob_opts lob_opts;
	const char *prop_status, *prop_sent, *prop_follow;
	double price[2];
	bool priced[2];
	/* sending */
	struct fs_push_http *http;
	struct fs_outbox_row *chunk_rows;
	int nchunk, ichunk;
	int64_t holds_seen, holds_looked_ms;	/* the newest hold when last looked, and when */
	bool no_more, stop;
	struct fs_buf out;
	int status;
	/* counts */
	long taken, queued, repeats, replays, ignored, suppressed;
	long sent, adopted, retrying, dead, held_now, requests, accepted, resumed, capped, suppressed_rows;
	const char *tz;		/* the business's time zone: its days are the caps' */
	long plan[2], plan_crm;
	/* the preview (--dry-run): the input, then what each row would come to */
	bool preview, took_input;
	const char *format;	/* text or csv */
	struct fs_buf preview_in;
	struct preview_row {
		char *status, *event_id, *line, *reason;
		long order;	/* its line in the input; rows from before it after them */
	} *prev;
	int nprev;
	jv input_order;		/* event id -> its line in the input */
	char last_error[256];
};

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-push [-qvV] [-c config] [-s state] [--dry-run [--format csv|text]] [--parallel n]\n"
		   "               [--print-config] [--retry-only] target\n"
		   "       fs-push [-qvV] [-c config] [-s state] cancel (piece ... | --campaign name --since time)\n");
	exit(status);
}

/* The first error wins; the DLQ (1) gives way to any error. */
static void
fail(struct push *p, int status)
{
	if (p->status == FS_EXIT_OK || p->status == FS_EXIT_DLQ)
		if (status > p->status)
			p->status = status;
}

/* A setting of the target; an empty value counts as unset. */
static const char *
cfg(const struct push *p, const char *key)
{
	const char *v = fs_setting(&p->ep, key);

	return v && *v ? v : fs_setting_default(&p->ep, key);
}

/* Where the key is looked for, for messages: token_env (default included), else token_file. */
static const char *
key_source(const struct push *p)
{
	const char *v = cfg(p, "token_env");

	return v ? v : cfg(p, "token_file");
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
txn(struct push *p)
{
	if (p->cli->st.depth > 0)
		return 0;
	if (fs_state_begin(&p->cli->st) != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

/* Commits what the answers changed, then writes the lines that tell of it. */
static int
flush(void *ctx)
{
	struct push *p = ctx;

	if (p->cli->st.depth > 0 && fs_state_commit(&p->cli->st) != 0) {
		fs_state_rollback(&p->cli->st);
		fail(p, FS_EXIT_STATE);
		p->stop = true;
		p->out.len = 0;
		return -1;
	}
	/* The sends go on when the reader has gone: they are the work. */
	if (p->out.len > 0 && !fs_stdout_closed() && write_all(STDOUT_FILENO, p->out.data, p->out.len) != 0)
		fail(p, fs_stdout_error(FS_EXIT_OK));
	p->out.len = 0;
	return 0;
}

static void
emit(struct push *p, jv v)
{
	char *s = fs_jdump(v);

	fs_buf_adds(&p->out, s);
	fs_buf_addc(&p->out, '\n');
	free(s);
	jv_free(v);
}

static void
emit_result_why(struct push *p, const char *event_id, const char *status, const char *vendor_id,
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
emit_result(struct push *p, const char *event_id, const char *status, const char *vendor_id,
	    int http_status, int attempts)
{
	emit_result_why(p, event_id, status, vendor_id, http_status, attempts, NULL);
}

static char *
contact_object(const char *contact_id)
{
	return contact_id ? fs_xasprintf("contact:%s", contact_id) : NULL;
}

/* One attempt, appended to a row's history. */
static jv
attempt(jv hist, const struct fs_push_job *j, const char *error)
{
	char now[21];
	jv a = jv_object();

	fs_time_format(fs_now(), now);
	a = jv_object_set(a, jv_string("at"), jv_string(now));
	a = jv_object_set(a, jv_string("request"), jv_string_fmt("%s", j->bucket ? j->bucket : ""));
	a = jv_object_set(a, jv_string("http_status"), j->http_status ? jv_number((double)j->http_status) : jv_null());
	if (error)
		a = jv_object_set(a, jv_string("error"), jv_string(error));
	a = jv_object_set(a, jv_string("ms"), jv_number((double)j->elapsed_ms));
	return jv_array_append(hist, a);
}

/* A row of the preview: what would become of one mail request. */
static void
preview_add(struct push *p, const char *status, const char *event_id, const char *line, const char *reason)
{
	struct preview_row *r;

	if (!p->preview)
		return;
	p->prev = fs_xrealloc(p->prev, (size_t)(p->nprev + 1) * sizeof *p->prev);
	r = &p->prev[p->nprev++];
	r->status = fs_xstrdup(status);
	r->event_id = fs_xstrdup(event_id);
	r->line = fs_xstrdup(line ? line : "{}");
	r->reason = reason ? fs_xstrdup(reason) : NULL;
	jv at = jv_object_get(jv_copy(p->input_order), jv_string(event_id));
	r->order = jv_get_kind(at) == JV_KIND_NUMBER ? (long)jv_number_value(at) : LONG_MAX / 2 + p->nprev;
	jv_free(at);
}

/* The preview lists the rows in the order of the input, whatever step
 * settled each one (taking it, claiming it, sending it). */
static int
by_input_order(const void *a, const void *b)
{
	const struct preview_row *x = a, *y = b;

	return (x->order > y->order) - (x->order < y->order);
}

/* ---- what becomes of a row ---- */

static int
mark(struct push *p, struct job *jb, int i, const char *state, fs_time next, const char *error,
     const char *vendor_id, long http_status)
{
	char *hist = fs_jdump(jb->hist[i]);
	struct fs_outbox_mark m = {
		.id = jb->rows[i].id, .state = state, .next_attempt_at = next, .attempts = jb->tries[i],
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
		fail(p, FS_EXIT_STATE);
	return rc;
}

static int
row_dead(struct push *p, struct job *jb, int i, const char *reason)
{
	struct fs_outbox_row *r = &jb->rows[i];
	/* After a last look at Lob, the dead letter tells of the failed send, not of the look. */
	long status = jb->last_look ? jb->dead_status : jb->j.http_status;
	const char *resp = jb->last_look ? jb->dead_resp : jb->j.resp.len ? jb->j.resp.data : NULL;
	char *hist = fs_jdump(jb->hist[i]), *object = contact_object(r->contact_id);
	struct fs_dead d = {
		.command = "fs-push", .run_id = p->cli->run_id, .reason = reason, .source = p->target,
		.event_id = r->event_id, .bytes = r->line, .len = strlen(r->line),
		.http_status = (int)status, .response = status ? resp : NULL, .attempts = hist,
	};
	int64_t id;
	int rc;
	jv detail;

	if ((rc = mark(p, jb, i, "dead", 0, reason, NULL, status)) <= 0) {
		free(hist);
		free(object);
		return rc;
	}
	if ((id = fs_dlq_add(&p->cli->st, &d)) < 0) {
		free(hist);
		free(object);
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	detail = jv_object();
	detail = jv_object_set(detail, jv_string("target"), jv_string(p->target));
	detail = jv_object_set(detail, jv_string("dlq_id"), jv_number((double)id));
	detail = jv_object_set(detail, jv_string("http_status"),
			       status ? jv_number((double)status) : jv_null());
	detail = jv_object_set(detail, jv_string("attempts"), jv_number(jb->tries[i]));
	detail = jv_object_set(detail, jv_string("reason"), jv_string(reason));
	rc = fs_changelog(&p->cli->st, "send.dead", p->cli->run_id, r->event_id, object, detail);
	free(hist);
	free(object);
	if (rc != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	fs_err("%s: %s (dead letter #%lld)", r->event_id, reason, (long long)id);
	emit_result(p, r->event_id, "dead", NULL, (int)status, jb->tries[i]);
	p->dead++;
	fail(p, FS_EXIT_DLQ);
	return 1;
}

/* The dead letter's reason when a row has had its last try, else NULL. */
static char *
gave_up(struct push *p, struct job *jb, int i, const char *error)
{
	fs_time now = fs_now(), enq = now;
	char age[32];

	fs_time_parse(jb->rows[i].enqueued_at, &enq);
	if (jb->tries[i] >= p->retry.max)
		snprintf(age, sizeof age, "%d attempts", jb->tries[i]);
	else if (now - enq >= p->give_up)
		snprintf(age, sizeof age, "%lldh", (long long)((now - enq) / 3600));
	else
		return NULL;
	return fs_xasprintf("gave up after %s: %s", age, error);
}

/* A failure that may pass: try again later, or give up into the DLQ. */
static int
row_retry(struct push *p, struct job *jb, int i, const char *error)
{
	struct fs_outbox_row *r = &jb->rows[i];
	fs_time now = fs_now(), next;
	char at[21], *object, *reason;
	int rc;
	jv detail;

	snprintf(p->last_error, sizeof p->last_error, "%s", error);
	if ((reason = gave_up(p, jb, i, error)) != NULL) {
		rc = row_dead(p, jb, i, reason);
		free(reason);
		return rc;
	}
	next = now + fs_backoff(jb->tries[i], p->retry.base, p->retry.cap, 1);
	if ((rc = mark(p, jb, i, "pending", next, error, NULL, jb->j.http_status)) <= 0)
		return rc;
	fs_time_format(next, at);
	object = contact_object(r->contact_id);
	detail = jv_object();
	detail = jv_object_set(detail, jv_string("target"), jv_string(p->target));
	detail = jv_object_set(detail, jv_string("attempts"), jv_number(jb->tries[i]));
	detail = jv_object_set(detail, jv_string("http_status"),
			       jb->j.http_status ? jv_number((double)jb->j.http_status) : jv_null());
	detail = jv_object_set(detail, jv_string("error"), jv_string(error));
	detail = jv_object_set(detail, jv_string("next_attempt_at"), jv_string(at));
	rc = fs_changelog(&p->cli->st, "send.retry", p->cli->run_id, r->event_id, object, detail);
	free(object);
	if (rc != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	emit_result(p, r->event_id, "retrying", NULL, (int)jb->j.http_status, jb->tries[i]);
	p->retrying++;
	return 1;
}

/* A piece the vendor has: created now, or found there (adopted). */
static int
piece_sent(struct push *p, struct job *jb, const char *vendor_id, bool adopted)
{
	struct fs_outbox_row *r = &jb->rows[0];
	jv data = fs_jget(jb->ev, "data"), detail, ev, sd;
	char now[21], status_id[40], *object, *mail_object;
	const char *accepted = now;	/* $FS_NOW's clock, as every stored time */
	const char *format = fs_jstr(data, "format");
	int rc;

	fs_time_format(fs_now(), now);
	if ((rc = mark(p, jb, 0, "sent", 0, NULL, vendor_id, jb->j.http_status)) <= 0) {
		jv_free(data);
		return rc;
	}
	mail_object = fs_xasprintf("mail:%s", vendor_id);
	fs_event_id(p->target, mail_object, "mail.status", "queued", status_id);
	{
		char *detail_name = fs_xasprintf("%s.created", format && strcmp(format, "letter") == 0 ? "letter" : "postcard");
		struct fs_piece pc = {
			.vendor_id = vendor_id, .event_id = r->event_id, .target = p->target,
			.contact_id = r->contact_id, .campaign = r->campaign, .goal = fs_jstr(data, "goal"),
			.format = format, .requested_at = r->requested_at, .queued_at = accepted,
			.status_event_id = status_id, .detail = detail_name,
			.send_date = jb->send_date[0] ? jb->send_date : NULL,
		};

		rc = fs_outbox_piece_add(&p->cli->st, &pc);
		free(detail_name);
	}
	object = contact_object(r->contact_id);
	if (rc == 0 && adopted) {
		detail = jv_object();
		detail = jv_object_set(detail, jv_string("target"), jv_string(p->target));
		detail = jv_object_set(detail, jv_string("vendor_id"), jv_string(vendor_id));
		detail = jv_object_set(detail, jv_string("found_by"),
				       jv_string_fmt("GET /%s?metadata[event_id]", jb->resource));
		rc = fs_changelog(&p->cli->st, "send.adopt", p->cli->run_id, r->event_id, object, detail);
	}
	if (rc == 0) {
		detail = jv_object();
		detail = jv_object_set(detail, jv_string("contact_id"), r->contact_id ? jv_string(r->contact_id) : jv_null());
		detail = jv_object_set(detail, jv_string("campaign"), r->campaign ? jv_string(r->campaign) : jv_null());
		detail = jv_object_set(detail, jv_string("vendor_id"), jv_string(vendor_id));
		detail = jv_object_set(detail, jv_string("http_status"), jv_number((double)jb->j.http_status));
		detail = jv_object_set(detail, jv_string("attempts"), jv_number(jb->tries[0]));
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
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	emit_result(p, r->event_id, "sent", vendor_id, (int)jb->j.http_status, jb->tries[0]);
	sd = jv_object();
	sd = jv_object_set(sd, jv_string("mail_id"), jv_string(r->event_id));
	sd = jv_object_set(sd, jv_string("vendor"), jv_string("lob"));
	sd = jv_object_set(sd, jv_string("vendor_id"), jv_string(vendor_id));
	if (r->contact_id)
		sd = jv_object_set(sd, jv_string("contact_id"), jv_string(r->contact_id));
	if (r->campaign)
		sd = jv_object_set(sd, jv_string("campaign"), jv_string(r->campaign));
	sd = jv_object_set(sd, jv_string("status"), jv_string("queued"));
	sd = jv_object_set(sd, jv_string("detail"),
			   jv_string_fmt("%s.created", format && strcmp(format, "letter") == 0 ? "letter" : "postcard"));
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
	p->sent++;
	p->adopted += adopted;
	return 1;
}

/* ---- claiming rows ---- */

static void
on_held(const char *event_id, int attempts, void *ctx)
{
	struct push *p = ctx;

	emit_result(p, event_id, "held", NULL, 0, attempts);
	p->held_now++;
}

/* Whom a campaign's enrolment is for: the job of a job campaign, else the contact. */
static char *
enrol_subject(jv data)
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
static int
check_row(struct fs_state *st, const struct fs_outbox_row *r, void *ctx)
{
	struct push *p = ctx;
	jv ev = jv_parse(r->line), data = fs_jget(ev, "data"), to = fs_jget(data, "to"), flag;
	char *why = NULL, *object;
	long cap = 0;
	int rc = 0;

	if (!p->lob || strcmp(r->kind, "mail.requested") != 0)
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
			char *subject = enrol_subject(data);

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
			emit_result_why(p, r->event_id, "suppressed", NULL, 0, r->attempts, why);
			preview_add(p, "suppressed", r->event_id, r->line, why);
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
				emit_result_why(p, r->event_id, "capped", NULL, 0, r->attempts, reason);
				preview_add(p, "capped", r->event_id, r->line, reason);
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
drop_chunk(struct push *p)
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
new_hold(struct push *p)
{
	int64_t now = fs_mono_ms(), latest;

	if (now - p->holds_looked_ms < 1000)
		return false;
	p->holds_looked_ms = now;
	return fs_hold_latest(&p->cli->st, &latest) == 0 && latest > p->holds_seen;
}

/* The next claimed row, claiming more (after looking at holds) when needed. */
static struct fs_outbox_row *
next_row(struct push *p)
{
	struct fs_outbox_holds h;

	if (p->stop || p->no_more || fs_interrupted)
		return NULL;
	if (p->ichunk < p->nchunk && !new_hold(p))
		return &p->chunk_rows[p->ichunk++];
	if (drop_chunk(p) != 0) {
		fail(p, FS_EXIT_STATE);
		p->stop = true;
		return NULL;
	}
	/* A hold set while this run sends stops it here: the requests in
	 * flight finish, the rows not yet asked for are held. */
	if (fs_hold_latest(&p->cli->st, &p->holds_seen) != 0 ||
	    fs_outbox_apply_holds(&p->cli->st, p->target, p->lob, p->cli->run_id, on_held, p, &h) != 0) {
		fail(p, FS_EXIT_STATE);
		p->stop = true;
		return NULL;
	}
	p->resumed += h.resumed;
	if (h.resumed > 0)
		fs_debug("%s: %ld held row%s released: the hold is lifted", p->target, h.resumed,
			 h.resumed == 1 ? "" : "s");
	{
		struct fs_claim c = {
			.target = p->target, .run_id = p->cli->run_id, .campaigns = p->lob,
			.lease_until = fs_now() + 15 * 60 + (int64_t)p->chunk * p->rate.window_ms / 1000 / p->rate.n,
			.limit = p->chunk, .check = check_row, .ctx = p,
		};

		/* Rows dealt with (suppressed, capped) make room for others. */
		while ((p->nchunk = fs_outbox_claim(&p->cli->st, &c, &p->chunk_rows)) == FS_CLAIM_AGAIN)
			flush(p);
	}
	if (p->nchunk < 0) {
		p->nchunk = 0;
		fail(p, FS_EXIT_STATE);
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

static struct job *
job_new(struct push *p, int nrows)
{
	struct job *jb = fs_xmalloc(sizeof *jb);

	memset(jb, 0, sizeof *jb);
	jb->p = p;
	jb->j.user = jb;
	jb->ev = jv_null();
	jb->props = jv_array();
	jb->rows = fs_xmalloc((size_t)nrows * sizeof *jb->rows);
	jb->hist = fs_xmalloc((size_t)nrows * sizeof *jb->hist);
	jb->tries = fs_xmalloc((size_t)nrows * sizeof *jb->tries);
	return jb;
}

/* Moves a claimed row into the job. */
static void
job_take(struct job *jb, struct fs_outbox_row *r)
{
	int i = jb->nrows++;
	jv h = jv_parse(r->history ? r->history : "[]");

	jb->rows[i] = *r;
	memset(r, 0, sizeof *r);
	jb->hist[i] = jv_get_kind(h) == JV_KIND_ARRAY ? h : (jv_free(h), jv_array());
	jb->tries[i] = jb->rows[i].attempts;
}

static void
job_free(struct job *jb)
{
	for (int i = 0; i < jb->nrows; i++) {
		fs_outbox_row_free(&jb->rows[i]);
		jv_free(jb->hist[i]);
	}
	free(jb->rows);
	free(jb->hist);
	free(jb->tries);
	free(jb->create_body);
	free(jb->dead_reason);
	free(jb->dead_resp);
	jv_free(jb->ev);
	jv_free(jb->props);
	fs_push_job_clear(&jb->j);
	free(jb);
}

/* A row that cannot be sent as it is: the DLQ, without a request. */
static void
dead_local(struct push *p, struct job *jb, const char *reason)
{
	for (int i = 0; i < jb->nrows; i++)
		if (row_dead(p, jb, i, reason) < 0)
			p->stop = true;
	flush(p);
}

/* ---- Lob ---- */

static bool may_exist(jv hist);

static void
lob_request(struct push *p, struct job *jb, enum stage stage)
{
	fs_push_job_clear(&jb->j);
	jb->stage = stage;
	if (stage == LIST) {
		char *id = fs_urlencode(jb->rows[0].event_id);

		jb->j.url = fs_xasprintf("%s/%s?metadata%%5Bevent_id%%5D=%s&limit=10", p->url, jb->resource, id);
		jb->j.method = "GET";
		jb->j.bucket = strcmp(jb->resource, "letters") == 0 ? "GET /letters" : "GET /postcards";
		free(id);
		jb->listed = true;
	} else {
		char *hdr = fs_xasprintf("Idempotency-Key: %s", jb->rows[0].event_id);

		fs_push_job_header(&jb->j, hdr);
		free(hdr);
		jb->j.url = fs_xasprintf("%s/%s", p->url, jb->resource);
		jb->j.body = fs_xstrdup(jb->create_body);
		jb->j.method = "POST";
		jb->j.bucket = strcmp(jb->resource, "letters") == 0 ? "POST /letters" : "POST /postcards";
	}
}

static struct fs_push_job *
lob_next(void *ctx)
{
	struct push *p = ctx;
	struct fs_outbox_row *r;

	while ((r = next_row(p)) != NULL) {
		struct job *jb = job_new(p, 1);
		struct fs_buf why = {0};

		struct fs_lob_opts o = p->lob_opts;
		int64_t delay = 0;
		char send_date[21];
		bool date_passed = false;

		job_take(jb, r);
		jb->ev = jv_parse(jb->rows[0].line);
		/* send_delay: the piece waits at Lob, cancellable, until then.
		 * The date counts from the row's first attempt, so that a retry
		 * sends the same body under the same idempotency key.  Once that
		 * date is (nearly) past, Lob would refuse it: the retry looks for
		 * the piece first, and asks for a new date only when there is none. */
		if (jb->rows[0].campaign && fs_campaign_send_delay(&p->cli->cfg, jb->rows[0].campaign, &delay) == 0 &&
		    delay > 0) {
			fs_time first = fs_now(), at;

			fs_time_parse(jb->rows[0].first_attempt_at, &first);
			at = first + delay;
			if ((jb->rows[0].attempts > 0 || jb->rows[0].claims > 1) && at <= fs_now() + 60) {
				date_passed = true;
				at = fs_now() + delay;
			}
			fs_time_format(at, send_date);
			o.send_date = send_date;
			memcpy(jb->send_date, send_date, sizeof jb->send_date);
		}
		if (jv_get_kind(jb->ev) != JV_KIND_OBJECT ||
		    fs_lob_create_body(jb->ev, &o, &jb->resource, &jb->create_body, &why) != 0) {
			dead_local(p, jb, why.len ? why.data : "not a mail.requested event");
			fs_buf_free(&why);
			job_free(jb);
			continue;
		}
		fs_buf_free(&why);
		/* Ask whether the piece exists before making one when an earlier
		 * attempt may have made it: a replay, an attempt whose answer never
		 * came (or came unreadable, or 5xx), a claim that died on the way.
		 * Lob's idempotency key would answer for a day, but no clock here
		 * can tell a day reliably (one set back, or $FS_NOW): a look costs
		 * one GET and is right whenever it is made. */
		lob_request(p, jb, jb->rows[0].check_vendor || jb->rows[0].claims > 1 || may_exist(jb->hist[0]) ||
				   date_passed ? LIST : CREATE);
		return &jb->j;
	}
	return NULL;
}

/* Answers every vendor treats alike.  Returns -2 when the caller decides. */
static int
common_answer(struct push *p, struct job *jb)
{
	long s = jb->j.http_status;

	if (s == 429 && ++jb->n429 <= MAX_429)
		return 1;	/* the bucket has slowed down; send it again */
	if (s == 401 || s == 403) {
		if (!p->stop)
			fs_err("%s: HTTP %ld: the API key was refused; check %s", p->target, s, key_source(p));
		fail(p, FS_EXIT_USAGE);
		p->stop = true;
		return 0;	/* the rows stay pending, claims are released at the end */
	}
	return -2;
}

static bool
transient(long s)
{
	return s == 0 || s == 408 || s == 409 || s == 425 || s == 429 || s >= 500;
}

static char *
answer_error(const struct fs_push_job *j)
{
	char *code = NULL, *msg;

	if (j->http_status == 0)
		return fs_xstrdup(j->errbuf[0] ? j->errbuf : "no answer");
	msg = fs_lob_error(j->resp.data, &code);
	if (msg == NULL) {
		jv v = jv_parse(j->resp.data ? j->resp.data : "");

		if (fs_jstr(v, "message"))
			msg = fs_xstrdup(fs_jstr(v, "message"));
		jv_free(v);
	}
	free(code);
	if (msg) {
		char *e = fs_xasprintf("HTTP %ld: %s", j->http_status, msg);

		free(msg);
		return e;
	}
	return fs_xasprintf("HTTP %ld", j->http_status);
}

/*
 * True when a create may have made the piece without fs-push hearing of
 * it: no answer (a dropped or cut connection, a timeout), a 5xx (a gateway
 * may answer after Lob made it), or a 2xx that could not be read.
 */
static bool
may_exist(jv hist)
{
	bool maybe = false;

	jv_array_foreach(hist, i, a) {
		const char *req = fs_jstr(a, "request");
		jv status = fs_jget(a, "http_status");
		double s = jv_get_kind(status) == JV_KIND_NUMBER ? jv_number_value(status) : 0;

		(void)i;
		if (req && strncmp(req, "POST ", 5) == 0 &&
		    (s == 0 || s >= 500 || (s >= 200 && s < 300 && fs_jstr(a, "error"))))
			maybe = true;
		jv_free(status);
		jv_free(a);
	}
	return maybe;
}

/*
 * A Lob row that failed (retry says whether the failure may pass).  Before
 * its dead letter, when an earlier create may have made the piece unseen,
 * Lob is asked for it by metadata: returns 2 when that request is queued.
 */
static int
lob_failed(struct push *p, struct job *jb, const char *error, bool retry)
{
	char *reason;
	int rc;

	if (retry) {
		snprintf(p->last_error, sizeof p->last_error, "%s", error);
		if ((reason = gave_up(p, jb, 0, error)) == NULL)
			return row_retry(p, jb, 0, error);
	} else {
		reason = fs_xstrdup(error);
	}
	if (jb->stage == CREATE && !jb->last_look && may_exist(jb->hist[0])) {
		jb->last_look = true;
		jb->dead_reason = reason;
		jb->dead_status = jb->j.http_status;
		jb->dead_resp = jb->j.http_status && jb->j.resp.len ? fs_xstrdup(jb->j.resp.data) : NULL;
		lob_request(p, jb, LIST);
		return 2;
	}
	if (jb->stage == LIST) {
		/* Lob was asked because a piece may exist (a replay, a retry past the
		 * key window, a conflict), and the asking failed. */
		char *why = fs_xasprintf("%s; the piece may exist at Lob (looking it up failed):"
					 " fs-dlq replay looks it up again and adopts it", reason);

		free(reason);
		reason = why;
	}
	rc = row_dead(p, jb, 0, reason);
	free(reason);
	return rc;
}

/* The answer to the last look: adopt the piece, or write the dead letter. */
static int
last_look_done(struct push *p, struct job *jb)
{
	struct fs_push_job *j = &jb->j;
	char *vid = NULL, *at = NULL, *err = NULL, *reason;
	int rc;

	if (j->http_status >= 200 && j->http_status < 300 && fs_lob_list_first(j->resp.data, &vid, &at) == 0) {
		p->accepted++;
		jb->hist[0] = attempt(jb->hist[0], j, NULL);
		rc = vid ? piece_sent(p, jb, vid, true) : row_dead(p, jb, 0, jb->dead_reason);
		free(vid);
		free(at);
		return rc;
	}
	err = j->http_status >= 200 && j->http_status < 300 ? fs_xstrdup("unreadable list answer") : answer_error(j);
	jb->hist[0] = attempt(jb->hist[0], j, err);
	reason = fs_xasprintf("%s; the piece may exist at Lob (looking it up failed: %s):"
			      " fs-dlq replay looks it up again and adopts it", jb->dead_reason, err);
	rc = row_dead(p, jb, 0, reason);
	free(reason);
	free(err);
	return rc;
}

static int
lob_done(struct fs_push_job *j, void *ctx)
{
	struct push *p = ctx;
	struct job *jb = j->user;
	char *vid = NULL, *at = NULL, *err = NULL, *code = NULL, *msg;
	int rc, again;

	p->requests++;
	if ((again = common_answer(p, jb)) != -2) {
		if (again == 1)
			return 1;
		job_free(jb);
		return 0;
	}
	/* An attempt is a run's try at the row: the look before a create, the
	 * create, and the look before its dead letter are one, so that a
	 * vendor refusing creates for hours spends one attempt per retry, as
	 * `retry` promises, not two. */
	if (!jb->tried) {
		jb->tries[0]++;
		jb->tried = true;
	}
	if (jb->last_look) {
		rc = last_look_done(p, jb);
	} else if (j->http_status >= 200 && j->http_status < 300) {
		/* A look that finds no piece is not the vendor taking anything:
		 * a storm refusing every create still exits 4. */
		if (jb->stage == LIST) {
			if (fs_lob_list_first(j->resp.data, &vid, &at) != 0) {
				p->accepted++;
				jb->hist[0] = attempt(jb->hist[0], j, "unreadable list answer");
				rc = lob_failed(p, jb, "unreadable list answer", true);
			} else if (vid) {
				p->accepted++;
				jb->hist[0] = attempt(jb->hist[0], j, NULL);
				rc = piece_sent(p, jb, vid, true);
			} else {
				/* The vendor has none: make it now. */
				jb->hist[0] = attempt(jb->hist[0], j, NULL);
				lob_request(p, jb, CREATE);
				return 1;
			}
		} else {
			p->accepted++;
			if (fs_lob_piece_parse(j->resp.data, &vid, &at) == 0) {
				jb->hist[0] = attempt(jb->hist[0], j, NULL);
				rc = piece_sent(p, jb, vid, false);
			} else {
				jb->hist[0] = attempt(jb->hist[0], j, "unreadable answer");
				rc = lob_failed(p, jb, "unreadable answer", true);
			}
		}
	} else {
		err = answer_error(j);
		jb->hist[0] = attempt(jb->hist[0], j, err);
		msg = fs_lob_error(j->resp.data, &code);
		free(msg);
		if (jb->stage == CREATE && j->http_status == 422 && code && strcmp(code, "conflict") == 0 &&
		    !jb->listed) {
			/* The key was used with other parameters: find what it made. */
			lob_request(p, jb, LIST);
			free(code);
			free(err);
			return 1;
		}
		rc = lob_failed(p, jb, err, transient(j->http_status));
	}
	free(code);
	free(err);
	free(vid);
	free(at);
	if (rc == 2)
		return 1;	/* the last look goes out */
	job_free(jb);
	if (rc < 0)
		p->stop = true;
	return 0;
}

/* ---- HubSpot ---- */

static void
date_of(const char *t, char out[11])
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

/* The properties one row writes; invalid with a reason when it cannot. */
static jv
crm_props(struct push *p, const struct fs_outbox_row *r, int *rank, char **why)
{
	jv ev = jv_parse(r->line), data = fs_jget(ev, "data"), props = jv_object();
	const char *kind = fs_jstr(ev, "kind");
	char day[11];

	*rank = -1;
	*why = NULL;
	if (r->contact_id == NULL) {
		*why = fs_xstrdup("no contact_id: nothing to write in the CRM");
	} else if (kind && strcmp(kind, "mail.status") == 0) {
		const char *status = fs_jstr(data, "status"), *vendor_id = fs_jstr(data, "vendor_id");
		char *now_status = NULL;

		/* The CRM gets the piece's latest status, never an older one that arrived late. */
		if (vendor_id && fs_piece_status(&p->cli->st, vendor_id, &now_status) == 0 && now_status &&
		    fs_outbox_status_rank(now_status) > fs_outbox_status_rank(status))
			status = now_status;
		*rank = fs_outbox_status_rank(status);
		if (fs_hubspot_mail_label(status) == NULL)
			*why = fs_xasprintf("unknown mail status \"%s\"", status ? status : "");
		else
			props = jv_object_set(props, jv_string(p->prop_status), jv_string(fs_hubspot_mail_label(status)));
		date_of(fs_jstr(ev, "occurred_at"), day);
		if (status && strcmp(fs_jstr(data, "status") ? fs_jstr(data, "status") : "", "sent") == 0 && *day)
			props = jv_object_set(props, jv_string(p->prop_sent), jv_string(day));
		free(now_status);
	} else if (kind && strcmp(kind, "activity.follow_up") == 0) {
		date_of(fs_jstr(data, "at"), day);
		if (*day)
			props = jv_object_set(props, jv_string(p->prop_follow), jv_string(day));
		else
			*why = fs_xstrdup("activity.follow_up without \"at\"");
	} else {
		*why = fs_xasprintf("a %s target does not take %s events", p->ep.kind, kind ? kind : "untyped");
	}
	jv_free(data);
	jv_free(ev);
	if (*why) {
		jv_free(props);
		return jv_invalid();
	}
	return props;
}

/* Merges b into a: dates keep the later one, the status the further one. */
static jv
merge_props(struct push *p, jv a, int arank, jv b, int brank)
{
	jv_object_foreach(b, k, v) {
		const char *key = jv_string_value(k);
		jv old = fs_jget(a, key);
		bool take = !jv_is_valid(old);

		if (!take && strcmp(key, p->prop_status) == 0)
			take = brank >= arank;
		else if (!take)
			take = strcmp(jv_string_value(v), jv_string_value(old)) > 0;
		jv_free(old);
		if (take)
			a = jv_object_set(a, k, v);
		else {
			jv_free(k);
			jv_free(v);
		}
	}
	jv_free(b);
	return a;
}

static struct fs_push_job *
crm_next(void *ctx)
{
	struct push *p = ctx;
	struct job *jb = NULL;
	jv inputs = jv_array(), where = jv_object(), ranks = jv_object(), body;
	struct fs_outbox_row *r;
	int ninputs = 0;

	while (ninputs < 100 && (p->ichunk < p->nchunk || ninputs == 0) && (r = next_row(p)) != NULL) {
		jv props, at;
		int rank;
		char *why;

		if (jb == NULL)
			jb = job_new(p, p->chunk);
		job_take(jb, r);
		r = &jb->rows[jb->nrows - 1];
		props = crm_props(p, r, &rank, &why);
		if (!jv_is_valid(props)) {
			struct job *one = job_new(p, 1);

			jv_free(props);
			job_take(one, r);
			jb->nrows--;
			jv_free(jb->hist[jb->nrows]);
			dead_local(p, one, why);
			free(why);
			job_free(one);
			continue;
		}
		jb->props = jv_array_append(jb->props, jv_copy(props));
		at = fs_jget(where, r->contact_id);
		if (jv_is_valid(at)) {
			int k = (int)jv_number_value(at);
			jv in = jv_array_get(jv_copy(inputs), k);
			jv old = fs_jget(in, "properties"), orank = fs_jget(ranks, r->contact_id);

			in = jv_object_set(in, jv_string("properties"),
					   merge_props(p, old, (int)jv_number_value(orank), props, rank));
			inputs = jv_array_set(inputs, k, in);
			if (rank > (int)jv_number_value(orank))
				ranks = jv_object_set(ranks, jv_string(r->contact_id), jv_number(rank));
			jv_free(orank);
		} else {
			jv in = jv_object();

			in = jv_object_set(in, jv_string("id"), jv_string(r->contact_id));
			in = jv_object_set(in, jv_string("properties"), props);
			inputs = jv_array_append(inputs, in);
			where = jv_object_set(where, jv_string(r->contact_id), jv_number(ninputs++));
			ranks = jv_object_set(ranks, jv_string(r->contact_id), jv_number(rank));
		}
		jv_free(at);
	}
	jv_free(where);
	jv_free(ranks);
	if (jb == NULL || jb->nrows == 0) {
		jv_free(inputs);
		if (jb)
			job_free(jb);
		return NULL;
	}
	body = jv_object_set(jv_object(), jv_string("inputs"), inputs);
	jb->j.body = fs_jdump(body);
	jv_free(body);
	jb->j.url = fs_xasprintf("%s/crm/v3/objects/contacts/batch/update", p->url);
	jb->j.method = "POST";
	jb->j.bucket = "POST /crm/v3/objects/contacts/batch/update";
	jb->stage = BATCH;
	return &jb->j;
}

static int
crm_sent(struct push *p, struct job *jb, int i)
{
	struct fs_outbox_row *r = &jb->rows[i];
	char *object = contact_object(r->contact_id);
	jv detail;
	int rc;

	if ((rc = mark(p, jb, i, "sent", 0, NULL, r->contact_id, jb->j.http_status)) <= 0) {
		free(object);
		return rc;
	}
	detail = jv_object();
	detail = jv_object_set(detail, jv_string("target"), jv_string(p->target));
	detail = jv_object_set(detail, jv_string("contact_id"), jv_string(r->contact_id));
	detail = jv_object_set(detail, jv_string("properties"), jv_array_get(jv_copy(jb->props), i));
	detail = jv_object_set(detail, jv_string("http_status"), jv_number((double)jb->j.http_status));
	detail = jv_object_set(detail, jv_string("attempts"), jv_number(jb->tries[i]));
	rc = fs_changelog(&p->cli->st, "crm.update", p->cli->run_id, r->event_id, object, detail);
	free(object);
	if (rc != 0) {
		fail(p, FS_EXIT_STATE);
		return -1;
	}
	emit_result(p, r->event_id, "sent", r->contact_id, (int)jb->j.http_status, jb->tries[i]);
	p->sent++;
	return 1;
}

static int
crm_done(struct fs_push_job *j, void *ctx)
{
	struct push *p = ctx;
	struct job *jb = j->user;
	jv failed = jv_object();
	char *err = NULL;
	int again, rc = 0;

	p->requests++;
	if ((again = common_answer(p, jb)) != -2) {
		jv_free(failed);
		if (again == 1)
			return 1;
		job_free(jb);
		return 0;
	}
	if (j->http_status == 207)
		failed = (jv_free(failed), fs_hubspot_batch_failures(j->resp.data));
	if (j->http_status < 200 || j->http_status >= 300)
		err = answer_error(j);
	else
		p->accepted++;
	for (int i = 0; i < jb->nrows && rc >= 0; i++) {
		jv why = fs_jget(failed, jb->rows[i].contact_id);

		jb->tries[i]++;
		if (jv_is_valid(why)) {
			const char *cat = fs_jstr(why, "category");
			char *e = fs_xasprintf("HTTP 207: %s: %s", cat, fs_jstr(why, "message"));
			bool permanent = strcmp(cat, "OBJECT_NOT_FOUND") == 0 || strcmp(cat, "VALIDATION_ERROR") == 0 ||
					 strcmp(cat, "INVALID_EMAIL") == 0 || strcmp(cat, "PROPERTY_DOESNT_EXIST") == 0;

			jb->hist[i] = attempt(jb->hist[i], j, e);
			rc = permanent ? row_dead(p, jb, i, e) : row_retry(p, jb, i, e);
			free(e);
		} else if (err) {
			jb->hist[i] = attempt(jb->hist[i], j, err);
			rc = transient(j->http_status) ? row_retry(p, jb, i, err) : row_dead(p, jb, i, err);
		} else {
			jb->hist[i] = attempt(jb->hist[i], j, NULL);
			rc = crm_sent(p, jb, i);
		}
		jv_free(why);
	}
	jv_free(failed);
	free(err);
	job_free(jb);
	if (rc < 0)
		p->stop = true;
	return 0;
}

/* ---- the send phase ---- */

static int
drain(struct push *p)
{
	static const struct fs_push_http_ops lob_ops = {lob_next, lob_done, flush};
	static const struct fs_push_http_ops crm_ops = {crm_next, crm_done, flush};
	long revived;
	int rc;

	if (p->stop)
		return 0;
	if (p->secret == NULL) {
		struct fs_outbox_counts c;

		/* Nothing to send needs no key. */
		if (fs_outbox_counts(&p->cli->st, p->target, &c) != 0) {
			fail(p, FS_EXIT_STATE);
			return -1;
		}
		if (c.pending == 0)
			return 0;
		fs_err("%s: no API key: set %s", p->target, key_source(p));
		fail(p, FS_EXIT_USAGE);
		p->stop = true;
		return -1;
	}
	if (fs_outbox_replays(&p->cli->st, p->target, p->cli->run_id, &revived) != 0) {
		fail(p, FS_EXIT_STATE);
		p->stop = true;
		return -1;
	}
	p->replays += revived;
	p->no_more = false;
	rc = fs_push_http_run(p->http, p->lob ? &lob_ops : &crm_ops, p);
	flush(p);
	/* Interrupted or stopped: the rows never asked for go back as they were. */
	if (drop_chunk(p) != 0)
		rc = -1;
	if (rc != 0) {
		fail(p, FS_EXIT_STATE);
		p->stop = true;
	}
	if (fs_outbox_release(&p->cli->st, p->cli->run_id) != 0)
		fail(p, FS_EXIT_STATE);
	return rc;
}

/* ---- reading events ---- */

static bool
takes(const struct push *p, const char *kind)
{
	return fs_target_takes(p->ep.kind, kind);
}

static void
plan_line(struct push *p, const char *event_id, jv ev, const char *note)
{
	jv data = fs_jget(ev, "data");
	const char *contact = fs_jstr(data, "contact_id");

	if (p->lob) {
		const char *format = fs_jstr(data, "format");
		bool letter = format && strcmp(format, "letter") == 0;

		p->plan[letter]++;
		printf("would send %s: POST /%s (contact %s, campaign %s)%s\n", event_id,
		       letter ? "letters" : "postcards", contact ? contact : "?",
		       fs_jstr(data, "campaign") ? fs_jstr(data, "campaign") : "?", note);
	} else {
		int rank;
		char *why = NULL;
		struct fs_outbox_row r = {.contact_id = (char *)contact};
		jv props;

		r.line = fs_jdump(ev);
		props = crm_props(p, &r, &rank, &why);
		if (jv_is_valid(props)) {
			char *s = fs_jdump(props);

			p->plan_crm++;
			printf("would update contact %s: %s%s\n", contact, s, note);
			free(s);
		} else {
			printf("would dead-letter %s: %s\n", event_id, why);
		}
		jv_free(props);
		free(why);
		free(r.line);
	}
	jv_free(data);
}

/*
 * A mail request that finds its subject enrolled for its goal by another
 * event (why "goal"), or in its campaign too lately to enter it again (why
 * "reentry"): no piece, a changelog row saying what was in the way, a
 * result.  Once per event: a re-run's repeat is a repeat.
 */
static int
suppressed(struct push *p, jv ev, const char *goal, const struct fs_enrolment *e, const char *why)
{
	struct fs_state *st = &p->cli->st;
	jv data, detail;
	const char *id = fs_jstr(ev, "id"), *contact;
	char *reason;
	int rc;

	if ((rc = fs_changelog_has(st, "dedupe.suppressed", id)) != 0) {
		p->repeats += rc > 0;
		return rc < 0 ? -1 : 0;
	}
	data = fs_jget(ev, "data");
	detail = jv_object();
	contact = fs_jstr(data, "contact_id");
	detail = jv_object_set(detail, jv_string("blocked_by"), jv_string(e->event_id));
	detail = jv_object_set(detail, jv_string("campaign"), jv_string(e->campaign));
	detail = jv_object_set(detail, jv_string("goal"), jv_string(goal));
	detail = jv_object_set(detail, jv_string("contact_id"), jv_string(contact));
	detail = jv_object_set(detail, jv_string("active_until"), jv_string(e->active_until));
	detail = jv_object_set(detail, jv_string("requested_campaign"), jv_string(fs_jstr(data, "campaign")));
	if (strcmp(why, "goal") == 0) {
		reason = fs_xasprintf("enrolled for goal \"%s\" by %s (campaign \"%s\") until %s", goal, e->event_id,
				      e->campaign, e->active_until);
	} else {
		detail = jv_object_set(detail, jv_string("why"), jv_string("reentry"));
		detail = jv_object_set(detail, jv_string("entered_at"), jv_string(e->started_at));
		reason = fs_xasprintf("entered campaign \"%s\" at %s (%s): no re-entry yet", e->campaign, e->started_at,
				      e->event_id);
	}
	fs_debug("%s: suppressed, contact %s %s", id, contact, reason);
	rc = fs_changelog(st, "dedupe.suppressed", p->cli->run_id, id, fs_jstr(ev, "object"), detail);
	if (rc == 0)
		rc = fs_dedupe_count(st, fs_now(), "campaign_guard", 1);
	if (rc == 0) {
		char *line = fs_jdump(ev);

		emit_result_why(p, id, "suppressed", NULL, 0, 0, reason);
		preview_add(p, "suppressed", id, line, reason);
		free(line);
		p->suppressed++;
	}
	free(reason);
	jv_free(data);
	return rc;
}

/*
 * A mail request takes its subject's enrolment for its goal, then its
 * outbox row, in one transaction: whatever pipelines run at once, one event
 * per contact (or job) and goal gets a piece while the enrolment is active,
 * and a subject enters a campaign again only after its reentry.  1 in the
 * outbox (or there already), 0 suppressed, -1 error.
 */
static int
enrol(struct push *p, jv ev, jv data)
{
	const char *campaign = fs_jstr(data, "campaign");
	char *subject = enrol_subject(data);
	struct fs_enrol_req r = {
		.subject = subject, .goal = fs_campaign_goal(&p->cli->cfg, data),
		.campaign = campaign, .event_id = fs_jstr(ev, "id"), .run_id = p->cli->run_id, .now = fs_now(),
	};
	struct fs_enrolment e;
	int rc;

	if (fs_campaign_active(&p->cli->cfg, campaign, &r.active) != 0 ||
	    fs_campaign_reentry(&p->cli->cfg, campaign, &r.reentry) != 0) {
		free(subject);
		return -1;	/* checked at start */
	}
	rc = fs_enrol(&p->cli->st, &r, &e);
	if (rc == 0 || rc == 2)
		rc = suppressed(p, ev, r.goal, &e, rc == 0 ? "goal" : "reentry") == 0 ? 0 : -1;
	fs_enrolment_free(&e);
	free(subject);
	return rc;
}

/* What a mail request's piece costs, from [target] price; -1 when not priced. */
static double
request_price(const struct push *p, jv data)
{
	const char *format = fs_jstr(data, "format");
	int letter = format && strcmp(format, "letter") == 0;

	return p->lob && p->priced[letter] ? p->price[letter] : -1;
}

/*
 * One valid event, in the open transaction: its facts, then, when this
 * target takes it, its enrolment and outbox row, and its key made final
 * with them.  0, or -1 on a state error.
 */
static int
take_event(struct push *p, jv ev, const char *bytes, size_t len)
{
	struct fs_state *st = &p->cli->st;
	const char *id = fs_jstr(ev, "id"), *kind = fs_jstr(ev, "kind");
	jv data = fs_jget(ev, "data");
	int rc = 0;

	/* Facts for fs-report and fs-watchdog, whatever the target. */
	if (strcmp(kind, "mail.status") == 0)
		rc = fs_outbox_piece_status(st, id, data, fs_jstr(ev, "occurred_at")) < 0 ? -1 : 0;
	else if (strcmp(kind, "activity.follow_up") == 0)
		rc = fs_outbox_activity(st, id, data);
	else if (strcmp(kind, "outcome.revenue") == 0)
		rc = fs_outbox_revenue(st, id, data);
	if (rc == 0 && takes(p, kind)) {
		struct fs_outbox_new n = {
			.target = p->target, .event_id = id, .kind = kind,
			.contact_id = fs_jstr(data, "contact_id"), .campaign = fs_jstr(data, "campaign"),
			.requested_at = fs_jstr(ev, "occurred_at"), .run_id = p->cli->run_id,
			.line = bytes, .len = len, .price = request_price(p, data),
		};

		/* A request already in the outbox (a re-run, a replay) keeps the
		 * enrolment it had: a suppressed one gave its enrolment back and
		 * must not take it again. */
		rc = 1;
		if (strcmp(kind, "mail.requested") == 0 && (rc = fs_outbox_has(st, p->target, id)) == 0)
			rc = enrol(p, ev, data);
		else if (rc > 0)
			rc = 1;
		if (rc > 0) {
			switch (fs_outbox_enqueue(st, &n)) {
			case 1:
				p->queued++;
				rc = 0;
				break;
			case 2:
			case 0:
				p->repeats++;
				rc = 0;
				break;
			default:
				rc = -1;
			}
		}
		/* The key is final with the row that acts on it: killed before the
		 * checkpoint, a re-run finds the event done, and the row is sent. */
		if (rc == 0)
			rc = fs_keys_finalize(st, id);
	} else if (rc == 0) {
		p->ignored++;
		/* Another target's event stays open for its own pipeline. */
		if (!fs_kind_targeted(kind))
			rc = fs_keys_finalize(st, id);
	}
	jv_free(data);
	return rc;
}

static int
on_event(struct fs_loop *lp, struct fs_line *ln, void *ctx)
{
	struct push *p = ctx;
	const char *id = fs_jstr(ln->obj, "id");
	struct fs_buf why = {0};
	int rc = 0;

	if (fs_event_validate(ln->obj, &why) != 0) {
		rc = fs_reject(lp, ln, id, "%s", why.data);
		fs_buf_free(&why);
		return rc;
	}
	fs_buf_free(&why);
	p->taken++;
	if (p->dry_run) {
		/* The preview takes them all at the end, in one transaction it
		 * rolls back: none is held while the input comes. */
		fs_buf_add(&p->preview_in, ln->bytes, ln->len);
		fs_buf_addc(&p->preview_in, '\n');
		return 0;
	}
	if (fs_loop_txn(lp) != 0)
		return -1;
	if (take_event(p, ln->obj, ln->bytes, ln->len) != 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

/* ---- configuration ---- */

static int
load_prices(struct push *p)
{
	const char *price = p->lob ? cfg(p, "price") : NULL;
	char *copy, *save = NULL;

	if (price == NULL)
		return 0;
	copy = fs_xstrdup(price);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char fmt[32];
		double v;

		if (sscanf(tok, " %31s %lf", fmt, &v) != 2 || (strcmp(fmt, "postcard") != 0 && strcmp(fmt, "letter") != 0)) {
			fs_err("target '%s': malformed price '%s' (want 'postcard 0.65, letter 1.10')", p->target, price);
			free(copy);
			return -1;
		}
		p->price[strcmp(fmt, "letter") == 0] = v;
		p->priced[strcmp(fmt, "letter") == 0] = true;
	}
	free(copy);
	return 0;
}

static int
configure(struct push *p, int parallel)
{
	const char *rate, *retry, *give_up, *timeout, *url, *use_type, *color;
	int64_t secs;
	size_t n;

	if (fs_endpoint_find(&p->cli->cfg, "target", p->target, &p->ep) != 0)
		return -1;
	if (strcmp(p->ep.kind, "lob") != 0 && strcmp(p->ep.kind, "hubspot") != 0) {
		fs_err("target '%s': kind '%s' cannot be pushed to (lob or hubspot)", p->target, p->ep.kind);
		return -1;
	}
	p->lob = strcmp(p->ep.kind, "lob") == 0;
	rate = cfg(p, "rate");
	if (fs_rate_limit_parse(rate, &p->rate) != 0 || p->rate.n <= 0) {
		fs_err("target '%s': malformed rate '%s' (want N/DURATION, as 150/5s)", p->target, rate);
		return -1;
	}
	retry = cfg(p, "retry");
	if (fs_retry_parse(retry, &p->retry) != 0) {
		fs_err("target '%s': malformed retry '%s' (want FIRST..CAP xATTEMPTS, as 30s..6h x8)", p->target, retry);
		return -1;
	}
	give_up = cfg(p, "give_up");
	if (fs_duration_parse(give_up, &p->give_up) != 0) {
		fs_err("target '%s': malformed give_up '%s'", p->target, give_up);
		return -1;
	}
	timeout = cfg(p, "timeout");
	if (fs_duration_parse(timeout, &secs) != 0 || secs <= 0) {
		fs_err("target '%s': malformed timeout '%s'", p->target, timeout);
		return -1;
	}
	p->timeout = secs;
	if (parallel <= 0) {
		const char *v = cfg(p, "parallel");

		parallel = atoi(v);
		if (parallel <= 0 || parallel > 256) {
			fs_err("target '%s': parallel must be 1 to 256, not '%s'", p->target, v);
			return -1;
		}
	}
	p->parallel = parallel;
	p->chunk = p->lob ? (parallel * 4 > 100 ? parallel * 4 : 100) : 100;
	url = cfg(p, "url");
	p->url = fs_xstrdup(url);
	n = strlen(p->url);
	while (n > 0 && p->url[n - 1] == '/')
		p->url[--n] = '\0';
	if (p->lob) {
		use_type = cfg(p, "use_type");
		if (strcmp(use_type, "marketing") != 0 && strcmp(use_type, "operational") != 0) {
			fs_err("target '%s': use_type must be marketing or operational, not '%s'", p->target,
			       use_type);
			return -1;
		}
		p->lob_opts.use_type = use_type;
		p->lob_opts.size = cfg(p, "size");
		p->lob_opts.mail_type = cfg(p, "mail_type");
		color = cfg(p, "color");
		p->lob_opts.color = strcmp(color, "true") == 0 || strcmp(color, "yes") == 0;
	} else {
		p->prop_status = cfg(p, "prop_mail_status");
		p->prop_sent = cfg(p, "prop_last_mail_sent");
		p->prop_follow = cfg(p, "prop_last_follow_up");
	}
	if ((p->tz = fs_cli_timezone(p->cli)) == NULL)
		return -1;
	if (load_prices(p) != 0 || fs_campaigns_check(&p->cli->cfg) != 0)
		return -1;
	p->secret = fs_endpoint_secret(&p->ep, "token_env", "token_file");
	return 0;
}

/* ---- the preview ---- */

/* A CRM target's preview: the updates each event would make. */
static void
crm_plan(struct push *p)
{
	for (size_t off = 0; off < p->preview_in.len;) {
		char *nl = memchr(p->preview_in.data + off, '\n', p->preview_in.len - off), *state = NULL;
		size_t len = (size_t)(nl - (p->preview_in.data + off));
		jv ev = jv_parse_sized(p->preview_in.data + off, (int)len);
		const char *id = fs_jstr(ev, "id");

		if (takes(p, fs_jstr(ev, "kind")) && fs_outbox_state(&p->cli->st, p->target, id, &state) == 0 &&
		    (state == NULL || strcmp(state, "dead") == 0))
			plan_line(p, id, ev, state ? " (a replay)" : "");
		free(state);
		jv_free(ev);
		off += len + 1;
	}
}

static int
preview_held(const char *event_id, const char *line, void *ctx)
{
	preview_add(ctx, "held", event_id, line, "a watchdog hold (fs-watchdog ack lifts it)");
	return 0;
}

/* A mail request's address on one line. */
static char *
address_line(jv to)
{
	static const char *const keys[] = {"line1", "line2", "city", "region", "postal_code", NULL};
	struct fs_buf b = {0};

	fs_buf_adds(&b, "");
	for (int i = 0; keys[i]; i++) {
		const char *v = fs_jstr(to, keys[i]);

		if (v && *v)
			fs_buf_addf(&b, "%s%s", b.len ? (i >= 3 ? " " : ", ") : "", v);
	}
	return b.data;
}

static void
preview_print(struct push *p)
{
	bool csv = strcmp(p->format, "csv") == 0;
	long n[2] = {0, 0}, counts[4] = {0, 0, 0, 0};
	static const char *const kinds[4] = {"suppressed", "capped", "held", "send"};
	double cost = 0;

	/* No rows, no array: qsort's base must not be NULL even for none (UBSan). */
	if (p->nprev > 0)
		qsort(p->prev, (size_t)p->nprev, sizeof *p->prev, by_input_order);
	if (csv)
		printf("status,event_id,contact_id,name,address,campaign,format,price,reason\r\n");
	else
		printf("%-10s %-10s %-22s %-42s %-12s %-8s %5s  %s\n", "STATUS", "CONTACT", "NAME", "ADDRESS",
		       "CAMPAIGN", "FORMAT", "PRICE", "WHY NOT");
	for (int i = 0; i < p->nprev; i++) {
		const struct preview_row *r = &p->prev[i];
		jv ev = jv_parse(r->line), data = fs_jget(ev, "data"), to = fs_jget(data, "to");
		const char *format = fs_jstr(data, "format") ? fs_jstr(data, "format") : "postcard";
		bool letter = strcmp(format, "letter") == 0, send = strcmp(r->status, "send") == 0;
		char *addr = address_line(to), price[32] = "";

		for (int k = 0; k < 4; k++)
			counts[k] += strcmp(r->status, kinds[k]) == 0;
		if (send) {
			n[letter]++;
			cost += p->price[letter];
		}
		if (p->priced[letter])
			snprintf(price, sizeof price, "%.2f", p->price[letter]);
		if (csv) {
			const char *cells[] = {r->status, r->event_id, fs_jstr(data, "contact_id"), fs_jstr(to, "name"), addr,
					       fs_jstr(data, "campaign"), format, price, r->reason};

			for (size_t c = 0; c < sizeof cells / sizeof cells[0]; c++) {
				if (c)
					putchar(',');
				fs_csv_fcell(stdout, cells[c]);
			}
			printf("\r\n");
		} else {
			printf("%-10s %-10.10s %-22.22s %-42.42s %-12.12s %-8s %5s%s%s\n", r->status,
			       fs_jstr(data, "contact_id") ? fs_jstr(data, "contact_id") : "-",
			       fs_jstr(to, "name") ? fs_jstr(to, "name") : "-", addr,
			       fs_jstr(data, "campaign") ? fs_jstr(data, "campaign") : "-", format, send ? price : "",
			       r->reason ? "  " : "", r->reason ? r->reason : "");
		}
		free(addr);
		jv_free(to);
		jv_free(data);
		jv_free(ev);
	}
	if (csv) {
		printf("total,,,,,,,%.2f,%ld pieces would be sent\r\n", cost, n[0] + n[1]);
		return;
	}
	printf("%ld mail piece%s would be sent (postcard %ld, letter %ld)", n[0] + n[1], n[0] + n[1] == 1 ? "" : "s",
	       n[0], n[1]);
	if (n[0] + n[1] > 0 && (p->priced[0] || p->priced[1]))
		printf(", estimated cost %.2f", cost);
	printf("; %ld suppressed, %ld capped, %ld held\n", counts[0], counts[1], counts[2]);
}

static void
preview_free(struct push *p)
{
	for (int i = 0; i < p->nprev; i++) {
		free(p->prev[i].status);
		free(p->prev[i].event_id);
		free(p->prev[i].line);
		free(p->prev[i].reason);
	}
	free(p->prev);
	p->prev = NULL;
	p->nprev = 0;
	fs_buf_free(&p->preview_in);
	jv_free(p->input_order);
}

/*
 * The preview: what a run would do now with this input, worked out by the
 * code that does it (enrolments, the do-not-mail list, caps, holds, in the
 * order a run claims), inside one transaction that is then rolled back:
 * no vendor request, nothing kept.  0, or -1 on a state error.
 */
static int
preview(struct push *p)
{
	struct fs_state *st = &p->cli->st;
	struct fs_outbox_holds h;
	struct fs_claim c = {
		.target = p->target, .run_id = p->cli->run_id, .campaigns = p->lob, .lease_until = fs_now() + 60,
		.limit = 1000, .check = check_row, .ctx = p,
	};
	struct fs_outbox_row *rows;
	int n;

	p->preview = true;
	p->input_order = jv_object();
	if (fs_state_begin(st) != 0)
		return -1;
	for (size_t off = 0; off < p->preview_in.len;) {
		char *nl = memchr(p->preview_in.data + off, '\n', p->preview_in.len - off);
		size_t len = (size_t)(nl - (p->preview_in.data + off));
		jv ev = jv_parse_sized(p->preview_in.data + off, (int)len);
		const char *id = fs_jstr(ev, "id");

		if (id)
			p->input_order = jv_object_set(p->input_order, jv_string(id),
						       jv_number(jv_object_length(jv_copy(p->input_order))));
		int rc = take_event(p, ev, p->preview_in.data + off, len);

		jv_free(ev);
		if (rc != 0)
			goto fail;
		off += len + 1;
	}
	if (fs_outbox_apply_holds(st, p->target, p->lob, p->cli->run_id, NULL, NULL, &h) != 0)
		goto fail;
	while ((n = fs_outbox_claim(st, &c, &rows)) != 0) {
		if (n == FS_CLAIM_AGAIN)
			continue;
		if (n < 0)
			goto fail;
		for (int i = 0; i < n; i++) {
			preview_add(p, "send", rows[i].event_id, rows[i].line, NULL);
			fs_outbox_row_free(&rows[i]);
		}
		free(rows);
	}
	if (fs_outbox_held_each(st, p->target, preview_held, p) != 0)
		goto fail;
	fs_state_rollback(st);
	preview_print(p);
	preview_free(p);
	return 0;
fail:
	fs_state_rollback(st);
	preview_free(p);
	return -1;
}

/* ---- fs-push cancel ---- */

struct cancel {
	struct fs_cli *cli;
	struct push *targets;	/* one configured push per target the pieces are on */
	struct fs_http *http;
	int ntargets;
	long cancelled, refused, unreachable;
	bool failed;
};

/* The HTTP client for a target, configured on first use; NULL with the error said. */
static struct fs_http *
cancel_http(struct cancel *c, const char *target)
{
	struct push *p;

	for (int i = 0; i < c->ntargets; i++)
		if (strcmp(c->targets[i].target, target) == 0)
			return &c->http[i];
	c->targets = fs_xrealloc(c->targets, (size_t)(c->ntargets + 1) * sizeof *c->targets);
	c->http = fs_xrealloc(c->http, (size_t)(c->ntargets + 1) * sizeof *c->http);
	p = &c->targets[c->ntargets];
	memset(p, 0, sizeof *p);
	p->cli = c->cli;
	p->target = fs_xstrdup(target);
	if (configure(p, 1) != 0 || !p->lob) {
		if (!p->lob)
			fs_err("cancel: target '%s' is not a mail target", target);
		free((char *)p->target);
		free(p->url);
		fs_secret_free(p->secret);
		return NULL;
	}
	if (p->secret == NULL) {
		fs_err("cancel: %s: no API key: set %s", target, cfg(p, "token_env"));
		free((char *)p->target);
		free(p->url);
		return NULL;
	}
	if (fs_http_init(&c->http[c->ntargets], p->target, p->url, cfg(p, "rate")) != 0) {
		free((char *)p->target);
		free(p->url);
		fs_secret_free(p->secret);
		return NULL;
	}
	fs_http_basic(&c->http[c->ntargets], p->secret);
	return &c->http[c->ntargets++];
}

/* One piece: DELETE at the vendor, then its cancelled status, history and changelog row. */
static int
cancel_piece(const struct fs_piece_row *r, void *ctx)
{
	struct cancel *c = ctx;
	struct fs_http *h = cancel_http(c, r->target);
	const char *resource = fs_lob_resource_of(r->vendor_id);
	struct fs_http_response resp;
	char *path, *msg, *code = NULL;

	if (h == NULL) {
		c->failed = true;
		return -1;
	}
	if (resource == NULL) {
		fs_err("cancel: %s is not a Lob postcard or letter", r->vendor_id);
		c->refused++;
		return 0;
	}
	path = fs_xasprintf("/%s/%s", resource, r->vendor_id);
	if (fs_http_request(h, "DELETE", path, NULL, NULL, &resp) != 0) {
		fs_err("cancel: %s: %s unreachable", r->vendor_id, r->target);
		c->unreachable++;
	} else if (resp.status >= 200 && resp.status < 300) {
		if (fs_state_begin(&c->cli->st) != 0 || fs_outbox_piece_cancelled(&c->cli->st, r, c->cli->run_id) != 0 ||
		    fs_state_commit(&c->cli->st) != 0) {
			fs_state_rollback(&c->cli->st);
			c->failed = true;
		} else {
			printf("cancelled %s (contact %s, campaign %s)\n", r->vendor_id, r->contact_id ? r->contact_id : "-",
			       r->campaign ? r->campaign : "-");
			c->cancelled++;
		}
	} else {
		msg = fs_lob_error(resp.body.data, &code);
		fs_err("cancel: could not cancel %s: HTTP %ld%s%s%s", r->vendor_id, resp.status, msg ? ": " : "",
		       msg ? msg : "", resp.status == 422 ? " (past its send date: it is being printed or mailed)" : "");
		free(msg);
		free(code);
		c->refused++;
	}
	fs_http_response_free(&resp);
	free(path);
	return 0;
}

static int
known_piece(const struct fs_piece_row *r, void *ctx)
{
	if (strcmp(r->status, "cancelled") == 0 || strcmp(r->status, "delivered") == 0 ||
	    strcmp(r->status, "returned") == 0 || strcmp(r->status, "failed") == 0) {
		fs_err("cancel: %s is %s already", r->vendor_id, r->status);
		((struct cancel *)ctx)->refused++;
		return 0;
	}
	return cancel_piece(r, ctx);
}

/*
 * fs-push cancel PIECE... | --campaign NAME --since TIME: the pieces
 * still inside their send date are cancelled at the vendor; with
 * --campaign, the campaign's rows not sent yet are withdrawn first.
 */
static int
cancel(struct fs_cli *cli, int argc, char **argv, const char *campaign, const char *since_opt)
{
	struct cancel c = {.cli = cli};
	fs_time since = 0;
	int status = FS_EXIT_OK;

	if ((campaign != NULL) != (since_opt != NULL) || (campaign != NULL) == (argc > 0)) {
		fs_err("cancel: give piece ids, or --campaign NAME with --since TIME");
		return FS_EXIT_USAGE;
	}
	if (since_opt && fs_cli_time(cli, "cancel: --since", since_opt, false, &since) != 0)
		return FS_EXIT_USAGE;
	if (fs_cli_state(cli) != 0)
		return FS_EXIT_STATE;
	if (campaign) {
		long withdrawn, busy;

		if (fs_state_begin(&cli->st) != 0 ||
		    fs_outbox_withdraw(&cli->st, campaign, since, cli->run_id, &withdrawn, &busy) != 0 ||
		    fs_state_commit(&cli->st) != 0) {
			fs_state_rollback(&cli->st);
			return FS_EXIT_STATE;
		}
		if (withdrawn > 0)
			printf("withdrew %ld row%s not sent yet\n", withdrawn, withdrawn == 1 ? "" : "s");
		if (busy > 0)
			fs_err("cancel: %ld row%s of campaign %s %s being sent now: run the cancel again when %s done",
			       busy, busy == 1 ? "" : "s", campaign, busy == 1 ? "is" : "are", busy == 1 ? "it is" : "they are");
		if (fs_outbox_cancellable(&cli->st, campaign, since, cancel_piece, &c) != 0)
			c.failed = true;
	} else {
		for (int i = 0; i < argc; i++) {
			int rc = fs_outbox_piece(&cli->st, argv[i], known_piece, &c);

			if (rc < 0)
				c.failed = true;
			else if (rc == 0) {
				fs_err("cancel: no piece %s in the state file", argv[i]);
				status = FS_EXIT_USAGE;
			}
		}
	}
	for (int i = 0; i < c.ntargets; i++) {
		fs_http_free(&c.http[i]);
		free((char *)c.targets[i].target);
		free(c.targets[i].url);
		fs_secret_free(c.targets[i].secret);
	}
	free(c.http);
	free(c.targets);
	if (c.failed)
		return FS_EXIT_STATE;
	if (c.unreachable)
		return FS_EXIT_REMOTE;
	if (status == FS_EXIT_OK && c.refused > 0)
		status = FS_EXIT_DLQ;
	return status;
}

/* Stopped by SIGINT or SIGTERM: what was in flight is recorded; what is left, and how to hold it. */
static int
interrupted(struct push *p)
{
	struct fs_outbox_counts c;
	int sig = fs_interrupted;

	if (fs_outbox_counts(&p->cli->st, p->target, &c) == 0)
		fs_err("%s: interrupted (%s): the requests in flight were finished and recorded (%ld sent);"
		       " %ld row%s left pending, sent by the next run; to stop that, first: fs-watchdog hold target %s"
		       " --by NAME", p->target, sig == SIGINT ? "SIGINT" : "SIGTERM", p->sent, c.pending,
		       c.pending == 1 ? " is" : "s are", p->target);
	return 128 + sig;
}

static void
summary(struct push *p, struct fs_loop *lp)
{
	fs_debug("%s: %ld events read (%ld queued, %ld already queued, %ld suppressed, %ld replayed, %ld not for this"
		 " target); %ld requests, %ld sent (%ld adopted), %ld retrying, %ld dead, %ld held, %ld throttled",
		 p->target, p->taken, p->queued, p->repeats, p->suppressed, p->replays, p->ignored, p->requests, p->sent,
		 p->adopted, p->retrying, p->dead, p->held_now,
		 p->http ? fs_push_http_stats(p->http)->throttled : 0L);
	if (lp && lp->stats.dead > 0)
		fail(p, FS_EXIT_DLQ);
	if (p->retrying > 0)
		fs_info("%s: %ld row%s will be retried (last error: %s)", p->target, p->retrying,
			p->retrying == 1 ? "" : "s", p->last_error);
}

/* The run's row in the changelog, when it read events or sent, retried, held or released rows. */
static void
record_run(struct push *p, struct fs_loop *lp)
{
	char object[256];
	long lines_dead = lp ? lp->stats.dead : 0;
	jv c;

	if (p->dry_run || p->taken + p->requests + p->dead + p->held_now + p->resumed + lines_dead == 0)
		return;
	c = jv_object_set(jv_object(), jv_string("target"), jv_string(p->target));
	c = jv_object_set(c, jv_string("read"), jv_number((double)p->taken));
	c = jv_object_set(c, jv_string("queued"), jv_number((double)p->queued));
	c = jv_object_set(c, jv_string("already_queued"), jv_number((double)p->repeats));
	c = jv_object_set(c, jv_string("suppressed"), jv_number((double)p->suppressed));
	c = jv_object_set(c, jv_string("replayed"), jv_number((double)p->replays));
	c = jv_object_set(c, jv_string("not_for_target"), jv_number((double)p->ignored));
	c = jv_object_set(c, jv_string("requests"), jv_number((double)p->requests));
	c = jv_object_set(c, jv_string("sent"), jv_number((double)p->sent));
	c = jv_object_set(c, jv_string("adopted"), jv_number((double)p->adopted));
	c = jv_object_set(c, jv_string("retrying"), jv_number((double)p->retrying));
	c = jv_object_set(c, jv_string("dead"), jv_number((double)(p->dead + lines_dead)));
	c = jv_object_set(c, jv_string("held"), jv_number((double)p->held_now));
	c = jv_object_set(c, jv_string("resumed"), jv_number((double)p->resumed));
	c = jv_object_set(c, jv_string("throttled"),
			  jv_number(p->http ? (double)fs_push_http_stats(p->http)->throttled : 0.0));
	snprintf(object, sizeof object, "fs-push:%s", p->target);
	if (fs_changelog_run(p->cli, object, p->status, c) != 0)
		fail(p, FS_EXIT_STATE);
}

static int
finish_status(struct push *p)
{
	struct fs_outbox_counts c;
	long busy = 0, pid = 0;
	char *holder = NULL;

	if (p->status >= FS_EXIT_USAGE || p->dry_run)
		return p->status;
	if (fs_outbox_counts(&p->cli->st, p->target, &c) != 0 ||
	    fs_outbox_busy(&p->cli->st, p->target, p->cli->run_id, &busy, &holder, &pid) != 0) {
		fail(p, FS_EXIT_STATE);
		return p->status;
	}
	if (busy > 0)
		fs_info("%s: %ld row%s being sent by %s (pid %ld)", p->target, busy, busy == 1 ? " is" : "s are",
			holder, pid);
	free(holder);
	/* The vendor took none of this run's requests: it is down. */
	if (p->retrying > 0 && p->accepted == 0)
		fail(p, FS_EXIT_REMOTE);
	if (c.held > 0) {
		fs_err("%s: %ld row%s held by a watchdog hold; %s sent once the hold is lifted (fs-watchdog ack)",
		       p->target, c.held, c.held == 1 ? "" : "s", c.held == 1 ? "it is" : "they are");
		if (p->requests == 0 && p->status == FS_EXIT_OK)
			p->status = FS_EXIT_PAUSED;
	}
	return p->status;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"campaign", required_argument, NULL, 'C'},
		{"dry-run", no_argument, NULL, 'n'},
		{"format", required_argument, NULL, 'F'},
		{"parallel", required_argument, NULL, 'P'},
		{"retry-only", no_argument, NULL, 'R'},
		{"since", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	static const char *const types[] = {"event", NULL};
	struct fs_loop_ops ops = {.types = types, .line = on_event, .pipeline = "fs-pull | fs-normalize | fs-dedupe | fs-push"};
	struct push p = {0};
	struct fs_cli cli;
	struct fs_loop lp;
	int opt, rc, parallel = 0, status, bad;
	const char *campaign = NULL, *since = NULL;
	char *end;

	fs_cli_init(&cli, "fs-push");
	p.cli = &cli;
	while ((opt = getopt_long(argc, argv, FS_CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
		if (fs_cli_option(&cli, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'n':
			p.dry_run = true;
			break;
		case 'P':
			parallel = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || parallel < 1 || parallel > 256) {
				fs_err("--parallel must be 1 to 256, not '%s'", optarg);
				usage(stderr, FS_EXIT_USAGE);
			}
			break;
		case 'R':
			p.retry_only = true;
			break;
		case 'C':
			campaign = optarg;
			break;
		case 'F':
			p.format = optarg;
			break;
		case 'S':
			since = optarg;
			break;
		default:
			usage(stderr, FS_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	if (argc >= 1 && strcmp(argv[0], "cancel") == 0) {
		if (p.dry_run || p.retry_only || parallel) {
			fs_err("cancel takes piece ids, or --campaign and --since");
			usage(stderr, FS_EXIT_USAGE);
		}
		return fs_cli_finish(&cli, cancel(&cli, argc - 1, argv + 1, campaign, since));
	}
	if (campaign || since) {
		fs_err("--campaign and --since belong to 'fs-push cancel'");
		usage(stderr, FS_EXIT_USAGE);
	}
	if (p.format && (!p.dry_run || (strcmp(p.format, "text") != 0 && strcmp(p.format, "csv") != 0))) {
		fs_err(p.dry_run ? "--format must be text or csv, not '%s'" : "--format is for --dry-run (the preview)",
		       p.format);
		usage(stderr, FS_EXIT_USAGE);
	}
	if (p.format == NULL)
		p.format = "text";
	/* Ctrl-C: finish and record what is in flight, then stop. */
	fs_cli_stop_on_signals();
	if (argc != 1)
		usage(stderr, FS_EXIT_USAGE);
	p.target = argv[0];
	bad = configure(&p, parallel);
	if (bad == 0 && p.dry_run && !p.lob && strcmp(p.format, "csv") == 0) {
		fs_err("--format csv is the preview of a lob target; target '%s' is %s", p.target, p.ep.kind);
		bad = -1;
	}
	if (bad != 0) {
		free(p.url);
		free(p.secret);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (fs_cli_state(&cli) != 0) {
		free(p.url);
		free(p.secret);
		return fs_cli_finish(&cli, FS_EXIT_STATE);
	}
	if (!p.dry_run) {
		if ((p.http = fs_push_http_new(p.parallel, &p.rate, (long)p.timeout * 1000)) == NULL) {
			free(p.url);
			free(p.secret);
			return fs_cli_finish(&cli, FS_EXIT_STATE);
		}
		if (p.secret && p.lob)
			fs_push_http_auth_basic(p.http, p.secret);
		else if (p.secret)
			fs_push_http_auth_bearer(p.http, p.secret);
		/* What is due from earlier runs goes first. */
		drain(&p);
	}
	if (!p.retry_only && fs_interrupted == 0) {
		p.took_input = true;
		fs_loop_init(&lp, &cli, &ops, &p);
		lp.commit_cursors = !p.dry_run;
		lp.forward_none = p.dry_run;	/* the preview is the whole output */
		if (p.dry_run)
			lp.st = NULL;
		status = fs_loop_run(&lp, STDIN_FILENO);
		if (status != FS_EXIT_OK)
			fail(&p, status);
		if (status < FS_EXIT_USAGE && !p.dry_run && fs_interrupted == 0)
			drain(&p);
		summary(&p, &lp);
	} else {
		summary(&p, NULL);
	}
	if (p.dry_run && fs_interrupted == 0 && p.status < FS_EXIT_USAGE) {
		if (p.lob) {
			if (preview(&p) != 0)
				fail(&p, FS_EXIT_STATE);
		} else {
			crm_plan(&p);
			printf("%ld contact update%s would be sent\n", p.plan_crm, p.plan_crm == 1 ? "" : "s");
		}
	}
	fs_buf_free(&p.preview_in);
	status = finish_status(&p);
	record_run(&p, p.retry_only || !p.took_input ? NULL : &lp);
	status = p.status;
	if (fs_interrupted)
		status = interrupted(&p);
	fs_push_http_free(p.http);
	fs_buf_free(&p.out);
	fs_secret_free(p.secret);
	free(p.url);
	return fs_cli_finish(&cli, status);
}
