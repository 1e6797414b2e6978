/*
 * fs-push's sender: many requests at once over libcurl's multi interface,
 * kept under the vendor's rate limit by a token bucket per endpoint, with
 * the retry schedule (exponential backoff, full jitter) the outbox uses.
 *
 * The bucket holds N tokens (rate = N/W).  Sending spends one; each token
 * comes back W after it was spent (plus a small margin for the network), so
 * no W-long span of time ever holds more than N requests, whatever window
 * alignment the vendor counts with.  That uses the limit fully without
 * tripping it.  A 429 stops the bucket until Retry-After (or Lob's
 * X-Rate-Limit-Reset) has passed, and takes 5% off N for the rest of the run.
 * Rate limits and timeouts run on the monotonic clock; nothing here reads
 * $FS_NOW.
 */
#include <curl/curl.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fieldsync.h"

#define RING_MAX 100000

struct bucket {
	char *name;
	int cap, n;		/* ring size, tokens now (n <= cap) */
	int64_t window_ms, margin_ms;
	int64_t *ring;		/* when each of the last cap tokens was spent */
	int head, count;
	int64_t paused_until;
};

struct fs_push_http {
	CURLM *multi;
	int parallel, running;
	long timeout_ms;
	struct fs_push_rate rate;
	struct bucket *b;
	int nb;
	char *user;		/* basic auth: API key as the user name */
	char *bearer;		/* "Authorization: Bearer ..." */
	struct fs_push_job **ready;	/* FIFO of jobs waiting for a token */
	size_t len, cap;
	struct fs_push_http_stats stats;
};

int64_t
fs_push_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
fs_push_rate_parse(const char *s, struct fs_push_rate *r)
{
	char *end;
	long n;
	int64_t secs;

	n = strtol(s, &end, 10);
	if (end == s || *end != '/' || n <= 0 || n > 1000000)
		return -1;
	s = end + 1;
	/* "150/5s"; a bare "150/s" means one second. */
	if (*s == 's' && s[1] == '\0')
		secs = 1;
	else if (fs_duration_parse(s, &secs) != 0 || secs <= 0)
		return -1;
	r->n = (int)n;
	r->window_ms = secs * 1000;
	return 0;
}

int
fs_push_retry_parse(const char *s, struct fs_push_retry *r)
{
	char buf[64], *dots, *x, *end;
	long max;

	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	if ((dots = strstr(buf, "..")) == NULL || (x = strchr(dots, 'x')) == NULL)
		return -1;
	*dots = '\0';
	*x = '\0';
	if (fs_duration_parse(fs_trim(buf), &r->base) != 0 || fs_duration_parse(fs_trim(dots + 2), &r->cap) != 0)
		return -1;
	max = strtol(x + 1, &end, 10);
	if (*fs_trim(end) != '\0' || max < 1 || max > 1000 || r->base < 0 || r->cap < r->base)
		return -1;
	r->max = (int)max;
	return 0;
}

static uint64_t
random64(void)
{
	static uint64_t s;

	if (s == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^ 0x9e3779b97f4a7c15ULL;
	}
	/* xorshift64* */
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return s * 0x2545f4914f6cdd1dULL;
}

int64_t
fs_push_backoff(const struct fs_push_retry *r, int attempt)
{
	int64_t ceiling = r->base;

	for (int i = 1; i < attempt && ceiling < r->cap; i++)
		ceiling *= 2;
	if (ceiling > r->cap)
		ceiling = r->cap;
	/* Full jitter: anywhere in [1s, ceiling], so that a crowd of failures
	 * does not come back all at once; never 0, so a row is not due again
	 * the instant it failed. */
	if (ceiling <= 1)
		return 1;
	return 1 + (int64_t)(random64() % (uint64_t)ceiling);
}

struct fs_push_http *
fs_push_http_new(int parallel, const struct fs_push_rate *rate, long timeout_ms)
{
	struct fs_push_http *h = fs_xmalloc(sizeof *h);

	memset(h, 0, sizeof *h);
	if ((h->multi = curl_multi_init()) == NULL) {
		free(h);
		fs_err("cannot start libcurl");
		return NULL;
	}
	h->parallel = parallel;
	h->rate = *rate;
	h->timeout_ms = timeout_ms;
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)parallel);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)parallel);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)parallel);
	return h;
}

void
fs_push_http_auth_basic(struct fs_push_http *h, const char *user)
{
	free(h->user);
	h->user = fs_xstrdup(user);
}

void
fs_push_http_auth_bearer(struct fs_push_http *h, const char *token)
{
	free(h->bearer);
	h->bearer = fs_xasprintf("Authorization: Bearer %s", token);
}

const struct fs_push_http_stats *
fs_push_http_stats(const struct fs_push_http *h)
{
	return &h->stats;
}

