#!/bin/sh
# The state's schema in PostgreSQL (lib/schema_pg.c) against SQLite's
# (lib/schema.c): a database that took every PostgreSQL migration has the
# tables, columns, types, keys, indexes, CHECKs, foreign keys and triggers
# of a SQLite file that took every SQLite migration; migrating in steps
# gives what migrating at once does; the changelog refuses changes as
# SQLite's does; the compatibility functions answer as SQLite's.
# tests/unit/pg-schema prints either engine's migrations.
. "$(dirname "$0")/lib.sh"
plan 43
pg_start || { echo 'Bail out! pg_start failed'; exit 1; }
schema=$top/tests/unit/pg-schema
[ -x "$schema" ] || { echo 'Bail out! no tests/unit/pg-schema: make units'; exit 1; }
N=$current_schema
url() { echo "postgresql://fieldsync@/$1?host=$PGDIR"; }
# pq DB ARGS...: psql on database DB; pg DB FROM TO: that database takes
# migrations FROM..TO-1 in one transaction.
pq() { db=$1; shift; psql "$(url "$db")" -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }
pg() { { echo 'BEGIN;'; "$schema" pg "$2" "$3" && echo 'COMMIT;'; } | pq "$1"; }
newdb() { pq fieldsync -c "CREATE DATABASE $1"; }
sq() { sqlite3 -batch state.db "$@"; }

# Both engines have N migrations (N: lib.sh's current_schema).
"$schema" pg 0 $N >/dev/null; a=$?
"$schema" pg 0 $((N + 1)) >/dev/null 2>&1; b=$?
"$schema" sqlite 0 $N >/dev/null; c=$?
"$schema" sqlite 0 $((N + 1)) >/dev/null 2>&1; d=$?
is "pg-schema: $N migrations for each engine, no more" "$a/$b/$c/$d" 0/2/0/2

newdb fsall
run pg fsall 0 $N
is 'every PostgreSQL migration, in one transaction, on a new database' "$status/$(cat "$T/err")" 0/
is 'fs_schema: one row, the version N' "$(pq fsall -c 'SELECT count(*), max(version) FROM fs_schema')" "1|$N"
run sh -c "'$schema' sqlite 0 $N | sqlite3 -batch -bail state.db"
is 'every SQLite migration on a new file' "$status/$(cat "$T/err")/$(sq 'PRAGMA user_version')" "0//$N"

# Columns of tables and views.  The four tables whose rowid lib/ reads have
# it as a real column in PostgreSQL (lib/schema_pg.c's header).
rowid_tables='entries idem_final piece_status sheet_snapshots'
sq "SELECT m.name || '|' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
	WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'" >cols
for t in $rowid_tables; do echo "$t|rowid"; done >>cols
LC_ALL=C sort cols >sqlite.cols
pq fsall -c "SELECT table_name || '|' || column_name FROM information_schema.columns
	WHERE table_schema = 'public' AND table_name <> 'fs_schema'" | LC_ALL=C sort >pg.cols
check_same 'the same (table, column) pairs, views included' sqlite.cols pg.cols
ok "$([ "$(wc -l <pg.cols)" -gt 200 ] && echo 0 || echo 1)" 'over 200 of them'

# Types and nullability of the tables' columns: INTEGER bigint, TEXT text,
# BLOB bytea, REAL double precision, the untyped idem k text; a primary key
# is NOT NULL in PostgreSQL (SQLite lets a rowid table's text key be NULL).
sq "SELECT m.name || '|' || p.name || '|' || CASE upper(p.type) WHEN 'INTEGER' THEN 'bigint'
	WHEN 'TEXT' THEN 'text' WHEN 'BLOB' THEN 'bytea' WHEN 'REAL' THEN 'double precision'
	WHEN '' THEN 'text' ELSE 'unmapped ' || p.type END || '|' || (p.\"notnull\" OR p.pk > 0)
	FROM sqlite_master m, pragma_table_info(m.name) p
	WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'" >types
for t in $rowid_tables; do echo "$t|rowid|bigint|1"; done >>types
LC_ALL=C sort types >sqlite.types
pq fsall -c "SELECT c.table_name || '|' || c.column_name || '|' || c.data_type || '|'
	|| CASE c.is_nullable WHEN 'NO' THEN 1 ELSE 0 END
	FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
	WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name <> 'fs_schema'" |
	LC_ALL=C sort >pg.types
check_same "the tables' columns' types and NOT NULLs map" sqlite.types pg.types

# Primary keys and unique indexes, as column lists (SQLite: an INTEGER
# PRIMARY KEY has no index, so the table's pk columns too).
sq "SELECT m.name || '|' || (SELECT group_concat(name, ',') FROM
	  (SELECT name FROM pragma_table_info(m.name) WHERE pk > 0 ORDER BY pk))
	FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
	  AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE pk > 0)
	UNION SELECT m.name || '|' || (SELECT group_concat(coalesce(name, '(expr)'), ',') FROM
	  (SELECT name FROM pragma_index_info(l.name) ORDER BY seqno)) || CASE WHEN l.partial THEN '|partial' ELSE '' END
	FROM sqlite_master m, pragma_index_list(m.name) l
	WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND l.\"unique\"" >keys
