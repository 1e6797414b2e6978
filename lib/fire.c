/*
 * Campaign triggers, fired as fs-normalize reads contacts and jobs.
 *
 * Campaigns fire on entry (fieldsync(7), "Campaigns"): a version of a contact
 * or job whose trigger field is one of the trigger's values when the
 * version before it, as the state file knew it, was not.  An object seen
 * for the first time fires only for a campaign with backfill, when it
 * changed no longer than that before the campaign's first run; a version
 * first seen before a campaign's first run never fires for it (a new
 * campaign does not mail what it finds).
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

/* Records each campaign's first run, once a run has something to fire on. */
int
fs_fire_first_runs(struct fs_fire *f)
{
	if (f->first_recorded)
		return 0;
	if (fs_campaign_first_runs(&f->cli->st, f->campaigns, f->ncampaigns, f->cli->run_id, true, f->first_run) != 0)
		return -1;
	f->first_recorded = true;
	return 0;
}

/*
 * Whether campaign i fires for this version: value (the trigger field's, or
 * NULL) enters the trigger.  changed_at is the version's time, for backfill.
 */
bool
fs_fire_enters(const struct fs_fire *f, int i, const char *value, const struct fs_seen *seen, const char *changed_at)
{
	const struct fs_campaign *c = &f->campaigns[i];
	fs_time t;

	if (!fs_cond_matches(&c->trigger, value) || seen->stale || f->first_run[i] > seen->seen_at)
		return false;
	if (seen->known)
		return !fs_cond_matches(&c->trigger, fs_jstr(seen->prev, c->trigger.field));
	return c->backfill && changed_at && fs_time_parse(changed_at, &t) == 0 &&
	       t >= f->first_run[i] - c->backfill_secs;
}

/*
 * One mail.requested for campaign c: contact is the contact (its id, name
 * and do_not_mail), job the job for job campaigns (null else), to the
 * address.  Emitted, or the record dead-lettered when it is not valid.
 */
static int
request_mail(struct fs_fire *f, struct fs_loop *lp, struct fs_line *ln, jv ev, const struct fs_campaign *c,
	     jv contact, jv job, jv to, const char *value, const struct fs_seen *seen)
{
	const char *source = fs_jstr(ev, "source"), *object = fs_jstr(ev, "object");
	const char *version = fs_jstr(jv_get_kind(job) == JV_KIND_OBJECT ? job : contact, "updated_at");
	const char *from = seen->known ? fs_jstr(seen->prev, c->trigger.field) : NULL;
	jv req = fs_mail_request_data(c, contact, job, to, from, value), mail;
	struct fs_buf why = {0};
	char *ver;
	int rc = 0;

	ver = fs_xasprintf("%s@%s", c->name, version ? version : "");
	mail = fs_event_make(f->cli->run_id, source, "mail.requested", object, ver, fs_jget(ev, "occurred_at"), req,
			     jv_invalid());
	free(ver);
	if (fs_event_validate(mail, &why) != 0) {
		if (jv_get_kind(job) == JV_KIND_OBJECT && jv_get_kind(contact) == JV_KIND_NULL)
			fs_buf_addf(&why, " (contact \"%s\" is not in the state file)", fs_jstr(job, "contact_id"));
		rc = fs_reject(lp, ln, fs_jstr(mail, "id"), "mail.requested for campaign \"%s\": %s", c->name, why.data);
		jv_free(mail);
	} else {
		jv text = jv_dump_string(jv_copy(mail), 0);

		f->requests++;
		fs_emit_raw(lp, jv_string_value(text), (size_t)jv_string_length_bytes(jv_copy(text)));
		if (fs_entry_add(&f->cli->st, source, object, c->name, fs_jstr(mail, "id"), jv_string_value(text),
				 (size_t)jv_string_length_bytes(jv_copy(text)), f->cli->run_id) != 0) {
			fs_loop_fail(lp, FS_EXIT_STATE);
			rc = -1;
		}
		jv_free(text);
		jv_free(mail);
	}
	fs_buf_free(&why);
	return rc;
}

/* A request asked for before and not taken yet: asked for again. */
struct asked {
	struct fs_fire *f;
	struct fs_loop *lp;
};

static int
again(const char *event_id, const char *line, void *ctx)
{
	struct asked *a = ctx;

	fs_debug("%s: asked for again: no pipeline has taken it", event_id);
	a->f->again++;
	fs_emit_raw(a->lp, line, strlen(line));
	return 0;
}

