#!/bin/sh
# fs-push to a Jobber target: each mail.status event written back to its
# client, in the custom field status_field names when the account has it,
# else as a note; a re-run writes nothing twice, a throttled answer waits,
# an expired token is refreshed mid-run, and a run killed while a note was
# being written leaves every status written once after the next run.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake Jobber'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 29

python3 "$fakes/fake_jobber.py" --port 0 --port-file "$T/jb.port" --now 2026-11-30T00:00:00Z \
	--log "$T/jb.log" 2>>"$T/jb.stderr" &
fake_pids=$!
wait_port "$T/jb.port" "the fake Jobber"
url=http://127.0.0.1:$(cat "$T/jb.port")
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
export JOBBER_CLIENT_ID=fake-jobber-client-id JOBBER_CLIENT_SECRET=fake-jobber-client-secret
conf() { # extra config lines
	printf '[target "crm"]\nkind = jobber\nurl = %s\noauth_file = %s/oauth.json\nretry = 1s..1s x3\n%s\n' \
		"$url" "$T" "$1" >fieldsync.conf
}
admin POST tokens >oauth.json && chmod 600 oauth.json
admin POST clients '[{"id":"c01","firstName":"Ana","updatedAt":"2026-11-29T10:00:00Z"},
 {"id":"c02","firstName":"Bo","updatedAt":"2026-11-29T10:00:00Z"},
 {"id":"c03","firstName":"Cy","updatedAt":"2026-11-29T10:00:00Z"}]' >/dev/null
requests() { admin GET "requests?path_prefix=/api/" | jq -r "$1"; }
roots() { requests '[.requests[] | "\(.roots | join("+")) \(.status)"] | join(", ")'; }
notes() { admin GET notes | jq -r '.notes[] | "\(.clientId) \(.message)"'; }
field_of() { admin GET "clients/$1" | jq -r '.customFields | to_entries | map(.value) | join(",")'; }
outbox() { sql "select event_id || ' ' || state || ' ' || attempts from outbox order by id"; }

# --- the custom field ------------------------------------------------------
conf ''
admin POST custom_fields '{"name":"Mail status"}' >/dev/null
{ mstatus e1 psc_1 c01 sent; mstatus e2 psc_2 c02 delivered; } >field.ndjson
run fs-push crm <field.ndjson
is 'custom field: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
sort -o "$T/out" "$T/out"	# two requests in flight: their results come in either order
out_is 'custom field: a result for each event, the client as vendor_id' <<'EOT'
{"type":"result","event_id":"e1","target":"crm","status":"sent","vendor_id":"c01","http_status":200,"attempts":1}
{"type":"result","event_id":"e2","target":"crm","status":"sent","vendor_id":"c02","http_status":200,"attempts":1}
EOT
is 'custom field: the value is in each client' "$(field_of c01)/$(field_of c02)" 'Sent/Delivered'
is 'custom field: one look-up of the fields, then a clientEdit each' "$(roots)" \
	'customFieldConfigurations 200, clientEdit 200, clientEdit 200'
is 'custom field: the version header on each' "$(requests '[.requests[].version] | unique | join(" ")')" 2025-01-20
is 'custom field: no note' "$(notes | wc -l | tr -d ' ')" 0
is 'custom field: the changelog says what was written' \
	"$(sql "select event_id || ' ' || json_extract(detail, '\$.properties') from changelog where kind = 'crm.update' order by event_id")" \
	'e1 {"custom_field":{"Mail status":"Sent"}}
e2 {"custom_field":{"Mail status":"Delivered"}}'
admin DELETE requests >/dev/null
run fs-push crm <field.ndjson
is 're-run: exit 0, no request at all, the outbox as it was' "$status/$(roots)/$(outbox | tr '\n' ,)" \
	'0//e1 sent 1,e2 sent 1,'

# --- a note when the account has no such field --------------------------
conf 'status_field = Last mailer'
admin DELETE requests >/dev/null
{ mstatus e3 psc_3 c03 sent; mstatus e4 psc_3 c03 delivered 2026-11-30T00:40:00Z; mstatus e5 psc_9 c77 sent; } >note.ndjson
run fs-push crm <note.ndjson
is 'notes: exit 1 (an unknown client went to the DLQ), its line' "$status/$(cat "$T/err")" \
	'1/fs-push: e5: clientCreateNote: Client not found (dead letter #1)'
is 'notes: a note a status change, each carrying its event id' "$(notes | sort -k11)" \
	'c03 Mail Sent on 2026-11-30 (piece psc_3, campaign thanks) [fieldsync e3]
c03 Mail Delivered on 2026-11-30 (piece psc_3, campaign thanks) [fieldsync e4]'
is 'notes: the look-up, then a clientCreateNote each' "$(roots)" \
	'customFieldConfigurations 200, clientCreateNote 200, clientCreateNote 200, clientCreateNote 200'
is 'notes: the client custom field untouched' "$(field_of c03)" ''
is 'notes: the DLQ holds the line' "$(sql "select event_id || ' ' || reason from dlq")" 'e5 clientCreateNote: Client not found'
admin DELETE requests >/dev/null
run fs-push crm <note.ndjson
is 're-run: exit 0, no request, still two notes' "$status/$(roots)/$(notes | wc -l | tr -d ' ')" '0//2'
# An account whose plan has no custom fields lists none: notes, whatever status_field says.
conf ''
admin POST account '{"custom_fields":false}' >/dev/null
mstatus e6 psc_6 c02 returned | fs-push crm >/dev/null 2>&1
is 'a plan without custom fields: a note' "$(notes | grep -c 'Mail Returned.*\[fieldsync e6\]')/$(field_of c02)" '1/Delivered'
admin POST account '{"custom_fields":true}' >/dev/null

