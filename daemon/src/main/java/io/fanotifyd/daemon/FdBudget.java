package io.fanotifyd.daemon;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * How the daemon's file descriptors are shared out, so that it never runs out of them.
 *
 * <p>Each FD-mode event read from the kernel comes with an open fd (and with {@code FAN_REPORT_PIDFD}, a pidfd
 * too), made by the kernel during the {@code read}; each FID-mode event with a pidfd. At the limit the kernel
 * drops a notification event silently, and denies a permission event, so a read must never ask for more events
 * than there are descriptors left. The budget is fixed at start-up, once everything long-lived is open:
 * <ul>
 *   <li>a reserve for the short-lived fds of the event path and the other threads ({@code /proc} reads, file
 *       handles, a reopened output or log, hook pipes: {@link #reserve});</li>
 *   <li>at most a quarter of the rest for subscribers (each holds one);</li>
 *   <li>the rest for event reads: a read of {@code count} bytes can bring at most
 *       {@code count / (bytes per fd)} fds, so the read size follows from it ({@link #readBytes}).</li>
 * </ul>
 */
record FdBudget(long limit, int inUse, int reserve, int subscribers, int readFds) {
    static final int RLIMIT_NOFILE = 7;
    /** Below this many fds for reads, the limit is too low to be worth running with; said at start-up. */
    static final int LOW_READ_FDS = 16;

    /**
     * Fewest bytes per fd an event can bring: FD-mode notification events are 24 bytes of metadata and 8 of
     * pidfd record, with two fds; permission events (no pidfd) 24 bytes with one; FID events with a pidfd
     * carry at least one 24-byte file-handle record besides: 56 bytes per fd.
     */
    static final int FD_MODE_BYTES_PER_FD = 16;
    static final int PERMISSION_BYTES_PER_FD = 24;
    static final int FID_MODE_BYTES_PER_FD = 56;
    /**
     * A read must take at least one whole event (or the kernel answers EINVAL): a FID event with two names and
     * the longest file handles is about 1.3 KiB; FD-mode events have a fixed size (32 bytes with a pidfd record,
     * 24 without).
     */
    static final int FID_MIN_READ_BYTES = 2048;
    static final int FD_MODE_MIN_READ_BYTES = 32;
    static final int PERMISSION_MIN_READ_BYTES = 24;

    /**
     * @param limit        the open-file limit (soft, after {@link #raiseLimit()})
     * @param inUse        descriptors open now, everything long-lived included
     * @param hooksRunning hooks that may run at once (each holds a few pipe fds while it runs)
     * @param subscribersWanted the most subscribers the configuration allows
     */
    static FdBudget compute(long limit, int inUse, int hooksRunning, int subscribersWanted) {
        long free = Math.max(0, Math.min(limit, Integer.MAX_VALUE) - inUse);
        int reserve = (int) Math.max(8, Math.min(32, free / 8)) + 4 * hooksRunning;
        long spare = Math.max(0, free - reserve);
        int subscribers = (int) Math.min(subscribersWanted, spare / 4);
        int readFds = (int) Math.max(2, Math.min(1 << 20, spare - subscribers));
        return new FdBudget(limit, inUse, reserve, subscribers, readFds);
    }

    /**
     * The read size for a group whose events bring at least {@code bytesPerFd} bytes per fd, given a share of
     * {@code fds}, and never less than one whole event ({@code minBytes}).
     */
    static long readBytes(long bufferBytes, int fds, int bytesPerFd, int minBytes) {
        return Math.min(bufferBytes, Math.max(minBytes, (long) fds * bytesPerFd));
    }

    boolean low() {
        return readFds < LOW_READ_FDS;
    }

    /**
     * Raises the soft open-file limit to the hard one (the JVM usually has already) and returns {soft, hard}
     * as they are now; {-1, -1} if they cannot be read.
     */
    static long[] raiseLimit() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment lim = arena.allocate(16, 8);
            if (Libc.prlimit(0, RLIMIT_NOFILE, MemorySegment.NULL, lim) != 0) {
                Log.warn("cannot read the open-file limit: " + Errno.describe(Libc.errno()));
                return new long[] {-1, -1};
            }
            long soft = lim.get(JAVA_LONG, 0);
            long hard = lim.get(JAVA_LONG, 8);
            if (soft != hard) {
                lim.set(JAVA_LONG, 0, hard);
                if (Libc.prlimit(0, RLIMIT_NOFILE, lim, MemorySegment.NULL) == 0) {
                    Log.info("raised the open-file limit from " + soft + " to " + hard);
                    soft = hard;
                } else {
                    Log.warn("cannot raise the open-file limit from " + soft + " to " + hard + ": "
                            + Errno.describe(Libc.errno()));
                }
            }
            return new long[] {soft, hard};
        }
    }

    /** Descriptors open in this process now ({@code /proc/self/fd}), or -1 if it cannot be listed. */
    static int countOpen() {
        String[] fds = new java.io.File("/proc/self/fd").list();
        return fds == null ? -1 : fds.length;
    }

    @Override
    public String toString() {
        return "open-file limit " + limit + ": " + inUse + " in use at start, " + reserve + " kept in reserve, "
                + subscribers + " for subscribers, " + readFds + " for event reads";
    }
}
