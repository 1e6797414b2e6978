#!/bin/sh
# fs-pull sheets against the fake Google Sheets: a first poll, then edits,
# inserts, moves and deletions between polls told apart by the id column; a
# re-poll that changed nothing; a renamed column; quota 429s; an expired
# access token refreshed; a SIGKILL mid-run, then the run again.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake Sheets'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 35

python3 "$top/tests/fakes/fake_sheets.py" --port 0 --port-file "$T/sh.port" &
fake=$!
trap 'kill $fake 2>/dev/null; wait $fake 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/sh.port" "the fake Sheets"
url=http://127.0.0.1:$(cat "$T/sh.port")
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
export GOOGLE_CLIENT_ID=fake-sheets-client-id GOOGLE_CLIENT_SECRET=fake-sheets-client-secret
export GOOGLE_ACCESS_TOKEN=test-token
conf() { # extra config lines
	printf '[source "crm"]\nkind = sheets\nurl = %s\nspreadsheet = S1\nattempts = 3\n%s\n' "$url" "$1" >fieldsync.conf
}
conf ''
sheet() { admin POST sheet "{\"spreadsheet\":\"S1\",\"values\":$1}" >/dev/null; }
# One line a record: "key version-changed-or-not row" is too brittle; "key row deleted?" and the cursor.
rows() { jq -r 'if .type == "record" then "\(.key) \(if .data.deleted then "deleted" else "row \(.data.row)" end)"
		else "@\(.stream)" end' "${1:-$T/out}"; }
versions() { jq -r 'select(.type == "record") | "\(.key) \(.data.version)"' "${1:-$T/out}"; }
H='["ID","First Name","Last Name","Email","Address","City","State","Zip","Status"]'
A='["7","Ana","Lee","ana@example.com","1 Main St","Austin","TX","78701","lead"]'
B='["9","Bo","Ray","bo@example.com","2 Oak Ave","Dallas","TX","75201","lead"]'
C='["12","Cy","Fox","","","","","","customer"]'
sheet "[$H,$A,$B,$C]"

# --- a first poll ---------------------------------------------------------
run fs-pull crm
is 'first poll: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is 'first poll: every row, then the checkpoint' "$(rows)" '7 row 2
9 row 3
12 row 4
@rows'
versions >v1
run sh -c 'fs-pull crm | fs-normalize'
is 'the rows map as a CSV export does' "$(jq -c 'select(.type == "event") | [.object, .data.status, .data.address.city]' "$T/out")" \
'["contact:7","lead","Austin"]
["contact:9","lead","Dallas"]
["contact:12","customer",null]'
run fs-pull crm
versions >v1b
is 'polled again before the commit: the same versions' "$(diff v1 v1b && echo same)" same
run fs-pull --commit crm
is 'committed: the cursor names the snapshot kept' "$(sql "select count(*) from sheet_snapshots s join cursors c on c.source = s.source and c.cursor = s.snapshot")" 1

# --- nothing changed ------------------------------------------------------
run fs-pull crm
is 're-poll with no change: no record' "$status/$(rows)" '0/@run'

# --- a move is no change --------------------------------------------------
sheet "[$H,$C,$A,$B]"
run fs-pull crm
is 'rows sorted: no record' "$status/$(rows)" '0/@run'

# --- edit, insert, delete ---------------------------------------------------
A2='["7","Ana","Lee","ana@example.com","1 Main St","Austin","TX","78701","job_completed"]'
D='["15","Di","Orr","di@example.com","4 Elm St","Waco","TX","76701","lead"]'
sheet "[$H,$A2,$D,$C]"
run fs-pull crm
is 'edit, insert, delete: exit 0' "$status" 0
is 'the edited and the new row, then the deleted id' "$(rows)" '7 row 2
15 row 3
9 deleted
@rows'
is 'a deletion is said on stderr' "$(cat "$T/err")" "fs-pull: crm: id '9' is no longer in the sheet: reported, not mailed"
is 'the edit is a new version' "$(versions | grep '^7 ' | cut -d' ' -f2 | grep -vxF "$(grep '^7 ' v1 | cut -d' ' -f2)" | wc -l)" 1
versions >v2
run sh -c 'fs-pull crm | fs-normalize'
is 'the deleted row maps to nothing' "$(jq -r 'select(.type == "event") | .object' "$T/out")" 'contact:7
contact:15'

# --- a SIGKILL between the poll and the commit re-emits the same events ------
admin POST faults '{"method":"GET","path_prefix":"/v4/","hold_s":2,"count":1}' >/dev/null
fs-pull --commit crm >killed.out 2>&1 &
pid=$!
kill_held $pid
run fs-pull crm
versions >v3
is 'after a SIGKILL mid-run: the same records, the same versions' "$(diff v2 v3 && echo same)" same
run fs-pull --commit crm
is 'committed' "$status" 0
run fs-pull crm
is 'then nothing is emitted again' "$(rows)" '@run'
A3='["7","Ana","Lee","ana@example.com","1 Main St","Austin","TX","78701","lead"]'
sheet "[$H,$A3,$D,$C]"
run fs-pull --commit crm
is 'an edit undone is a version of its own' "$(versions | cut -d' ' -f2 | grep -cxF "$(grep '^7 ' v1 | cut -d' ' -f2)")" 0
sheet "[$H,$A3,$D,$C,$B]"
run fs-pull --commit crm
is 'a deleted id back again: a new version' "$(rows)/$(versions | grep -c "$(grep '^9 ' v1 | cut -d' ' -f2)")" '9 row 5
@rows/0'

# --- a renamed column -----------------------------------------------------
H2='["ID","First Name","Last Name","Email","Address","City","State","Zip","Stage"]'
sheet "[$H2,$A3,$D,$C,$B]"
run fs-pull --commit crm
is 'a renamed column: exit 2, nothing out' "$status/$(cat "$T/out")" 2/
is 'a renamed column: one line says which and what to do' "$(cat "$T/err")" \
"fs-pull: crm: column 'Status' of the last poll is not in the header of Sheet1 (renamed or deleted): nothing pulled; name it back, or set header_changed = accept"
conf 'header_changed = accept'
run fs-pull --commit crm
is 'accepted: no row changed on the columns both polls have' "$status/$(rows)" '0/@rows'
conf ''
run fs-pull crm
is 'the new header is the last seen one' "$status/$(rows)" '0/@run'

# --- an id column that is not there, a row without id, a repeated id --------
conf 'id_column = Customer No'
run fs-pull crm
is 'no id column: exit 2 with one line' "$status/$(cat "$T/err")" \
"2/fs-pull: crm: no column 'Customer No' (id_column) in the header of Sheet1: nothing pulled"
conf ''
sheet "[$H2,$A3,$D,$C,$B,[\"\",\"Ed\"],[\"15\",\"Dup\"]]"
run fs-pull --commit crm
is 'a row without id and a repeated id: exit 1, to the DLQ' "$status/$(fs-dlq count)" 1/2
is 'their reasons' "$(cat "$T/err")" "fs-pull: crm: row 6: no id in column 'id'
fs-pull: crm: row 7: id '15' again (first in row 3)
fs-pull: 2 records went to the dead-letter queue (fs-dlq list)"
sheet "[$H2,$A3,$D,$C,$B]"

# --- quota: 429s are waited out -------------------------------------------
admin POST faults '[{"method":"GET","path_prefix":"/v4/","status":429,"error_status":"RESOURCE_EXHAUSTED","message":"Quota exceeded","count":2}]' >/dev/null
run fs-pull -v crm
is 'two 429s, then the answer: exit 0' "$status" 0
is 'the two 429s were answered and retried' "$(admin GET 'requests?path_prefix=/v4/' | jq '[.requests[] | select(.status == 429)] | length')" 2
admin POST faults '{"method":"GET","path_prefix":"/v4/","status":429,"count":3}' >/dev/null
run fs-pull crm
is 'quota never freed within attempts: exit 4' "$status" 4
admin POST quota '{"per_user":2,"window_s":1}' >/dev/null
conf 'rate = 2/1s'
run fs-pull crm
run fs-pull crm
run fs-pull crm
is 'the fake'"'"'s own quota (2 a second per user) exceeded: the 429 waited out, exit 0' "$status" 0
admin POST quota '{"per_user":60,"window_s":60}' >/dev/null

# --- OAuth: an expired access token is refreshed ----------------------------
admin POST tokens >oauth.json && chmod 600 oauth.json
conf "oauth_file = $T/oauth.json
token_url = $url/token"
admin POST expire >/dev/null
sheet "[$H2,$A3,$D,$C,$B,$(echo "$D" | sed 's/"15"/"16"/')]"
run fs-pull crm
is 'an expired token: refreshed, then the poll' "$status/$(rows)" '0/16 row 6
@rows'
is 'the refresh token is kept (Google does not rotate it)' "$(jq -r 'has("refresh_token")' oauth.json)" true
admin POST revoke >/dev/null
admin POST expire >/dev/null
run fs-pull crm
is 'a revoked refresh token: exit 2, re-authorise' "$status" 2

# --- a service account: the JWT bearer grant, RS256 ---------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.pem 2>/dev/null
jq -n --rawfile k sa.pem '{type:"service_account",client_email:"fieldsync@demo.iam.gserviceaccount.com",private_key:$k}' >sa.json
chmod 600 sa.json
conf "service_account_file = $T/sa.json
token_url = $url/token"
run fs-pull crm
is 'an unknown service account: exit 2, one line' "$status/$(cat "$T/err")" \
"2/fs-pull: crm: POST $url/token: HTTP 401 (The OAuth client was not found.): check service_account_file and that the sheet is shared with the service account"
admin POST service_account "{\"client_email\":\"fieldsync@demo.iam.gserviceaccount.com\",\"modulus\":\"$(openssl rsa -in sa.pem -noout -modulus | cut -d= -f2)\"}" >/dev/null
D17=$(echo "$D" | sed 's/"15"/"17"/')
sheet "[$H2,$A3,$D,$C,$B,$(echo "$D" | sed 's/"15"/"16"/'),$D17]"
run fs-pull crm
is 'a service account: the token granted for a signed JWT, then the poll (16 is not committed yet)' "$status/$(rows)" '0/16 row 6
17 row 7
@rows'
is 'its requests: the grant, then values.get with its token' \
	"$(admin GET requests | jq -r '[.requests[-2:][] | "\(.method) \(.path) \(.status)"] | join(", ")')" \
	'POST /token 200, GET /v4/spreadsheets/S1/values/Sheet1 200'
chmod 644 sa.json
run fs-pull crm
is 'a key file others may read: exit 2' "$status/$(cat "$T/err")" \
"2/fs-pull: crm: service_account_file '$T/sa.json' must have mode 0600"

done_testing
