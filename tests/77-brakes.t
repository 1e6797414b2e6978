#!/bin/sh
# The brakes on spending: a cap per campaign and business day, a hold by
# hand in the middle of a run, cancelling inside the send delay, Ctrl-C,
# a preview that is what the run then does, re-entry, and one piece per job.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 43
export LOB_API_KEY=sk_test_s3cret
start_lob
lob_conf "price     = postcard 0.65, letter 1.10"
cat >>fieldsync.conf <<'EOF'

[thresholds]
timezone = America/Chicago

[campaign "thanks"]
trigger = status = job_completed
goal    = retention
cap     = 3/day

[campaign "bulk"]
trigger = status = job_completed
goal    = bulk

[campaign "review"]
trigger    = status = job_completed
goal       = reviews
send_delay = 1h

[campaign "again"]
trigger = status = job_completed
goal    = again
active  = 30d
reentry = 60d

[campaign "once"]
trigger = status = job_completed
goal    = once
active  = 30d

[campaign "per-job"]
trigger = status = job_completed
goal    = per-job
EOF
fs-dlq count >/dev/null
# req ID CONTACT CAMPAIGN: a mail request with its campaign's goal.
req() {
	goal=$(sed -n "/^\[campaign \"$3\"\]/,/^\$/s/^goal *= *//p" fieldsync.conf)
	mreq "$1" "$2" postcard "$3" | sed "s/\"goal\":\"retention\"/\"goal\":\"$goal\"/"
}
# results [FILE]: each result's event id and status, sorted (a capped or
# suppressed row is settled when claimed, before the requests in flight).
results() { grep '"type":"result"' "${1:-$T/out}" | jq -r '[.event_id, .status] | join(" ")' | sort; }
# at_lob [PREFIX]: the pieces at Lob (whose event ids start with PREFIX).
at_lob() { lob_pieces | grep -c "^${1:-}"; }
once_each() { lob_pieces | grep "^${1:-}" | awk '$2 != 1 { bad++ } END { print NR "/" bad + 0 }'; }

# ---- A cap of 3 a day, the business's day (Chicago): 23:30 there. ----
export FS_NOW=2026-11-30T05:30:00Z
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
for i in 1 2 3 4 5; do req cap$i 10$i thanks; done >cap.ndjson
run fs-push --parallel 1 mail <cap.ndjson
is 'cap: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is 'cap: three sent, two capped' "$(results)" 'cap1 sent
cap2 sent
cap3 sent
cap4 capped
cap5 capped'
is 'cap: the two wait for midnight in Chicago, with the reason' \
	"$(sql "select event_id, state, next_attempt_at, reason from outbox where event_id in ('cap4', 'cap5') order by id")" \
	'cap4|pending|2026-11-30T06:00:00Z|cap: 3/day for campaign thanks
cap5|pending|2026-11-30T06:00:00Z|cap: 3/day for campaign thanks'
run fs-health
is 'cap: fs-health warns, naming the campaign' "$status/$(sed -n 2p "$T/out")" \
	"1/WARNING cap thanks: 2 pieces over its 3/day wait until 2026-11-30T06:00:00Z"
fs-watchdog >/dev/null 2>&1
fs-watchdog >/dev/null 2>&1
is 'cap: one WARNING alert, however often the watchdog runs' \
	"$(sql "select rule, subject, state, json_extract(detail, '$.level') from alerts where rule = 'cap'")" 'cap|thanks|open|WARNING'
run fs-push mail </dev/null
is 'cap: a run before midnight sends none of them' "$status/$(results)/$(at_lob)" 0//3
export FS_NOW=2026-11-30T06:00:00Z
run fs-push mail </dev/null
is 'cap: at midnight the two go' "$status/$(results)" '0/cap4 sent
cap5 sent'
for i in 6 7; do req cap$i 10$i thanks; done | fs-push mail >"$T/out" 2>"$T/err"
is 'cap: the new day has room for one more' "$(results)" 'cap6 sent
cap7 capped'
is 'cap: never more than 3 a business day' \
	"$(sql "select count(*) from pieces where campaign = 'thanks' and queued_at < '2026-11-30T06:00:00Z'")/$(sql "select count(*) from pieces where campaign = 'thanks' and queued_at >= '2026-11-30T06:00:00Z'")" \
	3/3
