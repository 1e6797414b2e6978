/*
 * The INI config parser: fs_config_load on the input (an in-memory file
 * opened by its /proc path), then what commands do with a loaded config:
 * --print-config, endpoint lookup, and the duration, business-day and
 * holiday values read from it.
 *
 * Properties: a loaded config has no NUL-or-blank section type, no empty
 * key, keys and values trimmed; a failed load leaves the config empty;
 * --print-config never prints the value of a key that is not safe.
 */
#include <ctype.h>

#include "fieldsync.h"
#include "fuzz.h"

static void
use_value(const char *v)
{
	int64_t secs;
	int days;
	struct fs_holidays h;

	fs_duration_parse(v, &secs);
	fs_bizdays_parse(v, &days);
	fs_holidays_parse(v, &h);
	fs_time_valid(v);
}

static bool
trimmed(const char *s)
{
	size_t n = strlen(s);

	return n == 0 || (!isspace((unsigned char)s[0]) && !isspace((unsigned char)s[n - 1]));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	int fd = fuzz_memfd("fuzz-config", data, size);
	char path[64], *printed = NULL;
	size_t plen = 0;
	struct fs_config cfg;
	FILE *mem;

	if (devnull == NULL) {
		fs_progname = "fuzz-config";
		/* No secret may come from the environment of whoever runs this. */
		clearenv();
		devnull = fopen("/dev/null", "w");
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (fs_config_load(path, &cfg) != 0) {
		FUZZ_ASSERT(cfg.nsec == 0 && cfg.sec == NULL && cfg.path == NULL);
		close(fd);
		return 0;
	}
	close(fd);
	FUZZ_ASSERT(cfg.path != NULL);
	for (int i = 0; i < cfg.nsec; i++) {
		struct fs_section *s = &cfg.sec[i];
		struct fs_endpoint ep;

		FUZZ_ASSERT(*s->type != '\0' && s->line >= 1);
		FUZZ_ASSERT(fs_config_section(&cfg, s->type, s->name) == s);
		for (int j = 0; j < s->nkv; j++) {
			FUZZ_ASSERT(*s->kv[j].key != '\0');
			FUZZ_ASSERT(trimmed(s->kv[j].key) && trimmed(s->kv[j].value));
			use_value(s->kv[j].value);
			fs_section_get(s, s->kv[j].key);
		}
		if (strcmp(s->type, "source") == 0 || strcmp(s->type, "target") == 0)
			if (fs_endpoint_find(&cfg, s->type, s->name, &ep) == 0) {
				/* Only from the (empty) environment: never open a file the input names. */
				char *secret = fs_endpoint_secret(&ep, "token_env", NULL);

				FUZZ_ASSERT(secret == NULL);
			}
	}
	fs_config_get(&cfg, "thresholds", "", "holidays");
	fs_config_print(&cfg, devnull);

	/* Redaction: a value under a key that is not safe never prints. */
	mem = open_memstream(&printed, &plen);
	fs_config_print(&cfg, mem);
	fclose(mem);
	for (int i = 0; i < cfg.nsec; i++)
		for (int j = 0; j < cfg.sec[i].nkv; j++) {
			const char *k = cfg.sec[i].kv[j].key, *v = cfg.sec[i].kv[j].value;
			char *line;

			if (fs_is_safe_key(k) || *v == '\0')
				continue;
			line = malloc(strlen(k) + strlen(v) + 6);
			sprintf(line, "\n%s = %s\n", k, v);
			FUZZ_ASSERT(strstr(printed, line) == NULL || strcmp(v, "(redacted)") == 0);
			free(line);
		}
	free(printed);
	fs_config_free(&cfg);
	FUZZ_ASSERT(cfg.nsec == 0 && cfg.sec == NULL);
	return 0;
}
