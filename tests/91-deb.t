#!/bin/sh
# make deb: the package's files, Depends and conffiles, lintian; then, as
# root only (CI runs as root on a fresh Debian 12), the package installed
# with apt, one CRM-to-mail pipeline run by the installed crontab's line as
# the fieldsync user against the fake HubSpot and Lob, and a purge.
#
# The machine is left as it was: the install part refuses to start when a
# fieldsync package, user, group or folder is already there (it is not this
# test's to touch), and undoes everything it made on every exit.
. "$(dirname "$0")/lib.sh"
. "$top/tests/push-lib.sh"
command -v dpkg-deb >/dev/null || skip_all 'dpkg-deb is needed (a Debian system)'
total=29
plan $total
unset MAKEFLAGS MFLAGS MAKELEVEL
version=$(sed -n 's/^#define FS_VERSION "\(.*\)"$/\1/p' "$top/lib/fieldsync.h")
arch=$(dpkg --print-architecture)
deb=$T/fieldsync_${version}_$arch.deb

run make -s -C "$top" deb DEBOUT="$T"
is 'make deb: exit 0, the package'"'"'s path, nothing on stderr (a clean build)' \
	"$status/$(cat "$T/out" "$T/err")" "0/$deb"

# The files: every command and fs-run, the man pages compressed, the maps,
# the units, the conffile, the documentation; modes and owners as dpkg
# will make them.
{
	for f in "$top"/cmd/*.c "$top"/cron/fs-run; do f=${f##*/}; echo "-rwxr-xr-x root/root ./usr/bin/${f%.c}"; done
	for f in "$top"/man/*.[17]; do f=${f##*/}; echo "-rw-r--r-- root/root ./usr/share/man/man${f##*.}/$f.gz"; done
	for f in "$top"/lib/maps/*.jq; do echo "-rw-r--r-- root/root ./usr/share/fieldsync/maps/${f##*/}"; done
	for f in "$top"/cron/*.service "$top"/cron/*.timer "$top"/cron/*.path; do
		[ -e "$f" ] && echo "-rw-r--r-- root/root ./lib/systemd/system/${f##*/}"
	done
	for f in etc/fieldsync/fieldsync.conf usr/share/doc/fieldsync/changelog.gz \
		usr/share/doc/fieldsync/copyright usr/share/doc/fieldsync/examples/fieldsync.crontab \
		usr/share/lintian/overrides/fieldsync; do
		echo "-rw-r--r-- root/root ./$f"
	done
} | LC_ALL=C sort -k 3 >"$T/want"
dpkg-deb --fsys-tarfile "$deb" | tar -tvf - | awk '$1 !~ /^d/ { print $1, $2, $6 }' | LC_ALL=C sort -k 3 >"$T/got"
check_same 'the package holds exactly these files' "$T/want" "$T/got"
# libssl3: libcrypto signs a Google service account's token (RS256).
is 'Depends: the libraries dpkg-shlibdeps found, and adduser (postinst)' \
	"$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' | sort | tr '\n' ' ')" \
	'adduser libc6 libcsv3 libcurl4 libjq1 libsqlite3-0 libssl3 '
# libpq5 is loaded only when the state is a PostgreSQL database (dlopen).
is 'Recommends: inotify-tools (fs-run --wake), libpq5 (a state in PostgreSQL)' \
	"$(dpkg-deb -f "$deb" Recommends)" 'inotify-tools, libpq5'
is 'the example configuration is the one conffile' "$(dpkg-deb -I "$deb" conffiles)" /etc/fieldsync/fieldsync.conf
X=$T/x
dpkg-deb -x "$deb" "$X"
is 'built for /usr: the maps are looked for in /usr/share/fieldsync' \
	"$(grep -q -a -F /usr/share/fieldsync "$X/usr/bin/fs-normalize" && echo yes)/$(grep -c -a -F /usr/local "$X/usr/bin/fs-normalize")" 'yes/0'
is 'and the units run /usr/bin/fs-run' "$(grep -h '^ExecStart=' "$X"/lib/systemd/system/*.service | sed 's/ .*//' | sort -u)" \
	'ExecStart=/usr/bin/fs-run'

