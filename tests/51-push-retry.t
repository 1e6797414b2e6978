#!/bin/sh
# fs-push: retries with backoff, giving up, lost answers, adoption, 429s, replays.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 35
export LOB_API_KEY=sk_test_s3cret
start_lob
lob_conf 'give_up   = 3d'
fs-dlq count >/dev/null
row() { sql "select state, attempts, coalesce(cast(http_status as text), '-'), coalesce(next_attempt_at, '-') from outbox where event_id = '$1'"; }

# A 503: retried later, not now; exit 4 when the vendor took nothing.
lob_admin POST /__admin/faults '{"status":503}' >/dev/null
mreq evt_r1 101 >r1.ndjson
run fs-push mail <r1.ndjson
is '503: exit 4' "$status" 4
is '503: a retrying result' "$(cat "$T/out")" \
	'{"type":"result","event_id":"evt_r1","target":"mail","status":"retrying","vendor_id":null,"http_status":503,"attempts":1}'
is '503: stderr says it will be retried' "$(cat "$T/err")" \
	"fs-push: mail: 1 row will be retried (last error: HTTP 503: The Lob servers are temporarily unavailable. Please try again.)"
is '503: pending with the next attempt one second on' "$(row evt_r1)" 'pending|1|503|2026-11-30T01:00:01Z'
is '503: a send.retry changelog row' "$(sql "select json_extract(detail, '$.next_attempt_at'), json_extract(detail, '$.error') from changelog where kind = 'send.retry'")" \
	'2026-11-30T01:00:01Z|HTTP 503: The Lob servers are temporarily unavailable. Please try again.'
run fs-push --retry-only mail </dev/null
is 'not due yet: nothing sent' "$status/$(cat "$T/out")/$(row evt_r1)" '0//pending|1|503|2026-11-30T01:00:01Z'
# A 5xx may come after Lob made the piece: the retry looks for it first.
advance 2
run fs-push --retry-only mail </dev/null
is 'due: --retry-only looks, then sends it' "$status/$(row evt_r1)" '0/sent|2|200|-'
is 'the send row counts every attempt (a look and its create are one)' "$(sql "select json_extract(detail, '$.attempts'), json_extract(detail, '$.first_attempt_at') from changelog where kind = 'send'")" \
	'2|2026-11-30T01:00:00Z'
is 'the history has both' "$(sql "select json_extract(history, '$[0].http_status') || ',' || json_extract(history, '$[1].http_status') from outbox where event_id = 'evt_r1'")" '503,200'

# Failing every time: the DLQ after the last attempt, with the whole history.
# A 5xx may come after Lob made the piece, so each retry asks Lob for it
# first; that fails too, and the reason says so.
lob_admin POST /__admin/faults '{"status":500,"count":-1}' >/dev/null
mreq evt_r2 102 >r2.ndjson
run fs-push mail <r2.ndjson
advance 2; run fs-push --retry-only mail </dev/null
advance 2; run fs-push --retry-only mail </dev/null
is 'exhausted: exit 1' "$status" 1
is 'exhausted: the error line' "$(cat "$T/err")" \
	'fs-push: evt_r2: gave up after 3 attempts: HTTP 500: An internal server error occurred, please contact support@lob.com; the piece may exist at Lob (looking it up failed): fs-dlq replay looks it up again and adopts it (dead letter #1)'
is 'exhausted: a dead result' "$(cat "$T/out")" \
	'{"type":"result","event_id":"evt_r2","target":"mail","status":"dead","vendor_id":null,"http_status":500,"attempts":3}'
is 'exhausted: the DLQ keeps every attempt' \
	"$(sql "select http_status, json_array_length(attempts), json_extract(attempts, '$[2].at'), json_extract(attempts, '$[2].request') from dlq where id = 1")" \
	'500|3|2026-11-30T01:00:06Z|GET /postcards'

# Replay: fs-dlq replay feeds it back; fs-push asks Lob first, then makes it.
lob_admin DELETE /__admin/faults >/dev/null
mreq evt_r2 102 >again.ndjson
run fs-push mail <again.ndjson
is 'the same dead event again (no replay): a no-op' "$status/$(cat "$T/out")/$(row evt_r2 | cut -d'|' -f1)" '0//dead'
fs-dlq replay 1 2>/dev/null | fs-push mail >out 2>err
is 'replay: exit 0' "$?" 0
is 'replay: sent' "$(row evt_r2 | cut -d'|' -f1,3)" 'sent|200'
is 'replay: the vendor was asked first' "$(lob_admin GET '/__admin/requests?since=0' | python3 -c 'import json,sys
d = [r for r in json.load(sys.stdin)["data"] if r["idempotency_key"] == "evt_r2" or "evt_r2" in r["query"]]
print(" ".join(r["method"] for r in d[-2:]))')" 'GET POST'
is 'replay: a send.replay changelog row' "$(sql "select count(*) from changelog where kind = 'send.replay' and event_id = 'evt_r2'")" 1

