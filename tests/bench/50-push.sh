#!/bin/sh
# fs-push speed: pieces against the fake Lob at 200 ms latency and its
# 150/5s limit (the rate achieved as a fraction of the limit, and the 429s
# after the first window), beside a naive one-request-at-a-time loop; peak
# memory at three sizes, against a fake with no latency and no limit (so it
# runs quickly); CRM contacts per second through batch update beside one
# PATCH per contact.
#
#   FS_BENCH_PUSH_N    pieces (default 10000: about 5.5 minutes, by the limit)
#   FS_BENCH_NAIVE_N   pieces for the naive loop (default 500: about 2 minutes)
#   FS_BENCH_PUSH_MEM  sizes for peak memory (default "1000 10000 100000":
#                      about 5 minutes on 2 busy cores)
#   FS_BENCH_CRM_N     contacts for the CRM write-back (default 5000)
top=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$top/bin:$PATH"
N=${FS_BENCH_PUSH_N:-10000}
NAIVE=${FS_BENCH_NAIVE_N:-500}
MEM=${FS_BENCH_PUSH_MEM:-1000 10000 100000}
CRM=${FS_BENCH_CRM_N:-5000}
T=$(mktemp -d "${TMPDIR:-/tmp}/fs-bench.XXXXXX")
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$T"' EXIT
cd "$T" || exit 1
export FS_NOW=2026-11-30T01:00:00Z LOB_API_KEY=bench_key HUBSPOT_TOKEN=bench-token
unset FS_CONFIG

start() { # name script args...: sets $url
	name=$1
	shift
	python3 "$@" --port 0 --port-file "$T/$name.port" >/dev/null 2>&1 &
	pids="$pids $!"
	while [ ! -s "$T/$name.port" ]; do sleep 0.05; done
	url="http://127.0.0.1:$(cat "$T/$name.port")"
}
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

requests() { # n prefix
	python3 - "$1" "$2" <<'PY'
import json, sys
n, prefix = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    print(json.dumps({"type": "event", "id": "evt_%s%06d" % (prefix, i), "run_id": "run_b", "source": "hubspot",
        "kind": "mail.requested", "object": "contact:%d" % i, "occurred_at": "2026-11-29T10:00:00Z",
        "data": {"contact_id": str(i), "campaign": "thanks", "goal": "retention", "format": "postcard",
                 "template": "tmpl_thanks", "back": "tmpl_back",
                 "to": {"name": "Ann Lee", "line1": "%d Main St" % (i + 1), "city": "Austin", "region": "TX",
                        "postal_code": "78701", "country": "US"},
                 "trigger": {"field": "status", "from": None, "to": "job_completed"}}}, separators=(",", ":")))
PY
}

start lob "$top/tests/fakes/fake_lob.py" --key bench_key --latency-ms 200 --rate 150/5s
lob=$url
cat >fieldsync.conf <<EOF
[target "mail"]
kind      = lob
url       = $lob/v1
token_env = LOB_API_KEY
EOF

# fs-push: N pieces.
requests "$N" a >big.ndjson
t0=$(now)
/usr/bin/time -f %M -o rss.big fs-push -s big.db mail <big.ndjson >/dev/null 2>err.big
t1=$(now)
sent=$(sqlite3 big.db "select count(*) from outbox where state = 'sent'")
rate=$(calc "$sent / ($t1 - $t0)")
limit=$(calc "150 / 5")
stats=$(curl -s "$lob/__admin/stats")
n429=$(echo "$stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["429"])')

# A naive loop: one curl request at a time, waiting for each answer.
requests "$NAIVE" n | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line); d = e["data"]; t = d["to"]
    print(json.dumps({"to": {"name": t["name"], "address_line1": t["line1"], "address_city": t["city"],
        "address_state": t["region"], "address_zip": t["postal_code"], "address_country": "US"},
        "front": d["template"], "back": d["back"], "use_type": "marketing",
        "metadata": {"event_id": e["id"]}}))' >naive.bodies
t0=$(now)
while read -r body; do
	curl -s -o /dev/null -u bench_key: -H 'Content-Type: application/json' -d "$body" "$lob/v1/postcards"
done <naive.bodies
t1=$(now)
naive_rate=$(calc "$NAIVE / ($t1 - $t0)")

# Peak memory at each size, against a fake Lob with no latency and no limit.
# Nothing is kept per row: a run holds the rows it has claimed (a few times
# --parallel) and SQLite's page cache, which lib/state.c caps at 16 MiB.  A
# small state file never fills that cache; from about 10,000 pieces on it is
# full, so the figure grows up to there and is flat after.
start fast "$top/tests/fakes/fake_lob.py" --key bench_key --rate off
cat >>fieldsync.conf <<EOF

