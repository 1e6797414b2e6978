#!/bin/sh
# Suppression before money: fs-suppress's list (contacts, addresses in one
# normalised form), the CRM's do-not-mail flag, and the addresses the vendor
# returned, each checked by fs-push before any request.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
plan 24
export LOB_API_KEY=sk_test_s3cret
start_lob
lob_conf "price     = postcard 0.65, letter 1.10"
fs-dlq count >/dev/null
results() { grep '"type":"result"' "$T/out" | jq -r '[.event_id, .status, .reason // empty] | join(" ")'; }

# The list by hand.
run fs-suppress add --contact 101 --reason 'asked us to stop'
is 'add a contact: exit 0, what is on the list' "$status/$(cat "$T/out")" '0/suppressed contact 101'
run fs-suppress add --address '12 North Main Street, Apt. 4, Austin, TX 78701-1234' --reason moved
is 'add an address: its normalised form' "$status/$(cat "$T/out")" '0/suppressed address 12 N MAIN ST #4|78701'
run fs-suppress add --address '12 n main st #4, Austin, TX 78701'
is 'the same door written otherwise is listed already' "$status/$(cat "$T/out")" '0/already suppressed: address 12 N MAIN ST #4|78701'
run fs-suppress add --contact 102 --address 'x'
is 'one of --contact and --address' "$status/$(cat "$T/err")" \
	"2/fs-suppress: give --contact ID or --address TEXT, one of them"
run fs-suppress add --address 'Austin, TX'
is 'an address without a street line is refused' "$status/$(head -n 1 "$T/err")" \
	"2/fs-suppress: --address: 'Austin, TX' is no address to mail: want 'LINE1[, LINE2], CITY, REGION ZIP', with a house number, and a ZIP or a town"
run fs-suppress list --format csv
is 'list as CSV' "$(tr -d '\r' <"$T/out")" "kind,value,shown,origin,added_at,reason
contact,101,101,manual,$FS_NOW,asked us to stop
address,12 N MAIN ST #4|78701,\"12 North Main Street, Apt. 4, Austin, TX 78701-1234\",manual,$FS_NOW,moved"
is 'each addition has its changelog row' "$(sql "select count(*) from changelog where kind = 'suppress.add'")" 2

# fs-push: a listed contact, a listed address (written another way), the
# CRM's flag: suppressed, with the reason; the others go.
{
	mreq evt_s1 101
	mreq evt_s2 201 postcard thanks 'Bo Day' '12 N. Main St, #4'
	mreq evt_s3 202 | sed 's/"trigger"/"do_not_mail":true,"trigger"/'
	mreq evt_s4 203
} >s.ndjson
run fs-push --parallel 1 mail <s.ndjson
is 'suppressed pieces are normal work: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
is 'a suppressed result with its reason, the others sent' "$(results)" \
"evt_s1 suppressed the contact is on the do-not-mail list: asked us to stop
evt_s2 suppressed the address is on the do-not-mail list: moved
evt_s3 suppressed the CRM says do not mail
evt_s4 sent"
is 'no request for them' "$(lob_pieces | cut -d' ' -f1)" evt_s4
is 'their rows are suppressed, with the reason' \
	"$(sql "select event_id, state, reason from outbox where event_id in ('evt_s1', 'evt_s3') order by id")" \
	'evt_s1|suppressed|the contact is on the do-not-mail list: asked us to stop
evt_s3|suppressed|the CRM says do not mail'
is 'a send.suppressed changelog row each' \
	"$(sql "select event_id, json_extract(detail, '$.reason') from changelog where kind = 'send.suppressed' order by id" | cut -d'|' -f1 | tr '\n' ' ')" \
	'evt_s1 evt_s2 evt_s3 '
run fs-push mail <s.ndjson
is 'again (a re-run): nothing new' "$status/$(results)" 0/

# Removing an entry: later requests may go; a suppressed row stays so.
run fs-suppress remove --contact 101
is 'remove: exit 0' "$status/$(cat "$T/out")" '0/removed contact 101'
run fs-suppress remove --contact 101
is 'remove what is not there: exit 2' "$status/$(cat "$T/err")" "2/fs-suppress: remove: contact '101' is not on the list"
mreq evt_s5 101 | fs-push mail >/dev/null 2>&1
is 'a later request for the contact goes' "$(sql "select state from outbox where event_id = 'evt_s5'")" sent

# A piece returned as undeliverable: its address joins the list by itself,
# and the next request to it (another contact, the same door) is suppressed.
v4=$(sql "select vendor_id from outbox where event_id = 'evt_s4'")
mstatus evt_r4 "$v4" 203 returned | fs-push mail >/dev/null 2>&1
is 'the returned address is on the list, origin returned' \
	"$(sql "select kind, value, origin, reason from suppressions where origin = 'returned'")" \
	"address|1 MAIN ST|78701|returned|$v4, returned 2026-11-30T00:30:00Z"
mreq evt_s6 204 postcard thanks 'Cy Moe' '1 Main Street' | fs-push mail >out6 2>&1
is 'a request to that address is suppressed' "$(sql "select state, reason from outbox where event_id = 'evt_s6'")" \
	"suppressed|the address was returned as undeliverable ($v4, returned 2026-11-30T00:30:00Z)"

# Import: a CSV of contacts and addresses, in one transaction.
cat >list.csv <<'EOF2'
Contact ID,Street,City,State,Zip,Reason
301,,,,,deceased
,77 Elm Road Suite 5,Dallas,TX,75201,closed
EOF2
run fs-suppress import list.csv
is 'import: exit 0, counted' "$status/$(cat "$T/out")" '0/2 added, 0 listed already, 0 rows without a contact or an address'
is 'import: both listed' "$(sql "select kind, value, origin from suppressions where origin = 'import' order by id")" \
	'contact|301|import
address|77 ELM RD #5|75201|import'
printf 'name,phone\nx,1\n' >bad.csv
run fs-suppress import bad.csv
is 'import without a usable column: exit 2' "$status/$(cat "$T/err")" \
	"2/fs-suppress: import: 'bad.csv': the header names no contact_id, address or line1 column"

# Reports count suppressed pieces apart from duplicates, with their cost.
run fs-report outcomes --section spend --from 2026-11-30 --to 2026-11-30 --format text
out_is 'fs-report outcomes: sent and suppressed pieces apart, with their cost' <<'EOT'
outcomes: Responses and revenue after mail, 2026-11-30 00:00 to 2026-12-01 00:00 UTC

Spend, and what the brakes stopped, per campaign and day
DAY         CAMPAIGN  OUTCOME     PIECES  COST
2026-11-30  thanks    sent             2  1.30
2026-11-30  thanks    suppressed       4  2.60
  note: days in UTC; cost at the target's price when the piece was queued (-: no price set); a cancelled piece was sent first, or withdrawn before it went
EOT
run fs-report pilot --from 2026-11-30 --to 2026-11-30 --format json
is 'fs-report pilot: the suppressed pieces and the cost spared' \
	"$(jq -r 'select(.section == "pilot" and (.metric | test("^(pieces_suppressed|cost_|duplicate)"))) | "\(.metric) \(.pilot)"' "$T/out")" \
	'duplicate_triggers_suppressed 0
pieces_suppressed 4
cost_sent 1.3
cost_spared 2.6'
is 'the list is not touched by a read-only report' "$(sql 'select count(*) from suppressions')" 4
done_testing
