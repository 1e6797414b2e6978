/*
 * fs-health: one panel per source and target, judged against [thresholds],
 * with a monitoring plugin's exit status (0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN).  fs-health switch changes a source's mode by hand.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

enum { UNKNOWN = 3 };

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-health [-qvV] [-c config] [-s state] [--format text|json|prom]\n"
		   "       fs-health switch source polling|webhook\n");
	exit(status == FS_EXIT_OK ? 0 : UNKNOWN);
}

static const char *
dash(const char *s)
{
	return s ? s : "-";
}

static jv
text_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

/* Problems, the worst first, in their order otherwise. */
static void
sort_problems(struct fs_health *h)
{
	for (int i = 1; i < h->nproblems; i++)
		for (int j = i; j > 0 && h->problems[j].level > h->problems[j - 1].level; j--) {
			struct fs_problem p = h->problems[j];

			h->problems[j] = h->problems[j - 1];
			h->problems[j - 1] = p;
		}
}

/*
 * One performance datum, as the monitoring plugin guidelines write it:
 * 'label'=value[unit];[warn];[crit];[min];[max].  A label with a space, a
 * quote or an equals sign is quoted, its quotes doubled.  value < 0 is U
 * (unknown); a threshold < 0 is left empty.  The thresholds are the ranges
 * fs-health alerts outside of: above warn, WARNING.
 */
static void
perf(const char *prefix, const char *name, int64_t value, const char *unit, int64_t warn)
{
	bool quote = strpbrk(name, " '=\t") != NULL;

	putchar(' ');
	if (quote)
		putchar('\'');
	fputs(prefix, stdout);
	for (const char *p = name; *p; p++) {
		if (*p == '\'')
			putchar('\'');
		putchar(*p);
	}
	if (quote)
		putchar('\'');
	if (value >= 0)
		printf("=%lld%s;", (long long)value, unit);
	else
		printf("=U;");
	if (warn >= 0)
		printf("%lld", (long long)warn);
	printf(";;0;");
}

static void
print_text(const struct fs_health *h, const struct fs_thresholds *t)
{
	char d[24];

	printf("FIELDSYNC %s - ", fs_level_name(h->level));
	if (h->nproblems == 0)
		printf("%d source%s, %d target%s, %lld dead letter%s", h->nsrc, h->nsrc == 1 ? "" : "s", h->ntgt,
		       h->ntgt == 1 ? "" : "s", (long long)h->dlq, h->dlq == 1 ? "" : "s");
	for (int i = 0; i < h->nproblems; i++)
		printf("%s%s %s: %s", i ? "; " : "", h->problems[i].rule, h->problems[i].subject, h->problems[i].text);
	/* Performance data, for graphs: the rules' own thresholds (a WARNING
	 * above dlq_max, above two intervals of lag, at retry_storm retries). */
	printf(" |");
	perf("dlq", "", h->dlq, "", h->dlq_max);
	for (int i = 0; i < h->nsrc; i++)
		perf("lag_", h->src[i].name, h->src[i].lag, "s", 2 * h->src[i].interval);
	for (int i = 0; i < h->ntgt; i++) {
		perf("retrying_", h->tgt[i].name, h->tgt[i].retrying, "", t->retry_storm > 0 ? t->retry_storm - 1 : -1);
		perf("held_", h->tgt[i].name, h->tgt[i].held, "", -1);
	}
	putchar('\n');
	for (int i = 0; i < h->nproblems; i++)
		printf("%s %s %s: %s\n", fs_level_name(h->problems[i].level), h->problems[i].rule,
		       h->problems[i].subject, h->problems[i].text);
	for (int i = 0; i < h->nsrc; i++) {
		const struct fs_health_source *s = &h->src[i];

		printf("source %s kind=%s mode=%s last_event=%s last_good=%s failures=%lld last_pull=%s lag=",
		       s->name, s->kind, s->mode, dash(s->last_event_at), dash(s->last_good_at),
		       (long long)s->failures, dash(s->last_pull_at));
		if (s->lag >= 0)
			fs_duration_format(s->lag, d);
		printf("%s in_flight=%lld unsigned=%lld stripped=%lld\n", s->lag >= 0 ? d : "-", (long long)s->in_flight,
		       (long long)s->probes.last_hour, (long long)s->probes.stripped);
	}
	if (h->unknown.seen)
		printf("unknown_sources unsigned=%lld\n", (long long)h->unknown.last_hour);
	for (int i = 0; i < h->ntgt; i++) {
		const struct fs_health_target *g = &h->tgt[i];

		printf("target %s kind=%s last_sent=%s retrying=%lld next_attempt=%s held=%lld dead=%lld hold=",
		       g->name, g->kind, dash(g->last_sent_at), (long long)g->retrying, dash(g->next_attempt_at),
		       (long long)g->held, (long long)g->dead);
		if (g->hold_alert)
			printf("alert#%lld\n", (long long)g->hold_alert);
		else
			printf("-\n");
	}
	printf("dlq %lld (max %ld)\n", (long long)h->dlq, h->dlq_max);
}

