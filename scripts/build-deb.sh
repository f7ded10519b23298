#!/bin/bash
# Builds the Debian package with dpkg-deb from a tree staged in build/deb/debian/fanotifyd, where debhelper
# would stage it. `make deb` calls it once the runtime, the AOT cache and the man page are built:
#   scripts/build-deb.sh DEB DEB_VERSION ARCH VERSION
# The tree is `make install PREFIX=/usr` plus what a Debian package adds: the conffiles
# (/etc/fanotifyd/fanotifyd.conf, /etc/logrotate.d/fanotifyd), the systemd units in packaging/systemd/*.service,
# a tmpfiles.d entry for /run/fanotifyd, the copyright file, the changelog, a job's example config, lintian's
# overrides (the runtime's zlib: packaging/debian/lintian-overrides says why), the man page gzipped, and
# DEBIAN/ with control (Depends from dpkg-shlibdeps on the runtime's ELF files), conffiles, md5sums and the
# maintainer scripts. Not jpackage: its launcher asks rpm or dpkg about itself on every start (~400 ms
# measured) and reads per-user files that can change the JVM's options.
set -euo pipefail
deb=$1 deb_version=$2 arch=$3 version=$4
cd "$(dirname "$0")/.."
[ "${deb_version%-*}" = "$version" ] || {
  echo "build-deb: packaging/debian/changelog's newest entry is for $deb_version, the daemon is $version: add an entry" >&2
  exit 1
}
stage=$PWD/build/deb
root=$stage/debian/fanotifyd
rt=$root/usr/lib/fanotifyd/runtime
rm -rf "$stage"
mkdir -p "$root"

"${MAKE:-make}" --no-print-directory install PREFIX=/usr DESTDIR="$root" >/dev/null
gzip -9n "$root/usr/share/man/man8/fanotifyd.8"
install -D -m 644 packaging/etc/fanotifyd.conf "$root/etc/fanotifyd/fanotifyd.conf"   # not job.conf.example
install -D -m 644 packaging/logrotate/fanotifyd "$root/etc/logrotate.d/fanotifyd"
install -D -m 644 packaging/tmpfiles/fanotifyd.conf "$root/usr/lib/tmpfiles.d/fanotifyd.conf"
install -D -m 644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/fanotifyd"

# The units, whatever packaging/systemd holds; the maintainer scripts stop and restart them by name, and a
# template's instances by pattern (fanotifyd@.service -> fanotifyd@*.service).
units=
for u in packaging/systemd/*.service; do
  [ -f "$u" ] || continue
  install -D -m 644 "$u" "$root/lib/systemd/system/${u##*/}"
  name=${u##*/}
  case $name in *@.service) name=${name%@.service}@*.service ;; esac
  units="$units${units:+ }$name"
done

doc=$root/usr/share/doc/fanotifyd
install -d "$doc"
# A job's config for fanotifyd@.service, where the unit's comment points.
install -D -m 644 packaging/etc/job.conf.example "$doc/examples/job.conf"
gzip -9n < packaging/debian/changelog > "$doc/changelog.Debian.gz"
release() { sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$rt/release"; }
sed -e "s|@JDK_NAME@|$(release IMPLEMENTOR) $(release IMPLEMENTOR_VERSION) (Java $(release JAVA_RUNTIME_VERSION))|" \
    -e "s|@JDK_SOURCE_REPO@|$(release SOURCE_REPO)|" -e "s|@JDK_SOURCE@|$(release SOURCE)|" \
    packaging/debian/copyright.in > "$doc/copyright"

# Modes as Debian wants them, whatever the umask was: directories 0755, files 0644 or, if executable, 0755.
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -perm -u+x -exec chmod 0755 {} +
find "$root" -type f ! -perm -u+x -exec chmod 0644 {} +

# Depends: what the runtime's ELF files link, outside the package (its own libjvm.so, libjli.so, ... are
# found in the tree, -S). dpkg-shlibdeps reads debian/control next to the tree: a minimal one. Its warnings
# that upstream's libraries link libdl, libpthread and librt needlessly (glibc 2.34 moved them into libc) are
# left out (--warnings=1), and so are those that the runtime's private libraries have no versioned name;
# a symbol found in no library would still be reported.
mkdir -p "$root/DEBIAN"
elfs=()
while IFS= read -r -d '' f; do
  [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] && elfs+=("$f")
done < <(find "$root" -type f -print0)
printf 'Source: fanotifyd\n\nPackage: fanotifyd\nArchitecture: any\n' > "$stage/debian/control"
depends=$(cd "$stage" && dpkg-shlibdeps -O --warnings=1 -S"$root" -l"$rt/lib" -l"$rt/lib/server" "${elfs[@]}" \
  2> >(grep -v "can't extract name and version from library name" >&2) | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, and 1 for each directory or link.
installed_size=$(find "$root" -mindepth 1 -printf '%y %s\n' \
  | awk '$1 == "f" { n += int(($2 + 1023) / 1024) } $1 != "f" { n += 1 } END { print n }')

sed -e "s|@DEB_VERSION@|$deb_version|" -e "s|@ARCH@|$arch|" -e "s|@INSTALLED_SIZE@|$installed_size|" \
    -e "s|@DEPENDS@|$depends|" packaging/debian/control.in > "$root/DEBIAN/control"
(cd "$root" && find etc -type f | sort | sed 's|^|/|') > "$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | sort -z \
  | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
for s in postinst prerm postrm; do
  sed -e "s|@UNITS@|$units|" "packaging/debian/$s" > "$root/DEBIAN/$s"
  chmod 0755 "$root/DEBIAN/$s"
done
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

# Owned by root whoever builds it; xz, as Debian's own packages.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)} \
  dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "built $deb ($(du -h "$deb" | cut -f1), installed $((installed_size / 1024)) MiB; Depends: $depends${units:+; units: $units})"
