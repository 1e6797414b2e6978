/*
 * The Google Sheets connector (kind sheets): a sheet as the smallest teams'
 * CRM.  The Sheets API has no change feed, so fs-pull reads the whole range
 * (values.get) and tells what changed against the rows the last committed
 * poll saw, kept in the state file (sheet_snapshots).  Rows are keyed by
 * their id column, never by position: a row that moved is no change, an
 * edited row is a new version of its contact, a new id a new contact, and
 * an id that is gone is reported (a record marked deleted, which the map
 * turns into nothing) and never mailed.
 *
 * A version is a hash of the row's previous version and its values, so
 * the same edit seen again (a re-poll after a crash before the commit)
 * has the same version, hence the same event id, and an edit undone later
 * is a version of its own.  The checkpoint's cursor names the snapshot
 * the poll made: once committed, it is the next poll's "last seen".
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

#define STREAM "rows"

static struct fs_oauth sh_oauth;
static bool sh_oauth_on;

/* "Last Mail-Sent" and "last_mail_sent" are one name: lower case, runs of anything else one '_'. */
static char *
loose(const char *s)
{
	char *o = fs_xmalloc(strlen(s) + 1), *w = o;

	for (; *s; s++) {
		if (isalnum((unsigned char)*s))
			*w++ = (char)tolower((unsigned char)*s);
		else if (w > o && w[-1] != '_')
			*w++ = '_';
	}
	while (w > o && w[-1] == '_')
		w--;
	*w = '\0';
	return o;
}

static bool
same_name(const char *a, const char *b)
{
	char *x = loose(a), *y = loose(b);
	bool same = strcmp(x, y) == 0;

	free(x);
	free(y);
	return same;
}

