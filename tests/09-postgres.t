#!/bin/sh
# The throwaway PostgreSQL cluster the tests start (tests/lib.sh pg_start):
# it answers on its Unix socket at $PG_URL, listens on no TCP port, survives
# a restart, and pg_stop leaves no server and no folder behind.
. "$(dirname "$0")/lib.sh"
plan 8
pg_start || { echo 'Bail out! pg_start failed'; exit 1; }
pq() { psql "$PG_URL" -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
run pq 'select current_user, current_database()'
is 'a cluster answers at $PG_URL as fieldsync, database fieldsync' "$status/$(cat "$T/out")" '0/fieldsync|fieldsync'
is 'it listens on no TCP address' "$(pq 'show listen_addresses')" ''
is 'its socket is in its own folder' "$(ls -A "$PGDIR" | grep -c '^\.s\.PGSQL\.5432$')" 1
is 'it is a server of the Debian package' "$(pq 'show server_version_num' | cut -c1-2)" \
	"$(basename "$(dirname "$(pg_bindir)")")"
pq 'create table t (x int); insert into t values (7)'
pg_restart
run pq 'select x from t'
is 'after a restart it answers with what it had' "$status/$(cat "$T/out")" '0/7'
pid=$(head -n 1 "$PGDIR/data/postmaster.pid")
dir=$PGDIR
pg_stop
gone() { ! kill -0 "$pid" 2>/dev/null || [ "$(ps -o stat= -p "$pid")" = Z ]; }
wait_for 'the server outlived pg_stop' gone
ok "$(gone && echo 0 || echo 1)" 'pg_stop: the server is gone'
ok "$([ -e "$dir" ] && echo 1 || echo 0)" 'and so is its folder'
run pq 'select 1'
is 'a client finds nobody there: psql exits 2' "$status" 2
done_testing
