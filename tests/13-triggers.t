#!/bin/sh
# Campaigns fire when a value enters their trigger (issue 15): first sight
# and backfill, edits, leaving and coming back, re-runs, two campaigns on a
# goal, jobs, filters, invalid optional fields, do-not-mail, and the config
# errors of a trigger that cannot fire.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 43
export HUBSPOT_TOKEN=test-token

# A CRM's export: 40 customers whose job was completed on day N of November.
{
	echo 'Contact ID,First Name,Last Name,Phone,Street Address,City,State,Zip,Job Status,Last Modified'
	for i in $(seq 1 40); do
		printf '%d,Pat,Lee%d,512 555 %04d,%d Oak St,Austin,TX,78701,job_completed,2026-11-%02dT09:00:00Z\n' \
			"$i" "$i" "$i" "$i" $(( (i - 1) % 28 + 1 ))
	done
} >export.csv
cat >fieldsync.conf <<'EOF'
[campaign "thank-you"]
goal     = retention
trigger  = status = job_completed
template = tmpl_thanks
EOF
# mails FILE: the mail requests of a run, "contact campaign from->to id" a line.
mails() { jq -r 'select(.kind == "mail.requested") | "\(.data.contact_id) \(.data.campaign) \(.data.trigger.from)->\(.data.trigger.to) \(.id)"' "${1:-$T/out}"; }
pipe() { fs-pull "$@" | fs-normalize; }

# --- first sight ----------------------------------------------------------
run sh -c 'fs-pull csv:export.csv | fs-normalize'
is 'first run, no backfill: 40 contacts, no mail request, exit 0' \
	"$status/$(grep -c '"kind":"contact.changed"' "$T/out")/$(mails | wc -l)" 0/40/0
is 'it records what it saw, and the campaign first run' \
	"$(sql "select count(*) from contacts where status = 'job_completed' and prev_version is null; select campaign, first_run_at from campaigns")" \
	'40
thank-you|2026-11-30T01:00:00Z'
err_is 'the only word: the trigger is not checked (no listing), said once' <<'EOF'
fs-normalize: campaign 'thank-you': its trigger is not checked: no fs-pull --describe listing of source 'hubspot', 'csv', 'jobber', 'sheets' or 'servicetitan' (said once; see fieldsync(7), "Checking a campaign")
EOF
run sh -c 'fs-pull csv:export.csv | fs-normalize'
is 'the same export again: nothing, nothing said' "$(mails | wc -l)/$(cat "$T/err")" 0/

# With backfill = 7d, first sights changed in the 7 days before the first run count.
rm -f fieldsync.db*
printf 'backfill = 7d\n' >>fieldsync.conf
run sh -c 'fs-pull csv:export.csv | fs-normalize'
mails >first
is 'backfill 7d: the contacts changed since 2026-11-23T01:00:00Z, from null' \
	"$(cut -d' ' -f1-3 first | sort -n | tr '\n' ' ')" \
	'23 thank-you null->job_completed 24 thank-you null->job_completed 25 thank-you null->job_completed 26 thank-you null->job_completed 27 thank-you null->job_completed 28 thank-you null->job_completed '
run sh -c 'fs-pull csv:export.csv | fs-normalize'
is 'a re-run (after a crash, say) emits the same requests, same ids' "$(mails)" "$(cat first)"
FS_NOW=2026-12-02T01:00:00Z run sh -c 'fs-pull csv:export.csv | fs-normalize'
is 'and so does one two days later: the window is of the first run' "$(mails)" "$(cat first)"

# A contact first seen after the first run, changed since: it fires.
printf '41,Sam,Ray,,1 Elm St,Austin,TX,78701,job_completed,2026-12-01T10:00:00Z\n' >new.csv
sed -n 1p export.csv | cat - new.csv >new2.csv
FS_NOW=2026-12-02T01:00:00Z run sh -c 'fs-pull csv:new2.csv | fs-normalize'
is 'a new contact first seen later, changed after the first run: fires' "$(mails | cut -d' ' -f1-3)" \
	'41 thank-you null->job_completed'

# --- edits, leaving and coming back ----------------------------------------
# Contact 28 got its postcard; 40 days later its phone changes.
sed -n '1p;29p' export.csv | sed 's/512 555 0028/512 555 9999/; s/2026-11-28T09:00:00Z/2027-01-07T09:00:00Z/' >edit.csv
FS_NOW=2027-01-07T10:00:00Z run sh -c 'fs-pull csv:edit.csv | fs-normalize'
is 'a phone edit 40 days after the postcard: the contact, no request' \
	"$status/$(grep -c '"kind":"contact.changed"' "$T/out")/$(mails | wc -l)/$(jq -r 'select(.kind == "contact.changed") | .data.phone' "$T/out")" \
	'0/1/0/+15125559999'
