/*
 * The CSV connector (kind csv, or pull csv:FILE): one record a row (libcsv),
 * its key the row number, its data the row by the header's names; a bad row
 * goes to the DLQ as a one-row CSV.  --describe lists what the rows become
 * through the source's map.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vendors.h"

/* One file's read: the header as JSON keys, the rows as records. */
struct csv_reader {
	struct fs_pull *p;
	char **head;
	size_t *head_len;
	int nhead;
	struct fs_buf line, hdr_csv;
	struct fs_buf rec_head, rec_mid;	/* a record up to its key, and from it to data */
	struct csv_describe *desc;	/* --describe */
};

/* Bytes a JSON string must escape. */
static const unsigned char json_esc[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

/*
 * s[0..n) as a JSON string at o, which has room for 6n + 2 bytes; returns
 * the end.  *high is set when a byte is 0x80 or above (UTF-8 to check).
 */
static char *
json_str_at(char *o, const char *s, size_t n, bool *high)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0, i = 0;
	unsigned char or = 0;

	*o++ = '"';
	for (;;) {
		while (i < n && !json_esc[u[i]])
			or |= u[i++];
		memcpy(o, s + run, i - run);
		o += i - run;
		if (i == n)
			break;
		*o++ = '\\';
		switch (u[i]) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[u[i] >> 4];
			o[4] = hex[u[i] & 15];
			o += 5;
		}
		run = ++i;
	}
	*o++ = '"';
	if (or & 0x80)
		*high = true;
	return o;
}

/* Room for n more bytes after b->len. */
static char *
buf_room(struct fs_buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = fs_xrealloc(b->data, cap);
		b->cap = cap;
	}
	return b->data + b->len;
}

static void
json_str(struct fs_buf *b, const char *s, size_t n)
{
	bool high = false;
	char *o = buf_room(b, 6 * n + 2);

	b->len = (size_t)(json_str_at(o, s, n, &high) - b->data);
	b->data[b->len] = '\0';
}

