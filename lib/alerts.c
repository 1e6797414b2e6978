/*
 * Alerts, holds and notifications: fs-watchdog's rules turn the health
 * panel's problems, and missed follow-up SLAs, into one alert per open
 * incident; alerts on a target put it on hold until a person acknowledges.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <curl/curl.h>

#include "fieldsync.h"
#include "vendors.h"

#define RENOTIFY_FIRST 3600	/* no sooner than an hour, then doubling */
#define RENOTIFY_MAX 86400
#define FOLLOW_UP_LOOKBACK (30 * 86400)	/* deliveries older than this are history */
#define REQUESTS_KEEP (30 * 86400)	/* the request log is pruned after this */

struct finding {
	const char *rule;
	char *subject, *text, *owner;
	int level;
	jv extra;		/* more detail for the alert */
	bool seen;
};

struct engine {
	struct fs_state *st;
	const struct fs_config *cfg;
	const struct fs_thresholds *t;
	const char *run_id;
	bool dry_run;
	FILE *out;		/* --dry-run report */
	struct fs_health h;
	struct finding *f;
	int nf;
	int status;
};

/* An alert's changelog row: object "alert:ID". */
static int
changelog_alert(struct fs_state *st, const char *kind, const char *run_id, int64_t id, jv detail)
{
	char object[32];

	snprintf(object, sizeof object, "alert:%lld", (long long)id);
	return fs_changelog(st, kind, run_id, NULL, object, detail);
}

static void
add_finding(struct engine *e, const char *rule, const char *subject, int level, char *text, char *owner,
	    jv extra)
{
	e->f = fs_xrealloc(e->f, (size_t)(e->nf + 1) * sizeof *e->f);
	e->f[e->nf++] = (struct finding){rule, fs_xstrdup(subject), text, owner, level, extra, false};
}

/*
 * Delivered pieces whose contact has had no activity since, past the SLA.
 * Only pieces fieldsync sent count: an outbox row on the piece's target
 * carries its event.  Imported history (fs-pull --as mail-history) and
 * pieces mailed by hand are the old way's record, not work fieldsync owes
 * a follow-up for.
 */
static int
follow_up_misses(struct engine *e)
{
	fs_stmt *q;
	char from[21];
	int rc;

	fs_time_format(e->h.now - FOLLOW_UP_LOOKBACK, from);
	q = fs_state_query(e->st,
	    "SELECT p.vendor_id, p.contact_id, coalesce(p.owner, c.owner), p.delivered_at, p.campaign"
	    " FROM pieces p LEFT JOIN contacts c ON c.id = p.contact_id"
	    " WHERE p.status = 'delivered' AND p.delivered_at >= ? AND p.contact_id IS NOT NULL"
	    " AND EXISTS (SELECT 1 FROM outbox o WHERE o.target = p.target AND o.event_id = p.event_id)"
	    " AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.contact_id = p.contact_id"
	    "                 AND a.at >= p.delivered_at)"
	    " ORDER BY p.delivered_at, p.vendor_id", "s", from);
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(e->st, q)) == 1) {
		const char *piece = fs_col_text(q, 0);
		const char *contact = fs_col_text(q, 1);
		const char *owner = fs_col_text(q, 2);
		const char *delivered = fs_col_text(q, 3);
		const char *campaign = fs_col_text(q, 4);
		fs_time t, due;
		char duetext[21];
		jv extra;

		if (fs_time_parse(delivered, &t) != 0)
			continue;
		due = fs_bizdays_add(t, e->t->follow_up_sla, &e->t->holidays);
		if (e->h.now < due)
			continue;
		fs_time_format(due, duetext);
		extra = jv_object_set(jv_object(), jv_string("contact_id"), jv_string(contact));
		extra = jv_object_set(extra, jv_string("owner"), owner ? jv_string(owner) : jv_null());
		extra = jv_object_set(extra, jv_string("campaign"), campaign ? jv_string(campaign) : jv_null());
		extra = jv_object_set(extra, jv_string("delivered_at"), jv_string(delivered));
		extra = jv_object_set(extra, jv_string("due_at"), jv_string(duetext));
		add_finding(e, "follow_up", piece, 1,
			    fs_xasprintf("no follow-up of contact %s within %dbd of delivery (due %s)", contact,
					 e->t->follow_up_sla, duetext),
			    owner ? fs_xstrdup(owner) : NULL, extra);
	}
	fs_stmt_reset(q);
	return rc < 0 ? -1 : 0;
}

