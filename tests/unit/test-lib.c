/* Unit tests for lib/, printing TAP. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "fieldsync.h"
#include "vendors.h"

static int n, failed;

static void
ok(int cond, const char *name)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, name);
	if (!cond)
		failed++;
}

static void
is_str(const char *got, const char *want, const char *name)
{
	ok(got && strcmp(got, want) == 0, name);
	if (!(got && strcmp(got, want) == 0))
		printf("# got '%s', want '%s'\n", got ? got : "(null)", want);
}

static fs_time
t(const char *s)
{
	fs_time v = -1;

	if (fs_time_parse(s, &v) != 0)
		printf("# cannot parse %s\n", s);
	return v;
}

static void
test_time(void)
{
	char out[21];
	fs_time v;

	ok(t("1970-01-01T00:00:00Z") == 0, "epoch");
	ok(t("2026-11-30T01:02:03Z") == 1796000523, "a Monday in 2026");
	ok(t("2026-11-30T03:02:03+02:00") == t("2026-11-30T01:02:03Z"), "offsets are applied");
	ok(t("2026-11-30T01:02:03.999Z") == t("2026-11-30T01:02:03Z"), "fractions are dropped");
	ok(fs_time_parse("2026-02-29T00:00:00Z", &v) != 0, "no Feb 29 in 2026");
	ok(fs_time_parse("2024-02-29T00:00:00Z", &v) == 0, "Feb 29 in 2024");
	ok(fs_time_parse("2026-11-30 01:02:03Z", &v) != 0, "a space is not a T");
	ok(fs_time_parse("2026-11-30T01:02:03", &v) != 0, "an offset is required");
	ok(fs_time_parse("2026-13-01T00:00:00Z", &v) != 0, "month 13");
	ok(fs_time_parse("2026-11-30T01:02:03Zjunk", &v) != 0, "trailing junk");
	fs_time_format(t("2026-11-30T01:02:03+05:30"), out);
	is_str(out, "2026-11-29T19:32:03Z", "format in UTC");
	fs_time_format(-1, out);
	is_str(out, "1969-12-31T23:59:59Z", "before the epoch");
	setenv("FS_NOW", "2026-11-30T01:00:00Z", 1);
	ok(fs_now() == t("2026-11-30T01:00:00Z"), "FS_NOW fixes the clock");
	setenv("FS_NOW", "yesterday", 1);
	ok(fs_now_check() != 0, "a malformed FS_NOW is an error");
	unsetenv("FS_NOW");
}

static void
test_durations(void)
{
	int64_t s = 0;
	int d = 0;

	ok(fs_duration_parse("90s", &s) == 0 && s == 90, "90s");
	ok(fs_duration_parse("15m", &s) == 0 && s == 900, "15m");
	ok(fs_duration_parse("24h", &s) == 0 && s == 86400, "24h");
	ok(fs_duration_parse("3d", &s) == 0 && s == 259200, "3d");
	ok(fs_duration_parse("2w", &s) == 0 && s == 1209600, "2w");
	ok(fs_duration_parse("3", &s) != 0, "a unit is required");
	ok(fs_duration_parse("-3d", &s) != 0, "no negative durations");
	ok(fs_duration_parse("3 d", &s) != 0, "no space before the unit");
	ok(fs_duration_parse("", &s) != 0, "empty");
	ok(fs_duration_parse("99999999999999999999d", &s) != 0, "overflow");
	ok(fs_bizdays_parse("3bd", &d) == 0 && d == 3, "3bd");
	ok(fs_bizdays_parse("3d", &d) != 0, "3d is not business days");
}

static void
test_bizdays(void)
{
	struct fs_holidays h;
	char out[21];

	ok(fs_holidays_parse("2026-12-25, 2027-01-01", &h) == 0 && h.n == 2, "two holidays");
	ok(fs_holidays_parse("2026-12-32", &h) != 0, "a bad holiday");
	/* Friday 2026-11-27 + 3bd = Wednesday 2026-12-02. */
	fs_time_format(fs_bizdays_add(t("2026-11-27T10:00:00Z"), 3, NULL), out);
	is_str(out, "2026-12-02T10:00:00Z", "3bd from a Friday skips the weekend");
	fs_holidays_parse("2026-12-25", &h);
	/* Wednesday 2026-12-23 + 3bd: Thu 24, (Fri 25 holiday), Mon 28, Tue 29. */
	fs_time_format(fs_bizdays_add(t("2026-12-23T09:00:00Z"), 3, &h), out);
	is_str(out, "2026-12-29T09:00:00Z", "3bd over Christmas and a weekend");
	ok(fs_bizdays_between(t("2026-11-27T10:00:00Z"), t("2026-12-02T09:59:59Z"), NULL) == 2,
	   "just under 3 business days");
	ok(fs_bizdays_between(t("2026-11-27T10:00:00Z"), t("2026-12-02T10:00:00Z"), NULL) == 3,
	   "exactly 3 business days");
	ok(fs_bizdays_between(t("2026-12-02T10:00:00Z"), t("2026-11-27T10:00:00Z"), NULL) == 0,
	   "backwards is zero");
}

