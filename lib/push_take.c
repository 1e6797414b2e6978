/*
 * The events fs-push reads go into the outbox (lib/vendors.h): each
 * target's own kinds, mail requests after their enrolment.  The preview
 * (--dry-run) does the same in a transaction it rolls back, and says what
 * became of each row.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

struct fs_preview_row {		/* what would become of one mail request */
	char *status, *event_id, *line, *reason;
	long order;	/* its line in the input; rows from before it after them */
};

/* A row of the preview: what would become of one mail request. */
void
fs_push_preview_add(struct fs_push *p, const char *status, const char *event_id, const char *line, const char *reason)
{
	struct fs_preview_row *r;

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
	const struct fs_preview_row *x = a, *y = b;

	return (x->order > y->order) - (x->order < y->order);
}

/* ---- reading events ---- */

/* ---- which mail target mails a campaign ---- */

/* Whether target NAME is a mail target: its section's kind, or a built-in kind of that name, creates pieces. */
static bool
is_mail_target(const struct fs_config *cfg, const char *name)
{
	const char *kind = fs_config_get(cfg, "target", name, "kind");
	const struct fs_vendor *v;

	if (kind == NULL && (fs_config_section(cfg, "target", name) != NULL || !fs_kind_builtin(name)))
		return false;
	v = fs_vendor_find(kind ? kind : name);
	return v != NULL && fs_vendor_creates(v);
}

/* The configuration's mail targets ("lob, pcm" into list), the running one counted when it has no section. */
static int
mail_targets(const struct fs_push *p, struct fs_buf *list)
{
	const struct fs_config *cfg = &p->cli->cfg;
	int n = 0;

	fs_buf_adds(list, "");
	for (int i = 0; i < cfg->nsec; i++)
		if (strcmp(cfg->sec[i].type, "target") == 0 && is_mail_target(cfg, cfg->sec[i].name))
			fs_buf_addf(list, "%s%s", n++ ? ", " : "", cfg->sec[i].name);
	if (p->ep.sec == NULL)
		fs_buf_addf(list, "%s%s", n++ ? ", " : "", p->target);
	return n;
}

/*
 * A campaign's `target` names the mail target that mails it; one without
 * goes to the only mail target.  With two or more, each campaign must say
 * which: -1 with the first that does not (or names no mail target) said.
 */
int
fs_push_campaigns_routed(const struct fs_push *p)
{
	const struct fs_config *cfg = &p->cli->cfg;
	struct fs_buf list = {0};
	int n = mail_targets(p, &list), rc = 0;

	for (int i = 0; i < cfg->nsec && rc == 0; i++) {
		const char *name = cfg->sec[i].name, *t;

		if (strcmp(cfg->sec[i].type, "campaign") != 0)
			continue;
		if ((t = fs_section_get(&cfg->sec[i], "target")) != NULL && *t) {
			if (!is_mail_target(cfg, t) && strcmp(t, p->target) != 0) {
				fs_err("campaign '%s': target '%s' is not a mail target (%s)", name, t, list.data);
				rc = -1;
			}
		} else if (n > 1) {
			fs_err("campaign '%s' has no target, and %d targets mail (%s): set target = NAME", name, n,
			       list.data);
			rc = -1;
		}
	}
	fs_buf_free(&list);
	return rc;
}

/* A mail request is this target's when its campaign's target is, or when it is the only mail target. */
static bool
mails_it(const struct fs_push *p, jv data)
{
	const char *campaign = fs_jstr(data, "campaign"), *t = NULL;
	struct fs_buf list = {0};
	int n;

	if (campaign && fs_config_section(&p->cli->cfg, "campaign", campaign))
		t = fs_config_get(&p->cli->cfg, "campaign", campaign, "target");
	if (t && *t)
		return strcmp(t, p->target) == 0;
	n = mail_targets(p, &list);
	fs_buf_free(&list);
	if (n > 1)
		fs_info("%s: campaign '%s' has no [campaign] section to name its target: left to no target", p->target,
			campaign ? campaign : "");
	return n <= 1;
}

static bool
takes(const struct fs_push *p, const char *kind, jv data)
{
	if (!fs_vendor_takes(p->ep.kind, kind))
		return false;
	return !p->mail || strcmp(kind, "mail.requested") != 0 || mails_it(p, data);
}

