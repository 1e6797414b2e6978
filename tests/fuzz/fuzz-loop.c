/*
 * The NDJSON loop end to end: fs_loop_run over the input, as a command whose
 * callback validates canonical events (fs_event_validate), emits the good
 * ones and sends the bad ones to the DLQ of an in-memory state file.
 *
 * The input's length picks the loop's settings, so that the fuzzer reaches
 * them all with small inputs: odd lengths take raw objects (--source mode),
 * bit 1 commits cursors (--commit), bit 2 feeds the input through a pipe
 * written in small pieces by a second thread (else a memfd read in one go),
 * and a multiple of 3 lowers the line limit to 128 bytes (else 64 KiB).
 *
 * Properties: every line is accounted for exactly once (blank, passed
 * through, checkpoint, dead, or accepted); the output holds one line per
 * line passed, checkpoint forwarded and event emitted, each of them valid
 * UTF-8 and strict JSON; the exit status is 1 exactly when a line died.
 */
#include <pthread.h>

#include "fieldsync.h"
#include "fuzz.h"

struct counts {
	long calls, accepted;
};

struct feed {
	int fd;
	const uint8_t *data;
	size_t size;
};

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

/* Writes the input in pieces of 1, 2, 5, 13, ... bytes, then closes the pipe. */
static void *
writer(void *arg)
{
	static const size_t steps[] = {1, 2, 5, 13, 64, 211, 4096, 70000};
	struct feed *f = arg;
	size_t off = 0;

	for (int i = 0; off < f->size; i = (i + 1) % 8) {
		size_t k = f->size - off < steps[i] ? f->size - off : steps[i];
		ssize_t n = write(f->fd, f->data + off, k);

		if (n <= 0)
			break;	/* the loop stopped reading */
		off += (size_t)n;
	}
	close(f->fd);
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {"event", NULL};
	static const struct fs_loop_ops ops_typed = {types, false, on_line, NULL, NULL};
	static const struct fs_loop_ops ops_raw = {types, true, on_line, NULL, NULL};
	static struct fs_cli cli;
	static int outfd = -1;
	static long runs;
	struct counts c = {0, 0};
	struct fs_loop lp;
	struct feed feed = {-1, data, size};
	pthread_t th;
	bool piped = size & 4;
	int in, saved, status;
	long want_lines = 0, out_lines = 0;
	int64_t dead_rows = 0;
	char *out, *p;
	size_t outlen;

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

	if (piped) {
		int fds[2];

		FUZZ_ASSERT(pipe(fds) == 0);
		in = fds[0];
		feed.fd = fds[1];
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
	 * allocated afresh for every input. */
	lp.max_line = size % 3 == 0 ? 128 : 64 * 1024;
	status = fs_loop_run(&lp, in);

	FUZZ_ASSERT(dup2(saved, STDOUT_FILENO) == STDOUT_FILENO);
	close(saved);
	close(in);
	if (piped)
		pthread_join(th, NULL);

	FUZZ_ASSERT(status == FS_EXIT_OK || status == FS_EXIT_DLQ);
	FUZZ_ASSERT((status == FS_EXIT_DLQ) == (lp.stats.dead > 0));
	FUZZ_ASSERT(lp.stats.lines == want_lines);
	FUZZ_ASSERT(lp.stats.lines == lp.stats.blank + lp.stats.passed + lp.stats.checkpoints +
		    lp.stats.dead + c.accepted);
	FUZZ_ASSERT(lp.stats.emitted == c.accepted);
	FUZZ_ASSERT(cli.st.depth == 0);
	FUZZ_ASSERT(fs_dlq_count(&cli.st, &dead_rows) == 0);
	FUZZ_ASSERT(lp.stats.dead == 0 || dead_rows > 0);

	out = slurp(outfd, &outlen);
	FUZZ_ASSERT(outlen == 0 || out[outlen - 1] == '\n');
	for (p = out; p < out + outlen;) {
		char *nl = memchr(p, '\n', (size_t)(out + outlen - p));

		if (getenv("FUZZ_DEBUG"))	/* shows what the loop wrote */
			fprintf(stderr, "out: %.*s\n", (int)(nl - p), p);
		FUZZ_ASSERT(fs_utf8_valid(p, (size_t)(nl - p), NULL));
		FUZZ_ASSERT(fs_json_check(p, (size_t)(nl - p), NULL) == NULL);
		out_lines++;
		p = nl + 1;
	}
	FUZZ_ASSERT(out_lines == lp.stats.passed + lp.stats.checkpoints + lp.stats.emitted);
	free(out);
	return 0;
}