/* The zone's clock: offsets, RFC 3339 with them, and the cache across a DST day. */
static void
test_zones(void)
{
	struct fs_zone z;
	char out[26];

	fs_zone_init(&z, NULL);
	fs_zone_format(&z, t("2026-03-08T17:00:00Z"), out);
	is_str(out, "2026-03-08T17:00:00Z", "UTC keeps its Z");
	fs_zone_init(&z, "America/Phoenix");
	fs_zone_format(&z, t("2026-03-03T05:00:00Z"), out);
	is_str(out, "2026-03-02T22:00:00-07:00", "Phoenix: the day before, with -07:00");
	fs_zone_init(&z, "America/Chicago");
	/* Asked in this order, the 8th (23 hours, not kept) between days that are. */
	fs_zone_format(&z, t("2026-03-07T12:00:00Z"), out);
	is_str(out, "2026-03-07T06:00:00-06:00", "Chicago before the change: -06:00");
	ok(fs_zone_offset(&z, t("2026-03-08T07:59:59Z")) == -6 * 3600, "Chicago: CST to the last second");
	ok(fs_zone_offset(&z, t("2026-03-08T08:00:00Z")) == -5 * 3600, "Chicago: CDT from 02:00 CST");
	fs_zone_format(&z, t("2026-03-09T05:30:00Z"), out);
	is_str(out, "2026-03-09T00:30:00-05:00", "Chicago after the change: -05:00");
	ok(fs_zone_offset(&z, t("2026-03-07T23:00:00Z")) == -6 * 3600, "Chicago: the 7th from the cache");
	fs_zone_init(&z, "Asia/Kolkata");
	fs_zone_format(&z, t("2026-11-30T01:02:03Z"), out);
	is_str(out, "2026-11-30T06:32:03+05:30", "Kolkata: +05:30");
	/* Friday 17:00 CST + 1bd is Monday 17:00 CDT, 22:00 UTC: on the wall clock, then back. */
	fs_zone_init(&z, "America/Chicago");
	ok(fs_bizdays_add(fs_zone_wall(&z, t("2026-03-06T23:00:00Z")), 1, NULL) ==
	   fs_zone_wall(&z, t("2026-03-09T22:00:00Z")), "Chicago: 1bd across the change keeps 17:00");
}

