#!/bin/sh
# fs-report changelog as CSV (issue 16): the detail keys most kinds write in
# columns of their own (contact_id, campaign, target, vendor_id, status,
# from, to, reason, price), the rest of the detail in the last column, so
# that nothing is lost; excel-csv likewise; text and JSON as before.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fakes'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 11
head='at,kind,object,event_id,run_id,contact_id,campaign,target,vendor_id,status,from,to,reason,price,detail'
# CSV without its run_id column (a run's id differs from run to run), CRLF read.
norun_csv() { python3 -c 'import csv, sys
w = csv.writer(sys.stdout, lineterminator="\n")
for r in csv.reader(sys.stdin):
    w.writerow(r[:4] + r[5:])' <"$T/out"; }

# The report fixture: real commands over November.
"$top/tests/fixtures/report-state.sh" || { echo "Bail out! fixture state"; exit 1; }
run fs-report changelog --from 2026-11-01 --format csv
is 'csv: exit 0, the spread columns before detail' "$status/$(head -n 1 "$T/out" | tr -d '\r')" "0/$head"
run fs-report changelog --from 2026-11-01 --kind 'fallback.*' --format csv
is 'fallbacks: from and to in columns, why left in detail' "$(norun_csv)" \
'at,kind,object,event_id,contact_id,campaign,target,vendor_id,status,from,to,reason,price,detail
2026-11-21T08:00:00Z,fallback.polling,lob-events,,,,,,,webhook,polling,,,"{""why"":""alert #1: 3 signature failures in a row""}"
2026-11-21T09:30:00Z,fallback.webhook,lob-events,,,,,,,polling,webhook,,,"{""why"":""three good deliveries in a row""}"
2026-11-24T14:00:00Z,fallback.polling,lob-events,,,,,,,webhook,polling,,,"{""why"":""alert #2: no event for 1h00m with 1 piece in flight""}"
2026-11-24T14:45:00Z,fallback.webhook,lob-events,,,,,,,polling,webhook,,,"{""why"":""three good deliveries in a row""}"'
run fs-report changelog --from 2026-11-01 --kind mail.status --contact c1 --format csv
is "a piece's status: contact, campaign, piece and status in columns, the vendor's event in detail" \
	"$(norun_csv | sed -n '1p;4p')" \
"at,kind,object,event_id,contact_id,campaign,target,vendor_id,status,from,to,reason,price,detail
2026-11-19T12:00:00Z,mail.status,mail:$(sql "select vendor_id from pieces where event_id = 'evt_p1'"),evt_s_$(sql "select vendor_id from pieces where event_id = 'evt_p1'")_delivered,c1,thank-you,,$(sql "select vendor_id from pieces where event_id = 'evt_p1'"),delivered,,,,,\"{\"\"vendor_event\"\":\"\"postcard.delivered\"\"}\""
run fs-report changelog --from 2026-11-01 --kind suppress.add --format csv
is 'a suppression: the reason in its column (quoted: it has a comma)' "$(norun_csv)" \
'at,kind,object,event_id,contact_id,campaign,target,vendor_id,status,from,to,reason,price,detail
2026-11-29T12:00:00Z,suppress.add,,,,,,,,,,"ltr_da2cec255404e4fb440034d6, returned 2026-11-25T12:00:00Z",,"{""kind"":""address"",""value"":""1 Main St, Springfield IL 62701"",""origin"":""returned""}"'


# Nothing is lost: each CSV row's spread cells and the rest of its detail
# are its JSON detail, key for key.
fs-report changelog --from 2026-11-01 --format csv >all.csv
fs-report changelog --from 2026-11-01 --format json >all.json
cat >same.py <<'EOF'
import csv, json
rows = list(csv.DictReader(open("all.csv", newline="", encoding="utf-8")))
dets = [o["detail"] for o in map(json.loads, open("all.json")) if o.get("section") == "entries"]
spread = "contact_id campaign target vendor_id status from to reason price".split()

def same(v, text):
    if v is None:
        return text == ""
    if isinstance(v, bool):
        return text == ("true" if v else "false")
    if isinstance(v, (int, float)):
        return float(text) == v
    return text == v

bad = 0
for r, d in zip(rows, dets):
    rest = json.loads(r["detail"]) if r["detail"] else {}
    for k in spread:
        if k in d and not isinstance(d[k], (dict, list)):
            bad += k in rest or not same(d[k], r[k])
        else:
            bad += r[k] != "" or rest.get(k) != d.get(k)
    bad += set(rest) | {k for k in spread if k in d} != set(d)
print(len(rows), len(dets), bad)
EOF
rows=$(jq -s '[.[] | select(.section == "entries")] | length' all.json)
is "all $rows rows: the spread columns and the rest give back the JSON detail" "$(python3 same.py)" "$rows $rows 0"

# Prices and reasons: fs-push with a price at the target, a contact on the
# do-not-mail list (another state file), on the last day of the window.
export FS_STATE="$T/push.db" LOB_API_KEY=sk_test_s3cret
start_lob
lob_conf "price     = postcard 0.65, letter 1.10"
fs-suppress -q add --contact 101 --reason 'asked us to stop' >/dev/null
{ mreq evt_s1 101; mreq evt_s2 102; } >s.ndjson
run fs-push --parallel 1 mail <s.ndjson
is 'fs-push: exit 0' "$status/$(cat "$T/err")" 0/
vid=$(sql "select vendor_id from pieces where event_id = 'evt_s2'")
run fs-report changelog --from 2026-11-29 --to 2026-11-30 --kind 'send*' --format csv
is 'send and send.suppressed: contact, campaign, target, piece, reason and price in columns' "$status/$(norun_csv)" \
"0/at,kind,object,event_id,contact_id,campaign,target,vendor_id,status,from,to,reason,price,detail
$FS_NOW,send.suppressed,contact:101,evt_s1,101,thanks,mail,,,,,the contact is on the do-not-mail list: asked us to stop,0.65,
$FS_NOW,send,contact:102,evt_s2,102,thanks,,$vid,,,,,0.65,\"{\"\"http_status\"\":200,\"\"attempts\"\":1,\"\"requested_at\"\":\"\"2026-11-29T10:00:00Z\"\",\"\"first_attempt_at\"\":\"\"$FS_NOW\"\",\"\"accepted_at\"\":\"\"$FS_NOW\"\"}\""
run fs-report changelog --from 2026-11-29 --to 2026-11-30 --kind send.suppressed --format excel-csv
is 'excel-csv: the BOM, the same header, the time as Excel reads it, CRLF' \
	"$status/$(head -c 3 "$T/out" | od -An -to1 | tr -d ' ')/$(sed -n 1p "$T/out" | tail -c +4 | tr -d '\r')/$(sed -n 2p "$T/out" | cut -d, -f1,2,13-15)" \
	"0/357273277/$head/$(echo "$FS_NOW" | tr T ' ' | tr -d Z),send.suppressed,the contact is on the do-not-mail list: asked us to stop,0.65,$(printf '\r')"
run fs-report changelog --from 2026-11-29 --to 2026-11-30 --kind send.suppressed --format json
is 'json: the detail as it was, one object' "$status/$(jq -c 'select(.section == "entries") | .detail' "$T/out")" \
	'0/{"target":"mail","contact_id":"101","campaign":"thanks","reason":"the contact is on the do-not-mail list: asked us to stop","price":0.65}'
run fs-report changelog --from 2026-11-29 --to 2026-11-30 --kind send.suppressed --format text
is 'text: the detail column as before' "$status/$(sed -n 4p "$T/out" | tr -s ' ')" '0/AT KIND OBJECT EVENT ID DETAIL'
run fs-report changelog --from 2026-11-29 --to 2026-11-30 --kind send.suppressed --section kinds --format csv
is 'the kinds section has no detail to spread' "$status/$(tr -d '\r' <"$T/out")" '0/kind,rows
send.suppressed,1'
done_testing
