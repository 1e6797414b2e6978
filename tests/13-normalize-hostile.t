#!/bin/sh
# fs-normalize on values a CRM export or a vendor can send that libjq 1.6
# handles badly: a number of milliseconds outside gmtime's range (todate
# aborted the process: no DLQ entry, no cursor, the same crash every run),
# numbers that tonumber makes NaN or infinite, and long runs that made the
# shipped maps' sub and gsub quadratic.  Each goes to the DLQ with its
# reason, or through, and the run goes on.
. "$(dirname "$0")/lib.sh"
plan 11

# An NDJSON export read with --source (raw objects), a cursor after the bad line.
cat >export.ndjson <<'EOF'
{"id":"1","updatedAt":70000000000000000000,"properties":{"email":"ann@example.com"}}
{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"2026-11-29T12:00:00Z"}
{"id":"2","updatedAt":"2026-11-29T10:00:00Z","properties":{"email":"bob@example.com"}}
EOF
run fs-normalize --source hubspot --commit <export.ndjson
is 'a timestamp of 7e19 ms: exit 1, not an abort' "$status" 1
err_is 'the reason on stderr, naming the value and the range' <<'EOF'
fs-normalize: line 1: map error: time 7e+19 is out of range (epoch milliseconds of the years 1000 to 9999)
EOF
out_norun_is 'the checkpoint and the next record go through' <<'EOF'
{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"2026-11-29T12:00:00Z"}
{"type":"event","id":"evt_2fe76fc5c9d057ae638c4c1555cd415f","source":"hubspot","kind":"contact.changed","object":"contact:2","occurred_at":"2026-11-29T10:00:00Z","data":{"id":"2","email":"bob@example.com","updated_at":"2026-11-29T10:00:00Z"}}
EOF
is 'the line is in the DLQ, as it came' "$(sql "select command, source, lineno, reason, bytes from dlq")" \
	'fs-normalize|hubspot|1|map error: time 7e+19 is out of range (epoch milliseconds of the years 1000 to 9999)|{"id":"1","updatedAt":70000000000000000000,"properties":{"email":"ann@example.com"}}'
is 'and the cursor moved past it' "$(sql "select source, stream, cursor from cursors")" \
	'hubspot|contacts|2026-11-29T12:00:00Z'

# Every shipped map that reads a time: engagements, deals, Lob events.
cat >records.ndjson <<'EOF'
{"type":"record","source":"hubspot","stream":"calls","data":{"id":"11","properties":{"hs_timestamp":-70000000000000000000},"associations":{"contacts":{"results":[{"id":"2"}]}}}}
{"type":"record","source":"hubspot","stream":"deals","data":{"id":"12","properties":{"dealstage":"closedwon","amount":"10","closedate":253402300800000},"associations":{"contacts":{"results":[{"id":"2"}]}}}}
{"type":"record","source":"lob-events","data":{"id":"evt_13","date_created":1e308,"event_type":{"id":"postcard.delivered"},"body":{"id":"psc_13"}}}
{"type":"record","source":"lob-events","data":{"id":"evt_14","date_created":253402300799999,"event_type":{"id":"postcard.delivered"},"body":{"id":"psc_14"}}}
EOF
run fs-normalize <records.ndjson
is 'a call, a deal and a Lob event out of range: exit 1' "$status" 1
err_is 'each one line' <<'EOF'
fs-normalize: line 1: map error: time -7e+19 is out of range (epoch milliseconds of the years 1000 to 9999)
fs-normalize: line 2: map error: time 253402300800000 is out of range (epoch milliseconds of the years 1000 to 9999)
fs-normalize: line 3: map error: time 1e+308 is out of range (epoch milliseconds of the years 1000 to 9999)
EOF
out_norun_is 'the last millisecond of year 9999 is a time' <<'EOF'
{"type":"event","id":"evt_357871995cb6fb15db5ce92d02004de6","source":"lob-events","kind":"mail.status","object":"mail:psc_14","occurred_at":"9999-12-31T23:59:59Z","data":{"vendor":"lob","vendor_id":"psc_14","status":"delivered","detail":"postcard.delivered"}}
EOF

# tonumber makes NaN of "nan" and infinity of "1e999": jq wrote them as null
# and 1.7976931348623157e+308, and the deal passed validation.
cat >deals.ndjson <<'EOF'
{"type":"record","source":"hubspot","stream":"deals","data":{"id":"21","properties":{"dealstage":"closedwon","amount":"nan","closedate":"2026-11-20T00:00:00Z"},"associations":{"contacts":{"results":[{"id":"2"}]}}}}
{"type":"record","source":"hubspot","stream":"deals","data":{"id":"22","properties":{"dealstage":"closedwon","amount":"1e999","closedate":"2026-11-20T00:00:00Z"},"associations":{"contacts":{"results":[{"id":"2"}]}}}}
EOF
run fs-normalize <deals.ndjson
# The revenue cannot do without its amount: the line goes to the DLQ.  The
# job the deal also is can: its total moves to data.invalid, and it goes on.
# (Six dead letters: the four lines above out of range, and these two.)
is 'amounts that are not finite: exit 1, the revenue to the DLQ, the job on without its total' \
	"$status/$(jq -c '[.kind, .data.total, .data.invalid.total.reason]' "$T/out" | tr '\n' ' ')/$(cat "$T/err")/$(fs-dlq count)" \
'1/["job.changed",null,"not a finite number"] ["job.changed",null,"not a finite number"] /fs-normalize: line 1: "amount" is not a finite number
fs-normalize: line 2: "amount" is not a finite number/6'

# Long runs of blanks and separators, where sub("\\s+$") backtracked at every
# blank and gsub made an edit per character: minutes to hours of CPU for a
# line of a few hundred kilobytes.  Under a CPU-time limit (not a clock: a
# loaded machine is slow, not wrong), the shipped maps read them in one pass.
python3 -c '
import json
n = 200000
print("ID,Email,Phone,City,Zip,Updated At")
print("31,c@example.com,(512) 555-0100%sx 12,x%sx ,78701%s,2026-11-29T10:00:00Z" % (" " * n, " " * n, "-" * n))
print(json.dumps({"type": "record", "source": "hubspot", "stream": "contacts", "data": {"id": "32",
    "updatedAt": "2026-11-29T10:00:00Z", "properties": {"city": "x" + " " * n + "x ",
    "phone": "+1 512 555 0100" + " " * n + "ext. 12", "zip": "78701" + "-" * n}}}, separators=(",", ":")),
    file=open("long.ndjson", "w"))
' >long.csv
run sh -c 'ulimit -t 60; fs-pull -q csv:long.csv | fs-normalize; FS_JQ_ONLY=1 fs-normalize <long.ndjson'
is 'a CSV row and a HubSpot record (through libjq) with 200,000 blanks or dashes: read' \
	"$status/$(cat "$T/err")/$(jq -c '.data | [.id, .phone, (.address.city | length), .address.postal_code]' "$T/out")" \
	'0//["31","+15125550100",200002,"78701"]
["32","+15125550100",200002,"78701"]'
is 'nothing more in the DLQ' "$(sql 'select count(*) from dlq')" 6
done_testing
