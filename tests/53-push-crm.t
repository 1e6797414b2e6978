#!/bin/sh
# fs-push to HubSpot: mail status and follow-up dates through batch update.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 21
export HUBSPOT_TOKEN=pat-s3cret
start_hubspot --generate 3
hs_admin POST /__admin/rate '{"max":100000}' >/dev/null
cat >fieldsync.conf <<EOF2
[target "crm"]
kind      = hubspot
url       = $HS
token_env = HUBSPOT_TOKEN
retry     = 1s..1s x3
EOF2
fs-dlq count >/dev/null
sql "insert into pieces (vendor_id, event_id, target, contact_id, campaign, status, queued_at, updated_at)
     values ('psc_1', 'evt_m_psc_1', 'mail', '1001', 'thanks', 'queued', '2026-11-30T00:00:00Z', '2026-11-30T00:00:00Z')"
updates() { hs_admin GET /__admin/updates | python3 -c 'import json, sys
for u in json.load(sys.stdin)["updates"]:
    print(u["request"], u["id"], json.dumps(u["properties"], sort_keys=True))'; }
hs_requests() { hs_admin GET /__admin/requests | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))'; }

{
	mstatus evt_s1 psc_1 1001 sent 2026-11-30T00:30:00Z
	follow evt_f1 1002 2026-11-29T15:00:00Z
	echo '{"type":"event","id":"evt_v1","source":"hubspot","kind":"outcome.revenue","object":"deal:9","occurred_at":"2026-11-29T16:00:00Z","data":{"contact_id":"1003","deal_id":"9","amount":1200.5,"currency":"USD","at":"2026-11-29T16:00:00Z"}}'
	mstatus evt_s0 psc_1 1001 queued 2026-11-30T00:00:00Z
} >in.ndjson
run fs-push crm <in.ndjson
is 'CRM: exit 0' "$status" 0
err_is 'CRM: nothing on stderr' </dev/null
is 'CRM: a result per row, the contact as vendor id' "$(cat "$T/out")" \
	'{"type":"result","event_id":"evt_s1","target":"crm","status":"sent","vendor_id":"1001","http_status":200,"attempts":1}
{"type":"result","event_id":"evt_f1","target":"crm","status":"sent","vendor_id":"1002","http_status":200,"attempts":1}
{"type":"result","event_id":"evt_s0","target":"crm","status":"sent","vendor_id":"1001","http_status":200,"attempts":1}'
is 'CRM: one batch; a late "queued" does not undo "sent"' "$(updates)" \
	'1 1001 {"fieldsync_last_mail_sent": "2026-11-30", "fieldsync_mail_status": "Sent"}
1 1002 {"fieldsync_last_follow_up": "2026-11-29"}'
is 'CRM: the piece moved to sent, with its time' "$(sql "select status, mailed_at from pieces where vendor_id = 'psc_1'")" 'sent|2026-11-30T00:30:00Z'
is 'CRM: piece_status has both events' "$(sql "select group_concat(status) from (select status from piece_status where vendor_id = 'psc_1' order by at)")" 'queued,sent'
is 'CRM: the activity is recorded for fs-report' "$(sql 'select event_id, contact_id, type, owner, at from activities')" 'evt_f1|1002|call|7|2026-11-29T15:00:00Z'
is 'CRM: the revenue is recorded' "$(sql 'select contact_id, deal_id, amount, currency from revenue')" '1003|9|1200.5|USD'
is 'CRM: crm.update changelog rows' "$(sql "select event_id, object, json_extract(detail, '$.properties') from changelog where kind = 'crm.update' order by id")" \
	'evt_s1|contact:1001|{"fieldsync_mail_status":"Sent","fieldsync_last_mail_sent":"2026-11-30"}
evt_f1|contact:1002|{"fieldsync_last_follow_up":"2026-11-29"}
evt_s0|contact:1001|{"fieldsync_mail_status":"Sent"}'
run fs-push crm <in.ndjson
is 'CRM: a repeat writes nothing' "$status/$(cat "$T/out")/$(updates | wc -l)" '0//2'

# 207: only the failed inputs retry or go to the DLQ.
hs_admin POST /__admin/faults '{"partial_fail_ids":["1002"],"category":"INTERNAL_ERROR","message":"try later"}' >/dev/null
{ mstatus evt_s2 psc_1 1001 delivered; follow evt_f2 1002 2026-11-30T00:10:00Z; follow evt_f3 999999 2026-11-30T00:10:00Z; } >p.ndjson
run fs-push crm <p.ndjson
is '207: exit 1 (one dead letter)' "$status" 1
is '207: the unknown contact goes to the DLQ' "$(cat "$T/err")" \
	'fs-push: evt_f3: HTTP 207: OBJECT_NOT_FOUND: Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid. (dead letter #1)
fs-push: crm: 1 row will be retried (last error: HTTP 207: INTERNAL_ERROR: try later)'
is '207: results' "$(cat "$T/out")" \
	'{"type":"result","event_id":"evt_s2","target":"crm","status":"sent","vendor_id":"1001","http_status":207,"attempts":1}
{"type":"result","event_id":"evt_f2","target":"crm","status":"retrying","vendor_id":null,"http_status":207,"attempts":1}
{"type":"result","event_id":"evt_f3","target":"crm","status":"dead","vendor_id":null,"http_status":207,"attempts":1}'
is '207: the DLQ entry has the body' "$(sql "select http_status, json_extract(response, '$.numErrors') from dlq")" '207|2'
advance 2
run fs-push --retry-only crm </dev/null
is '207: the failed one is sent on retry' "$status/$(sql "select state, attempts from outbox where event_id = 'evt_f2'")" '0/sent|2'
is '207: the contact got its date once' "$(updates | grep -c '1002 {"fieldsync_last_follow_up": "2026-11-30"}')" 1

# More than 100 contacts: batches of at most 100.
hs_admin POST /__admin/generate '{"count":147}' >/dev/null
for i in $(seq 1004 1150); do follow evt_g$i $i 2026-11-30T00:20:00Z; done >g.ndjson
before=$(hs_requests)
run fs-push crm <g.ndjson
is 'batches: exit 0' "$status" 0
is 'batches: two requests for 147 contacts' "$(hs_requests)" $((before + 2))
is 'batches: all sent' "$(sql "select count(*) from outbox where event_id like 'evt_g%' and state = 'sent'")" 147

# Property names come from the config.
printf 'prop_last_follow_up = last_follow_up_date\n' >>fieldsync.conf
follow evt_f9 1003 2026-11-30T00:40:00Z | fs-push crm >/dev/null 2>&1
is 'a configured property name' "$(updates | tail -n 1 | cut -d' ' -f2-)" '1003 {"last_follow_up_date": "2026-11-30"}'
is 'the token is nowhere' "$(sqlite3 fieldsync.db .dump | cat - "$T/hs.log" | grep -c pat-s3cret)" 0
done_testing
