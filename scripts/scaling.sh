#!/bin/bash
# How fanotifyd's cost grows with what it is given: inode marks, event rate, canary patterns, job roots and
# socket subscribers. Every setting gets a fresh fanotifyd on a tmpfs of its own and one workload there; the
# daemon's CPU time is utime+stime from /proc/PID/stat, from just before the workload until the daemon has
# caught up, and its peak RSS is VmHWM (start-up included).
#   sudo scripts/scaling.sh                                   # everything: 3 rounds, 20000 files
#   sudo scripts/scaling.sh --rounds 1 --files 2000 --only a,c
#   sudo scripts/scaling.sh --only c --canaries 1000,10000 --fanotifyd ../main/fanotifyd   # another build
# Options: --rounds R (each cell is the median of R rounds, with the range of CPU µs/record after it;
# default 3), --files N (file lifecycles or generator ops per run; default 20000), --only LIST (dimensions to
# run, default a,b,c,d,e), --canaries LIST (pattern counts of dimension c, default 1,10,100,1000,10000),
# --fanotifyd PATH (the launcher to measure; default this checkout's ./fanotifyd):
#   a  inode marks: --watch on 1, 100, 1000, 10000 directories, the ops spread round-robin over all of them
#      (max(N, files) ops, so that every directory is touched)
#   b  event rate: create+write+close+unlink at 1k, 10k, 50k ops/s and unthrottled (the 1k row takes
#      files/1000 seconds per round)
#   c  canary patterns that never match, 0 and each count of --canaries, in the shapes of issue 14: a literal
#      prefix other than the workload's (/nomatch/i/*); the workload's (MNT/w/*/nomatch-i-*); differing only
#      in the file name (MNT/w/d000/nomatch-i); '*' in a middle directory (MNT/*/d000/nomatch-i); a file name
#      starting with '*', '?' or '[' by turns; bracket expressions; escapes; a non-UTF-8 byte (given as
#      --canary arguments: a config file must be UTF-8); only an inner literal run (MNT/w/*/*nomatch-i*).
#      An extra column gives each row's CPU µs/record relative to the 0-pattern row. Its rounds run
#      interleaved (round 1 of every row, then round 2, ...)
#   d  job roots: 0, 10, 1000 jobs whose workspaces (nonexistent) hold none of the workload's files, and 1000
#      plus one whose workspace is the workload's directory
#   e  subscribers: 0, 1, 4, 16 `fanotifyd --subscribe` clients on --socket; checks each got every record
# Prints one Markdown table per dimension on stdout, progress on stderr. The workload of c, d and e is the
# shared bench's ../build/bench/workload (mixed mode: create+write+close, open+read+close, rename, unlink)
# when it is built, else the Python generator that a and b always use. Root only; mounts its tmpfs under a
# mktemp -d directory in /tmp and removes it, and stops what it started, on exit, failure or Ctrl-C.
set -euo pipefail

rounds=3; files=20000; only=a,b,c,d,e; counts=1,10,100,1000,10000; daemon=
die() { echo "scaling: $*" >&2; exit 1; }
say() { echo "scaling: $*" >&2; }
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=${2:-}; shift 2 || die "--rounds needs a value" ;;
    --files) files=${2:-}; shift 2 || die "--files needs a value" ;;
    --only) only=${2:-}; shift 2 || die "--only needs a value" ;;
    --canaries) counts=${2:-}; shift 2 || die "--canaries needs a value" ;;
    --fanotifyd) daemon=${2:-}; shift 2 || die "--fanotifyd needs a value" ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds: not a positive number: $rounds"
