# fieldsync: small Unix commands that keep a CRM and a mail vendor in step.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/fieldsync
DOCDIR ?= $(PREFIX)/share/doc/fieldsync
# systemd looks for units in /usr/local/lib/systemd/system too.
UNITDIR ?= $(PREFIX)/lib/systemd/system

CC ?= cc
CFLAGS ?= -O2 -g
override CFLAGS := -std=c17 -Wall -Wextra -D_GNU_SOURCE $(CFLAGS)
override CPPFLAGS := -Ilib -I/usr/include/postgresql -DFS_DATADIR='"$(DATADIR)"' $(CPPFLAGS)
# Not -lonig: libjq loads it, and it exports a POSIX regcomp that would
# shadow glibc's ahead of libc in link order.  -lcrypto: no command uses it
# (lib/sha256.c hashes); the fs-hook fuzz harness checks that HMAC against
# OpenSSL's, and --as-needed leaves it out of everything else.
# No -lpq: lib/state_pg.c loads Debian's libpq (libpq5) when a database is
# named (-ldl), so that commands on SQLite never load it.
LDLIBS = -Wl,--as-needed -ljq -lcurl -lsqlite3 -lcsv -lcrypto -lm -ldl

# fs-hook is started once per web request: SQLite linked in (libsqlite3-dev
# ships the archive) spares the dynamic loader a large library on each one.
bin/fs-hook: LDLIBS = -Wl,--as-needed -ljq -Wl,-Bstatic -lsqlite3 -Wl,-Bdynamic -lm -ldl

