/*
 * OAuth 2 for connectors (Jobber, QuickBooks Online): the app's client id
 * and secret from the environment or 0600 files, the access and refresh
 * tokens from oauth_file (lib/oauth.c keeps it), and, for fs-pull, the
 * refresh after a 401, its exit status the run's.  A target that writes
 * back (Jobber's) reads the same settings of its [target] section.
 */
#include "vendors.h"

/* A credential of the app (envkey's variable, or filekey's 0600 file); NULL after saying which is missing. */
static char *
app_secret(const struct fs_endpoint *ep, const char *what, const char *envkey, const char *filekey)
{
	const char *env = fs_setting(ep, envkey);
	char *v = fs_endpoint_secret(ep, envkey, filekey);

	if (v == NULL && env)
		fs_err("%s '%s': no %s: $%s is not set", ep->type, ep->name, what, env);
	else if (v == NULL)
		fs_err("%s '%s': no %s in its %s", ep->type, ep->name, what, filekey);
	return v;
}

int
fs_oauth_setup(const struct fs_endpoint *ep, struct fs_oauth *o, const char *token_url, const char *secret_env,
	       const char *secret_file)
{
	o->name = ep->name;
	o->file = fs_setting(ep, "oauth_file");
	o->token_url = token_url;
	if ((o->client_id = app_secret(ep, "client id", "client_id_env", "client_id_file")) == NULL ||
	    (o->client_secret = app_secret(ep, "client secret", secret_env, secret_file)) == NULL)
		return -1;
	return fs_oauth_load(o);
}

int
fs_oauth_setup_client(const struct fs_endpoint *ep, struct fs_oauth *o)
{
	if ((o->client_id = app_secret(ep, "client id", "client_id_env", "client_id_file")) == NULL ||
	    (o->client_secret = app_secret(ep, "client secret", "client_secret_env", "client_secret_file")) == NULL)
		return -1;
	return 0;
}

int
fs_pull_oauth_setup(struct fs_pull *p, struct fs_oauth *o, const char *token_url, const char *secret_env,
		    const char *secret_file)
{
	if (p->dry_run) {
		o->name = p->name;
		o->file = fs_setting(&p->ep, "oauth_file");
		o->token_url = token_url;
		fs_http_bearer(&p->http, "");	/* shown redacted; nothing is sent, nothing refreshed */
		return 0;
	}
	if (fs_oauth_setup(&p->ep, o, token_url, secret_env, secret_file) != 0)
		return -1;
	fs_http_bearer(&p->http, o->access);
	if (fs_oauth_due(o)) {
		fs_debug("%s: the access token ends at or before %d s from now: refreshed first", p->name, FS_OAUTH_AHEAD);
		return fs_pull_oauth_refresh(p, o);
	}
	return 0;
}

int
fs_pull_oauth_http(struct fs_pull *p)
{
	/* With oauth_file the bearer token is the token file's (fs_pull_oauth_setup); else token_env's. */
	return fs_setting(&p->ep, "oauth_file") ? fs_pull_http_base(p) : fs_pull_http_setup(p, false);
}

int
fs_pull_oauth_refresh(struct fs_pull *p, struct fs_oauth *o)
{
	int status = FS_EXIT_REMOTE;

	if (fs_oauth_refresh(o, &p->http, &status) != 0) {
		fs_pull_fail(p, status);
		return -1;
	}
	fs_http_bearer(&p->http, o->access);
	return 0;
}
