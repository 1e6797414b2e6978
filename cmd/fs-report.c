/*
 * fs-report: SLA dashboards, the audit trail, dedupe scans and the pilot's
 * before/after table, from the state file, to stdout.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-report [-qvV] [-c config] [-s state] sla | health | dedupe | changelog | pilot | outcomes\n"
		   "       [--from time] [--to time] [--format text|csv|excel-csv|json|html] [--section name]\n"
		   "       changelog: [--contact id] [--campaign name] [--event id] [--run id] [--kind kind]\n"
		   "       pilot: [--baseline from..to] [--pilot from..to]\n");
	exit(status);
}

enum { OPT_FROM = 0x200, OPT_TO, OPT_FORMAT, OPT_SECTION, OPT_CONTACT, OPT_CAMPAIGN, OPT_EVENT, OPT_RUN,
       OPT_KIND, OPT_BASELINE, OPT_PILOT };

static int
bad(const char *fmt, const char *a, const char *b)
{
	fs_err(fmt, a, b);
	return FS_EXIT_USAGE;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"from", required_argument, NULL, OPT_FROM},
		{"to", required_argument, NULL, OPT_TO},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"section", required_argument, NULL, OPT_SECTION},
		{"contact", required_argument, NULL, OPT_CONTACT},
		{"campaign", required_argument, NULL, OPT_CAMPAIGN},
		{"event", required_argument, NULL, OPT_EVENT},
		{"run", required_argument, NULL, OPT_RUN},
		{"kind", required_argument, NULL, OPT_KIND},
		{"baseline", required_argument, NULL, OPT_BASELINE},
		{"pilot", required_argument, NULL, OPT_PILOT},
		{NULL, 0, NULL, 0},
	};
	struct fs_cli cli;
	struct fs_report_opts o = {0};
	const char *from = NULL, *to = NULL, *format = NULL, *section = NULL, *baseline = NULL, *pilot = NULL;
	const char *name, *filter = NULL;
	int opt, rc;
	jv rep;

	fs_cli_init(&cli, "fs-report");
	while ((opt = getopt_long(argc, argv, FS_CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
		if (fs_cli_option(&cli, opt, optarg, usage))
			continue;
		switch (opt) {
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_TO:
			to = optarg;
			break;
		case OPT_FORMAT:
			format = optarg;
			break;
		case OPT_SECTION:
			section = optarg;
			break;
		case OPT_CONTACT:
			o.contact = optarg;
			filter = "--contact";
			break;
		case OPT_CAMPAIGN:
			o.campaign = optarg;
			filter = "--campaign";
			break;
		case OPT_EVENT:
			o.event_id = optarg;
			filter = "--event";
			break;
		case OPT_RUN:
			o.run_id = optarg;
			filter = "--run";
			break;
		case OPT_KIND:
			o.kind = optarg;
			filter = "--kind";
			break;
		case OPT_BASELINE:
			baseline = optarg;
			break;
		case OPT_PILOT:
			pilot = optarg;
			break;
		default:
			usage(stderr, FS_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	if (argc != 1) {
		if (argc > 1)
			fs_err("one report at a time, not '%s' and '%s'", argv[0], argv[1]);
		usage(stderr, FS_EXIT_USAGE);
	}
	name = argv[0];
	if (!fs_report_known(name))
		return fs_cli_finish(&cli, bad("unknown report '%s' (sla, health, dedupe, changelog, pilot, outcomes)%s",
					       name, ""));
	if (section && !fs_report_has_section(name, section)) {
		fs_err("the %s report has no section '%s' (%s)", name, section, fs_report_sections(name));
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (format == NULL)
		format = isatty(STDOUT_FILENO) ? "text" : "json";
	if (strcmp(format, "ndjson") == 0)
		format = "json";
	if (strcmp(format, "text") && strcmp(format, "csv") && strcmp(format, "excel-csv") && strcmp(format, "json") &&
	    strcmp(format, "html"))
		return fs_cli_finish(&cli, bad("unknown format '%s' (text, csv, excel-csv, json, html)%s", format, ""));
	if (filter && strcmp(name, "changelog") != 0)
		return fs_cli_finish(&cli, bad("%s filters the changelog report, not '%s'", filter, name));
	if ((baseline || pilot) && strcmp(name, "pilot") != 0)
		return fs_cli_finish(&cli, bad("%s is for the pilot report, not '%s'",
					       baseline ? "--baseline" : "--pilot", name));
	if (pilot && (from || to))
		return fs_cli_finish(&cli, bad("give --pilot or --from/--to, not both%s%s", "", ""));

	/* The window: [from, to), the last 14 days by default; a plain date
	 * is a day in the business's time zone. */
	if ((o.tz = fs_cli_timezone(&cli)) == NULL)
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	o.to = fs_now();
	if (to && fs_cli_time(&cli, "--to", to, true, &o.to) != 0)
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	o.from = o.to - 14 * 86400;
	if (from && fs_cli_time(&cli, "--from", from, false, &o.from) != 0)
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	if (pilot && fs_report_range(pilot, o.tz, &o.from, &o.to) != 0)
		return fs_cli_finish(&cli, bad("--pilot: '%s' is not FROM..TO (RFC 3339 or YYYY-MM-DD)%s", pilot, ""));
	if (o.from >= o.to) {
		char a[21], b[21];

		fs_time_format(o.from, a);
		fs_time_format(o.to, b);
		if (pilot)
			return fs_cli_finish(&cli, bad("--pilot: '%s' is an empty window%s", pilot, ""));
		return fs_cli_finish(&cli, bad("--from %s is not before --to %s", from ? from : a, to ? to : b));
	}
	/* The baseline: the same length just before, unless given. */
	o.base_to = o.from;
	o.base_from = o.from - (o.to - o.from);
	if (baseline && fs_report_range(baseline, o.tz, &o.base_from, &o.base_to) != 0)
		return fs_cli_finish(&cli, bad("--baseline: '%s' is not FROM..TO (RFC 3339 or YYYY-MM-DD)%s",
					       baseline, ""));
	if (o.base_from >= o.base_to)
		return fs_cli_finish(&cli, bad("--baseline: '%s' is an empty window%s", baseline, ""));
	if (fs_report_opts_config(&cli.cfg, &o) != 0)
		return fs_cli_finish(&cli, FS_EXIT_USAGE);

	/* A report reads: it never makes a state file where there was none,
	 * and a user who may only read the state may run it. */
	if (fs_cli_state_open(&cli, FS_STATE_READONLY) != 0)
		return fs_cli_finish(&cli, FS_EXIT_STATE);

	rep = fs_report_build(&cli.st, name, &o);
	if (!jv_is_valid(rep)) {
		jv_free(rep);
		return fs_cli_finish(&cli, FS_EXIT_STATE);
	}
	{
		jv why = jv_object_get(jv_copy(rep), jv_string("empty"));

		if (jv_get_kind(why) == JV_KIND_STRING) {
			/* CSV has no room for it: say it on stderr too. */
			if (strcmp(format, "csv") == 0 || strcmp(format, "excel-csv") == 0)
				fs_info("%s: nothing to report: %s", name, jv_string_value(why));
		} else if (section) {
			fs_report_only(&rep, section);
		}
		jv_free(why);
	}
	if (strcmp(format, "text") == 0) {
		rc = fs_report_text(rep, stdout);
	} else if (strcmp(format, "csv") == 0 || strcmp(format, "excel-csv") == 0) {
		rc = fs_report_csv(rep, NULL, strcmp(format, "excel-csv") == 0, stdout);
	} else if (strcmp(format, "json") == 0) {
		rc = fs_report_ndjson(rep, stdout);
	} else {
		/* The dashboard: the report, with the health panel and the pilot table beside the SLA. */
		jv reps = JV_ARRAY(rep);

		if (strcmp(name, "sla") == 0 && section == NULL) {
			reps = jv_array_append(reps, fs_report_build(&cli.st, "health", &o));
			reps = jv_array_append(reps, fs_report_build(&cli.st, "pilot", &o));
			reps = jv_array_append(reps, fs_report_build(&cli.st, "dedupe", &o));
		} else if (strcmp(name, "health") != 0) {
			reps = jv_array_append(reps, fs_report_build(&cli.st, "health", &o));
		}
		rc = 0;
		jv_array_foreach(reps, i, r) {
			(void)i;
			if (!jv_is_valid(r))
				rc = -1;
			jv_free(r);
		}
		if (rc == 0)
			rc = fs_report_html(jv_copy(reps), o.tz, stdout);
		else
			rc = 1;
		jv_free(reps);
		rep = jv_null();
		if (rc > 0)
			return fs_cli_finish(&cli, FS_EXIT_STATE);
	}
	jv_free(rep);
	/* The renderers fail only on a write: fs_cli_finish judges it (a reader
	 * that closed the pipe early is no error). */
	return fs_cli_finish(&cli, FS_EXIT_OK);
}
