#!/bin/bash
# K parallel writers (the shared bench's workload) against no reader, the drain-only reader (rawfan -m fid),
# rawfan-fid-path and ./fanotifyd: what each reader's pace costs every producer, its catch-up lag and its CPU.
#   sudo scripts/writers.sh                       # K = 1,2; 5 rounds; 40000 lifecycles per writer; tmpfs
#   sudo scripts/writers.sh --k 1,2,4,8,16 --fs ext4 --rounds 3     # unchanged on a bigger machine
# Root only: each run mounts a tmpfs (or loop ext4) of its own in a private mount namespace and marks only
# that. Options are scripts/writers.py's (--help). The table goes to stdout, every run to build/writers.json.
set -euo pipefail
. "$(dirname "$0")/bench-copy.sh" bench
[ -x "$here/fanotifyd" ] || make -C "$here" >/dev/null
for t in rawfan workload; do  # as the harness's run.sh builds them
  if [ ! -x "$work/$t" ] || [ "$work/$t.c" -nt "$work/$t" ]; then gcc -O2 -Wall -Wextra -o "$work/$t" "$work/$t.c"; fi
done
exec unshare -m --propagation private python3 "$here/scripts/writers.py" --bench "$work" "$@"
