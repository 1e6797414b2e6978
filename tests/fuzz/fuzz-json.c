/*
 * The NDJSON line checker: fs_json_check and fs_utf8_valid.
 *
 * Properties, beyond not crashing: fs_utf8_valid agrees with a second,
 * table-driven UTF-8 decoder (Unicode 15, table 3-7); fs_json_check agrees
 * with a second, recursive JSON checker; an error position is
 * inside the input; whatever fs_json_check accepts is valid UTF-8 and parses
 * in libjq (when shallow enough for libjq's depth limit, and free of lone
 * surrogate escapes, which libjq 1.6 refuses).
 */
#include <ctype.h>
#include <stdbool.h>

#include "fieldsync.h"
#include "fuzz.h"

/* Unicode table 3-7, "well-formed UTF-8 byte sequences", row by row. */
static bool
ref_utf8(const unsigned char *p, size_t n, size_t *errpos)
{
	static const struct {
		unsigned char lo[4], hi[4];
		int len;
	} rows[] = {
		{{0x00}, {0x7f}, 1},
		{{0xc2, 0x80}, {0xdf, 0xbf}, 2},
		{{0xe0, 0xa0, 0x80}, {0xe0, 0xbf, 0xbf}, 3},
		{{0xe1, 0x80, 0x80}, {0xec, 0xbf, 0xbf}, 3},
		{{0xed, 0x80, 0x80}, {0xed, 0x9f, 0xbf}, 3},
		{{0xee, 0x80, 0x80}, {0xef, 0xbf, 0xbf}, 3},
		{{0xf0, 0x90, 0x80, 0x80}, {0xf0, 0xbf, 0xbf, 0xbf}, 4},
		{{0xf1, 0x80, 0x80, 0x80}, {0xf3, 0xbf, 0xbf, 0xbf}, 4},
		{{0xf4, 0x80, 0x80, 0x80}, {0xf4, 0x8f, 0xbf, 0xbf}, 4},
	};
	size_t i = 0;

	while (i < n) {
		int len = 0;

		for (size_t r = 0; r < sizeof rows / sizeof rows[0] && !len; r++) {
			int k = rows[r].len;

			if (n - i < (size_t)k)
				continue;
			len = k;
			for (int j = 0; j < k; j++)
				if (p[i + j] < rows[r].lo[j] || p[i + j] > rows[r].hi[j])
					len = 0;
		}
		if (!len) {
			*errpos = i;
			return false;
		}
		i += (size_t)len;
	}
	return true;
}

/*
 * A second JSON checker, written from RFC 8259's grammar as a recursive
 * descent (fs_json_check is iterative), with the same 512-level limit.
 */
struct ref {
	const unsigned char *p, *end;
};

static bool ref_value(struct ref *r, int depth);

static void
ref_ws(struct ref *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool
ref_lit(struct ref *r, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
		return false;
	r->p += n;
	return true;
}

static bool
ref_digits(struct ref *r)
{
	const unsigned char *start = r->p;

	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	return r->p > start;
}

static bool
ref_number(struct ref *r)
{
	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0')
		r->p++;
	else if (r->p >= r->end || *r->p < '1' || *r->p > '9' || !ref_digits(r))
		return false;
	if (r->p < r->end && *r->p == '.' && (r->p++, !ref_digits(r)))
		return false;
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (!ref_digits(r))
			return false;
	}
	return true;
}

static bool
ref_string(struct ref *r)
{
	if (r->p >= r->end || *r->p != '"')
		return false;
	for (r->p++; r->p < r->end;) {
		unsigned char c = *r->p;
		size_t pos;

		if (c == '"') {
			r->p++;
			return true;
		}
		if (c == '\\') {
			if (r->end - r->p < 2)
				return false;
			c = r->p[1];
			if (c == 'u') {
				if (r->end - r->p < 6)
					return false;
				for (int i = 2; i < 6; i++)
					if (!isxdigit(r->p[i]))
						return false;
				r->p += 6;
			} else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
				   c == 'n' || c == 'r' || c == 't') {
				r->p += 2;
			} else {
				return false;
			}
		} else if (c < 0x20) {
			return false;
		} else {
			/* One character: the shortest well-formed prefix, 1 to 4 bytes. */
			size_t k = 1;

			while (k <= 4 && (r->p + k > r->end || !ref_utf8(r->p, k, &pos)))
				k++;
			if (k > 4 || r->p + k > r->end)
				return false;
			r->p += k;
		}
	}
	return false;
}

