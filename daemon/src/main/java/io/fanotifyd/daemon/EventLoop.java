package io.fanotifyd.daemon;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.sink.FdOutput;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The notification thread: {@code poll} on the notification group, a wake-up eventfd and the exit records'
 * socket; read a batch; run it through the notification {@link Pipeline}. In permission mode the permission
 * group has a thread of its own ({@link PermissionLoop}), which this loop stops with it.
 *
 * <p>Output is handed over when a buffer passes its flush size ({@link io.fanotifyd.sink.FdOutput}), and
 * otherwise at most {@code flushMs} after the first unwritten record (the permission thread's records too: the
 * output wakes this loop when one lands in an empty buffer), so a quiet stream still appears promptly.
 */
final class EventLoop {
    /** At most one log line per this many ms about burst windows short of memory. */
    private static final long BURST_MEMORY_LOG_MS = 10_000;
    private static final short POLLIN = 1;

    /**
     * What the loop needs besides its group; built by {@link Daemon}.
     *
     * @param permission null in observe mode
     * @param catchUp    null unless permission decisions wait for this loop ({@link CatchUp})
     */
    record Parts(Pipeline pipeline, FdOutput output, io.fanotifyd.kernel.Taskstats taskstats,
                 io.fanotifyd.enrich.ExitRecords exits, PermissionLoop permission, CatchUp catchUp) {}

    /**
     * How many bytes one read of each group may ask for, so that the fds the kernel makes for the events read
     * stay within the daemon's budget ({@link FdBudget}); the two can be in flight together.
     */
    record ReadSizes(long notifyBytes, long permBytes) {}

    private final FanotifyGroup notify;
    private final int wakeFd;
    private final Parts parts;
    private final Pipeline pipeline;
    private final CatchUp catchUp;
    private final int flushMs;
    private final long batchDelayNs;
    private final Arena arena = Arena.ofShared(); // made on the main thread, used on the event thread
    private final MemorySegment notifyBuffer;
    private final MemorySegment pollFds = arena.allocate(32, 8);
    private final MemorySegment scratch = arena.allocate(8, 8);
    private final MemorySegment timespec = arena.allocate(16, 8);
    private final Counters counters;
    private final long notifyReadBytes;
    private final java.util.function.LongSupplier readOnce;
    private final LogLimiter readErrors;
    private volatile boolean stopping;
    /** System.nanoTime by which the stop must be done: records still unwritten then are counted as lost. */
    private volatile long stopDeadlineNs;
    /**
     * System.nanoTime of the loop's last turn (or batch read): the watchdog pings systemd only while it moves
     * ({@link Watchdog}). One volatile write per turn, nothing per event.
     */
    private volatile long heartbeatNs;
    /** The longest poll wait, so that an idle loop still comes round for the watchdog; 0 = none. */
    private long wakeAtLeastEveryNs;
    private long starvedLogged;
    private long starvedLoggedAtMs = Long.MIN_VALUE / 2;

    EventLoop(FanotifyGroup notify, int wakeFd, Parts parts, int readBufferBytes, int flushMs, int batchDelayUs,
              ReadSizes readSizes, Counters counters, LogLimiter readErrors) {
        this.batchDelayNs = batchDelayUs * 1000L;
        this.notify = notify;
        this.wakeFd = wakeFd;
        this.parts = parts;
        this.pipeline = parts.pipeline();
        this.catchUp = parts.catchUp();
        this.flushMs = flushMs;
        this.notifyBuffer = arena.allocate(readBufferBytes, 8);
        this.notifyReadBytes = Math.min(readBufferBytes, readSizes.notifyBytes());
        this.readOnce = () -> notify.read(notifyBuffer, notifyReadBytes);
        this.counters = counters;
        this.readErrors = readErrors;
        parts.output().giveUpWaitingWhen(this::flushGivesUp);
        if (parts.permission() != null) {
            parts.output().onFirstRecord(() -> Syscalls.signalEventfd(wakeFd));
        }
    }

    static final int PERM_BUFFER_BYTES = 64 * 1024;

    /**
     * Asks the loop to stop, and everything read to be written out by {@code deadlineNs}; safe from any thread.
     */
    void stop(long deadlineNs) {
        if (!stopping) {
            stopDeadlineNs = deadlineNs;
            stopping = true;
        }
        Syscalls.signalEventfd(wakeFd);
    }

    long stopDeadlineNs() {
        return stopDeadlineNs;
    }

    private final java.util.concurrent.CountDownLatch polling = new java.util.concurrent.CountDownLatch(1);

