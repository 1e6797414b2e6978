#!/bin/sh
# fs-report bad input: one clear line and exit 2; an empty state file gives
# empty reports that say why.  fs-report reads no lines, so nothing goes to
# the DLQ: each case checks that it stays empty.
. "$(dirname "$0")/lib.sh"
plan 20
fs-dlq count >/dev/null		# an empty state file, schema and nothing else

bad() {	# name want-err args...
	name=$1 want=$2
	shift 2
	run fs-report "$@"
	is "$name" "$status/$(cat "$T/out")/$(cat "$T/err")/$(fs-dlq count)" "2//$want/0"
}
bad 'unknown report' "fs-report: unknown report 'slas' (sla, health, dedupe, changelog, pilot, outcomes)" slas
bad 'unknown format' "fs-report: unknown format 'xlsx' (text, csv, excel-csv, json, html)" sla --format xlsx
bad '--from after --to' 'fs-report: --from 2026-12-01 is not before --to 2026-11-01T00:00:00Z' \
	sla --from 2026-12-01 --to 2026-11-01T00:00:00Z
bad '--from equal to --to' 'fs-report: --from 2026-11-01T00:00:00Z is not before --to 2026-11-01T00:00:00Z' \
	health --from 2026-11-01T00:00:00Z --to 2026-11-01T00:00:00Z
bad 'malformed --from' "fs-report: --from: 'last week' is not a time (RFC 3339 or YYYY-MM-DD)" sla --from 'last week'
bad 'malformed --to' "fs-report: --to: '2026-02-30' is not a time (RFC 3339 or YYYY-MM-DD)" sla --to 2026-02-30
bad 'malformed --pilot' "fs-report: --pilot: '2026-11-16' is not FROM..TO (RFC 3339 or YYYY-MM-DD)" pilot --pilot 2026-11-16
bad 'malformed --baseline' "fs-report: --baseline: '2026-11-01..soon' is not FROM..TO (RFC 3339 or YYYY-MM-DD)" \
	pilot --baseline 2026-11-01..soon
bad 'a changelog filter on another report' "fs-report: --contact filters the changelog report, not 'sla'" sla --contact c1
bad 'an unknown section' "fs-report: the changelog report has no section 'rows' (entries, kinds)" changelog --section rows
run fs-report sla pilot
is 'two reports at once' "$status/$(head -n 1 "$T/err")" "2/fs-report: one report at a time, not 'sla' and 'pilot'"
FS_NOW=tomorrow fs-report sla >/dev/null 2>"$T/err"
is 'a malformed $FS_NOW' "$?/$(cat "$T/err")" '2/fs-report: FS_NOW: '"'"'tomorrow'"'"' is not an RFC 3339 time'
run fs-report -s "$T/nope.db" sla
is 'a missing state file is an error, not a new empty file' "$status/$(cat "$T/err")/$(ls "$T/nope.db" 2>/dev/null)" \
	"3/fs-report: cannot open state '$T/nope.db': No such file or directory/"
printf '[thresholds]\nfollow_up_sla = three days\n' >bad.conf
run fs-report -c bad.conf sla
is 'a bad SLA in the config' "$status/$(cat "$T/err")" \
	"2/fs-report: bad.conf:2: follow_up_sla 'three days' is not a number of business days (3bd)"

# The empty state file: every report says why it has nothing, exit 0.
for r in sla health dedupe changelog pilot outcomes; do fs-report "$r" --format text | sed -n 3p; done >"$T/out"
out_is 'empty state: each report says why, with no figures' <<'EOT'
nothing to report: no mail pieces in the state file yet (fs-push records them as it sends)
nothing to report: the state file has no webhook requests, alerts, syncs or audit rows yet
nothing to report: fs-dedupe has recorded no suppressions and no scans in this state file
nothing to report: the changelog is empty: no command has written to this state file yet
nothing to report: no mail pieces in the state file: import past mailings with 'fs-pull csv:FILE --as mail-history' for the baseline
nothing to report: no mail pieces in the state file yet (fs-push records them as it sends)
EOT
run fs-report sla --format json
is 'empty state, json: one header line with the reason and no sections' \
	"$status/$(wc -l <"$T/out")/$(jq -c '[.empty, .sections]' "$T/out")" \
	'0/1/["no mail pieces in the state file yet (fs-push records them as it sends)",[]]'
run fs-report sla --format csv
is 'empty state, csv: nothing on stdout, the reason on stderr' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	'0//fs-report: sla: nothing to report: no mail pieces in the state file yet (fs-push records them as it sends)'
run fs-report sla --format html
is 'empty state, html: a page that says so' "$status/$(grep -c 'Nothing to report yet.</strong> no mail pieces in the state file yet' "$T/out")" 0/1
run fs-report sla --section followup --format text
is 'empty state: --section is not an error' "$status/$(sed -n 3p "$T/out")" \
	'0/nothing to report: no mail pieces in the state file yet (fs-push records them as it sends)'
run fs-report -h
is '-h: usage on stdout, exit 0' "$status/$(head -c 16 "$T/out")" '0/usage: fs-report'
done_testing
