package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

/**
 * {@code comm} and {@code exe} per pid, read from {@code /proc} at most once per read batch and kept safe
 * against pid reuse with the pidfd the kernel reports ({@code FAN_REPORT_PIDFD}).
 *
 * <p>Rules, in the order an event is handled:
 * <ul>
 *   <li>The event came with a pidfd (the process still existed when the event was read): the entry is read
 *       from {@code /proc/PID} unless it was already read in this batch, and then kept only if the pidfd still
 *       names a process that has not been reaped ({@code pidfd_send_signal(pidfd, 0)}): while it is not
 *       reaped its pid cannot have been reused, so what {@code /proc/PID} showed was that process.</li>
 *   <li>The process was already gone ({@code FAN_NOPIDFD}): the entry is used if it was verified within
 *       {@code graceMs}; a pid cannot be recycled that fast without wrapping the whole pid space.</li>
 *   <li>No pidfd reporting at all: the entry is read once per batch, without the reuse check.</li>
 * </ul>
 * So {@code comm} and {@code exe} are as of read time, like FD-mode paths: an event from before an
 * {@code execve} that is read after it shows the new program.
 */
public final class ProcessCache {
    private static final byte[] STAT = "stat".getBytes(StandardCharsets.US_ASCII);
    private static final int STAT_MAX = 1024;
    private static final byte[] EXE = "exe".getBytes(StandardCharsets.US_ASCII);
    private static final int MAX_EXE = 4096;
    private static final int NO_PIDFD_INFO = Integer.MIN_VALUE;

    private final int capacity;
    private final int maxEntries;
    private final long graceMs;
    private final int[] pids;
    private final ProcessInfo[] entries;
    private int size;
    private final MemorySegment path;
    private final MemorySegment buf;
    private final MemorySegment exeBuf;
    private long refreshes;
    private long unknown;

    public ProcessCache(int maxEntries, long graceMs, Arena arena) {
        this.capacity = Integer.highestOneBit(Math.max(16, maxEntries * 2 - 1)) << 1;
        this.maxEntries = maxEntries;
        this.graceMs = graceMs;
        this.pids = new int[capacity];
        this.entries = new ProcessInfo[capacity];
        this.path = arena.allocate(64);
        this.buf = arena.allocate(STAT_MAX);
        this.exeBuf = arena.allocate(MAX_EXE + 1);
    }

    /** Marker for {@link #lookup}'s pidfd argument when the group does not report pidfds. */
    public static int noPidfdInfo() {
        return NO_PIDFD_INFO;
    }

    /**
     * @param pidfd the event's pidfd, {@code FAN_NOPIDFD}/{@code FAN_EPIDFD}, or {@link #noPidfdInfo()}
     * @return what is known of the process, or null
     */
    public ProcessInfo lookup(int pid, int pidfd, long batch, long nowMs) {
        return lookup(pid, pidfd, batch, nowMs, -1);
    }

    /**
     * As {@link #lookup(int, int, long, long)}, but an entry verified within the last {@code maxAgeMs} is used
     * without reading {@code /proc} again, whatever the batch: for permission events, where every event is a
     * batch of its own and the opener waits for the answer.
     */
    public ProcessInfo lookup(int pid, int pidfd, long batch, long nowMs, long maxAgeMs) {
        ProcessInfo e = entry(pid);
        if (maxAgeMs >= 0 && e.commLength >= 0 && e.verifiedBatch >= 0 && nowMs - e.verifiedMs <= maxAgeMs) {
            return e;
        }
        boolean alive = pidfd >= 0 || pidfd == NO_PIDFD_INFO;
        if (alive) {
            if (e.verifiedBatch == batch && e.commLength >= 0) {
                return e;
            }
            if (refresh(e, pid, pidfd)) {
                e.verifiedBatch = batch;
                e.verifiedMs = nowMs;
                return e;
            }
        }
        if (e.commLength >= 0 && nowMs - e.verifiedMs <= graceMs) {
            return e;
        }
        unknown++;
        return null;
    }

