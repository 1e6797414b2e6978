#!/bin/sh
# fs-hook behind a real web server (lighttpd, mod_cgi), fed signed webhooks
# by the Lob and HubSpot fakes.
. "$(dirname "$0")/lib.sh"
command -v lighttpd >/dev/null || skip_all 'lighttpd is not installed (scripts/bootstrap)'
. "$top/tests/fixtures/hook-server.sh"
plan 13
cat >fieldsync.conf <<'EOF2'
[source "lob-events"]
secret_env = LOB_WEBHOOK_SECRET

[source "hubspot"]
secret_env = HUBSPOT_APP_SECRET
EOF2
lob_pid= hs_pid=
trap 'hook_server_stop; [ -n "$lob_pid" ] && kill $lob_pid; [ -n "$hs_pid" ] && kill $hs_pid; wait; rm -rf "$T"' EXIT
python3 "$top/tests/fakes/fake_lob.py" --port 0 --port-file lob.port --now "$FS_NOW" --seed 1 2>lob.err &
lob_pid=$!
python3 "$top/tests/fakes/fake_hubspot.py" --port 0 --port-file hs.port --now "$FS_NOW" 2>hs.err &
hs_pid=$!
hook_server_start "$T" FS_STATE="$FS_STATE" FS_CONFIG="$T/fieldsync.conf" FS_NOW="$FS_NOW" \
	LOB_WEBHOOK_SECRET=lob-secret HUBSPOT_APP_SECRET=hs-secret FS_HOOK_CKPT=1 || exit 1
while [ ! -s lob.port ] || [ ! -s hs.port ]; do sleep 0.05; done
lob=http://127.0.0.1:$(cat lob.port)
hs=http://127.0.0.1:$(cat hs.port)
hook=http://127.0.0.1:$hook_port/cgi-bin/fs-hook

curl -s -u test_key: "$lob/v1/postcards" -H 'Content-Type: application/json' -d '{
  "to":{"name":"Ada","address_line1":"1 Main St","address_city":"Springfield","address_state":"IL","address_zip":"62701"},
  "front":"tmpl_front","back":"tmpl_back","use_type":"marketing"}' >piece.json
psc=$(jq -r .id piece.json)
admin() { curl -s "$1/__admin/webhook" -H 'Content-Type: application/json' -d "$2"; }

admin "$lob" "{\"url\":\"$hook/lob-events\",\"secret\":\"lob-secret\",\"id\":\"$psc\",\"event\":\"postcard.mailed\"}" >out1
is 'Lob fake -> lighttpd -> fs-hook: 200' "$(jq -c '[.deliveries[].status]' out1)" '[200]'
evt=$(jq -r '.deliveries[0].event_id' out1)
is 'the event is in the inbox under its Lob id' "$(sql "select source, delivery_id from inbox")" "lob-events|$evt"
is 'the body stored is the bytes Lob sent' "$(sql "select body from inbox" | jq -r .id)/$(sql "select body from inbox" | jq -r .event_type.id)" \
	"$evt/postcard.mailed"
admin "$lob" "{\"url\":\"$hook/lob-events\",\"secret\":\"lob-secret\",\"event_ids\":[\"$evt\"],\"repeat\":2}" >out2
is 'a duplicate delivery: 200 twice, one inbox row' "$(jq -c '[.deliveries[].status]' out2)/$(sql 'select count(*) from inbox')" '[200,200]/1'
is 'and the answer says it was a repeat' "$(jq -r '.deliveries[0].response_body' out2)" \
	"{\"ok\":true,\"stored\":false,\"delivery_id\":\"$evt\"}"
admin "$lob" "{\"url\":\"$hook/lob-events\",\"secret\":\"lob-secret\",\"id\":\"$psc\",\"event\":\"postcard.in_transit\",\"bad_signature\":true}" >out3
is 'a bad Lob signature: 401' "$(jq -c '[.deliveries[].status]' out3)" '[401]'
admin "$lob" "{\"url\":\"$hook/lob-events\",\"secret\":\"lob-secret\",\"id\":\"$psc\",\"event\":\"postcard.in_transit\",\"timestamp_ms\":1795999000000}" >out4
is 'a stale Lob timestamp: 401' "$(jq -c '[.deliveries[].status]' out4)/$(jq -r '.deliveries[0].response_body' out4)" \
	'[401]/{"ok":false,"error":"stale timestamp"}'

admin "$hs" "{\"url\":\"$hook/hubspot\",\"secret\":\"hs-secret\",\"events\":[{\"eventId\":7,\"objectId\":1001,\"propertyName\":\"lifecyclestage\",\"propertyValue\":\"customer\"},{\"eventId\":8,\"objectId\":1002}]}" >out5
is 'HubSpot fake -> lighttpd -> fs-hook: 200' "$(jq -r .status out5)" 200
# (json_array_length of the body's bytes, read here: a bytea on PostgreSQL.)
is 'the batch is one inbox row, named by its eventIds' \
	"$(sql "select delivery_id from inbox where source = 'hubspot'")|$(sql "select hex(body) from inbox where source = 'hubspot'" |
		unhex | jq 'if type == "array" then length else 0 end')" 'events:7,8|2'
admin "$hs" "{\"url\":\"$hook/hubspot\",\"secret\":\"hs-secret\",\"events\":[{\"eventId\":9}],\"bad_signature\":true}" >out6
is 'a bad HubSpot v3 signature: 401' "$(jq -r .status out6)" 401
admin "$hs" "{\"url\":\"$hook/hubspot\",\"secret\":\"hs-secret\",\"raw_body\":\"[{\\\"eventId\\\":10,\"}" >out7
# lighttpd sends SIGTERM to a CGI program still running after its answer:
# fs-hook's checkpoint after the answer (FS_HOOK_CKPT=1: at every request)
# still ends with the WAL truncated and restarted, one page in it.
if on_pg; then
	skip 'behind lighttpd the WAL is truncated after the answer: the SQLite file -wal, which a PostgreSQL state has not'
else
	wal_restarted() { [ "$(wc -c <fieldsync.db-wal)" = 4152 ]; }
	i=0; while ! wal_restarted && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
	is 'behind lighttpd the WAL is truncated after the answer' "$(wc -c <fieldsync.db-wal)" 4152
fi
is 'signed HubSpot garbage: 400 and a DLQ entry' "$(jq -r .status out7)/$(fs-dlq count)" 400/1
is 'the request log has every request' "$(sql "select source, status from requests order by id" | tr '\n' ' ')" \
	'lob-events|200 lob-events|200 lob-events|200 lob-events|401 lob-events|401 hubspot|200 hubspot|401 hubspot|400 '
done_testing
