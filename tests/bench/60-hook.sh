#!/bin/sh
# fs-hook behind lighttpd (mod_cgi), 50 concurrent senders of signed Lob
# webhooks: p50/p99 at 200 requests/s, the highest rate with p99 < 100 ms,
# and lost events (a 200 without its inbox row).  Baseline: a minimal shell
# CGI script behind the same server, which is the cost of CGI itself.
top=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/fs-bench.XXXXXX")
. "$top/tests/fixtures/hook-server.sh"
trap 'hook_server_stop; rm -rf "$T"' EXIT
command -v lighttpd >/dev/null || { echo "# 60-hook: lighttpd is not installed"; exit 0; }
cat >"$T/fieldsync.conf" <<'EOF2'
[source "lob-events"]
secret_env = LOB_WEBHOOK_SECRET
EOF2
export FS_STATE="$T/fieldsync.db"
"$top/bin/fs-dlq" count >/dev/null	# creates the state file
hook_server_start "$T" FS_STATE="$FS_STATE" FS_CONFIG="$T/fieldsync.conf" LOB_WEBHOOK_SECRET=bench-secret || exit 1
printf '#!/bin/sh\ncat >/dev/null\nprintf "Status: 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n{\\"ok\\":true}\\n"\n' >"$T/www/cgi-bin/baseline"
chmod +x "$T/www/cgi-bin/baseline"
load="$top/tests/bench/hook-load.py"
hook=http://127.0.0.1:$hook_port/cgi-bin/fs-hook/lob-events
base=http://127.0.0.1:$hook_port/cgi-bin/baseline

# The machine is shared: the load around the run goes with the figures.
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
set -- $(python3 "$load" "$base" bench-secret 200 5 50)
b50=$3 b99=$4
set -- $(python3 "$load" "$hook" bench-secret 200 5 50 "$T/ids")
sent=$1 ok=$2 p50=$3 p99=$4
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo "hook p50 at 200 req/s: $p50 ms (baseline cgi-sh: $b50 ms) ratio $(ratio "$p50" "$b50")x"
echo "hook p99 at 200 req/s: $p99 ms (baseline target: 50 ms) ratio $(ratio "$p99" 50)x"
echo "hook answered 200 at 200 req/s: $ok of $sent requests (baseline sent: $sent requests) ratio $(ratio "$ok" "$sent")x"

# Lost events: every id answered 200 must have its inbox row.
sqlite3 "$FS_STATE" "select delivery_id from inbox" | sort >"$T/stored"
sort "$T/ids" >"$T/answered"
lost=$(comm -23 "$T/answered" "$T/stored" | wc -l)
echo "hook lost events: $lost events (baseline required: 0 events) ratio 0x"

# Sparse traffic: one request at a time, so that every fs-hook opens the
# state file alone and rebuilds the WAL index from the WAL.  The WAL's size
# after them shows that it is kept short (FS_HOOK_CKPT, 256 frames of 4 KiB).
set -- $(python3 "$load" "$base" bench-secret seq 500 1)
b50=$3 b99=$4
set -- $(python3 "$load" "$hook" bench-secret seq 2000 1 "$T/ids3")
echo "hook p50 one request at a time, 2000 in a row: $3 ms (baseline cgi-sh: $b50 ms) ratio $(ratio "$3" "$b50")x"
echo "hook p99 one request at a time, 2000 in a row: $4 ms (baseline cgi-sh: $b99 ms) ratio $(ratio "$4" "$b99")x"
wal=$(($(wc -c <"$FS_STATE-wal") / 1024))
echo "hook WAL after them: $wal KiB (baseline FS_HOOK_CKPT: 1030 KiB) ratio $(ratio "$wal" 1030)x"
[ "$1" = "$2" ] || echo "# NOT ALL ANSWERED 200: $2 of $1"

# The highest rate with p99 under 100 ms, in steps (stops at the first
# miss).  The machine is shared: a rate that misses is tried once more, so
# that another user's burst of CPU does not decide it; a rate passes when
# one of its two runs answers every request 200 with p99 < 100 ms.  Every
# run's figures are printed.
best=0
for rate in 25 50 100 150 200 250 300 400 600 800; do
	pass=0
	for try in 1 2; do
		set -- $(python3 "$load" "$hook" bench-secret $rate 3 50 "$T/ids2")
		echo "# rate $rate/s (run $try, load $(cut -d' ' -f1 /proc/loadavg)): sent $1, 200 $2, p50 $3 ms, p99 $4 ms"
		sqlite3 "$FS_STATE" "select delivery_id from inbox" | sort >"$T/stored"
		sort "$T/ids2" | comm -23 - "$T/stored" | wc -l | awk '$1 > 0 { print "# LOST " $1 " events" }'
		if [ "$1" = "$2" ] && awk -v p="$4" 'BEGIN { exit !(p < 100) }'; then pass=1; break; fi
	done
	[ $pass = 1 ] || break
	best=$rate
done
echo "hook highest rate with p99 < 100 ms: $best req/s (baseline target: 200 req/s) ratio $(ratio "$best" 200)x"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
