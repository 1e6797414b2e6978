#!/bin/sh
# fs-pull quickbooks against the fake QuickBooks Online: a first pull by the
# query (paged, ties across pages), changes by CDC, the query again past
# CDC's 30 days or its 1,000-object cap, throttling (429), OAuth refresh
# with rotation (client credentials in Basic), a kill mid-pull, the webhook
# inbox in both formats, bad configurations.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake QuickBooks'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 45

realm=9341453908811111
python3 "$top/tests/fakes/fake_qbo.py" --port 0 --port-file "$T/qb.port" --now "$FS_NOW" --tz-offset=-08:00 \
	--log "$T/qb.log" &
fake=$!
trap 'kill $fake 2>/dev/null; wait $fake 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/qb.port" "the fake QuickBooks"
url=http://127.0.0.1:$(cat "$T/qb.port")
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
export QBO_CLIENT_ID=test-client-id QBO_CLIENT_SECRET=test-client-secret
conf() { # extra config lines
	printf '[source "qbo"]\nkind = quickbooks\nurl = %s\ntoken_url = %s/oauth2/v1/tokens/bearer\nrealm = %s\noauth_file = %s/oauth.json\npage_size = 2\nattempts = 3\n%s\n' \
		"$url" "$url" "$realm" "$T" "$1" >fieldsync.conf
}
conf ''
# A fresh pair from the token endpoint (a new refresh token each time: the
# fake rotates them out): its access token expires an hour later on the fake clock.
grants=0
new_tokens() {
	grants=$((grants + 1))
	admin POST tokens "{\"add_refresh\":[\"rt-$grants\"]}" >/dev/null
	curl -s -u test-client-id:test-client-secret -d "grant_type=refresh_token&refresh_token=rt-$grants" \
		"$url/oauth2/v1/tokens/bearer" >oauth.json && chmod 600 oauth.json
}
new_tokens
# One line a message: "stream key" for a record, "@stream cursor" for a checkpoint.
rows() { jq -r 'if .type == "record" then "\(.stream) \(.key)" else "@\(.stream) \(.cursor)" end' "${1:-$T/out}"; }
keys() { jq -r 'select(.type == "record") | "\(.stream) \(.key)"' "$@"; }
# The /v3 requests, one a line: "cdc ENTITY SINCE", "query TEXT" or "STATUS ..." with -s.
requests() {
	admin GET "requests?path_prefix=/v3/" | python3 -c '
import json, sys, urllib.parse as u
for r in json.load(sys.stdin)["requests"]:
    p = u.urlparse(r["path"]); q = u.parse_qs(p.query); kind = p.path.split("/")[-1]
    what = "cdc %s %s" % (q["entities"][0], q["changedSince"][0]) if kind == "cdc" else "query " + q["query"][0]
    print(("%s " % r["status"] if sys.argv[1:] == ["-s"] else "") + what + ("" if q.get("minorversion") == ["75"] else " (no minorversion)"))
' "$@"
}
cursors() { sql "select stream || ' ' || cursor from cursors order by stream"; }

# Customers share times in threes and pages hold two, so ties straddle
# pages; customer 7 is inactive.  Invoice 1 is paid by payment 1, invoice 2
# closed without a payment, invoice 3 open.
admin POST customers '[
 {"GivenName":"Amy","FamilyName":"Lauterbach","PrimaryEmailAddr":{"Address":"Amy@Example.com"},
  "PrimaryPhone":{"FreeFormNumber":"(512) 555-0134"},
  "BillAddr":{"Line1":"1 Main St","City":"Austin","CountrySubDivisionCode":"Texas","PostalCode":"78701","Country":"USA"},
  "MetaData":{"LastUpdatedTime":"2026-11-20T10:00:00Z"}},
 {"GivenName":"Bo","MetaData":{"LastUpdatedTime":"2026-11-20T10:00:00Z"}},
 {"GivenName":"Cy","MetaData":{"LastUpdatedTime":"2026-11-20T10:00:00Z"}},
 {"GivenName":"Di","MetaData":{"LastUpdatedTime":"2026-11-20T10:01:00Z"}},
 {"GivenName":"Ed","MetaData":{"LastUpdatedTime":"2026-11-20T10:01:00Z"}},
 {"GivenName":"Fay","MetaData":{"LastUpdatedTime":"2026-11-20T10:02:00Z"}},
 {"GivenName":"Gus","Active":false,"MetaData":{"LastUpdatedTime":"2026-11-20T10:02:00Z"}}]' >/dev/null