if command -v lintian >/dev/null; then
	run lintian --fail-on error,warning "$deb"
	is 'lintian: no error, no warning' "$status/$(grep -E '^[EW]: ' "$T/out" "$T/err")" 0/
	[ -s "$T/out" ] && sed 's/^/# lintian: /' "$T/out" >&2
else
	skip 'lintian is not installed (Debian: lintian)'
fi

# The rest installs the package on this machine: as root only, and only
# where nothing of fieldsync's is there already.
why=
if [ "$(id -u)" != 0 ]; then
	why='not root: the package is not installed (CI runs this part as root)'
elif ! command -v apt-get >/dev/null; then
	why='no apt-get'
elif st=$(dpkg-query -W -f='${db:Status-Status}' fieldsync 2>/dev/null) && [ -n "$st" ] && [ "$st" != not-installed ]; then
	why="a fieldsync package is on this machine ($st), and not this test's: left alone"
else
	for p in /etc/fieldsync /var/lib/fieldsync; do
		[ -e "$p" ] && why="$p is on this machine, and not this test's: left alone"
	done
	getent passwd fieldsync >/dev/null && why='a fieldsync user is on this machine, and not this test'"'"'s: left alone'
	getent group fieldsync >/dev/null && why='a fieldsync group is on this machine, and not this test'"'"'s: left alone'
fi
if [ -n "$why" ]; then
	while [ "$n" -lt "$total" ]; do skip "$why"; done
	done_testing
	exit
fi

# From here on, every exit undoes the installation (nothing of it was there before).
undo() {
	st=$(dpkg-query -W -f='${db:Status-Status}' fieldsync 2>/dev/null)
	[ -n "$st" ] && [ "$st" != not-installed ] && dpkg --purge fieldsync >/dev/null 2>&1
	rm -rf /etc/fieldsync /var/lib/fieldsync
	getent passwd fieldsync >/dev/null && userdel fieldsync
	getent group fieldsync >/dev/null && groupdel fieldsync
}
trap 'undo; stop_fakes; rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM

run apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$deb"
is 'apt-get install: exit 0' "$status" 0
[ "$status" = 0 ] || sed 's/^/# apt: /' "$T/out" "$T/err" >&2
is 'the fieldsync system user: home /var/lib/fieldsync, no login' \
	"$(getent passwd fieldsync | awk -F: '{ print ($3 < 1000 ? "system" : "not a system user"), $6, $7 }')/$(id -gn fieldsync)" \
	'system /var/lib/fieldsync /usr/sbin/nologin/fieldsync'
is 'its state folder: fieldsync'"'"'s, shared with the group, new files take the group' \
	"$(stat -c '%U:%G %a' /var/lib/fieldsync)" 'fieldsync:fieldsync 2770'
is 'the tokens file: root'"'"'s, 0600, no key in it yet' \
	"$(stat -c '%U:%G %a' /etc/fieldsync/tokens)/$(grep -vc '^#' /etc/fieldsync/tokens)" 'root:root 600/0'
if command -v systemd-analyze >/dev/null; then
	run systemd-analyze verify /lib/systemd/system/fieldsync-*
	is 'systemd-analyze verify: the installed units, no complaint' "$status/$(cat "$T/out" "$T/err")" 0/
else
	skip 'systemd-analyze is not installed (Debian: systemd)'
fi

# The fake vendors, and the configuration and keys a system administrator
# would write.
export LOB_API_KEY=test_pkg_4f1c2a HUBSPOT_TOKEN=pat-pkg-7d2e9b
start_lob
start_hubspot
hs_admin POST /__admin/rate '{"max":100000}' >/dev/null
cat >/etc/fieldsync/fieldsync.conf <<EOF2
[source "hubspot"]
kind        = hubspot
url         = $HS
token_env   = HUBSPOT_TOKEN
rate        = 100000/10s
search_rate = none
streams     = contacts

[target "mail"]
kind      = lob
url       = $LOB
token_env = LOB_API_KEY
retry     = 1s..1s x3

