#!/bin/sh
# fs-pull's retention: drained and committed inbox rows lose their bodies,
# then the rows; emitted Lob events of pieces no longer in flight are
# forgotten after the horizon; nothing undrained or uncommitted goes.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all 'python3 is needed for the fake Lob'
command -v jq >/dev/null || skip_all 'jq is needed'
plan 30

. "$top/tests/push-lib.sh"
export LOB_API_KEY=test_key LOB_WEBHOOK_SECRET=lob-secret
FS_NOW=2026-11-01T00:00:00Z start_lob --seed 1 --rate off
url=$LOB_ROOT
admin() { lob_admin "$1" "/__admin/$2" "${3:-}"; }
conf() { # extra lines
	printf '[source "lob-events"]\nkind = lob-events\nurl = %s/v1\ntoken_env = LOB_API_KEY\nsecret_env = LOB_WEBHOOK_SECRET\nattempts = 2\n%s' \
		"$url" "$1" >fieldsync.conf
}
conf ''
postcard() { # contact, event id -> piece id
	curl -s -u test_key: "$url/v1/postcards" -H 'Content-Type: application/json' -d "{\"to\":{\"name\":\"Ann Lee\",
	  \"address_line1\":\"1 Main St\",\"address_city\":\"Austin\",\"address_state\":\"TX\",\"address_zip\":\"78701\"},
	  \"front\":\"tmpl_a\",\"back\":\"tmpl_b\",\"use_type\":\"marketing\",
	  \"metadata\":{\"event_id\":\"$2\",\"contact_id\":\"$1\",\"campaign\":\"thank-you\"}}" | jq -r .id
}
evn=0
advance() { # piece, event: the webhook event object into ev.N
	evn=$((evn + 1))
	admin POST advance "{\"id\":\"$1\",\"event\":\"$2\"}" | jq -c ".data[0]" >"ev.$evn"
}
hook() { # time, file: fs-hook lob-events takes the file as a signed delivery; sets $reply
	ms=$(($(date -u -d "$1" +%s) * 1000))
	FS_NOW=$1 REQUEST_METHOD=POST CONTENT_LENGTH=$(wc -c <"$2") HTTP_LOB_SIGNATURE_TIMESTAMP=$ms \
		HTTP_LOB_SIGNATURE="$("$top/tests/fixtures/hook-sign.py" lob lob-secret $ms <"$2")" \
		fs-hook lob-events <"$2" >"$T/cgi" 2>"$T/err"
	reply=$(tail -n 1 "$T/cgi")
}
pull() { # time, options...
	t=$1
	shift
	cl0=$(sql 'select coalesce(max(id), 0) from changelog')
	FS_NOW=$t run fs-pull "$@" lob-events
}
# What the last pull pruned, from its run row in the changelog (none: nothing).
pruned() { sql "select json_extract(detail, '\$.pruned') from changelog where kind = 'run' and id > $cl0"; }
shape() { jq -c 'if .type == "record" then [.stream, .key] else [.stream, .cursor] end' "$T/out"; }
inbox() { sql "select id, body is null, drained_at is not null from inbox order by id"; }

a=$(postcard 101 evt_ma)
b=$(postcard 102 evt_mb)
advance "$a" postcard.mailed
advance "$a" postcard.delivered
advance "$b" postcard.mailed
advance "$b" postcard.in_transit
key() { jq -r '.body.tracking_events[-1].id' "ev.$1"; }
fs-pull --dry-run lob-events >/dev/null	# makes the state file
sql "insert into pieces (vendor_id, event_id, target, contact_id, campaign, status, updated_at) values
 ('$a', 'evt_ma', 'mail', '101', 'thank-you', 'delivered', '2026-11-01T00:00:00Z'),
 ('$b', 'evt_mb', 'mail', '102', 'thank-you', 'queued', '2026-11-01T00:00:00Z')"

k1=$(key 1) k2=$(key 2) k3=$(key 3) k4=$(key 4)
runcp() { echo "[\"run\",\"$1\"]"; }
events() { sql "select vendor_id || ' ' || event_key || ' ' || at from polled_events order by at, event_key"; }