static void
test_config(void)
{
	char path[] = "/tmp/fs-unit-XXXXXX";
	int fd = mkstemp(path);
	struct fs_config cfg;
	struct fs_endpoint ep;
	FILE *f = fdopen(fd, "w");

	fputs("# comment\n[source \"crm\"]\nkind = hubspot   # trailing comment\n"
	      "token_env = HUBSPOT_TOKEN\nurl=http://x/#frag\n\n[thresholds]\ndlq_max = 50 ; note\n", f);
	fclose(f);
	ok(fs_config_load(path, &cfg) == 0, "config loads");
	is_str(fs_config_get(&cfg, "source", "crm", "kind"), "hubspot", "inline # comment stripped");
	is_str(fs_config_get(&cfg, "source", "crm", "url"), "http://x/#frag", "# inside a value kept");
	is_str(fs_config_get(&cfg, "thresholds", "", "dlq_max"), "50", "inline ; comment stripped");
	ok(fs_endpoint_find(&cfg, "source", "crm", &ep) == 0 && strcmp(ep.kind, "hubspot") == 0, "endpoint kind");
	ok(fs_endpoint_find(&cfg, "source", "lob-events", &ep) == 0 && ep.sec == NULL, "built-in kind without a section");
	fprintf(stderr, "# expect an error line next:\n");
	ok(fs_endpoint_find(&cfg, "source", "nope", &ep) != 0, "unknown source");
	setenv("HUBSPOT_TOKEN", "s3cret", 1);
	fs_endpoint_find(&cfg, "source", "crm", &ep);
	{
		char *secret = fs_endpoint_secret(&ep, "token_env", "token_file");

		is_str(secret, "s3cret", "token from the named variable");
		free(secret);
	}
	fs_config_free(&cfg);
	f = fopen(path, "w");
	fputs("[source \"hubspot\"]   # also [target \"crm\"]\nkind = hubspot\n[thresholds] ; note\n", f);
	fclose(f);
	ok(fs_config_load(path, &cfg) == 0 && cfg.nsec == 2 && strcmp(cfg.sec[0].name, "hubspot") == 0 &&
	   strcmp(cfg.sec[1].type, "thresholds") == 0, "a comment may follow a section header");
	fs_config_free(&cfg);
	f = fopen(path, "w");
	fputs("[source \"a\"] kind\n", f);
	fclose(f);
	fprintf(stderr, "# expect an error line next:\n");
	ok(fs_config_load(path, &cfg) != 0, "but nothing else");
	f = fopen(path, "w");
	fputs("[source \"a\"]\nkind = csv\n[bogus]\n", f);
	fclose(f);
	fprintf(stderr, "# expect an error line next:\n");
	ok(fs_config_load(path, &cfg) != 0, "unknown section is an error");
	f = fopen(path, "w");
	fputs("kind = csv\n", f);
	fclose(f);
	fprintf(stderr, "# expect an error line next:\n");
	ok(fs_config_load(path, &cfg) != 0, "setting outside a section is an error");
	unlink(path);
	ok(fs_is_safe_key("token_env") && !fs_is_safe_key("token") && !fs_is_safe_key("api_key"),
	   "secret-looking keys are redacted");
}

static void
test_distance(void)
{
	ok(fs_edit_distance("", "") == 0, "distance: empty to empty");
	ok(fs_edit_distance("token_env", "token_env") == 0, "distance: equal");
	ok(fs_edit_distance("", "url") == 3 && fs_edit_distance("url", "") == 3, "distance: to and from empty");
	ok(fs_edit_distance("tokn_env", "token_env") == 1, "distance: a letter left out");
	ok(fs_edit_distance("intervall", "interval") == 1, "distance: a letter too many");
	ok(fs_edit_distance("rote", "rate") == 1, "distance: a letter changed");
	ok(fs_edit_distance("pirce", "price") == 1, "distance: two neighbours swapped count once");
	ok(fs_edit_distance("ab", "ba") == 1 && fs_edit_distance("abc", "ca") == 3,
	   "distance: optimal string alignment (no edit of a swapped pair)");
	ok(fs_edit_distance("kitten", "sitting") == 3, "distance: kitten, sitting");
	ok(fs_edit_distance("debounc", "debounce") == fs_edit_distance("debounce", "debounc"), "distance: symmetric");
	ok(fs_edit_distance("retry", "timeout") > 2, "distance: unrelated keys are far apart");
}

