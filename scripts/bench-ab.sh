#!/bin/bash
# Two builds of fanotifyd side by side in one run of the shared harness (../shared/bench), beside
# rawfan-fid-path, interleaved round by round: the A/B behind docs/PERFORMANCE.md's "what it costs" tables.
#   sudo scripts/bench-ab.sh OLD_LAUNCHER NEW_LAUNCHER [harness args...]
#   e.g. sudo scripts/bench-ab.sh ../old/fanotifyd ./fanotifyd --tag issue10-ab
# Defaults: mixed and drain phases, 5 rounds each, ext4 and tmpfs. Give each build a checkout of its own
# (its launcher runs that checkout's build/app): rebuilding one during the run would change it mid-way.
# MARK=--mount compares them with a mount mark instead of a filesystem mark on the test filesystem.
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,7p "$0" >&2; exit 2; }
old=$(realpath "$1"); new=$(realpath "$2"); shift 2
. "$(dirname "$0")/bench-copy.sh" bench-ab
echo "bench-ab: results in $work/results" >&2
exec "$work/run.sh" --phases mixed,drain --runs 5 --limit-runs 5 --fs ext4,tmpfs \
  --watchers rawfan-fid-path --drain-watchers rawfan-fid-path \
  --watcher "old=$old --foreground ${MARK:---filesystem} {MNT} --output {OUT}" \
  --watcher-opt 'old:parse=jsonl:events,expect=fan-fid,stop=TERM' \
  --watcher "new=$new --foreground ${MARK:---filesystem} {MNT} --output {OUT}" \
  --watcher-opt 'new:parse=jsonl:events,expect=fan-fid,stop=TERM' \
  "$@"