/* A costly target fieldsync sends through: a mail vendor's (lob, postcardmania), configured or in the outbox. */
static bool
costly_target(struct engine *e, const struct fs_health_target *g)
{
	const struct fs_vendor *v = fs_vendor_find(g->kind);
	int64_t n = 0;

	if (v == NULL || !fs_vendor_creates(v))
		return false;
	if (fs_config_section(e->cfg, "target", g->name) != NULL)
		return true;
	/* A built-in name seen only in imported pieces ("lob") sends nothing. */
	if (fs_state_int(e->st, &n, "SELECT count(*) FROM outbox WHERE target = ? LIMIT 1", "s", g->name) != 0)
		return true;	/* when in doubt, hold: the error is reported */
	return n > 0;
}

/*
 * What an alert of this rule holds.  Holds are for costly, irreversible
 * sends (DESIGN.md): a retry storm on a mail target holds that target; a
 * DLQ above its threshold holds every mail target.  CRM write-backs are
 * cheap and reversible: a retry storm there alerts, its backoff paces it,
 * and it is never held, so a mail-side hold leaves write-backs flowing.
 */
static int
holds_for(struct engine *e, const char *rule, const char *subject, const char *names[], int max)
{
	bool storm = strcmp(rule, "retry_storm") == 0;
	int n = 0;

	if (!storm && strcmp(rule, "dlq") != 0)
		return 0;
	for (int i = 0; i < e->h.ntgt && n < max; i++) {
		const struct fs_health_target *g = &e->h.tgt[i];

		if ((!storm || strcmp(g->name, subject) == 0) && costly_target(e, g))
			names[n++] = g->name;
	}
	return n;
}

/* The active (open or acknowledged) alert of a rule and subject. */
static int
active_alert(struct engine *e, const char *rule, const char *subject, int64_t *id, char state[16],
	     char **last, int *count)
{
	fs_stmt *q = fs_state_query(e->st,
	    "SELECT id, state, last_notified_at, notify_count FROM alerts"
	    " WHERE state IN ('open', 'acked') AND rule = ? AND subject = ? ORDER BY id DESC LIMIT 1",
	    "ss", rule, subject);
	int rc;

	*id = 0;
	*last = NULL;
	if (q == NULL)
		return -1;
	if ((rc = fs_state_step_row(e->st, q)) == 1) {
		*id = fs_col_int64(q, 0);
		snprintf(state, 16, "%s", fs_col_text(q, 1));
		if (!fs_col_null(q, 2))
			*last = fs_xstrdup(fs_col_text(q, 2));
		*count = fs_col_int(q, 3);
	}
	fs_stmt_reset(q);
	return rc < 0 ? -1 : 0;
}

static jv
alert_detail(const struct finding *f)
{
	jv d = jv_get_kind(f->extra) == JV_KIND_OBJECT ? jv_copy(f->extra) : jv_object();

	d = jv_object_set(d, jv_string("level"), jv_string(fs_level_name(f->level)));
	return jv_object_set(d, jv_string("text"), jv_string(f->text));
}

