#!/bin/sh
# fs-dlq: list, show, count, replay (byte for byte), dry runs, purge.
. "$(dirname "$0")/lib.sh"
plan 23
cat >fieldsync.conf <<'EOF2'
[target "mail"]
kind  = lob
price = postcard 0.65, letter 1.10
EOF2
good='{"type":"record","source":"hubspot","data":{"id":"1","properties":{"email":"a@b.co","lastmodifieddate":"2026-11-29T10:00:00Z"}}}'
bademail='{"type":"record","source":"hubspot","data":{"id":"2","properties":{"email":"bad@","lastmodifieddate":"2026-11-29T10:00:00Z"}}}'
printf '%s\nnot json\n%s\n\377\n' "$good" "$bademail" >in.ndjson
fs-normalize -q <in.ndjson >/dev/null 2>&1

run fs-dlq count
is 'count prints a bare integer' "$status/$(cat "$T/out")" 0/3
run fs-dlq list
is 'list is NDJSON when stdout is not a terminal' "$(cut -c1-60 "$T/out")" \
'{"id":1,"at":"2026-11-30T01:00:00Z","command":"fs-normalize"
{"id":2,"at":"2026-11-30T01:00:00Z","command":"fs-normalize"
{"id":3,"at":"2026-11-30T01:00:00Z","command":"fs-normalize"'
is 'list entries carry reason and line' "$(jq -r '"\(.line) \(.reason)"' "$T/out")" \
'2 invalid JSON at byte 1
3 "email" is not a valid e-mail
4 invalid UTF-8 at byte 1'
run fs-dlq show 2
is 'show gives the whole entry' "$(grep -o '"bytes":.*' "$T/out")" "\"bytes\":$(printf '%s' "$bademail" | jq -R .)}"
run fs-dlq show 99
is 'show of an unknown id: exit 2' "$status/$(cat "$T/err")" '2/fs-dlq: show: no dead letter #99'

# Replay writes the original bytes, exactly, and marks the entries.
run fs-dlq replay 3 1
is 'replay: exit 0' "$status" 0
is 'replay writes the original bytes, in id order' "$(od -An -c "$T/out" | tr -s ' ')" "$(printf 'not json\n\377\n' | od -An -c | tr -s ' ')"
is 'replayed entries leave the open count' "$(fs-dlq count)" 1
is 'each replay has a changelog row' "$(sql "select kind, detail from changelog where kind like 'dlq.%' order by id")" \
'dlq.replay|{"dlq_id":1}
dlq.replay|{"dlq_id":3}'
run fs-dlq replay 1
is 'replaying an entry no longer open: exit 2, and how to open it again' "$status/$(cat "$T/err")" \
	"2/fs-dlq: replay: dead letter #1 was replayed at $FS_NOW; 'fs-dlq reopen 1' opens it again"
run fs-dlq replay 99
is 'replaying an entry that never was: exit 2' "$status/$(cat "$T/err")" '2/fs-dlq: replay: no open dead letter #99'

# Repair by piping; a line that fails again is linked to the entry it came from.
fs-dlq replay --reason 'e-mail' 2>/dev/null | sed 's/bad@/bad@example.com/' | fs-normalize >out 2>err
is 'repaired line goes through' "$?/$(grep -c contact.changed out)" 0/1
is 'nothing left open' "$(fs-dlq count)" 0
printf 'not json\n' | fs-normalize 2>/dev/null
is 'the same bad line again is linked to the replayed entry' "$(sql "select id, replay_of from dlq where state = 'open'")" '4|1'
printf 'not json\n' | fs-normalize 2>/dev/null
is 'and seen twice is one entry, counted' "$(sql "select count(*), max(seen) from dlq where state = 'open'")" '1|2'

# Dry run: what would be sent and what it would cost.
rm -f fieldsync.db*
req='{"type":"event","id":"evt_1","kind":"mail.requested","data":{"format":"postcard"}}'
ltr='{"type":"event","id":"evt_2","kind":"mail.requested","data":{"format":"letter"}}'
printf '%s\n%s\n%s\n' "$req" "$ltr" '{"id":"evt_3"}' | sed 's/"type":"event",//' | fs-normalize 2>/dev/null
before=$(sql 'select count(*) from changelog')
run fs-dlq replay --dry-run --all
out_is 'dry run lists the entries and prices the pieces' <<'EOF2'
would replay #1 (fs-normalize, line 1): missing "type"
would replay #2 (fs-normalize, line 2): missing "type"
would replay #3 (fs-normalize, line 3): missing "type"
3 dead letters would be replayed; 2 mail pieces (postcard 1, letter 1), estimated cost 1.75
EOF2
is 'dry run changes nothing' "$(fs-dlq count)/$(sql 'select count(*) from changelog')" "3/$before"

# Purge by age, on the $FS_NOW clock.
FS_NOW=2026-12-05T00:00:00Z fs-dlq purge --older-than 7d 2>"$T/err"
is 'purge keeps entries younger than the cut, and says nothing' "$?/$(fs-dlq count)/$(cat "$T/err")" '0/3/'
FS_NOW=2026-12-08T00:00:00Z fs-dlq -v purge --older-than 7d 2>"$T/err"
is 'purge removes older ones, with a changelog row (-v: a count)' \
	"$(fs-dlq count)/$(sql "select kind, detail from changelog order by id desc limit 1")/$(cat "$T/err")" \
	'0/dlq.purge|{"purged":3,"older_than":"2026-12-01T00:00:00Z"}/fs-dlq: purged 3 dead letters'

run fs-dlq purge --older-than soon
is 'purge with a bad duration: exit 2' "$status/$(cat "$T/err")" "2/fs-dlq: purge: 'soon' is not a duration (90s, 15m, 24h, 3d)"
run fs-dlq replay
is 'replay without a selection: exit 2' "$status/$(cat "$T/err")" '2/fs-dlq: replay: give entry ids, --all or --reason, one of them'
run fs-dlq frobnicate
is 'unknown subcommand: exit 2' "$status/$(head -n 1 "$T/err")" "2/fs-dlq: unknown subcommand 'frobnicate'"
run fs-dlq -h
is '-h: usage on stdout, exit 0' "$status/$(head -c 13 "$T/out")" '0/usage: fs-dlq'
done_testing
