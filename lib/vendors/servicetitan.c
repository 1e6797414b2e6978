/*
 * ServiceTitan's connector: REST under /{module}/v2/tenant/{tenant}/, two
 * credentials on every request (a bearer token from the client-credentials
 * grant, per tenant, and the application's ST-App-Key), and four streams:
 * customers and locations (contact.changed: a customer with its locations,
 * whose addresses are the mailing ones), jobs (job.changed) and invoices
 * (outcome.revenue once paid).  fieldsync(7) and fieldsync-servicetitan(7)
 * say what is confirmed of ServiceTitan's API and what is not.
 *
 * A stream is read one of two ways (the setting read):
 *  - export (default): GET .../export/RESOURCE?from=TOKEN&includeRecentChanges=true,
 *    the answer's continueFrom passed back as from until hasMore is false.
 *    The cursor is "continueFrom TOKEN".  includeRecentChanges may send the
 *    same records again on the next request: a run emits each (id,
 *    modifiedOn) once, and across runs the event ids (made of the same id
 *    and time) are fs-dedupe's to drop.  Exports hold inactive, deleted and
 *    merged-away records too.
 *  - list: GET .../RESOURCE?modifiedOnOrAfter=T&sort=+ModifiedOn&page=N,
 *    oldest first.  The cursor is lib/keyset.c's "TIME ID ID ...": each
 *    page asks again from the newest time read (inclusive), past the ids
 *    already read at it, so records that share the boundary time are
 *    neither lost nor repeated, and a record that moves to the end between
 *    two pages shifts none out of reach.
 * Both orders let a checkpoint follow any page.
 *
 * A customer's record carries its locations ("locations", read by
 * customerIds for each page of customers), and a changed location is
 * pulled as its customer again: the contact's version is the newest
 * modifiedOn of the customer and its locations.
 *
 * Throttling is ServiceTitan's 60 requests a second an application a
 * tenant (rate); a 429 is fs_http_request's to wait for (Retry-After) and
 * send again.  The access token is asked for at the start and again before
 * it ends (its expires_in, on the monotonic clock), and once after a 401.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vendors.h"

struct st_stream {
	const char *name, *module, *resource;	/* customers; crm; customers */
	const char *list_extra;	/* more of the list query, or "" */
};

static const struct st_stream st_streams[] = {
	/* Balance adjustments move a customer's modifiedOn: not a change of the contact. */
	{"customers", "crm", "customers", "&excludeAccountingChangesFromModifiedDateRange=true"},
	{"locations", "crm", "locations", ""},
	{"jobs", "jpm", "jobs", ""},
	{"invoices", "accounting", "invoices", ""},
	{NULL, NULL, NULL, NULL},
};

static const struct fs_stream streams[] = {
	{"customers", "modifiedOn", false},
	{"locations", "modifiedOn", false},
	{"jobs", "modifiedOn", false},
	{"invoices", "modifiedOn", false},
	{NULL, NULL, false},
};

