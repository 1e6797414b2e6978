/*
 * QuickBooks Online's webhook signature (setting signature = intuit):
 * intuit-signature, the base64 HMAC-SHA256 of the raw body keyed with the
 * app's verifier token (not its client secret).  Intuit signs no
 * timestamp: a replayed delivery is stopped by its delivery id.  Both
 * payloads Intuit sends are taken: the classic {"eventNotifications":[...]}
 * and the CloudEvents array it is moving to.  Apart from quickbooks.c
 * because fs-hook links it without the connectors' pull code (nor libcurl).
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

static bool
intuit_verify(const struct fs_hook_req *r, const char *secret, const char *sig, const char *stamp, const char *id)
{
	(void)stamp;
	(void)id;
	return fs_hmac_base64_matches(secret, r->body, r->len, sig);
}

/* A CloudEvent of Intuit's (ev borrowed): {"specversion":...,"id":...,"type":"qbo.ENTITY.VERB.v1",...} */
static bool
cloud_event(jv ev)
{
	return jv_get_kind(ev) == JV_KIND_OBJECT && fs_jstr(ev, "specversion") && fs_jstr(ev, "id") &&
	       fs_jstr(ev, "type");
}

static bool
intuit_shaped(jv body)
{
	bool shaped = false;

	if (jv_get_kind(body) == JV_KIND_OBJECT) {
		jv list = fs_jget(body, "eventNotifications");

		shaped = jv_get_kind(list) == JV_KIND_ARRAY;
		jv_free(list);
	} else if (jv_get_kind(body) == JV_KIND_ARRAY && jv_array_length(jv_copy(body)) > 0) {
		shaped = true;
		jv_array_foreach(body, i, ev) {
			(void)i;
			shaped = shaped && cloud_event(ev);
			jv_free(ev);
		}
	}
	return shaped;
}

/* CloudEvents: "cloudevents:" and their ids (a retry carries the same).
 * The classic payload has no id: the body's hash stands for it. */
static char *
intuit_delivery_id(const struct fs_hook_req *r)
{
	jv body = jv_parse_sized(r->body, (int)r->len);
	struct fs_buf b = {0};
	char hex[65], *id = NULL;

	if (jv_get_kind(body) == JV_KIND_ARRAY) {
		jv_array_foreach(body, i, ev) {
			if (cloud_event(ev))
				fs_buf_addf(&b, "%s%s", i ? "," : "", fs_jstr(ev, "id"));
			jv_free(ev);
		}
	}
	if (b.data) {
		fs_sha256_hex(b.data, b.len, hex);
		id = b.len <= 120 ? fs_xasprintf("cloudevents:%s", b.data) : fs_xasprintf("cloudevents-sha256:%s", hex);
	}
	fs_buf_free(&b);
	jv_free(body);
	return id;
}

const struct fs_signature fs_intuit_signature = {
	.name = "intuit",
	.header = "intuit-signature",
	.verify = intuit_verify,
	.shaped = intuit_shaped,
	.delivery_id = intuit_delivery_id,
};