static int
open_alert(struct engine *e, const struct finding *f, int64_t *id)
{
	fs_stmt *q;
	const char *held[16];
	char now[21], *json;
	jv d = alert_detail(f), log;
	int n, rc;

	fs_time_format(e->h.now, now);
	json = fs_jdump(d);
	q = fs_state_query(e->st, "INSERT INTO alerts (rule, subject, opened_at, detail) VALUES (?, ?, ?, ?) RETURNING id",
			   "ssss", f->rule, f->subject, now, json);
	free(json);
	if (q == NULL) {
		jv_free(d);
		return -1;
	}
	rc = fs_state_step_row(e->st, q);
	*id = rc == 1 ? fs_col_int64(q, 0) : 0;
	if (rc == 1)
		rc = fs_state_step_row(e->st, q);
	fs_stmt_reset(q);
	if (rc < 0) {
		jv_free(d);
		return -1;
	}
	log = jv_object_set(jv_copy(d), jv_string("alert_id"), jv_number((double)*id));
	log = jv_object_set(log, jv_string("rule"), jv_string(f->rule));
	log = jv_object_set(log, jv_string("subject"), jv_string(f->subject));
	jv_free(d);
	if (changelog_alert(e->st, "alert.open", e->run_id, *id, log) != 0)
		return -1;
	n = holds_for(e, f->rule, f->subject, held, 16);
	for (int i = 0; i < n; i++) {
		if (fs_state_run(e->st, "INSERT INTO holds (scope, name, alert_id, since) VALUES ('target', ?, ?, ?)",
				 "sis", held[i], *id, now) != 0 ||
		    fs_changelog(e->st, "hold.put", e->run_id, NULL, held[i],
				 jv_object_set(jv_object_set(jv_object(), jv_string("scope"), jv_string("target")),
					       jv_string("alert_id"), jv_number((double)*id))) != 0)
			return -1;
	}
	/* The switch to polling is part of the same incident. */
	if (strcmp(f->rule, "webhook") == 0) {
		char *why = fs_xasprintf("alert #%lld: %s", (long long)*id, f->text);

		rc = fs_source_mode_set(e->st, f->subject, "polling", why, e->run_id);
		free(why);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* The alert as the notification channels get it. */
static jv
alert_json(struct fs_state *st, int64_t id)
{
	fs_stmt *q = fs_state_query(st,
	    "SELECT id, rule, subject, state, opened_at, notify_count, detail,"
	    " (SELECT json_group_array(json_object('scope', scope, 'name', name)) FROM holds"
	    "  WHERE alert_id = alerts.id AND lifted_at IS NULL)"
	    " FROM alerts WHERE id = ?", "i", id);
	jv o = jv_invalid(), detail;

	if (q == NULL)
		return o;
	if (fs_state_step_row(st, q) == 1) {
		detail = jv_parse(fs_col_text(q, 6));
		o = jv_object();
		o = jv_object_set(o, jv_string("id"), jv_number((double)fs_col_int64(q, 0)));
		o = jv_object_set(o, jv_string("rule"), jv_string(fs_col_text(q, 1)));
		o = jv_object_set(o, jv_string("subject"), jv_string(fs_col_text(q, 2)));
		o = jv_object_set(o, jv_string("level"), fs_jget(detail, "level"));
		o = jv_object_set(o, jv_string("summary"), fs_jget(detail, "text"));
		o = jv_object_set(o, jv_string("state"), jv_string(fs_col_text(q, 3)));
		o = jv_object_set(o, jv_string("opened_at"), jv_string(fs_col_text(q, 4)));
		o = jv_object_set(o, jv_string("notify_count"), jv_number(fs_col_int(q, 5) + 1));
		o = jv_object_set(o, jv_string("holds"), jv_parse(fs_col_text(q, 7)));
		o = jv_object_set(o, jv_string("detail"), detail);
		fs_stmt_step(q);
	}
	fs_stmt_reset(q);
	return o;
}

static size_t
discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

/* POSTs the alert to the chat webhook; the URL is a secret and never printed. */
static int
post_chat(const char *var, jv alert, char *err, size_t errlen)
{
	const char *url = getenv(var);
	struct curl_slist *hdr = NULL;
	char *text, *body;
	jv msg;
	long code = 0;
	CURLcode rc;
	CURL *c;

	if (url == NULL || *url == '\0') {
		snprintf(err, errlen, "chat webhook: %s is not set", var);
		return -1;
	}
	fs_secret_guard();	/* the URL is the secret */
	text = fs_xasprintf("fieldsync alert #%.0f [%s] %s %s: %s", jv_number_value(fs_jget(alert, "id")),
			    fs_jstr(alert, "level") ? fs_jstr(alert, "level") : "?", fs_jstr(alert, "rule"),
			    fs_jstr(alert, "subject"), fs_jstr(alert, "summary") ? fs_jstr(alert, "summary") : "");
	msg = jv_object_set(jv_object_set(jv_object(), jv_string("text"), jv_string(text)), jv_string("alert"),
			    jv_copy(alert));
	free(text);
	body = fs_jdump(msg);
	jv_free(msg);
	if ((c = curl_easy_init()) == NULL) {
		free(body);
		snprintf(err, errlen, "chat webhook: cannot start libcurl");
		return -1;
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(body);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "chat webhook: %s", curl_easy_strerror(rc));
		return -1;
	}
	if (code < 200 || code > 299) {
		snprintf(err, errlen, "chat webhook: HTTP %ld", code);
		return -1;
	}
	return 0;
}

/* [alert] command gets the alert JSON on stdin, with FS_ALERT_* set. */
static int
run_command(const char *cmd, jv alert, char *err, size_t errlen)
{
	char *json = fs_jdump(alert), id[32];
	const char *owner;
	jv detail = fs_jget(alert, "detail");
	FILE *p;
	int rc;

	owner = fs_jstr(detail, "owner");
	snprintf(id, sizeof id, "%.0f", jv_number_value(fs_jget(alert, "id")));
	setenv("FS_ALERT_ID", id, 1);
	setenv("FS_ALERT_RULE", fs_jstr(alert, "rule"), 1);
	setenv("FS_ALERT_SUBJECT", fs_jstr(alert, "subject"), 1);
	setenv("FS_ALERT_LEVEL", fs_jstr(alert, "level") ? fs_jstr(alert, "level") : "", 1);
	if (owner)
		setenv("FS_ALERT_OWNER", owner, 1);
	else
		unsetenv("FS_ALERT_OWNER");
	fflush(stdout);
	fflush(stderr);
	if ((p = popen(cmd, "w")) == NULL) {
		snprintf(err, errlen, "alert command: cannot start");
		rc = -1;
	} else {
		fprintf(p, "%s\n", json);
		rc = pclose(p);
		if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
			snprintf(err, errlen, "alert command exited with status %d",
				 rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
			rc = -1;
		}
	}
	jv_free(detail);
	free(json);
	return rc == 0 ? 0 : -1;
}

/* Sends the notification and records it; -1 when a channel failed. */
static int
notify(struct engine *e, int64_t id)
{
	const char *cmd = fs_config_setting(e->cfg, "alert", "", "command");
	const char *var = fs_config_setting(e->cfg, "alert", "", "webhook_env");
	jv alert = alert_json(e->st, id), channels = jv_array();
	char err[512] = "", now[21];
	int failed = 0;

	if (!jv_is_valid(alert)) {
		jv_free(alert);
		jv_free(channels);
		return -1;
	}
	if (cmd && *cmd) {
		if (run_command(cmd, alert, err, sizeof err) != 0)
			failed = 1;
		else
			channels = jv_array_append(channels, jv_string("command"));
	}
	if (var && *var) {
		char err2[128];

		if (post_chat(var, alert, err2, sizeof err2) != 0) {
			if (failed)
				snprintf(err + strlen(err), sizeof err - strlen(err), "; %s", err2);
			else
				snprintf(err, sizeof err, "%s", err2);
			failed = 1;
		} else {
			channels = jv_array_append(channels, jv_string("chat"));
		}
	}
	jv_free(alert);
	if (fs_state_begin(e->st) != 0) {
		jv_free(channels);
		return -1;
	}
	if (failed) {
		fs_err("alert #%lld: %s", (long long)id, err);
		if (changelog_alert(e->st, "alert.notify_failed", e->run_id, id,
				 jv_object_set(jv_object_set(jv_object(), jv_string("alert_id"), jv_number((double)id)),
					       jv_string("error"), jv_string(err))) != 0)
			goto fail;
	}
	/* A notification counts when at least one channel took it, or none is configured. */
	if (!failed || jv_array_length(jv_copy(channels)) > 0) {
		fs_time_format(e->h.now, now);
		if (fs_state_run(e->st, "UPDATE alerts SET last_notified_at = ?, notify_count = notify_count + 1"
				 " WHERE id = ?", "si", now, id) != 0 ||
		    changelog_alert(e->st, "alert.notify", e->run_id, id,
				 jv_object_set(jv_object_set(jv_object(), jv_string("alert_id"), jv_number((double)id)),
					       jv_string("channels"), jv_copy(channels))) != 0)
			goto fail;
	}
	jv_free(channels);
	if (fs_state_commit(e->st) != 0)
		return -1;
	return failed ? -1 : 0;
fail:
	jv_free(channels);
	fs_state_rollback(e->st);
	return -1;
}

static bool
renotify_due(fs_time now, const char *last, int count)
{
	fs_time t;
	int64_t wait = RENOTIFY_FIRST;

	if (last == NULL || count == 0 || fs_time_parse(last, &t) != 0)
		return true;
	for (int i = 1; i < count && wait < RENOTIFY_MAX; i++)
		wait *= 2;
	if (wait > RENOTIFY_MAX)
		wait = RENOTIFY_MAX;
	return now >= t + wait;
}

static int
resolve_gone(struct engine *e)
{
	/* An alert whose hold is still on does not resolve by itself: the hold
	 * hides its condition (held rows do not retry), and the held sends wait
	 * for a person (fs-watchdog ack) whatever the condition does. */
	/* Nor does one a vendor raised (rule disconnect): no rule of the
	 * watchdog sees its condition, so only a person ends it. */
	fs_stmt *q = fs_state_prepare(e->st,
	    "SELECT id, rule, subject FROM alerts WHERE state IN ('open', 'acked') AND rule <> 'disconnect'"
	    " AND NOT EXISTS (SELECT 1 FROM holds WHERE alert_id = alerts.id AND lifted_at IS NULL) ORDER BY id");
	int64_t *ids = NULL;
	char now[21];
	int n = 0, rc;

	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(e->st, q)) == 1) {
		const char *rule = fs_col_text(q, 1);
		const char *subject = fs_col_text(q, 2);
		bool still = false;

		for (int i = 0; i < e->nf && !still; i++)
			still = strcmp(e->f[i].rule, rule) == 0 && strcmp(e->f[i].subject, subject) == 0;
		if (!still) {
			ids = fs_xrealloc(ids, (size_t)(n + 1) * sizeof *ids);
			ids[n++] = fs_col_int64(q, 0);
		}
	}
	fs_stmt_reset(q);
	if (rc < 0) {
		free(ids);
		return -1;
	}
	fs_time_format(e->h.now, now);
	for (int i = 0; i < n; i++) {
		if (e->dry_run) {
			fprintf(e->out, "would resolve alert #%lld\n", (long long)ids[i]);
			continue;
		}
		if (fs_state_begin(e->st) != 0 ||
		    fs_state_run(e->st, "UPDATE alerts SET state = 'resolved', resolved_at = ? WHERE id = ?", "si", now,
				 ids[i]) != 0 ||
		    changelog_alert(e->st, "alert.resolve", e->run_id, ids[i],
				 jv_object_set(jv_object(), jv_string("alert_id"), jv_number((double)ids[i]))) != 0 ||
		    fs_state_commit(e->st) != 0) {
			fs_state_rollback(e->st);
			goto fail;
		}
		fs_debug("alert #%lld resolved", (long long)ids[i]);
	}
	free(ids);
	return 0;