static const struct st_stream *
st_stream(const char *name)
{
	for (const struct st_stream *s = st_streams; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* ---- credentials ---- */

/* The run's token (o.access) and when to ask for the next one, on the monotonic clock. */
static struct {
	struct fs_oauth o;
	int64_t renew_ms;	/* 0: never (a lifetime not said) */
	int gen;		/* tokens asked for so far */
	const char *tenant;
	bool export;
	long page;
	jv emitted;		/* customer id -> its record this run: one read by two streams goes out once */
} st;

static void
st_free(void)
{
	fs_oauth_free(&st.o);
	jv_free(st.emitted);	/* zeroed, it is an invalid jv: nothing to free */
	memset(&st, 0, sizeof st);
}

/* A new token onto http; -1 said, *status the run's. */
static int
token_new(struct fs_http *http, int *status)
{
	int64_t life;

	if (fs_oauth_client_token(&st.o, http, &life, status) != 0)
		return -1;
	st.gen++;
	/* Asked for again a minute before it ends, or half way through a shorter life. */
	st.renew_ms = life > 0 ? fs_mono_ms() + life * 1000 - (life > 120 ? 60000 : life * 500) : 0;
	fs_http_bearer(http, st.o.access);
	fs_debug("%s: access token %d, good for %lld s", st.o.name, st.gen, (long long)life);
	return 0;
}

static bool
token_due(void)
{
	return st.renew_ms > 0 && fs_mono_ms() >= st.renew_ms;
}

/*
 * The settings both sides share: tenant, the app key (ST-App-Key on every
 * request of http), the client id and secret; -1 said (a usage error).
 */
static int
credentials(const struct fs_endpoint *ep, struct fs_http *http, bool dry_run)
{
	char *key, *line;

	st_free();
	st.tenant = fs_setting(ep, "tenant");
	st.o.name = ep->name;
	st.o.token_url = fs_setting(ep, "token_url");
	if (st.tenant == NULL || *st.tenant == '\0' || strspn(st.tenant, "0123456789") != strlen(st.tenant)) {
		fs_err("%s '%s': tenant must be the tenant's id (digits), not '%s'", ep->type, ep->name,
		       st.tenant ? st.tenant : "");
		return -1;
	}
	if (dry_run) {
		fs_http_header_add(http, "ST-App-Key: (redacted)");
		return 0;
	}
	if ((key = fs_endpoint_secret(ep, "app_key_env", "app_key_file")) == NULL) {
		fs_err("%s '%s': no app key: $%s is not set", ep->type, ep->name,
		       fs_setting(ep, "app_key_env") ? fs_setting(ep, "app_key_env") : "(app_key_file)");
		return -1;
	}
	line = fs_xasprintf("ST-App-Key: %s", key);
	fs_http_header_add(http, line);
	fs_secret_free(line);
	fs_secret_free(key);
	return fs_oauth_setup_client(ep, &st.o);
}

/* ---- requests ---- */

/*
 * GET path (the tenant's, after /MODULE/v2/tenant/T/): the answer, which
 * holds want_key, or jv_invalid() after saying why.  The token is renewed
 * when it is due, and once after a 401.
 */
static jv
st_get(struct fs_pull *p, const char *module, const char *what, const char *want_key)
{
	char *path = fs_xasprintf("/%s/v2/tenant/%s/%s", module, st.tenant, what);
	size_t shown = strcspn(path, "?");
	bool again = false;
	jv out = jv_invalid();

	while (!fs_pull_failed(p)) {
		struct fs_http_response r;
		int rc, status = FS_EXIT_REMOTE;

		if (!p->dry_run && token_due() && token_new(&p->http, &status) != 0) {
			fs_pull_fail(p, status);
			break;
		}
		rc = fs_http_request(&p->http, "GET", path, NULL, want_key, &r);
		if (rc != 0) {
			if (rc < 0)
				fs_pull_fail(p, FS_EXIT_REMOTE);
		} else if (r.status == 401 && !again) {
			fs_http_response_free(&r);
			again = true;
			fs_debug("%s: GET %.*s: HTTP 401: a new access token", p->name, (int)shown, path);
			if (token_new(&p->http, &status) != 0) {
				fs_pull_fail(p, status);
				break;
			}
			continue;
		} else if (r.status != 200) {
			jv ans = r.body.len ? jv_parse_sized(r.body.data, (int)r.body.len) : jv_invalid();
			const char *why = fs_jstr(ans, "title") ? fs_jstr(ans, "title") : fs_jstr(ans, "message");

			fs_err("%s: GET %.*s: HTTP %ld%s%s", p->name, (int)shown, path, r.status, why ? ": " : "",
			       why ? why : "");
			/* A refused token or app key, a tenant the app may not read: a person must act. */
			fs_pull_fail(p, r.status == 401 || r.status == 403 ? FS_EXIT_USAGE : FS_EXIT_REMOTE);
			jv_free(ans);
		} else {
			out = jv_parse_sized(r.body.data, (int)r.body.len);
		}
		fs_http_response_free(&r);
		break;
	}
	free(path);
	return out;
}

/* A record's id (as text, malloc'd) and modifiedOn; false for one that lacks them. */
static bool
record_of(jv o, char **id, int64_t *t)
{
	*id = fs_json_id_text(fs_jget(o, "id"));
	if (*id && !strchr(*id, ' ') && fs_time_ms(fs_jstr(o, "modifiedOn"), t) == 0)
		return true;
	free(*id);
	*id = NULL;
	return false;
}

/* "1,2,3": the ids of a list of objects, at key (list consumed). */
static char *
ids_of(jv list, const char *key)
{
	struct fs_buf b = {0};

	fs_buf_adds(&b, "");
	jv_array_foreach(list, i, o) {
		char *id = fs_json_id_text(fs_jget(o, key));

		if (id)
			fs_buf_addf(&b, "%s%s", b.len ? "," : "", id);
		free(id);
		jv_free(o);
		(void)i;
	}
	jv_free(list);
	return b.data;
}

/* Every page of a list query (what, with its filter), its data in one array; invalid after a failure. */
static jv
list_all(struct fs_pull *p, const char *module, const char *what)
{
	jv all = jv_array();

	for (long page = 1; !fs_pull_failed(p); page++) {
		char *q = fs_xasprintf("%s&page=%ld&pageSize=%ld", what, page, st.page);
		jv ans = st_get(p, module, q, "data"), data = fs_jget(ans, "data"), more = fs_jget(ans, "hasMore");
		bool go_on = jv_get_kind(more) == JV_KIND_TRUE && jv_get_kind(data) == JV_KIND_ARRAY &&
			     jv_array_length(jv_copy(data)) > 0;

		free(q);
		if (jv_get_kind(data) == JV_KIND_ARRAY)
			all = jv_array_concat(all, jv_copy(data));
		jv_free(more);
		jv_free(data);
		jv_free(ans);
		if (!go_on)
			break;
	}
	if (fs_pull_failed(p)) {
		jv_free(all);
		return jv_invalid();
	}
	return all;
}

/* The CRM's RESOURCE?FILTER=ids, the ids those of objects at key (objects consumed); [] for none. */
static jv
crm_by(struct fs_pull *p, const char *resource, const char *filter, jv objects, const char *key)
{
	char *ids = ids_of(objects, key), *q;
	jv out;

	if (*ids == '\0') {
		free(ids);
		return jv_array();
	}
	q = fs_xasprintf("%s?%s=%s", resource, filter, ids);
	out = list_all(p, "crm", q);
	free(q);
	free(ids);
	return out;
}

/* Customers with their locations ("locations", active or not, by id): one record each. */
static int
emit_customers(struct fs_pull *p, jv customers)
{
	jv locs = crm_by(p, "locations", "customerIds", jv_copy(customers), "id");

	if (!jv_is_valid(locs)) {
		jv_free(customers);
		return -1;
	}
	jv_array_foreach(customers, i, c) {
		jv cid = fs_jget(c, "id"), mine = jv_array();
		char *key = fs_json_id_text(jv_copy(cid));

		jv_array_foreach(locs, k, l) {
			jv lc = fs_jget(l, "customerId");

			if (jv_equal(jv_copy(lc), jv_copy(cid)))
				mine = jv_array_append(mine, jv_copy(l));
			jv_free(lc);
			jv_free(l);
			(void)k;
		}
		mine = jv_sort(mine, jv_copy(mine));	/* a stable order: the same customer, the same record */
		if (key) {
			jv rec = jv_object_set(jv_copy(c), jv_string("locations"), mine);
			jv was = jv_object_get(jv_copy(st.emitted), jv_string(key));

			if (!jv_equal(was, jv_copy(rec))) {
				st.emitted = jv_object_set(st.emitted, jv_string(key), jv_copy(rec));
				fs_pull_record(p, "customers", key, rec);
			} else {
				jv_free(rec);
			}
		} else {
			jv_free(mine);
		}
		free(key);
		jv_free(cid);
		jv_free(c);
		(void)i;
	}
	jv_free(locs);
	jv_free(customers);
	return fs_pull_failed(p) ? -1 : 0;
}

/* Changed locations: their customers read again (by ids), each with its locations. */
static int
emit_located(struct fs_pull *p, jv locations)
{
	jv customers = crm_by(p, "customers", "ids", locations, "customerId");

	return jv_is_valid(customers) ? emit_customers(p, customers) : -1;
}

/* ---- streams ---- */

/* One stream's run. */
struct st_run {
	const struct st_stream *ss;
	struct fs_keyset from, to;	/* list: the keyset cursor */
	jv seen;		/* export: "id modifiedOn" emitted this run */
	long count, pages;
	bool limited;
};

/* A page's records: the new ones kept in *fresh (customers and locations are emitted whole), others emitted. */
static int
take_page(struct fs_pull *p, struct st_run *run, jv data)
{
	jv fresh = jv_array();
	int rc = 0;

	jv_array_foreach(data, i, o) {
		char *id;
		int64_t t;

		(void)i;
		if (rc == 0 && !run->limited) {
			if (!record_of(o, &id, &t)) {
				fs_err("%s: %s: a record without an \"id\" and a \"modifiedOn\" time", p->name,
				       run->ss->name);
				fs_pull_fail(p, FS_EXIT_REMOTE);
				rc = -1;
			} else {
				bool is_new;

				if (st.export) {
					jv k = jv_string_fmt("%s %lld", id, (long long)t);

					is_new = !jv_object_has(jv_copy(run->seen), jv_copy(k));
					if (is_new)
						run->seen = jv_object_set(run->seen, k, jv_true());
					else
						jv_free(k);
				} else {
					is_new = fs_keyset_is_new(&run->to, t, id);
					if (is_new)
						fs_keyset_advance(&run->to, t, id);
				}
				if (is_new) {
					if (strcmp(run->ss->name, "customers") == 0 ||
					    strcmp(run->ss->name, "locations") == 0)
						fresh = jv_array_append(fresh, jv_copy(o));
					else
						fs_pull_record(p, run->ss->name, id, jv_copy(o));
					run->count++;
					run->limited = p->limit > 0 && run->count >= p->limit;
				}
				free(id);
			}
		}
		jv_free(o);
	}
	jv_free(data);
	if (rc == 0 && strcmp(run->ss->name, "customers") == 0)
		rc = emit_customers(p, fresh);
	else if (rc == 0 && strcmp(run->ss->name, "locations") == 0)
		rc = emit_located(p, fresh);
	else
		jv_free(fresh);
	return rc;
}

/* The list: oldest first, each page from the newest time read. */
static void
read_list(struct fs_pull *p, struct st_run *run)
{
	const struct st_stream *ss = run->ss;
	int64_t asked = -1;
	long page = 1;

	while (!fs_pull_failed(p) && !run->limited) {
		const struct fs_keyset *at = run->to.set ? &run->to : &run->from;
		char ts[32] = "", *q, *enc;
		jv ans, data, more;
		bool go_on;
		long before = run->count;

		if (at->set) {
			fs_ms_format(at->t, ts);
			if (at->t != asked)
				page = 1;
			asked = at->t;
		}
		enc = fs_urlencode(ts);
		q = fs_xasprintf("%s?sort=%%2BModifiedOn&page=%ld&pageSize=%ld%s%s%s", ss->resource, page, st.page,
				 ss->list_extra, *ts ? "&modifiedOnOrAfter=" : "", enc);
		free(enc);
		ans = st_get(p, ss->module, q, "data");
		free(q);
		data = fs_jget(ans, "data");
		more = fs_jget(ans, "hasMore");
		go_on = jv_get_kind(more) == JV_KIND_TRUE;
		jv_free(more);
		jv_free(ans);
		if (fs_pull_failed(p) || p->dry_run) {
			jv_free(data);
			break;
		}
		if (jv_get_kind(data) != JV_KIND_ARRAY) {
			fs_err("%s: %s: the answer has no list of data", p->name, ss->name);
			fs_pull_fail(p, FS_EXIT_REMOTE);
			jv_free(data);
			break;
		}
		go_on = go_on && jv_array_length(jv_copy(data)) > 0;
		run->pages++;
		if (take_page(p, run, data) != 0)
			break;
		if (run->count > before) {
			char *text = fs_keyset_text(&run->to);

			fs_pull_checkpoint(p, ss->name, text);
			free(text);
		}
		fs_pull_progress(p, ss->name, run->pages, false);
		/* The same time again: the next page of it (every record on this one shared it). */
		if (!run->to.set || run->to.t == asked)
			page++;
		if (!go_on)
			break;
	}
}

/* The export: from the token, each page's continueFrom after it. */
static void
read_export(struct fs_pull *p, struct st_run *run, char *from)
{
	const struct st_stream *ss = run->ss;

	while (!fs_pull_failed(p) && !run->limited) {
		char *enc = from ? fs_urlencode(from) : NULL;
		char *q = fs_xasprintf("export/%s?includeRecentChanges=true%s%s", ss->resource, enc ? "&from=" : "",
				       enc ? enc : "");
		jv ans = st_get(p, ss->module, q, "data"), data = fs_jget(ans, "data"), more = fs_jget(ans, "hasMore");
		const char *next = fs_jstr(ans, "continueFrom");
		bool go_on = jv_get_kind(more) == JV_KIND_TRUE;

		free(enc);
		free(q);
		jv_free(more);
		if (fs_pull_failed(p) || p->dry_run || jv_get_kind(data) != JV_KIND_ARRAY || next == NULL) {
			if (!fs_pull_failed(p) && !p->dry_run) {
				fs_err("%s: %s: the export's answer has no data or no continueFrom", p->name, ss->name);
				fs_pull_fail(p, FS_EXIT_REMOTE);
			}
			jv_free(data);
			jv_free(ans);
			break;
		}
		go_on = go_on && jv_array_length(jv_copy(data)) > 0;
		run->pages++;
		free(from);
		from = fs_xstrdup(next);
		jv_free(ans);
		if (take_page(p, run, data) != 0)
			break;
		if (!run->limited) {
			/* What --limit cut short is read again from the last token. */
			char *text = fs_xasprintf("continueFrom %s", from);

			fs_pull_checkpoint(p, ss->name, text);
			free(text);
		}
		fs_pull_progress(p, ss->name, run->pages, false);
		if (!go_on)
			break;
	}
	free(from);
}

/* The export's start: --since (a date), the committed token, a list cursor's time, or the beginning. */
static int
export_from(struct fs_pull *p, const char *stream, char **from)
{
	char *saved = NULL, ts[32];

	*from = NULL;
	if (p->since_ms >= 0) {
		fs_ms_format(p->since_ms, ts);
		*from = fs_xstrdup(ts);
		return 0;
	}
	if (fs_cursor_get(&p->cli->st, p->name, stream, &saved) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (saved && strncmp(saved, "continueFrom ", 13) == 0) {
		*from = fs_xstrdup(saved + 13);
	} else if (saved) {
		struct fs_keyset k = {.ids = jv_object()};

		/* A list cursor (read = list before): its time, as a date the export compares with modifiedOn. */
		if (fs_keyset_parse(saved, &k) == 0) {
			fs_ms_format(k.t, ts);
			*from = fs_xstrdup(ts);
		}
		jv_free(k.ids);
		if (*from == NULL) {
			fs_err("%s: committed cursor of stream %s is not 'continueFrom TOKEN': '%.60s'", p->name, stream,
			       saved);
			free(saved);
			fs_pull_fail(p, FS_EXIT_STATE);
			return -1;
		}
	}
	free(saved);
	return 0;
}

static int
st_pull(struct fs_pull *p, const struct fs_stream *s)
{
	struct st_run run = {.ss = st_stream(s->name), .seen = jv_object()};
	char *from = NULL;
	int rc = 0;

	run.to.ids = jv_object();
	if (st.export) {
		if (export_from(p, s->name, &from) == 0)
			read_export(p, &run, from);
	} else if (fs_keyset_start(p, s->name, &run.from) == 0) {
		jv_free(run.to.ids);
		run.to.ids = jv_copy(run.from.ids);
		run.to.t = run.from.t;
		run.to.set = run.from.set && p->since_ms < 0;
		read_list(p, &run);
	}
	if (run.pages)
		fs_pull_progress(p, s->name, run.pages, true);
	fs_debug("%s %s: %ld records in %ld pages", p->name, s->name, run.count, run.pages);
	jv_free(run.from.ids);
	jv_free(run.to.ids);
	jv_free(run.seen);
	if (fs_pull_failed(p))
		rc = -1;
	else if (run.limited)
		rc = fs_pull_flush(p);
	return rc;
}

static int
st_start(struct fs_pull *p)
{
	const char *read = fs_setting(&p->ep, "read");
	int status = FS_EXIT_REMOTE;

	if (fs_pull_http_base(p) != 0)
		return -1;
	st.page = atol(fs_setting(&p->ep, "page_size"));
	if (credentials(&p->ep, &p->http, p->dry_run) != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	st.page = atol(fs_setting(&p->ep, "page_size"));
	st.export = strcmp(read, "export") == 0;
	st.emitted = jv_object();
	if (st.page < 1 || st.page > 5000) {
		fs_err("source '%s': page_size must be 1 to 5000, not '%s'", p->name, fs_setting(&p->ep, "page_size"));
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	if (p->dry_run) {
		fs_http_bearer(&p->http, "");
		return 0;
	}
	if (token_new(&p->http, &status) != 0) {
		fs_pull_fail(p, status);
		return -1;
	}
	return 0;
}

static void
st_after(struct fs_pull *p)
{
	(void)p;
	st_free();
}

/* ---- the webhook inbox: ids, read back ---- */

/*
 * ServiceTitan's V2 event catalogue and payloads are not public.  A
 * delivery is taken as naming one object: its kind from entityType,
 * eventType or type (a name that begins with Customer, Location, Job or
 * Invoice, in any case), its id from entityId, id or data.id.  The object
 * is read back by id, as fs-pull reads it, so the record is the same
 * whatever the payload holds.  A delivery of another kind is dropped, said
 * with -v; one without a kind and an id is a dead letter.
 */
static const char *
delivery_stream(jv body, char **id)
{
	static const char *const kinds[][2] = {
		{"customer", "customers"}, {"location", "locations"}, {"job", "jobs"}, {"invoice", "invoices"},
	};
	const char *type = fs_jstr(body, "entityType");
	jv data = fs_jget(body, "data");

	if (type == NULL)
		type = fs_jstr(body, "eventType") ? fs_jstr(body, "eventType") : fs_jstr(body, "type");
	*id = fs_json_id_text(fs_jget(body, "entityId"));
	if (*id == NULL)
		*id = fs_json_id_text(fs_jget(body, "id"));
	if (*id == NULL)
		*id = fs_json_id_text(fs_jget(data, "id"));
	jv_free(data);
	for (size_t i = 0; type && i < sizeof kinds / sizeof kinds[0]; i++)
		if (strncasecmp(type, kinds[i][0], strlen(kinds[i][0])) == 0)
			return kinds[i][1];
	return type ? "" : NULL;
}

static int
st_inbox(struct fs_pull *p, const struct fs_inbox_row *rows, int n)
{
	jv wanted = jv_object();

	for (int i = 0; i < n && !fs_pull_failed(p); i++) {
		jv body = jv_parse_sized(rows[i].body, (int)rows[i].len);
		char *id = NULL;
		const char *stream = jv_get_kind(body) == JV_KIND_OBJECT ? delivery_stream(body, &id) : NULL;

		if (stream == NULL || id == NULL || strspn(id, "0123456789") != strlen(id)) {
			fs_pull_dead(p, rows[i].body, rows[i].len, rows[i].id,
				     "inbox row %lld: not a ServiceTitan event naming an object", (long long)rows[i].id);
		} else if (*stream == '\0') {
			fs_debug("%s: inbox row %lld: %s: nothing to read", p->name, (long long)rows[i].id,
				 fs_jstr(body, "entityType") ? fs_jstr(body, "entityType") : "an event");
		} else {
			/* Each object once a batch, however many deliveries named it. */
			jv ids = jv_object_get(jv_copy(wanted), jv_string(stream));

			if (!jv_is_valid(ids)) {
				jv_free(ids);
				ids = jv_object();
			}
			wanted = jv_object_set(wanted, jv_string(stream), jv_object_set(ids, jv_string(id), jv_true()));
		}
		free(id);
		jv_free(body);
	}
	for (const struct st_stream *ss = st_streams; ss->name && !fs_pull_failed(p); ss++) {
		jv ids = jv_object_get(jv_copy(wanted), jv_string(ss->name)), keys, list;
		struct fs_buf q = {0};

		if (!jv_is_valid(ids)) {
			jv_free(ids);
			continue;
		}
		keys = jv_keys(ids);
		fs_buf_addf(&q, "%s?ids=", ss->resource);
		jv_array_foreach(keys, i, k) {
			fs_buf_addf(&q, "%s%s", i ? "," : "", jv_string_value(k));
			jv_free(k);
		}
		jv_free(keys);
		list = list_all(p, ss->module, q.data);
		fs_buf_free(&q);
		if (!jv_is_valid(list))
			break;
		if (strcmp(ss->name, "customers") == 0) {
			emit_customers(p, list);	/* list consumed */
			continue;
		}
		if (strcmp(ss->name, "locations") == 0) {
			emit_located(p, list);
			continue;
		}
		jv_array_foreach(list, i, o) {
				char *key = fs_json_id_text(fs_jget(o, "id"));

			if (key)
				fs_pull_record(p, ss->name, key, o);
			else
				jv_free(o);
			free(key);
			(void)i;
		}
		jv_free(list);
	}
	jv_free(wanted);
	return fs_pull_failed(p) ? -1 : 0;
}

/* ---- the fields campaigns trigger on ---- */

/*
 * The fields fs-pull reads of a customer and of a job, with ServiceTitan's
 * types, and the status the shipped maps make of them; the listing is the
 * connector's, not asked of ServiceTitan, so that campaigns can be checked
 * against the statuses a contact or a job can have.
 */
#define JOB_STATUSES "scheduled, dispatched, inprogress, hold, completed, canceled"

static const struct fs_field_desc customer_fields[] = {
	{"id", "int64", "ID", NULL}, {"name", "string", "Name", NULL}, {"type", "CustomerType", "Type", NULL},
	{"active", "boolean", "Active", NULL}, {"doNotMail", "boolean", "Do not mail", NULL},
	{"mergedToId", "int64", "Merged into", NULL}, {"address", "Address", "Address", NULL},
	{"locations", "[Location]", "Locations (their addresses)", NULL},
	{"modifiedOn", "date-time", "Modified", NULL},
	{"status", "derived", "Status (mergedToId, active)", "merged, inactive, active"},
	{NULL, NULL, NULL, NULL},
};

static const struct fs_field_desc job_fields[] = {
	{"id", "int64", "ID", NULL}, {"customerId", "int64", "Customer", NULL},
	{"jobStatus", "JobStatus", "Job status", JOB_STATUSES}, {"jobTypeId", "int64", "Job type", NULL},
	{"completedOn", "date-time", "Completed", NULL}, {"total", "decimal", "Total", NULL},
	{"modifiedOn", "date-time", "Modified", NULL},
	{"status", "derived", "Status (jobStatus, lower case)", JOB_STATUSES},
	{NULL, NULL, NULL, NULL},
};

static int
st_describe(struct fs_pull *p)
{
	return fs_describe_fixed(p, "map.customers", customer_fields, "map.jobs", job_fields);
}

/* The field of a customer or a job a canonical field comes from (the shipped maps), or NULL. */
static const char *
st_property(const struct fs_endpoint *ep, bool on_job, const char *field)
{
	static const char *const contact[][2] = {
		{"id", "id"}, {"email", "contacts"}, {"phone", "contacts"}, {"first_name", "name"},
		{"last_name", "name"}, {"company", "name"}, {"status", "status"}, {"line1", "locations"},
		{"line2", "locations"}, {"city", "locations"}, {"region", "locations"}, {"postal_code", "locations"},
		{"country", "locations"}, {"updated_at", "modifiedOn"},
	};
	static const char *const job[][2] = {
		{"id", "id"}, {"contact_id", "customerId"}, {"status", "status"}, {"type", "jobTypeId"},
		{"completed_at", "completedOn"}, {"total", "total"}, {"updated_at", "modifiedOn"},
	};

	(void)ep;
	for (size_t i = 0; !on_job && i < sizeof contact / sizeof contact[0]; i++)
		if (strcmp(contact[i][0], field) == 0)
			return contact[i][1];
	for (size_t i = 0; on_job && i < sizeof job / sizeof job[0]; i++)
		if (strcmp(job[i][0], field) == 0)
			return job[i][1];
	return NULL;
}

/* ---- push: mail status written back to a customer custom field (fs-push, kind servicetitan) ---- */

/*
 * Each mail.status event sets its contact's customer custom field
 * status_field_id (the typeId of a text custom field the tenant's admin
 * made) to the piece's status label, with PATCH
 * /crm/v2/tenant/T/customers/ID.  Setting a field to the value it has is
 * harmless, so a row sent twice (a lost answer, a re-run) writes nothing
 * new.  A field shows the piece's latest status, never an older one that
 * arrived late.
 */

struct st_push {
	long field;		/* status_field_id */
	char *app_key;		/* "ST-App-Key: ..." */
	int gen;		/* the token generation the sender has */
};

struct st_req {
	struct fs_push_req r;	/* first: lib/push.c's part */
	jv wrote;
	int gen;
	bool refreshed;
};

static void
req_clear(struct fs_push_req *r)
{
	jv_free(((struct st_req *)r)->wrote);
}

static int
st_push_start(struct fs_push *p)
{
	struct st_push *s = fs_xmalloc(sizeof *s);
	const char *field = fs_push_setting(p, "status_field_id");
	char *end = NULL;
	int status = FS_EXIT_REMOTE;

	memset(s, 0, sizeof *s);
	p->settings = s;
	s->field = field ? strtol(field, &end, 10) : 0;
	if (field == NULL || *end != '\0' || s->field < 1) {
		fs_err("target '%s': status_field_id must be the typeId of the customers' custom field, not '%s'",
		       p->target, field ? field : "");
		return -1;
	}
	if (fs_http_init(&p->easy, p->target, p->url, fs_push_setting(p, "rate")) != 0)
		return -1;
	p->easy_ready = true;
	if (credentials(&p->ep, &p->easy, p->dry_run) != 0)
		return -1;
	if (p->dry_run)
		return 0;
	{
		char *key = fs_endpoint_secret(&p->ep, "app_key_env", "app_key_file");

		s->app_key = fs_xasprintf("ST-App-Key: %s", key);
		fs_secret_free(key);
	}
	if (token_new(&p->easy, &status) != 0) {
		fs_push_fail(p, status);
		return -1;
	}
	p->secret = fs_xstrdup(st.o.access);
	return 0;
}

static void
st_push_free(struct fs_push *p)
{
	struct st_push *s = p->settings;

	if (s)
		fs_secret_free(s->app_key);
	st_free();
}

/* The sender's token, after a renewal. */
static void
sender_token(struct fs_push *p)
{
	struct st_push *s = p->settings;

	if (s->gen != st.gen && p->http) {
		fs_push_http_auth_bearer(p->http, st.o.access);
		s->gen = st.gen;
	}
}

/* A row's status label (its piece's latest), or NULL with *why. */
static char *
row_label(struct fs_push *p, const struct fs_outbox_row *r, char **why)
{
	jv ev = jv_parse(r->line), data = fs_jget(ev, "data");
	const char *status = fs_jstr(data, "status"), *vendor_id = fs_jstr(data, "vendor_id");
	char *now_status = NULL, *label = NULL;

	*why = NULL;
	if (vendor_id && fs_piece_status(&p->cli->st, vendor_id, &now_status) == 0 && now_status &&
	    fs_outbox_status_rank(now_status) > fs_outbox_status_rank(status))
		status = now_status;
	if (r->contact_id == NULL || strspn(r->contact_id, "0123456789") != strlen(r->contact_id) || !*r->contact_id)
		*why = fs_xasprintf("contact_id '%s' is no ServiceTitan customer id", r->contact_id ? r->contact_id : "");
	else if (fs_push_mail_label(status) == NULL)
		*why = fs_xasprintf("unknown mail status \"%s\"", status ? status : "");
	else
		label = fs_xstrdup(fs_push_mail_label(status));
	free(now_status);
	jv_free(data);
	jv_free(ev);
	return label;
}

static struct fs_push_job *
st_write_back(struct fs_push *p)
{
	struct st_push *s = p->settings;
	struct fs_outbox_row *r;

	while ((r = fs_push_next_row(p)) != NULL) {
		struct st_req *q = (struct st_req *)fs_push_req_new(1, sizeof *q);
		char *label, *why;
		jv field, body;
		int status = FS_EXIT_REMOTE;

		q->wrote = jv_null();
		q->r.clear = req_clear;
		fs_push_req_take(&q->r, r);
		r = &q->r.rows[0];
		if ((label = row_label(p, r, &why)) == NULL) {
			fs_push_dead_local(p, &q->r, why);
			fs_push_req_free(&q->r);
			free(why);
			continue;
		}
		if (token_due() && token_new(&p->easy, &status) != 0) {
			fs_push_fail(p, status);
			p->stop = true;
			fs_push_req_free(&q->r);
			free(label);
			return NULL;
		}
		field = jv_object_set(jv_object(), jv_string("typeId"), jv_number((double)s->field));
		field = jv_object_set(field, jv_string("value"), jv_string(label));
		body = jv_object_set(jv_object(), jv_string("customFields"), jv_array_append(jv_array(), field));
		q->r.j.body = fs_jdump(body);
		jv_free(body);
		q->wrote = jv_object_set(jv_object(), jv_string("custom_field"),
					 jv_object_set(jv_object(), jv_string(fs_push_setting(p, "status_field_id")),
						       jv_string(label)));
		q->r.j.url = fs_xasprintf("%s/crm/v2/tenant/%s/customers/%s", p->url, st.tenant, r->contact_id);
		q->r.j.method = "PATCH";
		q->r.j.bucket = "PATCH /crm/v2/tenant/customers";
		fs_push_job_header(&q->r.j, s->app_key);
		q->gen = st.gen;
		free(label);
		sender_token(p);
		return &q->r.j;
	}
	return NULL;
}

static int
st_answer(struct fs_push *p, struct fs_push_job *j)
{
	struct st_req *q = (struct st_req *)j->user;
	char *e = NULL;
	int rc, status = FS_EXIT_USAGE;

	if (j->http_status == 401) {
		/* Renewed now, or by another request since this one was sent; refused twice: a person must act. */
		if (!(q->gen == st.gen && q->refreshed) && (q->gen < st.gen || token_new(&p->easy, &status) == 0)) {
			q->refreshed = true;
			q->gen = st.gen;
			sender_token(p);
			return 1;
		}
		if (!p->stop)
			fs_err("%s: HTTP 401: the access token was refused; check the tenant's client id and secret",
			       p->target);
		fs_push_fail(p, status);
		p->stop = true;
		fs_push_req_free(&q->r);
		return 0;
	}
	q->r.tries[0]++;
	if (j->http_status >= 200 && j->http_status < 300) {
		p->accepted++;
		fs_push_attempt(&q->r, 0, NULL);
		rc = fs_push_row_written(p, &q->r, 0, jv_copy(q->wrote));
	} else {
		e = fs_push_answer_error(j);
		fs_push_attempt(&q->r, 0, e);
		rc = fs_push_transient(j->http_status) ? fs_push_row_retry(p, &q->r, 0, e)
						       : fs_push_row_dead(p, &q->r, 0, e);
	}
	free(e);
	fs_push_req_free(&q->r);
	if (rc < 0)
		p->stop = true;
	return 0;
}

static void
st_plan(struct fs_push *p, jv ev, const char *note)
{
	jv data = fs_jget(ev, "data");
	struct fs_outbox_row r = {.contact_id = (char *)fs_jstr(data, "contact_id"), .event_id = (char *)fs_jstr(ev, "id")};
	char *label, *why;

	r.line = fs_jdump(ev);
	if ((label = row_label(p, &r, &why)) != NULL) {
		p->planned++;
		printf("would write customer %s: %s (custom field %s)%s\n", r.contact_id, label,
		       fs_push_setting(p, "status_field_id"), note);
		free(label);
	} else {
		printf("would dead-letter %s: %s\n", r.event_id, why);
		free(why);
	}
	free(r.line);
	jv_free(data);
}

static const char *const st_takes[] = {"mail.status", NULL};

const struct fs_vendor fs_vendor_servicetitan = {
	.kind = "servicetitan",
	.flags = FS_VENDOR_INBOX | FS_VENDOR_OWN_401,
	.streams = streams,
	.saved_stream = "customers",
	.start = st_start,
	.describe = st_describe,
	.inbox = st_inbox,
	.pull = st_pull,
	.after = st_after,
	.takes = st_takes,
	.push_start = st_push_start,
	.write_back = st_write_back,
	.answer = st_answer,
	.plan = st_plan,
	.push_free = st_push_free,
	.trigger_property = st_property,
	.jobs_object = "jobs",
};