# It leaves the trigger, then comes back: a new request, from the status it had.
sed 's/job_completed,2027-01-07T09:00:00Z/scheduled,2027-03-01T09:00:00Z/' edit.csv >leave.csv
sed 's/job_completed,2027-01-07T09:00:00Z/job_completed,2027-03-05T09:00:00Z/' edit.csv >back.csv
FS_NOW=2027-03-01T10:00:00Z run sh -c 'fs-pull csv:leave.csv | fs-normalize'
is 'leaving the trigger: no request' "$(mails | wc -l)" 0
FS_NOW=2027-03-05T10:00:00Z run sh -c 'fs-pull csv:back.csv | fs-normalize'
mails >back
is 'coming back: a request with trigger.from the status it left for' "$(cut -d' ' -f1-3 back)" \
	'28 thank-you scheduled->job_completed'
is 'its id is new (campaign@version), not the first postcard'"'"'s' "$(grep -c "$(cut -d' ' -f4 back)" first)" 0
FS_NOW=2027-03-05T10:00:00Z run sh -c 'fs-pull csv:back.csv | fs-normalize'
is 'the same version again: the same request, from and id' "$(mails)" "$(cat back)"
is 'the state keeps the version before, for that' \
	"$(sql "select version, prev_version, json_extract(prev, '$.status') from contacts where id = '28'")" \
	'2027-03-05T09:00:00Z|2027-03-01T09:00:00Z|scheduled'
# An older version read late fires nothing.
FS_NOW=2027-03-06T10:00:00Z run sh -c 'fs-pull csv:leave.csv | fs-normalize'
is 'an older version read late: no request, the state keeps the newer' \
	"$(mails | wc -l)/$(sql "select status from contacts where id = '28'")" 0/job_completed

# --- two campaigns on one goal; a new campaign ------------------------------
cat >>fieldsync.conf <<'EOF'

[campaign "welcome-back"]
goal     = retention
trigger  = status in job_completed, reactivated
template = tmpl_back
EOF
sed 's/job_completed,2027-03-05T09:00:00Z/scheduled,2027-04-01T09:00:00Z/' back.csv >leave2.csv
sed 's/job_completed,2027-03-05T09:00:00Z/job_completed,2027-04-02T09:00:00Z/' back.csv >back2.csv
FS_NOW=2027-04-01T10:00:00Z run sh -c 'fs-pull csv:back.csv | fs-normalize'
is 'a new campaign does not fire on a version seen before it ran (the old one repeats its own)' \
	"$(mails)" "$(cat back)"
FS_NOW=2027-04-01T10:00:00Z run sh -c 'fs-pull csv:leave2.csv | fs-normalize'
FS_NOW=2027-04-02T10:00:00Z run sh -c 'fs-pull csv:back2.csv | fs-normalize'
is 'two campaigns on one goal: both emit (fs-push enrols one)' "$(mails | cut -d' ' -f1-3 | sort)" \
	'28 thank-you scheduled->job_completed
28 welcome-back scheduled->job_completed'

# A request no pipeline took (a stage died before it), whose contact changed
# again before the pipeline read it again, is asked for again, same id, until
# the end of the pipeline has taken it (fs-push leaves an enrolment or a
# changelog row naming it); then never.
row50() { sed -n 1p export.csv; printf '50,Al,Fox,%s,5 Oak St,Austin,TX,78701,%s,%s\n' "$1" "$2" "$3"; }
row50 '' lead 2027-05-01T09:00:00Z >c50.csv
FS_NOW=2027-05-01T10:00:00Z fs-pull csv:c50.csv | fs-normalize >/dev/null 2>&1
row50 '' job_completed 2027-05-02T09:00:00Z >c50.csv
FS_NOW=2027-05-02T10:00:00Z run sh -c 'fs-pull csv:c50.csv | fs-normalize'
mails >lost
row50 '512 555 7777' job_completed 2027-05-03T09:00:00Z >c50.csv
FS_NOW=2027-05-03T10:00:00Z run sh -c 'fs-pull csv:c50.csv | fs-normalize'
is 'a request not taken, the contact changed since: asked for again, the same' "$(mails | sort)/$(wc -l <lost)" "$(sort lost)/2"
for id in $(cut -d' ' -f4 lost); do
	sql "insert into changelog (at, kind, event_id, detail) values ('2027-05-03T11:00:00Z', 'send', '$id', '{}')"
