#!/bin/sh
# fs-dedupe: idempotency keys with a TTL, debounce holds (released in their
# own pipeline); mail requests pass through (fs-push enrols them).
. "$(dirname "$0")/lib.sh"
plan 75

# ev ID KIND OBJECT [DATA]: one canonical event line.
ev() {
	printf '{"type":"event","id":"%s","run_id":"run_up","source":"hubspot","kind":"%s","object":"%s","occurred_at":"2026-11-29T10:00:00Z","data":%s}\n' \
		"$1" "$2" "$3" "${4:-"{}"}"
}
# mail ID CONTACT CAMPAIGN [GOAL]: a mail.requested.
mail() {
	if [ -n "${4:-}" ]; then goal=",\"goal\":\"$4\""; else goal=; fi
	ev "$1" mail.requested "contact:$2" "{\"contact_id\":\"$2\",\"campaign\":\"$3\"$goal,\"format\":\"postcard\"}"
}
# What came out: the id of each event, other lines whole.
ids() { sed 's/^{"type":"event","id":"\([^"]*\)".*/\1/' "$T/out"; }
# summary EVENTS FORWARDED REPEATED HELD RELEASED COLLAPSED DEAD PRUNED: the run's
# changelog row, without its time and lines passed through, then its stderr (empty, without -v).
summary() {
	echo "{\"events\":$1,\"forwarded\":$2,\"idempotency\":$3,\"debounce\":$6,\"held\":$4,\"released\":$5,\"dead\":$7,\"pruned\":$8,\"exit\":0}/"
}
runrow() {
	echo "$(sql "select json_remove(detail, '\$.ms', '\$.passed') from changelog where kind = 'run' order by id desc limit 1")/$(cat "$T/err")"
}

# --- Idempotency -----------------------------------------------------------
{ ev e1 contact.changed contact:1; ev e2 contact.changed contact:2; ev e1 contact.changed contact:1
  echo '{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"c1"}'; } >in1
run fs-dedupe <in1
is 'a repeat inside one run is dropped: exit 0' "$status" 0
is 'a repeat inside one run is dropped' "$(ids)" 'e1
e2
{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"c1"}'
is 'the run row in the changelog counts it; nothing on stderr' "$(runrow)" "$(summary 3 2 1 0 0 0 0 0)"
is 'keys are tentative without --commit' "$(sql 'select id, first_seen_ts, expires_ts, final from idem_keys order by id')" \
	'e1|1796000400|1796086800|0
e2|1796000400|1796086800|0'
is 'no cursor moves without --commit' "$(sql 'select count(*) from cursors')" 0

run fs-dedupe -v <in1
is 'tentative keys of another run do not count: the events come out again' "$(ids | tr '\n' ' ')" \
	'e1 e2 {"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"c1"} '
err_is '-v: the summary on stderr' <<'EOF'
fs-dedupe: 3 events: 2 forwarded, 1 repeated, 0 held, 0 released, 0 collapsed, 0 dead; 0 expired keys pruned
EOF

run fs-dedupe --commit <in1
is '--commit: forwarded keys become final at the checkpoint' \
	"$(sql 'select id, final from idem_keys order by id' | tr '\n' ' ')" 'e1|1 e2|1 '
is '--commit: the cursor is committed' "$(sql 'select cursor from cursors')" c1
run fs-dedupe <in1
is 'final keys count for every later run' "$(ids | tr '\n' ' ')" \
	'{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"c1"} '
is 'all three are counted as repeats' "$(runrow)" "$(summary 3 0 3 0 0 0 0 0)"

# TTL edges: the window runs from the first sighting; repeats do not extend it.
FS_NOW=2026-11-30T13:00:00Z run fs-dedupe --commit <in1
is 'a repeat half way through the window is dropped' "$(grep -c '"type":"event"' "$T/out")" 0
ev e1 contact.changed contact:1 >e1
FS_NOW=2026-12-01T00:59:59Z run fs-dedupe --commit <e1
is 'TTL edge: one second inside the window the key is still seen' "$(ids)" ''
FS_NOW=2026-12-01T01:00:00Z run fs-dedupe --commit <e1
is 'TTL edge: at exactly the TTL the key counts as new' "$(ids)" 'e1'
is 'TTL edge: the new sighting starts a new window' \
	"$(sql "select first_seen_ts - 1796000400, final from idem_keys where id = 'e1'")" '86400|1'
