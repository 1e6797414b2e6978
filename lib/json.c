/*
 * A strict JSON checker (RFC 8259), run before libjq parses a line: libjq 1.6
 * accepts NaN, leading zeros, "2." and raw control characters, and silently
 * replaces invalid UTF-8.  This rejects exactly what JSONTestSuite's n_*
 * files say must be rejected.
 */
#include <string.h>

#include "fieldsync.h"

#define MAX_DEPTH 512

/* Length of the UTF-8 sequence at p, or 0 when it is not valid UTF-8. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool
fs_utf8_valid(const char *s, size_t n, size_t *errpos)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		size_t k;
		uint64_t w;

		/* Eight ASCII bytes at a time: nearly every line is all ASCII. */
		if (end - p >= 8 && (memcpy(&w, p, 8), (w & 0x8080808080808080u) == 0)) {
			p += 8;
			continue;
		}
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((k = utf8_len(p, end)) == 0) {
			if (errpos)
				*errpos = (size_t)(p - (const unsigned char *)s);
			return false;
		}
		p += k;
	}
	return true;
}

struct scan {
	const unsigned char *p, *end;
};

static void
skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool
is_hex(unsigned c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* The bytes a string may hold as they are: printable ASCII but '"' and '\\'. */
static const bool plain[256] = {[0x20 ... 0x21] = true, [0x23 ... 0x5b] = true, [0x5d ... 0x7f] = true};

static bool
scan_string(struct scan *s)
{
	s->p++;			/* opening quote */
	while (s->p < s->end) {
		unsigned c;

		/* The common bytes four at a time, without the checks below. */
		while (s->end - s->p >= 4 && plain[s->p[0]] && plain[s->p[1]] && plain[s->p[2]] && plain[s->p[3]])
			s->p += 4;
		while (s->p < s->end && plain[*s->p])
			s->p++;
		if (s->p >= s->end)
			break;
		c = *s->p;

		if (c == '"') {
			s->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (++s->p >= s->end)
				return false;
			c = *s->p;
			if (c == 'u') {
				if (s->end - s->p < 5)
					return false;
				for (int i = 1; i <= 4; i++)
					if (!is_hex(s->p[i]))
						return false;
				s->p += 5;
			} else if (strchr("\"\\/bfnrt", (int)c) != NULL && c != 0) {
				s->p++;
			} else {
				return false;
			}
			continue;
		}
		if (c < 0x80) {
			s->p++;
		} else {
			size_t k = utf8_len(s->p, s->end);

			if (k == 0)
				return false;
			s->p += k;
		}
	}
	return false;
}

static bool
digits(struct scan *s)
{
	const unsigned char *start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static bool
scan_number(struct scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p >= s->end)
		return false;
	if (*s->p == '0')
		s->p++;
	else if (!digits(s))
		return false;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return false;
	}
	return true;
}

static bool
scan_word(struct scan *s, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return false;
	s->p += n;
	return true;
}

/* One scalar or the opening of a container. */
static bool
scan_value_start(struct scan *s, char *stack, int *depth)
{
	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '{':
	case '[':
		if (*depth >= MAX_DEPTH)
			return false;
		stack[(*depth)++] = (char)*s->p++;
		return true;
	case '"':
		return scan_string(s);
	case 't':
		return scan_word(s, "true");
	case 'f':
		return scan_word(s, "false");
	case 'n':
		return scan_word(s, "null");
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return scan_number(s);
		return false;
	}
}

const char *
fs_json_check(const char *text, size_t n, size_t *errpos)
{
	struct scan s = {(const unsigned char *)text, (const unsigned char *)text + n};
	char stack[MAX_DEPTH];
	int depth = 0;
	bool ok;

	skip_ws(&s);
	ok = scan_value_start(&s, stack, &depth);
	while (ok && depth > 0) {
		char open = stack[depth - 1];
		bool first = s.p[-1] == (unsigned char)open;

		skip_ws(&s);
		if (s.p >= s.end) {
			ok = false;
			break;
		}
		if ((open == '[' && *s.p == ']') || (open == '{' && *s.p == '}')) {
			s.p++;
			depth--;
			continue;
		}
		if (!first) {
			if (*s.p != ',') {
				ok = false;
				break;
			}
			s.p++;
			skip_ws(&s);
		}
		if (open == '{') {
			if (s.p >= s.end || *s.p != '"' || !scan_string(&s)) {
				ok = false;
				break;
			}
			skip_ws(&s);
			if (s.p >= s.end || *s.p != ':') {
				ok = false;
				break;
			}
			s.p++;
			skip_ws(&s);
		}
		ok = scan_value_start(&s, stack, &depth);
	}
	if (ok) {
		skip_ws(&s);
		ok = s.p == s.end;
	}
	if (ok)
		return NULL;
	if (errpos)
		*errpos = (size_t)(s.p - (const unsigned char *)text);
	return "invalid JSON";
}
