#!/bin/sh
# The repository stands alone: nothing in it reads the sibling folder the
# project's material once came from, and the vendored specs and corpora are
# here with their licences and sources.
. "$(dirname "$0")/lib.sh"
plan 3
cd "$top" || exit 1
sibling='../'shared
if git rev-parse --git-dir >/dev/null 2>&1; then
	is "no tracked file names $sibling" "$(git grep -l -F "$sibling" -- . | head -n 5)" ''
else
	skip 'not a git checkout'
fi
missing=
for d in tests/contracts/lob tests/corpora/JSONTestSuite tests/corpora/csv-spectrum tests/corpora/febrl; do
	for f in LICENSE SOURCE.md; do [ -s "$d/$f" ] || missing="$missing $d/$f"; done
done
is 'each vendored folder has its LICENSE and SOURCE.md' "$missing" ''
is 'the Prism fix gives the spec SOURCE.md names' \
	"$(sed -f tests/contracts/lob/prism-fix.sed tests/contracts/lob/lob-openapi.yml | sha256sum | cut -d' ' -f1)" \
	16a15db5515abb3cd83f7376698e2e6f724c8f70021a616fe4b4fcfe40be0ffb
