#!/bin/bash
# What --metrics costs (docs/METRICS.md): the start-up, exec to first mark, with and without --metrics
# (scripts/startup-time.sh, interleaved starts); and the shared bench's mixed phase with fanotifyd plain, with
# --metrics and a scraper fetching /metrics every second, and with --stats-interval-s 1, beside rawfan-fid-path
# in the same run (CPU per record, slowdown); and one scrape's CPU on the metrics thread. Root only, like the
# scripts it runs.
#   sudo scripts/metrics-cost.sh [--quick] [--rounds N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
quick=()
rounds=15
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=(--quick); shift ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "metrics-cost.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$here/fanotifyd" ] || make -C "$here" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A launcher that adds --metrics on a port the kernel picks, for startup-time.sh.
cat > "$tmp/fanotifyd-metrics" <<EOT
#!/bin/sh
exec "$here/fanotifyd" "\$@" --metrics 127.0.0.1:0
EOT
chmod +x "$tmp/fanotifyd-metrics"
echo "== start-up, exec to first mark (ms): ./fanotifyd, then with --metrics"
"$here/scripts/startup-time.sh" --rounds "$rounds" "$here/fanotifyd" "$tmp/fanotifyd-metrics"
# The scraper: every second while the daemon's socket exists, detached so that its CPU is not the daemon's.
cat > "$tmp/scraped" <<'EOT'
#!/bin/sh
sock=$1; shift
setsid sh -c 'i=0; while [ ! -S "$0" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
  while [ -S "$0" ]; do curl -s --max-time 2 --unix-socket "$0" http://localhost/metrics >/dev/null; sleep 1; done' \
  "$sock" </dev/null >/dev/null 2>&1 &
exec "$@" --metrics "$sock"
EOT
chmod +x "$tmp/scraped"
echo "== one scrape: the metrics thread's CPU over 1000 scrapes of an idle daemon, and the exposition's size"
mkdir "$tmp/mnt"
mount -t tmpfs tmpfs "$tmp/mnt"
trap 'umount "$tmp/mnt" 2>/dev/null; rm -rf "$tmp"' EXIT
"$here/fanotifyd" --foreground --filesystem "$tmp/mnt" --output /dev/null --metrics "$tmp/m.sock" 2>/dev/null &
pid=$!
python3 - "$pid" "$tmp/m.sock" <<'EOT'
import os, socket, sys, time
pid, sock = int(sys.argv[1]), sys.argv[2]
for _ in range(300):
    if os.path.exists(sock):
        break
    time.sleep(0.1)
def scrape():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock)
    s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data
def thread_cpu_ms():
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        if "(fanotifyd-metri" in st:
            fields = st.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    return None
size = len(scrape().split(b"\r\n\r\n", 1)[1])
for _ in range(100):  # the first scrapes run interpreted; this measures the steady state
    scrape()
before, t0 = thread_cpu_ms(), time.monotonic()
for _ in range(1000):
    scrape()
after, t1 = thread_cpu_ms(), time.monotonic()
print(f"exposition {size} bytes; metrics thread {(after - before) * 1000 / 1000:.0f} µs CPU per scrape "
      f"(1000 scrapes, {(t1 - t0) * 1000 / 1000:.2f} ms each end to end)")
EOT
kill "$pid"
wait "$pid" || true
umount "$tmp/mnt"
. "$here/scripts/bench-copy.sh" bench-metrics
echo "== mixed phase: plain, with --metrics and a scrape a second, with --stats-interval-s 1"
cd "$work"
./run.sh "${quick[@]}" --phases mixed --watchers rawfan-fid-path \
  --watcher "fanotifyd=$here/fanotifyd --foreground --filesystem {MNT} --output {OUT}" \
  --watcher-opt 'fanotifyd:parse=jsonl:events,expect=fan-fid,stop=TERM' \
  --watcher "fanotifyd-metrics=$tmp/scraped {OUT}.sock $here/fanotifyd --foreground --filesystem {MNT} --output {OUT}" \
  --watcher-opt 'fanotifyd-metrics:parse=jsonl:events,expect=fan-fid,stop=TERM' \
  --watcher "fanotifyd-stats=$here/fanotifyd --foreground --filesystem {MNT} --output {OUT} --stats-interval-s 1" \
  --watcher-opt 'fanotifyd-stats:parse=jsonl:events,expect=fan-fid,stop=TERM'
