#!/bin/bash
# How long the first opens wait when a permission daemon starts: a process opens and closes one file on a tmpfs
# in a tight loop while fanotifyd --perm starts on that tmpfs; the longest single open of each round is the wait
# of the open the new permission mark held first (before the daemon answered it). Prints the median and range
# over the rounds, and the longest open after the daemon was ready, for comparison. --observe starts the daemon
# without --perm: what a starting JVM costs the opener by taking the CPUs alone, the floor of the figure.
# --pin puts the opener on CPU 0 and the daemon on CPU 1, so that a starting JVM does not take the opener's CPU.
#   sudo scripts/perm-start-latency.sh [--rounds N] [--launcher PATH] [--observe] [--pin]
# Root only; mounts a tmpfs under a mktemp -d directory in /tmp, removes it and stops what it started on exit.
set -euo pipefail
rounds=9
mode=--perm
pin_opener=
pin_daemon=
here=$(cd "$(dirname "$0")/.." && pwd)
launcher=$here/fanotifyd
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=${2:-}; shift 2 ;;
    --launcher) launcher=${2:-}; shift 2 ;;
    --observe) mode=; shift ;;
    --pin) pin_opener="taskset -c 0"; pin_daemon="taskset -c 1"; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "perm-start-latency: unknown argument: $1 (see --help)" >&2; exit 1 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "perm-start-latency: --rounds: not a positive number: $rounds" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "perm-start-latency: fanotify and mount need root" >&2; exit 1; }
[ -x "$launcher" ] || make -C "$here" >/dev/null

base=$(mktemp -d /tmp/fanotifyd-permstart.XXXXXX)
mnt=$base/mnt
daemon=
opener=
cleanup() {
  [ -n "$opener" ] && kill "$opener" 2>/dev/null || true
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
  wait 2>/dev/null || true
  mountpoint -q "$mnt" && umount "$mnt"
  rm -rf "$base"
}
trap cleanup EXIT
mkdir -p "$mnt"
mount -t tmpfs -o size=16m fanotifyd-permstart "$mnt"
echo hello > "$mnt/f"

results=()
for r in $(seq 1 "$rounds"); do
  rm -f "$base/stop" "$base/lat"
  # The opener: open+close in a loop; keeps the longest open and when it happened (monotonic ns).
  $pin_opener python3 - "$mnt/f" "$base/stop" "$base/lat" <<'EOF' &
import os, sys, time
f, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]
worst = (0, 0)
samples = []
n = 0
while not os.path.exists(stop):
    t0 = time.monotonic_ns()
    fd = os.open(f, os.O_RDONLY)
    t1 = time.monotonic_ns()
    os.close(fd)
    samples.append((t1 - t0, t0))
    n += 1
    if len(samples) > 200000:
        samples = samples[-100000:]
open(out, "w").write("\n".join("%d %d" % s for s in samples))
EOF
  opener=$!
  sleep 0.3
  t_start=$(python3 -c 'import time; print(time.monotonic_ns())')
  $pin_daemon "$launcher" --foreground $mode --mount "$mnt" -o "$base/out.jsonl" -v 2>"$base/err" &
  daemon=$!
  for _ in $(seq 1 400); do
    grep -q "info: ready" "$base/err" 2>/dev/null && break
    sleep 0.025
  done
  t_ready=$(python3 -c 'import time; print(time.monotonic_ns())')
  sleep 0.5
  touch "$base/stop"
  wait "$opener"; opener=
  kill "$daemon"; wait "$daemon" || true; daemon=
  results+=("$(python3 - "$base/lat" "$t_start" "$t_ready" <<'EOF'
import sys
lat = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
start, ready = int(sys.argv[2]), int(sys.argv[3])
during = [d for d, t in lat if start <= t <= ready]
after = [d for d, t in lat if t > ready]
print("%.3f %.3f" % (max(during) / 1e6 if during else 0, max(after) / 1e6 if after else 0))
EOF
)")
done
python3 - "${results[@]}" <<'EOF'
import statistics, sys
start = sorted(float(x.split()[0]) for x in sys.argv[1:])
after = sorted(float(x.split()[1]) for x in sys.argv[1:])
print("| rounds | longest open during start-up, ms: median (range) | longest open after ready, ms: median (range) |")
print("|---|---|---|")
print("| %d | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) |" % (len(start), statistics.median(start), start[0], start[-1],
      statistics.median(after), after[0], after[-1]))
EOF
