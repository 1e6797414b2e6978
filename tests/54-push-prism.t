#!/bin/sh
# Contract test: fs-push's Lob requests against Stoplight Prism serving Lob's
# OpenAPI spec.  A request Lob would refuse gets 422 and sl-violations there.
# Skips when Prism cannot be installed (no npm).
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
"$top/scripts/prism" start "$T/prism.port" "$T/prism.log" "$T/prism.pid" >/dev/null 2>"$T/prism.err"
case $? in
0) ;;
77) skip_all "Prism is not available: $(tail -n 1 "$T/prism.err")" ;;
*) echo "Bail out! Prism did not start: $(tail -n 3 "$T/prism.err")"; exit 1 ;;
esac
trap '"$top/scripts/prism" stop "$T/prism.pid"; stop_fakes; rm -rf "$T"' EXIT
plan 6
export LOB_API_KEY=sk_test_s3cret
cat >fieldsync.conf <<EOF2
[target "mail"]
kind      = lob
url       = http://127.0.0.1:$(cat "$T/prism.port")
token_env = LOB_API_KEY
EOF2
{ mreq evt_p1 101; mreq evt_p2 102 letter; mreq evt_p3 103 postcard thanks "$(printf 'N%.0s' $(seq 50))"; } >in.ndjson
# Lines from here on are ours (the start-up probe asks without a key).
mark=$(wc -l <"$T/prism.log")
ours() { tail -n +$((mark + 1)) "$T/prism.log"; }
run fs-push --parallel 1 mail <in.ndjson
is 'postcards and letters pass the spec: exit 0' "$status" 0
is 'each one answered 200' "$(grep -o '"status":"[a-z]*","vendor_id":"[a-z]*_' "$T/out" | tr '\n' ' ')" \
	'"status":"sent","vendor_id":"psc_ "status":"sent","vendor_id":"ltr_ "status":"sent","vendor_id":"psc_ '
is 'no violation reported' "$(ours | grep -ci 'violation')" 0

# The list by metadata (the look before a create that may have been made
# already, here by a run killed after it claimed the row) passes too.
mreq evt_p4 104 >late.ndjson
LOB_API_KEY= fs-push mail <late.ndjson >/dev/null 2>&1
sql "update outbox set claims = 1, first_attempt_at = '2026-11-30T00:59:00Z' where event_id = 'evt_p4'"
run fs-push --retry-only mail </dev/null
is 'a list by metadata: exit 0' "$status" 0
is 'a list by metadata: the vendor was asked' "$(ours | grep -c 'get /postcards.*Request received')" 1
is 'a list by metadata: no violation' "$(ours | grep -ci 'violation')" 0
done_testing
