#!/bin/sh
# The manual pages: every command has one, mandoc finds no warning in any,
# and man(1) typesets each at 80 columns without a line it cannot break
# (what lintian checks in the Debian package, tests/91-deb.t).
. "$(dirname "$0")/lib.sh"
cd "$top" || exit 1
pages=$(ls man/*.1 man/*.7)
plan $(( $(ls cmd/*.c | wc -l) + 2 * $(echo "$pages" | wc -l) ))
for c in cmd/*.c; do
	name=$(basename "$c" .c)
	if [ -s "man/$name.1" ]; then ok 0 "$name has man/$name.1"; else ok 1 "$name has man/$name.1"; fi
done
for p in $pages; do
	if command -v mandoc >/dev/null; then
		run mandoc -Tlint -Wwarning "$p"
		is "$p: mandoc -Tlint -Wwarning, silent" "$status/$(cat "$T/out" "$T/err")" 0/
	else
		skip 'mandoc is not installed (scripts/bootstrap)'
	fi
	if command -v man >/dev/null && command -v groff >/dev/null; then
		LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$p" >/dev/null 2>"$T/err"
		is "$p: typeset at 80 columns without a warning" "$(cat "$T/err")" ''
	else
		skip 'man or groff is not installed'
	fi
done
done_testing
