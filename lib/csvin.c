/*
 * CSV input (RFC 4180): a UTF-8 byte order mark is dropped, CRLF and LF both
 * end a record, quoted fields keep their commas, quotes and line breaks,
 * spaces are data (libcsv would trim them by default), and an unterminated
 * quote at the end of input is reported, not swallowed.  Blank lines between
 * records are skipped, as libcsv does.
 *
 * libcsv reads a byte at a time through a state machine and copies every
 * field into its own buffer.  Most exported rows need none of that, so a
 * line that ends in LF, holds no other CR, and whose fields are either free
 * of quotes or quoted whole ("...", no quote inside, then a comma or the line
 * end) is split here with memchr, in place in the read buffer.  Any other
 * line, and every line while libcsv is inside a record, goes to libcsv.
 * Both give the same records (tests/fuzz/fuzz-csv.c compares them on every
 * input it is given).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <csv.h>

#include "fieldsync.h"

#define CHUNK (256 * 1024)

struct reader {
	struct fs_buf arena;	/* libcsv's fields for the row, back to back */
	size_t *off, *len;
	int cap;
	struct fs_csv_row row;
	fs_csv_fn fn;
	void *ctx;
	int rc;
	struct csv_parser p;
	bool slow;		/* libcsv holds part of a record: it gets every line */
	bool libcsv_only;
};

static int
no_space(unsigned char c)
{
	(void)c;
	return 0;
}

static void
grow(struct reader *r)
{
	r->cap = r->cap ? r->cap * 2 : 32;
	r->off = fs_xrealloc(r->off, (size_t)r->cap * sizeof *r->off);
	r->len = fs_xrealloc(r->len, (size_t)r->cap * sizeof *r->len);
}

static void
on_field(void *p, size_t n, void *ctx)
{
	struct reader *r = ctx;

	if (r->row.nfields == r->cap)
		grow(r);
	r->off[r->row.nfields] = r->arena.len;
	r->len[r->row.nfields] = n;
	if (n > 0)
		fs_buf_add(&r->arena, p, n);
	fs_buf_addc(&r->arena, '\0');
	r->row.nfields++;
}

static void
record(struct reader *r, char *base)
{
	r->row.rowno++;
	if (r->rc == 0) {
		r->row.field = base;
		r->row.off = r->off;
		r->row.len = r->len;
		r->rc = r->fn(&r->row, r->ctx);
	}
	r->row.nfields = 0;
	r->row.unterminated = false;
}

static void
on_record(int c, void *ctx)
{
	struct reader *r = ctx;

	(void)c;
	record(r, r->arena.data);
	r->arena.len = 0;
}

/*
 * The line s[0..n), whose last byte is LF, as one record if it is plain
 * enough; false leaves it (untouched) to libcsv.  The fields are moved down
 * in place so that they lie back to back, each NUL-terminated, as libcsv's.
 */
static bool
fast_row(struct reader *r, char *s, size_t n)
{
	char *end = s + n - 1, *f = s, *q;
	size_t w = 0;
	int nf = 0;

	if (end > s && end[-1] == '\r')
		end--;
	if (end == s)
		return true;	/* a blank line: libcsv skips it too */
	if (memchr(s, '\r', (size_t)(end - s)) != NULL)
		return false;
	q = memchr(s, '"', (size_t)(end - s));
	for (;;) {
		char *start, *stop;

		if (f < end && *f == '"') {
			char *c = memchr(f + 1, '"', (size_t)(end - f - 1));

			if (c == NULL || (c + 1 < end && c[1] != ','))
				return false;
			start = f + 1;
			stop = c;
			q = memchr(c + 1, '"', (size_t)(end - c - 1));
			f = c + 1;
		} else {
			char *c = memchr(f, ',', (size_t)(end - f));

			stop = c ? c : end;
			if (q != NULL && q < stop)
				return false;	/* a quote inside an unquoted field */
			start = f;
			f = stop;
		}
		if (nf == r->cap)
			grow(r);
		r->off[nf] = (size_t)(start - s);
		r->len[nf++] = (size_t)(stop - start);
		if (f == end)
			break;
		f++;	/* past the comma */
	}
	for (int i = 0; i < nf; i++) {
		if (r->off[i] != w)
			memmove(s + w, s + r->off[i], r->len[i]);
		r->off[i] = w;
		w += r->len[i];
		s[w++] = '\0';
	}
	r->row.nfields = nf;
	record(r, s);
	return true;
}

