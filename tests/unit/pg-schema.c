/*
 * Prints schema migrations as a script, for tests/92-pg-schema.t:
 *
 *   pg-schema pg FROM TO       fs_pg_migrations[FROM..TO-1], for psql
 *   pg-schema sqlite FROM TO   fs_migrations[FROM..TO-1], then
 *                              PRAGMA user_version = TO, for sqlite3
 *
 * Each migration on lines of its own after a comment naming it.  Exits 2
 * on bad arguments (a range past the last migration included).
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

static int
number(const char *s, int *n)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0 || v > 1000)
		return -1;
	*n = (int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *const *m;
	int count, from, to;
	bool pg;

	if (argc != 4 || (strcmp(argv[1], "pg") != 0 && strcmp(argv[1], "sqlite") != 0) ||
	    number(argv[2], &from) != 0 || number(argv[3], &to) != 0)
		goto usage;
	pg = strcmp(argv[1], "pg") == 0;
	m = pg ? fs_pg_migrations : fs_migrations;
	count = pg ? fs_pg_nmigrations : fs_nmigrations;
	if (from > to || to > count)
		goto usage;
	for (int i = from; i < to; i++)
		printf("-- migration %d -> %d\n%s\n", i, i + 1, m[i]);
	if (!pg)
		printf("PRAGMA user_version = %d;\n", to);
	return ferror(stdout) || fflush(stdout) != 0;
usage:
	fprintf(stderr, "usage: pg-schema pg|sqlite FROM TO (0 <= FROM <= TO <= %d|%d)\n", fs_pg_nmigrations,
		fs_nmigrations);
	return 2;
}
