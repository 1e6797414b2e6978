#!/bin/sh
# fs-pull jobber against the fake Jobber: streams read as Jobber allows
# (clients and paid invoices filtered on updatedAt, jobs newest first to the
# cursor), ties at page boundaries, throttling inside a 200, OAuth refresh
# with rotation, a kill mid-pull, the webhook inbox, bad configurations.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake Jobber'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 64

python3 "$top/tests/fakes/fake_jobber.py" --port 0 --port-file "$T/jb.port" --now 2026-11-30T00:00:00Z \
	--log "$T/jb.log" &
fake=$!
trap 'kill $fake 2>/dev/null; wait $fake 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/jb.port" "the fake Jobber"
url=http://127.0.0.1:$(cat "$T/jb.port")
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
export JOBBER_CLIENT_ID=fake-jobber-client-id JOBBER_CLIENT_SECRET=fake-jobber-client-secret
conf() { # extra config lines
	printf '[source "jobber"]\nkind = jobber\nurl = %s\noauth_file = %s/oauth.json\npage_size = 4\nattempts = 3\n%s\n' \
		"$url" "$T" "$1" >fieldsync.conf
}
conf ''
new_tokens() { admin POST tokens >oauth.json && chmod 600 oauth.json; }
new_tokens
# One line a message: "stream key" for a record, "@stream cursor" for a checkpoint.
rows() { jq -r 'if .type == "record" then "\(.stream) \(.key)" else "@\(.stream) \(.cursor)" end' "${1:-$T/out}"; }
keys() { jq -r 'select(.type == "record") | "\(.stream) \(.key)"' "$@"; }
requests() { admin GET "requests?path_prefix=/api/" | jq -r "$1"; }
cursors() { sql "select stream || ' ' || cursor from cursors order by stream"; }

# Clients share times in threes and pages hold four, so ties straddle pages;
# four jobs share 11:00 across the first page's end (newest first); two paid
# invoices share 12:00 and one is unpaid.
admin POST clients '[
 {"id":"c01","firstName":"Ana","lastName":"Lee","emails":["ana@example.com"],"phones":["(512) 555-0134"],
  "billingAddress":{"street1":"1 Main St","city":"Austin","province":"Texas","postalCode":"78701","country":"United States"},
  "updatedAt":"2026-11-29T10:00:00Z"},
 {"id":"c02","firstName":"Bo","updatedAt":"2026-11-29T10:00:00Z"},
 {"id":"c03","firstName":"Cy","updatedAt":"2026-11-29T10:00:00Z"},
 {"id":"c04","firstName":"Di","updatedAt":"2026-11-29T10:01:00Z"},
 {"id":"c05","firstName":"Ed","updatedAt":"2026-11-29T10:01:00Z"},
 {"id":"c06","firstName":"Fay","updatedAt":"2026-11-29T10:01:00Z"},
 {"id":"c07","firstName":"Gus","updatedAt":"2026-11-29T10:02:00Z"},
 {"id":"c08","firstName":"Hal","updatedAt":"2026-11-29T10:02:00Z"},
 {"id":"c09","firstName":"Ida","isLead":true,"updatedAt":"2026-11-29T10:02:00Z"},
 {"id":"c10","firstName":"Jo","updatedAt":"2026-11-29T10:03:00Z"}]' >/dev/null
admin POST jobs '[
 {"id":"jA","client":{"id":"c01"},"title":"Gutter clean","jobStatus":"requires_invoicing",
  "completedAt":"2026-11-29T08:30:00Z","total":250,"updatedAt":"2026-11-29T09:00:00Z"},
 {"id":"jB","client":{"id":"c02"},"jobStatus":"upcoming","updatedAt":"2026-11-29T11:00:00Z"},
 {"id":"jC","client":{"id":"c03"},"jobStatus":"upcoming","updatedAt":"2026-11-29T11:00:00Z"},
 {"id":"jD","client":{"id":"c04"},"jobStatus":"upcoming","updatedAt":"2026-11-29T11:00:00Z"},
 {"id":"jE","client":{"id":"c05"},"jobStatus":"late","updatedAt":"2026-11-29T12:00:00Z"},
 {"id":"jF","client":{"id":"c06"},"jobStatus":"upcoming","updatedAt":"2026-11-29T11:00:00Z"}]' >/dev/null
