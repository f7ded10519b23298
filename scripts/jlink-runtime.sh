#!/bin/bash
# Builds the Java runtime that `make install` and `make deb` ship next to app.jar: a jlink image of only the
# modules the jar needs, stripped, so that the package needs no JDK on the host.
#   scripts/jlink-runtime.sh JDK_HOME JAR OUT_DIR COMPRESS
# Rebuilds OUT_DIR only when what it is made of changed (the module list jdeps gives for JAR, the JDK's
# version, COMPRESS, this script): OUT_DIR.spec records that. Called by the Makefile.
set -euo pipefail
jdk=$1 jar=$2 out=$3 compress=$4

# jdeps reads the jar's class files: java.base, and jdk.unsupported for sun.misc.Signal (Signals.java).
# The forwarder's jars (forward/ beside the jar) count too: the Kafka client needs java.management, SASL and
# Kerberos modules the daemon does not, and the package runs it on this runtime.
mods=$("$jdk/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 25 "$jar" \
  $(ls "$(dirname "$jar")"/forward/*.jar 2>/dev/null))
# Kerberos (SASL GSSAPI) logs in through a JAAS module that jdeps cannot see: it is named in a config file.
[ -z "$(ls "$(dirname "$jar")"/forward/*.jar 2>/dev/null)" ] || mods="$mods,jdk.security.auth"
[ -n "$mods" ] || { echo "jlink-runtime: jdeps found no modules for $jar" >&2; exit 1; }
jdk_version=$(sed -n 's/^JAVA_RUNTIME_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$jdk/release")
spec="modules=$mods jdk=$jdk version=$jdk_version compress=$compress script=$(cksum < "$0")"
if [ -x "$out/bin/java" ] && [ "$spec" = "$(cat "$out.spec" 2>/dev/null)" ]; then
  exit 0
fi
rm -rf "$out" "$out.spec"
# --strip-debug: no local variable tables or line numbers in the classes (stack traces keep the method
# names, which is all a user's report needs). --compress: measured against start-up, see docs/PERFORMANCE.md.
"$jdk/bin/jlink" --add-modules "$mods" --strip-debug --no-man-pages --no-header-files \
  --compress "$compress" --exclude-files '**/bin/keytool' --output "$out"

# Strip the native code as Debian's dh_strip does (its symbol tables only serve debuggers and crash logs;
# the exported dynamic symbols stay): the runtime's ELF files come from the JDK unstripped, and lintian
# rejects unstripped objects. jlink's --strip-native-debug-symbols only removes .debug sections, which
# Temurin's files do not have.
if command -v strip >/dev/null; then
  find "$out" -type f | while read -r f; do
    [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
    case $f in
      *.so) strip --remove-section=.comment --remove-section=.note --strip-unneeded "$f" ;;
      *) strip --remove-section=.comment --remove-section=.note "$f" ;;
    esac
  done
else
  echo "jlink-runtime: no strip (binutils): the runtime's native code keeps its symbol tables" >&2
fi
# jlink copies the legal notices read-only (0444); installed files are 0644, or 0755 if executable.
find "$out" -type d -exec chmod 0755 {} +
find "$out" -type f -perm -u+x -exec chmod 0755 {} +
find "$out" -type f ! -perm -u+x -exec chmod 0644 {} +
echo "$spec" > "$out.spec"
echo "built $out ($mods, $(du -sh "$out" | cut -f1))"