fail:
	free(ids);
	return -1;
}

static int
handle(struct engine *e, struct finding *f)
{
	char state[16] = "", *last = NULL;
	int64_t id;
	int count = 0, rc = 0;

	if (active_alert(e, f->rule, f->subject, &id, state, &last, &count) != 0)
		return -1;
	if (id == 0) {
		const char *held[16];
		int n = holds_for(e, f->rule, f->subject, held, 16);

		if (e->dry_run) {
			fprintf(e->out, "would open alert: %s %s %s: %s", fs_level_name(f->level), f->rule, f->subject,
				f->text);
			for (int i = 0; i < n; i++)
				fprintf(e->out, "; hold target %s", held[i]);
			if (strcmp(f->rule, "webhook") == 0)
				fprintf(e->out, "; switch %s to polling", f->subject);
			fprintf(e->out, "\n");
			return 0;
		}
		if (fs_state_begin(e->st) != 0 || open_alert(e, f, &id) != 0 || fs_state_commit(e->st) != 0) {
			fs_state_rollback(e->st);
			return -1;
		}
		fs_info("alert #%lld opened: %s %s %s: %s%s", (long long)id, fs_level_name(f->level), f->rule,
			f->subject, f->text, strcmp(f->rule, "webhook") == 0 ? " (switched to polling)" : "");
		for (int i = 0; i < n; i++)
			fs_info("alert #%lld: target '%s' is on hold until 'fs-watchdog ack %lld --by NAME'",
				(long long)id, held[i], (long long)id);
		if (notify(e, id) != 0)
			rc = 1;
	} else if (strcmp(state, "open") == 0 && renotify_due(e->h.now, last, count)) {
		if (e->dry_run)
			fprintf(e->out, "would notify alert #%lld again\n", (long long)id);
		else if (notify(e, id) != 0)
			rc = 1;
		else
			fs_debug("alert #%lld notified again (%d)", (long long)id, count + 1);
	}
	free(last);
	return rc;
}

