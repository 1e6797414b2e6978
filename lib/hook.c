/*
 * Webhook signatures: Lob, HubSpot v3 and Standard Webhooks, the body's
 * shape and the delivery id that makes a repeat delivery harmless.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

static const char *const scheme_names[] = {"lob", "hubspot-v3", "standard-webhooks"};

int
fs_sig_scheme_parse(const char *name, enum fs_sig_scheme *out)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, scheme_names[i]) == 0) {
			*out = (enum fs_sig_scheme)i;
			return 0;
		}
	return -1;
}

const char *
fs_sig_scheme_name(enum fs_sig_scheme s)
{
	return scheme_names[s];
}

/* HMAC-SHA256 of the concatenation of parts; out holds 32 bytes. */
static void
hmac_parts(const void *key, size_t keylen, const char *const *parts, const size_t *lens, int n,
	   unsigned char out[32])
{
	struct fs_hmac_sha256 m;

	fs_hmac_sha256_init(&m, key, keylen);
	for (int i = 0; i < n; i++)
		fs_hmac_sha256_update(&m, parts[i], lens[i]);
	fs_hmac_sha256_final(&m, out);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding; out holds 4 * ((n + 2) / 3) + 1 bytes. */
static void
b64(const unsigned char *p, size_t n, char *out)
{
	for (; n >= 3; p += 3, n -= 3) {
		*out++ = b64chars[p[0] >> 2];
		*out++ = b64chars[(p[0] & 3) << 4 | p[1] >> 4];
		*out++ = b64chars[(p[1] & 15) << 2 | p[2] >> 6];
		*out++ = b64chars[p[2] & 63];
	}
	if (n > 0) {
		*out++ = b64chars[p[0] >> 2];
		*out++ = b64chars[(p[0] & 3) << 4 | (n > 1 ? p[1] >> 4 : 0)];
		*out++ = n > 1 ? b64chars[(p[1] & 15) << 2] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* Decodes strict base64 (length a multiple of 4, at most two '=' at the
 * end); the number of bytes, or -1. */
static int
unb64(const char *s, size_t n, unsigned char *out)
{
	size_t pad = 0;
	int len = 0;

	if (n % 4 != 0)
		return -1;
	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;

		for (size_t j = 0; j < 4; j++) {
			const char *c = s[i + j] ? strchr(b64chars, s[i + j]) : NULL;

			if (i + j >= n - pad)
				c = b64chars;	/* padding counts as zero bits */
			else if (c == NULL)
				return -1;
			v = v << 6 | (uint32_t)(c - b64chars);
		}
		out[len++] = (unsigned char)(v >> 16);
		if (i + 4 < n || pad < 2)
			out[len++] = (unsigned char)(v >> 8);
		if (i + 4 < n || pad < 1)
			out[len++] = (unsigned char)v;
	}
	return len;
}

/* Equal in constant time for strings of the same length. */
static bool
same(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && fs_same_secret(a, b, n);
}

/* A timestamp header in seconds or milliseconds (13 digits and more). */
static int
parse_stamp(const char *s, fs_time *out)
{
	char *end;
	long long v;

	if (s == NULL || !isdigit((unsigned char)*s) || strlen(s) > 16)
		return -1;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -1;
	*out = v >= 100000000000LL ? v / 1000 : v;
	return 0;
}

/* Standard Webhooks: "whsec_" and base64, else the secret's own bytes. */
static unsigned char *
std_key(const char *secret, size_t *len)
{
	unsigned char *key;
	size_t n;
	int got;

	if (strncmp(secret, "whsec_", 6) != 0) {
		*len = strlen(secret);
		return (unsigned char *)fs_xstrdup(secret);
	}
	secret += 6;
	n = strlen(secret);
	key = fs_xmalloc(n / 4 * 3 + 4);
	if ((got = unb64(secret, n, key)) < 0) {
		fs_secure_zero(key, n / 4 * 3 + 4);
		free(key);
		return NULL;
	}
	*len = (size_t)got;
	return key;
}

static bool
check_std(const struct fs_hook_req *r, const char *secret, const char *id, const char *stamp,
	  const char *sigs)
{
	size_t keylen;
	unsigned char *key = std_key(secret, &keylen), mac[32];
	const char *parts[] = {id, ".", stamp, ".", r->body};
	size_t lens[] = {strlen(id), 1, strlen(stamp), 1, r->len};
	char want[64], *copy, *save = NULL;
	bool ok = false;

	if (key == NULL)
		return false;
	hmac_parts(key, keylen, parts, lens, 5, mac);
	fs_secure_zero(key, keylen);
	free(key);
	b64(mac, 32, want);
	copy = fs_xstrdup(sigs);
	/* "v1,<base64> v1,<base64>": any one of them may match (key rotation). */
	for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (strncmp(tok, "v1,", 3) == 0 && same(tok + 3, want))
			ok = true;
	free(copy);
	return ok;
}

static const char *const sig_hdr[] = {"Lob-Signature", "X-HubSpot-Signature-v3", "webhook-signature"};
static const char *const ts_hdr[] = {"Lob-Signature-Timestamp", "X-HubSpot-Request-Timestamp", "webhook-timestamp"};

const char *
fs_sig_header(enum fs_sig_scheme s)
{
	return sig_hdr[s];
}

bool
fs_hook_signed(enum fs_sig_scheme s, const struct fs_hook_req *r)
{
	/* HubSpot's older schemes too: an app still on v1 or v2 signs, and
	 * its requests are failures to see, not probes to count. */
	static const char *const more[][3] = {
		{NULL}, {"X-HubSpot-Signature", "X-HubSpot-Signature-Version", NULL}, {"webhook-id", NULL},
	};

	if (r->header(sig_hdr[s], r->ctx) || r->header(ts_hdr[s], r->ctx))
		return true;
	for (int i = 0; more[s][i]; i++)
		if (r->header(more[s][i], r->ctx))
			return true;
	return false;
}

bool
fs_hook_vendor_shaped(enum fs_sig_scheme s, const char *body, size_t len)
{
	jv v, first = jv_invalid();
	bool shaped = false;

	if (fs_json_check(body, len, NULL) != NULL)
		return false;
	v = jv_parse_sized(body, (int)len);
	switch (s) {
	case FS_SIG_LOB:	/* {"id":"evt_...","event_type":{"id":"postcard.delivered",...},...} */
		shaped = jv_get_kind(v) == JV_KIND_OBJECT && jv_is_valid(first = fs_jget(v, "event_type")) &&
			 fs_jstr(v, "id") != NULL;
		break;
	case FS_SIG_HUBSPOT:	/* [{"eventId":1,"subscriptionType":"contact.propertyChange",...}] */
		if (jv_get_kind(v) == JV_KIND_ARRAY && jv_array_length(jv_copy(v)) > 0)
			first = jv_array_get(jv_copy(v), 0);
		shaped = jv_get_kind(first) == JV_KIND_OBJECT && fs_jstr(first, "subscriptionType") != NULL;
		break;
	case FS_SIG_STANDARD:	/* {"type":"job.completed","timestamp":"...","data":{...}} */
		shaped = jv_get_kind(v) == JV_KIND_OBJECT && fs_jstr(v, "type") != NULL;
		break;
	}
	jv_free(first);
	jv_free(v);
	return shaped;
}

int
fs_hook_verify(enum fs_sig_scheme s, const struct fs_hook_req *r, const char *secret, fs_time now,
	       const char **why)
{
	static char reason[96];
	const char *sig = r->header(sig_hdr[s], r->ctx), *stamp = r->header(ts_hdr[s], r->ctx);
	const char *id = s == FS_SIG_STANDARD ? r->header("webhook-id", r->ctx) : "-";
	unsigned char mac[32];
	char want[65];
	bool ok;
	fs_time t;

	if (sig == NULL || *sig == '\0' || stamp == NULL || *stamp == '\0' || id == NULL || *id == '\0') {
		snprintf(reason, sizeof reason, "missing %s header",
			 sig == NULL || *sig == '\0' ? sig_hdr[s] : id == NULL || *id == '\0' ? "webhook-id" : ts_hdr[s]);
		*why = reason;
		return -1;
	}
	if (s == FS_SIG_LOB) {
		const char *parts[] = {stamp, ".", r->body};
		size_t lens[] = {strlen(stamp), 1, r->len};
		char got[65];
		size_t i;

		hmac_parts(secret, strlen(secret), parts, lens, 3, mac);
		for (i = 0; i < 32; i++)
			snprintf(want + 2 * i, 3, "%02x", mac[i]);
		for (i = 0; sig[i] && i < 64; i++)
			got[i] = (char)tolower((unsigned char)sig[i]);
		got[i] = '\0';
		ok = sig[i] == '\0' && same(got, want);
	} else if (s == FS_SIG_HUBSPOT) {
		const char *parts[] = {r->method, r->uri, r->body, stamp};
		size_t lens[] = {strlen(r->method), strlen(r->uri), r->len, strlen(stamp)};

		hmac_parts(secret, strlen(secret), parts, lens, 4, mac);
		b64(mac, 32, want);
		ok = same(sig, want);
	} else {
		ok = check_std(r, secret, id, stamp, sig);
	}
	if (!ok) {
		*why = "bad signature";
		return -1;
	}
	if (parse_stamp(stamp, &t) != 0) {
		*why = "malformed timestamp";
		return -1;
	}
	if (t < now - FS_HOOK_WINDOW || t > now + FS_HOOK_WINDOW) {
		*why = "stale timestamp";
		return -1;
	}
	return 0;
}

int
fs_hook_content_length(const char *s, size_t cap, size_t *out)
{
	size_t v = 0;

	*out = 0;
	if (s == NULL || *s == '\0' || strspn(s, "0123456789") != strlen(s))
		return -1;
	for (; *s; s++) {
		if (v > (SIZE_MAX - (size_t)(*s - '0')) / 10) {
			*out = SIZE_MAX;
			return 1;
		}
		v = v * 10 + (size_t)(*s - '0');
	}
	*out = v;
	return v > cap ? 1 : 0;
}

const char *
fs_hook_check_body(enum fs_sig_scheme s, const char *body, size_t len)
{
	static char reason[64];
	const char *bad;
	size_t pos = 0, i = 0;

	if ((bad = fs_json_check(body, len, &pos)) != NULL) {
		snprintf(reason, sizeof reason, "%s at byte %zu", bad, pos + 1);
		return reason;
	}
	while (i < len && strchr(" \t\r\n", body[i]))
		i++;
	if (s == FS_SIG_LOB && body[i] != '{')
		return "a Lob event must be a JSON object";
	if (s == FS_SIG_HUBSPOT && body[i] != '[')
		return "a HubSpot delivery must be a JSON array of events";
	return NULL;
}

/* A number or string id as text; NULL otherwise. */
static char *
id_text(jv v)
{
	char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0)
		s = fs_xstrdup(jv_string_value(v));
	else if (jv_get_kind(v) == JV_KIND_NUMBER)
		s = fs_xasprintf("%.17g", jv_number_value(v));
	jv_free(v);
	return s;
}

char *
fs_hook_delivery_id(enum fs_sig_scheme s, const struct fs_hook_req *r)
{
	char hex[65], *id = NULL;

	if (s == FS_SIG_STANDARD) {
		const char *h = r->header("webhook-id", r->ctx);

		if (h && *h)
			return fs_xstrdup(h);
	} else {
		jv body = jv_parse_sized(r->body, (int)r->len);

		if (s == FS_SIG_LOB && jv_get_kind(body) == JV_KIND_OBJECT) {
			id = id_text(jv_object_get(jv_copy(body), jv_string("id")));
		} else if (s == FS_SIG_HUBSPOT && jv_get_kind(body) == JV_KIND_ARRAY && jv_array_length(jv_copy(body)) > 0) {
			struct fs_buf b = {0};

			/* eventIds, not the body: a retry carries a new attemptNumber. */
			jv_array_foreach(body, i, ev) {
				char *one = jv_get_kind(ev) == JV_KIND_OBJECT ? id_text(fs_jget(ev, "eventId")) : NULL;

				jv_free(ev);
				if (one == NULL) {
					fs_buf_free(&b);
					break;
				}
				fs_buf_addf(&b, "%s%s", i ? "," : "", one);
				free(one);
			}
			if (b.data && b.len <= 120) {
				id = fs_xasprintf("events:%s", b.data);
			} else if (b.data) {
				fs_sha256_hex(b.data, b.len, hex);
				id = fs_xasprintf("events-sha256:%s", hex);
			}
			fs_buf_free(&b);
		}
		jv_free(body);
		if (id)
			return id;
	}
	fs_sha256_hex(r->body, r->len, hex);
	return fs_xasprintf("sha256:%s", hex);
}
