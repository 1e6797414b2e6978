/*
 * fs-hook end to end, in process: the CGI request's environment, its body on
 * stdin, and everything fs-hook does with them (source lookup, method,
 * Content-Length, signature and timestamp check, JSON shape, delivery id,
 * inbox and request log in an in-memory state file).  cmd/fs-hook.c is
 * included with its main renamed, so that its statics can be reset between
 * requests.
 *
 * The input is "NAME=value" lines, a blank line, then the body.  NAME is a
 * CGI variable (REQUEST_METHOD, CONTENT_LENGTH, PATH_INFO, QUERY_STRING,
 * REQUEST_URI, REQUEST_SCHEME, HTTPS or HTTP_*), or one of the harness's:
 * FUZZ_SIGN=1 signs the request as the vendor would, with the source's
 * secret and the current time; FUZZ_SECRET=s replaces the secret.  Sources
 * (the config below): lob, hubspot, std (Standard Webhooks).
 *
 * Properties: the answer to a CGI request is one CGI response (Status, then a JSON body of
 * the length it announces); the exit status is one of fieldsync's; a request
 * that FUZZ_SIGN signed with the configured secret is never refused as
 * unsigned (401).
 */
#define main fs_hook_main
#include "../../cmd/fs-hook.c"
#undef main

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"

#define NOW "2026-11-30T01:00:00Z"
#define NOW_EPOCH "1796000400"
#define STD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static const char config[] =
	"[source \"lob\"]\nkind = lob\nsecret_env = FUZZ_LOB_SECRET\n"
	"[source \"hubspot\"]\nkind = hubspot\nsecret_env = FUZZ_HUBSPOT_SECRET\n"
	"[source \"std\"]\nkind = csv\nsignature = standard-webhooks\nsecret_env = FUZZ_STD_SECRET\n"
	"max_body = 64k\n";

static const char *const cgi_vars[] = {
	"REQUEST_METHOD", "CONTENT_LENGTH", "PATH_INFO", "QUERY_STRING", "REQUEST_URI",
	"REQUEST_SCHEME", "HTTPS", NULL
};

static struct fs_config cfg;

