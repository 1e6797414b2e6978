#!/bin/sh
# fs-pull lob-events: the webhook inbox, polling the pieces in flight, and
# the same record for the same event whichever path saw it.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake Lob'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 35

python3 "$top/tests/fakes/fake_lob.py" --port 0 --port-file "$T/lob.port" --now 2026-11-30T00:00:00Z \
	--seed 1 --rate off &
fake=$!
trap 'kill $fake 2>/dev/null; wait $fake 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/lob.port" "the fake Lob"
url=http://127.0.0.1:$(cat "$T/lob.port")
admin() { curl -s -X "$1" "$url/__admin/$2" ${3:+-d "$3"}; }
admin POST clock '{"now":"2026-11-30T00:30:00Z","frozen":true}' >/dev/null
export LOB_API_KEY=test_key
printf '[source "lob-events"]\nkind = lob-events\nurl = %s/v1\ntoken_env = LOB_API_KEY\nattempts = 2\n' "$url" >fieldsync.conf

postcard() { # contact, campaign, event id -> piece id
	curl -s -u test_key: "$url/v1/postcards" -H 'Content-Type: application/json' -d "{\"to\":{\"name\":\"Ann Lee\",
	  \"address_line1\":\"1 Main St\",\"address_city\":\"Austin\",\"address_state\":\"TX\",\"address_zip\":\"78701\"},
	  \"front\":\"tmpl_a\",\"back\":\"tmpl_b\",\"use_type\":\"marketing\",
	  \"metadata\":{\"event_id\":\"$3\",\"contact_id\":\"$1\",\"campaign\":\"$2\"}}" | jq -r .id
}
a=$(postcard 101 thank-you evt_ma)
b=$(postcard 102 winback evt_mb)
c=$(postcard 105 fall evt_me)
evn=0
advance() { # piece, event: the webhook event object into ev.N
	evn=$((evn + 1))
	admin POST advance "{\"id\":\"$1\",\"event\":\"$2\"}" | jq -c ".data[0]" >"ev.$evn"
}
to_inbox() { # files...
	for f in "$@"; do
		sql "insert into inbox (source, delivery_id, received_at, body)
		     values ('lob-events', '$f', '2026-11-30T00:59:00Z', readfile('$f'))"
	done
}
records() { grep '"type":"record"' "${1:-$T/out}" | sort; }

fs-pull --dry-run lob-events >/dev/null	# makes the state file
sql "insert into pieces (vendor_id, event_id, target, contact_id, campaign, status, updated_at) values
 ('$a', 'evt_ma', 'mail', '101', 'thank-you', 'queued', '2026-11-30T00:00:00Z'),
 ('$b', 'evt_mb', 'mail', '102', 'winback', 'queued', '2026-11-30T00:00:00Z'),
 ('psc_gone', 'evt_mc', 'mail', '103', 'winback', 'queued', '2026-11-30T00:00:00Z'),
 ('ltr_done', 'evt_md', 'mail', '104', 'winback', 'delivered', '2026-11-30T00:00:00Z')"
advance "$a" postcard.mailed
advance "$a" postcard.in_transit
advance "$b" postcard.mailed
advance "$a" postcard.rendered_pdf
state_copy fresh.db	# a state that never saw the webhooks
sql "insert into pieces (vendor_id, event_id, target, contact_id, campaign, status, updated_at)
     values ('$c', 'evt_me', 'mail', '105', 'fall', 'queued', '2026-11-30T00:00:00Z')"
runcp='{"type":"checkpoint","source":"lob-events","stream":"run","cursor":"2026-11-30T01:00:00Z"}'

# Webhook mode: the inbox is drained.
to_inbox ev.1 ev.2 ev.3 ev.4
run fs-pull --commit lob-events
is 'webhook: exit 0' "$status" 0
is 'webhook: one record per event, then the inbox checkpoint' \
	"$(jq -c 'if .type == "record" then [.stream, .data.event_type.id, .data.body.id] else [.stream, .cursor] end' "$T/out")" \
