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

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "vendors.h"

#define STREAM "rows"

static struct fs_oauth sh_oauth;
static bool sh_oauth_on;
static bool sh_sa_on;	/* the run's token is a service account's (sa_access) */

/* The run's credentials forgotten (the secrets zeroed). */
static void
oauth_reset(void)
{
	fs_oauth_free(&sh_oauth);
	memset(&sh_oauth, 0, sizeof sh_oauth);
	sh_oauth_on = sh_sa_on = false;
}

/* ---- service accounts: the JWT bearer grant (RFC 7523), signed RS256 ---- */

/*
 * A service account's key file (the JSON Google's console gives, mode
 * 0600) holds client_email and an RSA private_key.  Each run signs a JWT
 * with it (libcrypto: the Makefile links it already, for the fuzz harness)
 * and trades it at token_url for an access token of an hour; nothing is
 * written back, and a 401 signs a new one.
 */
#define SA_SCOPE "https://www.googleapis.com/auth/spreadsheets"
#define SA_GRANT "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"

static char *
b64url(const void *data, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *u = data;
	char *out = fs_xmalloc(4 * (n / 3 + 1) + 1), *o = out;
	size_t i = 0;

	for (; i + 2 < n; i += 3) {
		*o++ = abc[u[i] >> 2];
		*o++ = abc[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
		*o++ = abc[((u[i + 1] & 15) << 2) | (u[i + 2] >> 6)];
		*o++ = abc[u[i + 2] & 63];
	}
	if (i < n) {
		*o++ = abc[u[i] >> 2];
		if (i + 1 < n) {
			*o++ = abc[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
			*o++ = abc[(u[i + 1] & 15) << 2];
		} else {
			*o++ = abc[(u[i] & 3) << 4];
		}
	}
	*o = '\0';
	return out;
}

/* The key file, refused unless mode 0600; jv_invalid() said. */
static jv
sa_read(const char *who, const char *path)
{
	jv v = fs_private_json(who, "service_account_file", path);

	if (jv_is_valid(v) && (fs_jstr(v, "client_email") == NULL || fs_jstr(v, "private_key") == NULL)) {
		fs_err("%s: service_account_file '%s' is not a key file with \"client_email\" and \"private_key\"", who,
		       path);
		jv_free(v);
		return jv_invalid();
	}
	return v;
}

/* The JWT, signed with the key (PEM); NULL said. */
static char *
sa_jwt(const char *who, jv key, const char *aud)
{
	const char *pem = fs_jstr(key, "private_key");
	fs_time now = fs_now();
	jv claims = jv_object();
	char *head = b64url("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", 27), *body, *input, *sig64 = NULL, *out = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	claims = jv_object_set(claims, jv_string("iss"), jv_string(fs_jstr(key, "client_email")));
	claims = jv_object_set(claims, jv_string("scope"), jv_string(SA_SCOPE));
	claims = jv_object_set(claims, jv_string("aud"), jv_string(aud));
	claims = jv_object_set(claims, jv_string("iat"), jv_number((double)now));
	claims = jv_object_set(claims, jv_string("exp"), jv_number((double)(now + 3600)));
	input = fs_jdump(claims);
	body = b64url(input, strlen(input));
	free(input);
	input = fs_xasprintf("%s.%s", head, body);
	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		fs_err("%s: the service account's private_key is not an RSA key in PEM", who);
	} else if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
		   EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1 ||
		   (sig = fs_xmalloc(siglen)) == NULL ||
		   EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
		fs_err("%s: the JWT could not be signed with the service account's key", who);
	} else {
		sig64 = b64url(sig, siglen);
		out = fs_xasprintf("%s.%s", input, sig64);
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	free(sig);
	free(sig64);
	free(input);
	free(body);
	free(head);
	jv_free(claims);
	return out;
}

/* A new access token for the service account of ep (token_url's answer); NULL said, *status the run's. */
static char *
sa_access(const struct fs_endpoint *ep, const char *who, const struct fs_http *api, int *status)
{
	const char *token_url = fs_setting(ep, "token_url");
	jv key = sa_read(who, fs_setting(ep, "service_account_file")), ans = jv_invalid();
	struct fs_http tok;
	struct fs_http_response r = {0};
	char *jwt, *form, *access = NULL;

	*status = FS_EXIT_USAGE;
	if (!jv_is_valid(key))
		return NULL;
	jwt = sa_jwt(who, key, token_url);
	jv_free(key);
	if (jwt == NULL)
		return NULL;
	form = fs_xasprintf("grant_type=%s&assertion=%s", SA_GRANT, jwt);
	free(jwt);
	*status = FS_EXIT_REMOTE;
	if (fs_http_init(&tok, who, api->base_url, "off") == 0) {
		tok.content_type = "application/x-www-form-urlencoded";
		tok.attempts = api->attempts;
		if (fs_http_request(&tok, "POST", token_url, form, NULL, &r) == 0) {
			ans = r.body.len ? jv_parse_sized(r.body.data, (int)r.body.len) : jv_invalid();
			if (r.status == 200 && fs_jstr(ans, "access_token")) {
				access = fs_xstrdup(fs_jstr(ans, "access_token"));
				*status = FS_EXIT_OK;
			} else {
				const char *why = fs_jstr(ans, "error_description");

				fs_err("%s: POST %s: HTTP %ld%s%s%s: check service_account_file and that the sheet is "
				       "shared with the service account", who, token_url, r.status, why ? " (" : "",
				       why ? why : "", why ? ")" : "");
				*status = r.status >= 400 && r.status < 500 ? FS_EXIT_USAGE : FS_EXIT_REMOTE;
			}
		}
		if (r.body.data)
			fs_secure_zero(r.body.data, r.body.len);
		fs_http_response_free(&r);
		fs_http_free(&tok);
	}
	jv_free(ans);
	fs_secret_free(form);
	return access;
}

/* fs-pull's bearer token from the service account; -1 said, the run failed. */
static int
sa_pull_token(struct fs_pull *p)
{
	int status;
	char *access = sa_access(&p->ep, p->name, &p->http, &status);

	if (access == NULL) {
		fs_pull_fail(p, status);
		return -1;
	}
	fs_http_bearer(&p->http, access);
	fs_secret_free(access);
	return 0;
}

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
static char *
values_path(const struct fs_endpoint *ep)
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
	char *path = values_path(&p->ep);
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
		if (r.status == 401 && (sh_oauth_on || sh_sa_on) && !refreshed) {
			fs_http_response_free(&r);
			refreshed = true;
			fs_debug("%s: HTTP 401: the access token is refreshed", p->name);
			if (sh_sa_on ? sa_pull_token(p) != 0 : fs_pull_oauth_refresh(p, &sh_oauth) != 0)
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
				       r.status == 401 ? (sh_oauth_on || sh_sa_on ? " (after a refresh)"
							  : "; check token_env or oauth_file") 
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
				jv_free(first);
				return -1;
			}
			jv_free(o);
		}
		if (*idcol < 0 && *name && same_name(name, want))
			*idcol = i;
		*names = jv_array_append(*names, jv_string(name));
		jv_free(c);
	}
	jv_free(first);
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
		jv vals, idv, prev, entry;
		const char *id;
		char version[17];
		bool blank = true;
		int n = first_row + i;

		if (i == 0 || jv_get_kind(row) != JV_KIND_ARRAY) {
			jv_free(row);
			continue;
		}
		vals = jv_object();
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
			jv prev = fs_jget(s.rows, id), now = fs_jget(rows, id);
			bool present = jv_is_valid(now);

			(void)i;
			jv_free(now);
			if (!present) {
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
	oauth_reset();
	if (fs_setting(&p->ep, "spreadsheet") == NULL) {
		fs_err("source '%s': no spreadsheet (the id in the sheet's URL, /spreadsheets/d/ID/edit)", p->name);
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	if (fs_setting(&p->ep, "service_account_file")) {
		if (fs_pull_http_base(p) != 0) {
			fs_pull_fail(p, FS_EXIT_USAGE);
			return -1;
		}
		sh_sa_on = !p->dry_run;
		if (p->dry_run) {
			fs_http_bearer(&p->http, "");	/* shown redacted: nothing is sent */
			return 0;
		}
		return sa_pull_token(p);
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
	oauth_reset();
}

/* A sheet's columns map to canonical fields by their names, as a CSV export's do. */
static const char *
sheets_field(const struct fs_endpoint *ep, bool on_job, const char *field)
{
	(void)ep;
	return on_job ? NULL : field;
}

/* ---- push: mail status written to the row with the contact's id (fs-push, kind sheets) ---- */

/*
 * Each batch of mail.status rows is one values.batchUpdate: the status
 * label into status_column and, for a piece sent, its day into
 * sent_column, of the row whose id column holds the contact's id.  The
 * rows are found by reading the range just before (rows move), never by a
 * number kept from a poll.  Writing a cell to the value it has is harmless,
 * so a batch sent twice (a crash before its rows were settled) is too.
 */

#define SH_BATCH 100	/* rows a batchUpdate writes at most */

struct sh_push {
	char *sheet;		/* the range's sheet, quoted for A1 notation */
	int gen, sent_gen;	/* token refreshes so far; the sender's */
};

struct sh_req {
	struct fs_push_req r;	/* first: lib/push.c's part */
	jv wrote;		/* [{"range","values"}] a row: what it wrote */
	int gen;
	bool refreshed;
};

static void
sh_req_clear(struct fs_push_req *r)
{
	jv_free(((struct sh_req *)r)->wrote);
}

/* "Sheet1!A1:Z" -> "'Sheet1'" ('' for a quote inside). */
static char *
quoted_sheet(const char *range)
{
	const char *bang = strrchr(range, '!');
	size_t n = bang ? (size_t)(bang - range) : strlen(range);
	struct fs_buf b = {0};

	if (n >= 2 && range[0] == '\'' && range[n - 1] == '\'')
		fs_buf_add(&b, range, n);
	else {
		fs_buf_addc(&b, '\'');
		for (size_t i = 0; i < n; i++) {
			if (range[i] == '\'')
				fs_buf_addc(&b, '\'');
			fs_buf_addc(&b, range[i]);
		}
		fs_buf_addc(&b, '\'');
	}
	return b.data;
}

static void
col_name(int i, char out[8])
{
	char t[8];
	int k = 0;

	for (i++; i > 0 && k < 7; i = (i - 1) / 26)
		t[k++] = (char)('A' + (i - 1) % 26);
	for (int j = 0; j < k; j++)
		out[j] = t[k - 1 - j];
	out[k] = '\0';
}

static int
sheets_push_start(struct fs_push *p)
{
	struct sh_push *s = fs_xmalloc(sizeof *s);

	memset(s, 0, sizeof *s);
	p->settings = s;
	oauth_reset();
	if (fs_push_setting(p, "spreadsheet") == NULL) {
		fs_err("target '%s': no spreadsheet (the id in the sheet's URL, /spreadsheets/d/ID/edit)", p->target);
		return -1;
	}
	s->sheet = quoted_sheet(fs_push_setting(p, "range"));
	if (p->dry_run)
		return 0;
	if (fs_setting(&p->ep, "service_account_file")) {
		int status;

		if (fs_http_init(&p->easy, p->target, p->url, fs_push_setting(p, "rate")) != 0)
			return -1;
		p->easy_ready = true;
		p->easy.attempts = 3;
		if ((p->secret = sa_access(&p->ep, p->target, &p->easy, &status)) == NULL) {
			fs_push_fail(p, status);
			return -1;
		}
		sh_sa_on = true;
		fs_http_bearer(&p->easy, p->secret);
		return 0;
	} else if (fs_setting(&p->ep, "oauth_file")) {
		if (fs_oauth_setup(&p->ep, &sh_oauth, fs_push_setting(p, "token_url"), "secret_env", "secret_file") != 0)
			return -1;
		sh_oauth_on = true;
		p->secret = fs_xstrdup(sh_oauth.access);
	} else {
		p->secret = fs_endpoint_secret(&p->ep, "token_env", "token_file");
	}
	if (fs_http_init(&p->easy, p->target, p->url, fs_push_setting(p, "rate")) != 0)
		return -1;
	p->easy_ready = true;
	p->easy.attempts = 3;
	if (p->secret)
		fs_http_bearer(&p->easy, p->secret);
	return 0;
}

static void
sheets_push_free(struct fs_push *p)
{
	struct sh_push *s = p->settings;

	if (s)
		free(s->sheet);
	oauth_reset();
}

/* A new access token, onto the look-ups' client and the sender; -1 said, the run stopped. */
static int
push_refresh(struct fs_push *p)
{
	struct sh_push *s = p->settings;
	int status = FS_EXIT_REMOTE;
	char *access = NULL;

	if (sh_sa_on)
		access = sa_access(&p->ep, p->target, &p->easy, &status);
	else if (sh_oauth_on && fs_oauth_refresh(&sh_oauth, &p->easy, &status) == 0)
		access = fs_xstrdup(sh_oauth.access);
	if (access == NULL) {
		if (!sh_oauth_on && !sh_sa_on)
			fs_err("%s: HTTP 401: the access token was refused; check %s", p->target,
			       fs_push_setting(p, "token_env"));
		fs_push_fail(p, sh_oauth_on || sh_sa_on ? status : FS_EXIT_USAGE);
		p->stop = true;
		return -1;
	}
	s->gen++;
	fs_http_bearer(&p->easy, access);
	if (p->http)
		fs_push_http_auth_bearer(p->http, access);
	fs_secret_free(access);
	return 0;
}

/* The range as it is now: its values and where they start; jv_invalid() with the run stopped (said). */
static jv
read_range(struct fs_push *p, int *row0, int *col0)
{
	struct fs_endpoint *ep = &p->ep;
	char *path = values_path(ep);
	jv out = jv_invalid();

	*row0 = 1;
	*col0 = 0;
	for (int tries = 0; tries < 2; tries++) {
		struct fs_http_response r;
		int rc = fs_http_request(&p->easy, "GET", path, NULL, NULL, &r);
		const char *range;

		if (rc != 0) {
			fs_http_response_free(&r);
			fs_push_fail(p, FS_EXIT_REMOTE);
			p->stop = true;
			break;
		}
		if (r.status == 401 && tries == 0) {
			fs_http_response_free(&r);
			if (push_refresh(p) != 0)
				break;
			continue;
		}
		out = r.body.len ? jv_parse_sized(r.body.data, (int)r.body.len) : jv_invalid();
		if (r.status != 200 || jv_get_kind(out) != JV_KIND_OBJECT) {
			const char *m = jv_is_valid(out) ? google_message(out) : NULL;

			fs_err("%s: GET values: HTTP %ld%s%s", p->target, r.status, m ? ": " : "", m ? m : "");
			fs_push_fail(p, r.status == 401 || r.status == 403 || r.status == 404 ? FS_EXIT_USAGE : FS_EXIT_REMOTE);
			p->stop = true;
			jv_free(out);
			out = jv_invalid();
		} else if ((range = fs_jstr(out, "range")) && strchr(range, '!')) {
			const char *c = strrchr(range, '!') + 1;
			int col = 0;

			for (; isalpha((unsigned char)*c); c++)
				col = col * 26 + (toupper((unsigned char)*c) - 'A' + 1);
			*col0 = col > 0 ? col - 1 : 0;
			if (isdigit((unsigned char)*c))
				*row0 = atoi(c);
		}
		fs_http_response_free(&r);
		break;
	}
	free(path);
	return out;
}

/* The header's column named like name (loosely), or -1. */
static int
find_column(jv header, const char *name)
{
	int at = -1;

	jv_array_foreach(header, i, h) {
		if (at < 0 && jv_get_kind(h) == JV_KIND_STRING && same_name(jv_string_value(h), name))
			at = i;
		jv_free(h);
	}
	return at;
}

/* What a row writes: the status label (the piece's latest), and the day it was sent when it is a "sent". */
static int
row_cells(struct fs_push *p, const struct fs_outbox_row *r, char **label, char day[11], char **why)
{
	jv ev = jv_parse(r->line), data = fs_jget(ev, "data");
	const char *status = fs_jstr(data, "status");

	*label = *why = NULL;
	day[0] = '\0';
	if (status && strcmp(status, "sent") == 0)
		fs_push_day(fs_jstr(ev, "occurred_at"), day);
	/* The cell shows the piece's latest status, never an older one that arrived late. */
	if (r->contact_id == NULL)
		*why = fs_xstrdup("no contact_id: no row to write to");
	else
		*label = fs_push_status_label(p, data, true, why);
	jv_free(data);
	jv_free(ev);
	return *why ? -1 : 0;
}

/* The rows in q, found in the range read now (values, consumed): a row with no id there goes to the DLQ. */
static jv
batch_data(struct fs_push *p, struct sh_req *q, jv values, int row0, int col0, int *left)
{
	const struct sh_push *s = p->settings;
	jv header = jv_array_get(jv_copy(values), 0), data = jv_array(), where = jv_object();
	int idc = find_column(header, fs_push_setting(p, "id_column"));
	int stc = find_column(header, fs_push_setting(p, "status_column"));
	int sec = find_column(header, fs_push_setting(p, "sent_column"));
	int keep = 0;

	*left = -1;
	if (idc < 0 || stc < 0 || sec < 0) {
		fs_err("%s: no column '%s' in the header of %s: nothing written", p->target,
		       fs_push_setting(p, idc < 0 ? "id_column" : stc < 0 ? "status_column" : "sent_column"),
		       fs_push_setting(p, "range"));
		fs_push_fail(p, FS_EXIT_USAGE);
		p->stop = true;
		jv_free(header);
		jv_free(where);
		jv_free(data);
		jv_free(values);
		return jv_invalid();
	}
	jv_array_foreach(values, i, row) {
		jv id = jv_array_get(row, idc);

		if (i > 0 && jv_get_kind(id) == JV_KIND_STRING && !jv_is_valid(fs_jget(where, jv_string_value(id))))
			where = jv_object_set(where, jv_copy(id), jv_number(row0 + i));
		jv_free(id);
	}
	for (int i = 0; i < q->r.nrows; i++) {
		struct fs_outbox_row *r = &q->r.rows[i];
		char *label, *why, day[11], a1[8], *range;
		jv at = r->contact_id ? fs_jget(where, r->contact_id) : jv_invalid(), wrote = jv_array();

		if (row_cells(p, r, &label, day, &why) == 0 && !jv_is_valid(at))
			why = fs_xasprintf("no row with id '%s' in %s", r->contact_id, fs_push_setting(p, "range"));
		if (why) {
			struct fs_push_req *one = fs_push_req_new(1, sizeof *one);

			fs_push_req_take(one, r);
			jv_free(q->r.hist[i]);
			q->r.hist[i] = jv_null();
			fs_push_dead_local(p, one, why);
			fs_push_req_free(one);
			free(why);
			free(label);
			jv_free(at);
			jv_free(wrote);
			continue;
		}
		col_name(col0 + stc, a1);
		range = fs_xasprintf("%s!%s%d", s->sheet, a1, (int)jv_number_value(at));
		wrote = jv_array_append(wrote, jv_object_set(jv_object_set(jv_object(), jv_string("range"), jv_string(range)),
						      jv_string("values"), jv_array_append(jv_array(), jv_array_append(jv_array(), jv_string(label)))));
		free(range);
		if (day[0]) {
			col_name(col0 + sec, a1);
			range = fs_xasprintf("%s!%s%d", s->sheet, a1, (int)jv_number_value(at));
			wrote = jv_array_append(wrote, jv_object_set(jv_object_set(jv_object(), jv_string("range"),
									  jv_string(range)), jv_string("values"),
							      jv_array_append(jv_array(), jv_array_append(jv_array(), jv_string(day)))));
			free(range);
		}
		jv_array_foreach(wrote, k, w) {
			(void)k;
			data = jv_array_append(data, w);
		}
		q->wrote = jv_array_append(q->wrote, wrote);
		/* Kept rows close up, in the order of q->wrote. */
		if (keep != i) {
			q->r.rows[keep] = q->r.rows[i];
			q->r.hist[keep] = q->r.hist[i];
			q->r.tries[keep] = q->r.tries[i];
		}
		keep++;
		free(label);
		jv_free(at);
	}
	q->r.nrows = keep;
	*left = keep;
	jv_free(header);
	jv_free(where);
	jv_free(values);
	return data;
}

static struct fs_push_job *
sheets_write_back(struct fs_push *p)
{
	struct sh_push *s = p->settings;
	struct sh_req *q = NULL;
	struct fs_outbox_row *r;
	jv values, data, body;
	char *id;
	int row0, col0, left;

	while (p->stop == false) {
		while ((q == NULL || q->r.nrows < SH_BATCH) && (q == NULL || fs_push_rows_claimed(p)) &&
		       (r = fs_push_next_row(p)) != NULL) {
			if (q == NULL) {
				q = (struct sh_req *)fs_push_req_new(SH_BATCH, sizeof *q);
				q->wrote = jv_array();
				q->r.clear = sh_req_clear;
			}
			fs_push_req_take(&q->r, r);
		}
		if (q == NULL)
			return NULL;
		values = read_range(p, &row0, &col0);
		if (!jv_is_valid(values)) {
			fs_push_req_free(&q->r);
			return NULL;
		}
		data = fs_jget(values, "values");
		jv_free(values);
		if (jv_get_kind(data) != JV_KIND_ARRAY) {
			jv_free(data);
			data = jv_array_append(jv_array(), jv_array());
		}
		body = batch_data(p, q, data, row0, col0, &left);
		if (!jv_is_valid(body)) {
			fs_push_req_free(&q->r);
			return NULL;
		}
		if (left == 0) {	/* every row went to the DLQ: the next batch */
			jv_free(body);
			fs_push_req_free(&q->r);
			q = NULL;
			continue;
		}
		body = jv_object_set(jv_object_set(jv_object(), jv_string("valueInputOption"), jv_string("RAW")),
				     jv_string("data"), body);
		q->r.j.body = fs_jdump(body);
		jv_free(body);
		id = fs_urlencode(fs_push_setting(p, "spreadsheet"));
		q->r.j.url = fs_xasprintf("%s/v4/spreadsheets/%s/values:batchUpdate", p->url, id);
		free(id);
		q->r.j.method = "POST";
		q->r.j.bucket = "POST values:batchUpdate";
		q->gen = s->gen;
		return &q->r.j;
	}
	if (q)
		fs_push_req_free(&q->r);
	return NULL;
}

static int
sheets_answer(struct fs_push *p, struct fs_push_job *j)
{
	struct sh_req *q = (struct sh_req *)j->user;
	const struct sh_push *s = p->settings;
	char *e = NULL;
	int rc = 0;

	if (j->http_status == 401) {
		if (q->refreshed && q->gen == s->gen) {
			if (!p->stop)
				fs_err("%s: HTTP 401 after a refresh: re-authorise the app", p->target);
			fs_push_fail(p, FS_EXIT_USAGE);
			p->stop = true;
		} else if (q->gen < s->gen || push_refresh(p) == 0) {
			q->refreshed = true;
			q->gen = s->gen;
			return 1;
		}
		fs_push_req_free(&q->r);
		return 0;	/* the rows stay pending */
	}
	if (j->http_status == 200)
		p->accepted++;
	else
		e = fs_push_answer_error(j);
	for (int i = 0; i < q->r.nrows && rc >= 0; i++) {
		q->r.tries[i]++;
		fs_push_attempt(&q->r, i, e);
		if (e == NULL) {
			jv w = jv_array_get(jv_copy(q->wrote), i);

			rc = fs_push_row_written(p, &q->r, i, jv_object_set(jv_object(), jv_string("cells"), w));
		} else if (fs_push_transient(j->http_status)) {
			rc = fs_push_row_retry(p, &q->r, i, e);
		} else {
			rc = fs_push_row_dead(p, &q->r, i, e);
		}
	}
	free(e);
	fs_push_req_free(&q->r);
	if (rc < 0)
		p->stop = true;
	return 0;
}

/* --dry-run: what one event would write (the row is found at write time). */
static void
sheets_plan(struct fs_push *p, jv ev, const char *note)
{
	jv data = fs_jget(ev, "data");
	struct fs_outbox_row r = {.contact_id = (char *)fs_jstr(data, "contact_id"), .event_id = (char *)fs_jstr(ev, "id")};
	char *label, *why, day[11];

	r.line = fs_jdump(ev);
	if (row_cells(p, &r, &label, day, &why) == 0) {
		p->planned++;
		printf("would write the row with id %s: '%s' = %s%s%s%s%s%s\n", r.contact_id,
		       fs_push_setting(p, "status_column"), label, day[0] ? ", '" : "",
		       day[0] ? fs_push_setting(p, "sent_column") : "", day[0] ? "' = " : "", day, note);
		free(label);
	} else {
		printf("would dead-letter %s: %s\n", r.event_id, why);
		free(why);
	}
	free(r.line);
	jv_free(data);
}

static const char *const sh_takes[] = {"mail.status", NULL};

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
	.flags = FS_VENDOR_OWN_401,
	.takes = sh_takes,
	.push_start = sheets_push_start,
	.write_back = sheets_write_back,
	.answer = sheets_answer,
	.plan = sheets_plan,
	.push_free = sheets_push_free,
	.trigger_property = sheets_field,
};
