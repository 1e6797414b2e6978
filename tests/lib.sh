# TAP helpers for fieldsync's shell tests (sourced by tests/*.t).
#
#   run CMD...         runs CMD, keeping stdout in $T/out, stderr in $T/err, $status
#   is NAME GOT WANT   passes when GOT = WANT
#   out_is NAME        passes when $T/out equals stdin (err_is: $T/err)
# A failure's details go to stderr, as Test::More's diag does, so that prove
# shows them without -v (and CI's log carries them).
#   sql QUERY          asks the state file
#   lob_hook AT ID [SECRET]   fs-hook lob-events takes a Lob delivery {"id":ID} at time
#                      AT, signed with SECRET (default lob-secret; output dropped)
top=$(cd "$(dirname "$0")/.." && pwd)
PATH="$top/bin:$PATH"
corpora=$top/tests/corpora
T=$(mktemp -d "${TMPDIR:-/tmp}/fs-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
export FS_STATE="$T/fieldsync.db" FS_NOW=2026-11-30T01:00:00Z
unset FS_CONFIG
# Two stages of a pipeline that open a new state file together: one waits
# while the other makes the schema, which takes more than 200 ms under the
# sanitizers on a loaded machine (tests/13 failed so in a CI run).  A test
# that wants a lock refused soon sets its own.
export FS_BUSY_TIMEOUT=2000
unset FS_MAPDIR
# FS_TEST_PG=HOST (tests/run-pg): the state is a database of this test's own
# in the PostgreSQL cluster whose socket folder is HOST, dropped at exit.
if [ -n "${FS_TEST_PG-}" ]; then
	fs_test_db=fs_test_$(basename "$T" | tr -c 'a-zA-Z0-9\n' _ | tr 'A-Z' 'a-z')
	createdb -h "$FS_TEST_PG" -U fieldsync "$fs_test_db" || exit 1
	FS_STATE="postgresql://fieldsync@/$fs_test_db?host=$FS_TEST_PG"
	# A database state's side files (fs-hook's counts) go to $TMPDIR.
	export TMPDIR="$T"
	fs_test_dbs=$fs_test_db	# and state_copy's copies
	trap 'for _d in $fs_test_dbs; do dropdb -h "$FS_TEST_PG" -U fieldsync --force "$_d" 2>/dev/null; done; rm -rf "$T"' EXIT
	# sqlite3 on this URL (the tests' own, fixtures') asks psql, as sql() does.
	PATH="$top/tests/pg-bin:$PATH"
	export FS_PG_REWRITE="$top/tests/unit/pg-sql"
	# rm -f fieldsync.db* or "$FS_STATE"* (a test starting again from no
	# state) empties the test's database the same way: every object of its
	# schema goes.
	rm() {
		for _a in "$@"; do
			case $_a in
			"$FS_STATE"*) _a=fieldsync.db ;;
			esac
			case ${_a##*/} in
			fieldsync.db*)
				psql "$FS_STATE" -X -q -v ON_ERROR_STOP=1 -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public' \
					>/dev/null 2>&1
				break ;;
			esac
		done
		command rm "$@"
	}
