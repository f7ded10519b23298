#!/bin/bash
# The forwarder's throughput into a real broker (docs/FLEET.md): a spool of N records shaped like the daemon's
# (with --host-fields), carried by `./fanotifyd --forward` into a one-node KRaft broker on this machine, from the
# first record to the broker's acknowledgement of the last (the forwarder's own fanotifyd_forward_records_acked_
# total); ROUNDS rounds, each a new topic; median and range of records/s, with the forwarder's CPU per record
# and peak RSS. The broker runs from the forward module's test class path (the kafka_2.13 jars), as ForwardIT
# starts it. Broker and forwarder share the machine's cores, as on a host that runs its own broker; on a real
# fleet the broker is elsewhere and the forwarder alone costs the host.
# Then, live (root): the daemon with --host-fields on a tmpfs of its own while the shared bench's workload
# (workload -m mixed -n FILES) runs in it, and the forwarder following its output: how long after the last
# record was written the broker had acknowledged it (the forwarder's lag behind the daemon), per round.
#   scripts/forward-throughput.sh [--records N] [--rounds R] [--files F] [--compression lz4|zstd|gzip|none]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
records=300000
rounds=3
compression=lz4
files=40000
while [ $# -gt 0 ]; do
  case $1 in
    --files) files=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --compression) compression=$2; shift 2 ;;
    *) echo "forward-throughput.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
