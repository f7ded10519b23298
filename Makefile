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

# The JVM options of the launcher (FANOTIFYD_JVM_OPTS replaces them) and of the AOT training run, which must
# match for the cache to be used (changing them here retrains it). C1 only: C2 compiling mid-run cost more CPU
# than its faster code saved (docs/PERFORMANCE.md). A 32 MiB heap, exit on OutOfMemoryError: the heap is the
# daemon's memory ceiling, which fits a 64 MiB memory limit (docs/DESIGN.md, "Memory under a limit").
JVM_OPTS = -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:-UsePerfData -Xss512k -Xms8m -Xmn4m -Xmx32m -XX:+ExitOnOutOfMemoryError

build/classes/.stamp: $(SOURCES)
	@$(MVN) -DskipTests package
	@rm -rf build/classes && mkdir -p build/classes
	@cp -r kernel/target/classes/. daemon/target/classes/. build/classes/
	@rm -rf build/classes/META-INF
	@touch $@

# One jar and the JDK's ahead-of-time cache for it (JEP 483/514), trained on the start-up path by
# AotTraining. The jar is named app.jar, not fanotify*: tools that find fanotify users by scanning
# /proc/PID/fd for "fanotify" (the shared bench harness does) must not take it for a notification fd. With a
# valid cache the JVM does not even keep the jar open.
build/app/app.jar: build/classes/.stamp
	@mkdir -p build/app && rm -f $@ build/app/app.aot
	@$(FIND_JAVA); "$${FANOTIFYD_JAVA%/java}/jar" --create --file $@ -C build/classes .

build/app/.stamp: build/app/app.jar Makefile
	@$(FIND_JAVA); "$$FANOTIFYD_JAVA" $(JVM_OPTS) --enable-native-access=ALL-UNNAMED \
	  -XX:AOTCacheOutput=build/app/app.aot -Xlog:aot=warning -Xlog:cds=warning \
	  -cp build/app/app.jar io.fanotifyd.daemon.AotTraining >/dev/null 2>&1 \
	  || { echo "make: no AOT cache; ./fanotifyd works without it, only starts slower" >&2; rm -f build/app/app.aot; }
	@touch $@

# fanotifyd(8), generated from the option table like --help.
build/man/fanotifyd.8: build/app/app.jar
	@mkdir -p build/man
	@$(FIND_JAVA); "$$FANOTIFYD_JAVA" -cp build/app/app.jar io.fanotifyd.daemon.options.ManPage \
	  "$$(sed -n 's/.*VERSION = "\(.*\)";/\1/p' daemon/src/main/java/io/fanotifyd/daemon/Main.java)" \
	  "$$(date -u -d @$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || date +%s)} +%Y-%m-%d)" > $@.tmp
	@mv $@.tmp $@

fanotifyd: build/app/.stamp build/man/fanotifyd.8 scripts/fanotifyd.in scripts/find-java.sh Makefile
	@sed -e "s|@LIBDIR@|$(CURDIR)/build/app|" -e "s|@JVM_OPTS@|$(JVM_OPTS)|" \
	  -e '/@FIND_JAVA@/{r scripts/find-java.sh' -e 'd}' scripts/fanotifyd.in > $@.tmp
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

install: build/app/.stamp
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)
	rm -rf $(DESTDIR)$(LIBDIR)/classes
	install -p -m 644 build/app/app.jar $(DESTDIR)$(LIBDIR)/app.jar
	if [ -f build/app/app.aot ]; then install -p -m 644 build/app/app.aot $(DESTDIR)$(LIBDIR)/app.aot; else rm -f $(DESTDIR)$(LIBDIR)/app.aot; fi
	sed -e "s|@LIBDIR@|$(LIBDIR)|" -e "s|@JVM_OPTS@|$(JVM_OPTS)|" -e '/@FIND_JAVA@/{r scripts/find-java.sh' -e 'd}' scripts/fanotifyd.in > $(DESTDIR)$(BINDIR)/fanotifyd
	chmod 755 $(DESTDIR)$(BINDIR)/fanotifyd

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/fanotifyd
	rm -rf $(DESTDIR)$(LIBDIR)

clean:
	@rm -rf build fanotifyd kernel/target daemon/target bench/target
