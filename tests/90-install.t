#!/bin/sh
# make install and make uninstall into a DESTDIR: exactly the files, an
# installed command on the installed maps, the systemd units (verified by
# systemd-analyze, each the crontab's pipeline of its name), the example
# configuration, and nothing left after uninstall.
. "$(dirname "$0")/lib.sh"
plan 17
D=$T/dest
# The make that runs this test must not steer the one it starts.
unset MAKEFLAGS MFLAGS MAKELEVEL
mk() { make -s -C "$top" "$@"; }
# The files of the tree, as they are to be installed: MODE PATH.
expected() {
	for f in "$top"/cmd/*.c; do f=${f##*/}; echo "755 usr/local/bin/${f%.c}"; done
	echo 755 usr/local/bin/fs-run
	for f in "$top"/man/*.1; do echo "644 usr/local/share/man/man1/${f##*/}"; done
	for f in "$top"/man/*.7; do echo "644 usr/local/share/man/man7/${f##*/}"; done
	for f in "$top"/lib/maps/*.jq; do echo "644 usr/local/share/fieldsync/maps/${f##*/}"; done
	for f in "$top"/cron/*.service "$top"/cron/*.timer "$top"/cron/*.path; do
		[ -e "$f" ] && echo "644 usr/local/lib/systemd/system/${f##*/}"
	done
	echo 644 usr/local/share/doc/fieldsync/examples/fieldsync.conf
	echo 644 usr/local/share/doc/fieldsync/examples/fieldsync.crontab
}
files() { (cd "$D" && find . -type f -printf '%m %P\n' | LC_ALL=C sort); }

run mk install DESTDIR="$D"
is 'make install DESTDIR: exit 0, silent' "$status/$(cat "$T/out" "$T/err")" 0/
expected | LC_ALL=C sort >"$T/want"
files >"$T/got"
check_same 'exactly the commands, fs-run, man pages, maps, units and examples, with their modes' "$T/want" "$T/got"
units=$D/usr/local/lib/systemd/system
is 'the two main pipelines have a service and a timer each' \
	"$(cd "$units" && ls fieldsync-crm-to-mail.* fieldsync-mail-to-crm.* | grep -v '\.path$')" \
'fieldsync-crm-to-mail.service
fieldsync-crm-to-mail.timer
fieldsync-mail-to-crm.service
fieldsync-mail-to-crm.timer'

# The installed command finds the installed maps: FS_MAPDIR is unset (lib.sh),
# and the checkout's lib/maps is not beside it.
fs="$D/usr/local/bin"
fx=$top/tests/fixtures/hubspot-contacts.ndjson
FS_STATE=$T/a.db run "$fs/fs-normalize" -v --source hubspot <"$fx"
is 'installed fs-normalize: the installed HubSpot map' "$status/$(head -n 1 "$T/err")" \
	"0/fs-normalize: map '$fs/../share/fieldsync/maps/hubspot-contact.jq' runs as built-in C"
norun >"$T/installed"
FS_STATE=$T/b.db fs-normalize --source hubspot <"$fx" >"$T/out"
norun >"$T/checkout"
check_same 'and its events are the checkout'"'"'s' "$T/checkout" "$T/installed"
FS_STATE=$T/c.db FS_JQ_ONLY=1 run "$fs/fs-normalize" --source hubspot <"$fx"
norun >"$T/jq"
check_same 'the installed jq files, run by libjq, give the same events' "$T/checkout" "$T/jq"

# The units: paths filled in, and each runs the crontab's pipeline of its name.
is 'no placeholder is left in the units' "$(grep -l '@[A-Z]*@' "$units"/* | wc -l)" 0
is 'every service runs the installed fs-run' \
	"$(grep -h '^ExecStart=' "$units"/*.service | sed 's/ .*//' | sort -u)" 'ExecStart=/usr/local/bin/fs-run'
# "NAME 'PIPELINE'": from the crontab, and from the units ($$ there is $).
sed -n "s/^[^#].* fs-run \([^ ]*\) '\(.*\)'\$/\1 \2/p" "$top/cron/fieldsync.crontab" | sort >"$T/cron"
sed -n "s/^ExecStart=[^ ]*fs-run \([^ ]*\) '\(.*\)'\$/\1 \2/p" "$units"/*.service | sed 's/\$\$/$/g' | sort >"$T/svc"
check_same 'each service is a crontab line: same name, same pipeline' "$T/cron" "$T/svc"
is 'each crontab name has its service and its timer' \
	"$(cut -d' ' -f1 "$T/cron" | while read -r name; do
		for u in service timer; do [ -f "$units/fieldsync-$name.$u" ] || echo "no fieldsync-$name.$u"; done
	done)" ''
is 'crontab and units: the same state, config and lock folder' \
	"$(grep -h '^FS_' "$top/cron/fieldsync.crontab" | sort | tr '\n' ' ')/$(grep -h '^Environment=FS_' "$units"/*.service | sort -u | sed 's/^Environment=//' | tr '\n' ' ')" \
	'FS_CONFIG=/etc/fieldsync/fieldsync.conf FS_LOCKDIR=/var/lib/fieldsync/lock FS_STATE=/var/lib/fieldsync/fieldsync.db /FS_CONFIG=/etc/fieldsync/fieldsync.conf FS_LOCKDIR=/var/lib/fieldsync/lock FS_STATE=/var/lib/fieldsync/fieldsync.db '
if command -v systemd-analyze >/dev/null; then
	# verify wants each ExecStart to exist and each Documentation= page to
	# be found: the copies point into the DESTDIR, MANPATH at its pages.
	mkdir "$T/verify"
	for u in "$units"/*; do
		sed "s|/usr/local/bin/|$fs/|g" "$u" >"$T/verify/${u##*/}"
	done
	MANPATH=$D/usr/local/share/man run systemd-analyze verify "$T/verify"/*
	is 'systemd-analyze verify: every unit, no complaint' "$status/$(cat "$T/out" "$T/err")" 0/
else
	skip 'systemd-analyze is not installed (Debian: systemd)'
fi

ex=$D/usr/local/share/doc/fieldsync/examples
run fs-push -c "$ex/fieldsync.conf" --print-config
is 'the example configuration is read without a complaint' "$status/$(cat "$T/err")" 0/
is 'it names keys, never holds one' "$(grep -E '^(token|secret)_' "$T/out" | sed 's/ *=.*//' | sort | uniq -c | sed 's/^ *//')" \
'2 secret_env
4 token_env'
is 'the installed crontab example has BINDIR on its PATH' "$(grep '^PATH=' "$ex/fieldsync.crontab")" \
	'PATH=/usr/local/bin:/usr/bin:/bin'

# uninstall: nothing of fieldsync's is left.
run mk uninstall DESTDIR="$D"
is 'make uninstall: exit 0, silent' "$status/$(cat "$T/out" "$T/err")" 0/
is 'no file is left, and only the shared folders' "$(files)/$(cd "$D" && find . -mindepth 1 -type d -printf '%P\n' | LC_ALL=C sort)" \
'/usr
usr/local
usr/local/bin
usr/local/lib
usr/local/lib/systemd
usr/local/lib/systemd/system
usr/local/share
usr/local/share/doc
usr/local/share/man
usr/local/share/man/man1
usr/local/share/man/man7'
done_testing
