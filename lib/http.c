/*
 * HTTP for the commands that talk to vendors: libcurl easy handles (one per
 * endpoint, so connections are kept alive and reused), connect and total
 * timeouts, TLS verification on, a rate limit of N requests per window,
 * Retry-After and rate-limit headers, exponential backoff with full jitter
 * on 5xx, timeouts and connection errors, and a dry run that prints the
 * request with its Authorization header redacted.
 *
 * The first part is shared with fs-push's sender (push_http.c, libcurl
 * multi): backoff with full jitter, the Retry-After and rate-limit headers,
 * percent-encoding, the Authorization header and how a secret is let go
 * of.  The `rate` and `retry` settings are read by time.c, which every
 * command links (fs-hook, without libcurl, checks them at load too).
 *
 * Rate limits and backoff run on the real monotonic clock, never $FS_NOW.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "fieldsync.h"

int64_t
fs_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
fs_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t
random64(void)
{
	static uint64_t s;

	if (s == 0) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || read(fd, &s, sizeof s) != (ssize_t)sizeof s)
			s = (uint64_t)fs_mono_ms() ^ ((uint64_t)getpid() << 40);
		if (fd >= 0)
			close(fd);
		s ^= 0x9e3779b97f4a7c15ULL;
		if (s == 0)
			s = 0x9e3779b97f4a7c15ULL;
	}
	/* xorshift64* */
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return s * 0x2545f4914f6cdd1dULL;
}

/*
 * Full jitter: anywhere in [least, min(cap, first * 2^(attempt-1))], so that
 * a crowd of failures does not come back all at once.
 */
int64_t
fs_backoff(int attempt, int64_t first, int64_t cap, int64_t least)
{
	int64_t ceiling = first;

	for (int i = 1; i < attempt && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	if (ceiling <= least)
		return least;
	return least + (int64_t)(random64() % (uint64_t)(ceiling - least + 1));
}

int64_t
fs_retry_after_ms(const char *v)
{
	char *end;
	long secs;
	struct tm tm = {0};

	if (v == NULL)
		return -1;
	while (isspace((unsigned char)*v))
		v++;
	errno = 0;
	secs = strtol(v, &end, 10);
	if (end != v && errno == 0 && secs >= 0) {
		while (isspace((unsigned char)*end))
			end++;
		if (*end == '\0')
			return (int64_t)secs * 1000;
	}
	/* An HTTP-date: measured against the real clock, as the server meant it. */
	if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL) {
		time_t at = timegm(&tm), now = time(NULL);

		return at > now ? (int64_t)(at - now) * 1000 : 0;
	}
	return -1;
}

/* Lob's X-Rate-Limit-Reset: the epoch second the window ends. */
int64_t
fs_rate_reset_ms(const char *v)
{
	char *end;
	double at, left;

	if (v == NULL)
		return -1;
	at = strtod(v, &end);
	if (end == v || !(at > 0))
		return -1;
	left = at - (double)time(NULL);
	if (!(left >= 0))
		return -1;
	return left > 1e9 ? (int64_t)1e12 : (int64_t)(left * 1000);
}

const char *
fs_http_header(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t k = strlen(name);
	const char *v, *e;

	if (len <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return NULL;
	v = line + k + 1;
	e = line + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*vlen = (size_t)(e - v);
	return v;
}

char *
fs_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct fs_buf b = {0};

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			fs_buf_addc(&b, (char)*p);
		} else {
			fs_buf_addc(&b, '%');
			fs_buf_addc(&b, hex[*p >> 4]);
			fs_buf_addc(&b, hex[*p & 15]);
		}
	}
	fs_buf_addc(&b, '\0');
	return b.data;
}

char *
fs_bearer_header(const char *token)
{
	return token ? fs_xasprintf("Authorization: Bearer %s", token) : NULL;
}

/* ---- fs-pull's easy layer ---- */

int
fs_rate_parse(const char *s, struct fs_rate *r)
{
	struct fs_rate_limit lim;

	memset(r, 0, sizeof *r);
	if (fs_rate_limit_parse(s, &lim) != 0)
		return -1;
	r->max = lim.n;
	r->window_ms = lim.window_ms;
	if (r->max > 0)
		r->stamps = fs_xmalloc((size_t)r->max * sizeof *r->stamps);
	return 0;
}

