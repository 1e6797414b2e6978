#!/bin/sh
# fs-push to a Google Sheets target: each mail.status event written to the
# status and last-mail-sent columns of the row with the contact's id, found
# when the batch is written (rows move between runs), in one batchUpdate a
# batch; a re-run writes nothing twice, an unknown id goes to the DLQ, a
# 429 is waited out, an expired token is refreshed, a SIGKILL mid-write
# leaves every row written after the next run.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake Sheets'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 17

python3 "$fakes/fake_sheets.py" --port 0 --port-file "$T/sh.port" 2>>"$T/sh.stderr" &
fake_pids=$!
wait_port "$T/sh.port" "the fake Sheets"
url=http://127.0.0.1:$(cat "$T/sh.port")
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
export GOOGLE_CLIENT_ID=fake-sheets-client-id GOOGLE_CLIENT_SECRET=fake-sheets-client-secret
export GOOGLE_ACCESS_TOKEN=test-token
conf() { # extra config lines
	printf '[target "crm"]\nkind = sheets\nurl = %s\nspreadsheet = S1\nretry = 1s..1s x3\n%s\n' "$url" "$1" >fieldsync.conf
}
conf ''
sheet() { admin POST sheet "{\"spreadsheet\":\"S1\",\"values\":$1}" >/dev/null; }
cells() { admin GET 'sheet?spreadsheet=S1' | jq -r '.values[] | map(select(. != "")) | join(",")'; }
requests() { admin GET "requests?path_prefix=/v4/" | jq -r '[.requests[] | "\(.method) \(.status)"] | join(", ")'; }
outbox() { sql "select event_id || ' ' || state || ' ' || attempts from outbox order by id"; }
H='["ID","Name","Mail status","Last mail sent"]'
sheet "[$H,[\"c01\",\"Ana\"],[\"c02\",\"Bo\"],[\"c03\",\"Cy\"]]"

{ mstatus e1 psc_1 c01 sent; mstatus e2 psc_2 c02 delivered; } >first.ndjson
run fs-push crm <first.ndjson
is 'exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
out_is 'a result for each event, the contact as vendor_id' <<'EOT'
{"type":"result","event_id":"e1","target":"crm","status":"sent","vendor_id":"c01","http_status":200,"attempts":1}
{"type":"result","event_id":"e2","target":"crm","status":"sent","vendor_id":"c02","http_status":200,"attempts":1}
EOT
is 'the status, and the day of a sent piece, in each row' "$(cells)" 'ID,Name,Mail status,Last mail sent
c01,Ana,Sent,2026-11-30
c02,Bo,Delivered
c03,Cy'
is 'one read of the range, one batchUpdate' "$(requests)" 'GET 200, POST 200'
admin POST reset >/dev/null
sheet "[$H,[\"c01\",\"Ana\",\"Sent\",\"2026-11-30\"],[\"c02\",\"Bo\",\"Delivered\"],[\"c03\",\"Cy\"]]"
run fs-push crm <first.ndjson
is 're-run: exit 0, no request, the outbox as it was' "$status/$(requests)/$(outbox | tr '\n' ,)" \
	'0//e1 sent 1,e2 sent 1,'

# --- rows moved since the last poll: found by id at write time -------------
sheet "[$H,[\"c03\",\"Cy\"],[\"c02\",\"Bo\",\"Delivered\"],[\"c01\",\"Ana\",\"Sent\",\"2026-11-30\"]]"
{ mstatus e3 psc_3 c03 sent 2026-11-30T00:45:00Z; mstatus e4 psc_1 c01 delivered; mstatus e5 psc_5 c77 sent; } >moved.ndjson
run fs-push crm <moved.ndjson
is 'moved rows: exit 1 (an unknown id went to the DLQ), its line' "$status/$(cat "$T/err")" \
	"1/fs-push: e5: no row with id 'c77' in Sheet1 (dead letter #1)"
is 'moved rows: each written where it is now' "$(cells)" 'ID,Name,Mail status,Last mail sent
c03,Cy,Sent,2026-11-30
c02,Bo,Delivered
c01,Ana,Delivered,2026-11-30'
is 'the changelog says which cells' "$(sql "select json_extract(detail, '\$.properties.cells[0].range') from changelog where kind = 'crm.update' and event_id = 'e4'")" \
	"'Sheet1'!C4"