FS_NOW=2026-12-01T01:30:00Z run fs-dedupe --ttl 30m <e1
is '--ttl overrides the default: 30 minutes later e1 is new again' "$(ids)" 'e1'
printf '[dedupe]\nttl = 2h\n' >dd.conf
FS_NOW=2026-12-01T02:00:00Z run fs-dedupe -c dd.conf --commit <e1
is 'a tentative key of another run never counts, whatever its age' "$(ids)" 'e1'
FS_NOW=2026-12-01T03:59:59Z run fs-dedupe -c dd.conf <e1
is 'the config ttl (2h): still seen just inside' "$(ids)" ''
FS_NOW=2026-12-01T04:00:00Z run fs-dedupe -c dd.conf <e1
is 'the config ttl (2h): new at the edge' "$(ids)" 'e1'

# Pruning: keys past the TTL are deleted, in batches, and counted.
FS_NOW=2026-12-10T00:00:00Z run fs-dedupe </dev/null
is 'expired keys are pruned' "$(sql 'select count(*) from idem_keys')" 0
is 'the run row says how many (e2 went with the 2h run)' "$(runrow)" "$(summary 0 0 0 0 0 0 0 1)"

# --- Bad input --------------------------------------------------------------
rm -f fieldsync.db*
bad_case() { # name, bad line, expected stderr
	{ ev g1 contact.changed contact:1; printf '%s\n' "$2"; ev g2 contact.changed contact:2; } >bad.ndjson
	run fs-dedupe -q <bad.ndjson
	is "$1: exit 1" "$status" 1
	is "$1: error line" "$(cat "$T/err")" "$3"
	is "$1: DLQ holds the line" "$(sql "select command, lineno, bytes from dlq order by id desc limit 1")" "fs-dedupe|2|$2"
	is "$1: the good events around it come out" "$(ids | tr '\n' ' ')" 'g1 g2 '
	sql 'delete from idem_keys'
}
bad_case 'no id' '{"type":"event","kind":"contact.changed","object":"contact:1","data":{}}' \
	'fs-dedupe: line 2: missing "id"'
bad_case 'no object' '{"type":"event","id":"x1","kind":"contact.changed","data":{}}' \
	'fs-dedupe: line 2: missing "object"'
bad_case 'unknown kind' '{"type":"event","id":"x2","kind":"contact.deleted","object":"contact:1","data":{}}' \
	'fs-dedupe: line 2: unknown kind "contact.deleted"'
bad_case 'mail.requested without a contact' \
	'{"type":"event","id":"x3","kind":"mail.requested","object":"contact:1","data":{"campaign":"c"}}' \
	'fs-dedupe: line 2: missing "data.contact_id"'
bad_case 'invalid JSON' '{"type":"event",' 'fs-dedupe: line 2: invalid JSON at byte 17'
is 'the DLQ entry names the event id when there is one' "$(sql "select event_id from dlq where cast(bytes as text) like '%x2%'")" x2
is 'a rejected event leaves no key behind' "$(sql "select count(*) from idem_keys where id like 'x%'")" 0

run fs-dedupe --ttl 5x </dev/null
is 'malformed --ttl: usage error' "$status/$(cat "$T/err")" \
	"2/fs-dedupe: --ttl: malformed duration '5x' (want e.g. 90s, 15m, 24h, 3d)"
run fs-dedupe --debounce soon </dev/null
is 'malformed --debounce: usage error' "$status/$(cat "$T/err")" \
	"2/fs-dedupe: --debounce: malformed duration 'soon' (want e.g. 90s, 15m, 24h, 3d)"
