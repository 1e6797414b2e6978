/*
 * The connectors (lib/vendors/), one a vendor: a command asks for a kind
 * and calls what its connector has (lib/vendors.h).  A new vendor is a file
 * in lib/vendors/ and a line here.
 */
#include <string.h>

#include "vendors.h"

static const struct fs_vendor *const vendors[] = {
	&fs_vendor_hubspot,
	&fs_vendor_lob_events,
	&fs_vendor_csv,
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

const struct fs_vendor *
fs_vendor_at(int i)
{
	return i >= 0 && i < (int)(sizeof vendors / sizeof vendors[0]) ? vendors[i] : NULL;
}
