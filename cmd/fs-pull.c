/*
 * fs-pull: fetch what changed at a source since the last committed run and
 * write it as records, each batch followed by the checkpoint that covers it.
 *
 * Each kind but NDJSON (ndjson:FILE, one record a line) is a connector in
 * lib/vendors/, found by its kind (lib/vendors.h): this command runs what
 * the connector has, in turn (its webhook inbox, its streams, what it
 * polls, or the file it reads), and lib/pull.c writes the records,
 * checkpoints and dead letters.  What each kind reads is its page,
 * fieldsync-KIND(7), and fs-pull(1).
 *
 * fs-pull commits no cursor unless --commit: the command that ends the
 * pipeline commits each checkpoint once what came before it is durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vendors.h"

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-pull [-qvV] [-c config] [-s state] [--as name] [--commit] [--dry-run]\n"
		   "               [--limit n] [--print-config] [--since time] source\n"
		   "       fs-pull [-c config] --describe source\n");
	exit(status);
}

/* ---- output ---- */

/* Standard output, once flushed, goes to /dev/null: the reader sees its end. */
static void
detach_stdout(void)
{
	int fd = open("/dev/null", O_WRONLY);

	if (fd >= 0 && dup2(fd, STDOUT_FILENO) >= 0 && fd != STDOUT_FILENO)
		close(fd);
}

/* ---- the source's connector ---- */

/* The connector of a file source named KIND:FILE (csv:contacts.csv), else NULL. */
static const struct fs_vendor *
file_kind(const char *arg)
{
	const char *colon = strchr(arg, ':');
	const struct fs_vendor *v;
	char kind[32];

	if (colon == NULL || (size_t)(colon - arg) >= sizeof kind)
		return NULL;
	snprintf(kind, sizeof kind, "%.*s", (int)(colon - arg), arg);
	v = fs_vendor_find(kind);
	return v && (v->flags & FS_VENDOR_FILE) ? v : NULL;
}

/* Each stream the source names (streams, borrowed) must be one its connector has (all are said). */
static void
check_streams(struct fs_pull *p, const struct fs_vendor *v, jv streams)
{
	jv_array_foreach(streams, i, s) {
		int k;

		(void)i;
		for (k = 0; v->streams[k].name && strcmp(v->streams[k].name, jv_string_value(s)) != 0; k++)
			;
		if (v->streams[k].name == NULL) {
			struct fs_buf known = {0};

			for (k = 0; v->streams[k].name; k++)
				fs_buf_addf(&known, "%s%s", k ? ", " : "", v->streams[k].name);
			fs_err("source '%s': unknown stream '%s' (%s)", p->name, jv_string_value(s), known.data);
			fs_buf_free(&known);
			fs_pull_fail(p, FS_EXIT_USAGE);
		}
		jv_free(s);
	}
}

/*
 * What the connector has, in turn: its settings (and HTTP), the webhook
 * inbox, the streams the source names (in the order it names them), the
 * objects in flight.  --describe instead lists the source's fields.
 */
static void
pull_source(struct fs_pull *p, const struct fs_vendor *v)
{
	jv streams;

	if (p->describe) {
		if (v->describe)
			v->describe(p);
		else {
			char *kinds = fs_vendor_kinds(fs_vendor_describes);

			fs_err("--describe lists the fields of a %s source; '%s' is a %s source", kinds, p->name,
			       p->ep.kind);
			free(kinds);
			fs_pull_fail(p, FS_EXIT_USAGE);
		}
		return;
	}
	if (v->start && v->start(p) != 0)
		return;
	streams = v->streams ? fs_split_list(fs_setting(&p->ep, "streams")) : jv_array();
	if (v->streams)
		check_streams(p, v, streams);
	if (v->inbox && !fs_pull_failed(p))
		fs_pull_drain(p, v);
	jv_array_foreach(streams, i, s) {
		(void)i;
		for (int k = 0; v->streams[k].name && !fs_pull_failed(p); k++)
			if (strcmp(v->streams[k].name, jv_string_value(s)) == 0)
				v->pull(p, &v->streams[k]);
		jv_free(s);
	}
	jv_free(streams);
	if (v->poll && !fs_pull_failed(p))
		v->poll(p);
}

/* The stream of raw NDJSON pulled --as a source: its connector's, else events. */
static const char *
saved_stream(struct fs_pull *p)
{
	const struct fs_vendor *v;

	if (fs_endpoint_find(&p->cli->cfg, "source", p->as, &p->ep) != 0 || (v = fs_vendor_find(p->ep.kind)) == NULL ||
	    v->saved_stream == NULL)
		return "events";
	return v->saved_stream;
}

/* ---- NDJSON ---- */

