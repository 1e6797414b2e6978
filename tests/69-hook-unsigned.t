#!/bin/sh
# Requests to fs-hook that carry no signature (uptime probes, scanners, a
# proxy that strips the vendor's headers) are no deliveries: they neither
# count as failed deliveries nor break a streak of good ones, write nothing
# to the state file, and are counted apart (STATE-hook), shown by fs-health;
# a flood of them, and the vendor's events arriving without their headers,
# are WARNINGs of their own.  A request that carries the signature headers
# and fails verification is still a failed delivery.
. "$(dirname "$0")/lib.sh"
plan 30
sign="$top/tests/fixtures/hook-sign.py"
export LOB_WEBHOOK_SECRET=lob-secret HUBSPOT_APP_SECRET=hs-secret
cat >fieldsync.conf <<'EOF'
[source "lob-events"]
secret_env = LOB_WEBHOOK_SECRET

[source "hubspot"]
secret_env = HUBSPOT_APP_SECRET

[thresholds]
webhook_failures = 3
unsigned_max = 10
EOF
now_ms=1796000400000	# $FS_NOW

# hook [VAR=VALUE...] <BODY: one CGI request to lob-events; sets $code, $reply.
hook() {
	env REQUEST_METHOD=POST CONTENT_LENGTH="$(wc -c <body)" "$@" fs-hook lob-events <body >"$T/cgi" 2>"$T/err"
	status=$?
	code=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$T/cgi")
	reply=$(tail -n 1 "$T/cgi")
}
signed() {	# signed [SECRET]: a Lob delivery of ./body, signed now
	hook HTTP_LOB_SIGNATURE_TIMESTAMP=$now_ms HTTP_LOB_SIGNATURE="$("$sign" lob "${1:-lob-secret}" $now_ms <body)"
}
event() { printf '{"id":"%s","event_type":{"id":"postcard.in_transit"},"body":{"id":"psc_1"}}' "$1" >body; }
health() { run fs-health --format json; }
jf() { jq -r "$1" "$T/out"; }	# a field of the last fs-health --format json

# The attack the review reproduced: three empty unsigned POSTs.
: >body
for i in 1 2 3; do hook; done
is 'an unsigned POST: 401, exit 0, nothing on stderr' "$code/$status/$reply/$(cat "$T/err")" \
	'401/0/{"ok":false,"error":"missing Lob-Signature header"}/'
if on_pg; then
	is 'no state was made for them, only the counts in $TMPDIR' \
		"$(psql "$FS_STATE" -X -A -t -c "select count(*) from pg_tables where schemaname = 'public'") $(ls fieldsync-*)" \
		"0 fieldsync-hook.$fs_test_db@$(printf %s "$FS_TEST_PG" | tr / _):-"
else
	is 'no state file was made for them, only the counts beside it' "$(ls fieldsync.db*)" 'fieldsync.db-hook'
fi
fs-dlq count >/dev/null		# a state file, for fs-health to read
health
is 'three unsigned POSTs: OK, no failure counted, three unsigned requests' \
	"$status/$(jf '.status') $(jf '.sources[] | select(.name == "lob-events") | "\(.consecutive_failures) \(.unsigned_last_hour) \(.stripped)"')" \
	'0/OK 0 3 0'
run fs-watchdog
is 'and the watchdog opens nothing, switches nothing' "$status/$(cat "$T/err")/$(sql 'select count(*) from alerts')/$(sql 'select count(*) from source_modes')" \
	'0//0/0'

# A GET answers a health probe, from the configuration alone: no count, no state.
env REQUEST_METHOD=GET FS_STATE=/nonexistent/fieldsync.db fs-hook lob-events </dev/null >"$T/cgi" 2>"$T/err"
is 'GET: 200, the source named, even with no state file to be had' "$?/$(head -n 1 "$T/cgi" | tr -d '\r')/$(tail -n 1 "$T/cgi")/$(cat "$T/err")" \
	'0/Status: 200 OK/{"ok":true,"source":"lob-events"}/'