static int
prune_requests(struct engine *e)
{
	char before[21];

	fs_time_format(e->h.now - REQUESTS_KEEP, before);
	return fs_state_run(e->st, "DELETE FROM requests WHERE at < ?", "s", before);
}

int
fs_watchdog_run(struct fs_state *st, const struct fs_config *cfg, const struct fs_thresholds *t,
		const char *run_id, FILE *dry_run)
{
	struct engine e = {.st = st, .cfg = cfg, .t = t, .run_id = run_id, .dry_run = dry_run != NULL,
			   .out = dry_run};
	int rc = -1, failed = 0;

	if (fs_health_collect(st, cfg, t, &e.h) != 0)
		goto out;
	for (int i = 0; i < e.h.nproblems; i++) {
		const struct fs_problem *p = &e.h.problems[i];
		bool dup = false;

		if (strcmp(p->rule, "hold") == 0)
			continue;	/* a hold is the consequence of an alert, not one */
		/* One incident per rule and subject: the first reason names it. */
		for (int j = 0; j < e.nf && !dup; j++)
			dup = strcmp(e.f[j].rule, p->rule) == 0 && strcmp(e.f[j].subject, p->subject) == 0;
		if (!dup)
			add_finding(&e, p->rule, p->subject, p->level, fs_xstrdup(p->text), NULL, jv_null());
	}
	if (follow_up_misses(&e) != 0 || resolve_gone(&e) != 0)
		goto out;
	for (int i = 0; i < e.nf; i++) {
		int r = handle(&e, &e.f[i]);

		if (r < 0)
			goto out;
		failed |= r;
	}
	if (!e.dry_run && prune_requests(&e) != 0)
		goto out;
	rc = failed;
out:
	for (int i = 0; i < e.nf; i++) {
		free(e.f[i].subject);
		free(e.f[i].text);
		free(e.f[i].owner);
		jv_free(e.f[i].extra);
	}
	free(e.f);
	fs_health_free(&e.h);
	return rc;
}

