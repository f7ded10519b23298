#!/bin/bash
# Start-up of fanotifyd, from the exec of a launcher to its mark in place: each start marks a tmpfs of the
# script's own (`--foreground --mount MNT --output FILE`), and the time is taken when the daemon's
# /proc/PID/fdinfo first shows a fanotify mark (polled every millisecond); then it is stopped with
# SIGTERM. With several launchers the rounds interleave (A B A B ...), so that whatever else the machine does
# weighs on all of them alike. Prints each launcher's median, min and max in ms. With --rss, each start also
# waits 2 s after its mark and reads the daemon's resident memory (VmRSS: anonymous + file-backed).
#   sudo scripts/startup-time.sh [--rounds N] [--rss] [LAUNCHER ...]      (default: ./fanotifyd, 9 rounds)
# e.g. the installed package against the checkout:
#   sudo scripts/startup-time.sh /usr/bin/fanotifyd ./fanotifyd
# Root only; mounts a tmpfs under a mktemp -d directory in /tmp, and unmounts and removes it on exit.
set -euo pipefail
rounds=9
here=$(cd "$(dirname "$0")/.." && pwd)
launchers=()
rss=0
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=${2:-}; shift 2 ;;
    --rss) rss=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*) echo "startup-time: unknown argument: $1 (see --help)" >&2; exit 1 ;;
    *) launchers+=("$1"); shift ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "startup-time: --rounds: not a positive number: $rounds" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "startup-time: fanotify and mount need root" >&2; exit 1; }
[ ${#launchers[@]} -gt 0 ] || launchers=("$here/fanotifyd")
for l in "${launchers[@]}"; do
  [ -x "$l" ] || { echo "startup-time: not an executable: $l" >&2; exit 1; }
done

base=$(mktemp -d /tmp/fanotifyd-startup.XXXXXX)
mnt=$base/mnt
cleanup() {
  if mountpoint -q "$mnt"; then umount "$mnt"; fi
  rm -rf "$base"
}
trap cleanup EXIT
mkdir -p "$mnt"
mount -t tmpfs -o size=16m fanotifyd-startup "$mnt"

python3 - "$rounds" "$rss" "$mnt" "$base" "${launchers[@]}" <<'EOF'
import os, re, signal, statistics, subprocess, sys, time
rounds, rss, mnt, base, launchers = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], sys.argv[4], sys.argv[5:]

# A mark's line in a fanotify fd's fdinfo (the daemon may mark a mount's root as its filesystem: sdev).
MARK = re.compile(rb"^fanotify (ino|sdev|mnt_id):", re.M)

def marked(pid):
    """True once one of pid's fds is a fanotify group with a mark."""
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd), "rb") as f:
                if MARK.search(f.read()):
                    return True
        except OSError:
            pass
    return False

def start(launcher):
    err = open(os.path.join(base, "err"), "wb")
    t0 = time.monotonic()
    p = subprocess.Popen([launcher, "--foreground", "--mount", mnt, "--output", os.path.join(base, "out.jsonl")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        while True:
            if p.poll() is not None:
                sys.exit("startup-time: %s exited with %d before marking: %s"
                         % (launcher, p.returncode, open(os.path.join(base, "err")).read().strip()))
            if marked(p.pid):
                ms = (time.monotonic() - t0) * 1000
                if rss:
                    time.sleep(2)
                    with open("/proc/%d/status" % p.pid) as f:
                        st = dict(l.split(":", 1) for l in f if ":" in l)
                    return ms, tuple(int(st[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile"))
                return ms, None
            if time.monotonic() - t0 > 30:
                sys.exit("startup-time: %s: no mark after 30 s" % launcher)
            time.sleep(0.001)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        err.close()

times = {l: [] for l in launchers}
mems = {l: [] for l in launchers}
for r in range(rounds):
    for l in launchers:
        ms, mem = start(l)
        times[l].append(ms)
        mems[l].append(mem)
for l in launchers:
    t = times[l]
    print("%-40s median %6.1f ms  min %6.1f  max %6.1f  (%d starts: %s)"
          % (l, statistics.median(t), min(t), max(t), len(t), " ".join("%.0f" % x for x in t)))
    if rss:
        print("%-40s RSS median %.1f MiB (anonymous %.1f, file %.1f)"
              % ("", *(statistics.median(m[i] for m in mems[l]) for i in range(3))))
EOF