admin POST invoices '[
 {"CustomerRef":"1","TotalAmt":250,"MetaData":{"LastUpdatedTime":"2026-11-20T11:00:00Z"}},
 {"CustomerRef":"2","TotalAmt":90,"Balance":0,"MetaData":{"LastUpdatedTime":"2026-11-20T11:00:00Z"}},
 {"CustomerRef":"3","TotalAmt":40,"MetaData":{"LastUpdatedTime":"2026-11-20T11:00:00Z"}}]' >/dev/null
admin POST payments '{"CustomerRef":"1","TotalAmt":250,"TxnDate":"2026-11-20",
 "Line":[{"Amount":250,"LinkedTxn":[{"TxnId":"1","TxnType":"Invoice"}]}],"MetaData":{"LastUpdatedTime":"2026-11-20T12:00:00Z"}}' >/dev/null
admin DELETE requests >/dev/null

# --- a first pull: the query, page after page -----------------------------
run fs-pull qbo
is 'first pull: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is 'first pull: oldest first, a checkpoint after each page (the newest time and its ids)' "$(rows)" \
'customers 1
customers 2
@customers 2026-11-20T10:00:00.000Z 1 2
customers 3
customers 4
@customers 2026-11-20T10:01:00.000Z 4
customers 5
customers 6
@customers 2026-11-20T10:02:00.000Z 6
customers 7
@customers 2026-11-20T10:02:00.000Z 6 7
invoices 2
invoices 3
@invoices 2026-11-20T11:00:00.000Z 2 3
invoices 1
@invoices 2026-11-20T12:00:00.000Z 1
payments 1
@payments 2026-11-20T12:00:00.000Z 1'
is 'first pull: each page asks again from the newest time read, past the rows read at it' "$(requests)" \
"query select * from Customer where Active IN (true, false) orderby MetaData.LastUpdatedTime startposition 1 maxresults 2
query select * from Customer where MetaData.LastUpdatedTime >= '2026-11-20T10:00:00+00:00' and Active IN (true, false) orderby MetaData.LastUpdatedTime startposition 3 maxresults 2
query select * from Customer where MetaData.LastUpdatedTime >= '2026-11-20T10:01:00+00:00' and Active IN (true, false) orderby MetaData.LastUpdatedTime startposition 2 maxresults 2
query select * from Customer where MetaData.LastUpdatedTime >= '2026-11-20T10:02:00+00:00' and Active IN (true, false) orderby MetaData.LastUpdatedTime startposition 2 maxresults 2
query select * from Invoice orderby MetaData.LastUpdatedTime startposition 1 maxresults 2
query select * from Invoice where MetaData.LastUpdatedTime >= '2026-11-20T11:00:00+00:00' orderby MetaData.LastUpdatedTime startposition 3 maxresults 2
query select * from Payment orderby MetaData.LastUpdatedTime startposition 1 maxresults 2"
is 'a record is the object as fetched' "$(jq -c 'select(.type == "record" and .stream == "payments") | [.source, .fetched_at, .data.Id, .data.TotalAmt, .data.MetaData]' "$T/out")" \
	'["qbo","2026-11-30T01:00:00Z","1",250,{"CreateTime":"2026-11-20T04:00:00-08:00","LastUpdatedTime":"2026-11-20T04:00:00-08:00"}]'
