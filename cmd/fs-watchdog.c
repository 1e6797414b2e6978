/*
 * fs-watchdog: thresholds, alerts, pause-and-hold.  A run opens one alert
 * per incident, notifies, holds costly targets and switches failing webhook
 * sources to polling; "hold" holds a campaign or target by hand; "ack"
 * lifts a hold; "list" shows the alerts.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

#define RECENT (7 * 86400)	/* list: resolved alerts stay this long */

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-watchdog [-nqvV] [-c config] [-s state]\n"
		   "       fs-watchdog list\n"
		   "       fs-watchdog ack alert --by name [--note text]\n"
		   "       fs-watchdog hold (campaign | target) name --by name [--note text]\n");
	exit(status);
}

static jv
text_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

static int
print_alert(const struct fs_alert *a, void *ctx)
{
	bool table = *(bool *)ctx;
	jv detail = jv_parse(a->detail ? a->detail : "{}");
	const char *level = fs_jstr(detail, "level"), *text = fs_jstr(detail, "text");

	if (table) {
		printf("%-5lld %-8s %-8s %-11s %-14s %-20s %-22s %s\n", (long long)a->id, a->state,
		       level ? level : "-", a->rule, a->subject, a->opened_at, a->holds ? a->holds : "-",
		       text ? text : "");
	} else {
		jv o = jv_object(), holds = jv_array(), s;

		if (a->holds) {
			char *copy = fs_xstrdup(a->holds), *save = NULL;

			for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				holds = jv_array_append(holds, jv_string(fs_trim(tok)));
			free(copy);
		}
#define SET(k, v) o = jv_object_set(o, jv_string(k), (v))
		SET("id", jv_number((double)a->id));
		SET("rule", jv_string(a->rule));
		SET("subject", jv_string(a->subject));
		SET("state", jv_string(a->state));
		SET("level", text_or_null(level));
		SET("summary", text_or_null(text));
		SET("opened_at", jv_string(a->opened_at));
		SET("last_notified_at", text_or_null(a->last_notified_at));
		SET("notify_count", jv_number(a->notify_count));
		SET("acked_by", text_or_null(a->acked_by));
		SET("acked_at", text_or_null(a->acked_at));
		SET("note", text_or_null(a->note));
		SET("resolved_at", text_or_null(a->resolved_at));
		SET("holds", holds);
#undef SET
		s = jv_dump_string(o, 0);
		printf("%s\n", jv_string_value(s));
		jv_free(s);
	}
	jv_free(detail);
	return 0;
}

/* "alert #3 acknowledged by alice; hold lifted: target mail". */
static void
ack_said(long long id, const char *by, jv done)
{
	jv holds = fs_jget(done, "holds_lifted");
	const char *resolved = fs_jstr(done, "resolved_at");
	struct fs_buf b = {0};
	int n = jv_array_length(jv_copy(holds));

	jv_array_foreach(holds, i, h) {
		fs_buf_addf(&b, "%s%s %s", i ? ", " : "", fs_jstr(h, "scope"), fs_jstr(h, "name"));
		jv_free(h);
	}
	jv_free(holds);
	if (resolved)
		fs_debug("alert #%lld had already resolved at %s; acknowledged by %s; %s%s", id, resolved, by,
			 n == 0 ? "no hold was left" : n == 1 ? "hold lifted: " : "holds lifted: ", b.data ? b.data : "");
	else
		fs_debug("alert #%lld acknowledged by %s; %s%s", id, by,
			 n == 0 ? "it held nothing" : n == 1 ? "hold lifted: " : "holds lifted: ", b.data ? b.data : "");
	fs_buf_free(&b);
}

/* The --by WHO and --note TEXT of ack and hold, around their nargs
 * arguments; *argv then points at the first of them. */
