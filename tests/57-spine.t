#!/bin/bash
# The spine's ten holes (issue 13), each reproduced with the real commands
# and the fakes at the exact point where it broke: each check here failed on
# the code before the fix.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 24
export LOB_API_KEY=sk_test_s3cret HUBSPOT_TOKEN=pat-s3cret
start_lob
start_hubspot --generate 3
hs_admin POST /__admin/rate '{"max":100000}' >/dev/null
lob_conf
cat >>fieldsync.conf <<EOF2
[target "crm"]
kind      = hubspot
url       = $HS
token_env = HUBSPOT_TOKEN
EOF2
fs-dlq count >/dev/null
hs_admin POST /__admin/contacts '[{"id":"201","properties":{"email":"a@example.com"}},{"id":"302","properties":{"email":"b@example.com"}}]' >/dev/null

# Pieces at the fake Lob for a contact: "event_id" per line, in order.
pieces_of() {
	lob_admin GET /__admin/pieces | python3 -c 'import json, sys
for p in json.load(sys.stdin)["data"]:
    print(p["metadata"].get("event_id"))' | grep -F "$1" || true
}
# Runs "$@" with stdin from a FIFO that stays open until feed_close: the
# stages commit while their input would block, as in a real pipeline.
feed_open() {
	rm -f "$T/feed"
	mkfifo "$T/feed"
	setsid bash -c "$1" <"$T/feed" >"$T/feed.out" 2>"$T/feed.err" &
	feed_pid=$!
	exec 7>"$T/feed"
}
feed_close() { exec 7>&-; wait "$feed_pid"; feed_status=$?; }
feed_kill() { kill -9 -- "-$feed_pid" 2>/dev/null; exec 7>&-; wait "$feed_pid" 2>/dev/null; }
sql_is() { [ "$(sql "$1")" = "$2" ]; }
until_sql() { wait_for "the state never showed '$2' for: $1" sql_is "$1" "$2"; }

# 1. An outbox row committed while fs-push waits for input is sent by the
# next run; its enrolment must count from then on, or a newer version of the
# same contact (another event id, the same goal) gets a second piece.
feed_open 'fs-dedupe | fs-push mail'
mreq evt_1a 101 >&7
until_sql "select count(*) from outbox where event_id = 'evt_1a'" 1
feed_kill
fs-push --retry-only mail </dev/null >/dev/null 2>&1
mreq evt_1b 101 | fs-dedupe | fs-push mail >/dev/null 2>&1
is '1: killed before its checkpoint, a row sent later still blocks the next version' \
	"$(pieces_of evt_1 | tr '\n' ' ')" 'evt_1a '

# 2. A debounce hold of the CRM -> mail pipeline must not be taken by the
# mail -> CRM pipeline (whose fs-push ignores mail.requested): the piece
# would never be sent.  Each tick's fs-pull ends with its checkpoint.
cp() { printf '{"type":"checkpoint","source":"%s","stream":"s","cursor":"%s"}\n' "$1" "$2"; }
mreq evt_2a 201 | fs-dedupe --debounce 10m | fs-push mail >/dev/null 2>&1
advance 660
{ mstatus evt_2s psc_2 201 sent; cp lob-events 2; } | fs-dedupe | fs-push crm >/dev/null 2>&1
cp hubspot 2 | fs-dedupe --debounce 10m | fs-push mail >/dev/null 2>&1
is '2: a held mail request is sent by its own pipeline' "$(pieces_of evt_2a)" evt_2a
cp hubspot 2b | fs-dedupe --debounce 10m | fs-push mail >/dev/null 2>&1
is '2: and its hold is gone by the next tick' "$(sql "select count(*) from debounce where event_id = 'evt_2a'")" 0

# 3. Debounce collapses repeats of one thing, not different things: two
# campaigns' requests for one contact, or two statuses of one piece.
{ mreq evt_3a 301 postcard thanks; mreq evt_3b 301 postcard winback | sed 's/"goal":"retention"/"goal":"winback"/'; } |
	fs-dedupe --debounce 10m >/dev/null 2>&1
advance 660
cp hubspot 3 | fs-dedupe --debounce 10m >out3
is '3: two campaigns for one contact both come out of debounce' \
	"$(grep -o '"id":"evt_3[ab]"' out3 | tr '\n' ' ')" '"id":"evt_3a" "id":"evt_3b" '
{ mstatus evt_3s psc_3 302 sent 2026-11-30T00:10:00Z; mstatus evt_3d psc_3 302 delivered 2026-11-30T00:12:00Z; } |
	fs-dedupe --debounce 10m >/dev/null 2>&1
