#!/bin/sh
# fs-pull hubspot against the fake: keyset paging past the 10,000 cap, shared
# timestamps, resume, rate limits, faults, bad answers, the webhook inbox.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake HubSpot'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 81

python3 "$top/tests/fakes/fake_hubspot.py" --port 0 --port-file "$T/hs.port" --now 2026-11-30T00:00:00Z \
	--log "$T/hs.log" &
fake=$!
trap 'kill $fake 2>/dev/null; wait $fake 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/hs.port" "the fake HubSpot"
port=$(cat "$T/hs.port")
url=http://127.0.0.1:$port
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
admin POST rate '{"max":100000}' >/dev/null
export HUBSPOT_TOKEN=test-token
conf() { # extra config lines
	printf '[source "hubspot"]\nkind = hubspot\nurl = %s\nrate = 100000/10s\nsearch_rate = none\nattempts = 3\nstreams = contacts\n%s\n' \
		"$url" "$1" >fieldsync.conf
}
conf ''
keys() { jq -r 'select(.type == "record") | .key' "${1:-$T/out}"; }
ndup() { keys "$@" | sort | uniq -d | wc -l | tr -d ' '; }
nrec() { grep -c '"type":"record"' "${1:-$T/out}"; }
lastcp() { grep '"type":"checkpoint"' "${1:-$T/out}" | tail -n 1; }
search_statuses() { admin GET 'requests?path_prefix=/crm/v3/objects/contacts/search' | jq -r '[.requests[].status] | map(tostring) | join(" ")'; }

# A small portal, exactly.
admin POST contacts '[{"id":"101","email":"a@x.io","lastmodifieddate":"2026-11-29T10:00:00.000Z"},
  {"id":"103","email":"c@x.io","lastmodifieddate":"2026-11-29T10:00:00.000Z"},
  {"id":"102","email":"b@x.io","lastmodifieddate":"2026-11-29T11:00:00.500Z"}]' >/dev/null
run fs-pull hubspot
is 'small portal: exit 0' "$status" 0
is 'records in (time, id) order, then the checkpoint' "$(jq -c 'if .type == "record" then [.type, .stream, .key, .fetched_at, .data.properties.email] else . end' "$T/out")" \
'["record","contacts","101","2026-11-30T01:00:00Z","a@x.io"]
["record","contacts","103","2026-11-30T01:00:00Z","c@x.io"]
["record","contacts","102","2026-11-30T01:00:00Z","b@x.io"]
{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"2026-11-29T11:00:00.500Z/102/1"}'
is 'the first record is the API object as fetched' "$(head -n 1 "$T/out" | jq -c '.data | {id, updatedAt, archived, p: .properties.lastmodifieddate}')" \
	'{"id":"101","updatedAt":"2026-11-29T10:00:00.000Z","archived":false,"p":"2026-11-29T10:00:00.000Z"}'
err_is 'nothing on stderr' </dev/null
is 'no cursor is committed without --commit' "$(sql 'select count(*) from cursors')" 0
is 'the lease is released' "$(sql 'select count(*) from leases')" 0
run fs-pull hubspot
is 'without a commit the next run reads the same again' "$(nrec)" 3
run fs-pull --commit hubspot
is '--commit commits the last checkpoint' "$(sql "select stream || ' ' || cursor from cursors")" 'contacts 2026-11-29T11:00:00.500Z/102/1'
run fs-pull hubspot
is 'after the commit: nothing new, exit 0, only the run checkpoint' "$status/$(cat "$T/out")" \
	'0/{"type":"checkpoint","source":"hubspot","stream":"run","cursor":"2026-11-30T01:00:00Z"}'

# A quiet CRM is not a stale one: runs that find nothing still commit a pull;
# a failed run does not.
for at in 01:05 01:10 01:15; do FS_NOW=2026-11-30T${at}:00Z fs-pull --commit hubspot >/dev/null; done
FS_NOW=2026-11-30T01:24:00Z run fs-health
is 'quiet CRM: three empty runs, no sync lag at 01:24' "$status/$(grep '^source hubspot' "$T/out" | grep -o 'last_pull=[^ ]* lag=[^ ]*')" \
	'0/last_pull=2026-11-30T01:15:00Z lag=9m'
