#!/bin/sh
# fs-push to a ServiceTitan target: each mail.status event sets its
# customer's custom field (status_field_id, a typeId) with PATCH; a re-run
# writes nothing twice, a late older status never overwrites a newer one, a
# refused token is renewed once, a 429 waits, an unknown customer is a dead
# letter, and a killed run's rows are written once by the next.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake ServiceTitan'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 14

python3 "$fakes/fake_servicetitan.py" --port 0 --port-file "$T/st.port" --now 2026-11-30T00:00:00Z \
	--log "$T/st.log" 2>>"$T/st.stderr" &
fake_pids=$!
wait_port "$T/st.port" 'the fake ServiceTitan'
url=http://127.0.0.1:$(cat "$T/st.port")
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
export ST_APP_KEY=fake-st-app-key ST_CLIENT_ID=fake-st-client-id ST_CLIENT_SECRET=fake-st-client-secret
conf() { # extra config lines
	printf '[target "crm"]\nkind = servicetitan\nurl = %s\ntoken_url = %s/connect/token\ntenant = 1000\nretry = 1s..1s x3\nparallel = 1\n%s\n' \
		"$url" "$url" "$1" >fieldsync.conf
}
admin POST customers '[{"id":1,"name":"Ana Lee"},{"id":2,"name":"Bo Day"},{"id":3,"name":"Cy Dee"}]' >/dev/null
admin POST custom-field-types '{"id":77,"name":"Mail status"}' >/dev/null
requests() { admin GET "requests?path_prefix=${2:-/}" | jq -r "$1"; }
calls() { requests '[.requests[] | "\(.method) \(.path | sub("/crm/v2/tenant/1000"; "")) \(.status)"] | join(", ")'; }
field_of() { admin GET state | jq -r --argjson id "$1" '.customers[] | select(.id == $id) | .customFields | map("\(.typeId)=\(.value)") | join(",")'; }
outbox() { sql "select event_id || ' ' || state || ' ' || attempts from outbox order by id"; }

conf 'status_field_id = 77'
{ mstatus e1 psc_1 1 sent; mstatus e2 psc_2 2 delivered; } >field.ndjson
run fs-push crm <field.ndjson
is 'exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
out_is 'a result for each event, the customer as vendor_id' <<'EOT'
{"type":"result","event_id":"e1","target":"crm","status":"sent","vendor_id":"1","http_status":200,"attempts":1}
{"type":"result","event_id":"e2","target":"crm","status":"sent","vendor_id":"2","http_status":200,"attempts":1}
EOT
is 'the value is in each customer'"'"'s custom field' "$(field_of 1)/$(field_of 2)" '77=Sent/77=Delivered'
is 'a token, then a PATCH each with the app key' "$(calls)/$(requests '[.requests[] | select(.method == "PATCH") | .app_key] | unique | tostring')" \
	'POST /connect/token 200, PATCH /customers/1 200, PATCH /customers/2 200/[true]'
is 'the changelog says what was written' \
	"$(sql "select event_id || ' ' || json_extract(detail, '\$.properties') from changelog where kind = 'crm.update' order by id")" \
	'e1 {"custom_field":{"77":"Sent"}}
e2 {"custom_field":{"77":"Delivered"}}'
admin DELETE requests >/dev/null
run fs-push crm <field.ndjson
is 're-run: exit 0, no PATCH, the outbox as it was' "$status/$(requests '[.requests[] | select(.method == "PATCH")] | length')/$(outbox | tr '\n' ,)" \
	'0/0/e1 sent 1,e2 sent 1,'

# A delivered piece's late "sent" does not overwrite it.
{ mstatus e3 psc_3 3 delivered 2026-11-30T00:40:00Z; } | fs-push crm >/dev/null 2>&1
mstatus e4 psc_3 3 sent 2026-11-30T00:30:00Z | fs-push crm >/dev/null 2>&1
is 'a late older status: the field keeps the newer' "$(field_of 3)" '77=Delivered'

# A refused token: renewed once, the request sent again.
admin POST faults '{"status":401,"path_prefix":"/crm/"}' >/dev/null
admin DELETE requests >/dev/null
mstatus e5 psc_5 1 delivered 2026-11-30T01:00:00Z >one.ndjson
run fs-push crm <one.ndjson
is 'a 401: a new token, the PATCH again, written' "$status/$(calls)/$(field_of 1)" \
	'0/POST /connect/token 200, PATCH /customers/1 401, POST /connect/token 200, PATCH /customers/1 200/77=Delivered'

# A 429 waits and is sent again.
admin POST faults '{"status":429,"retry_after":1,"path_prefix":"/crm/"}' >/dev/null
admin DELETE requests >/dev/null
mstatus e6 psc_6 2 returned 2026-11-30T01:00:00Z >one.ndjson
run fs-push crm <one.ndjson
is 'a 429: waited for, written, exit 0' "$status/$(field_of 2)" '0/77=Returned'

# An unknown customer, and a contact id that is no customer id: dead letters.
{ mstatus e7 psc_7 99 sent; mstatus e8 psc_8 abc sent; } >bad.ndjson
run fs-push crm <bad.ndjson
is 'unknown customers: exit 1, their lines' "$status/$(cat "$T/err")" \
	"1/fs-push: e7: HTTP 404: customer 99 not found (dead letter #1)
fs-push: e8: contact_id 'abc' is no ServiceTitan customer id (dead letter #2)"

# --dry-run says what it would write, and sends nothing.
admin DELETE requests >/dev/null
mstatus e9 psc_9 3 returned 2026-11-30T02:00:00Z >dry.ndjson
run fs-push --dry-run crm <dry.ndjson
is '--dry-run: what it would write, no request' "$status/$(head -n 1 "$T/out")/$(requests '.requests | length')" \
	'0/would write customer 3: Returned (custom field 77)/0'

# Killed while a PATCH waits for its answer: the next run writes it, once.
admin POST faults '{"slow_ms":30000,"path_prefix":"/crm/"}' >/dev/null
fs-push crm <dry.ndjson >/dev/null 2>&1 &
kill_held $!
admin DELETE faults >/dev/null
run fs-push crm <dry.ndjson
is 'killed and run again: written, exit 0' "$status/$(field_of 3)/$(outbox | grep e9)" '0/77=Returned/e9 sent 1'

conf ''
run fs-push crm <dry.ndjson
is 'no status_field_id: exit 2, what it must be' "$status/$(cat "$T/err")" \
	"2/fs-push: target 'crm': status_field_id must be the typeId of the customers' custom field, not ''"

# The token, the app key and the client secret appear in no output or state.
for s in fake-st-app-key fake-st-client-secret $(grep -o 'st-[0-9a-f]\{32\}' "$T/st.log" | sort -u); do
	cat "$T/out" "$T/err" ./*.ndjson | grep -F -e "$s"
	sqlite3 "$FS_STATE" .dump | grep -F -e "$s"
done >leaks
is 'no secret in any output or in the state' "$(wc -l <leaks | tr -d ' ')" 0
done_testing
