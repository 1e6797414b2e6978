/*
 * Webhook signatures: what every scheme shares (the headers a delivery
 * must carry, the timestamp window, the body's JSON, the delivery id that
 * makes a repeat delivery harmless) and Standard Webhooks, which any vendor
 * may use.  A vendor's own scheme is its connector's (lib/vendors/).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

/*
 * The schemes, a vendor's beside its connector (lib/vendors/NAME-signature.c).
 * Listed here, not reached through lib/vendors.c: fs-hook, started once per
 * request, links the schemes alone, without the connectors' pull code.
 */
static const struct fs_signature *const schemes[] = {
	&fs_lob_signature,
	&fs_hubspot_signature,
	&fs_jobber_signature,
	&fs_intuit_signature,
	&fs_servicetitan_signature,
	&fs_standard_webhooks,
	NULL,
};

/* A header's name as HTTP spells one: letters, digits and '-'. */
static bool
header_name_ok(const char *h)
{
	if (*h == '\0' || strlen(h) > 64)
		return false;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && *h != '-')
			return false;
	return true;
}

/*
 * A scheme whose vendor does not publish its header (header_named) is
 * given as NAME:HEADER too.  The copy that carries HEADER is made once per
 * spelling and kept for the process, as the static schemes are: the
 * setting's value alone says what to verify, so fs-hook and fs-health read
 * it the same way.
 */
const struct fs_signature *
fs_signature_find(const char *spec)
{
	static struct named {
		struct named *next;
		char *spec;
		struct fs_signature s;
	} *named;
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	const struct fs_signature *base = NULL;
	struct named *m;

	for (int i = 0; schemes[i] && base == NULL; i++)
		if (strlen(schemes[i]->name) == n && strncmp(schemes[i]->name, spec, n) == 0)
			base = schemes[i];
	if (base == NULL || colon == NULL)
		return base;
	if (!base->header_named || !header_name_ok(colon + 1))
		return NULL;
	for (m = named; m; m = m->next)
		if (strcmp(m->spec, spec) == 0)
			return &m->s;
	m = fs_xmalloc(sizeof *m);
	*m = (struct named){.next = named, .spec = fs_xstrdup(spec), .s = *base};
	m->s.header = m->spec + n + 1;
	named = m;
	return &m->s;
}

void
fs_hmac_sha256_parts(const void *key, size_t keylen, const char *const *parts, const size_t *lens, int n,
		     unsigned char out[32])
{
	struct fs_hmac_sha256 m;

	fs_hmac_sha256_init(&m, key, keylen);
	for (int i = 0; i < n; i++)
		fs_hmac_sha256_update(&m, parts[i], lens[i]);
	fs_hmac_sha256_final(&m, out);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
fs_base64(const unsigned char *p, size_t n, char *out)
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

bool
fs_same_text(const char *a, const char *b)
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

/* ---- Standard Webhooks ---- */

/* "whsec_" and base64, else the secret's own bytes. */
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
std_verify(const struct fs_hook_req *r, const char *secret, const char *sigs, const char *stamp, const char *id)
{
	size_t keylen;
	unsigned char *key = std_key(secret, &keylen), mac[32];
	const char *parts[] = {id, ".", stamp, ".", r->body};
	size_t lens[] = {strlen(id), 1, strlen(stamp), 1, r->len};
	char want[64], *copy, *save = NULL;
	bool ok = false;

	if (key == NULL)
		return false;
	fs_hmac_sha256_parts(key, keylen, parts, lens, 5, mac);
	fs_secure_zero(key, keylen);
	free(key);
	fs_base64(mac, 32, want);
	copy = fs_xstrdup(sigs);
	/* "v1,<base64> v1,<base64>": any one of them may match (key rotation). */
	for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (strncmp(tok, "v1,", 3) == 0 && fs_same_text(tok + 3, want))
			ok = true;
	free(copy);
	return ok;
}

/* {"type":"job.completed","timestamp":"...","data":{...}} */
static bool
std_shaped(jv body)
{
	return jv_get_kind(body) == JV_KIND_OBJECT && fs_jstr(body, "type") != NULL;
}

static char *
std_delivery_id(const struct fs_hook_req *r)
{
	const char *h = r->header("webhook-id", r->ctx);

	return h && *h ? fs_xstrdup(h) : NULL;
}

const struct fs_signature fs_standard_webhooks = {
	.name = "standard-webhooks",
	.header = "webhook-signature",
	.stamp_header = "webhook-timestamp",
	.id_header = "webhook-id",
	.verify = std_verify,
	.shaped = std_shaped,
	.delivery_id = std_delivery_id,
};

/* ---- what every scheme shares ---- */

bool
fs_hook_signed(const struct fs_signature *s, const struct fs_hook_req *r)
{
	if (r->header(s->header, r->ctx) || (s->stamp_header && r->header(s->stamp_header, r->ctx)))
		return true;
	if (s->id_header && r->header(s->id_header, r->ctx))
		return true;
	for (int i = 0; s->older[i]; i++)
		if (r->header(s->older[i], r->ctx))
			return true;
	return false;
}

bool
fs_hook_vendor_shaped(const struct fs_signature *s, const char *body, size_t len)
{
	jv v;
	bool shaped;

	if (fs_json_check(body, len, NULL) != NULL)
		return false;
	v = jv_parse_sized(body, (int)len);
	shaped = s->shaped(v);
	jv_free(v);
	return shaped;
}

static bool
blank(const char *s)
{
	return s == NULL || *s == '\0';
}

int
fs_hook_verify(const struct fs_signature *s, const struct fs_hook_req *r, const char *secret, fs_time now,
	       const char **why)
{
	static char reason[96];
	/* A scheme that signs no time (Jobber, Intuit) has no window: its
	 * replays are stopped by their delivery ids alone. */
	const char *sig = r->header(s->header, r->ctx);
	const char *stamp = s->stamp_header ? r->header(s->stamp_header, r->ctx) : "-";
	const char *id = s->id_header ? r->header(s->id_header, r->ctx) : "-";
	fs_time t;

	if (blank(sig) || blank(stamp) || blank(id)) {
		snprintf(reason, sizeof reason, "missing %s header",
			 blank(sig) ? s->header : blank(id) ? s->id_header : s->stamp_header);
		*why = reason;
		return -1;
	}
	if (!s->verify(r, secret, sig, stamp, id)) {
		*why = "bad signature";
		return -1;
	}
	if (s->stamp_header == NULL)
		return 0;
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
fs_hook_check_body(const struct fs_signature *s, const char *body, size_t len)
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
	if (s->opens && body[i] != s->opens)
		return s->wrong_shape;
	return NULL;
}

char *
fs_json_id_text(jv v)
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
fs_hook_delivery_id(const struct fs_signature *s, const struct fs_hook_req *r)
{
	char hex[65], *id = s->delivery_id(r);

	if (id)
		return id;
	fs_sha256_hex(r->body, r->len, hex);
	return fs_xasprintf("sha256:%s", hex);
}
