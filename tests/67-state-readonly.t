#!/bin/sh
# fs-health and fs-report only read the state file: they never make one,
# and a user who may only read it (a monitoring or analyst account in the
# state's group, a directory it may not write) can run them.  As root the
# reader is nobody, for real; as anyone else, the file and its directory
# are made read-only instead.
. "$(dirname "$0")/lib.sh"
plan 15
export LOB_WEBHOOK_SECRET=lob-secret
if [ "$(id -u)" = 0 ]; then
	group=nogroup
	# reader / outsider CMD...: as nobody, in the state's group or not.
	reader() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
	outsider() { setpriv --reuid=nobody --regid=daemon --clear-groups -- "$@"; }
	lock_up() { chmod 0640 ro/fieldsync.db ro/fieldsync.db-wal ro/fieldsync.db-shm; }
	unlock() { :; }
	chmod 0755 "$T"
else
	group=$(id -gn)
	reader() { "$@"; }
	outsider() { chmod 0 ro/fieldsync.db; "$@"; set -- $?; chmod 0444 ro/fieldsync.db; return "$1"; }
	lock_up() { chmod 0444 ro/fieldsync.db ro/fieldsync.db-wal ro/fieldsync.db-shm; chmod 0555 ro; }
	unlock() { chmod 0755 ro; }
	trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
fi
state=$T/ro/fieldsync.db
mkdir ro
cat >ro/fieldsync.conf <<EOF2
[state]
group = $group

[source "lob-events"]
secret_env = LOB_WEBHOOK_SECRET
EOF2
export FS_STATE="$state" FS_CONFIG="$T/ro/fieldsync.conf"

# A missing state file: no command that reads makes one.
run fs-health
is 'no state file: fs-health UNKNOWN, exit 3, no file made' "$status/$(cat "$T/out")/$(ls ro)" \
	"3/FIELDSYNC UNKNOWN - cannot open state '$state': No such file or directory/fieldsync.conf"
run fs-report sla
is 'no state file: fs-report exits 3 with one line, no file made' "$status/$(cat "$T/out")/$(cat "$T/err")/$(ls ro)" \
	"3//fs-report: cannot open state '$state': No such file or directory/fieldsync.conf"
run fs-health switch lob-events polling
is 'no state file: fs-health switch writes none either' "$status/$(cat "$T/err")/$(ls ro)" \
	"3/fs-health: cannot open state '$state': No such file or directory/fieldsync.conf"

# The commands that write make it, and leave its -wal and -shm beside it.
lob_hook 2026-11-30T00:40:00Z evt_1
printf 'a\nb\n' | FS_NOW=2026-11-30T00:50:00Z fs-normalize 2>/dev/null
fs-health >want-health
fs-report sla --format text >want-sla
lock_up
is 'the reader may read the file, not write it nor its directory' \
	"$(reader sh -c 'test -r "$FS_STATE" && echo r; test -w "$FS_STATE" || echo no-w; test -w "${FS_STATE%/*}" || echo no-dir-w' | tr '\n' ' ')" \
	'r no-w no-dir-w '
reader fs-health >"$T/out" 2>"$T/err"
is 'fs-health as a reader: the same panel, exit 0, nothing on stderr' \
	"$?/$(cat "$T/err")/$(head -n 1 "$T/out")/$(diff want-health "$T/out" && echo same)" \
	'0//FIELDSYNC OK - 1 source, 0 targets, 2 dead letters | dlq=2;50;;0; lag_lob-events=U;600;;0;/same'
reader fs-report sla --format text >"$T/out" 2>"$T/err"
is 'fs-report as a reader: the same report, exit 0' "$?/$(cat "$T/err")/$(diff want-sla "$T/out" && echo same)" '0//same'
reader fs-report changelog --format json >"$T/out" 2>"$T/err"
is 'fs-report as a reader, another report' "$?/$(cat "$T/err")/$(head -c 22 "$T/out")" '0//{"report":"changelog",'
is 'the reader wrote nothing: the WAL is still empty' "$(stat -c %s ro/fieldsync.db-wal)" 0

outsider fs-health >"$T/out" 2>"$T/err"
is 'a user who may not read it: UNKNOWN, why on the status line' "$?/$(cat "$T/out")/$(cat "$T/err")" \
	"3/FIELDSYNC UNKNOWN - cannot open state '$state': Permission denied/"
outsider fs-report sla >"$T/out" 2>"$T/err"
is '... and fs-report: exit 3, one line' "$?/$(cat "$T/out")/$(cat "$T/err")" \
	"3//fs-report: cannot open state '$state': Permission denied"

# Without the -shm (the sqlite3 shell removes it when it closes the file
# last), SQLite cannot read a WAL file in a directory the reader may not write.
unlock
rm ro/fieldsync.db-wal ro/fieldsync.db-shm
lock_up 2>/dev/null
reader fs-health >"$T/out" 2>"$T/err"
is 'no -shm and a directory the reader may not write: UNKNOWN, and why' "$?/$(cat "$T/out")" \
	"3/FIELDSYNC UNKNOWN - cannot open state '$state': no '$state-shm' beside it, and directory '$T/ro' is not writable (a command that writes the state makes one)"
unlock
chmod u+w ro/fieldsync.db
fs-dlq count >/dev/null
lock_up
reader fs-health >"$T/out" 2>"$T/err"
is 'a command that writes puts them back: the reader reads again' "$?/$(diff want-health "$T/out" && echo same)" '0/same'

# An old schema, read-only: the same line as for every command.
unlock
"$top/tests/unit/old-state" ro/old.db 1
chmod 0644 ro/old.db
lock_up
reader fs-health -s "$T/ro/old.db" >"$T/out" 2>"$T/err"
is 'an older schema, read-only: fs-health UNKNOWN with the one line' "$?/$(cat "$T/out")" \
	"3/FIELDSYNC UNKNOWN - state '$T/ro/old.db' has schema version 1 and this fieldsync needs $current_schema: run 'fs-state backup FILE', then 'fs-state migrate'"
reader fs-report -s "$T/ro/old.db" sla >"$T/out" 2>"$T/err"
is '... fs-report: exit 3, the one line' "$?/$(cat "$T/err")" \
	"3/fs-report: state '$T/ro/old.db' has schema version 1 and this fieldsync needs $current_schema: run 'fs-state backup FILE', then 'fs-state migrate'"
reader fs-state -s "$T/ro/old.db" info >"$T/out" 2>"$T/err"
is 'fs-state info as a reader, on the older schema' "$?/$(sed -n 2p "$T/out")" \
	"0/schema   version 1 (this fieldsync: $current_schema): run 'fs-state backup FILE', then 'fs-state migrate'"
unlock
done_testing
