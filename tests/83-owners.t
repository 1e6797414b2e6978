#!/bin/sh
# Owners by name (issue 16): a HubSpot pull keeps the owners' names from
# GET /crm/v3/owners, once a day, and a failing owners endpoint never fails
# the pull; fs-report shows the names in text and HTML, and keeps the id
# beside the name (owner_name) in CSV and JSON.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake HubSpot'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 28
export HUBSPOT_TOKEN=test-token
start_hubspot
admin() { hs_admin "$1" "/__admin/$2" "$3"; }
admin POST rate '{"max":100000}' >/dev/null
# Not "hubspot": the fixture's records came from a source of that name.
printf '[source "crm"]\nkind = hubspot\nurl = %s\nrate = 100000/10s\nsearch_rate = none\nattempts = 2\nstreams = contacts\n' \
	"$HS" >fieldsync.conf
owner_gets() { admin GET 'requests?path_prefix=/crm/v3/owners' | jq -r '[.requests[] | "\(.path) \(.status)"] | join(", ")'; }
owners() { sql "select id || '|' || coalesce(name, '-') || '|' || coalesce(email, '-') || '|' || archived || '|' || seen_at from owners order by id"; }
checkpoint() { printf '{"type":"checkpoint","source":"crm","stream":"run","cursor":"%s"}' "$1"; }

# The report fixture's owners are alice and bob; alice is 101 in this portal,
# bob an id the portal does not list (marked: the fixture's ids are names).
"$top/tests/fixtures/report-state.sh" || { echo "Bail out! fixture state"; exit 1; }
sql "update contacts set owner = '101' where owner = 'alice'"
admin POST owners '[{"id":"101","email":"alice@x.io","firstName":"Alice","lastName":"Ames"},
  {"id":"102","email":"cy@x.io"},{"id":"103","firstName":"Old","lastName":"Hand","archived":true}]' >/dev/null

# Before any pull, an owner id is all there is: shown as it is, never blank.
run fs-report sla --format text --section followup
is 'no names yet: the ids' "$status/$(grep '^owner' "$T/out" | tr -s ' ' | cut -d' ' -f1-3)" '0/owner 101 3
owner bob 2'

run fs-pull crm
is 'the first pull: exit 0, its checkpoint, nothing on stderr' "$status/$(cat "$T/out")/$(cat "$T/err")" "0/$(checkpoint 2026-11-30T01:00:00Z)/"
is 'one request for the owners, a page of 100' "$(owner_gets)" '/crm/v3/owners?limit=100 200'
is 'the names are kept: first and last, else the e-mail; archived ones are not listed' "$(owners)" \
	'101|Alice Ames|alice@x.io|0|2026-11-30T01:00:00Z
102|cy@x.io|cy@x.io|0|2026-11-30T01:00:00Z'

run fs-report sla --format text --section followup
is 'text: the name for a known owner, the id for an unknown one' "$status/$(grep -E '^(BY|owner) ' "$T/out")" \
'0/BY        NAME        PIECES  FOLLOWED  MED D  P90 D  MED BD  P90 BD  MET  MISSED  OPEN  MET PCT
owner     Alice Ames       3         2    0.9    1.1       0       1    2       0     1    100.0
owner     bob              2         1    6.2    6.2       4       4    0       2     0      0.0'
run fs-report sla --format csv
is 'csv: the id in name, the name in owner_name' "$status/$(tr -d '\r' <"$T/out")" \
'0/by,name,owner_name,pieces,followed,med_d,p90_d,med_bd,p90_bd,met,missed,open,met_pct
all,all,,5,3,1.1,6.2,1,4,2,2,1,50.0
campaign,thank-you,,3,2,1.1,6.2,1,4,1,1,1,50.0
campaign,win-back,,2,1,0.9,0.9,0,0,1,1,0,50.0
owner,101,Alice Ames,3,2,0.9,1.1,0,1,2,0,1,100.0
owner,bob,bob,2,1,6.2,6.2,4,4,0,2,0,0.0'
run fs-report sla --format json --section followup
is 'json: name and owner_name, both keys on every row' "$status/$(jq -c 'select(.section == "followup") | [.by, .name, .owner_name]' "$T/out")" \
'0/["all","all",null]
["campaign","thank-you",null]
["campaign","win-back",null]
["owner","101","Alice Ames"]
["owner","bob","bob"]'
run fs-report sla --format html
is 'html: the name in the follow-up table, not the id' \
	"$status/$(grep -c '<td>Alice Ames</td>' "$T/out")/$(grep -c '<td>101</td>' "$T/out")/$(grep -c '<td>bob</td>' "$T/out")" 0/1/0/1

