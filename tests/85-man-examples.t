#!/bin/sh
# Every man page's EXAMPLES run as the page prints them (issue 16).
#
# The examples are taken from the pages themselves, not copied here: each
# .Dl line and .Bd -literal block of a page's EXAMPLES section is typeset by
# mandoc at 80 columns, as man(1) shows it, and that text is what runs, so
# that a page that changes is tested as it now reads (a .Dl line that mandoc
# fills, or whose quotes it eats, fails here as it would for a reader).
#
# Each page runs in a sandbox of its own: a copy of a directory holding
# fieldsync.conf and fieldsync.db (the defaults every command falls back to,
# so no -c or -s is needed), the vendors being the fake HubSpot and fake Lob
# (tests/fakes), with the files and the state the examples name.  A page's
# blocks run in order, in one shell each (bash -e -o pipefail, so that a
# failing stage inside a pipeline counts), and must exit 0 (or as listed
# below, with the page's reason) without a usage error.
#
# A block that cannot run in a sandbox (configuration for another program,
# a crontab line, systemctl, a system path) is listed in not_run below with
# the reason; a block neither run nor listed fails, and so does a listing
# that no longer matches a block, so that nothing is skipped silently.
. "$(dirname "$0")/lib.sh"
for c in mandoc col python3 jq sqlite3 curl bash; do
	command -v $c >/dev/null || skip_all "$c is needed"
done
. "$top/tests/push-lib.sh"
# The examples name no state file: fieldsync.db in the working directory;
# and they wait for a busy state file as long as a reader's would.
unset FS_STATE FS_BUSY_TIMEOUT