is 'no cursor is committed without --commit' "$(sql 'select count(*) from cursors')" 0
fs-normalize <"$T/out" >events.ndjson 2>/dev/null
is 'fs-normalize: customers stay in the state (matched to CRM contacts), 2 revenues go on' \
	"$(jq -r 'select(.type == "event") | .kind' events.ndjson | sort | uniq -c | tr -s ' ' | tr '\n' ',')" \
	' 2 outcome.revenue,'
is 'quickbooks-customer.jq: what a CRM contact is matched on, normalised' \
	"$(sql "select customer_id, version, name, email, phone, line1, city, region, postal_code, reason from customer_matches where customer_id = '1'")" \
	'1|2026-11-20T10:00:00Z|Amy Lauterbach|amy@example.com|+15125550134|1 Main St|Austin|TX|78701|none'
is 'quickbooks-customer.jq: all 7 customers, none matched (there is no CRM here)' \
	"$(sql "select count(*) || ' ' || count(contact_id) from customer_matches where source = 'qbo'")" '7 0'
is 'revenue: the payment counts (invoice 1, which it paid, does not); invoice 2, closed without a payment, does' \
	"$(jq -c 'select(.kind == "outcome.revenue") | [.object, .occurred_at, .data]' events.ndjson)" \
'["invoice:2","2026-11-20T11:00:00Z",{"contact_id":"2","deal_id":"2","amount":90,"currency":"USD","at":"2026-11-20T11:00:00Z"}]
["payment:1","2026-11-20T00:00:00Z",{"contact_id":"1","deal_id":"1","amount":250,"currency":"USD","at":"2026-11-20T00:00:00Z"}]'

# --- incremental: CDC from the cursor; ties at its time neither lost nor repeated
run fs-pull --commit qbo
is '--commit commits each stream'"'"'s last cursor' "$(cursors)" \
'customers 2026-11-20T10:02:00.000Z 6 7
invoices 2026-11-20T12:00:00.000Z 1
payments 2026-11-20T12:00:00.000Z 1'
admin POST customers '[{"GivenName":"Hal","MetaData":{"LastUpdatedTime":"2026-11-20T10:02:00Z"}},
 {"Id":"2","FamilyName":"Bell","MetaData":{"LastUpdatedTime":"2026-11-29T09:00:00Z"}}]' >/dev/null
admin POST invoices '{"CustomerRef":"4","TotalAmt":75,"MetaData":{"LastUpdatedTime":"2026-11-20T12:00:00Z"}}' >/dev/null
admin POST payments '{"CustomerRef":"3","TotalAmt":40,"TxnDate":"2026-11-29",
 "Line":[{"Amount":40,"LinkedTxn":[{"TxnId":"3","TxnType":"Invoice"}]}],"MetaData":{"LastUpdatedTime":"2026-11-29T12:00:00Z"}}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull --commit qbo
is 'CDC: a tie at the cursor'"'"'s time comes, those the cursor holds do not' "$status/$(rows)" \
'0/customers 8
customers 2
@customers 2026-11-29T09:00:00.000Z 2
invoices 4
invoices 3
@invoices 2026-11-29T12:00:00.000Z 3
payments 2
@payments 2026-11-29T12:00:00.000Z 2'
is 'CDC: one entity a request, from the cursor'"'"'s time (inclusive)' "$(requests)" \
'cdc Customer 2026-11-20T10:02:00+00:00
cdc Invoice 2026-11-20T12:00:00+00:00
cdc Payment 2026-11-20T12:00:00+00:00'
run fs-pull --commit qbo
is 'nothing new: only the run checkpoint' "$status/$(rows)" '0/@run 2026-11-30T01:00:00Z'

