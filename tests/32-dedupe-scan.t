#!/bin/sh
# fs-dedupe scan: probable duplicate contacts, reported and never merged.
. "$(dirname "$0")/lib.sh"
plan 24
fx=$top/tests/fixtures/dedupe-contacts.ndjson

# The labelled fixture: 1, 2 and 17 are one person (e-mail case, Bill/William,
# St/Street, 17 with first and last name swapped); 3-4 Liz/Elizabeth and
# Ave./Avenue; 5-6 swapped names; 7-8 typos in both names, Dr/Drive; 11-12 the
# same phone written two ways; 15-16 one e-mail, 15 without a given name.
# 9-10 are a household (same surname, address and landline, other first name
# and e-mail); 13-14 share a surname only; 98 is alone.
run fs-dedupe scan <"$fx"
is 'scan: exit 0' "$status" 0
out_is 'scan: one NDJSON line per duplicate set, in member order' <<'EOF'
{"type":"duplicate_set","members":["contact:1","contact:2","contact:17"],"score":1,"reasons":["email","name+address"]}
{"type":"duplicate_set","members":["contact:3","contact:4"],"score":1,"reasons":["name+address"]}
{"type":"duplicate_set","members":["contact:5","contact:6"],"score":1,"reasons":["name+address"]}
{"type":"duplicate_set","members":["contact:7","contact:8"],"score":0.97,"reasons":["name+address"]}
{"type":"duplicate_set","members":["contact:11","contact:12"],"score":0.88,"reasons":["phone"]}
{"type":"duplicate_set","members":["contact:15","contact:16"],"score":0.91,"reasons":["email"]}
EOF
err_is 'scan: nothing on stderr' </dev/null
is 'scan: the household at 9 Cedar Lane is two people' "$(grep -c 'contact:9"' "$T/out")" 0
is 'scan: the changelog row says what was scanned' \
	"$(sql "select kind, json_extract(detail, '\$.scanned'), json_extract(detail, '\$.sets'), json_extract(detail, '\$.scan_id') like 'scan_%' from changelog")" \
	'dedupe.scan|18|6|1'
# (The score in hundredths: a REAL 1 is 1.0 to sqlite3, 1 to psql.  The sets
# in score, then member order: duplicate_sets has no rowid on PostgreSQL.)
is 'scan: the sets are stored under the scan id' \
	"$(sql "select d.members, cast(round(d.score * 100) as integer), d.reasons from duplicate_sets d join changelog c on json_extract(c.detail, '\$.scan_id') = d.scan_id order by d.score desc, d.members limit 2")" \
	'["contact:1","contact:2","contact:17"]|100|["email","name+address"]
["contact:3","contact:4"]|100|["name+address"]'
is 'scan: nothing is merged or changed' "$(sql 'select count(*) from contacts')" 0

# A town: names repeat.  s1 and s2 are two men called Sven Thomas on Oak
# Drive and Oak Court, other number, ZIP, e-mail and phone (issue 16's false
# pair); s3 is s1 again, misspelt, without an e-mail, the phone written
# another way.  a1 and a2 are Ann Lee at 5 Elm Street; a3 is another Ann Lee
# across town whose phone a2 carries (a mistyped record): a chain a1~a2~a3
# that must not make a1 and a3 one set.  u1 and u2 share a house number and a
# street but not the flat.
person() {
	printf '{"type":"event","id":"evt_%s","kind":"contact.changed","object":"contact:%s","data":{"id":"%s","first_name":"%s","last_name":"%s","email":"%s","phone":"%s","address":{"line1":"%s","city":"%s","region":"AZ","postal_code":"%s"},"updated_at":"2026-11-29T10:00:00Z"}}\n' \
		"$1" "$1" "$1" "$2" "$3" "$4" "$5" "$6" "${8:-Phoenix}" "$7"
}
{
	person s1 Sven Thomas sven.thomas55@example.com 512-555-8833 '2020 Oak Drive' 85007
	person s2 Sven Thomas sven.thomas478@example.com 512-555-2602 '4049 Oak Court' 85092
	person s3 Svne Thomas '' '(512) 555-8833' '2020 Oak Dr.' 85007
	person a1 Ann Lee ann.lee@example.com 602-555-0101 '5 Elm Street' 85001
	person a2 Ann Lee annie.l@example.com 602-555-0177 '5 Elm St' 85001
	person a3 Ann Lee ann.lee77@example.com 602-555-0177 '77 Pine Road' 85003
	person u1 Joe Ruiz jruiz@example.com '' '900 Main St Apt 4' 85004
	person u2 Joe Ruiz joe.ruiz@example.com '' '900 Main St #12' 85004
} >town
run fs-dedupe scan <town
out_is 'scan, a town: namesakes on one street are two people; a duplicate still is a set; no chain' <<'EOF'
{"type":"duplicate_set","members":["contact:a1","contact:a2"],"score":1,"reasons":["name+address"]}
{"type":"duplicate_set","members":["contact:s1","contact:s3"],"score":0.93,"reasons":["phone","name+address"]}
EOF