void
fs_rate_free(struct fs_rate *r)
{
	free(r->stamps);
	memset(r, 0, sizeof *r);
}

/*
 * A sliding log of the last max request times: a request may go when the
 * oldest of them left the window.  That keeps under a rolling window (the
 * way HubSpot counts) as well as a fixed one (Lob), where a token bucket
 * would let a full bucket plus its refill through in one window.
 */
int64_t
fs_rate_wait(struct fs_rate *r)
{
	int64_t now, wait = 0;

	if (r->max <= 0)
		return 0;
	now = fs_mono_ms();
	if (r->n == r->max) {
		int64_t oldest = r->stamps[r->head];

		wait = oldest + r->window_ms - now;
		if (wait > 0) {
			fs_sleep_ms(wait);
			now = fs_mono_ms();
		}
		r->head = (r->head + 1) % r->max;
		r->n--;
	}
	r->stamps[(r->head + r->n) % r->max] = now;
	r->n++;
	return wait > 0 ? wait : 0;
}

/*
 * The request fs_rate_wait let through has its answer: it counts from now.
 * The server stamped it somewhere between the send and the answer, so a log
 * stamped at the answer frees each slot no sooner than the server does.
 */
void
fs_rate_done(struct fs_rate *r)
{
	if (r->max > 0 && r->n > 0)
		r->stamps[(r->head + r->n - 1) % r->max] = fs_mono_ms();
}

/*
 * The server has only remaining requests left in its window (it counts
 * requests this log never saw: other runs, other apps on the account).
 * The slots this log thinks free beyond that are taken as spent now, so the
 * next request waits for the oldest one to leave the window, not for a
 * whole window from now.
 */
void
fs_rate_sync(struct fs_rate *r, long remaining)
{
	int64_t now = fs_mono_ms();

	if (r->max <= 0 || remaining < 0)
		return;
	while (r->max - r->n > remaining) {
		r->stamps[(r->head + r->n) % r->max] = now;
		r->n++;
	}
}

/* The server says no slot is free for ms: keep the whole window closed that long. */
void
fs_rate_block(struct fs_rate *r, int64_t ms)
{
	int64_t until = fs_mono_ms() + ms;

	if (r->max <= 0)
		return;
	r->head = 0;
	r->n = r->max;
	for (int i = 0; i < r->max; i++)
		r->stamps[i] = until - r->window_ms;
}

/* Response headers we act on: copied as they arrive. */
static size_t
on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct fs_http_response *r = ctx;
	size_t len = size * n, vlen;
	const char *v;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue or a redirect): start again. */
		free(r->retry_after);
		r->retry_after = NULL;
		r->rl_max = r->rl_remaining = r->rl_interval_ms = -1;
		return len;
	}
	if ((v = fs_http_header(p, len, "Retry-After", &vlen)) != NULL) {
		free(r->retry_after);
		r->retry_after = fs_xasprintf("%.*s", (int)vlen, v);
	} else if ((v = fs_http_header(p, len, "X-HubSpot-RateLimit-Max", &vlen)) != NULL ||
		   (v = fs_http_header(p, len, "X-Rate-Limit-Limit", &vlen)) != NULL) {
		r->rl_max = strtol(v, NULL, 10);
	} else if ((v = fs_http_header(p, len, "X-HubSpot-RateLimit-Remaining", &vlen)) != NULL ||
		   (v = fs_http_header(p, len, "X-Rate-Limit-Remaining", &vlen)) != NULL) {
		r->rl_remaining = strtol(v, NULL, 10);
	} else if ((v = fs_http_header(p, len, "X-HubSpot-RateLimit-Interval-Milliseconds", &vlen)) != NULL) {
		r->rl_interval_ms = strtol(v, NULL, 10);
	}
	return len;
}

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct fs_http_response *r = ctx;

	fs_buf_add(&r->body, p, size * n);
	return size * n;
}

