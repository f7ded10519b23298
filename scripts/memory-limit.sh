#!/bin/bash
# fanotifyd under a memory limit: each case starts a fresh daemon (and only it) in a new memory cgroup with
# a limit (64 MiB by default), runs one hostile workload on a tmpfs of its own, and reports whether the
# daemon lived, its exit code, OOM kills in the cgroup, its peak RSS (VmHWM), its peak anonymous memory
# (RssAnon, sampled every 50 ms) and the cgroup's peak usage (memory.max_usage_in_bytes or memory.peak).
#   sudo scripts/memory-limit.sh                                   # every case, ./fanotifyd, 64 MiB
#   sudo scripts/memory-limit.sh --launcher /path/to/fanotifyd stalled hooks
# Options: --launcher PATH (default ./fanotifyd), --limit SIZE (default 64M), --output FILE (records go
# there instead of /dev/null: then the cgroup's peak includes the file's page cache, see docs/PERFORMANCE.md).
# Cases (default: all):
#   idle     the daemon alone for 3 s
#   stalled  a subscriber (fanotifyd --subscribe into a pipe nobody reads) while 200000 files are created
#   hooks    1000 canary alerts (1000 processes reading a canary), --hook-cooldown-ms 0, a hook that holds
#            about 12 MiB for 2 s (hooks run in the daemon's cgroup: 4 at a time, 256 waiting)
#   burst    10 processes, 2 at a time, each creating 66000 files: --burst-threshold 65536 in a 60 s window
#   perm     --perm, stdout into a FIFO nobody reads, 100000 opens by one shell
# Prints a Markdown table on stdout, progress on stderr. Root only. The cgroup: cgroup v2 (memory.max)
# where this process's cgroup has the memory controller for its children, else v1 (memory.limit_in_bytes)
# under this process's v1 memory cgroup. Everything it made (cgroup, mount, processes) is removed on exit.
set -euo pipefail

launcher=./fanotifyd; limit=64M; output=/dev/null; cases=()
die() { echo "memory-limit: $*" >&2; exit 1; }
say() { echo "memory-limit: $*" >&2; }
while [ $# -gt 0 ]; do
  case $1 in
    --launcher) launcher=${2:-}; shift 2 || die "--launcher needs a value" ;;
    --limit) limit=${2:-}; shift 2 || die "--limit needs a value" ;;
    --output) output=${2:-}; shift 2 || die "--output needs a value" ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    idle|stalled|hooks|burst|perm) cases+=("$1"); shift ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[ ${#cases[@]} -gt 0 ] || cases=(idle stalled hooks burst perm)
[ "$(id -u)" = 0 ] || die "fanotify, mount and cgroups need root: run it with sudo"
[ -x "$launcher" ] || die "--launcher $launcher: not an executable (run make first)"
launcher=$(cd "$(dirname "$launcher")" && pwd)/$(basename "$launcher")

# ---- the memory cgroup: v2 where usable, else v1 under our own v1 memory cgroup
cg_parent=; cg_v=
v2_root=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
if [ -n "$v2_root" ]; then
  p="$v2_root$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)"
  if grep -qw memory "$p/cgroup.subtree_control" 2>/dev/null; then cg_parent=$p; cg_v=2; fi
fi
if [ -z "$cg_parent" ]; then
  v1_root=$(awk '$9 == "cgroup" && $NF ~ /(^|,)memory(,|$)/ {print $5; exit}' /proc/self/mountinfo)
  rel=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)
  if [ -n "$v1_root" ] && [ -w "$v1_root$rel" ]; then cg_parent=$v1_root$rel; cg_v=1; fi
fi
[ -n "$cg_parent" ] || die "no memory cgroup to make a child in (cgroup v2 with the memory controller, or v1)"
say "cgroup v$cg_v under $cg_parent, limit $limit"

base=$(mktemp -d /tmp/fanotifyd-memory.XXXXXX)
mnt=; cg=; pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  pids=()
  if [ -n "$mnt" ] && mountpoint -q "$mnt"; then umount "$mnt" 2>/dev/null || umount -l "$mnt"; fi
  mnt=
  if [ -n "$cg" ] && [ -d "$cg" ]; then
    for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
  fi
  cg=
}
trap 'cleanup; rm -rf "$base"' EXIT
trap 'exit 130' INT

kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status" 2>/dev/null || true; }
cg_usage() { if [ $cg_v = 2 ]; then cat "$cg/memory.current"; else cat "$cg/memory.usage_in_bytes"; fi; }
cg_peak() {
  if [ $cg_v = 2 ]; then [ -f "$cg/memory.peak" ] && cat "$cg/memory.peak" || echo -1
  else cat "$cg/memory.max_usage_in_bytes"; fi
}
cg_ooms() {
  if [ $cg_v = 2 ]; then awk '$1 == "oom_kill" {print $2}' "$cg/memory.events"
  else awk '$1 == "oom_kill" {print $2}' "$cg/memory.oom_control"; fi
}

