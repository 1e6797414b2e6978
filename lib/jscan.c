/*
 * A small JSON scanner for the hot path: it reads a line that fs_json_check
 * has already accepted into a flat tree of objects and scalars, with no
 * allocation per value.  Arrays are kept whole, not looked into.  Whatever
 * the hot path leaves to libjq (a "\u0000" or an unpaired surrogate in a
 * string, duplicate keys, very many values) makes it answer -1.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

#define MAX_NODES 4096
#define MAX_KEYS 256		/* per object, for the duplicate check */

static int
new_node(struct fs_jtree *t, char kind)
{
	if (t->len == t->cap) {
		if (t->cap >= MAX_NODES)
			return -1;
		t->cap = t->cap ? t->cap * 2 : 64;
		t->n = fs_xrealloc(t->n, (size_t)t->cap * sizeof *t->n);
	}
	memset(&t->n[t->len], 0, sizeof t->n[t->len]);
	t->n[t->len].kind = kind;
	t->n[t->len].child = t->n[t->len].next = -1;
	return t->len++;
}

static unsigned
hex4(const char *p)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

static char *
put_utf8(char *o, unsigned c)
{
	if (c < 0x80) {
		*o++ = (char)c;
	} else if (c < 0x800) {
		*o++ = (char)(0xc0 | c >> 6);
		*o++ = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		*o++ = (char)(0xe0 | c >> 12);
		*o++ = (char)(0x80 | (c >> 6 & 0x3f));
		*o++ = (char)(0x80 | (c & 0x3f));
	} else {
		*o++ = (char)(0xf0 | c >> 18);
		*o++ = (char)(0x80 | (c >> 12 & 0x3f));
		*o++ = (char)(0x80 | (c >> 6 & 0x3f));
		*o++ = (char)(0x80 | (c & 0x3f));
	}
	return o;
}

/* p is at the opening quote; returns the end of the string, NULL to give up. */
static const char *
string(struct fs_jtree *t, const char *p, const char *end, struct fs_str *out)
{
	const char *s = ++p;
	char *o;

	while (p < end && *p != '"' && *p != '\\')
		p++;
	if (p >= end)
		return NULL;
	if (*p == '"') {
		*out = (struct fs_str){s, (size_t)(p - s)};
		return p + 1;
	}
	/* Escapes: decoded into t->text, which was sized for the whole line. */
	o = t->text.data + t->text.len;
	memcpy(o, s, (size_t)(p - s));
	out->p = o;
	o += p - s;
	while (p < end && *p != '"') {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		switch (p[1]) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned c = hex4(p + 2);

			if (c == 0)
				return NULL;
			if (c >= 0xd800 && c <= 0xdbff) {
				unsigned lo;

				if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
				    (lo = hex4(p + 8)) < 0xdc00 || lo > 0xdfff)
					return NULL;
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (c >= 0xdc00 && c <= 0xdfff) {
				return NULL;
			}
			o = put_utf8(o, c);
			p += 4;
			break;
		}
		default: *o++ = p[1]; break;	/* " \ / */
		}
		p += 2;
	}
	if (p >= end)
		return NULL;
	out->n = (size_t)(o - out->p);
	t->text.len += out->n;
	return p + 1;
}

static const char *
ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Skips a whole array, strings and all. */
static const char *
skip_array(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
		} else if (*p == '[' || *p == '{') {
			depth++;
		} else if (*p == ']' || *p == '}') {
			if (--depth == 0)
				return p + 1;
		}
	}
	return NULL;
}

static const char *value(struct fs_jtree *t, const char *p, const char *end, int *id);

static const char *
object(struct fs_jtree *t, const char *p, const char *end, int self)
{
	int last = -1, nkeys = 0;

	p = ws(p + 1, end);
	if (p < end && *p == '}')
		return p + 1;
	while (p && p < end) {
		struct fs_str key;
		int id;

		if ((p = string(t, p, end, &key)) == NULL)
			return NULL;
		p = ws(p, end);
		p = ws(p + 1, end);	/* ':' */
		if ((p = value(t, p, end, &id)) == NULL)
			return NULL;
		t->n[id].key = key;
		if (++nkeys > MAX_KEYS)
			return NULL;
		for (int k = t->n[self].child; k >= 0; k = t->n[k].next)
			if (t->n[k].key.n == key.n && memcmp(t->n[k].key.p, key.p, key.n) == 0)
				return NULL;
		if (last < 0)
			t->n[self].child = id;
		else
			t->n[last].next = id;
		last = id;
		p = ws(p, end);
		if (p < end && *p == '}')
			return p + 1;
		p = ws(p + 1, end);	/* ',' */
	}
	return NULL;
}

static const char *
value(struct fs_jtree *t, const char *p, const char *end, int *id)
{
	const char *s = p;

	if (p >= end)
		return NULL;
	switch (*p) {
	case '{':
		if ((*id = new_node(t, 'o')) < 0)
			return NULL;
		return object(t, p, end, *id);
	case '[':
		if ((*id = new_node(t, 'a')) < 0)
			return NULL;
		return skip_array(p, end);
	case '"':
		if ((*id = new_node(t, 's')) < 0)
			return NULL;
		return string(t, p, end, &t->n[*id].str);
	case 't':
		return (*id = new_node(t, 't')) < 0 ? NULL : p + 4;
	case 'f':
		return (*id = new_node(t, 'f')) < 0 ? NULL : p + 5;
	case 'n':
		return (*id = new_node(t, 'z')) < 0 ? NULL : p + 4;
	default:
		if ((*id = new_node(t, 'n')) < 0)
			return NULL;
		while (p < end && (*p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E' ||
				   (*p >= '0' && *p <= '9')))
			p++;
		t->n[*id].str = (struct fs_str){s, (size_t)(p - s)};
		return p;
	}
}

int
fs_jscan(struct fs_jtree *t, const char *p, size_t n)
{
	const char *end = p + n;
	int root;

	t->len = 0;
	t->text.len = 0;
	if (t->text.cap < n + 1) {
		t->text.data = fs_xrealloc(t->text.data, n + 1);
		t->text.cap = n + 1;
	}
	p = ws(p, end);
	if (p >= end || *p != '{')
		return -1;
	p = value(t, p, end, &root);
	return p ? root : -1;
}

int
fs_jscan_get(const struct fs_jtree *t, int obj, const char *key)
{
	size_t n = strlen(key);

	if (obj < 0 || t->n[obj].kind != 'o')
		return -1;
	for (int k = t->n[obj].child; k >= 0; k = t->n[k].next)
		if (t->n[k].key.n == n && memcmp(t->n[k].key.p, key, n) == 0)
			return k;
	return -1;
}

void
fs_jscan_free(struct fs_jtree *t)
{
	free(t->n);
	fs_buf_free(&t->text);
	memset(t, 0, sizeof *t);
}
