#!/bin/sh
# A command that holds an API key writes no core file: its core size limit
# is 0 (soft and hard) and it is not dumpable, from the moment it reads the
# key, or from its start when the key is in its environment, as it is for
# every stage of a cron pipeline.  A command with no secret keeps the
# limit it was given, for debugging.
. "$(dirname "$0")/lib.sh"
plan 9
ulimit -c unlimited 2>/dev/null || skip_all 'the core size limit cannot be raised here'
unset HUBSPOT_TOKEN LOB_API_KEY

# limit PID: the core size limits of a running process ("soft hard").
limit() { awk '/^Max core file size/ { print $5, $6 }' "/proc/$1/limits"; }
# crash PID: SIGABRT (a background job of sh ignores SIGQUIT); $crashed is
# then its status and how many core files it left: cores go to ./core* here,
# as the kernel's core_pattern says, when it names a plain file.
crash() {
	kill -ABRT "$1"
	wait "$1" 2>/dev/null
	crashed="$? $(ls core* 2>/dev/null | wc -l)"
	rm -f core*
}

# Does this machine write cores into the working directory at all?
sleep 60 &
p=$!
sleep 0.1
crash $p
control=$crashed
case $(cat /proc/sys/kernel/core_pattern) in
'|'* | */*) control=piped ;;
esac

# A server that takes the connection and never answers: the command waits
# with the key loaded.
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
n = 0
while True:
    c, _ = s.accept()
    n += 1
    open("%s.%d" % (sys.argv[1], n), "w").close()
    time.sleep(0.01)
    globals()["c%d" % n] = c
' "$T/port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/port" 'the silent server'
printf '[source "hubspot"]\nurl = http://127.0.0.1:%s\nattempts = 1\n' "$(cat "$T/port")" >env.conf
HUBSPOT_TOKEN=pat-na1-0123 fs-pull -q -c env.conf hubspot >/dev/null 2>&1 &
p=$!
wait_for 'fs-pull did not connect' test -e "$T/port.1"
is 'fs-pull with its token in the environment: core size limit 0, soft and hard' "$(limit $p)" '0 0'
crash $p
is 'killed by SIGABRT: no core file' "$crashed" '134 0'

# The key from a mode 0600 file instead: guarded when it is read.
printf 'pat-na1-4567\n' >token && chmod 600 token
{ cat env.conf; echo 'token_file = token'; } >file.conf
fs-pull -q -c file.conf hubspot >/dev/null 2>&1 &
p=$!
wait_for 'fs-pull did not connect' test -e "$T/port.2"
is 'fs-pull with its token from token_file: core size limit 0' "$(limit $p)" '0 0'
crash $p
is 'killed: no core file' "$crashed" '134 0'

# A stage that never uses the key still has it in its environment.  (The
# state it makes says it has loaded its configuration.)
rm -f "$FS_STATE"*
mkfifo in
HUBSPOT_TOKEN=pat-na1-0123 fs-normalize -q <in >/dev/null 2>&1 &
p=$!
exec 3>in
wait_for 'fs-normalize did not start' state_made
is 'fs-normalize with a token in its environment: core size limit 0' "$(limit $p)" '0 0'
crash $p
is 'killed: no core file' "$crashed" '134 0'
exec 3>&-
rm -f "$FS_STATE"*

# The names the configuration gives count, not only the defaults.
printf '[source "crm"]\nkind = hubspot\ntoken_env = CRM_KEY\n' >named.conf
CRM_KEY=pat-na1-89ab fs-normalize -q -c named.conf <in >/dev/null 2>&1 &
p=$!
exec 3>in
wait_for 'fs-normalize did not start' state_made
is 'a token_env of the file, set: core size limit 0' "$(limit $p)" '0 0'
exec 3>&-
wait $p
rm -f "$FS_STATE"*

# No secret: the limit it was given, and a core where the machine writes them.
# (Under make asan, AddressSanitizer would set the soft limit to 0 itself.)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0" fs-normalize -q <in >/dev/null 2>&1 &
p=$!
exec 3>in
wait_for 'fs-normalize did not start' state_made
is 'fs-normalize with no secret: the limit it was given' "$(limit $p)" 'unlimited unlimited'
crash $p
exec 3>&-
if [ "$control" = '134 1' ] && [ -z "${FS_SANITIZED:-}" ]; then
	is 'killed: a core file, as for any program here' "$crashed" '134 1'
else
	skip "this machine writes no core file here (sleep: $control), or AddressSanitizer keeps it"
fi
unset p

done_testing