static void
test_settings(void)
{
	char path[] = "/tmp/fs-unit-XXXXXX";
	int fd = mkstemp(path);
	struct fs_config cfg;
	struct fs_endpoint ep;
	FILE *f = fdopen(fd, "w");

	fputs("[source \"crm\"]\nkind = hubspot\ntoken_file = /nonexistent\nmap = m.jq\n"
	      "[target \"mail\"]\nkind = lob\nrate = 10/1s\n[campaign \"thanks\"]\ntrigger = status = won\n"
	      "template = tmpl_f\n", f);
	fclose(f);
	ok(fs_config_load(path, &cfg) == 0, "settings: the config loads");
	fs_endpoint_find(&cfg, "target", "mail", &ep);
	is_str(fs_setting(&ep, "rate"), "10/1s", "settings: as the file sets it");
	is_str(fs_setting(&ep, "parallel"), "16", "settings: else the kind's default");
	is_str(fs_setting_default(&ep, "rate"), "150/5s", "settings: the default, whatever the file says");
	ok(fs_setting(&ep, "size") == NULL, "settings: NULL when there is no default");
	ok(fs_setting(&ep, "prop_mail_status") == NULL, "settings: NULL for a key of another kind");
	fs_endpoint_find(&cfg, "target", "hubspot", &ep);
	is_str(fs_setting(&ep, "parallel"), "4", "settings: a built-in kind without a section: its defaults");
	is_str(fs_setting(&ep, "token_env"), "HUBSPOT_TOKEN", "settings: token_env's default");
	fs_endpoint_find(&cfg, "source", "crm", &ep);
	ok(fs_setting(&ep, "token_env") == NULL, "settings: no token_env default once token_file is set");
	is_str(fs_setting(&ep, "map.deals"), "m.jq", "settings: a default from another key");
	is_str(fs_setting(&ep, "map.notes"), "m.jq", "settings: a family's member, through the same key");
	fs_endpoint_find(&cfg, "source", "lob-events", &ep);
	is_str(fs_setting(&ep, "map.events"), "lob-event.jq", "settings: the kind's map");
	is_str(fs_setting(&ep, "signature"), "lob", "settings: the kind's signature scheme");
	is_str(fs_config_setting(&cfg, "campaign", "thanks", "back"), "tmpl_f", "settings: back is the template");
	is_str(fs_config_setting(&cfg, "campaign", "thanks", "goal"), "thanks", "settings: goal is the campaign's name");
	is_str(fs_config_setting(&cfg, "campaign", "other", "active"), "30d", "settings: a campaign not in the file");
	is_str(fs_config_setting(&cfg, "thresholds", "", "no_ping"), "15m", "settings: a section not in the file");
	ok(fs_config_setting(&cfg, "thresholds", "", "holidays") == NULL, "settings: no holidays");
	fs_config_free(&cfg);
	for (const struct fs_setting *s = fs_settings; s->section; s++) {
		const struct fs_section_type *t = fs_section_type(s->section);

		if (t == NULL || (t->kinds == 0) != (s->kinds == 0) || (s->kinds & ~t->kinds) != 0) {
			printf("# [%s] %s: kinds %#x\n", s->section, s->key, s->kinds);
			ok(0, "settings: each row's kinds are its section's");
			break;
		}
		if (s[1].section == NULL)
			ok(1, "settings: each row's kinds are its section's");
	}
	unlink(path);
}

static void
test_ids(void)
{
	char a[40], b[40], c[40];

	fs_event_id("hubspot", "contact:1", "contact.changed", "2026-11-30T01:00:00Z", a);
	fs_event_id("hubspot", "contact:1", "contact.changed", "2026-11-30T01:00:00Z", b);
	fs_event_id("hubspot", "contact:1", "contact.changed", "2026-11-30T01:00:01Z", c);
	ok(strcmp(a, b) == 0, "same input, same id");
	ok(strcmp(a, c) != 0, "another version, another id");
	ok(strncmp(a, "evt_", 4) == 0 && strlen(a) == 36, "evt_ and 32 hex digits");
	fs_event_id("a", "bc", "k", "v", b);
	fs_event_id("ab", "c", "k", "v", c);
	ok(strcmp(b, c) != 0, "fields do not run together");
}

/* fs_json_check_top on one text: its plain verdict, and the id it found. */
static void
json_top_is(const char *text, bool plain, const char *id, const char *name)
{
	static const struct fs_str want[] = {{"type", 4}, {"id", 2}};
	struct fs_json_top top = {want, 2, {{0}}, false};
	char what[128];
	bool same;

	ok(fs_json_check_top(text, strlen(text), NULL, &top) == NULL, name);
	same = top.plain == plain && (id == NULL ? top.value[1].p == NULL
				       : top.value[1].p && top.value[1].n == strlen(id) &&
				       memcmp(top.value[1].p, id, top.value[1].n) == 0);
	snprintf(what, sizeof what, "%s: plain and id as expected", name);
	ok(same, what);
}

static void
test_json_top(void)
{
	json_top_is("{\"type\":\"event\",\"id\":\"evt_1\",\"data\":{\"id\":\"inner\"}}", true, "evt_1", "nested id ignored");
	json_top_is("{\"data\":{\"id\":\"inner\"},\"type\":\"event\"}", true, NULL, "absent id");
	json_top_is(" { \"id\" : \"a b\" } ", true, "a b", "white space");
	json_top_is("{\"id\":\"x\",\"id\":\"y\"}", false, "x", "repeated id");
	json_top_is("{\"id\":\"x\\n\"}", false, NULL, "escaped value");
	json_top_is("{\"i\\u0064\":\"x\"}", false, NULL, "escaped name");
	json_top_is("{\"id\":7}", false, NULL, "number id");
	json_top_is("{\"id\":[\"x\"]}", false, NULL, "array id");
	json_top_is("[{\"id\":\"x\"}]", false, NULL, "not an object");
	json_top_is("{\"id\":\"a long id with \\u00e9 past eight bytes\"}", false, NULL, "escape after eight plain bytes");
	json_top_is("{\"id\":\"0123456789abcdef0123456789abcdef\"}", true, "0123456789abcdef0123456789abcdef", "long id");
}

