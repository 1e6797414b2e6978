/*
 * HubSpot write-back for fs-push: the property values it writes, and the
 * per-input failures of a batch update answered 207.
 */
#include <string.h>

#include "fieldsync.h"

const char *
fs_hubspot_mail_label(const char *status)
{
	static const char *const map[][2] = {
		{"queued", "Queued"}, {"sent", "Sent"}, {"delivered", "Delivered"},
		{"returned", "Returned"}, {"failed", "Failed"}, {"cancelled", "Cancelled"}, {NULL, NULL},
	};

	for (int i = 0; status && map[i][0]; i++)
		if (strcmp(status, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

jv
fs_hubspot_batch_failures(const char *resp)
{
	jv v = jv_parse(resp ? resp : ""), errors = fs_jget(v, "errors"), out = jv_object();

	if (jv_get_kind(errors) == JV_KIND_ARRAY) {
		jv_array_foreach(errors, i, e) {
			jv ctx = fs_jget(e, "context"), ids = fs_jget(ctx, "ids");
			const char *cat = fs_jstr(e, "category"), *msg = fs_jstr(e, "message");

			if (jv_get_kind(ids) == JV_KIND_ARRAY) {
				jv_array_foreach(ids, k, id) {
					jv why = jv_object();

					why = jv_object_set(why, jv_string("category"), jv_string(cat ? cat : ""));
					why = jv_object_set(why, jv_string("message"), jv_string(msg ? msg : ""));
					if (jv_get_kind(id) == JV_KIND_STRING)
						out = jv_object_set(out, id, why);
					else {
						jv_free(id);
						jv_free(why);
					}
					(void)k;
				}
			}
			(void)i;
			jv_free(ids);
			jv_free(ctx);
			jv_free(e);
		}
	}
	jv_free(errors);
	jv_free(v);
	return out;
}