printf '[dedupe]\nttl = -1h\n' >bad.conf
run fs-dedupe -c bad.conf </dev/null
is 'malformed ttl in the config: usage error' "$status/$(cat "$T/err")" \
	"2/fs-dedupe: bad.conf:2: ttl '-1h' is not a duration (90s, 15m, 24h, 3d, 2w)"
printf '[campaign "x"]\nactive = a month\n' >bad.conf
run fs-dedupe -c bad.conf </dev/null
is 'malformed campaign active: usage error' "$status/$(cat "$T/err")" \
	"2/fs-dedupe: bad.conf:2: active 'a month' is not a duration (90s, 15m, 24h, 3d, 2w)"
run fs-dedupe --from 2026-01-01T00:00:00Z </dev/null
is 'scan options without scan: usage error' "$status/$(head -n 1 "$T/err")" \
	"2/fs-dedupe: --format and --from belong to 'fs-dedupe scan'"
run fs-dedupe -h
is '-h: usage on stdout, exit 0' "$status/$(head -c 16 "$T/out")" '0/usage: fs-dedupe'

# Lines of other types pass through unchanged and in order.
rm -f fieldsync.db*
{ echo '{"type":"result","x":1}'; ev p1 contact.changed contact:1; echo '{"type":"record","source":"s","data":{}}'; } >mixed
run fs-dedupe -q --stats <mixed
out_norun_is 'pass-through keeps order; --stats comes last' <<'EOF'
{"type":"result","x":1}
{"type":"event","id":"p1","source":"hubspot","kind":"contact.changed","object":"contact:1","occurred_at":"2026-11-29T10:00:00Z","data":{}}
{"type":"record","source":"s","data":{}}
{"type":"stats","command":"fs-dedupe","events":1,"forwarded":1,"idempotency":0,"debounce":0,"held":0,"released":0,"dead":0,"passed":2,"pruned":0}
EOF
err_is '-q: no summary' </dev/null

# The hot path reads type, id, kind and object from the raw line; whatever it
# leaves to the parser (escapes, duplicate names, other types) is judged the same.
rm -f fieldsync.db*
cat >hot <<'EOF'
{"type":"event","id":"h1","source":"s","kind":"contact.changed","object":"contact:1","data":{"id":"x","n":[1,{"a":"}"}]}}
{"type":"event","id":"h\u0031","source":"s","kind":"contact.changed","object":"contact:1","data":{}}
{"id":"h2","object":"contact:2","kind":"contact.changed","type":"event","data":{"type":"record"}}
{"type":"event","id":"h3","kind":"contact.changed","object":"contact:3","id":"h4","data":{}}
{"type":"event","id":"h4","kind":"contact.changed","object":"contact:4","data":{}}
{"type":"event","\u0069d":"h5","kind":"contact.changed","object":"contact:5","data":{}}
{"type":"event","id":"h5","kind":"contact.changed","object":"contact:5","data":{}}
{ "type" : "event" , "id" : "h2" , "kind" : "contact.changed" , "object" : "contact:2" }
{"type":"event","id":"evt_0123456789abcdef0123456789abcdef","kind":"contact.changed","object":"contact:6"}
{"type":"event","id":"evt_0123456789ABCDEF0123456789ABCDEF","kind":"contact.changed","object":"contact:6"}
{"type":"event","id":"evt_0123456789abcdef0123456789abcdef","kind":"contact.changed","object":"contact:6"}
EOF
# The id of each line that came out as jq reads it (the last of two names wins).
jids() { jq -r 'if .type == "event" then .id else .type end' "$T/out" | tr '\n' ' '; }
run fs-dedupe --stats <hot
is 'hot path: escapes, duplicate names and odd spacing judged as parsed' "$status/$(jids)" \
	'0/h1 h2 h4 h5 evt_0123456789abcdef0123456789abcdef evt_0123456789ABCDEF0123456789ABCDEF stats '
