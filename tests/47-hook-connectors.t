#!/bin/sh
# Jobber's and QuickBooks Online's webhooks end to end: fs-hook (as CGI)
# checks X-Jobber-Hmac-SHA256 and intuit-signature (the classic payload and
# the CloudEvents array), keeps a repeat once, refuses a forged one; then
# fs-pull drains the inbox and reads the named objects back from the fakes.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fakes'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 14
sign="$top/tests/fixtures/hook-sign.py"
realm=9341453908811111

python3 "$top/tests/fakes/fake_jobber.py" --port 0 --port-file "$T/jb.port" --now 2026-11-30T00:00:00Z \
	--log "$T/jb.log" &
jb_pid=$!
python3 "$top/tests/fakes/fake_qbo.py" --port 0 --port-file "$T/qb.port" --now "$FS_NOW" --log "$T/qb.log" &
qb_pid=$!
trap 'kill $jb_pid $qb_pid 2>/dev/null; wait $jb_pid $qb_pid 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/jb.port" "the fake Jobber"
wait_port "$T/qb.port" "the fake QuickBooks"
jb=http://127.0.0.1:$(cat "$T/jb.port")
qb=http://127.0.0.1:$(cat "$T/qb.port")
export JOBBER_CLIENT_ID=fake-jobber-client-id JOBBER_CLIENT_SECRET=fake-jobber-client-secret
export QBO_CLIENT_ID=test-client-id QBO_CLIENT_SECRET=test-client-secret QBO_VERIFIER_TOKEN=verif-123
cat >fieldsync.conf <<EOF2
[source "jobber"]
kind       = jobber
url        = $jb
oauth_file = $T/jobber-oauth.json

[source "qbo"]
kind       = quickbooks
url        = $qb
token_url  = $qb/oauth2/v1/tokens/bearer
realm      = $realm
oauth_file = $T/qbo-oauth.json
EOF2
curl -s -X POST "$jb/__admin/tokens" >"$T/jobber-oauth.json" && chmod 600 "$T/jobber-oauth.json"
curl -s -X POST "$qb/__admin/tokens" -d '{"add_refresh":["rt-1"]}' >/dev/null
curl -s -u test-client-id:test-client-secret -d 'grant_type=refresh_token&refresh_token=rt-1' \
	"$qb/oauth2/v1/tokens/bearer" >"$T/qbo-oauth.json" && chmod 600 "$T/qbo-oauth.json"
curl -s -X POST "$jb/__admin/clients" \
	'-d[{"id":"c01","firstName":"Ana","emails":["ana@example.com"],"updatedAt":"2026-11-29T10:00:00Z"}]' >/dev/null
curl -s -X POST "$qb/__admin/customers" \
	'-d[{"GivenName":"Bea","PrimaryEmailAddr":{"Address":"bea@example.com"},"MetaData":{"LastUpdatedTime":"2026-11-20T10:00:00Z"}}]' >/dev/null

# hook SOURCE BODYFILE HEADER SIGNATURE: one CGI request; sets $code, $reply.
hook() {
	env REQUEST_METHOD=POST CONTENT_LENGTH=$(wc -c <"$2") "$3=$4" fs-hook "$1" <"$2" >"$T/cgi" 2>"$T/err"
	code=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$T/cgi")
	reply=$(tail -n 1 "$T/cgi")
}

printf '%s' '{"data":{"webHookEvent":{"topic":"CLIENT_UPDATE","appId":"app-1","accountId":"acct-1","itemId":"c01","occurredAt":"2026-11-30T00:00:00Z"}}}' >jb.json
hook jobber jb.json HTTP_X_JOBBER_HMAC_SHA256 "$("$sign" jobber "$JOBBER_CLIENT_SECRET" - <jb.json)"
is 'jobber: a signed webhook is stored, its id its topic, item and time' "$code/$reply" \
	'200/{"ok":true,"stored":true,"delivery_id":"CLIENT_UPDATE:c01:2026-11-30T00:00:00Z"}'
