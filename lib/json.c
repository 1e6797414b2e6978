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
	bool escaped;		/* a backslash in the last string scanned */
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

/*
 * The bytes of the eight at p that are not plain, as the high bit of each
 * (0 when all are plain), in a few word operations.  With every byte below
 * 0x80 (the "| w" term flags the others), a byte below 0x20, or one that is
 * '"' or '\\' once XORed to zero, is the only way a subtraction can borrow
 * into a byte's high bit.  A borrow only runs on into the bytes after a
 * flagged one, so on a little-endian machine the lowest flag is exact.
 */
static uint64_t
special8(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101u;
	uint64_t w, quote, backslash;

	memcpy(&w, p, 8);
	quote = w ^ (ones * '"');
	backslash = w ^ (ones * '\\');
	return ((w - ones * 0x20) | (quote - ones) | (backslash - ones) | w) & (ones << 7);
}

/* Past the plain bytes at p: to the first other one, or to end. */
static const unsigned char *
skip_plain(const unsigned char *p, const unsigned char *end)
{
	while (end - p >= 8) {
		uint64_t special = special8(p);

		if (special != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return p + (__builtin_ctzll(special) >> 3);
#else
			break;
#endif
		}
		p += 8;
	}
	while (p < end && plain[*p])
		p++;
	return p;
}

static bool
scan_string(struct scan *s)
{
	s->p++;			/* opening quote */
	s->escaped = false;
	while (s->p < s->end) {
		unsigned c;

		s->p = skip_plain(s->p, s->end);
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
			s->escaped = true;
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

/* Notes a top-level member's value for fs_json_check_top. */
static void
note_member(struct fs_json_top *top, const unsigned char *name, size_t len, bool name_escaped,
	    const unsigned char *value, const struct scan *after)
{
	int i;

	if (name_escaped) {
		top->plain = false;
		return;
	}
	for (i = 0; i < top->nwant; i++)
		if (top->want[i].n == len && memcmp(top->want[i].p, name, len) == 0)
			break;
	if (i == top->nwant)
		return;
	if (top->value[i].p != NULL || *value != '"' || after->escaped) {
		top->plain = false;
		return;
	}
	top->value[i] = (struct fs_str){(const char *)value + 1, (size_t)(after->p - value) - 2};
}

const char *
fs_json_check(const char *text, size_t n, size_t *errpos)
{
	return fs_json_check_top(text, n, errpos, NULL);
}

const char *
fs_json_check_top(const char *text, size_t n, size_t *errpos, struct fs_json_top *top)
{
	struct scan s = {(const unsigned char *)text, (const unsigned char *)text + n, false};
	char stack[MAX_DEPTH];
	int depth = 0;
	bool ok;

	if (top) {
		memset(top->value, 0, sizeof top->value);
		top->plain = true;
	}
	skip_ws(&s);
	ok = scan_value_start(&s, stack, &depth);
	if (top && (!ok || depth != 1 || stack[0] != '{'))
		top->plain = false;
	while (ok && depth > 0) {
		char open = stack[depth - 1];
		bool first = s.p[-1] == (unsigned char)open;
		const unsigned char *name = NULL, *value;
		size_t name_len = 0;
		bool name_escaped = false;
		int at = depth;

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
			if (s.p >= s.end || *s.p != '"') {
				ok = false;
				break;
			}
			name = s.p + 1;
			if (!scan_string(&s)) {
				ok = false;
				break;
			}
			name_len = (size_t)(s.p - 1 - name);
			name_escaped = s.escaped;
			skip_ws(&s);
			if (s.p >= s.end || *s.p != ':') {
				ok = false;
				break;
			}
			s.p++;
			skip_ws(&s);
		}
		value = s.p;
		ok = scan_value_start(&s, stack, &depth);
		if (ok && top && at == 1 && name)
			note_member(top, name, name_len, name_escaped, value, &s);
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
