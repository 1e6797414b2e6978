#!/bin/sh
# fs-report formats: RFC 4180 CSV with a header row, NDJSON, text on a
# terminal, JSON when stdout is not one; --section; windows by date.
. "$(dirname "$0")/lib.sh"
plan 14
"$top/tests/fixtures/report-state.sh" || { echo "Bail out! fixture state"; exit 1; }
crlf=$(printf '\r')

run fs-report sla --format csv
is 'csv: exit 0' "$status" 0
is 'csv: every record ends in CRLF' "$(grep -c "$crlf\$" "$T/out")/$(wc -l <"$T/out")" 6/6
is 'csv: header row, then the first section (follow-up)' "$(tr -d '\r' <"$T/out")" \
'by,name,owner_name,pieces,followed,med_d,p90_d,med_bd,p90_bd,met,missed,open,met_pct
all,all,,5,3,1.1,6.2,1,4,2,2,1,50.0
campaign,thank-you,,3,2,1.1,6.2,1,4,1,1,1,50.0
campaign,win-back,,2,1,0.9,0.9,0,0,1,1,0,50.0
owner,alice,alice,3,2,0.9,1.1,0,1,2,0,1,100.0
owner,bob,bob,2,1,6.2,6.2,4,4,0,2,0,0.0'
run fs-report sla --format csv --section vendor_sla
is 'csv --section: another section, empty cells for none' "$(tr -d '\r' <"$T/out")" \
'stage,target_bd,pieces,done,med_bd,p90_bd,met,missed,open,met_pct
mailed,2,7,6,1,2,5,2,0,71.4
delivered,7,6,5,3,4,5,0,1,100.0'
vid() { sql "select vendor_id from pieces where event_id = '$1'"; }
run fs-report changelog --event evt_p2 --format csv
tr -d '\r' <"$T/out" >"$T/got"
cat >"$T/want" <<EOT
at,kind,object,event_id,run_id,contact_id,campaign,target,vendor_id,status,from,to,reason,price,detail
2026-11-17T09:05:00Z,send,contact:c2,evt_p2,$(sql "select run_id from changelog where event_id = 'evt_p2'"),c2,thank-you,,$(vid evt_p2),,,,,,"{""http_status"":200,""attempts"":1,""requested_at"":""2026-11-17T09:00:00Z"",""first_attempt_at"":""2026-11-17T09:05:00Z"",""accepted_at"":""2026-11-17T09:05:00Z""}"
EOT
check_same 'csv: the common detail keys in columns, the rest in detail, quotes doubled inside a quoted field (RFC 4180)' "$T/want" "$T/got"
run fs-report changelog --event evt_p2 --format excel-csv
{
	printf '\357\273\277at,kind,object,event_id,run_id,contact_id,campaign,target,vendor_id,status,from,to,reason,price,detail\r\n'
	printf '2026-11-17 09:05:00,send,contact:c2,evt_p2,%s,c2,thank-you,,%s,,,,,,"{""http_status"":200,""attempts"":1,""requested_at"":""2026-11-17T09:00:00Z"",""first_attempt_at"":""2026-11-17T09:05:00Z"",""accepted_at"":""2026-11-17T09:05:00Z""}"\r\n' \
		"$(sql "select run_id from changelog where event_id = 'evt_p2'")" "$(vid evt_p2)"
} >"$T/want"
check_same 'excel-csv, byte for byte: BOM, CRLF, the time column as YYYY-MM-DD HH:MM:SS (the rest of the detail as JSON)' "$T/want" "$T/out"
run fs-report health --format csv --section incidents
tr -d '\r' <"$T/out" >"$T/got"
cat >"$T/want" <<EOT
id,rule,subject,detected,opened_at,state,acked_at,acked_by,resolved_at,ack_min,recovery_min
1,webhook,lob-events,failures,2026-11-21T08:00:00Z,resolved,2026-11-21T08:20:00Z,dana,2026-11-21T09:30:00Z,20.0,90.0
2,webhook,lob-events,silence,2026-11-24T14:00:00Z,resolved,2026-11-24T14:05:00Z,dana,2026-11-24T14:45:00Z,5.0,45.0
3,dlq,dlq,dlq,2026-11-29T20:00:00Z,open,,,,,
4,follow_up,$(vid evt_p3),sla,2026-11-29T20:00:00Z,open,,,,,
EOT
check_same 'csv: every column, the wide ones the text table leaves out too' "$T/want" "$T/got"

