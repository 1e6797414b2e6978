/*
 * What fs-normalize remembers of the objects it sees, so that a campaign
 * fires when a value enters its trigger and not while it stays there
 * (DESIGN.md, "Campaigns"): each contact's and job's newest version, with
 * the fields of the version before it; each campaign's first run; and each
 * source's listing from fs-pull --describe, which triggers are checked
 * against.
 *
 * A version seen again answers as it did the first time (prev_version and
 * prev are kept with it), so that a re-run after a crash emits the same
 * mail requests.  A version older than the stored one, never seen, answers
 * stale: it fires nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

/* The fields a contact row keeps, in column order (after id, source, version). */
static const struct {
	const char *name;	/* canonical; address fields by their own names */
	int c;			/* FS_C_* */
} contact_cols[] = {
	{"status", FS_C_STATUS}, {"email", FS_C_EMAIL}, {"phone", FS_C_PHONE},
	{"first_name", FS_C_FIRST_NAME}, {"last_name", FS_C_LAST_NAME}, {"company", FS_C_COMPANY},
	{"owner", FS_C_OWNER}, {"line1", FS_C_LINE1}, {"line2", FS_C_LINE2}, {"city", FS_C_CITY},
	{"region", FS_C_REGION}, {"postal_code", FS_C_POSTAL_CODE}, {"country", FS_C_COUNTRY},
};
#define NCONTACT (sizeof contact_cols / sizeof contact_cols[0])

/* A job row's text fields, in column order; total (a number) is apart. */
static const char *const job_cols[] = {
	"contact_id", "status", "type", "completed_at", "currency",
	"line1", "line2", "city", "region", "postal_code", "country",
};
#define NJOB (sizeof job_cols / sizeof job_cols[0])

void
fs_seen_free(struct fs_seen *s)
{
	jv_free(s->prev);
	s->prev = jv_null();
}

/* Version order: RFC 3339 times by instant, anything else as text. */
static int
version_cmp(const char *a, const char *b)
{
	fs_time ta, tb;

	if (fs_time_parse(a, &ta) == 0 && fs_time_parse(b, &tb) == 0)
		return ta < tb ? -1 : ta > tb;
	return strcmp(a, b);
}

static jv
col_text(fs_stmt *q, int i)
{
	const char *s = fs_col_text(q, i);

	return s ? jv_string(s) : jv_null();
}

/* A JSON column as a value; null when NULL or unreadable. */
static jv
col_json(fs_stmt *q, int i)
{
	const char *s = fs_col_text(q, i);
	jv v;

	if (s == NULL)
		return jv_null();
	v = jv_parse(s);
	return jv_is_valid(v) ? v : (jv_free(v), jv_null());
}

static jv
set_if(jv obj, const char *key, jv v)
{
	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return obj;
	}
	return jv_object_set(obj, jv_string(key), v);
}

/*
 * The common part: what the stored row (its version in column 0,
 * prev_version 1, prev 2, seen_at 3, its fields from 4 read by fields())
 * says of version.  1 when version is newer (or the object new) and the
 * caller writes the row, 0 when not, -1 on error.
 */
static int
compare_row(struct fs_state *st, fs_stmt *q, const char *version, jv (*fields)(fs_stmt *),
	    struct fs_seen *seen, char **old_version)
{
	int rc = fs_state_step_row(st, q), cmp;
	fs_time t;

	*old_version = NULL;
	seen->known = seen->stale = false;
	seen->newer = rc == 0;
	seen->prev = jv_null();
	seen->seen_at = fs_now();
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	*old_version = fs_col_dup(q, 0);
	cmp = version_cmp(version, *old_version);
	if (cmp == 0) {
		/* Seen before: as it was then. */
		seen->known = !fs_col_null(q, 1);
		if (seen->known)
			seen->prev = col_json(q, 2);
		if (fs_col_text(q, 3) && fs_time_parse(fs_col_text(q, 3), &t) == 0)
			seen->seen_at = t;
	} else if (cmp > 0) {
		seen->known = seen->newer = true;
		seen->prev = fields(q);
	} else {
		seen->stale = true;
	}
	fs_stmt_reset(q);
	return cmp > 0;
}

