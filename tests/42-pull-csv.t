#!/bin/sh
# fs-pull csv:FILE and ndjson:FILE: RFC 4180 through libcsv, the csv-spectrum
# corpus, bad rows to the DLQ, mail history for the pilot's baseline.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip_all 'jq is needed'
spectrum=$corpora/csv-spectrum
plan 42

# The csv-spectrum corpus: each CSV gives exactly the records its JSON lists.
# The *_crlf files lost their CRs in the corpus's own checkout (their JSON
# still expects "\r\n" inside quoted fields), so they are fed with CRLF.
for f in "$spectrum"/csvs/*.csv; do
	name=$(basename "$f" .csv)
	case $name in
	*_crlf) sed 's/$/\r/' "$f" >in.csv ;;
	*) cp "$f" in.csv ;;
	esac
	run fs-pull csv:in.csv
	is "csv-spectrum $name" "$status $(jq -c '[.[]]' "$spectrum/json/$name.json")" \
		"0 $(jq -sc 'map(.data)' "$T/out")"
done

printf '\357\273\277Contact ID,Full Name,Note\r\n7,"Lee, Ann","said ""hi""\r\nand left"\r\n8,,\r\n' >bom.csv
run fs-pull csv:bom.csv
is 'BOM, CRLF, quotes, embedded CRLF, empty fields: exit 0' "$status" 0
out_is 'the records, header kept exactly, values strings, row number in key' <<'EOF'
{"type":"record","source":"csv","stream":"rows","key":"2","fetched_at":"2026-11-30T01:00:00Z","data":{"Contact ID":"7","Full Name":"Lee, Ann","Note":"said \"hi\"\r\nand left"}}
{"type":"record","source":"csv","stream":"rows","key":"3","fetched_at":"2026-11-30T01:00:00Z","data":{"Contact ID":"8","Full Name":"","Note":""}}
EOF
run fs-pull csv:- <bom.csv
is 'csv:- reads standard input' "$(wc -l <"$T/out" | tr -d ' ')" 2
printf 'a,b\n  x , y \n' >spaces.csv
run fs-pull csv:spaces.csv
is 'spaces are data (RFC 4180)' "$(jq -c .data "$T/out")" '{"a":"  x ","b":" y "}'
# Plain lines are split without libcsv, others go through it: lines of both
# kinds mixed, a quoted field with a line break after a plain line, a row
# longer than the 256 KiB read buffer, a quote inside an unquoted field
# (data, as libcsv reads it), doubled quotes, blank lines, no final newline.
awk 'BEGIN {
	printf "h1,h2,h3\n"
	printf "1,\"a,b\",\"\"\n"
	printf "2,\"line\nbreak\",x\n"
	s = "zzzzzzzzzz"
	while (length(s) < 300000)
		s = s s
	s = substr(s, 1, 300000)
	printf "3,%s,\"%s\"\n", s, s
	printf "4,a\"b,c\n"
	printf "5,\"a\"\"b\",\"\"\"\"\r\n"
	printf "\n\r\n6,,\n"
	printf "7,\"x\",no newline"
}' >mixed.csv
run fs-pull csv:mixed.csv
is 'plain and quoted lines, a 300 KB row, loose quotes: exit 0' "$status" 0
is 'the rows, each with the fields libcsv gives' \
	"$(jq -c '[.key, (.data | map_values(if length > 100 then length else . end))]' "$T/out")" \
	'["2",{"h1":"1","h2":"a,b","h3":""}]
["3",{"h1":"2","h2":"line\nbreak","h3":"x"}]
["4",{"h1":"3","h2":300000,"h3":300000}]
["5",{"h1":"4","h2":"a\"b","h3":"c"}]
["6",{"h1":"5","h2":"a\"b","h3":"\""}]
["7",{"h1":"6","h2":"","h3":""}]
["8",{"h1":"7","h2":"x","h3":"no newline"}]'
run fs-pull csv:- <mixed.csv
is 'the same read from a pipe' "$(jq -c '[.key, (.data | map_values(length))]' "$T/out" | tr '\n' ' ')" \
	'["2",{"h1":1,"h2":3,"h3":0}] ["3",{"h1":1,"h2":10,"h3":1}] ["4",{"h1":1,"h2":300000,"h3":300000}] ["5",{"h1":1,"h2":3,"h3":1}] ["6",{"h1":1,"h2":3,"h3":1}] ["7",{"h1":1,"h2":0,"h3":0}] ["8",{"h1":1,"h2":1,"h3":10}] '
printf 'a,b\n1,2\n' >tiny.csv
run fs-pull --as mail-history csv:tiny.csv
is '--as names the stream' "$(jq -r .stream "$T/out")" mail-history

# Ragged rows, an unterminated quote, bad UTF-8: the DLQ with the row number.
printf 'id,name\n1,Ann\n2\n3,Bob,extra\n4,"Cy\377"\n5,"open\n' >bad.csv
run fs-pull csv:bad.csv
is 'bad rows: exit 1' "$status" 1
is 'bad rows: the good row comes' "$(jq -c .data "$T/out")" '{"id":"1","name":"Ann"}'
err_is 'bad rows: one error line each, then the count' <<'EOF'
fs-pull: row 3: 1 field, the header has 2
fs-pull: row 4: 3 fields, the header has 2
fs-pull: row 5: invalid UTF-8 in column 2 at byte 3
fs-pull: row 6: a quoted field is not closed before the end of the input
fs-pull: 4 records went to the dead-letter queue (fs-dlq list)
EOF
# (The DLQ's bytes as hex, read here: bytes is a BLOB, bytea on PostgreSQL,
# where neither replace() nor json_extract() takes one, nor is a cast text.)
is 'bad rows: the DLQ holds each as a one-row CSV with its header' \
	"$(sql "select lineno, hex(bytes) from dlq where command = 'fs-pull' and lineno != 5 order by id" |
		perl -ne 'chomp; my ($l, $h) = split /\|/; (my $b = pack "H*", $h) =~ s/\n/|/g; print "$l $b\n"')" \
'3 id,name|2|
4 id,name|3,Bob,extra|
6 id,name|5,"open|"|'
is 'bad rows: the bad UTF-8 bytes are kept' "$(sql "select hex(bytes) from dlq where lineno = 5")" \
	"$(printf 'id,name\n4,Cy\377\n' | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
run fs-pull csv:bad.csv
is 'the same bad rows again are the same dead letters, seen twice' "$(sql 'select count(*), sum(seen) from dlq')" '4|8'
printf 'id,id\n1,2\n' >dup.csv
run fs-pull csv:dup.csv
is 'a repeated column name: exit 2, nothing out' "$status/$(wc -c <"$T/out" | tr -d ' ')" 2/0
is 'a repeated column name: why' "$(cat "$T/err")" "fs-pull: row 1: column 2 has the same name as column 1: 'id'"
: >empty.csv
run fs-pull csv:empty.csv
is 'an empty file: nothing, exit 0' "$status/$(wc -c <"$T/out" | tr -d ' ')" 0/0
run fs-pull csv:missing.csv
is 'a missing file: exit 2' "$status/$(cat "$T/err")" "2/fs-pull: cannot open 'missing.csv': No such file or directory"
seq 1 50 | sed '1i n' >many.csv
run fs-pull --limit 7 csv:many.csv
is '--limit' "$(jq -r .data.n "$T/out" | tr '\n' ' ')" '1 2 3 4 5 6 7 '

# A configured CSV source.
printf '[source "crm-export"]\nkind = csv\nfile = %s/tiny.csv\n' "$T" >fieldsync.conf
run fs-pull crm-export
is 'a [source] of kind csv reads its file, under its own name' "$(jq -c '[.source, .stream, .data]' "$T/out")" '["crm-export","rows",{"a":"1","b":"2"}]'
rm fieldsync.conf

# Mail history for the pilot's baseline: mail.status sent / delivered / returned.
cat >history.csv <<'EOF'
Contact ID,Campaign,Date Sent,Date Delivered,Returned
101,thank-you,2026-06-01,2026-06-05,
102,winback,2026-07-01 09:30:00,,2026-07-09
103,winback,,,
EOF
fs-pull --as mail-history csv:history.csv >history.ndjson
run fs-normalize <history.ndjson
is 'mail history: exit 0' "$status" 0
is 'mail history: one mail.status per date' \
	"$(jq -r '[.object, .occurred_at, .data.status, .data.contact_id, .data.campaign, .data.vendor] | @tsv' "$T/out")" \
'mail:hist:101/thank-you/2026-06-01T00:00:00Z	2026-06-01T00:00:00Z	sent	101	thank-you	history
mail:hist:101/thank-you/2026-06-01T00:00:00Z	2026-06-05T00:00:00Z	delivered	101	thank-you	history
mail:hist:102/winback/2026-07-01T09:30:00Z	2026-07-01T09:30:00Z	sent	102	winback	history
mail:hist:102/winback/2026-07-01T09:30:00Z	2026-07-09T00:00:00Z	returned	102	winback	history'
cp "$T/out" h1
run fs-normalize <history.ndjson
is 'mail history: the same file gives the same event ids' "$(jq -r .id h1)" "$(jq -r .id "$T/out")"

# US exports write dates month first (M/D/YYYY, with or without a time): read as
# UTC, like ISO dates; a date that is not one goes to the DLQ naming the column.
cat >us.csv <<'EOF'
Contact ID,Campaign,Sent Date,Delivered Date,Returned
201,fall,03/14/2026,3/18/2026 2:05 PM,
202,fall,7/1/2026 09:30,7/9/2026 12:00:09 am,2026-07-20
203,fall,2026-07-01T09:30:00.250+02:00,12/31/2026 23:59:59,2/29/2028T12:30
204,fall,02/30/2026,,
205,fall,3/4/26,3/5/2026,
206,fall,3/4/2026,3/5/2026 13:00 PM,
EOF
fs-pull --as mail-history csv:us.csv >us.ndjson
run fs-normalize <us.ndjson
is 'US dates: exit 1 (three rows dead-lettered)' "$status" 1
is 'US dates: month first, times read as UTC, 12 am is 00, offsets kept' \
	"$(jq -r '[.object, .occurred_at, .data.status] | @tsv' "$T/out")" \
'mail:hist:201/fall/2026-03-14T00:00:00Z	2026-03-14T00:00:00Z	sent
mail:hist:201/fall/2026-03-14T00:00:00Z	2026-03-18T14:05:00Z	delivered
mail:hist:202/fall/2026-07-01T09:30:00Z	2026-07-01T09:30:00Z	sent
mail:hist:202/fall/2026-07-01T09:30:00Z	2026-07-09T00:00:09Z	delivered
mail:hist:202/fall/2026-07-01T09:30:00Z	2026-07-20T00:00:00Z	returned
mail:hist:203/fall/2026-07-01T09:30:00.250+02:00	2026-07-01T07:30:00Z	sent
mail:hist:203/fall/2026-07-01T09:30:00.250+02:00	2026-12-31T23:59:59Z	delivered
mail:hist:203/fall/2026-07-01T09:30:00.250+02:00	2028-02-29T12:30:00Z	returned'
err_is 'US dates: a line per bad date, naming the column and the value' <<'EOF'
fs-normalize: line 4: map error: column "Sent Date": "02/30/2026" is not a date (YYYY-MM-DD, MM/DD/YYYY or RFC 3339, optionally with a time)
fs-normalize: line 5: map error: column "Sent Date": "3/4/26" is not a date (YYYY-MM-DD, MM/DD/YYYY or RFC 3339, optionally with a time)
fs-normalize: line 6: map error: column "Delivered Date": "3/5/2026 13:00 PM" is not a date (YYYY-MM-DD, MM/DD/YYYY or RFC 3339, optionally with a time)
EOF
is 'US dates: the bad rows are in the DLQ with their records' \
	"$(sql "select lineno, hex(bytes) from dlq where command = 'fs-normalize' order by id" |
		perl -MJSON::PP -ne 'chomp; my ($l, $h) = split /\|/; print "$l ", decode_json(pack "H*", $h)->{data}{"Contact ID"}, "\n"')" \
'4 204
5 205
6 206'

# NDJSON files: pipe messages pass as they are; raw objects need --as.
printf '%s\n' '{"type":"record","source":"hubspot","data":{"id":"1"}}' '{"id":"2","properties":{}}' '{"id":' >in.ndjson
run fs-pull --as hubspot ndjson:in.ndjson
is 'ndjson: exit 1 (a bad line)' "$status" 1
out_is 'ndjson: a message passes, a raw object becomes a record of --as' <<'EOF'
{"type":"record","source":"hubspot","data":{"id":"1"}}
{"type":"record","source":"hubspot","stream":"contacts","key":"2","fetched_at":"2026-11-30T01:00:00Z","data":{"id":"2","properties":{}}}
EOF
is 'ndjson: the bad line: error and DLQ' "$(sed -n 1p "$T/err"; sql "select lineno || ' ' || bytes || ' ' || reason from dlq where reason like 'line 3:%'")" \
	'fs-pull: line 3: invalid JSON at byte 7
3 {"id": line 3: invalid JSON at byte 7'
run fs-pull ndjson:in.ndjson
is 'ndjson: without --as a raw object is dead-lettered' "$(sed -n 1p "$T/err")" 'fs-pull: line 2: a raw object needs --as SOURCE'
done_testing
