#!/bin/bash
# What canary patterns cost a permission open: every open on the marked tmpfs waits while fanotifyd matches
# its path against every pattern. For 0 patterns and each count of --canaries, in two shapes that never
# match (the workload's literal prefix, MNT/w/*/nomatch-i-*; and five shapes by turns: that one, a file
# name, '*' in a middle directory, a leading bracket expression, escapes), a fresh
# `fanotifyd --perm --mount MNT` on a tmpfs of its own; the shared bench's workload then opens, reads and
# closes --files files --passes times. Per open: the workload's elapsed µs and the daemon's CPU µs
# (utime+stime over the reads, /proc/PID/stat), the median of --rounds rounds (run interleaved) with the
# range, and each relative to 0 patterns.
#   sudo scripts/canary-perm.sh                                   # 0 and 10000 patterns, 3 rounds
#   sudo scripts/canary-perm.sh --canaries 100,10000 --fanotifyd ../main/fanotifyd
# Options: --rounds R (default 3), --files N (default 1000), --passes I (default 20), --canaries LIST
# (default 10000), --fanotifyd PATH (default this checkout's ./fanotifyd). Prints one Markdown table on
# stdout, progress on stderr. Root only; mounts its tmpfs under a mktemp -d directory in /tmp and removes
# it, and stops what it started, on exit, failure or Ctrl-C.
set -euo pipefail

rounds=3; files=1000; passes=20; counts=10000; daemon=
die() { echo "canary-perm: $*" >&2; exit 1; }
say() { echo "canary-perm: $*" >&2; }
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=${2:-}; shift 2 || die "--rounds needs a value" ;;
    --files) files=${2:-}; shift 2 || die "--files needs a value" ;;
    --passes) passes=${2:-}; shift 2 || die "--passes needs a value" ;;
    --canaries) counts=${2:-}; shift 2 || die "--canaries needs a value" ;;
    --fanotifyd) daemon=${2:-}; shift 2 || die "--fanotifyd needs a value" ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for v in "$rounds" "$files" "$passes"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || die "--rounds, --files, --passes: not a positive number: $v"
done
[[ $counts =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--canaries: a comma-separated list of positive numbers: $counts"
[ "$(id -u)" = 0 ] || die "fanotify and mount need root: run it with sudo"

here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$daemon" ]; then
  daemon=$here/fanotifyd
  [ -x "$daemon" ] || make -C "$here" >/dev/null
fi
[ -x "$daemon" ] || die "--fanotifyd: not an executable: $daemon"
workload=$here/build/bench/workload
if [ ! -x "$workload" ]; then
  src=${FANOTIFYD_BENCH:-$here/../shared/bench}/workload.c
  [ -f "$src" ] || die "no $workload and no $src to build it from"
  mkdir -p "$(dirname "$workload")"
  gcc -O2 -Wall -o "$workload" "$src" || die "could not build the workload from $src"
fi
clk=$(getconf CLK_TCK)

base=$(mktemp -d /tmp/fanotifyd-canary-perm.XXXXXX)
mnt=           # the tmpfs of the current run, while mounted
dpid=          # the daemon of the current run, while it runs
cleanup() {
  if [ -n "$dpid" ]; then
    kill -TERM "$dpid" 2>/dev/null || true
    wait_for 5 gone "$dpid" || kill -KILL "$dpid" 2>/dev/null || true
  fi
  if [ -n "$mnt" ] && mountpoint -q "$mnt"; then umount "$mnt" 2>/dev/null || umount -l "$mnt"; fi
  rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
gone() {
  local state
  state=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || true
  [ -z "$state" ] || [ "$state" = Z ]
}
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
marks() { cat "/proc/$1/fdinfo/"* 2>/dev/null | grep -cE '^fanotify (ino|sdev|mnt_id):' || true; }
ready() {
  if gone "$1"; then
    tail -n 5 "$base/daemon.log" >&2 || true
    die "fanotifyd exited during start-up"
  fi
  [ "$(marks "$1")" -ge 2 ] # one filesystem mark per group: the permission group's and the FID group's
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
range() { printf '%s–%s' "$(printf '%s\n' "$@" | sort -g | head -n 1)" "$(printf '%s\n' "$@" | sort -g | tail -n 1)"; }

# pattern SHAPE I: sets p to canary I of a shape, "prefix" or "mixed" (@MNT@ is filled in by sed).
pattern() {
  local k=$(($2 % 5))
  [ "$1" = prefix ] && k=0
  case $k in
    0) p="@MNT@/w/*/nomatch-$2-*" ;;
    1) p="@MNT@/w/d000/nomatch-$2" ;;
    2) p="@MNT@/*/d000/nomatch-$2" ;;
    3) p="@MNT@/w/d000/[a-c]nomatch-$2.*" ;;
    *) p="@MNT@/w/d000/*nomatch\\-$2\\*" ;;
  esac
}

