#!/bin/sh
# fs-report over a big state file: 1,000,000 changelog rows over a year,
# 100,000 pieces over 90 days (about 15,000 in the default 14-day window),
# their follow-ups and deals, 200,000 webhook requests, alerts and dedupe
# counters, made with SQL.  Each report is timed beside sqlite3 answering the
# equivalent single aggregate query over the same window.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$top/bin:$PATH"
dir=$(mktemp -d "${TMPDIR:-/tmp}/fs-bench-report.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export FS_STATE="$dir/big.db" FS_NOW=2026-11-30T00:00:00Z
unset FS_CONFIG
fs-dlq count >/dev/null		# the schema, through the real migration

now() { date +%s%N; }
secs() { echo "$1 $2" | awk '{ printf "%.3f", ($2 - $1) / 1e9 }'; }

t0=$(now)
sqlite3 -batch "$FS_STATE" >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
BEGIN;
-- 100,000 pieces over 90 days; 1 in 10 returned; 60,000 contacts, so some get two.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000),
p AS (SELECT i, unixepoch('2026-09-01T00:00:00Z') + i * 77 AS t FROM n)
INSERT INTO pieces (vendor_id, event_id, target, contact_id, campaign, goal, format, owner, status,
  requested_at, queued_at, mailed_at, delivered_at, returned_at, updated_at)
SELECT 'psc_' || i, 'evt_' || (i * 10), 'mail', 'c' || (i % 60000), 'camp' || (i % 7), 'g' || (i % 3),
  CASE i % 2 WHEN 0 THEN 'postcard' ELSE 'letter' END, 'owner' || (i % 25),
  CASE WHEN i % 10 = 0 THEN 'returned' ELSE 'delivered' END,
  strftime('%Y-%m-%dT%H:%M:%SZ', t, 'unixepoch'), strftime('%Y-%m-%dT%H:%M:%SZ', t + 300, 'unixepoch'),
  strftime('%Y-%m-%dT%H:%M:%SZ', t + 86400 + (i % 5) * 3600, 'unixepoch'),
  CASE WHEN i % 10 <> 0 THEN strftime('%Y-%m-%dT%H:%M:%SZ', t + 3 * 86400 + (i % 11) * 3600, 'unixepoch') END,
  CASE WHEN i % 10 = 0 THEN strftime('%Y-%m-%dT%H:%M:%SZ', t + 5 * 86400, 'unixepoch') END,
  strftime('%Y-%m-%dT%H:%M:%SZ', t + 5 * 86400, 'unixepoch')
FROM p;
-- Follow-ups for 7 in 10 pieces, 0 to 6 days after delivery; 5,000 deals.
INSERT INTO activities (event_id, contact_id, type, owner, at)
SELECT 'evt_a' || rowid, contact_id, CASE rowid % 4 WHEN 0 THEN 'call' WHEN 1 THEN 'email'
  WHEN 2 THEN 'meeting' ELSE 'incoming_email' END, owner,
  strftime('%Y-%m-%dT%H:%M:%SZ', unixepoch(delivered_at) + (rowid % 7) * 86400 + 7200, 'unixepoch')
FROM pieces WHERE delivered_at IS NOT NULL AND rowid % 10 < 7;
INSERT INTO revenue (event_id, contact_id, deal_id, amount, currency, at)
SELECT 'evt_r' || rowid, contact_id, 'd' || rowid, 100 + rowid % 900, 'USD',
  strftime('%Y-%m-%dT%H:%M:%SZ', unixepoch(requested_at) + 20 * 86400, 'unixepoch')
FROM pieces WHERE rowid % 20 = 0;
-- 1,000,000 changelog rows over the year: sends, status changes, fallbacks, alerts, acks.
WITH RECURSIVE n(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM n WHERE j < 1000000)
INSERT INTO changelog (at, kind, run_id, event_id, object, detail)
SELECT strftime('%Y-%m-%dT%H:%M:%SZ', unixepoch('2025-11-30T00:00:00Z') + j * 31, 'unixepoch'),
  CASE WHEN j % 20 < 8 THEN 'send' WHEN j % 20 < 16 THEN 'mail.status' WHEN j % 20 = 16 THEN 'fallback.polling'
    WHEN j % 20 = 17 THEN 'fallback.webhook' WHEN j % 20 = 18 THEN 'alert.open' ELSE 'ack' END,
  'run_' || (j / 100), 'evt_' || j, 'contact:c' || (j % 60000),
  CASE WHEN j % 20 < 8 THEN json_object('contact_id', 'c' || (j % 60000), 'campaign', 'camp' || (j % 7),
    'vendor_id', 'psc_' || (j / 10), 'http_status', 200, 'attempts', 1)
  ELSE json_object('status', 'delivered') END
