/*
 * Lob's webhook signature (setting signature = lob): Lob-Signature, the
 * HMAC-SHA256 of "timestamp.body" in hex, with Lob-Signature-Timestamp.
 * Apart from lob.c because fs-hook links it: fs-hook, started once per
 * request, loads no connector's pull code (nor libcurl).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

/* Lob-Signature: HMAC-SHA256 of "timestamp.body" in hex, either case. */
static bool
lob_verify(const struct fs_hook_req *r, const char *secret, const char *sig, const char *stamp, const char *id)
{
	const char *parts[] = {stamp, ".", r->body};
	size_t lens[] = {strlen(stamp), 1, r->len};
	unsigned char mac[32];
	char want[65], got[65];
	size_t i;

	(void)id;
	fs_hmac_sha256_parts(secret, strlen(secret), parts, lens, 3, mac);
	for (i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", mac[i]);
	for (i = 0; sig[i] && i < 64; i++)
		got[i] = (char)tolower((unsigned char)sig[i]);
	got[i] = '\0';
	return sig[i] == '\0' && fs_same_text(got, want);
}

/* {"id":"evt_...","event_type":{"id":"postcard.delivered",...},...} */
static bool
lob_shaped(jv body)
{
	jv type = jv_invalid();
	bool shaped = jv_get_kind(body) == JV_KIND_OBJECT && jv_is_valid(type = fs_jget(body, "event_type")) &&
		      fs_jstr(body, "id") != NULL;

	jv_free(type);
	return shaped;
}

/* The event's id: Lob sends a retry with the same one. */
static char *
lob_delivery_id(const struct fs_hook_req *r)
{
	jv body = jv_parse_sized(r->body, (int)r->len);
	char *id = jv_get_kind(body) == JV_KIND_OBJECT ? fs_json_id_text(fs_jget(body, "id")) : NULL;

	jv_free(body);
	return id;
}

const struct fs_signature fs_lob_signature = {
	.name = "lob",
	.header = "Lob-Signature",
	.stamp_header = "Lob-Signature-Timestamp",
	.opens = '{',
	.wrong_shape = "a Lob event must be a JSON object",
	.verify = lob_verify,
	.shaped = lob_shaped,
	.delivery_id = lob_delivery_id,
};

