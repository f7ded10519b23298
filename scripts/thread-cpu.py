#!/usr/bin/env python3
"""Per-thread CPU of fanotifyd over one workload run (see scripts/thread-cpu.sh, which builds the workload)."""
import argparse, os, statistics, subprocess, sys, tempfile, time

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def threads(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            ns = int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
            f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            out[tid] = (name, ns, int(f[11]), int(f[12]))
        except OSError:
            pass  # a thread that ended meanwhile
    return out


def marks(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            n += sum(1 for line in open(f"/proc/{pid}/fdinfo/{fd}") if line.startswith("fanotify sdev"))
        except OSError:
            pass
    return n


def one(launcher, workload, files, idle):
    base = tempfile.mkdtemp(prefix="fanotifyd-thread-cpu.")
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", mnt], check=True)
    p = None
    try:
        out = os.path.join(base, "out.jsonl")
        subprocess.run([workload, "-d", mnt, "-m", "setup"], check=True, capture_output=True)
        p = subprocess.Popen([launcher, "--foreground", "--filesystem", mnt, "--output", out],
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while marks(p.pid) < 1:
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError(f"{launcher}: no mark within 20 s")
            time.sleep(0.002)
        if not idle:
            time.sleep(1.0)
        before = threads(p.pid)
        if idle:
            time.sleep(2.0)
        else:
            subprocess.run([workload, "-d", mnt, "-m", "mixed", "-n", str(files)], check=True,
                           capture_output=True, timeout=300)
            time.sleep(1.0)
        after = threads(p.pid)
        p.terminate()
        p.wait(20)
        records = sum(1 for _ in open(out)) if os.path.exists(out) else 0
        per = {}
        for tid, (name, ns, ut, st) in after.items():
            b = before.get(tid, (name, 0, 0, 0))
            key = "fanotifyd-*" if name.startswith("fanotifyd-") and name not in (
                "fanotifyd-event", "fanotifyd-read", "fanotifyd-outpu", "fanotifyd-perm") else name
            a = per.setdefault(key, [0, 0, 0])
            a[0] += ns - b[1]
            a[1] += (ut - b[2]) * TICK_MS
            a[2] += (st - b[3]) * TICK_MS
        return per, records
    finally:
        if p is not None and p.poll() is None:
            p.kill()  # our own daemon, by its pid
            p.wait(20)
        subprocess.run(["umount", mnt])
        subprocess.run(["rm", "-rf", "--one-file-system", base])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True)
    ap.add_argument("--default-launcher", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=30000)
    ap.add_argument("--idle", action="store_true")
    ap.add_argument("launchers", nargs="*")
    a = ap.parse_args()
    launchers = a.launchers or [a.default_launcher]
    results = {l: [] for l in launchers}
    for r in range(a.rounds):
        for l in launchers:
            per, records = one(l, a.workload, a.files, a.idle)
            results[l].append((per, records))
            total = sum(v[0] for v in per.values()) / 1e6
            print(f"round {r + 1} {l}: {total:.1f} ms CPU, {records} records"
                  + ("" if a.idle else f", {total * 1e3 / max(records, 1):.2f} us/record"), file=sys.stderr)
    for l in launchers:
        runs = results[l]
        print(f"{l}: {a.rounds} rounds, " + ("2 s idle after the mark" if a.idle else
              f"{a.files} lifecycles, median {statistics.median(r[1] for r in runs):.0f} records"))
        names = sorted({n for per, _ in runs for n in per},
                       key=lambda n: -statistics.median(per.get(n, [0])[0] for per, _ in runs))
        for n in names:
            ms = [per.get(n, [0, 0, 0])[0] / 1e6 for per, _ in runs]
            if statistics.median(ms) < 0.5:
                continue
            ut = statistics.median(per.get(n, [0, 0, 0])[1] for per, _ in runs)
            st = statistics.median(per.get(n, [0, 0, 0])[2] for per, _ in runs)
            print(f"  {n:24s} median {statistics.median(ms):7.1f} ms (range {min(ms):.1f}-{max(ms):.1f});"
                  f" user {ut:.0f} ms, system {st:.0f} ms")
        totals = [sum(v[0] for v in per.values()) / 1e6 for per, _ in runs]
        line = f"  total                    median {statistics.median(totals):7.1f} ms (range {min(totals):.1f}-{max(totals):.1f})"
        if not a.idle:
            per_rec = [t * 1e3 / max(rec, 1) for t, (_, rec) in zip(totals, runs)]
            line += f"; {statistics.median(per_rec):.2f} us per record (range {min(per_rec):.2f}-{max(per_rec):.2f})"
        print(line)


if __name__ == "__main__":
    main()