run_case() {
  local name=$1; shift
  local dir=$base/$name
  mkdir -p "$dir/mnt"; mnt=$dir/mnt
  mount -t tmpfs -o size=1g "fanotifyd-memory" "$mnt"
  cg=$cg_parent/fanotifyd-memory.$$.$name
  mkdir "$cg"
  if [ $cg_v = 2 ]; then echo "$limit" > "$cg/memory.max"; echo 0 > "$cg/memory.swap.max" 2>/dev/null || true
  else echo "$limit" > "$cg/memory.limit_in_bytes"; fi
  local out=$output args=() work=
  case $name in
    idle) args=(--filesystem "$mnt") ;;
    stalled) args=(--filesystem "$mnt" --events create --socket "$dir/s.sock") ;;
    hooks) args=(--filesystem "$mnt" --canary "$mnt/canary" --hook-cooldown-ms 0
                 --hook 'x=$(head -c 6000000 /dev/zero | tr "\0" x); sleep 2') ;;
    burst) args=(--filesystem "$mnt" --events create --burst-threshold 65536 --burst-window-ms 60000) ;;
    perm) mkfifo "$dir/fifo"; sleep 100000 < "$dir/fifo" & pids+=($!); out=-
          args=(--perm --mount "$mnt") ;;
  esac
  # The wrapper puts its own pid in the cgroup, then execs the launcher: the JVM starts inside the limit.
  sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" "$launcher" --foreground -v -o "$out" \
    "${args[@]}" > "$([ "$name" = perm ] && echo "$dir/fifo" || echo /dev/null)" 2> "$dir/log" &
  local pid=$!; pids+=($pid)
  for _ in $(seq 200); do grep -q 'info: ready' "$dir/log" 2>/dev/null && break; sleep 0.05; done
  grep -q 'info: ready' "$dir/log" || { cat "$dir/log" >&2; die "$name: the daemon did not start"; }
  ( peak=0; while kill -0 "$pid" 2>/dev/null; do a=$(kib RssAnon "$pid"); [ -n "$a" ] && [ "$a" -gt "$peak" ] \
      && peak=$a && echo "$peak" > "$dir/anon"; sleep 0.05; done ) & pids+=($!)
  say "$name: workload"
  case $name in
    idle) sleep 3 ;;
    stalled) "$launcher" --subscribe "$dir/s.sock" 2>/dev/null | sleep 100000 & pids+=($!)
             for _ in $(seq 200); do grep -q 'connected (1 now)' "$dir/log" && break; sleep 0.05; done
             mkdir "$mnt/d"; (cd "$mnt/d" && seq -f 'f%.0f' 200000 | xargs -s 2000000 touch); sleep 2 ;;
    hooks) : > "$mnt/canary"; for _ in $(seq 1000); do cat "$mnt/canary"; done; sleep 3 ;;
    burst) for p in 1 3 5 7 9; do
             local pair=()
             for q in $p $((p + 1)); do
               (mkdir "$mnt/d$q" && cd "$mnt/d$q" && seq -f 'f%.0f' 66000 | xargs -s 2000000 touch) &
               pair+=($!)
             done
             wait "${pair[@]}"
             rm -rf "$mnt"/d*
           done; sleep 2 ;;
    perm) echo x > "$mnt/f"; sh -c 'i=0; while [ $i -lt 100000 ]; do : < "$1"; i=$((i+1)); done' sh "$mnt/f"
          sleep 2 ;;
  esac
  local alive=no hwm=- code=- ooms
  kill -0 "$pid" 2>/dev/null && alive=yes
  hwm=$(kib VmHWM "$pid"); hwm=${hwm:+$((hwm / 1024))}
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true # still there after 30 s: the exit code says so
  if wait "$pid" 2>/dev/null; then code=0; else code=$?; fi
  ooms=$(cg_ooms)
  local peak; peak=$(cg_peak); [ "$peak" -ge 0 ] && peak=$((peak >> 20)) || peak=-
  local anon=-; [ -f "$dir/anon" ] && anon=$(( $(cat "$dir/anon") / 1024 ))
  local notes
  # What the stop line counts as dropped (non-zero counts only), and the hooks the OOM killer took.
  notes=$(grep -oE '[0-9]+ (records dropped for slow ones|dropped \(too many waiting\)|events not remembered for lack of memory|dropped by a slow output|not written \(output errors\))' "$dir/log" | grep -v '^0 ' | paste -sd ';' - || true)
  local oomhooks; oomhooks=$(grep -c 'out of memory?' "$dir/log" || true)
  [ "$oomhooks" = 0 ] || notes="$notes; $oomhooks hooks killed by the OOM killer"
  [ "$alive" = yes ] || notes="killed ($(grep -c . "$dir/log") log lines, last: $(tail -1 "$dir/log" | cut -c1-60))"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$alive" "$code" "$ooms" "${hwm:--}" "$anon" "$peak" "$notes"
  cleanup
}

echo "| case | alive | exit | OOM kills | VmHWM MiB | peak RssAnon MiB | cgroup peak MiB | counted |"
echo "|---|---|---|---|---|---|---|---|"
for c in "${cases[@]}"; do run_case "$c"; done