env REQUEST_METHOD=HEAD LOB_WEBHOOK_SECRET= fs-hook lob-events </dev/null >"$T/cgi"
is 'HEAD for a source whose secret is not set: 500, for the probe to see' "$(tail -n 1 "$T/cgi")" \
	'{"ok":false,"error":"signing secret not configured"}'
health
is 'and neither is counted' "$(jf '.sources[] | select(.name == "lob-events") | .unsigned_total')" 3
env REQUEST_METHOD=PUT fs-hook lob-events </dev/null >"$T/cgi"
is 'PUT without a signature: 405 with Allow, counted as unsigned' \
	"$(head -n 1 "$T/cgi" | tr -d '\r')/$(grep -c '^Allow: POST' "$T/cgi")" 'Status: 405 Method Not Allowed/1'
env REQUEST_METHOD=POST fs-hook nosuch </dev/null >"$T/cgi" 2>"$T/err"
is 'an unknown source: 404, exit 2, nothing on stderr' "$?/$(tail -n 1 "$T/cgi")/$(cat "$T/err")" \
	'2/{"ok":false,"error":"unknown source"}/'
: >body
hook CONTENT_LENGTH=55junk
is 'an unsigned request with a bad length: 400, counted, not logged' "$code/$reply" '400/{"ok":false,"error":"malformed Content-Length"}'
run fs-health
is 'fs-health: the source line and the unknown sources' "$(grep -e '^source lob-events' -e '^unknown' "$T/out")" \
	'source lob-events kind=lob-events mode=webhook last_event=- last_good=- failures=0 last_pull=- lag=- in_flight=0 unsigned=5 stripped=0
unknown_sources unsigned=1'
is 'none of them is in the request log' "$(sql 'select count(*) from requests')" 0

# A streak of good deliveries in polling mode: an unsigned request between
# them breaks nothing; three good ones end polling.
fs-health switch lob-events polling
event evt_1 && signed
: >body && hook
event evt_2 && signed
event evt_3 && signed
is 'good, unsigned, good, good: back to webhooks' \
	"$(sql "select mode from source_modes")/$(sql "select detail from changelog where kind = 'fallback.webhook'")" \
	'webhook/{"from":"polling","to":"webhook","why":"three good deliveries in a row"}'

# Signed and failing verification: a rotated secret, or a proxy mangling the
# request.  Still a failed delivery, and the alert says what failed.
for i in 4 5 6; do event evt_$i && signed old-secret; done
is 'a wrong signature: 401, logged' "$code/$reply/$(sql "select status, reason from requests order by id desc limit 1")" \
	'401/{"ok":false,"error":"bad signature"}/401|bad signature'
health
is 'three signature failures: CRITICAL' "$status/$(jf '.problems[0] | "\(.level) \(.rule) \(.text)"')" \
	'2/CRITICAL webhook 3 signature failures in a row'
run fs-watchdog
is 'the watchdog: one alert, saying so, and polling' "$(cat "$T/err")/$(sql "select mode from source_modes")" \
	"fs-watchdog: alert #1 opened: CRITICAL webhook lob-events: 3 signature failures in a row (switched to polling)/polling"
event evt_7 && hook HTTP_LOB_SIGNATURE_TIMESTAMP=$now_ms
is 'a signature timestamp with no signature is signed, and fails' "$code/$reply" '401/{"ok":false,"error":"missing Lob-Signature header"}'
health
is 'four failures in a row, all of them signatures' "$(jf '.sources[] | select(.name == "lob-events") | "\(.consecutive_failures) \(.signature_failures)"')" '4 4'
for i in 8 9 10; do event evt_$i && signed; done
run fs-watchdog
is 'good deliveries again: resolved, back to webhooks' "$(sql 'select state from alerts')/$(sql "select mode from source_modes")" 'resolved/webhook'

