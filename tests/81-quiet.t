#!/bin/sh
# A normal run is quiet.  The demo's pipelines, small, against the fakes:
# CRM -> mail and mail -> CRM ticks (first sight, a webhook's change, a
# tracking event, idle ticks), retries, the watchdog, the health panel, a
# report and the DLQ count.  Every stage's standard error, taken on its own,
# is empty at the default verbosity, and so is fs-hook's (the web server's
# error log); each run that did something leaves one "run" row in the
# changelog with its counts, and an idle tick leaves none.
. "$(dirname "$0")/lib.sh"
for t in lighttpd jq curl; do
	command -v $t >/dev/null || skip_all "$t is not installed (scripts/bootstrap)"
done
plan 20
. "$top/tests/fixtures/wake-chain.sh"
# The pipeline, or fs-hook's checkpoint after its answer, may hold the state
# file while a check reads it: wait for it as the commands do.
sql() { sqlite3 -batch -cmd '.timeout 10000' "$FS_STATE" "$@"; }
# Not a test of locking: the stages that make the state file together, and
# fs-hook beside them, wait as long as in production (lib.sh's 2 s is
# short for a loaded machine under ASan).
export FS_BUSY_TIMEOUT=10000
trap 'wake_chain_stop; rm -rf "$T"' EXIT
wake_chain_start "$T" 5 || exit 1

# tick SOURCE TARGET: one run of the pipeline, each stage's stderr in its own file.
tick() {
	cl0=0
	[ -e "$FS_STATE" ] && cl0=$(sql 'select coalesce(max(id), 0) from changelog')
	rm -f pull.err normalize.err dedupe.err push.err
	fs-pull "$1" 2>pull.err | fs-normalize 2>normalize.err | fs-dedupe 2>dedupe.err | fs-push "$2" >push.out 2>push.err
}
# Each stage's stderr, named, or nothing when all are empty.
errs() { for f in pull normalize dedupe push; do [ -s $f.err ] && sed "s/^/$f: /" $f.err; done; }
# The run rows since $cl0: object, exit status and the SQL expression given.
rows() {
	sql "select object, json_extract(detail, '\$.exit'), $1 from changelog where kind = 'run' and id > $cl0 order by object"
}
row_line() { rows "$1" | tr '\n' ' '; }

tick hubspot mail
is 'CRM -> mail, first sight: every stage silent' "$(errs)" ''
is 'and a run row per stage (read, mapped, forwarded, taken; nothing mailed)' \
	"$(row_line "coalesce(json_extract(detail, '\$.records'), json_extract(detail, '\$.read'), json_extract(detail, '\$.events')) || '/' || coalesce(json_extract(detail, '\$.mail_requests'), json_extract(detail, '\$.forwarded'), json_extract(detail, '\$.sent'), '-')")" \
	'fs-dedupe|0|5/5 fs-normalize|0|5/0 fs-pull:hubspot|0|5/- fs-push:mail|0|5/0 '
tick hubspot mail
is 'an idle tick: silent' "$(errs)" ''
is 'and no row at all' "$(rows 1)" ''

wake_webhook 1002 >answer.json
is 'a webhook: fs-hook answers 200' "$(jq -r .status answer.json)" 200
tick hubspot mail
is 'the tick that mails the piece: silent' "$(errs)" ''
# The contact comes twice (the webhook's batch read and the search), one piece.
is 'its rows: the change read twice, two mail requests (one id), one piece sent' \
	"$(row_line "coalesce(json_extract(detail, '\$.mail_requests'), json_extract(detail, '\$.sent'), json_extract(detail, '\$.forwarded'), json_extract(detail, '\$.records'))")" \
	'fs-dedupe|0|2 fs-normalize|0|2 fs-pull:hubspot|0|2 fs-push:mail|0|1 '
is 'the piece is at Lob, with its send row' \
	"$(grep -c '"method":"POST","path":"/v1/postcards"' lob.log)/$(sql "select count(*) from changelog where kind = 'send'")" 1/1

piece=$(sql "select vendor_id from pieces")
lob_webhook "$piece" mailed >answer.json
is 'a Lob tracking event: fs-hook answers 200' "$(jq -c '[.deliveries[].status]' answer.json)" '[200]'
tick lob-events crm
is 'mail -> CRM: every stage silent' "$(errs)" ''
is 'its rows: the event drained, mapped, forwarded, written back' \
	"$(row_line "coalesce(json_extract(detail, '\$.records'), json_extract(detail, '\$.events'), json_extract(detail, '\$.forwarded'), json_extract(detail, '\$.sent'))")" \
	'fs-dedupe|0|1 fs-normalize|0|1 fs-pull:lob-events|0|1 fs-push:crm|0|1 '
is 'the CRM has the piece status' "$(curl -s "$HS/__admin/contacts/1002" | jq -r .properties.fieldsync_mail_status)" Sent
tick lob-events crm
is 'an idle mail -> CRM tick: silent, no row' "$(errs)/$(rows 1)" /

# The other cron lines.
cl0=$(sql 'select max(id) from changelog')
fs-push --retry-only mail </dev/null >/dev/null 2>retry.err
fs-push --retry-only crm </dev/null >/dev/null 2>>retry.err
is 'retries with nothing due: silent, no row' "$(cat retry.err)/$(rows 1)" /
run fs-watchdog
is 'the watchdog with nothing to say: exit 0, silent' "$status/$(cat "$T/out" "$T/err")" 0/
run fs-health
is 'fs-health: its panel on stdout, nothing on stderr' "$(test -s "$T/out" && echo panel)/$(cat "$T/err")" panel/
run fs-report sla --format text
is 'fs-report: its report on stdout, nothing on stderr' "$(test -s "$T/out" && echo report)/$(cat "$T/err")" report/
run fs-dlq count
is 'fs-dlq count: a bare 0, nothing on stderr' "$(cat "$T/out")/$(cat "$T/err")" 0/
is 'fs-hook: nothing in the web server error log but its own start' \
	"$(grep -v 'server started' lighttpd.err)" ''
is 'none of these wrote a row' "$(rows 1)" ''
done_testing