/* Through libcsv; false when it reports an error. */
static bool
slow_feed(struct reader *r, const char *s, size_t n)
{
	if (csv_parse(&r->p, s, n, on_field, on_record, r) != n) {
		fs_err("CSV parser: %s", csv_strerror(csv_error(&r->p)));
		return false;
	}
	r->slow = r->libcsv_only || s[n - 1] != '\n' || r->p.pstate != 0;
	return true;
}

static int
read_csv(int fd, fs_csv_fn fn, void *ctx, bool libcsv_only)
{
	struct reader r = {0};
	char *buf = fs_xmalloc(CHUNK);
	size_t have = 0, pos = 0;
	bool first = true;
	int rc = 0;

	if (csv_init(&r.p, 0) != 0) {
		fs_err("cannot start the CSV parser");
		free(buf);
		return -1;
	}
	csv_set_space_func(&r.p, no_space);
	csv_set_blk_size(&r.p, 4096);
	r.fn = fn;
	r.ctx = ctx;
	r.libcsv_only = r.slow = libcsv_only;
	for (;;) {
		ssize_t n = read(fd, buf + have, CHUNK - have);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fs_err("read error:");
			rc = -1;
			break;
		}
		have += (size_t)n;
		if (first) {
			/* The byte order mark needs its three bytes together. */
			if (n > 0 && have < 3)
				continue;
			if (have >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
				pos = 3;
			first = false;
		}
		while (r.rc == 0 && (nl = memchr(buf + pos, '\n', have - pos)) != NULL) {
			size_t len = (size_t)(nl - (buf + pos)) + 1;

			if ((r.slow || !fast_row(&r, buf + pos, len)) && !slow_feed(&r, buf + pos, len)) {
				rc = -1;
				break;
			}
			pos += len;
		}
		if (rc != 0 || r.rc != 0)
			break;
		/* No line end in what is left: the end of input, or a line longer
		 * than the buffer.  libcsv takes it and keeps its place. */
		if (have > pos && (n == 0 || (pos == 0 && have == CHUNK))) {
			if (!slow_feed(&r, buf + pos, have - pos)) {
				rc = -1;
				break;
			}
			pos = have;
		}
		if (n == 0 || r.rc != 0)
			break;
		memmove(buf, buf + pos, have - pos);
		have -= pos;
		pos = 0;
	}
	if (rc == 0 && r.rc == 0) {
		/* A quote still open at the end: the rest of the input was one field. */
		if (r.p.pstate == 2 && r.p.quoted)
			r.row.unterminated = true;
		csv_fini(&r.p, on_field, on_record, &r);
	}
	csv_free(&r.p);
	free(buf);
	free(r.off);
	free(r.len);
	fs_buf_free(&r.arena);
	return rc != 0 ? rc : r.rc;
}

int
fs_csv_read(int fd, fs_csv_fn fn, void *ctx)
{
	return read_csv(fd, fn, ctx, false);
}

int
fs_csv_read_libcsv(int fd, fs_csv_fn fn, void *ctx)
{
	return read_csv(fd, fn, ctx, true);
}

void
fs_csv_format(struct fs_buf *b, const struct fs_csv_row *row)
{
	for (int i = 0; i < row->nfields; i++) {
		const char *f = fs_csv_field(row, i);
		size_t n = row->len[i];

		if (i > 0)
			fs_buf_addc(b, ',');
		/* f[n - 1] only when there is one: the first field may be empty.
		 * A field that starts with a byte order mark is quoted, or it would
		 * be dropped when it is the first thing read. */
		if ((n == 0 && row->nfields == 1) || strcspn(f, ",\"\r\n") < n ||
		    (n > 0 && (f[0] == ' ' || f[n - 1] == ' ')) || memchr(f, '\0', n) ||
		    (n >= 3 && memcmp(f, "\xEF\xBB\xBF", 3) == 0)) {
			fs_buf_addc(b, '"');
			for (size_t j = 0; j < n; j++) {
				if (f[j] == '"')
					fs_buf_addc(b, '"');
				fs_buf_addc(b, f[j]);
			}
			fs_buf_addc(b, '"');
		} else {
			fs_buf_add(b, f, n);
		}
	}
}
