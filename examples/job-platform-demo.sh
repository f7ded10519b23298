#!/bin/bash
# The job-platform walkthrough (examples/job-platform.md), run for real under a scratch base directory:
#
#   sudo examples/job-platform-demo.sh [BASE]        # BASE defaults to /tmp/fanotifyd-example
#
# Every path of examples/job-platform.conf gets BASE in front (/run/jobs/J becomes BASE/run/jobs/J, and so
# on). The script mounts only its own tmpfs and bind mounts under BASE, marks only those, and unmounts them
# when it exits, also after a failure or an interrupt. The records stay in BASE/var/log/fanotifyd.
# The fanotifyd it runs: $FANOTIFYD if set, else ./fanotifyd of this checkout (make), else the one on PATH.
set -euo pipefail

die() { echo "job-platform-demo: $*" >&2; exit 1; }
say() { echo "job-platform-demo: $*" >&2; }

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; fails after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then say "timed out waiting for: $*"; return 1; fi
    sleep 0.1
  done
}
# gone PID: the process has exited (and, if it was our child, has been reaped).
gone() { ! kill -0 "$1" 2>/dev/null; }

here=$(cd "$(dirname "$0")" && pwd)
BASE=${1:-/tmp/fanotifyd-example}
[ "$(id -u)" = 0 ] || die "fanotify and mount need root: run it with sudo"
case $BASE in
  /*) ;;
  *) die "BASE must be an absolute path: $BASE" ;;
esac
case $BASE in
  / | *[!A-Za-z0-9_./-]*) die "BASE must not be / and may only hold letters, digits and _ . / -: $BASE" ;;
esac
BASE=${BASE%/}
if [ -z "${FANOTIFYD:-}" ]; then
  if [ -x "$here/../fanotifyd" ]; then FANOTIFYD=$here/../fanotifyd
  else FANOTIFYD=$(command -v fanotifyd) || die "no fanotifyd: run make first, or set FANOTIFYD"
  fi
fi
FANOTIFYD=$(realpath "$FANOTIFYD")
[ -x "$FANOTIFYD" ] || die "not executable: $FANOTIFYD"

# The host's paths, under BASE (on a real host BASE is empty and these are the paths of the config).
JOB=$BASE/run/jobs/J
CACHE=$BASE/var/cache/job-platform
IMAGES=$BASE/var/lib/job-platform/images
LOGS=$BASE/var/log/fanotifyd
RUN=$BASE/run/fanotifyd
CONF=$BASE/etc/fanotifyd/J.conf
MOUNTS=("$JOB/root" "$JOB/workspace" "$JOB/export" "$CACHE" "$IMAGES")

# Only what this script mounted is unmounted at the end: refuse to start on top of existing mounts.
for m in "${MOUNTS[@]}"; do
  if mountpoint -q "$m"; then die "$m is already a mount point (a previous run still mounted?): not touching it"; fi
done

DAEMON_PID=
SUB_PID=
cleanup() {
  local status=$?
  set +e
  if [ -n "$SUB_PID" ] && kill -0 "$SUB_PID" 2>/dev/null; then kill "$SUB_PID"; fi
  if [ -z "$DAEMON_PID" ] && [ -s "$RUN/J.pid" ]; then DAEMON_PID=$(cat "$RUN/J.pid"); fi
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill "$DAEMON_PID"
    wait_for 20 gone "$DAEMON_PID" || kill -KILL "$DAEMON_PID"
  fi
  for m in "${MOUNTS[@]}"; do
    if mountpoint -q "$m"; then umount "$m" || umount -l "$m"; fi
  done
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$BASE/bin"
ln -sfn "$FANOTIFYD" "$BASE/bin/fanotifyd"
PATH=$BASE/bin:$PATH
say "base $BASE, fanotifyd $FANOTIFYD"

# ---- Step 1: prepare the job's directories, each a mount of its own --------------------------------------
mkdir -p "$IMAGES" "$JOB/root" "$JOB/workspace" "$JOB/export" "$CACHE" "$LOGS" "$RUN" "$BASE/etc/fanotifyd"
mount -t tmpfs -o size=32m,mode=0755 job-images "$IMAGES"
mkdir -p "$IMAGES/J/etc"
echo "J" > "$IMAGES/J/etc/hostname"
echo 'root:*:20000:0:99999:7:::' > "$IMAGES/J/etc/shadow"
chmod 600 "$IMAGES/J/etc/shadow"
mount --bind "$IMAGES/J" "$JOB/root"
mount -o remount,bind,ro "$JOB/root"
mount -t tmpfs -o size=64m,mode=0755 job-J-workspace "$JOB/workspace"
mount -t tmpfs -o size=64m,mode=0755 job-J-export "$JOB/export"
mount -t tmpfs -o size=64m,mode=0755 job-platform-cache "$CACHE"
for m in "${MOUNTS[@]}"; do findmnt -n -o TARGET,SOURCE,FSTYPE,OPTIONS --mountpoint "$m"; done

# ---- Step 2: the config -------------------------------------------------------------------------------
sed -e "s| /run/| $BASE/run/|g" -e "s| /var/| $BASE/var/|g" "$here/job-platform.conf" > "$CONF"
rm -f "$LOGS/J.jsonl" "$LOGS/J.log" "$LOGS/J-alerts.log" "$LOGS/J-subscriber.jsonl"

# ---- Step 3: start fanotifyd before the workload -----------------------------------------------------------
fanotifyd -c "$CONF"
DAEMON_PID=$(cat "$RUN/J.pid")
say "fanotifyd is running as pid $DAEMON_PID; its marks are in place"

# ---- Step 4: subscribe to the live stream ---------------------------------------------------------------
fanotifyd --subscribe "$RUN/J.sock" > "$LOGS/J-subscriber.jsonl" &
SUB_PID=$!
wait_for 20 grep -qs "subscriber pid $SUB_PID uid 0 connected" "$LOGS/J.log"

# ---- Step 5: run the job ----------------------------------------------------------------------------------
sh -c '
  cd "$1/workspace"
  echo "int main(void) { return 0; }" > main.c
  mkdir build
  cp main.c build/app.tmp
  mv build/app.tmp build/app
  cp build/app "$1/export/app"
  echo "fetched once, reused by later jobs" > "$2/deps-v1.tar"
' job "$JOB" "$CACHE"

# ---- Step 6: what fanotifyd is there for: a read of the canary, and a write burst --------------------------
if cat "$JOB/root/etc/shadow"; then die "the canary could be read"; fi
if sh -c 'for i in $(seq 1 100); do echo "chunk $i" > "$1/workspace/chunk-$i" || exit 1; done' burst "$JOB"; then
  die "the write burst was not stopped"
fi
wait_for 10 grep -qs "^canary job=J role=rootfs" "$LOGS/J-alerts.log"
wait_for 10 grep -qs "^burst job=J role=workspace" "$LOGS/J-alerts.log"

# ---- Step 7: the job is over: stop fanotifyd ------------------------------------------------------------
kill "$DAEMON_PID"
wait_for 20 gone "$DAEMON_PID"
wait_for 20 gone "$SUB_PID"
wait "$SUB_PID"

# ---- Step 8: read the records ---------------------------------------------------------------------------
for role in rootfs workspace export cache; do printf '%-9s %3d records\n' "$role" "$(grep -c "\"job_id\":\"J\",\"path_role\":\"$role\"" "$LOGS/J.jsonl")"; done
grep -e '"decision":"deny"' -e '"type":"alert"' "$LOGS/J.jsonl"
cat "$LOGS/J-alerts.log"
cmp "$LOGS/J.jsonl" "$LOGS/J-subscriber.jsonl"
say "the subscriber received exactly the lines of $LOGS/J.jsonl"
say "done: records in $LOGS/J.jsonl; unmounting the job's directories"