    /**
     * Reads {@code /proc/PID/stat} (comm, process group and start time in one read) and {@code /proc/PID/exe}.
     * Zero allocation: parsed straight from the native buffer.
     */
    private boolean refresh(ProcessInfo e, int pid, int pidfd) {
        refreshes++;
        ProcPaths.pidFile(path, pid, STAT);
        int fd = Libc.openat(Fanotify.AT_FDCWD, path, Fanotify.O_RDONLY | Fanotify.O_CLOEXEC, 0);
        if (fd < 0) {
            return false;
        }
        long n = Libc.read(fd, buf, STAT_MAX);
        Libc.close(fd);
        if (n <= 0) {
            return false;
        }
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so it ends at the LAST ')'.
        int open = -1;
        int close = -1;
        for (int i = 0; i < n; i++) {
            byte b = buf.get(JAVA_BYTE, i);
            if (b == '(' && open < 0) {
                open = i;
            } else if (b == ')') {
                close = i;
            }
        }
        if (open < 0 || close < open) {
            return false;
        }
        int commLen = Math.min(close - open - 1, e.comm.length);
        long ppid = field(close, (int) n, 4);
        long pgrp = field(close, (int) n, 5);
        long start = field(close, (int) n, 22);
        ProcPaths.pidFile(path, pid, EXE);
        long x = Libc.readlink(path, exeBuf, MAX_EXE);
        int exeLen = x < 0 ? -1 : (int) x;
        // Reaped meanwhile (ESRCH): /proc/PID may already have been someone else. EPERM (no CAP_KILL over
        // another user's process) still proves the process exists, so its /proc data was its own.
        if (pidfd >= 0 && Libc.pidfdSendSignal(pidfd, 0) != 0 && Libc.errno() != io.fanotifyd.kernel.Errno.EPERM) {
            return false;
        }
        MemorySegment.copy(buf, JAVA_BYTE, open + 1, e.comm, 0, commLen);
        e.commLength = commLen;
        e.processGroup = (int) pgrp;
        e.parentPid = (int) ppid;
        e.startTime = start;
        if (exeLen >= 0) {
            if (e.exe.length < exeLen) {
                e.exe = new byte[Math.max(exeLen, e.exe.length * 2)];
            }
            MemorySegment.copy(exeBuf, JAVA_BYTE, 0, e.exe, 0, exeLen);
        }
        e.exeLength = exeLen;
        return true;
    }

    /** Numeric field {@code index} (1-based, as in proc(5)) of a stat line whose comm ends at {@code close}. */
    private long field(int close, int n, int index) {
        int field = 2; // the ')' ends field 2
        long value = -1;
        for (int i = close + 1; i < n; i++) {
            byte b = buf.get(JAVA_BYTE, i);
            if (b == ' ' || b == '\n') {
                if (field == index) {
                    return value;
                }
                field++;
                value = 0;
            } else if (field == index) {
                if (b < '0' || b > '9') {
                    return -1;
                }
                value = value * 10 + (b - '0');
            }
        }
        return field == index ? value : -1;
    }

    private ProcessInfo entry(int pid) {
        int slot = slot(pid);
        ProcessInfo e = entries[slot];
        if (e != null) {
            return e;
        }
        if (size >= maxEntries) {
            java.util.Arrays.fill(entries, null);
            size = 0;
            slot = slot(pid);
        }
        e = new ProcessInfo();
        e.pid = pid;
        pids[slot] = pid;
        entries[slot] = e;
        size++;
        return e;
    }

    private int slot(int pid) {
        int h = pid * 0x9E3779B9;
        for (int i = 0; ; i++) {
            int s = (h + i) & (capacity - 1);
            if (entries[s] == null || pids[s] == pid) {
                return s;
            }
        }
    }

    public long refreshes() {
        return refreshes;
    }

    public long unknown() {
        return unknown;
    }

    public int size() {
        return size;
    }
}
