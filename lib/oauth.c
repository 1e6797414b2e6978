/*
 * OAuth 2 tokens kept in a file of the installation (mode 0600), refreshed
 * with refresh-token rotation: each refresh answers a new refresh token and
 * voids the one just used (Jobber; QuickBooks Online does the same).  So the
 * new pair must be durable before the old one is dropped or anything else
 * is sent: written to a temporary file beside the token file, synced, and
 * renamed over it, its directory synced too.  The temporary file is made
 * before the refresh token is redeemed, so that a directory we cannot write
 * fails while the old token is still good.  Another command may refresh the
 * same installation at once: a lock on FILE.lock serialises them, and the
 * one that comes second finds the file changed and takes the new pair.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fieldsync.h"

void
fs_oauth_free(struct fs_oauth *o)
{
	fs_secret_free(o->access);
	fs_secret_free(o->refresh);
	fs_secret_free(o->client_id);
	fs_secret_free(o->client_secret);
	o->access = o->refresh = o->client_id = o->client_secret = NULL;
}

jv
fs_private_json(const char *who, const char *key, const char *path)
{
	struct fs_buf b = {0};
	struct stat sb;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	jv v;

	if (fd < 0) {
		fs_err("%s: cannot open %s '%s':", who, key, path);
		return jv_invalid();
	}
	if (fstat(fd, &sb) != 0 || (sb.st_mode & 077) != 0) {
		fs_err("%s: %s '%s' must have mode 0600", who, key, path);
		close(fd);
		return jv_invalid();
	}
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		fs_buf_add(&b, chunk, (size_t)n);
	close(fd);
	fs_secure_zero(chunk, sizeof chunk);
	v = b.len ? jv_parse_sized(b.data, (int)b.len) : jv_null();
	if (b.data)
		fs_secure_zero(b.data, b.len);
	fs_buf_free(&b);
	if (!jv_is_valid(v))
		v = (jv_free(v), jv_null());
	return v;
}

/* The file's two tokens (malloc'd) and when the access token ends (0: not said); -1 after saying why. */
static int
tokens_read(const struct fs_oauth *o, char **access, char **refresh, fs_time *expires_at)
{
	char *who = fs_xasprintf("source '%s'", o->name);
	jv v = fs_private_json(who, "oauth_file", o->file);

	free(who);
	*access = *refresh = NULL;
	*expires_at = 0;
	if (!jv_is_valid(v))
		return -1;
	if (fs_jstr(v, "access_token") && fs_jstr(v, "refresh_token")) {
		*access = fs_xstrdup(fs_jstr(v, "access_token"));
		*refresh = fs_xstrdup(fs_jstr(v, "refresh_token"));
		if (fs_jstr(v, "expires_at") == NULL || fs_time_parse(fs_jstr(v, "expires_at"), expires_at) != 0)
			*expires_at = 0;
	}
	jv_free(v);
	if (*access == NULL) {
		fs_err("source '%s': oauth_file '%s' is not JSON with \"access_token\" and \"refresh_token\"", o->name,
		       o->file);
		return -1;
	}
	return 0;
}

int
fs_oauth_load(struct fs_oauth *o)
{
	fs_secret_free(o->access);
	fs_secret_free(o->refresh);
	return tokens_read(o, &o->access, &o->refresh, &o->expires_at);
}

bool
fs_oauth_due(const struct fs_oauth *o)
{
	return o->expires_at > 0 && fs_now() >= o->expires_at - FS_OAUTH_AHEAD;
}

static void
take(struct fs_oauth *o, char *access, char *refresh, fs_time expires_at)
{
	fs_secret_free(o->access);
	fs_secret_free(o->refresh);
	o->access = access;
	o->refresh = refresh;
	o->expires_at = expires_at;
}

/* The directory of path, for fsync after a rename ("." for a bare name). */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return fs_xstrdup(".");
	if (slash == path)
		return fs_xstrdup("/");
	return fs_xasprintf("%.*s", (int)(slash - path), path);
}

/* A temporary file beside path, mode 0600; -1 if the directory will not have one. */
static int
temp_beside(const char *path, char **tmp)
{
	int fd;

	*tmp = fs_xasprintf("%s.XXXXXX", path);
	if ((fd = mkstemp(*tmp)) < 0 || fchmod(fd, 0600) != 0) {
		if (fd >= 0) {
			close(fd);
			unlink(*tmp);
		}
		free(*tmp);
		*tmp = NULL;
		return -1;
	}
	return fd;
}

