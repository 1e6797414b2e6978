/*
 * The NDJSON loop end to end: fs_loop_run over the input, as a command whose
 * callback validates canonical events (fs_event_validate), emits the good
 * ones and sends the bad ones to the DLQ of an in-memory state file.
 *
 * Each input is read twice: from an in-memory file, in one read, and from a
 * pipe that a second thread fills piece by piece (each piece ends before a
 * newline or after 97 bytes, and the next is written only once the loop has
 * read the last), so that lines and even line ends arrive in later reads.
 * The input's length picks the loop's settings, so that the fuzzer reaches
 * them all with small inputs: odd lengths take raw objects (--source mode),
 * bit 1 commits cursors (--commit), and a multiple of 3 lowers the line limit
 * to 128 bytes (else 64 KiB).
 *
 * Properties: both reads give the same exit status, counts and output; every
 * line is accounted for exactly once (blank, passed through, checkpoint,
 * dead, or accepted); the output holds one line per line passed, checkpoint
 * forwarded and event emitted, each valid UTF-8 and strict JSON; the exit
 * status is 1 exactly when a line died.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "fieldsync.h"
#include "fuzz.h"

struct counts {
	long calls, accepted;
};

struct feed {
	int rfd, wfd;
	const uint8_t *data;
	size_t size;
};

struct result {
	int status;
	struct fs_loop_stats stats;
	long accepted;
	char *out;
	size_t outlen;
};

static struct fs_cli cli;
static int outfd = -1;

static int
on_line(struct fs_loop *lp, struct fs_line *ln, void *vctx)
{
	struct counts *c = vctx;
	struct fs_buf why = {0};
	int rc = 0;

	c->calls++;
	FUZZ_ASSERT(jv_get_kind(ln->obj) == JV_KIND_OBJECT);
	FUZZ_ASSERT(memchr(ln->bytes, '\n', ln->len) == NULL);
	FUZZ_ASSERT(ln->type == NULL || strcmp(ln->type, "event") == 0);
	if (fs_event_validate(ln->obj, &why) != 0) {
		rc = fs_reject(lp, ln, fs_jstr(ln->obj, "id"), "%s", why.data);
	} else {
		fs_emit(lp, jv_copy(ln->obj));
		c->accepted++;
	}
	fs_buf_free(&why);
	return rc;
}

/* Writes the input piece by piece, each once the reader has taken the last. */
static void *
writer(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;

	while (off < f->size) {
		size_t k = 1;
		ssize_t n;
		int left;

		while (k < 97 && off + k < f->size && f->data[off + k] != '\n')
			k++;
		if ((n = write(f->wfd, f->data + off, k)) <= 0)
			break;	/* the loop stopped reading */
		off += (size_t)n;
		while (ioctl(f->rfd, FIONREAD, &left) == 0 && left > 0)
			sched_yield();
	}
	close(f->wfd);
	return NULL;
}

static char *
slurp(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *p = malloc((size_t)end + 1);

	FUZZ_ASSERT(end >= 0 && p != NULL);
	FUZZ_ASSERT(pread(fd, p, (size_t)end, 0) == end);
	p[end] = '\0';
	*len = (size_t)end;
	return p;
}

