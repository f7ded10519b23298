#!/bin/bash
# The package, end to end, on this machine: checks the .deb with lintian (no errors), installs it with
# dpkg -i, runs the installed daemon with no JDK in reach (JAVA_HOME unset, an empty PATH, the launcher's
# search of /usr/lib/jvm etc. off) and proves the bundled runtime and its AOT cache are what runs, gets a
# record from a tmpfs of its own through the packaged config, rotates the output with the packaged logrotate
# config, verifies the installed systemd units, reinstalls (the upgrade path), removes, purges, and checks
# that the machine is as it was: the same files, modes and owners under /etc, /usr, /var/log and
# /var/lib/dpkg/info, and no /run/fanotifyd.
#   sudo scripts/deb-smoke.sh [DEB]          (default: the newest build/fanotifyd_*.deb; `make deb-smoke`)
# Root only; refuses if fanotifyd is installed already (the test purges it). Whatever happens, it stops the
# daemon it started, unmounts its tmpfs and purges the package before it exits. CI runs it (.ci/run).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
deb=${1:-$(ls -t "$here"/build/fanotifyd_*.deb 2>/dev/null | head -1)}
[ -n "$deb" ] && [ -f "$deb" ] || { echo "deb-smoke: no package (make deb)" >&2; exit 1; }
deb=$(readlink -f "$deb")
[ "$(id -u)" = 0 ] || { echo "deb-smoke: dpkg -i, mount and fanotify need root" >&2; exit 1; }
if dpkg-query -W -f '${db:Status-Status}' fanotifyd 2>/dev/null | grep -qv '^not-installed$'; then
  echo "deb-smoke: fanotifyd is installed on this machine; the smoke test would purge it (dpkg --purge fanotifyd first)" >&2
  exit 1
fi
version=$(sed -n 's/.*VERSION = "\(.*\)";/\1/p' "$here/daemon/src/main/java/io/fanotifyd/daemon/Main.java")

tmp=$(mktemp -d /tmp/fanotifyd-debsmoke.XXXXXX)
mnt=$tmp/mnt
lib=/usr/lib/fanotifyd
daemon=
installed=
step() { echo "deb-smoke: $*"; }
fail() { echo "deb-smoke: FAIL: $*" >&2; exit 1; }
cleanup() {
  local rc=$?
  set +e
  if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then kill "$daemon"; wait "$daemon" 2>/dev/null || true; fi
  [ -d "$lib/runtime.off" ] && mv "$lib/runtime.off" "$lib/runtime"
  mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
  if [ -n "$installed" ]; then dpkg --purge fanotifyd >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
  [ $rc = 0 ] || echo "deb-smoke: failed; the package was purged again" >&2
}
trap cleanup EXIT

# What the package may touch, before and after. /lib is /usr/lib on a merged-/usr system.
snapshot() {
  local roots=(/etc /usr /var/log /var/lib/dpkg/info)
  [ -L /lib ] || roots+=(/lib)
  find "${roots[@]}" -xdev -printf '%y %m %u:%g %p\n' 2>/dev/null | LC_ALL=C sort
  [ ! -e /run/fanotifyd ] || echo "exists /run/fanotifyd"
}
snapshot > "$tmp/before"

if command -v lintian >/dev/null; then
  step "lintian $(basename "$deb")"
  # Errors fail; warnings are printed (README.md, "The Debian package", says which remain and why).
  lintian --fail-on error "$deb" 2>&1 | grep -v 'running with root privileges' || fail "lintian reports errors"
else
  step "SKIP lintian: not installed"
fi

step "dpkg -i $(basename "$deb")"
installed=1
dpkg -i "$deb" > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -i"; }
[ "$(dpkg-query -W -f '${db:Status-Status}' fanotifyd)" = installed ] || fail "not installed after dpkg -i"
for f in /usr/bin/fanotifyd $lib/app.jar $lib/app.aot $lib/runtime/bin/java /usr/share/man/man8/fanotifyd.8.gz \
    /etc/fanotifyd/fanotifyd.conf /etc/logrotate.d/fanotifyd /usr/share/doc/fanotifyd/copyright; do
  [ -e "$f" ] || fail "$f not installed"
done
dpkg-query -W -f '${Conffiles}\n' fanotifyd | grep -q '^ /etc/fanotifyd/fanotifyd.conf ' || fail "fanotifyd.conf is no conffile"
[ "$(stat -c '%a %U:%G' /var/log/fanotifyd)" = "750 root:root" ] || fail "/var/log/fanotifyd: $(stat -c '%a %U:%G' /var/log/fanotifyd)"
[ -d /run/fanotifyd ] || fail "/run/fanotifyd not made"

