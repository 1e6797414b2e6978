#!/bin/sh
# cron/fs-run: pipefail, the lock, syslog through logger, exit statuses; the
# journal under systemd; --wake: runs again when the wake file changes.
. "$(dirname "$0")/lib.sh"
plan 31
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
is 'usage: exit 2' "$status/$(cat "$T/err")" "2/usage: fs-run [--wake file [--for duration]] name 'pipeline'"
run "$fsrun" '../x' 'true'
is 'a name with a slash: exit 2' "$status/$(cat "$T/err")" "2/fs-run: name '../x' may hold only letters, digits, '.', '_' and '-'"
run "$fsrun" --for 4m tick 'touch ran-for'
is '--for without --wake: exit 2, nothing run' "$status/$(cat "$T/err")/$(test -e ran-for && echo ran)" \
	'2/fs-run: --wake and --for go together/'
run "$fsrun" --wake "$T/wake/hubspot" --for 4 tick 'true'
run "$fsrun" --wake "$T/wake/hubspot" --for 5ms tick 'true'
is 'a --for that is not a duration: exit 2' "$status/$(cat "$T/err")" "2/fs-run: --for must be a duration such as 90s or 4m, not '5ms'"

# Under systemd, $JOURNAL_STREAM names the stream the journal reads: each
# line goes there with its priority, and logger is not called.
rm -f syslog
: >"$T/err"
export JOURNAL_STREAM="$(stat -L -c %d:%i "$T/err")"
run "$fsrun" tick 'echo one; echo "fs-pull: a warning" >&2'
is 'journal: stdout at <6>, stderr at <4>, exit 0' "$status/$(cat "$T/out")/$(n <"$T/err")" \
'0/<6>one/<4>fs-pull: a warning
<6>done in Ns'
run "$fsrun" tick 'echo "fs-push: remote unavailable" >&2; exit 4'
is 'journal: a failure at <3>, said once, its status kept' "$status/$(n <"$T/err")" \
'4/<4>fs-push: remote unavailable
<3>failed with status 4 after Ns'
run "$fsrun" tick 'exit 5'
is 'journal: a hold at <5>, exit 0' "$status/$(n <"$T/err")" '0/<5>paused by a watchdog hold (exit 5) after Ns'
exec 8>"$FS_LOCKDIR/tick.lock"
flock -n 8
run "$fsrun" tick 'touch ran'
is 'journal: lock held, one line at <5>' "$status/$(cat "$T/err")" '0/<5>another run holds the lock; skipped'
exec 8>&-
is 'and nothing went to logger' "$(cat syslog 2>/dev/null)" ''
JOURNAL_STREAM=1:2 run "$fsrun" tick 'echo one'
is 'a JOURNAL_STREAM that is not our stderr (inherited): syslog, as from cron' "$status/$(cat "$T/err")/$(n <syslog)" \
'0//fieldsync/tick user.info one
fieldsync/tick user.info done in Ns'
unset JOURNAL_STREAM
rm -f syslog

# --wake FILE --for DURATION: after the run, wait for FILE to change and run
# again.  The pipeline counts its runs; the second waits for a gate (so that
# touches come while it runs); the third fails, which ends the wait.
if ! command -v inotifywait >/dev/null; then
	for i in 1 2 3 4 5 6 7 8 9 10; do skip 'inotifywait is not installed (scripts/bootstrap)'; done
	done_testing
	exit
fi
mkdir wake
cat >count.sh <<'EOF2'
n=$(($(cat count 2>/dev/null || echo 0) + 1)); echo $n >count
echo "run $n"
[ $n = 2 ] && while [ ! -e gate ]; do sleep 0.05; done
[ $n -lt 3 ] || { echo "fs-push: run $n failed" >&2; exit 4; }
EOF2
"$fsrun" --wake "$T/wake/hubspot" --for 10m tick 'sh count.sh' >wake.out 2>wake.err &
fsrun_pid=$!
trap 'kill $fsrun_pid 2>/dev/null; rm -rf "$T"' EXIT
logged() { grep -q "$1" syslog 2>/dev/null; }
wait_for 'the first run' logged 'user.info done in'
run "$fsrun" tick 'touch ran-while-waiting'
is 'while it waits it keeps the lock: another run steps aside' "$status/$(cat "$T/err")/$(test -e ran-while-waiting && echo ran)" \
	'0/fs-run: tick: another run holds the lock; skipped/'