    /**
     * Waits until the loop, on its own thread, is about to wait on its groups for the first time: marks placed
     * after that find a loop ready to answer. Bounded, and also returns once the loop has ended.
     */
    boolean awaitPolling(long timeoutMs) {
        try {
            return polling.await(timeoutMs, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    boolean stopping() {
        return stopping;
    }

    /** Caps the poll wait at {@code ns} (before {@link #run()}; 0 = no cap), for {@link #heartbeatNs()}. */
    void wakeAtLeastEvery(long ns) {
        this.wakeAtLeastEveryNs = ns;
    }

    /**
     * When the loop last came round or read a batch (System.nanoTime), or when the permission thread began the
     * batch it is still on, if that is earlier: either thread stuck stops the watchdog's pings. 0 before the
     * loop started. Any thread.
     */
    long heartbeatNs() {
        long loop = heartbeatNs;
        PermissionLoop permission = parts.permission();
        long busy = permission == null ? 0 : permission.busySinceNs();
        return busy != 0 && busy - loop < 0 ? busy : loop;
    }

    /** Runs until {@link #stop()}. The caller then finishes the output. */
    void run() {
        io.fanotifyd.kernel.Taskstats taskstats = parts.taskstats();
        io.fanotifyd.enrich.ExitRecords exits = parts.exits();
        int[] fds = {notify.fd(), wakeFd, -1};
        short[] revents = new short[fds.length];
        int notifyIdx = 0;
        int wakeIdx = 1;
        // The exit records are drained as they come, so that the socket's buffer never fills (a full one drops
        // records); a read of it never blocks. Without them the slot stays -1, which poll ignores.
        int exitsIdx = 2;
        fds[exitsIdx] = taskstats == null ? -1 : taskstats.fd();
        FdOutput output = parts.output();
        int notifyFd = notify.fd();
        long flushDeadlineNs = 0;
        long holdUntilNs = 0;
        while (!stopping) {
            long nowNs = System.nanoTime();
            heartbeatNs = nowNs;
            // Records wait at most flushMs, whichever thread wrote them (the output wakes us for the other's).
            if (output.pending() == 0) {
                flushDeadlineNs = 0;
            } else if (flushDeadlineNs == 0) {
                flushDeadlineNs = nowNs + flushMs * 1_000_000L;
            }
            long waitNs = flushDeadlineNs == 0 ? -1 : Math.max(0, flushDeadlineNs - nowNs);
            // After a read, the notification group is left out of the poll for the batch delay: the kernel
            // merges and queues meanwhile, and the next read takes a bigger batch without waking us per event.
            // A permission decision waiting for this loop ends the hold at once.
            boolean holding = holdUntilNs - nowNs > 0 && (catchUp == null || !catchUp.wanted());
            fds[notifyIdx] = holding ? -1 : notifyFd;
            if (holding && (waitNs < 0 || holdUntilNs - nowNs < waitNs)) {
                waitNs = holdUntilNs - nowNs;
            }
            if (wakeAtLeastEveryNs > 0 && (waitNs < 0 || waitNs > wakeAtLeastEveryNs)) {
                waitNs = wakeAtLeastEveryNs;
            }
            if (polling.getCount() > 0) {
                polling.countDown();
            }
            long exitSeqBeforePoll = exits == null ? 0 : exits.lastSeq();
            int ready = Syscalls.pollInNanos(pollFds, fds, revents, waitNs, timespec);
            if (stopping) {
                break;
            }
            if (exits != null) {
                if (ready >= 0 && !holding && (revents[notifyIdx] & POLLIN) == 0) {
                    // The event queue was empty when poll returned: every process whose exit record was read
                    // before the poll had all its events read before it too.
                    exits.retireUpTo(exitSeqBeforePoll);
                }
                if ((revents[exitsIdx] & POLLIN) != 0) {
                    taskstats.drain(exits);
                }
            }
            if ((revents[wakeIdx] & POLLIN) != 0) {
                Syscalls.drainEventfd(wakeFd, scratch);
            }
            boolean wanted = catchUp != null && catchUp.wanted();
            if ((!holding && (revents[notifyIdx] & POLLIN) != 0) || wanted) {
                drainNotifications();
                if (batchDelayNs > 0 && !wanted) {
                    holdUntilNs = System.nanoTime() + batchDelayNs;
                }
            }
            if (flushDeadlineNs != 0 && System.nanoTime() - flushDeadlineNs >= 0) {
                output.flush();
                flushDeadlineNs = 0;
            }
            logBurstMemory(System.nanoTime() / 1_000_000);
        }
        polling.countDown();
        stopSnapshot = new long[] {output.dropped(), output.lost()};
        if (parts.permission() != null) {
            // No open may wait on the stop: closing the group lets the kernel allow every open still pending.
            // From here on the output is waited for, as in observe mode, up to the stop's deadline.
            parts.permission().stop(PERMISSION_STOP_MS);
        }
        output.waitWhenFull();
        drainBeforeStop();
        output.flush();
    }

    /** How long a stop waits for the permission thread to leave its read before closing the group anyway. */
    private static final long PERMISSION_STOP_MS = 2_000;

    /** The output's dropped and lost counts when the stop began: what the stop itself lost is counted from them. */
    long[] stopSnapshot;
    /** Bytes of events the kernel still held when the stop's deadline passed (not read, so not reported). */
    long leftInKernelBytes;

    /** Says when burst windows ran out of memory (each event counted short), at most every 10 s. */
    private void logBurstMemory(long nowMs) {
        io.fanotifyd.policy.BurstDetector bursts = pipeline.policy().bursts();
        if (bursts == null || bursts.starvedEvents() == starvedLogged
                || nowMs - starvedLoggedAtMs < BURST_MEMORY_LOG_MS) {
            return;
        }
        long starved = bursts.starvedEvents();
        Log.warn("bursts: the memory for burst windows (" + (Daemon.BURST_RING_BYTES >> 20) + " MiB) is held by "
                + "processes writing right now; " + (starved - starvedLogged) + " more events could not be "
                + "remembered, so other processes' burst alerts may come late (" + starved + " since start)");
        starvedLogged = starved;
        starvedLoggedAtMs = nowMs;
    }

    /**
     * What the kernel had queued when the stop was asked for is still read and reported (with a batch delay
     * that may be a whole delay's worth of events), but not what a busy workload keeps adding: the drain ends
     * once it has read as many bytes as were queued then ({@code FIONREAD}), or at the stop's deadline.
     */
    private void drainBeforeStop() {
        long queued = notify.queuedBytes();
        long read = 0;
        try {
            while (System.nanoTime() - stopDeadlineNs < 0 && (queued < 0 || read < queued)) {
                long n = readNotifications();
                if (n <= 0) {
                    return;
                }
                read += n;
                process(n);
            }
            if (queued >= 0 && read < queued) {
                leftInKernelBytes = Math.max(0, notify.queuedBytes());
            }
        } catch (RuntimeException e) {
            counters.errors.incrementAndGet();
            Log.error("reading the last events before stopping: " + e);
        }
    }

    /** A full output is waited for, except past the stop's deadline. */
    private boolean flushGivesUp() {
        return stopping && System.nanoTime() - stopDeadlineNs > 0;
    }

    /**
     * One read of the notification group, at most {@link #notifyReadBytes}. A failed read never ends the loop:
     * it is counted and logged (rate-limited), and returns -1.
     */
    private long readNotifications() {
        try {
            // With a permission thread waiting on this one, the read is counted under its lock (CatchUp).
            return catchUp == null ? readOnce.getAsLong() : catchUp.read(readOnce);
        } catch (NativeCallException e) {
            readFailed(e);
            return -1;
        }
    }

    private void readFailed(NativeCallException e) {
        counters.readErrors.incrementAndGet();
        readErrors.log("reading events failed: " + e.getMessage() + (e.errno() == Errno.EMFILE
                || e.errno() == Errno.ENFILE ? "; the kernel dropped the event (or denied the open) it could not"
                + " make an fd for" : ""));
    }

    private void drainNotifications() {
        io.fanotifyd.enrich.ExitRecords exits = parts.exits();
        while (true) {
            long exitSeqBeforeRead = exits == null ? 0 : exits.lastSeq();
            long n = readNotifications();
            if (n <= 0) {
                return;
            }
            process(n);
            // A batch well short of the read size means the queue is (nearly) empty: back to poll rather than
            // pay a read that returns EAGAIN.
            if (n < notifyReadBytes / 2) {
                if (exits != null && notify.queuedBytes() == 0) {
                    // Empty after this batch: the processes whose exit records came before the read have no
                    // event left unread, so a later event under one of their pids is another process's.
                    exits.retireUpTo(exitSeqBeforeRead);
                }
                return;
            }
        }
    }

    /** One read's events through the pipeline; then a permission decision waiting for them may go on. */
    private void process(long length) {
        heartbeatNs = System.nanoTime(); // a flood keeps the loop in its drain: each batch read is progress too
        try {
            pipeline.observe(notifyBuffer, length);
        } finally {
            if (catchUp != null) {
                catchUp.processed(length);
            }
        }
    }

    /** Writes the counts of log lines the rate limits left out; at the end of a run. */
    void flushLogCounts() {
        if (parts.permission() != null) {
            parts.permission().flushLogCounts();
        }
    }
}
