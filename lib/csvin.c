/*
 * CSV input through libcsv (RFC 4180): a UTF-8 byte order mark is dropped,
 * CRLF and LF both end a record, quoted fields keep their commas, quotes
 * and line breaks, spaces are data (libcsv would trim them by default), and
 * an unterminated quote at the end of input is reported, not swallowed.
 * Blank lines between records are skipped, as libcsv does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <csv.h>

#include "fieldsync.h"

#define CHUNK (256 * 1024)

struct reader {
	struct fs_buf arena;	/* the row's fields, back to back */
	size_t *off, *len;
	int cap;
	struct fs_csv_row row;
	fs_csv_fn fn;
	void *ctx;
	int rc;
};

static int
no_space(unsigned char c)
{
	(void)c;
	return 0;
}

static void
on_field(void *p, size_t n, void *ctx)
{
	struct reader *r = ctx;

	if (r->row.nfields == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 32;
		r->off = fs_xrealloc(r->off, (size_t)r->cap * sizeof *r->off);
		r->len = fs_xrealloc(r->len, (size_t)r->cap * sizeof *r->len);
	}
	r->off[r->row.nfields] = r->arena.len;
	r->len[r->row.nfields] = n;
	if (n > 0)
		fs_buf_add(&r->arena, p, n);
	fs_buf_addc(&r->arena, '\0');
	r->row.nfields++;
}

static void
on_record(int c, void *ctx)
{
	struct reader *r = ctx;

	(void)c;
	r->row.rowno++;
	if (r->rc == 0) {
		r->row.field = r->arena.data;
		r->row.off = r->off;
		r->row.len = r->len;
		r->rc = r->fn(&r->row, r->ctx);
	}
	r->row.nfields = 0;
	r->row.unterminated = false;
	r->arena.len = 0;
}

int
fs_csv_read(int fd, fs_csv_fn fn, void *ctx)
{
	struct csv_parser p;
	struct reader r = {0};
	char *buf = fs_xmalloc(CHUNK);
	size_t have = 0;
	bool first = true;
	int rc = 0;

	if (csv_init(&p, 0) != 0) {
		fs_err("cannot start the CSV parser");
		free(buf);
		return -1;
	}
	csv_set_space_func(&p, no_space);
	csv_set_blk_size(&p, 4096);
	r.fn = fn;
	r.ctx = ctx;
	for (;;) {
		ssize_t n = read(fd, buf + have, CHUNK - have);
		size_t start = 0;

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
				start = 3;
			first = false;
		}
		if (have > start && csv_parse(&p, buf + start, have - start, on_field, on_record, &r) != have - start) {
			fs_err("CSV parser: %s", csv_strerror(csv_error(&p)));
			rc = -1;
			break;
		}
		have = 0;
		if (r.rc != 0 || n == 0)
			break;
	}
	if (rc == 0 && r.rc == 0) {
		/* A quote still open at the end: the rest of the input was one field. */
		if (p.pstate == 2 && p.quoted)
			r.row.unterminated = true;
		csv_fini(&p, on_field, on_record, &r);
	}
	csv_free(&p);
	free(buf);
	free(r.off);
	free(r.len);
	fs_buf_free(&r.arena);
	return rc != 0 ? rc : r.rc;
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
