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

.PHONY: all demo test integration check install uninstall clean bench bench-jmh

all: fanotifyd

# The launcher runs from exploded class directories, not jars: a JVM keeps its jars open for its whole
# life, and tools that find fanotify users by scanning /proc/PID/fd for "fanotify" (the shared bench harness
# does) would take a jar named fanotify*.jar for a notification fd. Class files are read and closed.
build/classes/.stamp: $(SOURCES)
	@$(MVN) -DskipTests package
	@rm -rf build/classes && mkdir -p build/classes
	@cp -r kernel/target/classes/. daemon/target/classes/. build/classes/
	@rm -rf build/classes/META-INF
	@touch $@

fanotifyd: build/classes/.stamp scripts/fanotifyd.in scripts/find-java.sh
	@sed -e "s|@LIBDIR@|$(CURDIR)/build/classes|" -e '/@FIND_JAVA@/{r scripts/find-java.sh' -e 'd}' scripts/fanotifyd.in > $@.tmp
	@chmod 755 $@.tmp && mv $@.tmp $@
	@echo "built ./fanotifyd"

# Build, then watch /tmp/fanotifyd-demo for a moment of file activity and print the records (root).
demo: fanotifyd
	@scripts/demo.sh

# The shared side-by-side benchmark with ./fanotifyd plugged in (root; ARGS=--quick for a short run).
bench: fanotifyd
	@scripts/bench.sh $(ARGS)

# JMH benchmarks of the per-event path, with allocation profiling (not part of make check).
bench-jmh:
	@$(MVN) -P jmh -DskipTests package
	@$(FIND_JAVA); "$$FANOTIFYD_JAVA" -jar bench/target/benchmarks.jar -prof gc $(ARGS)

test:
	@$(MVN_TEST) test -Dtest.excludedGroups=kernel | grep -vE '^\[INFO\] (-+|Building|Compiling|Recompiling|Nothing|Copying|skip|--- |Changes|Using|No sources|Reactor|Total time|Finished|$$)' ; exit $${PIPESTATUS[0]}

# Needs root (or CAP_SYS_ADMIN): every test makes its own tmpfs or loop-mounted ext4 and marks only that.
integration: fanotifyd
	@$(MVN_TEST) test -Dtest.groups=kernel -Dtest.excludedGroups=nothing-excluded -Dfanotifyd.launcher=$(CURDIR)/fanotifyd | grep -vE '^\[INFO\] (-+|Building|Compiling|Recompiling|Nothing|Copying|skip|--- |Changes|Using|No sources|Reactor|Total time|Finished|$$)' ; exit $${PIPESTATUS[0]}

# Unit and integration tests in one Maven run (what CI runs).
check: fanotifyd
	@$(MVN_TEST) test -Dtest.excludedGroups=nothing-excluded -Dfanotifyd.launcher=$(CURDIR)/fanotifyd | grep -vE '^\[INFO\] (-+|Building|Compiling|Recompiling|Nothing|Copying|skip|--- |Changes|Using|No sources|Reactor|Total time|Finished|$$)' ; exit $${PIPESTATUS[0]}

install: build/classes/.stamp
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)
	rm -rf $(DESTDIR)$(LIBDIR)/classes
	cp -r build/classes $(DESTDIR)$(LIBDIR)/classes
	rm -f $(DESTDIR)$(LIBDIR)/classes/.stamp
	chmod -R u=rwX,go=rX $(DESTDIR)$(LIBDIR)/classes
	sed -e "s|@LIBDIR@|$(LIBDIR)/classes|" -e '/@FIND_JAVA@/{r scripts/find-java.sh' -e 'd}' scripts/fanotifyd.in > $(DESTDIR)$(BINDIR)/fanotifyd
	chmod 755 $(DESTDIR)$(BINDIR)/fanotifyd

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/fanotifyd
	rm -rf $(DESTDIR)$(LIBDIR)

clean:
	@rm -rf build fanotifyd kernel/target daemon/target bench/target
