/*
 * ServiceTitan's webhook signature (setting signature = servicetitan): V2
 * webhooks may carry an HMAC of the payload made with the app's HMAC key
 * (32 to 64 characters, from the developer portal).  ServiceTitan does not
 * publish the header's name, the hash or the encoding: the header is
 * X-ServiceTitan-Signature (what integrators use) unless the source names
 * another (signature = servicetitan:HEADER), the hash HMAC-SHA256 of the raw body, and the value
 * is taken in base64 or in hex, with or without a "sha256=" prefix.  No
 * timestamp is signed: a replayed delivery is stopped by its delivery id
 * (the body's SHA-256: the inbox keeps each once).  Apart from
 * servicetitan.c because fs-hook links it without the connectors.
 */
#include <ctype.h>
#include <string.h>

#include "vendors.h"	/* FS_ST_SIGNATURE_HEADER (a macro) */

static bool
hex_matches(const char *secret, const void *body, size_t len, const char *got)
{
	static const char digits[] = "0123456789abcdef";
	struct fs_hmac_sha256 m;
	unsigned char mac[32];
	char want[65], low[65];
	size_t n = strlen(got);
	bool same;

	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)got[i]);
	low[n] = '\0';
	fs_hmac_sha256_init(&m, secret, strlen(secret));
	fs_hmac_sha256_update(&m, body, len);
	fs_hmac_sha256_final(&m, mac);
	for (int i = 0; i < 32; i++) {
		want[2 * i] = digits[mac[i] >> 4];
		want[2 * i + 1] = digits[mac[i] & 15];
	}
	want[64] = '\0';
	same = fs_same_secret(low, want, 64);
	fs_secure_zero(mac, sizeof mac);
	fs_secure_zero(want, sizeof want);
	return same;
}

static bool
st_verify(const struct fs_hook_req *r, const char *secret, const char *sig, const char *stamp, const char *id)
{
	(void)stamp;
	(void)id;
	if (secret == NULL || sig == NULL)
		return false;
	if (strncmp(sig, "sha256=", 7) == 0)
		sig += 7;
	return fs_hmac_base64_matches(secret, r->body, r->len, sig) || hex_matches(secret, r->body, r->len, sig);
}

/* ServiceTitan's event catalogue is not public: any JSON object is one. */
static bool
st_shaped(jv body)
{
	return jv_get_kind(body) == JV_KIND_OBJECT;
}

/* No delivery id is published either: the body's SHA-256 is the id (fs_hook_delivery_id). */
static char *
st_delivery_id(const struct fs_hook_req *r)
{
	(void)r;
	return NULL;
}

const struct fs_signature fs_servicetitan_signature = {
	.name = "servicetitan",
	.header = FS_ST_SIGNATURE_HEADER,
	.header_named = true,
	.opens = '{',
	.wrong_shape = "a ServiceTitan webhook must be a JSON object",
	.verify = st_verify,
	.shaped = st_shaped,
	.delivery_id = st_delivery_id,
};
