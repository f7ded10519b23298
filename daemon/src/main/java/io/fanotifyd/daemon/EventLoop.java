package io.fanotifyd.daemon;

import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.Event;
import io.fanotifyd.kernel.CorruptEventException;
import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.policy.Alerts;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.FdOutput;
import io.fanotifyd.sink.JsonWriter;
import io.fanotifyd.sink.RecordEncoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The reading thread: {@code poll} on the notification group, the permission group (in permission mode) and a
 * wake-up eventfd; read a batch; enrich, evaluate, encode; close the fds the kernel handed over.
 *
 * <p>Permission events come first and each is answered before anything else is done with it: the decision is
 * made in memory ({@link Policy}) and written to the group in a {@code finally}, so an exception still answers
 * (allow, or deny with {@code --fail-closed}). Records, alerts and hooks come after the answer, and output is
 * written by {@link FdOutput}'s own thread, so no sink can hold an open.
 *
 * <p>Output is handed over when the buffer passes {@link #FLUSH_BYTES}, and otherwise at most {@code flushMs}
 * after the first unwritten record, so a quiet stream still appears promptly.
 */
final class EventLoop {
    static final int FLUSH_BYTES = 256 * 1024;
    /** At most one log line per this many ms about burst windows short of memory. */
    private static final long BURST_MEMORY_LOG_MS = 10_000;
    private static final short POLLIN = 1;

    /** What the loop needs besides its groups; built by {@link Daemon}. */
    record Parts(Enricher notifyEnricher, Enricher permEnricher, Policy policy, RecordEncoder encoder,
                 FdOutput output, AlertHooks hooks, boolean failClosed, int selfPid, boolean notificationsFirst,
                 io.fanotifyd.kernel.Taskstats taskstats, io.fanotifyd.enrich.ExitRecords exits) {}

    /**
     * How many bytes one read of each group may ask for, so that the fds the kernel makes for the events read
     * stay within the daemon's budget ({@link FdBudget}); the two can be in flight together.
     */
    record ReadSizes(long notifyBytes, long permBytes) {}

    private final FanotifyGroup notify;
    private final FanotifyGroup perm;
    private final int wakeFd;
    private final Parts parts;
    private final int flushMs;
    private final long batchDelayNs;
    private final long permSpinNs;
    private final Arena arena = Arena.ofShared(); // made on the main thread, used on the event thread
    private final MemorySegment notifyBuffer;
    private final MemorySegment permBuffer;
    private final MemorySegment pollFds = arena.allocate(32, 8);
    private final MemorySegment scratch = arena.allocate(8, 8);
    private final MemorySegment timespec = arena.allocate(16, 8);
    private final EventCursor cursor = new EventCursor();
    private final Event event = new Event();
    private final Alerts alerts = new Alerts();
    private final Counters counters;
    private final long notifyReadBytes;
    private final long permReadBytes;
    private final LogLimiter readErrors = new LogLimiter(Log.ERROR, 10_000);
    private final LogLimiter eventErrors = new LogLimiter(Log.ERROR, 10_000);
    private final LogLimiter overflowWarnings = new LogLimiter(Log.WARN, 10_000);
    private volatile boolean stopping;
    /** System.nanoTime by which the stop must be done: records still unwritten then are counted as lost. */
    private volatile long stopDeadlineNs;
    private long batch;
    /**
     * System.nanoTime of the loop's last turn (or batch read): the watchdog pings systemd only while it moves
     * ({@link Watchdog}). One volatile write per turn, nothing per event.
     */
    private volatile long heartbeatNs;
    /** The longest poll wait, so that an idle loop still comes round for the watchdog; 0 = none. */
    private long wakeAtLeastEveryNs;
    private long starvedLogged;
    private long starvedLoggedAtMs = Long.MIN_VALUE / 2;

    EventLoop(FanotifyGroup notify, FanotifyGroup perm, int wakeFd, Parts parts, int readBufferBytes, int flushMs,
              int batchDelayUs, int permSpinUs, ReadSizes readSizes, Counters counters) {
        this.batchDelayNs = batchDelayUs * 1000L;
        this.permSpinNs = perm == null ? 0 : permSpinUs * 1000L;
        this.notify = notify;
        this.perm = perm;
        this.wakeFd = wakeFd;
        this.parts = parts;
        this.flushMs = flushMs;
        this.notifyBuffer = arena.allocate(readBufferBytes, 8);
        // Permission events are never merged and each holds an open: read them in small batches, answer fast.
        this.permBuffer = perm == null ? null : arena.allocate(PERM_BUFFER_BYTES, 8);
        this.notifyReadBytes = Math.min(readBufferBytes, readSizes.notifyBytes());
        this.permReadBytes = Math.min(PERM_BUFFER_BYTES, readSizes.permBytes());
        this.counters = counters;
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

    /** When the loop last came round or read a batch (System.nanoTime); 0 before it started. Any thread. */
    long heartbeatNs() {
        return heartbeatNs;
    }

    /** Runs until {@link #stop()}. The caller then finishes the output. */
    void run() {
        io.fanotifyd.kernel.Taskstats taskstats = parts.taskstats();
        io.fanotifyd.enrich.ExitRecords exits = parts.exits();
        int[] fds = perm == null ? new int[] {notify.fd(), wakeFd, -1} : new int[] {perm.fd(), notify.fd(), wakeFd, -1};
        short[] revents = new short[fds.length];
        int permIdx = perm == null ? -1 : 0;
        int notifyIdx = perm == null ? 0 : 1;
        int wakeIdx = fds.length - 2;
        // The exit records are drained as they come, so that the socket's buffer never fills (a full one drops
        // records); a read of it never blocks. Without them the slot stays -1, which poll ignores.
        int exitsIdx = fds.length - 1;
        fds[exitsIdx] = taskstats == null ? -1 : taskstats.fd();
        FdOutput output = parts.output();
        int notifyFd = notify.fd();
        long flushDeadline = 0;
        long holdUntilNs = 0;
        long spinUntilNs = 0;
        while (!stopping) {
            long nowNs = System.nanoTime();
            heartbeatNs = nowNs;
            long waitNs = -1;
            if (output.pending() > 0) {
                waitNs = Math.max(0, flushDeadline * 1_000_000 - nowNs);
            }
            boolean spinning = spinUntilNs - nowNs > 0; // see --perm-spin-us below
            if (spinning) {
                waitNs = 0;
            }
            // After a read, the notification group is left out of the poll for the batch delay: the kernel
            // merges and queues meanwhile, and the next read takes a bigger batch without waking us per event.
            // The permission group and the wake-up fd stay in, so neither answers nor stop requests wait.
            boolean holding = holdUntilNs - nowNs > 0;
            fds[notifyIdx] = holding ? -1 : notifyFd;
            if (holding && !spinning && (waitNs < 0 || holdUntilNs - nowNs < waitNs)) {
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
            boolean hadPending = output.pending() > 0;
            if (permIdx >= 0 && (revents[permIdx] & POLLIN) != 0) {
                drainPermission();
                // Waking a sleeping thread on another CPU costs tens of µs on these VMs, paid by the opener
                // waiting for its answer: after a permission event, keep polling without sleeping for a while,
                // as the next open of a busy process usually comes within it.
                if (permSpinNs > 0) {
                    spinUntilNs = System.nanoTime() + permSpinNs;
                }
            } else if (spinning) {
                Thread.onSpinWait();
            }
            if (!holding && (revents[notifyIdx] & POLLIN) != 0) {
                drainNotifications();
                if (batchDelayNs > 0) {
                    holdUntilNs = System.nanoTime() + batchDelayNs;
                }
            }
            long nowMs = System.nanoTime() / 1_000_000;
            if (!hadPending && output.pending() > 0) {
                flushDeadline = nowMs + flushMs;
            }
            if (output.pending() >= FLUSH_BYTES || (output.pending() > 0 && nowMs >= flushDeadline)) {
                flush();
            }
            logBurstMemory(nowMs);
        }
        polling.countDown();
        stopSnapshot = new long[] {output.dropped(), output.lost()};
        if (perm != null) {
            // No open may wait on the stop: closing the group lets the kernel allow every open still pending.
            // From here on the output is waited for, as in observe mode, up to the stop's deadline.
            perm.close();
        }
        output.waitWhenFull();
        drainBeforeStop();
        flush();
    }

    /** The output's dropped and lost counts when the stop began: what the stop itself lost is counted from them. */
    long[] stopSnapshot;
    /** Bytes of events the kernel still held when the stop's deadline passed (not read, so not reported). */
    long leftInKernelBytes;

    /** Says when burst windows ran out of memory (each event counted short), at most every 10 s. */
    private void logBurstMemory(long nowMs) {
        io.fanotifyd.policy.BurstDetector bursts = parts.policy().bursts();
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
                process(notifyBuffer, n, parts.notifyEnricher());
            }
            if (queued >= 0 && read < queued) {
                leftInKernelBytes = Math.max(0, notify.queuedBytes());
            }
        } catch (RuntimeException e) {
            counters.errors++;
            Log.error("reading the last events before stopping: " + e);
        }
    }

    private void flush() {
        parts.output().flush(this::flushGivesUp);
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
            return notify.read(notifyBuffer, notifyReadBytes);
        } catch (NativeCallException e) {
            readFailed(e);
            return -1;
        }
    }

    private void readFailed(NativeCallException e) {
        counters.readErrors++;
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
            process(notifyBuffer, n, parts.notifyEnricher());
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

    /** A monotonic clock for windows, cooldowns and cache expiry; the wall clock is only for ts_ms. */
    private static long monotonicMs() {
        return System.nanoTime() / 1_000_000;
    }

    private void process(MemorySegment buffer, long length, Enricher enricher) {
        batch++;
        long wallMs = System.currentTimeMillis();
        heartbeatNs = System.nanoTime(); // a flood keeps the loop in its drain: each batch read is progress too
        long nowMs = monotonicMs();
        cursor.reset(buffer, length);
        try {
            while (cursor.next()) {
                int fd = cursor.fd();
                int pidfd = cursor.hasPidfd() ? cursor.pidfd() : -1;
                try {
                    if (enricher.fill(cursor, event, batch, wallMs, nowMs)) {
                        report(wallMs, nowMs, parts.policy().evaluate(event, alerts, nowMs), false);
                    }
                } catch (RuntimeException e) {
                    counters.errors++;
                    eventErrors.log("event at byte " + cursor.offset() + " dropped: " + e);
                } finally {
                    closeFds(fd, pidfd);
                }
            }
        } catch (CorruptEventException e) {
            counters.errors++;
            Log.error(e.getMessage() + "; rest of the batch skipped");
        } finally {
            enricher.endBatch(); // no fd of ours on a marked filesystem between batches: umount must not see EBUSY
        }
    }

    private void drainPermission() {
        while (true) {
            long n;
            try {
                n = perm.read(permBuffer, permReadBytes);
            } catch (NativeCallException e) {
                readFailed(e);
                return;
            }
            if (n == 0) {
                return;
            }
            if (parts.notificationsFirst()) {
                // A process's writes and creates are queued in the notification group before its next open
                // reaches the permission group: count them first, or a burst is seen an open too late.
                drainNotifications();
            }
            batch++;
            long wallMs = System.currentTimeMillis();
            heartbeatNs = System.nanoTime();
            long nowMs = monotonicMs();
            cursor.reset(permBuffer, n);
            try {
                while (cursor.next()) {
                    answerAndReport(wallMs, nowMs);
                }
            } catch (CorruptEventException e) {
                // Cannot happen with a kernel buffer; if it did, the events after it cannot be found to be
                // answered, and closing the group is what releases them.
                counters.errors++;
                Log.error(e.getMessage() + "; rest of the permission batch skipped");
            }
            // A short batch means the queue is empty: back to poll instead of a read that finds nothing.
            if (n < permReadBytes / 2) {
                return;
            }
        }
    }

    private void answerAndReport(long wallMs, long nowMs) {
        int fd = cursor.fd();
        int pidfd = cursor.hasPidfd() ? cursor.pidfd() : -1;
        int decision = parts.failClosed() ? Policy.DENY : Policy.ALLOW;
        boolean report = false;
        RuntimeException failure = null;
        try {
            if (cursor.pid() == parts.selfPid()) {
                decision = Policy.ALLOW; // our own accesses: never wait on ourselves
            } else if (parts.permEnricher().fillForDecision(cursor, event, batch, wallMs, nowMs)) {
                decision = parts.policy().evaluate(event, alerts, nowMs);
                report = true;
            } else {
                decision = Policy.ALLOW;
            }
        } catch (RuntimeException e) {
            counters.errors++;
            failure = e;
        } finally {
            if (fd >= 0) {
                int err = perm.respond(fd, decision == Policy.DENY ? Fanotify.FAN_DENY : Fanotify.FAN_ALLOW);
                if (err != 0) {
                    counters.errors++;
                    eventErrors.log("answering a permission event failed: " + Errno.describe(err));
                }
            }
        }
        if (failure != null) { // told only now: the answer comes before any log line
            eventErrors.log("permission event for pid " + cursor.pid() + " answered "
                    + (decision == Policy.DENY ? "deny" : "allow") + " after an error: " + failure);
        }
        try {
            if (report) {
                report(wallMs, nowMs, decision, true);
            }
        } catch (RuntimeException e) {
            counters.errors++;
            eventErrors.log("permission event record dropped: " + e);
        } finally {
            closeFds(fd, pidfd);
        }
    }

    /** Writes the event record (or overflow record), its alerts, and runs hooks; after any answer. */
    private void report(long wallMs, long nowMs, int decision, boolean permission) {
        FdOutput output = parts.output();
        JsonWriter w = output.buffer();
        int mark = w.length();
        try {
            if (event.kind() == Event.KIND_OVERFLOW) {
                counters.overflows++;
                parts.encoder().overflow(wallMs, event.mask(), counters.overflows, w);
                output.recordAdded();
                overflowWarnings.log("kernel queue overflowed: events were lost (overflow #" + counters.overflows
                        + "); see --queue-size");
                return;
            }
            parts.encoder().event(event, !permission ? "observe" : decision == Policy.DENY ? "deny" : "allow", w);
            output.recordAdded();
            counters.records++;
            for (int i = 0; i < alerts.size(); i++) {
                parts.encoder().alert(event, alerts, i, w);
                output.recordAdded();
                counters.alerts++;
            }
        } catch (RuntimeException e) {
            w.truncate(mark);
            throw e;
        }
        if (alerts.size() > 0 && parts.hooks() != null) {
            parts.hooks().onAlerts(event, alerts, parts.encoder().lastSeq(), nowMs);
        }
        // Per record, not per read: one 1 MiB read makes megabytes of JSON, and a buffer grown to hold it stays
        // that big (measured: RSS rising with the length of a run).
        if (output.pending() >= FLUSH_BYTES) {
            flush();
        }
    }

    private static void closeFds(int fd, int pidfd) {
        if (fd >= 0) {
            Libc.close(fd);
        }
        if (pidfd >= 0) {
            Libc.close(pidfd);
        }
    }

    /** What the loop counted; read after it stopped, or racily for stats. */
    static final class Counters {
        long records;
        long alerts;
        long overflows;
        long errors;
        /** Reads of a group that failed (EMFILE and the like): the loop went on. */
        long readErrors;
    }

    /** Writes the counts of log lines the rate limits left out; at the end of a run. */
    void flushLogCounts() {
        readErrors.flush("\"reading events failed\" errors");
        eventErrors.flush("event errors");
        overflowWarnings.flush("overflow warnings");
    }
}