is 'hot path: the stats' "$(norun | tail -n 1)" \
	'{"type":"stats","command":"fs-dedupe","events":11,"forwarded":6,"idempotency":5,"debounce":0,"held":0,"released":0,"dead":0,"passed":0,"pruned":0}'
if on_pg; then
	# idem_store.k is text there, by design (lib/schema_pg.c's header): a
	# canonical id is kept as its text, which is idem_keys.id.
	is 'hot path: ids are kept as given; canonical ones as their text (PostgreSQL)' \
		"$(sql "select k.id, pg_typeof(s.k), s.k = k.id, k.final from idem_keys k join idem_store s using (seq) order by seq")" \
		'h1|text|1|0
h2|text|1|0
h4|text|1|0
h5|text|1|0
evt_0123456789abcdef0123456789abcdef|text|1|0
evt_0123456789ABCDEF0123456789ABCDEF|text|1|0'
else
	is 'hot path: ids are kept as given; canonical ones as 16 bytes' \
		"$(sql "select k.id, typeof(s.k), k.final from idem_keys k join idem_store s using (seq) order by seq")" \
		'h1|text|0
h2|text|0
h4|text|0
h5|text|0
evt_0123456789abcdef0123456789abcdef|blob|0
evt_0123456789ABCDEF0123456789ABCDEF|text|0'
fi
run fs-dedupe --commit <hot
is 'another run: tentative keys do not count, and are replaced, not doubled' \
	"$(jids)/$(sql 'select count(*), sum(final) from idem_keys')" \
	'h1 h2 h4 h5 evt_0123456789abcdef0123456789abcdef evt_0123456789ABCDEF0123456789ABCDEF /6|6'
run fs-dedupe <hot
is 'final keys count, canonical or not' "$(ids)" ''

# The hot path writes keys 64 at a time and holds the lines until then:
# other lines, the events it leaves to the parser and checkpoints keep their place.
rm -f fieldsync.db*
awk 'BEGIN {
	for (i = 1; i <= 300; i++) {
		k = (i % 7 == 0) ? int(i / 2) : i
		if (i % 50 == 0)
			printf "{\"type\":\"event\",\"id\":\"m%d\",\"kind\":\"mail.requested\",\"object\":\"contact:%d\",\"data\":{\"contact_id\":\"%d\",\"campaign\":\"c\"}}\n", i, i, i
		else if (i % 45 == 0)
			printf "{\"type\":\"checkpoint\",\"source\":\"s\",\"cursor\":\"c%d\"}\n", i
		else if (i % 31 == 0)
			printf "{\"type\":\"result\",\"n\":%d}\n", i
		else
			printf "{\"type\":\"event\",\"id\":\"k%d\",\"kind\":\"contact.changed\",\"object\":\"contact:%d\",\"data\":{}}\n", k, k
	}
}' >order
run fs-dedupe --commit <order
awk '!/"type":"event"/ || !seen[$0]++' order >order.want
check_same 'held lines come out in input order, repeats dropped, checkpoints in place' order.want "$T/out"
is 'every key forwarded is final' "$(sql 'select count(*), sum(final) from idem_keys')" \
	"$(grep -c '"type":"event"' order.want)|$(grep -c '"type":"event"' order.want)"

# --- Debounce ----------------------------------------------------------------
rm -f fieldsync.db*
{ ev a1 contact.changed contact:1; ev b1 contact.changed contact:2; ev a2 contact.changed contact:1
  ev m1 mail.requested contact:1 '{"contact_id":"1","campaign":"c"}'; } >deb1
run fs-dedupe --debounce 10m <deb1
is 'debounce: everything is held, nothing comes out' "$status/$(ids)" '0/'
is 'debounce: holds keep their lines, order and release times' \
	"$(sql 'select kind, object, event_id, received_at, release_at, released_by is null from debounce order by id')" \
	'contact.changed|contact:1|a1|2026-11-30T01:00:00Z|2026-11-30T01:10:00Z|1
