#!/bin/bash
# A reader that closes the pipe early is not an error, as for cat and grep:
# no message, and the command keeps its own exit status (0 here), under
# set -o pipefail as cron/fs-run runs pipelines.  Each command is run into
# `head -n 1`, and into a pipe whose reader has gone before it starts (so
# that the write surely fails, however fast it is).  Another write error, a
# full disk, stays one.
. "$(dirname "$0")/lib.sh"
set -o pipefail
plan 20
cat >fieldsync.conf <<'EOF2'
[thresholds]
dlq_max = 100000
EOF2
# 3,000 dead letters and 3,000 changelog rows.  Each dead letter is 100
# bytes and more, so that even the replay (the bare lines, 300 kB) cannot all
# sit in a pipe's buffer (64 kB) when its reader has gone.
pad=$(printf '%090d' 0)
seq 1 3000 | sed "s/^/not json $pad /" >bad-lines
FS_NOW=2026-11-29T12:00:00Z fs-normalize <bad-lines 2>/dev/null
sql "with recursive c(x) as (select 1 union all select x + 1 from c where x < 3000)
     insert into changelog (at, kind, detail) select '2026-11-29T12:00:00Z', 'test.filler', '{}' from c"
fs-dlq list >all-dlq
fs-report sla --format text >all-sla
fs-report changelog --format json >all-changelog
fs-health >all-health
is 'the outputs are longer than a pipe holds' \
	"$(($(wc -c <all-dlq) > 70000))/$(($(wc -c <all-changelog) > 70000))/$(($(wc -c <bad-lines) > 70000))" 1/1/1

# headed NAME CMD...: CMD | head -n 1 under pipefail; sets $status, $T/out, $T/err.
headed() {
	"$@" 2>"$T/err" | head -n 1 >"$T/out"
	status=$?
}
headed fs-report sla --format text
is 'fs-report sla | head -n 1: exit 0, the first line, nothing on stderr' \
	"$status/$(cat "$T/out")/$(cat "$T/err")" "0/$(head -n 1 all-sla)/"
headed fs-report changelog --format json
is 'fs-report changelog | head -n 1, a long report: exit 0, nothing on stderr' \
	"$status/$(cat "$T/out")/$(cat "$T/err")" "0/$(head -n 1 all-changelog)/"
headed fs-dlq list
is 'fs-dlq list | head -n 1: exit 0, the first line, nothing on stderr' \
	"$status/$(cat "$T/out")/$(cat "$T/err")" "0/$(head -n 1 all-dlq)/"
headed fs-health
is 'fs-health | head -n 1: exit 0 (OK), the status line, nothing on stderr' \
	"$status/$(cat "$T/out")/$(cat "$T/err")" "0/$(head -n 1 all-health)/"
headed fs-dlq replay --all
is 'fs-dlq replay | head -n 1: exit 0, nothing on stderr' "$status/$(cat "$T/out")/$(cat "$T/err")" "0/$(head -n 1 bad-lines)/"
is '... and the dead letters stay open: the reader did not take them all' "$(fs-dlq count)" 3000
seq 1 3000 | sed 's/^.*$/{"type":"checkpoint","source":"x","stream":"s","cursor":"&"}/' >checkpoints.ndjson
headed fs-normalize --commit <checkpoints.ndjson
is 'fs-normalize --commit | head -n 1: exit 0, nothing on stderr' "$status/$(cat "$T/out")/$(cat "$T/err")" \
	'0/{"type":"checkpoint","source":"x","stream":"s","cursor":"1"}/'
is '... and it stopped: the cursor is not the last one' "$(sql "select cursor != '3000' from cursors where source = 'x'")" 1

# A pipe whose reader is gone before the command writes a byte: the write fails for sure.
closed() {
	rm -f fifo && mkfifo fifo
	(exec 3<fifo) &
	exec 4>fifo
	wait
	"$@" >&4 2>"$T/err"
	status=$?
	exec 4>&-
}
closed fs-report sla --format text
is 'fs-report sla into a closed pipe: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
closed fs-report sla --format html
is 'fs-report sla --format html into a closed pipe: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
closed fs-dlq list
is 'fs-dlq list into a closed pipe: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
closed fs-health
is 'fs-health into a closed pipe: exit 0 (OK), nothing on stderr' "$status/$(cat "$T/err")" 0/
closed fs-health --format prom
is 'fs-health --format prom into a closed pipe: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
closed fs-dlq replay --all
is 'fs-dlq replay into a closed pipe: exit 0, nothing on stderr, nothing marked replayed' \
	"$status/$(cat "$T/err")/$(fs-dlq count)" 0//3000
closed fs-state info
is 'fs-state info into a closed pipe: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/

# A full disk is an error: one line, exit 4 (fs-health: 3, UNKNOWN).
for cmd in 'fs-report sla --format text' 'fs-dlq list' 'fs-state info'; do
	$cmd >/dev/full 2>"$T/err"
	is "$cmd > /dev/full: exit 4, one line" "$?/$(cat "$T/err")" \
		"4/${cmd%% *}: write error on standard output: No space left on device"
done
fs-health >/dev/full 2>"$T/err"
is 'fs-health > /dev/full: exit 3 (UNKNOWN), one line' "$?/$(cat "$T/err")" \
	'3/fs-health: write error on standard output: No space left on device'
done_testing