[campaign "thanks"]
goal     = retention
trigger  = status = job_completed
format   = postcard
template = tmpl_thanks
EOF2
printf 'HUBSPOT_TOKEN=%s\nLOB_API_KEY=%s\n' "$HUBSPOT_TOKEN" "$LOB_API_KEY" >>/etc/fieldsync/tokens
contact() { # lifecyclestage lastmodifieddate
	hs_admin POST /__admin/contacts "{\"id\":\"501\",\"firstname\":\"Ann\",\"lastname\":\"Lee\",\"email\":\"ann@example.com\",
		\"address\":\"1 Main St\",\"city\":\"Austin\",\"state\":\"TX\",\"zip\":\"78701\",\"country\":\"US\",
		\"lifecyclestage\":\"$1\",\"lastmodifieddate\":\"$2\"}" >/dev/null
}

# The installed crontab's crm-to-mail line, run as cron would: its
# variables, /bin/sh -c, as root (it becomes fieldsync itself).  No syslog
# here: fs-run's logger is a no-op.
crontab=/usr/share/doc/fieldsync/examples/fieldsync.crontab
line=$(sed -n 's/^\([^# ][^ ]*  *\)\{5\}root  *\(.*fs-run crm-to-mail .*\)$/\2/p' "$crontab")
cronenv=$(grep -E '^[A-Z_]+=' "$crontab")
tick() { # FS_NOW
	# shellcheck disable=SC2086
	run env -i $cronenv FS_NOW="$1" FS_LOGGER=true /bin/sh -c "$line"
}
is 'the crontab has the crm-to-mail line' "$(echo "$line" | grep -c "fs-run crm-to-mail 'fs-pull hubspot | fs-normalize | fs-dedupe | fs-push mail'$")" 1

contact customer 2026-11-29T10:00:00.000Z
tick 2026-11-30T01:00:00Z
is 'first tick: exit 0, silent (nothing for cron to mail)' "$status/$(cat "$T/out" "$T/err")" 0/
is 'a contact seen for the first time is mailed nothing' "$(lob_pieces)" ''
contact job_completed 2026-11-30T01:02:00.000Z
tick 2026-11-30T01:05:00Z
is 'second tick, the contact has entered the trigger: exit 0, silent' "$status/$(cat "$T/out" "$T/err")" 0/
db=/var/lib/fieldsync/fieldsync.db
is 'one piece at the fake Lob, for the mail.requested event' \
	"$(lob_pieces)" "$(sqlite3 "$db" "select event_id || ' 1' from outbox")"
is 'its send is in the changelog, with the piece'"'"'s id' \
	"$(sqlite3 "$db" "select count(*), json_extract(detail, '$.vendor_id') like 'psc_%' from changelog where kind = 'send'")" '1|1'
is 'the state file: fieldsync'"'"'s, no access for others' \
	"$(stat -c '%U:%G %A' "$db" | sed 's/\(.* \).......\(...\)$/\1\2/')" 'fieldsync:fieldsync ---'
is 'no API key is in the state file' "$(grep -c -a -e "$LOB_API_KEY" -e "$HUBSPOT_TOKEN" "$db")" 0
is 'the locks are in the state folder, as the units have them' "$(ls /var/lib/fieldsync/lock)" 'crm-to-mail.lock'

# Purge: the configuration goes, the audit trail stays (scripts/deb/postrm).
run dpkg --purge fieldsync
is 'dpkg --purge: exit 0, says what it kept' "$status/$(cat "$T/err")" \
	'0/fieldsync: /var/lib/fieldsync is kept, with the fieldsync user: its state file is the audit trail'
is 'no file of the package is left' \
	"$(dpkg-deb --fsys-tarfile "$deb" | tar -tf - | sed 's/^\.//' | grep -v '/$' | while read -r f; do [ -e "$f" ] && echo "$f"; done)" ''
is '/etc/fieldsync is gone, tokens and all' "$(ls -d /etc/fieldsync 2>&1)" \
	"ls: cannot access '/etc/fieldsync': No such file or directory"
is 'the state folder holds the state file alone' "$(ls -A /var/lib/fieldsync)" fieldsync.db
is 'the fieldsync user and group stay, owning it' "$(stat -c '%U:%G' "$db")" fieldsync:fieldsync
dpkg -s fieldsync >/dev/null 2>&1
is 'dpkg knows the package no more' "$?" 1

# What the purge kept is this test's to remove.
undo
is 'the machine is as it was: no fieldsync user, group or folder' \
	"$(getent passwd fieldsync; getent group fieldsync; ls -d /etc/fieldsync /var/lib/fieldsync 2>/dev/null)" ''
done_testing
