#!/bin/sh
# fs-pull: 100,000 contacts from the fake HubSpot at its default rate limit
# (100 requests per 10 s) against the floor that limit sets for the fewest
# possible requests (200 contacts a page); and a CSV of 1,000,000 rows in
# records/s and MB/s beside cat(1) on the same file.
top=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$top/bin:$PATH"
T=$(mktemp -d "${TMPDIR:-/tmp}/fs-bench.XXXXXX")
fake=
trap '[ -n "$fake" ] && kill $fake 2>/dev/null; rm -rf "$T"' EXIT
cd "$T" || exit 1
export FS_STATE="$T/fieldsync.db" FS_NOW=2026-11-30T01:00:00Z HUBSPOT_TOKEN=test-token
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
secs() { calc "$2 - $1"; }

n=100000
python3 "$top/tests/fakes/fake_hubspot.py" --port 0 --port-file hs.port --generate $n --now 2026-11-30T00:00:00Z &
fake=$!
while [ ! -s hs.port ]; do sleep 0.1; done
# The fake sends the rate-limit headers on searches and has no search limit
# unless asked (HubSpot has one, about 5 a second, and sends no headers
# there): the first run is the 100/10s limit alone (search_rate = none).
printf '[source "hubspot"]\nkind = hubspot\nurl = http://127.0.0.1:%s\nrate = 100/10s\nsearch_rate = none\nstreams = contacts\n' \
	"$(cat hs.port)" >fieldsync.conf
t0=$(now)
fs-pull -v hubspot >contacts.ndjson 2>pull.err || { cat pull.err; exit 1; }
t1=$(now)
got=$(grep -c '"type":"record"' contacts.ndjson)
[ "$got" = $n ] || { echo "pulled $got of $n contacts"; exit 1; }
statuses() { curl -s "http://127.0.0.1:$(cat hs.port)/__admin/requests" |
	python3 -c 'import json,sys; r=json.load(sys.stdin)["requests"]; print(len(r), sum(x["status"] == 429 for x in r))'; }
set -- $(statuses)
reqs=$1 n429=$2
retries=$(sed -n 's/.* requests, \([0-9]*\) retries$/\1/p' pull.err)
# Request k may go at floor(k / 100) * 10 s: 500 requests need 40 s at least.
minreq=$(( (n + 199) / 200 ))
floor=$(( (minreq - 1) / 100 * 10 ))
wall=$(secs "$t0" "$t1")
printf 'hubspot 100k contacts at 100/10s: %.1f s, %d requests, %d answered 429, %s retries (baseline rate-limit floor: %d s for %d requests) ratio %.2fx\n' \
	"$wall" "$reqs" "$n429" "$retries" "$floor" "$minreq" "$(calc "$wall / $floor")"

# HubSpot's search limit as well: the fake allows 5 searches a second and
# fs-pull keeps to its default search_rate (5/1s).  20,000 contacts are 100
# searches; search k may go at floor(k / 5) s: 19 s at least.
n=20000
curl -s -X POST "http://127.0.0.1:$(cat hs.port)/__admin/reset" -d '{"empty":true}' >/dev/null
curl -s -X POST "http://127.0.0.1:$(cat hs.port)/__admin/generate" -d "{\"count\":$n,\"seed\":1}" >/dev/null
curl -s -X POST "http://127.0.0.1:$(cat hs.port)/__admin/rate" -d '{"search_max":5,"search_interval_ms":1000}' >/dev/null
curl -s -X DELETE "http://127.0.0.1:$(cat hs.port)/__admin/requests" >/dev/null
sed -i '/^search_rate/d' fieldsync.conf
rm -f fieldsync.db*
t0=$(now)
fs-pull -v hubspot >contacts.ndjson 2>pull.err || { cat pull.err; exit 1; }
t1=$(now)
got=$(grep -c '"type":"record"' contacts.ndjson)
[ "$got" = $n ] || { echo "pulled $got of $n contacts"; exit 1; }
set -- $(statuses)
reqs=$1 n429=$2
retries=$(sed -n 's/.* requests, \([0-9]*\) retries$/\1/p' pull.err)
minreq=$(( (n + 199) / 200 ))
floor=$(( (minreq - 1) / 5 ))
wall=$(secs "$t0" "$t1")
printf 'hubspot 20k contacts at 5 searches/s: %.1f s, %d requests, %d answered 429, %s retries (baseline search-limit floor: %d s for %d requests) ratio %.2fx\n' \
	"$wall" "$reqs" "$n429" "$retries" "$floor" "$minreq" "$(calc "$wall / $floor")"
kill $fake
wait $fake 2>/dev/null
fake=

rows=1000000
awk -v n=$rows 'BEGIN {
	print "Contact ID,First Name,Last Name,Email,Phone,Street Address,City,State,Zip,Job Status,Last Modified"
	for (i = 1; i <= n; i++)
		printf "%d,Ann%d,\"Lee, Jr\",ann%d@example.com,(512) 555-%04d,\"%d Main St\",Austin,TX,787%02d,job_completed,2026-11-%02d 10:00:00\n",
			i, i % 97, i, i % 10000, i % 9000, i % 100, i % 28 + 1
}' >rows.csv
mb=$(calc "$(wc -c <rows.csv) / 1000000")
t0=$(now); cat rows.csv >/dev/null; t1=$(now)
cat_s=$(secs "$t0" "$t1")
t0=$(now); fs-pull csv:rows.csv >/dev/null || exit 1; t1=$(now)
pull_s=$(secs "$t0" "$t1")
printf 'csv 1M rows: %.0f records/s (baseline cat: - records/s) ratio -\n' "$(calc "$rows / $pull_s")"
printf 'csv 1M rows: %.0f MB/s (baseline cat: %.0f MB/s) ratio %.3fx\n' \
	"$(calc "$mb / $pull_s")" "$(calc "$mb / $cat_s")" "$(calc "$cat_s / $pull_s")"
