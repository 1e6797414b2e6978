/*
 * OAuth 2 for fs-pull's connectors (Jobber, QuickBooks Online): the app's
 * client id and secret from the environment or 0600 files, the access and
 * refresh tokens from oauth_file (lib/oauth.c keeps it), and the refresh
 * after a 401, its exit status the run's.
 */
#include "vendors.h"

/* A credential of the app (envkey's variable, or filekey's 0600 file); NULL after saying which is missing. */
static char *
app_secret(struct fs_pull *p, const char *what, const char *envkey, const char *filekey)
{
	const char *env = fs_setting(&p->ep, envkey);
	char *v = fs_endpoint_secret(&p->ep, envkey, filekey);

	if (v == NULL && env)
		fs_err("source '%s': no %s: $%s is not set", p->name, what, env);
	else if (v == NULL)
		fs_err("source '%s': no %s in its %s", p->name, what, filekey);
	return v;
}

int
fs_pull_oauth_setup(struct fs_pull *p, struct fs_oauth *o, const char *token_url, const char *secret_env,
		    const char *secret_file)
{
	o->name = p->name;
	o->file = fs_setting(&p->ep, "oauth_file");
	o->token_url = token_url;
	if (p->dry_run) {
		fs_http_bearer(&p->http, "");	/* shown redacted; nothing is sent, nothing refreshed */
		return 0;
	}
	if ((o->client_id = app_secret(p, "client id", "client_id_env", "client_id_file")) == NULL ||
	    (o->client_secret = app_secret(p, "client secret", secret_env, secret_file)) == NULL ||
	    fs_oauth_load(o) != 0)
		return -1;
	fs_http_bearer(&p->http, o->access);
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