admin POST faults '{"status":503,"count":-1}' >/dev/null
FS_NOW=2026-11-30T01:20:00Z run fs-pull --commit hubspot
admin DELETE faults >/dev/null
is 'a failed run: exit 4, no checkpoint' "$status/$(wc -c <"$T/out" | tr -d ' ')" 4/0
FS_NOW=2026-11-30T01:26:00Z run fs-health
is 'a failed run does not count as a pull' "$status/$(sed -n 2p "$T/out")" \
	'1/WARNING sync_lag hubspot: no committed pull for 11m (interval 5m)'
admin POST contacts '[{"id":"104","lastmodifieddate":"2026-11-29T11:00:00.500Z"},{"id":"100","lastmodifieddate":"2026-11-29T11:00:00.500Z"},{"id":"101","email":"a2@x.io","lastmodifieddate":"2026-11-29T12:00:00.000Z"}]' >/dev/null
conf 'lookback = 0'
run fs-pull hubspot
is 'resume at (time, id): a larger id at the same time comes, a smaller one was passed' "$(keys | tr '\n' ' ')" '104 101 '
is 'the search asked for time > t or (time = t and id > i)' \
	"$(admin GET 'requests?path_prefix=/crm/v3/objects/contacts/search' | jq -c '.requests[-1].body.filterGroups')" \
	'[{"filters":[{"propertyName":"lastmodifieddate","operator":"GT","value":"1795950000500"}]},{"filters":[{"propertyName":"lastmodifieddate","operator":"EQ","value":"1795950000500"},{"propertyName":"hs_object_id","operator":"GT","value":"102"}]}]'
run fs-pull --since 2026-11-29T10:30:00Z hubspot
is '--since overrides the cursor' "$(keys | tr '\n' ' ')" '100 102 104 101 '
conf '
[thresholds]
timezone = America/Phoenix'
run fs-pull --since 2026-11-29 hubspot
is '--since a plain date: from midnight in the configured time zone (07:00Z in Phoenix)' \
	"$status/$(admin GET 'requests?path_prefix=/crm/v3/objects/contacts/search' | jq -c '.requests[-1].body.filterGroups')" \
	'0/[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"1795935600000"}]}]'
conf ''
run fs-pull hubspot
is 'with the look-back margin, 100 (at the cursor time, a smaller id, never emitted) comes too' "$(keys | tr '\n' ' ')" '100 104 101 '
is 'the look-back query starts a minute before the cursor' \
	"$(admin GET 'requests?path_prefix=/crm/v3/objects/contacts/search' | jq -c '.requests[-1].body.filterGroups')" \
	'[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"1795949940500"}]}]'

# 10,300 generated contacts, with timestamps shared by up to 450 of them.
admin POST reset '{"empty":true}' >/dev/null
admin POST rate '{"max":100000}' >/dev/null
admin POST generate '{"count":10300,"seed":7}' >/dev/null
rm -f fieldsync.db*
admin DELETE requests >/dev/null
run fs-pull hubspot
is '10,300 contacts: exit 0' "$status" 0
is '10,300 contacts: every one arrives' "$(nrec)" 10300
is '10,300 contacts: none twice' "$(ndup)" 0
is '10,300 contacts: every id of the portal' "$(keys | sort -n | sed -n '1p;$p' | tr '\n' ' ')" '1001 11300 '
is 'no search went past the 10,000 cap (no 400, no after)' \
	"$(admin GET 'requests?path_prefix=/crm/v3/objects/contacts/search' | jq '[.requests[] | select(.status != 200 or .body.after != null)] | length')" 0
