#!/bin/sh
# fs-normalize: vendor records in, canonical events out, bad lines to the DLQ.
. "$(dirname "$0")/lib.sh"
fx=$top/tests/fixtures
plan 68
cp "$fx/normalize.conf" fieldsync.conf
# stderr less the note that a campaign's trigger is not checked (said once per state file).
nocheck() { grep -v 'is not checked' "$T/err"; }

run fs-normalize <"$fx/hubspot-contacts.ndjson"
is 'good records: exit 0' "$status" 0
out_norun_is 'HubSpot contacts become canonical events, trigger fires, checkpoint passes' <<'EOF2'
{"type":"event","id":"evt_6f6b9ea7eb7d11b3e875b2ee26afba13","source":"hubspot","kind":"contact.changed","object":"contact:101","occurred_at":"2026-11-29T10:00:00Z","data":{"id":"101","email":"ann.lee@example.com","phone":"+15125550100","first_name":"Ann","last_name":"Lee","address":{"line1":"1 Main St","city":"Austin","region":"TX","postal_code":"78701","country":"US"},"status":"job_completed","owner":"7","updated_at":"2026-11-29T10:00:00Z"}}
{"type":"event","id":"evt_f16198012a16d9d5f6ec83f3a9d0d6a3","source":"hubspot","kind":"mail.requested","object":"contact:101","occurred_at":"2026-11-29T10:00:00Z","data":{"contact_id":"101","campaign":"thank-you","goal":"retention","format":"postcard","template":"tmpl_thank_you","back":"tmpl_thank_you","to":{"name":"Ann Lee","line1":"1 Main St","city":"Austin","region":"TX","postal_code":"78701","country":"US"},"trigger":{"field":"status","from":null,"to":"job_completed"}}}
{"type":"event","id":"evt_77c8be54f4cd68aad2f3a6d848a52ab8","source":"hubspot","kind":"contact.changed","object":"contact:102","occurred_at":"2026-11-29T11:00:00Z","data":{"id":"102","email":"bob@example.com","phone":"+442079460958","first_name":"Bob","last_name":"Ray","company":"Ray Ltd","address":{"line1":"2 High St","city":"London","postal_code":"SW1A 1AA","country":"GB"},"status":"lead","updated_at":"2026-11-29T11:00:00Z"}}
{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"2026-11-29T11:00:00Z/102"}
EOF2
is 'one run id for the whole run' "$(grep -o '"run_id":"[^"]*"' "$T/out" | sort -u | wc -l)" 1
# No fs-pull --describe listing: the trigger cannot be checked, which is said once.
notice="fs-normalize: campaign 'thank-you': its trigger is not checked: no fs-pull --describe listing of source 'hubspot' (said once; see fieldsync(7), \"Checking a campaign\")"
err_is 'stderr: only that the trigger is not checked' <<EOF2
$notice
EOF2
cp "$T/out" first
run fs-normalize <"$fx/hubspot-contacts.ndjson"
is 'the same input gives the same output but for run_id' "$(norun first)" "$(norun)"
err_is 'the next run says nothing' </dev/null
is 'no checkpoint cursor is committed without --commit' "$(sql 'select count(*) from cursors')" 0

# The trigger's "from" is the status before this version, and stays so on a re-run.
sed 's/"lifecyclestage":"lead"/"lifecyclestage":"job_completed"/; s/11:00:00Z/12:00:00Z/g' \
	"$fx/hubspot-contacts.ndjson" | grep '"102"' >changed.ndjson
run fs-normalize <changed.ndjson
is 'a status change fires with from = the previous status' \
	"$(grep -o '"trigger":{[^}]*}' "$T/out")" '"trigger":{"field":"status","from":"lead","to":"job_completed"}'
run fs-normalize <changed.ndjson
is 'the same version again gives the same from' \
	"$(grep -o '"trigger":{[^}]*}' "$T/out")" '"trigger":{"field":"status","from":"lead","to":"job_completed"}'

run fs-normalize --commit <"$fx/hubspot-contacts.ndjson"
is '--commit commits the checkpoint cursor' "$(sql 'select source, stream, cursor from cursors')" \
	'hubspot|contacts|2026-11-29T11:00:00Z/102'

# Bad lines: each gets one error line, a DLQ entry with its bytes, exit 1,
# and the good lines around it still come out.
good1=$(sed -n 1p "$fx/hubspot-contacts.ndjson")
good2=$(sed -n 2p "$fx/hubspot-contacts.ndjson")
bad_case() { # name, bad line, expected stderr
	rm -f fieldsync.db*
	printf '%s\n%s\n%s\n' "$good1" "$2" "$good2" >bad.ndjson
	run fs-normalize <bad.ndjson
	is "$1: exit 1" "$status" 1
	is "$1: error line" "$(grep -v -e drift: -e 'is not checked' "$T/err")" "$3"
	is "$1: DLQ holds the original bytes" "$(sql "select lineno || ' ' || bytes from dlq")" "2 $2"
	is "$1: the good lines around it come out" "$(grep -c '"kind":"contact.changed"' "$T/out")" 2
}
bad_case 'invalid JSON' '{"type":"record",}' 'fs-normalize: line 2: invalid JSON at byte 18'
bad_case 'truncated line' '{"type":"record","source":"hubsp' 'fs-normalize: line 2: invalid JSON at byte 33'
bad_case 'not an object' '[1,2]' 'fs-normalize: line 2: not a JSON object'
bad_case 'missing type' '{"source":"hubspot","data":{}}' 'fs-normalize: line 2: missing "type"'
# An optional field that fails validation moves to data.invalid, counted in
# the run's row, and the event goes on (the DLQ is for what it cannot do without).
rm -f fieldsync.db*
echo '{"type":"record","source":"hubspot","data":{"id":"9","properties":{"email":5,"phone":"12","lastmodifieddate":"2026-11-29T10:00:00Z"}}}' >invalid.ndjson
run fs-normalize <invalid.ndjson
is 'invalid optional fields: exit 0, no dead letter, nothing said' "$status/$(sql 'select count(*) from dlq')/$(nocheck)" 0/0/
out_norun_is 'invalid optional fields: moved to data.invalid with value and reason' <<'EOF2'
{"type":"event","id":"evt_7bca96cc9d93421a0ac24a6688a4b39a","source":"hubspot","kind":"contact.changed","object":"contact:9","occurred_at":"2026-11-29T10:00:00Z","data":{"id":"9","updated_at":"2026-11-29T10:00:00Z","invalid":{"email":{"value":5,"reason":"not a string"},"phone":{"value":"12","reason":"not an E.164 phone number"}}}}
EOF2
is 'invalid optional fields: counted in the run row' \
	"$(sql "select json_extract(detail, '$.invalid') from changelog where kind = 'run'")" '{"email":1,"phone":1}'
bad_case 'missing fields' \
	'{"type":"record","source":"hubspot","data":{"id":"9","properties":{"email":"a@b.co"}}}' \
	'fs-normalize: line 2: missing "occurred_at"; missing "updated_at"'
bad_case 'unknown source, no map' \
	'{"type":"record","source":"acme","data":{"id":"9"}}' \
	"fs-normalize: unknown source 'acme': no [source \"acme\"] section and no built-in kind of that name
fs-normalize: line 2: unknown source \"acme\""

rm -f fieldsync.db*
printf '%s\n\377\376{}\n' "$good1" >bad.ndjson
run fs-normalize <bad.ndjson
is 'invalid UTF-8: exit 1' "$status" 1
is 'invalid UTF-8: error line' "$(nocheck)" 'fs-normalize: line 2: invalid UTF-8 at byte 1'
is 'invalid UTF-8: DLQ holds the exact bytes' "$(sql "select hex(bytes) from dlq")" 'FFFE7B7D'

rm -f fieldsync.db*
{ echo "$good1"; printf '{"type":"record","pad":"'; head -c 1100000 /dev/zero | tr '\0' x; echo '"}'; echo "$good2"; } >long.ndjson
run fs-normalize <long.ndjson
is 'over-long line: exit 1' "$status" 1
is 'over-long line: error line' "$(nocheck)" \
	'fs-normalize: line 2: line longer than 1048576 bytes (1100026 bytes; the DLQ keeps the first 1048576)'
is 'over-long line: DLQ keeps the head' "$(sql "select length(bytes), substr(bytes, 1, 25) from dlq")" \
	'1048576|{"type":"record","pad":"x'
is 'over-long line: the lines around it come out' "$(grep -c '"kind":"contact.changed"' "$T/out")" 2

# Blank lines, CRLF, a missing final newline.
rm -f fieldsync.db*
printf '\n%s\r\n  \n%s' "$good1" "$good2" >crlf.ndjson
run fs-normalize -v <crlf.ndjson
is 'CRLF, blank lines and no final newline: exit 0' "$status" 0
is 'CRLF, blank lines and no final newline: all records' "$(grep -c '"kind":"contact.changed"' "$T/out")" 2
is 'blank lines are counted' "$(tail -n 1 "$T/err")" \
	'fs-normalize: 2 records, 2 events, 1 mail requests, 0 dead, 2 blank lines, 0 passed through'

# Other types pass through in order; lines already canonical are not touched.
printf '%s\n%s\n%s\n' '{"type":"result","x":1}' "$good2" '{"type":"event","id":"evt_1"}' >mixed.ndjson
run fs-normalize <mixed.ndjson
is 'pass-through keeps order and bytes' "$(sed -n '1p;3p' "$T/out")" '{"type":"result","x":1}
{"type":"event","id":"evt_1"}'

# Raw vendor objects with --source, and --keep-raw.
echo '{"Contact ID":"7","E-mail":"x@y.io","First Name":"Xi","Last Name":"Yu","Street Address":"9 Elm St","City":"Reno","State":"NV","Zip":"89501","Job Status":"done","Last Modified":"2026-11-28 09:30:00"}' >export.ndjson
run fs-normalize --source csv --keep-raw <export.ndjson
out_norun_is 'a raw CSV row with --source csv, raw kept' <<'EOF2'
{"type":"event","id":"evt_65e3f72d03bfc4bc49720a77a04bcb13","source":"csv","kind":"contact.changed","object":"contact:7","occurred_at":"2026-11-28T09:30:00Z","data":{"id":"7","email":"x@y.io","first_name":"Xi","last_name":"Yu","address":{"line1":"9 Elm St","city":"Reno","region":"NV","postal_code":"89501","country":"US"},"status":"done","updated_at":"2026-11-28T09:30:00Z"},"raw":{"Contact ID":"7","E-mail":"x@y.io","First Name":"Xi","Last Name":"Yu","Street Address":"9 Elm St","City":"Reno","State":"NV","Zip":"89501","Job Status":"done","Last Modified":"2026-11-28 09:30:00"}}
EOF2

# US exports write month-first dates; a date that is not one goes to the DLQ
# naming its column.
printf '%s\n' '{"ID":"8","Last Modified":"11/28/2026 2:05 PM"}' '{"ID":"9","Modified":"1795861800000"}' \
	'{"ID":"10","updated_at":"2026-11-28T09:30:00+02:00"}' '{"ID":"11","Last Modified":"28.11.2026"}' \
	'{"ID":"12","Last Modified":"02/30/2026"}' >us.ndjson
run fs-normalize --source csv <us.ndjson
is 'CSV contact dates: US, epoch ms and RFC 3339 read; others dead-lettered' \
	"$status/$(jq -r '[.object, .data.updated_at] | join(" ")' "$T/out")/$(cat "$T/err")" \
	'1/contact:8 2026-11-28T14:05:00Z
contact:9 2026-11-28T10:30:00Z
contact:10 2026-11-28T07:30:00Z/fs-normalize: line 4: map error: column "Last Modified": "28.11.2026" is not a date (YYYY-MM-DD, MM/DD/YYYY or RFC 3339, optionally with a time)
fs-normalize: line 5: map error: column "Last Modified": "02/30/2026" is not a date (YYYY-MM-DD, MM/DD/YYYY or RFC 3339, optionally with a time)'

echo '{"id":"evt_lob1","body":{"id":"psc_1","metadata":{"event_id":"evt_m1","contact_id":"101","campaign":"thank-you"}},"event_type":{"id":"postcard.delivered"},"date_created":"2026-11-29T12:00:00.123Z","object":"event"}' >lob.ndjson
run fs-normalize --source lob-events <lob.ndjson
out_norun_is 'a Lob tracking event becomes mail.status' <<'EOF2'
{"type":"event","id":"evt_c4cf86b2c718a0d3ae30031d759223fd","source":"lob-events","kind":"mail.status","object":"mail:psc_1","occurred_at":"2026-11-29T12:00:00Z","data":{"mail_id":"evt_m1","vendor":"lob","vendor_id":"psc_1","contact_id":"101","campaign":"thank-you","status":"delivered","detail":"postcard.delivered"}}
EOF2

# Mapping drift: counted in the run's changelog row, listed with -v; --strict dead-letters it.
rm -f fieldsync.db*
sed 's/"lifecyclestage"/"favourite_colour":"red","lifecyclestage"/' "$fx/hubspot-contacts.ndjson" | sed -n 1p >drift.ndjson
run fs-normalize <drift.ndjson
is 'drift: nothing on stderr, counted in the run row' \
	"$status/$(nocheck)/$(sql "select object, json_remove(detail, '$.ms') from changelog where kind = 'run'")" \
	'0//fs-normalize|{"records":1,"events":1,"mail_requests":1,"dead":0,"blank":0,"passed":0,"drift":{"unmapped":1,"absent":0},"invalid":{},"exit":0}'
run fs-normalize -v <drift.ndjson
is 'with -v: the summary and each path' "$(grep drift -A1 "$T/err")" \
'fs-normalize: drift: 1 unmapped field, 0 absent map paths
fs-normalize: field "data.properties.favourite_colour" is not read by the map (1 records)'
run fs-normalize --strict <drift.ndjson
is '--strict: drift goes to the DLQ' "$status/$(cat "$T/err" | head -n 1)" \
	'1/fs-normalize: line 1: unmapped field "data.properties.favourite_colour"'

# A trigger for a contact without a mailing address: DLQ, the contact still comes out.
echo '{"type":"record","source":"hubspot","data":{"id":"5","properties":{"firstname":"No","lifecyclestage":"job_completed","lastmodifieddate":"2026-11-29T10:00:00Z"}}}' >noaddr.ndjson
run fs-normalize <noaddr.ndjson
is 'incomplete address: one error naming every missing field' "$(grep -v drift "$T/err")" \
	'fs-normalize: line 1: mail.requested for campaign "thank-you": missing "to.line1"; missing "to.city"; missing "to.region"; missing "to.postal_code"; missing "to.country"'
is 'incomplete address: the contact event still comes out' "$(grep -c contact.changed "$T/out")/$status" 1/1

# Usage, config and state errors.
run fs-normalize --map nope.jq </dev/null
is 'unknown --map: exit 2' "$status/$(cat "$T/err")" "2/fs-normalize: map 'nope.jq' not found"
run fs-normalize --bogus </dev/null
is 'unknown option: exit 2' "$status" 2
run fs-normalize -h
is '-h prints usage and exits 0' "$status/$(head -c 19 "$T/out")" '0/usage: fs-normalize'
run fs-normalize -s /nonexistent/dir/x.db </dev/null
is 'missing state directory: exit 3' "$status/$(cat "$T/err")" \
	"3/fs-normalize: cannot open state '/nonexistent/dir/x.db': directory '/nonexistent/dir' does not exist"
if on_pg; then
	skip 'read-only state: a copy of the SQLite file made read-only (a PostgreSQL state is no file)'
else
	cp fieldsync.db ro.db && chmod 0444 ro.db
	run fs-normalize -s ro.db </dev/null
	is 'read-only state: exit 3' "$status/$(cat "$T/err")" "3/fs-normalize: cannot open state 'ro.db': the file is read-only"
fi
echo 'this is not a database, not at all, no' >corrupt.db
run fs-normalize -s corrupt.db </dev/null
is 'corrupt state: exit 3' "$status/$(cat "$T/err")" \
	"3/fs-normalize: state 'corrupt.db': not a fieldsync state file (file is not a database)"
if on_pg; then
	skip "locked state: SQLite's exclusive lock on the file (sqlite3 fieldsync.db), which PostgreSQL has not"
else
	{ echo 'BEGIN EXCLUSIVE;'; sleep 3; echo 'COMMIT;'; } | sqlite3 fieldsync.db &
	sleep 1
	FS_BUSY_TIMEOUT=200 run fs-normalize <"$fx/hubspot-contacts.ndjson"
	is 'locked state: exit 3' "$status/$(cat "$T/err")" "3/fs-normalize: state '$T/fieldsync.db': database is locked"
	wait
fi
# A first pipeline: every stage creates the same new state file at once.
# SQLite refuses one of two readers that both want the write lock that turns
# on WAL, without waiting; the open backs off and tries again.  They wait as
# long as production does (the 2 s the other tests use is too short
# for eight creators under the sanitizers on a busy machine).
for round in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do
	rm -f new.db new.db-wal new.db-shm
	for stage in 1 2 3 4 5 6 7 8; do FS_BUSY_TIMEOUT=10000 fs-normalize -q -s new.db </dev/null 2>>new.err & done
	wait
done
is '240 stages creating new state files, 8 at a time: none refused' "$(cat new.err)" ''
printf '[nonsense\n' >bad.conf
run fs-normalize -c bad.conf </dev/null
is 'malformed config: exit 2' "$status/$(cat "$T/err")" '2/fs-normalize: bad.conf:1: malformed section header'
run fs-normalize --print-config
is '--print-config redacts nothing it need not, and shows the config' \
	"$status/$(grep -e '^\[source' -e '^kind =' -e '^token_env =' -e '^template =' "$T/out")" \
	'0/[source "hubspot"]
kind = hubspot
token_env = HUBSPOT_TOKEN
template = tmpl_thank_you'

# A reader that goes away early is no error, as for cat or grep: the loop
# stops without a word and keeps its status.  Another write error is one.
for i in $(seq 2000); do echo "$good2"; done >many.ndjson
sh -c 'fs-normalize <many.ndjson 2>err2; echo $? >rc' | head -c 10 >/dev/null
is 'closed pipe: exit 0, nothing said' "$(cat rc)/$(cat err2)" '0/'
sh -c 'fs-normalize <many.ndjson >/dev/full 2>err2; echo $? >rc'
is 'full disk: exit 4 and a write error' "$(cat rc)/$(cat err2)" \
	'4/fs-normalize: write error on standard output: No space left on device'
done_testing
