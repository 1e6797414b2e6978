#!/bin/sh
# fs-watchdog: rules, one alert per incident, notifications with backoff,
# the switch to polling, holds and acknowledgement, the follow-up SLA.
. "$(dirname "$0")/lib.sh"
plan 50
export LOB_WEBHOOK_SECRET=lob-secret
cat >fieldsync.conf <<'EOF2'
[source "lob-events"]
secret_env = LOB_WEBHOOK_SECRET

[target "mail"]
kind = lob

[thresholds]
webhook_failures = 3
no_ping = 15m
dlq_max = 2
retry_storm = 2
follow_up_sla = 3bd
holidays = 2026-12-25, 2027-01-01

[alert]
command = cat >>"$FS_TEST_DIR/alerts.ndjson"; echo "$FS_ALERT_ID $FS_ALERT_RULE $FS_ALERT_OWNER" >>"$FS_TEST_DIR/env.txt"
EOF2
export FS_TEST_DIR="$T"

# Three failed deliveries in a row: one alert, the switch to polling, one notification.
lob_hook 2026-11-30T00:50:00Z evt_1 bad
lob_hook 2026-11-30T00:51:00Z evt_2 bad
lob_hook 2026-11-30T00:52:00Z evt_3 bad
run fs-watchdog --dry-run
is 'dry run says what it would do' "$status/$(cat "$T/out")" \
	'0/would open alert: CRITICAL webhook lob-events: 3 signature failures in a row; switch lob-events to polling'
is 'and does nothing' "$(sql 'select count(*) from alerts')/$(sql 'select count(*) from changelog')" 0/0
run fs-watchdog -n
is '-n is --dry-run' "$status/$(cat "$T/out")/$(sql 'select count(*) from alerts')" \
	'0/would open alert: CRITICAL webhook lob-events: 3 signature failures in a row; switch lob-events to polling/0'
run fs-watchdog -h
is '-h: the usage names -n' "$status/$(head -n 1 "$T/out")" '0/usage: fs-watchdog [-nqvV] [-c config] [-s state]'
if command -v mandoc >/dev/null; then
	is 'the SYNOPSIS names -n' "$(mandoc -Tascii "$top/man/fs-watchdog.1" | sed 's/.\x08//g' | sed -n '/^SYNOPSIS/{n;p;}' | sed 's/^ *//')" \
		'fs-watchdog [-nqvV] [-c config] [-s state]'
else
	skip 'no mandoc to typeset the SYNOPSIS'
fi
run fs-watchdog
is 'three failures: alert opened, exit 0' "$status/$(cat "$T/err")" \
	'0/fs-watchdog: alert #1 opened: CRITICAL webhook lob-events: 3 signature failures in a row (switched to polling)'
is 'the alert row' "$(sql "select id, rule, subject, state, opened_at, last_notified_at, notify_count from alerts")" \
	'1|webhook|lob-events|open|2026-11-30T01:00:00Z|2026-11-30T01:00:00Z|1'
is 'the source is in polling mode' "$(sql "select mode from source_modes where source = 'lob-events'")" polling
is 'the changelog: open, fallback (same incident), notify' "$(sql "select kind, object, detail from changelog order by id")" \
'alert.open|alert:1|{"level":"CRITICAL","text":"3 signature failures in a row","alert_id":1,"rule":"webhook","subject":"lob-events"}
fallback.polling|lob-events|{"from":"webhook","to":"polling","why":"alert #1: 3 signature failures in a row"}
alert.notify|alert:1|{"alert_id":1,"channels":["command"]}'
is 'the alert command got the alert as JSON on stdin' "$(cat alerts.ndjson)" \
	'{"id":1,"rule":"webhook","subject":"lob-events","level":"CRITICAL","summary":"3 signature failures in a row","state":"open","opened_at":"2026-11-30T01:00:00Z","notify_count":1,"holds":[],"detail":{"level":"CRITICAL","text":"3 signature failures in a row"}}'
is 'and FS_ALERT_* in its environment' "$(cat env.txt)" '1 webhook '

# Still failing: no second alert, re-notification no sooner than an hour, then backoff.
lob_hook 2026-11-30T01:10:00Z evt_4 bad
for t in 2026-11-30T01:30:00Z 2026-11-30T02:00:00Z 2026-11-30T02:30:00Z 2026-11-30T03:59:00Z 2026-11-30T04:00:00Z; do
	FS_NOW=$t fs-watchdog 2>/dev/null