# Between the two: the vendor's event without its headers, as a proxy that
# strips them sends it.  No failure, no polling, no DLQ (nothing unsigned is
# stored): a WARNING once webhook_failures of them came since the last good one.
for i in 11 12; do event evt_$i && hook; done
health
is 'two stripped events: OK still' "$status/$(jf '.sources[] | select(.name == "lob-events") | "\(.stripped) \(.consecutive_failures)"')" '0/2 0'
event evt_13 && hook
health
is 'the third: WARNING stripped, exit 1, no failure' "$status/$(jf '.problems[] | "\(.level) \(.rule) \(.subject) \(.text)"')" \
	'1/WARNING stripped lob-events 3 deliveries without a Lob-Signature header since the last good one: a proxy stripping it, or a forgery'
run fs-watchdog
is 'the watchdog: a WARNING alert, no polling, no hold' \
	"$(cat "$T/err")/$(sql "select mode from source_modes")/$(sql 'select count(*) from holds')" \
	'fs-watchdog: alert #2 opened: WARNING stripped lob-events: 3 deliveries without a Lob-Signature header since the last good one: a proxy stripping it, or a forgery/webhook/0'
is 'nothing of them in the inbox, the DLQ or the request log' \
	"$(sql "select count(*) from inbox where delivery_id in ('evt_11', 'evt_12', 'evt_13')")/$(sql 'select count(*) from dlq')/$(sql 'select count(*) from requests where status = 401')" \
	'0/0/4'
event evt_13 && signed
health
run fs-watchdog
is 'the vendor retries it signed: stored, the count starts again, the alert resolves' \
	"$(sql "select count(*) from inbox where delivery_id = 'evt_13'")/$(jq -r '.sources[] | select(.name == "lob-events") | .stripped' "$T/out" 2>/dev/null; sql "select state from alerts where id = 2")" \
	'1/resolved'

# A flood: unsigned_max (10) in the last hour is a WARNING of its own.
: >body
hook
health
is 'the tenth unsigned request in the hour: WARNING probes' "$status/$(jf '.problems[] | "\(.level) \(.rule) \(.subject) \(.text)"')" \
	'1/WARNING probes lob-events 10 unsigned requests in the last hour (max 10): probes or a scan; rate-limit them at the web server'
run fs-watchdog
is 'the watchdog: a WARNING alert, nothing switched' "$(cat "$T/err")/$(sql "select mode from source_modes")" \
	'fs-watchdog: alert #3 opened: WARNING probes lob-events: 10 unsigned requests in the last hour (max 10): probes or a scan; rate-limit them at the web server/webhook'
FS_NOW=2026-11-30T02:01:00Z run fs-health --format json
is 'an hour later the flood is over' "$status/$(jf '.sources[] | select(.name == "lob-events") | "\(.unsigned_last_hour) \(.unsigned_total)"')" '0/0 10'
FS_NOW=2026-11-30T02:01:00Z fs-watchdog
is 'and its alert resolves' "$(sql 'select state from alerts where id = 3')" resolved

# Other schemes: HubSpot's v1 and v2 headers are signatures too (an app not
# yet on v3): a failed delivery, not a probe.
printf '[{"eventId":1,"subscriptionType":"contact.creation","objectId":1}]' >body
env REQUEST_METHOD=POST CONTENT_LENGTH="$(wc -c <body)" HTTP_X_HUBSPOT_SIGNATURE=abc fs-hook hubspot <body >"$T/cgi"
is 'HubSpot v1 signature only: 401, logged as a failure' \
	"$(tail -n 1 "$T/cgi")/$(sql "select status, reason from requests where source = 'hubspot'")" \
	'{"ok":false,"error":"missing X-HubSpot-Signature-v3 header"}/401|missing X-HubSpot-Signature-v3 header'
env REQUEST_METHOD=POST CONTENT_LENGTH="$(wc -c <body)" fs-hook hubspot <body >/dev/null
health
is 'HubSpot events without any header: stripped, counted' \
	"$(jf '.sources[] | select(.name == "hubspot") | "\(.unsigned_total) \(.stripped) \(.consecutive_failures)"')" '1 1 1'
done_testing