done
row50 '512 555 8888' job_completed 2027-05-04T09:00:00Z >c50.csv
FS_NOW=2027-05-04T10:00:00Z run sh -c 'fs-pull csv:c50.csv | fs-normalize'
is 'once taken: nothing, and it is forgotten' "$(mails | wc -l)/$(sql "select count(*) from entries where object = 'contact:50'")" 0/0

# --- jobs -------------------------------------------------------------------
rm -f fieldsync.db*
cat >fieldsync.conf <<'EOF'
[campaign "job-thanks"]
on       = job
goal     = job-thanks
trigger  = status = completed
template = tmpl_job
EOF
fs-pull csv:export.csv | fs-normalize >/dev/null 2>&1
cat >jobs.csv <<'EOF'
Job ID,Customer ID,Status,Type,Total,Completed,Last Modified,Street Address,City,State,Zip
J1,7,scheduled,repair,250,,2026-11-29T08:00:00Z,,,,
J2,7,scheduled,install,1200,,2026-11-29T08:00:00Z,,,,
J3,7,scheduled,repair,80,,2026-11-29T08:00:00Z,77 Lake Rd,Reno,NV,89501
EOF
run sh -c 'fs-pull --as jobs csv:jobs.csv | fs-normalize'
is 'three jobs seen first: job.changed each, no request' \
	"$(jq -r 'select(.kind == "job.changed") | "\(.object) \(.data.contact_id) \(.data.status) \(.data.total)"' "$T/out" | tr '\n' ' ')/$(mails | wc -l)" \
	'job:J1 7 scheduled 250 job:J2 7 scheduled 1200 job:J3 7 scheduled 80 /0'
sed 's/scheduled/completed/; s/,,2026-11-29T08:00:00Z/,2026-11-30T00:30:00Z,2026-11-30T00:30:00Z/' jobs.csv >done.csv
run sh -c 'fs-pull --as jobs csv:done.csv | fs-normalize'
is 'the three completed: three requests for one contact, each with its job' \
	"$(jq -r 'select(.kind == "mail.requested") | "\(.object) \(.data.contact_id) \(.data.job_id) \(.data.trigger.from)->\(.data.trigger.to) \(.data.to.line1), \(.data.to.city)"' "$T/out")" \
	'job:J1 7 J1 scheduled->completed 7 Oak St, Austin
job:J2 7 J2 scheduled->completed 7 Oak St, Austin
job:J3 7 J3 scheduled->completed 77 Lake Rd, Reno'
j1_request() { jq -c 'select(.kind == "mail.requested" and .data.job_id == "J1") | del(.run_id)' "$T/out"; }
is 'a job request in full: the contact'"'"'s name and address, the job id' "$(j1_request)" \
	'{"type":"event","id":"evt_a2779020c0be3dac13f17ee520ffaf95","source":"csv","kind":"mail.requested","object":"job:J1","occurred_at":"2026-11-30T00:30:00Z","data":{"contact_id":"7","job_id":"J1","campaign":"job-thanks","goal":"job-thanks","format":"postcard","template":"tmpl_job","back":"tmpl_job","to":{"name":"Pat Lee7","line1":"7 Oak St","city":"Austin","region":"TX","postal_code":"78701","country":"US"},"trigger":{"field":"status","from":"scheduled","to":"completed"}}}'
is 'jobs are kept in the state' "$(sql "select id, status, prev_version from jobs order by id" | tr '\n' ' ')" \
	'J1|completed|2026-11-29T08:00:00Z J2|completed|2026-11-29T08:00:00Z J3|completed|2026-11-29T08:00:00Z '
printf 'J4,99,completed,repair,90,2026-11-30T00:40:00Z,2026-11-30T00:40:00Z,,,,\n' >j4.csv
sed -n 1p jobs.csv | cat - j4.csv >j4b.csv
printf 'backfill = 1d\n' >>fieldsync.conf
run sh -c 'fs-pull --as jobs csv:j4b.csv | fs-normalize'
is 'a job whose contact is unknown: dead-lettered, saying so' "$status/$(grep line "$T/err")" \
	'1/fs-normalize: line 1: mail.requested for campaign "job-thanks": missing "to.name"; missing "to.line1"; missing "to.city"; missing "to.region"; missing "to.postal_code"; missing "to.country" (contact "99" is not in the state file)'

