/*
 * Time: $FS_NOW, RFC 3339, durations and business days, and the settings
 * made of durations: rates and retry schedules.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fieldsync.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static int
num(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
fs_time_parse(const char *s, fs_time *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, off = 0;
	const char *p;

	if (s == NULL || strlen(s) < 20)
		return -1;
	y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
	h = num(s + 11, 2), mi = num(s + 14, 2), sec = num(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 60 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap(y)))
		return -1;
	p = s + 19;
	if (*p == '.') {
		const char *q = ++p;

		while (isdigit((unsigned char)*p))
			p++;
		if (p == q)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		/* In this order: each test reads only bytes the one before it has
		 * shown to lie before the terminating NUL. */
		int oh = num(p + 1, 2), om;

		if (oh < 0 || p[3] != ':' || (om = num(p + 4, 2)) < 0 || oh > 23 || om > 59)
			return -1;
		off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	if (sec == 60)
		sec = 59;	/* a leap second is the last second of its minute */
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
	return 0;
}

bool
fs_time_valid(const char *s)
{
	fs_time t;

	return fs_time_parse(s, &t) == 0;
}

void
fs_time_format(fs_time t, char out[21])
{
	int64_t days, rem;
	int y, m, d;
	char tmp[64];

	/* RFC 3339 has four digits for the year: a time past them is written
	 * as the last (or first) second they hold, never wrapped round, so
	 * that stamps still sort as the times they stand for. */
	if (t > FS_TIME_MAX)
		t = FS_TIME_MAX;
	else if (t < FS_TIME_MIN)
		t = FS_TIME_MIN;
	days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	rem = t - days * 86400;
	civil_from_days(days, &y, &m, &d);
	snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
		 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	memcpy(out, tmp, 20);
	out[20] = '\0';
}

fs_time
fs_now(void)
{
	const char *s = getenv("FS_NOW");
	fs_time t;

	if (s != NULL && *s != '\0' && fs_time_parse(s, &t) == 0)
		return t;
	return (fs_time)time(NULL);
}

int
fs_now_check(void)
{
	const char *s = getenv("FS_NOW");
	fs_time t;

	if (s != NULL && *s != '\0' && fs_time_parse(s, &t) != 0) {
		fs_err("FS_NOW: '%s' is not an RFC 3339 time", s);
		return -1;
	}
	return 0;
}

