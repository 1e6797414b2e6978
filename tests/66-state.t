#!/bin/sh
# fs-state and the state file's life: a new file's mode and schema, the
# shared group, explicit migration (every command refuses an older or newer
# schema), info, check, and an online backup while another process writes.
. "$(dirname "$0")/lib.sh"
plan 49
old_state="$top/tests/unit/old-state"
mode() { stat -c '%a %G' "$@" | tr '\n' ' ' | sed 's/ $//'; }
if [ "$(id -u)" = 0 ]; then
	group=nogroup	# root may give a file any group
else
	# A group of this user's other than its own, when it has one.
	group=$(id -Gn | tr ' ' '\n' | grep -vxF "$(id -gn)" | head -n 1)
	group=${group:-$(id -gn)}
fi

# A new state file: 0600 whatever the umask, made at the current schema.
(umask 0; fs-dlq count >/dev/null)
if on_pg; then
	skip 'a new state file is 0600, its -wal and -shm too: a PostgreSQL state has no file'
	skip 'the -wal and -shm stay after the last close: a PostgreSQL state has no file'
	# (PRAGMA user_version's counterpart there: fs_schema's one row.)
	is 'made at the current schema, as the last migration leaves it' "$(sql 'select version from fs_schema')" $current_schema
else
	is 'a new state file is 0600, its -wal and -shm too, whatever the umask' \
		"$(stat -c %a fieldsync.db fieldsync.db-wal fieldsync.db-shm | tr '\n' ' ')" '600 600 600 '
	is 'the -wal and -shm stay after the last close, the -wal empty' \
		"$(ls fieldsync.db* | tr '\n' ' ')/$(stat -c %s fieldsync.db-wal)" 'fieldsync.db fieldsync.db-shm fieldsync.db-wal /0'
	# (The sqlite3 shell removes them when it closes the file last.)
	is 'made at the current schema, as the last migration leaves it' "$(sql 'pragma user_version')" $current_schema
fi

# A shared group: 0660 in that group, for the file, its -wal and its -shm.
# From here on the config names one.
printf '[state]\ngroup = %s\n' "$group" >fieldsync.conf
fs-dlq -s shared.db count >/dev/null
is 'with [state] group: a new file, its -wal and -shm are 0660 in the group' \
	"$(mode shared.db shared.db-wal shared.db-shm)" "660 $group 660 $group 660 $group"
fs-dlq count >/dev/null
if on_pg; then
	skip 'an existing file gets the group: a PostgreSQL state has no file'
else
	is 'an existing file gets the group when its owner next runs a command' \
		"$(mode fieldsync.db fieldsync.db-wal fieldsync.db-shm)" "660 $group 660 $group 660 $group"
fi
printf '[state]\ngroup = no-such-group-here\n' >nogroup.conf
run fs-dlq -c nogroup.conf -s other.db count
is 'an unknown group: exit 3, one line, no file made' "$status/$(cat "$T/err")/$(ls other.db* 2>/dev/null)" \
	"3/fs-dlq: [state] group: no group 'no-such-group-here'/"
if [ "$(id -u)" = 0 ]; then
	# The web server's user, in the group, takes a webhook delivery into
	# the inbox of a state file it does not own, in a directory it may not write.
	mkdir shared && chmod 0755 "$T" shared
	cat >shared/fieldsync.conf <<EOF2
[state]
group = nogroup

[source "lob-events"]
secret_env = LOB_WEBHOOK_SECRET
EOF2
	fs-dlq -c shared/fieldsync.conf -s shared/fieldsync.db count >/dev/null
	printf '{"id":"evt_web"}' >shared/ev.json
	ms=1796000400000
	sig=$("$top/tests/fixtures/hook-sign.py" lob lob-secret $ms <shared/ev.json)
	web() {
		env LOB_WEBHOOK_SECRET=lob-secret REQUEST_METHOD=POST CONTENT_LENGTH=16 \
			HTTP_LOB_SIGNATURE_TIMESTAMP=$ms HTTP_LOB_SIGNATURE="$sig" \
			setpriv --reuid=nobody --regid="$1" --clear-groups -- \
			"$top/bin/fs-hook" -c shared/fieldsync.conf -s shared/fieldsync.db lob-events <shared/ev.json
	}
	is 'fs-hook as nobody in the group: 200, stored in the inbox' \
		"$(web nogroup 2>&1 | head -n 1 | tr -d '\r')/$(sqlite3 shared/fieldsync.db 'select count(*) from inbox')" 'Status: 200 OK/1'
	is 'fs-hook as nobody outside the group: 503, nothing stored' \
		"$(web daemon 2>/dev/null | head -n 1 | tr -d '\r')/$(sqlite3 shared/fieldsync.db 'select count(*) from inbox')" \
		'Status: 503 Service Unavailable/1'
