#!/bin/sh
# Under make asan: no process of the whole run wrote a sanitizer report.
# The reports go to files ($FS_SANITIZER_LOGS, see the Makefile), so that a
# leak in a command whose exit status a test ignored still fails the run.
. "$(dirname "$0")/lib.sh"
[ -n "${FS_SANITIZER_LOGS:-}" ] || skip_all "only under make asan"
plan 1
set -- "$FS_SANITIZER_LOGS"/*
[ -e "$1" ] || set --
is 'no sanitizer reports from any process' "$#" 0
for f; do
	echo "# $f:" >&2
	sed 's/^/# /' "$f" | head -n 40 >&2
done
done_testing
