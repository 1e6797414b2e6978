/*
 * fs-suppress: the do-not-mail list.  Contacts and addresses on it get no
 * piece, whatever campaign triggers them: fs-push checks it before any
 * request, with the CRM's own do-not-mail flag and the addresses the vendor
 * returned as undeliverable (which join the list by themselves).
 */
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-suppress [-qvV] [-c config] [-s state] add (--contact id | --address text) [--reason text]\n"
		   "       fs-suppress remove (--contact id | --address text)\n"
		   "       fs-suppress list [--format text|csv|ndjson]\n"
		   "       fs-suppress import file.csv\n");
	exit(status);
}

/* The entry --contact or --address names: kind, normalised value, as given. */
struct entry {
	const char *kind;
	char *value;
	const char *shown;
};

static int
entry_of(const char *contact, const char *address, struct entry *e)
{
	memset(e, 0, sizeof *e);
	if ((contact != NULL) == (address != NULL)) {
		fs_err("give --contact ID or --address TEXT, one of them");
		return -1;
	}
	if (contact) {
		if (*contact == '\0') {
			fs_err("--contact: empty contact id");
			return -1;
		}
		e->kind = "contact";
		e->value = fs_xstrdup(contact);
		e->shown = contact;
		return 0;
	}
	e->kind = "address";
	e->shown = address;
	if ((e->value = fs_address_key_text(address)) == NULL) {
		fs_err("--address: '%s' is no address to mail: want 'LINE1[, LINE2], CITY, REGION ZIP', with a house number, and a ZIP or a town", address);
		return -1;
	}
	return 0;
}

static int
change(struct fs_cli *cli, bool add, const char *contact, const char *address, const char *reason)
{
	struct entry e;
	int rc;

	if (entry_of(contact, address, &e) != 0)
		return FS_EXIT_USAGE;
	if (fs_cli_state(cli) != 0 || fs_state_begin(&cli->st) != 0) {
		free(e.value);
		return FS_EXIT_STATE;
	}
	if (add) {
		struct fs_suppression s = {.kind = e.kind, .value = e.value, .shown = e.shown, .reason = reason,
					   .origin = "manual"};

		rc = fs_suppress_add(&cli->st, &s, cli->run_id);
	} else {
		rc = fs_suppress_remove(&cli->st, e.kind, e.value, cli->run_id);
	}
	if (rc < 0 || fs_state_commit(&cli->st) != 0) {
		fs_state_rollback(&cli->st);
		free(e.value);
		return FS_EXIT_STATE;
	}
	if (add)
		printf("%s %s %s\n", rc ? "suppressed" : "already suppressed:", e.kind, e.value);
	else if (rc)
		printf("removed %s %s\n", e.kind, e.value);
	else
		fs_err("remove: %s '%s' is not on the list", e.kind, e.value);
	free(e.value);
	return add || rc ? FS_EXIT_OK : FS_EXIT_USAGE;
}

struct listing {
	enum { TEXT, CSV, NDJSON } format;
	long n;
};

static int
list_row(const struct fs_suppression *s, void *ctx)
{
	struct listing *l = ctx;
	struct fs_buf b = {0};

	l->n++;
	switch (l->format) {
	case TEXT:
		printf("%-8s %-40s %-9s %-20s %s\n", s->kind, s->value, s->origin, s->added_at,
		       s->reason ? s->reason : "");
		break;
	case CSV: {
		const char *cells[] = {s->kind, s->value, s->shown, s->origin, s->added_at, s->reason};

		for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
			if (i)
				fs_buf_addc(&b, ',');
			fs_csv_cell(&b, cells[i], cells[i] ? strlen(cells[i]) : 0);
		}
		printf("%s\r\n", b.data ? b.data : "");
		break;
	}
	case NDJSON: {
		jv o = jv_object();
		char *line;

		o = jv_object_set(o, jv_string("kind"), jv_string(s->kind));
		o = jv_object_set(o, jv_string("value"), jv_string(s->value));
		o = jv_object_set(o, jv_string("shown"), jv_string(s->shown));
		o = jv_object_set(o, jv_string("origin"), jv_string(s->origin));
		o = jv_object_set(o, jv_string("added_at"), jv_string(s->added_at));
		o = jv_object_set(o, jv_string("reason"), s->reason ? jv_string(s->reason) : jv_null());
		line = fs_jdump(o);
		printf("%s\n", line);
		free(line);
		jv_free(o);
		break;
	}
	}
	fs_buf_free(&b);
	return 0;
}

