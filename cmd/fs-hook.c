/*
 * fs-hook: the webhook receiver, a CGI program (RFC 3875).  Started once per
 * request.  A GET or HEAD is a health probe, answered from the
 * configuration.  A request without the vendor's signature headers is no
 * delivery: answered, counted beside the state file (probes.c), and
 * nothing more.  A delivery is checked for size, signature, timestamp,
 * JSON and repeats, in that order, stored in the inbox and logged; every
 * refusal of one is a failed delivery.  After the answer, a new delivery
 * touches the source's wake file ([hook] wake_dir).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fieldsync.h"

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-hook [-qvV] [-c config] [-s state] [source]\n"
		   "       (a CGI program: the request comes on stdin and in the environment)\n");
	exit(status);
}

static struct timespec t0;
static const char *source;
static size_t nbytes;

static int64_t
elapsed_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000;
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 500: return "Internal Server Error";
	default: return "Service Unavailable";
	}
}

/* The CGI answer: a Status header and a small JSON body. */
static void
answer(int status, jv body)
{
	jv s = jv_dump_string(body, 0);

	fs_step("answer");
	printf("Status: %d %s\r\nContent-Type: application/json\r\n%s"
	       "Content-Length: %d\r\n\r\n%s\n",
	       status, reason_phrase(status), status == 405 ? "Allow: POST\r\n" : "",
	       jv_string_length_bytes(jv_copy(s)) + 1, jv_string_value(s));
	jv_free(s);
}

static void
refuse(int status, const char *why)
{
	answer(status, jv_object_set(jv_object_set(jv_object(), jv_string("ok"), jv_false()),
				     jv_string("error"), jv_string(why)));
}

/* Closes the answer's pipe, leaving /dev/null as standard output. */
static void
detach_stdout(void)
{
	int fd = open("/dev/null", O_WRONLY);

	if (fd >= 0 && dup2(fd, STDOUT_FILENO) >= 0 && fd != STDOUT_FILENO)
		close(fd);
}

/* Logs a refused request in a transaction of its own. */
static void
log_refusal(struct fs_state *st, int status, const char *why, const char *run_id)
{
	if (!fs_state_is_open(st))
		return;
	if (fs_state_begin(st) != 0)
		return;
	if (fs_request_log(st, source, status, nbytes, elapsed_us(), why) != 0 ||
	    fs_source_delivery(st, source, false, run_id) != 0 || fs_state_commit(st) != 0)
		fs_state_rollback(st);
}

/* Request headers from the CGI environment: "Webhook-Id" is HTTP_WEBHOOK_ID. */
static const char *
cgi_header(const char *name, void *ctx)
{
	char var[128] = "HTTP_";
	size_t i;

	(void)ctx;
	for (i = 0; name[i] && i + 6 < sizeof var; i++)
		var[5 + i] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	var[5 + i] = '\0';
	return getenv(var);
}

static bool
name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

/* SOURCE: the argument, else PATH_INFO's first segment, else ?source=NAME. */
static char *
find_source(int argc, char **argv)
{
	const char *pi = getenv("PATH_INFO"), *qs = getenv("QUERY_STRING");

	if (argc > 0)
		return fs_xstrdup(argv[0]);
	if (pi && *pi == '/' && pi[1]) {
		size_t n = strcspn(pi + 1, "/");

		return fs_xasprintf("%.*s", (int)n, pi + 1);
	}
	for (const char *p = qs; p && *p; p += strcspn(p, "&"), p += *p == '&') {
		if (strncmp(p, "source=", 7) == 0)
			return fs_xasprintf("%.*s", (int)strcspn(p + 7, "&"), p + 7);
	}
	return NULL;
}

/* The URL the vendor called, as a scheme that signs it sees it. */
static char *
request_url(const struct fs_endpoint *ep)
{
	const char *fixed = fs_setting(ep, "hook_url"), *https = getenv("HTTPS");
	const char *scheme = getenv("REQUEST_SCHEME"), *host = getenv("HTTP_HOST");
	const char *uri = getenv("REQUEST_URI");

	if (fixed)
		return fs_xstrdup(fixed);
	if (scheme == NULL)
		scheme = https && strcmp(https, "on") == 0 ? "https" : "http";
	return fs_xasprintf("%s://%s%s", scheme, host ? host : "", uri ? uri : "");
}

/*
 * A request without a signature: none of the scheme's headers.  Uptime
 * probes, internet scanners and a proxy that strips the headers send them;
 * none is a delivery, so none counts as a failed one, breaks a streak of
 * good ones or writes to the state file: each is counted in STATE-hook
 * (fs_probes_count), and fs-health shows them.  The body is read, up to
 * max_body, only to tell the vendor's event without its headers (shaped)
 * from the rest.
 */