admin POST invoices '[
 {"id":"i1","client":{"id":"c01"},"invoiceStatus":"paid","total":250,"jobIds":["jA"],
  "receivedDate":"2026-11-29T11:30:00Z","updatedAt":"2026-11-29T12:00:00Z"},
 {"id":"i2","client":{"id":"c02"},"invoiceStatus":"awaiting_payment","total":90,"updatedAt":"2026-11-29T12:30:00Z"},
 {"id":"i3","client":{"id":"c03"},"invoiceStatus":"paid","total":40,"updatedAt":"2026-11-29T12:00:00Z"},
 {"id":"i4","client":{"id":"c04"},"invoiceStatus":"paid","total":75.5,"updatedAt":"2026-11-29T13:00:00Z"}]' >/dev/null

# --- a first pull --------------------------------------------------------
run fs-pull jobber
is 'first pull: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is 'first pull: each stream whole, then its checkpoint (the newest time and its ids)' "$(rows)" \
'clients c01
clients c02
clients c03
clients c04
clients c05
clients c06
clients c07
clients c08
clients c09
clients c10
@clients 2026-11-29T10:03:00.000Z c10
jobs jE
jobs jF
jobs jD
jobs jC
jobs jB
jobs jA
@jobs 2026-11-29T12:00:00.000Z jE
invoices i1
invoices i3
invoices i4
@invoices 2026-11-29T13:00:00.000Z i4'
is 'a record is the GraphQL node as fetched' "$(jq -c 'select(.key == "jA") | [.source, .fetched_at, .data]' "$T/out")" \
	'["jobber","2026-11-30T01:00:00Z",{"id":"jA","jobNumber":1,"title":"Gutter clean","jobStatus":"requires_invoicing","completedAt":"2026-11-29T08:30:00Z","total":250,"client":{"id":"c01"},"createdAt":"2026-11-30T00:00:00Z","updatedAt":"2026-11-29T09:00:00Z"}]'
is 'requests: clients in 3 pages, jobs in 2, invoices in 1, each with the version header' \
	"$(requests '[.requests[] | "\(.roots[0]) \(.version) \(.status)"] | group_by(.) | map("\(length) \(.[0])") | join(", ")')" \
	'3 clients 2025-01-20 200, 1 invoices 2025-01-20 200, 2 jobs 2025-01-20 200'
is 'first pull: clients filter on nothing, invoices on paid, jobs take no filter' \
	"$(requests '[.requests[] | .body.variables.filter // .body.query[0:0]] | unique | map(tojson) | join(" ")')" \
	'"" {} {"status":"paid"}'
is 'jobs: sort UPDATED_AT DESCENDING' "$(requests '[.requests[] | select(.roots[0] == "jobs") | .body.query | test("sort: \\[\\{key: UPDATED_AT, direction: DESCENDING\\}\\]")] | unique | tostring')" '[true]'
is 'no cursor is committed without --commit' "$(sql 'select count(*) from cursors')" 0
fs-normalize <"$T/out" >events.ndjson 2>/dev/null
is 'fs-normalize: 10 contacts, 6 jobs, 3 revenues from the shipped maps' \
	"$(jq -r 'select(.type == "event") | .kind' events.ndjson | sort | uniq -c | tr -s ' ' | tr '\n' ',')" \
	' 10 contact.changed, 6 job.changed, 3 outcome.revenue,'
is 'jobber-client.jq: the contact' "$(jq -c 'select(.object == "contact:c01") | .data' events.ndjson)" \
	'{"id":"c01","email":"ana@example.com","phone":"+15125550134","first_name":"Ana","last_name":"Lee","address":{"line1":"1 Main St","city":"Austin","region":"TX","postal_code":"78701","country":"US"},"status":"active","updated_at":"2026-11-29T10:00:00Z"}'
