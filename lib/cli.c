/* What every command does around its work: options, config, state, exit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fieldsync.h"

void
fs_run_id(char out[48])
{
	unsigned char rnd[4] = {0};
	char stamp[21], compact[17];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	int j = 0;

	if (fd >= 0) {
		if (read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd)
			memset(rnd, 0, sizeof rnd);
		close(fd);
	}
	fs_time_format(fs_now(), stamp);
	for (int i = 0; stamp[i]; i++)	/* 20261130T010203Z */
		if (stamp[i] != '-' && stamp[i] != ':')
			compact[j++] = stamp[i];
	compact[j] = '\0';
	snprintf(out, 48, "run_%s_%d_%02x%02x%02x%02x", compact, (int)getpid(),
		 rnd[0], rnd[1], rnd[2], rnd[3]);
}

volatile sig_atomic_t fs_interrupted;

static void
on_stop(int sig)
{
	/* A second one is meant: the default, at once. */
	if (fs_interrupted) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	fs_interrupted = sig;
}

void
fs_cli_stop_on_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a blocked read returns, and the run stops reading */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void
fs_cli_init(struct fs_cli *cli, const char *progname)
{
	memset(cli, 0, sizeof *cli);
	fs_progname = progname;
	clock_gettime(CLOCK_MONOTONIC, &cli->started);
	/* A closed reader shows up as EPIPE on write (fs_stdout_error), not as a signal. */
	signal(SIGPIPE, SIG_IGN);
	fs_run_id(cli->run_id);
}

int
fs_cli_option(struct fs_cli *cli, int opt, const char *arg, void (*usage)(FILE *, int))
{
	switch (opt) {
	case 'c':
		cli->config_path = arg;
		return 1;
	case 's':
		cli->state_path = arg;
		return 1;
	case 'q':
		fs_verbosity = 0;
		return 1;
	case 'v':
		fs_verbosity = 2;
		return 1;
	case 'h':
		usage(stdout, FS_EXIT_OK);
		return 1;
	case 'V':
		printf("%s %s\n", fs_progname, FS_VERSION);
		exit(FS_EXIT_OK);
	case 0x100:
		cli->print_config = true;
		return 1;
	}
	return 0;
}

int
fs_cli_config(struct fs_cli *cli)
{
	if (fs_now_check() != 0 || fs_config_load(cli->config_path, &cli->cfg) != 0)
		return -1;
	/* Every stage of a pipeline gets the keys in its environment (cron's
	 * line reads the tokens file for all of them): a stage that never uses
	 * them holds them all the same. */
	if (fs_config_secret_in_env(&cli->cfg))
		fs_secret_guard();
	if (cli->print_config) {
		fs_config_print(&cli->cfg, stdout);
		return 1;
	}
	return 0;
}

int
fs_cli_state_open(struct fs_cli *cli, int flags)
{
	return fs_state_open_flags(cli->state_path, flags, fs_config_get(&cli->cfg, "state", "", "group"), &cli->st);
}

int
fs_cli_state(struct fs_cli *cli)
{
	return fs_cli_state_open(cli, 0);
}

static bool stdout_closed, stdout_error_said;

bool
fs_stdout_closed(void)
{
	return stdout_closed;
}

/*
 * A reader that stops reading (fs-report sla | head -n 1) is not an error,
 * as it is not for cat or grep: what is left to write is dropped without a
 * word and the run keeps its own exit status.  Any other failure (a full
 * disk) is said once and the run exits FS_EXIT_REMOTE at least.  err is the
 * write's errno, 0 when it is lost (stdio kept only its error flag): a pipe
 * whose reader has gone then shows POLLERR.
 */
static int
stdout_failed(int err, int status)
{
	struct pollfd p = {STDOUT_FILENO, POLLOUT, 0};

	if (err == EPIPE || (err == 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLERR))) {
		stdout_closed = true;
		return status;
	}
	if (!stdout_error_said) {
		errno = err;
		if (err)
			fs_err("write error on standard output:");
		else
			fs_err("write error on standard output");
		stdout_error_said = true;
	}
	return status == FS_EXIT_OK || status == FS_EXIT_DLQ ? FS_EXIT_REMOTE : status;
}

int
fs_stdout_error(int status)
{
	return stdout_failed(errno, status);
}

int
fs_stdout_flush(int status)
{
	if (fflush(stdout) != 0)
		return stdout_failed(errno, status);
	if (ferror(stdout))
		return stdout_failed(0, status);
	return status;
}

const char *
fs_cli_timezone(const struct fs_cli *cli)
{
	const char *tz = fs_config_setting(&cli->cfg, "thresholds", "", "timezone");

	if (!fs_tz_valid(tz)) {
		fs_err("[thresholds] timezone '%s' is not a time zone this machine knows (/usr/share/zoneinfo)", tz);
		return NULL;
	}
	return tz;
}

int
fs_cli_time(const struct fs_cli *cli, const char *opt, const char *s, bool end_of_day, fs_time *t)
{
	const char *tz = fs_config_setting(&cli->cfg, "thresholds", "", "timezone");

	if (fs_time_arg(s, tz, end_of_day, t) != 0) {
		fs_err("%s: '%s' is not a time (RFC 3339 or YYYY-MM-DD)", opt, s);
		return -1;
	}
	return 0;
}

int
fs_cli_finish(struct fs_cli *cli, int status)
{
	status = fs_stdout_flush(status);
	if (fs_state_is_open(&cli->st))
		fs_state_close(&cli->st);
	fs_config_free(&cli->cfg);
	return status;
}
