#!/bin/sh
# fs-report --format html: one self-contained dashboard page.  Rendered in
# headless Chromium: the screenshot is not blank, the DOM holds the figures,
# and the page cannot fetch anything (no scripts, and nothing that loads).
. "$(dirname "$0")/lib.sh"
command -v chromium >/dev/null 2>&1 || skip_all 'chromium is not installed (scripts/bootstrap installs it)'
plan 12
"$top/tests/fixtures/report-state.sh" || { echo "Bail out! fixture state"; exit 1; }

run fs-report sla --format html
is 'html: exit 0, nothing on stderr' "$status/$(cat "$T/err")" 0/
cp "$T/out" "$T/dash.html"
is 'one page: a doctype, one html element, inline CSS' \
	"$(head -c 15 "$T/dash.html")/$(grep -c '<html' "$T/dash.html")/$(grep -c '<style>' "$T/dash.html")" '<!DOCTYPE html>/1/1'

# Nothing that can load: no script, no link/img/iframe/object/embed, no
# src/href/srcset other than data: or #, no CSS url() or @import, no URL at all.
is 'no scripts and no elements that fetch' "$(grep -ciE '<(script|link|img|iframe|object|embed|audio|video|source|base)[ >]|http-equiv' "$T/dash.html")" 0
is 'no src, href or srcset but data: and #' "$(grep -oiE '(src|href|srcset|xlink:href|action|poster)=["'"'"']?[^"'"'"' >]*' "$T/dash.html" | grep -viE '=["'"'"']?(data:|#)' | wc -l)" 0
is 'no url(), @import or scheme anywhere' "$(grep -ciE 'url\(|@import|[a-z]+://' "$T/dash.html")" 0

chrome() {
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$(mktemp -d "$T/chrome.XXXXXX")" "$@" "file://$T/dash.html" 2>>"$T/chrome.log"
}
chrome --window-size=1280,1600 --screenshot="$T/shot.png" >/dev/null
is 'chromium takes a screenshot' "$(test -s "$T/shot.png" && echo yes)" yes
stat=$(python3 "$top/tests/fixtures/report-pngstat.py" "$T/shot.png")
is 'the screenshot is the requested size' "${stat% *}" 1280x1600
colours=${stat#* }
ok "$([ "$colours" -ge 40 ] && echo 0 || echo 1)" "the screenshot is not blank ($colours colours)"

chrome --dump-dom >"$T/dom.html"
# Text of the DOM, tags dropped, blanks squeezed: what a reader sees.
sed -e 's/<[^>]*>/ /g' -e 's/&nbsp;/ /g' "$T/dom.html" | tr -s ' \n' '  ' >"$T/dom.txt"
has() { grep -qF -- "$1" "$T/dom.txt" && echo yes || echo "missing: $1"; }
is 'DOM: the health panel' "$(has 'Last event received · lob-events 2026-11-29 22:59 2 h ago')/$(has 'Consecutive webhook failures · lob-events 2')/$(has 'Dead letters open 1')/$(has '1 delivery backing off, up to attempt 2, next 2026-11-30 01:30')" yes/yes/yes/yes
is 'DOM: the SLA figures' "$(has 'Follow-up SLA met 50.0%')/$(has 'Vendor SLA: mailed 71.4%')/$(has 'Time to first follow-up 1 bd median; 1.1 calendar days')/$(has 'owner bob 2 1 6.2 6.2 4 4 0 2 0 0.0%')" yes/yes/yes/yes
is 'DOM: funnel, incidents, pilot, dedupe' "$(has 'delivered 5 (71.4%) · 5 there now')/$(has '90 min (acked in 20)')/$(has 'Follow-up SLA missed (%) 75 50 -25')/$(has 'Audit trail complete (%) 0 85.7 +85.7')/$(has 'Pieces mailed pieces 4 7 +3')/$(has '2026-11-23 2 1 0 3 2 1 1 -1')" yes/yes/yes/yes/yes/yes
is 'DOM: the charts are there (histogram, misses, funnel, timeline, recovery)' "$(grep -o '<svg' "$T/dom.html" | wc -l)" 5
done_testing
