#!/bin/bash
# Where a running fanotifyd spends its CPU, per thread, in the steady state: each round starts a daemon on a
# tmpfs of its own (--filesystem, records to a file), waits 1 s after its mark, runs the shared bench's
# workload (-m mixed) against it, waits 1 s, and reads every thread's CPU (/proc/PID/task/*/schedstat, with
# user and system time from .../stat) over that window. Unlike the harness's figure, the start-up's leftovers
# (the C1 compiler finishing the warm-up's methods) are not in it. --idle instead measures the 2 s after the
# mark with no workload: what a start costs after the harness starts counting.
#   sudo scripts/thread-cpu.sh [--rounds 5] [--files 30000] [--idle] [LAUNCHER ...]    (default ./fanotifyd)
# Several launchers interleave round by round. Root only; mounts, unmounts and removes its own tmpfs.
set -euo pipefail
. "$(dirname "$0")/bench-copy.sh" bench
[ -x "$here/fanotifyd" ] || make -C "$here" >/dev/null
if [ ! -x "$work/workload" ] || [ "$work/workload.c" -nt "$work/workload" ]; then
  gcc -O2 -Wall -Wextra -o "$work/workload" "$work/workload.c"
fi
exec python3 "$here/scripts/thread-cpu.py" --workload "$work/workload" --default-launcher "$here/fanotifyd" "$@"
