/*
 * Keyset cursors over ties, for connectors whose vendor orders or filters
 * on a last-modified time that many objects share (Jobber, QuickBooks
 * Online): "TIME ID ID ...", the newest time emitted and every id emitted
 * at it.  The next read asks from that time inclusive, and the ids decide:
 * a record at the cursor's time whose id the cursor holds was emitted.
 * So ties at a page's or a run's end are neither lost nor repeated.
 */
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

/* Fills c (its ids an empty object already). */
int
fs_keyset_parse(const char *s, struct fs_keyset *c)
{
	char tbuf[40];
	size_t n = strcspn(s, " ");

	c->set = false;
	if (n >= sizeof tbuf)
		return -1;
	memcpy(tbuf, s, n);
	tbuf[n] = '\0';
	if (fs_time_ms(tbuf, &c->t) != 0)
		return -1;
	for (s += n; *s == ' '; s += n) {
		s++;
		n = strcspn(s, " ");
		if (n > 0)
			c->ids = jv_object_set(c->ids, jv_string_sized(s, (int)n), jv_true());
	}
	c->set = true;
	return 0;
}

char *
fs_keyset_text(const struct fs_keyset *c)
{
	struct fs_buf b = {0};
	char ts[32];
	jv keys = jv_keys(jv_copy(c->ids));	/* in id order: the same ids make the same cursor */

	fs_ms_format(c->t, ts);
	fs_buf_adds(&b, ts);
	jv_array_foreach(keys, i, id) {
		(void)i;
		fs_buf_addf(&b, " %s", jv_string_value(id));
		jv_free(id);
	}
	jv_free(keys);
	return b.data;
}

int
fs_keyset_start(struct fs_pull *p, const char *stream, struct fs_keyset *c)
{
	char *saved = NULL;

	c->set = false;
	c->ids = jv_object();
	if (p->since_ms >= 0) {
		c->set = true;
		c->t = p->since_ms;
		return 0;
	}
	if (fs_cursor_get(&p->cli->st, p->name, stream, &saved) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (saved && fs_keyset_parse(saved, c) != 0) {
		fs_err("%s: committed cursor of stream %s is not 'TIME ID...': '%.60s'", p->name, stream, saved);
		free(saved);
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	free(saved);
	return 0;
}

bool
fs_keyset_is_new(const struct fs_keyset *c, int64_t t, const char *id)
{
	if (!c->set || t > c->t)
		return true;
	return t == c->t && !jv_object_has(jv_copy(c->ids), jv_string(id));
}

void
fs_keyset_advance(struct fs_keyset *to, int64_t t, const char *id)
{
	if (!to->set || t > to->t) {
		jv_free(to->ids);
		to->ids = jv_object();
		to->t = t;
		to->set = true;
	}
	if (t == to->t)
		to->ids = jv_object_set(to->ids, jv_string(id), jv_true());
}