static void
test_json(void)
{
	static const char *const good[] = {"{}", "{\"a\":[1,2.5e-3,-0,true,null,\"\\u00e9\"]}", " {\"é\":\"x\"} ",
		"{\"a\":\"0123456\x7f" "89abcdef \xc3\xa9" " 0123456789\\\"x\"}", NULL};
	static const char *const bad[] = {"{", "{\"a\":01}", "{\"a\":NaN}", "{\"a\":1.}", "[1,]",
		"{\"a\":\"\t\"}", "{\"a\":\"01234567\x01\"}", "{\"a\":\"0123\x1f" "4567\"}",
		"{\"a\":\"01234567\xff" "89\"}", "{\"a\":1}{}", "{'a':1}", "{\"a\":.5}", "{\"a\" 1}", NULL};

	for (int i = 0; good[i]; i++)
		ok(fs_json_check(good[i], strlen(good[i]), NULL) == NULL, good[i]);
	for (int i = 0; bad[i]; i++) {
		char name[64];

		snprintf(name, sizeof name, "rejects %s", bad[i]);
		ok(fs_json_check(bad[i], strlen(bad[i]), NULL) != NULL, name);
	}
	test_json_top();
	ok(!fs_utf8_valid("\xc0\xaf", 2, NULL), "overlong UTF-8");
	ok(!fs_utf8_valid("\xed\xa0\x80", 3, NULL), "UTF-8 surrogate");
	ok(fs_utf8_valid("caf\xc3\xa9", 5, NULL), "valid UTF-8");
}

static void
test_email(void)
{
	ok(fs_email_valid("ann@example.com"), "plain e-mail");
	ok(fs_email_valid("j\xc3\xb6rg@example.de"), "UTF-8 local part");
	ok(!fs_email_valid("ann@example"), "undotted domain");
	ok(!fs_email_valid("@example.com"), "empty local part");
	ok(!fs_email_valid("a@b@example.com"), "two @");
	ok(!fs_email_valid("ann@.example.com"), "domain starts with a dot");
	ok(!fs_email_valid("ann smith@example.com"), "space");
}

static void
test_counts(void)
{
	struct fs_counts m = {0};
	char key[16];
	long sum = 0;

	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "k%d", i % 100);
		(*fs_counts_at(&m, key, strlen(key), true))++;
	}
	for (size_t i = 0; i < m.cap; i++)
		sum += m.e[i].key ? m.e[i].n : 0;
	ok(m.len == 100 && sum == 1000, "100 keys counted 1000 times");
	ok(fs_counts_at(&m, "nope", 4, false) == NULL, "absent key");
	fs_counts_free(&m);
}

/* The parsers of settings refuse what would overflow (errno ERANGE) apart from what is malformed (EINVAL). */
static void
range(int rc, int want_errno, const char *name)
{
	int e = errno;

	ok(rc == -1 && e == want_errno, name);
	if (!(rc == -1 && e == want_errno))
		printf("# rc %d, errno %d (%s), want -1 and %s\n", rc, e, strerror(e),
		       want_errno == ERANGE ? "ERANGE" : "EINVAL");
}

