/*
 * fs-dedupe scan: contacts that are probably the same person, from the
 * stored contacts and any contact.changed events on standard input, as
 * NDJSON, text or CSV (lib/scan.c finds the sets; this reads the input and
 * writes them out).  Report only: the CRM merges.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

enum scan_format { SCAN_NDJSON, SCAN_TEXT, SCAN_CSV };

struct scan {
	struct fs_cli *cli;
	struct fs_scan *s;
	enum scan_format format;
	const char *scan_id;
	long sets, dead;
	fs_time now;
};

static int
add_stored(const char *const f[FS_CONTACT_NFIELDS], void *ctx)
{
	struct scan *sc = ctx;
	const char *g[FS_CONTACT_NFIELDS];
	char *id = fs_xasprintf("contact:%s", f[FS_CONTACT_ID]);

	memcpy(g, f, sizeof g);
	g[FS_CONTACT_ID] = id;
	fs_scan_add(sc->s, g);
	free(id);
	return 0;
}

static int
scan_reject(struct scan *sc, const char *line, size_t len, long lineno, const char *reason)
{
	struct fs_dead dd = {0};

	fs_err("line %ld: %s", lineno, reason);
	sc->dead++;
	dd.command = fs_progname;
	dd.run_id = sc->cli->run_id;
	dd.reason = reason;
	dd.bytes = line;
	dd.len = len;
	dd.lineno = lineno;
	return fs_dlq_add(&sc->cli->st, &dd) < 0 ? -1 : 0;
}

/*
 * Standard input, read whole into memory (*buf, *len; NULL when it is a
 * terminal or empty) before the scan takes the state's write lock: in
 * "fs-normalize | fs-dedupe scan" the stage upstream writes the state as it
 * goes, and would wait for our lock while we waited for its lines, until
 * its busy timeout failed it.
 */