# A ZIP keyed with one slip (two digits swapped, or one wrong) is the same
# ZIP when the house number, the street and the town agree: z1 and z2.  Two
# digits wrong (y1, y2) or another town (x1 in Tempe) are other homes.
{
	person z1 Maya Ortiz '' '' '14 Birch Road' 85015
	person z2 Maya Ortiz '' '' '14 Birch Rd' 85051
	person y1 Omar Haddad '' '' '8 Willow Way' 85016
	person y2 Omar Haddad '' '' '8 Willow Way' 85310
	person x1 Lena Park '' '' '3 Cedar Court' 85020 Tempe
	person x2 Lena Park '' '' '3 Cedar Court' 85021
} >slips
run fs-dedupe scan <slips
out_is 'scan: a ZIP one slip away in the same town is one home; two slips or another town are not' <<'EOF'
{"type":"duplicate_set","members":["contact:z1","contact:z2"],"score":0.97,"reasons":["name+address"]}
EOF

run fs-dedupe scan --format text <"$fx"
out_is 'scan --format text: each set with its members as the CRM holds them' <<'EOF'
set 1: score 1.00, matched on email, name+address
  contact:1: William Smith; 12 Oak Street, Springfield, IL 62701; bill.smith@example.com; +12175550101
  contact:2: Bill Smith; 12 Oak St, Springfield, IL 62701; Bill.Smith@Example.com; (no phone)
  contact:17: Smith William; 12 Oak St, Springfield, IL 62701; (no e-mail); (no phone)

set 2: score 1.00, matched on name+address
  contact:3: Elizabeth Jones; 5 Elm Avenue, Springfield, IL 62702; liz.jones@example.com; (no phone)
  contact:4: Liz Jones; 5 Elm Ave., Springfield, IL 62702; (no e-mail); (no phone)

set 3: score 1.00, matched on name+address
  contact:5: Garcia Maria; 77 Pine Road, Springfield, IL 62703; (no e-mail); (no phone)
  contact:6: Maria Garcia; 77 Pine Rd, Springfield, IL 62703; mgarcia@example.org; (no phone)

set 4: score 0.97, matched on name+address
  contact:7: Jonathan Peterson; 300 Lake Drive, Springfield, IL 62704; (no e-mail); (no phone)
  contact:8: Jonathon Petersen; 300 Lake Dr, Springfield, IL 62704; (no e-mail); (no phone)

set 5: score 0.88, matched on phone
  contact:11: Robert King; (no address); (no e-mail); +12175550123
  contact:12: Bob King; (no address); (no e-mail); (217) 555-0123

set 6: score 0.91, matched on email
  contact:15: Chen; (no address); chen@example.net; (no phone)
  contact:16: Wei Chen; 2 Rose Court, Springfield, IL 62708; CHEN@example.net ; (no phone)
EOF
run fs-dedupe scan --format text </dev/null
out_is 'scan --format text: no sets said so' <<'EOF'
no duplicate sets
EOF