static void
test_ranges(void)
{
	struct fs_rate_limit r;
	struct fs_retry rt;
	char out[21];
	int64_t s = 0;
	size_t size = 0, len = 0;
	long count = 0;
	int d = 0;

	ok(fs_duration_parse("36500d", &s) == 0 && s == FS_DURATION_MAX, "a hundred years is the longest duration");
	range(fs_duration_parse("36501d", &s), ERANGE, "a day more is out of range");
	range(fs_duration_parse("106751991167d", &s), ERANGE, "what fitted an int64_t in ms is out of range");
	range(fs_duration_parse("99999999999999999999s", &s), ERANGE, "digits past strtoll are out of range");
	range(fs_duration_parse("99999999999999999999", &s), EINVAL, "no unit: malformed, however long");
	range(fs_duration_parse("5y", &s), EINVAL, "an unknown unit is malformed");
	ok(fs_rate_limit_parse("100/10s", &r) == 0 && r.n == 100 && r.window_ms == 10000, "100/10s");
	ok(fs_rate_limit_parse("10/500ms", &r) == 0 && r.n == 10 && r.window_ms == 500, "10/500ms");
	ok(fs_rate_limit_parse("150/s", &r) == 0 && r.n == 150 && r.window_ms == 1000, "150/s");
	ok(fs_rate_limit_parse("100/10", &r) == 0 && r.window_ms == 10000, "bare seconds");
	ok(fs_rate_limit_parse("5", &r) == 0 && r.n == 5 && r.window_ms == 1000, "per second");
	ok(fs_rate_limit_parse("off", &r) == 0 && r.n == 0, "off");
	range(fs_rate_limit_parse("5/9300000000000000", &r), ERANGE, "bare seconds that overflow in ms");
	range(fs_rate_limit_parse("5/9223372036854775807ms", &r), ERANGE, "a window of INT64_MAX ms");
	range(fs_rate_limit_parse("5/99999999999999999999ms", &r), ERANGE, "ms past strtoll");
	range(fs_rate_limit_parse("5/36501d", &r), ERANGE, "a window over a hundred years");
	range(fs_rate_limit_parse("1000001/1s", &r), ERANGE, "over a million requests a window");
	range(fs_rate_limit_parse("99999999999999999999/1s", &r), ERANGE, "requests past strtol");
	range(fs_rate_limit_parse("5/0", &r), EINVAL, "an empty window");
	range(fs_rate_limit_parse("5/0ms", &r), EINVAL, "an empty window in ms");
	range(fs_rate_limit_parse("-5/1s", &r), EINVAL, "a negative count");
	range(fs_rate_limit_parse("5/1 s", &r), EINVAL, "a space in the window");
	ok(fs_retry_parse("30s..6h x8", &rt) == 0 && rt.base == 30 && rt.cap == 21600 && rt.max == 8, "30s..6h x8");
	range(fs_retry_parse("1s..36501d x3", &rt), ERANGE, "a retry cap over a hundred years");
	range(fs_retry_parse("1s..2s x1001", &rt), ERANGE, "over a thousand attempts");
	range(fs_retry_parse("1s..2s x99999999999999999999", &rt), ERANGE, "attempts past strtol");
	range(fs_retry_parse("1s..2s x0", &rt), EINVAL, "no attempts");
	range(fs_retry_parse("2s..1s x3", &rt), EINVAL, "a cap below the first delay");
	range(fs_bizdays_parse("3651bd", &d), ERANGE, "over ten years of business days");
	range(fs_bizdays_parse("99999999999999999999bd", &d), ERANGE, "business days past strtol");
	ok(fs_count_parse("1000000", &count) == 0 && count == 1000000, "a count of a million");
	range(fs_count_parse("1000001", &count), ERANGE, "a count over a million");
	range(fs_count_parse("4294967297", &count), ERANGE, "a count that an int cast would wrap to 1");
	range(fs_count_parse("-1", &count), EINVAL, "a negative count");
	range(fs_count_parse("", &count), EINVAL, "an empty count");
	ok(fs_size_parse("1M", &size) == 0 && size == 1048576, "1M");
	ok(fs_size_parse("512k", &size) == 0 && size == 524288, "512k");
	range(fs_size_parse("65M", &size), ERANGE, "a size over 64M");
	range(fs_size_parse("18014398509481985k", &size), ERANGE, "a size whose k would wrap to 1k");
	range(fs_size_parse("0", &size), EINVAL, "a size of nothing");
	ok(fs_hook_content_length("55", 1024, &len) == 0 && len == 55, "Content-Length 55");
	ok(fs_hook_content_length("55junk", 1024, &len) == -1, "Content-Length 55junk is malformed");
	ok(fs_hook_content_length("-1", 1024, &len) == -1 && fs_hook_content_length(" 5", 1024, &len) == -1 &&
	   fs_hook_content_length("", 1024, &len) == -1 && fs_hook_content_length("1e3", 1024, &len) == -1,
	   "signs, blanks, exponents and nothing are malformed");
	ok(fs_hook_content_length("2048", 1024, &len) == 1 && len == 2048, "Content-Length over the cap");
	ok(fs_hook_content_length("99999999999999999999999", 1024, &len) == 1 && len == SIZE_MAX,
	   "Content-Length past size_t");
	fs_time_format(FS_TIME_MAX + 400LL * 86400, out);
	is_str(out, "9999-12-31T23:59:59Z", "a time past year 9999 is written as its last second, not wrapped");
	fs_time_format(FS_TIME_MIN - 1, out);
	is_str(out, "0000-01-01T00:00:00Z", "before year 0 as its first");
	fs_time_format(t("2026-11-30T01:00:00Z") + FS_DURATION_MAX, out);
	is_str(out, "2126-11-06T01:00:00Z", "now plus the longest duration is a real time");
}

