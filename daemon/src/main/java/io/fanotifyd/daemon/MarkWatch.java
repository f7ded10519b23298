package io.fanotifyd.daemon;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Logs a mark that is gone, on a thread of its own: the kernel drops marks silently when their filesystem or
 * mount is unmounted or a watched directory is deleted, and the daemon would otherwise run on reporting
 * nothing from them without a word.
 *
 * <p>What wakes it: {@code /proc/self/mountinfo}, which signals {@code POLLPRI|POLLERR} whenever the mount
 * table of our namespace changes, and, for {@code --watch}, a small FID group of its own with a
 * {@code FAN_DELETE_SELF} mark on each watched path. On each wake-up it compares the notification group's
 * {@code fdinfo} (the marks the kernel still holds: the truth) with what was placed ({@link MarkStates}).
 * The kernel drops a filesystem's marks just after the mount table changes (when the unmounting task returns
 * from {@code umount}), and a mount id or device number can be reused by the next mount, so it looks again
 * 50 ms, 250 ms and 1 s later, and while a mount it had marked is gone from the table but its mark lives on
 * (a lazy unmount of a busy filesystem, a copy in another mount namespace) every few seconds until it goes.
 *
 * <p>Why not the kernel's mount notifications ({@code FAN_MNT_DETACH} on a mount-namespace mark, 6.15+):
 * they exist on few of the kernels fanotifyd runs on (5.17+), they tell of mounts, not of the marks (a
 * filesystem mark outlives the detach of one mount of its filesystem), and the mount table serves every kernel
 * the same way.
 */
final class MarkWatch implements AutoCloseable {
    private static final short POLLIN = 0x1;
    private static final short POLLPRI = 0x2;
    private static final short POLLERR = 0x8;
    private static final long[] RECHECK_MS = {50, 250, 1000};
    private static final long LINGER_RECHECK_MAX_MS = 5000;
    private static final int FDINFO_MAX = 64 << 20;

    private final MarkStates states;
    private final int groupFd;
    private final int mountinfoFd;
    private final int wakeFd;
    private final FanotifyGroup deletions;
    private final Thread thread;
    private volatile boolean closed;

    private MarkWatch(MarkStates states, int groupFd, int mountinfoFd, int wakeFd, FanotifyGroup deletions) {
        this.states = states;
        this.groupFd = groupFd;
        this.mountinfoFd = mountinfoFd;
        this.wakeFd = wakeFd;
        this.deletions = deletions;
        this.thread = Thread.ofPlatform().name("fanotifyd-marks").daemon().unstarted(this::run);
    }

    /**
     * Starts watching the marks {@code marks} placed on the notification group {@code groupFd}. Everything that
     * can fail here only costs the log lines, never the daemon: it is logged and the watch runs without it.
     *
     * @return the watch, or null if there is nothing to watch or it cannot run at all
     */
    static MarkWatch start(List<MarkStates.Mark> marks, int groupFd,
                           java.util.function.Consumer<byte[]> mountTableChanged) {
        if (marks.isEmpty()) {
            return null;
        }
        long t0 = System.nanoTime();
        // The deletion marks go in now, so that a directory deleted once fanotifyd is ready is seen; the inode
        // numbers are read on the thread, as statx is linked on another thread after the marks and waiting for
        // it here would hold "ready" back by ~10-20 ms.
        FanotifyGroup deletions = null;
        for (MarkStates.Mark m : marks) {
            if (m.kind() != MarkStates.Kind.INODE) {
                continue;
            }
            try {
                if (deletions == null) {
                    deletions = FanotifyGroup.open(Fanotify.FAN_CLASS_NOTIF | Fanotify.FAN_CLOEXEC
                            | Fanotify.FAN_NONBLOCK | Fanotify.FAN_REPORT_FID | Fanotify.FAN_UNLIMITED_MARKS,
                            Fanotify.O_RDONLY | Fanotify.O_CLOEXEC);
                }
                deletions.mark(Fanotify.FAN_MARK_ADD, EventMask.DELETE_SELF | EventMask.ONDIR, m.path());
            } catch (NativeCallException e) {
                Log.warn(m.flag() + " " + m.path() + ": its deletion may be logged late: " + e.getMessage());
            }
        }
        int mountinfoFd = -1;
        int wakeFd = -1;
        try {
            mountinfoFd = Syscalls.open("/proc/self/mountinfo", Fanotify.O_RDONLY | Fanotify.O_CLOEXEC, 0);
            wakeFd = Syscalls.eventfd();
        } catch (NativeCallException e) {
            Log.warn("marks that go away will not be logged: " + e.getMessage());
            Syscalls.closeQuietly(mountinfoFd);
            if (deletions != null) {
                deletions.close();
            }
            return null;
        }
        MarkWatch w = new MarkWatch(new MarkStates(marks), groupFd, mountinfoFd, wakeFd, deletions);
        w.mountTableChanged = mountTableChanged;
        w.thread.start();
        Log.debug("watching " + marks.size() + " marks for their end (" + (System.nanoTime() - t0) / 1000
                + " µs)");
        return w;
    }

    /**
     * What the kernel calls the inode of each {@code --watch} directory, and a check that each mark is listed
     * under its key (see {@link MarkStates#verify}).
     */
    private void identify() {
        List<MarkStates.Mark> marks = states.marks();
        for (int i = 0; i < marks.size(); i++) {
            MarkStates.Mark m = marks.get(i);
            if (m.kind() == MarkStates.Kind.INODE) {
                try {
                    states.inode(i, Syscalls.stat(m.path(), false).inode());
                } catch (NativeCallException e) {
                    // deleted already: the first look reports it gone
                }
            }
        }
        for (String line : states.verify(MarkStates.kernelKeys(fdinfo(groupFd)))) {
            Log.warn(line);
        }
    }