done
is 'one alert; notified at 1h, then 2h later' "$(sql 'select count(*) from alerts')/$(jq -r .notify_count alerts.ndjson | tr '\n' ' ')" '1/1 2 3 '
is 'each notification has a changelog row' "$(sql "select count(*) from changelog where kind = 'alert.notify'")" 3

# Good deliveries: back to webhooks after three in a row; the alert resolves.
for i in 5 6 7; do lob_hook 2026-11-30T04:0$i:00Z evt_$i; done
FS_NOW=2026-11-30T04:10:00Z run fs-watchdog -v
is 'the incident resolves when the condition clears (-v says so)' "$(cat "$T/err")/$(sql 'select state, resolved_at from alerts')" \
	'fs-watchdog: alert #1 resolved/resolved|2026-11-30T04:10:00Z'
is 'the source went back to webhooks by itself' "$(sql "select detail from changelog where kind = 'fallback.webhook'")" \
	'{"from":"polling","to":"webhook","why":"three good deliveries in a row"}'

# Silence: 15 minutes without an event while a lob piece is in flight.
sql "insert into pieces (vendor_id, event_id, target, contact_id, status, queued_at, updated_at)
     values ('psc_9', 'evt_p9', 'mail', '1009', 'queued', '2026-11-30T04:20:00Z', '2026-11-30T04:20:00Z')"
FS_NOW=2026-11-30T04:34:00Z fs-watchdog 2>/dev/null
is '14 minutes: nothing' "$(sql "select count(*) from alerts where state = 'open'")" 0
FS_NOW=2026-11-30T04:35:00Z run fs-watchdog
is '15 silent minutes: alert and polling' "$(cat "$T/err")/$(sql "select mode from source_modes")" \
	'fs-watchdog: alert #2 opened: CRITICAL webhook lob-events: no event for 15m with 1 piece in flight (switched to polling)/polling'
sql "delete from pieces"

# A retry storm holds the target; ack lifts it.
sql "insert into outbox (target, event_id, kind, line, state, attempts, next_attempt_at, requested_at, enqueued_at)
     values ('mail', 'e1', 'mail.requested', '{}', 'pending', 3, '2026-11-30T05:10:00Z', '2026-11-30T04:00:00Z', '2026-11-30T04:00:00Z'),
            ('mail', 'e2', 'mail.requested', '{}', 'pending', 2, '2026-11-30T05:20:00Z', '2026-11-30T04:00:00Z', '2026-11-30T04:00:00Z'),
            ('mail', 'e3', 'mail.requested', '{}', 'held', 0, null, '2026-11-30T04:00:00Z', '2026-11-30T04:00:00Z')"
FS_NOW=2026-11-30T05:00:00Z run fs-watchdog
is 'retry storm: alert and hold on stderr (a resolved one only with -v)' "$(cat "$T/err")" \
"fs-watchdog: alert #3 opened: WARNING retry_storm mail: retry storm: 2 deliveries retrying (max 2)
fs-watchdog: alert #3: target 'mail' is on hold until 'fs-watchdog ack 3 --by NAME'"
is 'the hold row' "$(sql "select scope, name, alert_id, since, lifted_at from holds")" 'target|mail|3|2026-11-30T05:00:00Z|'
is 'the notification names the hold' "$(tail -n 1 alerts.ndjson | jq -c .holds)" '[{"scope":"target","name":"mail"}]'
FS_NOW=2026-11-30T05:01:00Z run fs-health
is 'fs-health shows the hold' "$(grep '^target' "$T/out" | grep -o 'hold=.*')/$(grep -c '^WARNING hold mail: on hold by alert #3' "$T/out")" 'hold=alert#3/1'
# fs-push keeps the held target's rows 'held': they no longer retry, which
# hides the storm; the alert stays open while its hold is on.
sql "update outbox set state = 'held' where event_id in ('e1', 'e2')"
FS_NOW=2026-11-30T05:30:00Z run fs-watchdog
is 'held: the alert does not resolve by itself' "$status/$(cat "$T/err")/$(sql 'select state from alerts where id = 3')" '0//open'
run fs-watchdog ack 3
is 'ack without --by: exit 2' "$status/$(cat "$T/err")" '2/fs-watchdog: ack: say who acknowledges with --by NAME'
FS_NOW=2026-11-30T05:45:00Z run fs-watchdog ack 3 --by alice --note 'Lob status page: resolved'
is 'ack: exit 0, silent' "$status/$(cat "$T/err")" '0/'
sql "update outbox set state = 'pending' where event_id in ('e1', 'e2')"	# fs-push releases them
is 'the hold is lifted' "$(sql "select lifted_at from holds")" 2026-11-30T05:45:00Z
is 'the changelog: who, when, recovery time' "$(sql "select at, kind, object, detail from changelog where kind = 'alert.ack'")" \
	'2026-11-30T05:45:00Z|alert.ack|alert:3|{"alert_id":3,"by":"alice","note":"Lob status page: resolved","opened_at":"2026-11-30T05:00:00Z","recovery_s":2700,"holds_lifted":[{"scope":"target","name":"mail"}]}'