is 'jobber-job.jq: a job with completedAt is completed' "$(jq -c 'select(.object == "job:jA") | .data' events.ndjson)" \
	'{"id":"jA","contact_id":"c01","status":"completed","type":"Gutter clean","completed_at":"2026-11-29T08:30:00Z","total":250,"currency":"USD","updated_at":"2026-11-29T09:00:00Z"}'
is 'jobber-invoice.jq: a paid invoice is revenue at its receivedDate' \
	"$(jq -c 'select(.object == "invoice:i1") | [.occurred_at, .data]' events.ndjson)" \
	'["2026-11-29T11:30:00Z",{"contact_id":"c01","deal_id":"i1","amount":250,"currency":"USD","at":"2026-11-29T11:30:00Z"}]'

# --- incremental: ties at the cursor's time neither lost nor repeated -----
run fs-pull --commit jobber
is '--commit commits each stream'"'"'s cursor' "$(cursors)" \
'clients 2026-11-29T10:03:00.000Z c10
invoices 2026-11-29T13:00:00.000Z i4
jobs 2026-11-29T12:00:00.000Z jE'
admin POST clients '{"id":"c11","firstName":"Kai","updatedAt":"2026-11-29T10:03:00Z"}' >/dev/null
admin POST jobs '{"id":"jG","client":{"id":"c07"},"jobStatus":"upcoming","updatedAt":"2026-11-29T12:00:00Z"}' >/dev/null
admin POST invoices '{"id":"i5","client":{"id":"c08"},"invoiceStatus":"paid","total":10,"updatedAt":"2026-11-29T13:00:00Z"}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull --commit jobber
is 'new records at the cursor'"'"'s time come, those the cursor holds do not' "$status/$(rows)" \
'0/clients c11
@clients 2026-11-29T10:03:00.000Z c10 c11
jobs jG
@jobs 2026-11-29T12:00:00.000Z jE jG
invoices i5
@invoices 2026-11-29T13:00:00.000Z i4 i5'
is 'clients ask from a millisecond before the cursor (Jobber does not say whether after is inclusive)' \
	"$(requests '[.requests[] | select(.roots[0] == "clients") | .body.variables.filter.updatedAt.after] | unique | join(" ")')" \
	'2026-11-29T10:02:59.999Z'
admin POST clients '[{"id":"c12","firstName":"Lu","updatedAt":"2026-11-29T10:03:00Z"},{"id":"c01","updatedAt":"2026-11-29T11:00:00Z"}]' >/dev/null
admin POST jobs '{"id":"jA","updatedAt":"2026-11-29T13:00:00Z"}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull --commit jobber
is 'an edited client, a third tie, a job edited again: each once' "$status/$(rows)" \
'0/clients c01
clients c12
@clients 2026-11-29T11:00:00.000Z c01
jobs jA
@jobs 2026-11-29T13:00:00.000Z jA'
is 'jobs stop at the cursor: one page read' "$(requests '[.requests[] | select(.roots[0] == "jobs")] | length')" 1
run fs-pull --commit jobber
is 'nothing new: only the run checkpoint' "$status/$(rows)" '0/@run 2026-11-30T01:00:00Z'
run fs-pull --since 2026-11-29T12:00:00Z jobber
is '--since: at or after it, whatever the cursor' "$status/$(keys "$T/out" | tr '\n' ',')" \
	'0/jobs jA,jobs jG,jobs jE,invoices i1,invoices i3,invoices i4,invoices i5,'

