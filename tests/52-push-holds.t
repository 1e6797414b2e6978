#!/bin/sh
# fs-push: watchdog holds and overlapping runs (claims with leases).
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 20
export LOB_API_KEY=sk_test_s3cret
start_lob
cat >fieldsync.conf <<EOF2
[target "mail"]
kind      = lob
url       = $LOB
token_env = LOB_API_KEY
retry     = 1s..1s x3
EOF2
fs-dlq count >/dev/null
states() { sql "select group_concat(event_id || ':' || state, ' ') from (select * from outbox order by id)"; }

# A hold on the target: rows wait, in order, and the run says it is paused.
sql "insert into holds (scope, name, since) values ('target', 'mail', '2026-11-30T00:00:00Z')"
for i in 1 2 3; do mreq evt_h$i 10$i; done >h.ndjson
run fs-push mail <h.ndjson
is 'target held: exit 5' "$status" 5
is 'target held: stderr says so' "$(cat "$T/err")" \
	'fs-push: mail: 3 rows held by a watchdog hold; they are sent once it is lifted (fs-watchdog ack)'
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
