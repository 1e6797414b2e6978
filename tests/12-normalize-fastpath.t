#!/bin/sh
# fs-normalize's hot path (the shipped HubSpot contact map as built-in C, and
# its own JSON scanner) against the jq map it stands for (FS_JQ_ONLY=1): the
# same events, errors, exit status, dead letters and contact rows, byte for byte.
. "$(dirname "$0")/lib.sh"
fx=$top/tests/fixtures
plan 39
cp "$fx/normalize.conf" fieldsync.conf
cat >alt.conf <<'EOF2'
[source "hubspot"]
kind            = hubspot
status_property = custom_stage
default_country = CA

[campaign "t"]
trigger  = status in job_completed, lead
template = tmpl_t
backfill = 3650d

[campaign "o"]
trigger  = status = job_completed
template = tmpl_o
backfill = 3650d
only     = region = TX and owner in 7, 8
except   = postal_code = 78702

[campaign "e"]
goal    = welcome
trigger = email = ann@ex.com
format  = letter
from    = adr_1
backfill = 3650d
EOF2

# Runs fs-normalize both ways on a fresh state file each, keeping out, err, rc, dlq, contacts.
both() { # name, input, fs-normalize arguments...
	name=$1 in=$2
	shift 2
	for mode in c jq; do
		rm -f "$mode.db" "$mode.db-wal" "$mode.db-shm"
		if [ $mode = jq ]; then
			FS_JQ_ONLY=1 fs-normalize -s $mode.db "$@" <"$in" >$mode.out 2>$mode.err
		else
			fs-normalize -s $mode.db "$@" <"$in" >$mode.out 2>$mode.err
		fi
		echo $? >$mode.rc
		norun $mode.out >$mode.events
		sqlite3 $mode.db "select lineno, reason, hex(bytes), seen from dlq order by id" >$mode.dlq
		sqlite3 $mode.db "select id, source, version, status, prev_status, owner, email, phone, first_name,
			last_name, company, line1, line2, city, region, postal_code, country, updated_at, do_not_mail,
			tags, prev_version, prev from contacts order by id" >$mode.contacts
	done
	check_same "$name: the same events" jq.events c.events
	check_same "$name: the same stderr" jq.err c.err
	check_same "$name: the same dead letters" jq.dlq c.dlq
	check_same "$name: the same contacts" jq.contacts c.contacts
	is "$name: the same exit status" "$(cat c.rc)" "$(cat jq.rc)"
}

run fs-normalize -v <"$fx/hubspot-contacts.ndjson"
is 'the shipped map runs as C (if not, lib/maps changed: update lib/fastmap.c and its SHA-256)' \
	"$(grep -c "map '.*hubspot-contact.jq' runs as built-in C" "$T/err")" 1
FS_JQ_ONLY=1 run fs-normalize -v <"$fx/hubspot-contacts.ndjson"
is 'FS_JQ_ONLY=1 runs it through libjq' "$(grep -c 'built-in C' "$T/err")" 0

both 'varied records' "$fx/hubspot-varied.ndjson"
is 'varied records: events, mail requests, dead letters, checkpoints' \
	"$(grep -c contact.changed c.events) $(grep -c mail.requested c.events) $(wc -l <c.dlq) $(grep -c checkpoint c.events)" \
	'156 1 97 4'

both 'status_property, default_country, two campaigns' "$fx/hubspot-varied.ndjson" -c alt.conf
is 'the second config fires its campaigns, "o" only in TX' \
	"$(grep -c '"campaign":"t"' c.events) $(grep -c '"campaign":"e"' c.events) $(grep -c '"campaign":"o"' c.events) $(grep '"campaign":"o"' c.events | grep -c '"region":"TX"')" \
	'18 15 4 4'

# The same contacts again, newer: the trigger's "from" comes from the state file.
sed 's/2026-11-29/2026-12-01/g; s/"lead"/"job_completed"/g' "$fx/hubspot-varied.ndjson" >newer.ndjson
cat "$fx/hubspot-varied.ndjson" newer.ndjson >twice.ndjson
both 'the same contacts twice' twice.ndjson
is 'a status change fires with from = the previous status' \
	"$(grep -c '"trigger":{"field":"status","from":"lead","to":"job_completed"}' c.events)" 2

both '--strict' "$fx/hubspot-varied.ndjson" --strict

# The CRM's do-not-mail flag (suppress_property): true, yes and 1 in any
# case and with spaces, a JSON true (which only the jq map reads), others.
awk '{ v = NR % 5 == 0 ? "\" TRUE \"" : NR % 5 == 1 ? "\"yes\"" : NR % 5 == 2 ? "\"false\"" : NR % 5 == 3 ? "true" : "\"1\""
	sub(/"jobtitle": *"Owner"/, "&,\"dnm\":" v); print }' "$fx/hubspot-varied.ndjson" >dnm.ndjson
printf '[source "hubspot"]\nkind = hubspot\nsuppress_property = dnm\n' >dnm.conf
cat "$fx/normalize.conf" | sed 1,3d >>dnm.conf
both 'suppress_property' dnm.ndjson -c dnm.conf
is 'do_not_mail: on contact events, and on their rows (the newest version of each)' \
	"$(grep -c '"kind":"contact.changed".*"do_not_mail":true' c.events) $(sqlite3 c.db 'select count(*) from contacts where do_not_mail')" \
	'101 78'

# Raw objects with --source: the record's data, one per line.
sed -n 's/^{"type":"record","source":"hubspot",\("stream":"contacts",\)*"data":\(.*\)}$/\2/p' \
	"$fx/hubspot-varied.ndjson" >raw.ndjson
both 'raw objects with --source hubspot' raw.ndjson --source hubspot
is 'raw objects: some of them' "$(wc -l <raw.ndjson) $(grep -c contact.changed c.events)" '197 64'

# A map that differs from the shipped one by a comment is run by libjq.
mkdir maps && cp "$top"/lib/maps/*.jq maps/ && echo '# local edit' >>maps/hubspot-contact.jq
FS_MAPDIR=$T/maps run fs-normalize -v <"$fx/hubspot-contacts.ndjson"
is 'an edited map is not run as C' "$(grep -c 'built-in C' "$T/err")/$status" 0/0
norun >edited.events
run fs-normalize <"$fx/hubspot-contacts.ndjson"
is 'and gives the same events' "$(norun)" "$(cat edited.events)"
done_testing