else
	skip 'fs-hook as another user in the group: needs root'
	skip 'fs-hook as another user outside the group: needs root'
fi

# An older schema: made by applying only the first migration, as the
# fieldsync of that schema made it; a dead letter in it.
"$old_state" v1.db 1
sqlite3 v1.db "insert into dlq (at, command, reason, bytes, fingerprint, last_seen_at)
	values ('2026-11-29T00:00:00Z', 'fs-normalize', 'invalid JSON at byte 1', 'x', 'f1', '2026-11-29T00:00:00Z')"
refused="state 'v1.db' has schema version 1 and this fieldsync needs $current_schema: run 'fs-state backup FILE', then 'fs-state migrate'"
run fs-dlq -s v1.db count
is 'an older schema: fs-dlq stops, one line naming the versions, exit 3' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"3//fs-dlq: $refused"
echo '{"type":"record","source":"hubspot","data":{}}' >rec.ndjson
run fs-normalize -s v1.db <rec.ndjson
is 'an older schema: a filter stops before reading, exit 3' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"3//fs-normalize: $refused"
run fs-watchdog -s v1.db
is 'an older schema: fs-watchdog, exit 3' "$status/$(cat "$T/err")" "3/fs-watchdog: $refused"
run fs-health -s v1.db
is 'an older schema: fs-health UNKNOWN, the reason on its status line' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"3/FIELDSYNC UNKNOWN - $refused/"
run fs-report -s v1.db sla
is 'an older schema: fs-report, exit 3' "$status/$(cat "$T/out")/$(cat "$T/err")" "3//fs-report: $refused"
is '... and none of them touched it' "$(sqlite3 v1.db 'pragma user_version; select count(*) from dlq')" '1
1'

run fs-state -s v1.db info
is 'info on an older schema: the versions and what to do, no waiting work' \
	"$status/$(sed -n 1,2p "$T/out")/$(grep -c WAITING "$T/out")/$(grep '^dlq ' "$T/out")" \
	"0/state    v1.db
schema   version 1 (this fieldsync: $current_schema): run 'fs-state backup FILE', then 'fs-state migrate'/0/dlq                                      1"
run fs-state -s v1.db backup v1-copy.db
is 'backup of an older schema: exit 0, said on stderr' "$status/$(cat "$T/err")" \
	"0/fs-state: backed up 'v1.db' to 'v1-copy.db' (schema version 1): integrity ok"
run fs-state -s v1.db migrate
is "migrate: from 1 to $current_schema, exit 0" "$status/$(cat "$T/err")" "0/fs-state: migrated 'v1.db' from schema version 1 to $current_schema"
is 'migrate: the schema is the new one, the data kept, a changelog row' \
	"$(sqlite3 v1.db "pragma user_version; select count(*) from dlq; select count(*) from sqlite_schema where name = 'outbox_waiting';
		select kind || ' ' || detail from changelog")" \
	"$current_schema
