/*
 * The health panel: per source and target, what the state file says about
 * deliveries, retries, the DLQ and sync lag, judged against [thresholds].
 * fs-health prints it; fs-watchdog turns its problems into alerts.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

static const char *const level_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

const char *
fs_level_name(int level)
{
	return level_names[level < 0 || level > 3 ? 3 : level];
}

static int
get_duration(const struct fs_config *cfg, const char *type, const char *name, const char *key, int64_t *out)
{
	const char *v = fs_config_setting(cfg, type, name, key);

	if (fs_duration_parse(v, out) != 0) {
		fs_err("[%s%s%s] %s: '%s' is not a duration (90s, 15m, 24h, 3d)", type, *name ? " " : "", name, key,
		       v);
		return -1;
	}
	return 0;
}

static int
get_count(const struct fs_config *cfg, const char *key, long *out)
{
	const char *v = fs_config_setting(cfg, "thresholds", "", key);

	if (fs_count_parse(v, out) != 0) {
		fs_err("[thresholds] %s: '%s' is not a count (0 to %d)", key, v, FS_COUNT_MAX);
		return -1;
	}
	return 0;
}

int
fs_thresholds_load(const struct fs_config *cfg, struct fs_thresholds *t)
{
	const char *v;
	long n;

	memset(t, 0, sizeof *t);
	if (get_count(cfg, "webhook_failures", &n) != 0)
		return -1;
	t->webhook_failures = (int)n;
	if (get_count(cfg, "unsigned_max", &t->unsigned_max) != 0)
		return -1;
	if (get_count(cfg, "dlq_max", &n) != 0)
		return -1;
	t->dlq_max = n;
	if (get_count(cfg, "retry_storm", &n) != 0)
		return -1;
	t->retry_storm = n;
	if (get_duration(cfg, "thresholds", "", "no_ping", &t->no_ping) != 0)
		return -1;
	v = fs_config_setting(cfg, "thresholds", "", "follow_up_sla");
	if (fs_bizdays_parse(v, &t->follow_up_sla) != 0) {
		fs_err("[thresholds] follow_up_sla: '%s' is not in business days (3bd)", v);
		return -1;
	}
	v = fs_config_setting(cfg, "thresholds", "", "holidays");
	if (fs_holidays_parse(v, &t->holidays) != 0) {
		fs_err("[thresholds] holidays: '%s' is not a list of dates (2026-12-25, 2027-01-01)", v);
		return -1;
	}
	return 0;
}

/* Adds name to the list unless there. */
static void
add_name(char ***names, int *n, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (strcmp((*names)[i], name) == 0)
			return;
	*names = fs_xrealloc(*names, (size_t)(*n + 1) * sizeof **names);
	(*names)[(*n)++] = fs_xstrdup(name);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Configured sections of a type, and built-in kinds the state file has used. */
static int
endpoints(struct fs_state *st, const struct fs_config *cfg, const char *type, const char *used_sql,
	  char ***names, int *n)
{
	fs_stmt *q = fs_state_prepare(st, used_sql);
	int rc;

	for (int i = 0; i < cfg->nsec; i++)
		if (strcmp(cfg->sec[i].type, type) == 0)
			add_name(names, n, cfg->sec[i].name);
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		const char *name = fs_col_text(q, 0);

		if (name && fs_kind_builtin(name))
			add_name(names, n, name);
	}
	if (rc != 0)
		return -1;
	/* A built-in kind fs-hook was asked for, by anyone: a flood of probes to it shows. */
	if (strcmp(type, "source") == 0) {
		char **probed;
		int np;

		if (fs_probes_sources(st->path, &probed, &np) != 0)
			return -1;
		for (int i = 0; i < np; i++) {
			if (fs_kind_builtin(probed[i]))
				add_name(names, n, probed[i]);
			free(probed[i]);
		}
		free(probed);
	}
	if (*n > 1)
		qsort(*names, (size_t)*n, sizeof **names, cmp_names);
	return 0;
}

