#!/bin/sh
# PostcardMania's orders tracked by polling (fs-pull postcardmania-events) to their
# final states, and fs-push cancel before and after the order day's cutoff.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
. "$top/tests/pcm-lib.sh"
plan 12
start_pcm
pcm_conf "[source \"track\"]
kind      = postcardmania-events
url       = $PCM"
{ mreq evt_a1 101; mreq evt_a2 102; mreq evt_a3 103; } >in.ndjson
fs-push --parallel 1 pcm <in.ndjson >/dev/null

# ---- cancel before the cutoff (11:30 pm Eastern of the order day: 04:30Z the next day in UTC) ----
run fs-push cancel pcm_1001
is 'cancel before the cutoff: exit 0' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	'0/cancelled pcm_1001 (contact 101, campaign thanks)/'
is 'cancelled at PostcardMania and here' "$(pcm_orders | head -1)/$(sql "select status from pieces where vendor_id = 'pcm_1001'")" \
	'evt_a1 1001 Canceled 1/cancelled'
pcm_admin POST /clock '{"now":"2026-11-30T04:31:00Z"}' >/dev/null
run fs-push cancel pcm_1002
is 'cancel after the cutoff: exit 1, refused as Lob refuses' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	'1//fs-push: cancel: could not cancel pcm_1002: HTTP 400: order 1002 can no longer be canceled: it is Processing (the cutoff was 2026-11-30T04:30:00Z) (past the order day'"'"'s cutoff: it is being printed or mailed)'
is 'refused: the piece stays queued' "$(sql "select status from pieces where vendor_id = 'pcm_1002'")" queued

# ---- tracking: each status an order enters, once ----
pipeline() { fs-pull track | fs-normalize | fs-dedupe | fs-push pcm; }
export FS_NOW=2026-11-30T05:00:00Z
run sh -c "fs-pull --commit track | fs-normalize"
is 'a poll: the status of each order in flight' \
	"$(jq -r 'select(.kind == "mail.status") | "\(.data.vendor_id) \(.data.mail_id) \(.data.contact_id) \(.data.status) \(.data.detail)"' "$T/out")" \
	'pcm_1001 evt_a1 101 cancelled Canceled
pcm_1002 evt_a2 102 queued Processing
pcm_1003 evt_a3 103 queued Processing'
run sh -c "fs-pull --commit track | fs-normalize"
is 'a poll again: nothing new, nothing emitted' "$status/$(grep -c mail.status "$T/out")" 0/0
pcm_admin POST /clock '{"now":"2026-12-02T06:00:00Z"}' >/dev/null
FS_NOW=2026-12-02T06:00:00Z
pipeline >/dev/null 2>&1
is 'Mailing: the pieces sent' "$(sql "select vendor_id, status, mailed_at from pieces order by 1")" \
	'pcm_1001|cancelled|
pcm_1002|sent|2026-12-02T06:00:00Z
pcm_1003|sent|2026-12-02T06:00:00Z'
pcm_admin POST /orders/1003 '{"status":"Undeliverable"}' >/dev/null
pcm_admin POST /clock '{"now":"2026-12-05T06:00:00Z"}' >/dev/null
FS_NOW=2026-12-05T06:00:00Z
pipeline >/dev/null 2>&1
is 'the final states: delivered, returned' "$(sql "select vendor_id, status, coalesce(delivered_at, returned_at) from pieces where vendor_id != 'pcm_1001' order by 1")" \
	'pcm_1002|delivered|2026-12-05T06:00:00Z
pcm_1003|returned|2026-12-05T06:00:00Z'
before=$(pcm_requests | grep -c 'GET /order/')
run fs-pull track
is 'orders in a final state are not polled again' "$status/$(( $(pcm_requests | grep -c 'GET /order/') - before ))" 0/1
is 'the status history of an order (the polls that reached fs-push)' "$(sql "select status, detail from piece_status where vendor_id = 'pcm_1002' order by at")" \
	'queued|postcard.created
sent|Mailing
delivered|Delivered'

# ---- the token expires between polls: a new login, the poll goes on ----
pcm_admin POST /orders/1001 '{"status":"Failed"}' >/dev/null
pcm_admin POST /faults '{"path":"/order/1001","status":401,"count":1}' >/dev/null
run fs-pull track
is 'a 401 mid-poll: logged in again, the record out' "$status/$(jq -r 'select(.type == "record") | .key' "$T/out")" '0/pcm_1001:Failed'
PCM_API_SECRET= run fs-pull track
is 'no secret: exit 2, one line' "$status/$(cat "$T/err")" "2/fs-pull: source 'track': no API secret: set \$PCM_API_SECRET"
done_testing
