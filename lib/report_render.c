/*
 * Renderers for fs-report's documents (report.c): aligned text within 100
 * columns, RFC 4180 CSV (each cell by fs_csv_cell: formulas neutralised), and
 * NDJSON.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

#define TEXT_WIDTH 100

static jv
get(jv o, const char *key)
{
	return jv_object_get(jv_copy(o), jv_string(key));
}

static const char *
col_type(jv col)
{
	jv t = jv_array_get(jv_copy(col), 1);
	const char *s = jv_string_value(t);	/* types are static names in report.c */
	static const char *const known[] = {"text", "int", "num", "pct", "time", "day", "auto", "json", "money", "key"};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(s, known[i]) == 0) {
			jv_free(t);
			return known[i];
		}
	jv_free(t);
	return "text";
}

static char *
cell_text(jv v, const char *type)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
	case JV_KIND_INVALID:
		return NULL;
	case JV_KIND_NUMBER:
		if (strcmp(type, "money") == 0)
			return fs_xasprintf("%.2f", jv_number_value(v));
		if (strcmp(type, "num") == 0 || strcmp(type, "pct") == 0 ||
		    (strcmp(type, "auto") == 0 && jv_number_value(v) != floor(jv_number_value(v))))
			return fs_xasprintf("%.1f", jv_number_value(v));
		return fs_xasprintf("%.0f", jv_number_value(v));
	case JV_KIND_STRING:
		return fs_xstrdup(jv_string_value(v));
	default:
		return fs_jdump(v);
	}
}

/* A cell as text; null is none (NULL).  Consumes v. */
static char *
cell(jv v, const char *type)
{
	char *s = cell_text(v, type);

	jv_free(v);
	return s;
}

/* Display columns of UTF-8 text (one per code point). */
static size_t
dwidth(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Prints s in w columns, cut with "…" when longer; left or right aligned. */
static void
put_cell(FILE *f, const char *s, size_t w, bool right)
{
	size_t dw = dwidth(s);

	if (dw > w) {
		size_t keep = w ? w - 1 : 0, i = 0, cols = 0;

		while (s[i] && cols < keep) {
			i++;
			while (((unsigned char)s[i] & 0xc0) == 0x80)
				i++;
			cols++;
		}
		fprintf(f, "%.*s…", (int)i, s);
		return;
	}
	if (right)
		fprintf(f, "%*s%s", (int)(w - dw), "", s);
	else
		fprintf(f, "%s%*s", s, (int)(w - dw), "");
}

const char *
fs_report_when(const char *s, char out[FS_REPORT_WHEN])
{
	size_t n = strlen(s);

	if (n == 20)
		snprintf(out, FS_REPORT_WHEN, "%.10s %.5s", s, s + 11);
	else if (n == 25 && (s[19] == '+' || s[19] == '-'))
		snprintf(out, FS_REPORT_WHEN, "%.10s %.5s %.6s", s, s + 11, s + 19);
	else
		return s;
	return out;
}

/* The zone a time of the document is in: UTC, or its offset. */
static const char *
zone_of(const char *s)
{
	return strlen(s) == 25 ? s + 19 : "UTC";
}

const char *
fs_report_window(const char *from, const char *to, char out[FS_REPORT_WINDOW])
{
	char a[FS_REPORT_WHEN], b[FS_REPORT_WHEN];

	fs_report_when(from, a);
	fs_report_when(to, b);
	/* One zone said once; a window across a DST change says both offsets. */
	if (strcmp(zone_of(from), zone_of(to)) == 0)
		snprintf(out, FS_REPORT_WINDOW, "%.16s to %.16s %s", a, b, zone_of(from));
	else
		snprintf(out, FS_REPORT_WINDOW, "%s to %s", a, b);
	return out;
}

/* Control characters (newlines in a detail) would break the table. */
static void
flatten(char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < ' ')
			*s = ' ';
}

/* Whether a column carries a flag: "wide" or "label" (report.c's section()). */
static bool
has_flag(jv col, const char *flag)
{
	jv f = jv_array_get(jv_copy(col), 2);
	bool yes = jv_get_kind(f) == JV_KIND_STRING && strcmp(jv_string_value(f), flag) == 0;

	jv_free(f);
	return yes;
}

static bool
shown(jv col, bool with_wide)
{
	return !has_flag(col, "label") && (with_wide || !has_flag(col, "wide"));
}

/* One row as a table for people shows it: a label's value stands in the
 * column before it.  Consumes cols and row. */
