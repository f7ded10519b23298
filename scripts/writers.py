#!/usr/bin/env python3
"""K parallel writers against each reader: what a reader's pace costs every producer.

Run through scripts/writers.sh (it builds the shared bench's C tools and enters a private mount namespace).
For each round, each K and each reader (in rotating order), on a fresh tmpfs (or a fresh loop ext4) with one
filesystem mark and an unlimited queue:

  none            no reader: the baseline each slowdown is against (same round, same K)
  rawfan-drain    rawfan -m fid: reads and counts, resolves nothing (the drain-only reader)
  rawfan-fid-path rawfan -m fid-path: resolves each path inline and writes a JSON line (the C limit of
                  a reader that does what fanotifyd does)
  fanotifyd       this checkout's ./fanotifyd --foreground --filesystem MNT
  fanotifyd-b     another build (--fanotifyd-b LAUNCHER), for an A/B comparison in the same run

K copies of `workload -m mixed -n FILES` run at once, each in a directory of its own. Reported per K and
reader, as medians with the range over the rounds: the writers' slowdown (the mean of the K writers' timed
loops against the no-reader runs of the same round), the catch-up lag (from the last writer's exit until the
reader's queue is empty and it has written its last record and gone quiet; polled every 2 ms), the reader's CPU
per event, and overflows (events lost). Nothing here depends on the machine's size: run unchanged with
--k 1,2,4,8,16 on a bigger one.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIONREAD = 0x541B


def log(msg):
    print(f"writers: {msg}", file=sys.stderr, flush=True)


def cpu_ns(pid):
    """CPU time of all of pid's threads in ns (schedstat: exact, where /proc/PID/stat counts 10 ms ticks)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    return total


def fanotify_fds(pid):
    out = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[fanotify]":
                    out.append(int(fd))
            except OSError:
                pass
    except OSError:
        pass
    return out


def marks(pid):
    n = 0
    for fd in fanotify_fds(pid):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                n += sum(1 for line in f if line.startswith(("fanotify sdev:", "fanotify mnt_id:", "fanotify ino:")))
        except OSError:
            pass
    return n


def queued(pid):
    """Bytes queued on pid's fanotify groups (pidfd_getfd + FIONREAD); None if it cannot be told."""
    import array
    import ctypes
    import fcntl
    libc = ctypes.CDLL(None, use_errno=True)
    total = 0
    try:
        pfd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        for fd in fanotify_fds(pid):
            nfd = libc.syscall(438, pfd, fd, 0)  # pidfd_getfd
            if nfd < 0:
                return None
            try:
                buf = array.array("i", [0])
                fcntl.ioctl(nfd, FIONREAD, buf, True)
                total += buf[0]
            finally:
                os.close(nfd)
    finally:
        os.close(pfd)
    return total


class Reader:
    def __init__(self, name, cmd, out):
        self.name, self.cmd, self.out = name, cmd, out
        self.p = None

    def start(self, timeout=30):
        if not self.cmd:
            return
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self.err,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + timeout
        while marks(self.p.pid) < 1:
            if self.p.poll() is not None or time.monotonic() > deadline:
                self.err.seek(0)
                raise RuntimeError(f"{self.name} did not place its mark: {self.err.read().decode()[-500:]}")
            time.sleep(0.005)
        if self.name.startswith("fanotifyd"):
            # ready = marks in place; wait for the start-up's own CPU burst to end, so lag and CPU are the
            # workload's
            time.sleep(0.3)
        self.cpu0 = cpu_ns(self.p.pid)

    def size(self):
        try:
            return os.path.getsize(self.out) if self.out else 0
        except OSError:
            return 0

    def wait_drained(self, timeout=120):
        """Seconds from now until the reader had caught up: its queue empty and its output no longer growing
        from that poll on, and under 1 ms of CPU over the 20 ms after it (polled every 2 ms)."""
        if not self.p:
            return 0.0
        t0 = time.monotonic()
        since = None  # (time, cpu, size) of the first poll of the current quiet stretch
        while time.monotonic() - t0 < timeout:
            now, q, size, cpu = time.monotonic(), queued(self.p.pid), self.size(), cpu_ns(self.p.pid)
            if q != 0 or (since is not None and size != since[2]):
                since = None
            elif since is None:
                since = (now, cpu, size)
            elif now - since[0] >= 0.020:
                if cpu - since[1] < 1_000_000:
                    return since[0] - t0
                since = (now, cpu, size)  # still busy: not caught up yet
            time.sleep(0.002)
        raise RuntimeError(f"{self.name} did not drain within {timeout}s")

    def stop(self):
        if not self.p:
            return {}
        cpu = cpu_ns(self.p.pid) - self.cpu0
        self.p.send_signal(signal.SIGTERM if self.name.startswith("fanotifyd") else signal.SIGINT)
        try:
            stdout, _ = self.p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            stdout, _ = self.p.communicate()
        summary = {}
        for line in stdout.decode().splitlines():
            if line.startswith("{"):
                summary = json.loads(line)
        return {"cpu_ns": cpu, "summary": summary}


