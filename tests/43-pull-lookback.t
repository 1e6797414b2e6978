#!/bin/sh
# fs-pull hubspot's look-back margin: HubSpot's search index shows a write
# late, with a last-modified time before the cursor.  Records that became
# visible inside the margin come; records emitted before do not come again.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake HubSpot'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 14

python3 "$top/tests/fakes/fake_hubspot.py" --port 0 --port-file "$T/hs.port" --now 2026-11-30T00:00:00Z &
fake=$!
trap 'kill $fake 2>/dev/null; wait $fake 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/hs.port" "the fake HubSpot"
url=http://127.0.0.1:$(cat "$T/hs.port")
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
admin POST rate '{"max":100000}' >/dev/null
export HUBSPOT_TOKEN=test-token
printf '[source "hubspot"]\nkind = hubspot\nurl = %s\nrate = 100000/10s\nsearch_rate = none\nattempts = 2\nstreams = contacts\n' "$url" >fieldsync.conf
out() { jq -c 'if .type == "record" then .key else [.stream, .cursor] end' "$T/out" | tr '\n' ' '; }
contact() { admin POST contacts "[{\"id\":\"$1\",\"lastmodifieddate\":\"$2\"}]" >/dev/null; }

contact 300 2026-11-29T23:59:55Z
run fs-pull --commit hubspot
is 'first run: the contact and a numbered checkpoint' "$status/$(out)" '0/"300" ["contacts","2026-11-29T23:59:55.000Z/300/1"] '

# The index lags 30 s: 301 and 302 are written now, 301 with a time before the cursor.
admin POST index_lag '{"ms":30000}' >/dev/null
contact 301 2026-11-29T23:59:50Z
contact 302 2026-11-29T23:59:58Z
run fs-pull --commit hubspot
is 'not yet in the index: nothing; 300 is not emitted again' "$status/$(out)" '0/["run","2026-11-30T01:00:00Z"] '
admin POST clock '{"advance_ms":31000}' >/dev/null
run fs-pull --commit hubspot
is 'indexed: 301, late and before the cursor, comes, and 302' "$status/$(out)" '0/"301" "302" ["contacts","2026-11-29T23:59:58.000Z/302/2"] '
run fs-pull --commit hubspot
is 'the next run emits none of them again' "$(out)" '["run","2026-11-30T01:00:00Z"] '
is 'the pairs within the margin are kept' "$(sql "select id || ' ' || modified_ms || ' ' || batch from hubspot_seen order by id")" \
'300 1795996795000 1
301 1795996790000 2
302 1795996798000 2'

# A late record whose checkpoint is not committed comes again on the next run.
contact 304 2026-11-29T23:59:57Z
admin POST clock '{"advance_ms":31000}' >/dev/null
run fs-pull hubspot
is 'late 304: emitted; the cursor stays, its number moves' "$(out)" '"304" ["contacts","2026-11-29T23:59:58.000Z/302/3"] '
run fs-pull hubspot
is 'not committed: 304 again' "$(out)" '"304" ["contacts","2026-11-29T23:59:58.000Z/302/3"] '
run fs-pull --commit hubspot
run fs-pull --commit hubspot
is 'committed: not again' "$(out)" '["run","2026-11-30T01:00:00Z"] '

# Later than the margin (a minute by default): search does not bring it back.
contact 305 2026-11-29T23:58:30Z
admin POST clock '{"advance_ms":31000}' >/dev/null
run fs-pull --commit hubspot
is 'indexed more than the margin before the cursor: not seen by search (the trade-off)' "$(out)" '["run","2026-11-30T01:00:00Z"] '
printf 'lookback = 2m\n' >>fieldsync.conf
run fs-pull --commit hubspot
is 'a wider margin (lookback = 2m) brings it, and only it' "$(out)" '"305" ["contacts","2026-11-29T23:59:58.000Z/302/4"] '

# Newer writes move the cursor on; the old pairs are pruned.
contact 306 2026-11-30T00:10:00Z
admin POST clock '{"advance_ms":31000}' >/dev/null
run fs-pull --commit hubspot
is 'a newer contact moves the cursor' "$(out)" '"306" ["contacts","2026-11-30T00:10:00.000Z/306/5"] '
run fs-pull --commit hubspot
is 'pairs older than the margin are pruned' "$(sql "select group_concat(id) from hubspot_seen")" 306

# lookback = 0 turns it off; a bad value is refused.
sed -i 's/^lookback = .*/lookback = 0/' fieldsync.conf
admin DELETE requests >/dev/null
run fs-pull hubspot
is 'lookback = 0: the query starts after the cursor' \
	"$(admin GET 'requests?path_prefix=/crm/v3/objects/contacts/search' | jq -c '.requests[-1].body.filterGroups[0].filters[0] | [.operator, .value]')" '["GT","1795997400000"]'
sed -i 's/^lookback = .*/lookback = soon/' fieldsync.conf
run fs-pull hubspot
is 'a bad lookback: exit 2 and why' "$status/$(cat "$T/err")" "2/fs-pull: fieldsync.conf:8: lookback 'soon' is not a duration (90s, 15m, 24h, 3d, 2w)"
done_testing
