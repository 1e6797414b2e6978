#!/bin/sh
# JSONTestSuite through fs-normalize: every n_* document reaches the DLQ with
# its exact bytes, nothing crashes, and y_* objects are not refused as JSON.
# NDJSON cannot hold a newline inside a record, so a document that spans
# lines is read as several lines; each must then be in the DLQ as it was.
. "$(dirname "$0")/lib.sh"
suite=$corpora/JSONTestSuite/test_parsing
plan 5
hexof() { od -An -v -tx1 | tr -d ' \n'; }
# The file's non-blank lines, less "\r" at their ends, joined by "\n".
expected_lines() { perl -ne 's/\r?\n\z//; print "$_\x{1}" if /\S/' "$1" | perl -pe 's/\x{1}\z//; s/\x{1}/\n/g'; }
crashed=0 wrong=0 refused=0
for f in "$suite"/${ONLY:-n_*.json}; do
	rm -f fieldsync.db*
	fs-normalize <"$f" >/dev/null 2>err
	rc=$?
	[ $rc -gt 5 ] && { crashed=$((crashed + 1)); echo "# crashed ($rc): $f"; }
	want=$(expected_lines "$f" | hexof)
	# Each row's bytes in hex, joined by 0a (\n): group_concat() of the
	# blobs would be text on PostgreSQL (bytea's escaped form), not bytes.
	got=$(sql "select lower(hex(bytes)) from dlq order by id" | awk 'NR > 1 { printf "0a" } { printf "%s", $0 }')
	[ "$got" != "$want" ] && { wrong=$((wrong + 1)); echo "# DLQ bytes differ: $f"; }
	[ $rc = 0 ] && [ -n "$want" ] && { refused=$((refused + 1)); echo "# exit 0 for $f"; }
done
is 'no n_* document crashes fs-normalize' "$crashed" 0
is 'the DLQ keeps every n_* document byte for byte' "$wrong" 0
is 'no n_* document exits 0' "$refused" 0
bad=0 crashed=0
for f in "$suite"/y_*.json "$suite"/i_*.json; do
	rm -f fieldsync.db*
	fs-normalize <"$f" >/dev/null 2>err
	[ $? -gt 5 ] && { crashed=$((crashed + 1)); echo "# crashed: $f"; }
	case $f in */i_*) continue ;; esac
	[ "$(grep -c '' "$f")" -gt 1 ] && continue
	case $(head -n 1 err) in
	*"invalid JSON"* | *"invalid UTF-8"*) bad=$((bad + 1)); echo "# refused valid $f: $(cat err)" ;;
	esac
done
is 'no y_* or i_* document crashes fs-normalize' "$crashed" 0
is 'no one-line y_* document is refused as invalid JSON' "$bad" 0
done_testing
