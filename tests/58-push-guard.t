#!/bin/sh
# fs-push: one active enrolment per contact and goal, taken with the outbox
# row in one transaction (the pipelines that run at once are tests/57's).
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 13
export LOB_API_KEY=sk_test_s3cret
start_lob
lob_conf
cat >>fieldsync.conf <<'EOF'
[campaign "thank-you"]
goal   = retention
active = 30d

[campaign "win-back"]
goal   = retention
active = 7d

[campaign "review"]
goal   = reviews
EOF
fs-dlq count >/dev/null
# req ID CONTACT CAMPAIGN [GOAL]: a mail request (fs-normalize writes its campaign's goal).
req() { mreq "$1" "$2" postcard "$3" | sed "s/\"goal\":\"retention\"/\"goal\":\"${4:-retention}\"/"; }
results() { grep '"type":"result"' "$T/out" | sed 's/.*"event_id":"\([^"]*\)".*"status":"\([a-z]*\)".*/\1 \2/'; }

{ req m1 101 thank-you; req m2 101 win-back; req m3 101 review reviews; req m4 102 win-back; } >camp1
run fs-push --parallel 1 mail <camp1
is 'the second request for one goal is suppressed: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is 'a suppressed result, the others sent' "$(results | sort)" 'm1 sent
m2 suppressed
m3 sent
m4 sent'
is 'no piece and no outbox row for it' "$(lob_pieces | cut -d' ' -f1 | tr '\n' ' ')/$(sql "select count(*) from outbox where event_id = 'm2'")" 'm1 m3 m4 /0'
is 'enrolments, final as they are taken' \
	"$(sql 'select contact_id, goal, campaign, event_id, started_at, active_until, final from enrolments order by id')" \
	'101|retention|thank-you|m1|2026-11-30T01:00:00Z|2026-12-30T01:00:00Z|1
101|reviews|review|m3|2026-11-30T01:00:00Z|2026-12-30T01:00:00Z|1
102|retention|win-back|m4|2026-11-30T01:00:00Z|2026-12-07T01:00:00Z|1'
is 'the changelog names the blocking enrolment' \
	"$(sql "select kind, event_id, object, detail from changelog where kind = 'dedupe.suppressed'")" \
	'dedupe.suppressed|m2|contact:101|{"blocked_by":"m1","campaign":"thank-you","goal":"retention","contact_id":"101","active_until":"2026-12-30T01:00:00Z","requested_campaign":"win-back"}'
is 'counted for fs-report' "$(sql "select day, n from dedupe_counts where what = 'campaign_guard'")" '2026-11-30|1'
run fs-push mail <camp1
is 'the same requests again (a re-run): nothing new, none suppressed twice' \
	"$status/$(results)/$(sql "select count(*) from changelog where kind = 'dedupe.suppressed'")" '0//1'

req m5 101 win-back >camp2
FS_NOW=2026-12-30T00:59:59Z run fs-push mail <camp2
is 'still blocked one second before the period ends' "$(results)" 'm5 suppressed'
FS_NOW=2026-12-30T01:00:00Z run fs-push mail <camp2
is 'free again once the active period is over' "$(results)" 'm5 sent'
req m6 102 thank-you >camp3
FS_NOW=2026-12-07T01:00:00Z run fs-push mail <camp3
is 'the blocking campaign'"'"'s own active period (7d) counts' "$(results)" 'm6 sent'
is 'the active enrolment is the latest' "$(sql "select event_id, active_until from active_enrolments where subject = '102'")" \
	'm6|2027-01-06T01:00:00Z'
req m9 104 unknown-campaign >camp5
run fs-push mail <camp5
is 'a campaign missing from the config is active 30 days' \
	"$(sql "select goal, active_until from enrolments where event_id = 'm9'")" 'retention|2026-12-30T01:00:00Z'

printf '[campaign "x"]\nactive = a month\n' >>fieldsync.conf
run fs-push mail </dev/null
is 'malformed campaign active: usage error' "$status/$(cat "$T/err")" \
	"2/fs-push: fieldsync.conf:18: active 'a month' is not a duration (90s, 15m, 24h, 3d, 2w)"
done_testing
