# Helpers for fs-push's tests (sourced after tests/lib.sh).
#
#   start_lob [ARGS]        starts the fake Lob; $LOB is its API URL (with /v1)
#   start_hubspot [ARGS]    starts the fake HubSpot; $HS is its URL
#   lob_admin METHOD PATH [JSON]   (hs_admin likewise)
#   mreq ID CONTACT [FORMAT] [CAMPAIGN] [NAME] [LINE1]   a mail.requested event line
#   mstatus ID VENDOR_ID CONTACT STATUS [AT]             a mail.status event line
#   follow ID CONTACT AT                                 an activity.follow_up event line
#   advance SECONDS         moves $FS_NOW on
#   lob_pieces              the fake's pieces: "event_id create_count" per line
fakes=$top/tests/fakes
fake_pids=
stop_fakes() {
	for p in $fake_pids; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	fake_pids=
}
trap 'stop_fakes; rm -rf "$T"' EXIT

start_lob() {
	rm -f "$T/lob.port"
	python3 "$fakes/fake_lob.py" --port 0 --port-file "$T/lob.port" --log "$T/lob.log" \
		--key "$LOB_API_KEY" --now "$FS_NOW" --seed 7 "$@" 2>>"$T/lob.stderr" &
	fake_pids="$fake_pids $!"
	wait_port "$T/lob.port" 'fake Lob'
	LOB_ROOT=http://127.0.0.1:$(cat "$T/lob.port")
	LOB=$LOB_ROOT/v1
	lob_admin POST /__admin/clock "{\"now\":\"$FS_NOW\",\"frozen\":true}" >/dev/null
}

start_hubspot() {
	rm -f "$T/hs.port"
	python3 "$fakes/fake_hubspot.py" --port 0 --port-file "$T/hs.port" --log "$T/hs.log" \
		--token "$HUBSPOT_TOKEN" --now "$FS_NOW" "$@" 2>>"$T/hs.stderr" &
	fake_pids="$fake_pids $!"
	wait_port "$T/hs.port" 'fake HubSpot'
	HS=http://127.0.0.1:$(cat "$T/hs.port")
}

# fieldsync.conf with a [target "mail"] on the fake Lob that retries each
# second, three times, then the lines given (more settings, more sections).
lob_conf() {
	cat >fieldsync.conf <<EOF2
[target "mail"]
kind      = lob
url       = $LOB
token_env = LOB_API_KEY
retry     = 1s..1s x3
${1:-}
EOF2
}
lob_admin() { curl -s -X "$1" "$LOB_ROOT$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; }
hs_admin() { curl -s -X "$1" "$HS$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; }

mreq() { # id contact [format] [campaign] [name] [line1]
	printf '{"type":"event","id":"%s","run_id":"run_t","source":"hubspot","kind":"mail.requested","object":"contact:%s","occurred_at":"2026-11-29T10:00:00Z","data":{"contact_id":"%s","campaign":"%s","goal":"retention","format":"%s","template":"%s","back":"tmpl_back","from":"adr_companyhq","to":{"name":"%s","line1":"%s","city":"Austin","region":"TX","postal_code":"78701","country":"US"},"trigger":{"field":"status","from":null,"to":"job_completed"}}}\n' \
		"$1" "$2" "$2" "${4:-thanks}" "${3:-postcard}" "${TEMPLATE:-tmpl_thanks}" "${5:-Ann Lee}" "${6:-1 Main St}"
}

mstatus() { # id vendor_id contact status [at]
	printf '{"type":"event","id":"%s","run_id":"run_t","source":"lob-events","kind":"mail.status","object":"mail:%s","occurred_at":"%s","data":{"mail_id":"evt_m_%s","vendor":"lob","vendor_id":"%s","contact_id":"%s","campaign":"thanks","status":"%s","detail":"postcard.%s"}}\n' \
		"$1" "$2" "${5:-2026-11-30T00:30:00Z}" "$2" "$2" "$3" "$4" "$4"
}

follow() { # id contact at
	printf '{"type":"event","id":"%s","run_id":"run_t","source":"hubspot","kind":"activity.follow_up","object":"call:%s","occurred_at":"%s","data":{"contact_id":"%s","type":"call","owner":"7","at":"%s"}}\n' \
		"$1" "$1" "$3" "$2" "$3"
}

advance() {
	FS_NOW=$(python3 -c 'import sys, datetime as d
t = d.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ") + d.timedelta(seconds=int(sys.argv[2]))
print(t.strftime("%Y-%m-%dT%H:%M:%SZ"))' "$FS_NOW" "$1")
	export FS_NOW
}

lob_pieces() {
	lob_admin GET /__admin/pieces | python3 -c 'import json, sys
for p in json.load(sys.stdin)["data"]:
    print(p["metadata"].get("event_id"), p["create_count"])'
}
