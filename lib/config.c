/*
 * The INI configuration (DESIGN.md, "Configuration"): sections such as
 * [source "hubspot"], "key = value" lines, "#" or ";" comments, also after a
 * value when preceded by white space.  What the sections and keys may be is
 * lib/settings.c's table; a loaded file has been checked against it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fieldsync.h"

bool
fs_kind_builtin(const char *kind)
{
	return fs_kind_bit(kind) != 0;
}

/* Parses '[type "name"]' or '[type]' in place; a comment may follow. */
static int
parse_header(char *s, char **type, char **name)
{
	char *p = s + 1, *q, *rest;

	p += strcspn(p, "\"]");
	if (*p == ']') {
		*p = '\0';
		*type = fs_trim(s + 1);
		*name = "";
		rest = p + 1;
	} else if (*p == '"') {
		*p = '\0';
		*type = fs_trim(s + 1);
		*name = p + 1;
		if ((q = strchr(*name, '"')) == NULL || q == *name)
			return -1;
		*q = '\0';
		rest = q + 1;
		rest += strspn(rest, " \t");
		if (*rest != ']')
			return -1;
		rest++;
	} else {
		return -1;
	}
	rest = fs_trim(rest);
	if (*rest != '\0' && *rest != '#' && *rest != ';')
		return -1;
	return strpbrk(*type, " \t") ? -1 : 0;
}

static void
strip_comment(char *v)
{
	for (char *p = v; *p; p++)
		if ((*p == '#' || *p == ';') && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
}

static int
parse_stream(FILE *f, const char *path, struct fs_config *cfg)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0;
	struct fs_section *cur = NULL;
	int rc = 0;

	while ((len = getline(&line, &cap, f)) != -1) {
		char *s, *eq, *key, *val, *type, *name, *nul;

		lineno++;
		/* A NUL would end the line's text early: a value cut short. */
		if ((nul = memchr(line, '\0', (size_t)len)) != NULL) {
			*nul = '\0';
			eq = strchr(line, '=');
			if (eq && cur && *line != '[') {
				*eq = '\0';
				fs_err("%s:%d: %s holds a NUL byte", path, lineno, fs_trim(line));
			} else {
				fs_err("%s:%d: a NUL byte in the line", path, lineno);
			}
			rc = -1;
			break;
		}
		s = fs_trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (parse_header(s, &type, &name) != 0) {
				fs_err("%s:%d: malformed section header", path, lineno);
				rc = -1;
				break;
			}
			if (fs_section_type(type) == NULL) {
				const char *near = fs_section_type_nearest(type);

				if (near)
					fs_err("%s:%d: unknown section '%s' (did you mean '%s'?)", path, lineno, type, near);
				else
					fs_err("%s:%d: unknown section '%s'", path, lineno, type);
				rc = -1;
				break;
			}
			if (fs_config_section(cfg, type, name) != NULL) {
				fs_err("%s:%d: section '%s%s%s' appears twice", path, lineno, type,
				       *name ? " " : "", name);
				rc = -1;
				break;
			}
			cfg->sec = fs_xrealloc(cfg->sec, (size_t)(cfg->nsec + 1) * sizeof *cfg->sec);
			cur = &cfg->sec[cfg->nsec++];
			*cur = (struct fs_section){fs_xstrdup(type), fs_xstrdup(name), NULL, 0, lineno};
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL || cur == NULL) {
			fs_err("%s:%d: %s", path, lineno,
			       cur ? "expected 'key = value'" : "setting outside a section");
			rc = -1;
			break;
		}
		*eq = '\0';
		key = fs_trim(s);
		val = eq + 1;
		strip_comment(val);
		val = fs_trim(val);
		if (*key == '\0') {
			fs_err("%s:%d: empty key", path, lineno);
			rc = -1;
			break;
		}
		cur->kv = fs_xrealloc(cur->kv, (size_t)(cur->nkv + 1) * sizeof *cur->kv);
		cur->kv[cur->nkv++] = (struct fs_kv){fs_xstrdup(key), fs_xstrdup(val), lineno};
	}
	free(line);
	return rc;
}

