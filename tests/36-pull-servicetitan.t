#!/bin/sh
# fs-pull servicetitan against the fake ServiceTitan: the export read
# (continuation tokens, repeats with includeRecentChanges absorbed), the list
# read (ties at the boundary time), customers with their locations, the
# client-credentials token renewed before it ends and once after a 401, 429s,
# a kill mid-pull, doNotMail, and a merge that mails nobody again.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake ServiceTitan'
command -v jq >/dev/null || skip_all 'jq is needed'
. "$top/tests/push-lib.sh"
plan 40

python3 "$top/tests/fakes/fake_servicetitan.py" --port 0 --port-file "$T/st.port" --now 2026-11-29T10:00:00Z \
	--export-page 3 --log "$T/st.log" &
fake_pids=$!
wait_port "$T/st.port" 'the fake ServiceTitan'
url=http://127.0.0.1:$(cat "$T/st.port")
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
export ST_APP_KEY=fake-st-app-key ST_CLIENT_ID=fake-st-client-id ST_CLIENT_SECRET=fake-st-client-secret
conf() { # extra config lines
	printf '[source "st"]\nkind = servicetitan\nurl = %s\ntoken_url = %s/connect/token\ntenant = 1000\nattempts = 3\n%s\n' \
		"$url" "$url" "$1" >fieldsync.conf
}
conf ''
rows() { jq -r 'if .type == "record" then "\(.stream) \(.key)" else "@\(.stream) \(.cursor)" end' "${1:-$T/out}"; }
keys() { jq -r 'select(.type == "record") | "\(.stream) \(.key)"' "$@"; }
requests() { admin GET "requests?path_prefix=${2:-/}" | jq -r "$1"; }
cursors() { sql "select stream || ' ' || cursor from cursors order by stream"; }

# Six customers, three sharing 10:00 and two 10:01; their mailing addresses
# are on locations; customer 3 says doNotMail; two jobs, two invoices (one paid).
admin POST customers '[
 {"id":1,"name":"Ana Lee","modifiedOn":"2026-11-29T10:00:00Z","address":{"street":"9 Bill St","city":"Austin","state":"TX","zip":"78701"}},
 {"id":2,"name":"Bo Day","modifiedOn":"2026-11-29T10:00:00Z"},
 {"id":3,"name":"Cy Dee","doNotMail":true,"modifiedOn":"2026-11-29T10:00:00Z"},
 {"id":4,"name":"Acme Roofing","type":{"name":"Commercial"},"modifiedOn":"2026-11-29T10:01:00Z"},
 {"id":5,"name":"Ed Fox","modifiedOn":"2026-11-29T10:01:00Z"},
 {"id":6,"name":"Fay Gold","active":false,"modifiedOn":"2026-11-29T10:02:00Z"}]' >/dev/null
admin POST locations '[
 {"id":11,"customerId":1,"address":{"street":"1 Main St","unit":"Apt 2","city":"Austin","state":"Texas","zip":"78701","country":"USA"},"modifiedOn":"2026-11-29T10:00:00Z"},
 {"id":12,"customerId":2,"address":{"street":"2 Oak Ave","city":"Austin","state":"TX","zip":"78702"},"modifiedOn":"2026-11-29T10:00:00Z"},
 {"id":13,"customerId":3,"address":{"street":"3 Elm Rd","city":"Austin","state":"TX","zip":"78703"},"modifiedOn":"2026-11-29T10:00:00Z"}]' >/dev/null
admin POST jobs '[
 {"id":101,"customerId":1,"jobStatus":"Scheduled","total":250,"modifiedOn":"2026-11-29T10:00:00Z"},
 {"id":103,"customerId":3,"jobStatus":"Scheduled","total":90,"modifiedOn":"2026-11-29T10:00:00Z"}]' >/dev/null
admin POST invoices '[
 {"id":201,"customer":{"id":1},"total":"250.00","balance":"0.00","modifiedOn":"2026-11-29T10:03:00Z"},
 {"id":202,"customer":{"id":2},"total":"90.00","balance":"90.00","modifiedOn":"2026-11-29T10:03:00Z"}]' >/dev/null