# Not a terminal and no --format: NDJSON, a header line then a line per row.
run fs-report pilot
out_is 'json is the default off a terminal: the pilot table' <<'EOT'
{"report":"pilot","title":"Pilot: before and after","from":"2026-11-16T01:00:00Z","to":"2026-11-30T01:00:00Z","generated_at":"2026-11-30T01:00:00Z","empty":null,"sections":[{"name":"pilot","title":"Before and after","rows":18,"note":"baseline 2026-11-02..2026-11-16, pilot 2026-11-16..2026-11-30; - means not measured (fieldsync was not running, or nothing to measure)","empty":null}],"baseline_from":"2026-11-02T01:00:00Z","baseline_to":"2026-11-16T01:00:00Z"}
{"section":"pilot","metric":"pieces_mailed","unit":"pieces","baseline":4,"pilot":7,"change":3}
{"section":"pilot","metric":"pieces_delivered","unit":"pieces","baseline":4,"pilot":5,"change":1}
{"section":"pilot","metric":"follow_up_median","unit":"business days","baseline":3,"pilot":1,"change":-2}
{"section":"pilot","metric":"follow_up_p90","unit":"business days","baseline":5,"pilot":4,"change":-1}
{"section":"pilot","metric":"follow_up_median_days","unit":"days","baseline":3.1,"pilot":1.1,"change":-2}
{"section":"pilot","metric":"follow_up_sla_missed","unit":"pieces","baseline":3,"pilot":2,"change":-1}
{"section":"pilot","metric":"follow_up_sla_missed_pct","unit":"%","baseline":75,"pilot":50,"change":-25}
{"section":"pilot","metric":"double_mailings","unit":"pieces","baseline":1,"pilot":0,"change":-1}
{"section":"pilot","metric":"duplicate_triggers_suppressed","unit":"triggers","baseline":null,"pilot":8,"change":null}
{"section":"pilot","metric":"pieces_suppressed","unit":"pieces","baseline":null,"pilot":0,"change":null}
{"section":"pilot","metric":"pieces_capped","unit":"pieces","baseline":null,"pilot":0,"change":null}
{"section":"pilot","metric":"pieces_held","unit":"pieces","baseline":null,"pilot":0,"change":null}
{"section":"pilot","metric":"pieces_cancelled","unit":"pieces","baseline":null,"pilot":0,"change":null}
{"section":"pilot","metric":"cost_sent","unit":"price units","baseline":null,"pilot":null,"change":null}
{"section":"pilot","metric":"cost_spared","unit":"price units","baseline":null,"pilot":null,"change":null}
{"section":"pilot","metric":"webhook_outages_detected","unit":"outages","baseline":null,"pilot":2,"change":null}
{"section":"pilot","metric":"audit_trail_complete_pct","unit":"%","baseline":0,"pilot":85.7,"change":85.7}
{"section":"pilot","metric":"recovery_avg_min","unit":"minutes","baseline":null,"pilot":67.5,"change":null}
EOT
run fs-report health --format ndjson --section status
is 'ndjson is json; the health panel now' "$(jq -r 'select(.section) | "\(.item) \(.subject) \(.value) \(.state)"' "$T/out")" \
'last_event_received lob-events 2026-11-29T22:59:00Z ok
last_sync hubspot/contacts 2026-11-29T23:30:00Z ok
last_successful_delivery contact:c4 2026-11-24T09:05:00Z ok
consecutive_failures lob-events 2 warn
mode lob-events webhook ok
retrying null 1 delivery backing off, up to attempt 2, next 2026-11-30 01:30 warn
dlq_open null 1 warn
open_alerts null 2 bad
active_holds null 1 bad'
if command -v script >/dev/null 2>&1; then
	script -qc 'fs-report dedupe --section scans' /dev/null >"$T/tty" 2>&1
	is 'text is the default on a terminal' "$(tr -d '\r' <"$T/tty")" \
