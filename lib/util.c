/* Memory, buffers, strings and small JSON helpers. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "fieldsync.h"

static void
oom(void)
{
	fs_err("out of memory");
	abort();
}

void *
fs_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
fs_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom();
	return q;
}

char *
fs_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom();
	return p;
}

char *
fs_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	va_end(ap);
	return p;
}

static void
buf_grow(struct fs_buf *b, size_t need)
{
	size_t cap;

	if (b->len + need + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + need + 1)
		cap *= 2;
	b->data = fs_xrealloc(b->data, cap);
	b->cap = cap;
}

void
fs_buf_add(struct fs_buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n > 0)	/* p may be an empty buffer's NULL, which memcpy may not be given */
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
fs_buf_adds(struct fs_buf *b, const char *s)
{
	fs_buf_add(b, s, strlen(s));
}

void
fs_buf_addc(struct fs_buf *b, char c)
{
	fs_buf_add(b, &c, 1);
}

void
fs_buf_addf(struct fs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
fs_buf_free(struct fs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
fs_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Secrets are zeroed before their memory goes back (a memset the compiler keeps). */
void
fs_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	fs_secure_zero(secret, strlen(secret));
	free(secret);
}

/*
 * A process that holds a secret writes no core file and is not open to
 * other processes of its user: not dumpable (which also makes its /proc
 * files root's and refuses ptrace to all but root), and a core size limit
 * of 0, soft and hard, which the programs it starts keep.  For the rest of
 * the run: the environment the secret came in stays until exit.
 */
void
fs_secret_guard(void)
{
	static bool done;
	struct rlimit none = {0, 0};

	if (done)
		return;
	done = true;
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &none);
}

void
fs_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	static const char hex[] = "0123456789abcdef";

	fs_sha256(p, n, md);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

const char *
fs_jstr(jv obj, const char *key)
{
	jv v;
	const char *s;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return NULL;
	v = fs_jget(obj, key);
	if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		return NULL;
	}
	/* The object still holds a reference, so the string stays valid. */
	s = jv_string_value(v);
	jv_free(v);
	return s;
}

jv
fs_jget(jv obj, const char *key)
{
	/* jv_object_get asserts on anything but an object. */
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(obj), jv_string(key));
}

jv
fs_jget_path(jv obj, const char *dotted)
{
	jv cur = jv_copy(obj);
	const char *p = dotted;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (jv_get_kind(cur) != JV_KIND_OBJECT) {
			jv_free(cur);
			return jv_invalid();
		}
		cur = jv_object_get(cur, jv_string_sized(p, (int)n));
		if (!jv_is_valid(cur))
			return cur;
		p += n + (dot != NULL);
	}
	return cur;
}

char *
fs_jdump(jv v)
{
	jv s = jv_dump_string(jv_copy(v), 0);
	char *p = fs_xstrdup(jv_string_value(s));

	jv_free(s);
	return p;
}

bool
fs_is_safe_key(const char *name)
{
	/* Keys naming where a secret lives are safe, and so is every key of
	 * the settings table (none holds a secret: inbox_key_retention is a
	 * duration); anything else that looks like a secret itself is not. */
	size_t n = strlen(name);

	if (fs_setting_key_known(name))
		return true;
	if (n > 4 && (strcmp(name + n - 4, "_env") == 0 || strcmp(name + n - 5, "_file") == 0))
		return true;
	return strstr(name, "token") == NULL && strstr(name, "secret") == NULL &&
	       strstr(name, "password") == NULL && strstr(name, "key") == NULL;
}

/* A small string-keyed hash map of counters (open addressing, FNV-1a). */
static uint64_t
fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static struct fs_count *
slot(struct fs_counts *m, const char *key, size_t n)
{
	uint64_t h = fnv1a(key, n);

	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct fs_count *e = &m->e[i];

		if (e->key == NULL || (strlen(e->key) == n && memcmp(e->key, key, n) == 0))
			return e;
	}
}

long *
fs_counts_at(struct fs_counts *m, const char *key, size_t n, bool create)
{
	struct fs_count *e;

	if (m->cap == 0) {
		if (!create)
			return NULL;
		m->cap = 64;
		m->e = calloc(m->cap, sizeof *m->e);
		if (m->e == NULL)
			abort();
	}
	e = slot(m, key, n);
	if (e->key != NULL)
		return &e->n;
	if (!create)
		return NULL;
	if ((m->len + 1) * 2 > m->cap) {
		struct fs_counts bigger = {calloc(m->cap * 2, sizeof *m->e), m->cap * 2, m->len};

		if (bigger.e == NULL)
			abort();
		for (size_t i = 0; i < m->cap; i++)
			if (m->e[i].key)
				*slot(&bigger, m->e[i].key, strlen(m->e[i].key)) = m->e[i];
		free(m->e);
		*m = bigger;
		e = slot(m, key, n);
	}
	e->key = strndup(key, n);
	if (e->key == NULL)
		abort();
	e->n = 0;
	m->len++;
	return &e->n;
}

void
fs_counts_free(struct fs_counts *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->e[i].key);
	free(m->e);
	memset(m, 0, sizeof *m);
}

/* Digits only, at most max; -1 with errno EINVAL or ERANGE. */
static int
digits_at_most(const char *s, size_t n, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (n == 0 || strspn(s, "0123456789") < n) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (v > (max - (unsigned long long)(s[i] - '0')) / 10) {
			errno = ERANGE;
			return -1;
		}
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int
fs_count_parse(const char *s, long *out)
{
	unsigned long long v;

	if (s == NULL || digits_at_most(s, strlen(s), FS_COUNT_MAX, &v) != 0)
		return -1;
	*out = (long)v;
	return 0;
}

int
fs_size_parse(const char *s, size_t *out)
{
	size_t n = s ? strlen(s) : 0;
	unsigned long long v, unit = 1;

	if (n > 0 && (s[n - 1] == 'k' || s[n - 1] == 'K'))
		unit = 1024, n--;
	else if (n > 0 && s[n - 1] == 'M')
		unit = 1024 * 1024, n--;
	if (digits_at_most(s ? s : "", n, FS_SIZE_MAX / unit, &v) != 0)
		return -1;
	if (v == 0) {
		errno = EINVAL;
		return -1;
	}
	*out = (size_t)(v * unit);
	return 0;
}
