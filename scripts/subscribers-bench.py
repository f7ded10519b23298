#!/usr/bin/env python3
"""Output throughput with K live socket subscribers vs none, on the shared bench's workload.

Each round, for K in (0, 2): a private tmpfs, `fanotifyd --foreground --mount MNT --output OUT --socket S`,
K subscribers reading the socket as fast as they can, then `workload -m mixed -n N`; measured: the workload's
time, and the time until the output has stopped growing (all records written), hence records per second of
output. Rounds alternate K to share the VM's drift. Root only; cleans up its mounts and processes.

    sudo scripts/subscribers-bench.py [--rounds 5] [--files 40000]
"""
import argparse, glob, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def workload_binary():
    built = os.path.join(HERE, "build", "bench", "workload")
    if os.path.exists(built):
        return built
    os.makedirs(os.path.join(HERE, "build"), exist_ok=True)
    out = os.path.join(HERE, "build", "workload")
    subprocess.run(["gcc", "-O2", "-o", out, os.path.join(HERE, "..", "shared", "bench", "workload.c")], check=True)
    return out


def marks(pid):
    n = 0
    for f in glob.glob(f"/proc/{pid}/fdinfo/*"):
        try:
            n += sum(1 for l in open(f) if l.startswith(("fanotify mnt_id", "fanotify sdev", "fanotify ino")))
        except OSError:
            pass
    return n


def subscriber(path, counter, stop):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    while not stop.is_set():
        b = s.recv(1 << 20)
        if not b:
            break
        counter[0] += b.count(b"\n")
    s.close()


def one_run(wl, k, files, base):
    mnt = os.path.join(base, "mnt")
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "fanotifyd-subbench", mnt], check=True)
    out, sock = os.path.join(base, "out.jsonl"), os.path.join(base, "s.sock")
    d = None
    threads, stop = [], threading.Event()
    try:
        subprocess.run([wl, "-m", "setup", "-d", mnt + "/w", "-s", "16"], check=True, stdout=subprocess.DEVNULL)
        d = subprocess.Popen([os.path.join(HERE, "fanotifyd"), "--foreground", "--mount", mnt, "--output", out,
                              "--socket", sock], stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while marks(d.pid) < 1:
            if time.time() > deadline or d.poll() is not None:
                raise RuntimeError("fanotifyd did not start")
            time.sleep(0.01)
        counters = [[0] for _ in range(k)]
        for c in counters:
            t = threading.Thread(target=subscriber, args=(sock, c, stop), daemon=True)
            t.start()
            threads.append(t)
        time.sleep(0.3)
        t0 = time.monotonic()
        r = subprocess.run([wl, "-m", "mixed", "-d", mnt + "/w", "-n", str(files), "-s", "16", "-b", "64",
                            "-w", "100"], check=True, capture_output=True, text=True)
        elapsed = json.loads(r.stdout)["elapsed_s"]
        last, stable_since = -1, None
        while True:  # written out = the file stops growing for 200 ms
            size = os.path.getsize(out)
            now = time.monotonic()
            if size != last:
                last, stable_since = size, now
            elif now - stable_since > 0.2:
                break
            time.sleep(0.01)
        done = stable_since - t0
        records = sum(1 for _ in open(out, "rb"))
        return dict(k=k, workload_s=elapsed, written_s=done, records=records, per_s=records / done,
                    subscriber_lines=[c[0] for c in counters])
    finally:
        stop.set()
        if d is not None and d.poll() is None:
            d.send_signal(signal.SIGTERM)
            try:
                d.wait(20)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
        subprocess.run(["umount", mnt], check=False)
        for f in (out, sock):
            if os.path.exists(f):
                os.unlink(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=40000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("subscribers-bench: needs root")
    wl = workload_binary()
    base = tempfile.mkdtemp(prefix="fanotifyd-subbench.")
    results = {0: [], 2: []}
    try:
        for r in range(a.rounds):
            for k in ((0, 2) if r % 2 == 0 else (2, 0)):
                res = one_run(wl, k, a.files, base)
                results[k].append(res)
                print(json.dumps(res), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for k in (0, 2):
        rs = results[k]
        print(f"subscribers={k}: output {statistics.median(x['per_s'] for x in rs):,.0f} records/s "
              f"(min {min(x['per_s'] for x in rs):,.0f}, max {max(x['per_s'] for x in rs):,.0f}), "
              f"workload {statistics.median(x['workload_s'] for x in rs) * 1000:.0f} ms, "
              f"records {statistics.median(x['records'] for x in rs):,.0f}, "
              f"subscriber lines {[x['subscriber_lines'] for x in rs][0]}")


if __name__ == "__main__":
    main()
