# fieldsync: small Unix commands that keep a CRM and a mail vendor in step.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/fieldsync

CC ?= cc
CFLAGS ?= -O2 -g
override CFLAGS := -std=c17 -Wall -Wextra -D_GNU_SOURCE $(CFLAGS)
override CPPFLAGS := -Ilib -DFS_DATADIR='"$(DATADIR)"' $(CPPFLAGS)
# Not -lonig: libjq loads it, and it exports a POSIX regcomp that would
# shadow glibc's ahead of libc in link order.
LDLIBS = -Wl,--as-needed -ljq -lcurl -lsqlite3 -lcsv -lcrypto -lm

CMDS := $(patsubst cmd/%.c,bin/%,$(wildcard cmd/*.c))
LIBSRC := $(wildcard lib/*.c)
LIBOBJ := $(LIBSRC:.c=.o)
UNITS := $(patsubst tests/unit/%.c,tests/unit/%,$(wildcard tests/unit/*.c))
MAN1 := $(wildcard man/*.1)
MAN7 := $(wildcard man/*.7)

all: $(CMDS)

lib/libfieldsync.a: $(LIBOBJ)
	$(AR) rcs $@ $(LIBOBJ)

$(LIBOBJ): lib/fieldsync.h

bin/%: cmd/%.c lib/libfieldsync.a lib/fieldsync.h
	@mkdir -p bin
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libfieldsync.a $(LDLIBS)

tests/unit/%: tests/unit/%.c lib/libfieldsync.a lib/fieldsync.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libfieldsync.a $(LDLIBS)

# make check installs what a fresh Debian 12 machine lacks, then builds and tests.
check: bootstrap
	$(MAKE) all units
	prove -f tests/unit.t tests/*.t

bootstrap:
	@scripts/bootstrap

units: $(UNITS)

# The whole suite under AddressSanitizer and UBSan, in a separate build tree.
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
asan: bootstrap
	$(MAKE) clean-objs
	$(MAKE) all units CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  FS_SANITIZED=1 prove -f tests/unit.t $(or $(ASAN_TESTS),tests/*.t); \
	  status=$$?; $(MAKE) -s clean-objs; exit $$status

bench: all
	tests/bench/run

demo: all
	@if [ -x scripts/demo ]; then scripts/demo; else echo "make demo: not yet (see issue 8)"; fi

lint-man:
	mandoc -Tlint -Wwarning $(MAN1) $(MAN7)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(DATADIR)/maps
	install -m 755 $(CMDS) $(DESTDIR)$(BINDIR)
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7
	install -m 644 lib/maps/*.jq $(DESTDIR)$(DATADIR)/maps

clean-objs:
	rm -f lib/*.o lib/libfieldsync.a $(CMDS) $(UNITS)

clean: clean-objs
	rm -rf bin tests/tmp

.PHONY: all check bootstrap units asan bench demo soak lint-man install clean clean-objs

# The demo's fortnight at ten times the volume, with random SIGKILLs and
# vendor faults, then its checks (not part of make check).  scripts/soak
# installs what is missing and builds first, so that a fresh machine can.
soak:
	scripts/soak