/* Reading a secret makes the process undumpable with no core size (tests/04 shows the
 * contrast with a command that reads none): last, as it stays so. */
static void
test_secret_guard(void)
{
	struct fs_config cfg = {0};
	struct fs_endpoint ep;
	struct rlimit lim;
	char *secret = NULL;

	setenv("HUBSPOT_TOKEN", "pat-na1-unit", 1);
	ok(fs_endpoint_find(&cfg, "source", "hubspot", &ep) == 0 &&
	   (secret = fs_endpoint_secret(&ep, "token_env", "token_file")) != NULL, "the token is read");
	ok(prctl(PR_GET_DUMPABLE) == 0, "not dumpable once it is");
	ok(getrlimit(RLIMIT_CORE, &lim) == 0 && lim.rlim_cur == 0 && lim.rlim_max == 0, "core size limit 0, soft and hard");
	fs_secret_free(secret);
	unsetenv("HUBSPOT_TOKEN");
}

/* fs_csv_cell: formulas neutralised, numbers left, RFC 4180 quoting. */
static void
test_csv_cell(void)
{
	static const char *const cases[][2] = {
		{"plain", "plain"}, {"", ""}, {"a,b", "\"a,b\""}, {"say \"hi\"", "\"say \"\"hi\"\"\""},
		{" lead", "\" lead\""}, {"two\nlines", "\"two\nlines\""},
		{"=1+1", "\"'=1+1\""}, {"+1 512 555 0100", "\"'+1 512 555 0100\""},
		{"-2+3+cmd|' /C calc'!A0", "\"'-2+3+cmd|' /C calc'!A0\""}, {"@SUM(A1)", "\"'@SUM(A1)\""},
		{"\tUSD", "\"'\tUSD\""}, {"\r=1", "\"'\r=1\""}, {"=\"a\",b", "\"'=\"\"a\"\",b\""},
		{"-", "\"'-\""}, {"-x", "\"'-x\""}, {"-1-1", "\"'-1-1\""}, {"-.5", "\"'-.5\""},
		{"-50", "-50"}, {"-50.25", "-50.25"}, {"-1e5", "-1e5"}, {"-1.5E-3", "-1.5E-3"}, {"12", "12"},
		{"a=1", "a=1"}, {" =1", "\" =1\""},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fs_buf b = {0};
		char name[96];

		fs_csv_cell(&b, cases[i][0], strlen(cases[i][0]));
		snprintf(name, sizeof name, "csv cell of '%s'", cases[i][0]);
		is_str(b.data ? b.data : "", cases[i][1], name);
		fs_buf_free(&b);
	}
}

