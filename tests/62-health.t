#!/bin/sh
# fs-health: the panel, thresholds, monitoring-plugin exit codes, formats, switch.
. "$(dirname "$0")/lib.sh"
plan 26
export LOB_WEBHOOK_SECRET=lob-secret

if on_pg; then
	# No state: the test's database is there, but empty (no schema).
	made() { state_made && echo made; }
	run fs-health
	is 'no state (an empty database): UNKNOWN, exit 3, why on the status line, no schema made' \
		"$status/$(cat "$T/out")/$(cat "$T/err")/$(made)" \
		"3/FIELDSYNC UNKNOWN - state '$FS_STATE' is empty: no fieldsync command has written to it yet//"
	run fs-health --format json
	is 'no state (an empty database), json: exit 3, why on stderr' "$status/$(cat "$T/out")/$(cat "$T/err")/$(made)" \
		"3//fs-health: state '$FS_STATE' is empty: no fieldsync command has written to it yet/"
else
	run fs-health
	is 'no state file: UNKNOWN, exit 3, why on the status line, no file made' \
		"$status/$(cat "$T/out")/$(cat "$T/err")/$(ls *.db* 2>/dev/null)" \
		"3/FIELDSYNC UNKNOWN - cannot open state '$T/fieldsync.db': No such file or directory//"
	run fs-health --format json
	is 'no state file, json: exit 3, why on stderr' "$status/$(cat "$T/out")/$(cat "$T/err")/$(ls *.db* 2>/dev/null)" \
		"3//fs-health: cannot open state '$T/fieldsync.db': No such file or directory/"
fi
fs-dlq count >/dev/null		# a new state file
run fs-health
is 'nothing configured, nothing used: OK, exit 0, performance data' "$status/$(cat "$T/out")" \
'0/FIELDSYNC OK - 0 sources, 0 targets, 0 dead letters | dlq=0;50;;0;
dlq 0 (max 50)'

cat >fieldsync.conf <<'EOF2'
[source "lob-events"]
secret_env = LOB_WEBHOOK_SECRET

[source "hubspot"]
interval = 5m

[target "mail"]
kind = lob

[thresholds]
webhook_failures = 3
no_ping = 15m
dlq_max = 2
EOF2
lob_hook 2026-11-30T00:40:00Z evt_1
lob_hook 2026-11-30T00:41:00Z evt_2 wrong
lob_hook 2026-11-30T00:42:00Z evt_3 wrong
run fs-health
is 'two failures in a row: still OK' "$status/$(head -n 1 "$T/out")" \
	'0/FIELDSYNC OK - 2 sources, 1 target, 0 dead letters | dlq=0;2;;0; lag_hubspot=U;600;;0; lag_lob-events=U;600;;0; retrying_mail=0;9;;0; held_mail=0;;;0;'
is 'the source line' "$(grep '^source lob-events' "$T/out")" \
	'source lob-events kind=lob-events mode=webhook last_event=2026-11-30T00:40:00Z last_good=2026-11-30T00:40:00Z failures=2 last_pull=- lag=- in_flight=0 unsigned=0 stripped=0'
lob_hook 2026-11-30T00:43:00Z evt_4 wrong
run fs-health
is 'three in a row: CRITICAL, exit 2, and they were signature failures' "$status/$(head -n 2 "$T/out")" \
'2/FIELDSYNC CRITICAL - webhook lob-events: 3 signature failures in a row | dlq=0;2;;0; lag_hubspot=U;600;;0; lag_lob-events=U;600;;0; retrying_mail=0;9;;0; held_mail=0;;;0;
CRITICAL webhook lob-events: 3 signature failures in a row'
lob_hook 2026-11-30T00:44:00Z evt_5
run fs-health
is 'one good delivery resets the count' "$status/$(grep -o 'failures=[0-9]*' "$T/out" | head -n 1)" '0/failures=0'

# Sync lag: a source pulled at least once, more than two intervals ago.
sql "insert into cursors values ('hubspot', 'contacts', '2026-11-30T00:40:00Z', 'run_x', '2026-11-30T00:49:00Z')"
run fs-health
is 'lag of 11m with a 5m interval: WARNING, exit 1' "$status/$(sed -n 2p "$T/out")" \
	'1/WARNING sync_lag hubspot: no committed pull for 11m (interval 5m)'