# Day 0: three deliveries, drained and committed; a fourth drained, not committed.
T0=2026-11-01T00:00:00Z
hook $T0 ev.1
is 'a delivery is stored' "$reply" "{\"ok\":true,\"stored\":true,\"delivery_id\":\"$(jq -r .id ev.1)\"}"
hook $T0 ev.2
hook $T0 ev.3
pull 2026-11-01T01:00:00Z --commit
is 'drained and committed: exit 0, three events, the inbox checkpoint' "$status/$(shape)/$(cat "$T/err")" \
"0/[\"events\",\"$k1\"]
[\"events\",\"$k2\"]
[\"events\",\"$k3\"]
[\"inbox\",\"3\"]/"
hook 2026-11-01T01:00:00Z ev.4
pull 2026-11-01T02:00:00Z
is 'a fourth drained, its checkpoint not committed' "$status/$(shape)/$(cat "$T/err")" \
"0/[\"events\",\"$k4\"]
[\"inbox\",\"4\"]/"
is 'rows 1-3 marked drained, row 4 not; every body kept' "$(inbox)" '1|0|1
2|0|1
3|0|1
4|0|0'

# Day 15: past the 14-day inbox_retention.
pull 2026-11-16T00:00:00Z --dry-run
is '--dry-run prunes nothing' "$status/$(sql 'select count(*) from inbox where body is null')/$(cat "$T/err")" '0/0/'
pull 2026-11-16T00:00:00Z
is 'day 15: the uncommitted row is drained again; the bodies of the committed ones go' \
	"$status/$(shape)/$(cat "$T/err")$(pruned)" \
"0/[\"events\",\"$k4\"]
[\"inbox\",\"4\"]/{\"inbox_bodies\":3,\"inbox_rows\":0,\"events\":0}"
is 'day 15: rows 1-3 keep their delivery ids without bodies; the undrained row keeps its body' "$(inbox)" '1|1|1
2|1|1
3|1|1
4|0|0'
hook 2026-11-16T00:00:00Z ev.1
is 'a redelivery after its body went: 200, not stored again' \
	"$reply/$(sql 'select count(*), sum(body is null) from inbox')" \
	"{\"ok\":true,\"stored\":false,\"delivery_id\":\"$(jq -r .id ev.1)\"}/4|3"
is 'the redelivery is logged as a repeat' "$(sql "select at, status, reason from requests order by id desc limit 1")" \
	'2026-11-16T00:00:00Z|200|repeat delivery'
pull 2026-11-16T00:00:00Z
is 'the next run reads no pruned row and prunes nothing more' "$status/$(shape)/$(cat "$T/err")" \
"0/[\"events\",\"$k4\"]
[\"inbox\",\"4\"]/"

# Day 31: past the 30-day inbox_key_retention and polled_retention.
pull 2026-12-02T00:00:00Z
is 'day 31: the committed rows go; the events of the delivered piece are forgotten' \
	"$status/$(shape)/$(cat "$T/err")$(pruned)" \
"0/[\"events\",\"$k4\"]
[\"inbox\",\"4\"]/{\"inbox_bodies\":0,\"inbox_rows\":3,\"events\":2}"
is 'day 31: the undrained row stays, with its body' "$(inbox)" '4|0|0'
is 'day 31: the piece in flight keeps its events, however old' "$(events)" \
"$b $k3 2026-11-01T01:00:00Z
$b $k4 2026-12-02T00:00:00Z"

# Polling: the delivered piece is not in flight, so its forgotten events
# are not read again; the piece in flight has nothing new.
sql "insert into source_modes values ('lob-events', 'polling', '2026-12-02T00:00:00Z', 0)"
seq0=$(admin GET requests | jq '[.data[].seq] | max // 0')
pull 2026-12-02T00:00:00Z --commit
is 'polling: the undrained row at last, nothing polled again' "$status/$(shape)/$(cat "$T/err")" \
"0/[\"events\",\"$k4\"]
[\"inbox\",\"4\"]/"
is 'polling: only the piece in flight is read' \
	"$(admin GET "requests?method=GET&since=$seq0" | jq -r '.data[].path')" "/v1/postcards/$b"
pull 2026-12-03T00:00:00Z
is 'day 32: the last body goes; the source newest row stays' "$status/$(shape)/$(cat "$T/err")$(pruned)" \
"0/$(runcp 2026-12-03T00:00:00Z)/{\"inbox_bodies\":1,\"inbox_rows\":0,\"events\":0}"
is 'day 32: the newest row stays without its body' "$(inbox)" '4|1|1'
is 'day 32: the last event received is still known (fs-health, fs-report)' \
	"$(sql "select max(received_at) from inbox where source = 'lob-events'")" '2026-11-01T01:00:00Z'

# The piece in flight is delivered: its events go after the horizon, and
# polling does not read it again.
sql "update pieces set status = 'delivered', delivered_at = '2026-12-03T00:00:00Z' where vendor_id = '$b'"
pull 2026-12-20T00:00:00Z
is 'day 49: its event older than the horizon goes' "$status/$(shape)/$(cat "$T/err")$(pruned)" \
	"0/$(runcp 2026-12-20T00:00:00Z)/{\"inbox_bodies\":0,\"inbox_rows\":0,\"events\":1}"
is 'day 49: the one younger than the horizon stays' "$(events)" "$b $k4 2026-12-02T00:00:00Z"
seq0=$(admin GET requests | jq '[.data[].seq] | max // 0')
pull 2027-01-03T00:00:00Z -q
is 'day 63 (-q): its events are forgotten, silently' "$status/$(shape)/$(cat "$T/err")/$(events | wc -l)" \
	"0/$(runcp 2027-01-03T00:00:00Z)//0"
is 'day 63: no piece is read: none is in flight' "$(admin GET "requests?since=$seq0" | jq '.count')" 0
pull 2027-01-03T00:00:00Z
is 'nothing is emitted again' "$status/$(shape)/$(cat "$T/err")" "0/$(runcp 2027-01-03T00:00:00Z)/"
is 'the newest row stays still' "$(inbox)" '4|1|1'

# Settings.
conf 'inbox_retention = 2x
'
pull 2027-01-03T00:00:00Z
is 'a bad duration: exit 2, said, nothing out' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"2//fs-pull: fieldsync.conf:7: inbox_retention '2x' is not a duration (14d) or never"
conf 'inbox_retention = 40d
'
pull 2027-01-03T00:00:00Z
is 'keys kept for less time than bodies: exit 2' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	"2//fs-pull: source 'lob-events': inbox_key_retention (30d) is shorter than inbox_retention (40d)"
conf 'inbox_retention = never
inbox_key_retention = never
polled_retention = never
'
pull 2027-01-03T00:00:00Z
is 'never: accepted' "$status/$(cat "$T/err")" '0/'

# Batches: more rows than one transaction takes (5,000).
export FS_STATE="$T/big.db"
conf ''
fs-pull --dry-run lob-events >/dev/null
sql "with recursive n(i) as (select 1 union all select i + 1 from n where i < 12001)
     insert into inbox (id, source, delivery_id, received_at, body, drained_at)
     select i, 'lob-events', 'd' || i, '2026-01-01T00:00:00Z', '{}', '2026-01-01T01:00:00Z' from n;
     with recursive n(i) as (select 1 union all select i + 1 from n where i < 12001)
     insert into polled_events (source, vendor_id, event_key, poll_id, inbox_id, at)
     select 'lob-events', 'psc_old', 'evnt_' || i, 0, i, '2026-01-01T01:00:00Z' from n;
     with recursive n(i) as (select 1 union all select i + 1 from n where i < 12001)
     insert into polls (id, source, run_id, at) select i, 'lob-events', 'run_old', '2026-01-01T01:00:00Z' from n;
     update polls set at = '2026-02-20T00:00:00Z' where id = 12000;
     insert into cursors values ('lob-events', 'inbox', '12001', NULL, '2026-01-01T01:00:00Z');
     insert into cursors values ('lob-events', 'poll', '12000', NULL, '2026-01-01T01:00:00Z')"
pull 2026-03-01T00:00:00Z
is '12,001 rows in batches' "$status/$(shape)/$(cat "$T/err")$(pruned)" \
	"0/$(runcp 2026-03-01T00:00:00Z)/{\"inbox_bodies\":12001,\"inbox_rows\":12000,\"events\":12001}"
is '12,001 rows in batches: the newest row stays' "$(inbox)/$(sql 'select count(*) from polled_events')" '12001|1|1/0'
is '12,001 poll records: all go but the one within the horizon and the one past the committed cursor' \
	"$(sql 'select group_concat(id) from polls')" '12000,12001'
done_testing