# --- throttling: THROTTLED inside a 200 -----------------------------------
# A bucket of 100 points, empty, refilling 25 a second: a page of clients
# (91 points) waits most of four seconds, however slow the start (at 100 a
# second, a start slower than 0.91 s under the sanitizers, three files at a
# time, found the bucket full again and was never throttled).
rm -f fieldsync.db*
conf 'streams = clients'
admin POST budget '{"maximumAvailable":100,"currentlyAvailable":0,"restoreRate":25}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull -v jobber
is 'throttled: exit 0, every client' "$status/$(keys "$T/out" | wc -l | tr -d ' ')" 0/12
is 'throttled: the first request was, then it waited for the points and got through' \
	"$(requests '[.requests[:2][] | "\(.status) \(.throttled)"] | join(", ")')" '200 true, 200 false'
is 'throttled: -v says why it waited' "$(grep -c 'POST /api/graphql: throttled (cost 91, [0-9]* available); retry 1 of 2 in' "$T/err")" 1
is 'throttled: the later pages waited for the bucket instead of being refused' \
	"$(requests '[.requests[] | select(.throttled)] | length')" 1
conf 'attempts = 1'
admin POST budget '{"maximumAvailable":10000,"currentlyAvailable":0,"restoreRate":1}' >/dev/null
run fs-pull --commit jobber
is 'throttled past the attempts: exit 4, one line, nothing out, no cursor' \
	"$status/$(cat "$T/err")/$(wc -c <"$T/out" | tr -d ' ')/$(sql 'select count(*) from cursors')" \
	'4/fs-pull: jobber: POST /api/graphql: throttled (query cost 91, 0 points available) after 1 attempts/0/0'
conf ''
admin POST budget '{"maximumAvailable":50,"currentlyAvailable":50,"restoreRate":500}' >/dev/null
run fs-pull jobber
is 'a page dearer than the bucket: exit 4 at once, and what to do' "$status/$(cat "$T/err")" \
	'4/fs-pull: jobber: POST /api/graphql: a query of cost 91 can never run (the bucket holds 50): lower page_size'
admin POST budget '{"maximumAvailable":10000,"currentlyAvailable":10000,"restoreRate":500}' >/dev/null

# --- OAuth: refresh once, with rotation; the new pair saved first ---------
cp oauth.json first.json
admin POST clock '{"advance_ms":7200000}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull jobber
is 'expired access token: exit 0, every record' "$status/$(keys "$T/out" | wc -l | tr -d ' ')" 0/23
is 'expired: one 401, one refresh, then the new token' \
	"$(requests '[.requests[:3][] | "\(.path) \(.status) \(.auth)"] | join(", ")')" \
	'/api/graphql 401 expired, /api/oauth/token 200 refresh:ok, /api/graphql 200 ok'
is 'the refresh was form-encoded' "$(requests '.requests[1].headers["Content-Type"]')" 'application/x-www-form-urlencoded'
is 'the token file holds the rotated pair, mode 0600, nothing left beside it' \
	"$(test "$(jq -r .refresh_token first.json)" != "$(jq -r .refresh_token oauth.json)" && echo rotated) $(stat -c %a oauth.json) $(ls oauth.json* | tr '\n' ' ')" \
	'rotated 600 oauth.json oauth.json.lock '
cp oauth.json second.json
admin DELETE requests >/dev/null
run fs-pull jobber
is 'a second run uses the saved access token: no refresh' "$status/$(requests '[.requests[] | .path] | unique | join(" ")')" \
	'0//api/graphql'
admin POST clock '{"advance_ms":7200000}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull jobber
is 'expired again: the rotated refresh token (persisted) is redeemed' \
	"$status/$(requests '[.requests[:3][] | "\(.status) \(.auth)"] | join(", ")')" '0/401 expired, 200 refresh:ok, 200 ok'
cp first.json oauth.json
admin DELETE requests >/dev/null
run fs-pull jobber
is 'a refresh token already redeemed: exit 2, one line, nothing out' "$status/$(cat "$T/err")/$(wc -c <"$T/out" | tr -d ' ')" \
	"2/fs-pull: jobber: POST /api/oauth/token: HTTP 401 (The provided refresh token is not valid.): re-authorise the app and write its tokens to '$T/oauth.json'/0"
