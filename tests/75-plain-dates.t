#!/bin/sh
# Plain dates: every --since, --from and --to takes YYYY-MM-DD, the first
# second of that day in the [thresholds] timezone (UTC by default); --to's
# date is inclusive, so it ends at the next day's first second.  A report
# prints its window in that zone, with the offset.  A malformed
# date is one line on stderr and exit 2, in every command.
. "$(dirname "$0")/lib.sh"
plan 13
fs-dlq count >/dev/null		# an empty state file
zone() { printf '[thresholds]\ntimezone = %s\n' "$1" >fieldsync.conf; }
window() { run fs-report sla --format json "$@"; jq -r '.from + " " + .to' "$T/out"; }

is 'report, UTC by default: midnight to midnight' "$(window --from 2026-11-23 --to 2026-11-23)" \
	'2026-11-23T00:00:00Z 2026-11-24T00:00:00Z'
zone America/Phoenix
is 'report, Phoenix (UTC-7, no DST): midnight there' "$(window --from 2026-11-23 --to 2026-11-23)" \
	'2026-11-23T00:00:00-07:00 2026-11-24T00:00:00-07:00'
is 'report, an RFC 3339 time stays what it says' "$(window --from 2026-11-23T10:00:00Z --to 2026-11-24T00:00:00-07:00)" \
	'2026-11-23T03:00:00-07:00 2026-11-24T00:00:00-07:00'
run fs-report pilot --format json --pilot 2026-11-16..2026-11-29 --baseline 2026-11-02..2026-11-15
is 'report, --pilot and --baseline ranges in Phoenix' \
	"$(jq -r '[.from, .to, .baseline_from, .baseline_to] | join(" ")' "$T/out")" \
	'2026-11-16T00:00:00-07:00 2026-11-30T00:00:00-07:00 2026-11-02T00:00:00-07:00 2026-11-16T00:00:00-07:00'
zone America/New_York
is 'report, New York on the spring DST day: a 23-hour day' "$(window --from 2026-03-08 --to 2026-03-08)" \
	'2026-03-08T00:00:00-05:00 2026-03-09T00:00:00-04:00'
zone America/Santiago
is 'report, Santiago, whose clocks skip midnight: the day starts at 01:00' "$(window --from 2026-09-06 --to 2026-09-06)" \
	'2026-09-06T01:00:00-03:00 2026-09-07T00:00:00-03:00'

zone America/Phoenix
run fs-dedupe scan --from 2026-12-01 </dev/null
is 'dedupe scan --from a date: exit 0, the scan records the Phoenix midnight' \
	"$status/$(sql "select json_extract(detail, '\$.from') from changelog where kind = 'dedupe.scan'")" \
	'0/2026-12-01T07:00:00Z'

# Malformed: one line, exit 2, the same words in every command.
bad() {	# name want-err args...
	name=$1 want=$2
	shift 2
	run "$@" </dev/null
	is "$name" "$status/$(cat "$T/out")/$(cat "$T/err")" "2//$want"
}
bad 'fs-report --to: no 30 February' "fs-report: --to: '2026-02-30' is not a time (RFC 3339 or YYYY-MM-DD)" \
	fs-report sla --to 2026-02-30
bad 'fs-report --from: a one-digit month' "fs-report: --from: '2026-1-01' is not a time (RFC 3339 or YYYY-MM-DD)" \
	fs-report sla --from 2026-1-01
bad 'fs-dedupe scan --from: day 32' "fs-dedupe: --from: '2026-12-32' is not a time (RFC 3339 or YYYY-MM-DD)" \
	fs-dedupe scan --from 2026-12-32
bad 'fs-pull --since: a word' "fs-pull: --since: 'yesterday' is not a time (RFC 3339 or YYYY-MM-DD)" \
	fs-pull --since yesterday csv:none.csv
bad 'fs-push cancel --since: 2027 is not a leap year' \
	"fs-push: cancel: --since: '2027-02-29' is not a time (RFC 3339 or YYYY-MM-DD)" \
	fs-push cancel --campaign review --since 2027-02-29
is 'nothing was cancelled or written by the bad runs' "$(sql "select count(*) from changelog where kind != 'dedupe.scan'")" 0
done_testing