# --- CDC's limits: a full answer, and a cursor past 30 days ----------------
# cdc_max is Intuit's 1,000, made 3 here: a full answer may have left objects
# out (Intuit does not say), so the entity is read with the query instead.
conf 'streams = customers
cdc_max = 3'
admin POST limits '{"cdc_max":3}' >/dev/null
admin POST customers '[{"Id":"3","MetaData":{"LastUpdatedTime":"2026-11-29T09:30:00Z"}},
 {"Id":"4","MetaData":{"LastUpdatedTime":"2026-11-29T09:30:00Z"}},{"Id":"5","MetaData":{"LastUpdatedTime":"2026-11-29T09:30:00Z"}},
 {"Id":"6","MetaData":{"LastUpdatedTime":"2026-11-29T09:31:00Z"}}]' >/dev/null
admin DELETE requests >/dev/null
run fs-pull --commit qbo
is 'a full CDC answer: every change comes, by the query, once' "$status/$(rows)" \
'0/customers 3
@customers 2026-11-29T09:30:00.000Z 3
customers 4
customers 5
@customers 2026-11-29T09:30:00.000Z 3 4 5
customers 6
@customers 2026-11-29T09:31:00.000Z 6'
is 'a full CDC answer: said, then the query from the cursor (its own tie skipped), a page of ties passed by position' \
	"$(cat "$T/err")/$(requests | sed 's/ and Active.*startposition/ position/; s/ maxresults 2//')" \
"fs-pull: qbo customers: CDC answered 3 objects, its most: reading the query instead/cdc Customer 2026-11-29T09:00:00+00:00
query select * from Customer where MetaData.LastUpdatedTime >= '2026-11-29T09:00:00+00:00' position 1
query select * from Customer where MetaData.LastUpdatedTime >= '2026-11-29T09:30:00+00:00' position 2
query select * from Customer where MetaData.LastUpdatedTime >= '2026-11-29T09:30:00+00:00' position 4"
admin POST limits '{"cdc_max":1000}' >/dev/null
# 31 days on: the cursor is older than CDC reaches, so the query reads from it.
admin POST clock '{"now":"2026-12-31T01:00:00Z"}' >/dev/null
admin POST customers '{"Id":"1","GivenName":"Amy","MetaData":{"LastUpdatedTime":"2026-12-30T10:00:00Z"}}' >/dev/null
admin DELETE requests >/dev/null
FS_NOW=2026-12-31T01:00:00Z run fs-pull --commit qbo
is 'a cursor past 30 days: the query, no CDC (which would be refused); the expired token refreshed' \
	"$status/$(rows)/$(requests -s | sed 's/ and Active.*startposition/ position/; s/ maxresults 2//')" \
"0/customers 1
@customers 2026-12-30T10:00:00.000Z 1/401 query select * from Customer where MetaData.LastUpdatedTime >= '2026-11-29T09:31:00+00:00' position 1
200 query select * from Customer where MetaData.LastUpdatedTime >= '2026-11-29T09:31:00+00:00' position 1
200 query select * from Customer where MetaData.LastUpdatedTime >= '2026-12-30T10:00:00+00:00' position 2"
admin POST clock '{"now":"2026-11-30T01:00:00Z"}' >/dev/null
# Within 30 days by fieldsync's clock, but not by QuickBooks' (here it keeps
# 20 days): CDC refuses the time, and the query reads from the cursor.
admin POST limits '{"cdc_lookback_days":20}' >/dev/null
admin POST clock '{"now":"2027-01-25T01:00:00Z"}' >/dev/null
admin DELETE requests >/dev/null
FS_NOW=2027-01-25T01:00:00Z run fs-pull --commit qbo
is 'CDC refused (400): said, then the query, nothing new' \
	"$status/$(cat "$T/err")/$(rows)/$(requests -s | sed 's/ where.*//')" \
	"0/fs-pull: qbo customers: CDC refused the cursor's time: reading the query instead/@run 2027-01-25T01:00:00Z/400 cdc Customer 2026-12-30T10:00:00+00:00
200 query select * from Customer"
admin POST limits '{"cdc_lookback_days":30}' >/dev/null
admin POST clock '{"now":"2026-11-30T01:00:00Z"}' >/dev/null