# run_one N SHAPE: one run; sets r_open (µs per open, workload) and r_cpu (daemon CPU µs per open).
run_one() {
  local n=$1 shape=$2 cf=$base/daemon.conf out=$base/out.jsonl log=$base/daemon.log i c0 c1 json rc=0
  mnt=$base/mnt
  mkdir -p "$mnt"
  mount -t tmpfs fanotifyd-canary-perm "$mnt"
  "$workload" -d "$mnt/w" -m setup-read -n "$files" -s 16 >/dev/null
  for ((i = 0; i < n; i++)); do pattern "$shape" "$i"; echo "canary $p"; done | sed "s|@MNT@|$mnt|g" > "$cf"
  rm -f "$out" "$log"
  "$daemon" --foreground --perm --mount "$mnt" -c "$cf" --output "$out" --log-file "$log" &
  dpid=$!
  wait_for 20 ready "$dpid" || die "fanotifyd did not put its marks in place within 20 s"
  c0=$(cpu_ticks "$dpid")
  json=$("$workload" -d "$mnt/w" -m read -n "$files" -s 16 -i "$passes")
  c1=$(cpu_ticks "$dpid")
  kill -TERM "$dpid"
  wait_for 30 gone "$dpid" || die "fanotifyd did not stop within 30 s of SIGTERM"
  wait "$dpid" || rc=$?
  dpid=
  [ "$rc" = 0 ] || { tail -n 5 "$log" >&2; die "fanotifyd exited with status $rc"; }
  umount "$mnt"; mnt=
  r_open=$(sed -n 's/.*"ns_per_op":\([0-9.]*\).*/\1/p' <<< "$json" | awk '{printf "%.1f", $1 / 1000}')
  r_cpu=$(awk -v t=$((c1 - c0)) -v clk="$clk" -v n=$((files * passes)) 'BEGIN {printf "%.1f", t * 1e6 / clk / n}')
}

configs=("0 none")
for n in ${counts//,/ }; do configs+=("$n prefix" "$n mixed"); done
declare -A opens cpus
for ((r = 1; r <= rounds; r++)); do
  for c in "${configs[@]}"; do
    read -r n shape <<< "$c"
    say "$n patterns ($shape): round $r of $rounds"
    run_one "$n" "$shape"
    opens[$c]="${opens[$c]:-} $r_open"
    cpus[$c]="${cpus[$c]:-} $r_cpu"
  done
done

echo "fanotifyd canaries in permission mode: $(nproc) CPUs, $rounds rounds (medians, min–max), $files files x $passes passes of open+read+close, $daemon"
echo
echo "| patterns | µs per open | vs 0 | daemon CPU µs per open | vs 0 |"
echo "|---|---:|---:|---:|---:|"
zero_open=$(median ${opens["0 none"]}); zero_cpu=$(median ${cpus["0 none"]})
for c in "${configs[@]}"; do
  read -r n shape <<< "$c"
  case $shape in
    none) label=0 ;;
    prefix) label="$n, same prefix (MNT/w/*/nomatch-i-*)" ;;
    *) label="$n, five shapes by turns" ;;
  esac
  o=$(median ${opens[$c]}); u=$(median ${cpus[$c]})
  printf '| %s | %s (%s) | %s× | %s (%s) | %s× |\n' "$label" "$o" "$(range ${opens[$c]})" \
    "$(awk -v a="$o" -v b="$zero_open" 'BEGIN {printf "%.2f", a / b}')" "$u" "$(range ${cpus[$c]})" \
    "$(awk -v a="$u" -v b="$zero_cpu" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
done