int
fs_alert_ack(struct fs_state *st, int64_t id, const char *by, const char *note, const char *run_id, jv *out)
{
	fs_stmt *q = fs_state_query(st,
	    "SELECT opened_at, state, acked_by, acked_at, resolved_at FROM alerts WHERE id = ?", "i", id);
	char now[21], *opened = NULL, *resolved = NULL;
	jv holds = jv_array(), detail;
	fs_time t0;
	int rc;

	*out = jv_invalid();
	if (q == NULL) {
		jv_free(holds);
		return -1;
	}
	rc = fs_state_step_row(st, q);
	if (rc == 1 && !fs_col_null(q, 3)) {
		fs_err("ack: alert #%lld was already acknowledged by %s at %s", (long long)id,
		       fs_col_text(q, 2), fs_col_text(q, 3));
		rc = 2;
	} else if (rc == 1) {
		opened = fs_xstrdup(fs_col_text(q, 0));
		if (!fs_col_null(q, 4))
			resolved = fs_xstrdup(fs_col_text(q, 4));
	} else if (rc == 0) {
		fs_err("ack: no alert #%lld", (long long)id);
	}
	fs_stmt_reset(q);
	if (rc != 1) {
		jv_free(holds);
		return rc < 0 ? -1 : -2;
	}
	/* A resolved alert stays resolved: the ack records who and when, and
	 * lifts whatever hold it still has. */
	fs_time_format(fs_now(), now);
	if (fs_state_run(st, "UPDATE alerts SET state = CASE state WHEN 'open' THEN 'acked' ELSE state END,"
			     " acked_by = ?, acked_at = ?, note = ? WHERE id = ?", "sssi", by, now, note, id) != 0)
		goto fail;
	q = fs_state_query(st, "UPDATE holds SET lifted_at = ? WHERE alert_id = ? AND lifted_at IS NULL"
			       " RETURNING scope, name", "si", now, id);
	if (q == NULL)
		goto fail;
	while ((rc = fs_state_step_row(st, q)) == 1)
		holds = jv_array_append(holds, jv_object_set(
		    jv_object_set(jv_object(), jv_string("scope"), jv_string(fs_col_text(q, 0))),
		    jv_string("name"), jv_string(fs_col_text(q, 1))));
	fs_stmt_reset(q);
	if (rc < 0)
		goto fail;
	/* RETURNING gives rows in no set order. */
	holds = jv_sort(holds, jv_copy(holds));
	detail = jv_object_set(jv_object(), jv_string("alert_id"), jv_number((double)id));
	detail = jv_object_set(detail, jv_string("by"), jv_string(by));
	detail = jv_object_set(detail, jv_string("note"), note ? jv_string(note) : jv_null());
	detail = jv_object_set(detail, jv_string("opened_at"), jv_string(opened));
	if (resolved)
		detail = jv_object_set(detail, jv_string("resolved_at"), jv_string(resolved));
	detail = jv_object_set(detail, jv_string("recovery_s"),
			       fs_time_parse(opened, &t0) == 0 ? jv_number((double)(fs_now() - t0)) : jv_null());
	detail = jv_object_set(detail, jv_string("holds_lifted"), holds);
	free(opened);
	free(resolved);
	*out = jv_copy(detail);
	if (changelog_alert(st, "alert.ack", run_id, id, detail) != 0) {
		jv_free(*out);
		*out = jv_invalid();
		return -1;
	}
	return 0;
fail:
	free(opened);
	free(resolved);
	jv_free(holds);
	return -1;
}