static int
list(struct fs_cli *cli, const char *format)
{
	struct listing l = {0};

	if (format == NULL || strcmp(format, "text") == 0)
		l.format = TEXT;
	else if (strcmp(format, "csv") == 0)
		l.format = CSV;
	else if (strcmp(format, "ndjson") == 0)
		l.format = NDJSON;
	else {
		fs_err("--format must be text, csv or ndjson, not '%s'", format);
		return FS_EXIT_USAGE;
	}
	if (fs_cli_state(cli) != 0)
		return FS_EXIT_STATE;
	if (l.format == TEXT)
		printf("%-8s %-40s %-9s %-20s %s\n", "KIND", "VALUE", "ORIGIN", "ADDED", "REASON");
	else if (l.format == CSV)
		printf("kind,value,shown,origin,added_at,reason\r\n");
	return fs_suppress_each(&cli->st, list_row, &l) != 0 ? FS_EXIT_STATE : FS_EXIT_OK;
}

/* import: a header row naming its columns, then one entry a row. */
struct import {
	struct fs_cli *cli;
	const char *path;
	int col[9];		/* contact_id address line1 line2 city region postal_code reason (-1: none) */
	long added, listed, bad;
	int rc;
};
enum { C_CONTACT, C_ADDRESS, C_LINE1, C_LINE2, C_CITY, C_REGION, C_POSTAL, C_REASON, NCOL };
/* Header names as spreadsheets write them: "Contact ID", "Zip Code" and
 * "address_line_1" all match, case, spaces, dots and hyphens aside. */
static const char *const col_names[NCOL][5] = {
	{"contact_id", "contact", "id", "customer_id", NULL}, {"address", "full_address", NULL},
	{"line1", "address1", "address_line_1", "street", "street_address"},
	{"line2", "address2", "address_line_2", NULL}, {"city", "town", NULL},
	{"region", "state", "province", NULL}, {"postal_code", "zip", "zip_code", "postcode", NULL},
	{"reason", "note", NULL},
};

/* "Contact ID " -> "contact_id" */
static void
header_name(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; *in && n + 1 < size; in++) {
		unsigned char ch = (unsigned char)*in;

		if (isalnum(ch))
			out[n++] = (char)tolower(ch);
		else if (n > 0 && out[n - 1] != '_')
			out[n++] = '_';
	}
	while (n > 0 && out[n - 1] == '_')
		n--;
	out[n] = '\0';
}

static const char *
cell(const struct fs_csv_row *row, const struct import *im, int c)
{
	return im->col[c] >= 0 && im->col[c] < row->nfields && *fs_csv_field(row, im->col[c])
	    ? fs_csv_field(row, im->col[c]) : NULL;
}

