#!/bin/sh
# make demo VENDOR=postcardmania, small: one simulated day, twenty
# HubSpot contacts whose campaigns are split between the fake Lob and the
# fake PostcardMania, through the real pipelines; the demo's own
# verification must pass (pieces at both fakes == distinct enrolments, no
# contact mailed twice, each vendor only its campaign), agree with the
# state file, and fail when a duplicate piece is slipped in.
. "$(dirname "$0")/lib.sh"
plan 8
sim="$top/scripts/demo-postcardmania.py"
unset FS_STATE FS_NOW FS_BUSY_TIMEOUT

# A Friday: Thursday simulated.
FS_DEMO_END=${FS_DEMO_END:-2026-12-04T01:00:00Z}; export FS_DEMO_END
run python3 "$sim" --dir "$T/demo" --days 1 --contacts 20 --seed 3
is 'the demo exits 0' "$status" 0
demo_tail() { { echo "the demo's last lines:"; tail -n 25 "$T/out"; tail -n 25 "$T/err"; } | sed 's/^/# /' >&2; }
[ "$status" = 0 ] || demo_tail
is 'and says its verification passed' "$(tail -n 1 "$T/out")" 'verification passed'
is 'its eight checks, each ok' "$(grep -c '^  .*  (want [0-9]*)  ok$' "$T/out")" 8
db=$T/demo/fieldsync.db
lob=$(sed -n 's/^  (Lob \([0-9]*\) pieces, PostcardMania \([0-9]*\) orders.*/\1 \2/p' "$T/out")
set -- $lob
ok "$([ "${1:-0}" -gt 0 ] && [ "${2:-0}" -gt 0 ] && echo 0 || echo 1)" "both vendors mailed ($lob)"
is 'the state file agrees: pieces per target, one per final enrolment and contact' \
	"$(sqlite3 "$db" "select group_concat(target || ' ' || n, ', ') from (select target, count(*) n from pieces group by 1 order by 1)")/$(sqlite3 "$db" "select count(*) = count(distinct contact_id) from enrolments where final = 1")" \
	"mail $1, pcm $2/1"
is 'the vendor SLA panel: a row per target and stage' \
	"$(grep -cE '^(mail +lob|pcm +postcardmania) +(mailed|delivered) ' "$T/out")" 4
for f in "$T/demo/hubspot.port" "$T/demo/lob.port" "$T/demo/pcm.port"; do
	python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(open(sys.argv[1]).read())), 0.5)" "$f" 2>/dev/null && up=$((${up:-0} + 1))
done
is 'the fakes are stopped' "${up:-0}" 0

# The verification checks, not assumes: a piece made behind fieldsync's back fails it.
run python3 "$sim" --dir "$T/demo2" --days 1 --contacts 10 --seed 3 --no-panels --inject-duplicate
is 'a duplicate slipped in at Lob: exit 1, the duplicate counted' \
	"$status/$(sed -n 's/^  duplicate pieces at Lob (same event) *\([0-9]*\) .*\(FAILED\)$/\1 \2/p' "$T/out")/$(tail -n 1 "$T/out")" \
	'1/1 FAILED/verification FAILED'
done_testing
