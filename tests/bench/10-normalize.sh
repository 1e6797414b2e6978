#!/bin/sh
# fs-normalize against the jq CLI on 1,000,000 HubSpot contact records.
#
# Both run the shipped mapping: fs-normalize (which runs it as built-in C
# when the map is the shipped one) and `jq -c -f` on lib/maps/common.jq
# followed by lib/maps/hubspot-contact.jq, which is what fs-normalize runs
# through libjq with FS_JQ_ONLY=1.  fs-normalize also does what jq does not:
# strict JSON and UTF-8 checks, validation, event ids, drift counting, the
# campaign trigger (on first sight, by backfill), and one contact row per
# record in its state file (kept
# in the bench's directory, on disk, as a user's would be).
#
#   FS_BENCH_N=200000 make bench      fewer records (default 1000000)
#   FS_BENCH_DIR=/path                where the input and state go
#                                     (default tests/tmp/bench; the input is
#                                     kept and reused while the generator and
#                                     N are the same)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/bench
n=${FS_BENCH_N:-1000000}
dir=${FS_BENCH_DIR:-$top/tests/tmp/bench}
mkdir -p "$dir"
stamp=$(cat "$here/gen-hubspot.py" | sha256sum | cut -c1-12)-$n
input=$dir/hubspot-$stamp.ndjson
if [ ! -s "$input" ]; then
	rm -f "$dir"/hubspot-*.ndjson
	python3 "$here/gen-hubspot.py" "$n" >"$input.tmp" && mv "$input.tmp" "$input"
fi
records=$(grep -c '"type":"record"' "$input")
cat >"$dir/fieldsync.conf" <<'CONF'
[source "hubspot"]
kind = hubspot

[campaign "thank-you"]
goal     = retention
trigger  = status = job_completed
format   = postcard
template = tmpl_thank_you
backfill = 3650d    # every record is a first sight: the trigger fires as it would on entry
CONF
map=$dir/hubspot-contact.full.jq
{ cat "$top/lib/maps/common.jq"; echo; cat "$top/lib/maps/hubspot-contact.jq"; } >"$map"
rm -f "$dir"/bench.db "$dir"/bench.db-wal "$dir"/bench.db-shm
export FS_NOW=2026-11-30T01:00:00Z
set -- $(cd "$dir" && python3 "$here/measure.py" "$input" "$dir/fs.out" \
	"$top/bin/fs-normalize" -c fieldsync.conf -s bench.db)
fs_wall=$1 fs_cpu=$2 fs_rss=$3 fs_rc=$4
set -- $(python3 "$here/measure.py" "$input" "$dir/jq.out" \
	jq -c -f "$map" --argjson source '{"name":"hubspot","kind":"hubspot"}')
jq_wall=$1 jq_cpu=$2 jq_rc=$4
events=$(grep -c '"kind":"contact.changed"' "$dir/fs.out" || true)
mails=$(grep -c '"kind":"mail.requested"' "$dir/fs.out" || true)
echo "# $records records: fs-normalize exit $fs_rc, $events contact events, $mails mail requests," \
	"$(grep -c 'line [0-9]*:' "$dir/fs.out.err" || true) to the DLQ; jq exit $jq_rc, $(wc -l <"$dir/jq.out") outputs"
awk -v r="$records" -v fw="$fs_wall" -v fc="$fs_cpu" -v jw="$jq_wall" -v jc="$jq_cpu" -v rss="$fs_rss" 'BEGIN {
	printf "normalize-hubspot-contacts: %.0f records/s (baseline jq-1.6: %.0f records/s) ratio %.1fx\n", r / fw, r / jw, jw / fw
	printf "normalize-hubspot-contacts-cpu: %.0f records/s (baseline jq-1.6: %.0f records/s) ratio %.1fx\n", r / fc, r / jc, jc / fc
	printf "normalize-peak-memory: %.1f MiB (baseline limit: 64 MiB) ratio %.2fx\n", rss / 1024, rss / 1024 / 64
}'
rm -f "$dir/fs.out" "$dir/jq.out" "$dir"/bench.db "$dir"/bench.db-wal "$dir"/bench.db-shm
