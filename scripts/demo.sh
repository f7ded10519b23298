#!/bin/bash
# The demo behind `sudo make demo`: watches /tmp/fanotifyd-demo (an inode mark, observe mode only), does a
# little file activity there and prints the records fanotifyd writes for it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/tmp/fanotifyd-demo}
if [ "$(id -u)" != 0 ]; then echo "demo: fanotify needs root: run 'sudo make demo'" >&2; exit 1; fi
mkdir -p "$dir"
out=$(mktemp /tmp/fanotifyd-demo-out.XXXXXX)
pidfile=$(mktemp -u /tmp/fanotifyd-demo-pid.XXXXXX)
# Without --foreground the command returns once the marks are in place; the pid file says whom to stop.
"$here/fanotifyd" --watch "$dir" --output "$out" --pid-file "$pidfile"
pid=$(cat "$pidfile")
trap 'kill -TERM "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
echo "demo: fanotifyd (pid $pid) watches $dir; doing some file activity there" >&2
echo hello > "$dir/file"
cat "$dir/file" > /dev/null
mv "$dir/file" "$dir/renamed"
mkdir -p "$dir/subdir"
chmod 600 "$dir/renamed"
rm "$dir/renamed"
rmdir "$dir/subdir"
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
cat "$out"
