#!/bin/sh
# fs-hook as a CGI program: signatures (Lob, HubSpot v3, Standard Webhooks),
# the order of checks and their status codes, repeats, the request log, the
# wake file.
. "$(dirname "$0")/lib.sh"
plan 49
sign="$top/tests/fixtures/hook-sign.py"
cat >fieldsync.conf <<'EOF2'
[source "lob-events"]
secret_env = LOB_WEBHOOK_SECRET

[source "hubspot"]
secret_env = HUBSPOT_APP_SECRET
hook_url   = https://hooks.example.com/fs-hook/hubspot

[source "jobber"]
kind       = csv
signature  = standard-webhooks
secret_env = JOBBER_SECRET
max_body   = 64
EOF2
export LOB_WEBHOOK_SECRET=lob-secret HUBSPOT_APP_SECRET=hs-secret JOBBER_SECRET=whsec_c2VjcmV0LWtleQ==
now_s=1796000400	# $FS_NOW
now_ms=${now_s}000

# post SOURCE BODYFILE [VAR=VALUE...]: one CGI request; sets $code, $reply, $status.
post() {
	src=$1 file=$2
	shift 2
	env REQUEST_METHOD=${METHOD:-POST} CONTENT_LENGTH=$(wc -c <"$file") "$@" fs-hook "$src" <"$file" >"$T/cgi" 2>"$T/err"
	status=$?
	code=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$T/cgi")
	reply=$(tail -n 1 "$T/cgi")
}
lob() { # lob BODYFILE [TIMESTAMP [SECRET]]
	ts=${2:-$now_ms}
	post lob-events "$1" HTTP_LOB_SIGNATURE_TIMESTAMP="$ts" \
		HTTP_LOB_SIGNATURE="$("$sign" lob "${3:-lob-secret}" "$ts" <"$1")"
}

printf '%s' '{"id":"evt_a1","event_type":{"id":"postcard.delivered"},"reference_id":"psc_1"}' >ev1.json
lob ev1.json
is 'a signed Lob event: 200, stored' "$code/$status/$reply" '200/0/{"ok":true,"stored":true,"delivery_id":"evt_a1"}'
is 'the CGI answer has a Status header, a type and a length' "$(head -n 3 "$T/cgi" | tr -d '\r')" \
'Status: 200 OK
Content-Type: application/json
Content-Length: 49'
is 'the raw body is in the inbox, byte for byte' "$(sql "select source, delivery_id, received_at, body from inbox")" \
	"lob-events|evt_a1|2026-11-30T01:00:00Z|$(cat ev1.json)"
lob ev1.json
is 'a repeat delivery: 200, not stored again' "$code/$reply/$(sql 'select count(*) from inbox')" \
	'200/{"ok":true,"stored":false,"delivery_id":"evt_a1"}/1'
lob ev1.json "$now_s"
is 'a timestamp in seconds is accepted too' "$code" 200

lob ev1.json "$now_ms" wrong-secret
is 'a wrong signature: 401' "$code/$reply" '401/{"ok":false,"error":"bad signature"}'
lob ev1.json $((now_ms - 301000))
is 'a timestamp more than 5 minutes old: 401' "$code/$reply" '401/{"ok":false,"error":"stale timestamp"}'
lob ev1.json $((now_ms + 301000))
is 'a timestamp more than 5 minutes ahead: 401' "$code/$reply" '401/{"ok":false,"error":"stale timestamp"}'
lob ev1.json $((now_ms - 299000))
is 'inside the window: 200' "$code" 200
post lob-events ev1.json
is 'no signature headers: 401 (not logged: no delivery, see tests/69)' "$code/$reply" '401/{"ok":false,"error":"missing Lob-Signature header"}'
lob ev1.json "$now_ms" wrong-secret
# The signature is checked before the timestamp: a forged old request says "bad signature".
lob ev1.json $((now_ms - 900000)) wrong-secret
is 'signature before timestamp window' "$reply" '{"ok":false,"error":"bad signature"}'

printf '{"id":"evt_a2",' >bad.json
lob bad.json
is 'signed but not JSON: 400 with the reason, exit 1' "$code/$status/$reply" \
	'400/1/{"ok":false,"error":"invalid JSON at byte 16"}'
is 'and the body is in the DLQ' "$(sql "select command, source, reason, http_status, bytes from dlq")" \
	'fs-hook|lob-events|invalid JSON at byte 16|400|{"id":"evt_a2",'
