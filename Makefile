# fanotifyd: `make` builds ./fanotifyd; `make test` runs the unit tests (no root);
# `sudo make integration` runs the tests against the real kernel; `make install PREFIX=... DESTDIR=...`;
# `make deb` builds build/fanotifyd_<version>_<arch>.deb.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
LIBDIR = $(PREFIX)/lib/fanotifyd
MANDIR = $(PREFIX)/share/man
SHELL := /bin/bash
VERSION := $(shell sed -n 's/.*VERSION = "\(.*\)";/\1/p' daemon/src/main/java/io/fanotifyd/daemon/Main.java)
# The package's version: the newest entry of its Debian changelog (upstream VERSION, then the package revision).
DEB_VERSION := $(shell sed -n '1s/^fanotifyd (\(.*\)).*/\1/p' packaging/debian/changelog)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB = build/fanotifyd_$(DEB_VERSION)_$(DEB_ARCH).deb
# jlink's compression of the runtime's class files (lib/modules). zip-0 (none) against zip-6: a smaller .deb
# (xz packs plain class files better than deflated ones), 2-6 MB less resident memory, the same start-up, for
# 14 MB more on disk (docs/PERFORMANCE.md, "The package").
JLINK_COMPRESS = zip-0
# The time stamp of the packaged jar (the AOT cache is trained on that very file): the last commit's.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)

FIND_JAVA = . scripts/find-java.sh && fanotifyd_find_java || { echo "make: needs a JDK >= 25 (none found in JAVA_HOME, PATH or /usr/lib/jvm); see README.md" >&2; exit 1; }
MVN_BASE = $(FIND_JAVA); JAVA_HOME="$$FANOTIFYD_JAVA_HOME_FOUND" MAVEN_OPTS="$${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}" mvn -B
MVN = $(MVN_BASE) -q
# Tests print Surefire's per-class lines and the closing "Tests run: N, Failures: ..." summary.
MVN_TEST = $(MVN_BASE) --no-transfer-progress
SOURCES := $(shell find kernel/src/main daemon/src/main -type f 2>/dev/null) pom.xml kernel/pom.xml daemon/pom.xml
FORWARD_SOURCES := $(shell find forward/src/main -type f 2>/dev/null) forward/pom.xml

.PHONY: all demo test integration check install uninstall deb deb-smoke clean bench bench-jmh FORCE

all: fanotifyd

# The JVM options of the launcher (FANOTIFYD_JVM_OPTS replaces them) and of the AOT training run, which must
# match for the cache to be used (changing them here retrains it). C1 only: C2 compiling mid-run cost more CPU
# than its faster code saved (docs/PERFORMANCE.md). A 32 MiB heap, exit on OutOfMemoryError: the heap is the
# daemon's memory ceiling, which fits a 64 MiB memory limit (docs/DESIGN.md, "Memory under a limit").
# The forwarder's (--forward): a heap for the Kafka client's 16 MiB of buffers. C1 only, as the daemon: with
# C2 it forwarded fewer records per second for more CPU and 60 MiB more RSS (docs/FLEET.md, "Throughput").
FORWARD_JVM_OPTS = -XX:+UseSerialGC -XX:-UsePerfData -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -Xss512k -Xms8m -Xmx48m -XX:+ExitOnOutOfMemoryError
JVM_OPTS = -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:-UsePerfData -Xss512k -Xms8m -Xmn4m -Xmx32m -XX:+ExitOnOutOfMemoryError

build/classes/.stamp: $(SOURCES)
	@$(MVN) -DskipTests package
	@rm -rf build/classes && mkdir -p build/classes
	@cp -r kernel/target/classes/. daemon/target/classes/. build/classes/
	@rm -rf build/classes/META-INF
	@touch $@