# --- throttling: 429, waited for and sent again ----------------------------
# Intuit's 429 has no Retry-After: the wait is throttle_wait (60s by default).
conf 'throttle_wait = 1s'
admin POST faults '{"status":429,"count":2}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull -v --since 2026-11-29T12:00:00Z qbo
is '429 twice: exit 0, every record (--since within 30 days: CDC)' "$status/$(keys "$T/out" | tr '\n' ',')" \
	'0/customers 1,invoices 3,payments 2,'
is '429: the same request again, then through' "$(requests -s)" \
"429 cdc Customer 2026-11-29T12:00:00+00:00
429 cdc Customer 2026-11-29T12:00:00+00:00
200 cdc Customer 2026-11-29T12:00:00+00:00
200 cdc Invoice 2026-11-29T12:00:00+00:00
200 cdc Payment 2026-11-29T12:00:00+00:00"
is '429: -v says it waited throttle_wait' "$(grep -c 'HTTP 429 (rate limited); retry [12] of 2 in 1000 ms' "$T/err")" 2
admin POST faults '{"status":429,"count":3}' >/dev/null
run fs-pull --commit qbo
is '429 past the attempts: exit 4, one line, nothing out' "$status/$(cat "$T/err")/$(wc -c <"$T/out" | tr -d ' ')" \
	'4/fs-pull: qbo: GET /v3/company/9341453908811111/cdc?entities=Customer&changedSince=2026-12-30T10%3A00%3A00%2B00%3A00&minorversion=75: HTTP 429 (rate limited) after 3 attempts/0'

# --- OAuth: refresh once, with rotation; the new pair saved first ---------
conf 'streams = customers'
new_tokens
cp oauth.json first.json
admin POST clock '{"advance_ms":7200000}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull qbo
is 'expired access token: exit 0, refreshed, sent again' "$status/$(requests -s | cut -d' ' -f1-3 | tr '\n' ',')" \
	'0/401 cdc Customer,200 cdc Customer,'
is 'the refresh: Basic client credentials (RFC 6749 2.3.1), the grant in the form' \
	"$(admin GET 'requests?path_prefix=/oauth2/' | jq -r '.requests[] | "\(.status) \(.auth) \(.body | sub("refresh_token=RT[^&]*$"; "refresh_token=RT…"))"')" \
	'200 client_ok grant_type=refresh_token&refresh_token=RT…'
is 'the token file holds the rotated pair, mode 0600, nothing left beside it' \
	"$(test "$(jq -r .refresh_token first.json)" != "$(jq -r .refresh_token oauth.json)" && echo rotated) $(stat -c %a oauth.json) $(ls oauth.json* | tr '\n' ' ')" \
	'rotated 600 oauth.json oauth.json.lock '
cp oauth.json second.json
admin POST clock '{"advance_ms":7200000}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull qbo
is 'expired again: the rotated refresh token (persisted) is redeemed' \
	"$status/$(admin GET 'requests?path_prefix=/oauth2/' | jq -r '[.requests[] | "\(.status) \(.auth)"] | join(",")')" '0/200 client_ok'
is 'the saved pair says when its access token ends (expires_in from now)' "$(jq -r .expires_at oauth.json)" \
	2026-11-30T02:00:00Z
# Ending within five minutes: refreshed before the first request, no 401.
jq -c '.expires_at = "2026-11-30T01:04:59Z"' oauth.json >soon.json && cat soon.json >oauth.json
admin POST clock '{"advance_ms":60000}' >/dev/null
admin DELETE requests >/dev/null
run fs-pull -v qbo
is 'an access token about to end is refreshed first: no 401' \
	"$status/$(requests -s | cut -d' ' -f1-3 | tr '\n' ',')/$(admin GET 'requests?path_prefix=/oauth2/' | jq '.requests | length')/$(grep -c 'refreshed first' "$T/err")" \
	'0/200 cdc Customer,/1/1'