printf '[1,2]' >arr.json
lob arr.json
is 'a Lob body that is not an object: 400' "$code/$reply" '400/{"ok":false,"error":"a Lob event must be a JSON object"}'

# Body size comes first: a forged, oversized body is 413, not 401.
head -c 70 /dev/zero | tr '\0' 'x' >big.json
post jobber big.json
is 'over max_body: 413 before the signature' "$code/$reply" '413/{"ok":false,"error":"body too large"}'
head -c 1048577 /dev/zero | tr '\0' ' ' >huge.json
post lob-events huge.json HTTP_LOB_SIGNATURE_TIMESTAMP="$now_ms" HTTP_LOB_SIGNATURE=00
is 'over the default 1 MiB, with a forged signature: 413' "$code" 413
ts=$now_ms
post lob-events ev1.json HTTP_LOB_SIGNATURE_TIMESTAMP="$ts" CONTENT_LENGTH=55junk \
	HTTP_LOB_SIGNATURE="$("$sign" lob lob-secret "$ts" <ev1.json)"
is 'a Content-Length with junk after its digits: 400, not read as 55' "$code/$status/$reply" \
	'400/0/{"ok":false,"error":"malformed Content-Length"}'

# HubSpot v3: method + URI + body + timestamp, the URI as configured.
printf '%s' '[{"eventId":101,"subscriptionType":"contact.propertyChange","objectId":1001,"attemptNumber":0}]' >hs.json
hs() {
	ts=${2:-$now_ms}
	post hubspot "$1" HTTP_X_HUBSPOT_REQUEST_TIMESTAMP="$ts" \
		HTTP_X_HUBSPOT_SIGNATURE_V3="$("$sign" hubspot hs-secret "$ts" POST "${3:-https://hooks.example.com/fs-hook/hubspot}" <"$1")"
}
hs hs.json
is 'HubSpot v3: 200, delivery id from the eventIds' "$code/$reply" '200/{"ok":true,"stored":true,"delivery_id":"events:101"}'
sed 's/"attemptNumber":0/"attemptNumber":1/' hs.json >hs-retry.json
hs hs-retry.json
is 'a HubSpot retry (new attemptNumber) is a repeat' "$code/$reply" '200/{"ok":true,"stored":false,"delivery_id":"events:101"}'
hs hs.json "$now_ms" https://elsewhere.example.com/hook
is 'HubSpot signed for another URI: 401' "$code/$reply" '401/{"ok":false,"error":"bad signature"}'
printf '{"eventId":1}' >hsobj.json
hs hsobj.json
is 'a HubSpot body that is not an array: 400' "$code/$reply" \
	'400/{"ok":false,"error":"a HubSpot delivery must be a JSON array of events"}'

# Standard Webhooks: webhook-id, webhook-timestamp (seconds), webhook-signature.
printf '%s' '{"type":"job.completed","id":"j1"}' >std.json
sw() {
	post jobber std.json HTTP_WEBHOOK_ID="$1" HTTP_WEBHOOK_TIMESTAMP="$now_s" \
		HTTP_WEBHOOK_SIGNATURE="v1,bm9wZQ== $("$sign" standard "${2:-$JOBBER_SECRET}" "$now_s" "$1" <std.json)"
}
sw msg_1
is 'Standard Webhooks (any of the listed signatures): 200' "$code/$reply" '200/{"ok":true,"stored":true,"delivery_id":"msg_1"}'
sw msg_1
is 'the same webhook-id again is a repeat' "$code/$reply" '200/{"ok":true,"stored":false,"delivery_id":"msg_1"}'
sw msg_2 whsec_b3RoZXIta2V5
is 'Standard Webhooks with another key: 401' "$code" 401

# Requests fs-hook cannot take.
post nosuch ev1.json
is 'an unknown source: 404, exit 2' "$code/$status/$reply" '404/2/{"ok":false,"error":"unknown source"}'
METHOD=GET post lob-events ev1.json
is 'GET: a health probe, 200' "$code/$reply" '200/{"ok":true,"source":"lob-events"}'
ts=$now_ms
METHOD=PUT post lob-events ev1.json HTTP_LOB_SIGNATURE_TIMESTAMP="$ts" HTTP_LOB_SIGNATURE="$("$sign" lob lob-secret "$ts" <ev1.json)"
is 'a signed PUT: 405 with Allow' "$code/$(grep -c '^Allow: POST' "$T/cgi")" '405/1'
unset HUBSPOT_APP_SECRET
hs hs.json
is 'no signing secret: 500, said on stderr, exit 2' "$code/$status/$(cat "$T/err")" \
	"500/2/fs-hook: source 'hubspot': no signing secret (set the variable named by secret_env)"
export HUBSPOT_APP_SECRET=hs-secret
env REQUEST_METHOD=POST PATH_INFO=/lob-events HTTP_LOB_SIGNATURE_TIMESTAMP=$now_ms \
	HTTP_LOB_SIGNATURE="$("$sign" lob lob-secret $now_ms <ev1.json)" CONTENT_LENGTH=$(wc -c <ev1.json) fs-hook <ev1.json >"$T/cgi"
is 'SOURCE from PATH_INFO' "$(head -n 1 "$T/cgi" | tr -d '\r')" 'Status: 200 OK'
run fs-hook lob-events
is 'not under a web server: exit 2' "$status/$(cat "$T/err")" '2/fs-hook: not a CGI request: REQUEST_METHOD is not set'

# The state file cannot be written: 503, never 200.  (On PostgreSQL, the
# database: each new session of it read-only.)
if on_pg; then
	state_db=${FS_STATE#*://*/}
	state_db=${state_db%%\?*}
	psql "$FS_STATE" -X -q -c "ALTER DATABASE $state_db SET default_transaction_read_only = on"
else
	chmod a-w fieldsync.db
fi
printf '%s' '{"id":"evt_a3"}' >ev3.json
lob ev3.json
is 'state file read-only: 503, exit 3' "$code/$status" 503/3
if on_pg; then
	PGOPTIONS='-c default_transaction_read_only=off' \
		psql "$FS_STATE" -X -q -c "ALTER DATABASE $state_db RESET default_transaction_read_only"
else
	chmod u+w fieldsync.db
fi
is 'and nothing was stored' "$(sql "select count(*) from inbox where delivery_id = 'evt_a3'")" 0

is 'every delivery has a log row (a signed request; not the unsigned ones, nor unknown sources)' \
	"$(sql "select status, count(*) from requests group by status order by status" | tr '\n' ' ')" \
	'200|9 400|4 401|7 405|1 413|1 500|1 '
is 'the log keeps the reason' "$(sql "select reason from requests where status = 401 order by id limit 2" | tr '\n' ' ')" \
	'bad signature stale timestamp '
is 'no secret in the state file' "$(state_dump | grep -c -e lob-secret -e hs-secret -e c2VjcmV0)" 0

# A source in polling mode goes back to webhooks after three good deliveries in a row.
fs-health switch lob-events polling 2>/dev/null
for i in 4 5; do printf '{"id":"evt_b%s"}' $i >e.json; lob e.json; done
lob bad.json
for i in 6 7; do printf '{"id":"evt_b%s"}' $i >e.json; lob e.json; done
is 'a failure resets the streak' "$(sql "select mode, good_streak from source_modes")" 'polling|2'
printf '{"id":"evt_b8"}' >e.json
lob e.json
is 'the third good one in a row switches back, logged' \
	"$(sql "select mode, good_streak from source_modes")/$(sql "select detail from changelog where kind = 'fallback.webhook'")" \
	'webhook|0/{"from":"polling","to":"webhook","why":"three good deliveries in a row"}'

# fs-hook's own SHA-256 and HMAC (no libcrypto) against Python's, at every
# body length around the 64-byte block boundaries and with keys shorter
# than, equal to and longer than a block.
python3 - "$now_ms" <<'EOF3'
import hashlib, hmac, sys
ts = sys.argv[1].encode()
with open("cases", "w") as cases:
    for klen in (9, 64, 65, 100):
        for blen in (0, 1, 31, 32, 33, 40, 41, 42, 54, 55, 56, 63, 64, 65, 118, 119, 120, 127, 128, 129, 300):
            key, name = b"k" * klen, "h%d_%d" % (klen, blen)
            body = b'{"id":"evt_%s","p":"%s"}' % (name.encode(), b" " * blen)
            open(name, "wb").write(body)
            cases.write("%s %s %s\n" % (name, key.decode(), hmac.new(key, ts + b"." + body, hashlib.sha256).hexdigest()))
EOF3
bad=""
while read -r name key sig; do
	post lob-events "$name" LOB_WEBHOOK_SECRET="$key" HTTP_LOB_SIGNATURE_TIMESTAMP="$now_ms" HTTP_LOB_SIGNATURE="$sig"
	[ "$code" = 200 ] || bad="$bad $name"
done <cases
is 'HMAC-SHA256: every key and body length verifies' "$bad" ''
LOB_WEBHOOK_SECRET=kkkkkkkkl lob h9_0 "$now_ms" kkkkkkkkk
is 'and a one-letter change of the key does not' "$code" 401

# A Lob event without an id is known by the SHA-256 of its body.
bad=""
for blen in 0 40 41 42 47 48 49 104 105 106 300; do
	printf '{"no_id":"%*s"}' $blen '' >h.json
	lob h.json
	want="{\"ok\":true,\"stored\":true,\"delivery_id\":\"sha256:$(sha256sum h.json | cut -c1-64)\"}"
	[ "$code/$reply" = "200/$want" ] || bad="$bad $blen"
done
is 'SHA-256 delivery ids agree with sha256sum around the block boundaries' "$bad" ''

# The WAL is truncated once it holds FS_HOOK_CKPT frames, after the answer:
# the next process to open the file alone then has little to read.
printf '{"id":"evt_w1"}' >w.json
FS_HOOK_CKPT=1 lob w.json
if on_pg; then
	# (No WAL file to look at: the rest of the check.)
	is 'a checkpoint after the answer: the answer is whole (PostgreSQL: no -wal file)' \
		"$code/$reply/$(sql "select count(*) from inbox where delivery_id = 'evt_w1'")" \
		'200/{"ok":true,"stored":true,"delivery_id":"evt_w1"}/1'
else
	is 'a checkpoint after the answer: the answer is whole, the WAL restarted (header and one page)' \
		"$code/$reply/$(wc -c <fieldsync.db-wal)/$(sql "select count(*) from inbox where delivery_id = 'evt_w1'")" \
		'200/{"ok":true,"stored":true,"delivery_id":"evt_w1"}/4152/1'
fi


# The wake file: [hook] wake_dir = DIR, and a new delivery for SOURCE touches DIR/SOURCE.
is 'no wake_dir: no wake file (stored deliveries above touched nothing)' "$(ls -d wake 2>&1)" \
	"ls: cannot access 'wake': No such file or directory"
{ cat fieldsync.conf; printf '\n[hook]\nwake_dir = %s/wake\n' "$T"; } >wake.conf
mkdir wake
export FS_CONFIG=$T/wake.conf
printf '{"id":"evt_k1"}' >k1.json
lob k1.json
is 'a new delivery: 200, stored, the wake file made, nothing on stderr' \
	"$code/$status/$reply/$(ls wake)/$(cat "$T/err")" '200/0/{"ok":true,"stored":true,"delivery_id":"evt_k1"}/lob-events/'
touch -d 2000-01-01T00:00:00Z wake/lob-events
lob k1.json
is 'a repeat does not touch it' "$code/$(stat -c %y wake/lob-events)" '200/2000-01-01 00:00:00.000000000 +0000'
lob k1.json "$now_ms" wrong-secret
is 'a refused request does not touch it' "$code/$(stat -c %y wake/lob-events)" '401/2000-01-01 00:00:00.000000000 +0000'
lob bad.json
is 'nor does a body that went to the DLQ' "$code/$(stat -c %y wake/lob-events)" '400/2000-01-01 00:00:00.000000000 +0000'
printf '{"id":"evt_k2"}' >k2.json
lob k2.json
is 'a new delivery touches it again' "$code/$(find wake/lob-events -newermt 2000-01-02 | wc -l)/$(stat -c %s wake/lob-events)" '200/1/0'
hs_body=$(sed 's/"eventId":101/"eventId":102/' hs.json)
printf '%s' "$hs_body" >hs2.json
hs hs2.json
is 'each source its own wake file' "$code/$(ls wake | tr '\n' ' ')" '200/hubspot lob-events '
rm -r wake
printf '{"id":"evt_k3"}' >k3.json
lob k3.json
is 'a wake file that cannot be touched: still 200 and stored (exit 0), one line on stderr' \
	"$code/$status/$reply/$(cat "$T/err")" \
	"200/0/{\"ok\":true,\"stored\":true,\"delivery_id\":\"evt_k3\"}/fs-hook: cannot touch wake file '$T/wake/lob-events': No such file or directory"
unset FS_CONFIG
done_testing