[[ $files =~ ^[1-9][0-9]*$ ]] || die "--files: not a positive number: $files"
[[ $only =~ ^[a-e](,[a-e])*$ ]] || die "--only: a comma-separated list of a, b, c, d, e: $only"
[[ $counts =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--canaries: a comma-separated list of positive numbers: $counts"
[ "$(id -u)" = 0 ] || die "fanotify and mount need root: run it with sudo"

here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$daemon" ]; then
  daemon=$here/fanotifyd
  [ -x "$daemon" ] || make -C "$here" >/dev/null
fi
[ -x "$daemon" ] || die "--fanotifyd: not an executable: $daemon"
workload=$here/build/bench/workload
[ -x "$workload" ] || workload=
clk=$(getconf CLK_TCK)
settle_s=60    # how long the daemon may take to catch up after the workload before the run is cut off

base=$(mktemp -d /tmp/fanotifyd-scaling.XXXXXX)
mnt=           # the tmpfs of the current run, while mounted
pids=()        # processes we started and have not reaped yet
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait_for 5 gone "$p" || kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$mnt" ] && mountpoint -q "$mnt"; then umount "$mnt" 2>/dev/null || umount -l "$mnt"; fi
  rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; fails after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
# gone PID: the process has exited (a zombie counts: kill -0 would still succeed on it).
gone() {
  local state
  state=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || true
  [ -z "$state" ] || [ "$state" = Z ]
}
# reap PID: collects an exited child's status (prints nothing) and forgets it; returns its exit status.
reap() {
  local rc=0 p keep=()
  wait "$1" 2>/dev/null || rc=$?
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
  return "$rc"
}
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
marks() { cat "/proc/$1/fdinfo/"* 2>/dev/null | grep -cE '^fanotify (ino|sdev|mnt_id):' || true; }
# ready PID MARKS: all the daemon's marks are in place; exits the script if the daemon died.
ready() {
  if gone "$1"; then
    tail -n 5 "$base/daemon.log" >&2 || true
    die "fanotifyd exited during start-up"
  fi
  [ "$(marks "$1")" -ge "$2" ]
}
subscribed() { [ "$(grep -c 'subscriber pid .* connected' "$base/daemon.log" || true)" -ge "$1" ]; }
# settled PID FILE: true once the daemon's CPU time and its output's size have not changed for 3 polls.
last=; same=0
settled() {
  local now
  now="$(cpu_ticks "$1") $(stat -c %s "$2")"
  if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; last=$now; fi
  [ "$same" -ge 3 ]
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# The Python generator: `setup ROOT N` makes ROOT/d0..d(N-1); `run ROOT N OPS RATE` does OPS times
# create+write(100 bytes)+close+unlink, op k in ROOT/d(k mod N), at RATE ops/s (0: as fast as it can),
# pacing itself in batches of 5 ms worth of ops, and prints the seconds it took.
cat > "$base/gen.py" <<'EOF'
import os, sys, time
mode, root, ndirs = sys.argv[1], sys.argv[2], int(sys.argv[3])
dirs = [f"{root}/d{i}/" for i in range(ndirs)]
if mode == "setup":
    os.mkdir(root)
    for d in dirs:
        os.mkdir(d)
    sys.exit(0)
ops, rate = int(sys.argv[4]), float(sys.argv[5])
batch = max(1, int(rate / 200)) if rate > 0 else ops
data = b"x" * 100
flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC
t0 = time.perf_counter()
for start in range(0, ops, batch):
    end = min(ops, start + batch)
    for k in range(start, end):
        path = f"{dirs[k % ndirs]}f{k}"
        fd = os.open(path, flags, 0o644)
        os.write(fd, data)
        os.close(fd)
        os.unlink(path)
    if rate > 0:
        delay = t0 + end / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
print(f"{time.perf_counter() - t0:.6f}")
EOF

# One run: a tmpfs, a fanotifyd marking it, the subscribers, the workload. The settings are globals:
#   watch   1: one --watch per workload directory; 0: --filesystem on the tmpfs (its own: the same as --mount before issue 10)
#   gen     workload (the C binary) or py (gen.py)
#   ndirs   directories the workload spreads its files over
#   ops     file lifecycles (workload) or create+write+close+unlink ops (py)
#   rate    py only: target ops/s, 0 for unthrottled
#   nsubs   subscribers
#   conf    extra config-file lines; @MNT@ stands for the tmpfs
#   args    extra command-line arguments; @MNT@ stands for the tmpfs
# Sets r_ms (workload ms), r_records, r_cpu (daemon CPU ms), r_rss (peak RSS MiB), r_rate (achieved ops/s),
# r_subs (subscribers that got every record), r_busy (1: the daemon had not caught up after $settle_s s).
run_one() {
  local w out=$base/out.jsonl log=$base/daemon.log cf=$base/daemon.conf dpid want=1 i c0 c1 hwm el rc a
  local subs=() extra=()
  mnt=$base/mnt
  mkdir -p "$mnt"
  mount -t tmpfs fanotifyd-scaling "$mnt"
  w=$mnt/w
  rm -f "$out" "$log" "$base"/sub*.jsonl
  if [ "$gen" = workload ]; then
    "$workload" -d "$w" -m setup -s "$ndirs" >/dev/null
  else
    python3 "$base/gen.py" setup "$w" "$ndirs"
  fi
  {
    echo "verbose 1" # the log says when each subscriber has connected
    if [ "$watch" = 1 ]; then
      for ((i = 0; i < ndirs; i++)); do echo "watch $w/d$i"; done
    else
      echo "filesystem $mnt"
    fi
    if [ "$nsubs" -gt 0 ]; then echo "socket $base/sock"; fi
    if [ "${#conf[@]}" -gt 0 ]; then printf '%s\n' "${conf[@]}" | sed "s|@MNT@|$mnt|g"; fi
  } > "$cf"
  if [ "$watch" = 1 ]; then want=$ndirs; fi

  for a in "${args[@]}"; do extra+=("${a//@MNT@/$mnt}"); done
  "$daemon" --foreground -c "$cf" --output "$out" --log-file "$log" "${extra[@]}" &
  dpid=$!; pids+=("$dpid")
  wait_for 10 ready "$dpid" "$want" || die "fanotifyd did not put its $want marks in place within 10 s"
  for ((i = 0; i < nsubs; i++)); do
    "$daemon" --subscribe "$base/sock" > "$base/sub$i.jsonl" 2>>"$base/subscribers.err" &
    pids+=("$!"); subs+=("$!")
  done
  if [ "$nsubs" -gt 0 ]; then
    wait_for $((10 + nsubs)) subscribed "$nsubs" || die "not all $nsubs subscribers connected in time"
  fi

  c0=$(cpu_ticks "$dpid")
  if [ "$gen" = workload ]; then
    el=$("$workload" -d "$w" -m mixed -n "$ops" -s "$ndirs" -b 64 -w 100 |
      sed -n 's/.*"elapsed_s":\([0-9.]*\).*/\1/p')
  else
    el=$(python3 "$base/gen.py" run "$w" "$ndirs" "$ops" "$rate")
  fi
  last=; same=0; r_busy=0
  if ! wait_for "$settle_s" settled "$dpid" "$out"; then
    say "warning: fanotifyd still busy $settle_s s after the workload; its records and CPU time are cut off there"
    r_busy=1
  fi
  c1=$(cpu_ticks "$dpid")
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$dpid/status")

  kill -TERM "$dpid"
  wait_for 10 gone "$dpid" || die "fanotifyd did not stop within 10 s of SIGTERM"
  rc=0; reap "$dpid" || rc=$?
  [ "$rc" = 0 ] || { tail -n 5 "$log" >&2; die "fanotifyd exited with status $rc"; }
  r_records=$(wc -l < "$out")
  r_subs=0
  for i in "${!subs[@]}"; do
    wait_for 10 gone "${subs[$i]}" || die "subscriber ${subs[$i]} did not exit within 10 s of the daemon"
    reap "${subs[$i]}" || say "warning: subscriber $i exited with an error"
    if [ "$(wc -l < "$base/sub$i.jsonl")" = "$r_records" ]; then r_subs=$((r_subs + 1)); fi
  done

  umount "$mnt"; mnt=
  rm -f "$out" "$base"/sub*.jsonl
  r_ms=$(awk -v e="$el" 'BEGIN {printf "%.0f", e * 1000}')
  r_rate=$(awk -v e="$el" -v n="$ops" 'BEGIN {printf "%.0f", n / e}')
  r_cpu=$(( (c1 - c0) * 1000 / clk ))
  r_rss=$(awk -v k="$hwm" 'BEGIN {printf "%.1f", k / 1024}')
}

# The rounds of one table row: clear_rounds empties them, add_round adds the run_one just made, print_row
# prints the row of medians (CPU µs/record with its range over the rounds). The extra columns: cols=rate adds
# the achieved ops/s (after the label, the target), cols=subs the subscribers that got every record (the
# fewest over the rounds), cols=canary the CPU µs/record relative to the first row printed ($zero_per).
clear_rounds() { q_ms=; q_rec=; q_cpu=; q_per=; q_rss=; q_rate=; q_subs=; q_busy=0; }
add_round() {
  q_busy=$((q_busy + r_busy)); q_ms+=" $r_ms"; q_rec+=" $r_records"; q_cpu+=" $r_cpu"; q_rss+=" $r_rss"
  q_rate+=" $r_rate"; q_subs+=" $r_subs"
  q_per+=" $(awk -v c="$r_cpu" -v n="$r_records" 'BEGIN {printf "%.2f", n ? c * 1000 / n : 0}')"
}
print_row() {
  local label=$1 per_med range= ms rec cpu per rss rate_a subs
  read -ra ms <<< "$q_ms"; read -ra rec <<< "$q_rec"; read -ra cpu <<< "$q_cpu"; read -ra per <<< "$q_per"
  read -ra rss <<< "$q_rss"; read -ra rate_a <<< "$q_rate"; read -ra subs <<< "$q_subs"
  printf '| %s ' "$label"
  if [ "$cols" = rate ]; then printf '| %s ' "$(median "${rate_a[@]}")"; fi
  per_med=$(median "${per[@]}")
  if [ "${#per[@]}" -gt 1 ]; then
    range=" ($(printf '%s\n' "${per[@]}" | sort -g | head -n 1)–$(printf '%s\n' "${per[@]}" | sort -g | tail -n 1))"
  fi
  printf '| %s | %s%s | %s | %s%s | %s ' "$(median "${ms[@]}")" "$(median "${rec[@]}")" \
    "$([ "$q_busy" = 0 ] || echo " (cut off: busy in $q_busy of ${#per[@]} rounds)")" "$(median "${cpu[@]}")" \
    "$per_med" "$range" "$(median "${rss[@]}")"
  if [ "$cols" = canary ]; then
    [ -n "$zero_per" ] || zero_per=$per_med
    printf '| %s× ' "$(awk -v a="$per_med" -v b="$zero_per" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
  fi
  if [ "$cols" = subs ] && [ "$nsubs" = 0 ]; then printf '| - '; fi
  if [ "$cols" = subs ] && [ "$nsubs" != 0 ]; then
    printf '| %s of %s ' "$(printf '%s\n' "${subs[@]}" | sort -n | head -n 1)" "$nsubs"
  fi
  printf '|\n'
}
# measure LABEL: $rounds runs of the current settings, one after the other, then their table row.
measure() {
  local label=$1 r
  clear_rounds
  for ((r = 1; r <= rounds; r++)); do
    say "($dim) $label: round $r of $rounds"
    run_one
    add_round
  done
  print_row "$label"
}
# header TITLE FIRST-COLUMN: a table's title and header lines, for the current $cols.
header() {
  local extra=
  [ "$cols" = rate ] && extra=" achieved ops/s |"
  printf '\n### %s\n\n| %s |%s workload ms | records | daemon CPU ms | CPU µs/record | peak RSS MiB |' "$1" "$2" "$extra"
  [ "$cols" = subs ] && printf ' subscribers with every record |'
  [ "$cols" = canary ] && printf ' CPU/record vs 0 patterns |'
  printf '\n|---|'
  [ "$cols" = rate ] && printf -- '---:|'
  printf -- '---:|---:|---:|---:|---:|'
  [ "$cols" = subs ] && printf -- '---:|'
  [ "$cols" = canary ] && printf -- '---:|'
  printf '\n'
}

# The defaults every dimension starts from.
defaults() {
  watch=0; ndirs=16; ops=$files; rate=0; nsubs=0; conf=(); args=(); cols=basic; zero_per=
  if [ -n "$workload" ]; then gen=workload; else gen=py; fi
}
# canaries N TEMPLATE: conf gets N canary lines, TEMPLATE evaluated with i = 0..N-1 ($i, ${lead[i % 3]}).
lead=('*' '?' '[a-c]')
canaries() {
  local i line
  conf=()
  for ((i = 0; i < $1; i++)); do eval "line=\"$2\""; conf+=("canary $line"); done
}
# canary_row N SHAPE: conf and args for N canaries of SHAPE (dimension c), and the row's label in row_label.
canary_row() {
  local n=$1 i
  conf=(); args=()
  case $2 in
    none) row_label=0 ;;
    other) canaries "$n" '/nomatch/$i/*'; row_label="$n, other prefix (/nomatch/i/*)" ;;
    prefix) canaries "$n" '@MNT@/w/*/nomatch-$i-*'; row_label="$n, same prefix (MNT/w/*/nomatch-i-*)" ;;
    names) canaries "$n" '@MNT@/w/d000/nomatch-$i'; row_label="$n, file names (MNT/w/d000/nomatch-i)" ;;
    middle) canaries "$n" '@MNT@/*/d000/nomatch-$i'; row_label="$n, * in a middle dir (MNT/*/d000/nomatch-i)" ;;
    leading)
      canaries "$n" '@MNT@/w/*/${lead[i % 3]}nomatch-$i'
      row_label="$n, leading * ? [ (MNT/w/*/*nomatch-i, ?nomatch-i, [a-c]nomatch-i)" ;;
    brackets)
      canaries "$n" '@MNT@/w/d[0-9][0-9][0-9]/nomatch-[!x]$i[ab]'
      row_label="$n, brackets (MNT/w/d[0-9][0-9][0-9]/nomatch-[!x]i[ab])" ;;
    escapes) canaries "$n" '@MNT@/w/*/nomatch\\-$i\\*'; row_label="$n, escapes (MNT/w/*/nomatch\\-i\\*)" ;;
    nonutf8)
      for ((i = 0; i < n; i++)); do args+=(--canary "@MNT@/w/*/"$'\xff'"nomatch-$i*"); done
      row_label="$n, non-UTF-8 (MNT/w/*/\\xffnomatch-i*, command line)" ;;
    inner) canaries "$n" '@MNT@/w/*/*nomatch-$i*'; row_label="$n, inner run (MNT/w/*/*nomatch-i*)" ;;
  esac
}
describe_gen() {
  if [ "$gen" = workload ]; then echo "workload mixed, $ops files over $ndirs dirs"
  else echo "Python create+write+close+unlink, $ops ops over $ndirs dirs"; fi
}

