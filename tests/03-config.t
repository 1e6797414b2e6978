#!/bin/sh
# The configuration: the whole file is checked at load against the settings
# table (lib/settings.c), every command refuses a mistake with the same
# line, --print-config prints the effective configuration, and
# man/fieldsync.7 lists every key of the table with its default.
. "$(dirname "$0")/lib.sh"
plan 78

# refused NAME WANT CMD...: CMD exits 2 (fs-health: 3, UNKNOWN) with
# "CMD: WANT" as all of its stderr, writes nothing on stdout (fs-hook: its
# 500 answer) and creates no state file.
refused() {
	name=$1 want=$2
	shift 2
	rm -f "$FS_STATE"
	run env REQUEST_METHOD=POST CONTENT_LENGTH=0 "$@" </dev/null
	code=2 out=
	[ "$1" = fs-health ] && code=3
	[ "$1" = fs-hook ] && out='Status: 500 Internal Server Error'
	is "$name: $1" "$status/$(head -n 1 "$T/out" | tr -d '\r')/$(cat "$T/err")/$(ls "$FS_STATE" 2>/dev/null)" \
		"$code/$out/$1: $want/"
}
# every NAME WANT: refused by each command, with the arguments it needs.
every() {
	refused "$1" "$2" fs-pull hubspot
	refused "$1" "$2" fs-normalize
	refused "$1" "$2" fs-dedupe
	refused "$1" "$2" fs-push mail
	refused "$1" "$2" fs-hook lob-events
	refused "$1" "$2" fs-health
	refused "$1" "$2" fs-watchdog list
	refused "$1" "$2" fs-dlq count
	refused "$1" "$2" fs-report sla
}
# some NAME WANT: refused by fs-health, fs-pull, fs-push and fs-report.
some() {
	refused "$1" "$2" fs-health
	refused "$1" "$2" fs-pull hubspot
	refused "$1" "$2" fs-push mail
	refused "$1" "$2" fs-report sla
}

# --- Mistakes: one line each, naming the file, the line and the nearest key --
cat >fieldsync.conf <<'EOF'
[source "hubspot"]
kind     = hubspot
# the token's variable, misspelt:
tokn_env = HUBSPOT_TOKEN
EOF
every 'a misspelt key in a section no command reads here' \
	"fieldsync.conf:4: unknown key 'tokn_env' in [source \"hubspot\"] (did you mean 'token_env'?)"

printf '[source "lob-events"]\nintervl = 5m\n' >fieldsync.conf
some 'a misspelt interval' "fieldsync.conf:2: unknown key 'intervl' in [source \"lob-events\"] (did you mean 'interval'?)"

printf '[target "mail"]\nkind = lob\npirce = postcard 0.65\n' >fieldsync.conf
some 'a misspelt price' "fieldsync.conf:3: unknown key 'pirce' in [target \"mail\"] (did you mean 'price'?)"

printf '[source "export"]\nkind = csv\nsearch_rate = 5/1s\n' >fieldsync.conf
some "a key of another kind" \
	"fieldsync.conf:3: key 'search_rate' does not apply to [source \"export\"] of kind csv (only to hubspot)"

printf '[target "crm"]\nkind = hubspot\nuse_type = marketing\n' >fieldsync.conf
refused 'a key of the other target kind' \
	"fieldsync.conf:3: key 'use_type' does not apply to [target \"crm\"] of kind hubspot (only to lob)" fs-push crm

printf '[source "hubspot"]\nkind = hubspot\ntoken = pat-na1-0123-s3cret\n' >fieldsync.conf
some 'a token in the file' "fieldsync.conf:3: no secrets in the config: 'token' in [source \"hubspot\"]\
 (set token_env to the environment variable that holds it, or token_file to a mode 0600 file)"
for c in fs-pull fs-push fs-report fs-health; do $c --print-config hubspot; $c hubspot; done >all.out 2>&1 </dev/null
is 'the token is never echoed' "$(grep -c s3cret all.out)" 0

