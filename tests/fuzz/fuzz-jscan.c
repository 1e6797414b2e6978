/*
 * fs_jscan, the hot path's JSON scanner, against libjq: on every line that
 * fs_json_check accepts and fs_jscan reads, each member of each object has
 * the same key, kind and value as libjq gives (strings byte for byte,
 * numbers as the same double, arrays as arrays), and no member is missing.
 * (same() also checks that the root is an object.)
 */
#include <float.h>
#include <math.h>

#include "fieldsync.h"
#include "fuzz.h"

static void
same(const struct fs_jtree *t, int id, jv v)
{
	const struct fs_jnode *n = &t->n[id];
	jv_kind k = jv_get_kind(v);

	switch (n->kind) {
	case 'o': {
		int members = 0;

		FUZZ_ASSERT(k == JV_KIND_OBJECT);
		for (int c = n->child; c >= 0; c = t->n[c].next) {
			jv key = jv_string_sized(t->n[c].key.p ? t->n[c].key.p : "", (int)t->n[c].key.n);
			jv m = jv_object_get(jv_copy(v), key);

			FUZZ_ASSERT(jv_is_valid(m));
			same(t, c, m);
			jv_free(m);
			members++;
		}
		FUZZ_ASSERT(members == jv_object_length(jv_copy(v)));
		break;
	}
	case 'a':
		FUZZ_ASSERT(k == JV_KIND_ARRAY);
		break;
	case 's':
		FUZZ_ASSERT(k == JV_KIND_STRING);
		FUZZ_ASSERT((size_t)jv_string_length_bytes(jv_copy(v)) == n->str.n);
		FUZZ_ASSERT(n->str.n == 0 || memcmp(jv_string_value(v), n->str.p, n->str.n) == 0);
		break;
	case 'n': {
		char buf[128];
		double d;

		FUZZ_ASSERT(k == JV_KIND_NUMBER);
		if (n->str.n < sizeof buf) {
			memcpy(buf, n->str.p, n->str.n);
			buf[n->str.n] = '\0';
			d = strtod(buf, NULL);
			FUZZ_ASSERT(d == jv_number_value(v) || (isinf(d) && fabs(jv_number_value(v)) == DBL_MAX));
		}
		break;
	}
	case 't':
		FUZZ_ASSERT(k == JV_KIND_TRUE);
		break;
	case 'f':
		FUZZ_ASSERT(k == JV_KIND_FALSE);
		break;
	case 'z':
		FUZZ_ASSERT(k == JV_KIND_NULL);
		break;
	default:
		FUZZ_ASSERT(!"a node of an unknown kind");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fs_jtree t;
	const char *p = (const char *)data;
	int root;
	jv v;

	if (size > 1 << 20 || fs_json_check(p, size, NULL) != NULL)
		return 0;
	root = fs_jscan(&t, p, size);
	v = jv_parse_sized(p, (int)size);
	/* libjq 1.6 refuses what it nests deeper than 256 levels. */
	if (root >= 0 && jv_is_valid(v))
		same(&t, root, v);
	jv_free(v);
	return 0;
}