# --- filters ----------------------------------------------------------------
cat >>fieldsync.conf <<'EOF'
only     = type = repair and total >= 100
except   = region = NV
EOF
rm -f fieldsync.db*
fs-pull csv:export.csv | fs-normalize >/dev/null 2>&1
fs-pull --as jobs csv:jobs.csv | fs-normalize >/dev/null 2>&1
run sh -c 'fs-pull --as jobs csv:done.csv | fs-normalize'
is 'only = type = repair and total >= 100, except region = NV: J1 only' "$(mails | cut -d' ' -f1-3)" \
	'7 job-thanks scheduled->completed'
printf '[campaign "x"]\ntrigger = status = done\nonly = region = TX and\n' >bad.conf
run fs-normalize -c bad.conf </dev/null
is 'a malformed filter: exit 2, file and line' "$status/$(cat "$T/err")" \
	"2/fs-normalize: bad.conf:3: campaign 'x': only: nothing after 'and' in 'region = TX and'"
printf '[campaign "x"]\ntrigger = status = done\nexcept = region >= 5 and zip = 1\n' >bad.conf
run fs-push -c bad.conf mail </dev/null
is 'every command refuses it at load, each problem said' "$status/$(cat "$T/err")" \
	"2/fs-push: bad.conf:3: campaign 'x': except: 'region' is not a number: compare it with = or in"

# --- config errors ------------------------------------------------------------
printf '[campaign "x"]\ntrigger = lifecyclestage = customer\n' >bad.conf
run fs-normalize -c bad.conf </dev/null
is 'a trigger on lifecyclestage: exit 2, with what to write' "$status/$(cat "$T/err")" \
	"2/fs-normalize: bad.conf:2: campaign 'x': trigger: 'lifecyclestage' is HubSpot's property, not a field of contact.changed: HubSpot's lifecyclestage is the canonical status, so write 'trigger = status = customer'"
printf '[source "hubspot"]\nstatus_property = job_status\n[campaign "x"]\ntrigger = job_status = done\n' >bad.conf
run fs-normalize -c bad.conf </dev/null
is 'a trigger on the status_property: exit 2, write status' "$status/$(cat "$T/err")" \
	"2/fs-normalize: bad.conf:4: campaign 'x': trigger: 'job_status' is source 'hubspot''s status_property, not a field of contact.changed: write 'trigger = status = done'"
printf '[campaign "x"]\ntrigger = total = 5\n' >bad.conf
run fs-normalize -c bad.conf </dev/null
is 'a job field on a contact campaign: exit 2' "$status/$(cat "$T/err")" \
	"2/fs-normalize: bad.conf:2: campaign 'x': trigger: 'total' is a job's field: a campaign on jobs says 'on = job'"

# The README's campaign against a described HubSpot: job_completed is no lifecycle stage.
start_hubspot
cat >fieldsync.conf <<EOF
[source "hubspot"]
kind      = hubspot
url       = $HS
streams   = contacts, deals

[campaign "thank-you"]
trigger  = status = job_completed
template = tmpl_thanks
EOF
rm -f fieldsync.db*
fs-pull --describe hubspot >/dev/null
run fs-normalize </dev/null
is 'a status the source never gives: exit 2, naming the values it gives' "$status/$(cat "$T/err")" \
	"2/fs-normalize: fieldsync.conf:7: campaign 'thank-you': trigger: source 'hubspot' gives no status 'job_completed': its status comes from 'lifecyclestage', which has subscriber, lead, marketingqualifiedlead, salesqualifiedlead, opportunity, customer, evangelist, other (fs-pull --describe hubspot, 2026-11-30T01:00:00Z); set status_property to the property that has it"
hs_admin POST /__admin/properties '{"contacts":[{"name":"job_status","type":"enumeration","options":["scheduled","job_completed"]},{"name":"dnm","type":"bool"}]}' >/dev/null
cat >fieldsync.conf <<EOF
[source "hubspot"]
kind      = hubspot
url       = $HS
streams   = contacts, deals
status_property   = job_status
suppress_property = dnm

[campaign "thank-you"]
trigger  = status = job_completed
template = tmpl_thanks
EOF
fs-pull --describe hubspot >describe.out
is '--describe: the custom status property, mapped, with its values' "$(grep '^job_status' describe.out)" \
	'job_status	enumeration	job_status	mapped	scheduled, job_completed'
