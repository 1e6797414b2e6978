/*
 * Prints the settings table (lib/settings.c), one key a line:
 *
 *   SECTION <tab> KEY <tab> KINDS <tab> DEFAULT
 *
 * KINDS comma-separated, "-" for a section without kinds; DEFAULT as the
 * table has it, "-" for none.  A key whose default differs by kind has a
 * line per default.  Families the file may not name are left out.
 * tests/03-config.t holds man/fieldsync.7 to it.
 */
#include "fieldsync.h"

int
main(void)
{
	static const char *const kinds[] = {"hubspot", "lob-events", "csv", "lob", "jobber", "quickbooks", "sheets",
					     "servicetitan", "postcardmania", "postcardmania-events"};

	for (const struct fs_setting *s = fs_settings; s->section; s++) {
		const char *sep = "";

		if (s->flags & FS_SET_HIDDEN)
			continue;
		printf("%s\t%s\t", s->section, s->key);
		for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			if (fs_kind_bit(kinds[i]) & s->kinds) {
				printf("%s%s", sep, kinds[i]);
				sep = ",";
			}
		printf("%s\t%s\n", *sep ? "" : "-", s->def ? s->def : "-");
	}
	return ferror(stdout) || fflush(stdout) != 0;
}