# --- a first pull (export) ----------------------------------------------
run fs-pull st
is 'first pull: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is 'first pull: each export page, then its continuation token' "$(rows)" \
'customers 1
customers 2
customers 3
@customers continueFrom ct-Mw==
customers 4
customers 5
customers 6
@customers continueFrom ct-Ng==
@locations continueFrom ct-OQ==
jobs 101
jobs 103
@jobs continueFrom ct-MTE=
invoices 201
invoices 202
@invoices continueFrom ct-MTM='
is 'a customer record carries its locations' "$(jq -c 'select(.key == "1") | .data.locations' "$T/out")" \
	'[{"id":11,"customerId":1,"address":{"street":"1 Main St","unit":"Apt 2","city":"Austin","state":"Texas","zip":"78701","country":"USA"},"modifiedOn":"2026-11-29T10:00:00Z","createdOn":"2026-11-29T10:00:00Z","active":true}]'
is 'requests: a token, the exports with includeRecentChanges, the locations of each page of customers, the customers of changed locations' \
	"$(requests '[.requests[] | "\(.method) \(.path) \(.query | del(.from) | tojson) \(.app_key)"] | .[]')" \
'POST /connect/token {} false
GET /crm/v2/tenant/1000/export/customers {"includeRecentChanges":"true"} true
GET /crm/v2/tenant/1000/locations {"customerIds":"1,2,3","page":"1","pageSize":"500"} true
GET /crm/v2/tenant/1000/export/customers {"includeRecentChanges":"true"} true
GET /crm/v2/tenant/1000/locations {"customerIds":"4,5,6","page":"1","pageSize":"500"} true
GET /crm/v2/tenant/1000/export/locations {"includeRecentChanges":"true"} true
GET /crm/v2/tenant/1000/customers {"ids":"1,2,3","page":"1","pageSize":"500"} true
GET /crm/v2/tenant/1000/locations {"customerIds":"1,2,3","page":"1","pageSize":"500"} true
GET /jpm/v2/tenant/1000/export/jobs {"includeRecentChanges":"true"} true
GET /accounting/v2/tenant/1000/export/invoices {"includeRecentChanges":"true"} true'
fs-normalize <"$T/out" >events.ndjson 2>/dev/null
is 'fs-normalize: 6 contacts, 2 jobs, 1 revenue (the unpaid invoice is none)' \
	"$(jq -r 'select(.type == "event") | .kind' events.ndjson | sort | uniq -c | tr -s ' ' | tr '\n' ',')" \
	' 6 contact.changed, 2 job.changed, 1 outcome.revenue,'
is 'servicetitan-customer.jq: the mailing address is the location'"'"'s' \
	"$(jq -c 'select(.object == "contact:1") | .data' events.ndjson)" \
	'{"id":"1","first_name":"Ana","last_name":"Lee","address":{"line1":"1 Main St","line2":"Apt 2","city":"Austin","region":"TX","postal_code":"78701","country":"US"},"status":"active","updated_at":"2026-11-29T10:00:00Z"}'
is 'doNotMail is data.do_not_mail' "$(jq -c 'select(.object == "contact:3") | .data | [.status, .do_not_mail]' events.ndjson)" \
	'["active",true]'
is 'a commercial customer is a company; an inactive one is inactive' \
	"$(jq -c 'select(.object == "contact:4" or .object == "contact:6") | [.data.company, .data.last_name, .data.status]' events.ndjson | tr '\n' ' ')" \
	'["Acme Roofing",null,"active"] [null,"Gold","inactive"] '
# ServiceTitan's customer type is a string ("Residential", "Commercial"); an
# object {"name": ...} is taken too.  A string once stopped fs-normalize.
is 'a customer type as a string: a company, a person' \
	"$(jq -c 'select(.key == "4" or .key == "5") | .data.type = (if .key == "4" then "Commercial" else "Residential" end)' "$T/out" |
		FS_STATE=$T/type.db fs-normalize 2>&1 | jq -c 'select(.type == "event") | [.data.company, .data.last_name]' | tr '\n' ' ')" \
	'["Acme Roofing",null] [null,"Fox"] '
is 'servicetitan-invoice.jq: a paid invoice is revenue' "$(jq -c 'select(.object == "invoice:201") | .data' events.ndjson)" \
	'{"contact_id":"1","deal_id":"201","amount":250,"currency":"USD","at":"2026-11-29T10:03:00Z"}'