void
fs_push_http_free(struct fs_push_http *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < h->nb; i++) {
		free(h->b[i].name);
		free(h->b[i].ring);
	}
	free(h->b);
	free(h->ready);
	if (h->user) {
		memset(h->user, 0, strlen(h->user));
		free(h->user);
	}
	if (h->bearer) {
		memset(h->bearer, 0, strlen(h->bearer));
		free(h->bearer);
	}
	curl_multi_cleanup(h->multi);
	free(h);
}

static struct bucket *
bucket_for(struct fs_push_http *h, const char *name)
{
	struct bucket *b;

	for (int i = 0; i < h->nb; i++)
		if (strcmp(h->b[i].name, name) == 0)
			return &h->b[i];
	h->b = fs_xrealloc(h->b, (size_t)(h->nb + 1) * sizeof *h->b);
	b = &h->b[h->nb++];
	memset(b, 0, sizeof *b);
	b->name = fs_xstrdup(name);
	b->cap = b->n = h->rate.n < RING_MAX ? h->rate.n : RING_MAX;
	b->window_ms = h->rate.window_ms;
	b->margin_ms = b->window_ms / 50 > 50 ? b->window_ms / 50 : 50;
	b->ring = fs_xmalloc((size_t)b->cap * sizeof *b->ring);
	return b;
}

/* Milliseconds until the bucket has a token; 0 when it has one now. */
static int64_t
bucket_wait(struct bucket *b, int64_t now)
{
	int64_t wait = 0;

	if (b->paused_until > now)
		wait = b->paused_until - now;
	if (b->count >= b->n) {
		int64_t back = b->ring[(b->head - b->n + b->cap) % b->cap] + b->window_ms + b->margin_ms - now;

		if (back > wait)
			wait = back;
	}
	return wait;
}

static void
bucket_take(struct bucket *b, int64_t now)
{
	b->ring[b->head] = now;
	b->head = (b->head + 1) % b->cap;
	if (b->count < b->cap)
		b->count++;
}

/* The queue of jobs waiting for a token: short (a few times --parallel). */
static void
ready_push(struct fs_push_http *h, struct fs_push_job *j, bool front)
{
	if (h->len == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->ready = fs_xrealloc(h->ready, h->cap * sizeof *h->ready);
	}
	if (front) {
		memmove(h->ready + 1, h->ready, h->len * sizeof *h->ready);
		h->ready[0] = j;
	} else {
		h->ready[h->len] = j;
	}
	h->len++;
}

static struct fs_push_job *
ready_pop(struct fs_push_http *h)
{
	struct fs_push_job *j = h->ready[0];

	memmove(h->ready, h->ready + 1, --h->len * sizeof *h->ready);
	return j;
}

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct fs_push_job *j = ctx;

	/* Keep at most 64 KiB of an answer: enough for any error body. */
	if (j->resp.len < 65536)
		fs_buf_add(&j->resp, p, size * n);
	return size * n;
}

static bool
header_is(const char *p, size_t n, const char *name)
{
	size_t k = strlen(name);

	return n > k && strncasecmp(p, name, k) == 0 && p[k] == ':';
}

static double
header_number(const char *p, size_t n, size_t skip)
{
	char buf[64];
	size_t k = n - skip < sizeof buf - 1 ? n - skip : sizeof buf - 1;
	char *end;
	double v;

	memcpy(buf, p + skip, k);
	buf[k] = '\0';
	v = strtod(fs_trim(buf), &end);
	return end == fs_trim(buf) ? -1 : v;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct fs_push_job *j = ctx;
	size_t len = size * n;

	if (header_is(p, len, "Retry-After")) {
		double v = header_number(p, len, 12);

		if (v >= 0)
			j->retry_after = v;
		else {
			/* An HTTP date. */
			char buf[64];
			struct tm tm = {0};
			size_t k = len - 12 < sizeof buf - 1 ? len - 12 : sizeof buf - 1;

			memcpy(buf, p + 12, k);
			buf[k] = '\0';
			if (strptime(fs_trim(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL) {
				double d = difftime(timegm(&tm), time(NULL));

				j->retry_after = d > 0 ? d : 0;
			}
		}
	} else if (header_is(p, len, "X-Rate-Limit-Reset")) {
		double v = header_number(p, len, 19);

		/* Epoch seconds when the window ends. */
		if (v > 0)
			j->rate_reset = v - (double)time(NULL);
	}
	return len;
}

static int
start(struct fs_push_http *h, struct fs_push_job *j)
{
	CURL *e = curl_easy_init();

	if (e == NULL)
		return -1;
	j->http_status = 0;
	j->curl_code = 0;
	j->errbuf[0] = '\0';
	j->resp.len = 0;
	j->retry_after = -1;
	j->rate_reset = -1;
	j->started_ms = fs_push_mono_ms();
	if (j->headers_all)
		curl_slist_free_all(j->headers_all);
	j->headers_all = NULL;
	for (struct curl_slist *s = j->headers; s; s = s->next)
		j->headers_all = curl_slist_append(j->headers_all, s->data);
	if (h->bearer)
		j->headers_all = curl_slist_append(j->headers_all, h->bearer);
	j->headers_all = curl_slist_append(j->headers_all, "Expect:");
	j->headers_all = curl_slist_append(j->headers_all, "Accept: application/json");
	if (j->body)
		j->headers_all = curl_slist_append(j->headers_all, "Content-Type: application/json");
	curl_easy_setopt(e, CURLOPT_URL, j->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers_all);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms < 10000 ? h->timeout_ms : 10000L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "fieldsync/" FS_VERSION);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (h->user) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, h->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, "");
	}
	if (j->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
	}
	if (j->method && strcmp(j->method, j->body ? "POST" : "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->method);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		return -1;
	}
	h->running++;
	h->stats.requests++;
	return 0;
}