is 'refused: tried once, the token file as it was, no temporary file' \
	"$(requests '[.requests[] | .path] | join(" ")') $(cmp -s first.json oauth.json && echo unchanged) $(ls oauth.json* | tr '\n' ' ')" \
	'/api/graphql /api/oauth/token unchanged oauth.json oauth.json.lock '
# Two sources of one installation share the token file: they refresh it
# under its lock, once, and neither is locked out.
new_tokens
printf '[source "jobber"]\nkind = jobber\nurl = %s\noauth_file = %s/oauth.json\nstreams = jobs\n[source "jobber2"]\nkind = jobber\nurl = %s\noauth_file = %s/oauth.json\nstreams = jobs\n' \
	"$url" "$T" "$url" "$T" >fieldsync.conf
fs-pull jobber >/dev/null 2>&1	# the fresh access token works
admin POST clock '{"advance_ms":7200000}' >/dev/null
admin DELETE requests >/dev/null
fs-pull jobber >one.ndjson 2>one.err &
one=$!
fs-pull jobber2 >two.ndjson 2>two.err
two=$?
wait $one
is 'two sources, one token file, both expired: both exit 0, one refresh' \
	"$?/$two/$(requests '[.requests[] | select(.path == "/api/oauth/token") | .auth] | join(" ")')" '0/0/refresh:ok'
conf ''
new_tokens
admin POST auth '{"revoke_all":true}' >/dev/null
run fs-pull jobber
is 'revoked (app disconnected): exit 2' "$status" 2
new_tokens
# A bare access token (token_env) is not refreshed.
printf '[source "jobber"]\nkind = jobber\nurl = %s\nstreams = jobs\n' "$url" >fieldsync.conf
JOBBER_ACCESS_TOKEN=test-token run fs-pull jobber
is 'token_env: a bare access token works' "$status/$(keys "$T/out" | wc -l | tr -d ' ')" 0/7
JOBBER_ACCESS_TOKEN=wrong run fs-pull jobber
is 'token_env: a bad one is exit 4 and the answer' "$status/$(cat "$T/err")" '4/fs-pull: jobber: POST /api/graphql: HTTP 401: Invalid Token Error'
conf ''

# --- dry run --------------------------------------------------------------
run fs-pull --dry-run jobber
is '--dry-run: the first request, token redacted, the version header' "$status/$(sed -n 1,4p "$T/out")" \
"0/POST $url/api/graphql
Authorization: Bearer <redacted>
X-JOBBER-GRAPHQL-VERSION: 2025-01-20
Content-Type: application/json"
conf 'api_version = 2024-01-01'
run fs-pull jobber
is 'a version Jobber never released: exit 4 and its answer' "$status/$(cat "$T/err")" \
	"4/fs-pull: jobber: POST /api/graphql: HTTP 400: X-JOBBER-GRAPHQL-VERSION '2024-01-01' is not a valid API version. Set it to one of the active API versions. For more information: https://developer.getjobber.com/docs/using_jobbers_api/api_versioning"

# --- SIGKILL while paging: what was committed stands, the rest comes once --
conf ''
rm -f fieldsync.db*
admin POST faults '{"slow_ms":30000,"operation":"jobs","skip":1}' >/dev/null
fs-pull --commit jobber >killed.ndjson 2>/dev/null &
kill_held $!
admin DELETE faults >/dev/null
is 'killed on the second page of jobs: the clients and their checkpoint are out, no job' \
	"$(rows killed.ndjson | cut -d' ' -f1 | uniq -c | tr -s ' ' | tr '\n' ',')" ' 12 clients, 1 @clients,'
is 'killed: only the clients cursor is committed' "$(sql 'select stream from cursors')" clients
run fs-pull --commit jobber
cat killed.ndjson "$T/out" >resumed.ndjson
is 'resumed: jobs and invoices, no client again' "$status/$(keys "$T/out" | cut -d' ' -f1 | uniq -c | tr -s ' ' | tr '\n' ',')" \
	'0/ 7 jobs, 4 invoices,'