# No JDK in reach: a clean environment (no JAVA_HOME or FANOTIFYD_JAVA_HOME), PATH an empty directory, and
# the launcher's search of /usr/lib/jvm and the like switched off.
# env execs the launcher, which execs the JVM: a command started with & keeps its pid throughout.
mkdir -p "$tmp/empty-path"
nojdk=(env -i HOME=/root LANG=C.UTF-8 PATH="$tmp/empty-path" FANOTIFYD_JDK_DIRS=)
out=$("${nojdk[@]}" /usr/bin/fanotifyd --version) || fail "--version failed: $out"
[ "$out" = "fanotifyd $version" ] || fail "--version printed '$out', not 'fanotifyd $version'"
step "--version: $out"
# The cache is the runtime's and the jar's: -XX:AOTMode=on makes the JVM fail rather than start without it.
opts=$(sed -n 's/.*\${FANOTIFYD_JVM_OPTS:-\([^}]*\)}.*/\1/p' /usr/bin/fanotifyd)
[ -n "$opts" ] || fail "no default JVM options in /usr/bin/fanotifyd"
"${nojdk[@]}" FANOTIFYD_JVM_OPTS="$opts -XX:AOTMode=on" /usr/bin/fanotifyd --version >/dev/null 2>"$tmp/aot.err" \
  || fail "the installed AOT cache is refused by the installed runtime: $(cat "$tmp/aot.err")"
step "the AOT cache is taken (-XX:AOTMode=on)"
# The proof that nothing else could have run: without the bundled runtime the launcher finds no Java.
mv "$lib/runtime" "$lib/runtime.off"
if "${nojdk[@]}" /usr/bin/fanotifyd --version >/dev/null 2>"$tmp/nojava.err"; then fail "started without the bundled runtime"; fi
grep -q 'needs a Java 25' "$tmp/nojava.err" || fail "without the bundled runtime: $(cat "$tmp/nojava.err")"
mv "$lib/runtime.off" "$lib/runtime"
step "without its runtime the launcher finds no Java in that environment: $(cat "$tmp/nojava.err")"

# A record from a tmpfs of our own, run as fanotifyd.service runs it: the packaged config (its output where
# logrotate looks), --foreground and the pid file. The config's own marks are left out (sed), so that only
# the tmpfs is marked.
mkdir -p "$mnt"
mount -t tmpfs -o size=8m fanotifyd-debsmoke "$mnt"
out=/var/log/fanotifyd/fanotifyd.jsonl
sed -E 's/^(watch|mount|filesystem)([[:space:]])/#\1\2/' /etc/fanotifyd/fanotifyd.conf > "$tmp/fanotifyd.conf"
grep -q "^output $out\$" "$tmp/fanotifyd.conf" || fail "the packaged config does not write to $out"
"${nojdk[@]}" /usr/bin/fanotifyd -c "$tmp/fanotifyd.conf" --foreground --pid-file /run/fanotifyd/fanotifyd.pid \
  --mount "$mnt" </dev/null >/dev/null 2>"$tmp/daemon.err" &
