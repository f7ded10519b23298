package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.Taskstats;

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
 *
 * <p>With the kernel's exit records ({@link Taskstats}, {@link ExitRecords}) a process already gone is named
 * too: an event whose pidfd says the process was reaped, or whose process is reaped while it is read, takes
 * the one exit record that can be its process's ({@link ExitRecords#lookupGone}); a zombie's program comes
 * from its own record. Without them (no {@code CAP_NET_ADMIN}, another pid namespace, no taskstats in the
 * kernel), the rules above are all there is.
 *
 * <p>User and group ids, the parent and the cgroup id come from the pidfd ({@code PIDFD_GET_INFO}, exact for
 * the process the pidfd names, alive or zombie), else from {@code /proc/PID/status}; the cgroup's path from
 * {@code /proc/PID/cgroup}, once per cgroup ({@link CgroupNames}).
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
    private final MemorySegment statusBuf;
    private long refreshes;
    private long unknown;
    private long fromExits;
    private final Taskstats taskstats;
    private final ExitRecords exits;
    private final ExeIndex exes;
    private final CgroupNames cgroups;
    private final MemorySegment pidInfo;
    private final byte[] commScratch = new byte[32];
    /** Boot time in wall-clock seconds ({@code /proc/stat} btime): to compare start times with exit records. */
    private final long bootSeconds;
    private boolean pidfdInfoWorks = true;
    /** The batch for which the exit-record socket was last drained. */
    private long drainedBatch = -1;

    public ProcessCache(int maxEntries, long graceMs, Arena arena) {
        this(maxEntries, graceMs, arena, null, null);
    }

    /**
     * @param taskstats the exit-record socket, drained when a gone process must be named; null without one
     * @param exits     where its records go; null without exit records (with a null socket: records that
     *                  someone else feeds)
     */
    public ProcessCache(int maxEntries, long graceMs, Arena arena, Taskstats taskstats, ExitRecords exits) {
        this.taskstats = taskstats;
        this.exits = exits;
        this.exes = exits == null ? null : new ExeIndex(4096, System.getenv().getOrDefault("PATH", ""), arena);
        this.cgroups = new CgroupNames(1024, arena);
        this.pidInfo = arena.allocate(PIDFD_INFO_SIZE, 8);
        this.bootSeconds = exits == null ? 0 : bootSeconds();
        this.capacity = Integer.highestOneBit(Math.max(16, maxEntries * 2 - 1)) << 1;
        this.maxEntries = maxEntries;
        this.graceMs = graceMs;
        this.pids = new int[capacity];
        this.entries = new ProcessInfo[capacity];
        this.path = arena.allocate(64);
        this.buf = arena.allocate(STAT_MAX);
        this.exeBuf = arena.allocate(MAX_EXE + 1);
        this.statusBuf = arena.allocate(STATUS_MAX);
    }

    private static final int PIDFD_INFO_SIZE = 64;
    private static final long PIDFD_INFO_MASK = 0x7; // PID, CREDS, CGROUPID
    private static final int USER_HZ = 100; // /proc's clock ticks, on every architecture

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
        // A process found reaped once in this batch is not read again for its other events of the batch: it
        // stays reaped, and its pid is not used again within one batch (that would take a wrap of the pid
        // space). After a workload exits, the reader's backlog is all such events: each paid a failed open.
        if (alive && e.goneBatch != batch) {
            if (e.verifiedBatch == batch && e.commLength >= 0) {
                return e;
            }
            if (refresh(e, pid, pidfd)) {
                e.verifiedBatch = batch;
                e.verifiedMs = nowMs;
                e.exitBatch = -1;
                return e;
            }
            e.goneBatch = batch;
        }
        if (exits != null && pidfd != Fanotify.FAN_EPIDFD) {
            if (e.exitBatch == batch && e.commLength >= 0) {
                fromExits++;
                return e; // every event of this batch was read at one moment: one answer for the pid serves all
            }
            // Gone before the read (FAN_NOPIDFD) or during it: its exit record is queued by now. One drain per
            // batch takes every record queued before the batch was read, which is all its FAN_NOPIDFD events
            // can need; a process that was alive at the read (a pidfd) and is gone now may have exited after
            // that drain, so for it the socket is read again.
            if (drainedBatch != batch || pidfd >= 0) {
                drain();
                drainedBatch = batch;
            }
            int slot = exits.lookupGone(pid);
            if (slot >= 0) {
                fromExit(e, slot, nowMs);
                e.exitBatch = batch;
                fromExits++;
                return e;
            }
            if (slot == ExitRecords.UNSURE) {
                unknown++; // the pid was used again, or records were lost: no name rather than a wrong one
                return null;
            }
        }
        if (e.commLength >= 0 && !e.fromExitRecord && nowMs - e.verifiedMs <= graceMs) {
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
        long n = ProcPaths.read(path, pid, STAT, buf, STAT_MAX);
        if (n <= 0) {
            return false; // nothing of the entry written: what was encoded of it stays valid
        }
        e.stamp++; // written in part from here on, even when the read is then not believed
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
        byte state = close + 2 < n ? buf.get(JAVA_BYTE, close + 2) : 0;
        long ppid = field(close, (int) n, 4);
        long pgrp = field(close, (int) n, 5);
        long start = field(close, (int) n, 22);
        ProcPaths.pidFile(path, pid, EXE);
        long x = Libc.readlink(path, exeBuf, MAX_EXE);
        int exeLen = x < 0 ? -1 : (int) x;
        boolean unreaped = ids(e, pid, pidfd);
        // Reaped meanwhile (ESRCH): /proc/PID may already have been someone else. PIDFD_GET_INFO on the event's
        // pidfd, made after the reads, already proved the opposite (it fails with ESRCH once the process is
        // reaped); else one more call asks. EPERM (no CAP_KILL over another user's process) still proves the
        // process exists, so its /proc data was its own.
        if (pidfd >= 0 && !unreaped && Libc.pidfdSendSignal(pidfd, 0) != 0
                && Libc.errno() != io.fanotifyd.kernel.Errno.EPERM) {
            return false;
        }
        MemorySegment.copy(buf, JAVA_BYTE, open + 1, e.comm, 0, commLen);
        e.commLength = commLen;
        e.processGroup = (int) pgrp;
        e.parentPid = (int) ppid;
        e.startTime = start;
        e.fromExitRecord = false;
        if (exeLen >= 0) {
            if (e.exe.length < exeLen) {
                e.exe = new byte[Math.max(exeLen, e.exe.length * 2)];
            }
            MemorySegment.copy(exeBuf, JAVA_BYTE, 0, e.exe, 0, exeLen);
            if (exes != null) {
                exes.learn(pid, e.exe, exeLen);
            }
        } else if (exits != null) {
            exeLen = exitingExe(e, pid, start);
        }
        e.exeLength = exeLen;
        return true;
    }

    /**
     * A process that is exiting (its memory already released) or a zombie has no {@code /proc/PID/exe}; its exit
     * record, sent before the memory goes, names the program. It holds its pid until it is reaped, so no later
     * process can have sent a record under it: the newest record of the pid is its own, which the start time
     * confirms (exit records have it in whole seconds). A kernel thread has neither. Returns the exe's length,
     * -1 if unknown.
     */
    private int exitingExe(ProcessInfo e, int pid, long startTicks) {
        drain();
        int slot = exits.lookupNewest(pid);
        if (slot < 0 || !sameStart(startTicks, exits.startSeconds(slot))) {
            return -1;
        }
        return setExe(e, exes.find(exits.exeDevice(slot), exits.exeInode(slot)));
    }

    private static int setExe(ProcessInfo e, byte[] exe) {
        if (exe == null) {
            return -1;
        }
        if (e.exe.length < exe.length) {
            e.exe = new byte[Math.max(exe.length, e.exe.length * 2)];
        }
        System.arraycopy(exe, 0, e.exe, 0, exe.length);
        return exe.length;
    }

    /** Reads the exit records queued; without a socket (a benchmark feeding the records itself), nothing. */
    private void drain() {
        if (taskstats != null) {
            taskstats.drain(exits);
        }
    }

    /**
     * Whether a start time read from {@code /proc} (clock ticks since boot) and one from an exit record (whole
     * seconds of the wall clock) can be the same start. Each side is rounded down twice (boot time and ticks;
     * the wall clock and the elapsed time), so they can differ by up to 2 s for one process; a pid used again
     * within that time by a program of the same name and user is the case this cannot tell apart.
     */
    private boolean sameStart(long startTicks, long startSeconds) {
        return Math.abs(bootSeconds + startTicks / USER_HZ - startSeconds) <= START_SLACK_SECONDS;
    }

    private static final int START_SLACK_SECONDS = 2;

    /** Who the process is from its exit record: it was gone when its event was read. */
    private void fromExit(ProcessInfo e, int slot, long nowMs) {
        int commLen = exits.comm(slot, commScratch);
        long startSeconds = exits.startSeconds(slot);
        if (e.commLength >= 0 && !e.fromExitRecord && e.startTime >= 0
                && (sameStart(e.startTime, startSeconds) || nowMs - e.verifiedMs <= graceMs)
                && (e.uid < 0 || e.uid == exits.uid(slot))
                && java.util.Arrays.equals(e.comm, 0, e.commLength, commScratch, 0, commLen)) {
            return; // read from /proc while it was alive: the same process, and what was read then says more
        }
        e.stamp++;
        System.arraycopy(commScratch, 0, e.comm, 0, commLen);
        e.commLength = commLen;
        e.exeLength = setExe(e, exes.find(exits.exeDevice(slot), exits.exeInode(slot)));
        e.uid = exits.uid(slot);
        e.gid = exits.gid(slot);
        e.euid = -1;
        e.egid = -1;
        e.cgroup = null;
        e.parentPid = exits.ppid(slot);
        e.processGroup = -1;
        e.startTime = (startSeconds - bootSeconds) * USER_HZ;
        e.fromExitRecord = true;
        e.verifiedBatch = -1;
        e.verifiedMs = nowMs;
    }

    /**
     * Ids, parent and cgroup: from the pidfd when there is one (the event's, or one opened now for a
     * permission event, whose opener waits and so cannot be reaped), else from {@code /proc/PID/status}.
     * True if the event's own pidfd answered, i.e. its process was not reaped at this moment.
     */
    private boolean ids(ProcessInfo e, int pid, int pidfd) {
        long cgroupId = 0;
        boolean known = false;
        boolean unreaped = false;
        if (pidfdInfoWorks) {
            int fd = pidfd >= 0 ? pidfd : Libc.pidfdOpen(pid);
            if (fd >= 0) {
                pidInfo.set(JAVA_LONG_UNALIGNED, 0, PIDFD_INFO_MASK);
                if (Libc.pidfdGetInfo(fd, pidInfo) == 0) {
                    unreaped = fd == pidfd;
                    long mask = pidInfo.get(JAVA_LONG_UNALIGNED, 0);
                    if ((mask & 0x2) != 0) {
                        e.uid = pidInfo.get(JAVA_INT_UNALIGNED, 28);
                        e.gid = pidInfo.get(JAVA_INT_UNALIGNED, 32);
                        e.euid = pidInfo.get(JAVA_INT_UNALIGNED, 36);
                        e.egid = pidInfo.get(JAVA_INT_UNALIGNED, 40);
                        known = true;
                    }
                    cgroupId = (mask & 0x4) != 0 ? pidInfo.get(JAVA_LONG_UNALIGNED, 8) : 0;
                } else if (Libc.errno() == Errno.ENOTTY || Libc.errno() == Errno.EINVAL) {
                    pidfdInfoWorks = false; // a kernel before 6.13: /proc/PID/status from now on
                }
                if (fd != pidfd) {
                    Libc.close(fd);
                }
            } else if (Libc.errno() == Errno.ENOSYS) {
                pidfdInfoWorks = false;
            }
        }
        if (!known) {
            status(e, pid);
        }
        e.cgroup = cgroups.path(cgroupId, pid);
        return unreaped;
    }

    private static final byte[] STATUS = "status".getBytes(StandardCharsets.US_ASCII);
    private static final int STATUS_MAX = 4096;

    /** The real and effective ids from {@code /proc/PID/status}'s {@code Uid:} and {@code Gid:} lines. */
    private void status(ProcessInfo e, int pid) {
        e.uid = e.gid = e.euid = e.egid = -1;
        long n = ProcPaths.read(path, pid, STATUS, statusBuf, STATUS_MAX);
        for (int line = 0; line + 4 < n; ) {
            int end = line;
            while (end < n && statusBuf.get(JAVA_BYTE, end) != '\n') {
                end++;
            }
            byte b0 = statusBuf.get(JAVA_BYTE, line);
            if ((b0 == 'U' || b0 == 'G') && statusBuf.get(JAVA_BYTE, line + 1) == 'i'
                    && statusBuf.get(JAVA_BYTE, line + 2) == 'd' && statusBuf.get(JAVA_BYTE, line + 3) == ':') {
                long real = number(statusBuf, line + 4, end, 0);
                long effective = number(statusBuf, line + 4, end, 1);
                if (b0 == 'U') {
                    e.uid = (int) real;
                    e.euid = (int) effective;
                } else {
                    e.gid = (int) real;
                    e.egid = (int) effective;
                }
            }
            line = end + 1;
        }
    }

    /** The {@code index}-th (0-based) whitespace-separated number in {@code [from, end)}, or -1. */
    private static long number(MemorySegment s, int from, int end, int index) {
        int i = from;
        for (int k = 0; ; k++) {
            while (i < end && (s.get(JAVA_BYTE, i) == ' ' || s.get(JAVA_BYTE, i) == '\t')) {
                i++;
            }
            if (i >= end) {
                return -1;
            }
            long v = 0;
            while (i < end && s.get(JAVA_BYTE, i) >= '0' && s.get(JAVA_BYTE, i) <= '9') {
                v = v * 10 + (s.get(JAVA_BYTE, i) - '0');
                i++;
            }
            if (k == index) {
                return v;
            }
        }
    }

    private static long bootSeconds() {
        try {
            for (String line : new String(io.fanotifyd.kernel.Syscalls.readFile("/proc/stat", 1 << 20),
                    StandardCharsets.US_ASCII).split("\n")) {
                if (line.startsWith("btime ")) {
                    return Long.parseLong(line.substring(6).trim());
                }
            }
        } catch (RuntimeException e) {
            // below: start times will not match, and exit records are then used only for processes gone
        }
        return 0;
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

    /**
     * For job tagging by cgroup: the cgroup of a process known only by its exit record is not known, but a
     * process starts in its parent's cgroup, so while the parent lives, the parent's cgroup stands in (read
     * from {@code /proc/PPID/cgroup}). Null when the parent is init or gone. Not used for the record's
     * {@code cgroup} field, which says only what is known of the process itself.
     */
    public byte[] inheritedCgroup(ProcessInfo p) {
        if (p == null || !p.fromExitRecord || p.parentPid <= 1) {
            return null;
        }
        // Once per filling of the entry, not once per event: a gone process's events come in runs.
        if (p.parentCgroupStamp != p.stamp) {
            p.parentCgroup = cgroups.read(p.parentPid);
            p.parentCgroupStamp = p.stamp;
        }
        return p.parentCgroup;
    }

    /** The executables known by device and inode, or null without exit records. */
    public ExeIndex exes() {
        return exes;
    }

    /** Lookups answered from an exit record (the process was gone). */
    public long fromExits() {
        return fromExits;
    }

    public long unknown() {
        return unknown;
    }

    public int size() {
        return size;
    }
}