static int
csv_dead(struct csv_reader *c, const struct fs_csv_row *row, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A bad row goes to the DLQ as a one-row CSV (header and row), ready to replay. */
static int
csv_dead(struct csv_reader *c, const struct fs_csv_row *row, const char *fmt, ...)
{
	struct fs_buf b = {0};
	char reason[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	fs_buf_add(&b, c->hdr_csv.data, c->hdr_csv.len);
	fs_buf_addc(&b, '\n');
	fs_csv_format(&b, row);
	fs_buf_addc(&b, '\n');
	rc = fs_pull_dead(c->p, b.data, b.len, row->rowno, "row %ld: %s", row->rowno, reason);
	fs_buf_free(&b);
	return rc;
}

static int csv_out(struct csv_reader *c);

/* ---- --describe of a CSV ---- */

/*
 * A CSV has no list of fields but its header: its listing is what its rows
 * become through the source's map, each canonical field that comes out with
 * its type, and the status values the export holds (up to DESCRIBE_VALUES;
 * more are taken as free text).  Rows that do not map are left out.
 */
#define DESCRIBE_VALUES 200

struct csv_describe {
	struct fs_map *map;
	jv seen[2];		/* contacts, jobs: field -> {"type", "values": {value: true}} */
	long mapped;
};

static void
describe_field(jv *seen, const char *name, jv v)
{
	jv f = fs_jget(*seen, name), values;
	jv_kind k = jv_get_kind(v);

	if (!jv_is_valid(f))
		f = jv_object_set(jv_object(), jv_string("values"), jv_object());
	if (fs_jstr(f, "type") == NULL)
		f = jv_object_set(f, jv_string("type"), jv_string(k == JV_KIND_NUMBER ? "number" : k == JV_KIND_ARRAY
			? "array" : k == JV_KIND_TRUE || k == JV_KIND_FALSE ? "bool" : "string"));
	if (strcmp(name, "status") == 0 && k == JV_KIND_STRING) {
		values = fs_jget(f, "values");
		if (jv_get_kind(values) == JV_KIND_OBJECT && jv_object_length(jv_copy(values)) <= DESCRIBE_VALUES)
			values = jv_object_set(values, jv_copy(v), jv_true());
		f = jv_object_set(f, jv_string("values"), values);
	}
	jv_free(v);
	*seen = jv_object_set(*seen, jv_string(name), f);
}

/* The records in c->line, through the map. */
static void
describe_lines(struct csv_reader *c)
{
	struct csv_describe *d = c->desc;
	char *line = c->line.data, *end = line + c->line.len;

	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		jv out = jv_parse_sized(line, (int)((nl ? nl : end) - line));

		line = nl ? nl + 1 : end;
		if (!jv_is_valid(out)) {
			jv_free(out);
			continue;
		}
		out = fs_map_run(d->map, out);
		if (!jv_is_valid(out)) {
			jv_free(out);
			continue;
		}
		jv_array_foreach(out, i, o) {
			const char *kind = fs_jstr(o, "kind");
			int which = kind && strcmp(kind, "contact.changed") == 0 ? 0
				  : kind && strcmp(kind, "job.changed") == 0 ? 1 : -1;
			jv data = fs_jget(o, "data");

			(void)i;
			if (which >= 0 && jv_get_kind(data) == JV_KIND_OBJECT) {
				d->mapped++;
				/* (jv_object_foreach reads its object again and again: a variable, not a copy.) */
				jv_object_foreach(data, k, v) {
					const char *name = jv_string_value(k);

					if (strcmp(name, "address") == 0 && jv_get_kind(v) == JV_KIND_OBJECT) {
						jv_object_foreach(v, ak, av) {
							describe_field(&d->seen[which], jv_string_value(ak), av);
							jv_free(ak);
						}
					} else if (strcmp(name, "invalid") != 0 && jv_get_kind(v) != JV_KIND_NULL) {
						describe_field(&d->seen[which], name, jv_copy(v));
					}
					jv_free(v);
					jv_free(k);
				}
			}
			jv_free(data);
			jv_free(o);
		}
		jv_free(out);
	}
	c->line.len = 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints and stores what describe_lines saw. */
static int
describe_csv_end(struct csv_reader *c)
{
	struct fs_pull *p = c->p;
	struct csv_describe *d = c->desc;
	static const char *const objects[] = {"contacts", "jobs"};
	struct fs_state *st = &p->cli->st;
	int rc = 0;

	if (fs_state_begin(st) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	for (int w = 0; w < 2 && rc == 0; w++) {
		jv listing = jv_array(), keys = jv_keys(jv_copy(d->seen[w]));

		if (jv_object_length(jv_copy(d->seen[w])) == 0) {
			jv_free(keys);
			jv_free(listing);
			continue;
		}
		jv_array_foreach(keys, i, k) {
			jv f = fs_jget(d->seen[w], jv_string_value(k)), values = fs_jget(f, "values");
			jv opts = jv_array(), e;
			int n = jv_object_length(jv_copy(values));
			struct fs_buf shown = {0};

			(void)i;
			if (n > 0 && n <= DESCRIBE_VALUES) {
				char **names = fs_xmalloc((size_t)n * sizeof *names);
				int m = 0;

				jv_object_foreach(values, vk, vv) {
					names[m++] = fs_xstrdup(jv_string_value(vk));
					jv_free(vk);
					jv_free(vv);
				}
				qsort(names, (size_t)m, sizeof *names, by_name);
				for (int j = 0; j < m; j++) {
					fs_buf_addf(&shown, "%s%s", j ? ", " : "", names[j]);
					opts = jv_array_append(opts, jv_string(names[j]));
					free(names[j]);
				}
				free(names);
			}
			printf("%s%s%s\t%s\t-\tmapped\t%s\n", w ? objects[w] : "", w ? "." : "", jv_string_value(k),
			       fs_jstr(f, "type"), shown.len ? shown.data : "-");
			e = jv_object_set(jv_object(), jv_string("name"), jv_copy(k));
			e = jv_object_set(e, jv_string("type"), jv_string(fs_jstr(f, "type")));
			e = jv_object_set(e, jv_string("options"), opts);
			e = jv_object_set(e, jv_string("mapped"), jv_true());
			listing = jv_array_append(listing, e);
			fs_buf_free(&shown);
			jv_free(values);
			jv_free(f);
			jv_free(k);
		}
		jv_free(keys);
		if (fs_source_fields_store(st, p->name, objects[w], listing) != 0)
			rc = -1;
		jv_free(listing);
	}
	if (rc != 0 || fs_state_commit(st) != 0) {
		fs_state_rollback(st);
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	fs_debug("%s: %ld of %ld rows map to contacts or jobs; the listing is kept in the state file", p->name,
		 d->mapped, p->records);
	return 0;
}

static int
describe_csv_start(struct csv_reader *c)
{
	struct fs_pull *p = c->p;
	struct fs_endpoint ep;
	char key[128], *path;

	if (fs_endpoint_find(&p->cli->cfg, "source", p->name, &ep) != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	snprintf(key, sizeof key, "map.%s", p->stream);
	if ((path = fs_map_find(fs_setting(&ep, key))) == NULL) {
		fs_err("%s: no map '%s' for stream '%s'", p->name, fs_setting(&ep, key), p->stream);
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	c->desc = fs_xmalloc(sizeof *c->desc);
	c->desc->map = fs_map_load(path, fs_map_args(&ep));
	c->desc->seen[0] = jv_object();
	c->desc->seen[1] = jv_object();
	c->desc->mapped = 0;
	free(path);
	if (c->desc->map == NULL) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return 0;
}

static void
describe_csv_free(struct csv_reader *c)
{
	if (c->desc == NULL)
		return;
	fs_map_free(c->desc->map);
	jv_free(c->desc->seen[0]);
	jv_free(c->desc->seen[1]);
	free(c->desc);
	c->desc = NULL;
}

static char *
put_decimal(char *o, unsigned long v)
{
	char digits[24];
	int k = 0;

	do
		digits[k++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (k > 0)
		*o++ = digits[--k];
	return o;
}

static int
on_csv_row(const struct fs_csv_row *row, void *ctx)
{
	struct csv_reader *c = ctx;
	struct fs_pull *p = c->p;
	struct fs_buf *b = &c->line;
	size_t pos, need, mark;
	bool high = false;
	char *o;

	if (row->rowno == 1) {
		c->nhead = row->nfields;
		c->head = fs_xmalloc((size_t)row->nfields * sizeof *c->head);
		c->head_len = fs_xmalloc((size_t)row->nfields * sizeof *c->head_len);
		for (int i = 0; i < row->nfields; i++) {
			struct fs_buf k = {0};
			const char *f = fs_csv_field(row, i);

			if (!fs_utf8_valid(f, row->len[i], &pos)) {
				fs_err("row 1: the header is not UTF-8 (column %d)", i + 1);
				fs_pull_fail(p, FS_EXIT_USAGE);
				c->nhead = i;
				return -1;
			}
			for (int j = 0; j < i; j++)
				if (row->len[j] == row->len[i] && memcmp(fs_csv_field(row, j), f, row->len[i]) == 0) {
					fs_err("row 1: column %d has the same name as column %d: '%s'", i + 1, j + 1, f);
					fs_pull_fail(p, FS_EXIT_USAGE);
					c->nhead = i;
					return -1;
				}
			json_str(&k, f, row->len[i]);
			fs_buf_addc(&k, ':');
			c->head[i] = k.data;
			c->head_len[i] = k.len;
		}
		fs_csv_format(&c->hdr_csv, row);
		fs_buf_adds(&c->rec_head, "{\"type\":\"record\",\"source\":");
		json_str(&c->rec_head, p->name, strlen(p->name));
		fs_buf_adds(&c->rec_head, ",\"stream\":");
		json_str(&c->rec_head, p->stream, strlen(p->stream));
		fs_buf_adds(&c->rec_head, ",\"key\":\"");
		fs_buf_addf(&c->rec_mid, "\",\"fetched_at\":\"%s\",\"data\":{", p->now);
		return 0;
	}
	if (p->limit > 0 && p->records >= p->limit)
		return -1;
	if (row->unterminated)
		return csv_dead(c, row, "a quoted field is not closed before the end of the input");
	if (row->nfields != c->nhead)
		return csv_dead(c, row, "%d field%s, the header has %d", row->nfields,
				row->nfields == 1 ? "" : "s", c->nhead);
	need = c->rec_head.len + 24 + c->rec_mid.len + 3;
	for (int i = 0; i < row->nfields; i++)
		need += c->head_len[i] + 1 + 6 * row->len[i] + 2;
	mark = b->len;
	o = buf_room(b, need);
	memcpy(o, c->rec_head.data, c->rec_head.len);
	o += c->rec_head.len;
	o = put_decimal(o, (unsigned long)row->rowno);
	memcpy(o, c->rec_mid.data, c->rec_mid.len);
	o += c->rec_mid.len;
	for (int i = 0; i < row->nfields; i++) {
		if (i > 0)
			*o++ = ',';
		memcpy(o, c->head[i], c->head_len[i]);
		o += c->head_len[i];
		o = json_str_at(o, fs_csv_field(row, i), row->len[i], &high);
	}
	memcpy(o, "}}\n", 3);
	o += 3;
	if (high)
		for (int i = 0; i < row->nfields; i++)
			if (!fs_utf8_valid(fs_csv_field(row, i), row->len[i], &pos)) {
				b->len = mark;
				return csv_dead(c, row, "invalid UTF-8 in column %d at byte %zu", i + 1, pos + 1);
			}
	b->len = (size_t)(o - b->data);
	p->records++;
	/* Rows leave in blocks; pull_csv writes what is left. */
	if (b->len >= 64 * 1024)
		return csv_out(c);
	return 0;
}

/* The rows written so far, to standard output. */
static int
csv_out(struct csv_reader *c)
{
	struct fs_buf *b = &c->line;

	if (c->desc) {
		describe_lines(c);
		return 0;
	}
	if (b->len > 0 && fwrite(b->data, 1, b->len, stdout) != b->len) {
		b->len = 0;
		return fs_pull_flush(c->p);
	}
	b->len = 0;
	return 0;
}

static int
pull_csv(struct fs_pull *p, const char *path)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	struct csv_reader c = {.p = p};

	if (fd < 0) {
		fs_err("cannot open '%s':", path);
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	p->stream = p->as ? p->as : "rows";
	if (p->describe && describe_csv_start(&c) != 0) {
		if (fd != STDIN_FILENO)
			close(fd);
		describe_csv_free(&c);
		return -1;
	}
	fs_csv_read(fd, on_csv_row, &c);
	csv_out(&c);
	if (c.desc) {
		if (!fs_pull_failed(p))
			describe_csv_end(&c);
		describe_csv_free(&c);
		p->records = 0;	/* nothing was pulled: no run row */
	}
	if (fd != STDIN_FILENO)
		close(fd);
	for (int i = 0; i < c.nhead; i++)
		free(c.head[i]);
	free(c.head);
	free(c.head_len);
	fs_buf_free(&c.line);
	fs_buf_free(&c.hdr_csv);
	fs_buf_free(&c.rec_head);
	fs_buf_free(&c.rec_mid);
	return fs_pull_flush(p);
}

static const char *csv_field(const struct fs_endpoint *, bool, const char *);

const struct fs_vendor fs_vendor_csv = {
	.kind = "csv",
	.flags = FS_VENDOR_FILE,
	.saved_stream = "rows",
	.read = pull_csv,
	/* receive and normalize */
	.trigger_property = csv_field,
	.jobs_object = "jobs",
};

/* Receiving and normalizing */

/* --describe lists a CSV's fields as its rows map to them: by their canonical names. */
static const char *
csv_field(const struct fs_endpoint *ep, bool on_job, const char *field)
{
	(void)ep;
	(void)on_job;
	return field;
}
