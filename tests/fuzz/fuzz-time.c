/*
 * The time parsers (lib/time.c): RFC 3339, durations, business days and
 * holiday lists; and fs-push's rate and retry settings (lib/push_http.c).
 * The input is read whole by each parser, then split at newlines into a
 * time, a duration, a business-day count and a holiday list.
 *
 * Properties: a parsed time formats back to a time that parses to the same
 * instant (within the years fs_time_format can write); a duration is
 * non-negative; fs_bizdays_between undoes fs_bizdays_add; fs_bizdays_add
 * never lands on a weekend or a holiday; a retry backoff stays within
 * [1 s, its ceiling].
 */
#include "fieldsync.h"
#include "fuzz.h"

#define YEAR0 (-62167219200LL)		/* 0000-01-01T00:00:00Z */
#define YEAR10000 253402300800LL	/* 10000-01-01T00:00:00Z */

static void
check_time(const char *s)
{
	fs_time t, back;
	char out[21];

	if (fs_time_parse(s, &t) != 0) {
		FUZZ_ASSERT(!fs_time_valid(s));
		return;
	}
	FUZZ_ASSERT(fs_time_valid(s));
	fs_time_format(t, out);
	FUZZ_ASSERT(strlen(out) == 20);
	if (t >= YEAR0 && t < YEAR10000) {
		FUZZ_ASSERT(fs_time_parse(out, &back) == 0);
		FUZZ_ASSERT(back == t);
	}
}

static void
check_duration(const char *s)
{
	int64_t secs = -1;

	if (fs_duration_parse(s, &secs) == 0)
		FUZZ_ASSERT(secs >= 0);
}

static void
check_bizdays(const char *t, const char *days, const char *holidays)
{
	struct fs_holidays h;
	fs_time start, end;
	int n;

	if (fs_holidays_parse(holidays, &h) != 0)
		h.n = 0;
	FUZZ_ASSERT(h.n >= 0 && h.n <= 64);
	if (fs_bizdays_parse(days, &n) != 0)
		return;
	FUZZ_ASSERT(n >= 0 && n <= 3650);
	if (fs_time_parse(t, &start) != 0)
		return;
	end = fs_bizdays_add(start, n, &h);
	FUZZ_ASSERT(end >= start);
	FUZZ_ASSERT(fs_bizdays_between(start, end, &h) == n);
	if (n > 0) {
		int64_t day = end >= 0 ? end / 86400 : (end - 86399) / 86400;
		int wd = (int)(((day % 7) + 7 + 4) % 7);

		FUZZ_ASSERT(wd != 0 && wd != 6);
		for (int i = 0; i < h.n; i++)
			FUZZ_ASSERT(h.day[i] != day);
	}
}

/* The shared rate ("150/5s") and retry ("30s..6h x8") settings, and the
 * backoff fs-push draws from the retry setting. */
static void
check_push(const char *s)
{
	struct fs_rate_limit rate;
	struct fs_retry retry;

	if (fs_rate_limit_parse(s, &rate) == 0)
		FUZZ_ASSERT(rate.n >= 0 && (rate.n == 0 || rate.window_ms > 0));
	if (fs_retry_parse(s, &retry) != 0)
		return;
	FUZZ_ASSERT(retry.base >= 0 && retry.cap >= retry.base && retry.max >= 1 && retry.max <= 1000);
	for (int attempt = 1; attempt <= retry.max; attempt += 1 + attempt / 4) {
		int64_t ceiling = retry.base, b = fs_backoff(attempt, retry.base, retry.cap, 1);

		for (int i = 1; i < attempt && ceiling < retry.cap; i++)
			ceiling *= 2;
		ceiling = ceiling > retry.cap ? retry.cap : ceiling;
		FUZZ_ASSERT(b >= 1 && b <= (ceiling > 1 ? ceiling : 1));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), *part[4] = {"", "", "", ""}, *p = s;
	int days;
	struct fs_holidays h;

	/* The whole input, as each parser meets a config value. */
	check_time(s);
	check_duration(s);
	fs_bizdays_parse(s, &days);
	fs_holidays_parse(s, &h);
	check_push(s);

	for (int i = 0; i < 4 && p; i++) {
		char *nl = strchr(p, '\n');

		part[i] = p;
		if (nl)
			*nl++ = '\0';
		p = nl;
	}
	check_time(part[0]);
	check_duration(part[1]);
	check_bizdays(part[0], part[2], part[3]);
	free(s);
	return 0;
}