# The forwarder (--forward): its classes and the Kafka client's jars, in a directory of their own that only
# the launcher's --forward puts on the class path. With -am: the daemon's jars come from this reactor, not
# from ~/.m2, which holds none of ours on a fresh machine.
build/app/forward/.stamp: build/classes/.stamp $(FORWARD_SOURCES)
	@$(MVN) -DskipTests package -pl forward -am
	@rm -rf build/app/forward && mkdir -p build/app/forward
	@$(FIND_JAVA); "$${FANOTIFYD_JAVA%/java}/jar" --create --file build/app/forward/fanotifyd-forward.jar \
	  -C forward/target/classes io
	@cp forward/target/lib/*.jar build/app/forward/
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

fanotifyd: build/app/.stamp build/app/forward/.stamp build/man/fanotifyd.8 scripts/fanotifyd.in scripts/find-java.sh Makefile
	@$(FIND_JAVA); sed -e "s|@LIBDIR@|$(CURDIR)/build/app|" -e "s|@JVM_OPTS@|$(JVM_OPTS)|" -e "s|@FORWARD_JVM_OPTS@|$(FORWARD_JVM_OPTS)|" \
	  -e "s|@BUILT_WITH@|$$FANOTIFYD_JAVA_HOME_FOUND|" -e '/@FIND_JAVA@/{r scripts/find-java.sh' -e 'd}' scripts/fanotifyd.in > $@.tmp
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

# The Java runtime that `make install` and the package ship (scripts/jlink-runtime.sh): only the modules the
# jar needs, from the JDK the build found; rebuilt only when those, the JDK or the options change.
build/runtime.stamp: build/app/app.jar build/app/forward/.stamp scripts/jlink-runtime.sh Makefile build/jlink.opts
	@$(FIND_JAVA); scripts/jlink-runtime.sh "$$FANOTIFYD_JAVA_HOME_FOUND" build/app/app.jar build/runtime $(JLINK_COMPRESS)
	@touch $@

# JLINK_COMPRESS given on the command line (make deb JLINK_COMPRESS=zip-6) rebuilds the runtime too: this file
# changes only when its value does, so the runtime is not rebuilt otherwise.
build/jlink.opts: FORCE
	@mkdir -p build && echo '$(JLINK_COMPRESS)' | cmp -s - $@ || echo '$(JLINK_COMPRESS)' > $@

FORCE:

# The jar and AOT cache that `make install` and the package ship: the cache trained by the bundled runtime
# (a cache is tied to the JVM that made it; the checkout's build/app/app.aot is the found JDK's), on a copy
# of the jar with a fixed time stamp, so that a packer clamping time stamps to SOURCE_DATE_EPOCH leaves it as
# trained. Unlike ./fanotifyd's, a failed training fails the build: an installed daemon would only start
# slower, and nobody would notice. The last step proves the JVM takes the cache (-XX:AOTMode=on).
build/pkg/.stamp: build/runtime.stamp build/app/app.jar Makefile
	@rm -rf build/pkg && mkdir -p build/pkg
	@cp build/app/app.jar build/pkg/app.jar && touch -d @$(SOURCE_DATE_EPOCH) build/pkg/app.jar
	@build/runtime/bin/java $(JVM_OPTS) --enable-native-access=ALL-UNNAMED \
	  -XX:AOTCacheOutput=build/pkg/app.aot -Xlog:aot=warning -Xlog:cds=warning \
	  -cp build/pkg/app.jar io.fanotifyd.daemon.AotTraining >build/pkg/training.log 2>&1 \
	  || { cat build/pkg/training.log >&2; echo "make: training the AOT cache on build/runtime failed" >&2; exit 1; }
	@build/runtime/bin/java $(JVM_OPTS) --enable-native-access=ALL-UNNAMED -XX:AOTMode=on \
	  -XX:AOTCache=build/pkg/app.aot -cp build/pkg/app.jar io.fanotifyd.daemon.Main --version >/dev/null \
	  || { echo "make: build/runtime does not take the AOT cache it trained" >&2; exit 1; }
	@touch $@

# The tree of the package: bin/fanotifyd, lib/fanotifyd/{app.jar,app.aot,runtime/}, share/man/man8/fanotifyd.8.
# The old cache goes first and the new one comes last, after its jar and runtime: a daemon started while this
# runs never pairs a cache with a jar it was not made from (Temurin 25.0.3 does not notice: JDK-8377932).
install: build/pkg/.stamp build/app/forward/.stamp build/man/fanotifyd.8
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)/man8
	rm -f $(DESTDIR)$(LIBDIR)/app.aot
	rm -rf $(DESTDIR)$(LIBDIR)/classes $(DESTDIR)$(LIBDIR)/runtime
	install -p -m 644 build/pkg/app.jar $(DESTDIR)$(LIBDIR)/app.jar
	cp -R --preserve=mode,timestamps build/runtime $(DESTDIR)$(LIBDIR)/runtime
	install -p -m 644 build/pkg/app.aot $(DESTDIR)$(LIBDIR)/app.aot
	rm -rf $(DESTDIR)$(LIBDIR)/forward
	install -d $(DESTDIR)$(LIBDIR)/forward
	install -p -m 644 build/app/forward/*.jar $(DESTDIR)$(LIBDIR)/forward/
	sed -e "s|@LIBDIR@|$(LIBDIR)|" -e "s|@JVM_OPTS@|$(JVM_OPTS)|" -e "s|@FORWARD_JVM_OPTS@|$(FORWARD_JVM_OPTS)|" -e "s|@BUILT_WITH@||" -e '/@FIND_JAVA@/{r scripts/find-java.sh' -e 'd}' scripts/fanotifyd.in > $(DESTDIR)$(BINDIR)/fanotifyd
	chmod 755 $(DESTDIR)$(BINDIR)/fanotifyd
	install -m 644 build/man/fanotifyd.8 $(DESTDIR)$(MANDIR)/man8/fanotifyd.8

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/fanotifyd $(DESTDIR)$(MANDIR)/man8/fanotifyd.8
	rm -rf $(DESTDIR)$(LIBDIR)

# The Debian package, from a tree staged by `make install PREFIX=/usr` (scripts/build-deb.sh).
deb: $(DEB)

# build/packaging.list names the files in packaging/ and changes only when that list does, so that a unit
# removed from packaging/systemd rebuilds the package too.
$(DEB): build/pkg/.stamp build/app/forward/.stamp build/man/fanotifyd.8 scripts/build-deb.sh scripts/fanotifyd.in scripts/find-java.sh \
		build/packaging.list $(shell find packaging -type f)
	@scripts/build-deb.sh $(DEB) $(DEB_VERSION) $(DEB_ARCH) $(VERSION)

build/packaging.list: FORCE
	@mkdir -p build && find packaging -type f | LC_ALL=C sort | cmp -s - $@ || find packaging -type f | LC_ALL=C sort > $@

# Installs the package, runs it with no JDK in reach, purges it, and checks nothing is left (root; CI runs it).
deb-smoke: $(DEB)
	@scripts/deb-smoke.sh $(DEB)

clean:
	@rm -rf build fanotifyd kernel/target daemon/target forward/target bench/target