cp first.json oauth.json
admin POST clock '{"advance_ms":7200000}' >/dev/null
run fs-pull qbo
is 'a refresh token already rotated out: exit 2, one line, nothing out, the file as it was' \
	"$status/$(cat "$T/err")/$(wc -c <"$T/out" | tr -d ' ')/$(cmp -s first.json oauth.json && echo unchanged)" \
	"2/fs-pull: qbo: POST $url/oauth2/v1/tokens/bearer: HTTP 400: re-authorise the app and write its tokens to '$T/oauth.json'/0/unchanged"
new_tokens
QBO_CLIENT_SECRET=wrong run fs-pull qbo
new_tokens
admin POST tokens '{"expire_access":true}' >/dev/null
QBO_CLIENT_SECRET=wrong run fs-pull qbo
is 'wrong client credentials: exit 2' "$status/$(cat "$T/err")" \
	"2/fs-pull: qbo: POST $url/oauth2/v1/tokens/bearer: HTTP 401: re-authorise the app and write its tokens to '$T/oauth.json'"
new_tokens
admin POST clock '{"now":"2026-11-30T01:00:00Z"}' >/dev/null
conf ''

# --- SIGKILL while paging: what was committed stands, the rest comes once --
rm -f fieldsync.db*
admin POST faults '{"slow_ms":30000,"skip":2}' >/dev/null
fs-pull --commit qbo >killed.ndjson 2>/dev/null &
kill_held $!
admin DELETE faults >/dev/null
is 'killed on the third page of customers: two pages and their checkpoints are out' \
	"$(rows killed.ndjson | cut -d' ' -f1 | uniq -c | tr -s ' ' | tr '\n' ',')" ' 2 customers, 1 @customers, 2 customers, 1 @customers,'
is 'killed: the second page'"'"'s cursor is committed' "$(cursors)" 'customers 2026-11-29T09:30:00.000Z 3'
run fs-pull --commit qbo
cat killed.ndjson "$T/out" >resumed.ndjson
is 'resumed: the rest of the customers, the invoices, the payments' \
	"$status/$(keys "$T/out" | cut -d' ' -f1 | uniq -c | tr -s ' ' | tr '\n' ',')" '0/ 4 customers, 4 invoices, 2 payments,'
is 'killed + resumed: every object once' \
	"$(keys resumed.ndjson | sort | uniq -d | wc -l | tr -d ' ')/$(keys resumed.ndjson | sort -u | tr '\n' ',')" \
	'0/customers 1,customers 2,customers 3,customers 4,customers 5,customers 6,customers 7,customers 8,invoices 1,invoices 2,invoices 3,invoices 4,payments 1,payments 2,'

