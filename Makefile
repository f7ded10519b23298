# fanotifyd: `make` builds ./fanotifyd; `make test` runs the unit tests (no root);
# `sudo make integration` runs the tests against the real kernel; `make install PREFIX=... DESTDIR=...`.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
LIBDIR = $(PREFIX)/lib/fanotifyd
SHELL := /bin/bash

FIND_JAVA = . scripts/find-java.sh && fanotifyd_find_java || { echo "make: needs a JDK >= 25 (none found in JAVA_HOME, PATH or /usr/lib/jvm); see README.md" >&2; exit 1; }
MVN_BASE = $(FIND_JAVA); JAVA_HOME="$$FANOTIFYD_JAVA_HOME_FOUND" MAVEN_OPTS="$${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}" mvn -B
MVN = $(MVN_BASE) -q
# Tests print Surefire's per-class lines and the closing "Tests run: N, Failures: ..." summary.
MVN_TEST = $(MVN_BASE) --no-transfer-progress
SOURCES := $(shell find kernel/src/main daemon/src/main -type f 2>/dev/null) pom.xml kernel/pom.xml daemon/pom.xml

.PHONY: all test integration check install uninstall clean bench-jmh

all: fanotifyd

build/lib/.stamp: $(SOURCES)
	@$(MVN) -DskipTests package
	@rm -rf build/lib && mkdir -p build/lib
	@cp kernel/target/fanotify-ffm-*.jar daemon/target/fanotifyd-*.jar build/lib/
	@touch $@

fanotifyd: build/lib/.stamp scripts/fanotifyd.in scripts/find-java.sh
	@sed -e "s|@LIBDIR@|$(CURDIR)/build/lib|" -e '/@FIND_JAVA@/{r scripts/find-java.sh' -e 'd}' scripts/fanotifyd.in > $@.tmp
	@chmod 755 $@.tmp && mv $@.tmp $@
	@echo "built ./fanotifyd"

test:
	@$(MVN_TEST) test -Dtest.excludedGroups=kernel | grep -vE '^\[INFO\] (-+|Building|Compiling|Recompiling|Nothing|Copying|skip|--- |Changes|Using|No sources|Reactor|Total time|Finished|$$)' ; exit $${PIPESTATUS[0]}

# Needs root (or CAP_SYS_ADMIN): every test makes its own tmpfs or loop-mounted ext4 and marks only that.
integration: fanotifyd
	@$(MVN_TEST) test -Dtest.groups=kernel -Dtest.excludedGroups= -Dfanotifyd.launcher=$(CURDIR)/fanotifyd | grep -vE '^\[INFO\] (-+|Building|Compiling|Recompiling|Nothing|Copying|skip|--- |Changes|Using|No sources|Reactor|Total time|Finished|$$)' ; exit $${PIPESTATUS[0]}

# Unit and integration tests in one Maven run (what CI runs).
check: fanotifyd
	@$(MVN_TEST) test -Dtest.excludedGroups= -Dfanotifyd.launcher=$(CURDIR)/fanotifyd | grep -vE '^\[INFO\] (-+|Building|Compiling|Recompiling|Nothing|Copying|skip|--- |Changes|Using|No sources|Reactor|Total time|Finished|$$)' ; exit $${PIPESTATUS[0]}

install: build/lib/.stamp
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)
	install -m 644 build/lib/*.jar $(DESTDIR)$(LIBDIR)/
	sed -e "s|@LIBDIR@|$(LIBDIR)|" -e '/@FIND_JAVA@/{r scripts/find-java.sh' -e 'd}' scripts/fanotifyd.in > $(DESTDIR)$(BINDIR)/fanotifyd
	chmod 755 $(DESTDIR)$(BINDIR)/fanotifyd

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/fanotifyd
	rm -rf $(DESTDIR)$(LIBDIR)

clean:
	@rm -rf build fanotifyd kernel/target daemon/target bench/target
