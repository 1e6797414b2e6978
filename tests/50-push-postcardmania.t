#!/bin/sh
# fs-push to PostcardMania: orders under the event id as extRefNbr, a 409 adopted,
# throttling and faults, the token asked again, a SIGKILL mid-send.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
. "$top/tests/pcm-lib.sh"
plan 32
start_pcm
pcm_conf 'price     = postcard 0.58, letter 0.98'

# ---- first send ----
{ mreq evt_a1 101; mreq evt_a2 102 letter; mreq evt_a3 103 postcard thanks 'Cher'; } >in.ndjson
run fs-push --parallel 1 pcm <in.ndjson
is 'three orders: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
norun | grep '"result"' >got
cat >want <<'EOF2'
{"type":"result","event_id":"evt_a1","target":"pcm","status":"sent","vendor_id":"pcm_1001","http_status":200,"attempts":1}
{"type":"result","event_id":"evt_a2","target":"pcm","status":"sent","vendor_id":"pcm_1002","http_status":200,"attempts":1}
{"type":"result","event_id":"evt_a3","target":"pcm","status":"sent","vendor_id":"pcm_1003","http_status":200,"attempts":1}
EOF2
check_same 'a sent result per order, named pcm_ORDERID' want got
is 'a queued mail.status per order, vendor postcardmania' \
	"$(norun | jq -r 'select(.kind == "mail.status") | "\(.data.vendor) \(.data.vendor_id) \(.data.mail_id) \(.data.status) \(.data.detail)"')" \
	'postcardmania pcm_1001 evt_a1 queued postcard.created
postcardmania pcm_1002 evt_a2 queued letter.created
postcardmania pcm_1003 evt_a3 queued postcard.created'
is 'the fake holds one order per event' "$(pcm_orders)" 'evt_a1 1001 Pending 1
evt_a2 1002 Pending 1
evt_a3 1003 Pending 1'
is 'one login, then the orders' "$(pcm_requests)" 'POST /auth/login 200
POST /order/postcard 200
POST /order/letter 200
POST /order/postcard 200'
is 'the login sends the key and secret (the fake keeps no secret)' \
	"$(pcm_admin GET /requests | jq -c '.data[0].body | fromjson')" '{"apiKey":"pcm_k3y","apiSecret":"REDACTED"}'
is 'the postcard order, one recipient, the event id as extRefNbr' \
	"$(pcm_admin GET /orders | jq -c '.data[0].body')" \
	'{"extRefNbr":"evt_a1","mailClass":"FirstClass","front":"tmpl_thanks","back":"tmpl_back","size":"46","recipients":[{"firstName":"Ann","lastName":"Lee","address":"1 Main St","city":"Austin","state":"TX","zipCode":"78701","extRefNbr":"101"}]}'
is 'the letter order; a one-word name is the last name' \
	"$(pcm_admin GET /orders | jq -c '[.data[1].body.letter, .data[2].body.recipients[0].lastName, .data[2].body.recipients[0].firstName]')" \
	'["tmpl_thanks","Cher",null]'
is 'requests carry the bearer token, never the key' "$(pcm_admin GET /requests | jq -r '[.data[1:][] | .auth] | unique | join(" ")')" 'Bearer '
is 'pieces and send changelog rows' \
	"$(sql "select p.event_id, p.target, p.status, json_extract(c.detail, '$.price') from pieces p join changelog c on c.kind = 'send' and c.event_id = p.event_id order by 1")" \
	'evt_a1|pcm|queued|0.58
evt_a2|pcm|queued|0.98
evt_a3|pcm|queued|0.58'
if on_pg; then
	# (The database's contents, as the file's bytes on SQLite.)
	{ state_dump; cat "$T/out" "$T/err"; } | grep -q pcm_s3cret
else
	grep -q pcm_s3cret "$FS_STATE" "$T/out" "$T/err"
fi
is 'the secret is nowhere in the state file or the output' "$?" 1

# ---- the same input again: no request ----
before=$(pcm_requests | wc -l)
run fs-push pcm <in.ndjson
is 'a repeat: exit 0, no request' "$status/$(pcm_requests | wc -l)" "0/$before"

# ---- a repeat at PostcardMania: 409, the order looked up and adopted ----
sql "delete from outbox where event_id = 'evt_a1'; delete from pieces where event_id = 'evt_a1'; delete from enrolments"
run fs-push --parallel 1 pcm <in.ndjson
is 'a 409: exit 0, the order adopted' "$status/$(norun | jq -r 'select(.type == "result") | "\(.event_id) \(.status) \(.vendor_id)"')" \
	'0/evt_a1 sent pcm_1001'
is 'a 409: the create, then the look by extRefNbr' "$(pcm_requests | tail -3)" 'POST /auth/login 200
POST /order/postcard 409
GET /order?extRefNbr=evt_a1 200'
is 'a 409: still one order, asked for twice' "$(pcm_orders | head -1)" 'evt_a1 1001 Pending 2'
is 'a 409: a send.adopt changelog row says how it was found' \
	"$(sql "select json_extract(detail, '$.vendor_id'), json_extract(detail, '$.found_by') from changelog where kind = 'send.adopt' and event_id = 'evt_a1'")" \
	'pcm_1001|GET /order?extRefNbr'