[target "fast"]
kind      = lob
url       = $url/v1
token_env = LOB_API_KEY
rate      = 100000/1s
EOF
for m in $MEM; do
	requests "$m" "m${m}_" >mem.ndjson
	t0=$(now)
	/usr/bin/time -f %M -o "rss.$m" fs-push -s "mem$m.db" fast <mem.ndjson >/dev/null 2>"err.mem$m"
	t1=$(now)
	echo "$(sqlite3 "mem$m.db" "select count(*) from outbox where state = 'sent'") $(calc "$t1 - $t0")" >"took.$m"
	rm -f mem.ndjson "mem$m.db" "mem$m.db-wal" "mem$m.db-shm"
done

# CRM write-back: contacts per second through batch update, against one
# PATCH per contact (200 of them).  The fake's own limit is lifted so that
# neither is measured against it; fs-push keeps to its default 100/10s.
start hs "$top/tests/fakes/fake_hubspot.py" --token bench-token --generate "$CRM"
hs=$url
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"max":1000000}' "$hs/__admin/rate"
cat >>fieldsync.conf <<EOF

[target "crm"]
kind      = hubspot
url       = $hs
token_env = HUBSPOT_TOKEN
EOF
python3 - "$CRM" >crm.ndjson <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    cid = str(1001 + i)
    print(json.dumps({"type": "event", "id": "evt_c%06d" % i, "run_id": "run_b", "source": "lob-events",
        "kind": "mail.status", "object": "mail:psc_%d" % i, "occurred_at": "2026-11-30T00:30:00Z",
        "data": {"mail_id": "evt_m%d" % i, "vendor": "lob", "vendor_id": "psc_%d" % i, "contact_id": cid,
                 "status": "sent", "detail": "postcard.mailed"}}, separators=(",", ":")))
PY
t0=$(now)
fs-push -s crm.db crm <crm.ndjson >/dev/null 2>err.crm
t1=$(now)
crm_sent=$(sqlite3 crm.db "select count(*) from outbox where state = 'sent'")
crm_rate=$(calc "$crm_sent / ($t1 - $t0)")
t0=$(now)
for i in $(seq 1001 1200); do
	curl -s -o /dev/null -X PATCH -H "Authorization: Bearer bench-token" -H 'Content-Type: application/json' \
		-d '{"properties":{"fieldsync_mail_status":"Sent"}}' "$hs/crm/v3/objects/contacts/$i"
done
t1=$(now)
patch_rate=$(calc "200 / ($t1 - $t0)")

printf 'push pieces sent: %d of %d (baseline requested: %d pieces) ratio %.2fx\n' "$sent" "$N" "$N" "$(calc "$sent / $N")"
printf 'push rate: %.2f pieces/s (baseline limit: %.2f requests/s) ratio %.3fx\n' "$rate" "$limit" "$(calc "$rate / $limit")"
printf 'push 429s: %d answers (baseline first window: 0 answers) ratio 0x\n' "$n429"
printf 'push vs naive: %.2f pieces/s (baseline naive one-at-a-time: %.2f pieces/s) ratio %.1fx\n' \
	"$rate" "$naive_rate" "$(calc "$rate / $naive_rate")"
prev=
for m in $MEM; do
	if [ -n "$prev" ]; then
		printf 'push peak RSS at %d pieces: %d KiB (baseline %d pieces: %d KiB) ratio %.2fx\n' \
			"$m" "$(cat "rss.$m")" "$prev" "$(cat "rss.$prev")" "$(calc "$(cat "rss.$m") / $(cat "rss.$prev")")"
	fi
	prev=$m
done
printf '# peak RSS with no latency and no limit:'
for m in $MEM; do
	read -r msent msecs <"took.$m"
	printf ' %d KiB at %d pieces (%d sent in %.0f s);' "$(cat "rss.$m")" "$m" "$msent" "$msecs"
done
printf ' %d KiB at %d pieces at 200 ms latency and 150/5s\n' "$(cat rss.big)" "$N"
printf '# load average when it ended: %s (2 cores, shared)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'crm write-back: %.1f contacts/s (baseline one PATCH each: %.1f contacts/s) ratio %.1fx\n' \
	"$crm_rate" "$patch_rate" "$(calc "$crm_rate / $patch_rate")"