jq -r 'select(.type == "record") | [.data.properties.lastmodifieddate, .key] | @tsv' "$T/out" >order
is 'records come in (time, id) order' "$(sort -k1,1 -k2,2n order | cmp - order >/dev/null && echo sorted)" sorted
is 'a timestamp shared across pages is continued with NOT_IN, never read again: 52 searches of 200' \
	"$(admin GET 'requests?path_prefix=/crm/v3/objects/contacts/search' | jq -c '[(.requests | length), ([.requests[] | select(.body.sorts[0].propertyName == "hs_object_id")] | length), ([.requests[].body.filterGroups[]?.filters | map(select(.operator == "NOT_IN")) | length] | max)]')" \
	'[52,0,4]'
cp "$T/out" all.ndjson

# A timestamp shared by more records than a query can exclude (500): read by id.
admin POST reset '{"empty":true}' >/dev/null
admin POST rate '{"max":100000}' >/dev/null
admin POST contacts "$(seq 5001 5650 | jq -sc 'map({id: tostring, lastmodifieddate: "2026-11-29T09:00:00Z"})')" >/dev/null
rm -f fieldsync.db*
admin DELETE requests >/dev/null
run fs-pull --commit hubspot
is '650 contacts at one time: all once, exit 0' "$status/$(nrec)/$(ndup)" 0/650/0
is '650 at one time: past 500 it reads that time by id' \
	"$(admin GET 'requests?path_prefix=/crm/v3/objects/contacts/search' | jq -c '[.requests[] | .body.sorts[0].propertyName] | unique')" \
	'["hs_object_id","lastmodifieddate"]'
is '650 at one time: the committed cursor' "$(sql "select cursor from cursors where stream = 'contacts'")" '2026-11-29T09:00:00.000Z/5650/4'

# Exactly a page at one time, and nothing after it: the empty last page completes it.
admin POST reset '{"empty":true}' >/dev/null
admin POST rate '{"max":100000}' >/dev/null
admin POST contacts "$(seq 6001 6200 | jq -sc 'map({id: tostring, lastmodifieddate: "2026-11-29T09:00:00Z"})')" >/dev/null
rm -f fieldsync.db*
run fs-pull --commit hubspot
is '200 contacts at one time, then nothing: all 200, then their checkpoint' "$status/$(nrec)/$(lastcp | jq -r .cursor)" \
	'0/200/2026-11-29T09:00:00.000Z/6200/1'
admin POST reset '{"empty":true}' >/dev/null
admin POST rate '{"max":100000}' >/dev/null
admin POST generate '{"count":10300,"seed":7}' >/dev/null

# Resume in pieces: --limit with --commit, five times, gives the whole set once.
rm -f fieldsync.db*
: >pieces.ndjson
for k in 1 2 3 4 5 6 7 8 9 10 11; do
	fs-pull --limit 1000 --commit hubspot >>pieces.ndjson || break
done
is 'eleven runs of --limit 1000 --commit: all 10,300' "$(nrec pieces.ndjson)" 10300
is 'eleven runs: none twice' "$(ndup pieces.ndjson)" 0
is 'the committed cursor is the last record' "$(sql 'select cursor from cursors' | cut -d/ -f1-2)" \
	"$(lastcp all.ndjson | jq -r .cursor | cut -d/ -f1-2)"

# SIGKILL in the middle of a run (a slow answer holds it there): the next run
# starts after the last committed checkpoint, and nothing is lost or repeated.
rm -f fieldsync.db*
admin POST faults '{"slow_ms":30000,"skip":10,"path_prefix":"/crm/v3/objects/contacts/search"}' >/dev/null
fs-pull --commit hubspot >killed.ndjson 2>/dev/null &
kill_held $!
admin DELETE faults >/dev/null
is 'the killed run emitted some records' "$(test "$(nrec killed.ndjson)" -gt 0 && echo yes)" yes
is 'and committed its last checkpoint' "$(sql 'select cursor from cursors')" "$(lastcp killed.ndjson | jq -r .cursor)"
run fs-pull --commit hubspot
cat killed.ndjson "$T/out" >resumed.ndjson
last=$(grep -n checkpoint killed.ndjson | tail -n 1 | cut -d: -f1)
committed=$(head -n "$last" killed.ndjson | grep -c '"type":"record"')
is 'killed + resumed: committed records + the next run = 10,300' "$((committed + $(nrec)))" 10300
is 'killed + resumed: the union is every contact' "$(keys resumed.ndjson | sort -u | wc -l | tr -d ' ')" 10300