for t in $rowid_tables; do echo "$t|rowid"; done >>keys
LC_ALL=C sort keys >sqlite.keys
pq fsall -c "SELECT c.relname || '|' || string_agg(coalesce(a.attname, '(expr)'), ',' ORDER BY k.ord)
	|| CASE WHEN bool_or(i.indpred IS NOT NULL) THEN '|partial' ELSE '' END
	FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
	JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
	CROSS JOIN unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
	LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
	WHERE i.indisunique AND c.relname <> 'fs_schema' GROUP BY i.indexrelid, c.relname" |
	LC_ALL=C sort >pg.keys
check_same 'the same primary keys and unique indexes (column lists)' sqlite.keys pg.keys
is 'among them outbox (target, event_id) and inbox (source, delivery_id)' \
	"$(grep -c -x -e 'outbox|target,event_id' -e 'inbox|source,delivery_id' pg.keys)" 2

# The indexes made by name: name, table, columns (an expression: "(expr)"),
# unique, partial.
sq "SELECT x.name || '|' || x.tbl_name || '|' || (SELECT group_concat(coalesce(name, '(expr)'), ',') FROM
	  (SELECT name FROM pragma_index_info(x.name) ORDER BY seqno)) || '|' || l.\"unique\" || '|' || l.partial
	FROM sqlite_master x JOIN pragma_index_list(x.tbl_name) l ON l.name = x.name
	WHERE x.type = 'index' AND x.sql IS NOT NULL" | LC_ALL=C sort >sqlite.idx
pq fsall -c "SELECT ic.relname || '|' || c.relname || '|'
	|| string_agg(coalesce(a.attname, '(expr)'), ',' ORDER BY k.ord) || '|'
	|| CASE WHEN bool_or(i.indisunique) THEN 1 ELSE 0 END || '|' || CASE WHEN bool_or(i.indpred IS NOT NULL) THEN 1 ELSE 0 END
	FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
	JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
	CROSS JOIN unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
	LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
	WHERE c.relname <> 'fs_schema' AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid)
	GROUP BY i.indexrelid, ic.relname, c.relname" | LC_ALL=C sort >pg.idx
check_same "the same named indexes, on the same columns, partial where SQLite's are" sqlite.idx pg.idx
is 'the changelog is indexed on json_extract(detail, ...) as lib/report.c asks' \
	"$(pq fsall -c "SELECT count(*) FROM pg_indexes WHERE indexname IN ('changelog_by_contact', 'changelog_by_campaign')
	  AND indexdef LIKE '%json_extract(detail, ''$.%'")" 2

# Triggers, CHECKs, foreign keys.
sq "SELECT tbl_name || '|' || name FROM sqlite_master WHERE type = 'trigger'" | LC_ALL=C sort >sqlite.trg
pq fsall -c "SELECT c.relname || '|' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	WHERE NOT t.tgisinternal" | LC_ALL=C sort >pg.trg
check_same 'the same triggers on the same tables' sqlite.trg pg.trg
sq "SELECT name || '|' || ((length(sql) - length(replace(sql, 'CHECK (', ''))) / 7) FROM sqlite_master
	WHERE type = 'table' AND sql LIKE '%CHECK (%'" | LC_ALL=C sort >sqlite.chk
pq fsall -c "SELECT conrelid::regclass || '|' || count(*) FROM pg_constraint WHERE contype = 'c'
	AND connamespace = 'public'::regnamespace GROUP BY conrelid" | LC_ALL=C sort >pg.chk
check_same 'as many CHECKs on the same tables' sqlite.chk pg.chk
sq "SELECT m.name || '|' || f.\"from\" || '|' || f.\"table\" || '|' || f.\"to\" || '|' || f.on_delete
	FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'" | LC_ALL=C sort >sqlite.fk
pq fsall -c "SELECT conrelid::regclass || '|' || a.attname || '|' || confrelid::regclass || '|' || af.attname || '|'
	|| CASE confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'n' THEN 'SET NULL' WHEN 'c' THEN 'CASCADE'
	  WHEN 'r' THEN 'RESTRICT' ELSE 'SET DEFAULT' END
	FROM pg_constraint JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = conkey[1]
	JOIN pg_attribute af ON af.attrelid = confrelid AND af.attnum = confkey[1]
	WHERE contype = 'f' AND connamespace = 'public'::regnamespace" | LC_ALL=C sort >pg.fk
