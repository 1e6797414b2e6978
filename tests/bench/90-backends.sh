#!/bin/sh
# The two state backends side by side (issue 19): the same workloads once
# with a SQLite state file and once with a fresh PostgreSQL database, in a
# throwaway cluster of this script's own (tests/pg.sh: a Unix socket, fsync
# off, trust).  Each PostgreSQL figure has the SQLite figure of the same run
# as its baseline:
#   - fs-dedupe throughput on the events 30-dedupe.sh generates (best of 3,
#     each from an empty key store);
#   - fs-push against the fake Lob at 200 ms latency and its 150/5s limit,
#     as 50-push.sh measures it (each backend against the limit, and one
#     against the other); and, the same pieces against a fake Lob with no
#     latency and no limit, the push rate the state allows (best of 3);
#   - the idle tick: one whole CRM -> mail pipeline run, fs-pull hubspot |
#     fs-normalize | fs-dedupe | fs-push mail, when the fake HubSpot has
#     nothing new (the state holds the contacts and their pieces already);
#     median of the samples, taken in turn with the two backends.
# When pg_stat_statements is there (Debian's postgresql package has it), a
# note after each figure names the statements PostgreSQL ran most often.
#
#   FS_BENCH_BACKENDS_EVENTS    events for fs-dedupe (default 200000)
#   FS_BENCH_BACKENDS_PUSH_N    pieces against the limit (default 2000: about
#                               70 s a backend, by the limit)
#   FS_BENCH_BACKENDS_FAST_N    pieces with no limit (default 2000)
#   FS_BENCH_BACKENDS_CONTACTS  contacts in the fake HubSpot (default 2000;
#                               a quarter of them mailed before the samples)
#   FS_BENCH_BACKENDS_TICKS     idle ticks a backend (default 15)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$top/bin:$PATH"
export PATH
events=${FS_BENCH_BACKENDS_EVENTS:-200000}
pushn=${FS_BENCH_BACKENDS_PUSH_N:-2000}
fastn=${FS_BENCH_BACKENDS_FAST_N:-2000}
contacts=${FS_BENCH_BACKENDS_CONTACTS:-2000}
ticks=${FS_BENCH_BACKENDS_TICKS:-15}
. "$top/tests/pg.sh"
for t in psql createdb; do
	command -v $t >/dev/null || { echo "# 90-backends: $t is not installed (Debian package postgresql-client)"; exit 0; }
done
[ -x "$(pg_bindir)/initdb" ] || { echo "# 90-backends: no PostgreSQL server (scripts/bootstrap installs Debian package postgresql)"; exit 0; }
T=$(mktemp -d "${TMPDIR:-/tmp}/fs-bench.XXXXXX")
pids=
stop_fakes() { for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; pids=; }
pg_start || exit 1
trap 'stop_fakes; pg_stop; rm -rf "$T"' EXIT
cd "$T" || exit 1
export FS_NOW=2026-11-30T01:00:00Z LOB_API_KEY=bench_key HUBSPOT_TOKEN=bench-token
unset FS_CONFIG FS_STATE

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\\n\", $1 }"; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# pg_stat_statements: loaded at a restart, its view made in the database fieldsync.
pgss=
if [ -e "$(pg_bindir)/../lib/pg_stat_statements.so" ] &&
   psql "$PG_URL" -X -q -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null 2>&1 &&
   pg_restart && psql "$PG_URL" -X -q -c 'CREATE EXTENSION pg_stat_statements' >/dev/null 2>&1; then
	pgss=1
fi
pq() { psql "$PG_URL" -X -A -t -q -c "$1"; }

