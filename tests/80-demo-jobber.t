#!/bin/sh
# make demo VENDOR=jobber, small: four simulated days, forty Jobber clients
# and their QuickBooks customers against the fakes, through the real
# pipelines (a first run that mails nobody, then the jobs completed since);
# the demo's own verification must pass (pieces, jobs, the customers'
# matches and the revenue attributed to the pieces before it), agree with
# the state file, and fail when a duplicate piece is slipped in.
. "$(dirname "$0")/lib.sh"
plan 14
sim="$top/scripts/demo-jobber.py"
unset FS_STATE FS_NOW FS_BUSY_TIMEOUT

# A Friday: Monday to Thursday simulated.
FS_DEMO_END=${FS_DEMO_END:-2026-12-04T01:00:00Z}; export FS_DEMO_END
run python3 "$sim" --dir "$T/demo" --days 4 --clients 40 --seed 3
is 'the demo exits 0' "$status" 0
# On a failure, the demo's last lines (its stderr holds any traceback).
demo_tail() { { echo "the demo's last lines:"; tail -n 25 "$T/out"; tail -n 25 "$T/err"; } | sed 's/^/# /' >&2; }
[ "$status" = 0 ] || demo_tail
is 'and says its verification passed' "$(tail -n 1 "$T/out")" 'verification passed'
grep -E '^  (pieces at|pieces ==|duplicate pieces|second pieces|pieces to another|mail requests on the first run|pieces for jobs completed before|QuickBooks customers matched|payments at QuickBooks|revenue rows attributed)' "$T/out" >checks
is 'the checks but attribution, each ok' "$(grep -v '^  revenue rows' checks | grep -c ' ok$')/$(grep -vc '^  revenue rows' checks)" 9/9
is 'attribution: revenue rows to the piece before them, none wrongly' "$(grep '^  revenue rows' checks | grep -c ' ok$')" 2
want=$(sed -n 's/^  revenue rows attributed to the piece before them *\([0-9]*\) .*/\1/p' checks)
ok "$([ "${want:-0}" -gt 0 ] && echo 0 || echo 1)" "some revenue was attributed ($want rows)"
is 'the first run records every client and job and mails nobody, some jobs completed already' \
	"$(sed -n 's/^  ... 01:00  first run: \([0-9]*\) clients and [0-9]* jobs recorded, [1-9][0-9]* of them completed already ([1-9][0-9]* in the last 3 hours); \([0-9]*\) mail requests.*/\1 \2/p' "$T/out")" '40 0'
pieces=$(sed -n 's/^  pieces at the fake vendor == distinct enrolments *\([0-9]*\) .*/\1/p' checks)
ok "$([ "${pieces:-0}" -gt 0 ] && echo 0 || echo 1)" "some pieces were mailed ($pieces)"
db=$T/demo/fieldsync.db
is 'the state file agrees: final enrolments, one per job' \
	"$(sqlite3 "$db" "select count(*), count(distinct contact_id), sum(contact_id like 'job:%') from enrolments where final = 1")" \
	"$pieces|$pieces|$pieces"
is 'customers matched by e-mail, phone and address, and some by nothing' \
	"$(sqlite3 "$db" "select group_concat(reason, ' ') from (select distinct reason from customer_matches order by instr('email phone address none', reason))")" \
	'email phone address none'
is "Jobber's and Intuit's webhooks: fs-hook stored them, fs-pull drained them" \
	"$(sqlite3 "$db" "select group_concat(source || ' ' || (n > 0) || ' ' || (n = drained), ', ') from (select source, count(*) n, count(drained_at) drained from inbox group by 1 order by 1)")" \
	'jobber 1 1, qbo 1 1'
# Every process it started has stopped: nothing answers on the fakes' ports.
up=0
for f in "$T/demo/jobber.port" "$T/demo/qbo.port" "$T/demo/lob.port"; do
	python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(open(sys.argv[1]).read())), 0.5)" "$f" 2>/dev/null && up=$((up + 1))
done
is 'the fakes are stopped' "$up" 0

# The verification checks, not assumes: a piece made behind fieldsync's back fails it.
run python3 "$sim" --dir "$T/demo2" --days 1 --clients 20 --seed 3 --no-panels --inject-duplicate
is 'a duplicate slipped in at the vendor: exit 1, the duplicate counted' \
	"$status/$(sed -n 's/^  duplicate pieces (same event) *\([0-9]*\) .*\(FAILED\)$/\1 \2/p' "$T/out")/$(tail -n 1 "$T/out")" \
	'1/1 FAILED/verification FAILED'
[ "$status" = 1 ] || demo_tail

# make demo passes the vendor on; an unknown one is a usage error, before any set-up.
run "$top/scripts/demo" --vendor nosuch
is 'scripts/demo --vendor nosuch: exit 2, says which it knows' "$status/$(cat "$T/err")" \
	"2/scripts/demo: no demo for vendor 'nosuch' (hubspot, jobber, postcardmania, servicetitan, sheets)"
is 'make demo VENDOR=jobber runs scripts/demo --vendor jobber' \
	"$(make -s -n -C "$top" demo VENDOR=jobber 2>/dev/null | grep -c "scripts/demo --vendor 'jobber'")" 1
done_testing
