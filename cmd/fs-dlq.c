/*
 * fs-dlq: inspect dead letters and pipe them back through for repair.
 */
#include <getopt.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vendors.h"

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-dlq [-qvV] [-c config] [-s state] list [--all]\n"
		   "       fs-dlq show id\n"
		   "       fs-dlq count\n"
		   "       fs-dlq replay [--dry-run] (id ... | --all | --reason regex)\n"
		   "       fs-dlq reopen id ...\n"
		   "       fs-dlq purge --older-than duration\n");
	exit(status);
}

static jv
row_json(const struct fs_dead_row *r, bool full)
{
	jv o = jv_object();

#define SET(k, v) o = jv_object_set(o, jv_string(k), (v))
#define TEXT(s) ((s) ? jv_string(s) : jv_null())
	SET("id", jv_number((double)r->id));
	SET("at", TEXT(r->at));
	SET("command", TEXT(r->command));
	SET("run_id", TEXT(r->run_id));
	SET("source", TEXT(r->source));
	SET("event_id", TEXT(r->event_id));
	SET("line", r->lineno ? jv_number((double)r->lineno) : jv_null());
	SET("reason", TEXT(r->reason));
	SET("state", TEXT(r->state));
	SET("seen", jv_number(r->seen));
	SET("replay_of", r->replay_of ? jv_number((double)r->replay_of) : jv_null());
	if (!full && r->replayed_at)
		SET("replayed_at", TEXT(r->replayed_at));
	if (full) {
		jv attempts = r->attempts ? jv_parse(r->attempts) : jv_null();

		SET("last_seen_at", TEXT(r->last_seen_at));
		SET("replayed_at", TEXT(r->replayed_at));
		SET("http_status", r->http_status ? jv_number(r->http_status) : jv_null());
		SET("response", TEXT(r->response));
		SET("attempts", jv_is_valid(attempts) ? attempts : (jv_free(attempts), TEXT(r->attempts)));
	}
	/* The original bytes, as text when they are UTF-8. */
	if (fs_utf8_valid(r->bytes, r->len, NULL))
		SET("bytes", jv_string_sized(r->bytes ? r->bytes : "", (int)r->len));
	else
		SET("bytes_hex", jv_string("(not UTF-8: use 'fs-dlq replay' for the exact bytes)"));
#undef SET
#undef TEXT
	return o;
}

static int
print_row(const struct fs_dead_row *r, void *ctx)
{
	bool table = *(bool *)ctx;

	if (table) {
		char preview[41];
		size_t n = r->len < 40 ? r->len : 40;

		memcpy(preview, r->bytes ? r->bytes : "", n);
		preview[n] = '\0';
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)preview[i] < ' ')
				preview[i] = '.';
		printf("%-6lld %-20s %-14s %6ld %4d  %-50.50s %s\n", (long long)r->id, r->at, r->command,
		       r->lineno, r->seen, r->reason, preview);
	} else {
		jv s = jv_dump_string(row_json(r, false), 0);

		printf("%s\n", jv_string_value(s));
		jv_free(s);
	}
	return 0;
}

static int
show_row(const struct fs_dead_row *r, void *ctx)
{
	jv s = jv_dump_string(row_json(r, true), 0);

	*(bool *)ctx = true;
	printf("%s\n", jv_string_value(s));
	jv_free(s);
	return 0;
}

struct replay {
	struct fs_cli *cli;
	bool dry_run, all, use_re;
	regex_t re;
	int64_t *ids;
	int nids;
	int64_t *chosen;
	int nchosen;
	int formats[2];		/* postcard, letter pieces a replay would send */
	double price[2];
	bool priced[2];
};

static bool
wanted(struct replay *rp, const struct fs_dead_row *r)
{
	if (rp->all)
		return true;
	if (rp->use_re)
		return regexec(&rp->re, r->reason, 0, NULL, 0) == 0;
	for (int i = 0; i < rp->nids; i++)
		if (rp->ids[i] == r->id)
			return true;
	return false;
}