. "$here/scripts/find-java.sh"
fanotifyd_find_java || { echo "forward-throughput.sh: needs a JDK >= 25" >&2; exit 1; }
java=$FANOTIFYD_JAVA
[ -x "$here/fanotifyd" ] || make -C "$here" >/dev/null
tmp=$(mktemp -d)
broker_pid=
fw_pid=
daemon_pid=
mnt=
cleanup() {
  [ -z "$fw_pid" ] || kill -9 "$fw_pid" 2>/dev/null || true
  [ -z "$daemon_pid" ] || { kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null || true; }
  [ -z "$mnt" ] || umount "$mnt" 2>/dev/null || true
  [ -z "$broker_pid" ] || { kill "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); cport=$(free_port); mport=$(free_port)
(cd "$here" && JAVA_HOME=$FANOTIFYD_JAVA_HOME_FOUND MAVEN_OPTS=--sun-misc-unsafe-memory-access=allow \
  mvn -q -B -o dependency:build-classpath -pl forward -am -Dmdep.includeScope=test -Dmdep.outputFile="$tmp/cp.txt" \
  >/dev/null)
cp=$(cat "$tmp/cp.txt")
cat > "$tmp/server.properties" <<EOT
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$tmp/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOT
printf 'rootLogger.level=warn\nrootLogger.appenderRef.out.ref=out\nappender.out.type=Console\nappender.out.name=out\nappender.out.layout.type=PatternLayout\nappender.out.layout.pattern=%%m%%n\n' > "$tmp/log4j2.properties"
brokerjava=("$java" -Xms256m -Xmx512m -XX:+UseSerialGC -Dlog4j2.configurationFile="$tmp/log4j2.properties" -cp "$cp")
"${brokerjava[@]}" kafka.tools.StorageTool format -t "$("${brokerjava[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)" \
  -c "$tmp/server.properties" >"$tmp/format.log" 2>&1 || { cat "$tmp/format.log" >&2; exit 1; }
"${brokerjava[@]}" kafka.Kafka "$tmp/server.properties" >"$tmp/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 600); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
kcat -b "127.0.0.1:$port" -L >/dev/null 2>&1 || { cat "$tmp/broker.log" >&2; echo "the broker did not start" >&2; exit 1; }

# The spool: records as the daemon writes them with --host-fields (about 440 bytes each).
boot=$(cat /proc/sys/kernel/random/boot_id)
awk -v n="$records" -v boot="$boot" -v host="$(hostname)" -v mid="$(cat /etc/machine-id)" 'BEGIN {
  for (i = 1; i <= n; i++)
    printf "{\"schema_version\":1,\"type\":\"event\",\"ts_ms\":%d,\"mask\":10,\"events\":\"MODIFY,CLOSE_WRITE\",\"decision\":\"observe\",\"job_id\":null,\"path_role\":null,\"pid\":%d,\"comm\":\"workload\",\"exe\":\"/usr/local/bin/workload\",\"path\":\"/srv/data/dir%d/file%d.dat\",\"name\":null,\"is_dir\":false,\"seq\":%d,\"uid\":0,\"gid\":0,\"euid\":0,\"egid\":0,\"ppid\":1,\"cgroup\":\"/system.slice/work.service\",\"host\":\"%s\",\"machine_id\":\"%s\",\"boot_id\":\"%s\",\"event_id\":\"%s/1/%d\"}\n", 1796000000000 + i, 1000 + i % 500, i % 97, i, i, host, mid, boot, boot, i
}' > "$tmp/out.jsonl"
echo "spool: $records records, $(( $(stat -c %s "$tmp/out.jsonl") / records )) bytes each; compression $compression"

metric() { curl -s --max-time 2 "http://127.0.0.1:$mport/metrics" | awk -v k="fanotifyd_$1" '$1 == k { print $2 }'; }
rates=()
for r in $(seq "$rounds"); do
  rm -f "$tmp/state"
  start=$(date +%s%N)
  "$here/fanotifyd" --forward --output "$tmp/out.jsonl" --kafka-brokers "127.0.0.1:$port" --kafka-topic "t$r" \
    --forward-state "$tmp/state" --forward-metrics "127.0.0.1:$mport" \
    --kafka-property "compression.type=$compression" 2>"$tmp/fw.log" &
  fw_pid=$!
  peak=0
  while :; do
    acked=$(metric forward_records_acked_total || true)
    rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$fw_pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -le "$peak" ] || peak=$rss
    if [ -n "$acked" ] && [ "${acked%.*}" -ge "$records" ]; then break; fi
    kill -0 "$fw_pid" 2>/dev/null || { cat "$tmp/fw.log" >&2; echo "the forwarder exited" >&2; exit 1; }
    sleep 0.05
  done
  end=$(date +%s%N)
  ticks=$(awk '{ print $14 + $15 }' "/proc/$fw_pid/stat")
  kill "$fw_pid"; wait "$fw_pid" 2>/dev/null || true; fw_pid=
  ms=$(( (end - start) / 1000000 ))
  rate=$(( records * 1000 / ms ))
  hz=$(getconf CLK_TCK)
  cpu_us=$(awk -v t="$ticks" -v hz="$hz" -v n="$records" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
  rates+=("$rate")
  stored=$(du -sb "$tmp/data/t$r-0" | cut -f1)
  echo "round $r: $records records in $ms ms (from start-up): $rate records/s; forwarder CPU $(( ticks * 1000 / hz )) ms = ${cpu_us} us/record; peak RSS $(( peak / 1024 )) MiB; on the broker $(( stored / records )) bytes/record"
done
sorted=($(printf '%s\n' "${rates[@]}" | sort -n))
echo "records/s: median ${sorted[$(( ${#sorted[@]} / 2 ))]}, range ${sorted[0]}..${sorted[-1]} over $rounds rounds"

# Live: the bench workload under the daemon, the forwarder behind it.
workload=$here/../shared/bench/workload
if [ "$(id -u)" != 0 ] || [ ! -x "$workload" ]; then
  echo "live: skipped (needs root and $workload; build it with ../shared/bench/run.sh)"
  exit 0
fi
mnt=$tmp/mnt
mkdir -p "$mnt"
mount -t tmpfs -o size=512m forward-throughput "$mnt"
lags=()
for r in $(seq "$rounds"); do
  out=$tmp/live$r.jsonl
  rm -f "$tmp/state"
  "$here/fanotifyd" --foreground --filesystem "$mnt" --host-fields --output "$out" 2>"$tmp/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 600); do grep -qsE '^fanotify (ino|sdev|mnt_id):' /proc/"$daemon_pid"/fdinfo/* && break; sleep 0.05; done
  "$here/fanotifyd" --forward --output "$out" --kafka-brokers "127.0.0.1:$port" --kafka-topic "live$r" \
    --forward-state "$tmp/state" --forward-metrics "127.0.0.1:$mport" \
    --kafka-property "compression.type=$compression" 2>"$tmp/fw.log" &
  fw_pid=$!
  for _ in $(seq 600); do [ -n "$(metric forward_records_acked_total || true)" ] && break; sleep 0.05; done
  "$workload" -d "$mnt/w$r" -m setup >/dev/null
  wstart=$(date +%s%N)
  "$workload" -d "$mnt/w$r" -m mixed -n "$files" >/dev/null
  wend=$(date +%s%N)
  # The daemon's last record: its stop writes out everything read.
  kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=
  written=$(wc -l < "$out")
  while :; do
    acked=$(metric forward_records_acked_total || true)
    if [ -n "$acked" ] && [ "${acked%.*}" -ge "$written" ]; then break; fi
    kill -0 "$fw_pid" 2>/dev/null || { cat "$tmp/fw.log" >&2; echo "the forwarder exited" >&2; exit 1; }
    sleep 0.01
  done
  done_ns=$(date +%s%N)
  last_write_ns=$(date -r "$out" +%s%N)
  kill "$fw_pid"; wait "$fw_pid" 2>/dev/null || true; fw_pid=
  lag=$(( (done_ns - last_write_ns) / 1000000 ))
  onbroker=$(( $(du -sb "$tmp/data/live$r-0" | cut -f1) / written ))
  inspool=$(( $(stat -c %s "$out") / written ))
  lags+=("$lag")
  echo "live round $r: workload $(( (wend - wstart) / 1000000 )) ms, $written records ($(( written * 1000000000 / (last_write_ns - wstart) )) records/s written); the broker had the last one $lag ms after the daemon wrote it; $inspool bytes/record in the output, $onbroker on the broker"
done
sorted=($(printf '%s\n' "${lags[@]}" | sort -n))
echo "live lag behind the daemon, ms: median ${sorted[$(( ${#sorted[@]} / 2 ))]}, range ${sorted[0]}..${sorted[-1]} over $rounds rounds"