# state BACKEND NAME: a new, empty state: a file, or a database of its own.
state() {
	if [ "$1" = sqlite ]; then
		rm -f "$T/$2.db" "$T/$2.db-wal" "$T/$2.db-shm"
		echo "$T/$2.db"
	else
		createdb -h "$PGDIR" -U fieldsync "$2" || exit 1
		echo "postgresql://fieldsync@/$2?host=$PGDIR"
	fi
}
# sql STATE QUERY
sql() {
	case $1 in
	postgresql:*) psql "$1" -X -A -t -q -c "$2" ;;
	*) sqlite3 "$1" "$2" ;;
	esac
}
# statements DATABASE RUNS WHAT [N NOUN]: a note of the statements run on
# DATABASE since the last reset, a run's worth (the calls over RUNS), most
# called first; with N and NOUN, how many that is for each of N (events...).
statements() {
	[ -n "$pgss" ] || return 0
	pq "SELECT round(sum(calls)::numeric / $2) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
	    WHERE d.datname = '$1'" >stmts.total
	pq "SELECT round(calls::numeric / $2) || ' x ' ||
	           left(regexp_replace(regexp_replace(query, '\s+', ' ', 'g'), '[|]', '/', 'g'), 70)
	    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
	    WHERE d.datname = '$1' ORDER BY calls DESC, query LIMIT 4" >stmts.top
	per=
	[ $# -lt 5 ] || per=" ($(awk -v t="$(cat stmts.total)" -v n="$4" 'BEGIN { printf "%.1f", t / n }') $5)"
	echo "# postgresql statements, $3: $(cat stmts.total) in all$per; most run: $(sed 's/$/;/' stmts.top | tr '\n' ' ' | sed 's/; $//')"
}
reset_statements() { [ -z "$pgss" ] || pq 'SELECT pg_stat_statements_reset()' >/dev/null; }

# start_fake NAME SCRIPT ARGS...: a fake on a free port; sets $url.
start_fake() {
	name=$1 script=$2
	shift 2
	rm -f "$T/$name.port"
	python3 "$script" --port 0 --port-file "$T/$name.port" "$@" >/dev/null 2>"$T/$name.stderr" &
	pids="$pids $!"
	i=0
	while [ ! -s "$T/$name.port" ]; do
		[ $i -ge 1200 ] && { echo "# 90-backends: the fake $name did not start"; cat "$T/$name.stderr"; exit 1; }
		sleep 0.05; i=$((i + 1))
	done
	url="http://127.0.0.1:$(cat "$T/$name.port")"
}

echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores, shared)"

# --- fs-dedupe throughput: the same events, keyed on "id" ------------------------
python3 "$top/tests/bench/dedupe-data.py" events "$events" 1 >events.ndjson
distinct=$(awk -F'"id":"' '!seen[substr($2, 1, 36)]++' events.ndjson | wc -l)
dd_sqlite='' dd_postgresql=''
reset_statements
for round in 1 2 3; do
	for b in sqlite postgresql; do
		s=$(state $b dedupe_$round)
		t0=$(now)
		fs-dedupe -q -s "$s" <events.ndjson >out.ndjson || { echo "# fs-dedupe on $b: exit $?"; exit 1; }
		t1=$(now)
		[ "$(wc -l <out.ndjson)" = "$distinct" ] || echo "# fs-dedupe on $b forwarded $(wc -l <out.ndjson), want $distinct"
		eval "dd_$b=\$(best \"\$dd_$b\" \"\$(calc \"\$t1 - \$t0\")\")"
	done
done
r_sq=$(calc "$events / $dd_sqlite") r_pg=$(calc "$events / $dd_postgresql")
printf 'dedupe-throughput-postgresql: %.0f events/s, best of 3 (baseline sqlite: %.0f events/s, best of 3) ratio %.2fx\n' \
	"$r_pg" "$r_sq" "$(calc "$r_pg / $r_sq")"
echo "# $events events, $distinct distinct ids; best of 3 runs each, the backends in turn, each run from an empty key store"
statements dedupe_1 1 "one fs-dedupe run of $events events" "$events" "an event"
rm -f events.ndjson out.ndjson dedupe_*.db*