/* The token endpoint's answer, to fd, synced, renamed over path, the directory synced. */
static int
tokens_save(int fd, const char *tmp, const char *path, jv answer, fs_time *expires_at)
{
	jv keep = jv_object();
	char *text, *dir;
	size_t len;
	int rc = 0, dfd;
	jv in = fs_jget(answer, "expires_in");

	/* RFC 6749's expires_in (seconds from now), kept as a time the next run can compare. */
	*expires_at = jv_get_kind(in) == JV_KIND_NUMBER && jv_number_value(in) > 0
	    ? fs_now() + (fs_time)jv_number_value(in) : 0;
	jv_free(in);
	if (fs_jstr(answer, "expires_at") && fs_time_parse(fs_jstr(answer, "expires_at"), expires_at) != 0)
		*expires_at = 0;
	keep = jv_object_set(keep, jv_string("access_token"), fs_jget(answer, "access_token"));
	keep = jv_object_set(keep, jv_string("refresh_token"), fs_jget(answer, "refresh_token"));
	if (fs_jstr(answer, "expires_at"))
		keep = jv_object_set(keep, jv_string("expires_at"), fs_jget(answer, "expires_at"));
	else if (*expires_at > 0) {
		char at[21];

		fs_time_format(*expires_at, at);
		keep = jv_object_set(keep, jv_string("expires_at"), jv_string(at));
	}
	text = fs_jdump(keep);
	jv_free(keep);
	len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		rc = -1;
	fs_secure_zero(text, len);
	free(text);
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0)
		return -1;
	dir = dir_of(path);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) != 0)
			rc = -1;
		close(dfd);
	}
	free(dir);
	return rc;
}

/* grant_type=refresh_token, form-encoded (RFC 6749, section 6), with the client's credentials unless in Basic. */
static char *
refresh_form(const struct fs_oauth *o)
{
	char *id = fs_urlencode(o->client_id), *secret = fs_urlencode(o->client_secret);
	char *token = fs_urlencode(o->refresh);
	char *form = o->basic
	    ? fs_xasprintf("grant_type=refresh_token&refresh_token=%s", token)
	    : fs_xasprintf("client_id=%s&client_secret=%s&grant_type=refresh_token&refresh_token=%s", id, secret,
			   token);

	fs_secret_free(id);
	fs_secret_free(secret);
	fs_secret_free(token);
	return form;
}

/* The token endpoint's answer to the refresh grant; jv_invalid() after saying why (*status). */
static jv
redeem(const struct fs_oauth *o, struct fs_http *api, int *status)
{
	struct fs_http tok;
	struct fs_http_response r;
	char *form = refresh_form(o);
	int rc;
	jv ans = jv_invalid();

	if (fs_http_init(&tok, o->name, api->base_url, "off") != 0) {
		fs_secret_free(form);
		*status = FS_EXIT_REMOTE;
		return ans;
	}
	tok.content_type = "application/x-www-form-urlencoded";
	if (o->basic)	/* RFC 6749, section 2.3.1: what Intuit's token endpoint asks */
		tok.user = fs_xasprintf("%s:%s", o->client_id, o->client_secret);
	tok.attempts = api->attempts;
	rc = fs_http_request(&tok, "POST", o->token_url, form, NULL, &r);
	fs_secret_free(form);
	api->requests += tok.requests;
	api->retries += tok.retries;
	fs_http_free(&tok);
	if (rc != 0) {
		*status = FS_EXIT_REMOTE;
	} else {
		ans = r.body.len ? jv_parse_sized(r.body.data, (int)r.body.len) : jv_invalid();
		/* RFC 6749, section 6: the server MAY issue a new refresh token; Google's keeps the old one. */
		if (r.status == 200 && fs_jstr(ans, "access_token") && fs_jstr(ans, "refresh_token") == NULL)
			ans = jv_object_set(ans, jv_string("refresh_token"), jv_string(o->refresh));
		if (r.status != 200 || !fs_jstr(ans, "access_token") || !fs_jstr(ans, "refresh_token")) {
			const char *why = fs_jstr(ans, "error_description");

			/* A refused grant needs a person: the app authorised again, or its credentials fixed. */
			fs_err("%s: POST %s: HTTP %ld%s%s%s: re-authorise the app and write its tokens to '%s'", o->name,
			       o->token_url, r.status, why ? " (" : "", why ? why : "", why ? ")" : "", o->file);
			jv_free(ans);
			ans = jv_invalid();
			*status = r.status == 200 || r.status >= 500 ? FS_EXIT_REMOTE : FS_EXIT_USAGE;
		}
	}
	if (r.body.data)
		fs_secure_zero(r.body.data, r.body.len);
	fs_http_response_free(&r);
	return ans;
}

