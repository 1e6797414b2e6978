/*
 * Jobber's webhook signature (setting signature = jobber):
 * X-Jobber-Hmac-SHA256, the base64 HMAC-SHA256 of the raw body keyed with
 * the app's OAuth client secret.  Jobber signs no timestamp, so a replayed
 * delivery is stopped by its delivery id (the inbox keeps each once), not
 * by a time window.  Apart from jobber.c because fs-hook links it: fs-hook,
 * started once per request, loads no connector's pull code (nor libcurl).
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

static bool
jobber_verify(const struct fs_hook_req *r, const char *secret, const char *sig, const char *stamp, const char *id)
{
	(void)stamp;
	(void)id;
	return fs_hmac_base64_matches(secret, r->body, r->len, sig);
}

/* The event inside {"data":{"webHookEvent":{...}}} (body borrowed); invalid when it is not one. */
static jv
webhook_event(jv body)
{
	jv data = fs_jget(body, "data"), ev = fs_jget(data, "webHookEvent");

	jv_free(data);
	if (jv_get_kind(ev) == JV_KIND_OBJECT && fs_jstr(ev, "topic") && fs_jstr(ev, "itemId"))
		return ev;
	jv_free(ev);
	return jv_invalid();
}

static bool
jobber_shaped(jv body)
{
	jv ev = webhook_event(body);
	bool shaped = jv_is_valid(ev);

	jv_free(ev);
	return shaped;
}

/* "TOPIC:itemId:occurredAt": Jobber sends a retry of one event alike
 * (older accounts spell the time occuredAt). */
static char *
jobber_delivery_id(const struct fs_hook_req *r)
{
	jv body = jv_parse_sized(r->body, (int)r->len), ev = webhook_event(body);
	const char *at;
	char *id = NULL;

	if (jv_is_valid(ev)) {
		at = fs_jstr(ev, "occurredAt") ? fs_jstr(ev, "occurredAt") : fs_jstr(ev, "occuredAt");
		id = fs_xasprintf("%s:%s:%s", fs_jstr(ev, "topic"), fs_jstr(ev, "itemId"), at ? at : "-");
	}
	jv_free(ev);
	jv_free(body);
	return id;
}

const struct fs_signature fs_jobber_signature = {
	.name = "jobber",
	.header = "X-Jobber-Hmac-SHA256",
	.opens = '{',
	.wrong_shape = "a Jobber webhook must be a JSON object",
	.verify = jobber_verify,
	.shaped = jobber_shaped,
	.delivery_id = jobber_delivery_id,
};