FS_NOW=2026-11-30T00:55:00Z run fs-health
is 'within two intervals: OK' "$status" 0

# Silence: no event for no_ping while lob pieces are in flight.
sql "insert into pieces (vendor_id, event_id, target, contact_id, status, queued_at, updated_at)
     values ('psc_1', 'evt_p1', 'mail', '1001', 'queued', '2026-11-30T00:30:00Z', '2026-11-30T00:30:00Z'),
            ('psc_2', 'evt_p2', 'mail', '1002', 'delivered', '2026-11-30T00:20:00Z', '2026-11-30T00:20:00Z')"
FS_NOW=2026-11-30T00:58:00Z run fs-health
is '14 minutes silent: OK' "$status/$(grep '^source lob-events' "$T/out" | grep -o 'in_flight=[0-9]*')" '0/in_flight=1'
FS_NOW=2026-11-30T00:59:00Z run fs-health
is '15 minutes silent with a piece in flight: CRITICAL' "$status/$(sed -n 2p "$T/out")" \
	'2/CRITICAL webhook lob-events: no event for 15m with 1 piece in flight'
sql "update pieces set status = 'delivered' where vendor_id = 'psc_1'"
FS_NOW=2026-11-30T00:59:00Z run fs-health
is 'silence with nothing in flight is fine' "$status" 0

# Targets: retries, backoff, held and dead deliveries.
sql "insert into outbox (target, event_id, kind, line, state, attempts, next_attempt_at, requested_at, first_attempt_at, last_error, done_at, enqueued_at)
     values ('mail', 'e1', 'mail.requested', '{}', 'sent', 1, null, '2026-11-30T00:10:00Z', '2026-11-30T00:10:00Z', null, '2026-11-30T00:10:01Z', '2026-11-30T00:10:00Z'),
            ('mail', 'e2', 'mail.requested', '{}', 'pending', 2, '2026-11-30T01:05:00Z', '2026-11-30T00:20:00Z', '2026-11-30T00:20:00Z', 'HTTP 503', null, '2026-11-30T00:20:00Z'),
            ('mail', 'e3', 'mail.requested', '{}', 'pending', 1, '2026-11-30T01:02:00Z', '2026-11-30T00:21:00Z', '2026-11-30T00:21:00Z', 'HTTP 500', null, '2026-11-30T00:21:00Z'),
            ('mail', 'e4', 'mail.requested', '{}', 'dead', 8, null, '2026-11-29T00:00:00Z', '2026-11-29T00:00:00Z', 'HTTP 422', '2026-11-29T12:00:00Z', '2026-11-29T00:00:00Z'),
            ('mail', 'e5', 'mail.requested', '{}', 'held', 0, null, '2026-11-30T00:50:00Z', null, null, null, '2026-11-30T00:50:00Z')"
FS_NOW=2026-11-30T00:59:00Z run fs-health
is 'the target line: last sent, retries, next attempt, held, dead' "$(grep '^target' "$T/out")" \
	'target mail kind=lob last_sent=2026-11-30T00:10:01Z retrying=2 next_attempt=2026-11-30T01:02:00Z held=1 dead=1 hold=-'

# DLQ above dlq_max.
printf 'a\nb\nc\n' | fs-normalize 2>/dev/null
FS_NOW=2026-11-30T00:59:00Z run fs-health
is 'three dead letters with dlq_max 2: WARNING' "$status/$(sed -n 2p "$T/out")/$(tail -n 1 "$T/out")" \
	'1/WARNING dlq dlq: 3 dead letters (max 2)/dlq 3 (max 2)'
is 'the status line: problems, then performance data with the rules'"'"' thresholds' "$(head -n 1 "$T/out")" \
	'FIELDSYNC WARNING - dlq dlq: 3 dead letters (max 2) | dlq=3;2;;0; lag_hubspot=600s;600;;0; lag_lob-events=U;600;;0; retrying_mail=2;9;;0; held_mail=1;;;0;'