# --- export repeats (includeRecentChanges) absorbed ------------------------
fs-pull st | fs-normalize 2>/dev/null | fs-dedupe --commit >/dev/null 2>&1
run fs-pull --commit st
is '--commit: each stream'"'"'s continuation token' "$(cursors)" \
'customers continueFrom ct-Ng==
invoices continueFrom ct-MTM=
jobs continueFrom ct-MTE=
locations continueFrom ct-OQ=='
admin POST config '{"export_repeat":2}' >/dev/null
admin POST clock '{"now":"2026-11-29T11:00:00Z"}' >/dev/null
admin POST customers '{"id":7,"name":"Gus Hale"}' >/dev/null
admin POST locations '{"id":12,"customerId":2,"address":{"street":"22 Oak Ave","city":"Austin","state":"TX","zip":"78702"}}' >/dev/null
admin POST jobs '{"id":101,"jobStatus":"Completed","completedOn":"2026-11-29T10:50:00Z"}' >/dev/null
run fs-pull --commit st
is 'the export sends the last two again with the new: pulled again (a location: its customer)' \
	"$status/$(keys "$T/out" | tr '\n' ',')" \
	'0/customers 5,customers 6,customers 7,customers 1,customers 2,customers 3,jobs 103,jobs 101,invoices 201,invoices 202,'
fs-normalize <"$T/out" 2>/dev/null | fs-dedupe --commit >dedup.ndjson 2>/dev/null
is 'fs-dedupe absorbs what was emitted before: the new customer, the moved location, the completed job' \
	"$(jq -r 'select(.type == "event") | "\(.object) \(.data.updated_at)"' dedup.ndjson | tr '\n' ',')" \
	'contact:7 2026-11-29T11:00:00Z,contact:2 2026-11-29T11:00:00Z,job:101 2026-11-29T11:00:00Z,'
is 'the moved location is the contact'"'"'s new address' \
	"$(jq -r 'select(.object == "contact:2") | .data.address.line1' dedup.ndjson)" '22 Oak Ave'
admin POST config '{"export_repeat":0}' >/dev/null

