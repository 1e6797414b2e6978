#!/bin/sh
# cron/fs-run: pipefail, the lock, syslog through logger, exit statuses.
. "$(dirname "$0")/lib.sh"
plan 13
fsrun="$top/cron/fs-run"
export FS_LOCKDIR="$T/locks" FS_LOGGER="$T/logger"
cat >"$T/logger" <<'EOF2'
#!/bin/sh
# A stand-in for logger(1): "TAG PRIORITY message", or the file's lines.
tag= prio= file=
while getopts t:p:f: o; do
	case $o in t) tag=$OPTARG ;; p) prio=$OPTARG ;; f) file=$OPTARG ;; esac
done
shift $((OPTIND - 1))
if [ -n "$file" ]; then sed "s|^|$tag $prio |" "$file"; else echo "$tag $prio $*"; fi >>"$FS_LOCKDIR/../syslog"
EOF2
chmod +x "$T/logger"
# Seconds taken vary: "after 3s" reads "after Ns".
n() { sed -E 's/(in|after) [0-9]+s/\1 Ns/'; }

run "$fsrun" tick 'echo one; echo two | cat'
is 'a good run: exit 0, silent (nothing for cron to mail)' "$status/$(cat "$T/out" "$T/err")" 0/
is 'its output goes to syslog' "$(n <syslog)" \
'fieldsync/tick user.info one
fieldsync/tick user.info two
fieldsync/tick user.info done in Ns'
rm -f syslog

run "$fsrun" tick 'false | cat'
is 'pipefail: a failure inside the pipeline fails the run' "$status/$(n <"$T/err")" \
	"1/fs-run: tick: 'false | cat' failed with status 1 after Ns"
run "$fsrun" tick 'echo "fs-push: remote unavailable" >&2; exit 4'
is 'a failing run prints its stderr and exits with its status, for cron to mail' "$status/$(n <"$T/err")" \
"4/fs-push: remote unavailable
fs-run: tick: 'echo \"fs-push: remote unavailable\" >&2; exit 4' failed with status 4 after Ns"
is 'and logs it' "$(tail -n 2 syslog | n)" \
'fieldsync/tick user.warning fs-push: remote unavailable
fieldsync/tick user.err failed with status 4 after Ns'
run "$fsrun" tick 'exit 5'
is 'paused by a hold (5): logged, not mailed' "$status/$(cat "$T/err")/$(tail -n 1 syslog | n)" \
	'0//fieldsync/tick user.notice paused by a watchdog hold (exit 5) after Ns'

# The lock: while another run holds it, a run steps aside and exits 0.
exec 8>"$FS_LOCKDIR/tick.lock"
flock -n 8
run "$fsrun" tick 'touch ran'
is 'lock held: exit 0, says so on stderr' "$status/$(cat "$T/err")" '0/fs-run: tick: another run holds the lock; skipped'
is 'and the pipeline did not run' "$(test -e ran && echo ran || echo 'not run')" 'not run'
run "$fsrun" other 'touch ran-other'
is 'another name has its own lock' "$status/$(test -e ran-other && echo ran)" 0/ran
exec 8>&-
run "$fsrun" tick 'touch ran'
is 'lock released: the run goes ahead' "$status/$(test -e ran && echo ran)" 0/ran

# A child left behind does not keep the lock.
"$fsrun" tick 'sleep 30 >/dev/null 2>&1 & echo $! >sleeper.pid'
run "$fsrun" tick 'echo again'
is 'a leftover child does not hold the lock' "$status/$(tail -n 2 syslog | head -n 1)" '0/fieldsync/tick user.info again'
kill "$(cat sleeper.pid)"

run "$fsrun" tick
is 'usage: exit 2' "$status/$(cat "$T/err")" "2/usage: fs-run name 'pipeline'"
run "$fsrun" '../x' 'true'
is 'a name with a slash: exit 2' "$status/$(cat "$T/err")" "2/fs-run: name '../x' may hold only letters, digits, '.', '_' and '-'"
done_testing
