/* Messages on stderr, in the style of err(3): "prog: message". */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

const char *fs_progname = "fieldsync";
int fs_verbosity = 1;
struct fs_buf *fs_err_keep;

static void
vsay(const char *fmt, va_list ap)
{
	int saved = errno;
	size_t n = strlen(fmt);
	bool with_errno = n > 0 && fmt[n - 1] == ':';
	char line[4096];

	vsnprintf(line, sizeof line, fmt, ap);
	/* A format ending in ':' appends strerror(errno), as in sbase. */
	if (fs_err_keep)
		fs_buf_addf(fs_err_keep, "%s%s%s\n", line, with_errno ? " " : "", with_errno ? strerror(saved) : "");
	else if (with_errno)
		fprintf(stderr, "%s: %s %s\n", fs_progname, line, strerror(saved));
	else
		fprintf(stderr, "%s: %s\n", fs_progname, line);
	errno = saved;
}

void
fs_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void
fs_info(const char *fmt, ...)
{
	va_list ap;

	if (fs_verbosity < 1)
		return;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void
fs_debug(const char *fmt, ...)
{
	va_list ap;

	if (fs_verbosity < 2)
		return;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

bool
fs_progress_enabled(void)
{
	return fs_verbosity >= 1 && isatty(STDERR_FILENO);
}