check_same 'the same foreign keys' sqlite.fk pg.fk
# outbox's CHECK after 4 -> 5 (an ALTER TABLE here, a rebuild in SQLite).
ins="INSERT INTO outbox (target, event_id, kind, line, requested_at, enqueued_at, state)
	VALUES ('lob', 'e1', 'mail', '{}', 't', 't', 'cancelled')"
run sq "$ins"
s1=$status
run pq fsall -c "$ins"
s2=$status
bad=$(echo "$ins" | sed "s/'e1'/'e2'/; s/'cancelled'/'lost'/")
run sq "$bad"
s3=$status
run pq fsall -c "$bad"
is "outbox's state: 'cancelled' taken, 'lost' refused, by both" "$s1/$s2/$s3/$status" 0/0/19/1

# In steps: 0..k then k..N gives the same database as 0..N (pg_dump's
# schema, without the random key of its \restrict lines).
pg_dump() { "$(pg_bindir)/pg_dump" -s -O -x "$(url "$1")" | grep -v '^\\\(un\)\{0,1\}restrict '; }
pg_dump fsall >fsall.sql
for k in 1 4 8; do
	newdb step$k
	pg step$k 0 $k
	a=$(pq step$k -c 'SELECT version FROM fs_schema')
	run pg step$k $k $N
	pg_dump step$k >step$k.sql
	is "0..$k (version $k) then $k..$N: exit 0, version $N" "$a/$status/$(pq step$k -c 'SELECT version FROM fs_schema')" "$k/0/$N"
	check_same "and the same schema as 0..$N" fsall.sql step$k.sql
done
ok "$([ "$(grep -c '^CREATE TABLE' fsall.sql)" -gt 30 ] && echo 0 || echo 1)" 'pg_dump listed the tables'
# A migration again, on a database past it: refused, nothing changed.
run pg fsall 4 5
is 'migration 4 -> 5 on a database at N: psql exits 3 and says why' \
	"$status/$(grep -c 'ERROR:  fieldsync schema: the database is not at version 4' "$T/err")" 3/1
is 'and the version is still N' "$(pq fsall -c 'SELECT version FROM fs_schema')" "$N"

# The changelog is append-only, with SQLite's message.
row="INSERT INTO changelog (at, kind, detail) VALUES ('2026-11-30T01:00:00Z', 'push.sent', '{\"contact_id\":\"c1\"}')"
sq "$row"
pq fsall -c "$row"
for what in "UPDATE changelog SET kind = 'x'" 'DELETE FROM changelog'; do
	run sq "$what"
	smsg=$(sed -n 's/^Error: stepping, \(.*\) (19)$/\1/p' "$T/err")
	sst=$status
	run pq fsall -c "$what"
	pmsg=$(sed -n 's/^ERROR:  //p' "$T/err")
	is "${what%% *} on the changelog: refused by both, the same message" "$sst/$smsg/$status/$pmsg" \
		'19/changelog is append-only/1/changelog is append-only'
done
is 'the row is as it was, in both' "$(sq 'SELECT kind, detail FROM changelog')/$(pq fsall -c 'SELECT kind, detail FROM changelog')" \
	'push.sent|{"contact_id":"c1"}/push.sent|{"contact_id":"c1"}'

# The triggers that do work: idem_keys' INSTEAD OF, request_hours' count.
for q in "INSERT INTO idem_keys (id, first_seen_ts, expires_ts, run_id) VALUES ('evt_a', 100, 400, 'r1'), ('b', 200, NULL, 'r1')" \
	"INSERT INTO idem_final (k, upto) VALUES ('b', 99)" "DELETE FROM idem_keys WHERE id = 'evt_a'" \
	"INSERT INTO requests (at, source, status, bytes, latency_us) VALUES ('2026-11-30T01:02:03Z', 'h', 200, 1, 1),
	  ('2026-11-30T01:59:00Z', 'h', 503, 1, 1), ('2026-11-30T01:59:01Z', 'h', 204, 1, 1)"; do
	sq "$q"
	pq fsall -c "$q"
done
q='SELECT id, first_seen_ts, expires_ts, run_id, final, seq FROM idem_keys ORDER BY seq'
is 'idem_keys: inserted through, deleted through, final from idem_final' "$(sq "$q")/$(pq fsall -c "$q")" \
	'b|200|86600|r1|1|2/b|200|86600|r1|1|2'
