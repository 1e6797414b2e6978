#!/bin/sh
# make demo, small: two simulated days and a few dozen contacts against the
# fakes, through the real pipelines (a first run that mails nobody, then the
# jobs completed since); the demo's own verification must pass,
# agree with the state file, and fail when a duplicate piece is slipped in.
. "$(dirname "$0")/lib.sh"
plan 16
sim="$top/scripts/demo-sim.py"
unset FS_STATE FS_NOW FS_BUSY_TIMEOUT

FS_DEMO_END=${FS_DEMO_END:-2026-11-30T01:00:00Z}; export FS_DEMO_END
run python3 "$sim" --dir "$T/demo" --days 2 --contacts 40 --seed 3
is 'the demo exits 0' "$status" 0
# On a failure, the demo's last lines (its stderr holds any traceback).
demo_tail() { { echo "the demo's last lines:"; tail -n 25 "$T/out"; tail -n 25 "$T/err"; } | sed 's/^/# /' >&2; }
[ "$status" = 0 ] || demo_tail
tail -n 1 "$T/out" >last
is 'and says its verification passed' "$(cat last)" 'verification passed'
grep -E '^  (pieces at|pieces whose last|CRM records without|duplicate pieces|second pieces|pieces without|mail requests on the first run|pieces to a suppressed|business days over|pieces to contacts that entered|cancelled pieces the vendor)' "$T/out" >checks
is 'eleven checks, each ok' "$(grep -c ' ok$' checks)/$(wc -l <checks)" 11/11
is 'the campaign is held by hand, then acknowledged' \
	"$(grep -c "^  ... ..:..  \$ fs-watchdog hold campaign thank-you --by dana --note '...'  (exit 0)$" "$T/out")/$(grep -c '^  ... ..:..  \$ fs-watchdog ack [0-9]* --by dana  (exit 0): ' "$T/out")" 1/1
is 'a piece is cancelled inside its send delay' \
	"$(sed -n 's/^  ... ..:..  \$ fs-push cancel \(psc_[0-9a-f]*\)  (exit 0): cancelled \(psc_[0-9a-f]*\) .*/\1 \2/p' "$T/out" | awk '$1 == $2 { print "same" }')" same
is 'the first run records every contact and mails nobody, some already job_completed' \
	"$(sed -n 's/^  ... 01:00  first run: \([0-9]*\) contacts recorded, [1-9][0-9]* of them job_completed already; \([0-9]*\) mail requests.*/\1 \2/p' "$T/out")" '40 0'
crm=$(sed -n 's/^  (CRM records checked: \([0-9]*\),.*/\1/p' "$T/out")
ok "$([ "${crm:-0}" -gt 0 ] && echo 0 || echo 1)" "some CRM records were checked ($crm)"
pieces=$(sed -n 's/^  pieces at the fake vendor == distinct enrolments *\([0-9]*\) .*/\1/p' checks)
ok "$([ "${pieces:-0}" -gt 0 ] && echo 0 || echo 1)" "some pieces were mailed ($pieces)"
db=$T/demo/fieldsync.db
is 'the state file agrees: final enrolments' "$(sqlite3 "$db" 'select count(*) from enrolments where final = 1')" "$pieces"
is 'one send changelog row per piece' \
	"$(sqlite3 "$db" "select count(distinct json_extract(detail, '$.vendor_id')) from changelog where kind = 'send'")" "$pieces"
is 'every mail outbox row was sent, or suppressed (the do-not-mail list, a second entry)' \
	"$(sqlite3 "$db" "select state from outbox where target = 'mail' group by state")/$(sqlite3 "$db" "select count(*) from outbox where target = 'mail' and state = 'sent'")" \
	"sent
suppressed/$pieces"
# Every process it started has stopped: nothing answers on the fakes' ports.
up=0
for f in "$T/demo/hubspot.port" "$T/demo/lob.port"; do
	python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(open(sys.argv[1]).read())), 0.5)" "$f" 2>/dev/null && up=$((up + 1))
done
is 'the fakes are stopped' "$up" 0

# The verification checks, not assumes: a piece made behind fieldsync's back,
# a tracking event that never reached fieldsync, a CRM record that lost its
# write-back: each fails it.
run python3 "$sim" --dir "$T/demo2" --days 1 --contacts 20 --seed 3 --no-panels --inject-duplicate
is 'a duplicate slipped in at the vendor: exit 1, the duplicate counted' \
	"$status/$(sed -n 's/^  duplicate pieces (same event) *\([0-9]*\) .*\(FAILED\)$/\1 \2/p' "$T/out")/$(tail -n 1 "$T/out")" \
	'1/1 FAILED/verification FAILED'
[ "$status" = 1 ] || demo_tail
run python3 "$sim" --dir "$T/demo3" --days 1 --contacts 20 --seed 3 --no-panels --inject-missed-event
is 'a tracking event that never arrived: exit 1, counted' \
	"$status/$(sed -n "s/^  pieces whose last tracking event fieldsync missed *\([0-9]*\) .*\(FAILED\)$/\1 \2/p" "$T/out")/$(tail -n 1 "$T/out")" \
	'1/1 FAILED/verification FAILED'
[ "$status" = 1 ] || demo_tail
run python3 "$sim" --dir "$T/demo4" --days 1 --contacts 20 --seed 3 --no-panels --inject-stale-crm
is 'a CRM record that lost its write-back: exit 1, counted' \
	"$status/$(sed -n "s/^  CRM records without their piece's status *\([0-9]*\) .*\(FAILED\)$/\1 \2/p" "$T/out")/$(tail -n 1 "$T/out")" \
	'1/1 FAILED/verification FAILED'
[ "$status" = 1 ] || demo_tail
run python3 "$sim" --dir "$T/demo5" --days 1 --contacts 20 --seed 3 --no-panels --inject-suppressed
is 'a piece to a contact on the do-not-mail list: exit 1, counted' \
	"$status/$(sed -n "s/^  pieces to a suppressed contact or address *\([0-9]*\) .*\(FAILED\)$/\1 \2/p" "$T/out")/$(tail -n 1 "$T/out")" \
	'1/1 FAILED/verification FAILED'
[ "$status" = 1 ] || demo_tail
done_testing