advance 660
cp lob-events 3 | fs-dedupe --debounce 10m | fs-push crm >/dev/null 2>&1
is '3: sent then delivered of one piece: both go on' \
	"$(sql "select status from piece_status where vendor_id = 'psc_3' order by at" | tr '\n' ' ')" 'sent delivered '
is '3: the CRM has the last-mail-sent date' \
	"$(hs_admin GET /__admin/updates | python3 -c 'import json, sys
print(" ".join(u["properties"].get("fieldsync_last_mail_sent", "-") for u in json.load(sys.stdin)["updates"] if u["id"] == "302"))')" 2026-11-30

# 4. Two CRM -> mail pipelines at once, each with a version of one contact:
# one piece per contact and goal, whichever pipeline commits first.
feed_open 'fs-dedupe | fs-push mail'
mreq evt_4a 401 >&7
until_sql "select count(*) from enrolments where event_id = 'evt_4a'" 1
mreq evt_4b 401 | fs-dedupe | fs-push mail >/dev/null 2>&1
feed_close
is '4: two pipelines at once mail one contact once' "$(pieces_of evt_4 | wc -l | tr -d ' ')" 1

# 5. A hold that lands while a create is in flight: the vendor's answer is
# still recorded (the piece, its send row), and nothing else is sent.
lob_admin POST /__admin/faults '{"slow_ms":1500,"method":"POST","path_prefix":"/postcards"}' >/dev/null
mreq evt_5a 501 >five.ndjson
setsid fs-push mail <five.ndjson >five.out 2>five.err &
five=$!
creating() { lob_admin GET '/__admin/requests?method=POST&path_prefix=/postcards' |
	python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["count"] else 1)'; }
wait_for 'the create never went out' creating
sql "insert into holds (scope, name, since) values ('target', 'mail', '$FS_NOW')"
fs-push --retry-only mail </dev/null >/dev/null 2>&1
wait "$five"
is '5: the piece made during a hold is recorded' \
	"$(sql "select o.state || ' ' || (p.vendor_id is not null) from outbox o left join pieces p using (event_id) where o.event_id = 'evt_5a'")" 'sent 1'
is '5: with its send row' "$(sql "select count(*) from changelog where kind = 'send' and event_id = 'evt_5a'")" 1
sql "update holds set lifted_at = '$FS_NOW' where lifted_at is null"

# 6. At the end of a pipeline, a stage with --commit makes its checkpoint
# final only after the lines it covers are written.
for i in $(seq 1 3000); do
	printf '{"type":"event","id":"evt_6_%04d","run_id":"r","source":"s6","kind":"contact.changed","object":"contact:6%04d","occurred_at":"2026-11-30T00:00:00Z","data":{"id":"6%04d","updated_at":"2026-11-30T00:00:00Z","email":"padding-padding-padding-padding-padding-padding@example.com"}}\n' "$i" "$i" "$i"
done >six.ndjson
printf '{"type":"checkpoint","source":"s6","stream":"contacts","cursor":"c6"}\n' >>six.ndjson
rm -f six.fifo
mkfifo six.fifo
exec 8<>six.fifo	# read-write: never blocks, and holds what was written
setsid fs-dedupe --commit <six.ndjson >six.fifo 2>six.err &
six=$!
wait_for 'fs-dedupe never blocked on its output' grep -q pipe_write "/proc/$six/wchan"
kill -9 "$six"
wait "$six" 2>/dev/null
delivered=$(timeout 2 cat <&8 | wc -l)
exec 8<&-
final=$(sql "select count(*) from idem_keys where id like 'evt_6_%' and final <> 0")
cursor=$(sql "select count(*) from cursors where source = 's6'")
is '6: killed while writing: no key is final that was not delivered' "$([ "$final" -le "$delivered" ] && echo yes || echo "$final final, $delivered delivered")" yes
is '6: and the cursor is not committed' "$cursor" 0

# 7. A dead letter purged by the operator stays dead: a later repeat of the
# event (a re-pull) does not send what was let die.
lob_admin POST /__admin/faults '{"status":422,"method":"POST","path_prefix":"/postcards"}' >/dev/null
mreq evt_7a 701 | fs-push mail >/dev/null 2>&1
advance 86400
fs-dlq purge --older-than 1h >/dev/null 2>&1
mreq evt_7a 701 | fs-push mail >/dev/null 2>&1
is '7: a repeat after a purge does not revive the dead row' \
	"$(sql "select state from outbox where event_id = 'evt_7a'")/$(pieces_of evt_7a)" 'dead/'