is 'cap: each deferral has its changelog row with the day it waits for' \
	"$(sql "select event_id, json_extract(detail, '$.until'), json_extract(detail, '$.price') from changelog where kind = 'send.capped' order by id")" \
	'cap4|2026-11-30T06:00:00Z|0.65
cap5|2026-11-30T06:00:00Z|0.65
cap7|2026-12-01T06:00:00Z|0.65'

# ---- A hold by hand while 200 pieces go out. ----
export FS_NOW=2026-12-01T15:00:00Z
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
lob_admin POST /__admin/reset >/dev/null
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
lob_admin POST /__admin/latency '{"ms":25}' >/dev/null
i=0
while [ $i -lt 200 ]; do i=$((i + 1)); req bulk$i $((2000 + i)) bulk; done >bulk.ndjson
fs-push --parallel 1 mail <bulk.ndjson >bulk.out 2>bulk.err &
pid=$!
wait_for 'twenty pieces at Lob' sh -c "[ \$(curl -s '$LOB_ROOT/__admin/pieces' | jq .count) -ge 20 ]"
run fs-watchdog hold campaign bulk --by ops --note 'wrong picture on the back'
is 'hold: at once, the alert named' "$status/$(cat "$T/out")" \
	"0/alert #2: campaign bulk held by ops; 'fs-watchdog ack 2 --by NAME' lifts it"
wait $pid
first=$(at_lob bulk)
held=$(sql "select count(*) from outbox where state = 'held' and campaign = 'bulk'")
is 'hold: the run ends with exit 0, having sent some and held the rest' \
	"$?/$((first + held))/$([ "$first" -lt 150 ] && echo stopped early)" '0/200/stopped early'
is 'hold: a held result for each held row' "$(grep -c '"status":"held"' bulk.out)" "$held"
is 'hold: every sent row is a piece at Lob, and the other way round' \
	"$(sql "select count(*) from outbox where state = 'sent' and campaign = 'bulk'")" "$first"
is 'hold: no held row counts as claimed (the next run does not ask Lob first)' \
	"$(sql "select count(*) from outbox where state = 'held' and claims > 0")" 0
run fs-push mail </dev/null
is 'hold: cap7, capped the day before, went with that run' "$(at_lob cap7)/$(sql "select state from outbox where event_id = 'cap7'")" 1/sent
is 'hold: a run during the hold sends nothing' "$(at_lob bulk)" "$first"
fs-watchdog ack 2 --by ops >/dev/null
run fs-push mail </dev/null
is 'hold: after ack, exactly the held rows go' "$status/$(results | grep -c ' sent$')" "0/$held"
is 'hold: 200 pieces, each made once' "$(once_each bulk)" 200/0
is 'hold: no GET before a create for the rows held' "$(grep -c '"method": *"GET"' "$T/lob.log")" 0
lob_admin POST /__admin/latency '{"ms":0}' >/dev/null

# ---- Ctrl-C in the middle of a run. ----
lob_admin POST /__admin/reset >/dev/null
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
lob_admin POST /__admin/latency '{"ms":25}' >/dev/null
i=0
while [ $i -lt 60 ]; do i=$((i + 1)); req int$i $((3000 + i)) bulk; done >int.ndjson
fs-push --parallel 1 mail <int.ndjson >int.out 2>int.err &
pid=$!
wait_for 'ten pieces at Lob' sh -c "[ \$(curl -s '$LOB_ROOT/__admin/pieces' | jq .count) -ge 10 ]"
kill -INT $pid
wait $pid
st=$?
sent=$(at_lob)
left=$(sql "select count(*) from outbox where state = 'pending' and campaign = 'bulk'")
is 'SIGINT: exit 130, what was sent and what is left, how to hold it' "$st/$(cat int.err)" \
	"130/fs-push: mail: interrupted (SIGINT): the requests in flight were finished and recorded ($sent sent); $left rows are left pending, sent by the next run; to stop that, first: fs-watchdog hold target mail --by NAME"