# --- throttled inside a 200 -------------------------------------------------
admin POST budget '{"maximumAvailable":10000,"currentlyAvailable":0,"restoreRate":500}' >/dev/null
admin DELETE requests >/dev/null
mstatus e7 psc_7 c01 delivered >thr.ndjson
run fs-push crm <thr.ndjson
is 'throttled: exit 0, written' "$status/$(field_of c01)" 0/Delivered
is 'throttled: the look-up waited, the write went through' \
	"$(requests '[.requests[] | "\(.roots | join("+")) \(.throttled)"] | join(", ")')" \
	'customFieldConfigurations true, customFieldConfigurations false, clientEdit false'
admin POST budget '{"maximumAvailable":10000,"currentlyAvailable":0,"restoreRate":0.001}' >/dev/null
conf 'status_field = Last mailer'
mstatus e8 psc_8 c01 sent >thr2.ndjson
admin DELETE requests >/dev/null
run fs-push crm <thr2.ndjson
is 'throttled for good: exit 4, one line, the row still pending' \
	"$status/$(cat "$T/err")/$(sql "select state || ' ' || attempts from outbox where event_id = 'e8'")" \
	'4/fs-push: crm: POST /api/graphql: throttled (query cost 303, 0 points available) after 3 attempts/pending 0'
admin POST budget '{"maximumAvailable":10000,"currentlyAvailable":10000,"restoreRate":500}' >/dev/null
run fs-push crm </dev/null
is 'the bucket refilled: the pending row is written' "$status/$(notes | grep -c '\[fieldsync e8\]')" 0/1

# --- the access token expires mid-run ---------------------------------------
cp oauth.json before.json
admin POST faults '{"status":401,"operation":"clientCreateNote","message":"Invalid Token Error"}' >/dev/null
admin DELETE requests >/dev/null
mstatus e9 psc_9b c02 sent >tok.ndjson
run fs-push crm <tok.ndjson
is 'a 401 mid-run: exit 0, the note written once' "$status/$(cat "$T/err")/$(notes | grep -c '\[fieldsync e9\]')" 0//1
is 'a 401 mid-run: one refresh, then the write again with the new token' \
	"$(requests '[.requests[] | "\(.path) \(.status)"] | join(", ")')" \
	'/api/graphql 200, /api/graphql 401, /api/oauth/token 200, /api/graphql 200'
is 'the rotated pair is saved' "$(test "$(jq -r .refresh_token before.json)" != "$(jq -r .refresh_token oauth.json)" && echo rotated)" rotated
admin POST clock '{"advance_ms":7200000}' >/dev/null
admin DELETE requests >/dev/null
mstatus e10 psc_10 c02 delivered | fs-push crm >/dev/null 2>"$T/err"
is 'expired before the run: the look-up refreshes, the write uses the new token' \
	"$?/$(requests '[.requests[] | "\(.path) \(.status) \(.auth)"] | join(", ")')" \
	'0//api/graphql 401 expired, /api/oauth/token 200 refresh:ok, /api/graphql 200 ok, /api/graphql 200 ok'
cp before.json oauth.json
admin POST clock '{"advance_ms":7200000}' >/dev/null
mstatus e11 psc_11 c02 sent >gone.ndjson
run fs-push crm <gone.ndjson
is 'a refresh token already redeemed: exit 2, the row still pending' \
	"$status/$(sql "select state from outbox where event_id = 'e11'")" '2/pending'
admin POST tokens >oauth.json && chmod 600 oauth.json
fs-push crm </dev/null >/dev/null 2>&1

# --- SIGKILL while a note is being written ----------------------------------
# The second note is carried out at the fake, its answer held back; the
# run is killed waiting for it.  The next run looks at the client's notes
# before writing a row a dead run had claimed, and finds it there.
admin DELETE requests >/dev/null
{ for i in 1 2 3 4; do mstatus k$i psc_k$i c03 sent; done; } >kill.ndjson
admin POST faults '{"hold_ms":30000,"operation":"clientCreateNote","skip":1}' >/dev/null
fs-push --parallel 1 crm <kill.ndjson >killed.out 2>/dev/null &
kill_held $!
is 'killed: the held note was written at Jobber, the outbox does not know' \
	"$(notes | grep -c '\[fieldsync k2\]')/$(sql "select state from outbox where event_id = 'k2'")" '1/pending'
run fs-push crm </dev/null
is 'resumed: exit 0, every row sent' "$status/$(sql "select group_concat(state) from outbox where event_id like 'k%'")" \
	'0/sent,sent,sent,sent'
is 'killed + resumed: each status written exactly once' \
	"$(for i in 1 2 3 4; do notes | grep -c "\[fieldsync k$i\]"; done | tr '\n' ' ')" '1 1 1 1 '
is 'resumed: the note found is in the changelog, none written again (k2'"'"'s answer is still held)' \
	"$(sql "select json_extract(detail, '\$.properties.found') from changelog where kind = 'crm.update' and event_id = 'k2'")/$(requests '[.requests[] | select(.roots[0] == "clientCreateNote")] | length')" \
	'1/3'

# Tokens and the client secret appear in no output or state.
for s in $(jq -r '.access_token, .refresh_token' before.json oauth.json) fake-jobber-client-secret; do
	cat "$T/out" "$T/err" killed.out | grep -F -e "$s"
	sqlite3 "$FS_STATE" .dump | grep -F -e "$s"
done >leaks
is 'no token and no client secret in any output or in the state' "$(wc -l <leaks | tr -d ' ')" 0
done_testing
