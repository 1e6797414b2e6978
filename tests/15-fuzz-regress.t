#!/bin/sh
# The fuzz harnesses (tests/fuzz/fuzz-*.c), built with cc and a plain main
# instead of libFuzzer, run once over their seed corpus and every crash input
# kept in tests/fuzz/regress-NAME.  Under make asan the library is built with
# the sanitizers, and so are the harnesses.
. "$(dirname "$0")/lib.sh"
fuzz=$top/tests/fuzz
cc=${CC:-cc}
flags="-std=c17 -D_GNU_SOURCE -Wall -Wextra -O1 -g"
[ -n "${FS_SANITIZED:-}" ] &&
	flags="$flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
set -- "$fuzz"/fuzz-*.c
plan $(($# * 2 + 2))
for src; do
	name=${src##*/fuzz-}
	name=${name%.c}
	# shellcheck disable=SC2086
	$cc $flags -DFS_TOP="\"$top\"" -I"$top/lib" -o "fuzz-$name" "$src" "$fuzz/standalone.c" "$top/lib/libfieldsync.a" \
		-ljq -lcurl -lsqlite3 -lcsv -lcrypto -lm -ldl -lpthread 2>cc.err
	is "fuzz-$name builds with $cc, warning-free" "$?:$(cat cc.err)" "0:"
	dirs="$fuzz/corpus-$name"
	[ -d "$fuzz/regress-$name" ] && dirs="$dirs $fuzz/regress-$name"
	# shellcheck disable=SC2086
	want=$(find $dirs -type f ! -name '.*' | wc -l)
	# shellcheck disable=SC2086
	run "./fuzz-$name" $dirs
	is "fuzz-$name passes all $want seed and regression inputs" "$status $(cat "$T/out")" "0 $want inputs"
	[ "$status" = 0 ] || grep -v '^fuzz-' "$T/err" | head -20 | sed 's/^/# /'
done

# Found by fuzz-event: libjq 1.6 leaks on ["a" "b"]; fs-dlq replay --dry-run
# parsed every dead letter with it (make asan reports the leak).
printf '["a" "b"]\n' | fs-normalize >/dev/null 2>&1
run fs-dlq replay --dry-run --all
is 'fs-dlq replay --dry-run on a dead letter libjq cannot parse: exit status' "$status" 0
out_is 'fs-dlq replay --dry-run on a dead letter libjq cannot parse: output' <<'OUT'
would replay #1 (fs-normalize, line 1): invalid JSON at byte 6
1 dead letter would be replayed; 0 mail pieces (postcard 0, letter 0)
OUT
done_testing