is 'SIGINT: nothing lost, every piece at Lob recorded' "$((sent + left))/$(sql "select count(*) from outbox where state = 'sent' and event_id like 'int%'")" "60/$sent"
is 'SIGINT: no row left claimed' "$(sql "select count(*) from outbox where claimed_by is not null")" 0
run fs-push mail </dev/null
is 'SIGINT: the next run sends the rest, each once' "$status/$(results | grep -c ' sent$')/$(once_each)" "0/$left/60/0"
lob_admin POST /__admin/latency '{"ms":0}' >/dev/null

# ---- send_delay: cancellable at Lob for an hour. ----
lob_admin POST /__admin/reset >/dev/null
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
{ req rv1 401 review; req rv2 402 review; req rv3 403 review; } >rv.ndjson
run fs-push --parallel 1 mail <rv.ndjson
v() { sql "select vendor_id from pieces where event_id = '$1'"; }
is 'send_delay: Lob is asked for a send date an hour ahead' \
	"$(lob_admin GET /__admin/pieces | jq -r '.data[] | .send_date' | sort -u)/$(sql "select distinct send_date from pieces where campaign = 'review'")" \
	'2026-12-01T16:00:00.000Z/2026-12-01T16:00:00Z'
run fs-push cancel "$(v rv1)"
is 'cancel inside the delay: exit 0, said on stdout' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"0/cancelled $(v rv1) (contact 401, campaign review)/"
is 'cancel: the piece is cancelled at Lob and here' \
	"$(lob_admin GET "/__admin/pieces" | jq -r ".data[] | select(.id == \"$(v rv1)\") | .deleted")/$(sql "select status from pieces where event_id = 'rv1'")" \
	'true/cancelled'
is 'cancel: a send.cancel changelog row with the price' \
	"$(sql "select json_extract(detail, '$.vendor_id') = '$(v rv1)', json_extract(detail, '$.price') from changelog where kind = 'send.cancel'")" \
	'1|0.65'
lob_admin POST /__admin/clock '{"now":"2026-12-01T16:00:00Z","frozen":true}' >/dev/null
run fs-push cancel "$(v rv2)"
is 'cancel at the send date: exit 1, it could not be cancelled any more' "$status/$(cat "$T/out")/$(sed 's/: HTTP 422: .*(/: HTTP 422 (/' "$T/err")" \
	"1//fs-push: cancel: could not cancel $(v rv2): HTTP 422 (past its send date: it is being printed or mailed)"
is 'cancel refused: the piece stays as it was' "$(sql "select status from pieces where event_id = 'rv2'")" queued
run fs-push cancel "$(v rv1)"
is 'cancel twice: exit 1, cancelled already' "$status/$(cat "$T/err")" "1/fs-push: cancel: $(v rv1) is cancelled already"
run fs-push cancel psc_nosuchpiece0000000
is 'cancel an unknown piece: exit 2' "$status/$(cat "$T/err")" '2/fs-push: cancel: no piece psc_nosuchpiece0000000 in the state file'
# A whole campaign: its rows not sent yet are withdrawn, its pieces inside the delay cancelled.
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
fs-watchdog hold campaign review --by ops >/dev/null
req rv4 404 review | fs-push mail >/dev/null 2>&1
run fs-push cancel --campaign review --since 2026-12-01
is 'cancel --campaign: the held row withdrawn, the pieces still cancellable cancelled' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"0/withdrew 1 row not sent yet
cancelled $(v rv2) (contact 402, campaign review)
cancelled $(v rv3) (contact 403, campaign review)/"
is 'cancel --campaign: the withdrawn row is cancelled, with its reason' \
	"$(sql "select state, reason from outbox where event_id = 'rv4'")" 'cancelled|withdrawn by fs-push cancel'
fs-watchdog ack 3 --by ops >/dev/null
run fs-push mail </dev/null
is 'cancel --campaign: lifting the hold sends nothing withdrawn' "$status/$(results)/$(lob_pieces | wc -l)" 0//3