# 8. The clock went back (or $FS_NOW was set back): an answer lost after Lob
# made the piece is looked up before a second create, whatever the clock says.
lob_admin POST /__admin/faults '{"accept_then_drop":true,"method":"POST","path_prefix":"/postcards"}' >/dev/null
mreq evt_8a 801 | fs-push mail >/dev/null 2>&1
lob_admin POST /__admin/clock '{"advance_s":90000}' >/dev/null
advance 79200
fs-push --retry-only mail </dev/null >/dev/null 2>&1
is '8: 25 hours later by Lob, 22 by us: still one piece' "$(pieces_of evt_8a | wc -l | tr -d ' ')" 1
is '8: and it is recorded as sent' "$(sql "select state from outbox where event_id = 'evt_8a'")" sent
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null

# 9. A missing stage: records reaching the end of the pipeline mean nothing
# normalized them.  Nothing is committed, and the error names the stage.
printf '%s\n' '{"type":"record","source":"hubspot","stream":"contacts","key":"901","data":{"id":"901"}}' \
	'{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"c9"}' >nine.ndjson
run fs-push mail <nine.ndjson
is '9: a record at fs-push: exit 2, the missing stage named' "$status/$(cat "$T/err")" \
	"2/fs-push: line 1: a record from 'hubspot' reached fs-push: fs-normalize is missing (fs-pull | fs-normalize | fs-dedupe | fs-push)"
is '9: and no cursor moved' "$(sql "select count(*) from cursors where source = 'hubspot' and stream = 'contacts'")" 0
run fs-dedupe --commit <nine.ndjson
is '9: the same at a stage that ends the pipeline with --commit' "$status/$(sql "select count(*) from cursors where source = 'hubspot' and stream = 'contacts'")" 2/0

# 10. A replay that never arrived (a typo in the repair): the operator can
# see the entries and open them again.
printf 'not json\n' | fs-normalize >/dev/null 2>&1
id=$(sql "select max(id) from dlq")
# (The repair reads the whole replay, then fails: a reader that is gone
# before the replay writes leaves the entries open, tests/68-epipe.t.)
fs-dlq replay "$id" | { cat >/dev/null; jq -n 'typo' 2>/dev/null; }
is '10: the replayed entry is listed with --all' "$(fs-dlq list --all | grep -c "\"id\":$id,.*\"state\":\"replayed\"")" 1
run fs-dlq reopen "$id"
is '10: reopen puts it back: exit 0, counted open' "$status/$(fs-dlq count)" 0/1
run fs-dlq replay "$id"
is '10: and it can be replayed again' "$status/$(cat "$T/out")" '0/not json'
run fs-dlq reopen 999
is '10: reopening an unknown entry is an error' "$status/$(cat "$T/err")" "2/fs-dlq: reopen: no replayed dead letter #999"

# 11. A replay with another fs-push running beside it: the other one looked
# at the replay's line before fs-dlq had marked its entry replayed, took it
# for a mere repeat and dropped it; the entry was replayed, the row stayed
# dead, and no piece was ever made (seen once in tests/59's interleavings).
lob_admin DELETE /__admin/faults >/dev/null
lob_admin POST /__admin/faults '{"status":422,"method":"POST","path_prefix":"/postcards","message":"address undeliverable","count":1}' >/dev/null
mreq evt_11a 1101 | fs-push mail >/dev/null 2>&1
id=$(sql "select id from dlq where event_id = 'evt_11a'")
feed_open 'fs-push mail'
mreq evt_11a 1101 >&7
until_sql "select replay_line is not null from outbox where event_id = 'evt_11a'" 1
fs-push --retry-only mail </dev/null >/dev/null 2>&1
fs-dlq replay "$id" >/dev/null
feed_close
is '11: the replay still sends its piece' "$feed_status/$(pieces_of evt_11a)" 0/evt_11a
is '11: recorded as sent, the entry replayed' \
	"$(sql "select o.state || ' ' || d.state from outbox o join dlq d using (event_id) where event_id = 'evt_11a'")" 'sent replayed'
is '11: one send.replay in the changelog' "$(sql "select count(*) from changelog where kind = 'send.replay' and event_id = 'evt_11a'")" 1
done_testing
