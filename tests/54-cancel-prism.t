#!/bin/sh
# Contract test of cancellation (issue 15): a create with send_date and the
# DELETE of a postcard and of a letter, as fieldsync makes them, through
# Stoplight Prism proxying to the fake Lob. Prism checks both directions
# against Lob's OpenAPI spec (with the Prism fix): a request or an answer
# the spec refuses shows in the sl-violations header. So the requests are
# the ones Lob documents, and the fake's answers (send_date in the piece,
# 200 {id, deleted}, 422 not_deletable after the window) have Lob's shapes.
# Skips when Prism cannot be installed (no npm).
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
lob=$top/tests/contracts/lob
bin=$("$top/scripts/prism" install 2>"$T/prism.err")
case $? in
0) ;;
77) skip_all "Prism is not available: $(tail -n 1 "$T/prism.err")" ;;
*) echo "Bail out! Prism did not install: $(tail -n 3 "$T/prism.err")"; exit 1 ;;
esac
# The fixed spec, as scripts/prism makes it: it must be the one SOURCE.md names.
sed -f "$lob/prism-fix.sed" "$lob/lob-openapi.yml" >"$T/spec.yml"
want=$(tr '\n' ' ' <"$lob/SOURCE.md" | grep -o 'sha256, [0-9a-f]\{64\}' | cut -c9-)
if command -v sha256sum >/dev/null 2>&1 && [ "$(sha256sum <"$T/spec.yml" | cut -d' ' -f1)" != "$want" ]; then
	echo "Bail out! the fixed spec is not the one tests/contracts/lob/SOURCE.md names"; exit 1
fi