# --- fs-push against the fake Lob's limit ----------------------------------------
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
limit=$(calc "150 / 5")
requests "$pushn" a >push.ndjson
reset_statements
for b in sqlite postgresql; do
	# A fake of its own for each backend: the same limit, from its first window.
	start_fake "lob_$b" "$top/tests/fakes/fake_lob.py" --key bench_key --latency-ms 200 --rate 150/5s
	printf '[target "mail"]\nkind      = lob\nurl       = %s/v1\ntoken_env = LOB_API_KEY\n' "$url" >push.conf
	s=$(state $b push_limit)
	t0=$(now)
	fs-push -c push.conf -s "$s" mail <push.ndjson >/dev/null 2>"push_$b.err" || { echo "# fs-push on $b: exit $?"; cat "push_$b.err"; exit 1; }
	t1=$(now)
	sent=$(sql "$s" "SELECT count(*) FROM outbox WHERE state = 'sent'")
	n429=$(curl -s "$url/__admin/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["429"])')
	eval "pr_$b=\$(calc \"\$sent / (\$t1 - \$t0)\") sent_$b=\$sent n429_$b=\$n429"
	stop_fakes
done
printf 'push-rate-sqlite: %.2f pieces/s (baseline limit: %.2f requests/s) ratio %.3fx\n' "$pr_sqlite" "$limit" "$(calc "$pr_sqlite / $limit")"
printf 'push-rate-postgresql: %.2f pieces/s (baseline limit: %.2f requests/s) ratio %.3fx\n' "$pr_postgresql" "$limit" "$(calc "$pr_postgresql / $limit")"
printf 'push-rate-postgresql-vs-sqlite: %.2f pieces/s (baseline sqlite: %.2f pieces/s) ratio %.3fx\n' \
	"$pr_postgresql" "$pr_sqlite" "$(calc "$pr_postgresql / $pr_sqlite")"
echo "# $pushn pieces at 200 ms latency and 150/5s, a fake Lob each: sqlite sent $sent_sqlite, $n429_sqlite answered 429; postgresql sent $sent_postgresql, $n429_postgresql answered 429"
statements push_limit 1 "one fs-push run of $pushn pieces at the limit" "$pushn" "a piece"

# The same pieces with no latency and no limit: what the state allows.
start_fake lob_fast "$top/tests/fakes/fake_lob.py" --key bench_key --rate off
printf '[target "fast"]\nkind      = lob\nurl       = %s/v1\ntoken_env = LOB_API_KEY\nrate      = 100000/1s\n' "$url" >push.conf
pf_sqlite='' pf_postgresql=''
reset_statements
for round in 1 2 3; do
	for b in sqlite postgresql; do
		requests "$fastn" "f${round}${b}_" >fast.ndjson
		s=$(state $b push_fast_$round)
		t0=$(now)
		fs-push -c push.conf -s "$s" fast <fast.ndjson >/dev/null 2>"fast_$b.err" || { echo "# fs-push on $b: exit $?"; cat "fast_$b.err"; exit 1; }
		t1=$(now)
		sent=$(sql "$s" "SELECT count(*) FROM outbox WHERE state = 'sent'")
		[ "$sent" = "$fastn" ] || echo "# fs-push on $b, no limit: $sent of $fastn sent"
		eval "pf_$b=\$(best \"\$pf_$b\" \"\$(calc \"\$t1 - \$t0\")\")"
	done
done
stop_fakes
r_sq=$(calc "$fastn / $pf_sqlite") r_pg=$(calc "$fastn / $pf_postgresql")
printf 'push-rate-no-limit-postgresql: %.1f pieces/s, best of 3 (baseline sqlite: %.1f pieces/s, best of 3) ratio %.2fx\n' \
	"$r_pg" "$r_sq" "$(calc "$r_pg / $r_sq")"
statements push_fast_1 1 "one fs-push run of $fastn pieces with no latency and no limit" "$fastn" "a piece"
rm -f push.ndjson fast.ndjson push_*.db* push_fast_*.db*

# --- The idle tick -----------------------------------------------------------------
# The CRM -> mail pipeline of tests/fixtures/wake-chain.sh (without fs-hook):
# the portal described, a first tick that records every contact and mails
# nobody, then a quarter of them completed at HubSpot and a tick that mails
# them, and one more that finishes its work; then the samples, ticks with
# nothing new, the two backends in turn.
python3 - "$contacts" >hubspot-data.json <<'PY'
import json, sys
streets = ["Main St", "Oak Ave", "Elm St", "Pine Rd", "Cedar Ln", "Maple Dr"]
out = []
for i in range(int(sys.argv[1])):
    out.append({"id": str(1001 + i), "updatedAt": "2026-11-29T10:00:00Z", "properties": {
        "firstname": "Pat", "lastname": "Lee %d" % i, "email": "pat%d@example.com" % i,
        "address": "%d %s" % (10 + i, streets[i % len(streets)]), "city": "Austin", "state": "TX",
        "zip": "78701", "country": "US", "job_status": "in_progress",
        "lastmodifieddate": "2026-11-29T10:00:00Z"}})
print(json.dumps({"contacts": out, "properties": {"contacts": [
    {"name": "job_status", "type": "enumeration", "label": "Job status",
     "options": ["scheduled", "in_progress", "job_completed"]}]}}))
PY
pipeline='fs-pull hubspot | fs-normalize | fs-dedupe | fs-push mail'
start_fake hubspot "$top/tests/fakes/fake_hubspot.py" --token bench-token --data hubspot-data.json \
	--now 2026-11-30T01:00:00Z --rate-max 1000000
hs=$url
for b in sqlite postgresql; do
	start_fake "lob_idle_$b" "$top/tests/fakes/fake_lob.py" --key bench_key --rate off --seed 1 --now "$FS_NOW"
	cat >"idle_$b.conf" <<EOF
[source "hubspot"]
kind            = hubspot
url             = $hs
token_env       = HUBSPOT_TOKEN
status_property = job_status
streams         = contacts
rate            = 100000/10s
search_rate     = none

[target "mail"]
kind      = lob
url       = $url/v1
token_env = LOB_API_KEY
rate      = 100000/1s

[campaign "thank-you"]
goal     = retention
trigger  = status = job_completed
format   = postcard
template = tmpl_thankyou
back     = tmpl_thankyouback
EOF
	eval "st_$b=\$(state $b idle)"
done
# tick BACKEND OUT: one pipeline run, its time in ms in OUT.
tick() {
	eval "s=\$st_$1"
	t0=$(now)
	FS_CONFIG="$T/idle_$1.conf" FS_STATE=$s bash -o pipefail -c "$pipeline" >"tick_$1.out" 2>"tick_$1.err" ||
		{ echo "# 90-backends: the pipeline on $1: exit $?"; cat "tick_$1.err"; exit 1; }
	t1=$(now)
	calc "($t1 - $t0) * 1000" >"$2"
}
for b in sqlite postgresql; do
	eval "s=\$st_$b"
	FS_CONFIG="$T/idle_$b.conf" fs-pull -s "$s" --describe hubspot >/dev/null || exit 1
	tick $b first.ms
done
# Completed through the hour before $FS_NOW, not at one instant: each tick
# reads again the last minute before its cursor (fs-pull's look-back), the
# few contacts changed in it, and emits none of them.
python3 - "$contacts" >completed.json <<'PY'
import json, sys, datetime as d
ids = range(0, int(sys.argv[1]), 4)
t0 = d.datetime(2026, 11, 30, 0, 0, tzinfo=d.timezone.utc)
print(json.dumps([{"id": str(1001 + i), "properties": {"job_status": "job_completed"},
    "updatedAt": (t0 + d.timedelta(seconds=3540 * k / len(ids))).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for k, i in enumerate(ids)]))
PY
curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary @completed.json "$hs/__admin/contacts"
for b in sqlite postgresql; do
	tick $b mailing.ms
	eval "s=\$st_$b"
	eval "mailed_$b=\$(sql \"\$s\" \"SELECT count(*) FROM outbox WHERE state = 'sent'\")"
	# The first tick after it still finishes the mailing tick's work (its
	# keys marked final): not a sample.
	tick $b settle.ms
done
: >idle_sqlite.ms
: >idle_postgresql.ms
reset_statements
for k in $(seq 1 "$ticks"); do
	for b in sqlite postgresql; do
		tick $b one.ms
		cat one.ms >>"idle_$b.ms"
	done
done
m_sq=$(median idle_sqlite.ms) m_pg=$(median idle_postgresql.ms)
printf 'idle-tick-postgresql: %.0f ms, median of %d (baseline sqlite: %.0f ms, median of %d) ratio %.2fx\n' \
	"$m_pg" "$ticks" "$m_sq" "$ticks" "$(calc "$m_pg / $m_sq")"
for b in sqlite postgresql; do
	eval "s=\$st_$b"
	eval "after_$b=\$(sql \"\$s\" \"SELECT count(*) FROM outbox WHERE state = 'sent'\")"
done
echo "# idle tick: $pipeline, the fake HubSpot with $contacts contacts and nothing new; pieces sent before the idle ticks, and after them: sqlite $mailed_sqlite, $after_sqlite; postgresql $mailed_postgresql, $after_postgresql"
echo "# idle ticks in ms, in order: sqlite $(awk '{ printf "%.0f ", $1 }' idle_sqlite.ms| sed 's/ $//'); postgresql $(awk '{ printf "%.0f ", $1 }' idle_postgresql.ms | sed 's/ $//')"
statements idle "$ticks" "one idle tick (the four commands)"
stop_fakes
if [ -n "$pgss" ]; then
	echo "# pg_stat_statements was loaded for the notes of statements, in every PostgreSQL run"
fi
echo "# PostgreSQL $(pq 'SHOW server_version'), a cluster of tests/pg.sh: one Unix socket, fsync off, on this machine"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores, shared)"
