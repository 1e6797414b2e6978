/*
 * HubSpot's connector: the webhook inbox (contact ids, then a batch read of
 * those contacts), then CRM v3 search per stream (contacts, calls, emails,
 * meetings, tasks, deals won), keyset-paged on (last-modified time, id);
 * --describe lists the properties of contacts (and deals).
 *
 * Push (fs-push's write-back): batch updates of contact properties (the
 * mail status, the last mail sent, the last follow-up), each contact's rows
 * merged into one input, and the per-input failures of a batch answered 207.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

#define PAGE 200		/* search page (HubSpot's maximum) */
#define ASSOC_PAGE 100		/* engagements and deals: one association batch a page */
#define BATCH 100		/* batch read inputs */

static void
format_ms(int64_t ms, char out[32])
{
	char base[21];
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;

	fs_time_format(secs, base);
	snprintf(out, 32, "%.19s.%03dZ", base, (int)(ms - secs * 1000));
}

struct hs_cursor {
	bool set, inclusive;	/* inclusive: >= t, no id (from --since) */
	int64_t t, id;
	int64_t batch;		/* the checkpoint's number (look-back), 0 for none */
};

/*
 * "2026-11-29T11:00:00.123Z/102": everything up to that (time, id) is done;
 * "…/102/7" is the 7th checkpoint of a stream with a look-back margin.
 */
static int
cursor_parse(const char *s, struct hs_cursor *c)
{
	const char *slash = strchr(s, '/');
	char tbuf[64], *end;

	memset(c, 0, sizeof *c);
	if (slash == NULL || (size_t)(slash - s) >= sizeof tbuf)
		return -1;
	memcpy(tbuf, s, (size_t)(slash - s));
	tbuf[slash - s] = '\0';
	if (fs_time_ms(tbuf, &c->t) != 0)
		return -1;
	errno = 0;
	c->id = strtoll(slash + 1, &end, 10);
	if (errno || end == slash + 1 || (*end && *end != '/'))
		return -1;
	if (*end == '/') {
		const char *b = end + 1;

		c->batch = strtoll(b, &end, 10);
		if (errno || end == b || *end || c->batch < 0)
			return -1;
	}
	c->set = true;
	return 0;
}

static char *
cursor_text(int64_t t, int64_t id, int64_t batch)
{
	char ts[32];

	format_ms(t, ts);
	if (batch > 0)
		return fs_xasprintf("%s/%lld/%lld", ts, (long long)id, (long long)batch);
	return fs_xasprintf("%s/%lld", ts, (long long)id);
}

/*
 * One search stream's run.  With a look-back margin the first query starts
 * that long before the committed cursor (floor): what is at or before the
 * floor and was emitted before (hubspot_seen) is skipped, what became
 * visible since is emitted, and checkpoints never go back past the floor.
 */
struct hs_run {
	struct hs_cursor floor;	/* the committed cursor */
	int64_t lookback;	/* ms; 0 for none */
	bool filter;		/* skip pairs at or before the floor that were emitted */
	int64_t batch;		/* the number of the last checkpoint */
	long fresh;		/* records emitted since the last checkpoint */
};

static bool
at_or_before(int64_t t, int64_t id, const struct hs_cursor *c)
{
	return c->set && (t < c->t || (t == c->t && id <= c->id));
}

static const struct fs_stream hs_streams[] = {
	{"contacts", "lastmodifieddate", false},
	{"calls", "hs_lastmodifieddate", true},
	{"emails", "hs_lastmodifieddate", true},
	{"meetings", "hs_lastmodifieddate", true},
	{"tasks", "hs_lastmodifieddate", true},
	{"deals", "hs_lastmodifieddate", true},
	{NULL, NULL, false},
};

/* A stream's properties.STREAM setting (contacts: else properties); contacts also the
 * status_property and suppress_property, unless the list has them. */
static jv
stream_props(struct fs_pull *p, const struct fs_stream *s)
{
	char key[64];
	const char *extra[2] = {fs_setting(&p->ep, "status_property"), fs_setting(&p->ep, "suppress_property")};
	jv a;

	snprintf(key, sizeof key, "properties.%s", s->name);
	a = fs_split_list(fs_setting(&p->ep, key));
	for (int k = 0; k < 2 && strcmp(s->name, "contacts") == 0; k++) {
		bool listed = false;

		if (extra[k] == NULL)
			continue;
		jv_array_foreach(a, i, v) {
			(void)i;
			listed |= strcmp(jv_string_value(v), extra[k]) == 0;
			jv_free(v);
		}
		if (!listed)
			a = jv_array_append(a, jv_string(extra[k]));
	}
	return a;
}

static jv
filter(const char *prop, const char *op, jv value)
{
	jv f = jv_object();

	f = jv_object_set(f, jv_string("propertyName"), jv_string(prop));
	f = jv_object_set(f, jv_string("operator"), jv_string(op));
	if (jv_get_kind(value) == JV_KIND_ARRAY)
		f = jv_object_set(f, jv_string("values"), value);
	else
		f = jv_object_set(f, jv_string("value"), value);
	return f;
}

#define NOT_IN_MAX 100		/* values of one NOT_IN filter */
#define PARTIAL_MAX 500		/* ids of a partly emitted timestamp, at most (5 NOT_IN filters) */

struct partial {		/* a timestamp whose records are only partly out */
	int64_t t, id[PARTIAL_MAX];
	int n;
};

/* How many ids a query can exclude: one group holds 6 filters, one is the time (and one the deal stage). */
static int
partial_cap(const struct fs_stream *s)
{
	return strcmp(s->name, "deals") == 0 ? 4 * NOT_IN_MAX : 5 * NOT_IN_MAX;
}

static int64_t
partial_max(const struct partial *part)
{
	int64_t m = -1;

	for (int i = 0; i < part->n; i++)
		if (part->id[i] > m)
			m = part->id[i];
	return m;
}

static bool
partial_has(const struct partial *part, int64_t id)
{
	for (int i = 0; i < part->n; i++)
		if (part->id[i] == id)
			return true;
	return false;
}

static jv
num_text(int64_t v)
{
	return jv_string_fmt("%lld", (long long)v);
}

/* The search body: after the cursor, or in tie mode every id after it at one time. */
/*
 * The search body.  Normal: after the cursor, or, while a timestamp is only
 * partly emitted, that timestamp on minus the ids already out (NOT_IN).
 * Tie mode: one timestamp, by id, after an id.
 */