static int
import_row(const struct fs_csv_row *row, void *ctx)
{
	struct import *im = ctx;
	struct fs_suppression s = {.origin = "import"};
	char *value = NULL;
	int rc;

	if (row->rowno == 1) {
		for (int c = 0; c < NCOL; c++)
			im->col[c] = -1;
		for (int i = 0; i < row->nfields; i++) {
			char name[64];

			header_name(fs_csv_field(row, i), name, sizeof name);
			for (int c = 0; c < NCOL; c++)
				for (int k = 0; k < 5 && col_names[c][k]; k++)
					if (im->col[c] < 0 && strcmp(name, col_names[c][k]) == 0)
						im->col[c] = i;
		}
		if (im->col[C_CONTACT] < 0 && im->col[C_ADDRESS] < 0 && im->col[C_LINE1] < 0) {
			fs_err("import: '%s': the header names no contact_id, address or line1 column", im->path);
			im->rc = FS_EXIT_USAGE;
			return -1;
		}
		return 0;
	}
	s.reason = cell(row, im, C_REASON);
	if (cell(row, im, C_CONTACT)) {
		s.kind = "contact";
		value = fs_xstrdup(cell(row, im, C_CONTACT));
		s.shown = value;
	} else if (cell(row, im, C_ADDRESS)) {
		s.kind = "address";
		s.shown = cell(row, im, C_ADDRESS);
		value = fs_address_key_text(s.shown);
	} else if (cell(row, im, C_LINE1) && strpbrk(cell(row, im, C_LINE1), "0123456789")) {
		/* As for --address: a street line without a house number is no door. */
		s.kind = "address";
		s.shown = cell(row, im, C_LINE1);
		value = fs_address_key(cell(row, im, C_LINE1), cell(row, im, C_LINE2), cell(row, im, C_CITY),
				       cell(row, im, C_REGION), cell(row, im, C_POSTAL));
	}
	if (value == NULL) {
		fs_err("import: '%s' row %ld: neither a contact id nor an address", im->path, row->rowno);
		im->bad++;
		return 0;
	}
	s.value = value;
	rc = fs_suppress_add(&im->cli->st, &s, im->cli->run_id);
	free(value);
	if (rc < 0) {
		im->rc = FS_EXIT_STATE;
		return -1;
	}
	if (rc)
		im->added++;
	else
		im->listed++;
	return 0;
}

static int
import(struct fs_cli *cli, const char *path)
{
	struct import im = {.cli = cli, .path = path, .rc = FS_EXIT_OK};
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fs_err("import: cannot open '%s':", path);
		return FS_EXIT_USAGE;
	}
	if (fs_cli_state(cli) != 0 || fs_state_begin(&cli->st) != 0) {
		if (fd != STDIN_FILENO)
			close(fd);
		return FS_EXIT_STATE;
	}
	/* One transaction: a list half imported is no list. */
	if (fs_csv_read(fd, import_row, &im) != 0 && im.rc == FS_EXIT_OK)
		im.rc = FS_EXIT_USAGE;
	if (fd != STDIN_FILENO)
		close(fd);
	if (im.rc != FS_EXIT_OK || fs_state_commit(&cli->st) != 0) {
		fs_state_rollback(&cli->st);
		return im.rc != FS_EXIT_OK ? im.rc : FS_EXIT_STATE;
	}
	printf("%ld added, %ld listed already, %ld rows without a contact or an address\n", im.added, im.listed,
	       im.bad);
	return im.bad ? FS_EXIT_USAGE : FS_EXIT_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"address", required_argument, NULL, 'a'},
		{"contact", required_argument, NULL, 'C'},
		{"format", required_argument, NULL, 'f'},
		{"reason", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	struct fs_cli cli;
	const char *address = NULL, *contact = NULL, *format = NULL, *reason = NULL, *sub;
	int opt, rc;

	fs_cli_init(&cli, "fs-suppress");
	while ((opt = getopt_long(argc, argv, FS_CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
		if (fs_cli_option(&cli, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'a':
			address = optarg;
			break;
		case 'C':
			contact = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		default:
			usage(stderr, FS_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	if (argc < 1)
		usage(stderr, FS_EXIT_USAGE);
	sub = argv[0];
	if (strcmp(sub, "add") == 0 && argc == 1 && !format)
		rc = change(&cli, true, contact, address, reason);
	else if (strcmp(sub, "remove") == 0 && argc == 1 && !format && !reason)
		rc = change(&cli, false, contact, address, NULL);
	else if (strcmp(sub, "list") == 0 && argc == 1 && !contact && !address && !reason)
		rc = list(&cli, format);
	else if (strcmp(sub, "import") == 0 && argc == 2 && !contact && !address && !reason && !format)
		rc = import(&cli, argv[1]);
	else if (strcmp(sub, "add") && strcmp(sub, "remove") && strcmp(sub, "list") && strcmp(sub, "import")) {
		fs_err("unknown subcommand '%s'", sub);
		usage(stderr, FS_EXIT_USAGE);
	} else {
		usage(stderr, FS_EXIT_USAGE);
	}
	return fs_cli_finish(&cli, rc);
}
