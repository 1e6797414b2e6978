#!/bin/sh
# The throwaway PostgreSQL cluster the tests start (tests/lib.sh pg_start):
# it answers on its Unix socket at $PG_URL, listens on no TCP port, survives
# a restart, and pg_stop leaves no server and no folder behind.  And what a
# command makes of a database URL: the state made there, a database that is
# not there (one line, exit 3, no password), TLS as the URL's sslmode says.
. "$(dirname "$0")/lib.sh"
plan 14
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

run fs-dlq -s "$PG_URL" count
is 'a database with tables of its own is no state: one line, exit 3' "$status/$(cat "$T/err")" \
	"3/fs-dlq: state '$PG_URL': not a fieldsync state file (tables, but no schema version)"
createdb -h "$PGDIR" -U fieldsync fresh
fresh="postgresql://fieldsync@/fresh?host=$PGDIR"
run fs-dlq -s "$fresh" count
is 'a command on an empty database makes the state there' \
	"$status/$(cat "$T/out")/$(psql "$fresh" -X -A -t -c 'select version from fs_schema')" "0/0/$current_schema"
run fs-dlq -s "postgresql://fieldsync:s3cret@/nosuch?host=$PGDIR" count
is 'a database that is not there: one line, exit 3, the password not shown' \
	"$status/$(wc -l <"$T/err")/$(grep -c s3cret "$T/err")/$(grep -c '\*\*\*@/nosuch' "$T/err")" '3/1/0/1'
# TLS: the URL's sslmode is libpq's, honoured on TCP (a Unix socket has none).
# The cluster listens on 127.0.0.1 for these checks; it has no certificate.
port=$(( 20000 + $$ % 30000 ))
if $pg_as "$(pg_bindir)/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -m fast -w -t 60 -o \
	"-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$PGDIR' -c fsync=off" \
	restart >/dev/null 2>&1; then
	tcp="postgresql://fieldsync@127.0.0.1:$port/fresh"
	run fs-dlq -s "$tcp?sslmode=require" count
	is 'sslmode=require on a server without TLS: refused, one line, exit 3' \
		"$status/$(wc -l <"$T/err")/$(grep -c 'server does not support SSL, but SSL was required' "$T/err")" '3/1/1'
	run fs-dlq -s "$tcp?sslmode=disable" count
	is 'sslmode=disable: the same database over TCP' "$status/$(cat "$T/out")" '0/0'
	run fs-dlq -s "$tcp?sslmode=verify-full&sslrootcert=$T/none.crt" count
	is 'sslmode=verify-full without the root certificate: refused, exit 3' \
		"$status/$(wc -l <"$T/err")" '3/1'
else
	skip "port $port taken: the TLS checks need the cluster on a TCP port"
	skip "port $port taken"
	skip "port $port taken"
fi
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