/*
 * A newer version of an object: the requests asked for on its earlier ones
 * that no pipeline took (a stage died before it, and the object changed
 * before the pipeline read it again) are asked for again.
 */
int
fs_fire_ask_again(struct fs_fire *f, struct fs_loop *lp, const char *source, const char *object,
		  const struct fs_seen *seen)
{
	struct asked a = {f, lp};

	if (!seen->known || !seen->newer)
		return 0;
	if (fs_entries_pending(&f->cli->st, source, object, fs_now() - FS_ENTRY_KEEP, f->cli->run_id, again, &a) != 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

/* contact.changed: remember the contact, then fire each contact campaign it enters. */
int
fs_fire_contact(struct fs_fire *f, struct fs_loop *lp, struct fs_line *ln, jv ev)
{
	jv data = fs_jget(ev, "data"), address = fs_jget(data, "address"), to = jv_null();
	struct fs_seen seen;
	int rc = 0;

	if (fs_loop_txn(lp) != 0 || fs_fire_first_runs(f) != 0 ||
	    fs_contact_observe(&f->cli->st, fs_jstr(ev, "source"), data, &seen) != 0) {
		jv_free(data);
		jv_free(address);
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	rc = fs_fire_ask_again(f, lp, fs_jstr(ev, "source"), fs_jstr(ev, "object"), &seen);
	for (int i = 0; i < f->ncampaigns && rc == 0; i++) {
		const struct fs_campaign *c = &f->campaigns[i];
		struct fs_fields fl = {.data = data, .contact = jv_null(), .to = jv_null()};
		const char *value;

		if (c->on_job)
			continue;
		value = fs_fields_values(&fl, c->trigger.field) == 1 ? fl.list[0] : NULL;
		if (!fs_fire_enters(f, i, value, &seen, fs_jstr(data, "updated_at")) || !fs_filters_pass(c, &fl))
			continue;
		if (jv_get_kind(to) == JV_KIND_NULL)
			to = fs_mailing_address(data, address);
		value = fs_fields_values(&fl, c->trigger.field) == 1 ? fl.list[0] : NULL;
		rc = request_mail(f, lp, ln, ev, c, data, jv_null(), to, value, &seen);
	}
	fs_seen_free(&seen);
	jv_free(to);
	jv_free(address);
	jv_free(data);
	return rc;
}

/* job.changed: remember the job, then fire each job campaign it enters, to its contact. */
int
fs_fire_job(struct fs_fire *f, struct fs_loop *lp, struct fs_line *ln, jv ev)
{
	jv data = fs_jget(ev, "data"), contact = jv_null(), to = jv_null();
	struct fs_seen seen;
	bool looked = false;
	int rc = 0;

	if (fs_loop_txn(lp) != 0 || fs_fire_first_runs(f) != 0 ||
	    fs_job_observe(&f->cli->st, fs_jstr(ev, "source"), data, &seen) != 0) {
		jv_free(data);
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	rc = fs_fire_ask_again(f, lp, fs_jstr(ev, "source"), fs_jstr(ev, "object"), &seen);
	for (int i = 0; i < f->ncampaigns && rc == 0; i++) {
		const struct fs_campaign *c = &f->campaigns[i];
		struct fs_fields fl = {.data = data, .contact = jv_null(), .to = jv_null()};
		const char *value;

		if (!c->on_job)
			continue;
		value = fs_fields_values(&fl, c->trigger.field) == 1 ? fl.list[0] : NULL;
		if (!fs_fire_enters(f, i, value, &seen, fs_jstr(data, "updated_at")))
			continue;
		if (!looked) {
			jv own = fs_jget(data, "address"), theirs;

			if (fs_contact_get(&f->cli->st, fs_jstr(data, "contact_id"), &contact) != 0) {
				jv_free(own);
				fs_loop_fail(lp, FS_EXIT_STATE);
				rc = -1;
				break;
			}
			/* The job's own address when it has one, else its contact's. */
			theirs = fs_jget(contact, "address");
			to = fs_mailing_address(contact, fs_jstr(own, "line1") ? own : theirs);
			jv_free(own);
			jv_free(theirs);
			looked = true;
		}
		fl.contact = contact;
		fl.to = to;
		if (!fs_filters_pass(c, &fl))
			continue;
		fl.to = jv_null();
		value = fs_fields_values(&fl, c->trigger.field) == 1 ? fl.list[0] : NULL;
		rc = request_mail(f, lp, ln, ev, c, contact, data, to, value, &seen);
	}
	fs_seen_free(&seen);
	jv_free(contact);
	jv_free(to);
	jv_free(data);
	return rc;
}