# Faults: 429 with Retry-After, 503, a truncated body: retried, nothing lost.
admin POST reset '{"empty":true}' >/dev/null
admin POST rate '{"max":100000}' >/dev/null
admin POST generate '{"count":450,"seed":3}' >/dev/null
rm -f fieldsync.db*
admin DELETE requests >/dev/null
admin POST faults '[{"status":429,"retry_after":1,"path_prefix":"/crm/v3/objects/contacts/search"},{"status":503,"skip":1,"path_prefix":"/crm/v3/objects/contacts/search"},{"truncate":true,"skip":2,"path_prefix":"/crm/v3/objects/contacts/search"}]' >/dev/null
run fs-pull -v hubspot
is 'faults: exit 0' "$status" 0
is 'faults: all 450, none twice' "$(nrec)/$(ndup)" 450/0
is 'faults: the fake saw a 429, then retries' "$(search_statuses | cut -d' ' -f1-2)" '429 200'
is 'faults: three retries' "$(grep -c '; retry ' "$T/err")" 3

# Staying under the rate: the fake allows 4 a second and so does the config.
admin POST rate '{"max":4,"interval_ms":1000}' >/dev/null
admin DELETE requests >/dev/null
sed -i 's|^rate = .*|rate = 4/1s|' fieldsync.conf
run fs-pull hubspot
is 'rate 4/1s: all 450' "$(nrec)" 450
is 'rate 4/1s: the fake never had to say 429' "$(search_statuses | tr ' ' '\n' | grep -c 429)" 0

# Requests this run never saw (another app on the account) use up the window:
# the fake's X-HubSpot-RateLimit-Remaining is believed, so the run waits for
# a slot instead of sending into a 429.
admin POST rate '{"max":4,"interval_ms":1000}' >/dev/null
admin DELETE requests >/dev/null
for i in 1 2 3; do
	curl -s -o /dev/null -H "Authorization: Bearer $HUBSPOT_TOKEN" "$url/crm/v3/objects/contacts?limit=1"
done
run fs-pull hubspot
is 'others spent 3 of 4: all 450' "$(nrec)" 450
is 'others spent 3 of 4: the fake never had to say 429' "$(search_statuses | tr ' ' '\n' | grep -c 429)" 0

# Searches have their own limit (HubSpot: about 5 a second, and no headers
# to learn it from): search_rate paces them on top of rate.
admin POST rate '{"max":100000,"search_max":2,"search_interval_ms":1000}' >/dev/null
admin DELETE requests >/dev/null
sed -i 's|^rate = .*|rate = 100000/10s|; s|^search_rate = .*|search_rate = 2/1s|' fieldsync.conf
run fs-pull hubspot
is 'search_rate 2/1s: all 450' "$(nrec)" 450
is 'search_rate 2/1s: the fake never had to say 429' "$(search_statuses | tr ' ' '\n' | grep -c 429)" 0
sed -i 's|^search_rate = .*|search_rate = 2 a second|' fieldsync.conf
run fs-pull hubspot
is 'a bad search_rate: exit 2, the error line, nothing out' "$status $(cat "$T/err") $(wc -c <"$T/out" | tr -d ' ')" \
	"2 fs-pull: fieldsync.conf:5: search_rate '2 a second' is not a rate (100/10s, 10/500ms, 150/s, off) 0"
admin POST rate '{"max":100000,"search_max":null}' >/dev/null
conf ''