FS_NOW=2026-11-30T05:50:00Z fs-watchdog 2>/dev/null
is 'acknowledged, the storm does not reopen at once' "$(sql "select count(*) from alerts where rule = 'retry_storm'")/$(sql 'select count(*) from holds where lifted_at is null')" 1/0
run fs-watchdog ack 3 --by bob
is 'ack twice: exit 2, who did it first' "$status/$(cat "$T/err")" \
	'2/fs-watchdog: ack: alert #3 was already acknowledged by alice at 2026-11-30T05:45:00Z'
is 'ack twice: nothing recorded' "$(sql "select count(*) from changelog where kind = 'alert.ack'")/$(sql 'select acked_by from alerts where id = 3')" 1/alice
run fs-watchdog ack 99 --by bob
is 'ack of an unknown alert: exit 2' "$status/$(cat "$T/err")" '2/fs-watchdog: ack: no alert #99'
sql "update outbox set state = 'sent', attempts = 4, done_at = '2026-11-30T05:55:00Z' where state = 'pending'"
FS_NOW=2026-11-30T06:00:00Z fs-watchdog 2>/dev/null
is 'the storm over: the acknowledged alert resolves' "$(sql "select state, acked_by, resolved_at from alerts where id = 3")" \
	'resolved|alice|2026-11-30T06:00:00Z'

# DLQ above dlq_max holds every costly (lob) target fieldsync sends through,
# not "lob" seen only in imported pieces; a retry storm of CRM write-backs
# (cheap, reversible) alerts and holds nothing.
printf '[target "crm"]\nkind = hubspot\n' >>fieldsync.conf
sql "insert into pieces (vendor_id, event_id, target, contact_id, status, delivered_at, updated_at)
     values ('hist:1', 'hist:1', 'lob', '1005', 'delivered', '2026-11-20T10:00:00Z', '2026-11-20T10:00:00Z')"
sql "insert into outbox (target, event_id, kind, line, state, attempts, next_attempt_at, requested_at, enqueued_at)
     values ('crm', 'c1', 'mail.status', '{}', 'pending', 3, '2026-11-30T06:10:00Z', '2026-11-30T06:00:00Z', '2026-11-30T06:00:00Z'),
            ('crm', 'c2', 'mail.status', '{}', 'pending', 2, '2026-11-30T06:20:00Z', '2026-11-30T06:00:00Z', '2026-11-30T06:00:00Z')"
printf 'a\nb\nc\n' | fs-normalize 2>/dev/null
FS_NOW=2026-11-30T06:05:00Z run fs-watchdog --dry-run
is 'dry run: the same holds' "$(cat "$T/out")" \
	'would open alert: WARNING retry_storm crm: retry storm: 2 deliveries retrying (max 2)
would open alert: WARNING dlq dlq: 3 dead letters (max 2); hold target mail'
FS_NOW=2026-11-30T06:05:00Z run fs-watchdog
is 'crm storm and dlq: two alerts, one hold, on mail' "$(cat "$T/err")" \
"fs-watchdog: alert #4 opened: WARNING retry_storm crm: retry storm: 2 deliveries retrying (max 2)
fs-watchdog: alert #5 opened: WARNING dlq dlq: 3 dead letters (max 2)
fs-watchdog: alert #5: target 'mail' is on hold until 'fs-watchdog ack 5 --by NAME'"
is 'the holds: mail only' "$(sql "select a.rule, h.scope, h.name from alerts a join holds h on h.alert_id = a.id where h.lifted_at is null")" 'dlq|target|mail'
sql "delete from outbox where target = 'crm'"
FS_NOW=2026-11-30T06:10:00Z fs-dlq purge --older-than 1s 2>/dev/null
FS_NOW=2026-11-30T06:15:00Z run fs-watchdog
is 'the crm storm resolves; the dlq alert waits for its ack' "$(cat "$T/err")/$(sql 'select id, state from alerts where id >= 4 order by id')" \
	'/4|resolved