# --- the webhook inbox: entity names and ids, read back -------------------
classic() { # realm, then "Entity id Operation" triples
	r=$1; shift
	printf '{"eventNotifications":[{"realmId":"%s","dataChangeEvent":{"entities":[' "$r"
	sep=
	while [ $# -ge 3 ]; do
		printf '%s{"name":"%s","id":"%s","operation":"%s","lastUpdated":"2026-11-30T00:59:00.000Z"}' "$sep" "$1" "$2" "$3"
		sep=,; shift 3
	done
	printf ']}}]}'
}
cloud() { # realm, type, id
	printf '[{"specversion":"1.0","id":"e-%s","source":"intuit.abc","type":"%s","datacontenttype":"application/json","time":"2026-11-30T00:59:00.000Z","intuitentityid":"%s","intuitaccountid":"%s","data":{}}]' \
		"$3" "$2" "$3" "$1"
}
sql "insert into inbox (source, delivery_id, received_at, body) values
 ('qbo', 'd1', '2026-11-30T00:59:00Z', '$(classic $realm Invoice 3 Update Customer 2 Update Payment 9 Delete)'),
 ('qbo', 'd2', '2026-11-30T00:59:01Z', '$(cloud $realm qbo.invoice.updated.v1 3)'),
 ('qbo', 'd3', '2026-11-30T00:59:02Z', '$(cloud $realm qbo.payment.created.v1 2)'),
 ('qbo', 'd4', '2026-11-30T00:59:03Z', '$(cloud 123 qbo.customer.updated.v1 1)'),
 ('qbo', 'd5', '2026-11-30T00:59:04Z', 'not json'),
 ('qbo', 'd6', '2026-11-30T00:59:05Z', '$(classic $realm Customer 999 Update Estimate 5 Create)'),
 ('qbo', 'd7', '2026-11-30T00:59:06Z', '$(cloud $realm qbo.customer.merged.v1 7)')"
admin DELETE requests >/dev/null
run fs-pull --commit qbo
is 'inbox: exit 1 (a bad row went to the DLQ)' "$status" 1
is 'inbox: each object once, read back (a gone one, a deletion, another realm'"'"'s, an estimate: nothing), then the inbox checkpoint' "$(rows)" \
'customers 2
customers 7
invoices 3
payments 2
@inbox 7'
is 'inbox: a query a stream and page_size ids (inactive customers too), then the streams by CDC' "$(requests)" \
"query select * from Customer where Id in ('2', '7') and Active IN (true, false) maxresults 2
query select * from Customer where Id in ('999') and Active IN (true, false) maxresults 2
query select * from Invoice where Id in ('3') maxresults 2
query select * from Payment where Id in ('2') maxresults 2
cdc Customer 2026-12-30T10:00:00+00:00
cdc Invoice 2026-11-29T12:00:00+00:00
cdc Payment 2026-11-29T12:00:00+00:00"
is 'inbox: the bad row: error line' "$(cat "$T/err")" 'fs-pull: inbox row 5: not a QuickBooks webhook
fs-pull: 1 record went to the dead-letter queue (fs-dlq list)'
is 'inbox: the bad row is in the DLQ with its bytes' "$(sql "select command, lineno, bytes from dlq")" 'fs-pull|5|not json'

# --- bad configurations: one line, exit 2, nothing out --------------------
refused() { # name, expected error, extra config
	conf "$3"
	run fs-pull qbo
	is "$1: exit 2, the error line, nothing out" "$status/$(cat "$T/err")/$(wc -c <"$T/out" | tr -d ' ')" "2/$2/0"
}
printf '[source "qbo"]\nkind = quickbooks\nurl = %s\noauth_file = %s/oauth.json\n' "$url" "$T" >fieldsync.conf
run fs-pull qbo
is 'no realm: exit 2, the error line, nothing out' "$status/$(cat "$T/err")/$(wc -c <"$T/out" | tr -d ' ')" \
	"2/fs-pull: source 'qbo': realm must be the company's id (a number), not ''/0"
refused 'a realm that is no number' "fs-pull: source 'qbo': realm must be the company's id (a number), not 'acme'" 'realm = acme'
refused 'page_size over 1,000' "fs-pull: source 'qbo': page_size must be a number from 1 to 1000, not '1001'" 'page_size = 1001'
refused 'an unknown stream' "fs-pull: source 'qbo': unknown stream 'estimates' (customers, invoices, payments)" 'streams = estimates'
chmod 644 oauth.json
refused 'token file readable by others' "fs-pull: source 'qbo': oauth_file '$T/oauth.json' must have mode 0600"
chmod 600 oauth.json
unset QBO_CLIENT_SECRET
refused 'no client secret' "fs-pull: source 'qbo': no client secret: \$QBO_CLIENT_SECRET is not set"

# Tokens and the client secret appear in no output, dead letter or state.
for s in $(jq -r '.access_token, .refresh_token' first.json second.json oauth.json) test-client-secret; do
	cat "$T/out" "$T/err" ./*.ndjson | grep -F -e "$s"
	state_dump | grep -F -e "$s"
done >leaks
is 'no token and no client secret in any output or in the state' "$(wc -l <leaks | tr -d ' ')" 0
done_testing