# ---- Re-entry: after the enrolment, not before its reentry. ----
lob_admin POST /__admin/reset >/dev/null
export FS_NOW=2026-12-01T15:00:00Z
req ag1 501 again | fs-push mail >/dev/null 2>&1
export FS_NOW=2027-01-10T15:00:00Z
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
req ag2 501 again | fs-push mail >"$T/out" 2>&1
is 'reentry 60d: 40 days later, past active, not yet again' \
	"$(grep '"type":"result"' "$T/out" | jq -r '[.status, .reason] | join(" ")')" \
	'suppressed entered campaign "again" at 2026-12-01T15:00:00Z (ag1): no re-entry yet'
export FS_NOW=2027-02-01T15:00:00Z
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
req ag3 501 again | fs-push mail >"$T/out" 2>&1
is 'reentry 60d: 62 days later, enters again' "$(results)" 'ag3 sent'
export FS_NOW=2026-12-01T15:00:00Z
req on1 601 once | fs-push mail >/dev/null 2>&1
export FS_NOW=2028-01-01T15:00:00Z
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
req on2 601 once | fs-push mail >"$T/out" 2>&1
is 'reentry never (the default): a year later, still not' "$(results)" 'on2 suppressed'

# ---- A job campaign: one piece per job, three jobs of one contact. ----
job() { req "$1" 701 per-job | sed "s/\"contact_id\":\"701\"/\"contact_id\":\"701\",\"job_id\":\"$2\"/"; }
{ job pj1 J1; job pj2 J2; job pj3 J3; job pj4 J1; } >jobs.ndjson
run fs-push --parallel 1 mail <jobs.ndjson
is 'per job: three jobs, three pieces; the same job again, none' "$(results)" 'pj1 sent
pj2 sent
pj3 sent
pj4 suppressed'
is 'per job: enrolled per job' "$(sql "select subject from active_enrolments where goal = 'per-job' order by subject" | tr '\n' ' ')" \
	'job:J1 job:J2 job:J3 '

# ---- The preview is what the run then does. ----
lob_admin POST /__admin/reset >/dev/null
export FS_NOW=2028-02-01T15:00:00Z
lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
fs-suppress add --contact 802 --reason 'moved away' >/dev/null
{
	for i in 1 2 3 4 5; do req pv$i 80$i thanks; done
	req pv6 801 bulk
	req pv7 801 bulk
} >pv.ndjson
run fs-push --dry-run --format csv mail <pv.ndjson
tr -d '\r' <"$T/out" >preview.csv
is 'preview: exit 0, nothing sent or kept' \
	"$status/$(at_lob)/$(sql "select count(*) from outbox where event_id like 'pv%'")" 0/0/0
is 'preview: every row with its status, price and reason; the total' "$(cat preview.csv)" \
'status,event_id,contact_id,name,address,campaign,format,price,reason
send,pv1,801,Ann Lee,"1 Main St, Austin TX 78701",thanks,postcard,0.65,
suppressed,pv2,802,Ann Lee,"1 Main St, Austin TX 78701",thanks,postcard,0.65,the contact is on the do-not-mail list: moved away
send,pv3,803,Ann Lee,"1 Main St, Austin TX 78701",thanks,postcard,0.65,
send,pv4,804,Ann Lee,"1 Main St, Austin TX 78701",thanks,postcard,0.65,
capped,pv5,805,Ann Lee,"1 Main St, Austin TX 78701",thanks,postcard,0.65,cap: 3/day for campaign thanks
send,pv6,801,Ann Lee,"1 Main St, Austin TX 78701",bulk,postcard,0.65,
suppressed,pv7,801,Ann Lee,"1 Main St, Austin TX 78701",bulk,postcard,0.65,"entered campaign ""bulk"" at 2028-02-01T15:00:00Z (pv6): no re-entry yet"
total,,,,,,,2.60,4 pieces would be sent'
run fs-push --parallel 1 mail <pv.ndjson
is 'preview: the real run does what it said, row for row' \
	"$(results | sed 's/ sent$/ send/' | sort)" \
	"$(sed '1d;$d' preview.csv | awk -F, '{ print $2 " " $1 }' | sort)"
done_testing