5|open'
# A state file from before that rule can hold a resolved alert's hold:
# the ack records who and when, lifts it, and says the alert had resolved.
sql "update alerts set state = 'resolved', resolved_at = '2026-11-30T06:15:00Z' where id = 5"
FS_NOW=2026-11-30T06:20:00Z run fs-watchdog -v ack 5 --by dave
is 'ack of a resolved alert: exit 0; -v says what it lifted' "$status/$(cat "$T/err")" \
	'0/fs-watchdog: alert #5 had already resolved at 2026-11-30T06:15:00Z; acknowledged by dave; hold lifted: target mail'
is 'ack of a resolved alert: recorded, hold lifted, still resolved' \
	"$(sql "select state, acked_by, acked_at from alerts where id = 5")/$(sql 'select count(*) from holds where lifted_at is null')/$(sql "select detail from changelog where kind = 'alert.ack' and object = 'alert:5'")" \
	'resolved|dave|2026-11-30T06:20:00Z/0/{"alert_id":5,"by":"dave","note":null,"opened_at":"2026-11-30T06:05:00Z","resolved_at":"2026-11-30T06:15:00Z","recovery_s":900,"holds_lifted":[{"scope":"target","name":"mail"}]}'

# The follow-up SLA: delivered on Thursday 2026-12-24; Friday is a holiday,
# then the weekend: 3 business days end on Wednesday 2026-12-30.
rm -f fieldsync.db* alerts.ndjson env.txt
fs-dlq count >/dev/null
sql "insert into contacts (id, version, owner, seen_at) values ('1001', 'v1', 'owner-7', 'x'), ('1002', 'v1', 'owner-8', 'x')"
sql "insert into pieces (vendor_id, event_id, target, contact_id, campaign, status, delivered_at, updated_at)
     values ('psc_a', 'evt_a', 'mail', '1001', 'thank-you', 'delivered', '2026-12-24T10:00:00Z', '2026-12-24T10:00:00Z'),
            ('psc_b', 'evt_b', 'mail', '1002', 'thank-you', 'delivered', '2026-12-24T10:00:00Z', '2026-12-24T10:00:00Z'),
            ('hist:1003/thank-you/2026-12-22', 'hist:1003/thank-you/2026-12-22', 'history', '1003', 'thank-you',
             'delivered', '2026-12-24T10:00:00Z', '2026-12-24T10:00:00Z'),
            ('psc_hand', 'evt_m_psc_hand', 'mail', '1004', null, 'delivered', '2026-12-24T10:00:00Z', '2026-12-24T10:00:00Z')"
# fieldsync sent psc_a and psc_b; the other two are imported history and a
# piece mailed by hand, which fieldsync owes no follow-up for.
sql "insert into outbox (target, event_id, kind, line, state, requested_at, enqueued_at)
     values ('mail', 'evt_a', 'mail.requested', '{}', 'sent', '2026-12-22T10:00:00Z', '2026-12-22T10:00:00Z'),
            ('mail', 'evt_b', 'mail.requested', '{}', 'sent', '2026-12-22T10:00:00Z', '2026-12-22T10:00:00Z')"
sql "insert into activities values ('act_1', '1002', 'call', 'owner-8', '2026-12-29T15:00:00Z')"
FS_NOW=2026-12-30T09:59:59Z fs-watchdog 2>/dev/null
is 'before the third business day ends: nothing' "$(sql 'select count(*) from alerts')" 0
FS_NOW=2026-12-30T10:00:00Z run fs-watchdog
is 'SLA missed: one alert, for the piece fieldsync sent without follow-up' "$(cat "$T/err")" \
	'fs-watchdog: alert #1 opened: WARNING follow_up psc_a: no follow-up of contact 1001 within 3bd of delivery (due 2026-12-30T10:00:00Z)'
