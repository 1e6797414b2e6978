#!/bin/sh
# make demo VENDOR=servicetitan, small: one simulated day, thirty
# ServiceTitan customers (their addresses on their locations, some saying
# doNotMail, two merged) through the real pipeline against the fake
# ServiceTitan and the fake Lob; the demo's own verification must pass
# (pieces == enrolments == jobs completed since install, none on the first
# run, none to doNotMail or merged-away customers, none again after a
# merge, each to the mailing location), agree with the state file, pass
# with the list read too (records sharing a modifiedOn across pages), and
# fail when a duplicate piece is slipped in.
. "$(dirname "$0")/lib.sh"
plan 11
sim="$top/scripts/demo-servicetitan.py"
unset FS_STATE FS_NOW FS_BUSY_TIMEOUT

# A Friday: Thursday simulated.
FS_DEMO_END=${FS_DEMO_END:-2026-12-04T01:00:00Z}; export FS_DEMO_END
run python3 "$sim" --dir "$T/demo" --days 1 --customers 30 --seed 3
is 'the demo exits 0' "$status" 0
demo_tail() { { echo "the demo's last lines:"; tail -n 25 "$T/out"; tail -n 25 "$T/err"; } | sed 's/^/# /' >&2; }
[ "$status" = 0 ] || demo_tail
is 'and says its verification passed' "$(tail -n 1 "$T/out")" 'verification passed'
is 'its seventeen checks, each ok' "$(grep -c '^  .*  (want [0-9]*)  ok$' "$T/out")" 17
is 'the first run records every customer and mails nobody, some jobs completed already' \
	"$(sed -n 's/^  ... 01:00  first run: \([0-9]*\) customers ([1-9][0-9]* say doNotMail) and [0-9]* jobs recorded, [1-9][0-9]* of them completed already ([1-9][0-9]* in the last 3 hours); \([0-9]*\) mail requests.*/\1 \2/p' "$T/out")" '30 0'
set -- $(sed -n 's/^  (pieces \([0-9]*\); jobs completed since install [0-9]*, of doNotMail customers \([0-9]*\) (suppressed \([0-9]*\)); customers saying doNotMail [0-9]*, merged \([0-9]*\).*/\1 \2 \3 \4/p' "$T/out")
ok "$([ "${1:-0}" -gt 0 ] && [ "${2:-0}" -gt 0 ] && [ "${4:-0}" -gt 0 ] && echo 0 || echo 1)" \
	"some pieces mailed ($1), some doNotMail jobs suppressed ($3 of $2), some customers merged ($4)"
db=$T/demo/fieldsync.db
is 'the state file agrees: one piece per final enrolment and job, every customer recorded' \
	"$(sqlite3 "$db" "select (select count(*) from pieces where target = 'mail') || ' ' || count(*) || ' ' || count(distinct contact_id) || ' ' || sum(contact_id like 'job:%') from enrolments where final = 1")/$(sqlite3 "$db" "select count(*) from contacts where source = 'st'")" \
	"$1 $1 $1 $1/30"
is 'the merged-away customers are merged and do-not-mail' \
	"$(sqlite3 "$db" "select count(*) || ' ' || sum(do_not_mail) from contacts where status = 'merged'")" "$4 $4"
is "fs-report outcomes' spend panel: the pieces sent, the doNotMail jobs suppressed" \
	"$(sed -n 's/^[0-9-]* *thank-you *\(sent\|suppressed\) *\([0-9]*\) .*/\1 \2/p' "$T/out" | tr '\n' ',')" "sent $1,suppressed $3,"
up=0
for f in "$T/demo/servicetitan.port" "$T/demo/lob.port"; do
	python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(open(sys.argv[1]).read())), 0.5)" "$f" 2>/dev/null && up=$((up + 1))
done
is 'the fakes are stopped' "$up" 0

# The list read: records that share a modifiedOn straddle its small pages.
run python3 "$sim" --dir "$T/demo-list" --days 1 --customers 30 --seed 4 --read list --no-panels
is '--read list: exit 0, the seventeen checks ok, verification passed' \
	"$status/$(grep -c '^  .*  (want [0-9]*)  ok$' "$T/out")/$(tail -n 1 "$T/out")" '0/17/verification passed'
[ "$status" = 0 ] || demo_tail

# The verification checks, not assumes: a piece made behind fieldsync's back fails it.
run python3 "$sim" --dir "$T/demo2" --days 1 --customers 10 --seed 3 --no-panels --inject-duplicate
is 'a duplicate slipped in at Lob: exit 1, the duplicate counted' \
	"$status/$(sed -n 's/^  duplicate pieces (same event) *\([0-9]*\) .*\(FAILED\)$/\1 \2/p' "$T/out")/$(tail -n 1 "$T/out")" \
	'1/1 FAILED/verification FAILED'
[ "$status" = 1 ] || demo_tail
done_testing
