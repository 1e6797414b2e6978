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


# pg_sql URL QUERY: psql's answer on database URL, shown as sqlite3 shows
# SQLite's (tests/lib.sh's sql(), tests/pg-bin/sqlite3): SQLite's char(n)
# is chr(n) (char is a type name to PostgreSQL); bytea as escape (printable
# ASCII as sqlite3 prints a blob, others as \ooo: hex() gives the exact
# bytes on both); a boolean column (a comparison) as 1 or 0, SQLite's
# values of one: psql's \gdesc gives a query's types without running it,
# and when one is boolean the columns are selected from a temporary view
# of it (columns c1..cn), booleans as 1/0; an error exits 1, as sqlite3;
# sqlite3's readfile('FILE') is the file's bytes.
# $FS_PG_REWRITE (tests/unit/pg-sql) rewrites the query first as lib/'s
# are (? parameters aside: IS, GLOB, INSERT OR IGNORE, FROM's subqueries).
pg_sql() {
	_url=$1
	_q=$(printf '%s' "$2" | sed 's/\([^a-zA-Z_]\)char(/\1chr(/g' | "${FS_PG_REWRITE:-cat}")
	while :; do
		case $_q in *';'|*' '|*'	') _q=${_q%?} ;; *) break ;; esac
	done
	# sqlite3's readfile('FILE'): the file's bytes, as a bytea literal.
	while :; do
		case $_q in *"readfile('"*"')"*) ;; *) break ;; esac
		_f=${_q#*"readfile('"}
		_f=${_f%%"')"*}
		_hex=$(od -An -v -tx1 "$_f" | tr -d ' \n')
		_q="${_q%%"readfile('$_f')"*}decode('$_hex', 'hex')${_q#*"readfile('$_f')"}"
	done
	case $(printf '%s' "$_q" | tr '\n\t' '  ' | sed 's/^[[:space:](]*//' | tr 'A-Z' 'a-z') in
	*';'*) ;;	# statements: as they are
	select*|with*|values*)
		_types=$(printf '%s\n\\gdesc\n' "$_q" | psql "$_url" -X -A -t -q -f - 2>/dev/null | sed 's/.*|//')
		case $_types in *boolean*)
			_i=0 _cols='' _sel=''
			for _t in $(printf '%s\n' "$_types" | tr ' ' _); do
				_i=$((_i + 1))
				_cols="$_cols${_cols:+, }c$_i"
				if [ "$_t" = boolean ]; then _c="CASE WHEN c$_i THEN 1 WHEN NOT c$_i THEN 0 END"; else _c=c$_i; fi
				_sel="$_sel${_sel:+, }$_c"
			done
			_q="CREATE TEMP VIEW fs_q ($_cols) AS $_q;
SELECT $_sel FROM fs_q" ;;
		esac ;;
	esac
	_e=$(mktemp "${TMPDIR:-/tmp}/fs-pg-sql.XXXXXX")
	printf '%s\n' "$_q" | PGOPTIONS='-c bytea_output=escape' psql "$_url" -X -A -t -q -v ON_ERROR_STOP=1 -f - 2>"$_e"
	_rc=$?
	sed 's/^psql:<stdin>:[0-9]*: //' "$_e" >&2
	rm -f "$_e"
	[ $_rc = 3 ] && _rc=1	# an error in the query: sqlite3's status
	return $_rc
}