static void
by_and_note(int *argc, char ***argv, int nargs, const char **by, const char **note)
{
	static const struct option longopts[] = {
		{"by", required_argument, NULL, 'b'},
		{"note", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	*by = *note = NULL;
	optind = 0;	/* 0: glibc starts afresh, permuting options after the arguments */
	while ((opt = getopt_long(*argc, *argv, "b:n:", longopts, NULL)) != -1) {
		if (opt == 'b')
			*by = optarg;
		else if (opt == 'n')
			*note = optarg;
		else
			usage(stderr, FS_EXIT_USAGE);
	}
	*argc -= optind;
	*argv += optind;
	if (*argc != nargs)
		usage(stderr, FS_EXIT_USAGE);
}

static int
cmd_ack(struct fs_cli *cli, int argc, char **argv)
{
	const char *by, *note, *arg;
	jv done = jv_invalid();
	char *end;
	long long id;
	int rc;

	by_and_note(&argc, &argv, 1, &by, &note);
	arg = argv[0][0] == '#' ? argv[0] + 1 : argv[0];
	id = strtoll(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || id <= 0) {
		fs_err("ack: '%s' is not an alert id", argv[0]);
		return FS_EXIT_USAGE;
	}
	if (by == NULL || *by == '\0') {
		fs_err("ack: say who acknowledges with --by NAME");
		return FS_EXIT_USAGE;
	}
	if (fs_cli_state(cli) != 0)
		return FS_EXIT_STATE;
	if (fs_state_begin(&cli->st) != 0)
		return FS_EXIT_STATE;
	rc = fs_alert_ack(&cli->st, id, by, note, cli->run_id, &done);
	if (rc != 0 || fs_state_commit(&cli->st) != 0) {
		fs_state_rollback(&cli->st);
		jv_free(done);
		return rc == -2 ? FS_EXIT_USAGE : FS_EXIT_STATE;
	}
	ack_said(id, by, done);
	jv_free(done);
	return FS_EXIT_OK;
}

/* fs-watchdog hold campaign|target NAME --by WHO [--note TEXT]: at once, until acknowledged. */
static int
cmd_hold(struct fs_cli *cli, int argc, char **argv)
{
	const char *by, *note;
	int64_t id;
	int rc;

	by_and_note(&argc, &argv, 2, &by, &note);
	if (strcmp(argv[0], "campaign") != 0 && strcmp(argv[0], "target") != 0) {
		fs_err("hold: a campaign or a target, not '%s'", argv[0]);
		return FS_EXIT_USAGE;
	}
	if (by == NULL || *by == '\0') {
		fs_err("hold: say who holds with --by NAME");
		return FS_EXIT_USAGE;
	}
	if (strcmp(argv[0], "target") == 0) {
		struct fs_endpoint ep;

		if (fs_endpoint_find(&cli->cfg, "target", argv[1], &ep) != 0)
			return FS_EXIT_USAGE;
	} else if (fs_config_section(&cli->cfg, "campaign", argv[1]) == NULL) {
		fs_err("hold: no [campaign \"%s\"] in the configuration", argv[1]);
		return FS_EXIT_USAGE;
	}
	if (fs_cli_state(cli) != 0)
		return FS_EXIT_STATE;
	rc = fs_alert_hold(&cli->st, &cli->cfg, argv[0], argv[1], by, note, cli->run_id, &id);
	if (rc < 0)
		return FS_EXIT_STATE;
	printf("alert #%lld: %s %s held by %s; 'fs-watchdog ack %lld --by NAME' lifts it\n", (long long)id, argv[0],
	       argv[1], by, (long long)id);
	return rc > 0 ? FS_EXIT_REMOTE : FS_EXIT_OK;
}

static int
cmd_run(struct fs_cli *cli, bool dry_run)
{
	struct fs_thresholds t;
	int rc, taken = 1;

	if (fs_thresholds_load(&cli->cfg, &t) != 0)
		return FS_EXIT_USAGE;
	if (fs_cli_state(cli) != 0)
		return FS_EXIT_STATE;
	if (!dry_run && (taken = fs_lease_take(&cli->st, "fs-watchdog", cli->run_id, 600)) <= 0) {
		if (taken == 0)
			fs_err("another fs-watchdog run is at work; nothing to do");
		return taken == 0 ? FS_EXIT_OK : FS_EXIT_STATE;
	}
	rc = fs_watchdog_run(&cli->st, &cli->cfg, &t, cli->run_id, dry_run ? stdout : NULL);
	if (!dry_run)
		fs_lease_release(&cli->st, "fs-watchdog", cli->run_id);
	return rc < 0 ? FS_EXIT_STATE : rc > 0 ? FS_EXIT_REMOTE : FS_EXIT_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"dry-run", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	struct fs_cli cli;
	bool dry_run = false;
	int opt, rc;

	fs_cli_init(&cli, "fs-watchdog");
	while ((opt = getopt_long(argc, argv, "+" FS_CLI_COMMON_OPTSTRING "n", longopts, NULL)) != -1) {
		if (opt == 'n')
			dry_run = true;
		else if (!fs_cli_option(&cli, opt, optarg, usage))
			usage(stderr, FS_EXIT_USAGE);
	}
	argc -= optind;
	argv += optind;
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	if (argc == 0)
		return fs_cli_finish(&cli, cmd_run(&cli, dry_run));
	if (strcmp(argv[0], "ack") == 0)
		return fs_cli_finish(&cli, cmd_ack(&cli, argc, argv));
	if (strcmp(argv[0], "hold") == 0)
		return fs_cli_finish(&cli, cmd_hold(&cli, argc, argv));
	if (strcmp(argv[0], "list") == 0) {
		bool table = isatty(STDOUT_FILENO);

		if (argc != 1)
			usage(stderr, FS_EXIT_USAGE);
		if (fs_cli_state(&cli) != 0)
			return fs_cli_finish(&cli, FS_EXIT_STATE);
		if (table)
			printf("%-5s %-8s %-8s %-11s %-14s %-20s %-22s %s\n", "ID", "STATE", "LEVEL", "RULE", "SUBJECT",
			       "OPENED", "HOLDS", "SUMMARY");
		rc = fs_alerts_each(&cli.st, fs_now() - RECENT, print_alert, &table) ? FS_EXIT_STATE : FS_EXIT_OK;
		return fs_cli_finish(&cli, rc);
	}
	fs_err("unknown subcommand '%s'", argv[0]);
	usage(stderr, FS_EXIT_USAGE);
}