# CSV: a row a member, each cell through the formula-neutralising writer (a
# surname "+Cmd" from the CRM is text to a spreadsheet, not a formula).
{
	cat town
	person f1 Eve +Cmd eve@example.com '' '3 Ash Lane' 85005
	person f2 Eve +Cmd eve@example.com '' '3 Ash Ln' 85005
} >town2
run fs-dedupe scan --format csv <town2
tr -d '\r' <"$T/out" >"$T/out.lf"
is 'scan --format csv: CRLF line ends' "$(grep -c "$(printf '\r')\$" "$T/out")" 7
mv "$T/out.lf" "$T/out"
out_is 'scan --format csv: members with names, addresses, e-mail, phone and reasons' <<'EOF'
set,score,reasons,member,first_name,last_name,line1,city,region,postal_code,email,phone
1,1.00,name+address,contact:a1,Ann,Lee,5 Elm Street,Phoenix,AZ,85001,ann.lee@example.com,602-555-0101
1,1.00,name+address,contact:a2,Ann,Lee,5 Elm St,Phoenix,AZ,85001,annie.l@example.com,602-555-0177
2,1.00,"email, name+address",contact:f1,Eve,"'+Cmd",3 Ash Lane,Phoenix,AZ,85005,eve@example.com,
2,1.00,"email, name+address",contact:f2,Eve,"'+Cmd",3 Ash Ln,Phoenix,AZ,85005,eve@example.com,
3,0.93,"phone, name+address",contact:s1,Sven,Thomas,2020 Oak Drive,Phoenix,AZ,85007,sven.thomas55@example.com,512-555-8833
3,0.93,"phone, name+address",contact:s3,Svne,Thomas,2020 Oak Dr.,Phoenix,AZ,85007,,(512) 555-8833
EOF

# Contacts the state file has seen (fs-normalize fills the table) join the
# ones on stdin; a stdin version of a stored contact replaces it.
rm -f fieldsync.db*
cp "$top/tests/fixtures/normalize.conf" fieldsync.conf
fs-normalize -q <"$top/tests/fixtures/hubspot-contacts.ndjson" >/dev/null
is 'the state holds contacts 101 and 102' "$(sql 'select id from contacts order by id' | tr '\n' ' ')" '101 102 '
echo '{"type":"event","id":"evt_x","kind":"contact.changed","object":"contact:500","data":{"id":"500","email":"ANN.LEE@example.com","first_name":"Anne","last_name":"Lee","updated_at":"2026-11-29T10:00:00Z"}}' >ann
run fs-dedupe scan <ann
out_is 'scan: a stdin contact matches a stored one' <<'EOF'
{"type":"duplicate_set","members":["contact:101","contact:500"],"score":0.94,"reasons":["email"]}
EOF
FS_NOW=2026-12-07T00:00:00Z run fs-dedupe scan --from 2026-12-01T00:00:00Z </dev/null
is 'scan --from: only sets with a member seen since then' "$(cat "$T/out")" ''
FS_NOW=2026-12-07T00:00:00Z run fs-dedupe scan --from 2026-12-01T00:00:00Z <ann
is 'scan --from: a set with a newly seen member is reported' "$(grep -c contact:500 "$T/out")" 1
sed 's/"id":"500"/"id":"101"/; s/ANN.LEE/someone.else/' ann >ann2
run fs-dedupe -v scan <ann2
is 'scan: the stdin version replaces the stored contact (-v: a summary)' "$(cat "$T/out")/$(head -c 31 "$T/err")" \
	'/fs-dedupe: 2 contacts scanned, '

# Bad input and usage.
printf '%s\n{"type":"event",\n' "$(cat ann)" >bad
run fs-dedupe scan <bad
is 'a bad line on stdin: exit 1' "$status" 1
is 'a bad line on stdin: error line' "$(head -n 1 "$T/err")" 'fs-dedupe: line 2: invalid JSON at byte 17'
is 'a bad line on stdin: DLQ entry' "$(sql "select lineno, bytes from dlq")" '2|{"type":"event",'
run fs-dedupe scan --format xml </dev/null
is 'scan --format xml: usage error' "$status/$(cat "$T/err")" "2/fs-dedupe: --format: must be ndjson, text or csv, not 'xml'"
run fs-dedupe scan --from yesterday </dev/null
is 'scan --from: malformed time is a usage error' "$status/$(cat "$T/err")" \
	"2/fs-dedupe: --from: 'yesterday' is not a time (RFC 3339 or YYYY-MM-DD)"
run fs-dedupe scan --ttl 1h </dev/null
is 'scan with a filter option: usage error' "$status/$(head -n 1 "$T/err")" '2/fs-dedupe: scan takes only --format and --from'

done_testing