int
fs_http_init(struct fs_http *h, const char *name, const char *base_url, const char *rate)
{
	static bool global;

	memset(h, 0, sizeof *h);
	if (!global) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global = true;
	}
	h->name = name;
	h->base_url = fs_xstrdup(base_url);
	while (*h->base_url && h->base_url[strlen(h->base_url) - 1] == '/')
		h->base_url[strlen(h->base_url) - 1] = '\0';
	if (fs_rate_parse(rate, &h->rate) != 0) {
		fs_err("source '%s': bad rate '%s' (want N/WINDOW, e.g. 100/10s)", name, rate);
		free(h->base_url);
		return -1;
	}
	h->connect_timeout_ms = 10000;
	h->timeout_ms = 60000;
	h->attempts = 6;
	h->backoff_base_ms = 250;
	h->backoff_cap_ms = 30000;
	h->bare_429_ms = 1000;
	if ((h->curl = curl_easy_init()) == NULL) {
		fs_err("cannot start libcurl");
		fs_rate_free(&h->rate);
		free(h->base_url);
		return -1;
	}
	return 0;
}

void
fs_http_free(struct fs_http *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	if (h->headers)
		curl_slist_free_all(h->headers);
	fs_rate_free(&h->rate);
	fs_rate_free(&h->search_rate);
	free(h->base_url);
	fs_secret_free(h->auth);
	fs_secret_free(h->user);
	memset(h, 0, sizeof *h);
}

int
fs_http_search_rate(struct fs_http *h, const char *rate)
{
	fs_rate_free(&h->search_rate);
	if (strcmp(rate, "none") == 0)
		return 0;
	if (fs_rate_parse(rate, &h->search_rate) != 0) {
		fs_err("source '%s': bad search_rate '%s' (want N/WINDOW, e.g. 5/1s, or none)", h->name, rate);
		return -1;
	}
	return 0;
}

void
fs_http_bearer(struct fs_http *h, const char *token)
{
	fs_secret_free(h->auth);
	h->auth = fs_bearer_header(token);
}

void
fs_http_basic(struct fs_http *h, const char *user)
{
	fs_secret_free(h->user);
	h->user = user ? fs_xasprintf("%s:", user) : NULL;
}

void
fs_http_response_free(struct fs_http_response *r)
{
	fs_buf_free(&r->body);
	free(r->retry_after);
	memset(r, 0, sizeof *r);
}

static const char *
content_type(const struct fs_http *h)
{
	return h->content_type ? h->content_type : "application/json";
}

static void
dry_print(struct fs_http *h, const char *method, const char *url, const char *body)
{
	FILE *f = h->dry_out ? h->dry_out : stdout;

	fprintf(f, "%s %s\n", method, url);
	if (h->auth)
		fprintf(f, "Authorization: Bearer <redacted>\n");
	if (h->user)
		fprintf(f, "Authorization: Basic <redacted>\n");
	for (struct curl_slist *l = h->headers; l; l = l->next)
		fprintf(f, "%s\n", l->data);
	if (body)
		fprintf(f, "Content-Type: %s\n\n%s\n", content_type(h), body);
	fprintf(f, "\n");
}

void
fs_http_header_add(struct fs_http *h, const char *line)
{
	h->headers = curl_slist_append(h->headers, line);
}

/* One attempt.  Returns the curl code; resp->status is 0 without an answer. */
static CURLcode
attempt(struct fs_http *h, const char *method, const char *url, const char *body,
	struct fs_http_response *resp)
{
	struct curl_slist *hdr = NULL;
	CURL *c = h->curl;
	CURLcode rc;

	fs_buf_free(&resp->body);
	free(resp->retry_after);
	resp->retry_after = NULL;
	resp->status = 0;
	resp->rl_max = resp->rl_remaining = resp->rl_interval_ms = -1;
	curl_easy_reset(c);	/* keeps the connection cache */
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "fieldsync/" FS_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (h->auth)
		hdr = curl_slist_append(hdr, h->auth);
	for (struct curl_slist *l = h->headers; l; l = l->next)
		hdr = curl_slist_append(hdr, l->data);
	if (h->user) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, h->user);
	}
	if (body) {
		char ct[128];

		snprintf(ct, sizeof ct, "Content-Type: %s", content_type(h));
		hdr = curl_slist_append(hdr, ct);
		hdr = curl_slist_append(hdr, "Expect:");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	else if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	fs_step("request");
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	h->requests++;
	return rc;
}

