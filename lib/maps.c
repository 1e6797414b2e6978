/* Mapping programs: jq files compiled once per run with libjq. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jq.h>

#include "fieldsync.h"

#ifndef FS_DATADIR
#define FS_DATADIR "/usr/local/share/fieldsync"
#endif

struct fs_map {
	jq_state *jq;
	fs_builtin_map builtin;	/* the same program in C, or NULL */
	const char *builtin_name;
	jv args;		/* $source, for the builtin */
	char **reads;
	int nreads;
	struct fs_buf errors;
};

static bool
exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

char *
fs_map_find(const char *name)
{
	char self[PATH_MAX], *slash, *path;
	const char *dir = getenv("FS_MAPDIR");
	ssize_t n;

	if (strchr(name, '/') != NULL)
		return exists(name) ? fs_xstrdup(name) : NULL;
	if (dir && *dir) {
		path = fs_xasprintf("%s/%s", dir, name);
		if (exists(path))
			return path;
		free(path);
	}
	/* bin/fs-x run from the checkout finds lib/maps beside bin/; an
	 * installed PREFIX/bin/fs-x finds PREFIX/share/fieldsync/maps, also
	 * when the tree was moved after the build (a DESTDIR, a package's
	 * staging tree). */
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			path = fs_xasprintf("%s/../lib/maps/%s", self, name);
			if (exists(path))
				return path;
			free(path);
			path = fs_xasprintf("%s/../share/fieldsync/maps/%s", self, name);
			if (exists(path))
				return path;
			free(path);
		}
	}
	path = fs_xasprintf("%s/maps/%s", FS_DATADIR, name);
	if (exists(path))
		return path;
	free(path);
	return NULL;
}

static void
collect_error(void *data, jv msg)
{
	struct fs_map *m = data;
	jv text = jv_get_kind(msg) == JV_KIND_STRING ? jv_copy(msg) : jv_dump_string(jv_copy(msg), 0);

	if (m->errors.len)
		fs_buf_adds(&m->errors, "; ");
	fs_buf_adds(&m->errors, jv_string_value(text));
	jv_free(text);
	jv_free(msg);
}

/* "# reads: data.a data.b" lines name the input paths the map uses. */
static void
parse_reads(struct fs_map *m, const char *text)
{
	for (const char *p = text; (p = strstr(p, "# reads:")) != NULL;) {
		const char *end = strchr(p, '\n');
		char *line = end ? strndup(p + 8, (size_t)(end - p - 8)) : strdup(p + 8), *save = NULL;

		for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
			m->reads = fs_xrealloc(m->reads, (size_t)(m->nreads + 1) * sizeof *m->reads);
			m->reads[m->nreads++] = fs_xstrdup(tok);
		}
		free(line);
		p = end ? end : p + strlen(p);
	}
}

struct fs_map *
fs_map_load(const char *path, jv args)
{
	FILE *f = fopen(path, "r"), *cf;
	struct fs_buf text = {0};
	char *common;
	struct fs_map *m;
	char chunk[4096];
	size_t n;

	if (f == NULL) {
		fs_err("cannot open map '%s':", path);
		jv_free(args);
		return NULL;
	}
	/* The shipped helpers (fs_clean, fs_e164, ...) come first, so every map
	 * may use them; a map's own definitions may shadow them. */
	if ((common = fs_map_find("common.jq")) != NULL && (cf = fopen(common, "r")) != NULL) {
		while ((n = fread(chunk, 1, sizeof chunk, cf)) > 0)
			fs_buf_add(&text, chunk, n);
		fclose(cf);
		fs_buf_addc(&text, '\n');
	}
	free(common);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		fs_buf_add(&text, chunk, n);
	fclose(f);
	m = calloc(1, sizeof *m);
	m->args = jv_copy(args);
	/* FS_JQ_ONLY=1 runs even the shipped maps through libjq (a debugging aid). */
	if (getenv("FS_JQ_ONLY") == NULL || *getenv("FS_JQ_ONLY") == '\0')
		m->builtin_name = fs_builtin_map_find(text.data ? text.data : "", text.len, &m->builtin);
	if (m->builtin)
		fs_debug("map '%s' runs as built-in C", path);
	m->jq = jq_init();
	jq_set_error_cb(m->jq, collect_error, m);
	parse_reads(m, text.data ? text.data : "");
	if (!jq_compile_args(m->jq, text.data ? text.data : ".", jv_object_set(jv_object(), jv_string("source"), args))) {
		fs_err("map '%s': %s", path, m->errors.data ? m->errors.data : "does not compile");
		fs_buf_free(&text);
		fs_map_free(m);
		return NULL;
	}
	fs_buf_free(&text);
	return m;
}

void
fs_map_free(struct fs_map *m)
{
	if (m == NULL)
		return;
	jq_teardown(&m->jq);
	jv_free(m->args);
	for (int i = 0; i < m->nreads; i++)
		free(m->reads[i]);
	free(m->reads);
	fs_buf_free(&m->errors);
	free(m);
}

jv
fs_map_run(struct fs_map *m, jv input)
{
	jv out, v;

	if (m->builtin) {
		/* jv_invalid() without a message: a case left to jq. */
		out = m->builtin(jv_copy(m->args), jv_copy(input));
		if (jv_is_valid(out) || jv_invalid_has_msg(jv_copy(out))) {
			jv_free(input);
			return out;
		}
	}
	out = jv_array();
	m->errors.len = 0;
	jq_start(m->jq, input, 0);
	while (jv_is_valid(v = jq_next(m->jq)))
		out = jv_array_append(out, v);
	if (jv_invalid_has_msg(jv_copy(v))) {
		jv msg = jv_invalid_get_msg(v);
		jv text = jv_get_kind(msg) == JV_KIND_STRING ? msg : jv_dump_string(msg, 0);
		jv err = jv_invalid_with_msg(jv_string_fmt("map error: %s", jv_string_value(text)));

		jv_free(text);
		jv_free(out);
		return err;
	}
	jv_free(v);
	return out;
}

const char *const *
fs_map_reads(const struct fs_map *m, int *n)
{
	*n = m->nreads;
	return (const char *const *)m->reads;
}

const char *
fs_map_builtin(const struct fs_map *m)
{
	return m->builtin_name;
}

const char *
fs_map_arg(const struct fs_map *m, const char *key)
{
	const char *s;
	jv v;

	if (jv_get_kind(m->args) != JV_KIND_OBJECT)
		return NULL;
	v = jv_object_get(jv_copy(m->args), jv_string(key));
	s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;
	jv_free(v);		/* m->args keeps it alive */
	return s;
}

/* $source inside a map: the source's settings that are safe to show, defaults included. */
jv
fs_map_args(const struct fs_endpoint *ep)
{
	jv args = jv_object();
	const char *v;

	args = jv_object_set(args, jv_string("name"), jv_string(ep->name));
	args = jv_object_set(args, jv_string("kind"), jv_string(ep->kind));
	for (const struct fs_setting *s = fs_settings; s->section; s++)
		if (fs_setting_applies(s, ep) && fs_is_safe_key(s->key) && (v = fs_setting(ep, s->key)) != NULL)
			args = jv_object_set(args, jv_string(s->key), jv_string(v));
	for (int i = 0; ep->sec && i < ep->sec->nkv; i++)	/* map.NAME of a csv source */
		if (fs_is_safe_key(ep->sec->kv[i].key))
			args = jv_object_set(args, jv_string(ep->sec->kv[i].key),
					     jv_string(ep->sec->kv[i].value));
	return args;
}