# --- 429, then written ---------------------------------------------------------
admin POST reset >/dev/null
sheet "[$H,[\"c01\",\"Ana\"]]"
admin POST faults '{"method":"POST","path_prefix":"/v4/","status":429,"error_status":"RESOURCE_EXHAUSTED","count":1}' >/dev/null
mstatus e6 psc_6 c01 returned >q.ndjson
run fs-push crm <q.ndjson
is 'a 429: sent again, written' "$status/$(requests)/$(cells | tail -n 1)" '0/GET 200, POST 429, POST 200/c01,Ana,Returned'

# --- the access token expires -------------------------------------------------
admin POST tokens >oauth.json && chmod 600 oauth.json
conf "oauth_file = $T/oauth.json
token_url = $url/token"
admin POST expire >/dev/null
admin POST reset >/dev/null
sheet "[$H,[\"c01\",\"Ana\"]]"
mstatus e7 psc_7 c01 sent >tok.ndjson
run fs-push crm <tok.ndjson
is 'an expired token: refreshed, written' "$status/$(cat "$T/err")/$(cells | tail -n 1)" '0//c01,Ana,Sent,2026-11-30'
is 'a 401, a refresh, the read and the write' "$(admin GET requests | jq -r '[.requests[] | "\(.method) \(.path) \(.status)"] | join(", ")')" \
	'GET /v4/spreadsheets/S1/values/Sheet1 401, POST /token 200, GET /v4/spreadsheets/S1/values/Sheet1 200, POST /v4/spreadsheets/S1/values:batchUpdate 200'

# --- a column missing -------------------------------------------------------
sheet '[["ID","Name"],["c01","Ana"]]'
mstatus e8 psc_8 c01 delivered >col.ndjson
run fs-push crm <col.ndjson
is 'no status column: exit 2, one line, the row still pending' \
	"$status/$(cat "$T/err")/$(sql "select state from outbox where event_id = 'e8'")" \
	"2/fs-push: crm: no column 'Mail status' in the header of Sheet1: nothing written/pending"
sheet "[$H,[\"c01\",\"Ana\"]]"
run fs-push crm </dev/null
is 'the column back: the pending row written' "$status/$(cells | tail -n 1)" '0/c01,Ana,Delivered'

# --- SIGKILL while the batch is being written -------------------------------
admin POST reset >/dev/null
sheet "[$H,[\"k1\",\"A\"],[\"k2\",\"B\"],[\"k3\",\"C\"]]"
{ for i in 1 2 3; do mstatus k$i psc_k$i k$i sent; done; } >kill.ndjson
admin POST faults '{"method":"POST","path_prefix":"/v4/","hold_s":30,"count":1}' >/dev/null
fs-push crm <kill.ndjson >killed.out 2>/dev/null &
kill_held $!
is 'killed: the outbox does not know' "$(sql "select group_concat(state) from outbox where event_id like 'k%'")" \
	'pending,pending,pending'
run fs-push crm </dev/null
is 'resumed: exit 0, every row written once' "$status/$(sql "select group_concat(state) from outbox where event_id like 'k%'")/$(cells | grep -c Sent)" \
	'0/sent,sent,sent/3'

# --- a service account -------------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.pem 2>/dev/null
jq -n --rawfile k sa.pem '{type:"service_account",client_email:"fs@demo.iam.gserviceaccount.com",private_key:$k}' >sa.json
chmod 600 sa.json
admin POST service_account "{\"client_email\":\"fs@demo.iam.gserviceaccount.com\",\"modulus\":\"$(openssl rsa -in sa.pem -noout -modulus | cut -d= -f2)\"}" >/dev/null
conf "service_account_file = $T/sa.json
token_url = $url/token"
admin POST reset >/dev/null
sheet "[$H,[\"c01\",\"Ana\"]]"
mstatus e9 psc_9 c01 delivered >sa.ndjson
run fs-push crm <sa.ndjson
is 'a service account: granted, read, written' "$status/$(cat "$T/err")/$(cells | tail -n 1)/$(admin GET requests | jq -r '[.requests[] | "\(.method) \(.status)"] | join(", ")')" \
	'0//c01,Ana,Delivered/POST 200, GET 200, POST 200'

for s in $(jq -r '.access_token, .refresh_token' oauth.json) fake-sheets-client-secret "$(sed -n 2p sa.pem)"; do
	cat "$T/out" "$T/err" killed.out | grep -F -e "$s"
	sqlite3 "$FS_STATE" .dump | grep -F -e "$s"
done >leaks
is 'no token and no client secret in any output or in the state' "$(wc -l <leaks | tr -d ' ')" 0
done_testing