def mount_fs(fs, base):
    mnt = os.path.join(base, "mnt")
    os.makedirs(mnt, exist_ok=True)
    if fs == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g,mode=755", "tmpfs", mnt], check=True)
    else:
        img = os.path.join(base, "ext4.img")
        subprocess.run(["truncate", "-s", "1G", img], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
        subprocess.run(["mount", "-o", "loop", img, mnt], check=True)
    return mnt


def umount_fs(fs, base, mnt):
    if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    if fs != "tmpfs":
        try:
            os.unlink(os.path.join(base, "ext4.img"))
        except OSError:
            pass


def count_fanotifyd(out):
    records = overflows = 0
    with open(out, "rb") as f:
        for line in f:
            records += 1
            if b'"type":"overflow"' in line:
                overflows += 1
    return records, overflows


def one_run(a, bench, k, reader_name, base):
    mnt = mount_fs(a.fs, base)
    out = os.path.join(base, "out.jsonl")
    if os.path.exists(out):
        os.unlink(out)
    try:
        cmds = {
            "none": None,
            "rawfan-drain": [f"{bench}/rawfan", "-m", "fid", "-u", "-M", "fs", "-p", mnt],
            "rawfan-fid-path": [f"{bench}/rawfan", "-m", "fid-path", "-u", "-M", "fs", "-p", mnt, "-o", out],
            "fanotifyd": [a.fanotifyd, "--foreground", "--filesystem", mnt, "--output", out],
            "fanotifyd-b": [a.fanotifyd_b, "--foreground", "--filesystem", mnt, "--output", out],
        }
        dirs = []
        for i in range(k):
            d = os.path.join(mnt, f"w{i}")
            os.makedirs(d)
            # the workload's directories, made before the reader starts: only the timed loops are measured
            subprocess.run([f"{bench}/workload", "-d", d, "-m", "setup"], check=True, capture_output=True)
            dirs.append(d)
        r = Reader(reader_name, cmds[reader_name], out if reader_name != "none" and reader_name != "rawfan-drain"
                   else None)
        r.start()
        try:
            writers = []
            for d in dirs:
                writers.append(subprocess.Popen([f"{bench}/workload", "-d", d, "-m", "mixed", "-n", str(a.files)],
                                                stdout=subprocess.PIPE))
            results = []
            for w in writers:
                stdout, _ = w.communicate(timeout=600)
                if w.returncode != 0:
                    raise RuntimeError(f"workload exited {w.returncode}")
                results.append(json.loads(stdout.decode().strip().splitlines()[-1]))
            lag = r.wait_drained()
            stats = r.stop()
        except BaseException:
            if r.p and r.p.poll() is None:
                r.p.kill()
                r.p.wait()
            raise
        res = {"k": k, "reader": reader_name, "elapsed_s": statistics.mean(x["elapsed_s"] for x in results),
               "lag_s": lag, "cpu_ns": stats.get("cpu_ns", 0)}
        s = stats.get("summary", {})
        if reader_name.startswith("fanotifyd"):
            res["events"], res["overflows"] = count_fanotifyd(out)
        elif s:
            res["events"], res["overflows"] = s.get("events", 0), s.get("overflows", s.get("overflow", 0))
        return res
    finally:
        umount_fs(a.fs, base, mnt)


def median_range(xs, fmt):
    xs = sorted(xs)
    return f"{fmt(statistics.median(xs))} ({fmt(xs[0])}–{fmt(xs[-1])})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", default="1,2", help="writer counts (default 1,2)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=40000, help="lifecycles per writer (default 40000)")
    ap.add_argument("--fs", default="tmpfs", choices=["tmpfs", "ext4"])
    ap.add_argument("--fanotifyd", default=os.path.join(HERE, "..", "fanotifyd"))
    ap.add_argument("--bench", required=True, help="the built shared bench directory")
    ap.add_argument("--fanotifyd-b", help="another build's launcher, run as the reader fanotifyd-b (A/B)")
    ap.add_argument("--readers", default="none,rawfan-drain,rawfan-fid-path,fanotifyd",
                    help="comma list (default none,rawfan-drain,rawfan-fid-path,fanotifyd; add fanotifyd-b with"
                         " --fanotifyd-b)")
    a = ap.parse_args()
    ks = [int(x) for x in a.k.split(",")]
    readers = a.readers.split(",")
    base = tempfile.mkdtemp(prefix="fanotifyd-writers.")
    runs = []
    try:
        for rnd in range(a.rounds):
            for k in ks:
                order = readers[rnd % len(readers):] + readers[:rnd % len(readers)]
                for name in order:
                    res = one_run(a, a.bench, k, name, base)
                    res["round"] = rnd
                    runs.append(res)
                    log(f"round {rnd + 1} K={k} {name}: writer {res['elapsed_s']:.3f} s, lag "
                        f"{res['lag_s'] * 1000:.0f} ms, events {res.get('events', '-')}, overflows "
                        f"{res.get('overflows', '-')}")
    finally:
        # Everything under our own directory, output files of an interrupted run too; never across a mount
        # that is still there (one_run unmounts its own, but a killed run may not have).
        subprocess.run(["rm", "-rf", "--one-file-system", base])
    print(f"\n{a.fs}, {a.files} lifecycles per writer, {a.rounds} rounds; medians (range)\n")
    print("| K | reader | slowdown | catch-up lag ms | CPU µs per event | overflows |")
    print("|---|---|---|---|---|---|")
    for k in ks:
        base_t = {r["round"]: r["elapsed_s"] for r in runs if r["k"] == k and r["reader"] == "none"}
        for name in readers:
            rs = [r for r in runs if r["k"] == k and r["reader"] == name]
            slow = [r["elapsed_s"] / base_t[r["round"]] for r in rs]
            lag = [r["lag_s"] * 1000 for r in rs]
            cpu = [r["cpu_ns"] / 1000 / r["events"] for r in rs if r.get("events")]
            ovf = sum(r.get("overflows", 0) or 0 for r in rs)
            print(f"| {k} | {name} | {median_range(slow, lambda x: f'{x:.2f}')} | "
                  f"{median_range(lag, lambda x: f'{x:.0f}') if name != 'none' else '-'} | "
                  f"{median_range(cpu, lambda x: f'{x:.2f}') if cpu else '-'} | "
                  f"{ovf if name != 'none' else '-'} |")
    with open(os.path.join(HERE, "..", "build", "writers.json"), "w") as f:
        json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
