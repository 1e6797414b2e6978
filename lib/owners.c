/*
 * Owners by name (issue 16).  A HubSpot record names its owner by id; the
 * reports show a name.  fs-pull asks HubSpot's owners API for the names once
 * a day (GET /crm/v3/owners, paged with after) and keeps them in the state
 * file (owners, owner_refresh: lib/schema.c).  The names are a nicety: a
 * failure to fetch them is said on stderr and changes nothing else, and a
 * failing endpoint is asked again after an hour, not on every run.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

#define MAX_AGE 86400		/* the names are fetched again after a day */
#define RETRY 3600		/* after a failed try, an hour */
#define PAGE 100		/* owners a page (HubSpot's default; it allows 500) */
#define MAX_PAGES 100		/* 10,000 owners: an answer that pages forever stops */

/* Whether source's names are older than a day, and no try failed this hour. */
static bool
due(struct fs_state *st, const char *source, fs_time now)
{
	char day[21], hour[21];
	int64_t fresh = 0;

	fs_time_format(now - MAX_AGE, day);
	fs_time_format(now - RETRY, hour);
	if (fs_state_int(st, &fresh, "SELECT count(*) FROM owner_refresh WHERE source = ?1"
			 " AND (refreshed_at > ?2 OR tried_at > ?3)", "sss", source, day, hour) != 0)
		return false;	/* said; the next run asks again */
	return fresh == 0;
}

/* "First Last", or the email when the owner has no name; NULL when neither. */
static char *
owner_name(jv o)
{
	const char *first = fs_jstr(o, "firstName"), *last = fs_jstr(o, "lastName"), *email = fs_jstr(o, "email");
	char *name = fs_xasprintf("%s %s", first ? first : "", last ? last : ""), *t = fs_trim(name);

	if (*t == '\0' && email && *email)
		t = (char *)email;
	t = *t ? fs_xstrdup(t) : NULL;
	free(name);
	return t;
}

/* An answer that is not 200, said with HubSpot's message and what a 403 lacks. */
static void
say_status(const char *source, const char *path, const struct fs_http_response *r)
{
	jv body = r->body.len ? jv_parse_sized(r->body.data, (int)r->body.len) : jv_invalid();
	const char *msg = jv_is_valid(body) ? fs_jstr(body, "message") : NULL;

	fs_err("%s: GET %s: HTTP %ld%s%s%s", source, path, r->status, msg ? ": " : "", msg ? msg : "",
	       r->status == 403 ? " (the token needs the scope crm.objects.owners.read)" : "");
	jv_free(body);
}

/* One page's owners appended to *all; the next page's after (malloc'd), or
 * NULL after the last.  -1 when the page could not be had (said). */
static int
fetch_page(struct fs_http *h, const char *source, const char *after, jv *all, char **next)
{
	char *enc = after ? fs_urlencode(after) : NULL;
	char *path = enc ? fs_xasprintf("/crm/v3/owners?limit=%d&after=%s", PAGE, enc)
			 : fs_xasprintf("/crm/v3/owners?limit=%d", PAGE);
	struct fs_http_response r;
	int rc = fs_http_request(h, "GET", path, NULL, "results", &r);
	jv ans, results, paging, nx;

	*next = NULL;
	free(enc);
	if (rc == 0 && r.status != 200)
		say_status(source, path, &r);
	free(path);
	if (rc != 0 || r.status != 200) {
		fs_http_response_free(&r);
		return -1;
	}
	ans = jv_parse_sized(r.body.data, (int)r.body.len);	/* JSON with results: http.c checked */
	fs_http_response_free(&r);
	results = fs_jget(ans, "results");
	if (jv_get_kind(results) == JV_KIND_ARRAY)
		jv_array_foreach(results, i, o) {
			(void)i;
			*all = jv_array_append(*all, o);
		}
	paging = fs_jget(ans, "paging");
	nx = fs_jget(paging, "next");
	if (fs_jstr(nx, "after"))
		*next = fs_xstrdup(fs_jstr(nx, "after"));
	jv_free(nx);
	jv_free(paging);
	jv_free(results);
	jv_free(ans);
	return 0;
}

/* Every owner of the source, or invalid after a failure (said). */
static jv
fetch_all(struct fs_http *h, const char *source)
{
	jv all = jv_array();
	char *after = NULL, *next;
	int pages = 0;

	do {
		if (fetch_page(h, source, after, &all, &next) != 0) {
			free(after);
			jv_free(all);
			return jv_invalid();
		}
		free(after);
		after = next;
	} while (after && ++pages < MAX_PAGES);
	free(after);
	return all;
}

static int
store_owner(struct fs_state *st, const char *source, jv o, const char *now)
{
	jv id = fs_jget(o, "id");
	char *text = jv_get_kind(id) == JV_KIND_STRING ? fs_xstrdup(jv_string_value(id))
		   : jv_get_kind(id) == JV_KIND_NUMBER ? fs_xasprintf("%.0f", jv_number_value(id)) : NULL;
	char *name = owner_name(o);
	jv archived = fs_jget(o, "archived");
	int rc = 0;

	if (text)	/* an owner without an id names nothing */
		rc = fs_state_run(st,
		    "INSERT INTO owners (id, source, name, email, archived, seen_at) VALUES (?, ?, ?, ?, ?, ?)"
		    " ON CONFLICT (id) DO UPDATE SET source = excluded.source, name = excluded.name,"
		    " email = excluded.email, archived = excluded.archived, seen_at = excluded.seen_at",
		    "ssssis", text, source, name, fs_jstr(o, "email"),
		    (int64_t)(jv_get_kind(archived) == JV_KIND_TRUE), now);
	jv_free(archived);
	jv_free(id);
	free(text);
	free(name);
	return rc;
}

/* The names, and when they were fetched, in one transaction. */
static int
store(struct fs_state *st, const char *source, jv owners, const char *now)
{
	int rc = fs_state_begin(st);

	jv_array_foreach(owners, i, o) {
		(void)i;
		if (rc == 0)
			rc = store_owner(st, source, o, now);
		jv_free(o);
	}
	jv_free(owners);
	if (rc == 0)
		rc = fs_state_run(st, "INSERT INTO owner_refresh (source, refreshed_at, tried_at) VALUES (?1, ?2, ?2)"
				  " ON CONFLICT (source) DO UPDATE SET refreshed_at = ?2, tried_at = ?2", "ss", source, now);
	if (rc == 0)
		rc = fs_state_commit(st);
	if (rc != 0)
		fs_state_rollback(st);
	return rc;
}

void
fs_owners_refresh(struct fs_state *st, struct fs_http *h, const char *source)
{
	fs_time t = fs_now();
	char now[21];
	jv owners;
	int64_t n;

	if (!due(st, source, t))
		return;
	fs_time_format(t, now);
	owners = fetch_all(h, source);
	if (!jv_is_valid(owners)) {
		jv_free(owners);
		fs_err("%s: owner names not refreshed: reports show the owner ids they have no name for;"
		       " asked again in an hour", source);
		fs_state_run(st, "INSERT INTO owner_refresh (source, tried_at) VALUES (?1, ?2)"
			     " ON CONFLICT (source) DO UPDATE SET tried_at = ?2", "ss", source, now);
		return;
	}
	n = jv_array_length(jv_copy(owners));
	if (store(st, source, owners, now) != 0)
		fs_err("%s: owner names not kept: the state file failed (said above)", source);
	else
		fs_debug("%s: %lld owner names refreshed", source, (long long)n);
}
