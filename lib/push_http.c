/*
 * fs-push's sender: many requests at once over libcurl's multi interface,
 * kept under the vendor's rate limit by a token bucket per endpoint.  The
 * `rate` and `retry` settings, the backoff the outbox schedules with and the
 * Retry-After / X-Rate-Limit-Reset headers are read by http.c, as fs-pull's.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct fs_rate_limit rate;
	struct bucket *b;
	int nb;
	char *user;		/* basic auth: API key as the user name */
	char *bearer;		/* "Authorization: Bearer ..." */
	struct fs_push_job **ready;	/* FIFO of jobs waiting for a token */
	size_t len, cap;
	struct fs_push_http_stats stats;
};

struct fs_push_http *
fs_push_http_new(int parallel, const struct fs_rate_limit *rate, long timeout_ms)
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
	fs_secret_free(h->user);
	h->user = fs_xstrdup(user);
}

void
fs_push_http_auth_bearer(struct fs_push_http *h, const char *token)
{
	fs_secret_free(h->bearer);
	h->bearer = fs_bearer_header(token);
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
	fs_secret_free(h->user);
	fs_secret_free(h->bearer);
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

static size_t
on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct fs_push_job *j = ctx;
	size_t len = size * n, vlen;
	const char *v;
	char buf[64];
	int64_t ms;

	if ((v = fs_http_header(p, len, "Retry-After", &vlen)) != NULL) {
		snprintf(buf, sizeof buf, "%.*s", (int)vlen, v);
		if ((ms = fs_retry_after_ms(buf)) >= 0)
			j->retry_after = (double)ms / 1000;
	} else if ((v = fs_http_header(p, len, "X-Rate-Limit-Reset", &vlen)) != NULL) {
		snprintf(buf, sizeof buf, "%.*s", (int)vlen, v);
		if ((ms = fs_rate_reset_ms(buf)) >= 0)
			j->rate_reset = (double)ms / 1000;
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
	j->started_ms = fs_mono_ms();
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
	fs_step("request");
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
	j->elapsed_ms = fs_mono_ms() - j->started_ms;
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
	until = fs_mono_ms() + (int64_t)(secs * 1000) + b->margin_ms;
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
		int64_t wait_ms = 1000, now = fs_mono_ms();
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