int
fs_config_load(const char *path, struct fs_config *cfg)
{
	bool explicit = path != NULL;
	FILE *f;
	int rc;

	memset(cfg, 0, sizeof *cfg);
	if (path == NULL && (path = getenv("FS_CONFIG")) != NULL && *path)
		explicit = true;
	if (path == NULL || *path == '\0')
		path = "fieldsync.conf";
	if ((f = fopen(path, "r")) == NULL) {
		if (!explicit && errno == ENOENT)
			return 0;	/* a missing default file means all defaults */
		fs_err("cannot open config '%s':", path);
		return -1;
	}
	cfg->path = fs_xstrdup(path);
	rc = parse_stream(f, path, cfg);
	fclose(f);
	if (rc == 0)
		rc = fs_config_check(cfg);
	if (rc == 0)
		rc = fs_campaigns_load(cfg, NULL, NULL);
	if (rc != 0)
		fs_config_free(cfg);
	return rc;
}

void
fs_config_free(struct fs_config *cfg)
{
	for (int i = 0; i < cfg->nsec; i++) {
		for (int j = 0; j < cfg->sec[i].nkv; j++) {
			free(cfg->sec[i].kv[j].key);
			free(cfg->sec[i].kv[j].value);
		}
		free(cfg->sec[i].kv);
		free(cfg->sec[i].type);
		free(cfg->sec[i].name);
	}
	free(cfg->sec);
	free(cfg->path);
	memset(cfg, 0, sizeof *cfg);
}

struct fs_section *
fs_config_section(const struct fs_config *cfg, const char *type, const char *name)
{
	for (int i = 0; i < cfg->nsec; i++)
		if (strcmp(cfg->sec[i].type, type) == 0 && strcmp(cfg->sec[i].name, name ? name : "") == 0)
			return &cfg->sec[i];
	return NULL;
}

const char *
fs_section_get(const struct fs_section *s, const char *key)
{
	if (s == NULL)
		return NULL;
	for (int i = s->nkv - 1; i >= 0; i--)	/* the last setting wins */
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].value;
	return NULL;
}

const char *
fs_config_get(const struct fs_config *cfg, const char *type, const char *name, const char *key)
{
	return fs_section_get(fs_config_section(cfg, type, name), key);
}

int
fs_endpoint_find(const struct fs_config *cfg, const char *type, const char *name, struct fs_endpoint *ep)
{
	struct fs_section *s = fs_config_section(cfg, type, name);

	ep->type = type;
	ep->name = name;
	ep->sec = s;
	ep->kind = fs_section_get(s, "kind");
	if (ep->kind == NULL && fs_kind_builtin(name))
		ep->kind = name;
	if (ep->kind == NULL) {
		if (s == NULL)
			fs_err("unknown %s '%s': no [%s \"%s\"] section and no built-in kind of that name",
			       type, name, type, name);
		else
			fs_err("%s '%s': missing 'kind'", type, name);
		return -1;
	}
	if (!fs_kind_builtin(ep->kind)) {
		fs_err("%s '%s': unknown kind '%s'", type, name, ep->kind);
		return -1;
	}
	return 0;
}

char *
fs_endpoint_secret(const struct fs_endpoint *ep, const char *envkey, const char *filekey)
{
	const char *env = fs_setting(ep, envkey);
	const char *file = filekey ? fs_setting(ep, filekey) : NULL;
	struct stat sb;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (env != NULL) {
		const char *v = getenv(env);

		if (v == NULL || *v == '\0')
			return NULL;
		fs_secret_guard();
		return fs_xstrdup(v);
	}
	if (file == NULL)
		return NULL;
	fs_secret_guard();
	if ((f = fopen(file, "r")) == NULL) {
		fs_err("cannot open secret file '%s':", file);
		return NULL;
	}
	if (fstat(fileno(f), &sb) != 0 || (sb.st_mode & 077) != 0) {
		fs_err("secret file '%s' must have mode 0600", file);
		fclose(f);
		return NULL;
	}
	if (getline(&line, &cap, f) < 0) {
		free(line);
		line = NULL;
	} else {
		char *t = fs_trim(line);

		memmove(line, t, strlen(t) + 1);
	}
	fclose(f);
	return line;
}

int
fs_price_parse(const char *price, double value[2], bool priced[2])
{
	char *copy = fs_xstrdup(price), *save = NULL;
	int rc = 0;

	for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		char fmt[32];
		double v;

		if (sscanf(tok, " %31s %lf", fmt, &v) != 2 || (strcmp(fmt, "postcard") != 0 && strcmp(fmt, "letter") != 0)) {
			rc = -1;
		} else {
			value[strcmp(fmt, "letter") == 0] = v;
			priced[strcmp(fmt, "letter") == 0] = true;
		}
	}
	free(copy);
	return rc;
}