static jv
search_body(struct fs_pull *p, const struct fs_stream *s, const struct hs_cursor *c, bool tie, int limit,
	    const struct partial *part)
{
	jv body = jv_object(), groups = jv_array(), sort = jv_object();
	const char *won = fs_setting(&p->ep, "won_stages");

	if (tie) {
		jv g = jv_array_append(jv_array(), filter(s->modified, "EQ", num_text(c->t)));

		if (c->id >= 0)
			g = jv_array_append(g, filter("hs_object_id", "GT", num_text(c->id)));
		groups = jv_array_append(groups, g);
	} else if (part->n > 0) {
		jv g = jv_array_append(jv_array(), filter(s->modified, "GTE", num_text(part->t)));

		for (int off = 0; off < part->n; off += NOT_IN_MAX) {
			jv ids = jv_array();

			for (int i = off; i < part->n && i < off + NOT_IN_MAX; i++)
				ids = jv_array_append(ids, num_text(part->id[i]));
			g = jv_array_append(g, filter("hs_object_id", "NOT_IN", ids));
		}
		groups = jv_array_append(groups, g);
	} else if (c->set && c->inclusive) {
		groups = jv_array_append(groups, jv_array_append(jv_array(), filter(s->modified, "GTE", num_text(c->t))));
	} else if (c->set) {
		groups = jv_array_append(groups, jv_array_append(jv_array(), filter(s->modified, "GT", num_text(c->t))));
		groups = jv_array_append(groups, jv_array_append(jv_array_append(jv_array(),
			filter(s->modified, "EQ", num_text(c->t))), filter("hs_object_id", "GT", num_text(c->id))));
	}
	if (strcmp(s->name, "deals") == 0) {
		jv stages = fs_split_list(won), ng = jv_array();

		if (jv_array_length(jv_copy(groups)) == 0)
			groups = jv_array_append(groups, jv_array());
		jv_array_foreach(groups, i, g) {
			(void)i;
			ng = jv_array_append(ng, jv_array_append(g, filter("dealstage", "IN", jv_copy(stages))));
		}
		jv_free(groups);
		jv_free(stages);
		groups = ng;
	}
	if (jv_array_length(jv_copy(groups)) > 0) {
		jv fg = jv_array();

		jv_array_foreach(groups, i, g) {
			(void)i;
			fg = jv_array_append(fg, jv_object_set(jv_object(), jv_string("filters"), g));
		}
		body = jv_object_set(body, jv_string("filterGroups"), fg);
	}
	jv_free(groups);
	sort = jv_object_set(sort, jv_string("propertyName"), jv_string(tie ? "hs_object_id" : s->modified));
	sort = jv_object_set(sort, jv_string("direction"), jv_string("ASCENDING"));
	body = jv_object_set(body, jv_string("sorts"), jv_array_append(jv_array(), sort));
	body = jv_object_set(body, jv_string("properties"), stream_props(p, s));
	body = jv_object_set(body, jv_string("limit"), jv_number(limit));
	return body;
}

struct item {
	int64_t t, id;
	jv obj;
};