1
1
state.migrate {\"from\":1,\"to\":$current_schema,\"fieldsync\":\"0.1.0\"}"
# (A new SQLite file of its own: the state may be a PostgreSQL database.)
fs-dlq -s new.db count >/dev/null
is 'migrate: the schema is the one a new file gets' \
	"$(sqlite3 v1.db "select type, name, sql from sqlite_schema order by name" | md5sum)" \
	"$(sqlite3 new.db "select type, name, sql from sqlite_schema order by name" | md5sum)"
run fs-state -s v1.db migrate
is 'migrate again: nothing to do, exit 0' "$status/$(cat "$T/err")" \
	"0/fs-state: 'v1.db' is at schema version $current_schema already: nothing to migrate"
run fs-dlq -s v1.db count
is 'after migrate, the other commands work' "$status/$(cat "$T/out")" 0/1
is 'the backup taken before still has schema version 1' "$(sqlite3 v1-copy.db 'pragma user_version')" 1

# A newer schema: only a newer fieldsync reads it.
# (On PostgreSQL, a copy of the database whose fs_schema says so.)
newer=$((current_schema + 1))
if on_pg; then
	v9=$(state_at v9.db)
	state_copy v9.db && FS_STATE=$v9 sql "update fs_schema set version = $newer"
	v9_version() { FS_STATE=$v9 sql 'select version from fs_schema'; }
else
	v9=v9.db
	cp fieldsync.db v9.db && sqlite3 v9.db "pragma user_version = $newer"
	v9_version() { sqlite3 v9.db 'pragma user_version'; }
fi
run fs-dlq -s "$v9" count
is 'a newer schema: exit 3, one line' "$status/$(cat "$T/err")" \
	"3/fs-dlq: state '$v9' has schema version $newer, newer than this fieldsync's $current_schema: use a newer fieldsync"
run fs-state -s "$v9" migrate
is 'migrate a newer schema: exit 3, nothing changed' "$status/$(cat "$T/err")/$(v9_version)" \
	"3/fs-state: state '$v9' has schema version $newer, newer than this fieldsync's $current_schema: nothing to migrate/$newer"
run fs-state -s "$v9" info
is 'info on a newer schema says so' "$status/$(sed -n 2p "$T/out")" "0/schema   version $newer (this fieldsync: $current_schema): newer than this fieldsync"

# No state file: fs-state makes none.
for sub in info check migrate 'backup copy.db'; do
	# shellcheck disable=SC2086
	run fs-state -s nope.db $sub
	is "$sub without a state file: exit 3, one line, no file made" \
		"$status/$(cat "$T/err")/$(ls nope.db* copy.db 2>/dev/null)" \
		"3/fs-state: cannot open state 'nope.db': No such file or directory/"
done

# info: what waits, and the oldest of it.
waiting_sql="insert into outbox (target, event_id, kind, line, state, requested_at, enqueued_at) values
	('mail', 'e1', 'mail.requested', '{}', 'pending', '2026-11-30T00:20:00Z', '2026-11-30T00:21:00Z'),
	('mail', 'e2', 'mail.requested', '{}', 'pending', '2026-11-30T00:10:00Z', '2026-11-30T00:11:00Z'),
	('mail', 'e3', 'mail.requested', '{}', 'held', '2026-11-30T00:30:00Z', '2026-11-30T00:31:00Z'),
	('mail', 'e4', 'mail.requested', '{}', 'sent', '2026-11-29T00:30:00Z', '2026-11-29T00:31:00Z'),
	('crm', 'e5', 'mail.status', '{}', 'pending', '2026-11-30T00:40:00Z', '2026-11-30T00:41:00Z');
     insert into inbox (source, delivery_id, received_at, body, drained_at) values
	('lob-events', 'd1', '2026-11-30T00:50:00Z', 'x', null),
	('lob-events', 'd0', '2026-11-30T00:05:00Z', 'x', '2026-11-30T00:06:00Z');
     insert into debounce (kind, object, event_id, line, received_at, release_at) values
	('contact.changed', 'contact:1', 'evt_d', '{}', '2026-11-30T00:45:00Z', '2026-11-30T00:55:00Z');
     insert into alerts (rule, subject, opened_at) values ('dlq', 'dlq', '2026-11-30T00:35:00Z');
     insert into holds (scope, name, alert_id, since) values ('target', 'mail', 1, '2026-11-30T00:36:00Z')"
sql "$waiting_sql"
# Two dead letters (and the run row of the fs-normalize that wrote them).
printf 'a\nb\n' | FS_NOW=2026-11-30T00:59:00Z fs-normalize 2>/dev/null
run fs-state info
is 'info: the waiting work, the oldest row of each' "$status/$(sed -n '/^WAITING/,$p' "$T/out")" \
'0/WAITING                               ROWS  OLDEST
outbox crm (pending)                     1  2026-11-30T00:41:00Z
outbox mail (held)                       1  2026-11-30T00:31:00Z
outbox mail (pending)                    2  2026-11-30T00:11:00Z
inbox lob-events (undrained)             1  2026-11-30T00:50:00Z
dlq (open)                               2  2026-11-30T00:59:00Z
debounce (held)                          1  2026-11-30T00:45:00Z
alerts (open)                            1  2026-11-30T00:35:00Z
holds target mail (active)               1  2026-11-30T00:36:00Z'
# (A PostgreSQL state has no file: no mode or group; its owner is the database's.)
if on_pg; then
	state_line="state    $FS_STATE" access_line='access   mode -, owner fieldsync, group -' access_mode=null
else
	state_line="state    $T/fieldsync.db" access_line="access   mode 0660, owner $(id -un), group $group" access_mode='"0660"'
fi
is 'info: the path, the version, the access, the rows of each table' \
	"$(sed -n 1,2p "$T/out")/$(sed -n 4p "$T/out")/$(grep -E '^(outbox|dlq|changelog) +[0-9]+$' "$T/out")" \
	"$state_line
schema   version $current_schema (this fieldsync: $current_schema)/$access_line/changelog                                1
dlq                                      2
outbox                                   5"
if on_pg; then
	is "info: the size is the database's" "$(sed -n 3p "$T/out" | sed 's/[0-9][0-9]* bytes/N bytes/')" \
		'size     N bytes (the database)'
else
	is 'info: the size is the three files'"'"' sizes' "$(sed -n 3p "$T/out")" \
		"size     $(($(stat -c %s fieldsync.db) + $(stat -c %s fieldsync.db-wal) + $(stat -c %s fieldsync.db-shm))) bytes: file $(stat -c %s fieldsync.db), wal $(stat -c %s fieldsync.db-wal), shm $(stat -c %s fieldsync.db-shm)"
fi
run fs-state info --format json
is 'info --format json: one object, for machines' \
	"$status/$(jq -c '[.schema, .access.mode, .tables.outbox, (.pending | map(select(.table == "outbox")) | map([.name, .state, .rows, .oldest]))]' "$T/out")" \
	"0/[{\"version\":$current_schema,\"fieldsync\":$current_schema},$access_mode,5,[[\"crm\",\"pending\",1,\"2026-11-30T00:41:00Z\"],[\"mail\",\"held\",1,\"2026-11-30T00:31:00Z\"],[\"mail\",\"pending\",2,\"2026-11-30T00:11:00Z\"]]]"

# check
run fs-state check
if on_pg; then
	# PostgreSQL checks its pages and enforces foreign keys itself: no
	# problem on stdout, and stderr says why.
	is 'check a sound database: exit 0, nothing on stdout, said on stderr with why' \
		"$status/$(cat "$T/out")/$(cat "$T/err")" \
		"0//fs-state: '$FS_STATE' is a PostgreSQL database: its pages are PostgreSQL's to check (amcheck), and it enforces foreign keys itself
fs-state: '$FS_STATE': integrity ok, foreign keys ok"
	# The damaged copies below are SQLite files: the same rows made again in one.
	fs-dlq -s fk.db count >/dev/null
	sqlite3 fk.db "$waiting_sql"
	printf 'a\nb\n' | FS_NOW=2026-11-30T00:59:00Z fs-normalize -s fk.db 2>/dev/null
else
	is 'check a sound file: exit 0, nothing on stdout, said on stderr' "$status/$(cat "$T/out")/$(cat "$T/err")" \
		"0//fs-state: '$T/fieldsync.db': integrity ok, foreign keys ok"
	cp fieldsync.db fk.db
fi
sqlite3 fk.db "insert into holds (scope, name, alert_id, since) values ('campaign', 'x', 42, '2026-11-30T00:00:00Z')"
run fs-state -s fk.db check
is 'check: a row that refers to a missing one: exit 1, one line for it' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"1/foreign key: holds row 2 refers to a missing alerts row/fs-state: 'fk.db': 0 integrity problems, 1 foreign key problem"
# An index whose definition no longer matches its entries.
sqlite3 fk.db "PRAGMA writable_schema = ON;
	UPDATE sqlite_schema SET sql = replace(sql, 'ON dlq(state, at)', 'ON dlq(at, state)') WHERE name = 'dlq_by_state_at'"
run fs-state -s fk.db check
is 'check: a damaged index: exit 3, a line per problem, the foreign key one too' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"3/integrity: row 1 missing from index dlq_by_state_at
integrity: row 2 missing from index dlq_by_state_at
foreign key: holds row 2 refers to a missing alerts row/fs-state: 'fk.db': 2 integrity problems, 1 foreign key problem"
run fs-state -s fk.db backup fk-copy.db
is 'backup of a damaged file: exit 3, the copy removed' "$status/$(cat "$T/err")/$(ls fk-copy.db* 2>/dev/null)" \
	"3/fs-state: backup: the copy 'fk-copy.db' fails its integrity check (row 1 missing from index dlq_by_state_at): removed; run 'fs-state check'/"

# backup (fs-state backup copies a SQLite file; a PostgreSQL state is
# refused, pointed to pg_dump: the copies' checks are skipped there.)
if on_pg; then
	run fs-state backup copy.db
	is 'backup of a PostgreSQL state: exit 3, refused, pointed to pg_dump, no file made' \
		"$status/$(cat "$T/out")/$(cat "$T/err")/$(ls copy.db* 2>/dev/null)" \
		"3//fs-state: backup: the state '$FS_STATE' is a PostgreSQL database: back it up with pg_dump/"
	skip 'backup: one file, made as the state is: a PostgreSQL state is not backed up by fs-state'
	skip 'backup: the same rows: a PostgreSQL state is not backed up by fs-state'
else
	run fs-state backup copy.db
	is 'backup: exit 0, said on stderr' "$status/$(cat "$T/out")/$(cat "$T/err")" \
		"0//fs-state: backed up '$T/fieldsync.db' to 'copy.db' (schema version $current_schema): integrity ok"
	is 'backup: one file, made as the state is (the group here)' "$(ls copy.db*)/$(mode copy.db)" "copy.db/660 $group"
	is 'backup: the same rows' "$(sqlite3 copy.db .dump | md5sum)" "$(sql .dump | md5sum)"
fi
echo keep >kept.db
run fs-state backup kept.db
is 'backup onto an existing file: exit 2, the file untouched' "$status/$(cat "$T/err")/$(cat kept.db)" \
	"2/fs-state: backup: 'kept.db' exists: not overwritten/keep"
if on_pg; then
	skip 'backup without a group: 0600: a PostgreSQL state is not backed up by fs-state'
else
	rm -f copy.db
	run fs-state -c /dev/null backup copy.db
	is 'backup without a group: 0600' "$status/$(stat -c %a copy.db)" 0/600
fi

if on_pg; then
	for i in 1 2 3 4; do skip "online backup: SQLite's backup of a file; a PostgreSQL state is not backed up by fs-state"; done
else
	# An online backup while another process writes: each of the writer's runs
	# adds one dead letter in its own transaction, so a consistent copy has dead
	# letters 1..n without a gap.  Some 25 MB of changelog make the copy take
	# several steps.  Backups are taken until one overlaps a write (the writer's
	# count moved while it ran).
	sql "with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000)
	     insert into changelog (at, kind, detail) select '2026-11-01T00:00:00Z', 'test.filler',
		json_object('pad', hex(randomblob(600))) from c"
	rm -f stop writes
	(
		i=0
		while [ ! -e stop ]; do
			i=$((i + 1))
			echo "not json $i" | fs-normalize -q 2>/dev/null
			echo $? >>writes
		done
	) &
	wait_for 'the writer did not start' test -s writes
	overlapped=no
	for round in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		before=$(wc -l <writes)
		rm -f online.db
		fs-state -q backup online.db 2>>backup.err || break
		[ "$(wc -l <writes)" -gt "$before" ] && { overlapped=yes; break; }
	done
	touch stop
	wait
	is 'online backup: it ran while the writer wrote' "$overlapped/$(cat backup.err)" yes/
	is 'online backup: the copy is sound' "$(fs-state -s online.db check 2>&1; echo $?)" "fs-state: 'online.db': integrity ok, foreign keys ok
0"
	is 'online backup: a consistent snapshot (dead letters 1..n, no gap)' \
		"$(sqlite3 online.db 'select count(*) > 2 and count(*) = max(id) from dlq')" 1
	is 'online backup: the writer was never held off or refused (exit 1: a dead letter)' "$(sort -u writes)" 1
fi

# Usage
run fs-state
is 'no subcommand: usage, exit 2' "$status/$(head -c 15 "$T/err")" '2/usage: fs-state'
run fs-state vacuum
is 'an unknown subcommand: exit 2' "$status/$(head -n 1 "$T/err")" "2/fs-state: unknown subcommand 'vacuum'"
run fs-state check --format json
is '--format with another subcommand: exit 2' "$status/$(cat "$T/err")" "2/fs-state: --format is for info, not 'check'"
done_testing