/* A dead letter that is a mail.requested event would send a piece again. */
static void
count_piece(struct replay *rp, const struct fs_dead_row *r)
{
	/* Checked first: libjq 1.6 leaks a string on some invalid texts (["a" "b"]). */
	const char *text = r->bytes ? r->bytes : "";
	jv ev = fs_json_check(text, r->len, NULL) == NULL ? jv_parse_sized(text, (int)r->len) : jv_invalid();
	jv data = fs_jget(ev, "data");
	const char *kind = fs_jstr(ev, "kind"), *format = fs_jstr(data, "format");

	if (kind && strcmp(kind, "mail.requested") == 0)
		rp->formats[format && strcmp(format, "letter") == 0]++;
	jv_free(data);
	jv_free(ev);
}

static int
replay_row(const struct fs_dead_row *r, void *ctx)
{
	struct replay *rp = ctx;

	if (!wanted(rp, r))
		return 0;
	rp->chosen = fs_xrealloc(rp->chosen, (size_t)(rp->nchosen + 1) * sizeof *rp->chosen);
	rp->chosen[rp->nchosen++] = r->id;
	if (rp->dry_run) {
		count_piece(rp, r);
		printf("would replay #%lld (%s, line %ld): %s\n", (long long)r->id, r->command, r->lineno,
		       r->reason);
	}
	return 0;
}

static int
write_row(const struct fs_dead_row *r, void *ctx)
{
	struct replay *rp = ctx;

	for (int i = 0; i < rp->nchosen; i++)
		if (rp->chosen[i] == r->id)
			return fwrite(r->bytes ? r->bytes : "", 1, r->len, stdout) != r->len ||
			       putchar('\n') == EOF ? -1 : 0;
	return 0;
}

/* price = postcard 0.65, letter 1.10, from the first target whose connector makes mail pieces. */
static void
load_prices(struct replay *rp)
{
	const struct fs_config *cfg = &rp->cli->cfg;

	for (int i = 0; i < cfg->nsec; i++) {
		const struct fs_vendor *v;
		const char *price;

		if (strcmp(cfg->sec[i].type, "target") != 0)
			continue;
		v = fs_vendor_find(fs_config_setting(cfg, "target", cfg->sec[i].name, "kind"));
		if (v == NULL || !fs_vendor_creates(v) ||
		    (price = fs_config_setting(cfg, "target", cfg->sec[i].name, "price")) == NULL)
			continue;
		if (fs_price_parse(price, rp->price, rp->priced) != 0)
			rp->priced[0] = rp->priced[1] = false;	/* fs-push says what is wrong with it */
		return;
	}
}

