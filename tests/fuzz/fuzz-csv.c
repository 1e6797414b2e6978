/*
 * The CSV reader (lib/csvin.c, libcsv underneath) and fs_csv_format.
 *
 * The input is read twice: from an in-memory file in one read, and from a
 * pipe written a byte at a time for its first four bytes (the byte order
 * mark is looked for across reads) and then in pieces of up to 97 bytes,
 * each written once the reader has taken the last.
 *
 * Properties: both reads give the same records; every field lies inside
 * the row and is NUL-terminated; record numbers count up from 1; and the
 * records written back with fs_csv_format read back as the same records
 * (unless the last one ran into an open quote).  A third read sends every
 * row through libcsv (fs_csv_read_libcsv): the fast path for plain lines
 * must give exactly its records.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "fieldsync.h"
#include "fuzz.h"

struct rows {
	struct fs_buf flat;	/* every field as length, bytes; records end with a mark */
	struct fs_buf csv;	/* the records written back, CRLF after each */
	long n;
	bool unterminated;
};

struct feed {
	int rfd, wfd;
	const uint8_t *data;
	size_t size;
};

static int
on_row(const struct fs_csv_row *row, void *ctx)
{
	struct rows *r = ctx;

	FUZZ_ASSERT(row->rowno == ++r->n);
	FUZZ_ASSERT(row->nfields >= 1);
	for (int i = 0; i < row->nfields; i++) {
		const char *f = fs_csv_field(row, i);

		FUZZ_ASSERT(f[row->len[i]] == '\0');
		if (i > 0)
			FUZZ_ASSERT(row->off[i] == row->off[i - 1] + row->len[i - 1] + 1);
		fs_buf_add(&r->flat, &row->len[i], sizeof row->len[i]);
		fs_buf_add(&r->flat, f, row->len[i]);
	}
	fs_buf_add(&r->flat, "\xff\xfe", 2);
	r->unterminated = row->unterminated;
	fs_csv_format(&r->csv, row);
	fs_buf_adds(&r->csv, "\r\n");
	return 0;
}

static void *
writer(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;

	while (off < f->size) {
		size_t k = off < 4 ? 1 : f->size - off < 97 ? f->size - off : 97;
		ssize_t n = write(f->wfd, f->data + off, k);
		int left;

		if (n <= 0)
			break;
		off += (size_t)n;
		while (ioctl(f->rfd, FIONREAD, &left) == 0 && left > 0)
			sched_yield();
	}
	close(f->wfd);
	return NULL;
}

static int
read_csv_with(const uint8_t *data, size_t size, bool piped, struct rows *r,
	      int (*reader)(int, fs_csv_fn, void *))
{
	struct feed feed = {-1, -1, data, size};
	pthread_t th;
	int in, rc;

	memset(r, 0, sizeof *r);
	if (piped) {
		int fds[2];

		FUZZ_ASSERT(pipe(fds) == 0);
		in = feed.rfd = fds[0];
		feed.wfd = fds[1];
		FUZZ_ASSERT(pthread_create(&th, NULL, writer, &feed) == 0);
	} else {
		in = fuzz_memfd("fuzz-csv", data, size);
	}
	rc = reader(in, on_row, r);
	if (piped) {
		char sink[4096];

		while (read(in, sink, sizeof sink) > 0)
			;
		pthread_join(th, NULL);
	}
	close(in);
	return rc;
}

static int
read_csv(const uint8_t *data, size_t size, bool piped, struct rows *r)
{
	return read_csv_with(data, size, piped, r, fs_csv_read);
}

static void
rows_free(struct rows *r)
{
	fs_buf_free(&r->flat);
	fs_buf_free(&r->csv);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rows a, b, ref, again;
	int rc;

	if (fs_progname == NULL || strcmp(fs_progname, "fuzz-csv") != 0)
		fs_progname = "fuzz-csv";
	rc = read_csv(data, size, false, &a);
	FUZZ_ASSERT(read_csv(data, size, true, &b) == rc);
	FUZZ_ASSERT(a.n == b.n && a.flat.len == b.flat.len &&
		    (a.flat.len == 0 || memcmp(a.flat.data, b.flat.data, a.flat.len) == 0));
	FUZZ_ASSERT(read_csv_with(data, size, true, &ref, fs_csv_read_libcsv) == rc);
	FUZZ_ASSERT(a.n == ref.n && a.unterminated == ref.unterminated && a.flat.len == ref.flat.len &&
		    (a.flat.len == 0 || memcmp(a.flat.data, ref.flat.data, a.flat.len) == 0));
	rows_free(&ref);
	if (rc == 0 && !a.unterminated) {
		FUZZ_ASSERT(read_csv((const uint8_t *)a.csv.data, a.csv.len, false, &again) == 0);
		FUZZ_ASSERT(again.n == a.n && again.flat.len == a.flat.len &&
			    (a.flat.len == 0 || memcmp(again.flat.data, a.flat.data, a.flat.len) == 0));
		rows_free(&again);
	}
	rows_free(&a);
	rows_free(&b);
	return 0;
}
