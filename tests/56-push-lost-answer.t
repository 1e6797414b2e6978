#!/bin/sh
# fs-push: a lost answer, then failures until the retries run out.  Lob may
# hold the piece, so fs-push looks it up before it makes it again and before
# a dead letter, and adopts it.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 36
export LOB_API_KEY=sk_test_s3cret
start_lob
lob_conf
fs-dlq count >/dev/null
row() { sql "select state, attempts, coalesce(cast(http_status as text), '-'), coalesce(vendor_id, '-') from outbox where event_id = '$1'"; }
fake_vid() { lob_admin GET /__admin/pieces | python3 -c 'import json, sys
print(" ".join(p["id"] for p in json.load(sys.stdin)["data"] if p["metadata"].get("event_id") == sys.argv[1]))' "$1"; }
three_runs() { # ndjson event: the first run reads it, then retries 2 s apart until the row is done
	run fs-push mail <"$1"
	for _ in 1 2; do
		[ "$(sql "select state from outbox where event_id = '$2'")" = pending ] || return 0
		advance 2; run fs-push --retry-only mail </dev/null
	done
}
E503='HTTP 503: The Lob servers are temporarily unavailable. Please try again.'

# Lob makes the piece and the answer is lost; every create after that would
# get a 503.  The retry looks first and finds the piece: adopted.
lob_admin POST /__admin/faults '[{"accept_then_drop":true,"method":"POST"},
	{"status":503,"method":"POST","path_prefix":"/postcards","count":-1}]' >/dev/null
mreq evt_l1 101 >l1.ndjson
three_runs l1.ndjson evt_l1
v1=$(fake_vid evt_l1)
is 'adopted: exit 0, nothing on stderr' "$status/$(cat "$T/err")" '0/'
is 'adopted: one piece at the fake, made once' "$(lob_pieces)" 'evt_l1 1'
norun | sed "s/$v1/V1/g; s/\"id\":\"evt_[0-9a-f]*\"/\"id\":\"S\"/" >got
cat >want <<'EOF2'
{"type":"result","event_id":"evt_l1","target":"mail","status":"sent","vendor_id":"V1","http_status":200,"attempts":2}
{"type":"event","id":"S","source":"mail","kind":"mail.status","object":"mail:V1","occurred_at":"2026-11-30T01:00:02Z","data":{"mail_id":"evt_l1","vendor":"lob","vendor_id":"V1","contact_id":"101","campaign":"thanks","status":"queued","detail":"postcard.created"}}
EOF2
check_same 'adopted: a sent result and a queued mail.status' want got
is 'adopted: the outbox row is sent with the vendor id' "$(row evt_l1)" "sent|2|200|$v1"
is 'adopted: the history: lost, then the lookup' \
	"$(sql "select history from outbox where event_id = 'evt_l1'" | jq -r '[.[] | "\(.http_status // "none") \(.request)"] | join(", ")')" \
	'none POST /postcards, 200 GET /postcards'
is 'adopted: a send.adopt and a send changelog row' \
	"$(sql "select kind || ' ' || coalesce(json_extract(detail, '$.adopted'), '-') || ' ' || json_extract(detail, '$.vendor_id') from changelog where event_id = 'evt_l1' and kind in ('send', 'send.adopt', 'send.dead') order by id")" \
	"send.adopt - $v1
send 1 $v1"
is 'adopted: the send row has the audit times' \
	"$(sql "select json_extract(detail, '$.requested_at') || ' ' || json_extract(detail, '$.first_attempt_at') || ' ' || json_extract(detail, '$.accepted_at') || ' ' || json_extract(detail, '$.attempts') from changelog where event_id = 'evt_l1' and kind = 'send'")" \
	'2026-11-29T10:00:00Z 2026-11-30T01:00:00Z 2026-11-30T01:00:02Z 2'
is 'adopted: a pieces row, queued' "$(sql "select vendor_id, status, contact_id, campaign from pieces where event_id = 'evt_l1'")" "$v1|queued|101|thanks"
is 'adopted: no dead letter' "$(fs-dlq count)" 0
is 'adopted: one retrying result before' "$(sql "select count(*) from changelog where event_id = 'evt_l1' and kind = 'send.retry'")" 1
lob_admin DELETE /__admin/faults >/dev/null

# No piece was made (the connection dropped before Lob read the request):
# each retry's lookup finds nothing and its create gets a 503, the last look
# finds nothing either, and the dead letter is the plain one, with the last
# create's status and answer.  Three runs, three attempts (a lookup and the
# create after it are one), six requests in the history.
lob_admin POST /__admin/faults '[{"drop":true,"method":"POST"},
	{"status":503,"method":"POST","path_prefix":"/postcards","count":-1}]' >/dev/null
mreq evt_l2 102 >l2.ndjson
three_runs l2.ndjson evt_l2
is 'none made: exit 1' "$status" 1
is 'none made: the plain reason' "$(cat "$T/err")" "fs-push: evt_l2: gave up after 3 attempts: $E503 (dead letter #1)"
is 'none made: a dead result with the 503' "$(cat "$T/out")" \
	'{"type":"result","event_id":"evt_l2","target":"mail","status":"dead","vendor_id":null,"http_status":503,"attempts":3}'
is 'none made: the dead letter keeps the 503 and its body' \
	"$(sql "select http_status, json_extract(response, '$.error.code'), json_array_length(attempts) from dlq where id = 1")" '503|service_unavailable|6'
