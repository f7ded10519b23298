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
    private static final byte[] COMM = "comm".getBytes(StandardCharsets.US_ASCII);
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
    private long refreshes;
    private long unknown;

    public ProcessCache(int maxEntries, long graceMs, Arena arena) {
        this.capacity = Integer.highestOneBit(Math.max(16, maxEntries * 2 - 1)) << 1;
        this.maxEntries = maxEntries;
        this.graceMs = graceMs;
        this.pids = new int[capacity];
        this.entries = new ProcessInfo[capacity];
        this.path = arena.allocate(64);
        this.buf = arena.allocate(MAX_EXE + 1);
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
        ProcessInfo e = entry(pid);
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

    private boolean refresh(ProcessInfo e, int pid, int pidfd) {
        refreshes++;
        ProcPaths.pidFile(path, pid, COMM);
        int fd = Libc.openat(Fanotify.AT_FDCWD, path, Fanotify.O_RDONLY | Fanotify.O_CLOEXEC, 0);
        if (fd < 0) {
            return false;
        }
        long n = Libc.read(fd, buf, 64);
        Libc.close(fd);
        if (n <= 0) {
            return false;
        }
        int commLen = (int) n;
        if (buf.get(JAVA_BYTE, commLen - 1) == '\n') {
            commLen--;
        }
        int exeLen;
        ProcPaths.pidFile(path, pid, EXE);
        long x = Libc.readlink(path, buf.asSlice(64), MAX_EXE);
        exeLen = x < 0 ? -1 : (int) x;
        if (pidfd >= 0 && Libc.pidfdSendSignal(pidfd, 0) != 0) {
            return false; // reaped meanwhile: /proc/PID may already have been someone else
        }
        MemorySegment.copy(buf, JAVA_BYTE, 0, e.comm, 0, commLen);
        e.commLength = commLen;
        if (exeLen >= 0) {
            if (e.exe.length < exeLen) {
                e.exe = new byte[Math.max(exeLen, e.exe.length * 2)];
            }
            MemorySegment.copy(buf, JAVA_BYTE, 64, e.exe, 0, exeLen);
        }
        e.exeLength = exeLen;
        return true;
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
