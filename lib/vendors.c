/*
 * The connectors (lib/vendors/), one a vendor: a command asks for a kind
 * and calls what its connector has (lib/vendors.h).  A new vendor is a file
 * in lib/vendors/ and a line here.
 */
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

static const struct fs_vendor *const vendors[] = {
	&fs_vendor_hubspot,
	&fs_vendor_lob_events,
	&fs_vendor_lob,
	&fs_vendor_csv,
	&fs_vendor_jobber,
	&fs_vendor_quickbooks,
	&fs_vendor_sheets,
	&fs_vendor_servicetitan,
	&fs_vendor_postcardmania_events,
	&fs_vendor_postcardmania,
	NULL,
};

const struct fs_vendor *
fs_vendor_find(const char *kind)
{
	for (int i = 0; kind && vendors[i]; i++)
		if (strcmp(vendors[i]->kind, kind) == 0)
			return vendors[i];
	return NULL;
}

/* Whether it has something fs-pull can run: a push-only connector (kind lob) has not. */
bool
fs_vendor_pulls(const struct fs_vendor *v)
{
	return v->start || v->describe || v->inbox || v->pull || v->poll || v->read;
}

/* A file source's read describes what its rows map to (CSV). */
bool
fs_vendor_describes(const struct fs_vendor *v)
{
	return v->describe != NULL || (v->flags & FS_VENDOR_FILE);
}

bool
fs_vendor_pushes(const struct fs_vendor *v)
{
	return v->create || v->write_back;
}

bool
fs_vendor_creates(const struct fs_vendor *v)
{
	return v->create != NULL;
}

bool
fs_vendor_takes(const char *target_kind, const char *kind)
{
	const struct fs_vendor *v = fs_vendor_find(target_kind);

	for (int i = 0; v && v->takes && v->takes[i]; i++)
		if (strcmp(v->takes[i], kind) == 0)
			return true;
	return false;
}

bool
fs_kind_targeted(const char *kind)
{
	for (int i = 0; vendors[i]; i++)
		if (fs_vendor_takes(vendors[i]->kind, kind))
			return true;
	return false;
}

/* The kinds of the connectors that have what has asks for, for messages: "hubspot or lob". */
char *
fs_vendor_kinds(bool (*has)(const struct fs_vendor *))
{
	struct fs_buf b = {0};
	int left = 0, i;

	for (i = 0; vendors[i]; i++)
		left += has(vendors[i]);
	fs_buf_adds(&b, "");
	for (i = 0; vendors[i]; i++)
		if (has(vendors[i])) {
			left--;	/* those after this one */
			fs_buf_addf(&b, "%s%s", vendors[i]->kind, left > 1 ? ", " : left == 1 ? " or " : "");
		}
	return b.data;
}

const struct fs_vendor *
fs_vendor_at(int i)
{
	return i >= 0 && i < (int)(sizeof vendors / sizeof vendors[0]) ? vendors[i] : NULL;
}
