/*
 * fs-state: the sysadmin's care of the state file.  "info" says what is in
 * it, "check" whether it is sound, "backup" copies it while pipelines run,
 * "migrate" brings an older schema to this fieldsync's.  The other commands
 * refuse a state at another schema version; this one opens it as it is.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-state [-qvV] [-c config] [-s state] info [--format text|json]\n"
		   "       fs-state check\n"
		   "       fs-state backup file\n"
		   "       fs-state migrate\n");
	exit(status);
}

static int
cmd_info(struct fs_cli *cli, const char *format)
{
	jv info;
	int rc = FS_EXIT_OK;

	if (fs_cli_state_open(cli, FS_STATE_READONLY | FS_STATE_ANY_SCHEMA) != 0)
		return FS_EXIT_STATE;
	info = fs_state_info(&cli->st);
	if (!jv_is_valid(info)) {
		jv_free(info);
		return FS_EXIT_STATE;
	}
	if (strcmp(format, "json") == 0) {
		jv s = jv_dump_string(info, 0);

		printf("%s\n", jv_string_value(s));
		jv_free(s);
	} else {
		fs_state_info_text(info, stdout);	/* a failed write is fs_cli_finish's */
		jv_free(info);
	}
	return rc;
}

static int
cmd_check(struct fs_cli *cli)
{
	int64_t integrity, foreign;

	if (fs_cli_state_open(cli, FS_STATE_READONLY | FS_STATE_ANY_SCHEMA) != 0)
		return FS_EXIT_STATE;
	fs_state_check(&cli->st, stdout, &integrity, &foreign);
	if (integrity == 0 && foreign == 0)
		fs_info("'%s': integrity ok, foreign keys ok", cli->st.path);
	else
		fs_info("'%s': %lld integrity problem%s, %lld foreign key problem%s", cli->st.path,
			(long long)integrity, integrity == 1 ? "" : "s", (long long)foreign, foreign == 1 ? "" : "s");
	/* A damaged file is a state file error; rows that refer to missing
	 * ones in a sound file are findings, as dead letters are for a run. */
	return integrity ? FS_EXIT_STATE : foreign ? FS_EXIT_DLQ : FS_EXIT_OK;
}

static int
cmd_backup(struct fs_cli *cli, const char *file)
{
	int version;

	if (access(file, F_OK) == 0) {
		fs_err("backup: '%s' exists: not overwritten", file);
		return FS_EXIT_USAGE;
	}
	if (fs_cli_state_open(cli, FS_STATE_READONLY | FS_STATE_ANY_SCHEMA) != 0 ||
	    fs_state_backup(&cli->st, file, fs_config_get(&cli->cfg, "state", "", "group"), &version) != 0)
		return FS_EXIT_STATE;
	fs_info("backed up '%s' to '%s' (schema version %d): integrity ok", cli->st.path, file, version);
	return FS_EXIT_OK;
}

static int
cmd_migrate(struct fs_cli *cli)
{
	int from, to;

	if (fs_cli_state_open(cli, FS_STATE_EXISTING | FS_STATE_ANY_SCHEMA) != 0 ||
	    fs_state_migrate(&cli->st, cli->run_id, &from, &to) != 0)
		return FS_EXIT_STATE;
	if (from == to)
		fs_info("'%s' is at schema version %d already: nothing to migrate", cli->st.path, to);
	else
		fs_info("migrated '%s' from schema version %d to %d", cli->st.path, from, to);
	return FS_EXIT_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"format", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	struct fs_cli cli;
	const char *format = NULL, *sub;
	int opt, rc;

	fs_cli_init(&cli, "fs-state");
	while ((opt = getopt_long(argc, argv, FS_CLI_COMMON_OPTSTRING "f:", longopts, NULL)) != -1) {
		if (opt == 'f')
			format = optarg;
		else if (!fs_cli_option(&cli, opt, optarg, usage))
			usage(stderr, FS_EXIT_USAGE);
	}
	argc -= optind;
	argv += optind;
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	if (argc < 1)
		usage(stderr, FS_EXIT_USAGE);
	sub = argv[0];
	if (format && strcmp(sub, "info") != 0) {
		fs_err("--format is for info, not '%s'", sub);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
		fs_err("--format must be text or json, not '%s'", format);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (strcmp(sub, "info") == 0 && argc == 1)
		rc = cmd_info(&cli, format ? format : "text");
	else if (strcmp(sub, "check") == 0 && argc == 1)
		rc = cmd_check(&cli);
	else if (strcmp(sub, "backup") == 0 && argc == 2)
		rc = cmd_backup(&cli, argv[1]);
	else if (strcmp(sub, "migrate") == 0 && argc == 1)
		rc = cmd_migrate(&cli);
	else if (strcmp(sub, "info") && strcmp(sub, "check") && strcmp(sub, "backup") && strcmp(sub, "migrate")) {
		fs_err("unknown subcommand '%s'", sub);
		usage(stderr, FS_EXIT_USAGE);
	} else {
		usage(stderr, FS_EXIT_USAGE);
	}
	return fs_cli_finish(&cli, rc);
}