"[\"events\",\"postcard.mailed\",\"$a\"]
[\"events\",\"postcard.in_transit\",\"$a\"]
[\"events\",\"postcard.mailed\",\"$b\"]
[\"events\",\"postcard.rendered_pdf\",\"$a\"]
[\"inbox\",\"4\"]"
is 'webhook: a tracking event is keyed by its tracking event id' \
	"$(sed -n 1p "$T/out" | jq -r '[.key == .data.id, (.key | startswith("evnt_")), .data.date_created] | @tsv')" \
	"true	true	2026-11-30T00:30:00.000Z"
is 'webhook: an event without a tracking event is keyed piece:type' "$(sed -n 4p "$T/out" | jq -r .key)" "$a:postcard.rendered_pdf"
is 'webhook: the record keeps the metadata and the one tracking event' \
	"$(sed -n 2p "$T/out" | jq -c '.data.body | {object, metadata, n: (.tracking_events | length), name: .tracking_events[0].name}')" \
	'{"object":"postcard","metadata":{"event_id":"evt_ma","contact_id":"101","campaign":"thank-you"},"n":1,"name":"In Transit"}'
records >webhook.ndjson
run fs-pull lob-events
is 'webhook: a committed inbox is not read again; a quiet run still checkpoints' "$status/$(cat "$T/out")" "0/$runcp"

# Switched to polling after the drain: the pieces' events already drained
# from the inbox are not emitted again by the poll.
sql "insert into source_modes values ('lob-events', 'polling', '2026-11-30T00:59:00Z', 0)"
run fs-pull --commit lob-events
is 'drained, then polled: exit 0, no event again, the run checkpoint' "$status/$(cat "$T/out")" "0/$runcp"
is 'drained events are recorded with their inbox row' "$(sql "select inbox_id || ' ' || poll_id from polled_events where inbox_id is not null order by inbox_id")" \
'1 0
2 0
3 0
4 0'
advance "$c" postcard.mailed
to_inbox ev.5
rm ev.5
evn=4
run fs-pull lob-events
is 'a new event drained while polling: once, by the drain, not by the poll' \
	"$(jq -c 'if .type == "record" then [.stream, .data.event_type.id, .data.body.id] else [.stream, .cursor] end' "$T/out")" \
"[\"events\",\"postcard.mailed\",\"$c\"]
[\"inbox\",\"5\"]"
run fs-pull lob-events
is 'its inbox checkpoint was not committed: drained again, still not polled' "$(grep -c '"type":"record"' "$T/out")" 1
run fs-pull --commit lob-events
run fs-pull lob-events
is 'once committed, neither path emits it again' "$status/$(cat "$T/out")" "0/$runcp"

# Polling mode, in a state that never drained these events: the pieces in
# flight are read, and their events come out exactly as the webhook path gave them.
FS_STATE=$(state_at fresh.db)
sql "insert into source_modes values ('lob-events', 'polling', '2026-11-30T00:59:00Z', 0)"
seq0=$(admin GET requests | jq '[.data[].seq] | max // 0')
run fs-pull lob-events
is 'polling: exit 0' "$status" 0
is 'polling: an unknown piece is said, not fatal' "$(cat "$T/err")" "fs-pull: lob-events: piece psc_gone is not known to Lob"
is 'polling: the tracking events, then the poll checkpoint' "$(jq -c '[.type, .stream]' "$T/out" | uniq -c | sed 's/^ *//')" \
'3 ["record","events"]
1 ["checkpoint","poll"]'
records >polled.ndjson
is 'polling and webhooks give identical records for the same events' "$(grep -v rendered_pdf webhook.ndjson)" "$(cat polled.ndjson)"
is 'polling: three pieces read, the delivered one not' \
	"$(admin GET "requests?method=GET&since=$seq0" | jq -r '[.data[].path | select(test("ltr_done") | not)] | length')/$(admin GET "requests?method=GET&since=$seq0" | jq -r '[.data[].path | select(test("ltr_done"))] | length')" 3/0
run fs-pull lob-events
is 'polling: not committed, so the same events come again' "$(records)" "$(cat polled.ndjson)"
run fs-pull --commit lob-events
is 'polling --commit: the poll cursor is committed' "$(sql "select cursor from cursors where stream = 'poll'")" \
	"$(grep '"checkpoint"' "$T/out" | jq -r .cursor)"
run fs-pull lob-events
is 'polling after a commit: nothing new' "$(grep -c '"type":"record"' "$T/out")" 0
advance "$a" postcard.delivered
advance "$b" postcard.failed
state_copy web.db	# a state that has not polled these two
run fs-pull --commit lob-events
is 'polling: only the new events' "$(jq -r 'select(.type == "record") | .data.event_type.id' "$T/out" | sort | tr '\n' ' ')" \
	'postcard.delivered postcard.failed '
records >polled2.ndjson

# The same two through the webhook path give the same records; where
# polling has emitted them, their late webhooks emit nothing.
sql "update source_modes set mode = 'webhook'"
to_inbox ev.5 ev.6
run fs-pull --commit lob-events
is 'webhook path after polling them: not emitted again' "$status/$(records)" 0/
web=$(state_at web.db)
FS_STATE=$web sql "update source_modes set mode = 'webhook'"
FS_STATE=$web to_inbox ev.5 ev.6
FS_STATE=$web run fs-pull lob-events
is 'webhook path: the same records for the delivered and failed events' "$(records)" "$(cat polled2.ndjson)"

# Through fs-normalize: the same mail.status events, whichever path.
fs-normalize <polled2.ndjson >a.ndjson
fs-normalize <"$T/out" >b.ndjson
is 'the same event ids from both paths' "$(jq -r 'select(.type == "event") | .id' a.ndjson | sort)" "$(jq -r 'select(.type == "event") | .id' b.ndjson | sort)"
is 'mail.status with the status the map gives' "$(jq -r '[.data.vendor_id == "'"$a"'", .data.status, .data.detail] | @tsv' a.ndjson | sort)" \
'false	failed	postcard.failed
true	delivered	postcard.delivered'
fs-normalize <polled.ndjson >c.ndjson
is 'the polled mailed and in-transit events become sent' "$(jq -r '.data.status' c.ndjson | sort | uniq -c | sed 's/^ *//')" '3 sent'

# Bad inbox rows: DLQ with the row id, exit 1, the good rows still come.
printf 'not json' >bad.1
printf '{"id":"evt_x","event_type":{"id":"postcard.mailed"}}' >bad.2
run fs-pull --commit lob-events
advance "$c" postcard.in_transit
to_inbox bad.1 bad.2 "ev.$evn"
run fs-pull --commit lob-events
is 'bad inbox rows: exit 1' "$status" 1
is 'bad inbox rows: error lines' "$(cat "$T/err")" 'fs-pull: inbox row 3: invalid JSON at byte 1
fs-pull: inbox row 4: missing "body.id"
fs-pull: 2 records went to the dead-letter queue (fs-dlq list)'
is 'bad inbox rows: in the DLQ with their bytes' "$(sql "select lineno || ' ' || bytes from dlq order by id")" '3 not json
4 {"id":"evt_x","event_type":{"id":"postcard.mailed"}}'
is 'bad inbox rows: the good row comes, the cursor passes them' \
	"$(jq -c 'if .type == "record" then .data.event_type.id else .cursor end' "$T/out")" '"postcard.in_transit"
"5"'
is 'bad inbox rows: the committed inbox cursor' "$(sql "select cursor from cursors where stream = 'inbox'")" 5

# A wrong key while polling: exit 4, nothing emitted, cursor unchanged.
sql "update source_modes set mode = 'polling'"
before=$(sql "select cursor from cursors where stream = 'poll'")
run env LOB_API_KEY=wrong fs-pull --commit lob-events
is 'wrong key: exit 4' "$status" 4
is 'wrong key: the error line' "$(cat "$T/err")" \
	"fs-pull: lob-events: GET /postcards/$a: HTTP 401: Your API key is not valid. Please sign up on lob.com to get a valid api key."
is 'wrong key: nothing emitted, cursor unchanged' "$(wc -c <"$T/out" | tr -d ' ')/$(sql "select cursor from cursors where stream = 'poll'")" "0/$before"
run env -u LOB_API_KEY fs-pull lob-events
is 'no key: exit 2' "$status/$(cat "$T/err")" "2/fs-pull: source 'lob-events': no token: \$LOB_API_KEY is not set"
is 'the key appears in no output or state' "$(cat ./*.ndjson "$T/out" "$T/err" | grep -c test_key; state_dump | grep -c test_key)" '0
0'
done_testing
