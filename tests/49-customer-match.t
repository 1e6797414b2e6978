#!/bin/sh
# QuickBooks customers matched to CRM contacts (lib/customers.c): by e-mail,
# else phone, else normalised address; ambiguous matches; a customer seen
# before its contact, matched at the end of a later run; an older version
# read again; the revenue of a matched customer attributed to the piece
# mailed to its contact in fs-report outcomes, and the unmatched revenue
# listed.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip_all 'jq is needed'
plan 15

cat >fieldsync.conf <<'EOF'
[source "hubspot"]
[source "qbo"]
kind = quickbooks
[target "mail"]
kind      = lob
url       = http://127.0.0.1:9/v1
token_env = LOB_API_KEY
EOF
export FS_CONFIG="$T/fieldsync.conf" LOB_API_KEY=sk_test_unused

contact() {	# id modified extra-properties
	printf '{"type":"record","source":"hubspot","stream":"contacts","data":{"id":"%s","properties":{"lifecyclestage":"customer","lastmodifieddate":"%s"%s}}}\n' \
		"$1" "$2" "$3"
}
customer() {	# id updated fields
	printf '{"type":"record","source":"qbo","stream":"customers","data":{"Id":"%s","MetaData":{"LastUpdatedTime":"%s"}%s}}\n' \
		"$1" "$2" "$3"
}
payment() {	# id customer amount date
	printf '{"type":"record","source":"qbo","stream":"payments","data":{"Id":"%s","CustomerRef":{"value":"%s"},"TotalAmt":%s,"TxnDate":"%s","MetaData":{"LastUpdatedTime":"%sT12:00:00Z"}}}\n' \
		"$1" "$2" "$3" "$4" "$4"
}
matches() { sql "select customer_id || ' ' || coalesce(contact_id, '-') || ' ' || reason || ' ' || candidates from customer_matches order by customer_id"; }

# The CRM: h1 by e-mail, h2 by phone, h3 by address; h4 and h5 share an
# e-mail (h5 updated last).
{
	contact h1 2026-11-01T08:00:00Z ',"email":"amy@example.com","phone":"5125550101"'
	contact h2 2026-11-01T08:00:00Z ',"email":"bo@example.com","phone":"(512) 555-0199"'
	contact h3 2026-11-01T08:00:00Z ',"address":"1 Main Street, Apt 4","city":"Austin","state":"TX","zip":"78701"'
	contact h4 2026-11-01T08:00:00Z ',"email":"dup@example.com"'
	contact h5 2026-11-02T08:00:00Z ',"email":"dup@example.com"'
} | FS_NOW=2026-11-02T09:00:00Z fs-normalize -q >/dev/null

# Pieces mailed to h1, h2, h3 and h5 on Nov 10, from the mail history.
cat >mailings.csv <<'EOF'
Contact ID,Campaign,Piece ID,Date Sent
h1,thank-you,hist_1,2026-11-10T10:00:00Z
h2,thank-you,hist_2,2026-11-10T10:00:00Z
h3,thank-you,hist_3,2026-11-10T10:00:00Z
h5,thank-you,hist_5,2026-11-10T10:00:00Z
EOF
FS_NOW=2026-11-10T12:00:00Z fs-pull -q --as mail-history csv:mailings.csv | FS_NOW=2026-11-10T12:00:00Z fs-normalize -q |
	FS_NOW=2026-11-10T12:00:00Z fs-push -q mail >/dev/null

# QuickBooks: q1 to q4 match a contact, q5 matches none, q6's contact
# (h6) reaches the state only later.
{
	customer 1 2026-11-20T10:00:00Z ',"PrimaryEmailAddr":{"Address":"Amy@Example.COM"},"PrimaryPhone":{"FreeFormNumber":"(512) 555-0199"}'
	customer 2 2026-11-20T10:00:00Z ',"Mobile":{"FreeFormNumber":"512-555-0199"}'
	customer 3 2026-11-20T10:00:00Z ',"CompanyName":"Cy Roofing","BillAddr":{"Line1":"1 Main St","Line2":"# 4","City":"Austin","CountrySubDivisionCode":"Texas","PostalCode":"78701-1234"}'
	customer 4 2026-11-20T10:00:00Z ',"PrimaryEmailAddr":{"Address":"dup@example.com"}'
	customer 5 2026-11-20T10:00:00Z ',"GivenName":"Di","FamilyName":"Nobody","PrimaryEmailAddr":{"Address":"di@example.com"}'
	customer 6 2026-11-20T10:00:00Z ',"PrimaryEmailAddr":{"Address":"ed@example.com"}'
	payment 11 1 250 2026-11-21
	payment 12 2 90.5 2026-11-22
	payment 13 3 400 2026-11-23
	payment 14 4 75 2026-11-24
	payment 15 5 60 2026-11-24
	payment 16 6 30 2026-11-25
} >qbo.ndjson
run env FS_NOW=2026-11-25T13:00:00Z fs-normalize -v <qbo.ndjson
is 'fs-normalize: customers go no further than the state; payments do' \
	"$status $(jq -r '.kind' "$T/out" | sort | uniq -c | tr -s ' ' | tr '\n' ',')" '0  6 outcome.revenue,'