static int
slurp_stdin(char **buf, size_t *len)
{
	FILE *mem;
	char chunk[65536];
	size_t n;

	*buf = NULL;
	*len = 0;
	if (isatty(STDIN_FILENO))
		return 0;
	if ((mem = open_memstream(buf, len)) == NULL) {
		fs_err("cannot buffer standard input:");
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		fwrite(chunk, 1, n, mem);
	if (ferror(stdin) || fclose(mem) != 0) {
		fs_err("cannot read standard input:");
		free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

/* contact.changed events (in buf, len bytes) join (and override) the stored contacts. */
static int
add_stdin(struct scan *sc, char *buf, size_t buflen)
{
	FILE *in = fmemopen(buf, buflen, "r");
	char *line = NULL, seen[21];
	size_t cap = 0, pos;
	ssize_t len;
	long lineno = 0;
	int rc = 0;

	if (in == NULL) {
		fs_err("cannot read standard input:");
		return -1;
	}
	fs_time_format(sc->now, seen);
	while (rc == 0 && (len = getline(&line, &cap, in)) > 0) {
		const char *why;
		jv ev, data, addr;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strspn(line, " \t") == (size_t)len)
			continue;
		if (!fs_utf8_valid(line, (size_t)len, &pos)) {
			char reason[64];

			snprintf(reason, sizeof reason, "invalid UTF-8 at byte %zu", pos + 1);
			rc = scan_reject(sc, line, (size_t)len, lineno, reason);
			continue;
		}
		if ((why = fs_json_check(line, (size_t)len, &pos)) != NULL) {
			char reason[128];

			snprintf(reason, sizeof reason, "%s at byte %zu", why, pos + 1);
			rc = scan_reject(sc, line, (size_t)len, lineno, reason);
			continue;
		}
		ev = jv_parse_sized(line, (int)len);
		if (jv_get_kind(ev) != JV_KIND_OBJECT) {
			rc = scan_reject(sc, line, (size_t)len, lineno, "not a JSON object");
			jv_free(ev);
			continue;
		}
		if (fs_jstr(ev, "type") == NULL || strcmp(fs_jstr(ev, "type"), "event") != 0 ||
		    fs_jstr(ev, "kind") == NULL || strcmp(fs_jstr(ev, "kind"), "contact.changed") != 0) {
			jv_free(ev);	/* other lines say nothing about contacts */
			continue;
		}
		data = fs_jget(ev, "data");
		if (fs_jstr(data, "id") == NULL) {
			rc = scan_reject(sc, line, (size_t)len, lineno, "contact.changed: missing \"data.id\"");
		} else {
			const char *f[FS_CONTACT_NFIELDS];
			char *id = fs_xasprintf("contact:%s", fs_jstr(data, "id"));

			addr = fs_jget(data, "address");
			f[FS_CONTACT_ID] = id;
			f[FS_CONTACT_EMAIL] = fs_jstr(data, "email");
			f[FS_CONTACT_PHONE] = fs_jstr(data, "phone");
			f[FS_CONTACT_FIRST] = fs_jstr(data, "first_name");
			f[FS_CONTACT_LAST] = fs_jstr(data, "last_name");
			f[FS_CONTACT_LINE1] = fs_jstr(addr, "line1");
			f[FS_CONTACT_CITY] = fs_jstr(addr, "city");
			f[FS_CONTACT_REGION] = fs_jstr(addr, "region");
			f[FS_CONTACT_POSTAL] = fs_jstr(addr, "postal_code");
			f[FS_CONTACT_SEEN] = seen;
			fs_scan_add(sc->s, f);
			free(id);
			jv_free(addr);
		}
		jv_free(data);
		jv_free(ev);
	}
	free(line);
	fclose(in);
	return rc;
}

static jv
reasons_json(unsigned why)
{
	jv r = jv_array();

	if (why & FS_REASON_EMAIL)
		r = jv_array_append(r, jv_string("email"));
	if (why & FS_REASON_PHONE)
		r = jv_array_append(r, jv_string("phone"));
	if (why & FS_REASON_NAME_ADDRESS)
		r = jv_array_append(r, jv_string("name+address"));
	return r;
}

/* Text for a terminal: a control byte from the CRM (an escape sequence) shows as '?'. */
static void
add_printable(struct fs_buf *b, const char *s)
{
	for (; s && *s; s++)
		fs_buf_addc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/* Parts that are there, each after sep (none before the first); 0 when none. */
static int
add_parts(struct fs_buf *b, const char *sep, const char *const *parts, int n)
{
	int added = 0;

	for (int i = 0; i < n; i++) {
		if (parts[i] == NULL)
			continue;
		if (added++)
			fs_buf_adds(b, sep);
		add_printable(b, parts[i]);
	}
	return added;
}

/*
 * One member for a person to read: "contact:1: Bill Smith; 12 Oak St,
 * Springfield, IL 62701; bill@example.com; 217-555-0101", a missing part
 * said so, so that the analyst can find the record in the CRM by what it
 * holds.
 */
static void
text_member(struct fs_buf *b, const char *id, const char *const *f)
{
	const char *name[] = {f[FS_CONTACT_FIRST], f[FS_CONTACT_LAST]};
	const char *town[] = {f[FS_CONTACT_REGION], f[FS_CONTACT_POSTAL]};
	struct fs_buf place = {0};
	const char *addr[3];

	fs_buf_adds(&place, "");
	add_parts(&place, " ", town, 2);
	addr[0] = f[FS_CONTACT_LINE1];
	addr[1] = f[FS_CONTACT_CITY];
	addr[2] = place.len ? place.data : NULL;
	fs_buf_adds(b, "  ");
	add_printable(b, id);
	fs_buf_adds(b, ": ");
	if (add_parts(b, " ", name, 2) == 0)
		fs_buf_adds(b, "(no name)");
	fs_buf_adds(b, "; ");
	if (add_parts(b, ", ", addr, 3) == 0)
		fs_buf_adds(b, "(no address)");
	fs_buf_adds(b, "; ");
	add_printable(b, f[FS_CONTACT_EMAIL] ? f[FS_CONTACT_EMAIL] : "(no e-mail)");
	fs_buf_adds(b, "; ");
	add_printable(b, f[FS_CONTACT_PHONE] ? f[FS_CONTACT_PHONE] : "(no phone)");
	fs_buf_addc(b, '\n');
	fs_buf_free(&place);
}

/* The CSV columns: one row a member, the set's number, score and reasons on each. */
static const char *const csv_header =
	"set,score,reasons,member,first_name,last_name,line1,city,region,postal_code,email,phone";
static const int csv_fields[] = {
	FS_CONTACT_FIRST, FS_CONTACT_LAST, FS_CONTACT_LINE1, FS_CONTACT_CITY, FS_CONTACT_REGION,
	FS_CONTACT_POSTAL, FS_CONTACT_EMAIL, FS_CONTACT_PHONE,
};

/* Every cell through fs_csv_cell: names and addresses come from the CRM, and
 * "=HYPERLINK(...)" in a first name must not run in the analyst's spreadsheet. */
static void
csv_member(struct fs_buf *b, long set, const char *score, const char *why, const char *id,
	   const char *const *f)
{
	fs_buf_addf(b, "%ld,%s,", set, score);
	fs_csv_cell(b, why, strlen(why));
	fs_buf_addc(b, ',');
	fs_csv_cell(b, id, strlen(id));
	for (size_t i = 0; i < sizeof csv_fields / sizeof csv_fields[0]; i++) {
		const char *v = f[csv_fields[i]];

		fs_buf_addc(b, ',');
		fs_csv_cell(b, v, v ? strlen(v) : 0);
	}
	fs_buf_adds(b, "\r\n");
}

static int
on_set(const struct fs_dupset *set, void *ctx)
{
	struct scan *sc = ctx;
	jv members = jv_array(), reasons = reasons_json(set->reasons), o;
	struct fs_buf why = {0}, out = {0};
	char *m, *r, score[16];
	int rc;

	for (int i = 0; i < set->n; i++)
		members = jv_array_append(members, jv_string(set->members[i]));
	m = fs_jdump(members);
	r = fs_jdump(reasons);
	rc = fs_duplicate_set_store(&sc->cli->st, sc->scan_id, m, set->score, r, sc->now);
	sc->sets++;
	fs_buf_adds(&why, "");
	jv_array_foreach(reasons, i, w) {
		fs_buf_addf(&why, "%s%s", i ? ", " : "", jv_string_value(w));
		jv_free(w);
	}
	snprintf(score, sizeof score, "%.2f", set->score);
	fs_buf_adds(&out, "");
	switch (sc->format) {
	case SCAN_TEXT:
		fs_buf_addf(&out, "%sset %ld: score %s, matched on %s\n", sc->sets > 1 ? "\n" : "", sc->sets, score,
			    why.data);
		for (int i = 0; i < set->n; i++)
			text_member(&out, set->members[i], set->fields[i]);
		break;
	case SCAN_CSV:
		for (int i = 0; i < set->n; i++)
			csv_member(&out, sc->sets, score, why.data, set->members[i], set->fields[i]);
		break;
	case SCAN_NDJSON:
		o = jv_object_set(jv_object(), jv_string("type"), jv_string("duplicate_set"));
		o = jv_object_set(o, jv_string("members"), members);
		o = jv_object_set(o, jv_string("score"), jv_number(set->score));
		o = jv_object_set(o, jv_string("reasons"), reasons);
		members = jv_invalid();
		reasons = jv_invalid();
		free(m);
		m = fs_jdump(o);
		fs_buf_addf(&out, "%s\n", m);
		jv_free(o);
		break;
	}
	fwrite(out.data, 1, out.len, stdout);
	jv_free(members);
	jv_free(reasons);
	fs_buf_free(&why);
	fs_buf_free(&out);
	free(m);
	free(r);
	return rc;
}

int
fs_dedupe_scan(struct fs_cli *cli, const char *from_opt, const char *format)
{
	struct scan sc = {0};
	char from[21], *scan_id, *input;
	size_t input_len;
	fs_time t;
	int rc, scanned;
	jv detail;

	sc.cli = cli;
	if (format == NULL || strcmp(format, "ndjson") == 0) {
		sc.format = SCAN_NDJSON;
	} else if (strcmp(format, "text") == 0) {
		sc.format = SCAN_TEXT;
	} else if (strcmp(format, "csv") == 0) {
		sc.format = SCAN_CSV;
	} else {
		fs_err("--format: must be ndjson, text or csv, not '%s'", format);
		return FS_EXIT_USAGE;
	}
	if (from_opt) {
		if (fs_cli_time(cli, "--from", from_opt, false, &t) != 0)
			return FS_EXIT_USAGE;
		fs_time_format(t, from);
	}
	if (fs_cli_state(cli) != 0)
		return FS_EXIT_STATE;
	if (slurp_stdin(&input, &input_len) != 0)
		return FS_EXIT_STATE;
	sc.now = fs_now();
	scan_id = fs_xasprintf("scan_%s", cli->run_id + 4);
	sc.scan_id = scan_id;
	sc.s = fs_scan_new();
	if (fs_state_begin(&cli->st) != 0)
		goto fail;
	if (fs_contacts_each(&cli->st, add_stored, &sc) != 0)
		goto fail;
	if (input_len > 0 && add_stdin(&sc, input, input_len) != 0)
		goto fail;
	scanned = fs_scan_size(sc.s);
	if (sc.format == SCAN_CSV)
		printf("%s\r\n", csv_header);
	if (fs_scan_run(sc.s, from_opt ? from : NULL, on_set, &sc) != 0)
		goto fail;
	if (sc.format == SCAN_TEXT && sc.sets == 0)
		printf("no duplicate sets\n");
	detail = jv_object_set(jv_object(), jv_string("scan_id"), jv_string(scan_id));
	detail = jv_object_set(detail, jv_string("scanned"), jv_number(scanned));
	detail = jv_object_set(detail, jv_string("sets"), jv_number((double)sc.sets));
	if (from_opt)
		detail = jv_object_set(detail, jv_string("from"), jv_string(from));
	if (fs_changelog(&cli->st, "dedupe.scan", cli->run_id, NULL, NULL, detail) != 0 ||
	    fs_state_commit(&cli->st) != 0)
		goto fail;
	fs_debug("%d contacts scanned, %ld duplicate sets", scanned, sc.sets);
	rc = sc.dead ? FS_EXIT_DLQ : FS_EXIT_OK;
	fs_scan_free(sc.s);
	free(scan_id);
	free(input);
	return rc;
fail:
	fs_state_rollback(&cli->st);
	fs_scan_free(sc.s);
	free(scan_id);
	free(input);
	return FS_EXIT_STATE;
}