static jv
contact_fields_of(fs_stmt *q)
{
	jv o = jv_object();

	for (size_t i = 0; i < NCONTACT; i++)
		o = set_if(o, contact_cols[i].name, col_text(q, 4 + (int)i));
	if (fs_col_int(q, 4 + (int)NCONTACT))
		o = jv_object_set(o, jv_string("do_not_mail"), jv_true());
	return set_if(o, "tags", col_json(q, 5 + (int)NCONTACT));
}

int
fs_contact_observe_row(struct fs_state *st, const char *source, const char *const v[], bool do_not_mail,
		       const char *tags, struct fs_seen *seen)
{
	const char *id = v[FS_C_ID], *version = v[FS_C_UPDATED_AT];
	fs_stmt *q;
	char *old_version = NULL, now[21], *prev = NULL;
	int rc, i = 1;

	seen->known = seen->stale = seen->newer = false;
	seen->prev = jv_null();
	seen->seen_at = fs_now();
	if (id == NULL || version == NULL)
		return 0;
	q = fs_state_query(st, "SELECT version, prev_version, prev, seen_at, status, email, phone, first_name,"
			   " last_name, company, owner, line1, line2, city, region, postal_code, country,"
			   " do_not_mail, tags FROM contacts WHERE id = ?", "s", id);
	if (q == NULL || (rc = compare_row(st, q, version, contact_fields_of, seen, &old_version)) < 0)
		goto fail;
	if (rc == 0) {
		free(old_version);
		return 0;
	}
	if (seen->known)
		prev = fs_jdump(seen->prev);
	q = fs_state_prepare(st,
	    "INSERT OR REPLACE INTO contacts (id, source, version, status, prev_status,"
	    " email, phone, first_name, last_name, company, owner,"
	    " line1, line2, city, region, postal_code, country, updated_at, seen_at,"
	    " do_not_mail, tags, prev_version, prev)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (q == NULL)
		goto fail;
	fs_time_format(fs_now(), now);
	fs_bind_text(q, i++, id);
	fs_bind_text(q, i++, source);
	fs_bind_text(q, i++, version);
	fs_bind_text(q, i++, v[FS_C_STATUS]);
	fs_bind_text(q, i++, seen->known ? fs_jstr(seen->prev, "status") : NULL);
	for (size_t k = 1; k < NCONTACT; k++)
		fs_bind_text(q, i++, v[contact_cols[k].c]);
	fs_bind_text(q, i++, version);
	fs_bind_text(q, i++, now);
	fs_bind_int(q, i++, do_not_mail);
	fs_bind_text(q, i++, tags);
	fs_bind_text(q, i++, old_version);
	fs_bind_text(q, i++, prev);
	if (fs_state_step_done(st, q) != 0)
		goto fail;
	free(prev);
	free(old_version);
	return 0;
fail:
	free(prev);
	free(old_version);
	fs_seen_free(seen);
	return -1;
}

/* A JSON array member as text for a column, malloc'd; NULL unless an array. */
static char *
array_text(jv obj, const char *key)
{
	jv a = fs_jget(obj, key);
	char *s = jv_get_kind(a) == JV_KIND_ARRAY ? fs_jdump(a) : NULL;

	jv_free(a);
	return s;
}

int
fs_contact_observe(struct fs_state *st, const char *source, jv c, struct fs_seen *seen)
{
	const char *v[FS_C_N];
	jv address = fs_jget(c, "address"), dnm = fs_jget(c, "do_not_mail");
	char *tags = array_text(c, "tags");
	int rc;

	for (int i = 0; i < FS_C_N; i++)
		v[i] = fs_jstr(i >= FS_C_LINE1 && i <= FS_C_COUNTRY ? address : c, fs_contact_fields[i]);
	rc = fs_contact_observe_row(st, source, v, jv_get_kind(dnm) == JV_KIND_TRUE, tags, seen);
	free(tags);
	jv_free(dnm);
	jv_free(address);
	return rc;
}

static jv
job_fields_of(fs_stmt *q)
{
	jv o = jv_object();

	for (size_t i = 0; i < NJOB; i++)
		o = set_if(o, job_cols[i], col_text(q, 4 + (int)i));
	if (!fs_col_null(q, 4 + (int)NJOB))
		o = jv_object_set(o, jv_string("total"), jv_number(fs_col_double(q, 4 + (int)NJOB)));
	return set_if(o, "tags", col_json(q, 5 + (int)NJOB));
}

int
fs_job_observe(struct fs_state *st, const char *source, jv job, struct fs_seen *seen)
{
	const char *id = fs_jstr(job, "id"), *version = fs_jstr(job, "updated_at");
	jv address = fs_jget(job, "address"), total = fs_jget(job, "total");
	char *old_version = NULL, now[21], *prev = NULL, *tags = array_text(job, "tags");
	fs_stmt *q;
	int rc, i = 1;

	seen->known = seen->stale = seen->newer = false;
	seen->prev = jv_null();
	seen->seen_at = fs_now();
	if (id == NULL || version == NULL)
		goto done;
	q = fs_state_query(st, "SELECT version, prev_version, prev, seen_at, contact_id, status, type, completed_at,"
			   " currency, line1, line2, city, region, postal_code, country, total, tags"
			   " FROM jobs WHERE source = ? AND id = ?", "ss", source, id);
	if (q == NULL || (rc = compare_row(st, q, version, job_fields_of, seen, &old_version)) < 0)
		goto fail;
	if (rc == 0)
		goto done;
	if (seen->known)
		prev = fs_jdump(seen->prev);
	q = fs_state_prepare(st,
	    "INSERT OR REPLACE INTO jobs (source, id, version, contact_id, status, type, completed_at, currency,"
	    " line1, line2, city, region, postal_code, country, total, tags, prev_version, prev, updated_at, seen_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (q == NULL)
		goto fail;
	fs_time_format(fs_now(), now);
	fs_bind_text(q, i++, source);
	fs_bind_text(q, i++, id);
	fs_bind_text(q, i++, version);
	for (size_t k = 0; k < NJOB; k++)
		fs_bind_text(q, i++, fs_jstr(k >= 5 ? address : job, job_cols[k]));
	if (jv_get_kind(total) == JV_KIND_NUMBER)
		fs_bind_double(q, i++, jv_number_value(total));
	else
		fs_bind_null(q, i++);
	fs_bind_text(q, i++, tags);
	fs_bind_text(q, i++, old_version);
	fs_bind_text(q, i++, prev);
	fs_bind_text(q, i++, version);
	fs_bind_text(q, i++, now);
	if (fs_state_step_done(st, q) != 0)
		goto fail;
done:
	free(prev);
	free(old_version);
	free(tags);
	jv_free(address);
	jv_free(total);
	return 0;
fail:
	free(prev);
	free(old_version);
	free(tags);
	jv_free(address);
	jv_free(total);
	fs_seen_free(seen);
	return -1;
}

int
fs_contact_get(struct fs_state *st, const char *id, jv *out)
{
	fs_stmt *q = fs_state_query(st, "SELECT id, email, phone, first_name, last_name, company, status, owner,"
					 " line1, line2, city, region, postal_code, country, do_not_mail, tags"
					 " FROM contacts WHERE id = ?", "s", id);
	static const char *const names[] = {"id", "email", "phone", "first_name", "last_name", "company", "status",
					    "owner"};
	static const char *const address[] = {"line1", "line2", "city", "region", "postal_code", "country"};
	jv c, a;
	int rc;

	*out = jv_null();
	if (q == NULL || (rc = fs_state_step_row(st, q)) < 0)
		return -1;
	if (rc == 0)
		return 0;
	c = jv_object();
	a = jv_object();
	for (int i = 0; i < 8; i++)
		c = set_if(c, names[i], col_text(q, i));
	for (int i = 0; i < 6; i++)
		a = set_if(a, address[i], col_text(q, 8 + i));
	if (jv_object_length(jv_copy(a)) > 0)
		c = jv_object_set(c, jv_string("address"), a);
	else
		jv_free(a);
	if (fs_col_int(q, 14))
		c = jv_object_set(c, jv_string("do_not_mail"), jv_true());
	c = set_if(c, "tags", col_json(q, 15));
	fs_stmt_reset(q);
	*out = c;
	return 0;
}

/* ---- campaigns ---- */

int
fs_campaign_first_runs(struct fs_state *st, const struct fs_campaign *c, int n, const char *run_id, bool record,
		       fs_time *first)
{
	char now[21];

	fs_time_format(fs_now(), now);
	for (int i = 0; i < n; i++) {
		fs_stmt *q;
		char *at = NULL;

		if (record && first[i] == 0 &&
		    fs_state_run(st, "INSERT OR IGNORE INTO campaigns (campaign, first_run_at, first_run_id)"
				 " VALUES (?, ?, ?)", "sss", c[i].name, now, run_id) != 0)
			return -1;
		q = fs_state_query(st, "SELECT first_run_at FROM campaigns WHERE campaign = ?", "s", c[i].name);
		if (q == NULL || fs_state_get_text(st, q, &at) < 0)
			return -1;
		first[i] = 0;
		if (at && fs_time_parse(at, &first[i]) != 0)
			first[i] = 0;
		free(at);
	}
	return 0;
}

int
fs_campaign_notice(struct fs_state *st, const char *campaign, const char *notice, const char *run_id)
{
	char *old = NULL, now[21];
	fs_stmt *q = fs_state_query(st, "SELECT notice FROM campaigns WHERE campaign = ?", "s", campaign);
	int rc, same;

	if (q == NULL || (rc = fs_state_get_text(st, q, &old)) < 0)
		return -1;
	same = (old == NULL && notice == NULL) || (old && notice && strcmp(old, notice) == 0);
	free(old);
	if (same)
		return 0;	/* read without a write lock: an idle run writes nothing */
	fs_time_format(fs_now(), now);
	/* A campaign not yet run is recorded as run now: its notice is of this run. */
	if (fs_state_begin(st) != 0 ||
	    fs_state_run(st, "INSERT INTO campaigns (campaign, first_run_at, first_run_id, notice) VALUES (?, ?, ?, ?)"
			 " ON CONFLICT (campaign) DO UPDATE SET notice = excluded.notice", "ssss", campaign, now,
			 run_id, notice) != 0 ||
	    fs_state_commit(st) != 0) {
		fs_state_rollback(st);
		return -1;
	}
	return notice != NULL;
}

/* ---- sources' listings ---- */

int
fs_source_fields_store(struct fs_state *st, const char *source, const char *object, jv fields)
{
	char now[21];
	int rc = 0;

	fs_time_format(fs_now(), now);
	if (fs_state_run(st, "DELETE FROM source_fields WHERE source = ? AND object = ?", "ss", source, object) != 0)
		return -1;
	jv_array_foreach(fields, i, f) {
		jv options = fs_jget(f, "options"), mapped = fs_jget(f, "mapped");
		char *opts = jv_get_kind(options) == JV_KIND_ARRAY ? fs_jdump(options) : NULL;

		(void)i;
		if (rc == 0 && fs_jstr(f, "name"))
			rc = fs_state_run(st, "INSERT OR REPLACE INTO source_fields (source, object, name, type, label,"
					  " options, mapped, described_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "ssssssis",
					  source, object, fs_jstr(f, "name"), fs_jstr(f, "type"), fs_jstr(f, "label"), opts,
					  (int64_t)(jv_get_kind(mapped) == JV_KIND_TRUE), now);
		free(opts);
		jv_free(options);
		jv_free(mapped);
		jv_free(f);
	}
	return rc;
}

int
fs_source_fields_get(struct fs_state *st, const char *source, const char *object, jv *fields, char **described_at)
{
	fs_stmt *q = fs_state_query(st, "SELECT name, type, label, options, mapped, described_at FROM source_fields"
					 " WHERE source = ? AND object = ? ORDER BY name", "ss", source, object);
	int rc;

	*fields = jv_null();
	*described_at = NULL;
	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		jv f = jv_object();

		f = jv_object_set(f, jv_string("name"), col_text(q, 0));
		f = set_if(f, "type", col_text(q, 1));
		f = set_if(f, "label", col_text(q, 2));
		f = set_if(f, "options", col_json(q, 3));
		f = jv_object_set(f, jv_string("mapped"), fs_col_int(q, 4) ? jv_true() : jv_false());
		if (*described_at == NULL)
			*described_at = fs_col_dup(q, 5);
		if (jv_get_kind(*fields) == JV_KIND_NULL)
			*fields = jv_array();
		*fields = jv_array_append(*fields, f);
	}
	if (rc < 0) {
		jv_free(*fields);
		*fields = jv_null();
		free(*described_at);
		*described_at = NULL;
		return -1;
	}
	return 0;
}

/* ---- mail requests until taken ---- */

int
fs_entry_add(struct fs_state *st, const char *source, const char *object, const char *campaign,
	     const char *event_id, const char *line, size_t len, const char *run_id)
{
	char now[21];

	fs_time_format(fs_now(), now);
	return fs_state_run(st, "INSERT OR IGNORE INTO entries (event_id, source, object, campaign, line, at, run_id)"
			    " VALUES (?, ?, ?, ?, ?, ?, ?)", "sssstss", event_id, source, object, campaign, line, len,
			    now, run_id);
}

int
fs_entries_pending(struct fs_state *st, const char *source, const char *object, fs_time since, const char *run_id,
		   fs_entry_fn fn, void *ctx)
{
	char at[21];
	fs_stmt *q;
	char **ids = NULL, **lines = NULL;
	int n = 0, rc;

	fs_time_format(since, at);
	q = fs_state_query(st, "SELECT event_id, line FROM entries WHERE source = ? AND object = ? AND at >= ?"
			   " AND run_id IS NOT ? ORDER BY at, event_id", "ssss", source, object, at, run_id);

	if (q == NULL)
		return -1;
	/* Read them all first: fn writes. */
	while ((rc = fs_state_step_row(st, q)) == 1) {
		ids = fs_xrealloc(ids, (size_t)(n + 1) * sizeof *ids);
		lines = fs_xrealloc(lines, (size_t)(n + 1) * sizeof *lines);
		ids[n] = fs_col_dup(q, 0);
		lines[n++] = fs_col_dup(q, 1);
	}
	for (int i = 0; i < n; i++) {
		int taken = rc < 0 ? -1 : fs_event_taken(st, ids[i]);

		if (taken < 0)
			rc = -1;
		else if (taken)
			rc = fs_state_run(st, "DELETE FROM entries WHERE event_id = ?", "s", ids[i]);
		else
			rc = fn(ids[i], lines[i], ctx);
		free(ids[i]);
		free(lines[i]);
	}
	free(ids);
	free(lines);
	return rc < 0 ? -1 : 0;
}

int
fs_entries_prune(struct fs_state *st, fs_time before, int64_t *pruned)
{
	char at[21];
	int64_t n;

	fs_time_format(before, at);
	if ((n = fs_state_changes(st, "DELETE FROM entries WHERE rowid IN (SELECT rowid FROM entries WHERE at < ?"
				  " LIMIT 10000)", "s", at)) < 0)
		return -1;
	*pruned = n;
	return 0;
}