cat >quoted.conf <<'EOF2'
[source "Bob's CRM"]
kind = csv
interval = 1m
[source "a=b"]
kind = csv
[target "mail"]
kind = lob
[thresholds]
retry_storm = 0
EOF2
FS_NOW=2026-11-30T00:59:00Z run fs-health -c quoted.conf
is 'performance data: labels with a space, a quote or = quoted, quotes doubled; no retry_storm, no threshold' \
	"$(head -n 1 "$T/out" | sed 's/.* | //')" \
	"dlq=3;50;;0; 'lag_Bob''s CRM'=U;120;;0; 'lag_a=b'=U;600;;0; lag_hubspot=600s;600;;0; lag_lob-events=U;600;;0; retrying_mail=2;;;0; held_mail=1;;;0;"

FS_NOW=2026-11-30T00:59:00Z run fs-health --format json
is 'json: status, problems, sources, targets' "$status/$(jq -c '[.status, .code, .at, (.problems | map(.rule)), (.sources | map(.name)), .targets[0].retrying, .targets[0].last_error, .dlq]' "$T/out")" \
	'1/["WARNING",1,"2026-11-30T00:59:00Z",["dlq"],["hubspot","lob-events"],2,"HTTP 500",3]'
FS_NOW=2026-11-30T00:59:00Z run fs-health --format prom
is 'prom: exposition format' "$status/$(grep -v '^#' "$T/out")" \
'1/fieldsync_health_status 1
fieldsync_dlq_open 3
fieldsync_source_consecutive_failures{source="hubspot"} 0
fieldsync_source_consecutive_failures{source="lob-events"} 0
fieldsync_source_unsigned_requests_total{source="hubspot"} 0
fieldsync_source_unsigned_requests_total{source="lob-events"} 0
fieldsync_source_stripped_deliveries{source="hubspot"} 0
fieldsync_source_stripped_deliveries{source="lob-events"} 0
fieldsync_source_polling{source="hubspot"} 0
fieldsync_source_polling{source="lob-events"} 0
fieldsync_source_last_event_timestamp_seconds{source="lob-events"} 1795999440
fieldsync_source_sync_lag_seconds{source="hubspot"} 600
fieldsync_target_retrying{target="mail"} 2
fieldsync_target_held{target="mail"} 1
fieldsync_target_dead{target="mail"} 1
fieldsync_target_on_hold{target="mail"} 0
fieldsync_target_last_sent_timestamp_seconds{target="mail"} 1795997401
fieldsync_target_next_attempt_timestamp_seconds{target="mail"} 1796000520'
is 'prom: every metric has HELP and TYPE' \
	"$(grep -c '^# HELP fieldsync_' "$T/out")/$(grep -c '^# TYPE fieldsync_.* gauge$' "$T/out")/$(grep -c '^# TYPE fieldsync_.*_total counter$' "$T/out")" \
	14/13/1

# A built-in kind that the state file has used is listed without a section.
sql "insert into cursors values ('csv', '', 'x', 'run_y', '2026-11-30T00:58:00Z')"
FS_NOW=2026-11-30T00:59:00Z run fs-health
is 'a used built-in kind is listed; unknown names are not' "$(grep -c '^source csv ' "$T/out")/$(grep -c '^source -' "$T/out")" 1/0

# switch
run fs-health switch lob-events polling
is 'switch to polling: exit 0, silent' "$status/$(cat "$T/err")" "0/"
is 'switch: logged to the changelog' "$(sql "select kind, object, detail from changelog where kind like 'fallback.%'")" \
	'fallback.polling|lob-events|{"from":"webhook","to":"polling","why":"fs-health switch"}'
FS_NOW=2026-11-30T00:59:00Z run fs-health
is 'the panel shows the mode' "$(grep -o '^source lob-events kind=lob-events mode=[a-z]*' "$T/out")" 'source lob-events kind=lob-events mode=polling'
run fs-health switch lob-events sideways
is 'switch to a bad mode: UNKNOWN (3)' "$status/$(cat "$T/err")" "3/fs-health: switch: mode must be polling or webhook, not 'sideways'"
run fs-health switch nosuch polling
is 'switch an unknown source: 3' "$status/$(cat "$T/err")" \
	"3/fs-health: unknown source 'nosuch': no [source \"nosuch\"] section and no built-in kind of that name"
run fs-health --format xml
is 'a bad --format: 3' "$status/$(cat "$T/err")" "3/fs-health: --format must be text, json or prom, not 'xml'"
done_testing