q='SELECT hour, source, ok, failed FROM request_hours'
is 'request_hours counts requests' "$(sq "$q")/$(pq fsall -c "$q")" '2026-11-30T01|h|2|1/2026-11-30T01|h|2|1'

# The compatibility functions: the same query, the same answer as SQLite's
# (NULL shows as nothing in both).
v3="(SELECT 'a' AS x UNION ALL SELECT NULL UNION ALL SELECT 'c') AS t"
while IFS='	' read -r want q; do
	s=$(sq "$q" 2>&1 </dev/null)
	p=$(pq fsall -c "$q" 2>&1 </dev/null)
	is "$q" "$s/$p" "$want/$want"
done <<EOF
1|x|1||{"c":2}|7|6	SELECT json_extract('{"a":{"b":1}}', '\$.a.b'), json_extract('{"a":[1,"x",true,null,{"c":2}]}', '\$.a[1]'), json_extract('{"a":[1,"x",true,null,{"c":2}]}', '\$.a[2]'), json_extract('{"a":[1,"x",true,null,{"c":2}]}', '\$.a[3]'), json_extract('{"a":[1,"x",true,null,{"c":2}]}', '\$.a[4]'), json_extract('{"a.b":7}', '\$."a.b"'), json_extract('[5,6]', '\$[1]')
||{"a":{"b":1}}|c1|0	SELECT json_extract('{"a":1}', '\$.b'), json_extract('{"a":1}', '\$.a.b'), json_extract('{"a":{"b":1}}', '\$'), json_extract(detail, '\$.contact_id'), json_extract('{"a":false}', '\$.a') FROM changelog
y|x|z|b|a|a	SELECT ifnull(NULL, 'y'), ifnull('x', 'y'), coalesce(ifnull(NULL, NULL), 'z'), iif(1 > 2, 'a', 'b'), iif(1, 'a', 'b'), iif(2 = 2, 'a', 'b')
3|0|1|	SELECT instr('hello', 'll'), instr('hello', 'z'), instr('sent cancelled', 'sent'), instr(NULL, 'a')
7|3||2.35|0	SELECT max(3, 7), min(3, 7), max(3, NULL), round(CAST(2.345 AS DOUBLE PRECISION), 2), max(claims - 1, 0) FROM outbox
9|1||b	SELECT max(3, 9, 1), min(3, 9, 1), min(3, NULL, 1), max('a', 'b', 'a')
sent 1|0 x|	SELECT 'sent ' || (1 < 2), (1 > 2) || ' x', 'a' || (NULL = 1)
2|	SELECT (SELECT sum(x > 1) FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 3) AS t), (SELECT sum(x > 1) FROM (SELECT 1 AS x) AS t WHERE x > 5)
1.3|1200|	SELECT (SELECT sum(json_extract(j, '\$.p')) FROM (SELECT '{"p":0.65}' AS j UNION ALL SELECT '{"p":0.65}') AS t), (SELECT sum(json_extract('{"p":1200}', '\$.p'))), (SELECT sum(json_extract('{}', '\$.p')))
a,c|a; c|1,2|	SELECT (SELECT group_concat(x) FROM $v3), (SELECT group_concat(x, '; ') FROM $v3), (SELECT group_concat(n) FROM (SELECT 1 AS n UNION ALL SELECT 2) AS t), (SELECT group_concat(x) FROM $v3 WHERE 0 = 1)
["a",null,"c"]|[]	SELECT (SELECT json_group_array(x) FROM $v3), (SELECT json_group_array(x) FROM $v3 WHERE 0 = 1)
{"a":1,"c":{"e":[1]}}|{}|C3A9	SELECT json_remove('{"a":1,"ms":2,"c":{"d":1,"e":[1]}}', '\$.ms', '\$.c.d'), json_remove('{"ms":1}', '\$.ms'), hex('é')
1|0|3|0|	SELECT CASE WHEN json_valid('{"a":[1]}') THEN 1 ELSE 0 END, CASE WHEN json_valid('{"a"') THEN 1 ELSE 0 END, json_array_length('[1,2,[3]]'), json_array_length('{"a":1}'), json_array_length(NULL)
EOF
# GLOB: lib/state_pg.c rewrites it as the operator #~.
g="('send.cancel', 'send*'), ('Send', 'send*'), ('a.b', '?.[abc]'), ('a+b', 'a+?'), ('x[y', 'x[[]y'), ('ab', 'a'), ('a', '*')"
is 'GLOB: #~ answers as SQLite' \
	"$(pq fsall -c "SELECT string_agg((s #~ p)::int::text, ',') FROM (VALUES $g) AS t(s, p)")" \
	"$(sq "WITH t(s, p) AS (VALUES $g) SELECT group_concat(s GLOB p, ',') FROM t")"
done_testing