contact.changed|contact:2|b1|2026-11-30T01:00:00Z|2026-11-30T01:10:00Z|1
contact.changed|contact:1|a2|2026-11-30T01:00:00Z|2026-11-30T01:10:00Z|1
mail.requested|contact:1|m1|2026-11-30T01:00:00Z|2026-11-30T01:10:00Z|1'
is 'debounce: the held line is the original bytes' "$(sql "select line from debounce where event_id = 'a1'")" \
	"$(sed -n 1p deb1)"
run fs-dedupe --debounce 10m <deb1
is 'debounce: the same input again (a re-run) holds nothing twice' \
	"$(sql 'select count(*) from debounce')/$(ids)" '4/'
ev a3 contact.changed contact:1 >deb2
FS_NOW=2026-11-30T01:05:00Z run fs-dedupe --debounce 10m <deb2
is 'debounce: nothing is due five minutes on' "$(ids)" ''
evids() { ids | grep -v '^{'; }
# Holds come out in their own pipeline: a run that reads their source
# (each tick's fs-pull ends with its checkpoint), with --debounce or not.
echo '{"type":"checkpoint","source":"lob-events","stream":"inbox","cursor":"1"}' >other
FS_NOW=2026-11-30T01:10:00Z run fs-dedupe --commit -q <other
is 'debounce: another source'"'"'s pipeline releases nothing' "$(evids)/$(sql 'select count(*) from debounce where released_by is not null')" '/0'
echo '{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"2"}' >tick
FS_NOW=2026-11-30T01:10:00Z run fs-dedupe --commit -q <tick
is 'debounce: quiet objects come out ahead of their source'"'"'s first line, even without --debounce' "$(ids)" 'b1
m1
{"type":"checkpoint","source":"hubspot","stream":"contacts","cursor":"2"}'
is 'debounce: holds keep their source and what they collapse with' \
	"$(sql "select event_id, source, replace(collapse, char(9), ' ') from debounce order by id")" \
	'a1|hubspot|contact:1
b1|hubspot|contact:2
a2|hubspot|contact:1
m1|hubspot|contact:1 c
a3|hubspot|contact:1'
FS_NOW=2026-11-30T01:15:00Z run fs-dedupe --stats -q <tick
is 'debounce: contact:1 collapses to its last event once quiet' "$(ids | head -n 1)" a3
is 'debounce: the stats count the release and the collapse' \
	"$(norun | tail -n 1)" '{"type":"stats","command":"fs-dedupe","events":0,"forwarded":1,"idempotency":0,"debounce":2,"held":0,"released":1,"dead":0,"passed":0,"pruned":0}'
is 'debounce: a release stays until its key is final; final ones are done with' \
	"$(sql 'select event_id, released_by is not null from debounce order by id')" 'a3|1'
FS_NOW=2026-11-30T01:16:00Z run fs-dedupe -q <tick
is 'debounce: a release no later stage confirmed comes out again when its run is gone' "$(evids)" a3
FS_NOW=2026-11-30T01:17:00Z run fs-dedupe -q --commit <tick
is 'debounce: with --commit the release is final' "$(evids)/$(sql "select final from idem_keys where id = 'a3'")" 'a3/1'
FS_NOW=2026-11-30T01:18:00Z run fs-dedupe -q <tick
is 'debounce: final releases are done with' "$(evids)/$(sql 'select count(*) from debounce')" '/0'
is 'debounce: per-day counts for fs-report' "$(sql "select what, n from dedupe_counts order by what")" \
	'debounce|2
held|5
idempotency|4
released|5'

# --- Mail requests pass through ----------------------------------------------
# One active campaign per contact and goal is fs-push's (tests/58): it takes
# the enrolment with the outbox row.
rm -f fieldsync.db*
{ mail m1 101 thank-you retention; mail m2 101 win-back retention; } >camp1
run fs-dedupe --commit <camp1
is 'mail requests for one contact and goal both pass fs-dedupe' "$status/$(ids | tr '\n' ' ')" '0/m1 m2 '
is 'and fs-dedupe enrols nobody' "$(sql 'select count(*) from enrolments')" 0

done_testing
