/*
 * fs-normalize's hot path against the jq map it stands for: the input goes
 * through fs-normalize twice, in process (cmd/fs-normalize.c included with
 * its main renamed), once as shipped (the built-in C HubSpot contact map and
 * the fs_jscan scanner) and once with FS_JQ_ONLY=1 (libjq all the way), each
 * with a fresh in-memory state file.  Odd-length inputs use a second config
 * (status_property, default_country and two campaigns, as in
 * tests/12-normalize-fastpath.t).
 *
 * Property: the same exit status, the same error lines, and the same output
 * byte for byte apart from run_id.
 */
#define main fs_normalize_main
#include "../../cmd/fs-normalize.c"
#undef main

#include "fuzz.h"

#ifndef FS_TOP
#define FS_TOP "."
#endif

static const char conf_plain[] =
	"[source \"hubspot\"]\nkind = hubspot\ntoken_env = HUBSPOT_TOKEN\n\n"
	"[campaign \"thank-you\"]\ngoal = retention\ntrigger = status = job_completed\n"
	"format = postcard\ntemplate = tmpl_thank_you\n";
static const char conf_alt[] =
	"[source \"hubspot\"]\nkind = hubspot\nstatus_property = custom_stage\ndefault_country = CA\n\n"
	"[campaign \"t\"]\ntrigger = status in job_completed, lead\ntemplate = tmpl_t\n\n"
	"[campaign \"e\"]\ngoal = welcome\ntrigger = email = ann@ex.com\nformat = letter\nfrom = adr_1\n";

struct run {
	int rc;
	char *out, *err;
	size_t outlen, errlen;
};

static char *
take(int fd, size_t *len)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *p = malloc((size_t)n + 1);

	FUZZ_ASSERT(n >= 0 && p != NULL && pread(fd, p, (size_t)n, 0) == n);
	p[n] = '\0';
	*len = (size_t)n;
	close(fd);
	return p;
}

/* Drops every "run_id":"...", which differs from run to run. */
static void
norun(char *s, size_t *len)
{
	char *p;

	while ((p = strstr(s, "\"run_id\":\"")) != NULL) {
		char *q = strchr(p + 10, '"');

		FUZZ_ASSERT(q != NULL);
		q += 1 + (q[1] == ',');
		memmove(p, q, strlen(q) + 1);
	}
	*len = strlen(s);
}

static void
run(const uint8_t *data, size_t size, bool jq_only, const char *conf, struct run *r)
{
	char *argv[] = {"fs-normalize", "-c", (char *)conf, NULL};
	int in = fuzz_memfd("fuzz-normalize-in", data, size);
	int out = memfd_create("fuzz-normalize-out", MFD_CLOEXEC), err = memfd_create("fuzz-normalize-err", MFD_CLOEXEC);
	int saved[3];

	FUZZ_ASSERT(out >= 0 && err >= 0);
	if (jq_only)
		setenv("FS_JQ_ONLY", "1", 1);
	else
		unsetenv("FS_JQ_ONLY");
	fflush(stdout);
	fflush(stderr);
	for (int fd = 0; fd < 3; fd++)
		FUZZ_ASSERT((saved[fd] = dup(fd)) >= 0);
	FUZZ_ASSERT(dup2(in, 0) == 0 && dup2(out, 1) == 1 && dup2(err, 2) == 2);
	optind = 1;
	r->rc = fs_normalize_main(3, argv);
	fflush(stdout);
	fflush(stderr);
	for (int fd = 0; fd < 3; fd++) {
		FUZZ_ASSERT(dup2(saved[fd], fd) == fd);
		close(saved[fd]);
	}
	close(in);
	r->out = take(out, &r->outlen);
	r->err = take(err, &r->errlen);
	norun(r->out, &r->outlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char paths[2][64];
	struct run c, jq;

	if (paths[0][0] == '\0') {
		int a = fuzz_memfd("plain.conf", (const uint8_t *)conf_plain, sizeof conf_plain - 1);
		int b = fuzz_memfd("alt.conf", (const uint8_t *)conf_alt, sizeof conf_alt - 1);

		snprintf(paths[0], sizeof paths[0], "/proc/self/fd/%d", a);
		snprintf(paths[1], sizeof paths[1], "/proc/self/fd/%d", b);
		setenv("FS_MAPDIR", FS_TOP "/lib/maps", 1);
		setenv("FS_STATE", ":memory:", 1);
		setenv("FS_NOW", "2026-11-30T01:00:00Z", 1);
		unsetenv("FS_CONFIG");
	}
	run(data, size, false, paths[size & 1], &c);
	run(data, size, true, paths[size & 1], &jq);
	if (getenv("FUZZ_DEBUG"))	/* shows both runs */
		fprintf(stderr, "C %d:\n%s%s\njq %d:\n%s%s\n", c.rc, c.out, c.err, jq.rc, jq.out, jq.err);
	FUZZ_ASSERT(c.rc == jq.rc);
	FUZZ_ASSERT(c.errlen == jq.errlen && memcmp(c.err, jq.err, c.errlen) == 0);
	FUZZ_ASSERT(c.outlen == jq.outlen && memcmp(c.out, jq.out, c.outlen) == 0);
	free(c.out);
	free(c.err);
	free(jq.out);
	free(jq.err);
	return 0;
}
