#!/bin/bash
# Several hosts, one PostgreSQL database (issue 19): the CRM -> mail pipeline
# run as if on three hosts at once (each its own host name, by a UTS
# namespace of its own, its own working folder and configuration file, one
# database), with runs killed by SIGKILL and the database restarted in the
# middle; then checked against the fake vendors' own records: the pieces at
# Lob are the enrolments, event for event, and no contact gets two.  Before
# that, a source's lease across hosts: a live pull on one host keeps the
# others off its cursor, a killed one does not keep them off for its hour.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
on_host() { unshare --uts sh -c 'hostname "$0" && exec "$@"' "$@"; }
on_host h0 true 2>/dev/null || skip_all 'unshare --uts is not allowed here (root, or CAP_SYS_ADMIN, is needed)'
plan 15
pg_start || { echo 'Bail out! pg_start failed'; exit 1; }
trap 'stop_fakes; pg_stop; rm -rf "$T"' EXIT
export FS_STATE=$PG_URL LOB_API_KEY=sk_test_hosts HUBSPOT_TOKEN=pat-hosts
# The hosts' runs are killed while they wait for the writers' lock too.
export FS_BUSY_TIMEOUT=20000
start_lob --rate off
start_hubspot
hs_admin POST /__admin/rate '{"max":1000000}' >/dev/null
hs_admin POST /__admin/clock "{\"now\":\"$FS_NOW\"}" >/dev/null
# Each create takes 20 ms at Lob, so that a kill lands inside a batch.
slow() {
	lob_admin DELETE /__admin/faults >/dev/null
	lob_admin POST /__admin/faults "{\"slow_ms\":$1,\"method\":\"POST\",\"path_prefix\":\"/postcards\",\"count\":1000000}" >/dev/null
}
slow 20

for h in h1 h2 h3; do
	mkdir "$T/$h"
	cat >"$T/$h/fieldsync.conf" <<EOF2
[source "hubspot"]
kind        = hubspot
url         = $HS
token_env   = HUBSPOT_TOKEN
rate        = 1000000/10s
search_rate = none

[target "mail"]
kind      = lob
url       = $LOB
token_env = LOB_API_KEY
rate      = 1000000/5s
parallel  = 4
retry     = 1m..5m x6
timeout   = 20s

[campaign "thank-you"]
goal     = retention
trigger  = status = customer
format   = postcard
template = tmpl_thanks
back     = tmpl_thanksback
active   = 30d
EOF2
done

# contacts FIRST LAST STATUS [PHONE]: HubSpot contacts FIRST..LAST as they
# are now, modified now.
contacts() {
	python3 - "$HS" "$(date -u -d "$FS_NOW" +%s)" "$@" <<'EOF2'
import json, sys, urllib.request
hs, now, first, last, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
phone = sys.argv[6] if len(sys.argv) > 6 else None
body = json.dumps([{"id": str(i), "properties": {
    "email": "c%d@example.com" % i, "firstname": "Pat", "lastname": "C%d" % i,
    "address": "%d Oak St" % i, "city": "Austin", "state": "TX", "zip": "78701", "country": "US",
    "phone": phone or "512-555-%04d" % i, "lifecyclestage": status,
    "lastmodifieddate": str(now * 1000)}} for i in range(first, last + 1)]).encode()
urllib.request.urlopen(urllib.request.Request(hs + "/__admin/contacts", body,
                                              {"Content-Type": "application/json"})).read()
EOF2
}
tick() {
	advance "$1"
	hs_admin POST /__admin/clock "{\"now\":\"$FS_NOW\"}" >/dev/null
	lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
}
pipeline='fs-pull hubspot | fs-normalize | fs-dedupe | fs-push mail'
# start_on H NAME CMD: CMD in the background, in H's folder, as H, in a
# session of its own whose id is in $T/NAME.pid; its stderr goes to
# $T/NAME.err, its exit status to $T/NAME.status when it ends.
start_on() {
	(cd "$T/$1" && setsid unshare --uts sh -c 'echo $$ >"$2" && hostname "$0" && exec bash -o pipefail -c "$1"' \
		"$1" "$3" "$T/$2.pid" 2>"$T/$2.err"; echo $? >"$T/$2.status") 2>/dev/null &
	jobs_started="$jobs_started $!"
	wait_for "$2 never started" test -s "$T/$2.pid"
}
# host H CMD: CMD in H's folder, as H.
host() { (cd "$T/$1" && on_host "$1" bash -o pipefail -c "$2"); }
creates() { lob_admin GET '/__admin/requests?method=POST&path_prefix=/postcards' | python3 -c 'import json, sys; print(json.load(sys.stdin)["count"])'; }
more_creates() { [ "$(creates)" -gt "$before" ]; }
pieces() {
	lob_admin GET /__admin/pieces | python3 -c 'import json, sys
for p in json.load(sys.stdin)["data"]:
    print(p["metadata"].get("event_id"), p["create_count"], p["metadata"].get("contact_id"))'
}

# Every customer of the account is a lead to start with; the first run,
# on one host, sees them all and mails nobody.
contacts 1 600 lead
run host h1 "$pipeline"
is 'a first run on host h1 mails nobody' "$status/$(pieces | wc -l)" 0/0

# A source's lease across hosts.  h1's pull blocks on its output (a pipe no
# one reads), holding the source's lease; h2's pull is turned away.
tick 60
contacts 1 600 lead 512-555-0000
rm -f "$T/pull.fifo"
mkfifo "$T/pull.fifo"
exec 8<>"$T/pull.fifo"	# read-write: never blocks, and holds what is written
start_on h1 pull "fs-pull hubspot >'$T/pull.fifo'"
wait_for 'h1 fs-pull never blocked on its output' \
	sh -c "grep -q pipe_write /proc/\$(pgrep -f '^fs-pull hubspot' -s $(cat "$T/pull.pid"))/wchan"