static int
cmd_replay(struct fs_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"all", no_argument, NULL, 'a'},
		{"dry-run", no_argument, NULL, 'n'},
		{"reason", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	struct replay rp = {.cli = cli};
	const char *reason = NULL;
	int opt, rc = FS_EXIT_OK;

	/* 0, not 1: glibc then forgets the "+" of the first getopt and
	 * permutes, so options may follow the ids. */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "anr:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			rp.all = true;
			break;
		case 'n':
			rp.dry_run = true;
			break;
		case 'r':
			reason = optarg;
			break;
		default:
			usage(stderr, FS_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if ((rp.all + (reason != NULL) + (argc > 0)) != 1) {
		fs_err("replay: give entry ids, --all or --reason, one of them");
		return FS_EXIT_USAGE;
	}
	if (reason) {
		if (regcomp(&rp.re, reason, REG_EXTENDED | REG_NOSUB) != 0) {
			fs_err("replay: malformed regular expression '%s'", reason);
			return FS_EXIT_USAGE;
		}
		rp.use_re = true;
	}
	for (int i = 0; i < argc; i++) {
		char *end;
		long long id = strtoll(argv[i], &end, 10);

		if (*end != '\0' || id <= 0) {
			fs_err("replay: '%s' is not an entry id", argv[i]);
			return FS_EXIT_USAGE;
		}
		rp.ids = fs_xrealloc(rp.ids, (size_t)(rp.nids + 1) * sizeof *rp.ids);
		rp.ids[rp.nids++] = id;
	}
	load_prices(&rp);
	if (fs_dlq_each(&cli->st, false, 0, replay_row, &rp) != 0) {
		rc = FS_EXIT_STATE;
		goto out;
	}
	for (int i = 0; i < rp.nids; i++) {
		bool found = false;

		for (int j = 0; j < rp.nchosen; j++)
			found |= rp.chosen[j] == rp.ids[i];
		if (!found) {
			char *when = NULL;

			if (fs_dlq_replayed_at(&cli->st, rp.ids[i], &when) != 0) {
				rc = FS_EXIT_STATE;
				goto out;
			}
			if (when)
				fs_err("replay: dead letter #%lld was replayed at %s; 'fs-dlq reopen %lld' opens it again",
				       (long long)rp.ids[i], when, (long long)rp.ids[i]);
			else
				fs_err("replay: no open dead letter #%lld", (long long)rp.ids[i]);
			free(when);
			rc = FS_EXIT_USAGE;
		}
	}
	if (rc != FS_EXIT_OK)
		goto out;
	if (rp.dry_run) {
		int pieces = rp.formats[0] + rp.formats[1];

		printf("%d dead letter%s would be replayed; %d mail piece%s (postcard %d, letter %d)",
		       rp.nchosen, rp.nchosen == 1 ? "" : "s", pieces, pieces == 1 ? "" : "s",
		       rp.formats[0], rp.formats[1]);
		if (pieces > 0 && rp.priced[0] + rp.priced[1] > 0)
			printf(", estimated cost %.2f", rp.formats[0] * rp.price[0] + rp.formats[1] * rp.price[1]);
		else if (pieces > 0)
			printf(", cost unknown (no 'price' in the mail target)");
		printf("\n");
		goto out;
	}
	/* The lines are out before the entries are marked: a crash in between
	 * replays them again, which idempotency makes harmless.  Lines that
	 * could not all be written (a reader that closed the pipe early, too)
	 * leave every entry open. */
	fs_step("write");
	if (fs_dlq_each(&cli->st, false, 0, write_row, &rp) != 0 && !ferror(stdout)) {
		rc = FS_EXIT_STATE;
		goto out;
	}
	if (ferror(stdout) || fflush(stdout) != 0) {
		rc = fs_stdout_flush(FS_EXIT_OK);
		goto out;
	}
	if (fs_state_begin(&cli->st) != 0) {
		rc = FS_EXIT_STATE;
		goto out;
	}
	for (int i = 0; i < rp.nchosen; i++)
		if (fs_dlq_mark_replayed(&cli->st, rp.chosen[i], cli->run_id) != 0) {
			fs_state_rollback(&cli->st);
			rc = FS_EXIT_STATE;
			goto out;
		}
	if (fs_state_commit(&cli->st) != 0)
		rc = FS_EXIT_STATE;
	else
		fs_debug("replayed %d dead letter%s", rp.nchosen, rp.nchosen == 1 ? "" : "s");
out:
	if (rp.use_re)
		regfree(&rp.re);
	free(rp.ids);
	free(rp.chosen);
	return rc;
}

/* Entries replayed into a pipeline that never took them (a typo in the
 * repair, a stage that failed) go back to the open ones. */
static int
cmd_reopen(struct fs_cli *cli, int argc, char **argv)
{
	int rc = FS_EXIT_OK;

	if (argc < 2) {
		fs_err("reopen: give the ids of replayed entries");
		return FS_EXIT_USAGE;
	}
	if (fs_state_begin(&cli->st) != 0)
		return FS_EXIT_STATE;
	for (int i = 1; i < argc && rc == FS_EXIT_OK; i++) {
		char *end;
		long long id = strtoll(argv[i], &end, 10);
		int done;

		if (*end != '\0' || id <= 0) {
			fs_err("reopen: '%s' is not an entry id", argv[i]);
			rc = FS_EXIT_USAGE;
		} else if ((done = fs_dlq_reopen(&cli->st, id, cli->run_id)) < 0) {
			rc = FS_EXIT_STATE;
		} else if (done == 0) {
			fs_err("reopen: no replayed dead letter #%lld", id);
			rc = FS_EXIT_USAGE;
		}
	}
	if (rc != FS_EXIT_OK || fs_state_commit(&cli->st) != 0) {
		fs_state_rollback(&cli->st);
		return rc != FS_EXIT_OK ? rc : FS_EXIT_STATE;
	}
	return FS_EXIT_OK;
}

static int
cmd_purge(struct fs_cli *cli, int argc, char **argv)
{
	int64_t secs, n;

	if (argc != 3 || strcmp(argv[1], "--older-than") != 0) {
		fs_err("purge: give --older-than DURATION");
		return FS_EXIT_USAGE;
	}
	if (fs_duration_parse(argv[2], &secs) != 0) {
		fs_err("purge: '%s' is not a duration (90s, 15m, 24h, 3d)", argv[2]);
		return FS_EXIT_USAGE;
	}
	if (fs_state_begin(&cli->st) != 0 || fs_dlq_purge(&cli->st, fs_now() - secs, cli->run_id, &n) != 0 ||
	    fs_state_commit(&cli->st) != 0) {
		fs_state_rollback(&cli->st);
		return FS_EXIT_STATE;
	}
	fs_debug("purged %lld dead letter%s", (long long)n, n == 1 ? "" : "s");
	return FS_EXIT_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {FS_CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	struct fs_cli cli;
	const char *sub;
	int opt, rc;

	fs_cli_init(&cli, "fs-dlq");
	/* "+": stop at the subcommand, whose options are its own. */
	while ((opt = getopt_long(argc, argv, "+" FS_CLI_COMMON_OPTSTRING, longopts, NULL)) != -1)
		if (!fs_cli_option(&cli, opt, optarg, usage))
			usage(stderr, FS_EXIT_USAGE);
	argc -= optind;
	argv += optind;
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	if (argc < 1)
		usage(stderr, FS_EXIT_USAGE);
	sub = argv[0];
	if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "count") != 0 &&
	    strcmp(sub, "replay") != 0 && strcmp(sub, "reopen") != 0 && strcmp(sub, "purge") != 0) {
		fs_err("unknown subcommand '%s'", sub);
		usage(stderr, FS_EXIT_USAGE);
	}
	if (fs_cli_state(&cli) != 0)
		return fs_cli_finish(&cli, FS_EXIT_STATE);
	if (strcmp(sub, "list") == 0) {
		bool table = isatty(STDOUT_FILENO), all = argc == 2 && strcmp(argv[1], "--all") == 0;

		if (argc > 2 || (argc == 2 && !all))
			usage(stderr, FS_EXIT_USAGE);
		if (table)
			printf("%-6s %-20s %-14s %6s %4s  %-50s %s\n", "ID", "AT", "COMMAND", "LINE", "SEEN",
			       "REASON", "BYTES");
		rc = fs_dlq_each(&cli.st, all, 0, print_row, &table) ? FS_EXIT_STATE : FS_EXIT_OK;
	} else if (strcmp(sub, "show") == 0) {
		bool found = false;
		long long id = argc == 2 ? atoll(argv[1]) : 0;

		if (id <= 0)
			usage(stderr, FS_EXIT_USAGE);
		rc = fs_dlq_each(&cli.st, true, id, show_row, &found) ? FS_EXIT_STATE : FS_EXIT_OK;
		if (rc == FS_EXIT_OK && !found) {
			fs_err("show: no dead letter #%lld", id);
			rc = FS_EXIT_USAGE;
		}
	} else if (strcmp(sub, "count") == 0) {
		int64_t n;

		if (argc != 1)
			usage(stderr, FS_EXIT_USAGE);
		rc = fs_dlq_count(&cli.st, &n) ? FS_EXIT_STATE : FS_EXIT_OK;
		if (rc == FS_EXIT_OK)
			printf("%lld\n", (long long)n);
	} else if (strcmp(sub, "replay") == 0) {
		rc = cmd_replay(&cli, argc, argv);
	} else if (strcmp(sub, "reopen") == 0) {
		rc = cmd_reopen(&cli, argc, argv);
	} else {
		rc = cmd_purge(&cli, argc, argv);
	}
	return fs_cli_finish(&cli, rc);
}