is 'fs-normalize -v counts the customers and the matched' \
	"$(grep customer "$T/err")" 'fs-normalize: 6 customers seen, 4 matched to a contact'
is 'each customer: the contact, the reason, how many contacts that rule found' "$(matches)" \
'1 h1 email 1
2 h2 phone 1
3 h3 address 1
4 h5 email 2
5 - none 0
6 - none 0'
is 'a customer keeps what it was matched on' \
	"$(sql "select name, email, line1, line2, postal_code from customer_matches where customer_id = '3'")" \
	'Cy Roofing||1 Main St|# 4|78701-1234'
is 'no customer is a contact' "$(sql "select count(*) from contacts where source = 'qbo'")" 0
is "the run's changelog row counts them" \
	"$(sql "select json_extract(detail, '\$.customers') || ' ' || json_extract(detail, '\$.matched') from changelog where json_extract(detail, '\$.customers') is not null order by id desc limit 1")" \
	'6 4'
FS_NOW=2026-11-25T13:00:00Z fs-push -q mail <"$T/out" >/dev/null
is 'revenue rows remember their source' "$(sql "select group_concat(distinct source) from revenue")" qbo

# h6 arrives: q6 is matched at the end of that run.
contact h6 2026-11-26T08:00:00Z ',"email":"ed@example.com"' | FS_NOW=2026-11-26T09:00:00Z fs-normalize -v >/dev/null 2>"$T/err"
is 'a customer seen before its contact is matched once the contact is here' \
	"$(grep customer "$T/err") / $(sql "select contact_id || ' ' || reason from customer_matches where customer_id = '6'")" \
	'fs-normalize: 0 customers seen, 1 matched to a contact / h6 email'

# An older version of q1 read again (a replay, a re-pull) changes nothing.
customer 1 2026-11-19T10:00:00Z ',"PrimaryEmailAddr":{"Address":"old@example.com"}' | FS_NOW=2026-11-26T10:00:00Z fs-normalize -q
is 'an older version read again changes nothing' "$(sql "select contact_id || ' ' || version from customer_matches where customer_id = '1'")" \
	'h1 2026-11-20T10:00:00Z'

# fs-report outcomes: q1..q3 and q4 (through h5) follow their pieces;
# q6's contact was never mailed; q5's money is nobody's.
run env FS_NOW=2026-11-30T01:00:00Z fs-report outcomes --from 2026-11-01 --format text
is 'fs-report outcomes: exit 0' "$status/$(cat "$T/err")" 0/
is 'revenue attributed through the matches' \
	"$(sed -n '/^Revenue attributed/,/^$/p' "$T/out")" \
'Revenue attributed (last touch)
CAMPAIGN   CURRENCY  DEALS  AMOUNT
thank-you  USD           4   815.5'
is 'the deals name the CRM contact' \
	"$(sed -n '/^Deals attributed/,/^$/p' "$T/out" | awk 'NR > 2 && NF { print $1, $2, $3 }')" \
'payment:11 h1 250.0
payment:12 h2 90.5
payment:13 h3 400.0
payment:14 h5 75.0'
is 'the matches, by reason' "$(sed -n '/^Customers matched/,/^$/p' "$T/out")" \
'Customers matched to CRM contacts
SOURCE  REASON   CUSTOMERS  AMBIGUOUS
qbo     email            3          1
qbo     phone            1          0
qbo     address          1          0
qbo     none             1          0
  note: all customers so far; a match is the same e-mail, else phone, else normalised address; ambiguous: more than one contact matched, the one updated last won'
is 'the revenue no match lets fieldsync attribute' "$(sed -n '/^Revenue from customers/,/^$/p' "$T/out")" \
'Revenue from customers with no CRM contact
SOURCE  CUSTOMER ID  NAME       PAYMENTS  CURRENCY  AMOUNT
qbo     5            Di Nobody         1  USD         60.0'
run env FS_NOW=2026-11-30T01:00:00Z fs-report outcomes --from 2026-11-01 --section matches --format csv
is 'fs-report outcomes --section matches: CSV' "$status $(cat "$T/out" | tr -d '\r')" \
'0 source,reason,customers,ambiguous
qbo,email,3,1
qbo,phone,1,0
qbo,address,1,0
qbo,none,1,0'