static int
unsigned_request(struct fs_cli *cli, const char *name, const struct fs_signature *scheme, size_t cap,
		 const char *method)
{
	const char *clen = getenv("CONTENT_LENGTH"), *why;
	char *body = NULL;
	size_t want = 0, got = 0;
	bool shaped = false;
	int status = 401, rc;

	if (strcmp(method, "POST") != 0) {
		status = 405;
		why = "method not allowed";
	} else if (clen == NULL || *clen == '\0') {
		status = 411;
		why = "Content-Length required";
	} else if ((rc = fs_hook_content_length(clen, cap, &want)) != 0) {
		status = rc < 0 ? 400 : 413;
		why = rc < 0 ? "malformed Content-Length" : "body too large";
	} else {
		body = fs_xmalloc(want + 1);
		while (got < want) {
			ssize_t n = read(STDIN_FILENO, body + got, want - got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		shaped = got == want && fs_hook_vendor_shaped(scheme, body, got);
		free(body);
		why = NULL;
	}
	if (why) {
		refuse(status, why);
	} else {
		char *missing = fs_xasprintf("missing %s header", scheme->header);

		refuse(401, missing);
		free(missing);
	}
	/* The answer first: the count is for fs-health, not for the client. */
	if (fflush(stdout) == 0 && !ferror(stdout))
		detach_stdout();
	return fs_probes_count(fs_state_path(cli->state_path), fs_config_get(&cli->cfg, "state", "", "group"), name,
			       shaped, fs_now());
}

/* GET or HEAD: a health probe's answer, from the configuration alone. */
static void
health_answer(const struct fs_endpoint *ep, const char *name)
{
	char *secret = fs_endpoint_secret(ep, "secret_env", "secret_file");

	if (secret == NULL) {
		refuse(500, "signing secret not configured");
		return;
	}
	fs_secret_free(secret);
	answer(200, jv_object_set(jv_object_set(jv_object(), jv_string("ok"), jv_true()), jv_string("source"),
				  jv_string(name)));
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {FS_CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	struct fs_cli cli;
	struct fs_endpoint ep;
	struct fs_hook_req req = {.header = cgi_header};
	const struct fs_signature *scheme;
	const char *method, *clen, *why, *v, *wake_dir = NULL;
	char *name = NULL, *secret = NULL, *body = NULL, *url = NULL, *delivery = NULL;
	size_t cap, want;
	bool probe, good = false;
	int opt, rc, status = FS_EXIT_OK;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	fs_cli_init(&cli, "fs-hook");
	while ((opt = getopt_long(argc, argv, FS_CLI_COMMON_OPTSTRING, longopts, NULL)) != -1)
		if (!fs_cli_option(&cli, opt, optarg, usage))
			usage(stderr, FS_EXIT_USAGE);
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage(stderr, FS_EXIT_USAGE);
	if ((rc = fs_cli_config(&cli)) != 0) {
		if (rc < 0)
			refuse(500, "configuration error");
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	}
	if ((method = getenv("REQUEST_METHOD")) == NULL) {
		fs_err("not a CGI request: REQUEST_METHOD is not set");
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	probe = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	name = find_source(argc, argv);
	/* An unknown source is what scanners ask for most: no message, no
	 * state; counted under "-" unless it is a health probe. */
	if (name == NULL || !name_ok(name) ||
	    (fs_config_section(&cli.cfg, "source", name) == NULL && !fs_kind_builtin(name)) ||
	    fs_endpoint_find(&cli.cfg, "source", name, &ep) != 0) {
		refuse(404, "unknown source");
		if (!probe && fflush(stdout) == 0 && !ferror(stdout))
			detach_stdout();
		if (!probe)
			fs_probes_count(fs_state_path(cli.state_path), fs_config_get(&cli.cfg, "state", "", "group"),
					"-", false, fs_now());
		status = FS_EXIT_USAGE;
		goto out;
	}
	source = name;	/* for the request log */
	/* The configuration was checked at load: these are its values. */
	if ((scheme = fs_signature_find(v = fs_setting(&ep, "signature"))) == NULL ||
	    fs_size_parse(v = fs_setting(&ep, "max_body"), &cap) != 0) {
		fs_err("source '%s': '%s' is not a signature scheme or a size", name, v);
		refuse(500, "configuration error");
		status = FS_EXIT_USAGE;
		goto out;
	}
	if (probe) {
		health_answer(&ep, name);
		goto out;
	}
	if (!fs_hook_signed(scheme, &req)) {
		unsigned_request(&cli, name, scheme, cap, method);
		goto out;
	}
	/* A delivery: every answer from here is logged, and a refusal is a failed delivery. */
	if (fs_cli_state(&cli) != 0) {
		refuse(503, "state file unavailable");
		status = FS_EXIT_STATE;
		goto out;
	}
	fs_hook_state_tune(&cli.st);
	if (strcmp(method, "POST") != 0) {
		refuse(405, "method not allowed");
		log_refusal(&cli.st, 405, "method not allowed", cli.run_id);
		goto out;
	}
	/* 1. Body size. */
	clen = getenv("CONTENT_LENGTH");
	if (clen == NULL || *clen == '\0') {
		refuse(411, "Content-Length required");
		log_refusal(&cli.st, 411, "Content-Length required", cli.run_id);
		goto out;
	}
	if ((rc = fs_hook_content_length(clen, cap, &want)) != 0) {
		why = rc < 0 ? "malformed Content-Length" : "body too large";
		nbytes = rc < 0 ? 0 : want;
		refuse(rc < 0 ? 400 : 413, why);
		log_refusal(&cli.st, rc < 0 ? 400 : 413, why, cli.run_id);
		goto out;
	}
	body = fs_xmalloc(want + 1);
	while (nbytes < want) {
		ssize_t got = read(STDIN_FILENO, body + nbytes, want - nbytes);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		nbytes += (size_t)got;
	}
	body[nbytes] = '\0';
	if (nbytes < want) {
		refuse(400, "body shorter than Content-Length");
		log_refusal(&cli.st, 400, "body shorter than Content-Length", cli.run_id);
		goto out;
	}
	/* 2 and 3. Signature, then the timestamp window. */
	if ((secret = fs_endpoint_secret(&ep, "secret_env", "secret_file")) == NULL) {
		fs_err("source '%s': no signing secret (set the variable named by secret_env)", name);
		refuse(500, "signing secret not configured");
		log_refusal(&cli.st, 500, "signing secret not configured", cli.run_id);
		status = FS_EXIT_USAGE;
		goto out;
	}
	url = request_url(&ep);
	req.method = method;
	req.uri = url;
	req.body = body;
	req.len = nbytes;
	if (fs_hook_verify(scheme, &req, secret, fs_now(), &why) != 0) {
		refuse(401, why);
		log_refusal(&cli.st, 401, why, cli.run_id);
		goto out;
	}
	/* 4. JSON.  Signed but malformed: the vendor's bytes go to the DLQ too. */
	if ((why = fs_hook_check_body(scheme, body, nbytes)) != NULL) {
		struct fs_dead d = {.command = "fs-hook", .run_id = cli.run_id, .reason = why,
				    .source = name, .bytes = body, .len = nbytes, .http_status = 400};

		refuse(400, why);
		if (fs_state_begin(&cli.st) == 0) {
			if (fs_dlq_add(&cli.st, &d) < 0 ||
			    fs_request_log(&cli.st, source, 400, nbytes, elapsed_us(), why) != 0 ||
			    fs_source_delivery(&cli.st, source, false, cli.run_id) != 0 ||
			    fs_state_commit(&cli.st) != 0)
				fs_state_rollback(&cli.st);
		}
		fs_err("source '%s': %s (to the DLQ)", name, why);
		status = FS_EXIT_DLQ;
		goto out;
	}
	/* 5. Store, or recognise a repeat; the log row in the same transaction. */
	delivery = fs_hook_delivery_id(scheme, &req);
	if (fs_state_begin(&cli.st) != 0 ||
	    (rc = fs_inbox_store(&cli.st, name, delivery, body, nbytes)) < 0 ||
	    fs_request_log(&cli.st, source, 200, nbytes, elapsed_us(), rc ? NULL : "repeat delivery") != 0 ||
	    fs_source_delivery(&cli.st, source, true, cli.run_id) != 0 || fs_state_commit(&cli.st) != 0) {
		fs_state_rollback(&cli.st);
		refuse(503, "could not store");
		log_refusal(&cli.st, 503, "could not store", cli.run_id);
		status = FS_EXIT_STATE;
		goto out;
	}
	answer(200, jv_object_set(jv_object_set(jv_object_set(jv_object(), jv_string("ok"), jv_true()),
						jv_string("stored"), jv_bool(rc > 0)),
				  jv_string("delivery_id"), jv_string(delivery)));
	good = true;
	/* A new delivery wakes the pipeline that drains it; a repeat does not. */
	if (rc > 0 && (v = fs_config_setting(&cli.cfg, "hook", "", "wake_dir")) && *v)
		wake_dir = v;
out:
	/* The answer is complete when standard output closes: the server
	 * sends it while this process checkpoints, if the WAL is long.
	 * Servers signal a CGI program that outlives its answer (lighttpd
	 * sends SIGTERM at once, Apache after 3 s SIGKILL): the checkpoint,
	 * a few milliseconds, is not cut short by the first. */
	if (fs_state_is_open(&cli.st)) {
		sigset_t term;

		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		sigprocmask(SIG_BLOCK, &term, NULL);
		if (fflush(stdout) == 0 && !ferror(stdout))
			detach_stdout();
		/* After the answer, so the vendor does not wait for it; a
		 * failure is said on stderr (the server's error log) and the
		 * delivery stays stored: the next scheduled run drains it. */
		if (wake_dir)
			fs_wake_touch(wake_dir, name);
		/* Signed deliveries come through: unsigned ones of the vendor's
		 * shape before this were not a proxy stripping them all. */
		if (good)
			fs_probes_good(fs_state_path(cli.state_path), name);
		fs_hook_state_settle(&cli.st);
	}
	fs_secret_free(secret);
	free(name);
	free(body);
	free(url);
	free(delivery);
	return fs_cli_finish(&cli, status);
}