int
fs_duration_parse(const char *s, int64_t *secs)
{
	char *end;
	long long v;
	int64_t unit;

	if (s == NULL || !isdigit((unsigned char)*s)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		v = LLONG_MAX;	/* out of range whatever the unit, when it has one */
	if (strcmp(end, "s") == 0)
		unit = 1;
	else if (strcmp(end, "m") == 0)
		unit = 60;
	else if (strcmp(end, "h") == 0)
		unit = 3600;
	else if (strcmp(end, "d") == 0)
		unit = 86400;
	else if (strcmp(end, "w") == 0)
		unit = 7 * 86400;
	else {
		errno = EINVAL;
		return -1;
	}
	if (v > FS_DURATION_MAX / unit) {
		errno = ERANGE;
		return -1;
	}
	*secs = v * unit;
	return 0;
}

int
fs_bizdays_parse(const char *s, int *days)
{
	char *end;
	long v;

	if (s == NULL || !isdigit((unsigned char)*s)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (strcmp(end, "bd") != 0) {
		errno = EINVAL;
		return -1;
	}
	if (errno == ERANGE || v > FS_BIZDAYS_MAX) {
		errno = ERANGE;
		return -1;
	}
	*days = (int)v;
	return 0;
}

int
fs_holidays_parse(const char *list, struct fs_holidays *h)
{
	char *copy = fs_xstrdup(list ? list : ""), *save = NULL, *tok;
	int rc = 0;

	h->n = 0;
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		char stamp[32];
		fs_time t;

		snprintf(stamp, sizeof stamp, "%.10sT00:00:00Z", tok);
		if (strlen(tok) != 10 || fs_time_parse(stamp, &t) != 0 ||
		    h->n >= (int)(sizeof h->day / sizeof h->day[0])) {
			rc = -1;
			break;
		}
		h->day[h->n++] = (int32_t)(t / 86400);
	}
	free(copy);
	return rc;
}

static bool
is_business_day(int64_t day, const struct fs_holidays *h)
{
	int wd = (int)(((day % 7) + 7 + 4) % 7);	/* 1970-01-01 was a Thursday: 0 = Sunday */

	if (wd == 0 || wd == 6)
		return false;
	for (int i = 0; h && i < h->n; i++)
		if (h->day[i] == day)
			return false;
	return true;
}

fs_time
fs_bizdays_add(fs_time t, int n, const struct fs_holidays *h)
{
	int64_t day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	fs_time tod = t - day * 86400;

	while (n > 0) {
		day++;
		if (is_business_day(day, h))
			n--;
	}
	return day * 86400 + tod;
}

int
fs_bizdays_between(fs_time a, fs_time b, const struct fs_holidays *h)
{
	int64_t day = a >= 0 ? a / 86400 : (a - 86399) / 86400;
	fs_time tod = a - day * 86400;
	int n = 0;

	/* Count the business-day steps from a that land at or before b. */
	while ((++day) * 86400 + tod <= b)
		if (is_business_day(day, h))
			n++;
	return n;
}

bool
fs_tz_valid(const char *tz)
{
	char path[512];

	if (tz == NULL || *tz == '\0' || strcmp(tz, "UTC") == 0)
		return tz != NULL && *tz != '\0';
	if (tz[0] == '/' || strstr(tz, "..") != NULL)
		return false;
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
	return access(path, R_OK) == 0;
}

/*
 * Runs fn(arg) with the TZ environment variable set to tz (an IANA name;
 * NULL or "" is UTC), then puts TZ back as it was: localtime_r and mktime
 * read the zone from TZ and nowhere else.  Each call sets TZ twice and tzset
 * may read the zone file: callers with many times keep what it tells them
 * (struct fs_zone) rather than call it per time.
 */
static int
with_zone(const char *tz, int (*fn)(void *), void *arg)
{
	const char *was = getenv("TZ");
	char *old = was ? fs_xstrdup(was) : NULL;
	int rc;

	setenv("TZ", tz && *tz ? tz : "UTC", 1);
	tzset();
	rc = fn(arg);
	if (old)
		setenv("TZ", old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(old);
	return rc;
}

/* A broken-down local time read as if it were UTC: the local clock's seconds since the epoch. */
static fs_time
tm_wall(const struct tm *tm)
{
	return days_from_civil(tm->tm_year + 1900, (unsigned)tm->tm_mon + 1, (unsigned)tm->tm_mday) * 86400 +
	       tm->tm_hour * 3600 + tm->tm_min * 60 + tm->tm_sec;
}

struct local_day {
	fs_time t, start, next;
};

static int
local_day_in_zone(void *arg)
{
	struct local_day *ld = arg;
	time_t tt = (time_t)ld->t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return -1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	ld->start = (fs_time)mktime(&tm);
	tm.tm_mday++;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	ld->next = (fs_time)mktime(&tm);
	return 0;
}

int
fs_local_day(fs_time t, const char *tz, fs_time *start, fs_time *next)
{
	struct local_day ld = {.t = t};

	if (with_zone(tz, local_day_in_zone, &ld) != 0)
		return -1;
	*start = ld.start;
	*next = ld.next;
	return 0;
}

struct local_noon {
	struct tm tm;
	time_t t;
};

static int
local_noon_in_zone(void *arg)
{
	struct local_noon *ln = arg;

	ln->t = mktime(&ln->tm);
	return ln->t == (time_t)-1 ? -1 : 0;	/* noon is never the second before the epoch */
}

/* The moment of local noon on y-m-d in tz: noon exists on every day, where
 * midnight may not (a zone that moves its clocks at 00:00). */
static int
local_noon(int y, int m, int d, const char *tz, fs_time *t)
{
	struct local_noon ln = {
		.tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12, .tm_isdst = -1},
	};

	if (with_zone(tz, local_noon_in_zone, &ln) != 0)
		return -1;
	*t = (fs_time)ln.t;
	return 0;
}

bool
fs_tz_is_utc(const char *tz)
{
	return tz == NULL || *tz == '\0' || strcmp(tz, "UTC") == 0;
}

void
fs_zone_init(struct fs_zone *z, const char *tz)
{
	z->tz = tz;
	z->utc = fs_tz_is_utc(tz);
	for (int i = 0; i < FS_ZONE_CACHE; i++)
		z->day[i] = INT64_MIN;
}

/* The offsets at the first second of t's UTC day, at t, and at the next UTC day's first second. */
struct zone_offsets {
	fs_time at[3];
	int32_t off[3];
};

static int
offsets_in_zone(void *arg)
{
	struct zone_offsets *zo = arg;

	for (int i = 0; i < 3; i++) {
		time_t tt = (time_t)zo->at[i];
		struct tm tm;

		if (localtime_r(&tt, &tm) == NULL)
			return -1;
		zo->off[i] = (int32_t)(tm_wall(&tm) - zo->at[i]);
	}
	return 0;
}

int32_t
fs_zone_offset(struct fs_zone *z, fs_time t)
{
	int64_t day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int slot = (int)(((day % FS_ZONE_CACHE) + FS_ZONE_CACHE) % FS_ZONE_CACHE);
	struct zone_offsets zo = {.at = {day * 86400, t, (day + 1) * 86400}};

	if (z->utc)
		return 0;
	if (z->day[slot] == day)
		return z->off[slot];
	if (with_zone(z->tz, offsets_in_zone, &zo) != 0)
		return 0;	/* past what the C library can say: UTC */
	/* A day that starts and ends at one offset has it all day (no zone
	 * moves its clocks twice in a day); a day the clocks change is not
	 * kept, each of its times asks. */
	if (zo.off[0] == zo.off[2]) {
		z->day[slot] = day;
		z->off[slot] = zo.off[0];
	}
	return zo.off[1];
}

fs_time
fs_zone_wall(struct fs_zone *z, fs_time t)
{
	return t + fs_zone_offset(z, t);
}

void
fs_zone_format(struct fs_zone *z, fs_time t, char out[26])
{
	int32_t off = fs_zone_offset(z, t);
	unsigned a = (unsigned)(off < 0 ? -off : off);

	fs_time_format(t + off, out);
	if (!z->utc)	/* an offset is under a day: % 24 says so to the compiler */
		snprintf(out + 19, 7, "%c%02u:%02u", off < 0 ? '-' : '+', a / 3600 % 24, a / 60 % 60);
}

int
fs_time_arg(const char *s, const char *tz, bool end_of_day, fs_time *t)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	fs_time noon, start, next;
	int y, m, d;

	if (s == NULL || strlen(s) != 10)
		return fs_time_parse(s, t);
	y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
	if (y < 0 || s[4] != '-' || s[7] != '-' || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !leap(y)))
		return -1;
	if (local_noon(y, m, d, tz, &noon) != 0 || fs_local_day(noon, tz, &start, &next) != 0)
		return -1;
	*t = end_of_day ? next : start;
	return 0;
}