# A lost answer (the piece is made, the connection dropped): the retry
# finds the piece at Lob and adopts it, whatever the clocks say.
lob_admin POST /__admin/faults '{"accept_then_drop":true}' >/dev/null
mreq evt_r3 103 >r3.ndjson
run fs-push mail <r3.ndjson
is 'lost answer: retrying, no HTTP status' "$(cat "$T/out")" \
	'{"type":"result","event_id":"evt_r3","target":"mail","status":"retrying","vendor_id":null,"http_status":null,"attempts":1}'
advance 2
run fs-push --retry-only mail </dev/null
is 'lost answer: sent on the retry' "$status/$(row evt_r3 | cut -d'|' -f1,2)" '0/sent|2'
is 'lost answer: one piece at Lob, made once' "$(lob_pieces | grep evt_r3)" 'evt_r3 1'

# A retry a day later: the key window is over, so Lob is asked for the
# piece by metadata and it is adopted, not made again.
lob_admin POST /__admin/faults '{"accept_then_drop":true}' >/dev/null
mreq evt_r4 104 >r4.ndjson
run fs-push mail <r4.ndjson
advance 90000
lob_admin POST /__admin/clock '{"advance_s":90000}' >/dev/null
run fs-push --retry-only mail </dev/null
is 'after 25h: exit 0' "$status" 0
is 'after 25h: adopted' "$(row evt_r4 | cut -d'|' -f1,2)" 'sent|2'
is 'after 25h: still one piece at Lob' "$(lob_pieces | grep evt_r4)" 'evt_r4 1'
is 'after 25h: send.adopt and send rows' "$(sql "select kind, json_extract(detail, '$.adopted') from changelog where event_id = 'evt_r4' and kind like 'send%' and kind != 'send.retry' order by id")" \
	'send.adopt|
send|1'

# The key reused with other parameters (the config changed between tries):
# Lob answers 422 conflict; fs-push finds the piece instead of dead-lettering.
lob_admin POST /__admin/faults '{"accept_then_drop":true}' >/dev/null
mreq evt_r5 105 >r5.ndjson
run fs-push mail <r5.ndjson
echo 'size = 4x6' >>fieldsync.conf
advance 2
run fs-push --retry-only mail </dev/null
is 'conflict: adopted' "$status/$(row evt_r5 | cut -d'|' -f1)" '0/sent'
is 'conflict: one piece' "$(lob_pieces | grep evt_r5)" 'evt_r5 1'

# A vendor refusing every create for hours (a 5xx storm on POST alone):
# each retry looks for the piece first (a 5xx may have made it), finds
# none, and creates.  The look and the create are one attempt, so the row
# gets every attempt `retry` promises (3 here), not half of them.
lob_admin POST /__admin/faults '{"status":503,"method":"POST","count":-1}' >/dev/null
mreq evt_r6 106 >r6.ndjson
run fs-push mail <r6.ndjson
advance 2
run fs-push --retry-only mail </dev/null
is 'storm: the second run looks and creates, one attempt' \
	"$status/$(row evt_r6 | cut -d'|' -f1,2)/$(sql "select json_array_length(history) from outbox where event_id = 'evt_r6'")" \
	'4/pending|2/3'
advance 2
run fs-push --retry-only mail </dev/null
is 'storm: the third run is the last attempt' "$status/$(row evt_r6 | cut -d'|' -f1,2)" '1/dead|3'
is 'storm: the error line counts attempts, not requests' "$(cat "$T/err")" \
	'fs-push: evt_r6: gave up after 3 attempts: HTTP 503: The Lob servers are temporarily unavailable. Please try again. (dead letter #2)'
is 'storm: the dead letter keeps every request' \
	"$(sql "select json_array_length(attempts) from dlq where event_id = 'evt_r6'")" 6
lob_admin DELETE /__admin/faults >/dev/null

# 429s: the bucket waits for the vendor's window and every piece goes.
lob_admin POST /__admin/rate '{"limit":2,"window_s":1}' >/dev/null
for i in 1 2 3 4; do mreq evt_t$i 20$i; done >t.ndjson
run fs-push --parallel 4 mail <t.ndjson
is '429: exit 0' "$status" 0
is '429: every piece sent' "$(sql "select count(*) from outbox where event_id like 'evt_t%' and state = 'sent'")" 4
is '429: throttled answers are not attempts' "$(sql "select group_concat(attempts) from outbox where event_id like 'evt_t%'")" '1,1,1,1'
is '429: one piece each at Lob' "$(lob_pieces | grep -c 'evt_t. 1')" 4
done_testing