# Bad answers: one clear error line, exit 4, cursor unchanged, nothing emitted.
bad_answer() { # name, fault, expected error
	rm -f fieldsync.db*
	admin DELETE faults >/dev/null
	admin POST faults "$2" >/dev/null
	run fs-pull --commit hubspot
	is "$1: exit 4" "$status" 4
	is "$1: the error line" "$(cat "$T/err")" "$3"
	is "$1: nothing emitted, no cursor" "$(wc -c <"$T/out" | tr -d ' ')/$(sql 'select count(*) from cursors')" 0/0
	admin DELETE faults >/dev/null
}
bad_answer 'invalid JSON' '{"invalid_json":true,"count":-1}' \
	'fs-pull: hubspot: POST /crm/v3/objects/contacts/search: HTTP 200 with a body that is not JSON after 3 attempts'
bad_answer 'schema change' '{"schema_change":true,"count":-1}' \
	'fs-pull: hubspot: POST /crm/v3/objects/contacts/search: HTTP 200 without "results" in the answer after 3 attempts'
bad_answer 'server down' '{"status":503,"count":-1}' \
	'fs-pull: hubspot: POST /crm/v3/objects/contacts/search: HTTP 503 after 3 attempts'
HUBSPOT_TOKEN=wrong-token
bad_answer '401' '[]' \
	'fs-pull: hubspot: POST /crm/v3/objects/contacts/search: HTTP 401: The OAuth token used to make this call expired or is invalid.'
HUBSPOT_TOKEN=test-token

# A failure after some pages: what came before its checkpoint stands, the rest comes next time.
rm -f fieldsync.db*
admin POST faults '{"status":500,"count":-1,"skip":1,"path_prefix":"/crm/v3/objects/contacts/search"}' >/dev/null
run fs-pull --commit hubspot
is 'failure after a page: exit 4' "$status" 4
is 'failure after a page: the committed cursor is the checkpoint written' "$(sql 'select cursor from cursors')" "$(lastcp | jq -r .cursor)"
cp "$T/out" first.ndjson
admin DELETE faults >/dev/null
run fs-pull --commit hubspot
is 'failure after a page: the rest arrives once' "$(cat first.ndjson "$T/out" | keys /dev/stdin | sort | uniq | wc -l | tr -d ' ')/$(cat first.ndjson "$T/out" | ndup /dev/stdin)" 450/0

# Unreachable host.
printf '[source "hubspot"]\nkind = hubspot\nurl = http://127.0.0.1:1\nattempts = 2\n' >fieldsync.conf
run fs-pull hubspot
is 'unreachable: exit 4' "$status" 4
is 'unreachable: the error line' "$(cat "$T/err")" \
	"fs-pull: hubspot: POST /crm/v3/objects/contacts/search: Couldn't connect to server after 2 attempts"
conf ''

# No token, dry run, secrets.
run env -u HUBSPOT_TOKEN fs-pull hubspot
is 'no token: exit 2 and why' "$status/$(cat "$T/err")" "2/fs-pull: source 'hubspot': no token: \$HUBSPOT_TOKEN is not set"
rm -f fieldsync.db*
run fs-pull --dry-run hubspot
is '--dry-run prints the first request, token redacted' "$(sed -n 1,3p "$T/out")" "POST $url/crm/v3/objects/contacts/search
Authorization: Bearer <redacted>
Content-Type: application/json"
state_dump >dump.sql
is '--dry-run: the token is nowhere' "$(grep -c test-token "$T/out" "$T/err" dump.sql | grep -vc ':0$')" 0
is '--dry-run commits nothing' "$(sql 'select count(*) from cursors')" 0

# --describe: the mapping list, of deals too when the source pulls them.
conf 'streams = contacts, deals'
run fs-pull --describe hubspot
is '--describe: exit 0' "$status" 0
is '--describe: name, type, label, mapped, values' "$(grep -E '^(email|lifecyclestage|hs_object_id|deals.dealstage)	' "$T/out")" \
'email	string	Email	mapped	-
hs_object_id	number	Record ID	mapped	-
lifecyclestage	enumeration	Lifecycle Stage	mapped	subscriber, lead, marketingqualifiedlead, salesqualifiedlead, opportunity, customer, evangelist, other
deals.dealstage	enumeration	Deal Stage	mapped	appointmentscheduled, qualifiedtobuy, presentationscheduled, decisionmakerboughtin, contractsent, closedwon, closedlost'
is '--describe: the listing is kept in the state, for checking campaigns' \
	"$(sql "select object, name, options from source_fields where source = 'hubspot' and name in ('lifecyclestage', 'dealstage', 'email') order by object, name")" \
	'contacts|email|[]