static bool
ref_container(struct ref *r, int depth, unsigned char close)
{
	if (depth >= 512)
		return false;
	r->p++;
	ref_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return true;
	}
	for (;;) {
		if (close == '}') {
			if (!ref_string(r))
				return false;
			ref_ws(r);
			if (r->p >= r->end || *r->p != ':')
				return false;
			r->p++;
		}
		if (!ref_value(r, depth + 1))
			return false;
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			ref_ws(r);
			continue;
		}
		if (r->p < r->end && *r->p == close) {
			r->p++;
			return true;
		}
		return false;
	}
}

/* A value with the white space around it. */
static bool
ref_value(struct ref *r, int depth)
{
	bool ok;

	ref_ws(r);
	if (r->p >= r->end)
		return false;
	switch (*r->p) {
	case '{':
		ok = ref_container(r, depth, '}');
		break;
	case '[':
		ok = ref_container(r, depth, ']');
		break;
	case '"':
		ok = ref_string(r);
		break;
	case 't':
		ok = ref_lit(r, "true");
		break;
	case 'f':
		ok = ref_lit(r, "false");
		break;
	case 'n':
		ok = ref_lit(r, "null");
		break;
	default:
		ok = ref_number(r);
	}
	ref_ws(r);
	return ok;
}

static bool
ref_json(const unsigned char *p, size_t n)
{
	struct ref r = {p, p + n};

	return ref_value(&r, 0) && r.p == r.end;
}

static int
depth(const unsigned char *p, size_t n)
{
	int d = 0, max = 0;
	bool str = false;

	for (size_t i = 0; i < n; i++) {
		if (str) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				str = false;
		} else if (p[i] == '"') {
			str = true;
		} else if (p[i] == '[' || p[i] == '{') {
			if (++d > max)
				max = d;
		} else if (p[i] == ']' || p[i] == '}') {
			d--;
		}
	}
	return max;
}

/* libjq 1.6 refuses a high surrogate escape that no low one follows; RFC 8259
 * leaves such strings to the implementation, and the loop sends the line to
 * the DLQ as "invalid JSON".  Inputs with one are left out of the parse check. */
static bool
has_surrogate_escape(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++)
		if (p[i] == '\\' && p[i + 1] == 'u' && (p[i + 2] | 0x20) == 'd' &&
		    strchr("89abAB", p[i + 3]) != NULL && p[i + 3] != 0)
			return true;
	return false;
}

/*
 * fs_json_check_top on accepted text: when it says the text is plain, each
 * wanted member it found is the string the parser finds, and each it did
 * not find is absent.
 */
static void
check_top(const char *p, size_t size, jv v)
{
	static const struct fs_str want[] = {{"a", 1}, {"id", 2}, {"", 0}};
	struct fs_json_top top = {want, 3, {{0}}, false};

	FUZZ_ASSERT(fs_json_check_top(p, size, NULL, &top) == NULL);
	if (!top.plain)
		return;
	FUZZ_ASSERT(jv_get_kind(v) == JV_KIND_OBJECT);
	for (int i = 0; i < 3; i++) {
		jv m = jv_object_get(jv_copy(v), jv_string_sized(want[i].p, (int)want[i].n));

		if (top.value[i].p == NULL) {
			FUZZ_ASSERT(!jv_is_valid(m));
		} else {
			FUZZ_ASSERT(jv_get_kind(m) == JV_KIND_STRING);
			FUZZ_ASSERT((size_t)jv_string_length_bytes(jv_copy(m)) == top.value[i].n);
			FUZZ_ASSERT(memcmp(jv_string_value(m), top.value[i].p, top.value[i].n) == 0);
		}
		jv_free(m);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t pos = (size_t)-1, refpos = (size_t)-1;
	bool ok = fs_utf8_valid(p, size, &pos), refok = ref_utf8(data, size, &refpos);
	const char *why;

	FUZZ_ASSERT(ok == refok);
	if (!ok)
		FUZZ_ASSERT(pos == refpos && pos < size);

	pos = (size_t)-1;
	why = fs_json_check(p, size, &pos);
	FUZZ_ASSERT((why == NULL) == ref_json(data, size));
	if (why != NULL) {
		FUZZ_ASSERT(pos <= size);
		return 0;
	}
	FUZZ_ASSERT(ok);
	/* libjq 1.6 refuses more than 256 levels; fs_json_check allows 512. */
	if (size <= (size_t)INT32_MAX && depth(data, size) <= 256 &&
	    !has_surrogate_escape(data, size)) {
		jv v = jv_parse_sized(p, (int)size);

		FUZZ_ASSERT(jv_is_valid(v));
		check_top(p, size, v);
		jv_free(v);
	}
	return 0;
}