static bool
settable(const char *name)
{
	for (int i = 0; cgi_vars[i]; i++)
		if (strcmp(name, cgi_vars[i]) == 0)
			return true;
	if (strncmp(name, "HTTP_", 5) != 0 || name[5] == '\0')
		return false;
	for (const char *p = name; *p; p++)
		if (!(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') && *p != '_')
			return false;
	return true;
}

static void
reset_env(void)
{
	extern char **environ;
	bool again = true;

	for (int i = 0; cgi_vars[i]; i++)
		unsetenv(cgi_vars[i]);
	while (again) {
		again = false;
		for (char **e = environ; *e; e++)
			if (strncmp(*e, "HTTP_", 5) == 0) {
				char name[256];
				size_t n = strcspn(*e, "=");

				snprintf(name, sizeof name, "%.*s", (int)n, *e);
				unsetenv(name);
				again = true;
				break;
			}
	}
	setenv("FUZZ_LOB_SECRET", "lob-secret", 1);
	setenv("FUZZ_HUBSPOT_SECRET", "hubspot-app-secret", 1);
	setenv("FUZZ_STD_SECRET", STD_SECRET, 1);
}

static void
hmac(const void *key, size_t keylen, const struct fs_buf *msg, unsigned char mac[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)(msg->data ? msg->data : ""),
	     msg->len, mac, &n);
}

/* Signs the request the way the vendor does (tests/fixtures/hook-sign.py). */
static void
sign(const char *body, size_t len)
{
	char *name = find_source(0, NULL), out[128];
	struct fs_endpoint ep;
	struct fs_buf msg = {0};
	unsigned char mac[32];

	if (name == NULL || fs_endpoint_find(&cfg, "source", name, &ep) != 0) {
		free(name);
		return;
	}
	if (strcmp(name, "lob") == 0) {
		setenv("HTTP_LOB_SIGNATURE_TIMESTAMP", NOW_EPOCH, 1);
		fs_buf_adds(&msg, NOW_EPOCH ".");
		fs_buf_add(&msg, body, len);
		hmac("lob-secret", 10, &msg, mac);
		for (int i = 0; i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", mac[i]);
		setenv("HTTP_LOB_SIGNATURE", out, 1);
	} else if (strcmp(name, "hubspot") == 0) {
		char *url = request_url(&ep);
		const char *method = getenv("REQUEST_METHOD");

		setenv("HTTP_X_HUBSPOT_REQUEST_TIMESTAMP", NOW_EPOCH, 1);
		fs_buf_adds(&msg, method ? method : "");
		fs_buf_adds(&msg, url);
		fs_buf_add(&msg, body, len);
		fs_buf_adds(&msg, NOW_EPOCH);
		hmac("hubspot-app-secret", 18, &msg, mac);
		EVP_EncodeBlock((unsigned char *)out, mac, 32);
		setenv("HTTP_X_HUBSPOT_SIGNATURE_V3", out, 1);
		free(url);
	} else {
		unsigned char key[32];
		const char *id = getenv("HTTP_WEBHOOK_ID");
		int keylen = EVP_DecodeBlock(key, (const unsigned char *)STD_SECRET + 6, 32);

		FUZZ_ASSERT(keylen == 24);
		if (id == NULL || *id == '\0')
			setenv("HTTP_WEBHOOK_ID", id = "msg_fuzz", 1);
		setenv("HTTP_WEBHOOK_TIMESTAMP", NOW_EPOCH, 1);
		fs_buf_adds(&msg, id);
		fs_buf_adds(&msg, "." NOW_EPOCH ".");
		fs_buf_add(&msg, body, len);
		hmac(key, 24, &msg, mac);
		memcpy(out, "v1,", 3);
		EVP_EncodeBlock((unsigned char *)out + 3, mac, 32);
		setenv("HTTP_WEBHOOK_SIGNATURE", out, 1);
	}
	fs_buf_free(&msg);
	free(name);
}

/* One CGI answer: "Status: NNN ...", headers, then the body it announces. */
static int
check_answer(const char *out, size_t len)
{
	const char *end = strstr(out, "\r\n\r\n"), *cl = strstr(out, "Content-Length: ");
	int status = 0;

	FUZZ_ASSERT(len > 12 && strncmp(out, "Status: ", 8) == 0);
	FUZZ_ASSERT(end != NULL && cl != NULL && cl < end);
	status = atoi(out + 8);
	FUZZ_ASSERT(status >= 200 && status <= 599);
	FUZZ_ASSERT((size_t)atol(cl + 16) == len - (size_t)(end + 4 - out));
	FUZZ_ASSERT(out[len - 1] == '\n');
	FUZZ_ASSERT(fs_json_check(end + 4, len - (size_t)(end + 4 - out) - 1, NULL) == NULL);
	return status;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int cfgfd = -1;
	char *text = fuzz_cstr(data, size), *p = text, *body, *argv[] = {"fs-hook", NULL};
	bool signed_ok = false;
	int in, saved_in, saved_out, outfd, rc, http;
	size_t bodylen;
	char *out;

	if (cfgfd < 0) {
		char path[64];

		cfgfd = fuzz_memfd("fuzz-hook.conf", (const uint8_t *)config, sizeof config - 1);
		snprintf(path, sizeof path, "/proc/self/fd/%d", cfgfd);
		setenv("FS_CONFIG", path, 1);
		setenv("FS_STATE", ":memory:", 1);
		setenv("FS_NOW", NOW, 1);
		FUZZ_ASSERT(fs_config_load(path, &cfg) == 0);
	}
	reset_env();

	/* The environment, up to a blank line; the rest is the body. */
	while (*p != '\0' && *p != '\n') {
		char *nl = strchr(p, '\n'), *eq;

		if (nl)
			*nl = '\0';
		if ((eq = strchr(p, '=')) != NULL) {
			*eq = '\0';
			if (settable(p))
				setenv(p, eq + 1, 1);
			else if (strcmp(p, "FUZZ_SECRET") == 0)
				setenv("FUZZ_LOB_SECRET", eq + 1, 1), setenv("FUZZ_HUBSPOT_SECRET", eq + 1, 1),
				    setenv("FUZZ_STD_SECRET", eq + 1, 1);
			else if (strcmp(p, "FUZZ_SIGN") == 0)
				signed_ok = true;
		}
		if (nl == NULL) {
			p += strlen(p);
			break;
		}
		p = nl + 1;
	}
	body = *p == '\n' ? p + 1 : p;
	bodylen = size - (size_t)(body - text);
	if (signed_ok) {
		sign(body, bodylen);
		/* Only a request that reaches the check with the configured secret. */
		signed_ok = strcmp(getenv("FUZZ_STD_SECRET"), STD_SECRET) == 0 &&
			    getenv("REQUEST_METHOD") && strcmp(getenv("REQUEST_METHOD"), "POST") == 0 &&
			    getenv("CONTENT_LENGTH") && strtoull(getenv("CONTENT_LENGTH"), NULL, 10) == bodylen &&
			    isdigit((unsigned char)*getenv("CONTENT_LENGTH")) && bodylen <= 64 * 1024;
	}

	in = fuzz_memfd("fuzz-hook-body", (const uint8_t *)body, bodylen);
	outfd = memfd_create("fuzz-hook-out", MFD_CLOEXEC);
	FUZZ_ASSERT(outfd >= 0);
	fflush(stdout);
	saved_in = dup(STDIN_FILENO);
	saved_out = dup(STDOUT_FILENO);
	FUZZ_ASSERT(dup2(in, STDIN_FILENO) == STDIN_FILENO && dup2(outfd, STDOUT_FILENO) == STDOUT_FILENO);

	source = "-";
	nbytes = 0;
	optind = 1;
	rc = fs_hook_main(1, argv);

	fflush(stdout);
	FUZZ_ASSERT(dup2(saved_in, STDIN_FILENO) == STDIN_FILENO && dup2(saved_out, STDOUT_FILENO) == STDOUT_FILENO);
	close(saved_in);
	close(saved_out);
	close(in);

	FUZZ_ASSERT(rc >= FS_EXIT_OK && rc <= FS_EXIT_PAUSED);
	{
		off_t n = lseek(outfd, 0, SEEK_END);

		out = malloc((size_t)n + 1);
		FUZZ_ASSERT(out && pread(outfd, out, (size_t)n, 0) == n);
		out[n] = '\0';
		if (getenv("FUZZ_DEBUG"))	/* shows the answer */
			fprintf(stderr, "%s", out);
		if (getenv("REQUEST_METHOD") == NULL) {
			/* Not a CGI request: no answer, a usage error. */
			FUZZ_ASSERT(n == 0 && rc == FS_EXIT_USAGE);
		} else {
			http = check_answer(out, (size_t)n);
			if (signed_ok)
				FUZZ_ASSERT(http != 401);
		}
		free(out);
	}
	close(outfd);
	free(text);
	return 0;
}