printf '[target "mail"]\nkind = lob\napi_key = live_s3cret\n' >fieldsync.conf
refused 'an api_key' "fieldsync.conf:3: no secrets in the config: 'api_key' in [target \"mail\"]\
 (set token_env to the environment variable that holds it, or token_file to a mode 0600 file)" fs-push mail
printf '[source "lob-events"]\nsecret = whsec_s3cret\n' >fieldsync.conf
refused 'a webhook secret' "fieldsync.conf:2: no secrets in the config: 'secret' in [source \"lob-events\"]\
 (set secret_env to the environment variable that holds it, or secret_file to a mode 0600 file)" fs-pull lob-events
printf '[source "jobber"]\nkind = csv\nkey = s3cret\n' >fieldsync.conf
refused 'a key where the kind takes no token' "fieldsync.conf:3: no secrets in the config: 'key' in [source \"jobber\"]\
 (set secret_env to the environment variable that holds it, or secret_file to a mode 0600 file)" fs-health
printf '[alert]\ncommand = true\npassword = hunter2\n' >fieldsync.conf
refused 'a password' "fieldsync.conf:3: no secrets in the config: 'password' in [alert]\
 (set webhook_env to the environment variable that holds it)" fs-watchdog list

printf '[source "crm"]\nkind = salesforce\n' >fieldsync.conf
every 'a kind no command knows' \
	"fieldsync.conf:2: unknown kind 'salesforce' in [source \"crm\"] (hubspot, lob-events, csv, lob, jobber, quickbooks, sheets, servicetitan or postcardmania-events)"
printf '[source "crm"]\nkind = hubspt\n' >fieldsync.conf
refused 'a misspelt kind' "fieldsync.conf:2: unknown kind 'hubspt' in [source \"crm\"] (did you mean 'hubspot'?)" fs-health
printf '[source "crm"]\nurl = https://api.hubapi.com\n' >fieldsync.conf
refused 'no kind' "fieldsync.conf:1: missing 'kind' in [source \"crm\"] (hubspot, lob-events, csv, lob, jobber, quickbooks, sheets, servicetitan or postcardmania-events)" fs-report sla

printf '[target "crm"]\nkind = hubspot\nprop_mail = x\n' >fieldsync.conf
refused 'a key the typed one begins' \
	"fieldsync.conf:3: unknown key 'prop_mail' in [target \"crm\"] (did you mean 'prop_mail_status'?)" fs-push crm
printf '[thresholds]\nmax_dead = 5\n' >fieldsync.conf
refused 'nothing near' "fieldsync.conf:2: unknown key 'max_dead' in [thresholds]" fs-health
printf '[sources "hubspot"]\n' >fieldsync.conf
refused 'a misspelt section' "fieldsync.conf:1: unknown section 'sources' (did you mean 'source'?)" fs-pull hubspot
printf '[thresholds "strict"]\ndlq_max = 5\n' >fieldsync.conf
refused 'a name on a section that takes none' "fieldsync.conf:1: [thresholds \"strict\"] takes no name: [thresholds]" fs-health
printf '[campaign]\ntrigger = status = won\n' >fieldsync.conf
refused 'no name where one is needed' "fieldsync.conf:1: [campaign] needs a name: [campaign \"NAME\"]" fs-dedupe

cat >fieldsync.conf <<'EOF'
[source "hubspot"]
kind    = hubspot
intervl = 5m

[target "mail"]
kind  = lob
pirce = postcard 0.65