static jv
shown_row(jv cols, jv row, bool with_wide)
{
	jv out = jv_array();

	jv_array_foreach(cols, c, col) {
		jv v = jv_array_get(jv_copy(row), c);
		int n = jv_array_length(jv_copy(out));

		if (has_flag(col, "label") && jv_get_kind(v) != JV_KIND_NULL && n > 0)
			out = jv_array_set(out, n - 1, v);
		else if (shown(col, with_wide))
			out = jv_array_append(out, v);
		else
			jv_free(v);
		jv_free(col);
	}
	jv_free(cols);
	jv_free(row);
	return out;
}

jv
fs_report_shown(jv cols, jv rows, bool with_wide, jv *out_rows)
{
	jv keep = jv_array(), r2 = jv_array();

	jv_array_foreach(rows, r, row) {
		(void)r;
		r2 = jv_array_append(r2, shown_row(jv_copy(cols), row, with_wide));
	}
	jv_array_foreach(cols, c, col) {
		(void)c;
		if (shown(col, with_wide))
			keep = jv_array_append(keep, jv_copy(col));
		jv_free(col);
	}
	jv_free(cols);
	jv_free(rows);
	*out_rows = r2;
	return keep;
}

static void
text_section(jv sec, FILE *f)
{
	jv rows, cols = fs_report_shown(get(sec, "columns"), get(sec, "rows"), false, &rows);
	jv title = get(sec, "title"), note = get(sec, "note");
	jv why = get(sec, "empty");
	int nc = jv_array_length(jv_copy(cols)), nr = jv_array_length(jv_copy(rows));
	size_t *w = calloc((size_t)nc, sizeof *w), total;
	char ***txt = calloc((size_t)nr + 1, sizeof *txt);
	bool *right = calloc((size_t)nc, sizeof *right);
	const char **type = calloc((size_t)nc, sizeof *type);

	fprintf(f, "%s\n", jv_string_value(title));
	txt[0] = calloc((size_t)nc, sizeof **txt);
	for (int c = 0; c < nc; c++) {
		jv col = jv_array_get(jv_copy(cols), c), name = jv_array_get(jv_copy(col), 0);

		type[c] = col_type(col);
		right[c] = strcmp(type[c], "int") == 0 || strcmp(type[c], "num") == 0 || strcmp(type[c], "pct") == 0 ||
			   strcmp(type[c], "money") == 0 ||
			   strcmp(type[c], "auto") == 0;
		txt[0][c] = fs_xstrdup(jv_string_value(name));
		for (char *p = txt[0][c]; *p; p++)
			*p = *p == '_' ? ' ' : (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		w[c] = dwidth(txt[0][c]);
		jv_free(name);
		jv_free(col);
	}
	for (int r = 0; r < nr; r++) {
		jv row = jv_array_get(jv_copy(rows), r);

		txt[r + 1] = calloc((size_t)nc, sizeof **txt);
		for (int c = 0; c < nc; c++) {
			char *s = cell(jv_array_get(jv_copy(row), c), type[c]), when[FS_REPORT_WHEN];

			if (s == NULL) {
				s = fs_xstrdup("-");
			} else if (strcmp(type[c], "key") == 0) {
				char *label = fs_xstrdup(fs_report_label(s));	/* CSV and JSON keep the key */

				free(s);
				s = label;
			} else if (strcmp(type[c], "time") == 0 && fs_report_when(s, when) == when) {
				memcpy(s, when, strlen(when) + 1);	/* never longer than s */
			}
			flatten(s);
			txt[r + 1][c] = s;
			if (dwidth(s) > w[c])
				w[c] = dwidth(s);
		}
		jv_free(row);
	}
	/* Narrow the widest text column until the table fits. */
	for (;;) {
		int widest = -1;

		total = 0;
		for (int c = 0; c < nc; c++) {
			total += w[c] + (c ? 2 : 0);
			if ((strcmp(type[c], "text") == 0 || strcmp(type[c], "json") == 0 || strcmp(type[c], "key") == 0) && w[c] > 8 && (widest < 0 || w[c] > w[widest]))
				widest = c;
		}
		if (total <= TEXT_WIDTH || widest < 0)
			break;
		w[widest]--;
	}
	if (nr > 0) {
		for (int r = 0; r <= nr; r++) {
			for (int c = 0; c < nc; c++) {
				if (c)
					fputs("  ", f);
				/* The last column is not padded: no trailing blanks. */
				if (c == nc - 1 && !right[c] && dwidth(txt[r][c]) <= w[c])
					fputs(txt[r][c], f);
				else
					put_cell(f, txt[r][c], w[c], right[c]);
			}
			fputc('\n', f);
		}
	} else {
		fprintf(f, "  (none: %s)\n", jv_get_kind(why) == JV_KIND_STRING ? jv_string_value(why) : "no rows");
	}
	if (jv_get_kind(note) == JV_KIND_STRING)
		fprintf(f, "  note: %s\n", jv_string_value(note));
	for (int r = 0; r <= nr; r++) {
		for (int c = 0; c < nc; c++)
			free(txt[r][c]);
		free(txt[r]);
	}
	free(txt);
	free(w);
	free(right);
	free(type);
	jv_free(cols);
	jv_free(rows);
	jv_free(title);
	jv_free(note);
	jv_free(why);
}

int
fs_report_text(jv rep, FILE *f)
{
	jv title = get(rep, "title"), from = get(rep, "from"), to = get(rep, "to"), why = get(rep, "empty");
	jv secs = get(rep, "sections"), name = get(rep, "report");
	char win[FS_REPORT_WINDOW];

	fprintf(f, "%s: %s, %s\n", jv_string_value(name), jv_string_value(title),
		fs_report_window(jv_string_value(from), jv_string_value(to), win));
	if (jv_get_kind(why) == JV_KIND_STRING) {
		fprintf(f, "\nnothing to report: %s\n", jv_string_value(why));
	} else {
		jv_array_foreach(secs, i, sec) {
			(void)i;
			fputc('\n', f);
			text_section(sec, f);
			jv_free(sec);
		}
	}
	jv_free(title);
	jv_free(from);
	jv_free(to);
	jv_free(why);
	jv_free(secs);
	jv_free(name);
	return ferror(f) ? -1 : 0;
}

/* The section's first JSON column (a changelog detail), or -1.  Consumes cols. */
static int
json_column(jv cols)
{
	int at = -1;

	jv_array_foreach(cols, c, col) {
		if (at < 0 && strcmp(col_type(col), "json") == 0)
			at = c;
		jv_free(col);
	}
	jv_free(cols);
	return at;
}

/* The spread keys' values out of obj (each deleted from it) onto out: a
 * scalar in its cell, an object or a list left in obj, as is a key not there. */
static jv
spread_values(jv out, jv *obj, jv spread)
{
	jv_array_foreach(spread, k, key) {
		jv name = jv_array_get(key, 0);
		jv v = jv_is_valid(*obj) ? fs_jget(*obj, jv_string_value(name)) : jv_invalid();
		jv_kind kind = jv_get_kind(v);

		(void)k;
		if (kind == JV_KIND_INVALID || kind == JV_KIND_OBJECT || kind == JV_KIND_ARRAY) {
			jv_free(v);
			v = jv_null();
		} else {
			*obj = jv_object_delete(*obj, jv_copy(name));
		}
		out = jv_array_append(out, v);
		jv_free(name);
	}
	return out;
}

/* One row with its JSON cell at jc spread: the spread keys' values in cells
 * of their own before it, and the JSON cell keeping the rest (empty when
 * nothing is left; as it was when it is not an object), so nothing is lost. */
static jv
spread_row(jv row, int jc, jv spread)
{
	jv out = jv_array();

	jv_array_foreach(row, c, v) {
		jv obj;

		if (c != jc) {
			out = jv_array_append(out, v);
			continue;
		}
		obj = jv_get_kind(v) == JV_KIND_STRING ? jv_parse(jv_string_value(v)) : jv_invalid();
		if (jv_get_kind(obj) != JV_KIND_OBJECT) {
			jv_free(obj);
			obj = jv_invalid();
		}
		out = spread_values(out, &obj, spread);
		if (!jv_is_valid(obj)) {
			out = jv_array_append(out, v);
		} else {
			char *rest = jv_object_length(jv_copy(obj)) ? fs_jdump(obj) : NULL;

			out = jv_array_append(out, rest ? jv_string(rest) : jv_null());
			free(rest);
			jv_free(v);
		}
		jv_free(obj);
	}
	jv_free(row);
	return out;
}

/*
 * CSV of a section with "spread" ([[key, type], ...]: the changelog's
 * entries): its JSON column's common keys as columns of their own, for a
 * spreadsheet, which cannot look inside a JSON cell.  The columns change
 * in place; a section without it is left as it is.
 */
static void
spread_section(jv sec, jv *cols, jv *rows)
{
	jv spread = get(sec, "spread"), c2 = jv_array(), r2 = jv_array();
	int jc = json_column(jv_copy(*cols));

	if (jv_get_kind(spread) != JV_KIND_ARRAY || jc < 0) {
		jv_free(spread);
		jv_free(c2);
		jv_free(r2);
		return;
	}
	jv_array_foreach(*cols, c, col) {
		if (c == jc)
			jv_array_foreach(spread, k, key) {
				(void)k;
				c2 = jv_array_append(c2, key);
			}
		c2 = jv_array_append(c2, col);
	}
	jv_array_foreach(*rows, r, row) {
		(void)r;
		r2 = jv_array_append(r2, spread_row(row, jc, spread));
	}
	jv_free(*cols);
	jv_free(*rows);
	jv_free(spread);
	*cols = c2;
	*rows = r2;
}

int
fs_report_csv(jv rep, const char *section, bool excel, FILE *f)
{
	jv secs = get(rep, "sections"), sec = jv_invalid(), cols, rows;
	int nc;

	jv_array_foreach(secs, i, s) {
		jv name = get(s, "name");

		(void)i;
		if (!jv_is_valid(sec) && (section == NULL || strcmp(jv_string_value(name), section) == 0)) {
			jv_free(sec);
			sec = jv_copy(s);
		}
		jv_free(name);
		jv_free(s);
	}
	jv_free(secs);
	if (!jv_is_valid(sec)) {
		jv_free(sec);
		/* An empty report has no sections: no header either, the reason goes to stderr. */
		return section ? -1 : 0;
	}
	cols = get(sec, "columns");
	rows = get(sec, "rows");
	spread_section(sec, &cols, &rows);
	nc = jv_array_length(jv_copy(cols));
	if (excel)
		fputs("\xEF\xBB\xBF", f);
	for (int c = 0; c < nc; c++) {
		jv name = jv_array_get(jv_array_get(jv_copy(cols), c), 0);

		if (c)
			fputc(',', f);
		fs_csv_fcell(f, jv_string_value(name));
		jv_free(name);
	}
	fputs("\r\n", f);
	jv_array_foreach(rows, r, row) {
		(void)r;
		for (int c = 0; c < nc; c++) {
			jv col = jv_array_get(jv_copy(cols), c);
			const char *type = col_type(col);
			char *s = cell(jv_array_get(jv_copy(row), c), type);

			/* 2026-11-30T01:02:03Z, or with an offset: Excel's own form, which has no zone. */
			if (excel && s && strcmp(type, "time") == 0 && (strlen(s) == 20 || strlen(s) == 25))
				s[10] = ' ', s[19] = '\0';
			if (c)
				fputc(',', f);
			fs_csv_fcell(f, s);
			free(s);
			jv_free(col);
		}
		fputs("\r\n", f);
		jv_free(row);
	}
	jv_free(cols);
	jv_free(rows);
	jv_free(sec);
	return ferror(f) ? -1 : 0;
}

static void
put_json(FILE *f, jv v)
{
	char *s = fs_jdump(v);

	fprintf(f, "%s\n", s);
	free(s);
	jv_free(v);
}

int
fs_report_ndjson(jv rep, FILE *f)
{
	jv head = jv_copy(rep), secs = get(rep, "sections"), names = jv_array();

	/* The header names each section with its row count, note and why it is empty. */
	jv_array_foreach(secs, i, sec) {
		(void)i;
		names = jv_array_append(names, JV_OBJECT(jv_string("name"), get(sec, "name"),
			jv_string("title"), get(sec, "title"), jv_string("rows"),
			jv_number(jv_array_length(get(sec, "rows"))), jv_string("note"), get(sec, "note"),
			jv_string("empty"), get(sec, "empty")));
		jv_free(sec);
	}
	head = jv_object_set(head, jv_string("sections"), names);
	put_json(f, head);
	jv_array_foreach(secs, i, sec) {
		jv cols = get(sec, "columns"), rows = get(sec, "rows"), name = get(sec, "name");

		(void)i;
		jv_array_foreach(rows, r, row) {
			jv o = JV_OBJECT(jv_string("section"), jv_copy(name));

			(void)r;
			jv_array_foreach(cols, c, col) {
				jv v = jv_array_get(jv_copy(row), c);

				/* JSON text (a changelog detail) goes out as the object it is. */
				if (strcmp(col_type(col), "json") == 0 && jv_get_kind(v) == JV_KIND_STRING) {
					jv p = jv_parse(jv_string_value(v));

					if (jv_is_valid(p)) {
						jv_free(v);
						v = p;
					} else {
						jv_free(p);
					}
				}
				o = jv_object_set(o, jv_array_get(jv_copy(col), 0), v);
				jv_free(col);
			}
			put_json(f, o);
			jv_free(row);
		}
		jv_free(cols);
		jv_free(rows);
		jv_free(name);
		jv_free(sec);
	}
	jv_free(secs);
	return ferror(f) ? -1 : 0;
}

int
fs_report_only(jv *rep, const char *section)
{
	jv secs = get(*rep, "sections"), keep = jv_array();
	int found = 0;

	jv_array_foreach(secs, i, sec) {
		jv name = get(sec, "name");

		(void)i;
		if (strcmp(jv_string_value(name), section) == 0) {
			keep = jv_array_append(keep, jv_copy(sec));
			found = 1;
		}
		jv_free(name);
		jv_free(sec);
	}
	jv_free(secs);
	*rep = jv_object_set(*rep, jv_string("sections"), keep);
	return found ? 0 : -1;
}
