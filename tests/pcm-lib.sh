# Helpers for the PostcardMania tests (sourced after tests/lib.sh and tests/push-lib.sh).
#
#   start_pcm [ARGS]        starts the fake PostcardMania; $PCM is its URL
#   pcm_admin METHOD PATH [JSON]
#   pcm_conf [LINES]        fieldsync.conf with [target "pcm"] on the fake, then LINES
#   pcm_orders              the fake's orders: "extRefNbr orderID status create_count" per line
#   pcm_requests            the fake's requests: "METHOD PATH[?QUERY] STATUS" per line
export PCM_API_KEY=pcm_k3y PCM_API_SECRET=pcm_s3cret
start_pcm() {
	rm -f "$T/pcm.port"
	python3 "$fakes/fake_postcardmania.py" --port 0 --port-file "$T/pcm.port" --log "$T/pcm.log" \
		--key "$PCM_API_KEY" --secret "$PCM_API_SECRET" --now "$FS_NOW" "$@" 2>>"$T/pcm.stderr" &
	fake_pids="$fake_pids $!"
	wait_port "$T/pcm.port" 'fake PostcardMania'
	PCM=http://127.0.0.1:$(cat "$T/pcm.port")
}
pcm_admin() { curl -s -X "$1" "$PCM/__admin$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; }
admin() { pcm_admin "$1" "/$2" ${3:+"$3"}; }	# for kill_held
pcm_conf() {
	cat >fieldsync.conf <<EOF2
[target "pcm"]
kind      = postcardmania
url       = $PCM
retry     = 1s..1s x3
${1:-}
EOF2
}
pcm_orders() {
	pcm_admin GET /orders | jq -r '.data[] | "\(.extRefNbr) \(.orderID) \(.status) \(.create_count)"' | sort
}
pcm_requests() {
	pcm_admin GET /requests | jq -r '.data[] | "\(.method) \(.path)\(if .query != "" then "?" + .query else "" end) \(.status)"'
}