int
fs_alerts_each(struct fs_state *st, fs_time recent, fs_alert_fn fn, void *ctx)
{
	fs_stmt *q;
	char since[21];
	int rc;

	fs_time_format(recent, since);
	q = fs_state_query(st,
	    "SELECT id, rule, subject, state, opened_at, last_notified_at, notify_count, acked_by, acked_at,"
	    " note, resolved_at, detail,"
	    " (SELECT group_concat(scope || ' ' || name, ', ') FROM holds"
	    "  WHERE alert_id = alerts.id AND lifted_at IS NULL)"
	    " FROM alerts WHERE state IN ('open', 'acked') OR coalesce(resolved_at, acked_at, opened_at) >= ?"
	    " ORDER BY id", "s", since);
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		struct fs_alert a;

#define COL(i) (fs_col_text(q, (i)))
		a.id = fs_col_int64(q, 0);
		a.rule = COL(1);
		a.subject = COL(2);
		a.state = COL(3);
		a.opened_at = COL(4);
		a.last_notified_at = COL(5);
		a.notify_count = fs_col_int(q, 6);
		a.acked_by = COL(7);
		a.acked_at = COL(8);
		a.note = COL(9);
		a.resolved_at = COL(10);
		a.detail = COL(11);
		a.holds = COL(12);
#undef COL
		if (fn(&a, ctx) != 0) {
			fs_stmt_reset(q);
			return -1;
		}
	}
	fs_stmt_reset(q);
	return rc < 0 ? -1 : 0;
}