is 'killed + resumed: every object once' "$(keys resumed.ndjson | sort | uniq -d | wc -l | tr -d ' ')/$(keys resumed.ndjson | wc -l | tr -d ' ')" 0/23

# --- the webhook inbox: ids, read back by id ------------------------------
hook() { # topic, item id
	printf '{"data":{"webHookEvent":{"topic":"%s","appId":"a","accountId":"MQ==","itemId":"%s","occurredAt":"2026-11-30T00:59:00Z"}}}' "$1" "$2"
}
sql "insert into inbox (source, delivery_id, received_at, body) values
 ('jobber', 'd1', '2026-11-30T00:59:00Z', '$(hook CLIENT_UPDATE c03)'),
 ('jobber', 'd2', '2026-11-30T00:59:01Z', '$(hook JOB_CREATE jB)'),
 ('jobber', 'd3', '2026-11-30T00:59:02Z', '$(hook CLIENT_UPDATE c03)'),
 ('jobber', 'd4', '2026-11-30T00:59:03Z', '$(hook INVOICE_UPDATE i2)'),
 ('jobber', 'd5', '2026-11-30T00:59:04Z', '$(hook CLIENT_DESTROY c99)'),
 ('jobber', 'd6', '2026-11-30T00:59:05Z', 'not json'),
 ('jobber', 'd7', '2026-11-30T00:59:06Z', '$(hook CLIENT_UPDATE gone)'),
 ('jobber', 'd8', '2026-11-30T00:59:07Z', '$(hook APP_DISCONNECT MQ==)')"
admin DELETE requests >/dev/null
run fs-pull --commit jobber
is 'inbox: exit 1 (a bad row went to the DLQ)' "$status" 1
is 'inbox: each object once, read back, then the inbox checkpoint' "$(rows)" \
'clients c03
jobs jB
invoices i2
@inbox 8'
is 'inbox: one request a stream, then the streams (nothing new)' "$(requests '[.requests[] | .roots | join("+")] | join(" ")')" \
	'client+client job invoice clients jobs invoices'
is 'inbox: the bad row: error line; APP_DISCONNECT: an alert, not a silent drop' "$(cat "$T/err")" 'fs-pull: inbox row 6: not a Jobber webhook event
fs-pull: alert #1 opened: CRITICAL disconnect jobber: Jobber app disconnected from account MQ==: connect it again and write its tokens to oauth_file
fs-pull: 1 record went to the dead-letter queue (fs-dlq list)'
is 'inbox: the bad row is in the DLQ with its bytes' "$(sql "select command, lineno, bytes from dlq")" 'fs-pull|6|not json'
fs-normalize <"$T/out" >inbox-events.ndjson 2>/dev/null
is 'inbox: an unpaid invoice is no revenue' "$(jq -r 'select(.type == "event") | .object' inbox-events.ndjson | tr '\n' ' ')" \
	'contact:c03 job:jB '

# --- bad configurations: one line, exit 2, nothing out --------------------
refused() { # name, expected error, extra config
	conf "$3"
	run fs-pull jobber
	is "$1: exit 2, the error line, nothing out" "$status/$(cat "$T/err")/$(wc -c <"$T/out" | tr -d ' ')" "2/$2/0"
}
chmod 644 oauth.json
refused 'token file readable by others' "fs-pull: source 'jobber': oauth_file '$T/oauth.json' must have mode 0600"
chmod 600 oauth.json
refused 'no token file' "fs-pull: source 'jobber': cannot open oauth_file '$T/nope.json': No such file or directory" \
	"oauth_file = $T/nope.json"
printf 'not json\n' >bad.json && chmod 600 bad.json
refused 'a token file of something else' \
	"fs-pull: source 'jobber': oauth_file '$T/bad.json' is not JSON with \"access_token\" and \"refresh_token\"" \
	"oauth_file = $T/bad.json"
refused 'api_version not a date' "fs-pull: source 'jobber': api_version must be a date such as 2025-01-20, not '2025/01/20'" \
	'api_version = 2025/01/20'