run host h2 'fs-pull hubspot'
is 'a pull on h2 while h1 pulls the source: nothing to do, exit 0' "$status/$(wc -l <"$T/out")/$(cat "$T/err")" \
	"0/0/fs-pull: source 'hubspot' is being pulled by another run: nothing to do"
kill -9 -- "-$(cat "$T/pull.pid")"
wait $jobs_started
exec 8<&-
# (The server ends the killed run's session as soon as it sees the socket
# closed: a few milliseconds.)
alive_locks() { psql "$PG_URL" -X -A -t -c "select count(*) from pg_locks where locktype = 'advisory' and objsubid = 2"; }
wait_for "the killed pull's session outlived it" test "$(alive_locks)" = 0
run host h2 'fs-pull hubspot'
is "h1's pull killed: h2 pulls at once, not an hour later" "$status/$(grep -c '"type":"record"' "$T/out")" 0/600

# Three hosts, rounds of runs at once.  Each round some contacts become
# customers (and enter the campaign's trigger), some customers' phones
# change (which mails nobody); one run of the round may be killed at a
# random moment, and in the middle round the database restarts under them.
RANDOM=93
rounds=16 runs=0 killed=0 lost=0 odd=0 entered=0
for r in $(seq 1 "$rounds"); do
	tick 600
	restart= size=30
	[ "$r" = $((rounds / 2)) ] && { restart=1 size=90; slow 1000; before=$(creates); }
	first=$((entered + 1))
	contacts "$first" $((first + size - 1)) customer
	[ "$r" -gt 2 ] && contacts $((first - 60)) $((first - 51)) customer "512-555-9$r"
	entered=$((entered + size))
	jobs_started=
	for h in h1 h2 h3; do
		start_on $h $h.$r "$pipeline >/dev/null"
	done
	victim=
	[ $((RANDOM % 3)) != 0 ] && [ -z "$restart" ] && victim=h$((RANDOM % 3 + 1)).$r
	if [ -n "$victim" ]; then
		sleep "0.$((RANDOM % 6))"
		kill -9 -- "-$(cat "$T/$victim.pid")" 2>/dev/null	# (or it had ended)
	fi
	# The restart comes while the round's pieces are being made.
	[ "$restart" ] && { wait_for 'no piece was asked for' more_creates; pg_restart; at_restart=$(creates); }
	wait $jobs_started
	[ "$restart" ] && { after_restart=$(($(creates) - at_restart)); slow 20; }
	for h in h1 h2 h3; do
		s=$(cat "$T/$h.$r.status")
		runs=$((runs + 1))
		if [ "$h.$r" = "$victim" ] && [ "$s" = 137 ]; then killed=$((killed + 1))
		elif [ "$restart" ] && [ "$s" = 3 ]; then
			lost=$((lost + 1))
			# (A run is a pipeline: each stage that lost it says so.)
			grep "^fs-[a-z]*: state '" "$T/$h.$r.err" | cut -d: -f1 | sort | uniq -c | awk '{ print $1 }' >>lost.lines
		elif [ "$s" != 0 ]; then
			odd=$((odd + 1))
			echo "# round $r: $h's run exited $s:" >&2
			sed 's/^/#   /' "$T/$h.$r.err" >&2
		fi
	done
done
echo "# $runs runs on 3 hosts, $killed killed, $lost lost the database in its restart"
ok "$([ "$killed" -ge 3 ] && [ "$lost" -ge 1 ] && echo 0 || echo 1)" \
	"runs were killed ($killed), and lost the database ($lost)"
is 'every other run exited 0, or 3 when the database restarted under it' "$odd" 0
is 'each run that lost it said so on one line' \
	"$(sort -u lost.lines)" 1
ok "$([ "$after_restart" -le $((4 * lost)) ] && echo 0 || echo 1)" \
	"the pushes that lost the database asked for no more pieces than they had in flight ($after_restart; $lost, parallel 4)"

# Settle: the runs of any host, until nothing is due (claims of the killed
# runs end with their lease, retries with their backoff).
for i in 1 2 3 4 5 6; do
	tick 1200
	host h$((i % 3 + 1)) "$pipeline" >/dev/null 2>&1
done
is 'settled: every mail request is sent, none pending or dead' \
	"$(sql "select state, count(*) from outbox group by state")" "sent|$entered"
pieces >pieces.txt
echo "# $entered contacts entered the trigger, $(wc -l <pieces.txt) pieces at Lob, $(sql "select count(*) from enrolments") enrolments; ${SECONDS}s"
is 'the pieces at Lob: one per contact that became a customer' \
	"$(cut -d' ' -f3 pieces.txt | sort -u | wc -l)/$(wc -l <pieces.txt)" "$entered/$entered"
is 'none created twice' "$(awk '$2 != 1' pieces.txt)" ''
cut -d' ' -f1 pieces.txt | sort >lob.ids
sql "select event_id from enrolments" | sort >enrol.ids
check_same 'pieces at Lob == enrolments, event for event' enrol.ids lob.ids
is 'one enrolment per contact' "$(sql "select count(distinct contact_id) || ' ' || count(*) from enrolments")" "$entered $entered"
is 'every piece has its send row' "$(sql "select count(distinct event_id) from changelog where kind = 'send'")" "$entered"
is 'no dead letter' "$(fs-dlq count)" 0
is "no lease left behind" "$(sql "select count(*) from leases")" 0
done_testing