contacts|lifecyclestage|["subscriber","lead","marketingqualifiedlead","salesqualifiedlead","opportunity","customer","evangelist","other"]
deals|dealstage|["appointmentscheduled","qualifiedtobuy","presentationscheduled","decisionmakerboughtin","contractsent","closedwon","closedlost"]'

# Cron safety: a live holder of the lease means another run: exit 0, nothing done.
sleep 300 &
holder=$!
sql "insert into leases values ('fs-pull:hubspot', 'run_other', $holder, '$(hostname)', '2026-11-30T00:59:00Z', '2026-11-30T02:00:00Z')"
run fs-pull hubspot
kill $holder
is 'lease held: exit 0, nothing out' "$status/$(wc -c <"$T/out" | tr -d ' ')" 0/0
is 'lease held: says so' "$(cat "$T/err")" "fs-pull: source 'hubspot' is being pulled by another run: nothing to do"
sql "delete from leases"

# The webhook inbox: contact ids -> batch read; the inbox cursor marks rows drained.
rm -f fieldsync.db*
fs-pull --dry-run hubspot >/dev/null	# makes the state file
sql "insert into inbox (source, delivery_id, received_at, body) values
 ('hubspot', 'd1', '2026-11-30T00:59:00Z', '[{\"subscriptionType\":\"contact.propertyChange\",\"objectId\":1005},{\"subscriptionType\":\"contact.creation\",\"objectId\":1003}]'),
 ('hubspot', 'd2', '2026-11-30T00:59:01Z', '[{\"subscriptionType\":\"contact.propertyChange\",\"objectId\":1005},{\"subscriptionType\":\"contact.deletion\",\"objectId\":1007},{\"subscriptionType\":\"contact.propertyChange\",\"objectId\":999999}]'),
 ('hubspot', 'd3', '2026-11-30T00:59:02Z', 'not json'),
 ('other', 'd4', '2026-11-30T00:59:03Z', '[{\"objectId\":1001}]')"
printf '[source "hubspot"]\nkind = hubspot\nurl = %s\nrate = 100000/10s\nstreams = deals\n' "$url" >fieldsync.conf
run fs-pull --commit hubspot
is 'inbox: exit 1 (a bad row went to the DLQ)' "$status" 1
is 'inbox: each notified contact once, then the inbox checkpoint' \
	"$(jq -c 'if .type == "record" then [.stream, .key] else [.stream, .cursor] end' "$T/out")" \
'["contacts","1005"]
["contacts","1003"]
["inbox","3"]'
is 'inbox: the bad row: error line' "$(cat "$T/err")" 'fs-pull: inbox row 3: not a JSON array of HubSpot events
fs-pull: 1 record went to the dead-letter queue (fs-dlq list)'
is 'inbox: the bad row is in the DLQ with its bytes' "$(sql "select command, lineno, bytes from dlq")" 'fs-pull|3|not json'
is 'inbox: drained_at is set on the next run' "$(sql 'select count(*) from inbox where drained_at is not null')" 0
run fs-pull hubspot
is 'inbox: the next run reads no row again' "$(grep -c '"type":"record"' "$T/out")" 0
is 'inbox: rows up to the committed cursor are now marked drained' \
	"$(sql "select group_concat(delivery_id) from inbox where drained_at = '2026-11-30T01:00:00Z'")" 'd1,d2,d3'

is 'the token appears in no output, log or state' "$(cat "$T"/*.ndjson "$T/out" "$T/err" 2>/dev/null | grep -c test-token; sqlite3 "$FS_STATE" .dump | grep -c test-token)" '0
0'
done_testing