# ---- throttling: 429 with Retry-After, then the order ----
pcm_admin POST /faults '{"path":"/order/postcard","status":429,"retry_after":1,"count":2}' >/dev/null
mreq evt_t1 201 >t.ndjson
run fs-push pcm <t.ndjson
is '429 twice: sent in the same run, one attempt' "$status/$(jq -r 'select(.type == "result") | "\(.status) \(.attempts)"' "$T/out")" '0/sent 1'
is '429 twice: three creates, one order' "$(pcm_requests | grep -c 'order/postcard 429')/$(pcm_orders | grep -c evt_t1)" 2/1

# ---- a 5xx: retried at the next run ----
pcm_admin POST /faults '{"path":"/order/postcard","status":503,"count":1}' >/dev/null
mreq evt_f1 202 >f.ndjson
run fs-push pcm <f.ndjson
is '503: retrying, exit 4 (PostcardMania took nothing this run)' "$status/$(jq -r 'select(.type == "result") | .status' "$T/out")" 4/retrying
advance 2
run fs-push pcm </dev/null
is '503: the next run sends it' "$status/$(jq -r 'select(.type == "result") | "\(.status) \(.attempts)"' "$T/out")" '0/sent 2'

# ---- a lost answer: made at PostcardMania, 500 answered; the retry adopts it ----
pcm_admin POST /faults '{"path":"/order/postcard","status":500,"when":"after","count":1}' >/dev/null
mreq evt_l1 203 >l.ndjson
run fs-push pcm <l.ndjson
is 'lost answer: retrying' "$(jq -r 'select(.type == "result") | .status' "$T/out")" retrying
advance 2
run fs-push pcm </dev/null
is 'lost answer: the retry is answered 409 and adopts the order' \
	"$status/$(jq -r 'select(.type == "result") | .status' "$T/out")/$(pcm_orders | grep evt_l1 | cut -d' ' -f4)" '0/sent/2'

# ---- the token expires mid-run: one login more, the request sent again ----
{ mreq evt_x1 301; mreq evt_x2 302; } >x.ndjson
pcm_admin POST /faults '{"path":"/order/postcard","status":401,"message":"token expired","count":1}' >/dev/null
logins=$(pcm_admin GET /stats | jq .logins)
run fs-push --parallel 1 pcm <x.ndjson
is 'token expiry: both sent, exit 0' "$status/$(jq -r 'select(.type == "result") | .status' "$T/out" | tr '\n' ' ')" '0/sent sent '
is 'token expiry: two logins this run' "$(( $(pcm_admin GET /stats | jq .logins) - logins ))" 2
pcm_admin POST /tokens/expire >/dev/null
mreq evt_x3 303 | fs-push pcm >/dev/null 2>&1
is 'an expired token: a new run logs in anew' "$(sql "select state from outbox where event_id = 'evt_x3'")" sent

# ---- bad credentials: exit 2, the rows stay pending ----
PCM_API_SECRET=wrong run fs-push pcm <"$(mreq evt_k1 401 >k.ndjson; echo k.ndjson)"
is 'a refused login: exit 2, one line' "$status/$(cat "$T/err")" \
	'2/fs-push: pcm: POST /auth/login: HTTP 401: invalid apiKey or apiSecret (check the API key and secret)'
is 'a refused login: the row stays pending' "$(sql "select state from outbox where event_id = 'evt_k1'")" pending
run fs-push pcm </dev/null
is 'the right secret: the pending row is sent' "$status/$(sql "select state from outbox where event_id = 'evt_k1'")" 0/sent

# ---- a validation error: straight to the DLQ ----
pcm_admin POST /faults '{"path":"/order/postcard","status":400,"message":"recipients[0].zipCode is not a ZIP code","count":1}' >/dev/null
mreq evt_v1 501 >v.ndjson
run fs-push pcm <v.ndjson
is 'a 400: exit 1, a dead letter' "$status/$(cat "$T/err")" \
	'1/fs-push: evt_v1: HTTP 400: recipients[0].zipCode is not a ZIP code (dead letter #1)'
is 'a 400: the dead letter keeps the answer' "$(sql "select http_status, json_extract(response, '$.message') from dlq")" \
	'400|recipients[0].zipCode is not a ZIP code'

# ---- SIGKILL mid-send, then a re-run: the order once ----
pcm_admin POST /faults '{"path":"/order/postcard","hold":2,"count":1}' >/dev/null
mreq evt_s1 601 >s.ndjson
fs-push pcm <s.ndjson >/dev/null 2>&1 &
kill_held $!
sleep 2
run fs-push pcm <s.ndjson
is 'after SIGKILL: the re-run adopts the order made meanwhile' \
	"$status/$(sql "select state from outbox where event_id = 'evt_s1'")/$(pcm_orders | grep -c evt_s1)" '0/sent/1'
is 'nothing twice: one order and one piece per event' \
	"$(pcm_admin GET /orders | jq '.data | length')/$(sql 'select count(*) from pieces')/$(sql "select count(*) from outbox where state = 'sent'")" \
	'11/11/11'
done_testing
