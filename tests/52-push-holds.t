#!/bin/sh
# fs-push: watchdog holds and overlapping runs (claims with leases).
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 27
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
states() { sql "select group_concat(event_id || ':' || state, ' ') from (select * from outbox order by id)"; }

# A hold on the target: rows wait, in order, and the run says it is paused.
sql "insert into holds (scope, name, since) values ('target', 'mail', '2026-11-30T00:00:00Z')"
for i in 1 2 3; do mreq evt_h$i 10$i; done >h.ndjson
run fs-push mail <h.ndjson
is 'target held: exit 5' "$status" 5
is 'target held: stderr says so' "$(cat "$T/err")" \
	'fs-push: mail: 3 rows held by a watchdog hold; they are sent once the hold is lifted (fs-watchdog ack)'
is 'target held: a held result each' "$(grep -c '"status":"held"' "$T/out")" 3
is 'target held: rows held' "$(states)" 'evt_h1:held evt_h2:held evt_h3:held'
is 'target held: no request' "$(lob_pieces | wc -l)" 0
is 'target held: a hold.wait changelog row' "$(sql "select json_extract(detail, '$.rows') from changelog where kind = 'hold.wait'")" 3
run fs-push --retry-only mail </dev/null
is 'still held: exit 5, no new held results' "$status/$(cat "$T/out")" '5/'
sql "update holds set lifted_at = '2026-11-30T00:30:00Z'"
run fs-push --parallel 1 --retry-only mail </dev/null
is 'lifted: exit 0' "$status" 0
is 'lifted: sent in their order' "$(lob_pieces)" 'evt_h1 1
evt_h2 1
evt_h3 1'
is 'lifted: a hold.resume changelog row' "$(sql "select json_extract(detail, '$.rows') from changelog where kind = 'hold.resume'")" 3

# A hold on one campaign: its rows wait, the other campaign's go.
sql "insert into holds (scope, name, since) values ('campaign', 'winback', '2026-11-30T00:00:00Z')"
{ mreq evt_c1 201 postcard winback; mreq evt_c2 202 postcard thanks; } >c.ndjson
run fs-push mail <c.ndjson
is 'campaign held: exit 0 (the rest was sent)' "$status" 0
is 'campaign held: only its rows wait' "$(sql "select event_id, state from outbox where event_id like 'evt_c%' order by id")" 'evt_c1|held
evt_c2|sent'

# CRM write-backs are neither costly nor irreversible: a hold on the mail
# target or on a campaign does not stop them.
sql "insert into holds (scope, name, since) values ('target', 'mail', '2026-11-30T00:00:00Z'), ('campaign', 'thanks', '2026-11-30T00:00:00Z')"
{ mstatus evt_w1 psc_w1 1001 sent; follow evt_w2 1002 2026-11-29T15:00:00Z; } >w.ndjson
run fs-push crm <w.ndjson
is 'crm beside mail and campaign holds: exit 0, nothing on stderr' "$status/$(cat "$T/err")" '0/'
is 'crm beside mail and campaign holds: sent' \
	"$(sql "select group_concat(event_id || ':' || state, ' ') from outbox where target = 'crm'")" 'evt_w1:sent evt_w2:sent'
is 'crm beside mail and campaign holds: HubSpot got both' \
	"$(hs_admin GET /__admin/updates | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["updates"]))')" 2
sql "update holds set lifted_at = '2026-11-30T00:30:00Z' where name in ('mail', 'thanks')"

# A hold on the crm target itself (fs-watchdog's retry-storm rule) holds it.
sql "insert into holds (scope, name, since) values ('target', 'crm', '2026-11-30T00:00:00Z')"
mstatus evt_w3 psc_w3 1003 delivered >w3.ndjson
run fs-push crm <w3.ndjson
is 'crm held: exit 5' "$status" 5
is 'crm held: stderr says so' "$(cat "$T/err")" \
	'fs-push: crm: 1 row held by a watchdog hold; it is sent once the hold is lifted (fs-watchdog ack)'
is 'crm held: a held result, the row held' "$(grep -c '"status":"held"' "$T/out")/$(sql "select state from outbox where event_id = 'evt_w3'")" '1/held'
sql "update holds set lifted_at = '2026-11-30T00:30:00Z' where scope = 'target' and name = 'crm'"
run fs-push --retry-only crm </dev/null
is 'crm lifted: sent' "$status/$(sql "select state from outbox where event_id = 'evt_w3'")" '0/sent'

# A claim whose holder died (SIGKILL) is taken at once.
sql "update holds set lifted_at = '2026-11-30T00:30:00Z'"
mreq evt_k1 301 >k.ndjson
fs-push --dry-run mail <k.ndjson >/dev/null
sh -c 'exit 0' & dead_pid=$!; wait $dead_pid
sql "insert into outbox (target, event_id, kind, contact_id, campaign, line, requested_at, enqueued_at, claimed_by, claim_pid, claim_host, claim_until)
     values ('mail', 'evt_k1', 'mail.requested', '301', 'thanks', '$(cat k.ndjson)', '$FS_NOW', '$FS_NOW', 'run_dead', $dead_pid, '$(hostname)', '2026-12-30T00:00:00Z')"
run fs-push --retry-only mail </dev/null
is 'dead holder: its row is sent at once' "$status/$(sql "select state from outbox where event_id = 'evt_k1'")" '0/sent'
is 'dead holder: an outbox.reclaim changelog row' "$(sql "select json_extract(detail, '$.from_run') || ' ' || json_extract(detail, '$.why') from changelog where kind = 'outbox.reclaim'")" \
	'run_dead holder died'
is 'the campaign hold lifted: its row went too' "$(sql "select state from outbox where event_id = 'evt_c1'")" sent

# A claim held by a live run is left alone; the run says so and exits 0.
mreq evt_k2 302 >k2.ndjson
sleep 30 & live=$!
sql "insert into outbox (target, event_id, kind, contact_id, campaign, line, requested_at, enqueued_at, claimed_by, claim_pid, claim_host, claim_until)
     values ('mail', 'evt_k2', 'mail.requested', '302', 'thanks', '$(cat k2.ndjson)', '$FS_NOW', '$FS_NOW', 'run_live', $live, '$(hostname)', '2026-12-30T00:00:00Z')"
run fs-push --retry-only mail </dev/null
is 'live holder: exit 0' "$status" 0
is 'live holder: stderr names it' "$(cat "$T/err")" "fs-push: mail: 1 row is being sent by run_live (pid $live)"
is 'live holder: not sent' "$(sql "select state from outbox where event_id = 'evt_k2'")" pending
kill $live; wait $live 2>/dev/null
run fs-push --retry-only mail </dev/null
is 'the holder gone: sent' "$status/$(sql "select state from outbox where event_id = 'evt_k2'")" '0/sent'

# Two runs at once on the same outbox never send one row twice.
for i in $(seq 1 40); do mreq evt_p$i $((400 + i)); done >p.ndjson
fs-push mail <p.ndjson >o1 2>e1 & a=$!
fs-push --retry-only mail </dev/null >o2 2>e2 & b=$!
wait $a; wait $b
fs-push --retry-only mail </dev/null >/dev/null 2>&1
is 'overlapping runs: each piece made once' "$(lob_pieces | grep -c 'evt_p[0-9]* 1$')" 40
done_testing