fi
# The schema version a new state file gets: the last migration in lib/state.c.
current_schema=9
n=0
failed=0

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
# on_pg: the state is in PostgreSQL (tests/run-pg).  A check about the
# SQLite file itself (its mode, WAL, a read-only or locked file, .backup)
# is skipped there with a reason: `if on_pg; then skip "…"; else …; fi`.
on_pg() { [ -n "${FS_TEST_PG-}" ]; }
# state_copy NAME: a copy of the state $FS_STATE as it is now, to be used as
# FS_STATE=$(state_at NAME): SQLite's .backup into the file NAME (in $T);
# on PostgreSQL a database of this test's made from it (createdb -T: nothing
# may be connected to it meanwhile), dropped at exit.
# state_dump: the whole state as SQL text (sqlite3's .dump, pg_dump).
state_at() {
	if on_pg; then
		echo "postgresql://fieldsync@/${fs_test_db}_$(printf '%s' "$1" | tr -c 'a-zA-Z0-9' _ | tr 'A-Z' 'a-z')?host=$FS_TEST_PG"
	else
		case $1 in /*) echo "$1" ;; *) echo "$T/$1" ;; esac
	fi
}
state_copy() {
	if on_pg; then
		_from=${FS_STATE#*://*/}
		_to=$(state_at "$1")
		_to=${_to#*://*/}
		createdb -h "$FS_TEST_PG" -U fieldsync -T "${_from%%\?*}" "${_to%%\?*}" &&
			fs_test_dbs="$fs_test_dbs ${_to%%\?*}"
	else
		sqlite3 "$FS_STATE" ".backup '$(state_at "$1")'"
	fi
}
state_dump() {
	if on_pg; then pg_dump -d "$FS_STATE"; else sqlite3 "$FS_STATE" .dump; fi
}
# unhex: lines of hex (sql's hex(BLOB)) as the bytes they stand for: a BLOB
# column read the same on both engines (on PostgreSQL it is bytea, whose cast
# to text is its escaped form, and which json and text functions refuse).
unhex() { perl -ne 's/\s+\z//; print pack "H*", $_'; }
# state_made: a command has made the state (wait_for's condition): the file
# $FS_STATE exists; on PostgreSQL, the database has its schema (fs_schema).
state_made() {
	if on_pg; then
		[ "$(psql "$FS_STATE" -X -A -t -q -c "select to_regclass('fs_schema') is not null" 2>/dev/null)" = t ]
	else
		test -e "$FS_STATE"
	fi
}
run() { "$@" >"$T/out" 2>"$T/err"; status=$?; }
# wait_for WHAT CMD...: until CMD succeeds, for at most a minute (a loaded
# machine is slow, not wrong: the tests time nothing); then bails out.
wait_for() {
	what=$1; shift
	i=0
	until "$@"; do
		[ $i -ge 1200 ] && { echo "Bail out! $what"; exit 1; }
		sleep 0.05; i=$((i + 1))
	done
}
wait_port() { wait_for "$2 did not start" test -s "$1"; }
is() {
	if [ "$2" = "$3" ]; then ok 0 "$1"; else
		ok 1 "$1"
		printf '%s\n' "got:" "$2" "want:" "$3" | sed 's/^/# /' >&2
	fi
}
check_same() {
	if diff -u "$2" "$3" >"$T/.diff" 2>&1; then ok 0 "$1"; else
		ok 1 "$1"
		sed 's/^/# /' "$T/.diff" >&2
	fi
}
out_is() { cat >"$T/.want"; check_same "$1" "$T/.want" "$T/out"; }
err_is() { cat >"$T/.want"; check_same "$1" "$T/.want" "$T/err"; }
# Events without their run_id, which differs from run to run.
norun() { sed 's/"run_id":"[^"]*",//' "${1:-$T/out}"; }
out_norun_is() { cat >"$T/.want"; norun >"$T/.got"; check_same "$1" "$T/.want" "$T/.got"; }
sql() {
	case $FS_STATE in
	postgres*) pg_sql "$FS_STATE" "$*" ;;
	*) sqlite3 -batch "$FS_STATE" "$@" ;;
	esac
}
lob_hook() {
	printf '{"id":"%s"}' "$2" >ev.json
	ms=$(($(date -u -d "$1" +%s) * 1000))
	FS_NOW=$1 REQUEST_METHOD=POST CONTENT_LENGTH=$(wc -c <ev.json) HTTP_LOB_SIGNATURE_TIMESTAMP=$ms \
		HTTP_LOB_SIGNATURE="$("$top/tests/fixtures/hook-sign.py" lob "${3:-lob-secret}" $ms <ev.json)" \
		fs-hook lob-events <ev.json >/dev/null 2>&1
}
done_testing() { [ "$failed" = 0 ]; }

. "$top/tests/pg.sh"

# kill_held PID: once the fake (its admin function) has handed out every
# fault it was given (a request held or slowed), SIGKILL PID mid-request and
# reap it.  The fakes' admin API is the same: GET faults lists those left.
kill_held() {
	_no_faults() { [ "$(admin GET faults | jq '.faults | length')" = 0 ]; }
	wait_for 'the fake still has faults' _no_faults
	sleep 0.3
	kill -9 "$1"
	wait "$1" 2>/dev/null
}