'dedupe: Duplicate triggers and duplicate sets, 2026-11-16 01:00 to 2026-11-30 01:00 UTC

Duplicate-set scans (report only: the CRM merges)
AT                SETS  CONTACTS  CHANGE
2026-11-17 03:00     2         4       -
2026-11-24 03:00     1         2      -1'
else
	skip 'script(1) is not installed'
fi

run fs-report pilot --format csv
is 'pilot csv: the metric column keeps its stable key (text and HTML print words)' "$(tr -d '\r' <"$T/out" | sed -n '1,2p;8p')" \
'metric,unit,baseline,pilot,change
pieces_mailed,pieces,4,7,3
follow_up_sla_missed_pct,%,75,50,-25'
# fs-report(1)'s Power BI example, run as the page writes it.
sed -n '/^The CSV files for Power BI Desktop/,/^\.Ed/p' "$top/man/fs-report.1" | sed '1,3d;$d' >bi.sh
sh -e bi.sh 2>"$T/err"
is 'the Power BI example runs as written: one CSV a section, each with its header' \
	"$?/$(cat "$T/err")/$(cd fieldsync-bi && for f in *.csv; do printf '%s %s\n' "$f" "$(head -n 1 "$f" | tr -d '\r')"; done)" \
	"0//outcomes-deals.csv deal_id,contact_id,amount,currency,won_at,vendor_id,campaign,days_after_mail
outcomes-responses.csv $(fs-report outcomes --section responses --format csv | head -n 1 | tr -d '\r')
outcomes-revenue.csv $(fs-report outcomes --section revenue --format csv | head -n 1 | tr -d '\r')
outcomes-spend.csv day,campaign,outcome,pieces,cost
pilot.csv metric,unit,baseline,pilot,change
sla-followup.csv by,name,owner_name,pieces,followed,med_d,p90_d,med_bd,p90_bd,met,missed,open,met_pct
sla-mail_status.csv $(fs-report sla --section mail_status --format csv | head -n 1 | tr -d '\r')
sla-misses.csv $(fs-report sla --section misses --format csv | head -n 1 | tr -d '\r')
sla-speed.csv $(fs-report sla --section speed --format csv | head -n 1 | tr -d '\r')
sla-vendor_sla.csv stage,target_bd,pieces,done,med_bd,p90_bd,met,missed,open,met_pct"
# Windows: a date for --to covers that whole day; --pilot and --baseline as FROM..TO.
run fs-report pilot --pilot 2026-11-23..2026-11-29 --baseline 2026-11-02..2026-11-08 --format json
is 'pilot with explicit windows' "$(jq -r 'select(.metric == "pieces_delivered" or .metric == "follow_up_median" or .metric == "double_mailings") | "\(.metric) \(.baseline) \(.pilot)"' "$T/out")/$(head -n 1 "$T/out" | jq -r '"\(.baseline_from) \(.baseline_to) \(.from) \(.to)"')" \
'pieces_delivered 1 3
follow_up_median 5 0
double_mailings 1 0/2026-11-02T00:00:00Z 2026-11-09T00:00:00Z 2026-11-23T00:00:00Z 2026-11-30T00:00:00Z'
run fs-report outcomes --from 2026-11-18T00:00:00Z --to 2026-11-18 --format csv --section deals
is 'outcomes: a window without deals has a header and no rows' "$(tr -d '\r' <"$T/out")" \
'deal_id,contact_id,amount,currency,won_at,vendor_id,campaign,days_after_mail'
done_testing
