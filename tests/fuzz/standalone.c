/*
 * A main for the fuzz harnesses without libFuzzer: runs the harness once
 * over each file named on the command line (a directory stands for the
 * files in it), so that make check replays the seed corpora and every kept
 * crash input with nothing but cc.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static long runs;

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		fprintf(stderr, "standalone: cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if ((buf = realloc(buf, cap)) == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		fprintf(stderr, "standalone: cannot read '%s': %s\n", path, strerror(errno));
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* A copy of exactly len bytes, so that ASan sees a read past the end. */
	unsigned char *exact = malloc(len ? len : 1);

	if (exact == NULL)
		abort();
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	runs++;
	return 0;
}

static int
run_path(const char *path)
{
	struct stat sb;
	struct dirent **ents;
	int n, rc = 0;

	if (stat(path, &sb) != 0) {
		fprintf(stderr, "standalone: cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode))
		return run_file(path);
	if ((n = scandir(path, &ents, NULL, alphasort)) < 0) {
		fprintf(stderr, "standalone: cannot read '%s': %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			char *p = malloc(strlen(path) + strlen(ents[i]->d_name) + 2);

			if (p == NULL)
				abort();
			sprintf(p, "%s/%s", path, ents[i]->d_name);
			if (run_path(p) != 0)
				rc = -1;
			free(p);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc = 0;

	for (int i = 1; i < argc; i++)
		if (run_path(argv[i]) != 0)
			rc = 1;
	printf("%ld inputs\n", runs);
	return rc;
}
