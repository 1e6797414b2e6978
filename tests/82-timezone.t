#!/bin/sh
# fs-report in the business's time zone ([thresholds] timezone): business
# days and SLA due dates on its calendar, days bucketed by its midnight, and
# every time printed with its offset (UTC keeps its Z).  The pieces come from
# fs-push's mail.status events; the follow-up SLA is 1 business day.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 20
export LOB_API_KEY=sk_test_tz FS_NOW=2026-03-12T00:00:00Z
start_lob
export LOB_WEBHOOK_SECRET=lob-secret
zone() {	# [ZONE]: the config, UTC when no zone is given
	lob_conf "price     = postcard 0.65
[source \"lob-events\"]
secret_env = LOB_WEBHOOK_SECRET
[thresholds]
follow_up_sla = 1bd
${1:+timezone = $1}"
}
at() { FS_NOW=$1 fs-push -q mail >/dev/null; }	# at TIME: fs-push takes the events on stdin then

# Phoenix (UTC-7, no DST).  psc_1 is delivered 2026-03-03T05:00Z: Monday
# 2 March, 22:00 there; nobody calls, so its 1 bd ran out on Tuesday 22:00.
# psc_2 is delivered on Friday 6 March, 18:00 there (Saturday 01:00 UTC) and
# called on Monday 9 March, 17:00 there (Tuesday 00:00 UTC): 0 business days
# in Phoenix, inside the SLA (due Monday 18:00); in UTC Saturday 01:00 + 1 bd
# is Monday 01:00, and the call is 1 business day later, a miss.  c9 is on
# the do-not-mail list: the piece asked for at psc_1's moment is suppressed.
zone
fs-dlq count >/dev/null
mstatus evt_q1 psc_1 c1 delivered 2026-03-03T05:00:00Z | at 2026-03-03T05:00:00Z
mstatus evt_q2 psc_2 c2 delivered 2026-03-07T01:00:00Z | at 2026-03-07T01:00:00Z
follow evt_f2 c2 2026-03-10T00:00:00Z | at 2026-03-10T00:00:00Z
fs-suppress add --contact c9 --reason moved >/dev/null
mreq evt_s9 c9 | at 2026-03-03T05:00:00Z
lob_hook 2026-03-03T05:10:00Z evt_lob_1	# a webhook request in the 05:00 UTC hour

week() { run fs-report "$@" --from 2026-03-02 --to 2026-03-08; }	# REPORT ARGS...: the week of 2 March
misses() {	# how many days the misses section has, then those with deliveries
	week sla --format csv --section misses
	tr -d '\r' <"$T/out" | sed 1d >"$T/days"
	wc -l <"$T/days"
	grep -v ',0,0,0,0$' "$T/days"
}
spend() { week outcomes --format json --section spend; jq -c 'select(.section) | [.day, .outcome, .pieces, .cost]' "$T/out"; }
hours() { week health --format json --section timeline; jq -c 'select(.section) | [.hour, .ok]' "$T/out"; }
stamps() {	# the header's times and keys, then each mail.status row's time and object
	week changelog --kind mail.status --format json
	jq -c 'select(.section != "kinds")
		| if .report then [.from, .to, .generated_at, (keys | join(","))] else [.at, .object] end' "$T/out"
}

week sla --format text --section followup
is 'UTC: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
out_is 'UTC: psc_2 took 1 business day and missed the SLA; the window in UTC' <<'EOT'
sla: Follow-up and vendor SLA, 2026-03-02 00:00 to 2026-03-09 00:00 UTC

Follow-up after delivery
BY        NAME    PIECES  FOLLOWED  MED D  P90 D  MED BD  P90 BD  MET  MISSED  OPEN  MET PCT
all       all          2         1    3.0    3.0       1       1    0       2     0      0.0
campaign  thanks       2         1    3.0    3.0       1       1    0       2     0      0.0
owner     (none)       2         1    3.0    3.0       1       1    0       2     0      0.0
  note: follow-up SLA: 1 business days after delivery; days are calendar days
EOT
is 'UTC: 7 days, delivery days are UTC days' "$(misses)" '7
2026-03-03,1,0,1,0
2026-03-07,1,0,1,0'
is 'UTC: the suppressed piece is spent on 3 March' "$(spend)" '["2026-03-03","suppressed",1,0.65]'
is 'UTC: times keep their Z, in the header and the rows' "$(stamps)" \
	'["2026-03-02T00:00:00Z","2026-03-09T00:00:00Z","2026-03-12T00:00:00Z","empty,from,generated_at,report,sections,title,to"]
["2026-03-03T05:00:00Z","mail:psc_1"]
["2026-03-07T01:00:00Z","mail:psc_2"]'
is 'UTC: the webhook timeline names UTC hours' "$(hours)" '["2026-03-03T05",1]'

zone America/Phoenix
week sla --format json --section followup
is 'Phoenix: psc_2 called 0 business days after delivery, inside the SLA' \
	"$(jq -c 'select(.section) | [.by, .name, .med_bd, .p90_bd, .met, .missed, .open]' "$T/out")" \
	'["all","all",0,0,1,1,0]
["campaign","thanks",0,0,1,1,0]
["owner","(none)",0,0,1,1,0]'
is 'Phoenix: 7 days, psc_1 delivered on 2 March, psc_2 on Friday 6 March' "$(misses)" '7
2026-03-02,1,0,1,0
2026-03-06,1,1,0,0'
is 'Phoenix: the suppressed piece is spent on 2 March' "$(spend)" '["2026-03-02","suppressed",1,0.65]'
is 'Phoenix: the spend note names the zone' "$(jq -r 'select(.report) | .sections[0].note' "$T/out")" \
	"days in America/Phoenix; cost at the target's price when the piece was queued (-: no price set); a cancelled piece was sent first, or withdrawn before it went"
is 'Phoenix: times with the offset, in the header and the rows; the same JSON keys' "$(stamps)" \
	'["2026-03-02T00:00:00-07:00","2026-03-09T00:00:00-07:00","2026-03-11T17:00:00-07:00","empty,from,generated_at,report,sections,title,to"]
["2026-03-02T22:00:00-07:00","mail:psc_1"]
["2026-03-06T18:00:00-07:00","mail:psc_2"]'
is 'Phoenix: the same hour by its first second in Phoenix' "$(hours)" '["2026-03-02T22:00:00-07:00",1]'

# Chicago, the week its clocks go forward (Sunday 8 March, 02:00 CST is
# 03:00 CDT: a 23-hour day).  psc_3 is delivered on Friday 6 March, 17:00
# CST, and called on Monday 9 March, 17:30 CDT (22:30 UTC): due Monday
# 17:00 CDT (22:00 UTC), missed by half an hour, 1 business day; on a
# 24-hour clock (UTC, or CST all week) it was due at 23:00 UTC and met.
# psc_4 is delivered on Saturday 7 March, 23:30 CST (05:30 UTC on the 8th),
# psc_5 on Monday 9 March, 00:30 CDT (05:30 UTC): the 8th is 23 hours long,
# so psc_5 is the 9th's, where midnight on the 8th plus 24 hours says the 8th.
export FS_STATE=$T/chicago.db
sla_week() {	# all pieces' median business days, met and missed; each delivery day's delivered/met
	run fs-report sla --from 2026-03-06 --to 2026-03-09 --format json
	jq -rs '(.[] | select(.section == "followup" and .by == "all") | "bd \(.med_bd), met \(.met), missed \(.missed)"),
		([.[] | select(.section == "misses") | "\(.day[5:]) \(.delivered)/\(.met)"] | join(", "))' "$T/out"
}
zone
fs-dlq count >/dev/null
mstatus evt_q3 psc_3 c3 delivered 2026-03-06T23:00:00Z | at 2026-03-06T23:00:00Z
mstatus evt_q4 psc_4 c4 delivered 2026-03-08T05:30:00Z | at 2026-03-08T05:30:00Z
mstatus evt_q5 psc_5 c5 delivered 2026-03-09T05:30:00Z | at 2026-03-09T05:30:00Z
follow evt_f3 c3 2026-03-09T22:30:00Z | at 2026-03-09T22:30:00Z
is 'UTC: psc_3 called 0 business days after delivery, met; deliveries on the 6th, 8th and 9th' "$(sla_week)" \
	'bd 0, met 1, missed 2
03-06 1/1, 03-07 0/0, 03-08 1/0, 03-09 1/0'

zone America/Chicago
is 'Chicago: psc_3 called 1 business day after delivery, missed; deliveries on the 6th, 7th and 9th' "$(sla_week)" \
	'bd 1, met 0, missed 3
03-06 1/0, 03-07 1/0, 03-08 0/0, 03-09 1/0'
run fs-report changelog --kind mail.status --from 2026-03-06 --to 2026-03-09 --format text
out_is 'Chicago: -06:00 before the change, -05:00 after, in the header and the rows' <<'EOT'
changelog: Audit trail, 2026-03-06 00:00 -06:00 to 2026-03-10 00:00 -05:00

Audit trail
AT                       KIND         OBJECT      EVENT ID  DETAIL
2026-03-06 17:00 -06:00  mail.status  mail:psc_3  evt_q3    {"status":"delivered","vendor_id":"psc_…
2026-03-07 23:30 -06:00  mail.status  mail:psc_4  evt_q4    {"status":"delivered","vendor_id":"psc_…
2026-03-09 00:30 -05:00  mail.status  mail:psc_5  evt_q5    {"status":"delivered","vendor_id":"psc_…

Rows per kind
KIND         ROWS
mail.status     3
EOT
run fs-report changelog --kind mail.status --from 2026-03-06 --to 2026-03-09 --format csv
is 'Chicago: CSV has the RFC 3339 time with its offset' "$(tr -d '\r' <"$T/out" | cut -d, -f1)" 'at
2026-03-06T17:00:00-06:00
2026-03-07T23:30:00-06:00
2026-03-09T00:30:00-05:00'
run fs-report changelog --kind mail.status --from 2026-03-06 --to 2026-03-09 --format excel-csv
is "Chicago: Excel's CSV has the local clock, which is what Excel can hold" \
	"$(tr -d '\r' <"$T/out" | sed 1d | cut -d, -f1)" '2026-03-06 17:00:00
2026-03-07 23:30:00
2026-03-09 00:30:00'
html_times() {	# DAYS: the dashboard's head, the time cells of those days, its footer's first words
	run fs-report changelog --kind mail.status --from 2026-03-06 --to 2026-03-09 --format html
	grep -o "<div class=\"meta\">[^<]*</div>\|<td>2026-03-0[$1] [^<]*</td>\|<footer>Times are [^;.]*" "$T/out"
}
is 'Chicago: the dashboard heads its window and its times with the offsets and names the zone' "$(html_times 79)" \
	'<div class="meta">2026-03-06 00:00 -06:00 to 2026-03-10 00:00 -05:00 &middot; generated 2026-03-11 19:00 -05:00</div>
<td>2026-03-07 23:30 -06:00</td>
<td>2026-03-09 00:30 -05:00</td>
<footer>Times are in America/Chicago, each with its offset from UTC'

zone
is 'UTC: the dashboard as it was' "$(html_times 89)" \
	'<div class="meta">2026-03-06 00:00 to 2026-03-10 00:00 UTC &middot; generated 2026-03-12 00:00 UTC</div>
<td>2026-03-08 05:30</td>
<td>2026-03-09 05:30</td>
<footer>Times are UTC'

# A zone this machine does not know: one line, exit 2, as fs-push says it.
zone Mars/Olympus
run fs-report sla
is 'an unknown zone: exit 2, one line' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"2//fs-report: [thresholds] timezone 'Mars/Olympus' is not a time zone this machine knows (/usr/share/zoneinfo)"
done_testing