static void
finish(struct fs_push_http *h, CURL *e, CURLcode code, struct fs_push_job **out)
{
	struct fs_push_job *j = NULL;
	long status = 0;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(h->multi, e);
	curl_easy_cleanup(e);
	h->running--;
	j->curl_code = (int)code;
	j->http_status = code == CURLE_OK ? status : 0;
	if (code != CURLE_OK && j->errbuf[0] == '\0')
		snprintf(j->errbuf, sizeof j->errbuf, "%s", curl_easy_strerror(code));
	j->elapsed_ms = fs_push_mono_ms() - j->started_ms;
	fs_buf_addc(&j->resp, '\0');
	j->resp.len--;
	*out = j;
}

/* A 429: stop the endpoint's bucket until the vendor's window ends. */
static void
slow_down(struct fs_push_http *h, struct fs_push_job *j)
{
	struct bucket *b = bucket_for(h, j->bucket ? j->bucket : "");
	double secs = j->retry_after >= 0 ? j->retry_after : j->rate_reset >= 0 ? j->rate_reset : 1;
	int64_t until;

	if (secs > 3600)
		secs = 3600;
	until = fs_push_mono_ms() + (int64_t)(secs * 1000) + b->margin_ms;
	if (until > b->paused_until)
		b->paused_until = until;
	if (b->n > 1)
		b->n -= b->n / 20 > 0 ? b->n / 20 : 1;
	h->stats.throttled++;
}

int
fs_push_http_run(struct fs_push_http *h, const struct fs_push_http_ops *ops, void *ctx)
{
	bool exhausted = false;

	for (;;) {
		int64_t wait_ms = 1000, now = fs_push_mono_ms();
		int still = 0, completed = 0;
		CURLMsg *msg;

		while (h->running < h->parallel) {
			struct fs_push_job *j;
			struct bucket *b;
			int64_t w;

			if (h->len == 0 && !exhausted) {
				if ((j = ops->next(ctx)) == NULL) {
					exhausted = true;
					break;
				}
				ready_push(h, j, false);
			}
			if (h->len == 0)
				break;
			j = h->ready[0];
			b = bucket_for(h, j->bucket ? j->bucket : "");
			if ((w = bucket_wait(b, now)) > 0) {
				if (w < wait_ms)
					wait_ms = w;
				break;
			}
			ready_pop(h);
			bucket_take(b, now);
			if (start(h, j) != 0) {
				fs_err("cannot start a request to '%s'", j->url);
				return -1;
			}
		}
		if (h->running == 0 && h->len == 0 && exhausted)
			break;
		if (h->running > 0 && curl_multi_perform(h->multi, &still) != CURLM_OK) {
			fs_err("libcurl: multi perform failed");
			return -1;
		}
		while ((msg = curl_multi_info_read(h->multi, &still)) != NULL) {
			struct fs_push_job *j;
			int rc;

			if (msg->msg != CURLMSG_DONE)
				continue;
			finish(h, msg->easy_handle, msg->data.result, &j);
			if (j->http_status == 429)
				slow_down(h, j);
			rc = ops->done(j, ctx);
			completed++;
			if (rc < 0)
				return -1;
			if (rc > 0) {
				/* Sent again as soon as a token allows: first in line, to keep the order. */
				ready_push(h, j, j->http_status == 429);
				exhausted = false;
			}
		}
		if (completed > 0 && ops->flush && ops->flush(ctx) != 0)
			return -1;
		if (h->running == 0 && h->len == 0 && !exhausted)
			continue;
		if (h->running == 0 && h->len == 0 && exhausted)
			break;
		if (curl_multi_poll(h->multi, NULL, 0, (int)(wait_ms > 0 ? wait_ms : 1), NULL) != CURLM_OK) {
			fs_err("libcurl: multi poll failed");
			return -1;
		}
	}
	return 0;
}

void
fs_push_job_clear(struct fs_push_job *j)
{
	free(j->url);
	free(j->body);
	curl_slist_free_all(j->headers);
	curl_slist_free_all(j->headers_all);
	fs_buf_free(&j->resp);
	j->url = j->body = NULL;
	j->headers = j->headers_all = NULL;
}

void
fs_push_job_header(struct fs_push_job *j, const char *line)
{
	j->headers = curl_slist_append(j->headers, line);
}

char *
fs_push_urlencode(const char *s)
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