# --- the list read: ties at the boundary time -----------------------------
rm -f fieldsync.db*
conf 'read = list
page_size = 2'
admin DELETE requests >/dev/null
run fs-pull --commit st
is 'list: oldest first, a checkpoint each page with the ids at the newest time' "$(rows | grep -v '^jobs\|^invoices\|^@jobs\|^@invoices')" \
'customers 1
customers 2
@customers 2026-11-29T10:00:00.000Z 1 2
customers 3
customers 4
@customers 2026-11-29T10:01:00.000Z 4
customers 5
@customers 2026-11-29T10:01:00.000Z 4 5
customers 6
customers 7
@customers 2026-11-29T11:00:00.000Z 7
@locations 2026-11-29T10:00:00.000Z 11 13
@locations 2026-11-29T11:00:00.000Z 12'
is 'list: each page asks again from the newest time read, the next page of the same time when it read nothing newer' \
	"$(requests '[.requests[] | select(.path | endswith("/customers")) | select(.query.sort) | "\(.query.modifiedOnOrAfter // "-") \(.query.page)"] | join(",")')" \
	'- 1,2026-11-29T10:00:00.000Z 1,2026-11-29T10:00:00.000Z 2,2026-11-29T10:01:00.000Z 1,2026-11-29T10:01:00.000Z 2'
admin POST clock '{"now":"2026-11-29T11:00:00Z"}' >/dev/null
admin POST customers '[{"id":8,"name":"Hal Ito"},{"id":9,"name":"Ida Jo"}]' >/dev/null
run fs-pull --commit st
is 'list, incremental: the two new at the cursor'"'"'s time, none of those it holds again' \
	"$(rows | grep customers)" \
'customers 8
@customers 2026-11-29T11:00:00.000Z 7 8
customers 9
@customers 2026-11-29T11:00:00.000Z 7 8 9'
run fs-pull st
is 'list, again: nothing new' "$status/$(keys "$T/out" | wc -l | tr -d ' ')" 0/0

# --- throttling: 429 with Retry-After, waited for -------------------------
rm -f fieldsync.db*
conf 'streams = customers'
admin POST config '{"rate":2}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull st
admin POST config '{"rate":60}' >/dev/null
is 'throttled: exit 0, every customer once' "$status/$(keys "$T/out" | sort -u | wc -l | tr -d ' ')/$(keys "$T/out" | wc -l | tr -d ' ')" 0/9/9
is 'throttled: the fake answered 429 and each was sent again' \
	"$(requests '[.requests[] | select(.status == 429)] | length > 0')/$(requests '[.requests[] | select(.status == 200 and .method == "GET")] | length')" \
	'true/6'

# --- the token: asked for again before it ends, and once after a 401 ------
admin POST config '{"access_ttl_s":2}' >/dev/null
admin POST faults '{"slow_ms":1200,"path_prefix":"/crm/","count":2}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull st
is 'a token of 2 s: renewed half way, more than once, no 401' \
	"$status/$(requests '[.requests[] | select(.path == "/connect/token")] | length > 2')/$(requests '[.requests[] | select(.status == 401)] | length')" \
	'0/true/0'
admin POST config '{"access_ttl_s":900}' >/dev/null
admin POST faults '{"status":401,"path_prefix":"/crm/","skip":1}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull st
is 'a 401: a new token, the request again, exit 0' "$status/$(requests '[.requests[] | "\(.path | sub("/v2/tenant/1000"; "")) \(.status)"] | join(",")')" \
	'0//connect/token 200,/crm/export/customers 200,/crm/locations 401,/connect/token 200,/crm/locations 200,/crm/export/customers 200,/crm/locations 200,/crm/export/customers 200,/crm/locations 200'
admin POST faults '{"status":401,"path_prefix":"/crm/","count":2}' >/dev/null
run fs-pull st
is 'a 401 after the new token: exit 2, the answer' "$status/$(cat "$T/err")" \
	'2/fs-pull: st: GET /crm/v2/tenant/1000/export/customers: HTTP 401: injected'
admin DELETE faults >/dev/null
ST_CLIENT_SECRET=wrong run fs-pull st
is 'a wrong client secret: exit 2, what to check' "$status/$(cat "$T/err")" \
	"2/fs-pull: st: POST $url/connect/token: HTTP 401 (invalid_client): check the tenant's client id and secret"
ST_APP_KEY=wrong run fs-pull st
is 'a wrong app key: exit 2' "$status/$(cat "$T/err")" \
	'2/fs-pull: st: GET /crm/v2/tenant/1000/export/customers: HTTP 401: ST-App-Key is missing or wrong'
conf 'tenant = 1001'
run fs-pull st
is 'a tenant the app may not read: exit 2' "$status/$(cat "$T/err")" \
	'2/fs-pull: st: GET /crm/v2/tenant/1001/export/customers: HTTP 403: the app may not read tenant 1001'
conf 'tenant = acme'
run fs-pull st
is 'a tenant that is no id: exit 2' "$status/$(cat "$T/err")" \
	"2/fs-pull: source 'st': tenant must be the tenant's id (digits), not 'acme'"
unset ST_APP_KEY
conf ''
run fs-pull st
is 'no app key: exit 2' "$status/$(cat "$T/err")" "2/fs-pull: source 'st': no app key: \$ST_APP_KEY is not set"
export ST_APP_KEY=fake-st-app-key

# --- SIGKILL mid-pull: what was committed stands, the rest comes once -----
rm -f fieldsync.db*
conf ''
admin POST faults '{"slow_ms":30000,"path_prefix":"/jpm/"}' >/dev/null
fs-pull --commit st >killed.ndjson 2>/dev/null &
kill_held $!
admin DELETE faults >/dev/null
is 'killed while reading jobs: customers and locations are out and committed' \
	"$(sql 'select stream from cursors order by stream' | tr '\n' ' ')" 'customers locations '
run fs-pull --commit st
cat killed.ndjson "$T/out" >resumed.ndjson
is 'resumed: jobs and invoices, no customer again' "$status/$(keys "$T/out" | cut -d' ' -f1 | uniq -c | tr -s ' ' | tr '\n' ',')" \
	'0/ 2 jobs, 2 invoices,'
is 'killed + resumed: every object once' \
	"$(keys resumed.ndjson | sort | uniq -d | wc -l | tr -d ' ')/$(keys resumed.ndjson | sort -u | wc -l | tr -d ' ')" 0/13

# --- --describe: no request, the fields campaigns are checked against -----
admin DELETE requests >/dev/null
run fs-pull --describe st
is '--describe: exit 0, no request, 10 customer and 8 job fields' \
	"$status/$(requests '.requests | length')/$(grep -vc '^jobs\.' "$T/out")/$(grep -c '^jobs\.' "$T/out")" '0/0/10/8'
is '--describe: a job'"'"'s status, with the values the map gives' "$(grep '^jobs\.status' "$T/out")" \
	"$(printf 'jobs.status\tderived\tStatus (jobStatus, lower case)\tmapped\tscheduled, dispatched, inprogress, hold, completed, canceled')"
printf '[source "st"]\nkind = servicetitan\ntenant = 1000\n[campaign "x"]\non = job\ntrigger = status = done\ngoal = g\ntemplate = t\n' >fieldsync.conf
run fs-normalize </dev/null
is 'a job status ServiceTitan never gives: exit 2, what it gives' "$status/$(cat "$T/err")" \
	"2/fs-normalize: fieldsync.conf:6: campaign 'x': trigger: source 'st' gives no status 'done': it gives scheduled, dispatched, inprogress, hold, completed, canceled (fs-pull --describe st, 2026-11-30T01:00:00Z)"

# --- doNotMail and a merge: through to the mail vendor ---------------------
rm -f fieldsync.db*
export LOB_API_KEY=sk_test_s3cret
start_lob
cat >fieldsync.conf <<EOF
[source "st"]
kind = servicetitan
url = $url
token_url = $url/connect/token
tenant = 1000
[target "mail"]
kind = lob
url = $LOB
token_env = LOB_API_KEY
retry = 1s..1s x3
[campaign "thanks"]
on = job
trigger = status = completed
goal = retention
template = tmpl_thanks
[campaign "welcome"]
trigger = status = active
goal = welcome
template = tmpl_welcome
EOF
tick() { fs-pull st | tee pulled.ndjson | fs-normalize 2>/dev/null | fs-dedupe 2>/dev/null | fs-push mail; }
admin POST jobs '[{"id":105,"customerId":1,"jobStatus":"Scheduled"},{"id":103,"jobStatus":"Scheduled"}]' >/dev/null
tick >/dev/null 2>&1
is 'a first tick mails nobody' "$(lob_pieces | wc -l | tr -d ' ')" 0
admin POST clock '{"now":"2026-11-29T12:00:00Z"}' >/dev/null
admin POST jobs '[{"id":105,"jobStatus":"Completed","completedOn":"2026-11-29T11:50:00Z"},
 {"id":103,"jobStatus":"Completed","completedOn":"2026-11-29T11:50:00Z"}]' >/dev/null