/* The first 16 hex digits of the SHA-256 of a, "\n", b. */
static void
hash2(const char *a, const char *b, char out[17])
{
	struct fs_buf t = {0};
	char hex[65];

	fs_buf_addf(&t, "%s\n%s", a, b);
	fs_sha256_hex(t.data, t.len, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
	fs_buf_free(&t);
}

/* The range's path: /v4/spreadsheets/ID/values/RANGE. */
char *
fs_sheets_values_path(const struct fs_endpoint *ep)
{
	char *id = fs_urlencode(fs_setting(ep, "spreadsheet")), *range = fs_urlencode(fs_setting(ep, "range"));
	char *path = fs_xasprintf("/v4/spreadsheets/%s/values/%s?majorDimension=ROWS", id, range);

	free(id);
	free(range);
	return path;
}

/* Google's error message of an answer ({"error":{"message"}}), or NULL; borrowed from ans. */
static const char *
google_message(jv ans)
{
	jv err = fs_jget(ans, "error");
	const char *m = fs_jstr(err, "message");

	jv_free(err);
	return m;	/* ans holds it */
}

/* values.get of the range: the answer, or jv_invalid() said (the run's status set); a dry run: jv_null(). */
static jv
get_values(struct fs_pull *p)
{
	char *path = fs_sheets_values_path(&p->ep);
	bool refreshed = false;
	jv out = jv_invalid();

	for (;;) {
		struct fs_http_response r;
		int rc = fs_http_request(&p->http, "GET", path, NULL, NULL, &r);

		if (rc == 1) {
			out = jv_null();
			fs_http_response_free(&r);
			break;
		}
		if (rc != 0) {
			fs_pull_fail(p, FS_EXIT_REMOTE);
			fs_http_response_free(&r);
			break;
		}
		if (r.status == 401 && sh_oauth_on && !refreshed) {
			fs_http_response_free(&r);
			refreshed = true;
			fs_debug("%s: HTTP 401: the access token is refreshed", p->name);
			if (fs_pull_oauth_refresh(p, &sh_oauth) != 0)
				break;
			continue;
		}
		out = r.body.len ? jv_parse_sized(r.body.data, (int)r.body.len) : jv_invalid();
		if (r.status != 200 || jv_get_kind(out) != JV_KIND_OBJECT) {
			const char *m = jv_is_valid(out) ? google_message(out) : NULL;

			if (r.status == 200)
				fs_err("%s: GET values: the answer is not a JSON object", p->name);
			else
				fs_err("%s: GET values: HTTP %ld%s%s%s", p->name, r.status, m ? ": " : "", m ? m : "",
				       r.status == 401 ? (sh_oauth_on ? " (after a refresh)" : "; check token_env or oauth_file")
				       : "");
			jv_free(out);
			out = jv_invalid();
			fs_pull_fail(p, r.status == 401 || r.status == 403 || r.status == 404 ? FS_EXIT_USAGE : FS_EXIT_REMOTE);
		}
		fs_http_response_free(&r);
		break;
	}
	free(path);
	return out;
}

/* The committed snapshot's header and rows, and the newest other one's rows (first-seen times). */
struct sh_seen {
	char *snapshot;		/* the committed cursor, or NULL */
	jv header, rows;	/* [names], {id: {"v","at","n","values","gone"}} */
	jv pending;		/* the newest uncommitted snapshot's rows, or {} */
};

static int
load_seen(struct fs_pull *p, struct sh_seen *s)
{
	struct fs_state *st = &p->cli->st;
	char *header = NULL, *rows = NULL, *pending = NULL;

	s->header = jv_array();
	s->rows = jv_object();
	s->pending = jv_object();
	if (fs_cursor_get(st, p->name, STREAM, &s->snapshot) != 0)
		goto fail;
	if (s->snapshot &&
	    (fs_state_text(st, &header, "SELECT header FROM sheet_snapshots WHERE source = ? AND snapshot = ?", "ss",
			   p->name, s->snapshot) != 0 ||
	     fs_state_text(st, &rows, "SELECT rows FROM sheet_snapshots WHERE source = ? AND snapshot = ?", "ss",
			   p->name, s->snapshot) != 0))
		goto fail;
	if (fs_state_text(st, &pending, "SELECT rows FROM sheet_snapshots WHERE source = ? AND snapshot <> ? "
			  "ORDER BY taken_at DESC, rowid DESC LIMIT 1", "ss", p->name, s->snapshot ? s->snapshot : "") != 0)
		goto fail;
	if (s->snapshot && rows == NULL)
		fs_info("%s: the rows of the committed poll (%s) are not in the state file: every row is new",
			p->name, s->snapshot);
	if (header) {
		jv_free(s->header);
		s->header = jv_parse(header);
	}
	if (rows) {
		jv_free(s->rows);
		s->rows = jv_parse(rows);
	}
	if (pending) {
		jv_free(s->pending);
		s->pending = jv_parse(pending);
	}
	free(header);
	free(rows);
	free(pending);
	if (!jv_is_valid(s->header) || !jv_is_valid(s->rows) || !jv_is_valid(s->pending)) {
		fs_err("%s: the state file's sheet_snapshots row is not JSON", p->name);
		goto fail;
	}
	return 0;
fail:
	fs_pull_fail(p, FS_EXIT_STATE);
	return -1;
}

static void
seen_free(struct sh_seen *s)
{
	free(s->snapshot);
	jv_free(s->header);
	jv_free(s->rows);
	jv_free(s->pending);
}

/* The header's names; -1 said (a blank or repeated name, no id column). */
static int
read_header(struct fs_pull *p, jv first, jv *names, int *idcol)
{
	const char *want = fs_setting(&p->ep, "id_column");

	*names = jv_array();
	*idcol = -1;
	jv_array_foreach(first, i, c) {
		const char *name = jv_get_kind(c) == JV_KIND_STRING ? jv_string_value(c) : "";

		for (int j = 0; j < i; j++) {
			jv o = jv_array_get(jv_copy(*names), j);

			if (*name && strcmp(jv_string_value(o), name) == 0) {
				fs_err("%s: columns %d and %d of the header have the same name '%s': nothing pulled",
				       p->name, j + 1, i + 1, name);
				jv_free(o);
				jv_free(c);
				return -1;
			}
			jv_free(o);
		}
		if (*idcol < 0 && *name && same_name(name, want))
			*idcol = i;
		*names = jv_array_append(*names, jv_string(name));
		jv_free(c);
	}
	if (*idcol < 0) {
		fs_err("%s: no column '%s' (id_column) in the header of %s: nothing pulled", p->name, want,
		       fs_setting(&p->ep, "range"));
		return -1;
	}
	return 0;
}

/* The names the committed poll had that the header has not; NULL when none. */
static char *
gone_columns(jv old, jv now, bool *any)
{
	struct fs_buf b = {0};

	*any = false;
	jv_array_foreach(old, i, o) {
		bool found = false;

		(void)i;
		jv_array_foreach(now, j, n) {
			(void)j;
			found |= jv_equal(jv_copy(o), n);
		}
		if (!found && *jv_string_value(o)) {
			fs_buf_addf(&b, "%s'%s'", *any ? ", " : "", jv_string_value(o));
			*any = true;
		}
		jv_free(o);
	}
	return b.data;
}

/* The values of v in the columns of header, empty ones left out: a new empty column changes no row. */
static jv
common(jv v, jv header)
{
	jv out = jv_object();

	jv_array_foreach(header, i, h) {
		jv x = fs_jget(v, jv_string_value(h));

		(void)i;
		if (jv_get_kind(x) == JV_KIND_STRING && *jv_string_value(x))
			out = jv_object_set(out, jv_copy(h), x);
		else
			jv_free(x);
		jv_free(h);
	}
	jv_free(v);
	return out;
}

static char *
canon(jv v)
{
	jv s = jv_dump_string(v, JV_PRINT_SORTED);
	char *out = fs_xstrdup(jv_string_value(s));

	jv_free(s);
	return out;
}

/* When this version of a row was first seen: by the poll that made the pending snapshot, else now. */
static jv
first_seen(struct fs_pull *p, const struct sh_seen *s, const char *id, const char *version)
{
	jv r = fs_jget(s->pending, id);
	const char *v = fs_jstr(r, "v"), *at = fs_jstr(r, "at");
	jv out = v && at && strcmp(v, version) == 0 ? jv_string(at) : jv_string(p->now);

	jv_free(r);
	return out;
}

/* One row's record: {"row", "values", "version", "seen_at"} ({"deleted": true} for one that is gone). */
static void
emit(struct fs_pull *p, const char *id, jv entry, bool deleted)
{
	jv data = jv_object();

	if (deleted)
		data = jv_object_set(data, jv_string("deleted"), jv_true());
	else
		data = jv_object_set(data, jv_string("row"), fs_jget(entry, "n"));
	data = jv_object_set(data, jv_string("id"), jv_string(id));
	data = jv_object_set(data, jv_string("version"), fs_jget(entry, "v"));
	data = jv_object_set(data, jv_string("seen_at"), fs_jget(entry, "at"));
	if (!deleted)
		data = jv_object_set(data, jv_string("values"), fs_jget(entry, "values"));
	fs_pull_record(p, STREAM, id, data);
}

/* The snapshot kept, the others but the committed one dropped; -1 said. */
static int
keep_snapshot(struct fs_pull *p, const struct sh_seen *s, const char *snap, jv header, jv rows)
{
	struct fs_state *st = &p->cli->st;
	char *h = canon(jv_copy(header)), *r = canon(jv_copy(rows));
	int rc = 0;

	if (fs_state_begin(st) != 0 ||
	    fs_state_run(st, "DELETE FROM sheet_snapshots WHERE source = ? AND snapshot <> ? AND snapshot <> ?", "sss",
			 p->name, snap, s->snapshot ? s->snapshot : "") != 0 ||
	    fs_state_run(st, "INSERT OR REPLACE INTO sheet_snapshots (source, snapshot, taken_at, header, rows) "
			 "VALUES (?, ?, ?, ?, ?)", "sssss", p->name, snap, p->now, h, r) != 0 ||
	    fs_state_commit(st) != 0) {
		fs_state_rollback(st);
		fs_pull_fail(p, FS_EXIT_STATE);
		rc = -1;
	}
	free(h);
	free(r);
	return rc;
}

/* One poll: the rows that changed since the committed one, then a checkpoint naming this one. */
static int
sheets_pull(struct fs_pull *p, const struct fs_stream *stream)
{
	struct sh_seen s = {0};
	jv ans, values, header = jv_invalid(), rows = jv_object(), order = jv_array(), where = jv_object();
	jv versions = jv_object(), cols = jv_null(), idname = jv_null();
	bool accept = strcmp(fs_setting(&p->ep, "header_changed"), "accept") == 0, any;
	long changed = 0, deleted = 0, moved = 0, emitted = 0;
	int idcol, first_row = 1;
	char snap[17], *gone = NULL, *text;
	const char *range;

	(void)stream;
	if (load_seen(p, &s) != 0)
		goto out;
	ans = get_values(p);
	if (!jv_is_valid(ans) || jv_get_kind(ans) == JV_KIND_NULL) {
		jv_free(ans);
		goto out;
	}
	/* "Sheet1!A1:Z1000": the rows count from the range's first one. */
	if ((range = fs_jstr(ans, "range")) && strchr(range, '!')) {
		const char *c = strchr(range, '!') + 1;

		while (isalpha((unsigned char)*c))
			c++;
		if (isdigit((unsigned char)*c))
			first_row = atoi(c);
	}
	values = fs_jget(ans, "values");
	jv_free(ans);
	if (jv_get_kind(values) != JV_KIND_ARRAY || jv_array_length(jv_copy(values)) == 0) {
		fs_err("%s: %s is empty: no header row with an id column: nothing pulled", p->name,
		       fs_setting(&p->ep, "range"));
		fs_pull_fail(p, FS_EXIT_USAGE);
		jv_free(values);
		goto out;
	}
	if (read_header(p, jv_array_get(jv_copy(values), 0), &header, &idcol) != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		jv_free(values);
		goto out;
	}
	gone = gone_columns(s.header, header, &any);
	if (any && !accept) {
		fs_err("%s: column %s of the last poll is not in the header of %s (renamed or deleted): nothing "
		       "pulled; name it back, or set header_changed = accept", p->name, gone, fs_setting(&p->ep, "range"));
		fs_pull_fail(p, FS_EXIT_USAGE);
		jv_free(values);
		goto out;
	}
	/* Rows are compared on the header's columns; across an accepted rename, on those both polls have. */
	cols = jv_copy(header);
	if (any) {
		jv both = jv_array();

		jv_array_foreach(header, i, h) {
			bool had = false;

			(void)i;
			jv_array_foreach(s.header, j, o) {
				(void)j;
				had |= jv_equal(jv_copy(h), o);
			}
			both = had ? jv_array_append(both, h) : (jv_free(h), both);
		}
		jv_free(cols);
		cols = both;
	}
	if (any)
		fs_info("%s: column %s of the last poll is gone (header_changed = accept): rows are compared on the "
			"columns both polls have", p->name, gone);
	idname = jv_array_get(jv_copy(header), idcol);
	jv_array_foreach(values, i, row) {
		jv vals = jv_object(), idv, prev, entry;
		const char *id;
		char version[17];
		bool blank = true;
		int n = first_row + i;

		if (i == 0 || jv_get_kind(row) != JV_KIND_ARRAY) {
			jv_free(row);
			continue;
		}
		jv_array_foreach(header, k, h) {
			jv cell = jv_array_get(jv_copy(row), k), sv;

			/* Sheets leaves a row's empty cells at its end out; a cell is text (FORMATTED_VALUE). */
			if (jv_get_kind(cell) == JV_KIND_STRING)
				sv = cell;
			else if (jv_is_valid(cell) && jv_get_kind(cell) != JV_KIND_NULL)
				sv = jv_dump_string(cell, 0);
			else {
				jv_free(cell);
				sv = jv_string("");
			}
			blank &= *jv_string_value(sv) == '\0';
			if (*jv_string_value(h))
				vals = jv_object_set(vals, jv_copy(h), sv);
			else
				jv_free(sv);
			jv_free(h);
		}
		jv_free(row);
		idv = fs_jget(vals, jv_string_value(idname));
		id = jv_get_kind(idv) == JV_KIND_STRING ? jv_string_value(idv) : "";
		if (blank) {
			jv_free(idv);
			jv_free(vals);
			continue;
		}
		if (*id == '\0' || jv_is_valid(fs_jget(where, id))) {
			char *bytes = canon(jv_copy(vals));
			jv at = fs_jget(where, id);

			if (*id == '\0')
				fs_pull_dead(p, bytes, strlen(bytes), n, "%s: row %d: no id in column '%s'", p->name, n,
					     fs_setting(&p->ep, "id_column"));
			else
				fs_pull_dead(p, bytes, strlen(bytes), n, "%s: row %d: id '%s' again (first in row %d)",
					     p->name, n, id, (int)jv_number_value(at));
			jv_free(at);
			free(bytes);
			jv_free(idv);
			jv_free(vals);
			continue;
		}
		where = jv_object_set(where, jv_string(id), jv_number(n));
		prev = fs_jget(s.rows, id);
		if (jv_get_kind(prev) == JV_KIND_OBJECT && jv_get_kind(fs_jget(prev, "gone")) != JV_KIND_TRUE &&
		    jv_equal(common(jv_copy(vals), cols), common(fs_jget(prev, "values"), cols))) {
			/* The same values: no change, wherever the row is now. */
			entry = jv_copy(prev);
			entry = jv_object_set(entry, jv_string("values"), jv_copy(vals));
			moved += jv_number_value(fs_jget(prev, "n")) != n;
		} else {
			char *now = canon(jv_copy(vals));

			hash2(fs_jstr(prev, "v") ? fs_jstr(prev, "v") : "", now, version);
			free(now);
			entry = jv_object_set(jv_object(), jv_string("v"), jv_string(version));
			entry = jv_object_set(entry, jv_string("at"), first_seen(p, &s, id, version));
			entry = jv_object_set(entry, jv_string("values"), jv_copy(vals));
			order = jv_array_append(order, jv_string(id));
			changed++;
		}
		entry = jv_object_set(entry, jv_string("n"), jv_number(n));
		versions = jv_object_set(versions, jv_string(id), fs_jget(entry, "v"));
		rows = jv_object_set(rows, jv_string(id), entry);
		jv_free(prev);
		jv_free(idv);
		jv_free(vals);
	}
	jv_free(values);
	/* Ids the committed poll had that this one has not: deleted (a tombstone keeps the version chain). */
	{
		jv keys = jv_keys(jv_copy(s.rows));

		jv_array_foreach(keys, i, k) {
			const char *id = jv_string_value(k);
			jv prev = fs_jget(s.rows, id);

			(void)i;
			if (!jv_is_valid(fs_jget(rows, id))) {
				char version[17];
				jv entry;

				if (jv_get_kind(fs_jget(prev, "gone")) == JV_KIND_TRUE) {
					entry = jv_copy(prev);
				} else {
					hash2(fs_jstr(prev, "v") ? fs_jstr(prev, "v") : "", "(deleted)", version);
					entry = jv_object_set(jv_object(), jv_string("v"), jv_string(version));
					entry = jv_object_set(entry, jv_string("at"), first_seen(p, &s, id, version));
					entry = jv_object_set(entry, jv_string("gone"), jv_true());
					order = jv_array_append(order, jv_string(id));
					deleted++;
				}
				versions = jv_object_set(versions, jv_string(id), fs_jget(entry, "v"));
				rows = jv_object_set(rows, jv_string(id), entry);
			}
			jv_free(prev);
			jv_free(k);
		}
		jv_free(keys);
	}
	/* The snapshot's name: its columns (in any order) and its rows' versions. */
	text = canon(jv_object_set(jv_object_set(jv_object(), jv_string("columns"), jv_sort(jv_copy(header), jv_copy(header))),
				   jv_string("rows"), jv_copy(versions)));
	hash2(p->name, text, snap);
	free(text);
	fs_debug("%s: %d rows: %ld new or edited, %ld deleted, %ld moved", p->name,
		 jv_object_length(jv_copy(rows)) - (int)deleted, changed, deleted, moved);
	if (fs_pull_failed(p) && p->status != FS_EXIT_DLQ)
		goto out;
	if (s.snapshot && strcmp(s.snapshot, snap) == 0 && changed + deleted == 0)
		goto out;	/* nothing changed: nothing to say */
	if (p->dry_run)
		goto out;
	if (keep_snapshot(p, &s, snap, header, rows) != 0)
		goto out;
	jv_array_foreach(order, i, k) {
		const char *id = jv_string_value(k);
		jv entry = fs_jget(rows, id);
		bool del = jv_get_kind(fs_jget(entry, "gone")) == JV_KIND_TRUE;

		(void)i;
		if (p->limit > 0 && emitted >= p->limit) {
			jv_free(entry);
			jv_free(k);
			continue;
		}
		if (del)
			fs_info("%s: id '%s' is no longer in the sheet: reported, not mailed", p->name, id);
		emit(p, id, entry, del);
		emitted++;
		jv_free(entry);
		jv_free(k);
	}
	if (p->limit > 0 && emitted < changed + deleted) {
		fs_debug("%s: --limit reached: no checkpoint", p->name);
		fs_pull_flush(p);
		goto out;
	}
	fs_pull_checkpoint(p, STREAM, snap);
out:
	free(gone);
	jv_free(header);
	jv_free(rows);
	jv_free(order);
	jv_free(where);
	jv_free(versions);
	jv_free(cols);
	jv_free(idname);
	seen_free(&s);
	return fs_pull_failed(p) && p->status != FS_EXIT_DLQ ? -1 : 0;
}

/* ---- the run: credentials, and the fields campaigns trigger on ---- */

static int
sheets_start(struct fs_pull *p)
{
	memset(&sh_oauth, 0, sizeof sh_oauth);
	sh_oauth_on = false;
	if (fs_setting(&p->ep, "spreadsheet") == NULL) {
		fs_err("source '%s': no spreadsheet (the id in the sheet's URL, /spreadsheets/d/ID/edit)", p->name);
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	if (fs_pull_oauth_http(p) != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	if (fs_setting(&p->ep, "oauth_file") == NULL)
		return 0;
	sh_oauth_on = !p->dry_run;
	if (fs_pull_oauth_setup(p, &sh_oauth, fs_setting(&p->ep, "token_url"), "secret_env", "secret_file") != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return 0;
}

static void
sheets_after(struct fs_pull *p)
{
	(void)p;
	fs_oauth_free(&sh_oauth);
	memset(&sh_oauth, 0, sizeof sh_oauth);
	sh_oauth_on = false;
}

/* A sheet's columns map to canonical fields by their names, as a CSV export's do. */
static const char *
sheets_field(const struct fs_endpoint *ep, bool on_job, const char *field)
{
	(void)ep;
	return on_job ? NULL : field;
}

static const struct fs_stream sh_streams[] = {
	{.name = STREAM},
	{.name = NULL},
};

const struct fs_vendor fs_vendor_sheets = {
	.kind = "sheets",
	.streams = sh_streams,
	.saved_stream = STREAM,
	.start = sheets_start,
	.pull = sheets_pull,
	.after = sheets_after,
	.trigger_property = sheets_field,
};