    private void run() {
        try (Arena arena = Arena.ofConfined()) {
            identify();
            MemorySegment pollFds = arena.allocate(24, 8);
            MemorySegment timespec = arena.allocate(16, 8);
            MemorySegment scratch = arena.allocate(4096, 8);
            long wokeAt = System.nanoTime(); // a first look at once: a mark may be gone already
            long next = wokeAt;
            int step = -1; // the look at wokeAt, then RECHECK_MS[step] after it
            long lingerMs = RECHECK_MS[RECHECK_MS.length - 1];
            while (!closed && !states.noneLeft()) {
                poll(pollFds, timespec, next == Long.MAX_VALUE ? -1 : Math.max(0, next - System.nanoTime()));
                if (closed) {
                    return;
                }
                // The mount table changed (the poll itself took note of it), or a watched inode was deleted.
                boolean woken = (revents(pollFds, 0) & (POLLPRI | POLLERR)) != 0;
                if (deletions != null && (revents(pollFds, 1) & POLLIN) != 0) {
                    while (deletions.read(scratch) > 0) {
                        // FID events carry no fd to close; which mark went is read from fdinfo
                    }
                    woken = true;
                }
                long now = System.nanoTime();
                if (woken) {
                    wokeAt = now;
                    step = -1;
                    lingerMs = RECHECK_MS[RECHECK_MS.length - 1];
                } else if (next == Long.MAX_VALUE || now - next < 0) {
                    continue; // the wake-up fd, or a poll cut short
                }
                check(now);
                step++;
                if (step < RECHECK_MS.length) {
                    next = wokeAt + RECHECK_MS[step] * 1_000_000;
                } else if (states.lingering()) {
                    lingerMs = Math.min(LINGER_RECHECK_MAX_MS, lingerMs * 2);
                    next = now + lingerMs * 1_000_000;
                } else {
                    next = Long.MAX_VALUE;
                }
            }
        } catch (RuntimeException e) {
            Log.error("watching the marks failed; marks that go away are no longer logged: " + e);
        }
    }

    /** How many marks the kernel holds for the group now (as its fdinfo lists them); -1 if unknown. */
    static int marksInPlace(int groupFd) {
        try {
            return MarkStates.kernelKeys(fdinfo(groupFd)).size();
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /** The group's {@code /proc/self/fdinfo}: the marks the kernel holds for it. */
    private static String fdinfo(int groupFd) {
        return new String(Syscalls.readFile("/proc/self/fdinfo/" + groupFd, FDINFO_MAX), StandardCharsets.ISO_8859_1);
    }

    /** Told the mount table each time it is read after a change (the --mount filter's shadows), or null. */
    private volatile java.util.function.Consumer<byte[]> mountTableChanged;

    private void check(long nowNs) {
        String kernel = fdinfo(groupFd);
        byte[] table = MountInfo.read();
        if (mountTableChanged != null) {
            mountTableChanged.accept(table);
        }
        MountInfo.Present present = MountInfo.present(table);
        for (String line : states.update(MarkStates.kernelKeys(kernel), present, nowNs / 1_000_000)) {
            Log.warn(line);
        }
    }

    private void poll(MemorySegment pollFds, MemorySegment timespec, long timeoutNs) {
        setPollFd(pollFds, 0, mountinfoFd, POLLPRI);
        setPollFd(pollFds, 1, deletions == null ? -1 : deletions.fd(), POLLIN);
        setPollFd(pollFds, 2, wakeFd, POLLIN);
        MemorySegment tmo = MemorySegment.NULL;
        if (timeoutNs >= 0) {
            timespec.set(JAVA_LONG_UNALIGNED, 0, timeoutNs / 1_000_000_000L);
            timespec.set(JAVA_LONG_UNALIGNED, 8, timeoutNs % 1_000_000_000L);
            tmo = timespec;
        }
        int rc = Libc.ppoll(pollFds, 3, tmo);
        if (rc < 0) {
            int errno = Libc.errno();
            if (errno == Errno.EINTR) {
                for (int i = 0; i < 3; i++) {
                    pollFds.set(JAVA_SHORT_UNALIGNED, i * 8L + 6, (short) 0);
                }
                return;
            }
            throw new NativeCallException("ppoll", "/proc/self/mountinfo, deletions, wake-up", errno);
        }
    }

    private static void setPollFd(MemorySegment pollFds, int i, int fd, short events) {
        pollFds.set(JAVA_INT_UNALIGNED, i * 8L, fd);
        pollFds.set(JAVA_SHORT_UNALIGNED, i * 8L + 4, events);
        pollFds.set(JAVA_SHORT_UNALIGNED, i * 8L + 6, (short) 0);
    }

    private static short revents(MemorySegment pollFds, int i) {
        return pollFds.get(JAVA_SHORT_UNALIGNED, i * 8L + 6);
    }

    /** Stops the thread (waits for it briefly) and closes what it used. */
    @Override
    public void close() {
        closed = true;
        Syscalls.signalEventfd(wakeFd);
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!thread.isAlive()) {
            Syscalls.closeQuietly(mountinfoFd);
            Syscalls.closeQuietly(wakeFd);
            if (deletions != null) {
                deletions.close();
            }
        }
    }
}