is 'none made: the outbox row is dead with the 503' "$(row evt_l2)" 'dead|3|503|-'
is 'none made: no piece at the fake' "$(lob_pieces | grep -c evt_l2)" 0
lob_admin DELETE /__admin/faults >/dev/null

# The lookup fails too (Lob is down): the dead letter says the piece may
# exist, and the replay adopts it instead of making a second one.
lob_admin POST /__admin/faults '[{"accept_then_drop":true,"method":"POST"},
	{"status":503,"path_prefix":"/postcards","count":-1}]' >/dev/null
mreq evt_l3 103 >l3.ndjson
three_runs l3.ndjson evt_l3
why="gave up after 3 attempts: $E503; the piece may exist at Lob (looking it up failed): fs-dlq replay looks it up again and adopts it"
is 'lookup failed: exit 1' "$status" 1
is 'lookup failed: stderr says the piece may exist' "$(cat "$T/err")" "fs-push: evt_l3: $why (dead letter #2)"
is 'lookup failed: the DLQ reason says so' "$(sql "select reason from dlq where id = 2")" "$why"
is 'lookup failed: the DLQ keeps the last create'"'"'s status and every attempt' \
	"$(sql "select http_status, json_extract(attempts, '$[2].request'), json_extract(attempts, '$[2].http_status') from dlq where id = 2")" \
	'503|GET /postcards|503'
is 'lookup failed: a send.dead row, no send row' \
	"$(sql "select group_concat(kind) from changelog where event_id = 'evt_l3' and kind in ('send', 'send.dead')")" 'send.dead'
is 'lookup failed: Lob holds the piece' "$(lob_pieces | grep evt_l3)" 'evt_l3 1'
lob_admin DELETE /__admin/faults >/dev/null
advance 60
fs-dlq replay 2 2>/dev/null | fs-push mail >out 2>err
is 'replay: exit 0' "$?" 0
v3=$(fake_vid evt_l3)
is 'replay: adopted, not made again' "$(lob_pieces | grep evt_l3)/$(row evt_l3 | cut -d'|' -f1,4)" "evt_l3 1/sent|$v3"
is 'replay: a sent result with the vendor id' "$(grep -c "\"status\":\"sent\",\"vendor_id\":\"$v3\"" out)" 1
is 'replay: a send row marked adopted' \
	"$(sql "select json_extract(detail, '$.adopted') || ' ' || json_extract(detail, '$.vendor_id') from changelog where event_id = 'evt_l3' and kind = 'send'")" "1 $v3"
is 'replay: the dead letter is replayed' "$(sql "select state from dlq where id = 2")" replayed
is 'replay: a pieces row' "$(sql "select count(*) from pieces where event_id = 'evt_l3' and vendor_id = '$v3'")" 1

# A replay whose lookup fails until its retries run out: the dead letter
# says the piece may exist; the next replay, with Lob back, makes it once.
lob_admin POST /__admin/faults '{"status":503,"path_prefix":"/postcards","count":-1}' >/dev/null
mreq evt_l5 105 >l5.ndjson
three_runs l5.ndjson evt_l5
is 'down: a dead letter after the lookup failed too' "$status/$(sql "select id from dlq where event_id = 'evt_l5'")" '1/3'
fs-dlq replay 3 2>/dev/null >r5.ndjson
three_runs r5.ndjson evt_l5
is 'replay while down: exit 1' "$status" 1
is 'replay while down: the reason says the piece may exist' "$(sql "select reason from dlq where id = 4")" \
	"gave up after 3 attempts: $E503; the piece may exist at Lob (looking it up failed): fs-dlq replay looks it up again and adopts it"
is 'replay while down: only lookups were made' "$(sql "select attempts from dlq where id = 4" | jq -r '[.[].request | select(. != null)] | join(", ")')" \
	'GET /postcards, GET /postcards, GET /postcards'
lob_admin DELETE /__admin/faults >/dev/null
fs-dlq replay 4 2>/dev/null | fs-push mail >out 2>err
is 'replay with Lob back: sent' "$?/$(row evt_l5 | cut -d'|' -f1,2)" '0/sent|1'
is 'replay with Lob back: one piece' "$(lob_pieces | grep evt_l5)" 'evt_l5 1'

# After a lost answer Lob is asked first, before any create that might
# get a 4xx (here a 404 from a proxy): the piece is adopted.
lob_admin POST /__admin/faults '[{"accept_then_drop":true,"method":"POST"},
	{"status":404,"method":"POST","path_prefix":"/postcards"}]' >/dev/null
mreq evt_l4 104 >l4.ndjson
run fs-push mail <l4.ndjson
advance 2; run fs-push --retry-only mail </dev/null
is 'a 404 after a lost answer: adopted' "$status/$(row evt_l4 | cut -d'|' -f1,2)/$(lob_pieces | grep evt_l4)" '0/sent|2/evt_l4 1'
is 'every piece at the fake has its send changelog row' \
	"$(for v in $(lob_admin GET /__admin/pieces | python3 -c 'import json, sys
print(" ".join(p["id"] for p in json.load(sys.stdin)["data"]))'); do sql "select count(*) from changelog where kind = 'send' and json_extract(detail, '$.vendor_id') = '$v'"; done | sort -u)" 1
done_testing
