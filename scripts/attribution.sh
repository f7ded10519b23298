#!/bin/bash
# How often fanotifyd can name the process behind an event when processes are short-lived: each round
# starts fanotifyd on a private tmpfs, runs N separate `touch` processes there (each exits right after its
# file events), and counts the records whose comm is null. With LOAD=K, K busy loops compete for the CPUs.
#   sudo scripts/attribution.sh [ROUNDS] [N]      e.g. LOAD=2 sudo scripts/attribution.sh 5 2000
# Prints one line per round and the median. Root only; makes and removes its own mount.
set -euo pipefail
rounds=${1:-5}; n=${2:-2000}; load=${LOAD:-0}
here=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$here/fanotifyd" ] || make -C "$here" >/dev/null
base=$(mktemp -d /tmp/fanotifyd-attr.XXXXXX)
mnt=$base/mnt; mkdir "$mnt"
mount -t tmpfs fanotifyd-attr "$mnt"
hogs=(); fpid=
cleanup() {
  for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$fpid" ] && kill "$fpid" 2>/dev/null || true
  umount "$mnt" 2>/dev/null || umount -l "$mnt"
  rm -rf "$base"
}
trap cleanup EXIT
results=()
for r in $(seq "$rounds"); do
  mkdir "$mnt/r$r"
  "$here/fanotifyd" --foreground --watch "$mnt/r$r" --output "$base/out$r.jsonl" & fpid=$!
  for _ in $(seq 500); do grep -qs '^fanotify ino' /proc/$fpid/fdinfo/* && break; sleep 0.01; done
  hogs=()
  for _ in $(seq "$load"); do (exec sh -c 'while :; do :; done') & hogs+=($!); done
  (cd "$mnt/r$r" && for i in $(seq "$n"); do /bin/touch "f$i"; done)
  for p in "${hogs[@]}"; do kill "$p"; done; hogs=()
  sleep 0.3
  kill -TERM "$fpid"; wait "$fpid" || true; fpid=
  line=$(python3 -c "
import json,sys
rs=[json.loads(l) for l in open('$base/out$r.jsonl')]
miss=sum(1 for r in rs if r['comm'] is None)
wrong=sum(1 for r in rs if r['comm'] not in (None, 'touch') or (r['exe'] not in (None, '/usr/bin/touch')))
print(f'{100*miss/len(rs):.1f} {miss} {len(rs)} {wrong}')")
  set -- $line
  echo "round $r: $2 of $3 records without comm ($1%), $4 naming another program"
  results+=("$1")
done
printf '%s\n' "${results[@]}" | sort -n | awk -v load="$load" '{a[NR]=$1} END {printf "median: %.1f%% of records without comm (%d rounds, load %d)\n", a[int((NR+1)/2)], NR, load}'