static int
pull_ndjson(struct fs_pull *p, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;

	if (f == NULL) {
		fs_err("cannot open '%s':", path);
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0 && !fs_pull_failed(p)) {
		const char *why;
		size_t pos = 0;
		jv obj;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (strspn(line, " \t") == (size_t)n)
			continue;
		if (!fs_utf8_valid(line, (size_t)n, &pos)) {
			fs_pull_dead(p, line, (size_t)n, lineno, "line %ld: invalid UTF-8 at byte %zu", lineno, pos + 1);
			continue;
		}
		if ((why = fs_json_check(line, (size_t)n, &pos)) != NULL) {
			fs_pull_dead(p, line, (size_t)n, lineno, "line %ld: %s at byte %zu", lineno, why, pos + 1);
			continue;
		}
		obj = jv_parse_sized(line, (int)n);
		if (jv_get_kind(obj) != JV_KIND_OBJECT) {
			fs_pull_dead(p, line, (size_t)n, lineno, "line %ld: not a JSON object", lineno);
		} else if (fs_jstr(obj, "type")) {
			/* Already a pipe message (a saved run, a record): passed on as it is. */
			fwrite(line, 1, (size_t)n, stdout);
			putchar('\n');
		} else if (p->as == NULL) {
			fs_pull_dead(p, line, (size_t)n, lineno, "line %ld: a raw object needs --as SOURCE", lineno);
		} else {
			char key[32];

			snprintf(key, sizeof key, "%ld", lineno);
			fs_pull_record(p, p->stream, key, jv_copy(obj));
		}
		jv_free(obj);
		if (p->limit > 0 && p->records >= p->limit)
			break;
	}
	if (ferror(f)) {
		fs_err("read error on '%s':", path);
		fs_pull_fail(p, FS_EXIT_USAGE);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return fs_pull_flush(p);
}

/* The run's row in the changelog, when it fetched, dead-lettered or pruned something. */
static void
record_run(struct fs_pull *p)
{
	char object[256];
	jv c;

	if (p->dry_run || p->describe ||
	    p->records + p->dead + p->pruned_bodies + p->pruned_rows + p->pruned_events == 0)
		return;
	c = jv_object_set(jv_object(), jv_string("source"), jv_string(p->name));
	c = jv_object_set(c, jv_string("records"), jv_number((double)p->records));
	c = jv_object_set(c, jv_string("checkpoints"), jv_number((double)p->checkpoints));
	c = jv_object_set(c, jv_string("dead"), jv_number((double)p->dead));
	if (p->http_ready) {
		c = jv_object_set(c, jv_string("requests"), jv_number((double)p->http.requests));
		c = jv_object_set(c, jv_string("retries"), jv_number((double)p->http.retries));
	}
	c = jv_object_set(c, jv_string("pruned"),
			  jv_object_set(jv_object_set(jv_object_set(jv_object(), jv_string("inbox_bodies"),
								    jv_number((double)p->pruned_bodies)),
						      jv_string("inbox_rows"), jv_number((double)p->pruned_rows)),
					jv_string("events"), jv_number((double)p->pruned_events)));
	snprintf(object, sizeof object, "fs-pull:%s", p->name);
	if (fs_changelog_run(p->cli, object, p->status, c) != 0)
		fs_pull_fail(p, FS_EXIT_STATE);
}

/*
 * A run that found nothing new still says it looked: a successful run that
 * wrote no checkpoint ends with {"stream":"run","cursor":"<its time>"}, so
 * that committing it tells fs-health the source is in step (a quiet CRM is
 * not a stale one).  A failed run writes none, and so does --dry-run.
 */
static void
quiet_checkpoint(struct fs_pull *p)
{
	if (fs_pull_failed(p) || p->dry_run || p->describe || p->checkpoints > 0)
		return;
	fs_pull_checkpoint(p, "run", p->now);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"as", required_argument, NULL, 'a'},
		{"commit", no_argument, NULL, 'C'},
		{"describe", no_argument, NULL, 'D'},
		{"dry-run", no_argument, NULL, 'n'},
		{"limit", required_argument, NULL, 'l'},
		{"since", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	struct fs_pull p = {0};
	struct fs_cli cli;
	const char *arg, *file = NULL, *since = NULL;
	char lease[256];
	const struct fs_vendor *v = NULL;	/* the source's connector; NULL for NDJSON */
	bool is_ndjson = false, leased = false;
	int opt, rc;
	char *end;

	fs_cli_init(&cli, "fs-pull");
	p.cli = &cli;
	p.since_ms = -1;
	p.started = fs_mono_ms();
	while ((opt = getopt_long(argc, argv, FS_CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
		if (fs_cli_option(&cli, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'a':
			p.as = optarg;
			break;
		case 'C':
			p.commit = true;
			break;
		case 'D':
			p.describe = true;
			break;
		case 'l':
			errno = 0;
			p.limit = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || p.limit < 1) {
				fs_err("--limit must be a whole number above 0, not '%s'", optarg);
				usage(stderr, FS_EXIT_USAGE);
			}
			break;
		case 'n':
			p.dry_run = true;
			break;
		case 'S':
			since = optarg;	/* read once the config names the time zone */
			break;
		default:
			usage(stderr, FS_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage(stderr, FS_EXIT_USAGE);
	arg = argv[0];
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	if (since) {
		fs_time t;

		if (fs_cli_time(&cli, "--since", since, false, &t) != 0)
			return fs_cli_finish(&cli, FS_EXIT_USAGE);
		/* An RFC 3339 time keeps its milliseconds; a plain date has none. */
		if (fs_time_ms(since, &p.since_ms) != 0)
			p.since_ms = t * 1000;
	}
	fs_time_format(fs_now(), p.now);
	if ((v = file_kind(arg)) != NULL) {
		file = strchr(arg, ':') + 1;
		p.name = v->kind;
	} else if (strncmp(arg, "ndjson:", 7) == 0) {
		is_ndjson = true;
		file = arg + 7;
		p.name = p.as ? p.as : "ndjson";
	} else {
		if (fs_endpoint_find(&cli.cfg, "source", arg, &p.ep) != 0)
			return fs_cli_finish(&cli, FS_EXIT_USAGE);
		p.name = arg;
		if ((v = fs_vendor_find(p.ep.kind)) == NULL || !fs_vendor_pulls(v)) {
			if (v && v->pulled_as)
				fs_err("source '%s' is of kind %s (a target); pull its events as kind %s", arg, v->kind,
				       v->pulled_as);
			else
				fs_err("source '%s': fs-pull has no connector of kind %s", arg, p.ep.kind);
			return fs_cli_finish(&cli, FS_EXIT_USAGE);
		}
		if ((v->flags & FS_VENDOR_FILE) && (file = fs_setting(&p.ep, "file")) == NULL) {
			fs_err("source '%s': a %s source needs 'file' (or pull %s:FILE)", arg, v->kind, v->kind);
			return fs_cli_finish(&cli, FS_EXIT_USAGE);
		}
	}
	if ((is_ndjson || (v->flags & FS_VENDOR_FILE)) && (file == NULL || *file == '\0')) {
		fs_err("%s: no file named", arg);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (p.describe && is_ndjson) {
		char *kinds = fs_vendor_kinds(fs_vendor_describes);

		fs_err("--describe lists the fields of a %s source; '%s' is NDJSON", kinds, arg);
		free(kinds);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (v && (v->flags & FS_VENDOR_INBOX) && fs_pull_retention(&p) != 0)
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	if (fs_cli_state(&cli) != 0)
		return fs_cli_finish(&cli, FS_EXIT_STATE);
	if (!p.dry_run && !p.describe) {
		snprintf(lease, sizeof lease, "fs-pull:%s", p.name);
		rc = fs_lease_take(&cli.st, lease, cli.run_id, 3600);
		if (rc < 0)
			return fs_cli_finish(&cli, FS_EXIT_STATE);
		if (rc == 0) {
			fs_info("source '%s' is being pulled by another run: nothing to do", p.name);
			return fs_cli_finish(&cli, FS_EXIT_OK);
		}
		leased = true;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	if (is_ndjson) {
		p.stream = p.as ? saved_stream(&p) : "records";
		pull_ndjson(&p, file);
	} else if (v->read) {
		v->read(&p, file);
	} else {
		pull_source(&p, v);
		quiet_checkpoint(&p);
	}
	fs_pull_flush(&p);
	/* A run that failed on the state file, or was misconfigured, leaves it be. */
	if (v && !v->read && !p.dry_run && !p.describe && p.status != FS_EXIT_STATE &&
	    p.status != FS_EXIT_USAGE) {
		detach_stdout();
		if (v->flags & FS_VENDOR_INBOX)
			fs_pull_prune(&p, v->flags & FS_VENDOR_POLLED);
		if (v->after)
			v->after(&p);
	}
	fs_buf_free(&p.held);
	record_run(&p);
	if (p.http_ready) {
		fs_debug("%s: %ld requests, %ld retries", p.name, p.http.requests, p.http.retries);
		fs_http_free(&p.http);
	}
	if (p.dead)
		fs_info("%ld record%s went to the dead-letter queue (fs-dlq list)", p.dead, p.dead == 1 ? "" : "s");
	fs_debug("%ld records, %ld checkpoints", p.records, p.checkpoints);
	if (leased)
		fs_lease_release(&cli.st, lease, cli.run_id);
	return fs_cli_finish(&cli, p.status);
}