/* An address as people type it keys as the same address does in a request. */
static void
test_address_text(void)
{
	static const struct {
		const char *text, *want, *name;
	} cases[] = {
		{"12 Main St, Austin, TX 78701", "12 MAIN ST|78701", "the usual form"},
		{"12 Main St, Austin TX 78701", "12 MAIN ST|78701", "no comma before the region"},
		{"12 Main St, Austin, 78701", "12 MAIN ST|78701", "the ZIP in a part of its own"},
		{"12 Main St, Austin, TX, 78701-1234", "12 MAIN ST|78701", "ZIP+4, after its own comma"},
		{"12 Main St, Apt 4, Austin, TX 78701", "12 MAIN ST #4|78701", "a unit in a part of its own"},
		{"12 Main St, Apt 4", NULL, "a unit is not a ZIP: no town, no key"},
		{"12 Main St", NULL, "a street alone: no ZIP, no town"},
		{"Main St, Austin, TX 78701", NULL, "no house number"},
		{"12 Main St, Springfield, IL", "12 MAIN ST|SPRINGFIELD IL", "no ZIP: the town"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *key = fs_address_key_text(cases[i].text);

		if (cases[i].want)
			is_str(key, cases[i].want, cases[i].name);
		else
			ok(key == NULL, cases[i].name);
		free(key);
	}
	{
		char *a = fs_address_key("12 Main St", "Apt 4", "Austin", "TX", "78701");

		is_str(a, "12 MAIN ST #4|78701", "a request's address keys the same");
		free(a);
	}
}

struct hdrs {
	const char *name, *value;
};

static const char *
one_header(const char *name, void *ctx)
{
	const struct hdrs *h = ctx;

	return strcasecmp(name, h->name) == 0 ? h->value : NULL;
}

/* 0 when the scheme takes the request with that secret (fs-hook's whole check). */
static int
verify(const struct fs_signature *s, const struct fs_hook_req *r, const char *secret)
{
	const char *why;

	return fs_hook_verify(s, r, secret, fs_now(), &why);
}

/* Jobber's webhook scheme: base64 HMAC-SHA256 of the raw body, keyed with the client secret. */
static void
test_jobber_verify(void)
{
	const struct fs_signature *v = fs_signature_find("jobber");
	const char *body = "{\"data\":{\"webHookEvent\":{\"topic\":\"CLIENT_UPDATE\",\"itemId\":\"c03\"}}}";
	struct hdrs h = {"X-Jobber-Hmac-SHA256", "DNVNZPMzt2AiGWS+DqNXKcX8CqxSVWSfBIzVUkS4tVY="};
	struct fs_hook_req r = {"POST", "/hooks/jobber", body, strlen(body), one_header, &h};

	ok(v != NULL, "jobber: a webhook scheme (signature = jobber)");
	if (v == NULL)
		return;
	ok(verify(v, &r, "fake-jobber-client-secret") == 0, "jobber: the signature of the body verifies");
	ok(verify(v, &r, "another-secret") != 0, "jobber: another secret does not");
	r.len--;
	ok(verify(v, &r, "fake-jobber-client-secret") != 0, "jobber: a body one byte short does not");
	r.len++;
	h.name = "X-Other";
	ok(verify(v, &r, "fake-jobber-client-secret") != 0, "jobber: no signature header, no delivery");
	h.name = "x-jobber-hmac-sha256";
	h.value = "i7mQxAp9YcuXWXqUISUCW+UKyL63RDbjc1uYiTp/ZiA=";
	r.body = "";
	r.len = 0;
	ok(verify(v, &r, "k") == 0, "jobber: an empty body (padding of a 32-byte MAC)");
}

/* Intuit's intuit-signature: base64 HMAC-SHA256 of the raw body, keyed with the verifier token
 * (vectors from Python's hmac), for the classic payload and the CloudEvents array. */
static void
test_quickbooks_verify(void)
{
	const struct fs_signature *v = fs_signature_find("intuit");
	const char *classic = "{\"eventNotifications\":[{\"realmId\":\"9341453908811111\",\"dataChangeEvent\":"
			      "{\"entities\":[{\"name\":\"Invoice\",\"id\":\"130\",\"operation\":\"Create\","
			      "\"lastUpdated\":\"2026-12-01T18:00:00.000Z\"}]}}]}";
	const char *cloud = "[{\"specversion\":\"1.0\",\"type\":\"qbo.invoice.created.v1\",\"intuitentityid\":\"130\","
			    "\"intuitaccountid\":\"9341453908811111\",\"data\":{}}]";
	struct hdrs h = {"intuit-signature", "IrrETB/XuqNcnL6XbRKNINBSjyIkP49kM02H240Ur3Q="};
	struct fs_hook_req r = {"POST", "/hooks/qbo", classic, strlen(classic), one_header, &h};

	ok(v != NULL, "quickbooks: a webhook scheme (signature = intuit)");
	if (v == NULL)
		return;
	ok(verify(v, &r, "verif-123") == 0, "quickbooks: the classic payload's signature verifies");
	ok(verify(v, &r, "test-client-secret") != 0, "quickbooks: the client secret is not the verifier token");
	r.len--;
	ok(verify(v, &r, "verif-123") != 0, "quickbooks: a body one byte short does not");
	h.name = "Intuit-Signature";
	h.value = "WSp1VVXG3tkE5ovsGbT8YE2XICk7swBUEvgD1kVxzI0=";
	r.body = cloud;
	r.len = strlen(cloud);
	ok(verify(v, &r, "verif-123") == 0, "quickbooks: a CloudEvents array's signature verifies (any case of the header)");
	h.value = "WSp1VVXG3tkE5ovsGbT8YE2XICk7swBUEvgD1kVxzI0";
	ok(verify(v, &r, "verif-123") != 0, "quickbooks: the signature without its padding does not");
	h.name = "X-Other";
	ok(verify(v, &r, "verif-123") != 0, "quickbooks: no signature header, no delivery");
}

int
main(void)
{
	test_time();
	test_durations();
	test_ranges();
	test_bizdays();
	test_zones();
	test_config();
	test_distance();
	test_settings();
	test_ids();
	test_json();
	test_email();
	test_counts();
	test_csv_cell();
	test_secret_guard();
	test_address_text();
	test_jobber_verify();
	test_quickbooks_verify();
	printf("1..%d\n", n);
	return failed != 0;
}