export LOB_API_KEY=sk_test_s3cret
start_lob
proxy_pid=
# (dash's kill takes no "--": "-PID" names the process group.)
stop_proxy() { [ -n "$proxy_pid" ] && kill -TERM "-$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null; proxy_pid=; }
trap 'stop_proxy; stop_fakes; rm -rf "$T"' EXIT
# Prism in its own session (so that its children end with it), on a free
# port; a port taken in the meantime gets another try.
for try in 1 2 3; do
	port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	setsid "$bin" proxy -h 127.0.0.1 -p "$port" "$T/spec.yml" "$LOB" >"$T/proxy.log" 2>&1 </dev/null &
	proxy_pid=$!
	listening() { grep -q 'Prism is listening' "$T/proxy.log" || ! kill -0 "$proxy_pid" 2>/dev/null; }
	wait_for 'Prism did not start' listening
	grep -q 'Prism is listening' "$T/proxy.log" && break
	wait "$proxy_pid" 2>/dev/null; proxy_pid=
	grep -q EADDRINUSE "$T/proxy.log" || break
done
[ -n "$proxy_pid" ] || { echo "Bail out! Prism did not start: $(tail -n 3 "$T/proxy.log")"; exit 1; }
PX=http://127.0.0.1:$port
plan 18

# fieldsync's own create bodies, as fs-push sends them (to the fake here).
lob_conf
{ mreq evt_c1 201; mreq evt_c2 202 letter; } >in.ndjson
fs-push --parallel 1 mail <in.ndjson >/dev/null 2>"$T/push.err"
lob_admin GET '/__admin/requests?method=POST' >reqs.json
# body RESOURCE SEND_DATE: fs-push's body for RESOURCE, with send_date set
# (RFC 3339 UTC, as fieldsync writes times) or, when empty, without it.
body() {
	python3 -c 'import json, sys
rs = [r for r in json.load(open("reqs.json"))["data"] if r["path"] == "/v1/" + sys.argv[1]]
b = json.loads(rs[0]["body"])
b.pop("send_date", None)
if sys.argv[2]:
    b["send_date"] = sys.argv[2]
print(json.dumps(b, separators=(",", ":")))' "$1" "$2"
}
is 'fs-push made a postcard and a letter to take the bodies from' \
	"$(python3 -c 'import json; print(sorted(r["path"] for r in json.load(open("reqs.json"))["data"]))')" \
	"['/v1/letters', '/v1/postcards']"

# px METHOD PATH [BODY]: through Prism; the answer in $T/px.body, its
# status in $code, the sl-violations header (if any) in $viol.
sent=0
px() {
	sent=$((sent + 1))
	code=$(curl -s -o "$T/px.body" -D "$T/px.head" -w '%{http_code}' -u "$LOB_API_KEY:" -X "$1" \
		${3:+-H 'Content-Type: application/json' -H "Idempotency-Key: k-$(date +%s%N)" -d "$3"} "$PX$2")
	viol=$(tr -d '\r' <"$T/px.head" | sed -n 's/^sl-violations: //Ip')
}
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$T/px.body" "$1"; }

# -- a create with send_date: postcard and letter --
for r in postcards letters; do
	px POST /$r "$(body $r 2026-11-30T09:30:00Z)"
	is "$r: a create with send_date passes the spec (200, no violation)" "$code ${viol:-none}" '200 none'
	is "$r: the piece answers the send_date asked for" "$(field send_date)" '2026-11-30T09:30:00.000Z'
	eval "id_$r=\$(field id)"
done

# -- DELETE inside the window: postcard and letter --
px DELETE "/postcards/$id_postcards"
is 'postcards: DELETE before the send_date passes the spec (200, no violation)' "$code ${viol:-none}" '200 none'
is 'postcards: the answer is {id, deleted: true}' "$(cat "$T/px.body")" "{\"id\":\"$id_postcards\",\"deleted\":true}"
px DELETE "/letters/$id_letters"
is 'letters: DELETE before the send_date passes the spec (200, no violation)' "$code ${viol:-none}" '200 none'
is 'letters: the answer is {id, deleted: true}' "$(cat "$T/px.body")" "{\"id\":\"$id_letters\",\"deleted\":true}"

# -- DELETE after the send_date, and after the default 5-minute window --
px POST /postcards "$(body postcards 2026-11-30T01:10:00Z)"; late_p=$(field id)
px POST /letters "$(body letters '')"; late_l=$(field id)
is 'letters: without send_date, the account window sets it (5 minutes)' "$(field send_date)" '2026-11-30T01:05:00.000Z'
lob_admin POST /__admin/clock '{"advance_s":600}' >/dev/null
px DELETE "/postcards/$late_p"
is 'postcards: DELETE after the send_date: 422, and the answer fits the spec' "$code ${viol:-none}" '422 none'
is 'postcards: its code is not_deletable' "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["error"]["code"])' "$T/px.body")" not_deletable
px DELETE "/letters/$late_l"
is 'letters: DELETE after the window: 422, and the answer fits the spec' "$code ${viol:-none}" '422 none'
is 'letters: its code is not_deletable' "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["error"]["code"])' "$T/px.body")" not_deletable

# -- Prism does check: requests and answers it refuses --
px POST /postcards "$(body postcards 2026-11-30T09:30:00)"
case $viol in *'"request","body","send_date"'*) v=send_date ;; *) v="${viol:-none}" ;; esac
is 'control: a send_date without a time zone is a violation (Lob reads it as UTC; the spec does not)' "$v" send_date
px DELETE /postcards/ltr_0123456789abcdef
case $viol in *'"request","path","psc_id"'*) v=psc_id ;; *) v="${viol:-none}" ;; esac
is 'control: a letter id on the postcards path is a violation' "$v" psc_id
lob_admin POST /__admin/faults '{"status":200,"body":{"id":"psc_1","deleted":"yes"},"path_prefix":"/postcards","method":"DELETE"}' >/dev/null
px DELETE /postcards/psc_0123456789abcdef
case $viol in *'"response","body","deleted"'*) v=deleted ;; *) v="${viol:-none}" ;; esac
is 'control: an answer the spec refuses is a violation (Prism checks answers too)' "$v" deleted
is 'Prism forwarded each request to the fake' "$(grep -c 'Forwarding' "$T/proxy.log")" "$sent"
done_testing
