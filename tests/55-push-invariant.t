#!/bin/sh
# The invariant (DESIGN.md): kill any stage with SIGKILL at any moment while
# the vendor drops connections, re-run, and every mail.requested becomes
# exactly one piece at Lob, each with its changelog row.  Rows have one
# attempt only, so every failure runs out of retries: fs-push then
# looks the piece up before a dead letter, and the dead letters left are
# replayed at the end.
#
# The pipeline under test is the whole CRM-to-mail one, in pipeline.sh:
# fs-pull | fs-normalize | fs-dedupe | fs-push, one stage killed a run.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 8
RUNS=${FS_INVARIANT_RUNS:-50}
N=${FS_INVARIANT_CONTACTS:-40}
export LOB_API_KEY=sk_test_s3cret
start_lob --latency-ms 15
cat >fieldsync.conf <<EOF2
[source "hubspot"]
kind = hubspot

[campaign "thanks"]
goal     = retention
trigger  = status = job_completed
format   = postcard
template = tmpl_thanks

[campaign "welcome"]
goal     = onboarding
trigger  = status = customer
format   = letter
template = tmpl_welcome
from     = adr_companyhq

[target "mail"]
kind      = lob
url       = $LOB
token_env = LOB_API_KEY
retry     = 1s..2s x1
give_up   = 30d
timeout   = 5s
EOF2

# N contacts, half of them enrolled in each campaign, a checkpoint every 10.
python3 - "$N" >records.ndjson <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    cid = str(5000 + i)
    stage = "job_completed" if i % 2 == 0 else "customer"
    print(json.dumps({"type": "record", "source": "hubspot", "stream": "contacts", "key": cid,
        "data": {"id": cid, "properties": {"firstname": "C%d" % i, "lastname": "Lee",
        "address": "%d Main St" % (i + 1), "city": "Austin", "state": "TX", "zip": "78701",
        "country": "US", "lifecyclestage": stage,
        "lastmodifieddate": "2026-11-29T10:%02d:00Z" % (i % 60)}}}, separators=(",", ":")))
    if i % 10 == 9:
        print(json.dumps({"type": "checkpoint", "source": "hubspot", "stream": "contacts",
            "cursor": "c%d" % i}, separators=(",", ":")))
PY
FS_STATE=$T/expect.db fs-normalize -q <records.ndjson | grep '"kind":"mail.requested"' |
	sed 's/.*"id":"\(evt_[0-9a-f]*\)".*/\1/' | sort >expected
is "the records give $N mail requests" "$(wc -l <expected)" "$N"

# Each run dies at a chosen durable step (FS_CRASH_AT: before its Nth
# commit, write of output or vendor request) of one stage, round robin:
# where it dies is set, not left to a timer.
cat >pipeline.sh <<'EOF2'
# The stages, first to last; stage CRASH_STAGE (1-4) dies before its CRASH_AT-th step.
at() { if [ "${CRASH_STAGE:-0}" = "$1" ]; then echo "FS_CRASH_AT=$CRASH_AT"; fi; }
env $(at 1) fs-pull -q ndjson:records.ndjson | env $(at 2) fs-normalize -q | env $(at 3) fs-dedupe -q |
	env $(at 4) fs-push --parallel 4 mail
EOF2

rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }

killed=0
for run in $(seq 1 "$RUNS"); do
	# The vendor misbehaves: answers lost after the piece is made,
	# connections dropped before, 5xx.
	skip=$(($(rand) % 6))
	lob_admin POST /__admin/faults "[{\"accept_then_drop\":true,\"count\":2,\"skip\":$skip},
		{\"drop\":true,\"count\":1},{\"status\":503,\"count\":1},{\"truncate\":true,\"count\":1}]" >/dev/null
	CRASH_STAGE=$((run % 4 + 1)) CRASH_AT=$((run / 4 % 8 + 1)) bash -o pipefail pipeline.sh >"run$run.out" 2>"run$run.err"
	[ $? = 137 ] && killed=$((killed + 1))
	lob_admin DELETE /__admin/faults >/dev/null
	advance 3
done
ok "$([ "$killed" -ge $((RUNS / 2)) ] && echo 0 || echo 1)" "at least half of the $RUNS runs were killed mid-way ($killed)"

# Then runs to completion, with no faults: fs-push's dead letters are
# replayed into it.
dead=$(sql "select count(*) from dlq where command = 'fs-push'")
for i in 1 2 3 4 5; do
	ids=$(sql "select id from dlq where command = 'fs-push' and state = 'open'")
	[ -n "$ids" ] && fs-dlq replay $ids 2>/dev/null | fs-push mail >/dev/null 2>&1
	sh pipeline.sh >final.out 2>final.err
	advance 3
	[ "$(sql "select count(*) from outbox where state != 'sent'")" = 0 ] && break
done
is 'every row is sent' "$(sql "select state, count(*) from outbox group by state")" "sent|$N"
lob_admin GET /__admin/pieces | python3 -c 'import json, sys
for p in json.load(sys.stdin)["data"]:
    print(p["metadata"]["event_id"], p["id"])' | sort >pieces
is 'exactly one piece at Lob per mail.requested' "$(cut -d' ' -f1 pieces)" "$(cat expected)"
is 'every piece has one send changelog row' \
	"$(sql "select event_id || ' ' || json_extract(detail, '$.vendor_id') from changelog where kind = 'send' order by event_id")" \
	"$(cat pieces)"
is "no dead letter of fs-push is left open ($dead were written, then replayed)" \
	"$(sql "select count(*) from dlq where command = 'fs-push' and state = 'open'")" 0
# A stage killed while it wrote leaves the next one a last line cut short: a
# dead letter that says so, its record pulled again by the next run.
cut=$(sql "select count(*) from dlq where state = 'open' and reason like '%(the last line, with no newline: cut short?)'")
is "the other open dead letters are lines cut short by a kill ($cut)" "$(fs-dlq count)" "$cut"
is 'the pieces table agrees' "$(sql "select event_id || ' ' || vendor_id from pieces order by event_id")" "$(cat pieces)"
done_testing
