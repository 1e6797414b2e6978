/*
 * fs-push: the end of the pipeline.  Each event it acts on goes into the
 * outbox in the transaction that commits the checkpoint after it; then the
 * due rows are sent, each exactly once, through the target's connector
 * (lib/vendors.h): a mail vendor creates pieces, a CRM takes the mail
 * status and follow-up dates written back.  lib/push.c claims and settles
 * the rows; lib/push_take.c takes the events and makes the preview.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vendors.h"

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-push [-qvV] [-c config] [-s state] [--dry-run [--format csv|text]] [--parallel n]\n"
		   "               [--print-config] [--retry-only] target\n"
		   "       fs-push [-qvV] [-c config] [-s state] cancel (piece ... | --campaign name --since time)\n");
	exit(status);
}

/* One event line: checked, then into the outbox (or, for the preview, kept for the end). */
static int
on_event(struct fs_loop *lp, struct fs_line *ln, void *ctx)
{
	struct fs_push *p = ctx;
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
	if (fs_push_take_event(p, ln->obj, ln->bytes, ln->len) != 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

/*
 * fs-push cancel PIECE... | --campaign NAME --since TIME: the pieces
 * still inside their send date are cancelled at the vendor; with
 * --campaign, the campaign's rows not sent yet are withdrawn first.
 */
static int
cancel(struct fs_cli *cli, int argc, char **argv, const char *campaign, const char *since_opt)
{
	struct fs_push_cancel c = {.cli = cli};
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
		if (fs_outbox_cancellable(&cli->st, campaign, since, fs_push_cancel_piece, &c) != 0)
			c.failed = true;
	} else {
		for (int i = 0; i < argc; i++) {
			int rc = fs_outbox_piece(&cli->st, argv[i], fs_push_cancel_known, &c);

			if (rc < 0)
				c.failed = true;
			else if (rc == 0) {
				fs_err("cancel: no piece %s in the state file", argv[i]);
				status = FS_EXIT_USAGE;
			}
		}
	}
	fs_push_cancel_free(&c);
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
interrupted(struct fs_push *p)
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
summary(struct fs_push *p, struct fs_loop *lp)
{
	fs_debug("%s: %ld events read (%ld queued, %ld already queued, %ld suppressed, %ld replayed, %ld not for this"
		 " target); %ld requests, %ld sent (%ld adopted), %ld retrying, %ld dead, %ld held, %ld throttled",
		 p->target, p->taken, p->queued, p->repeats, p->suppressed, p->replays, p->ignored, p->requests, p->sent,
		 p->adopted, p->retrying, p->dead, p->held_now,
		 p->http ? fs_push_http_stats(p->http)->throttled : 0L);
	if (lp && lp->stats.dead > 0)
		fs_push_fail(p, FS_EXIT_DLQ);
	if (p->retrying > 0)
		fs_info("%s: %ld row%s will be retried (last error: %s)", p->target, p->retrying,
			p->retrying == 1 ? "" : "s", p->last_error);
}

/* The run's row in the changelog, when it read events or sent, retried, held or released rows. */
static void
record_run(struct fs_push *p, struct fs_loop *lp)
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
		fs_push_fail(p, FS_EXIT_STATE);
}

static int
finish_status(struct fs_push *p)
{
	struct fs_outbox_counts c;
	long busy = 0, pid = 0;
	char *holder = NULL;

	if (p->status >= FS_EXIT_USAGE || p->dry_run)
		return p->status;
	if (fs_outbox_counts(&p->cli->st, p->target, &c) != 0 ||
	    fs_outbox_busy(&p->cli->st, p->target, p->cli->run_id, &busy, &holder, &pid) != 0) {
		fs_push_fail(p, FS_EXIT_STATE);
		return p->status;
	}
	if (busy > 0)
		fs_info("%s: %ld row%s being sent by %s (pid %ld)", p->target, busy, busy == 1 ? " is" : "s are",
			holder, pid);
	free(holder);
	/* The vendor took none of this run's requests: it is down. */
	if (p->retrying > 0 && p->accepted == 0)
		fs_push_fail(p, FS_EXIT_REMOTE);
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
	struct fs_push p = {0};
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
	bad = fs_push_configure(&p, parallel);
	if (bad == 0 && p.dry_run && !p.mail && strcmp(p.format, "csv") == 0) {
		char *kinds = fs_vendor_kinds(fs_vendor_creates);

		fs_err("--format csv is the preview of a %s target; target '%s' is %s", kinds, p.target, p.ep.kind);
		free(kinds);
		bad = -1;
	}
	if (bad != 0) {
		fs_push_free(&p);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (fs_cli_state(&cli) != 0) {
		fs_push_free(&p);
		return fs_cli_finish(&cli, FS_EXIT_STATE);
	}
	if (!p.dry_run) {
		if (fs_push_sender(&p) != 0) {
			fs_push_free(&p);
			return fs_cli_finish(&cli, FS_EXIT_STATE);
		}
		/* What is due from earlier runs goes first. */
		fs_push_send(&p);
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
			fs_push_fail(&p, status);
		if (status < FS_EXIT_USAGE && !p.dry_run && fs_interrupted == 0)
			fs_push_send(&p);
		summary(&p, &lp);
	} else {
		summary(&p, NULL);
	}
	if (p.dry_run && fs_interrupted == 0 && p.status < FS_EXIT_USAGE) {
		if (p.mail) {
			if (fs_push_preview(&p) != 0)
				fs_push_fail(&p, FS_EXIT_STATE);
		} else {
			fs_push_plan(&p);
		}
	}
	fs_buf_free(&p.preview_in);
	status = finish_status(&p);
	record_run(&p, p.retry_only || !p.took_input ? NULL : &lp);
	status = p.status;
	if (fs_interrupted)
		status = interrupted(&p);
	fs_push_free(&p);
	return fs_cli_finish(&cli, status);
}