is 'history and hand-mailed pieces: no alert' "$(sql "select count(*) from alerts where rule = 'follow_up'")" 1
is 'the alert goes to the contact owner' "$(jq -c '[.detail.owner, .detail.contact_id, .detail.campaign]' alerts.ndjson)/$(cat env.txt)" \
	'["owner-7","1001","thank-you"]/1 follow_up owner-7'
sql "insert into activities values ('act_2', '1001', 'email', 'owner-7', '2026-12-30T11:00:00Z')"
FS_NOW=2026-12-30T11:05:00Z fs-watchdog 2>/dev/null
is 'a follow-up, even late, resolves it' "$(sql 'select state from alerts')" resolved
FS_NOW=2026-12-30T11:10:00Z run fs-watchdog -v ack 1 --by carol
is 'ack after it resolved: exit 0, nothing to lift' "$status/$(cat "$T/err")/$(sql 'select state, acked_by from alerts')" \
	'0/fs-watchdog: alert #1 had already resolved at 2026-12-30T11:05:00Z; acknowledged by carol; no hold was left/resolved|carol'

# list
run fs-watchdog list
is 'list: NDJSON of open and recent alerts' "$(jq -c '[.id, .rule, .subject, .state, .level, .holds]' "$T/out")" '[1,"follow_up","psc_a","resolved","WARNING",[]]'
FS_NOW=2027-01-08T00:00:00Z run fs-watchdog list
is 'resolved alerts leave the list after 7 days' "$status/$(cat "$T/out")" '0/'

# Notification channels: the chat webhook through libcurl; failures are loud and retried.
rm -f fieldsync.db*
cat >chat.py <<'EOF2'
import http.server, os, sys
code = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open("chat.log", "ab") as f:
            f.write(body + b"\n")
        self.send_response(code); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open("chat.port.tmp", "w") as f: f.write("%d\n" % s.server_port)
os.rename("chat.port.tmp", "chat.port")
s.serve_forever()
EOF2
python3 chat.py 500 & chat_pid=$!
trap 'kill $chat_pid 2>/dev/null; rm -rf "$T"' EXIT
while [ ! -s chat.port ]; do sleep 0.05; done
export CHAT_WEBHOOK_URL="http://127.0.0.1:$(cat chat.port)/services/T000/B000/s3cr3t"
cat >fieldsync.conf <<'EOF2'
[thresholds]
dlq_max = 0
[alert]
webhook_env = CHAT_WEBHOOK_URL
EOF2
printf 'x\n' | fs-normalize 2>/dev/null
run fs-watchdog
is 'the chat webhook answers 500: exit 4, said on stderr' "$status/$(tail -n 1 "$T/err")" '4/fs-watchdog: alert #1: chat webhook: HTTP 500'
is 'the failure is in the changelog; the alert is not counted as notified' \
	"$(sql "select detail from changelog where kind = 'alert.notify_failed'")/$(sql 'select notify_count from alerts')" \
	'{"alert_id":1,"error":"chat webhook: HTTP 500"}/0'
kill $chat_pid; wait $chat_pid 2>/dev/null; rm -f chat.port chat.log
python3 chat.py 200 & chat_pid=$!
while [ ! -s chat.port ]; do sleep 0.05; done
export CHAT_WEBHOOK_URL="http://127.0.0.1:$(cat chat.port)/services/T000/B000/s3cr3t"
run fs-watchdog
is 'the next run retries it' "$status/$(sql 'select notify_count from alerts')/$(jq -r .text chat.log)" \
	'0/1/fieldsync alert #1 [WARNING] dlq dlq: 1 dead letters (max 0)'
is 'the webhook URL is never written anywhere' "$(state_dump | grep -c s3cr3t)$(cat "$T/err" | grep -c s3cr3t)" 00

# Cron-safety: a live run holding the lease makes another one step aside.
# (An upsert, which both engines take, for SQLite's INSERT OR REPLACE.)
sql "insert into leases (name, run_id, pid, host, taken_at, expires_at)
     values ('fs-watchdog', 'run_other', $$, '$(hostname)', '$FS_NOW', '2026-11-30T02:00:00Z')
     on conflict (name) do update set run_id = excluded.run_id, pid = excluded.pid, host = excluded.host,
     taken_at = excluded.taken_at, expires_at = excluded.expires_at"
run fs-watchdog
is 'another run at work: exit 0, said on stderr' "$status/$(cat "$T/err")" '0/fs-watchdog: another fs-watchdog run is at work; nothing to do'
done_testing