CMDS := $(patsubst cmd/%.c,bin/%,$(wildcard cmd/*.c))
# The connectors (lib/vendors/*.c) go in the library too: their objects keep
# names of their own (lib/vendors/lob.o), and so must their sources' names
# among lib/*.c, since ar keeps only a member's base name.
LIBSRC := $(wildcard lib/*.c lib/vendors/*.c)
LIBOBJ := $(LIBSRC:.c=.o)
UNITS := $(patsubst tests/unit/%.c,tests/unit/%,$(wildcard tests/unit/*.c))
MAN1 := $(wildcard man/*.1)
MAN7 := $(wildcard man/*.7)

all: $(CMDS)

lib/libfieldsync.a: $(LIBOBJ)
	$(AR) rcs $@ $(LIBOBJ)

$(LIBOBJ): lib/fieldsync.h lib/vendors.h

# lib/maps.o holds DATADIR (FS_DATADIR): lib/datadir remembers the one it
# was built with, so that a make install with another PREFIX rebuilds it.
lib/datadir: FORCE
	@test "$$(cat $@ 2>/dev/null)" = '$(DATADIR)' || echo '$(DATADIR)' >$@
lib/maps.o: lib/datadir
FORCE:

bin/%: cmd/%.c lib/libfieldsync.a lib/fieldsync.h lib/vendors.h
	@mkdir -p bin
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libfieldsync.a $(LDLIBS)

tests/unit/%: tests/unit/%.c lib/libfieldsync.a lib/fieldsync.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libfieldsync.a $(LDLIBS)

# make check installs what a fresh Debian 12 machine lacks, then builds and
# tests: the whole suite with the state in SQLite, then again with the state
# in PostgreSQL (tests/run-pg: a throwaway cluster, a database per test).
# The second run leaves out the files that never open a state (the man
# pages, the fakes, the fuzz harnesses, the packages, the C units) and
# the ones that start a cluster of their own (tests/09-postgres, 92, 93).
STATE_FREE_TESTS = tests/01-standalone.t tests/02-man.t $(wildcard tests/0[5-9]-*.t) \
	tests/15-fuzz-regress.t $(wildcard tests/9*.t) tests/unit.t
PG_TESTS = tests/59-crash-points.t $(filter-out $(STATE_FREE_TESTS) tests/59-crash-points.t,$(wildcard tests/*.t))
# Both runs take three files at a time, the crash points (the longest file
# by far) first, the others beside it: most files wait on their fakes, a
# state or a server more than they compute, and every file has folders,
# ports and databases of its own.
ALL_TESTS = tests/59-crash-points.t $(filter-out tests/59-crash-points.t,tests/unit.t $(wildcard tests/*.t))
JOBS = 3
PG_JOBS = $(JOBS)
check: bootstrap
	$(MAKE) all units
	prove -j$(JOBS) $(ALL_TESTS)
	tests/run-pg -j$(PG_JOBS) $(PG_TESTS)

bootstrap:
	@scripts/bootstrap

units: $(UNITS)

# The whole suite under AddressSanitizer and UBSan (the objects are rebuilt,
# and cleaned away afterwards).
# Every sanitizer report goes to a file under tests/tmp/sanitizers, and
# tests/99-sanitizers.t (last) fails when there is one: a leak in a command
# whose exit status a test did not look at still fails the run.
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANITIZER_LOGS = $(CURDIR)/tests/tmp/sanitizers
# On PostgreSQL, the files that drive lib/state_pg.c hardest (every
# command, the spine, fs-hook, the report) run under the sanitizers too.
ASAN_PG_TESTS = tests/10-normalize.t tests/30-dedupe.t tests/50-push-lob.t tests/57-spine.t \
	tests/60-hook.t tests/70-report.t
asan: bootstrap
	$(MAKE) clean-objs
	$(MAKE) all units CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined"
	rm -rf $(SANITIZER_LOGS) && mkdir -p $(SANITIZER_LOGS)
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:log_path=$(SANITIZER_LOGS)/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:log_path=$(SANITIZER_LOGS)/ubsan \
	  FS_SANITIZED=1 FS_SANITIZER_LOGS=$(SANITIZER_LOGS); \
	  prove -j$(JOBS) $(filter-out tests/99-sanitizers.t,$(or $(ASAN_TESTS),$(ALL_TESTS))) || status=1; \
	  $(if $(ASAN_TESTS),,tests/run-pg -j$(JOBS) $(ASAN_PG_TESTS) || status=1;) \
	  prove tests/99-sanitizers.t || status=1; \
	  $(MAKE) -s clean-objs; exit $${status:-0}

bench: bootstrap all
	tests/bench/run

# make demo VENDOR=jobber: a Jobber account with its books in QuickBooks
# Online (scripts/demo-jobber.py) instead of HubSpot (scripts/demo-sim.py);
# VENDOR=postcardmania: HubSpot mailing through Lob and PostcardMania at once
# (scripts/demo-postcardmania.py); VENDOR=servicetitan: a ServiceTitan tenant
# (scripts/demo-servicetitan.py); VENDOR=sheets: a Google Sheet as the CRM
# (scripts/demo-sheets.py).
VENDOR ?= hubspot
demo: bootstrap all
	@if [ -x scripts/demo ]; then scripts/demo --vendor '$(VENDOR)'; else echo "make demo: not yet (see issue 8)"; fi

lint-man:
	mandoc -Tlint -Wwarning $(MAN1) $(MAN7)

# What make install puts where (README.md, "Running it for real"): every
# command and cron/fs-run (which the crontab and the units call), the man
# pages, the maps, the systemd units of cron/ with their paths filled in,
# and the example configuration and crontab.  /etc, the fieldsync user and
# /var/lib/fieldsync are the system administrator's (or the Debian
# package's): make install touches none of them.
SCRIPTS := cron/fs-run
MAPS := $(wildcard lib/maps/*.jq)
UNITFILES := $(wildcard cron/*.service cron/*.timer cron/*.path)
EXAMPLES := cron/fieldsync.conf cron/fieldsync.crontab
# The units' and the crontab's PATH: BINDIR, then the system's.
RUNPATH = $(if $(filter /usr/bin /bin,$(BINDIR)),/usr/bin:/bin,$(BINDIR):/usr/bin:/bin)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
	  $(DESTDIR)$(DATADIR)/maps $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 755 $(CMDS) $(SCRIPTS) $(DESTDIR)$(BINDIR)
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(MAPS) $(DESTDIR)$(DATADIR)/maps
	install -m 644 cron/fieldsync.conf $(DESTDIR)$(DOCDIR)/examples
	sed 's|^PATH=.*|PATH=$(RUNPATH)|' cron/fieldsync.crontab >$(DESTDIR)$(DOCDIR)/examples/fieldsync.crontab
	chmod 644 $(DESTDIR)$(DOCDIR)/examples/fieldsync.crontab
	for u in $(notdir $(UNITFILES)); do \
	  sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@PATH@|$(RUNPATH)|g' cron/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
	  chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done

# Removes what install put there, and the folders that are fieldsync's own
# when nothing else (a map of one's own) is left in them.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(CMDS) $(SCRIPTS))) \
	  $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
	  $(addprefix $(DESTDIR)$(MANDIR)/man7/,$(notdir $(MAN7))) \
	  $(addprefix $(DESTDIR)$(DATADIR)/maps/,$(notdir $(MAPS))) \
	  $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITFILES))) \
	  $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(EXAMPLES)))
	for d in $(DESTDIR)$(DATADIR)/maps $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR); do \
	  if [ -d $$d ]; then rmdir --ignore-fail-on-non-empty $$d || exit 1; fi; \
	done

# A Debian package, built from a copy of this tree (scripts/deb/build says
# how), written into DEBOUT (default: here).
deb:
	scripts/deb/build $(DEBOUT)

clean-objs:
	rm -f lib/*.o lib/vendors/*.o lib/libfieldsync.a $(CMDS) $(UNITS)

clean: clean-objs
	rm -rf bin tests/tmp lib/datadir fieldsync_*.deb

.PHONY: all check bootstrap units asan bench demo soak lint-man install uninstall deb clean clean-objs fuzz fuzz-regress FORCE

# Fuzzing: each libFuzzer harness in tests/fuzz, built with clang against the
# library compiled with clang, ASan and UBSan (in tests/fuzz/build, apart from
# the normal build), runs for FUZZ_SECONDS from its seed corpus and its kept
# crash inputs; new inputs go to tests/fuzz/build/work-NAME, crashes to
# tests/fuzz/build/fuzz-NAME-crash-*.  FUZZ=loop runs one harness.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_OPTS ?=
FUZZ_DIR := tests/fuzz/build
FUZZ_ALL := $(patsubst tests/fuzz/fuzz-%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_NAMES = $(or $(FUZZ),$(FUZZ_ALL))
FUZZ_CFLAGS = -std=c17 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer \
  -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIBOBJ := $(patsubst lib/%.c,$(FUZZ_DIR)/lib/%.o,$(LIBSRC))
.SECONDARY: $(FUZZ_LIBOBJ)

$(FUZZ_DIR)/lib/%.o: lib/%.c lib/fieldsync.h lib/vendors.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# Some harnesses include a command's source (cmd/fs-hook.c, cmd/fs-normalize.c).
$(FUZZ_DIR)/fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/fuzz.h $(FUZZ_LIBOBJ) $(wildcard cmd/*.c)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -DFS_TOP='"$(CURDIR)"' -fsanitize=fuzzer -o $@ $< $(FUZZ_LIBOBJ) $(LDLIBS) -lpthread

fuzz: bootstrap
	$(MAKE) $(addprefix $(FUZZ_DIR)/fuzz-,$(FUZZ_NAMES))
	@failed=""; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_DIR)/work-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ_DIR)/fuzz-$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 -close_fd_mask=2 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/fuzz-$$n- \
	    $$(test -f tests/fuzz/$$n.dict && echo -dict=tests/fuzz/$$n.dict) $(FUZZ_OPTS) \
	    $(FUZZ_DIR)/work-$$n tests/fuzz/corpus-$$n $$(test -d tests/fuzz/regress-$$n && echo tests/fuzz/regress-$$n) \
	    2>$(FUZZ_DIR)/fuzz-$$n.log || failed="$$failed $$n"; \
	  grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' \
	    $(FUZZ_DIR)/fuzz-$$n.log; \
	done; \
	if [ -n "$$failed" ]; then \
	  echo "fuzz: crashed:$$failed (see $(FUZZ_DIR)/fuzz-NAME.log; inputs in $(FUZZ_DIR))"; exit 1; fi

# Replays every seed and kept crash input through the harnesses built with cc
# and a plain main (tests/fuzz/standalone.c); make check runs the same test.
fuzz-regress: all
	prove -v tests/15-fuzz-regress.t

# The demo's fortnight at ten times the volume, with random SIGKILLs and
# vendor faults, then its checks (not part of make check).  scripts/soak
# installs what is missing and builds first, so that a fresh machine can.
soak:
	scripts/soak