/* Adopts a stricter limit than the configured one when the server tells it. */
static void
learn_limits(struct fs_http *h, const struct fs_http_response *r)
{
	if (r->rl_max > 0 && r->rl_interval_ms > 0 && h->rate.max > 0 &&
	    (double)r->rl_max / (double)r->rl_interval_ms < (double)h->rate.max / (double)h->rate.window_ms) {
		struct fs_rate nr;
		char spec[64];

		snprintf(spec, sizeof spec, "%ld/%ldms", r->rl_max, r->rl_interval_ms);
		if (fs_rate_parse(spec, &nr) == 0) {
			fs_debug("%s: the server allows %s, fewer than configured: using it", h->name, spec);
			fs_rate_free(&h->rate);
			h->rate = nr;
		}
	}
}

static bool
valid_json(const struct fs_http_response *r, const char *want_key)
{
	jv v;
	bool ok;

	if (r->body.len == 0 || fs_json_check(r->body.data, r->body.len, NULL) != NULL)
		return false;
	if (want_key == NULL)
		return true;
	v = jv_parse_sized(r->body.data, (int)r->body.len);
	ok = jv_get_kind(v) == JV_KIND_OBJECT && jv_object_has(jv_copy(v), jv_string(want_key));
	jv_free(v);
	return ok;
}

int
fs_http_request(struct fs_http *h, const char *method, const char *path, const char *body,
		const char *want_key, struct fs_http_response *resp)
{
	char *url = strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0
	    ? fs_xstrdup(path) : fs_xasprintf("%s%s", h->base_url, path);
	char why[512] = "";
	size_t plen = strcspn(path, "?");
	bool search = plen >= 7 && strncmp(path + plen - 7, "/search", 7) == 0;

	memset(resp, 0, sizeof *resp);
	if (h->dry_run) {
		dry_print(h, method, url, body);
		free(url);
		return 1;
	}
	for (int n = 1; n <= h->attempts; n++) {
		int64_t wait;
		CURLcode rc;

		if (search)
			fs_rate_wait(&h->search_rate);
		fs_rate_wait(&h->rate);
		rc = attempt(h, method, url, body, resp);
		fs_rate_done(&h->rate);
		if (search)
			fs_rate_done(&h->search_rate);
		if (rc != CURLE_OK) {
			snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
		} else {
			learn_limits(h, resp);
			if (resp->status == 429) {
				snprintf(why, sizeof why, "HTTP 429 (rate limited)");
			} else if (resp->status >= 500) {
				snprintf(why, sizeof why, "HTTP %ld", resp->status);
			} else if (resp->status >= 200 && resp->status < 300 &&
				   !valid_json(resp, want_key)) {
				if (resp->body.len == 0 || fs_json_check(resp->body.data, resp->body.len, NULL))
					snprintf(why, sizeof why, "HTTP %ld with a body that is not JSON", resp->status);
				else
					snprintf(why, sizeof why, "HTTP %ld without \"%s\" in the answer",
						 resp->status, want_key);
			} else {
				if (resp->rl_remaining >= 0)
					fs_rate_sync(&h->rate, resp->rl_remaining);
				free(url);
				return 0;
			}
		}
		if (n == h->attempts)
			break;
		wait = fs_backoff(n, h->backoff_base_ms, h->backoff_cap_ms, 0);
		if (resp->status == 429 || resp->retry_after) {
			int64_t ra = fs_retry_after_ms(resp->retry_after);

			if (ra < 0 && resp->rl_interval_ms > 0)
				ra = resp->rl_interval_ms;
			else if (ra < 0)
				ra = resp->status == 429 ? h->bare_429_ms : 1000;
			if (ra > h->backoff_cap_ms * 4 && ra > h->bare_429_ms)
				ra = h->backoff_cap_ms * 4;
			if (resp->status == 429) {
				fs_rate_block(&h->rate, ra);
				if (search)
					fs_rate_block(&h->search_rate, ra);
			}
			if (ra > wait)
				wait = ra;
		}
		h->retries++;
		fs_debug("%s: %s %s: %s; retry %d of %d in %lld ms", h->name, method, path, why, n,
			 h->attempts - 1, (long long)wait);
		fs_sleep_ms(wait);
	}
	fs_err("%s: %s %s: %s after %d attempts", h->name, method, path, why, h->attempts);
	free(url);
	return -1;
}
