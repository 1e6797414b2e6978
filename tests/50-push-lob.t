#!/bin/sh
# fs-push to Lob: events into the outbox, pieces out exactly once, the audit trail.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 51
export LOB_API_KEY=sk_test_s3cret
start_lob
lob_conf 'price     = postcard 0.65, letter 1.10'

{
	mreq evt_a1 101
	echo '{"type":"stats","command":"fs-pull","records":3}'
	mreq evt_a2 102 letter
	echo '{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"c1"}'
	mreq evt_a3 103 postcard thanks 'Bartholomew Montgomery-Fitzwilliam the Third'
} >in.ndjson
sqlite3 fieldsync.db 'select 1' >/dev/null 2>&1
fs-dlq count >/dev/null   # creates the state file
sql "insert into idem_keys (id, first_seen_ts, expires_ts, final) values ('evt_a1', 0, 9999999999, 0), ('evt_a3', 0, 9999999999, 0)"

run fs-push --parallel 1 mail <in.ndjson
is 'three pieces: exit 0' "$status" 0
err_is 'nothing on stderr' </dev/null
vid() { sql "select vendor_id from outbox where event_id = '$1'"; }
v1=$(vid evt_a1) v2=$(vid evt_a2) v3=$(vid evt_a3)
sid() { python3 -c 'import hashlib, sys
print("evt_" + hashlib.sha256("\x1f".join(sys.argv[1:]).encode()).hexdigest()[:32])' mail "mail:$1" mail.status queued; }
norun | sed "s/$v1/V1/g; s/$v2/V2/g; s/$v3/V3/g; s/$(sid "$v1")/S1/; s/$(sid "$v2")/S2/; s/$(sid "$v3")/S3/" >got
cat >want <<'EOF2'
{"type":"stats","command":"fs-pull","records":3}
{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"c1"}
{"type":"result","event_id":"evt_a1","target":"mail","status":"sent","vendor_id":"V1","http_status":200,"attempts":1}
{"type":"event","id":"S1","source":"mail","kind":"mail.status","object":"mail:V1","occurred_at":"2026-11-30T01:00:00Z","data":{"mail_id":"evt_a1","vendor":"lob","vendor_id":"V1","contact_id":"101","campaign":"thanks","status":"queued","detail":"postcard.created"}}
{"type":"result","event_id":"evt_a2","target":"mail","status":"sent","vendor_id":"V2","http_status":200,"attempts":1}
{"type":"event","id":"S2","source":"mail","kind":"mail.status","object":"mail:V2","occurred_at":"2026-11-30T01:00:00Z","data":{"mail_id":"evt_a2","vendor":"lob","vendor_id":"V2","contact_id":"102","campaign":"thanks","status":"queued","detail":"letter.created"}}
{"type":"result","event_id":"evt_a3","target":"mail","status":"sent","vendor_id":"V3","http_status":200,"attempts":1}
{"type":"event","id":"S3","source":"mail","kind":"mail.status","object":"mail:V3","occurred_at":"2026-11-30T01:00:00Z","data":{"mail_id":"evt_a3","vendor":"lob","vendor_id":"V3","contact_id":"103","campaign":"thanks","status":"queued","detail":"postcard.created"}}
EOF2
check_same 'pass-through, checkpoint, then a result and a queued mail.status per piece' want got
is 'vendor ids: a postcard, a letter, a postcard' "$(echo "$v1 $v2 $v3" | sed 's/_[0-9a-f]*/_/g')" 'psc_ ltr_ psc_'
is 'the fake holds one piece per event' "$(lob_pieces)" 'evt_a1 1
evt_a2 1
evt_a3 1'
lob_admin GET /__admin/requests >reqs.json
py() { python3 -c "import json, sys; d = json.load(open('reqs.json'))['data']; $1"; }
is 'the event id is the Idempotency-Key' \
	"$(py 'print(" ".join(r["idempotency_key_source"] + ":" + r["idempotency_key"] for r in d))')" 'header:evt_a1 header:evt_a2 header:evt_a3'
is 'the postcard request, as Lob defines it' "$(py 'print(json.dumps(json.loads(d[0]["body"]), sort_keys=True))')" \
	'{"back": "tmpl_back", "description": "fieldsync thanks for contact 101", "from": "adr_companyhq", "front": "tmpl_thanks", "metadata": {"campaign": "thanks", "contact_id": "101", "event_id": "evt_a1"}, "to": {"address_city": "Austin", "address_country": "US", "address_line1": "1 Main St", "address_state": "TX", "address_zip": "78701", "name": "Ann Lee"}, "use_type": "marketing"}'
is 'the letter request: file, color, from' "$(py 'b = json.loads(d[1]["body"]); print(d[1]["path"], b["file"], b["color"], b["from"])')" \
	'/v1/letters tmpl_thanks False adr_companyhq'
is 'a name over 40 characters is cut to 40' "$(py 'print(json.loads(d[2]["body"])["to"]["name"])')" \
	'Bartholomew Montgomery-Fitzwilliam the T'
is 'basic auth with the key as user name: every answer 200' "$(py 'print(" ".join(str(r["status"]) for r in d))')" '200 200 200'
is 'outbox rows sent, attempts 1' "$(sql "select event_id, state, attempts, http_status, claimed_by is null from outbox order by id")" \
	'evt_a1|sent|1|200|1
evt_a2|sent|1|200|1
evt_a3|sent|1|200|1'
is 'pieces recorded queued' "$(sql "select event_id, target, contact_id, campaign, goal, format, status, requested_at, queued_at from pieces order by event_id")" \
	'evt_a1|mail|101|thanks|retention|postcard|queued|2026-11-29T10:00:00Z|2026-11-30T01:00:00Z
evt_a2|mail|102|thanks|retention|letter|queued|2026-11-29T10:00:00Z|2026-11-30T01:00:00Z
evt_a3|mail|103|thanks|retention|postcard|queued|2026-11-29T10:00:00Z|2026-11-30T01:00:00Z'
is 'piece_status has the queued event' "$(sql "select count(*) from piece_status p join pieces using (vendor_id) where p.status = 'queued' and p.event_id = '$(sid "$v1")'")" 1
is 'one send changelog row per piece, with the audit fields' \
	"$(sql "select event_id, object, run_id like 'run_%', detail from changelog where kind = 'send' order by id" | sed "s/$v1/V1/; s/$v2/V2/; s/$v3/V3/")" \
	'evt_a1|contact:101|1|{"contact_id":"101","campaign":"thanks","vendor_id":"V1","http_status":200,"attempts":1,"requested_at":"2026-11-29T10:00:00Z","first_attempt_at":"2026-11-30T01:00:00Z","accepted_at":"2026-11-30T01:00:00Z","price":0.65}
evt_a2|contact:102|1|{"contact_id":"102","campaign":"thanks","vendor_id":"V2","http_status":200,"attempts":1,"requested_at":"2026-11-29T10:00:00Z","first_attempt_at":"2026-11-30T01:00:00Z","accepted_at":"2026-11-30T01:00:00Z","price":1.1}
evt_a3|contact:103|1|{"contact_id":"103","campaign":"thanks","vendor_id":"V3","http_status":200,"attempts":1,"requested_at":"2026-11-29T10:00:00Z","first_attempt_at":"2026-11-30T01:00:00Z","accepted_at":"2026-11-30T01:00:00Z","price":0.65}'
is 'the checkpoint cursor is committed' "$(sql 'select source, stream, cursor from cursors')" 'hubspot|contacts|c1'
is "fs-dedupe's keys become final" "$(sql 'select id, final from idem_keys order by id')" 'evt_a1|1
evt_a3|1'

# The same input again: a no-op, no request.
run fs-push mail <in.ndjson
is 'a repeat: exit 0' "$status" 0
is 'a repeat: only the pass-through lines' "$(cat "$T/out")" '{"type":"stats","command":"fs-pull","records":3}
{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"c1"}'
is 'a repeat: no request' "$(lob_admin GET /__admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')" 3

# A validation error from Lob: straight to the DLQ with status and body.
TEMPLATE=tmpl_bad_name mreq evt_b1 201 >bad.ndjson
run fs-push mail <bad.ndjson
is 'Lob 422: exit 1' "$status" 1
is 'Lob 422: the error line' "$(cat "$T/err")" \
	'fs-push: evt_b1: HTTP 422: front must be an HTML string, a template id (tmpl_...), or an https URL of a .html, .pdf, .png or .jpg file (dead letter #1)'
is 'Lob 422: a dead result' "$(cat "$T/out")" \
	'{"type":"result","event_id":"evt_b1","target":"mail","status":"dead","vendor_id":null,"http_status":422,"attempts":1}'
is 'Lob 422: the DLQ entry keeps the line, status, body and attempts' \
	"$(sql "select command, source, event_id, http_status, json_extract(response, '$.error.code'), json_array_length(attempts), json_extract(attempts, '$[0].http_status'), cast(bytes as text) = '$(cat bad.ndjson)' from dlq")" \
	'fs-push|mail|evt_b1|422|invalid|1|422|1'
is 'Lob 422: outbox row dead' "$(sql "select state, attempts from outbox where event_id = 'evt_b1'")" 'dead|1'
is 'Lob 422: a send.dead changelog row' "$(sql "select object, json_extract(detail, '$.dlq_id') from changelog where kind = 'send.dead'")" 'contact:201|1'
run fs-push mail <bad.ndjson
is 'the dead event again is a no-op' "$status/$(cat "$T/out")/$(sql 'select count(*) from dlq')" '0//1'

# An address line over Lob's limit: DLQ without a request.
long=$(printf 'x%.0s' $(seq 70))
mreq evt_b2 202 postcard thanks 'Ann Lee' "$long" >long.ndjson
before=$(grep -c '"path"' "$T/lob.log")
run fs-push mail <long.ndjson
is 'a long address line: exit 1' "$status" 1
is 'a long address line: the error line' "$(cat "$T/err")" \
	"fs-push: evt_b2: to.line1 is longer than 64 characters (Lob's limit) (dead letter #2)"
is 'a long address line: no request made' "$(grep -c '"path"' "$T/lob.log")" "$before"
is 'a long address line: dead letter without an HTTP status' "$(sql "select http_status is null, attempts from dlq where id = 2")" '1|[]'

# Bad input lines: DLQ, exit 1, the rest still goes.
{ echo '{"type":"event","kind":"mail.requested"}'; mreq evt_b3 203; } >badline.ndjson
run fs-push mail <badline.ndjson
is 'a malformed event: exit 1' "$status" 1
is 'a malformed event: the error line' "$(cat "$T/err")" \
	'fs-push: line 1: missing "id"; missing "source"; missing "object"; missing "occurred_at"; missing "data"'
is 'a malformed event: in the DLQ' "$(sql "select lineno, bytes from dlq where id = 3")" '1|{"type":"event","kind":"mail.requested"}'
is 'a malformed event: the next line is sent' "$(sql "select state from outbox where event_id = 'evt_b3'")" sent

# --dry-run: what would go, at what cost; nothing written, nothing sent.
{ mreq evt_c1 301; mreq evt_c2 302 letter; mreq evt_a1 101; } >dry.ndjson
before=$(grep -c '"path"' "$T/lob.log")
run fs-push --dry-run mail <dry.ndjson
is '--dry-run: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is '--dry-run: the preview, each piece with its address and price, and the total' "$(cat "$T/out")" \
'STATUS     CONTACT    NAME                   ADDRESS                                    CAMPAIGN     FORMAT   PRICE  WHY NOT
send       301        Ann Lee                1 Main St, Austin TX 78701                 thanks       postcard  0.65
send       302        Ann Lee                1 Main St, Austin TX 78701                 thanks       letter    1.10
2 mail pieces would be sent (postcard 1, letter 1), estimated cost 1.75; 0 suppressed, 0 capped, 0 held'
is '--dry-run: nothing written' "$(sql "select count(*) from outbox where event_id like 'evt_c%'")" 0
is '--dry-run: no request' "$(grep -c '"path"' "$T/lob.log")" "$before"

# Secrets: the key never shows.
run fs-push --print-config mail
is '--print-config: exit 0' "$status" 0
sqlite3 fieldsync.db .dump >dump.sql
is 'the key is nowhere: output, state, fake log' \
	"$(cat "$T"/out "$T"/err dump.sql "$T/lob.log" | grep -c sk_test_s3cret)" 0

# Usage and config errors.
run fs-push </dev/null
is 'no target: exit 2' "$status/$(head -c 14 "$T/err")" '2/usage: fs-push'
run fs-push nosuch </dev/null
is 'unknown target: exit 2' "$status/$(cat "$T/err")" \
	"2/fs-push: unknown target 'nosuch': no [target \"nosuch\"] section and no built-in kind of that name"
run fs-push --parallel 0 mail </dev/null
is '--parallel 0: exit 2' "$status/$(head -n 1 "$T/err")" "2/fs-push: --parallel must be 1 to 256, not '0'"
printf '[target "m"]\nkind = lob\nrate = lots\n' >bad.conf
run fs-push -c bad.conf m </dev/null
is 'malformed rate: exit 2' "$status/$(cat "$T/err")" "2/fs-push: bad.conf:3: rate 'lots' is not a rate (100/10s, 10/500ms, 150/s, off)"
printf '[target "m"]\nkind = lob\nretry = often\n' >bad.conf
run fs-push -c bad.conf m </dev/null
is 'malformed retry: exit 2' "$status/$(cat "$T/err")" \
	"2/fs-push: bad.conf:3: retry 'often' is not a retry schedule (first delay..cap xATTEMPTS: 30s..6h x8)"
printf '[target "m"]\nkind = csv\n' >bad.conf
run fs-push -c bad.conf m </dev/null
is 'a kind that cannot be pushed to: exit 2' "$status/$(cat "$T/err")" \
	"2/fs-push: bad.conf:2: [target \"m\"] cannot be of kind csv (hubspot, lob, jobber, sheets, servicetitan or postcardmania)"
run fs-push -h
is '-h: usage on stdout, exit 0' "$status/$(head -c 14 "$T/out")" '0/usage: fs-push'
mreq evt_d1 401 >nokey.ndjson
LOB_API_KEY= run fs-push mail <nokey.ndjson
is 'no API key: exit 2, the event is kept' "$status/$(cat "$T/err")/$(sql "select state from outbox where event_id = 'evt_d1'")" \
	'2/fs-push: mail: no API key: set LOB_API_KEY/pending'
LOB_API_KEY=sk_wrong run fs-push --retry-only mail </dev/null
is 'a refused key: exit 2, the row stays pending, no attempt counted' \
	"$status/$(cat "$T/err")/$(sql "select state, attempts, claimed_by is null from outbox where event_id = 'evt_d1'")" \
	'2/fs-push: mail: HTTP 401: the API key was refused; check LOB_API_KEY/pending|0|1'
run fs-push --retry-only mail </dev/null
is '--retry-only sends it with the right key' "$status/$(sql "select state from outbox where event_id = 'evt_d1'")" '0/sent'
run fs-push -s /nonexistent/x.db mail </dev/null
is 'state error: exit 3' "$status" 3
done_testing
