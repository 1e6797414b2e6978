/*
 * The do-not-mail list: contacts and addresses no piece may go to, whatever
 * triggers them.  fs-suppress keeps it by hand; an address the vendor
 * returned as undeliverable joins it by itself; fs-push checks it (with the
 * CRM's own do-not-mail flag) before any money is spent.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

int
fs_suppress_add(struct fs_state *st, const struct fs_suppression *s, const char *run_id)
{
	char now[21];
	int64_t n;
	jv detail;

	fs_time_format(fs_now(), now);
	n = fs_state_changes(st,
	    "INSERT INTO suppressions (kind, value, shown, reason, origin, added_at, run_id)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, value) DO NOTHING",
	    "sssssss", s->kind, s->value, s->shown, s->reason, s->origin, now, run_id);
	if (n <= 0)
		return (int)n;
	detail = jv_object_set(jv_object(), jv_string("kind"), jv_string(s->kind));
	detail = jv_object_set(detail, jv_string("value"), jv_string(s->shown));
	detail = jv_object_set(detail, jv_string("origin"), jv_string(s->origin));
	if (s->reason)
		detail = jv_object_set(detail, jv_string("reason"), jv_string(s->reason));
	{
		char *object = strcmp(s->kind, "contact") == 0 ? fs_xasprintf("contact:%s", s->value) : NULL;
		int rc = fs_changelog(st, "suppress.add", run_id, NULL, object, detail);

		free(object);
		return rc == 0 ? 1 : -1;
	}
}

int
fs_suppress_remove(struct fs_state *st, const char *kind, const char *value, const char *run_id)
{
	int64_t n = fs_state_changes(st, "DELETE FROM suppressions WHERE kind = ? AND value = ?", "ss", kind, value);
	jv detail;

	if (n <= 0)
		return (int)n;
	detail = jv_object_set(jv_object(), jv_string("kind"), jv_string(kind));
	detail = jv_object_set(detail, jv_string("value"), jv_string(value));
	return fs_changelog(st, "suppress.remove", run_id, NULL, NULL, detail) == 0 ? 1 : -1;
}

int
fs_suppress_each(struct fs_state *st, fs_suppress_fn fn, void *ctx)
{
	fs_stmt *q = fs_state_prepare(st,
	    "SELECT kind, value, shown, reason, origin, added_at FROM suppressions ORDER BY id");
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		struct fs_suppression s = {
			.kind = fs_col_text(q, 0), .value = fs_col_text(q, 1),
			.shown = fs_col_text(q, 2), .reason = fs_col_text(q, 3),
			.origin = fs_col_text(q, 4),
			.added_at = fs_col_text(q, 5),
		};

		if (fn(&s, ctx) != 0) {
			fs_stmt_reset(q);
			return -1;
		}
	}
	return rc;
}

char *
fs_address_key_of(jv to)
{
	return fs_address_key(fs_jstr(to, "line1"), fs_jstr(to, "line2"), fs_jstr(to, "city"),
			      fs_jstr(to, "region"), fs_jstr(to, "postal_code"));
}

/* The list's entry of kind for value: its reason and origin, malloc'd, or NULL. */
static int
listed(struct fs_state *st, const char *kind, const char *value, char **why)
{
	fs_stmt *q;
	int rc;

	*why = NULL;
	if (value == NULL)
		return 0;
	q = fs_state_query(st, "SELECT origin, reason, shown FROM suppressions WHERE kind = ? AND value = ?",
			   "ss", kind, value);
	if (q == NULL || (rc = fs_state_step_row(st, q)) < 0)
		return -1;
	if (rc == 1) {
		const char *origin = fs_col_text(q, 0);
		const char *reason = fs_col_text(q, 1);

		if (strcmp(origin, "returned") == 0)
			*why = fs_xasprintf("the address was returned as undeliverable (%s)", reason ? reason : "");
		else
			*why = fs_xasprintf("the %s is on the do-not-mail list%s%s", kind, reason ? ": " : "",
					    reason ? reason : "");
		fs_stmt_reset(q);
	}
	return 0;
}

int
fs_suppress_check(struct fs_state *st, const char *contact_id, jv to, bool crm_flag, char **why)
{
	char *key;
	int rc;

	*why = NULL;
	/* The flag on the request, or set on the contact since (the state
	 * file keeps each contact's newest flag, fs-normalize's observe). */
	if (!crm_flag && contact_id) {
		int64_t flagged = 0;

		if (fs_state_int(st, &flagged, "SELECT do_not_mail FROM contacts WHERE id = ?", "s", contact_id) < 0)
			return -1;
		crm_flag = flagged == 1;
	}
	if (crm_flag) {
		*why = fs_xstrdup("the CRM says do not mail");
		return 0;
	}
	if (listed(st, "contact", contact_id, why) != 0 || *why)
		return *why ? 0 : -1;
	key = fs_address_key_of(to);
	rc = listed(st, "address", key, why);
	free(key);
	return rc;
}