static int
by_time_id(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static int
item_of(struct fs_pull *p, const struct fs_stream *s, jv obj, struct item *it)
{
	jv props = fs_jget(obj, "properties");
	const char *id = fs_jstr(obj, "id"), *mod = fs_jstr(props, s->modified);
	char *end;

	if (mod == NULL)
		mod = fs_jstr(obj, "updatedAt");
	it->obj = obj;
	it->id = id ? strtoll(id, &end, 10) : -1;
	if (id == NULL || *end || it->id < 0 || fs_time_ms(mod, &it->t) != 0) {
		fs_err("%s: %s search: a result without a numeric \"id\" and a \"%s\" time", p->name, s->name,
		       s->modified);
		jv_free(props);
		return -1;
	}
	jv_free(props);
	return 0;
}

/* Adds "associations":{"contacts":{"results":[{"id","type"}]}} to each item. */
static int
add_associations(struct fs_pull *p, const struct fs_stream *s, struct item *it, int n)
{
	jv inputs = jv_array(), body, ans, by = jv_object();
	char path[128], type[48];
	long status;

	if (n == 0)
		return 0;
	snprintf(type, sizeof type, "%.*s_to_contact", (int)strlen(s->name) - 1, s->name);
	for (int i = 0; i < n; i++)
		inputs = jv_array_append(inputs, jv_object_set(jv_object(), jv_string("id"),
							       jv_string_fmt("%lld", (long long)it[i].id)));
	body = jv_object_set(jv_object(), jv_string("inputs"), inputs);
	snprintf(path, sizeof path, "/crm/v4/associations/%s/contacts/batch/read", s->name);
	ans = fs_pull_call(p, "POST", path, body, "results", &status);
	if (!jv_is_valid(ans)) {
		jv_free(by);
		return -1;
	}
	jv results = fs_jget(ans, "results");
	jv_array_foreach(results, i, r) {
		jv from = fs_jget(r, "from"), to = fs_jget(r, "to"), list = jv_array();
		const char *fid = fs_jstr(from, "id");

		(void)i;
		if (jv_get_kind(to) == JV_KIND_ARRAY)
			jv_array_foreach(to, j, t) {
				jv oid = fs_jget(t, "toObjectId");

				(void)j;
				if (jv_get_kind(oid) == JV_KIND_NUMBER)
					list = jv_array_append(list, jv_object_set(jv_object_set(jv_object(),
						jv_string("id"), jv_string_fmt("%.0f", jv_number_value(oid))),
						jv_string("type"), jv_string(type)));
				else if (jv_get_kind(oid) == JV_KIND_STRING)
					list = jv_array_append(list, jv_object_set(jv_object_set(jv_object(),
						jv_string("id"), jv_copy(oid)), jv_string("type"), jv_string(type)));
				jv_free(oid);
				jv_free(t);
			}
		if (fid)
			by = jv_object_set(by, jv_string(fid), list);
		else
			jv_free(list);
		jv_free(from);
		jv_free(to);
		jv_free(r);
	}
	jv_free(results);
	jv_free(ans);
	for (int i = 0; i < n; i++) {
		char id[32];
		jv list;

		snprintf(id, sizeof id, "%lld", (long long)it[i].id);
		list = jv_object_get(jv_copy(by), jv_string(id));
		if (!jv_is_valid(list)) {
			jv_free(list);
			list = jv_array();
		}
		if (jv_array_length(jv_copy(list)) > 0)
			it[i].obj = jv_object_set(it[i].obj, jv_string("associations"),
				jv_object_set(jv_object(), jv_string("contacts"),
					      jv_object_set(jv_object(), jv_string("results"), list)));
		else
			jv_free(list);
	}
	jv_free(by);
	return 0;
}

/*
 * Emits items [0, n) (up to --limit), but those the look-back finds were
 * emitted before; returns how many were dealt with (emitted or skipped),
 * -1 on failure.  The pairs within the margin are recorded, and committed,
 * before the records go out.
 */
static int
emit_items(struct fs_pull *p, const struct fs_stream *s, struct hs_run *run, struct item *it, int n, long *count)
{
	struct fs_state *st = &p->cli->st;
	struct item *sel;
	int *idx, k = 0, done = 0;
	char key[32];

	if (n <= 0 || (p->limit > 0 && *count >= p->limit))
		return 0;
	sel = fs_xmalloc((size_t)n * sizeof *sel);
	idx = fs_xmalloc((size_t)n * sizeof *idx);
	if (run->lookback > 0 && !p->dry_run && fs_state_begin(st) != 0)
		goto state;
	for (done = 0; done < n && (p->limit == 0 || *count + k < p->limit); done++) {
		const struct item *x = &it[done];

		if (run->lookback > 0 && !p->dry_run) {
			if (run->filter && at_or_before(x->t, x->id, &run->floor)) {
				int seen = fs_lookback_seen(st, p->name, s->name, x->id, x->t);

				if (seen < 0)
					goto state;
				if (seen) {
					fs_debug("%s %s: %lld at %lld was emitted before: not again", p->name, s->name,
						 (long long)x->id, (long long)x->t);
					continue;
				}
			}
		}
		sel[k] = *x;
		idx[k++] = done;
	}
	/* The checkpoint that covers them is at the last item dealt with or later:
	 * pairs older than its margin can never be read again. */
	for (int j = 0; run->lookback > 0 && !p->dry_run && j < k; j++)
		if (sel[j].t >= it[done - 1].t - run->lookback &&
		    fs_lookback_record(st, p->name, s->name, sel[j].id, sel[j].t, run->batch + 1) != 0)
			goto state;
	if (run->lookback > 0 && !p->dry_run && fs_state_commit(st) != 0)
		goto state;
	if (s->assoc && k > 0) {
		if (add_associations(p, s, sel, k) != 0) {
			done = -1;
			goto out;
		}
		for (int j = 0; j < k; j++)
			it[idx[j]].obj = sel[j].obj;
	}
	for (int j = 0; j < k; j++) {
		snprintf(key, sizeof key, "%lld", (long long)sel[j].id);
		fs_pull_record(p, s->name, key, jv_copy(sel[j].obj));
	}
	*count += k;
	run->fresh += k;
out:
	free(sel);
	free(idx);
	return done;
state:
	fs_state_rollback(st);
	fs_pull_fail(p, FS_EXIT_STATE);
	done = -1;
	goto out;
}

/*
 * Everything up to (t, id) is out: the next query starts after it, and a
 * checkpoint says so, unless it would say nothing new (a look-back page of
 * records all emitted before, at or before the committed cursor).
 */
static int
checkpoint_at(struct fs_pull *p, const struct fs_stream *s, struct hs_run *run, struct hs_cursor *c, int64_t t,
	      int64_t id)
{
	char *text;
	int rc;

	c->set = true;
	c->inclusive = false;
	c->t = t;
	c->id = id;
	if (at_or_before(t, id, &run->floor)) {
		if (run->fresh == 0)
			return 0;
		t = run->floor.t;	/* late records: the cursor stays where it was */
		id = run->floor.id;
	}
	run->fresh = 0;
	if (run->lookback > 0)
		run->batch++;
	text = cursor_text(t, id, run->lookback > 0 ? run->batch : 0);
	rc = fs_pull_checkpoint(p, s->name, text);
	free(text);
	return rc;
}

static bool
has_next(jv ans)
{
	jv paging = fs_jget(ans, "paging"), next = fs_jget(paging, "next");
	bool yes = jv_get_kind(next) == JV_KIND_OBJECT;

	jv_free(next);
	jv_free(paging);
	return yes;
}

/*
 * Keyset paging: every page is a new query for what comes after what was
 * emitted, so the 10,000-result cap of one query never applies and records
 * that change between pages cannot shift an offset.  HubSpot does not
 * promise the order of records that share a timestamp, so nothing relies on
 * it: a full page's last timestamp may continue on the next page; its
 * records go out, and the next query excludes their ids (NOT_IN) at that
 * timestamp.  The checkpoint only ever covers whole timestamps, or a prefix
 * by id of one timestamp read in tie mode (that timestamp alone, sorted by
 * id), which serves timestamps shared by more records than fit the list.
 */
static int
pull_stream(struct fs_pull *p, const struct fs_stream *s)
{
	struct hs_cursor c = {0}, committed = {0};
	struct hs_run run = {0};
	struct partial part = {0};
	char *saved = NULL, path[96];
	bool tie = false;
	long count = 0, pages = 0;
	int limit = s->assoc ? ASSOC_PAGE : PAGE;

	if (fs_cursor_get(&p->cli->st, p->name, s->name, &saved) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (saved && cursor_parse(saved, &committed) != 0) {
		fs_err("%s: committed cursor of stream %s is not TIME/ID: '%s'", p->name, s->name, saved);
		free(saved);
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	free(saved);
	run.lookback = p->lookback_ms;
	run.batch = committed.batch;
	if (run.lookback > 0 && !p->dry_run &&
	    fs_lookback_forget(&p->cli->st, p->name, s->name, committed.batch,
			       committed.set ? committed.t - run.lookback : 0) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (p->since_ms >= 0) {
		c.set = c.inclusive = true;
		c.t = p->since_ms;
	} else if (committed.set && run.lookback > 0) {
		/* Read the margin again: what the search index showed late comes now. */
		run.floor = committed;
		run.filter = true;
		c.set = c.inclusive = true;
		c.t = committed.t - run.lookback;
	} else {
		c = committed;
	}
	snprintf(path, sizeof path, "/crm/v3/objects/%s/search", s->name);
	p->hold = true;
	while (!fs_pull_failed(p) && (p->limit == 0 || count < p->limit)) {
		long status;
		jv ans = fs_pull_call(p, "POST", path, search_body(p, s, &c, tie, limit, &part), "results", &status);
		jv results;
		struct item *it;
		int n, i, rc = 0;
		bool done = false, final_page;

		if (!jv_is_valid(ans) || p->dry_run) {
			jv_free(ans);
			break;
		}
		pages++;
		results = fs_jget(ans, "results");
		if (jv_get_kind(results) != JV_KIND_ARRAY) {
			fs_err("%s: %s search: \"results\" is not a list", p->name, s->name);
			jv_free(results);
			jv_free(ans);
			fs_pull_fail(p, FS_EXIT_REMOTE);
			break;
		}
		n = jv_array_length(jv_copy(results));
		/* A full page without paging.next is the query's last: no need to ask again. */
		final_page = n < limit || !has_next(ans);
		it = fs_xmalloc((size_t)(n ? n : 1) * sizeof *it);
		for (i = 0; i < n; i++)
			if (item_of(p, s, jv_array_get(jv_copy(results), i), &it[i]) != 0) {
				jv_free(it[i].obj);
				fs_pull_fail(p, FS_EXIT_REMOTE);
				break;
			}
		jv_free(results);
		jv_free(ans);
		if (i < n) {
			while (i-- > 0)
				jv_free(it[i].obj);
			free(it);
			break;
		}
		qsort(it, (size_t)n, sizeof *it, by_time_id);
		if (tie) {
			/* One timestamp, by id: what is not out yet goes, the cursor moves to the last id. */
			int64_t last = n > 0 ? it[n - 1].id : 0;
			int k = 0, m;

			for (i = 0; i < n; i++)
				if (!partial_has(&part, it[i].id)) {
					struct item t = it[k];

					it[k++] = it[i];
					it[i] = t;
				}
			if ((m = emit_items(p, s, &run, it, k, &count)) < 0)
				rc = -1;
			else if (m == k && n > 0)
				rc = checkpoint_at(p, s, &run, &c, c.t, last);
			else if (m > 0)
				rc = checkpoint_at(p, s, &run, &c, c.t, it[m - 1].id);
			if (final_page) {
				tie = false;	/* the next query starts after this timestamp */
				part.n = 0;
			}
		} else if (final_page) {
			/* The last page: with it, a partly emitted timestamp is complete too. */
			if ((i = emit_items(p, s, &run, it, n, &count)) < 0) {
				rc = -1;
			} else if (i > 0 || part.n > 0) {
				int64_t t = i > 0 ? it[i - 1].t : part.t, id = i > 0 ? it[i - 1].id : partial_max(&part);

				if (i == n && part.n > 0 && part.t == t && partial_max(&part) > id)
					id = partial_max(&part);
				rc = checkpoint_at(p, s, &run, &c, t, id);
			}
			part.n = 0;
			done = true;
		} else if (it[0].t == it[n - 1].t) {
			/* A whole page at one timestamp: it goes out and the next query
			 * excludes its ids too, while they fit; else it is read by id. */
			if (part.n > 0 && part.t != it[0].t) {
				/* The partial timestamp is complete: none of it was left. */
				rc = checkpoint_at(p, s, &run, &c, part.t, partial_max(&part));
				part.n = 0;
			}
			if (rc == 0 && part.n + n <= partial_cap(s) && !(p->limit > 0 && count + n > p->limit)) {
				int m = emit_items(p, s, &run, it, n, &count);

				if (m < 0)
					rc = -1;
				part.t = it[0].t;
				for (i = 0; i < m; i++)
					part.id[part.n++] = it[i].id;
			} else if (rc == 0) {
				c.id = c.set && !c.inclusive && c.t == it[0].t ? c.id : -1;
				c.t = it[0].t;
				c.set = true;
				c.inclusive = false;
				tie = true;
			}
		} else {
			int whole = n, m;

			while (whole > 0 && it[whole - 1].t == it[n - 1].t)
				whole--;
			m = emit_items(p, s, &run, it, whole, &count);
			if (m > 0) {
				int64_t id = it[m - 1].id;

				/* A partly emitted timestamp completed on this page: all its ids are out. */
				if (part.n > 0 && part.t == it[m - 1].t && partial_max(&part) > id)
					id = partial_max(&part);
				rc = checkpoint_at(p, s, &run, &c, it[m - 1].t, id);
			} else if (m < 0)
				rc = -1;
			part.n = 0;
			if (rc == 0 && m == whole && p->limit > 0 && count + (n - whole) >= p->limit) {
				/* The limit falls in the last timestamp: it waits for the next run,
				 * so that every record this run writes has a checkpoint after it. */
				done = true;
			} else if (rc == 0 && m == whole && n - whole <= partial_cap(s)) {
				/* The last timestamp, as far as this page has it. */
				m = emit_items(p, s, &run, it + whole, n - whole, &count);
				if (m < 0)
					rc = -1;
				part.t = it[n - 1].t;
				for (i = 0; i < m; i++)
					part.id[part.n++] = it[whole + i].id;
			} else if (rc == 0 && m == whole) {
				c.id = -1;
				c.t = it[n - 1].t;
				tie = true;
			}
		}
		for (i = 0; i < n; i++)
			jv_free(it[i].obj);
		free(it);
		fs_pull_progress(p, s->name, pages, false);
		if (rc != 0 || done)
			break;
	}
	/* Records no checkpoint covers (the run failed) are not written. */
	p->hold = false;
	p->held.len = 0;
	if (pages)
		fs_pull_progress(p, s->name, pages, true);
	fs_debug("%s %s: %ld records in %ld pages", p->name, s->name, count, pages);
	return fs_pull_failed(p) ? -1 : 0;
}

/* Contacts by id (webhook notifications), in batches; unknown ids are skipped. */
static int
read_contacts(struct fs_pull *p, jv ids)
{
	int n = jv_array_length(jv_copy(ids));

	for (int off = 0; off < n && !fs_pull_failed(p); off += BATCH) {
		jv inputs = jv_array(), body, ans, results;
		long status;

		for (int i = off; i < n && i < off + BATCH; i++)
			inputs = jv_array_append(inputs, jv_object_set(jv_object(), jv_string("id"),
								       jv_array_get(jv_copy(ids), i)));
		body = jv_object_set(jv_object(), jv_string("properties"), stream_props(p, &hs_streams[0]));
		body = jv_object_set(body, jv_string("inputs"), inputs);
		ans = fs_pull_call(p, "POST", "/crm/v3/objects/contacts/batch/read", body, "results", &status);
		if (!jv_is_valid(ans))
			return p->dry_run ? 0 : -1;
		results = fs_jget(ans, "results");
		if (status == 207)
			fs_debug("%s: some notified contacts are gone (HTTP 207)", p->name);
		if (jv_get_kind(results) == JV_KIND_ARRAY)
			jv_array_foreach(results, i, r) {
				const char *id = fs_jstr(r, "id");

				(void)i;
				if (id)
					fs_pull_record(p, "contacts", id, jv_copy(r));
				jv_free(r);
			}
		jv_free(results);
		jv_free(ans);
	}
	return fs_pull_failed(p) ? -1 : 0;
}

static int
inbox_row_hubspot(struct fs_pull *p, const struct fs_inbox_row *r, jv *ids, jv *seen)
{
	jv body = jv_parse_sized(r->body, (int)r->len);

	if (fs_json_check(r->body, r->len, NULL) != NULL || jv_get_kind(body) != JV_KIND_ARRAY) {
		jv_free(body);
		return fs_pull_dead(p, r->body, r->len, r->id, "inbox row %lld: not a JSON array of HubSpot events",
			    (long long)r->id);
	}
	jv_array_foreach(body, i, e) {
		const char *type = fs_jstr(e, "subscriptionType");
		jv oid = fs_jget(e, "objectId");
		jv id = jv_get_kind(oid) == JV_KIND_NUMBER ? jv_string_fmt("%.0f", jv_number_value(oid))
		      : jv_get_kind(oid) == JV_KIND_STRING ? jv_copy(oid) : jv_invalid();

		(void)i;
		/* Deleted contacts cannot be read; everything else about a contact can. */
		if (jv_is_valid(id) && type && strncmp(type, "contact.", 8) == 0 &&
		    strcmp(type, "contact.deletion") != 0 && strcmp(type, "contact.privacyDeletion") != 0 &&
		    !jv_object_has(jv_copy(*seen), jv_copy(id))) {
			*seen = jv_object_set(*seen, jv_copy(id), jv_true());
			*ids = jv_array_append(*ids, id);
		} else {
			jv_free(id);
		}
		jv_free(oid);
		jv_free(e);
	}
	jv_free(body);
	return 0;
}

/* One batch of inbox rows: the contacts they name, read (once each). */
static int
hubspot_inbox(struct fs_pull *p, const struct fs_inbox_row *rows, int n)
{
	jv ids = jv_array(), seen = jv_object();

	for (int i = 0; i < n && !fs_pull_failed(p); i++)
		inbox_row_hubspot(p, &rows[i], &ids, &seen);
	if (!fs_pull_failed(p))
		read_contacts(p, ids);
	jv_free(ids);
	jv_free(seen);
	return fs_pull_failed(p) ? -1 : 0;
}

/* ---- --describe ---- */

/*
 * One object type's properties: printed, one a line (NAME TYPE LABEL
 * MAPPED VALUES, NAME prefixed for objects other than contacts), and kept
 * in *listing for the state file.  The values are an enumeration's options
 * ("-" when it has none).
 */
static int
describe_object(struct fs_pull *p, const char *object, const char *mapkey, jv *listing)
{
	struct fs_map *m = NULL;
	char *path = fs_map_find(fs_setting(&p->ep, mapkey)), url[64];
	const char *const *reads = NULL, *extra[2] = {NULL, NULL};
	int nreads = 0;
	long status;
	jv ans, results;

	if (strcmp(object, "contacts") == 0) {
		/* The properties the source names are mapped too. */
		extra[0] = fs_setting(&p->ep, "status_property");
		extra[1] = fs_setting(&p->ep, "suppress_property");
	}
	if (path && (m = fs_map_load(path, jv_object())) != NULL)
		reads = fs_map_reads(m, &nreads);
	free(path);
	snprintf(url, sizeof url, "/crm/v3/properties/%s", object);
	ans = fs_pull_call(p, "GET", url, jv_invalid(), "results", &status);
	if (!jv_is_valid(ans)) {
		fs_map_free(m);
		return -1;
	}
	results = fs_jget(ans, "results");
	jv_array_foreach(results, i, prop) {
		const char *name = fs_jstr(prop, "name"), *type = fs_jstr(prop, "type");
		const char *label = fs_jstr(prop, "label");
		jv options = fs_jget(prop, "options"), values = jv_array(), f;
		struct fs_buf shown = {0};
		bool mapped = false;

		(void)i;
		for (int k = 0; name && k < nreads; k++) {
			const char *r = reads[k][0] == '?' ? reads[k] + 1 : reads[k];

			if (strncmp(r, "data.properties.", 16) == 0 && strcmp(r + 16, name) == 0)
				mapped = true;
		}
		for (int k = 0; name && k < 2; k++)
			mapped |= extra[k] && strcmp(extra[k], name) == 0;
		if (jv_get_kind(options) == JV_KIND_ARRAY)
			jv_array_foreach(options, k, o) {
				const char *v = fs_jstr(o, "value");

				if (v) {
					fs_buf_addf(&shown, "%s%s", shown.len ? ", " : "", v);
					values = jv_array_append(values, jv_string(v));
				}
				(void)k;
				jv_free(o);
			}
		if (name) {
			printf("%s%s%s\t%s\t%s\t%s\t%s\n", strcmp(object, "contacts") ? object : "",
			       strcmp(object, "contacts") ? "." : "", name, type ? type : "", label ? label : "",
			       mapped ? "mapped" : "-", shown.len ? shown.data : "-");
			f = jv_object_set(jv_object(), jv_string("name"), jv_string(name));
			f = jv_object_set(f, jv_string("type"), type ? jv_string(type) : jv_null());
			f = jv_object_set(f, jv_string("label"), label ? jv_string(label) : jv_null());
			f = jv_object_set(f, jv_string("options"), jv_copy(values));
			f = jv_object_set(f, jv_string("mapped"), mapped ? jv_true() : jv_false());
			*listing = jv_array_append(*listing, f);
		}
		fs_buf_free(&shown);
		jv_free(values);
		jv_free(options);
		jv_free(prop);
	}
	jv_free(results);
	jv_free(ans);
	fs_map_free(m);
	return 0;
}

/*
 * The mapping list of contacts, and of deals when the source pulls them;
 * stored in the state file, where fs-normalize checks campaign triggers
 * against it (a status no source gives, a property it does not have).
 */
static int
describe_hubspot(struct fs_pull *p)
{
	jv streams = fs_split_list(fs_setting(&p->ep, "streams")), contacts = jv_array(), deals = jv_array();
	bool with_deals = false;
	int rc;

	jv_array_foreach(streams, i, s) {
		(void)i;
		with_deals |= strcmp(jv_string_value(s), "deals") == 0;
		jv_free(s);
	}
	jv_free(streams);
	rc = describe_object(p, "contacts", "map.contacts", &contacts);
	if (rc == 0 && with_deals)
		rc = describe_object(p, "deals", "map.deals", &deals);
	if (rc == 0) {
		struct fs_state *st = &p->cli->st;

		if (fs_state_begin(st) != 0 || fs_source_fields_store(st, p->name, "contacts", contacts) != 0 ||
		    (with_deals && fs_source_fields_store(st, p->name, "deals", deals) != 0) ||
		    fs_state_commit(st) != 0) {
			fs_state_rollback(st);
			fs_pull_fail(p, FS_EXIT_STATE);
			rc = -1;
		} else {
			fs_debug("%s: the listing is kept in the state file (%d contact properties, %d deal properties)",
				 p->name, jv_array_length(jv_copy(contacts)), jv_array_length(jv_copy(deals)));
		}
	}
	jv_free(contacts);
	jv_free(deals);
	if (rc != 0)
		return -1;
	return fs_pull_flush(p);
}

static int
lookback_setting(struct fs_pull *p)
{
	const char *v = fs_setting(&p->ep, "lookback");
	int64_t secs = 0;

	if (strcmp(v, "0") != 0 && (fs_duration_parse(v, &secs) != 0 || secs < 0)) {
		fs_err("source '%s': lookback must be a duration such as %s or 0, not '%s'", p->name,
		       fs_setting_default(&p->ep, "lookback"), v);
		return -1;
	}
	p->lookback_ms = secs * 1000;
	return 0;
}

static int
hubspot_start(struct fs_pull *p)
{
	if (fs_pull_http_setup(p, false) != 0)
		return -1;
	/* HubSpot's search endpoints allow about 5 requests a second per account
	 * and send no rate-limit headers: they are paced on their own as well. */
	if (lookback_setting(p) != 0 || fs_http_search_rate(&p->http, fs_setting(&p->ep, "search_rate")) != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return 0;
}

static int
hubspot_describe(struct fs_pull *p)
{
	if (fs_pull_http_setup(p, false) != 0)
		return -1;
	return describe_hubspot(p);
}

/*
 * A HubSpot pull that went well also keeps the owners' names fresh for the
 * reports (lib/owners.c): after the records, with standard output closed,
 * so that the pipeline never waits for it, and never in a dry run, which
 * changes no state.
 */
static void
refresh_owners(struct fs_pull *p)
{
	if (!p->http_ready || (p->status != FS_EXIT_OK && p->status != FS_EXIT_DLQ))
		return;
	fs_owners_refresh(&p->cli->st, &p->http, p->name);
}

/* ---- push: write-back (fs-push) ---- */

/* A batch answer's failed inputs: {"ID":{"category","message"},...}. */
static jv
batch_failures(const char *resp)
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

/* ---- push: the write-back's batches (fs-push, kind hubspot) ---- */

#define BATCH_INPUTS 100	/* contacts a batch update takes */

/* The contact properties fs-push writes ([target] prop_mail_status and the rest). */
struct hs_props {
	const char *status, *sent, *follow;
};

/* One batch update: its rows, and the properties each row writes. */
struct hs_batch {
	struct fs_push_req r;	/* first: lib/push.c's part */
	jv props;		/* row index -> properties written */
};

static int
hubspot_push_start(struct fs_push *p)
{
	struct hs_props *props = fs_xmalloc(sizeof *props);

	props->status = fs_push_setting(p, "prop_mail_status");
	props->sent = fs_push_setting(p, "prop_last_mail_sent");
	props->follow = fs_push_setting(p, "prop_last_follow_up");
	p->settings = props;
	return 0;
}

/* The properties one row writes; invalid with a reason when it cannot. */
static jv
crm_props(struct fs_push *p, const struct fs_outbox_row *r, int *rank, char **why)
{
	const struct hs_props *names = p->settings;
	jv ev = jv_parse(r->line), data = fs_jget(ev, "data"), props = jv_object();
	const char *kind = fs_jstr(ev, "kind");
	char day[11];

	*rank = -1;
	*why = NULL;
	if (r->contact_id == NULL) {
		*why = fs_xstrdup("no contact_id: nothing to write in the CRM");
	} else if (kind && strcmp(kind, "mail.status") == 0) {
		const char *status = fs_jstr(data, "status"), *vendor_id = fs_jstr(data, "vendor_id");
		char *now_status = NULL;

		/* The CRM gets the piece's latest status, never an older one that arrived late. */
		if (vendor_id && fs_piece_status(&p->cli->st, vendor_id, &now_status) == 0 && now_status &&
		    fs_outbox_status_rank(now_status) > fs_outbox_status_rank(status))
			status = now_status;
		*rank = fs_outbox_status_rank(status);
		if (fs_push_mail_label(status) == NULL)
			*why = fs_xasprintf("unknown mail status \"%s\"", status ? status : "");
		else
			props = jv_object_set(props, jv_string(names->status), jv_string(fs_push_mail_label(status)));
		fs_push_day(fs_jstr(ev, "occurred_at"), day);
		if (status && strcmp(fs_jstr(data, "status") ? fs_jstr(data, "status") : "", "sent") == 0 && *day)
			props = jv_object_set(props, jv_string(names->sent), jv_string(day));
		free(now_status);
	} else if (kind && strcmp(kind, "activity.follow_up") == 0) {
		fs_push_day(fs_jstr(data, "at"), day);
		if (*day)
			props = jv_object_set(props, jv_string(names->follow), jv_string(day));
		else
			*why = fs_xstrdup("activity.follow_up without \"at\"");
	} else {
		*why = fs_xasprintf("a %s target does not take %s events", p->ep.kind, kind ? kind : "untyped");
	}
	jv_free(data);
	jv_free(ev);
	if (*why) {
		jv_free(props);
		return jv_invalid();
	}
	return props;
}

/* Merges b into a: dates keep the later one, the status the further one. */
static jv
merge_props(struct fs_push *p, jv a, int arank, jv b, int brank)
{
	const struct hs_props *names = p->settings;

	jv_object_foreach(b, k, v) {
		const char *key = jv_string_value(k);
		jv old = fs_jget(a, key);
		bool take = !jv_is_valid(old);

		if (!take && strcmp(key, names->status) == 0)
			take = brank >= arank;
		else if (!take)
			take = strcmp(jv_string_value(v), jv_string_value(old)) > 0;
		jv_free(old);
		if (take)
			a = jv_object_set(a, k, v);
		else {
			jv_free(k);
			jv_free(v);
		}
	}
	jv_free(b);
	return a;
}

static void
batch_clear(struct fs_push_req *r)
{
	jv_free(((struct hs_batch *)r)->props);
}

/* A row that writes nothing: out of the batch, into the DLQ. */
static void
batch_drop_last(struct fs_push *p, struct hs_batch *b, const char *why)
{
	struct fs_push_req *one = fs_push_req_new(1, sizeof *one);

	fs_push_req_take(one, &b->r.rows[b->r.nrows - 1]);
	b->r.nrows--;
	jv_free(b->r.hist[b->r.nrows]);
	fs_push_dead_local(p, one, why);
	fs_push_req_free(one);
}

/* The next batch update: up to BATCH_INPUTS contacts, each contact's rows merged into one input. */
static struct fs_push_job *
hubspot_write_back(struct fs_push *p)
{
	struct hs_batch *b = NULL;
	jv inputs = jv_array(), where = jv_object(), ranks = jv_object(), body;
	struct fs_outbox_row *r;
	int ninputs = 0;

	/* A batch with inputs goes out rather than wait for a new claim. */
	while (ninputs < BATCH_INPUTS && (fs_push_rows_claimed(p) || ninputs == 0) && (r = fs_push_next_row(p)) != NULL) {
		jv props, at;
		int rank;
		char *why;

		if (b == NULL) {
			b = (struct hs_batch *)fs_push_req_new(p->chunk, sizeof *b);
			b->props = jv_array();
			b->r.clear = batch_clear;
		}
		fs_push_req_take(&b->r, r);
		r = &b->r.rows[b->r.nrows - 1];
		props = crm_props(p, r, &rank, &why);
		if (!jv_is_valid(props)) {
			jv_free(props);
			batch_drop_last(p, b, why);
			free(why);
			continue;
		}
		b->props = jv_array_append(b->props, jv_copy(props));
		at = fs_jget(where, r->contact_id);
		if (jv_is_valid(at)) {
			int k = (int)jv_number_value(at);
			jv in = jv_array_get(jv_copy(inputs), k);
			jv old = fs_jget(in, "properties"), orank = fs_jget(ranks, r->contact_id);

			in = jv_object_set(in, jv_string("properties"),
					   merge_props(p, old, (int)jv_number_value(orank), props, rank));
			inputs = jv_array_set(inputs, k, in);
			if (rank > (int)jv_number_value(orank))
				ranks = jv_object_set(ranks, jv_string(r->contact_id), jv_number(rank));
			jv_free(orank);
		} else {
			jv in = jv_object();

			in = jv_object_set(in, jv_string("id"), jv_string(r->contact_id));
			in = jv_object_set(in, jv_string("properties"), props);
			inputs = jv_array_append(inputs, in);
			where = jv_object_set(where, jv_string(r->contact_id), jv_number(ninputs++));
			ranks = jv_object_set(ranks, jv_string(r->contact_id), jv_number(rank));
		}
		jv_free(at);
	}
	jv_free(where);
	jv_free(ranks);
	if (b == NULL || b->r.nrows == 0) {
		jv_free(inputs);
		if (b)
			fs_push_req_free(&b->r);
		return NULL;
	}
	body = jv_object_set(jv_object(), jv_string("inputs"), inputs);
	b->r.j.body = fs_jdump(body);
	jv_free(body);
	b->r.j.url = fs_xasprintf("%s/crm/v3/objects/contacts/batch/update", p->url);
	b->r.j.method = "POST";
	b->r.j.bucket = "POST /crm/v3/objects/contacts/batch/update";
	return &b->r.j;
}

/* A 207's failed input that no retry mends. */
static bool
permanent(const char *category)
{
	return strcmp(category, "OBJECT_NOT_FOUND") == 0 || strcmp(category, "VALIDATION_ERROR") == 0 ||
	       strcmp(category, "INVALID_EMAIL") == 0 || strcmp(category, "PROPERTY_DOESNT_EXIST") == 0;
}

/* A batch's answer, row by row: written, or its input's failure (207), or the whole batch's. */
static int
hubspot_answer(struct fs_push *p, struct fs_push_job *j)
{
	struct hs_batch *b = (struct hs_batch *)j->user;
	struct fs_push_req *rq = &b->r;
	jv failed = j->http_status == 207 ? batch_failures(j->resp.data) : jv_object();
	char *err = NULL;
	int rc = 0;

	if (j->http_status < 200 || j->http_status >= 300)
		err = fs_push_answer_error(j);
	else
		p->accepted++;
	for (int i = 0; i < rq->nrows && rc >= 0; i++) {
		jv why = fs_jget(failed, rq->rows[i].contact_id);

		rq->tries[i]++;
		if (jv_is_valid(why)) {
			const char *cat = fs_jstr(why, "category");
			char *e = fs_xasprintf("HTTP 207: %s: %s", cat, fs_jstr(why, "message"));

			fs_push_attempt(rq, i, e);
			rc = permanent(cat) ? fs_push_row_dead(p, rq, i, e) : fs_push_row_retry(p, rq, i, e);
			free(e);
		} else if (err) {
			fs_push_attempt(rq, i, err);
			rc = fs_push_transient(j->http_status) ? fs_push_row_retry(p, rq, i, err)
							       : fs_push_row_dead(p, rq, i, err);
		} else {
			fs_push_attempt(rq, i, NULL);
			rc = fs_push_row_written(p, rq, i, jv_array_get(jv_copy(b->props), i));
		}
		jv_free(why);
	}
	jv_free(failed);
	free(err);
	fs_push_req_free(rq);
	if (rc < 0)
		p->stop = true;
	return 0;
}

/* --dry-run: the update one event would make. */
static void
hubspot_plan(struct fs_push *p, jv ev, const char *note)
{
	jv data = fs_jget(ev, "data"), props;
	const char *contact = fs_jstr(data, "contact_id");
	struct fs_outbox_row r = {.contact_id = (char *)contact};
	char *why = NULL;
	int rank;

	r.line = fs_jdump(ev);
	props = crm_props(p, &r, &rank, &why);
	if (jv_is_valid(props)) {
		char *s = fs_jdump(props);

		p->planned++;
		printf("would update contact %s: %s%s\n", contact, s, note);
		free(s);
	} else {
		printf("would dead-letter %s: %s\n", fs_jstr(ev, "id"), why);
	}
	jv_free(props);
	free(why);
	free(r.line);
	jv_free(data);
}

static void hubspot_map_reads(const struct fs_endpoint *, const char *, struct fs_counts *);
static const char *hubspot_property(const struct fs_endpoint *, bool, const char *);
static bool hubspot_fast_contact(const struct fs_jtree *, int, const struct fs_map *, struct fs_contact_out *);

/* Mail status written back to the contact, and the follow-ups that stop the clock. */
static const char *const hs_takes[] = {"mail.status", "activity.follow_up", NULL};

const struct fs_vendor fs_vendor_hubspot = {
	.kind = "hubspot",
	.flags = FS_VENDOR_INBOX,
	.streams = hs_streams,
	.saved_stream = "contacts",
	.start = hubspot_start,
	.describe = hubspot_describe,
	.inbox = hubspot_inbox,
	.pull = pull_stream,
	.after = refresh_owners,
	.takes = hs_takes,
	.push_start = hubspot_push_start,
	.write_back = hubspot_write_back,
	.answer = hubspot_answer,
	.plan = hubspot_plan,
	/* receive and normalize */
	.map_reads = hubspot_map_reads,
	.trigger_property = hubspot_property,
	.jobs_object = "deals",
	.status_setting = "status_property",
	.fast_map = "hubspot-contact",
	.fast_contact = hubspot_fast_contact,
};

/* Receiving and normalizing */

/* The properties a source names for its contacts are read too. */
static void
hubspot_map_reads(const struct fs_endpoint *ep, const char *stream, struct fs_counts *reads)
{
	for (int i = 0; i < 2 && strcmp(stream, "contacts") == 0; i++) {
		const char *prop = fs_setting(ep, i == 0 ? "status_property" : "suppress_property");
		char *p = prop ? fs_xasprintf("data.properties.%s", prop) : NULL;

		if (p)
			*fs_counts_at(reads, p, strlen(p), true) = 1;
		free(p);
	}
}

/* The HubSpot property a canonical field comes from (the shipped maps), or NULL. */
static const char *
hubspot_property(const struct fs_endpoint *ep, bool on_job, const char *field)
{
	static const char *const contact[][2] = {
		{"id", "hs_object_id"}, {"email", "email"}, {"phone", "phone"}, {"first_name", "firstname"},
		{"last_name", "lastname"}, {"company", "company"}, {"owner", "hubspot_owner_id"},
		{"line1", "address"}, {"line2", "address2"}, {"city", "city"}, {"region", "state"},
		{"postal_code", "zip"}, {"country", "country"},
	};
	static const char *const deal[][2] = {
		{"id", "hs_object_id"}, {"status", "dealstage"}, {"type", "dealtype"}, {"total", "amount"},
		{"completed_at", "closedate"}, {"currency", "deal_currency_code"},
	};

	if (!on_job && strcmp(field, "status") == 0)
		return fs_setting(ep, "status_property");
	for (size_t i = 0; !on_job && i < sizeof contact / sizeof contact[0]; i++)
		if (strcmp(contact[i][0], field) == 0)
			return contact[i][1];
	for (size_t i = 0; on_job && i < sizeof deal / sizeof deal[0]; i++)
		if (strcmp(deal[i][0], field) == 0)
			return deal[i][1];
	return NULL;
}

/* A node's string, or NULL for null and absent; false for anything else. */
static bool
scanned_string(const struct fs_jtree *t, int i, struct fs_str *out)
{
	*out = (struct fs_str){NULL, 0};
	if (i < 0 || t->n[i].kind == 'z')
		return true;
	if (t->n[i].kind != 's')
		return false;
	*out = t->n[i].str;
	return true;
}

/* hubspot-contact.jq in C (fs_hubspot_contact), when the values it reads are strings or nulls. */
static bool
hubspot_fast_contact(const struct fs_jtree *t, int data, const struct fs_map *map, struct fs_contact_out *out)
{
	const char *status_property = fs_map_arg(map, "status_property");
	const char *suppress_property = fs_map_arg(map, "suppress_property");
	int props = fs_jscan_get(t, data, "properties");
	struct fs_str in[FS_HS_NIN];

	if (props >= 0 && t->n[props].kind != 'o' && t->n[props].kind != 'z' && t->n[props].kind != 'f')
		return false;
	if (props >= 0 && t->n[props].kind != 'o')
		props = -1;
	for (int i = 0; i < FS_HS_NIN; i++) {
		int k = i == FS_HS_ID ? fs_jscan_get(t, data, "id")
		      : i == FS_HS_UPDATED_AT ? fs_jscan_get(t, data, "updatedAt")
		      : i == FS_HS_SUPPRESS ? (suppress_property ? fs_jscan_get(t, props, suppress_property) : -1)
		      : fs_jscan_get(t, props, i == FS_HS_STATUS ? (status_property ? status_property : "lifecyclestage")
							      : fs_hs_props[i]);

		if (!scanned_string(t, k, &in[i]))
			return false;
	}
	fs_hubspot_contact(in, fs_map_arg(map, "default_country"), out);
	return true;
}
