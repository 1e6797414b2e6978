# Sourced by tests/lib.sh and tests/run-pg.
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

