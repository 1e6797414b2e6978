/*
 * The durable steps a run takes (a commit, a write of its output, a request
 * to a vendor), numbered, for the tests that prove nothing is lost or done
 * twice wherever a run dies or however runs interleave:
 *
 *   FS_CRASH_AT=N      the process kills itself (SIGKILL) just before its
 *                      Nth step: steps 1..N-1 happened, N did not
 *   FS_STEP_LOG=FILE   appends "PROGRAM PID N STEP" for each step
 *   FS_STEP_DELAY=MS   sleeps a random 0..MS ms before each step, seeded
 *                      by FS_STEP_SEED (default the pid) and the pid
 *
 * Unset, each step costs a counter and a test.
 */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "fieldsync.h"

static struct {
	bool read;
	long n, crash_at, delay_ms;
	FILE *log;
	unsigned seed;
} steps;

static void
read_env(void)
{
	const char *v;

	steps.read = true;
	if ((v = getenv("FS_CRASH_AT")) && *v)
		steps.crash_at = strtol(v, NULL, 10);
	if ((v = getenv("FS_STEP_LOG")) && *v && (steps.log = fopen(v, "a")) != NULL)
		setvbuf(steps.log, NULL, _IOLBF, 0);
	if ((v = getenv("FS_STEP_DELAY")) && *v)
		steps.delay_ms = strtol(v, NULL, 10);
	v = getenv("FS_STEP_SEED");
	steps.seed = (unsigned)(v && *v ? strtoul(v, NULL, 10) : 0) * 2654435761u ^ (unsigned)getpid();
}

void
fs_step(const char *what)
{
	if (!steps.read)
		read_env();
	steps.n++;
	if (steps.log)
		fprintf(steps.log, "%s %ld %ld %s\n", fs_progname, (long)getpid(), steps.n, what);
	if (steps.delay_ms > 0) {
		long ms = (long)(rand_r(&steps.seed) % (unsigned)(steps.delay_ms + 1));
		struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};

		nanosleep(&ts, NULL);
	}
	if (steps.n == steps.crash_at)
		raise(SIGKILL);
}
