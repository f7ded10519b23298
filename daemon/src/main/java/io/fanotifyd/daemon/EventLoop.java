package io.fanotifyd.daemon;

import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.sink.FdOutput;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The event thread: takes the batches the notification reader ({@link NotifyReader}) read, in order, and runs
 * them through the notification {@link Pipeline}; drains the exit records' socket as they come; flushes the
 * output on time. In permission mode the permission group has a thread of its own ({@link PermissionLoop}),
 * which this loop stops with it.
 *
 * <p>Output is handed over when a buffer passes its flush size ({@link io.fanotifyd.sink.FdOutput}), and
 * otherwise at most {@code flushMs} after the first unwritten record (the permission thread's records too: the
 * output wakes this loop when one lands in an empty buffer), so a quiet stream still appears promptly; when
 * there is nothing left to process, at most 1 ms after the loop's previous flush, so that the end of a burst
 * is written as soon as it is processed.
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
     * @param stats      null without {@code --stats-interval-s}
     */
    record Parts(Pipeline pipeline, FdOutput output, io.fanotifyd.kernel.Taskstats taskstats,
                 io.fanotifyd.enrich.ExitRecords exits, PermissionLoop permission, CatchUp catchUp,
                 StatsWriter stats) {}

    /**
     * How many bytes one read of each group may ask for, so that the fds the kernel makes for the events read
     * stay within the daemon's budget ({@link FdBudget}); the notification reader's buffers and the permission
     * read can be in flight together.
     *
     * @param notifySlots the notification reader's buffers, each of {@code notifyBytes}
     */
    record ReadSizes(long notifyBytes, int notifySlots, long permBytes) {}

    private final FanotifyGroup notify;
    private final NotifyReader reader;
    private final int wakeFd;
    private final Parts parts;
    private final Pipeline pipeline;
    private final CatchUp catchUp;
    private final int flushMs;
    private final Arena arena = Arena.ofShared(); // made on the main thread, used on the event thread
    private final MemorySegment pollFds = arena.allocate(32, 8);
    private final MemorySegment scratch = arena.allocate(8, 8);
    private final MemorySegment timespec = arena.allocate(16, 8);
    private final Counters counters;
    private volatile boolean stopping;
    /** System.nanoTime by which the stop must be done: records still unwritten then are counted as lost. */
    private volatile long stopDeadlineNs;
    /**
     * System.nanoTime of the loop's last turn (or batch processed): the watchdog pings systemd only while it
     * moves ({@link Watchdog}). One volatile write per turn, nothing per event.
     */
    private volatile long heartbeatNs;
    /** The longest poll wait, so that an idle loop still comes round for the watchdog; 0 = none. */
    private long wakeAtLeastEveryNs;
    private long starvedLogged;
    private long starvedLoggedAtMs = Long.MIN_VALUE / 2;

    EventLoop(FanotifyGroup notify, NotifyReader reader, int wakeFd, Parts parts, int flushMs, Counters counters) {
        this.notify = notify;
        this.reader = reader;
        this.wakeFd = wakeFd;
        this.parts = parts;
        this.pipeline = parts.pipeline();
        this.catchUp = parts.catchUp();
        this.flushMs = flushMs;
        this.counters = counters;
        parts.output().giveUpWaitingWhen(this::flushGivesUp);
        if (parts.permission() != null) {
            parts.output().onFirstRecord(() -> Syscalls.signalEventfd(wakeFd));
        }
    }

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
     * Waits until the reader, on its own thread, is about to wait on the group for the first time: marks placed
     * after that find a reader ready. Bounded, and also returns once the loop has ended.
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

    /** Caps the poll waits at {@code ns} (before {@link #run()}; 0 = no cap), for {@link #heartbeatNs()}. */
    void wakeAtLeastEvery(long ns) {
        this.wakeAtLeastEveryNs = ns;
        reader.wakeAtLeastEvery(ns);
    }

    /**
     * The oldest of: when this loop last came round or processed a batch, when the reader last did, and when the
     * permission thread began the batch it is still on (System.nanoTime). Any of the three stuck stops the
     * watchdog's pings. 0 before the loop started. Any thread.
     */
    long heartbeatNs() {
        long loop = heartbeatNs;
        if (loop == 0) {
            return 0;
        }
        long read = reader.heartbeatNs();
        long oldest = read != 0 && read - loop < 0 ? read : loop;
        PermissionLoop permission = parts.permission();
        long busy = permission == null ? 0 : permission.busySinceNs();
        return busy != 0 && busy - oldest < 0 ? busy : oldest;
    }

    /** Runs until {@link #stop()}. The caller then finishes the output. */
    void run() {
        io.fanotifyd.kernel.Taskstats taskstats = parts.taskstats();
        // The exit records are drained as they come, so that the socket's buffer never fills (a full one drops
        // records); a read of it never blocks. Without them the slot stays -1, which poll ignores.
        fds = new int[] {reader.readyFd(), wakeFd, taskstats == null ? -1 : taskstats.fd()};
        revents = new short[fds.length];
        heartbeatNs = System.nanoTime();
        if (parts.stats() != null) {
            parts.stats().begin(heartbeatNs);
        }
        reader.start(polling::countDown, (t, e) -> {
            Log.error("the notification reader stopped by an internal error: " + e);
            stop(System.nanoTime() + Daemon.STOP_FLUSH_TIMEOUT_MS * 1_000_000L);
        });
        // The loop's body is a method of its own: a loop that runs once per batch is never compiled on the
        // stack (C1's on-stack replacement waits for 60,000 back-edges), and its body ran interpreted.
        while (turn()) {
            // each turn: one wait, then what it woke for
        }
        polling.countDown();
        FdOutput output = parts.output();
        stopSnapshot = new long[] {output.dropped(), output.lost()};
        if (parts.permission() != null) {
            // No open may wait on the stop: closing the group lets the kernel allow every open still pending.
            // From here on the output is waited for, as in observe mode, up to the stop's deadline.
            parts.permission().stop(PERMISSION_STOP_MS);
        }
        output.waitWhenFull();
        if (!reader.stop(READER_STOP_MS)) {
            Log.warn("the notification reader did not stop within " + READER_STOP_MS + " ms; its last batches are"
                    + " not reported");
        } else {
            drainBeforeStop();
        }
        output.flush();
        reader.close();
    }

    private static final int READY = 0;
    private static final int WAKE = 1;
    private static final int EXITS = 2;
    /** The loop's poll set (the reader's ready eventfd, the wake eventfd, the exit records' socket). */
    private int[] fds;
    private short[] revents;
    private long flushDeadlineNs;
    /** When the loop last flushed (System.nanoTime); an idle flush waits until IDLE_FLUSH_NS after it. */
    private long lastFlushNs;
    /** Notification events were processed since the last flush: only they make an idle flush. */
    private boolean processedSinceFlush;
    /** The shortest spacing of the flushes a pausing stream makes: at most 1,000 hand-overs a second. */
    static final long IDLE_FLUSH_NS = 1_000_000;

    /** One wait and what it woke for; false once stopping. */
    private boolean turn() {
        if (stopping) {
            return false;
        }
        FdOutput output = parts.output();
        StatsWriter stats = parts.stats();
        long nowNs = System.nanoTime();
        heartbeatNs = nowNs;
        // Records wait at most flushMs, whichever thread wrote them (the output wakes us for the other's), and
        // once the notification stream pauses (nothing left to process) at most IDLE_FLUSH_NS after the loop's
        // last flush: the end of a burst is out at once, and a trickle still costs at most one hand-over per
        // IDLE_FLUSH_NS. The permission thread's records alone wait for flushMs: each hand-over wakes this loop
        // and the output thread, 0.6 µs per open on the openers' CPU at 1,000 a second (0.45 at 100).
        reader.consumerSleeping(true);
        boolean idle = reader.next() == null;
        if (output.pending() == 0) {
            flushDeadlineNs = 0;
        } else {
            if (flushDeadlineNs == 0) {
                flushDeadlineNs = nowNs + flushMs * 1_000_000L;
            }
            if (idle && processedSinceFlush && flushDeadlineNs - (lastFlushNs + IDLE_FLUSH_NS) > 0) {
                flushDeadlineNs = lastFlushNs + IDLE_FLUSH_NS;
            }
        }
        long waitNs = flushDeadlineNs == 0 ? -1 : Math.max(0, flushDeadlineNs - nowNs);
        if (wakeAtLeastEveryNs > 0 && (waitNs < 0 || waitNs > wakeAtLeastEveryNs)) {
            waitNs = wakeAtLeastEveryNs;
        }
        if (stats != null && (waitNs < 0 || waitNs > stats.dueInNs(nowNs))) {
            waitNs = stats.dueInNs(nowNs);
        }
        if (!idle) {
            waitNs = 0; // published before we said we sleep: the reader did not signal it
        }
        Syscalls.pollInNanos(pollFds, fds, revents, waitNs, timespec);
        reader.consumerSleeping(false);
        if (stopping) {
            return false;
        }
        if ((revents[EXITS] & POLLIN) != 0) {
            parts.taskstats().drain(parts.exits());
        }
        if ((revents[WAKE] & POLLIN) != 0) {
            Syscalls.drainEventfd(wakeFd, scratch);
        }
        if ((revents[READY] & POLLIN) != 0) {
            reader.drainReady();
        }
        // At most a ring's worth per turn, so that a flood still lets the flush timer and exit records in.
        for (int i = 0; i < reader.slots() && !stopping; i++) {
            NotifyReader.Batch b = reader.next();
            if (b == null) {
                break;
            }
            process(b);
            reader.release();
            processedSinceFlush |= b.events > 0;
        }
        if (stats != null) {
            writeStats(stats);
        }
        long afterNs = System.nanoTime();
        if (flushDeadlineNs != 0 && afterNs - flushDeadlineNs >= 0) {
            output.flush();
            flushDeadlineNs = 0;
            lastFlushNs = afterNs;
            processedSinceFlush = false;
        }
        logBurstMemory(System.nanoTime() / 1_000_000);
        return true;
    }

    /** How long a stop waits for the permission thread to leave its read before closing the group anyway. */
    private static final long PERMISSION_STOP_MS = 2_000;
    /** How long a stop waits for the reader to leave its poll (it wakes at once on its eventfd). */
    private static final long READER_STOP_MS = 2_000;

    /** The output's dropped and lost counts when the stop began: what the stop itself lost is counted from them. */
    long[] stopSnapshot;
    /** Events the kernel still held when the stop's deadline passed (not read, so not reported). */
    long leftInKernelEvents;

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
     * The batches the reader published are processed, and what the kernel had queued when the reader stopped
     * is still read and reported (with a batch delay that may be a whole delay's worth of events), but not what
     * a busy workload keeps adding: the drain ends once it has read as many events as were queued then
     * ({@code FIONREAD}), or at the stop's deadline.
     */
    private void drainBeforeStop() {
        long queued = notify.queuedEvents();
        long read = 0;
        try {
            while (System.nanoTime() - stopDeadlineNs < 0) {
                NotifyReader.Batch b = reader.next();
                if (b == null) {
                    if (queued >= 0 && read >= queued) {
                        return;
                    }
                    b = reader.readDirect();
                    if (b == null || b.length == 0) {
                        return;
                    }
                    read += b.events;
                }
                process(b);
                reader.release();
            }
            if (reader.next() != null || (queued >= 0 && read < queued)) {
                leftInKernelEvents = Math.max(0, notify.queuedEvents());
            }
        } catch (RuntimeException e) {
            counters.errors.incrementAndGet();
            Log.error("reading the last events before stopping: " + e);
        }
    }

    private void writeStats(StatsWriter stats) {
        try {
            stats.writeIfDue(System.nanoTime());
        } catch (RuntimeException e) {
            counters.errors.incrementAndGet();
            Log.error("writing a stats record failed: " + e);
        }
    }

    /** A full output is waited for, except past the stop's deadline. */
    private boolean flushGivesUp() {
        return stopping && System.nanoTime() - stopDeadlineNs > 0;
    }

    /** One batch's events through the pipeline; then a permission decision waiting for them may go on. */
    private void process(NotifyReader.Batch b) {
        heartbeatNs = System.nanoTime(); // a flood keeps the loop here: each batch processed is progress too
        try {
            if (b.length > 0) {
                pipeline.observe(b.buffer, b.length);
            }
        } finally {
            if (catchUp != null) {
                catchUp.processed(b.events);
            }
        }
        io.fanotifyd.enrich.ExitRecords exits = parts.exits();
        if (b.emptyAfter && exits != null) {
            // The queue was empty after this batch's read: the processes whose exit records came before it
            // have no event left unread, so a later event under one of their pids is another process's.
            exits.retireUpTo(b.exitSeqBefore);
        }
    }

    /** Writes the counts of log lines the rate limits left out; at the end of a run. */
    void flushLogCounts() {
        if (parts.permission() != null) {
            parts.permission().flushLogCounts();
        }
    }
}