/* With the lock held and the file still holding the token that failed: redeem, then save. */
static int
rotate(struct fs_oauth *o, struct fs_http *api, int *status)
{
	char *tmp = NULL;
	int fd = temp_beside(o->file, &tmp), rc = -1;
	fs_time expires_at = 0;
	jv ans;

	if (fd < 0) {
		fs_err("source '%s': cannot write beside oauth_file '%s' (the refresh token was not used):", o->name,
		       o->file);
		*status = FS_EXIT_STATE;
		return -1;
	}
	ans = redeem(o, api, status);
	if (!jv_is_valid(ans)) {
		close(fd);
		unlink(tmp);
	} else if (tokens_save(fd, tmp, o->file, ans, &expires_at) != 0) {
		/* The old refresh token is void at the vendor and the new one could not be kept. */
		fs_err("source '%s': cannot save the new tokens to '%s' (re-authorise the app):", o->name, o->file);
		unlink(tmp);
		*status = FS_EXIT_STATE;
	} else {
		if (fs_jstr(ans, "warning"))
			fs_info("%s: the token endpoint warns: %s", o->name, fs_jstr(ans, "warning"));
		take(o, fs_xstrdup(fs_jstr(ans, "access_token")), fs_xstrdup(fs_jstr(ans, "refresh_token")), expires_at);
		fs_debug("%s: access token refreshed; the new refresh token is saved", o->name);
		rc = 0;
	}
	jv_free(ans);
	free(tmp);
	return rc;
}

int
fs_oauth_refresh(struct fs_oauth *o, struct fs_http *api, int *status)
{
	char *lockpath = fs_xasprintf("%s.lock", o->file), *access, *refresh;
	fs_time expires_at;
	int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600), rc = -1;

	if (lock < 0 || flock(lock, LOCK_EX) != 0) {
		fs_err("source '%s': cannot lock '%s':", o->name, lockpath);
		*status = FS_EXIT_STATE;
	} else if (tokens_read(o, &access, &refresh, &expires_at) != 0) {
		*status = FS_EXIT_USAGE;
	} else if (o->access && strcmp(access, o->access) != 0) {
		fs_debug("%s: another run refreshed the tokens: using them", o->name);
		take(o, access, refresh, expires_at);
		rc = 0;
	} else {
		take(o, access, refresh, expires_at);
		rc = rotate(o, api, status);
	}
	if (lock >= 0)
		close(lock);	/* and the lock with it */
	free(lockpath);
	return rc;
}

/*
 * The client-credentials grant (RFC 6749, section 4.4; ServiceTitan's only
 * one): no refresh token and no file to keep, a new access token asked for
 * whenever the last one ends.  The client's id and secret go in the form.
 */
int
fs_oauth_client_token(struct fs_oauth *o, struct fs_http *api, int64_t *expires_in, int *status)
{
	char *id = fs_urlencode(o->client_id), *secret = fs_urlencode(o->client_secret);
	char *form = fs_xasprintf("grant_type=client_credentials&client_id=%s&client_secret=%s", id, secret);
	struct fs_http tok;
	struct fs_http_response r;
	int rc = -1;
	jv ans = jv_invalid(), in;

	fs_secret_free(id);
	fs_secret_free(secret);
	*expires_in = 0;
	if (fs_http_init(&tok, o->name, api->base_url, "off") != 0) {
		fs_secret_free(form);
		*status = FS_EXIT_REMOTE;
		return -1;
	}
	tok.content_type = "application/x-www-form-urlencoded";
	tok.attempts = api->attempts;
	if (fs_http_request(&tok, "POST", o->token_url, form, NULL, &r) != 0) {
		*status = FS_EXIT_REMOTE;
	} else {
		ans = r.body.len ? jv_parse_sized(r.body.data, (int)r.body.len) : jv_invalid();
		if (r.status != 200 || !fs_jstr(ans, "access_token")) {
			const char *why = fs_jstr(ans, "error_description") ? fs_jstr(ans, "error_description")
									     : fs_jstr(ans, "error");

			/* A refused grant needs a person: the tenant's client id and secret. */
			fs_err("%s: POST %s: HTTP %ld%s%s%s: check the tenant's client id and secret", o->name,
			       o->token_url, r.status, why ? " (" : "", why ? why : "", why ? ")" : "");
			*status = r.status == 200 || r.status >= 500 ? FS_EXIT_REMOTE : FS_EXIT_USAGE;
		} else {
			in = fs_jget(ans, "expires_in");
			*expires_in = jv_get_kind(in) == JV_KIND_NUMBER ? (int64_t)jv_number_value(in) : 0;
			jv_free(in);
			fs_secret_free(o->access);
			o->access = fs_xstrdup(fs_jstr(ans, "access_token"));
			rc = 0;
		}
	}
	fs_secret_free(form);
	api->requests += tok.requests;
	api->retries += tok.retries;
	fs_http_free(&tok);
	if (r.body.data)
		fs_secure_zero(r.body.data, r.body.len);
	fs_http_response_free(&r);
	jv_free(ans);
	return rc;
}