daemon=$!
await() { # $1 = what, then a command to retry every 50 ms for up to 30 s
  local what=$1; shift
  for _ in $(seq 600); do "$@" && return 0; kill -0 "$daemon" 2>/dev/null || fail "the daemon exited while waiting for $what: $(cat "$tmp/daemon.err")"; sleep 0.05; done
  fail "no $what within 30 s: $(cat "$tmp/daemon.err")"
}
marked() { grep -qsE '^fanotify (ino|sdev|mnt_id):' /proc/"$daemon"/fdinfo/*; }
await "mark" marked
exe=$(readlink /proc/"$daemon"/exe)
[ "$exe" = "$lib/runtime/bin/java" ] || fail "the daemon runs $exe, not the bundled runtime"
step "daemon $daemon runs $exe, marks in place"
echo hello > "$mnt/hello-from-deb-smoke"
await "record of the tmpfs file" grep -qs '"name":"hello-from-deb-smoke"' "$out"
[ "$(stat -c '%a' "$out")" = 640 ] || fail "$out has mode $(stat -c '%a' "$out"), not 640"
[ "$(cat /run/fanotifyd/fanotifyd.pid 2>/dev/null)" = "$daemon" ] || fail "no pid file /run/fanotifyd/fanotifyd.pid"
step "record in $out: $(grep -m1 '"name":"hello-from-deb-smoke"' "$out" | cut -c1-150)..."

# The packaged logrotate config against the installed daemon: the file moves, the daemon reopens its path.
if command -v logrotate >/dev/null; then
  logrotate -f -s "$tmp/logrotate.state" /etc/logrotate.d/fanotifyd || fail "logrotate -f /etc/logrotate.d/fanotifyd"
  [ -f "$out.1" ] || fail "logrotate made no $out.1"
  grep -q '"name":"hello-from-deb-smoke"' "$out.1" || fail "the record is not in $out.1"
  # The daemon reopens when it takes the signal, between two writes: files made until then go to $out.1.
  n=0
  touch_and_look() { n=$((n + 1)); : > "$mnt/after-rotation-$n"; grep -qs '"name":"after-rotation-' "$out"; }
  await "record after the rotation in the new $out" touch_and_look
  step "logrotate -f: $out.1 kept the old records, the daemon writes to a new $out ($((n - 1)) file(s) made before it reopened)"
else
  step "SKIP logrotate: not installed"
fi
kill -TERM "$daemon"
rc=0; wait "$daemon" || rc=$?
daemon=
[ $rc = 0 ] || fail "the daemon exited with $rc on SIGTERM: $(cat "$tmp/daemon.err")"
[ ! -e /run/fanotifyd/fanotifyd.pid ] || fail "the pid file is still there after the stop"

# The forwarder on the bundled runtime (its Kafka client needs modules the daemon does not): against a port
# nobody listens on, it starts, says what it forwards, reports the broker it cannot reach after max.block.ms
# (10 s), and stops on SIGTERM with exit 0.
mkdir -p "$tmp/fw"
"${nojdk[@]}" /usr/bin/fanotifyd --forward -c "$tmp/fanotifyd.conf" --kafka-brokers 127.0.0.1:9 \
  --forward-state "$tmp/fw/state" -v </dev/null >/dev/null 2>"$tmp/fw/err" &
fw=$!
seen=
for _ in $(seq 600); do
  if grep -qs 'kafka: TimeoutException' "$tmp/fw/err"; then seen=1; break; fi
  kill -0 "$fw" 2>/dev/null || break
  sleep 0.05
done
[ -n "$seen" ] || { kill -9 "$fw" 2>/dev/null; fail "the forwarder did not report the unreachable broker within 30 s: $(cat "$tmp/fw/err")"; }
[ "$(readlink /proc/"$fw"/exe)" = "$lib/runtime/bin/java" ] || fail "the forwarder runs $(readlink /proc/"$fw"/exe)"
kill -TERM "$fw"
rc=0; wait "$fw" || rc=$?
[ "$rc" = 0 ] || fail "the forwarder exited $rc on SIGTERM: $(cat "$tmp/fw/err")"
step "forwarder on the bundled runtime: $(grep -m1 'kafka: TimeoutException' "$tmp/fw/err" | cut -c1-120)...; SIGTERM: exit 0"
umount "$mnt"

# The installed units. systemd-analyze verify exits 0 on many problems, so any output on stderr fails. A
# template is verified as an instance of itself (systemd-analyze names it fanotifyd@i.service).
units=()
for u in /lib/systemd/system/fanotifyd.service /lib/systemd/system/fanotifyd@*.service \
    /lib/systemd/system/fanotifyd-forward.service; do
  if [ -f "$u" ]; then units+=("$u"); fi
done
shipped=0
for u in "$here"/packaging/systemd/*.service; do
  if [ -f "$u" ]; then shipped=$((shipped + 1)); fi
done
[ "${#units[@]}" = "$shipped" ] || fail "${#units[@]} units installed, packaging/systemd has $shipped"
if [ "$shipped" = 0 ]; then
  step "SKIP systemd-analyze verify: packaging/systemd has no units yet"
elif ! command -v systemd-analyze >/dev/null; then
  fail "systemd-analyze (Debian package systemd) is missing"
else
  man=yes; command -v man >/dev/null || man=no   # Documentation=man:... is checked only where man exists
  systemd-analyze verify --man=$man "${units[@]}" >"$tmp/verify.out" 2>"$tmp/verify.err" || true
  if [ -s "$tmp/verify.err" ]; then cat "$tmp/verify.err" >&2; fail "systemd-analyze verify: ${units[*]}"; fi
  step "systemd-analyze verify --man=$man: ${units[*]##*/}: nothing on stderr"
fi

# The upgrade path (prerm upgrade, postinst configure VERSION), then removal: the conffile stays until purge.
dpkg -i "$deb" > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -i over the installed package"; }
dpkg -r fanotifyd > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -r"; }
[ -f /etc/fanotifyd/fanotifyd.conf ] || fail "dpkg -r removed the conffile"
[ ! -e /usr/bin/fanotifyd ] && [ ! -e "$lib" ] || fail "dpkg -r left the program"
dpkg --purge fanotifyd > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg --purge"; }
installed=
step "reinstalled, removed (conffile kept), purged"

snapshot > "$tmp/after"
if ! diff "$tmp/before" "$tmp/after" > "$tmp/diff"; then
  cat "$tmp/diff" >&2
  fail "the machine is not as it was before the install (< before, > after)"
fi
step "OK: after the purge /etc, /usr, /var/log and /var/lib/dpkg/info are as before, and there is no /run/fanotifyd"