[dedupe]
debounc = 2m
EOF
run fs-pull hubspot
is 'every mistake in the file, in its order, one line each' "$status/$(cat "$T/err")" \
"2/fs-pull: fieldsync.conf:3: unknown key 'intervl' in [source \"hubspot\"] (did you mean 'interval'?)
fs-pull: fieldsync.conf:7: unknown key 'pirce' in [target \"mail\"] (did you mean 'price'?)
fs-pull: fieldsync.conf:10: unknown key 'debounc' in [dedupe] (did you mean 'debounce'?)"

# --- Values out of range: one line naming the file, the line and the key ----
# (a rate whose window overflowed an int64_t made UBSan abort; durations of
# millennia wrapped round year 9999; counts were cast to int.)
printf '[source "hubspot"]\nrate = 5/9300000000000000\n' >fieldsync.conf
every 'a rate whose window overflows' \
	"fieldsync.conf:2: rate '5/9300000000000000' is out of range (at most 1000000 requests in a window of at most 36500d)"
printf '[target "mail"]\nkind = lob\nrate = 5/9223372036854775807ms\n' >fieldsync.conf
refused 'a window of INT64_MAX milliseconds' \
	"fieldsync.conf:3: rate '5/9223372036854775807ms' is out of range (at most 1000000 requests in a window of at most 36500d)" \
	fs-push mail
printf '[source "lob-events"]\ninterval = 106751991167d\n' >fieldsync.conf
refused 'a duration past year 9999' "fieldsync.conf:2: interval '106751991167d' is out of range (at most 36500d)" fs-health
printf '[target "mail"]\nkind = lob\nretry = 30s..106751991167d x8\n' >fieldsync.conf
refused 'a retry cap past year 9999' \
	"fieldsync.conf:3: retry '30s..106751991167d x8' is out of range (delays of at most 36500d, at most 1000 attempts)" \
	fs-push mail
printf '[source "hubspot"]\nattempts = 4294967297\n' >fieldsync.conf
refused 'a count an int would wrap to 1' "fieldsync.conf:2: attempts '4294967297' is out of range (0 to 1000000)" \
	fs-pull hubspot
printf '[thresholds]\nwebhook_failures = 99999999999999999999\n' >fieldsync.conf
refused 'a threshold past a long' \
	"fieldsync.conf:2: webhook_failures '99999999999999999999' is out of range (0 to 1000000)" fs-watchdog list
printf '[thresholds]\nno_ping = 15 minutes\n' >fieldsync.conf
refused 'a value of the wrong shape' "fieldsync.conf:2: no_ping '15 minutes' is not a duration (90s, 15m, 24h, 3d, 2w)" \
	fs-health
printf '[source "hubspot"]\nurl = https://api.hubapi.com\0/elsewhere\n' >fieldsync.conf
refused 'a NUL byte that would cut a value short' "fieldsync.conf:2: url holds a NUL byte" fs-report sla

# --- --print-config: the effective configuration ---------------------------
rm -f fieldsync.conf "$FS_STATE"
run fs-pull --print-config hubspot
is '--print-config without a file: exit 0, no state file' "$status/$(cat "$T/err")/$(ls "$FS_STATE" 2>/dev/null)" 0//
out_is '--print-config without a file: the defaults of the built-in kinds, [thresholds] and [dedupe]' <<'EOF'
# config: (none: all defaults)
[source "hubspot"]
kind = hubspot  # default: the section's name
url = https://api.hubapi.com  # default
token_env = HUBSPOT_TOKEN  # default
# token_file =
rate = 100/10s  # default
search_rate = 5/1s  # default
attempts = 6  # default
interval = 5m  # default
streams = contacts, calls, emails, meetings, tasks, deals  # default
lookback = 60s  # default
properties = email, firstname, lastname, phone, company, address, address2, city, state, zip, country, lifecyclestage, hubspot_owner_id, lastmodifieddate  # default
properties.contacts = email, firstname, lastname, phone, company, address, address2, city, state, zip, country, lifecyclestage, hubspot_owner_id, lastmodifieddate  # default: properties
properties.calls = hs_timestamp, hubspot_owner_id, hs_call_status, hs_call_direction  # default
properties.emails = hs_timestamp, hubspot_owner_id, hs_email_direction, hs_email_status  # default
properties.meetings = hs_timestamp, hubspot_owner_id, hs_meeting_outcome  # default
properties.tasks = hs_timestamp, hubspot_owner_id, hs_task_status, hs_task_type  # default
properties.deals = amount, closedate, dealstage, pipeline, dealname, deal_currency_code, hubspot_owner_id  # default
status_property = lifecyclestage  # default
# suppress_property =
won_stages = closedwon  # default
currency = USD  # default
default_country = US  # default
# map =
map.contacts = hubspot-contact.jq  # default
map.calls = hubspot-engagement.jq  # default
map.emails = hubspot-engagement.jq  # default
map.meetings = hubspot-engagement.jq  # default
map.tasks = hubspot-engagement.jq  # default
map.deals = hubspot-deal.jq  # default
# secret_env =
# secret_file =
signature = hubspot-v3  # default
max_body = 1M  # default
# hook_url =
inbox_retention = 14d  # default
inbox_key_retention = 30d  # default

[source "lob-events"]
kind = lob-events  # default: the section's name
url = https://api.lob.com/v1  # default
token_env = LOB_API_KEY  # default
# token_file =
rate = 150/5s  # default
attempts = 6  # default
interval = 5m  # default
# map =
map.events = lob-event.jq  # default
# secret_env =
# secret_file =
signature = lob  # default
max_body = 1M  # default
# hook_url =
inbox_retention = 14d  # default
inbox_key_retention = 30d  # default
polled_retention = 30d  # default

[source "csv"]
kind = csv  # default: the section's name
interval = 5m  # default
default_country = US  # default
# file =
# map =
map.rows = csv-contact.jq  # default
map.mail-history = csv-mail-history.jq  # default
map.jobs = csv-job.jq  # default
# secret_env =
# secret_file =
signature = standard-webhooks  # default
max_body = 1M  # default
# hook_url =

[target "lob"]
kind = lob  # default: the section's name
url = https://api.lob.com/v1  # default
token_env = LOB_API_KEY  # default
# token_file =
rate = 150/5s  # default
retry = 30s..6h x8  # default
give_up = 3d  # default
timeout = 30s  # default
parallel = 16  # default
use_type = marketing  # default
# size =
# mail_type =
color = false  # default
# price =
sla = mailed 2bd, delivered 7bd  # default

[target "hubspot"]
kind = hubspot  # default: the section's name
url = https://api.hubapi.com  # default
token_env = HUBSPOT_TOKEN  # default
# token_file =
rate = 100/10s  # default
retry = 30s..6h x8  # default
give_up = 3d  # default
timeout = 30s  # default
parallel = 4  # default
prop_mail_status = fieldsync_mail_status  # default
prop_last_mail_sent = fieldsync_last_mail_sent  # default
prop_last_follow_up = fieldsync_last_follow_up  # default

[thresholds]
webhook_failures = 3  # default
unsigned_max = 100  # default
no_ping = 15m  # default
dlq_max = 50  # default
retry_storm = 10  # default
follow_up_sla = 3bd  # default
# holidays =
attribution = 90d  # default
timezone = UTC  # default

[dedupe]
ttl = 24h  # default
debounce = 0s  # default
EOF
cp "$T/out" nofile.out
same=0
for c in 'fs-normalize' 'fs-dedupe' 'fs-push mail' 'fs-hook lob-events' 'fs-health' 'fs-watchdog' 'fs-dlq' \
	'fs-report sla'; do
	# shellcheck disable=SC2086
	$c --print-config </dev/null | cmp -s - nofile.out || { same=1; echo "# $c prints another configuration" >&2; }
done
is 'every command prints the same' "$same" 0
# settings FILE: what a printed configuration sets, comments and default marks left out.
settings() { sed -e '/^#/d' -e 's/  # .*//' "$1"; }
cp nofile.out fieldsync.conf
run fs-health --print-config
settings "$T/out" >again
settings nofile.out >first
check_same 'without a file: the output loads to the same settings' first again
is 'and all of them are set now' "$(grep -c '  # default' "$T/out")" 0

cat >fieldsync.conf <<'EOF'
# A small but real configuration.
[source "crm"]                 # the CRM
kind       = hubspot
token_file = /etc/fieldsync/hubspot.token
streams    = contacts, deals
map        = my-contacts.jq

[source "files"]
kind     = csv
file     = export.csv
map.invoices = invoices.jq

[target "mail"]
kind      = lob
token_env = LOB_KEY
price     = postcard 0.65, letter 1.10
rate      = 150/5s
rate      = 50/5s

[campaign "thank-you"]
trigger  = status = job_completed
template = tmpl_front

[alert]
command = logger -t fieldsync

[state]
group = fieldsync
EOF
run fs-report --print-config
is '--print-config with a file: exit 0' "$status/$(cat "$T/err")" 0/
out_is '--print-config with a file: its sections, every key of their kinds, defaults marked' <<'EOF'
# config: fieldsync.conf
[source "crm"]
kind = hubspot
url = https://api.hubapi.com  # default
# token_env =  (not used: token_file is set)
token_file = /etc/fieldsync/hubspot.token
rate = 100/10s  # default
search_rate = 5/1s  # default
attempts = 6  # default
interval = 5m  # default
streams = contacts, deals
lookback = 60s  # default
properties = email, firstname, lastname, phone, company, address, address2, city, state, zip, country, lifecyclestage, hubspot_owner_id, lastmodifieddate  # default
properties.contacts = email, firstname, lastname, phone, company, address, address2, city, state, zip, country, lifecyclestage, hubspot_owner_id, lastmodifieddate  # default: properties
properties.calls = hs_timestamp, hubspot_owner_id, hs_call_status, hs_call_direction  # default
properties.emails = hs_timestamp, hubspot_owner_id, hs_email_direction, hs_email_status  # default
properties.meetings = hs_timestamp, hubspot_owner_id, hs_meeting_outcome  # default
properties.tasks = hs_timestamp, hubspot_owner_id, hs_task_status, hs_task_type  # default
properties.deals = amount, closedate, dealstage, pipeline, dealname, deal_currency_code, hubspot_owner_id  # default
status_property = lifecyclestage  # default
# suppress_property =
won_stages = closedwon  # default
currency = USD  # default
default_country = US  # default
map = my-contacts.jq
map.contacts = my-contacts.jq  # default: map
map.calls = my-contacts.jq  # default: map
map.emails = my-contacts.jq  # default: map
map.meetings = my-contacts.jq  # default: map
map.tasks = my-contacts.jq  # default: map
map.deals = my-contacts.jq  # default: map
# secret_env =
# secret_file =
signature = hubspot-v3  # default
max_body = 1M  # default
# hook_url =
inbox_retention = 14d  # default
inbox_key_retention = 30d  # default

[source "files"]
kind = csv
interval = 5m  # default
default_country = US  # default
file = export.csv
# map =
map.rows = csv-contact.jq  # default
map.mail-history = csv-mail-history.jq  # default
map.jobs = csv-job.jq  # default
map.invoices = invoices.jq
# secret_env =
# secret_file =
signature = standard-webhooks  # default
max_body = 1M  # default
# hook_url =

[target "mail"]
kind = lob
url = https://api.lob.com/v1  # default
token_env = LOB_KEY
# token_file =
rate = 50/5s
retry = 30s..6h x8  # default
give_up = 3d  # default
timeout = 30s  # default
parallel = 16  # default
use_type = marketing  # default
# size =
# mail_type =
color = false  # default
price = postcard 0.65, letter 1.10
sla = mailed 2bd, delivered 7bd  # default

[campaign "thank-you"]
trigger = status = job_completed
on = contact  # default
goal = thank-you  # default: the section's name
format = postcard  # default
template = tmpl_front
back = tmpl_front  # default: template
# from =
active = 30d  # default
# backfill =
# only =
# except =
reentry = never  # default
# cap =
# send_delay =
# target =

[alert]
command = logger (redacted)
# webhook_env =

[state]
group = fieldsync

[thresholds]
webhook_failures = 3  # default
unsigned_max = 100  # default
no_ping = 15m  # default
dlq_max = 50  # default
retry_storm = 10  # default
follow_up_sla = 3bd  # default
# holidays =
attribution = 90d  # default
timezone = UTC  # default

[dedupe]
ttl = 24h  # default
debounce = 0s  # default
EOF
cp "$T/out" printed.conf
run fs-pull -c printed.conf --print-config crm
settings printed.conf >first
settings "$T/out" >again
check_same 'with a file: the output loads to the same settings' first again

# Secrets inside values: a URL's user name, password and query, and the
# alert command's arguments (a bearer token), are redacted too.
cat >secret.conf <<'EOF'
[source "hubspot"]
url      = https://fs:hunter2@api.hubapi.com/crm?hapikey=pat-na1-0123&limit=100
hook_url = https://hooks.example.com/fs-hook/hubspot?token=abc123#frag

[target "mail"]
kind = lob
url  = https://test_0123:@api.lob.com/v1

[alert]
command = curl -fsS -H 'Authorization: Bearer sk_live_4567' https://chat.example.com/hook
EOF
run fs-push -c secret.conf --print-config mail
is '--print-config with secrets in values: exit 0' "$status/$(cat "$T/err")" 0/
is 'a URL keeps its scheme, host, path and parameter names; the alert command its program' \
	"$(grep -E '^(url|hook_url|command) ' "$T/out")" \
'url = https://(redacted)@api.hubapi.com/crm?hapikey=(redacted)&limit=(redacted)
hook_url = https://hooks.example.com/fs-hook/hubspot?token=(redacted)#(redacted)
url = https://(redacted)@api.lob.com/v1
command = curl (redacted)'
is 'no secret is printed' "$(grep -c -e hunter2 -e pat-na1 -e abc123 -e test_0123 -e sk_live -e Bearer "$T/out")" 0
cp "$T/out" redacted.conf
run fs-push -c redacted.conf --print-config mail
settings redacted.conf >first
settings "$T/out" >again
check_same 'a redacted configuration loads, and prints the same again' first again

# --- man/fieldsync.7 lists every key of the table, with its kinds and default -
"$top/tests/unit/settings-list" >table.tsv
# SECTION <tab> KEY <tab> ENTRY: the keys of each ".\" settings: SECTION" list,
# "map. Ns Ar stream" as the family map.*, with the text of their entry.
awk '
function flush() { for (i = 1; i <= nk; i++) printf "%s\t%s\t%s\n", sec, keys[i], text; nk = 0; text = "" }
/^\.\\" settings: / { sec = $3; next }
sec == "" { next }
/^\.El/ { flush(); sec = ""; next }
/^\.It Li / {
	flush()
	line = substr($0, 8)
	sub(/ Ns Ar .*/, "*", line)
	nk = split(line, keys, / , /)
	next
}
{ text = text " " $0 }
' "$top/man/fieldsync.7" >man.tsv
cut -f1,2 table.tsv | sort -u >table.keys
cut -f1,2 man.tsv | sort -u >man.keys
check_same 'every key of the table is in fieldsync.7, and every key there is in the table' table.keys man.keys
while IFS='	' read -r sec key kinds def; do
	entry=$(awk -F'\t' -v s="$sec" -v k="$key" '$1 == s && $2 == k { print $3 }' man.tsv)
	case $def in -) ;; *) case $entry in *"$def"*) ;; *) echo "[$sec] $key: no $def" ;; esac ;; esac
	for kind in $(echo "$kinds" | tr , ' '); do
		case $kind in -) ;; *) case $entry in *"$kind"*) ;; *) echo "[$sec] $key: no $kind" ;; esac ;; esac
	done
done <table.tsv >missing
is "each key's entry in fieldsync.7 names its kinds and default" "$(cat missing)" ''
done_testing