run fs-normalize </dev/null
is 'with status_property set and described again: the campaign loads, silent' "$status/$(cat "$T/err")" 0/
printf '\n[campaign "deals"]\non = job\ntrigger = status = closedwon, won\n' >>fieldsync.conf
run fs-normalize </dev/null
is 'a job campaign: checked against the deal stages' "$status/$(cat "$T/err")" \
	"2/fs-normalize: fieldsync.conf:14: campaign 'deals': trigger: source 'hubspot' gives no status 'won': its status comes from 'dealstage', which has appointmentscheduled, qualifiedtobuy, presentationscheduled, decisionmakerboughtin, contractsent, closedwon, closedlost (fs-pull --describe hubspot, 2026-11-30T01:00:00Z)"
sed -i '/^\[campaign "deals"\]/,$d' fieldsync.conf

# --- invalid optional fields, do-not-mail (HubSpot) --------------------------
hs_admin POST /__admin/contacts '[{"id":"501","properties":{"firstname":"Ann","lastname":"Lee","phone":"12","address":"1 Main St","city":"Austin","state":"TX","zip":"78701","job_status":"scheduled","dnm":"false"}},{"id":"502","properties":{"firstname":"Bo","lastname":"Ray","address":"2 Main St","city":"Austin","state":"TX","zip":"78701","job_status":"scheduled","dnm":"true"}}]' >/dev/null
fs-pull hubspot | fs-normalize | fs-dedupe >/dev/null
is 'the CRM flag is kept with the contact' "$(sql "select id, do_not_mail from contacts order by id" | tr '\n' ' ')" '501|0 502|1 '
hs_admin POST /__admin/clock '{"now":"2026-11-30T02:00:00Z"}' >/dev/null
hs_admin POST /__admin/contacts '[{"id":"501","properties":{"job_status":"job_completed"}},{"id":"502","properties":{"job_status":"job_completed"}}]' >/dev/null
FS_NOW=2026-11-30T02:00:00Z run sh -c 'fs-pull hubspot | fs-normalize'
is 'a phone of "12": moved to data.invalid, the contact goes on' \
	"$(jq -c 'select(.kind == "contact.changed" and .data.id == "501") | [.data.phone, .data.invalid]' "$T/out")" \
	'[null,{"phone":{"value":"12","reason":"not an E.164 phone number"}}]'
is 'and its mail request still goes; the do-not-mail contact'"'"'s carries the flag' \
	"$(jq -c 'select(.kind == "mail.requested") | [.data.contact_id, .data.to.name, .data.trigger.from, .data.do_not_mail]' "$T/out")" \
	'["501","Ann Lee","scheduled",null]
["502","Bo Ray","scheduled",true]'
is 'the do-not-mail contact'"'"'s event says so too' \
	"$(jq -c 'select(.kind == "contact.changed" and .data.id == "502") | .data.do_not_mail' "$T/out")" true
is 'exit 0: nothing dead-lettered' "$status/$(sql 'select count(*) from dlq')" 0/0
is 'the invalid field is counted in the run row' \
	"$(sql "select json_extract(detail, '$.invalid') from changelog where kind = 'run' and object = 'fs-normalize' order by id desc limit 1")" \
	'{"phone":1}'
FS_JQ_ONLY=1 FS_NOW=2026-11-30T02:00:00Z run sh -c 'fs-pull hubspot | fs-normalize'
is 'the jq map gives the same (the same version: the same requests)' \
	"$(jq -c 'select(.kind == "mail.requested") | [.id, .data.do_not_mail]' "$T/out" | tr '\n' ' ')" \
	"$(FS_NOW=2026-11-30T02:00:00Z sh -c 'fs-pull hubspot | fs-normalize' 2>/dev/null | jq -c 'select(.kind == "mail.requested") | [.id, .data.do_not_mail]' | tr '\n' ' ')"

# --- a CSV described: its status values -------------------------------------
rm -f fieldsync.db*
printf '[campaign "t"]\ntrigger = status = done\n' >fieldsync.conf
fs-pull --describe csv:export.csv >csv.describe
is '--describe csv:FILE: the fields its rows map to, and its status values' \
	"$(grep -E '^(status|phone|region)	' csv.describe)" \
	'phone	string	-	mapped	-
region	string	-	mapped	-
status	string	-	mapped	job_completed'
run fs-normalize </dev/null
is 'a status the export never holds: exit 2' "$status/$(cat "$T/err")" \
	"2/fs-normalize: fieldsync.conf:2: campaign 't': trigger: source 'csv' gives no status 'done': it gives job_completed (fs-pull --describe csv, 2026-11-30T01:00:00Z)"
done_testing