tick >tick2.ndjson 2>/dev/null
is 'two jobs completed: customer 1 mailed, customer 3 (doNotMail) suppressed' \
	"$(jq -r 'select(.type == "result") | "\(.status) \(.reason // "")"' tick2.ndjson | sort | tr '\n' ',')" \
	'sent ,suppressed the CRM says do not mail,'
is 'one piece at the vendor' "$(lob_pieces | wc -l | tr -d ' ')" 1
admin POST clock '{"now":"2026-11-29T13:00:00Z"}' >/dev/null
admin POST merge '{"from":1,"into":2}' >/dev/null
tick >tick3.ndjson 2>/dev/null
is 'merged 1 into 2: the merged-away, the survivor, the moved jobs and invoice are read' \
	"$(keys pulled.ndjson | sort | tr '\n' ',')" 'customers 1,customers 2,invoices 201,jobs 101,jobs 105,'
is 'merged: nobody mailed again, no mail request at all' \
	"$(jq -r 'select(.type == "result") | .status' tick3.ndjson | wc -l | tr -d ' ')/$(lob_pieces | wc -l | tr -d ' ')" 0/1
sql "select id, status, do_not_mail from contacts where id in ('1', '2') order by id" >merged.txt
is 'the merged-away customer is merged and do-not-mail; the survivor has its address' \
	"$(cat merged.txt)" '1|merged|1
2|active|0'
done_testing
