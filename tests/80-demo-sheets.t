#!/bin/sh
# make demo VENDOR=sheets, small: one simulated day, twenty rows of a Google
# Sheet against the fake Sheets and the fake Lob, through the real pipelines
# (a first run that mails nobody; sorts, inserts, deletions, a renamed
# column, 429s; the mail status written back to the sheet); the demo's own
# verification must pass, agree with the state file, and fail when a
# duplicate piece is slipped in.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || skip_all 'openssl is needed for the service account key'
plan 9
sim="$top/scripts/demo-sheets.py"
unset FS_STATE FS_NOW FS_BUSY_TIMEOUT GOOGLE_ACCESS_TOKEN

# A Friday: Thursday simulated.
FS_DEMO_END=${FS_DEMO_END:-2026-12-04T01:00:00Z}; export FS_DEMO_END
run python3 "$sim" --dir "$T/demo" --days 1 --rows 20 --seed 3
is 'the demo exits 0' "$status" 0
demo_tail() { { echo "the demo's last lines:"; tail -n 25 "$T/out"; tail -n 25 "$T/err"; } | sed 's/^/# /' >&2; }
[ "$status" = 0 ] || demo_tail
is 'and says its verification passed' "$(tail -n 1 "$T/out")" 'verification passed'
is 'its eleven checks, each ok' "$(grep -c '^  .*  (want [0-9]*)  ok$' "$T/out")" 11
is 'the first run records every row and mails nobody' \
	"$(sed -n 's/^  ... 01:00  first run: \([0-9]*\) rows recorded, [1-9][0-9]* of them Completed already; \([0-9]*\) mail requests.*/\1 \2/p' "$T/out")" '20 0'
is 'the renamed column stopped one pull, loudly, and was accepted' \
	"$(grep -c "^  ... ..:..  sheet-to-mail stopped (exit 2, cron mails it): fs-pull: sheet: column 'Phone' of the last poll is not in the header" "$T/out")/$(grep -c 'header_changed back to stop$' "$T/out")" 1/1
pieces=$(sed -n 's/^  pieces at the fake Lob == distinct enrolments *\([0-9]*\) .*/\1/p' "$T/out")
ok "$([ "${pieces:-0}" -gt 0 ] && echo 0 || echo 1)" "some rows were mailed ($pieces)"
db=$T/demo/fieldsync.db
is 'the state file agrees: pieces, final enrolments, one per row, each piece sent or delivered' \
	"$(sqlite3 "$db" "select (select count(*) from pieces where target = 'mail') || ' ' || count(*) || ' ' || count(distinct contact_id) from enrolments where final = 1")/$(sqlite3 "$db" "select count(*) from pieces where target = 'mail' and status in ('sent', 'delivered')")" \
	"$pieces $pieces $pieces/$pieces"
up=0
for f in "$T/demo/sheets.port" "$T/demo/lob.port"; do
	python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(open(sys.argv[1]).read())), 0.5)" "$f" 2>/dev/null && up=$((up + 1))
done
is 'the fakes are stopped' "$up" 0

# The verification checks, not assumes: a piece made behind fieldsync's back fails it.
run python3 "$sim" --dir "$T/demo2" --days 1 --rows 10 --seed 3 --no-panels --inject-duplicate
is 'a duplicate slipped in at Lob: exit 1, the duplicate counted' \
	"$status/$(sed -n 's/^  duplicate pieces at Lob (same event) *\([0-9]*\) .*\(FAILED\)$/\1 \2/p' "$T/out")/$(tail -n 1 "$T/out")" \
	'1/1 FAILED/verification FAILED'
[ "$status" = 1 ] || demo_tail
done_testing
