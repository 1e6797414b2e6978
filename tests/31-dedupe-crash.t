#!/bin/sh
# fs-dedupe --commit ends the pipeline: killed with SIGKILL at its steps and re-run,
# every event takes effect exactly once (its key is finalized once, in the
# commit of the checkpoint after it; a key a dead run left tentative is not
# held against the event).
. "$(dirname "$0")/lib.sh"
plan 9
cp "$top/tests/fixtures/normalize.conf" fieldsync.conf
export FS_BUSY_TIMEOUT=10000	# two stages write one state file at once

# 1200 HubSpot records, every 4th one a repeat of an earlier record, a
# checkpoint every 50; every 5th contact has a finished job (mail.requested).
awk 'BEGIN {
	for (i = 1; i <= 1200; i++) {
		k = (i % 4 == 0) ? int(i / 4) : i - int(i / 4)
		st = (k % 5 == 0) ? "job_completed" : "lead"
		printf "{\"type\":\"record\",\"source\":\"hubspot\",\"stream\":\"contacts\",\"data\":{\"id\":\"%d\",\"properties\":{\"email\":\"c%d@example.com\",\"firstname\":\"F%d\",\"lastname\":\"L\",\"phone\":null,\"company\":null,\"address\":\"%d Main St\",\"city\":\"Austin\",\"state\":\"TX\",\"zip\":\"78701\",\"country\":\"US\",\"lifecyclestage\":\"%s\",\"hubspot_owner_id\":null,\"lastmodifieddate\":\"2026-11-29T10:00:00Z\"}}}\n", k, k, k, k, st
		if (i % 50 == 0)
			printf "{\"type\":\"checkpoint\",\"source\":\"hubspot\",\"stream\":\"contacts\",\"cursor\":\"c%d\"}\n", i
	}
}' >records

# Every event id the records make, from a state file of its own.
fs-normalize -q -s ref.db <records | sed -n 's/^{"type":"event","id":"\([^"]*\)".*/\1/p' | sort -u >all
total=$(wc -l <all)
is 'the records make 1080 distinct events' "$total" 1080

# Each run dies before one of its own durable steps (FS_CRASH_AT: a
# commit or a write of its output), a later one each time, so that kills
# land before and after checkpoints' commits; where is set, not timed.
finals() { sql 'select count(*) from idem_keys where final = 1'; }
partial=0 kills=0
i=1
while [ $i -le 24 ]; do
	fs-normalize -q <records 2>/dev/null | FS_CRASH_AT=$((i % 8 + 2)) fs-dedupe -q --commit >"out.$i" 2>/dev/null
	[ $? = 137 ] && kills=$((kills + 1))
	f=$(finals)
	[ "$f" -gt 0 ] && [ "$f" -lt "$total" ] && partial=$((partial + 1))
	i=$((i + 1))
done
is 'every run was killed mid-way' "$kills" 24
is 'some kills left part of the input final and part not' "$([ "$partial" -ge 1 ] && echo yes)" yes

# The run to completion.
sql 'select id from idem_keys where final = 1 order by id' >final-before
fs-normalize -q <records | fs-dedupe -q --commit >last
is 'the completed run: exit 0' "$?" 0
sed -n 's/^{"type":"event","id":"\([^"]*\)".*/\1/p' last | sort >last-ids
is 'the completed run emits no event twice' "$(uniq -d last-ids)" ''
comm -23 all final-before >owed
check_same 'it emits exactly the events no earlier run finalized' owed last-ids
sql 'select id from idem_keys where final = 1 order by id' >final-after
check_same 'afterwards every event is final' all final-after
is 'fs-dedupe takes no enrolment (fs-push takes it with the piece)' "$(sql 'select count(*) from enrolments')" 0
is 'the last cursor is committed' "$(sql 'select cursor from cursors')" c1200

done_testing