hook jobber jb.json HTTP_X_JOBBER_HMAC_SHA256 "$("$sign" jobber "$JOBBER_CLIENT_SECRET" - <jb.json)"
is 'jobber: its repeat is not stored again' "$code/$reply" \
	'200/{"ok":true,"stored":false,"delivery_id":"CLIENT_UPDATE:c01:2026-11-30T00:00:00Z"}'
hook jobber jb.json HTTP_X_JOBBER_HMAC_SHA256 "$("$sign" jobber another-secret - <jb.json)"
is 'jobber: a forged one: 401, nothing stored' "$code/$reply/$(sql "select count(*) from inbox where source = 'jobber'")" \
	'401/{"ok":false,"error":"bad signature"}/1'

printf '{"eventNotifications":[{"realmId":"%s","dataChangeEvent":{"entities":[{"name":"Customer","id":"1","operation":"Update","lastUpdated":"2026-11-30T00:59:00.000Z"}]}}]}' "$realm" >qb1.json
printf '[{"specversion":"1.0","id":"ce-77","source":"intuit.abc","type":"qbo.customer.updated.v1","time":"2026-11-30T00:59:00.000Z","intuitentityid":"1","intuitaccountid":"%s","data":{}}]' "$realm" >qb2.json
hook qbo qb1.json HTTP_INTUIT_SIGNATURE "$("$sign" intuit verif-123 - <qb1.json)"
is 'quickbooks: a signed classic payload is stored (its id the body'"'"'s hash)' "$code/$(echo "$reply" | jq -r '"\(.stored) \(.delivery_id | startswith("sha256:"))"')" '200/true true'
hook qbo qb2.json HTTP_INTUIT_SIGNATURE "$("$sign" intuit verif-123 - <qb2.json)"
is 'quickbooks: a signed CloudEvents array is stored, its id the events'"'"'' "$code/$reply" \
	'200/{"ok":true,"stored":true,"delivery_id":"cloudevents:ce-77"}'
hook qbo qb2.json HTTP_INTUIT_SIGNATURE "$("$sign" intuit "$QBO_CLIENT_SECRET" - <qb2.json)"
is 'quickbooks: signed with the client secret, not the verifier token: 401' "$code/$reply" '401/{"ok":false,"error":"bad signature"}'
printf '{"eventNotifications":"x"}' >qb3.json
hook qbo qb3.json HTTP_INTUIT_SIGNATURE "$("$sign" intuit verif-123 - <qb3.json)"
is 'quickbooks: signed but not a payload of Intuit'"'"'s: stored for fs-pull to dead-letter' "$code" 200

run fs-pull jobber
is 'jobber: the drain reads the client back, then the streams' "$status/$(jq -r 'select(.type == "record" and .stream == "clients") | .key' "$T/out" | sort -u | tr '\n' ' ')" '0/c01 '
is 'jobber: then the inbox checkpoint past its row' "$(jq -r 'select(.type == "checkpoint" and .stream == "inbox") | .cursor' "$T/out")" 1

run fs-pull qbo
is 'quickbooks: the bad payload is dead-lettered: exit 1' "$status/$(sql "select count(*) from dlq where command = 'fs-pull'")" 1/1
is 'quickbooks: the bad payload: its error line' "$(cat "$T/err")" 'fs-pull: inbox row 4: not a QuickBooks webhook
fs-pull: 1 record went to the dead-letter queue (fs-dlq list)'
is 'quickbooks: the bad payload: its reason and bytes in the DLQ' \
	"$(sql "select source, lineno, reason, bytes from dlq where command = 'fs-pull'")" \
	'qbo|4|inbox row 4: not a QuickBooks webhook|{"eventNotifications":"x"}'
is 'quickbooks: the customer is read back from both deliveries' "$(jq -r 'select(.type == "record" and .stream == "customers") | .key' "$T/out" | sort -u | tr '\n' ' ')" '1 '
is 'quickbooks: then the inbox checkpoint past its three rows' "$(jq -r 'select(.type == "checkpoint" and .stream == "inbox") | .cursor' "$T/out")" 4
