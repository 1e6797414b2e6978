/*
 * HubSpot's webhook signature (setting signature = hubspot-v3):
 * X-HubSpot-Signature-v3 over method, URL, body and timestamp.  Apart from
 * hubspot.c because fs-hook links it: fs-hook, started once per request,
 * loads no connector's pull code (nor libcurl).
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

/* X-HubSpot-Signature-v3: HMAC-SHA256 of method, URL, body and timestamp, in base64. */
static bool
hubspot_verify(const struct fs_hook_req *r, const char *secret, const char *sig, const char *stamp, const char *id)
{
	const char *parts[] = {r->method, r->uri, r->body, stamp};
	size_t lens[] = {strlen(r->method), strlen(r->uri), r->len, strlen(stamp)};
	unsigned char mac[32];
	char want[65];

	(void)id;
	fs_hmac_sha256_parts(secret, strlen(secret), parts, lens, 4, mac);
	fs_base64(mac, 32, want);
	return fs_same_text(sig, want);
}

/* [{"eventId":1,"subscriptionType":"contact.propertyChange",...}] */
static bool
hubspot_shaped(jv body)
{
	jv first = jv_invalid();
	bool shaped;

	if (jv_get_kind(body) == JV_KIND_ARRAY && jv_array_length(jv_copy(body)) > 0)
		first = jv_array_get(jv_copy(body), 0);
	shaped = jv_get_kind(first) == JV_KIND_OBJECT && fs_jstr(first, "subscriptionType") != NULL;
	jv_free(first);
	return shaped;
}

/* "events:" and the eventIds, not the body: a retry carries a new attemptNumber. */
static char *
hubspot_delivery_id(const struct fs_hook_req *r)
{
	jv body = jv_parse_sized(r->body, (int)r->len);
	struct fs_buf b = {0};
	char hex[65], *id = NULL;

	if (jv_get_kind(body) != JV_KIND_ARRAY || jv_array_length(jv_copy(body)) == 0) {
		jv_free(body);
		return NULL;
	}
	jv_array_foreach(body, i, ev) {
		char *one = jv_get_kind(ev) == JV_KIND_OBJECT ? fs_json_id_text(fs_jget(ev, "eventId")) : NULL;

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
	jv_free(body);
	return id;
}

const struct fs_signature fs_hubspot_signature = {
	.name = "hubspot-v3",
	.header = "X-HubSpot-Signature-v3",
	.stamp_header = "X-HubSpot-Request-Timestamp",
	/* An app still on v1 or v2 signs: its requests are failures to see, not probes to count. */
	.older = {"X-HubSpot-Signature", "X-HubSpot-Signature-Version", NULL},
	.opens = '[',
	.wrong_shape = "a HubSpot delivery must be a JSON array of events",
	.verify = hubspot_verify,
	.shaped = hubspot_shaped,
	.delivery_id = hubspot_delivery_id,
};
