/*
 * pg-sql: SQL on standard input (SQLite's), printed as lib/state_pg.c
 * rewrites it for PostgreSQL (fs_pg_rewrite: not INSERT OR REPLACE, which
 * needs the catalog).  tests/pg.sh's pg_sql passes the tests' own queries
 * through it, so that they are read as lib/'s are.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fieldsync.h"
#include "../../lib/state_pg.h"

int
main(void)
{
	char *sql = NULL, *out;
	size_t cap = 0, len = 0, n;
	int nparams;

	do {
		sql = realloc(sql, cap += 65536);
		if (sql == NULL)
			return 1;
		n = fread(sql + len, 1, cap - len - 1, stdin);
		len += n;
	} while (n > 0);
	sql[len] = '\0';
	out = fs_pg_rewrite(sql, &nparams);
	fputs(out, stdout);
	free(out);
	free(sql);
	return ferror(stdout) ? 1 : 0;
}
