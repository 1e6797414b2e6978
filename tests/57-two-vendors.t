#!/bin/sh
# Lob and PostcardMania side by side: a campaign's target names the mail target
# that mails it; enrolment per goal stays shared, so two pipelines (one per
# vendor) on the same input mail each contact once, by one vendor.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
. "$top/tests/pcm-lib.sh"
plan 12
export LOB_API_KEY=sk_test_s3cret
start_lob
start_pcm
conf() {
	cat >fieldsync.conf <<EOF2
[target "lob"]
kind      = lob
url       = $LOB
retry     = 1s..1s x3
[target "pcm"]
kind      = postcardmania
url       = $PCM
retry     = 1s..1s x3
sla       = mailed 3bd, delivered 6bd
[campaign "thanks"]
trigger   = status = job_completed
goal      = retention
$1
[campaign "winback"]
trigger   = status = lapsed
goal      = retention
target    = pcm
EOF2
}

conf ''
run fs-push lob </dev/null
is 'two mail targets, a campaign without target: exit 2, one line' "$status/$(cat "$T/err")" \
	"2/fs-push: campaign 'thanks' has no target, and 2 targets mail (lob, pcm): set target = NAME"
conf 'target    = hubspot'
run fs-push pcm </dev/null
is 'a target that is not a mail target: exit 2' "$status/$(cat "$T/err")" \
	"2/fs-push: campaign 'thanks': target 'hubspot' is not a mail target (lob, pcm)"
conf 'target    = lob'

# 30 contacts: 1-20 enter thanks (Lob), 11-30 enter winback (PostcardMania), one goal.
for c in $(seq 1 20); do mreq "evt_t$c" "$c" postcard thanks; done >in.ndjson
for c in $(seq 11 30); do mreq "evt_w$c" "$c" postcard winback; done >>in.ndjson
sort -R in.ndjson -o in.ndjson 2>/dev/null || :
( fs-dedupe <in.ndjson | fs-push --parallel 2 lob >lob.out 2>lob.err ) &
a=$!
( fs-dedupe <in.ndjson | fs-push --parallel 2 pcm >pcm.out 2>pcm.err ) &
b=$!
wait $a; sa=$?
wait $b; sb=$?
is 'both pipelines: exit 0' "$sa/$sb/$(cat lob.err pcm.err)" 0/0/
# The same input again, each pipeline in turn: nothing new.
fs-dedupe <in.ndjson | fs-push lob >/dev/null 2>&1
fs-dedupe <in.ndjson | fs-push pcm >/dev/null 2>&1
lob_n=$(lob_admin GET /__admin/pieces | jq '.data | length')
pcm_n=$(pcm_admin GET /orders | jq '.data | length')
is 'pieces at Lob + orders at PostcardMania = distinct enrolments = 30 contacts' \
	"$((lob_n + pcm_n))/$(sql 'select count(distinct contact_id) from enrolments')" 30/30
is 'each created once' "$(lob_pieces | awk '$2 != 1' | wc -l)/$(pcm_orders | awk '$4 != 1' | wc -l)" 0/0
is 'Lob mails only thanks, PostcardMania only winback' \
	"$(sql "select target, campaign, count(*) from pieces group by 1, 2 order by 1, 2" | cut -d'|' -f1,2)" \
	'lob|thanks
pcm|winback'
is 'contacts 1-10 by Lob, 21-30 by PostcardMania' \
	"$(sql "select count(*) from pieces where target = 'lob' and cast(contact_id as int) <= 10")/$(sql "select count(*) from pieces where target = 'pcm' and cast(contact_id as int) > 20")" 10/10
is 'no contact mailed by both' "$(sql 'select count(*) from (select contact_id from pieces group by 1 having count(*) > 1)')" 0
is 'the contacts in both campaigns: one piece, the other suppressed by the goal' \
	"$(sql "select count(*) from pieces where cast(contact_id as int) between 11 and 20")/$(sql "select count(*) from changelog where kind = 'dedupe.suppressed'")" 10/10

# fs-report sla: each mail target against its own sla, side by side.  Queued
# Mon 30th; Lob mails on Tue (1 bd, inside its default 2 bd), PostcardMania on
# Thu (3 bd: inside its own 3 bd, a miss had Lob's 2 bd applied); none delivered.
sql "update pieces set mailed_at = case target when 'lob' then '2026-12-01T01:00:00Z'
	else '2026-12-03T01:00:00Z' end, status = 'sent'"
FS_NOW=2026-12-04T01:00:00Z run fs-report sla --section vendor_sla --format csv
is 'sla: one row per mail target and stage, each with its own targets' "$status/$(tr -d '\r' <"$T/out")" \
"0/target,vendor,stage,sla_bd,pieces,done,med_bd,p90_bd,met,missed,open,met_pct
lob,lob,mailed,2,$lob_n,$lob_n,1,1,$lob_n,0,0,100.0
lob,lob,delivered,7,$lob_n,0,,,0,0,$lob_n,
pcm,postcardmania,mailed,3,$pcm_n,$pcm_n,3,3,$pcm_n,0,0,100.0
pcm,postcardmania,delivered,6,$pcm_n,0,,,0,0,$pcm_n,"
FS_NOW=2026-12-04T01:00:00Z run fs-report sla --section vendor_sla --format text
out_is 'sla as text: side by side' <<EOT
sla: Follow-up and vendor SLA, 2026-11-20 01:00 to 2026-12-04 01:00 UTC

Vendor SLA (business days from queued)
TARGET  VENDOR         STAGE      SLA BD  PIECES  DONE  MED BD  P90 BD  MET  MISSED  OPEN  MET PCT
lob     lob            mailed          2      $lob_n    $lob_n       1       1   $lob_n       0     0    100.0
lob     lob            delivered       7      $lob_n     0       -       -    0       0    $lob_n        -
pcm     postcardmania  mailed          3      $pcm_n    $pcm_n       3       3   $pcm_n       0     0    100.0
pcm     postcardmania  delivered       6      $pcm_n     0       -       -    0       0    $pcm_n        -
  note: targets from each mail target's 'sla' setting (default mailed 2bd, delivered 7bd); returned and failed pieces count only for stages they reached
EOT

# A DLQ above dlq_max holds every mail target, PostcardMania's too.
printf '[thresholds]\ndlq_max = 0\n' >>fieldsync.conf
printf 'not json\n' | fs-normalize 2>/dev/null
run fs-watchdog
is 'dlq: both mail targets held' "$(sql "select h.name from holds h where h.lifted_at is null order by 1" | tr '\n' ' ')" 'lob pcm '
done_testing
