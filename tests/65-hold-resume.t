#!/bin/sh
# Pause, acknowledge, resume, with the real commands end to end: a vendor 5xx
# storm leaves deliveries waiting for retries, fs-watchdog raises a retry-storm
# alert that holds the mail target, fs-push keeps the rest held (exit 5),
# `fs-watchdog ack` lifts the hold, and the next run sends every piece once,
# in order, from the exact point where it stopped.  The hold is on the mail
# target only: CRM write-backs keep flowing while it is on.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 14
export LOB_API_KEY=sk_test_s3cret HUBSPOT_TOKEN=pat-s3cret
start_lob
start_hubspot --generate 3
cat >fieldsync.conf <<EOF2
[target "mail"]
kind      = lob
url       = $LOB
token_env = LOB_API_KEY
retry     = 60s..60s x20

[target "crm"]
kind      = hubspot
url       = $HS
token_env = HUBSPOT_TOKEN

[thresholds]
retry_storm = 3

[alert]
command = cat >>alerts.ndjson
EOF2
for i in 1 2 3 4 5 6; do mreq evt_r$i 70$i; done >six.ndjson

# The vendor answers 503 to everything: all six wait for a retry.
lob_admin POST /__admin/faults '{"status":503,"count":-1}' >/dev/null
run fs-push --parallel 1 mail <six.ndjson
is 'storm: nothing is accepted, exit 4' "$status" 4
is 'storm: six rows wait for a retry' "$(sql "select count(*) from outbox where state = 'pending' and attempts = 1")" 6

run fs-watchdog
is 'the watchdog raises one retry-storm alert that holds the target' \
	"$(sql "select a.rule, a.subject, h.scope, h.name from alerts a join holds h on h.alert_id = a.id where h.lifted_at is null")" \
	'retry_storm|mail|target|mail'
is 'and notifies once' "$(wc -l <alerts.ndjson)" 1

# The vendor recovers, but the target is held: nothing goes out.
lob_admin DELETE /__admin/faults >/dev/null
advance 120
run fs-push --retry-only mail </dev/null
is 'held: exit 5' "$status" 5
is 'held: no piece at the vendor' "$(lob_pieces | wc -l)" 0
follow evt_f1 1001 2026-11-30T00:40:00Z >follow.ndjson
run fs-push crm <follow.ndjson
is 'the mail hold leaves CRM write-back flowing' "$status/$(sql "select state from outbox where event_id = 'evt_f1'")" 0/sent
is 'the write-back reached the CRM' "$(hs_admin GET /__admin/updates | jq -c '[.updates[] | [.id, .properties]]')" \
	'[["1001",{"fieldsync_last_follow_up":"2026-11-30"}]]'
run fs-watchdog
is 'a second watchdog run holds nothing more' "$(sql 'select scope, name from holds where lifted_at is null')" 'target|mail'

# A person acknowledges; the next run resumes where it stopped.
alert=$(sql "select id from alerts where rule = 'retry_storm'")
run fs-watchdog ack "$alert" --by alice --note 'Lob status page: resolved'
is 'ack: exit 0' "$status" 0
is 'ack: the changelog says who and when' \
	"$(sql "select json_extract(detail, '$.by') from changelog where kind = 'alert.ack'")" alice
run fs-push --parallel 1 --retry-only mail </dev/null
is 'resumed: exit 0' "$status" 0
is 'resumed: every piece once, in the original order' "$(lob_pieces)" 'evt_r1 1
evt_r2 1
evt_r3 1
evt_r4 1
evt_r5 1
evt_r6 1'
is 'resumed: every piece has its send row' "$(sql "select count(*) from changelog where kind = 'send'")" 6
done_testing