/* A whole number of digits only, 0 .. max; -1 with errno EINVAL or ERANGE. */
static int
whole(const char *s, size_t n, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (n == 0 || strspn(s, "0123456789") < n) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (v > (max - (s[i] - '0')) / 10) {
			errno = ERANGE;
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * "100/10s", "150/5s", "10/500ms", "100/10" or "150/s" (seconds), "5" (per
 * second); "off" or "0" for none (n 0).  At most FS_RATE_MAX requests in a
 * window of at most FS_DURATION_MAX.
 */
int
fs_rate_limit_parse(const char *s, struct fs_rate_limit *r)
{
	const char *slash;
	int64_t max, window = 1000;

	memset(r, 0, sizeof *r);
	if (s == NULL || strcmp(s, "off") == 0 || strcmp(s, "0") == 0)
		return 0;
	slash = s + strcspn(s, "/");
	if (whole(s, (size_t)(slash - s), FS_RATE_MAX, &max) != 0)
		return -1;
	if (*slash == '/') {
		const char *w = slash + 1;
		size_t n = strlen(w);

		if (strcmp(w, "s") == 0) {
			window = 1000;
		} else if (n > 2 && strcmp(w + n - 2, "ms") == 0) {
			if (whole(w, n - 2, FS_DURATION_MAX * 1000, &window) != 0)
				return -1;
		} else if (n > 0 && strspn(w, "0123456789") == n) {
			if (whole(w, n, FS_DURATION_MAX, &window) != 0)	/* bare seconds */
				return -1;
			window *= 1000;
		} else if (fs_duration_parse(w, &window) == 0) {
			window *= 1000;
		} else {
			return -1;	/* errno says why */
		}
	}
	if (window <= 0) {
		errno = EINVAL;
		return -1;
	}
	r->n = (int)max;
	r->window_ms = window;
	return 0;
}

/* "30s..6h x8": the first delay, its cap and the number of attempts (1 .. FS_RETRY_MAX). */
int
fs_retry_parse(const char *s, struct fs_retry *r)
{
	char buf[64], *dots, *x, *n;
	int64_t max;

	errno = EINVAL;
	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	if ((dots = strstr(buf, "..")) == NULL || (x = strchr(dots, 'x')) == NULL)
		return -1;
	*dots = '\0';
	*x = '\0';
	if (fs_duration_parse(fs_trim(buf), &r->base) != 0 || fs_duration_parse(fs_trim(dots + 2), &r->cap) != 0)
		return -1;
	n = fs_trim(x + 1);
	if (whole(n, strlen(n), FS_RETRY_MAX, &max) != 0)
		return -1;
	if (max < 1 || r->cap < r->base) {
		errno = EINVAL;
		return -1;
	}
	r->max = (int)max;
	return 0;
}