refused 'page_size 0' "fs-pull: source 'jobber': page_size must be 1 or more, not '0'" 'page_size = 0'
refused 'an unknown stream' "fs-pull: source 'jobber': unknown stream 'visits' (clients, jobs, invoices)" 'streams = visits'
refused 'the secret in the config' \
	"fs-pull: fieldsync.conf:7: no secrets in the config: 'client_secret' in [source \"jobber\"] (set secret_env to the environment variable that holds it, or secret_file to a mode 0600 file)" \
	'client_secret = abc'
unset JOBBER_CLIENT_SECRET
refused 'no client secret' "fs-pull: source 'jobber': no client secret: \$JOBBER_CLIENT_SECRET is not set"

# --- --describe and campaign triggers: a jobber-only config is checked against jobber
rm -f fieldsync.db*
printf '[source "jobber"]\nkind = jobber\nurl = %s\n[campaign "thanks"]\non = job\ntrigger = status = completed\ngoal = retention\ntemplate = t\n' \
	"$url" >fieldsync.conf
echo '{"type":"record","source":"jobber","stream":"jobs","data":{"id":"j1","client":{"id":"c1"},"jobStatus":"late","updatedAt":"2026-11-29T10:00:00Z"}}' >job.ndjson
run fs-normalize <job.ndjson
is 'not described yet: exit 0, the notice names the source the config has' "$status/$(cat "$T/err")" \
	"0/fs-normalize: campaign 'thanks': its trigger is not checked: no fs-pull --describe listing of source 'jobber' (said once; see fieldsync(7), \"Checking a campaign\")"
admin DELETE requests >/dev/null
run fs-pull --describe jobber
is '--describe: exit 0, no request to Jobber, 13 client and 10 job fields' \
	"$status/$(requests '.requests | length')/$(grep -vc '^jobs\.' "$T/out")/$(grep -c '^jobs\.' "$T/out")" '0/0/13/10'
is '--describe: a job'"'"'s status is derived, with the values the map gives' "$(grep '^jobs\.status' "$T/out")" \
	"$(printf 'jobs.status\tderived\tStatus (completedAt, jobStatus)\tmapped\tcompleted, requires_invoicing, archived, late, today, upcoming, action_required, on_hold, unscheduled, active')"
is '--describe: the listing is kept in the state' "$(sql "select source || ' ' || object from source_fields group by source, object order by object")" \
	'jobber contacts
jobber jobs'
run fs-normalize <job.ndjson
is 'described: the trigger is checked, nothing said' "$status/$(cat "$T/err")" 0/
sed -i 's/status = completed/status = done/' fieldsync.conf
run fs-normalize <job.ndjson
is 'a job status Jobber never gives: exit 2, what it gives' "$status/$(cat "$T/err")" \
	"2/fs-normalize: fieldsync.conf:6: campaign 'thanks': trigger: source 'jobber' gives no status 'done': it gives completed, requires_invoicing, archived, late, today, upcoming, action_required, on_hold, unscheduled, active (fs-pull --describe jobber, 2026-11-30T01:00:00Z)"
printf '[source "qbo"]\nkind = quickbooks\n[campaign "thanks"]\ntrigger = status = active\ngoal = retention\ntemplate = t\n' >fieldsync.conf
run fs-normalize </dev/null
is 'sources none of which can be described: the notice names no kind the config lacks' "$status/$(cat "$T/err")" \
	"0/fs-normalize: campaign 'thanks': its trigger is not checked: no source of the config can be described (fs-pull --describe) (said once; see fieldsync(7), \"Checking a campaign\")"

# Tokens and the client secret appear in no output, dead letter or state.
for s in $(jq -r '.access_token, .refresh_token' first.json second.json oauth.json) fake-jobber-client-secret; do
	cat "$T/out" "$T/err" ./*.ndjson | grep -F -e "$s"
	state_dump | grep -F -e "$s"
done >leaks
is 'no token and no client secret in any output or in the state' "$(wc -l <leaks | tr -d ' ')" 0
done_testing
