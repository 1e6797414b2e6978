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
sql() { sqlite3 -batch "$FS_STATE" "$@"; }
lob_hook() {
	printf '{"id":"%s"}' "$2" >ev.json
	ms=$(($(date -u -d "$1" +%s) * 1000))
	FS_NOW=$1 REQUEST_METHOD=POST CONTENT_LENGTH=$(wc -c <ev.json) HTTP_LOB_SIGNATURE_TIMESTAMP=$ms \
		HTTP_LOB_SIGNATURE="$("$top/tests/fixtures/hook-sign.py" lob "${3:-lob-secret}" $ms <ev.json)" \
		fs-hook lob-events <ev.json >/dev/null 2>&1
}
done_testing() { [ "$failed" = 0 ]; }

# pg_start: a throwaway PostgreSQL cluster of Debian's package (issue 19's
# backend): initdb and pg_ctl in a folder of its own, listening on a Unix
# socket there only (no TCP port, so parallel tests never collide), trust
# authentication, superuser fieldsync, a database fieldsync.  Sets $PGDIR and
# $PG_URL (a postgresql:// URL naming the socket folder); pg_stop stops it
# and removes the folder, and runs at exit.  initdb refuses to run as root,
# so as root the cluster belongs to the package's postgres user.
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
pg_start() {
	pgbin=$(pg_bindir)
	[ -x "$pgbin/initdb" ] ||
		{ echo 'pg_start: no PostgreSQL server: scripts/bootstrap installs Debian package postgresql' >&2; return 1; }
	PGDIR=$(mktemp -d /tmp/fs-pg.XXXXXX) || return 1
	pg_as=''
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$PGDIR" && chmod 0700 "$PGDIR" || return 1
		pg_as='runuser -u postgres --'
	fi
	trap 'pg_stop; rm -rf "$T"' EXIT
	$pg_as "$pgbin/initdb" -D "$PGDIR/data" -U fieldsync --auth=trust -E UTF8 --locale=C.UTF-8 \
		>"$PGDIR/initdb.log" 2>&1 || { sed 's/^/# /' "$PGDIR/initdb.log" >&2; return 1; }
	$pg_as "$pgbin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$PGDIR' -c fsync=off" start \
		>/dev/null 2>&1 || { sed 's/^/# /' "$PGDIR/server.log" >&2; return 1; }
	"$pgbin/createdb" -h "$PGDIR" -U fieldsync fieldsync || return 1
	PG_URL="postgresql://fieldsync@/fieldsync?host=$PGDIR"
	export PGDIR PG_URL
}
pg_stop() {
	[ -n "${PGDIR-}" ] && [ -d "$PGDIR/data" ] || return 0
	$pg_as "$(pg_bindir)/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$PGDIR"
	PGDIR=''
}
# pg_restart: the database goes away and comes back (the multi-host test).
pg_restart() {
	$pg_as "$(pg_bindir)/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -m immediate -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$PGDIR' -c fsync=off" restart >/dev/null 2>&1
}

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