# Blocks not run: page, the block's first line as printed, why.
not_run=$(cat <<'EOF'
fs-health.1	object CheckCommand "fieldsync" {	Icinga's configuration, not a command
fs-health.1	fs-health --format prom > /var/lib/node_exporter/textfile/fs.prom.tmp;	writes node_exporter's directory under /var/lib, outside the sandbox
fs-hook.1	server.modules += ("mod_cgi", "mod_setenv")	lighttpd's configuration, not a command
fieldsync-jobber.7	[source "jobber"]	fieldsync.conf lines, not a command (the page's sandbox has them, with the fake's URL)
fieldsync-jobber.7	[target "jobber-crm"]	fieldsync.conf lines, not a command
fieldsync-sheets.7	[source "sheet"]	fieldsync.conf lines, not a command (the page's sandbox has them, with the fake's URL)
fieldsync-sheets.7	[target "sheet-crm"]	fieldsync.conf lines, not a command
fieldsync-postcardmania.7	[target "pcm"]	fieldsync.conf lines, not a command (the page's sandbox has them, with the fake's URL)
fieldsync-quickbooks.7	[source "qbo"]	fieldsync.conf lines, not a command (the page's sandbox has them, with the fake's URL)
fieldsync-servicetitan.7	[source "st"]	fieldsync.conf lines, not a command (the page's sandbox has them, with the fake's URLs)
fieldsync-servicetitan.7	[target "st-crm"]	fieldsync.conf lines, not a command
fs-hook.1	[source "lob-events"]	fieldsync.conf lines, not a command (the sandbox's config has them)
fs-hook.1	limit_req_zone $binary_remote_addr zone=hook:1m rate=10r/s;	nginx's configuration, not a command
fs-push.1	*/5 * * * * cd /var/lib/fieldsync && fs-push --retry-only mail	a crontab line
fs-report.1	fs-report sla --format html > /var/www/fieldsync/index.html.new &&	writes the web server's /var/www, outside the sandbox
fs-run.1	*/5 * * * * root umask 007; set -a; . /etc/fieldsync/tokens; \	a line of /etc/cron.d (as root, setpriv to the fieldsync user)
fs-run.1	systemctl start fieldsync-crm-to-mail.service	systemd on the host
fs-state.1	fs-state backup /var/backups/fieldsync-$(date +%F).db && fs-state check	writes /var/backups, outside the sandbox
fs-watchdog.1	[thresholds]	fieldsync.conf lines, not a command
fs-watchdog.1	command = [ -n "$FS_ALERT_OWNER" ] && mail -s "follow up" "$FS_ALERT_OWNER@example.com" || mail -s fieldsync ops@example.com	a fieldsync.conf line, and it sends mail
fs-watchdog.1	*/5 * * * * fieldsync fs-run watchdog 'fs-watchdog'	a line of /etc/cron.d
EOF
)
# Pages without an EXAMPLES section, and why.
no_examples=$(cat <<'EOF'
fieldsync.7	the overview: its command lines are in its DESCRIPTION, with the commands' own pages
EOF
)
# Blocks whose exit status is not 0: page, first line, status, the page's
# reason (none today: every example the pages give exits 0).
expect=$(cat <<'EOF'
EOF
)

# --- The examples, as man(1) prints them --------------------------------
# ex/PAGE.N.roff is a page's Nth block (.Dl line or .Bd -literal ... .Ed) of
# its EXAMPLES section, ex/PAGE.N.txt that block typeset at 80 columns,
# without the indentation of the section and of the display.
mkdir ex
render() {
	{ printf '.Dd November 30, 2026\n.Dt X 1\n.Os\n.Sh EXAMPLES\n'; cat "$1"; } |
		mandoc -Tascii -O width=80 | col -bx | sed '1,3d;$d' |
		awk '{ l[NR] = $0 } END { n = NR; while (n > 0 && l[n] == "") n--
			match(l[1], /^ */); ind = RLENGTH; for (i = 1; i <= n; i++) print substr(l[i], ind + 1) }'
}
pages=$(cd "$top/man" && ls *.1 *.7)
for p in $pages; do
	awk -v out="ex/$p" '
		/^\.Sh / { ex = $0 == ".Sh EXAMPLES"; if (ex) print "" >(out ".has"); next }
		bd { print >f; if (/^\.Ed/) { bd = 0; close(f) }; next }
		ex && /^\.Bd -literal/ { f = out "." ++n ".roff"; print >f; bd = 1; next }
		ex && /^\.Dl / { f = out "." ++n ".roff"; print >f; close(f) }
	' "$top/man/$p"
done
for f in ex/*.roff; do render "$f" >"${f%.roff}.txt"; done
# Blocks in page order, then block order: "PAGE N".
ls ex/*.txt | sed 's|^ex/\(.*\)\.\([0-9]*\)\.txt$|\1 \2|' | sort -k1,1 -k2,2n >blocks
listed() { # table page first-line: the table's row for the block, if any
	printf '%s\n' "$1" | awk -F '\t' -v p="$2" -v l="$3" '$1 == p && $2 == l'
}
# A TAP point a block, one a page without examples, one for stale listings.
plan $(($(wc -l <blocks) + $(echo "$no_examples" | wc -l) + 2))

# --- The sandbox the examples expect ----------------------------------
# The tokens and webhook secrets the configuration names; the fake Lob with
# the seed that makes its first piece psc_a4c123b1612dd272d1371c17, the id
# fs-push(1) cancels.
export HUBSPOT_TOKEN=hs-token LOB_API_KEY=test_key LOB_WEBHOOK_SECRET=lob-secret HUBSPOT_APP_SECRET=hs-secret
contact() { # id first last email street city state zip job_status modified
	printf '{"id":"%s","properties":{"firstname":"%s","lastname":"%s","email":"%s","phone":"512-555-0134","address":"%s","city":"%s","state":"%s","zip":"%s","job_status":"%s","hubspot_owner_id":"7","lastmodifieddate":"%s"}}' "$@"
}
{
	printf '{"contacts":[%s,\n' "$(contact 1234 Ann Lee ann@example.com '12 North Main Street, Apt. 4' Austin TX 78701-1234 job_completed 2026-11-29T10:00:00Z)"
	printf '%s,\n' "$(contact 1235 Bo Diaz bo@example.com '77 Elm Road Suite 5' Dallas TX 75201 scheduled 2026-11-29T10:05:00Z)"
	# 1236: 1235 again with another e-mail, a duplicate set for fs-dedupe scan.
	printf '%s]}\n' "$(contact 1236 Bo Diaz bo.diaz@example.com '77 Elm Road Suite 5' Dallas TX 75201 job_completed 2026-11-29T10:10:00Z)"
} >hs.json
start_hubspot --data "$T/hs.json"
hs_admin POST /__admin/rate '{"max":100000}' >/dev/null
start_lob --seed 7
# The fake Jobber, for fieldsync-jobber(7): a client with an address, her
# completed job and its paid invoice; $ACCESS and $REFRESH, a token pair as
# the authorization-code exchange gives one.
python3 "$top/tests/fakes/fake_jobber.py" --port 0 --port-file "$T/jb.port" --now "$FS_NOW" \
	--log "$T/jb.log" 2>>"$T/jb.stderr" &
fake_pids="$fake_pids $!"
wait_port "$T/jb.port" 'fake Jobber'
JB=http://127.0.0.1:$(cat "$T/jb.port")
curl -s -X POST "$JB/__admin/clients" -d '{"id":"c1","firstName":"Ana","lastName":"Lee","emails":["ana@example.com"],
 "billingAddress":{"street1":"1 Main St","city":"Austin","province":"TX","postalCode":"78701","country":"US"},
 "updatedAt":"2026-11-29T09:00:00Z"}' >/dev/null
curl -s -X POST "$JB/__admin/jobs" -d '{"id":"j1","client":{"id":"c1"},"title":"Gutter clean","jobStatus":"requires_invoicing",
 "completedAt":"2026-11-29T10:00:00Z","total":250,"updatedAt":"2026-11-29T10:00:00Z"}' >/dev/null
curl -s -X POST "$JB/__admin/invoices" -d '{"id":"i1","client":{"id":"c1"},"invoiceStatus":"paid","total":250,
 "updatedAt":"2026-11-29T11:00:00Z"}' >/dev/null
curl -s -X POST "$JB/__admin/tokens" >jb-tokens.json
ACCESS=$(jq -r .access_token jb-tokens.json) REFRESH=$(jq -r .refresh_token jb-tokens.json)
export ACCESS REFRESH JOBBER_CLIENT_ID=fake-jobber-client-id JOBBER_CLIENT_SECRET=fake-jobber-client-secret
# The fake QuickBooks, for fieldsync-quickbooks(7): a customer, her invoice
# and the payment that paid it; it takes the same $ACCESS and $REFRESH as
# a token pair of its own.
python3 "$top/tests/fakes/fake_qbo.py" --port 0 --port-file "$T/qb.port" --now "$FS_NOW" \
	--log "$T/qb.log" 2>>"$T/qb.stderr" &
fake_pids="$fake_pids $!"
wait_port "$T/qb.port" 'fake QuickBooks'
QB=http://127.0.0.1:$(cat "$T/qb.port")
curl -s -X POST "$QB/__admin/customers" -d '{"GivenName":"Ana","FamilyName":"Lee","PrimaryEmailAddr":{"Address":"ana@example.com"},
 "MetaData":{"LastUpdatedTime":"2026-11-29T09:00:00Z"}}' >/dev/null
curl -s -X POST "$QB/__admin/invoices" -d '{"CustomerRef":"1","TotalAmt":250,"MetaData":{"LastUpdatedTime":"2026-11-29T10:00:00Z"}}' >/dev/null
curl -s -X POST "$QB/__admin/payments" -d '{"CustomerRef":"1","TotalAmt":250,"TxnDate":"2026-11-29",
 "Line":[{"Amount":250,"LinkedTxn":[{"TxnId":"1","TxnType":"Invoice"}]}],"MetaData":{"LastUpdatedTime":"2026-11-29T11:00:00Z"}}' >/dev/null
curl -s -X POST "$QB/__admin/tokens" -d "{\"add_access\":[\"$ACCESS\"],\"add_refresh\":[\"$REFRESH\"]}" >/dev/null
export QBO_CLIENT_ID=test-client-id QBO_CLIENT_SECRET=test-client-secret
# The fake Google Sheets, for fieldsync-sheets(7): a sheet "Customers" of two
# rows, read with the fake's static access token.
python3 "$top/tests/fakes/fake_sheets.py" --port 0 --port-file "$T/sh.port" 2>>"$T/sh.stderr" &
fake_pids="$fake_pids $!"
wait_port "$T/sh.port" 'fake Sheets'
SH=http://127.0.0.1:$(cat "$T/sh.port")
curl -s -X POST "$SH/__admin/sheet" -d '{"spreadsheet":"1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms","sheet":"Customers",
 "values":[["Customer ID","First Name","Last Name","Email","Address","City","State","Zip","Status"],
 ["C-1","Ana","Lee","ana@example.com","1 Main St","Austin","TX","78701","job_completed"],
 ["C-2","Bo","Ray","bo@example.com","2 Oak Ave","Dallas","TX","75201","lead"]]}' >/dev/null
export GOOGLE_ACCESS_TOKEN=test-token
# The fake ServiceTitan, for fieldsync-servicetitan(7): a customer with a
# location and her completed job.
python3 "$top/tests/fakes/fake_servicetitan.py" --port 0 --port-file "$T/st.port" --now 2026-11-29T10:00:00Z \
	--log "$T/st.log" 2>>"$T/st.stderr" &
fake_pids="$fake_pids $!"
wait_port "$T/st.port" 'fake ServiceTitan'
ST=http://127.0.0.1:$(cat "$T/st.port")
curl -s -X POST "$ST/__admin/customers" -d '{"id":1,"name":"Ana Lee"}' >/dev/null
curl -s -X POST "$ST/__admin/locations" -d '{"id":11,"customerId":1,"address":{"street":"1 Main St","city":"Austin","state":"TX","zip":"78701"}}' >/dev/null
curl -s -X POST "$ST/__admin/jobs" -d '{"id":101,"customerId":1,"jobStatus":"Completed","completedOn":"2026-11-29T09:00:00Z"}' >/dev/null
export ST_APP_KEY=fake-st-app-key ST_CLIENT_ID=fake-st-client-id ST_CLIENT_SECRET=fake-st-client-secret
# The fake PostcardMania, for fieldsync-postcardmania(7), and a HubSpot of
# that page's own, where Bo (1235, scheduled in the sandbox's state) has
# lapsed since: he enters the page's winback campaign, mailed by
# PostcardMania; the page's write-back goes there too, so that the shared
# HubSpot the other pages pull stays as it is.
export PCM_API_KEY=pcm_k3y PCM_API_SECRET=pcm_s3cret
python3 "$top/tests/fakes/fake_postcardmania.py" --port 0 --port-file "$T/pcm.port" --now "$FS_NOW" \
	--key "$PCM_API_KEY" --secret "$PCM_API_SECRET" --log "$T/pcm.log" 2>>"$T/pcm.stderr" &
fake_pids="$fake_pids $!"
wait_port "$T/pcm.port" 'fake PostcardMania'
PCM=http://127.0.0.1:$(cat "$T/pcm.port")
printf '{"contacts":[%s]}\n' "$(contact 1235 Bo Diaz bo@example.com '77 Elm Road Suite 5' Dallas TX 75201 lapsed 2026-11-30T00:50:00Z)" >hs-pcm.json
python3 "$top/tests/fakes/fake_hubspot.py" --port 0 --port-file "$T/hs-pcm.port" --log "$T/hs-pcm.log" \
	--token "$HUBSPOT_TOKEN" --now "$FS_NOW" --data "$T/hs-pcm.json" 2>>"$T/hs-pcm.stderr" &
fake_pids="$fake_pids $!"
wait_port "$T/hs-pcm.port" 'fake HubSpot (PostcardMania page)'
HS_PCM=http://127.0.0.1:$(cat "$T/hs-pcm.port")
curl -s -X POST "$HS_PCM/__admin/rate" -d '{"max":100000}' >/dev/null
mkdir base && cd base || exit 1
cat >fieldsync.conf <<EOF
[source "hubspot"]
kind            = hubspot
url             = $HS
token_env       = HUBSPOT_TOKEN
secret_env      = HUBSPOT_APP_SECRET
status_property = job_status
rate            = 100000/10s
search_rate     = none
streams         = contacts

[source "lob-events"]
kind       = lob-events
url        = $LOB
token_env  = LOB_API_KEY
secret_env = LOB_WEBHOOK_SECRET

[target "mail"]
kind      = lob
url       = $LOB
token_env = LOB_API_KEY
retry     = 1s..1s x3

[target "crm"]
kind      = hubspot
url       = $HS
token_env = HUBSPOT_TOKEN

[campaign "thank-you"]
goal     = retention
trigger  = status = job_completed
template = tmpl_thankyou
backfill = 30d

[campaign "bulk"]
goal     = marketing
trigger  = status = scheduled
template = tmpl_bulk
backfill = 30d

[campaign "job-done"]
on       = job
goal     = jobs
trigger  = status = completed
template = tmpl_jobdone
backfill = 30d

# Low, so that fs-watchdog(1)'s outage opens its alert at once.
[thresholds]
retry_storm = 1
EOF
# The portal's listing (the campaigns' triggers are checked against it),
# then the first tick.  Lob refuses its bulk piece (a template that was not
# ready yet, say): dead letter 1, "HTTP 422 ...", which fs-push(1) replays
# once the template is fixed, while thank-you is held (so not that one).
fs-pull --describe hubspot >/dev/null
fs-pull hubspot | fs-normalize -q | fs-dedupe -q >tick.ndjson
lob_admin POST /__admin/faults '{"status":422,"path_prefix":"/postcards","message":"front: template tmpl_bulk is not published"}' >/dev/null
grep '"campaign":"bulk"' tick.ndjson | fs-push -q mail >/dev/null 2>&1
grep -v '"campaign":"bulk"' tick.ndjson | fs-push -q mail >/dev/null
rm tick.ndjson
# Dead letters 2 to 11: an export whose modified dates do not parse; 12 and
# 13: two records without one, which fs-dlq(1) and fs-normalize(1) repair.
for i in 1 2 3 4 5 6 7 8 9 10; do
	printf '{"type":"record","source":"hubspot","stream":"contacts","data":{"id":"9%02d","properties":{"email":"x%s@example.com","lastmodifieddate":"last week"}}}\n' $i $i
done | fs-normalize -q >/dev/null 2>&1
for i in 1 2; do
	printf '{"type":"record","source":"hubspot","stream":"contacts","data":{"id":"80%s","properties":{"email":"y%s@example.com"}}}\n' $i $i
done | fs-normalize -q >/dev/null 2>&1
# requests.ndjson, the events of the pipeline up to fs-dedupe, as
# fieldsync(7) makes it: a new customer at the door do-not-mail.csv lists
# (fs-suppress(1)), not mailed yet.
hs_admin POST /__admin/contacts "[$(contact 1237 Cy Moe cy@example.com '77 Elm Road Suite 5' Dallas TX 75201 job_completed 2026-11-30T00:30:00Z)]" >/dev/null
fs-pull hubspot | fs-normalize -q | fs-dedupe -q | jq -c 'select(.type == "event")' >requests.ndjson
# The CSV files fs-pull(1) reads.
cat >contacts.csv <<'EOF'
Contact ID,First Name,Last Name,Email,Street,City,State,Zip,Last Modified
2001,Dee,Park,dee@example.com,5 Oak Lane,Austin,TX,78702,2026-11-28 09:00
2002,Eli,Ross,eli@example.com,9 Pine Road,Austin,TX,78703,2026-11-28 09:30
EOF
cat >mailings-2025.csv <<'EOF'
Contact ID,Campaign,Piece ID,Date Sent,Date Delivered,Returned
1234,thank-you,hist_1,2025-06-04,2025-06-06,
1235,thank-you,hist_2,2025-06-05,,2025-06-12
EOF
cat >jobs.csv <<'EOF'
Job ID,Contact ID,Status,Type,Completed At,Total,Last Modified
J-100,1234,completed,repair,2026-11-29 15:00,450.00,2026-11-29 15:05
J-101,1235,scheduled,install,,,2026-11-29 16:00
EOF
# export.ndjson: raw objects of a vendor export, one kind for each page
# that reads one (fs-normalize --source).
printf '{"Contact ID":"2101","Email":"fay@example.com","First Name":"Fay","Street":"5 Oak Lane","City":"Austin","State":"TX","Zip":"78702","Last Modified":"2026-11-27T08:00:00Z"}\n{"Contact ID":"2102","Email":"fay@example.com","First Name":"Fay","Street":"5 Oak Lane","City":"Austin","State":"TX","Zip":"78702","Last Modified":"2026-11-27T09:00:00Z"}\n' >export-csv.ndjson
printf '%s\n' "$(contact 2201 Gus Hale gus@example.com '3 Bay Street' Austin TX 78704 job_completed 2026-11-28T08:00:00Z)" >export-hubspot.ndjson
# fs-hook(1) signs a Lob event: ev.json, and $ts and $sig in the environment.
printf '{"id":"evt_lob_1","event_type":{"id":"postcard.in_transit"}}' >ev.json
ts=$(($(date -u -d "$FS_NOW" +%s) * 1000))
sig=$("$top/tests/fixtures/hook-sign.py" lob "$LOB_WEBHOOK_SECRET" $ts <ev.json)
export ts sig
cd "$T" || exit 1

# What a page's examples expect beyond the shared sandbox.
page_setup() {
	case $1 in
	fs-dedupe.1) cp export-csv.ndjson export.ndjson ;;	# fs-normalize --source csv
	fs-normalize.1) cp export-hubspot.ndjson export.ndjson ;;	# --source hubspot
	fieldsync-jobber.7) printf '\n[source "jobber"]\nkind = jobber\nurl = %s\noauth_file = jobber-tokens.json\n' "$JB" \
		>>fieldsync.conf ;;
	fieldsync-sheets.7)
		printf '\n[source "sheet"]\nkind = sheets\nurl = %s\nspreadsheet = 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms\nrange = Customers\nid_column = Customer ID\n' \
			"$SH" >>fieldsync.conf ;;
	fieldsync-postcardmania.7)
		# Two mail targets: each campaign names its own (the page's winback, pcm).
		sed -e "s|= $HS\$|= $HS_PCM|" -e 's/^\(\[campaign .*\]\)$/\1\ntarget   = mail/' fieldsync.conf >conf.new &&
			mv conf.new fieldsync.conf
		printf '\n[target "pcm"]\nkind = postcardmania\nurl = %s\nsla = mailed 3bd, delivered 8bd\n[source "pcm-events"]\nkind = postcardmania-events\nurl = %s\n[campaign "winback"]\ntrigger = status = lapsed\ntemplate = 40213\ntarget = pcm\n' \
			"$PCM" "$PCM" >>fieldsync.conf ;;
	fieldsync-quickbooks.7)
		printf '\n[source "qbo"]\nkind = quickbooks\nurl = %s\ntoken_url = %s/oauth2/v1/tokens/bearer\nrealm = 9341453908811111\noauth_file = qbo-tokens.json\n' \
			"$QB" "$QB" >>fieldsync.conf ;;
	fieldsync-servicetitan.7)
		printf '\n[source "st"]\nkind = servicetitan\nurl = %s\ntoken_url = %s/connect/token\ntenant = 1000\n' "$ST" "$ST" \
			>>fieldsync.conf ;;
	esac
}
# What has happened before a block, when the page says so in its prose.
scene() { # page first-line
	case "$1 $2" in
	"fs-watchdog.1 fs-watchdog list | jq "*)
		# "After the vendor's outage": Lob answered 503 to every send, a
		# row waits for a retry, the watchdog's retry_storm held the mail
		# target: alert 2, the hold put by hand in the block before being 1.
		lob_admin POST /__admin/faults '{"status":503,"count":-1,"path_prefix":"/postcards"}' >/dev/null
		fs-push -q mail <requests.ndjson >/dev/null 2>&1
		fs-watchdog -q >/dev/null 2>&1
		lob_admin DELETE /__admin/faults >/dev/null
		;;
	esac
}

# --- Running them -------------------------------------------------------
usage_re='usage:|unrecognized option|unknown option|invalid option|requires an argument|unknown command'
: >matched
# A transcript ($ lines with their output below): a "$ cat FILE" shows the
# file, which is written from the page; every other command must print
# what the page shows.
transcript() { # txt -> status, out, err
	rm -f seg.*
	awk '/^\$ / { n++; print substr($0, 3) >("seg." n ".cmd"); printf "" >("seg." n ".want"); next }
		n { print >>("seg." n ".want") }' "$1"
	status=0
	: >"$T/out"; : >"$T/err"
	for c in $(ls seg.*.cmd | sort -t. -k2,2n); do
		w=${c%.cmd}.want
		if file=$(sed -n 's/^cat \([^ ]*\)$/\1/p' "$c") && [ -n "$file" ]; then
			cp "$w" "$dir/$file"
			continue
		fi
		(cd "$dir" && bash -e -o pipefail "$T/$c" </dev/null >"$T/seg.out" 2>>"$T/err")
		s=$?
		cat "$T/seg.out" >>"$T/out"
		[ $s = 0 ] || { status=$s; return; }
		if ! diff -u "$w" "$T/seg.out" >>"$T/err"; then status=diff; return; fi
	done
}
for p in $pages; do
	if [ ! -e "ex/$p.has" ]; then
		why=$(printf '%s\n' "$no_examples" | awk -F '\t' -v p="$p" '$1 == p { print $2 }')
		if [ -n "$why" ]; then skip "$p has no EXAMPLES section: $why"; else
			ok 1 "$p has an EXAMPLES section (or is listed in no_examples)"; fi
		continue
	fi
	dir=$T/run/$p
	mkdir -p "$T/run" && cp -a "$T/base" "$dir" && (cd "$dir" && page_setup "$p")
	for b in $(awk -v p="$p" '$1 == p { print $2 }' blocks); do
		txt=$T/ex/$p.$b.txt
		first=$(head -n 1 "$txt")
		name="$p example $b ($first)"
		why=$(listed "$not_run" "$p" "$first" | cut -f 3)
		if [ -n "$why" ]; then
			printf '%s\t%s\n' "$p" "$first" >>matched
			skip "$name: not run: $why"
			continue
		fi
		(cd "$dir" && scene "$p" "$first")
		want=$(listed "$expect" "$p" "$first" | cut -f 3)
		if grep -q '^\$ ' "$txt"; then transcript "$txt"; else
			(cd "$dir" && HOME=$dir bash -e -o pipefail "$txt" </dev/null >"$T/out" 2>"$T/err")
			status=$?
		fi
		bad=$(grep -iE "$usage_re" "$T/out" "$T/err" | head -n 3)
		is "$name: exit ${want:-0}, no usage error" "$status/$bad" "${want:-0}/"
		if [ "$status/$bad" != "${want:-0}/" ]; then
			{ echo "the example:"; cat "$txt"; echo "its stderr:"; tail -n 15 "$T/err"; } | sed 's/^/# /' >&2
		fi
	done
done
# fieldsync-postcardmania(7)'s pipelines did their work: Bo's order, made
# once, then polled and its status written back to the page's HubSpot.
is 'fieldsync-postcardmania.7: one order at the fake, polled, its status written back' \
	"$(curl -s "$PCM/__admin/orders" | jq -r '.data[] | "\(.status) \(.create_count) \(.body.designID)"')/$(curl -s "$PCM/__admin/requests" | jq '[.data[] | select(.method == "GET" and (.path | startswith("/order/")))] | length')/$(grep -c 'batch/update' "$T/hs-pcm.log")" \
	'Pending 1 40213/1/1'
# A listing that matches no block any more: the page changed, so must this.
stale=$(printf '%s\n' "$not_run" | cut -f 1,2 | sort | comm -23 - "$(sort matched >matched.s; echo matched.s)")
is 'every block listed as not run is still in its page' "$stale" ''
done_testing