# Within a day, no request; a day after the last fetch, the names again.
FS_NOW=2026-11-30T23:59:00Z run fs-pull crm
is 'a pull within the day: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is '... and no owners request' "$(owner_gets)" '/crm/v3/owners?limit=100 200'
admin POST owners '{"id":"101","lastName":"Ames-Bell"}' >/dev/null
admin POST owners "$(seq 1000 1149 | jq -sc 'map({id: tostring, firstName: "Rep", lastName: tostring})')" >/dev/null
FS_NOW=2026-12-01T01:00:00Z run fs-pull crm
is 'a day later: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is '... the owners again, 152 of them in two pages' "$(owner_gets)" \
	'/crm/v3/owners?limit=100 200, /crm/v3/owners?limit=100 200, /crm/v3/owners?limit=100&after=100 200'
is '... a name changed at HubSpot is changed here, the new ones are there' "$(owners | grep -E '^(101|1149)[|]')" \
	'101|Alice Ames-Bell|alice@x.io|0|2026-12-01T01:00:00Z
1149|Rep 1149|-|0|2026-12-01T01:00:00Z'
is '... and every one is kept' "$(sql "select count(*) from owners")" 152

# The owners endpoint failing: said, and the pull goes on (exit 0, its
# checkpoint); asked again an hour later, not on the next run.
admin DELETE requests >/dev/null
admin POST faults '{"status":500,"count":-1,"path_prefix":"/crm/v3/owners"}' >/dev/null
FS_NOW=2026-12-02T02:00:00Z run fs-pull crm
is 'owners answer 500: exit 0, the checkpoint' "$status/$(cat "$T/out")" "0/$(checkpoint 2026-12-02T02:00:00Z)"
err_is 'owners answer 500: a warning, no token' <<'EOT'
fs-pull: crm: GET /crm/v3/owners?limit=100: HTTP 500 after 2 attempts
fs-pull: crm: owner names not refreshed: reports show the owner ids they have no name for; asked again in an hour
EOT
is '... two tries' "$(owner_gets)" '/crm/v3/owners?limit=100 500, /crm/v3/owners?limit=100 500'
is '... the names kept as they were' "$(sql "select count(*) || ' ' || max(seen_at) from owners")" '152 2026-12-01T01:00:00Z'
FS_NOW=2026-12-02T02:30:00Z run fs-pull crm
is 'half an hour later: exit 0, nothing said, no request' "$status/$(cat "$T/err")/$(owner_gets | tr ',' '\n' | wc -l)" 0//2
admin DELETE faults >/dev/null
admin POST faults '{"status":403,"count":1,"path_prefix":"/crm/v3/owners","message":"This app lacks a scope"}' >/dev/null
FS_NOW=2026-12-02T03:00:00Z run fs-pull crm
is 'an hour later, a 403: exit 0, the checkpoint' "$status/$(cat "$T/out")" "0/$(checkpoint 2026-12-02T03:00:00Z)"
err_is '... says which scope the token lacks' <<'EOT'
fs-pull: crm: GET /crm/v3/owners?limit=100: HTTP 403: This app lacks a scope (the token needs the scope crm.objects.owners.read)
fs-pull: crm: owner names not refreshed: reports show the owner ids they have no name for; asked again in an hour
EOT
grep -c "test-token" "$T/hs.log" "$T/err" >"$T/tokens"
is 'no token in the fake log or on stderr' "$(cut -d: -f2 "$T/tokens" | tr '\n' ' ')" '0 0 '
FS_NOW=2026-12-02T04:00:00Z run fs-pull crm
is 'the endpoint back: exit 0, nothing said' "$status/$(cat "$T/err")" 0/
is '... the names fetched' "$(sql "select max(seen_at) from owners")" 2026-12-02T04:00:00Z

# Neither a dry run nor a failed pull asks for the owners.
admin DELETE requests >/dev/null
FS_NOW=2026-12-04T00:00:00Z run fs-pull --dry-run crm
is 'a dry run: exit 0, no owners request' "$status/$(owner_gets)" 0/
admin POST faults '{"status":503,"count":-1,"path_prefix":"/crm/v3/objects"}' >/dev/null
FS_NOW=2026-12-04T00:00:00Z run fs-pull crm
admin DELETE faults >/dev/null
is 'a failed pull: exit 4, no owners request' "$status/$(owner_gets)" 4/
is 'the failed pull left the owners due' "$(sql "select refreshed_at from owner_refresh")" 2026-12-02T04:00:00Z
run fs-state info
is 'fs-state info: at the current schema' "$status/$(sed -n 2p "$T/out" | tr -s ' ')" "0/schema version $current_schema (this fieldsync: $current_schema)"
done_testing