static void
print_json(const struct fs_health *h)
{
	jv o = jv_object(), problems = jv_array(), srcs = jv_array(), tgts = jv_array();
	char now[21];
	jv s;

	fs_time_format(h->now, now);
	for (int i = 0; i < h->nproblems; i++) {
		jv p = jv_object();

		p = jv_object_set(p, jv_string("level"), jv_string(fs_level_name(h->problems[i].level)));
		p = jv_object_set(p, jv_string("rule"), jv_string(h->problems[i].rule));
		p = jv_object_set(p, jv_string("subject"), jv_string(h->problems[i].subject));
		p = jv_object_set(p, jv_string("text"), jv_string(h->problems[i].text));
		problems = jv_array_append(problems, p);
	}
	for (int i = 0; i < h->nsrc; i++) {
		const struct fs_health_source *x = &h->src[i];
		jv p = jv_object();

#define SET(k, v) p = jv_object_set(p, jv_string(k), (v))
		SET("name", jv_string(x->name));
		SET("kind", jv_string(x->kind));
		SET("mode", jv_string(x->mode));
		SET("last_event_at", text_or_null(x->last_event_at));
		SET("last_good_at", text_or_null(x->last_good_at));
		SET("consecutive_failures", jv_number((double)x->failures));
		SET("last_pull_at", text_or_null(x->last_pull_at));
		SET("sync_lag_s", x->lag >= 0 ? jv_number((double)x->lag) : jv_null());
		SET("interval_s", jv_number((double)x->interval));
		SET("in_flight", jv_number((double)x->in_flight));
		SET("silent_s", x->silent >= 0 ? jv_number((double)x->silent) : jv_null());
		SET("signature_failures", jv_number((double)x->sig_failures));
		SET("unsigned_last_hour", jv_number((double)x->probes.last_hour));
		SET("unsigned_total", jv_number((double)x->probes.total));
		SET("stripped", jv_number((double)x->probes.stripped));
		srcs = jv_array_append(srcs, p);
	}
	for (int i = 0; i < h->ntgt; i++) {
		const struct fs_health_target *x = &h->tgt[i];
		jv p = jv_object();

		SET("name", jv_string(x->name));
		SET("kind", jv_string(x->kind));
		SET("last_sent_at", text_or_null(x->last_sent_at));
		SET("retrying", jv_number((double)x->retrying));
		SET("next_attempt_at", text_or_null(x->next_attempt_at));
		SET("last_error", text_or_null(x->last_error));
		SET("held", jv_number((double)x->held));
		SET("dead", jv_number((double)x->dead));
		SET("hold_alert", x->hold_alert ? jv_number((double)x->hold_alert) : jv_null());
		tgts = jv_array_append(tgts, p);
#undef SET
	}
	o = jv_object_set(o, jv_string("status"), jv_string(fs_level_name(h->level)));
	o = jv_object_set(o, jv_string("code"), jv_number(h->level));
	o = jv_object_set(o, jv_string("at"), jv_string(now));
	o = jv_object_set(o, jv_string("problems"), problems);
	o = jv_object_set(o, jv_string("sources"), srcs);
	o = jv_object_set(o, jv_string("targets"), tgts);
	o = jv_object_set(o, jv_string("unknown_sources"),
			  jv_object_set(jv_object_set(jv_object(), jv_string("unsigned_last_hour"),
						      jv_number((double)h->unknown.last_hour)),
					jv_string("unsigned_total"), jv_number((double)h->unknown.total)));
	o = jv_object_set(o, jv_string("dlq"), jv_number((double)h->dlq));
	o = jv_object_set(o, jv_string("dlq_max"), jv_number((double)h->dlq_max));
	s = jv_dump_string(o, 0);
	printf("%s\n", jv_string_value(s));
	jv_free(s);
}