/*
 * A mail request that finds its subject enrolled for its goal by another
 * event (why "goal"), or in its campaign too lately to enter it again (why
 * "reentry"): no piece, a changelog row saying what was in the way, a
 * result.  Once per event: a re-run's repeat is a repeat.
 */
static int
suppressed(struct fs_push *p, jv ev, const char *goal, const struct fs_enrolment *e, const char *why)
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

		fs_push_result(p, id, "suppressed", NULL, 0, 0, reason);
		fs_push_preview_add(p, "suppressed", id, line, reason);
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
enrol(struct fs_push *p, jv ev, jv data)
{
	const char *campaign = fs_jstr(data, "campaign");
	char *subject = fs_push_enrol_subject(data);
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
request_price(const struct fs_push *p, jv data)
{
	const char *format = fs_jstr(data, "format");
	int letter = format && strcmp(format, "letter") == 0;

	return p->mail && p->priced[letter] ? p->price[letter] : -1;
}

/*
 * One valid event, in the open transaction: its facts, then, when this
 * target takes it, its enrolment and outbox row, and its key made final
 * with them.  0, or -1 on a state error.
 */
int
fs_push_take_event(struct fs_push *p, jv ev, const char *bytes, size_t len)
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
		rc = fs_outbox_revenue(st, id, fs_jstr(ev, "source"), data);
	if (rc == 0 && takes(p, kind, data)) {
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
		/* Another target's event stays open for its own pipeline (a mail
		 * request of another mail target's campaign too). */
		if (!fs_kind_targeted(kind))
			rc = fs_keys_finalize(st, id);
	}
	jv_free(data);
	return rc;
}

/* ---- the preview ---- */

/* A write-back target's preview: the updates each event would make (the connector's plan), and their count. */
void
fs_push_plan(struct fs_push *p)
{
	for (size_t off = 0; off < p->preview_in.len;) {
		char *nl = memchr(p->preview_in.data + off, '\n', p->preview_in.len - off), *state = NULL;
		size_t len = (size_t)(nl - (p->preview_in.data + off));
		jv ev = jv_parse_sized(p->preview_in.data + off, (int)len);
		const char *id = fs_jstr(ev, "id");

		jv data = fs_jget(ev, "data");
		bool mine = takes(p, fs_jstr(ev, "kind"), data);

		jv_free(data);
		if (mine && fs_outbox_state(&p->cli->st, p->target, id, &state) == 0 &&
		    (state == NULL || strcmp(state, "dead") == 0))
			p->vendor->plan(p, ev, state ? " (a replay)" : "");
		free(state);
		jv_free(ev);
		off += len + 1;
	}
	printf("%ld contact update%s would be sent\n", p->planned, p->planned == 1 ? "" : "s");
}

static int
preview_held(const char *event_id, const char *line, void *ctx)
{
	fs_push_preview_add(ctx, "held", event_id, line, "a watchdog hold (fs-watchdog ack lifts it)");
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
preview_print(struct fs_push *p)
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
		const struct fs_preview_row *r = &p->prev[i];
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
preview_free(struct fs_push *p)
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
int
fs_push_preview(struct fs_push *p)
{
	struct fs_state *st = &p->cli->st;
	struct fs_outbox_holds h;
	struct fs_claim c = {
		.target = p->target, .run_id = p->cli->run_id, .campaigns = p->mail, .lease_until = fs_now() + 60,
		.limit = 1000, .check = fs_push_check_row, .ctx = p,
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
		int rc = fs_push_take_event(p, ev, p->preview_in.data + off, len);

		jv_free(ev);
		if (rc != 0)
			goto fail;
		off += len + 1;
	}
	if (fs_outbox_apply_holds(st, p->target, p->mail, p->cli->run_id, NULL, NULL, &h) != 0)
		goto fail;
	while ((n = fs_outbox_claim(st, &c, &rows)) != 0) {
		if (n == FS_CLAIM_AGAIN)
			continue;
		if (n < 0)
			goto fail;
		for (int i = 0; i < n; i++) {
			fs_push_preview_add(p, "send", rows[i].event_id, rows[i].line, NULL);
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

