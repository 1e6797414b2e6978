#!/bin/sh
# Webhooks in seconds: the systemd .path units that watch the wake files
# (systemd-analyze verify), and the whole chain from cron: a HubSpot webhook
# through lighttpd and fs-hook touches the wake file, the waiting fs-run
# --wake runs the CRM -> mail pipeline at once, and the piece reaches Lob.
. "$(dirname "$0")/lib.sh"
plan 12
fsrun="$top/cron/fs-run"

# The .path units: each watches its source's wake file and starts the
# service of its own name.
if command -v systemd-analyze >/dev/null; then
	# The units' Documentation= is checked with man(1), against the checkout's pages.
	if command -v man >/dev/null; then
		mkdir -p man/man1 man/man7
		ln -s "$top/man/fs-hook.1" man/man1/fs-hook.1
		ln -s "$top/man/fieldsync.7" man/man7/fieldsync.7
		export MANPATH="$T/man"
		man_opt=
	else
		man_opt=--man=no
	fi
	# The services in cron/ are templates (make install fills in @BINDIR@
	# and @PATH@): verified as filled in for this checkout.
	mkdir units
	for f in "$top"/cron/*.path "$top"/cron/*.service; do
		sed -e "s|@BINDIR@|$top/cron|g" -e "s|@PATH@|$top/bin:/usr/bin:/bin|g" "$f" >"units/${f##*/}"
	done
	for u in crm-to-mail:hubspot mail-to-crm:lob-events; do
		unit=fieldsync-${u%%:*}
		run systemd-analyze verify $man_opt "$T/units/$unit.path"
		is "$unit.path: systemd-analyze verify, exit 0 and silent" "$status/$(cat "$T/out" "$T/err")" 0/
		is "$unit.path: watches the ${u#*:} wake file, starts $unit.service" \
			"$(sed -n 's/^\(PathModified\|Unit\)=//p' "$top/cron/$unit.path" | tr '\n' ' ')" \
			"/var/lib/fieldsync/wake/${u#*:} $unit.service "
		if [ -e "$top/cron/$unit.service" ]; then
			ok 0 "$unit.service is beside it"
		else
			skip "$unit.service is not in cron/ (branch pkg)"
		fi
	done
	sed 's/^PathModified=/PathModifed=/' "$top/cron/fieldsync-crm-to-mail.path" >broken.path
	run systemd-analyze verify --man=no "$T/broken.path"
	is 'and verify fails a unit with a misspelt key' "$status/$(grep -c 'lacks path setting' "$T/err")" 1/1
else
	for i in 1 2 3 4 5 6 7; do skip 'systemd-analyze is not installed (scripts/bootstrap)'; done
fi

# The chain, as from cron.
if ! command -v lighttpd >/dev/null || ! command -v inotifywait >/dev/null || ! command -v jq >/dev/null; then
	for i in 1 2 3 4 5; do skip 'lighttpd, inotifywait or jq is not installed (scripts/bootstrap)'; done
	done_testing
	exit
fi
. "$top/tests/fixtures/wake-chain.sh"
# The pipeline, or fs-hook's checkpoint after its answer, may hold the state
# file while a check reads it: wait for it as the commands do.
sql() { sqlite3 -batch -cmd '.timeout 10000' "$FS_STATE" "$@"; }
# Not a test of locking: the stages that make the state file together, and
# fs-hook beside them, wait as long as in production (lib.sh's 2 s is
# short for a loaded machine under ASan).
export FS_BUSY_TIMEOUT=10000
fsrun_pid=
trap 'wake_chain_stop; [ -n "$fsrun_pid" ] && kill "$fsrun_pid" 2>/dev/null; rm -rf "$T"' EXIT
wake_chain_start "$T" 3 || exit 1
postcards() { grep -c '"method":"POST","path":"/v1/postcards"' "$T/lob.log"; }

run bash -o pipefail -c "$wake_pipeline"
is 'the first run: exit 0, three contacts in progress, nothing mailed' \
	"$status/$(sql "select count(*) from contacts")/$(postcards)" 0/3/0
export FS_LOCKDIR="$T/locks" FS_LOGGER="$T/logger"
cat >logger <<'EOF2'
#!/bin/sh
# A stand-in for logger(1): the message, or the file's lines, to syslog.
file=
while getopts t:p:f: o; do [ $o = f ] && file=$OPTARG; done
shift $((OPTIND - 1))
if [ -n "$file" ]; then cat "$file"; else echo "$*"; fi >>"$FS_LOCKDIR/../syslog"
EOF2
chmod +x logger
"$fsrun" --wake "$T/wake/hubspot" --for 10m crm-to-mail "$wake_pipeline" >fsrun.out 2>fsrun.err &
fsrun_pid=$!
logged() { grep -q "$1" syslog 2>/dev/null; }
wait_for 'the first run of fs-run' logged '^done in'
wake_webhook 1002 >answer.json
is 'HubSpot -> lighttpd -> fs-hook: 200, stored, the wake file touched' \
	"$(jq -r .status answer.json)/$(sql "select count(*) from inbox where source = 'hubspot'")/$(ls wake)" 200/1/hubspot
has_postcard() { [ "$(postcards)" -ge 1 ]; }
wait_for 'the woken pipeline to mail the piece' has_postcard
is 'the waiting fs-run ran the pipeline: one postcard at Lob, for contact 1002' \
	"$(postcards)/$(sql "select contact_id from pieces")/$(sql "select count(*) from changelog where kind = 'send'")" 1/1002/1
wait_for 'the woken run to end' logged 'woken by'
is 'its syslog says it was woken' "$(grep -c "^done in [0-9]*s (woken by $T/wake/hubspot)\$" syslog)" 1
kill "$fsrun_pid"
wait "$fsrun_pid"
fsrun_pid=
is 'nothing for cron to mail' "$(cat fsrun.out fsrun.err)" ''
done_testing
