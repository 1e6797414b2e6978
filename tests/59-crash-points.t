#!/bin/sh
# The spine holds wherever a run dies and however runs interleave
# (tests/crash/explore.py): a realistic scenario (both pipelines, debounce,
# a campaign, tracking through fs-hook, a refused piece, a watchdog hold and
# its acknowledgement, two DLQ replays) is run once per crash point of its
# stages, each run killed by SIGKILL just before that step and then run to
# completion, and with its pipelines at once under random delays; every run
# is checked against the fake vendors' own records.  Here every fourth crash
# point of each stage, from its first (every twentieth under the sanitizers:
# still every stage), and eight interleavings; make soak explores every
# point of a larger scenario and 200 interleavings.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip_all 'jq is needed (the repair pipeline)'
plan 5
stride=4 seeds=8
[ -n "${FS_SANITIZED:-}" ] && stride=20 seeds=3
explore="$top/tests/crash/explore.py"

run python3 "$explore" crash --stride "$stride" --dir "$T/x1"
[ "$status" = 0 ] || sed 's/^/# /' "$T/out" "$T/err" | tail -n 40 >&2
is 'crash points: every run holds' "$status/$(tail -n 1 "$T/out")" "0/crash: $(sed -n 's/^# \([0-9]*\) crash points.*/\1/p' "$T/out") runs, 0 failed"
explored=$(sed -n 's/^# \([0-9]*\) of them killed their stage.*/\1/p' "$T/out")
stages=$(sed -n 's/^# [0-9]* crash points in \([0-9]*\) stages.*/\1/p' "$T/out")
echo "# $(sed -n 1p "$T/out" | sed 's/^# //'); $explored killed their stage"
points=$(sed -n 's/^# \([0-9]*\) crash points in.*/\1/p' "$T/out")
ok "$([ "$((${explored:-0} * 2))" -ge "${points:-1}" ] && echo 0 || echo 1)" "most of them killed their stage ($explored of $points)"
ok "$([ "${stages:-0}" -ge 40 ] && echo 0 || echo 1)" "every stage of the scenario was a target ($stages)"

run python3 "$explore" interleave --seeds "$seeds" --dir "$T/x2"
[ "$status" = 0 ] || sed 's/^/# /' "$T/out" "$T/err" | tail -n 40 >&2
is 'interleavings: every run holds' "$status/$(tail -n 1 "$T/out")" "0/interleave: $seeds runs, 0 failed"

# The check can fail: a second piece made behind fieldsync's back is found.
run python3 "$explore" crash --only t7.3.1 --inject-duplicate --dir "$T/x3"
is 'a second piece at Lob fails the check' "$status/$(grep -c 'second pieces' "$T/out")" 1/1
done_testing