static const char *
kind_of(const struct fs_config *cfg, const char *type, const char *name)
{
	const char *k = fs_config_setting(cfg, type, name, "kind");

	return k ? k : "?";
}

static void
problem(struct fs_health *h, int level, const char *rule, const char *subject, char *text)
{
	h->problems = fs_xrealloc(h->problems, (size_t)(h->nproblems + 1) * sizeof *h->problems);
	h->problems[h->nproblems++] = (struct fs_problem){level, rule, fs_xstrdup(subject), text};
	if (level > h->level)
		h->level = level;
}

/* "2h05m", "17m", "45s". */
void
fs_duration_format(int64_t s, char out[24])
{
	if (s >= 86400)
		snprintf(out, 24, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(out, 24, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(out, 24, "%lldm", (long long)(s / 60));
	else
		snprintf(out, 24, "%llds", (long long)s);
}

static int64_t
since(fs_time now, const char *stamp)
{
	fs_time t;

	return stamp && fs_time_parse(stamp, &t) == 0 ? now - t : -1;
}

/* Pieces in flight through lob targets, and the start of the oldest one. */
static int
in_flight(struct fs_state *st, const struct fs_health *h, int64_t *n, char **oldest)
{
	*n = 0;
	*oldest = NULL;
	for (int i = 0; i < h->ntgt; i++) {
		fs_stmt *q;
		int rc;

		if (strcmp(h->tgt[i].kind, "lob") != 0)
			continue;
		q = fs_state_query(st, "SELECT count(*), min(coalesce(mailed_at, queued_at, requested_at, updated_at))"
				   " FROM pieces WHERE target = ?"
				   " AND status NOT IN ('delivered', 'returned', 'failed', 'cancelled')", "s",
				   h->tgt[i].name);
		if (q == NULL || (rc = fs_state_step_row(st, q)) < 0)
			return -1;
		if (rc == 1 && fs_col_int64(q, 0) > 0) {
			const char *o = fs_col_text(q, 1);

			*n += fs_col_int64(q, 0);
			if (o && (*oldest == NULL || strcmp(o, *oldest) < 0)) {
				free(*oldest);
				*oldest = fs_xstrdup(o);
			}
		}
		if (rc == 1)
			fs_stmt_reset(q);
	}
	return 0;
}

/*
 * Unsigned requests (probes.c) are no deliveries, and whoever can reach the
 * web server can send them: they never make a source CRITICAL or switch it
 * to polling.  A flood of them is a WARNING of its own (probes); so is the
 * vendor's event body arriving without its signature headers since the
 * last good delivery (stripped), which a proxy that drops the headers
 * does, and which anyone who has read the vendor's documentation can also
 * send.  A stripping proxy loses every delivery: the silence rule (no_ping)
 * is what switches a source with pieces in flight to polling.
 */
static void
unsigned_problems(const struct fs_config *cfg, const struct fs_thresholds *t, struct fs_health *h,
		  const char *name, const struct fs_probes *p)
{
	char text[200];

	if (t->unsigned_max > 0 && p->last_hour >= t->unsigned_max) {
		snprintf(text, sizeof text, "%lld unsigned requests in the last hour (max %ld): probes or a scan;"
			 " rate-limit them at the web server", (long long)p->last_hour, t->unsigned_max);
		problem(h, 1, "probes", name, fs_xstrdup(text));
	}
	if (cfg && t->webhook_failures > 0 && p->stripped >= t->webhook_failures) {
		/* The configuration was checked at load: its scheme is one there is. */
		const struct fs_signature *s = fs_signature_find(fs_config_setting(cfg, "source", name, "signature"));

		snprintf(text, sizeof text, "%lld deliveries without a %s header since the last good one:"
			 " a proxy stripping it, or a forgery", (long long)p->stripped, s ? s->header : "signature");
		problem(h, 1, "stripped", name, fs_xstrdup(text));
	}
}

static int
collect_source(struct fs_state *st, const struct fs_config *cfg, const struct fs_thresholds *t,
	       struct fs_health *h, struct fs_health_source *s)
{
	char text[160], d1[24];

	s->kind = kind_of(cfg, "source", s->name);
	if (fs_source_mode(st, s->name, s->mode) != 0 ||
	    get_duration(cfg, "source", s->name, "interval", &s->interval) != 0 ||
	    fs_state_text(st, &s->last_event_at, "SELECT max(received_at) FROM inbox WHERE source = ?", "s",
			  s->name) ||
	    fs_state_text(st, &s->last_good_at, "SELECT max(at) FROM requests WHERE source = ?"
			  " AND status BETWEEN 200 AND 299", "s", s->name) ||
	    fs_state_int(st, &s->failures, "SELECT count(*) FROM requests WHERE source = ?1 AND id > coalesce("
			 "(SELECT max(id) FROM requests WHERE source = ?1 AND status BETWEEN 200 AND 299), 0)",
			 "s", s->name) ||
	    fs_state_int(st, &s->sig_failures, "SELECT count(*) FROM requests WHERE source = ?1 AND status = 401"
			 " AND id > coalesce((SELECT max(id) FROM requests WHERE source = ?1"
			 " AND status BETWEEN 200 AND 299), 0)", "s", s->name) ||
	    fs_state_text(st, &s->last_pull_at, "SELECT max(committed_at) FROM cursors WHERE source = ?", "s",
			  s->name))
		return -1;
	if (fs_probes_read(st->path, s->name, h->now, &s->probes) != 0)
		return -1;
	s->lag = since(h->now, s->last_pull_at);
	s->silent = -1;
	if (t->webhook_failures > 0 && s->failures >= t->webhook_failures) {
		/* A rotated secret, or a proxy that changes what the vendor signed. */
		if (s->sig_failures == s->failures)
			snprintf(text, sizeof text, "%lld signature failures in a row", (long long)s->failures);
		else if (s->sig_failures > 0)
			snprintf(text, sizeof text, "%lld failed deliveries in a row (%lld signature failures)",
				 (long long)s->failures, (long long)s->sig_failures);
		else
			snprintf(text, sizeof text, "%lld failed deliveries in a row", (long long)s->failures);
		problem(h, 2, "webhook", s->name, fs_xstrdup(text));
	} else if (strcmp(s->kind, "lob") == 0 || strcmp(s->kind, "lob-events") == 0) {
		char *oldest = NULL;
		const char *from;

		if (in_flight(st, h, &s->in_flight, &oldest) != 0)
			return -1;
		/* Silence counts from the last event, or from when pieces were
		 * first in flight when that is later. */
		from = s->last_event_at;
		if (oldest && (from == NULL || strcmp(oldest, from) > 0))
			from = oldest;
		if (s->in_flight > 0 && from)
			s->silent = since(h->now, from);
		if (s->silent >= 0 && t->no_ping > 0 && s->silent >= t->no_ping) {
			fs_duration_format(s->silent, d1);
			snprintf(text, sizeof text, "no event for %s with %lld piece%s in flight", d1,
				 (long long)s->in_flight, s->in_flight == 1 ? "" : "s");
			problem(h, 2, "webhook", s->name, fs_xstrdup(text));
		}
		free(oldest);
	}
	unsigned_problems(cfg, t, h, s->name, &s->probes);
	if (s->lag >= 0 && s->lag > 2 * s->interval) {
		char d2[24];

		fs_duration_format(s->lag, d1);
		fs_duration_format(s->interval, d2);
		snprintf(text, sizeof text, "no committed pull for %s (interval %s)", d1, d2);
		problem(h, 1, "sync_lag", s->name, fs_xstrdup(text));
	}
	return 0;
}

static int
collect_target(struct fs_state *st, const struct fs_config *cfg, const struct fs_thresholds *t,
	       struct fs_health *h, struct fs_health_target *g)
{
	char text[160];

	g->kind = kind_of(cfg, "target", g->name);
	if (fs_state_text(st, &g->last_sent_at, "SELECT max(done_at) FROM outbox WHERE target = ? AND state = 'sent'",
			  "s", g->name) ||
	    fs_state_int(st, &g->retrying, "SELECT count(*) FROM outbox WHERE target = ? AND state = 'pending'"
			 " AND attempts > 0", "s", g->name) ||
	    fs_state_text(st, &g->next_attempt_at, "SELECT min(next_attempt_at) FROM outbox WHERE target = ?"
			  " AND state = 'pending' AND attempts > 0", "s", g->name) ||
	    fs_state_text(st, &g->last_error, "SELECT last_error FROM outbox WHERE target = ?"
			  " AND state IN ('pending', 'dead') AND last_error IS NOT NULL"
			  " ORDER BY coalesce(done_at, first_attempt_at) DESC, id DESC LIMIT 1", "s", g->name) ||
	    fs_state_int(st, &g->held, "SELECT count(*) FROM outbox WHERE target = ? AND state = 'held'", "s",
			 g->name) ||
	    fs_state_int(st, &g->dead, "SELECT count(*) FROM outbox WHERE target = ? AND state = 'dead'", "s",
			 g->name) ||
	    fs_state_int(st, &g->hold_alert, "SELECT min(alert_id) FROM holds WHERE scope = 'target' AND name = ?"
			 " AND lifted_at IS NULL", "s", g->name))
		return -1;
	if (t->retry_storm > 0 && g->retrying >= t->retry_storm) {
		snprintf(text, sizeof text, "retry storm: %lld deliveries retrying (max %ld)",
			 (long long)g->retrying, t->retry_storm);
		problem(h, 1, "retry_storm", g->name, fs_xstrdup(text));
	}
	if (g->hold_alert > 0) {
		snprintf(text, sizeof text, "on hold by alert #%lld (fs-watchdog ack %lld --by NAME)",
			 (long long)g->hold_alert, (long long)g->hold_alert);
		problem(h, 1, "hold", g->name, fs_xstrdup(text));
	}
	return 0;
}

int
fs_health_collect(struct fs_state *st, const struct fs_config *cfg, const struct fs_thresholds *t,
		  struct fs_health *h)
{
	char **names = NULL, text[160];
	int n = 0;
	fs_stmt *q;
	int rc;

	memset(h, 0, sizeof *h);
	h->now = fs_now();
	h->dlq_max = t->dlq_max;
	/* Targets first: a source's silence depends on lob targets' pieces. */
	if (endpoints(st, cfg, "target", "SELECT DISTINCT target FROM outbox UNION SELECT DISTINCT target FROM pieces",
		      &names, &n) != 0)
		goto fail;
	h->tgt = fs_xmalloc(((size_t)n + 1) * sizeof *h->tgt);
	for (h->ntgt = 0; h->ntgt < n; h->ntgt++)
		h->tgt[h->ntgt] = (struct fs_health_target){.name = names[h->ntgt]};
	free(names);
	names = NULL;
	n = 0;
	for (int i = 0; i < h->ntgt; i++)
		if (collect_target(st, cfg, t, h, &h->tgt[i]) != 0)
			goto fail;
	if (endpoints(st, cfg, "source",
		      "SELECT source FROM requests GROUP BY source UNION SELECT source FROM inbox GROUP BY source"
		      " UNION SELECT source FROM cursors UNION SELECT source FROM source_modes", &names, &n) != 0)
		goto fail;
	h->src = fs_xmalloc(((size_t)n + 1) * sizeof *h->src);
	for (h->nsrc = 0; h->nsrc < n; h->nsrc++)
		h->src[h->nsrc] = (struct fs_health_source){.name = names[h->nsrc]};
	free(names);
	names = NULL;
	n = 0;
	for (int i = 0; i < h->nsrc; i++)
		if (collect_source(st, cfg, t, h, &h->src[i]) != 0)
			goto fail;
	if (fs_probes_read(st->path, "-", h->now, &h->unknown) != 0)
		goto fail;
	unsigned_problems(NULL, t, h, "-", &h->unknown);
	if (fs_dlq_count(st, &h->dlq) != 0)
		goto fail;
	if (h->dlq > t->dlq_max) {
		snprintf(text, sizeof text, "%lld dead letters (max %ld)", (long long)h->dlq, t->dlq_max);
		problem(h, 1, "dlq", "dlq", fs_xstrdup(text));
	}
	q = fs_state_prepare(st, "SELECT name, alert_id FROM holds WHERE scope = 'campaign' AND lifted_at IS NULL"
				 " ORDER BY name, id");
	if (q == NULL)
		goto fail;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		snprintf(text, sizeof text, "campaign on hold by alert #%lld", (long long)fs_col_int64(q, 1));
		problem(h, 1, "hold", fs_col_text(q, 0), fs_xstrdup(text));
	}
	if (rc != 0)
		goto fail;
	/* A vendor's word that needs a person (Jobber's app disconnected): critical until acknowledged. */
	q = fs_state_prepare(st, "SELECT subject, id, json_extract(detail, '$.text') FROM alerts"
				 " WHERE rule = 'disconnect' AND state = 'open' ORDER BY id");
	if (q == NULL)
		goto fail;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		snprintf(text, sizeof text, "%s (alert #%lld; fs-watchdog ack %lld --by NAME)",
			 fs_col_text(q, 2), (long long)fs_col_int64(q, 1),
			 (long long)fs_col_int64(q, 1));
		problem(h, 2, "disconnect", fs_col_text(q, 0), fs_xstrdup(text));
	}
	if (rc != 0)
		goto fail;
	/* A campaign that reached its cap: the rest waits for the next day. */
	fs_time_format(h->now, text);
	q = fs_state_query(st, "SELECT campaign, count(*), min(next_attempt_at), min(reason) FROM outbox"
			   " WHERE state = 'pending' AND reason LIKE 'cap:%' AND next_attempt_at > ?"
			   " GROUP BY campaign ORDER BY campaign", "s", text);
	if (q == NULL)
		goto fail;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		const char *cap = fs_col_text(q, 3) + 5;	/* "cap: 3/day for ..." */

		snprintf(text, sizeof text, "%lld piece%s over its %.*s wait%s until %s",
			 (long long)fs_col_int64(q, 1), fs_col_int64(q, 1) == 1 ? "" : "s",
			 (int)strcspn(cap, " "), cap, fs_col_int64(q, 1) == 1 ? "s" : "",
			 fs_col_text(q, 2));
		problem(h, 1, "cap", fs_col_text(q, 0), fs_xstrdup(text));
	}
	if (rc != 0)
		goto fail;
	return 0;
fail:
	for (int i = 0; i < n && names; i++)
		free(names[i]);
	free(names);
	h->level = 3;
	return -1;
}

void
fs_health_free(struct fs_health *h)
{
	for (int i = 0; i < h->nsrc; i++) {
		struct fs_health_source *s = &h->src[i];

		free(s->name);
		free(s->last_event_at);
		free(s->last_good_at);
		free(s->last_pull_at);
	}
	for (int i = 0; i < h->ntgt; i++) {
		struct fs_health_target *g = &h->tgt[i];

		free(g->name);
		free(g->last_sent_at);
		free(g->next_attempt_at);
		free(g->last_error);
	}
	for (int i = 0; i < h->nproblems; i++) {
		free(h->problems[i].subject);
		free(h->problems[i].text);
	}
	free(h->src);
	free(h->tgt);
	free(h->problems);
	memset(h, 0, sizeof *h);
}