int
fs_alert_hold(struct fs_state *st, const struct fs_config *cfg, const char *scope, const char *name, const char *by,
	      const char *note, const char *run_id, int64_t *id)
{
	struct engine e = {.st = st, .cfg = cfg, .run_id = run_id};
	struct finding f = {.rule = "manual", .subject = (char *)name, .level = 2, .extra = jv_object()};
	char now[21];
	int rc;

	*id = 0;
	e.h.now = fs_now();
	fs_time_format(e.h.now, now);
	f.extra = jv_object_set(f.extra, jv_string("scope"), jv_string(scope));
	f.extra = jv_object_set(f.extra, jv_string("by"), jv_string(by));
	if (note)
		f.extra = jv_object_set(f.extra, jv_string("note"), jv_string(note));
	f.text = fs_xasprintf("%s %s held by %s%s%s", scope, name, by, note ? ": " : "", note ? note : "");
	if (fs_state_begin(st) != 0)
		goto out;
	/* A hold by hand holds at once: the rows are claimed no more (lib/outbox.c). */
	if (open_alert(&e, &f, id) != 0 ||
	    fs_state_run(st, "INSERT INTO holds (scope, name, alert_id, since) VALUES (?, ?, ?, ?)", "ssis", scope, name,
			 *id, now) != 0 ||
	    fs_changelog(st, "hold.put", run_id, NULL, name,
			 jv_object_set(jv_object_set(jv_object_set(jv_object(), jv_string("scope"), jv_string(scope)),
						     jv_string("alert_id"), jv_number((double)*id)),
				       jv_string("by"), jv_string(by))) != 0 ||
	    fs_state_commit(st) != 0) {
		fs_state_rollback(st);
		goto out;
	}
	/* Everyone the alerts reach hears of it; a channel that fails is said, the hold stands. */
	rc = notify(&e, *id);
	free(f.text);
	jv_free(f.extra);
	return rc < 0 ? 1 : 0;
out:
	free(f.text);
	jv_free(f.extra);
	return -1;
}

int
fs_alert_raise(struct fs_state *st, const struct fs_config *cfg, const char *rule, const char *subject, int level,
	       const char *text, const char *run_id)
{
	struct engine e = {.st = st, .cfg = cfg, .run_id = run_id};
	struct finding f = {.rule = rule, .subject = (char *)subject, .level = level, .text = (char *)text,
			    .extra = jv_object()};
	char state[16], *last = NULL;
	int64_t id;
	int count = 0, rc = 1;

	e.h.now = fs_now();
	if (active_alert(&e, rule, subject, &id, state, &last, &count) != 0)
		rc = -1;
	else if (id != 0)
		rc = 0;	/* said already: a repeat delivery, or the same news again */
	else if (fs_state_begin(st) != 0 || open_alert(&e, &f, &id) != 0 || fs_state_commit(st) != 0) {
		fs_state_rollback(st);
		rc = -1;
	} else {
		fs_info("alert #%lld opened: %s %s %s: %s", (long long)id, fs_level_name(level), rule, subject, text);
		notify(&e, id);
	}
	free(last);
	jv_free(f.extra);
	return rc;
}
