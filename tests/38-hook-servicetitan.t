#!/bin/sh
# ServiceTitan's webhooks end to end: fs-hook (as CGI) checks the HMAC in the
# header the source names (ServiceTitan does not publish it), in base64 or
# hex, keeps a repeat once, refuses a forged one and one signed in another
# header; then fs-pull drains the inbox and reads the named objects back.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 14
sign="$top/tests/fixtures/hook-sign.py"

python3 "$top/tests/fakes/fake_servicetitan.py" --port 0 --port-file "$T/st.port" --now 2026-11-29T10:00:00Z \
	--log "$T/st.log" &
st_pid=$!
trap 'kill $st_pid 2>/dev/null; wait $st_pid 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/st.port" 'the fake ServiceTitan'
url=http://127.0.0.1:$(cat "$T/st.port")
export ST_APP_KEY=fake-st-app-key ST_CLIENT_ID=fake-st-client-id ST_CLIENT_SECRET=fake-st-client-secret
export ST_WEBHOOK_KEY=0123456789abcdef0123456789abcdef
cat >fieldsync.conf <<EOF2
[source "st"]
kind             = servicetitan
url              = $url
token_url        = $url/connect/token
tenant           = 1000
signature        = servicetitan:X-ST-Hmac
EOF2
curl -s -X POST "$url/__admin/customers" -d '{"id":1,"name":"Ana Lee"}' >/dev/null
curl -s -X POST "$url/__admin/jobs" -d '{"id":101,"customerId":1,"jobStatus":"Completed"}' >/dev/null

# hook BODYFILE HEADER SIGNATURE: one CGI request; sets $code, $reply.
hook() {
	env REQUEST_METHOD=POST CONTENT_LENGTH=$(wc -c <"$1") "$2=$3" fs-hook st <"$1" >"$T/cgi" 2>"$T/err"
	code=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$T/cgi")
	reply=$(tail -n 1 "$T/cgi")
}
b64() { "$sign" jobber "${2:-$ST_WEBHOOK_KEY}" - <"$1"; }
hex() { python3 -c 'import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), open(sys.argv[2], "rb").read(), hashlib.sha256).hexdigest().upper())' "$ST_WEBHOOK_KEY" "$1"; }

printf '%s' '{"eventType":"JobCompleted","entityType":"Job","entityId":101}' >job.json
printf '%s' '{"eventType":"CustomerUpdated","data":{"id":1,"name":"Ana Lee"}}' >cust.json
printf '%s' '{"eventType":"Dispatch","note":"no id"}' >odd.json
hook job.json HTTP_X_ST_HMAC "$(b64 job.json)"
is 'a delivery signed in base64 in the named header: stored' "$code/$(echo "$reply" | jq -c '[.ok, .stored]')" '200/[true,true]'
hook job.json HTTP_X_ST_HMAC "$(b64 job.json)"
is 'its repeat: not stored again' "$code/$(echo "$reply" | jq -c '[.ok, .stored]')" '200/[true,false]'
hook cust.json HTTP_X_ST_HMAC "sha256=$(hex cust.json)"
is 'signed in hex (upper case, sha256= before it): stored' "$code/$(echo "$reply" | jq -c '.stored')" '200/true'
hook cust.json HTTP_X_ST_HMAC "$(b64 cust.json wrong-key-wrong-key-wrong-key-00)"
is 'a forged signature: 401, nothing stored' "$code/$(sql 'select count(*) from inbox')" '401/2'
hook cust.json HTTP_X_SERVICETITAN_SIGNATURE "$(b64 cust.json)"
is 'signed in another header than the named one: unsigned, nothing stored' \
	"$code/$(echo "$reply" | jq -r .error)/$(sql 'select count(*) from inbox')" "401/missing X-ST-Hmac header/2"
hook odd.json HTTP_X_ST_HMAC "$(b64 odd.json)"
is 'an event that names no object: stored (the drain judges it)' "$code" 200

run fs-pull --commit st
is 'drain: exit 1 (one dead letter), its line' "$status/$(grep -c 'not a ServiceTitan event naming an object' "$T/err")" 1/1
is 'drain: the job and the customer read back by id, before the streams' \
	"$(jq -r 'select(.type == "record") | "\(.stream) \(.key)"' "$T/out" | head -n 2 | tr '\n' ',')" 'customers 1,jobs 101,'
is 'drain: read with ids=' \
	"$(curl -s "$url/__admin/requests" | jq -r '[.requests[] | select(.query.ids) | "\(.path | sub("/v2/tenant/1000"; "")) \(.query.ids)"] | join(",")')" \
	'/crm/customers 1,/jpm/jobs 101'

# The header is named in the scheme's setting: a bad name, or a name given
# to a scheme whose vendor publishes its header, is a configuration error.
for spec in 'servicetitan:X ST' 'servicetitan:' 'lob:X-ST-Hmac'; do
	sed "s/^signature .*/signature        = $spec/" fieldsync.conf >bad.conf
	FS_CONFIG=$T/bad.conf hook job.json HTTP_X_ST_HMAC "$(b64 job.json)"
	is "signature = $spec: refused, 500, its line" "$code/$(cat "$T/err")" \
		"500/fs-hook: source 'st': '$spec' is not a signature scheme or a size"
done
sed "/^signature /d" fieldsync.conf >plain.conf
FS_CONFIG=$T/plain.conf hook cust.json HTTP_X_SERVICETITAN_SIGNATURE "$(b64 cust.json)"
is 'no header named: X-ServiceTitan-Signature is read' "$code/$(echo "$reply" | jq -c '[.ok, .stored]')" '200/[true,false]'
unset ST_WEBHOOK_KEY
hook job.json HTTP_X_ST_HMAC "$(b64 job.json)"
is 'no HMAC key: refused' "$code" 500
done_testing