static void
metric_of(const char *name, const char *help, const char *type)
{
	printf("# HELP fieldsync_%s %s\n# TYPE fieldsync_%s %s\n", name, help, name, type);
}

static void
metric(const char *name, const char *help)
{
	metric_of(name, help, "gauge");
}

static void
stamp_metric(const char *name, const char *label, const char *who, const char *stamp)
{
	fs_time t;

	if (stamp && fs_time_parse(stamp, &t) == 0)
		printf("fieldsync_%s{%s=\"%s\"} %lld\n", name, label, who, (long long)t);
}

/* Prometheus text exposition, for node_exporter's textfile collector. */
static void
print_prom(const struct fs_health *h)
{
	metric("health_status", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.");
	printf("fieldsync_health_status %d\n", h->level);
	metric("dlq_open", "Open dead letters.");
	printf("fieldsync_dlq_open %lld\n", (long long)h->dlq);
	metric("source_consecutive_failures", "Refused webhook deliveries since the last 2xx.");
	for (int i = 0; i < h->nsrc; i++)
		printf("fieldsync_source_consecutive_failures{source=\"%s\"} %lld\n", h->src[i].name,
		       (long long)h->src[i].failures);
	metric_of("source_unsigned_requests_total", "Requests to fs-hook without a signature (probes, scanners);"
		  " source \"-\" for unknown sources.", "counter");
	for (int i = 0; i < h->nsrc; i++)
		printf("fieldsync_source_unsigned_requests_total{source=\"%s\"} %lld\n", h->src[i].name,
		       (long long)h->src[i].probes.total);
	if (h->unknown.seen)
		printf("fieldsync_source_unsigned_requests_total{source=\"-\"} %lld\n", (long long)h->unknown.total);
	metric("source_stripped_deliveries", "Vendor events without signature headers since the last good delivery.");
	for (int i = 0; i < h->nsrc; i++)
		printf("fieldsync_source_stripped_deliveries{source=\"%s\"} %lld\n", h->src[i].name,
		       (long long)h->src[i].probes.stripped);
	metric("source_polling", "1 when the source is in polling mode.");
	for (int i = 0; i < h->nsrc; i++)
		printf("fieldsync_source_polling{source=\"%s\"} %d\n", h->src[i].name,
		       strcmp(h->src[i].mode, "polling") == 0);
	metric("source_last_event_timestamp_seconds", "When the last webhook event was stored.");
	for (int i = 0; i < h->nsrc; i++)
		stamp_metric("source_last_event_timestamp_seconds", "source", h->src[i].name, h->src[i].last_event_at);
	metric("source_sync_lag_seconds", "Seconds since the last committed pull.");
	for (int i = 0; i < h->nsrc; i++)
		if (h->src[i].lag >= 0)
			printf("fieldsync_source_sync_lag_seconds{source=\"%s\"} %lld\n", h->src[i].name,
			       (long long)h->src[i].lag);
	metric("target_retrying", "Deliveries waiting for a retry.");
	for (int i = 0; i < h->ntgt; i++)
		printf("fieldsync_target_retrying{target=\"%s\"} %lld\n", h->tgt[i].name, (long long)h->tgt[i].retrying);
	metric("target_held", "Deliveries kept back by a hold.");
	for (int i = 0; i < h->ntgt; i++)
		printf("fieldsync_target_held{target=\"%s\"} %lld\n", h->tgt[i].name, (long long)h->tgt[i].held);
	metric("target_dead", "Deliveries that gave up.");
	for (int i = 0; i < h->ntgt; i++)
		printf("fieldsync_target_dead{target=\"%s\"} %lld\n", h->tgt[i].name, (long long)h->tgt[i].dead);
	metric("target_on_hold", "1 while a watchdog hold is active on the target.");
	for (int i = 0; i < h->ntgt; i++)
		printf("fieldsync_target_on_hold{target=\"%s\"} %d\n", h->tgt[i].name, h->tgt[i].hold_alert > 0);
	metric("target_last_sent_timestamp_seconds", "When the last delivery succeeded.");
	for (int i = 0; i < h->ntgt; i++)
		stamp_metric("target_last_sent_timestamp_seconds", "target", h->tgt[i].name, h->tgt[i].last_sent_at);
	metric("target_next_attempt_timestamp_seconds", "The next retry (backoff state).");
	for (int i = 0; i < h->ntgt; i++)
		stamp_metric("target_next_attempt_timestamp_seconds", "target", h->tgt[i].name, h->tgt[i].next_attempt_at);
}

static int
cmd_switch(struct fs_cli *cli, int argc, char **argv)
{
	struct fs_endpoint ep;

	if (argc != 3)
		usage(stderr, UNKNOWN);
	if (fs_endpoint_find(&cli->cfg, "source", argv[1], &ep) != 0)
		return UNKNOWN;
	if (strcmp(argv[2], "polling") != 0 && strcmp(argv[2], "webhook") != 0) {
		fs_err("switch: mode must be polling or webhook, not '%s'", argv[2]);
		return UNKNOWN;
	}
	/* Like the panel, it never makes a state file where there was none. */
	if (fs_cli_state_open(cli, FS_STATE_EXISTING) != 0)
		return UNKNOWN;
	if (fs_state_begin(&cli->st) != 0 ||
	    fs_source_mode_set(&cli->st, argv[1], argv[2], "fs-health switch", cli->run_id) != 0 ||
	    fs_state_commit(&cli->st) != 0) {
		fs_state_rollback(&cli->st);
		return UNKNOWN;
	}
	fs_debug("source '%s' is in %s mode", argv[1], argv[2]);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"format", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	struct fs_cli cli;
	struct fs_thresholds t;
	struct fs_health h;
	struct fs_buf why = {0};
	const char *format = "text";
	int opt, rc;

	fs_cli_init(&cli, "fs-health");
	while ((opt = getopt_long(argc, argv, "+" FS_CLI_COMMON_OPTSTRING "f:", longopts, NULL)) != -1) {
		if (opt == 'f')
			format = optarg;
		else if (!fs_cli_option(&cli, opt, optarg, usage))
			usage(stderr, UNKNOWN);
	}
	argc -= optind;
	argv += optind;
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 && strcmp(format, "prom") != 0) {
		fs_err("--format must be text, json or prom, not '%s'", format);
		return fs_cli_finish(&cli, UNKNOWN);
	}
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? 0 : UNKNOWN);
	if (argc > 0 && strcmp(argv[0], "switch") == 0)
		return fs_cli_finish(&cli, cmd_switch(&cli, argc, argv));
	if (argc > 0) {
		fs_err("unknown subcommand '%s'", argv[0]);
		usage(stderr, UNKNOWN);
	}
	if (fs_thresholds_load(&cli.cfg, &t) != 0)
		return fs_cli_finish(&cli, UNKNOWN);
	/* It only reads: a state file that is not there (a mistyped -s) is
	 * UNKNOWN, never a new empty one that looks fine.  In text, the
	 * monitoring system reads why on the status line. */
	if (strcmp(format, "text") == 0)
		fs_err_keep = &why;
	rc = fs_cli_state_open(&cli, FS_STATE_READONLY) != 0 ? -1 : fs_health_collect(&cli.st, &cli.cfg, &t, &h);
	fs_err_keep = NULL;
	if (rc != 0) {
		if (fs_state_is_open(&cli.st))
			fs_health_free(&h);
		if (strcmp(format, "text") == 0)
			printf("FIELDSYNC UNKNOWN - %.*s\n", why.len ? (int)strcspn(why.data, "\n") : 26,
			       why.len ? why.data : "cannot read the state file");
		fs_buf_free(&why);
		return fs_cli_finish(&cli, UNKNOWN);
	}
	sort_problems(&h);
	if (strcmp(format, "json") == 0)
		print_json(&h);
	else if (strcmp(format, "prom") == 0)
		print_prom(&h);
	else
		print_text(&h, &t);
	rc = h.level;
	fs_health_free(&h);
	rc = fs_cli_finish(&cli, rc);
	/* fs_cli_finish maps a failed write to 4; a plugin says UNKNOWN. */
	return rc > UNKNOWN ? UNKNOWN : rc;
}