static void
run(const uint8_t *data, size_t size, bool piped, struct result *res)
{
	static const char *const types[] = {"event", NULL};
	static const struct fs_loop_ops ops_typed = {.types = types, .line = on_line};
	static const struct fs_loop_ops ops_raw = {.types = types, .raw_ok = true, .line = on_line};
	struct counts c = {0, 0};
	struct fs_loop lp;
	struct feed feed = {-1, -1, data, size};
	pthread_t th;
	int in, saved;

	if (piped) {
		int fds[2];

		FUZZ_ASSERT(pipe(fds) == 0);
		in = feed.rfd = fds[0];
		feed.wfd = fds[1];
		FUZZ_ASSERT(pthread_create(&th, NULL, writer, &feed) == 0);
	} else {
		in = fuzz_memfd("fuzz-loop-in", data, size);
	}
	FUZZ_ASSERT(ftruncate(outfd, 0) == 0 && lseek(outfd, 0, SEEK_SET) == 0);
	saved = dup(STDOUT_FILENO);
	FUZZ_ASSERT(saved >= 0 && dup2(outfd, STDOUT_FILENO) == STDOUT_FILENO);

	fs_loop_init(&lp, &cli, size & 1 ? &ops_raw : &ops_typed, &c);
	lp.commit_cursors = size & 2;
	lp.source = "fuzz";
	/* 64 KiB, not 1 MiB: inputs are smaller, and the reader's buffer is
	 * allocated afresh for every run. */
	lp.max_line = size % 3 == 0 ? 128 : 64 * 1024;
	res->status = fs_loop_run(&lp, in);

	FUZZ_ASSERT(dup2(saved, STDOUT_FILENO) == STDOUT_FILENO);
	close(saved);
	if (piped) {
		/* Drained: the writer must not be left waiting on a closed pipe. */
		char sink[4096];

		while (read(in, sink, sizeof sink) > 0)
			;
		pthread_join(th, NULL);
	}
	close(in);
	res->stats = lp.stats;
	res->accepted = c.accepted;
	res->out = slurp(outfd, &res->outlen);
	FUZZ_ASSERT(c.calls >= c.accepted);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static long runs;
	struct result a, b;
	const struct fs_loop_stats *s = &a.stats;
	long want_lines = 0, out_lines = 0;
	int64_t dead_rows = 0;

	if (outfd < 0) {
		fs_cli_init(&cli, "fuzz-loop");
		fs_verbosity = 0;
		setenv("FS_NOW", "2026-11-30T01:00:00Z", 1);
		outfd = memfd_create("fuzz-loop-out", MFD_CLOEXEC);
		FUZZ_ASSERT(outfd >= 0);
	}
	/* A fresh in-memory state file now and then keeps the DLQ small. */
	if (runs++ % 500 == 0) {
		if (cli.st.db)
			fs_state_close(&cli.st);
		FUZZ_ASSERT(fs_state_open(":memory:", &cli.st) == 0);
	}
	for (size_t i = 0; i < size; i++)
		want_lines += data[i] == '\n';
	want_lines += size > 0 && data[size - 1] != '\n';

	run(data, size, false, &a);
	run(data, size, true, &b);

	/* However the input arrives, the loop does the same. */
	FUZZ_ASSERT(a.status == b.status);
	FUZZ_ASSERT(memcmp(&a.stats, &b.stats, sizeof a.stats) == 0);
	FUZZ_ASSERT(a.outlen == b.outlen && memcmp(a.out, b.out, a.outlen) == 0);

	FUZZ_ASSERT(a.status == FS_EXIT_OK || a.status == FS_EXIT_DLQ);
	FUZZ_ASSERT((a.status == FS_EXIT_DLQ) == (s->dead > 0));
	FUZZ_ASSERT(s->lines == want_lines);
	FUZZ_ASSERT(s->lines == s->blank + s->passed + s->checkpoints + s->dead + a.accepted);
	FUZZ_ASSERT(s->emitted == a.accepted);
	FUZZ_ASSERT(cli.st.depth == 0);
	FUZZ_ASSERT(fs_dlq_count(&cli.st, &dead_rows) == 0);
	FUZZ_ASSERT(s->dead == 0 || dead_rows > 0);

	FUZZ_ASSERT(a.outlen == 0 || a.out[a.outlen - 1] == '\n');
	for (char *p = a.out; p < a.out + a.outlen;) {
		char *nl = memchr(p, '\n', (size_t)(a.out + a.outlen - p));

		if (getenv("FUZZ_DEBUG"))	/* shows what the loop wrote */
			fprintf(stderr, "out: %.*s\n", (int)(nl - p), p);
		FUZZ_ASSERT(fs_utf8_valid(p, (size_t)(nl - p), NULL));
		FUZZ_ASSERT(fs_json_check(p, (size_t)(nl - p), NULL) == NULL);
		out_lines++;
		p = nl + 1;
	}
	FUZZ_ASSERT(out_lines == s->passed + s->checkpoints + s->emitted);
	free(a.out);
	free(b.out);
	return 0;
}
