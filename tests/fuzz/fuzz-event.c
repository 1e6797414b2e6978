/*
 * The canonical event validator, fs_event_validate, on what libjq makes of
 * the input when fs_json_check accepts it (as the loop does: libjq 1.6 leaks
 * a string on some invalid texts, such as ["a" "b"], so it never sees them),
 * and the helpers it uses: fs_email_valid, fs_kind_known, fs_event_id.
 *
 * Properties: the verdict and the reasons are the same on a second call;
 * a refused event says why, an accepted one says nothing; an accepted event
 * has an RFC 3339 occurred_at and a known kind.
 */
#include "fieldsync.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct fs_buf why = {0}, again = {0};
	char id[40];
	jv v;
	int rc;

	fs_email_valid(s);
	fs_kind_known(s);
	if (size > 1 << 20 || fs_json_check(s, size, NULL) != NULL) {
		free(s);
		return 0;
	}
	v = jv_parse_sized(s, (int)size);
	if (!jv_is_valid(v)) {
		jv_free(v);
		free(s);
		return 0;
	}
	rc = fs_event_validate(v, &why);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	FUZZ_ASSERT((rc == 0) == (why.len == 0));
	FUZZ_ASSERT(fs_event_validate(v, &again) == rc);
	FUZZ_ASSERT(why.len == again.len && (why.len == 0 || memcmp(why.data, again.data, why.len) == 0));
	if (rc == 0) {
		FUZZ_ASSERT(fs_time_valid(fs_jstr(v, "occurred_at")));
		FUZZ_ASSERT(fs_kind_known(fs_jstr(v, "kind")));
		jv d = fs_jget(v, "data");

		fs_event_id(fs_jstr(v, "source"), fs_jstr(v, "object"), fs_jstr(v, "kind"),
			    fs_jstr(d, "updated_at"), id);
		jv_free(d);
		FUZZ_ASSERT(strlen(id) == 36 && memcmp(id, "evt_", 4) == 0);
	}
	fs_buf_free(&why);
	fs_buf_free(&again);
	jv_free(v);
	free(s);
	return 0;
}
