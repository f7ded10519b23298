#!/bin/bash
# How often fanotifyd can name the process behind an event when processes are short-lived: each round
# starts fanotifyd on a private tmpfs, runs N separate `touch` processes there (each exits right after its
# file events), and counts the records whose comm is null. With LOAD=K, K busy loops compete for the CPUs.
#   sudo scripts/attribution.sh [ROUNDS] [N]      e.g. LOAD=2 sudo scripts/attribution.sh 5 2000
# FANOTIFYD=PATH runs another build (an old checkout's ./fanotifyd) for a before/after comparison.
# Prints one line per round and the median. Root only; makes and removes its own mount.
set -euo pipefail
rounds=${1:-5}; n=${2:-2000}; load=${LOAD:-0}
here=$(cd "$(dirname "$0")/.." && pwd)
fanotifyd=${FANOTIFYD:-$here/fanotifyd}
[ -x "$fanotifyd" ] || make -C "$here" >/dev/null
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
  "$fanotifyd" --foreground --watch "$mnt/r$r" --output "$base/out$r.jsonl" & fpid=$!
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
noexe=sum(1 for r in rs if r['exe'] is None)
wrong=sum(1 for r in rs if r['comm'] not in (None, 'touch') or (r['exe'] not in (None, '/usr/bin/touch')))
gone=sum(1 for r in rs if r.get('euid', 0) is None and r['comm'] is not None)
print(f'{100*miss/len(rs):.2f} {miss} {len(rs)} {wrong} {100*noexe/len(rs):.2f} {noexe} {gone}')")
  set -- $line
  echo "round $r: $2 of $3 records without comm ($1%), $6 without exe ($5%), $4 naming another program;" \
    "$7 named from exit records"
  results+=("$1 $5")
done
printf '%s\n' "${results[@]}" | python3 -c "
import sys, statistics as st
rows=[tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
c=sorted(r[0] for r in rows); e=sorted(r[1] for r in rows)
print(f'median: {st.median(c):.2f}% of records without comm (range {c[0]:.2f}-{c[-1]:.2f}), '
      f'{st.median(e):.2f}% without exe (range {e[0]:.2f}-{e[-1]:.2f}); {len(rows)} rounds, load $load')"
