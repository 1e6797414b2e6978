#!/bin/sh
# Webhooks in seconds: from a HubSpot webhook reaching fs-hook (behind
# lighttpd, signed by the fake HubSpot, the contact's job_status changed to
# job_completed) to the mail request reaching the fake Lob (its request
# log), through the whole CRM -> mail pipeline run by a waiting
# fs-run --wake.  One webhook at a time, several samples: the median and the
# worst.  Baseline: the 5-minute cron tick the webhook waited for before
# (300 s at worst, 150 s on average).  Then a burst of webhooks at once, to
# show how touches are coalesced into runs.
top=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$top/bin:$PATH"
T=$(mktemp -d "${TMPDIR:-/tmp}/fs-bench.XXXXXX")
samples=${FS_BENCH_WAKE_SAMPLES:-15}
burst=5
for t in lighttpd inotifywait jq; do
	command -v $t >/dev/null || { echo "# 65-wake: $t is not installed"; exit 0; }
done
unset FS_NOW	# real time: the fakes' clocks and Lob's log run on the wall clock
. "$top/tests/fixtures/wake-chain.sh"
fsrun_pid=
trap 'wake_chain_stop; [ -n "$fsrun_pid" ] && kill "$fsrun_pid" 2>/dev/null; rm -rf "$T"' EXIT
wake_chain_start "$T" $((samples + burst)) || exit 1
bash -o pipefail -c "$wake_pipeline" >/dev/null 2>"$T/first.err" || { cat "$T/first.err"; exit 1; }
export FS_LOCKDIR="$T/locks" FS_LOGGER="$T/logger"
cat >"$T/logger" <<'EOF2'
#!/bin/sh
# A stand-in for logger(1): fs-run's own lines to runs.log.
file=
while getopts t:p:f: o; do [ $o = f ] && file=$OPTARG; done
shift $((OPTIND - 1))
[ -n "$file" ] || echo "$*" >>"$FS_LOCKDIR/../runs.log"
EOF2
chmod +x "$T/logger"
"$top/cron/fs-run" --wake "$T/wake/hubspot" --for 1h crm-to-mail "$wake_pipeline" >"$T/fsrun.out" 2>&1 &
fsrun_pid=$!
runs() { cat "$T/runs.log" 2>/dev/null | grep -c '^done in'; }
postcards() { grep -c '"method":"POST","path":"/v1/postcards"' "$T/lob.log"; }
# until N: waits (at most a minute) for the Nth postcard at Lob, and for the run that sent it to end.
until_piece() {
	i=0
	while [ "$(postcards)" -lt "$1" ] || [ "$(runs)" -lt "$2" ]; do
		[ $i -ge 1200 ] && { echo "# 65-wake: no piece $1 after a minute"; cat "$T/fsrun.out"; exit 1; }
		sleep 0.05; i=$((i + 1))
	done
}
until_piece 0 1
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# One webhook at a time: the webhook's timestamp (the fake's clock when it
# signed and sent it) to the "at" of Lob's log line for the postcard.
: >"$T/lat"
for k in $(seq 1 "$samples"); do
	sleep 1
	sent=$(wake_webhook $((1000 + k)) | jq -r .timestamp)
	until_piece "$k" $((k + 1))
	at=$(grep '"method":"POST","path":"/v1/postcards"' "$T/lob.log" | sed -n "${k}p" | jq -r .at)
	python3 -c 'import sys, datetime as d
at = d.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=d.timezone.utc).timestamp()
print("%.3f" % (at - int(sys.argv[2]) / 1000))' "$at" "$sent" >>"$T/lat"
done
set -- $(sort -n "$T/lat" | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f %.2f %.2f", m, v[NR], v[1] }')
med=$1 worst=$2 best=$3
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2g", (b > 0 ? a / b : 0) }'; }
echo "webhook to mail request, woken (median of $samples): $med s (baseline cron tick, on average: 150 s) ratio $(ratio "$med" 150)x"
echo "webhook to mail request, woken (worst of $samples): $worst s (baseline cron tick, at worst: 300 s) ratio $(ratio "$worst" 300)x"
echo "# best $best s; every sample, in order: $(tr '\n' ' ' <"$T/lat")s"
echo "# pipeline runs for the $samples webhooks: $(($(runs) - 1)) (and one before them)"

# A burst: webhooks for $burst contacts at once; the touches that come while
# a run is going on make one more run between them all.
sleep 1
before=$(runs)
t0=$(date +%s.%N)
senders=
for k in $(seq 1 "$burst"); do
	wake_webhook $((1000 + samples + k)) >/dev/null &
	senders="$senders $!"
done
wait $senders
until_piece $((samples + burst)) $((before + 1))
t1=$(date +%s.%N)
sleep 3	# for the run the last touches make, if any
n=$(($(runs) - before))
echo "# a burst of $burst webhooks at once: all $burst pieces at Lob $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s after they were sent, in $n pipeline run$([ $n = 1 ] || echo s)"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