FROM n;
-- 200,000 webhook requests over 90 days (the trigger keeps request_hours), 500 alerts.
WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 200000)
INSERT INTO requests (at, source, status, bytes, latency_us, reason)
SELECT strftime('%Y-%m-%dT%H:%M:%SZ', unixepoch('2026-09-01T00:00:00Z') + k * 38, 'unixepoch'),
  CASE k % 3 WHEN 0 THEN 'lob-events' WHEN 1 THEN 'hubspot' ELSE 'servicetitan' END,
  CASE WHEN k % 97 = 0 THEN 500 ELSE 200 END, 900, 1000, NULL FROM n;
WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 500)
INSERT INTO alerts (rule, subject, state, opened_at, acked_by, acked_at, resolved_at)
SELECT CASE k % 3 WHEN 0 THEN 'webhook_failures' WHEN 1 THEN 'no_ping' ELSE 'dlq_max' END, 'source:lob-events',
  CASE WHEN k > 495 THEN 'open' ELSE 'resolved' END,
  strftime('%Y-%m-%dT%H:%M:%SZ', unixepoch('2025-11-30T00:00:00Z') + k * 63000, 'unixepoch'), 'ops',
  strftime('%Y-%m-%dT%H:%M:%SZ', unixepoch('2025-11-30T00:00:00Z') + k * 63000 + 600, 'unixepoch'),
  CASE WHEN k <= 495 THEN strftime('%Y-%m-%dT%H:%M:%SZ', unixepoch('2025-11-30T00:00:00Z') + k * 63000 + 3600 + k * 7, 'unixepoch') END
FROM n;
-- Dedupe: a year of daily counters, a weekly scan of 200 sets.
WITH RECURSIVE d(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM d WHERE k < 364),
w(what) AS (VALUES ('idempotency'), ('debounce'), ('campaign_guard'), ('held'), ('released'))
INSERT INTO dedupe_counts (day, what, n)
SELECT date('2025-12-01', '+' || k || ' days'), what, 1 + k % 9 FROM d, w;
WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k < 51),
m(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM m WHERE x < 200)
INSERT INTO duplicate_sets (scan_id, members, score, reasons, at)
SELECT 'scan_' || k, json_array('c' || x, 'c' || (x + 30000)), 0.9, '["email"]',
  strftime('%Y-%m-%dT03:00:00Z', date('2025-12-01', '+' || (k * 7) || ' days')) FROM s, m WHERE x <= 150 + k;
COMMIT;
ANALYZE;
SQL
t1=$(now)
echo "report state build (1000000 changelog rows, 100000 pieces): $(secs "$t0" "$t1") s"

from=2026-11-16T00:00:00Z to=2026-11-30T00:00:00Z
bench() {	# name baseline-sql fs-report-args...
	name=$1 base=$2
	shift 2
	t0=$(now)
	fs-report "$@" --format json >"$dir/out" || { echo "report $name: failed"; return 1; }
	t1=$(now)
	sqlite3 -batch "$FS_STATE" "$base" >/dev/null
	t2=$(now)
	r=$(secs "$t0" "$t1") b=$(secs "$t1" "$t2")
	echo "report $name: $r s (baseline sqlite3 aggregate: $b s) ratio $(echo "$r $b" | awk '{ printf "%.1f", ($2 > 0) ? $1 / $2 : 0 }')x"
}
bench sla "SELECT count(*), count(f), avg(julianday(f) - julianday(delivered_at)) FROM (SELECT delivered_at,
  (SELECT min(at) FROM activities a WHERE a.contact_id = p.contact_id AND a.at >= p.delivered_at) AS f
  FROM pieces p WHERE delivered_at >= '$from' AND delivered_at < '$to')" sla
bench health "SELECT count(*), avg(julianday(resolved_at) - julianday(opened_at)) FROM alerts
  WHERE opened_at >= '$from' AND opened_at < '$to'" health
bench dedupe "SELECT what, sum(n) FROM dedupe_counts WHERE day >= '2026-11-16' AND day < '2026-11-30' GROUP BY what" dedupe
bench changelog "SELECT kind, count(*) FROM changelog WHERE at >= '$from' AND at < '$to' GROUP BY kind" changelog
bench changelog-contact "SELECT count(*) FROM changelog WHERE json_extract(detail, '\$.contact_id') = 'c1234'
  AND at >= '2025-11-30' AND at < '$to'" changelog --contact c1234 --from 2025-11-30
bench pilot "SELECT count(*), count(f) FROM (SELECT (SELECT min(at) FROM activities a WHERE a.contact_id = p.contact_id
  AND a.at >= p.delivered_at) AS f FROM pieces p WHERE delivered_at >= '2026-11-02' AND delivered_at < '$to')" pilot
bench outcomes "SELECT count(*), sum((SELECT count(*) FROM activities a WHERE a.contact_id = p.contact_id
  AND a.at > p.mailed_at)) FROM pieces p WHERE requested_at >= '$from' AND requested_at < '$to'" outcomes
t0=$(now)
fs-report sla --format html >"$dir/out"
t1=$(now)
echo "report sla html dashboard: $(secs "$t0" "$t1") s"