echo "fanotifyd scaling: $(nproc) CPUs, $rounds round(s) per row (medians), --files $files, $daemon"
for dim in ${only//,/ }; do
  defaults
  case $dim in
    a)
      gen=py; watch=1
      header "(a) inode marks: --watch on N directories, Python create+write+close+unlink round-robin, max(N, $files) ops" "marks"
      for n in 1 100 1000 10000; do
        ndirs=$n; ops=$((n > files ? n : files))
        measure "$n"
      done ;;
    b)
      gen=py; ndirs=1; cols=rate
      header "(b) event rate: Python create+write+close+unlink, $ops ops, --filesystem" "target ops/s"
      for rate in 1000 10000 50000 0; do
        measure "$([ "$rate" = 0 ] && echo unthrottled || echo "$rate")"
      done ;;
    c)
      cols=canary
      header "(c) canary patterns (none matching): $(describe_gen), --filesystem" "patterns"
      # Rounds interleaved: round 1 of every row, then round 2, ... A noisy minute on a shared machine then
      # spreads over the rows instead of landing on a few neighbours.
      rows=("0 none")
      for n in ${counts//,/ }; do
        for shape in other prefix names middle leading brackets escapes nonutf8 inner; do rows+=("$n $shape"); done
      done
      labels=(); rq_ms=(); rq_rec=(); rq_cpu=(); rq_per=(); rq_rss=(); rq_busy=()
      for ((r = 1; r <= rounds; r++)); do
        for j in "${!rows[@]}"; do
          canary_row ${rows[$j]}
          labels[$j]=$row_label
          say "(c) $row_label: round $r of $rounds"
          q_ms=${rq_ms[$j]:-}; q_rec=${rq_rec[$j]:-}; q_cpu=${rq_cpu[$j]:-}; q_per=${rq_per[$j]:-}
          q_rss=${rq_rss[$j]:-}; q_busy=${rq_busy[$j]:-0}; q_rate=; q_subs=
          run_one
          add_round
          rq_ms[$j]=$q_ms; rq_rec[$j]=$q_rec; rq_cpu[$j]=$q_cpu; rq_per[$j]=$q_per; rq_rss[$j]=$q_rss
          rq_busy[$j]=$q_busy
        done
      done
      for j in "${!rows[@]}"; do
        q_ms=${rq_ms[$j]}; q_rec=${rq_rec[$j]}; q_cpu=${rq_cpu[$j]}; q_per=${rq_per[$j]}; q_rss=${rq_rss[$j]}
        q_busy=${rq_busy[$j]}; q_rate=; q_subs=
        print_row "${labels[$j]}"
      done ;;
    d)
      header "(d) job roots: $(describe_gen), --filesystem" "jobs"
      for n in 0 10 1000; do
        conf=(); for ((i = 0; i < n; i++)); do conf+=("job j$i" "workspace $base/nojobs/j$i/workspace"); done
        measure "$n, none containing the files"
      done
      conf+=("job own" "workspace @MNT@/w")
      measure "1000 + 1 whose workspace is the workload's dir" ;;
    e)
      cols=subs; conf=()
      header "(e) subscribers (fanotifyd --subscribe): $(describe_gen), --filesystem" "subscribers"
      for n in 0 1 4 16; do
        nsubs=$n
        measure "$n"
      done ;;
  esac
done