touch wake/lob-events
touch wake/hubspot
wait_for 'the woken run' sh -c '[ "$(cat count)" = 2 ]'
touch wake/hubspot; touch wake/hubspot; touch wake/hubspot
touch gate
wait "$fsrun_pid"
is 'touches during a run make one more run; its failure ends the wait with its status' \
	"$?/$(cat count)/$(n <wake.err)" \
"4/3/fs-push: run 3 failed
fs-run: tick: 'sh count.sh' failed with status 4 after Ns"
is 'each run is logged, the woken ones as such' "$(grep -v 'another run' syslog | sed "s|$T|T|" | n)" \
'fieldsync/tick user.info run 1
fieldsync/tick user.info done in Ns
fieldsync/tick user.info run 2
fieldsync/tick user.info done in Ns (woken by T/wake/hubspot)
fieldsync/tick user.info run 3
fieldsync/tick user.warning fs-push: run 3 failed
fieldsync/tick user.err failed with status 4 after Ns (woken by T/wake/hubspot)'
watcher_gone() { ! pgrep -f "inotifywait.*$T/wake" >/dev/null; }
wait_for 'the watcher to go' watcher_gone
ok 0 'the watcher is gone with it'
rm -f syslog

# A file created (the first touch of fs-hook) wakes it too, and the wait
# ends when its time is up: --for 1s, then an exit 0.
rm -f count gate
"$fsrun" --wake "$T/wake/new" --for 1s tick 'sh count.sh' >wake.out 2>wake.err
is '--for: the wait ends in time, exit 0, silent' "$?/$(cat count)/$(cat wake.out wake.err)" '0/1/'

# When it cannot wait, it still runs once, then says why and exits 2 (cron mails it).
rm -f count
run "$fsrun" --wake "$T/nowhere/hubspot" --for 4m tick 'sh count.sh'
is 'a wake directory that is not there: one run, then exit 2' "$status/$(cat count)/$(cat "$T/err")" \
	"2/1/fs-run: tick: cannot watch '$T/nowhere': No such file or directory; ran once without waiting"
is 'and syslog has it' "$(tail -n 1 syslog)" \
	"fieldsync/tick user.err cannot watch '$T/nowhere': No such file or directory; ran once without waiting"
mkdir nobin
# The programs' own paths: on PostgreSQL rm is tests/lib.sh's function, whose
# command -v is its bare name (a dangling link), so each is looked up without.
for t in bash sh flock mkdir mktemp stat dirname basename cat rm sed; do
	ln -s "$(unset -f $t; command -v $t)" nobin/$t
done
rm -f count
PATH=$T/nobin run "$fsrun" --wake "$T/wake/hubspot" --for 4m tick 'sh count.sh'
is 'without inotifywait: one run, then exit 2' "$status/$(cat count)/$(cat "$T/err")" \
	"2/1/fs-run: tick: --wake needs inotifywait (Debian: apt-get install inotify-tools); ran once without waiting"
rm -f count
run "$fsrun" --wake "$T/nowhere/hubspot" --for 4m tick 'sh count.sh; exit 4'
is 'a run that failed keeps its own status' "$status" 4
: >"$T/err"
JOURNAL_STREAM="$(stat -L -c %d:%i "$T/err")" run "$fsrun" --wake "$T/nowhere/hubspot" --for 4m tick 'true'
is 'journal: why it could not wait, said once at <3>' "$status/$(n <"$T/err")" \
"2/<6>done in Ns
<3>cannot watch '$T/nowhere': No such file or directory; ran once without waiting"
done_testing
