#!/bin/bash
# Runs the shared side-by-side benchmark (../shared/bench) with ./fanotifyd plugged in beside rawfan,
# fatrace and inotifywait. Root only (the harness mounts its own test filesystems in a private namespace).
#   scripts/bench.sh --quick          # about 2 minutes
#   scripts/bench.sh                  # the full run behind docs/PERFORMANCE.md
# Extra arguments go to the harness (see ../shared/bench/run.sh --help).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${FANOTIFYD_BENCH:-$here/../shared/bench}
[ -x "$here/fanotifyd" ] || make -C "$here" >/dev/null
# Work on a copy: the harness builds its C tools and writes its results where it runs.
work=$here/build/bench
mkdir -p "$work"
cp -r "$shared"/. "$work"/
chmod -R u+w "$work"
echo "bench: results in $work/results" >&2
exec "$work/run.sh" \
  --watcher "fanotifyd=$here/fanotifyd --foreground --mount {MNT} --output {OUT}" \
  --watcher-opt 'fanotifyd:parse=jsonl:events,expect=fan-fid,stop=TERM' \
  --perm-watcher "fanotifyd-perm=$here/fanotifyd --foreground --mount {MNT} --perm --output {OUT}" \
  --watcher-opt 'fanotifyd-perm:parse=jsonl:events,expect=perm,stop=TERM' \
  --perm-watcher "fanotifyd-perm-same=$here/fanotifyd --foreground --mount {MNT} --perm --output {OUT}" \
  --watcher-opt 'fanotifyd-perm-same:parse=jsonl:events,expect=perm,stop=TERM,pin=same' \
  "$@"
