package io.fanotifyd.daemon;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The permission thread: blocks in {@code read()} on the permission group (opened without
 * {@code FAN_NONBLOCK}), so that an open costs the kernel one wake-up and us one system call before the answer;
 * then catches up with the notification side when bursts can deny ({@link CatchUp}), and answers each event
 * through its {@link Pipeline}. Nothing else runs on this thread, so no record, hook, log line or output can
 * stand between a waiting open and its answer, and the notification side's work (a flood being read, a batch
 * delay) never delays one.
 *
 * <p>{@code --perm-spin-us}: after a batch, the thread keeps asking the kernel ({@code FIONREAD}) for the next
 * event for that long before it blocks again, which saves the opener the wake-up of a sleeping thread.
 *
 * <p>Stopped by {@link #stop()}: a flag, and a permission event of our own to return from the read
 * ({@link FanotifyGroup#wakeBlockedReader()}).
 */
final class PermissionLoop {
    /** The permission read buffer; a read takes less when the fd budget is tight ({@link FdBudget}). */
    static final int BUFFER_BYTES = 64 * 1024;

    private final FanotifyGroup group;
    private final Pipeline.Responder responder;
    private final Pipeline pipeline;
    private final CatchUp catchUp;
    private final long spinNs;
    private final Counters counters;
    private final LogLimiter readErrors;
    private final LogLimiter lateLog = new LogLimiter(Log.WARN, 10_000);
    private final Runnable threadSetup;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer;
    private final long readBytes;
    private final CountDownLatch reading = new CountDownLatch(1);
    private volatile boolean stopping;
    /** When the batch under way was read (System.nanoTime), or 0 while waiting for one: for the watchdog. */
    private volatile long busySinceNs;
    private Thread thread;

    /**
     * @param catchUp     null unless bursts can deny
     * @param readBytes   at most this much per read (each event read is an fd: {@link FdBudget})
     * @param threadSetup run first on the thread (the C locale for fnmatch)
     */
    PermissionLoop(FanotifyGroup group, Pipeline pipeline, CatchUp catchUp, int spinUs, long readBytes,
                   Counters counters, LogLimiter readErrors, Runnable threadSetup) {
        this.group = group;
        this.responder = group::respond;
        this.pipeline = pipeline;
        this.catchUp = catchUp;
        this.spinNs = spinUs * 1000L;
        this.counters = counters;
        this.readErrors = readErrors;
        this.threadSetup = threadSetup;
        this.readBytes = Math.min(BUFFER_BYTES, readBytes);
        this.buffer = arena.allocate(BUFFER_BYTES, 8);
    }

    void start(Thread.UncaughtExceptionHandler onFailure) {
        thread = Thread.ofPlatform().name("fanotifyd-perm").uncaughtExceptionHandler(onFailure).start(this::run);
    }

    /** Waits (bounded) until the thread is about to block in its first read; false if it did not get there. */
    boolean awaitReading(long timeoutMs) {
        try {
            return reading.await(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Since when the thread has been on one batch (System.nanoTime), or 0 if it waits for events. */
    long busySinceNs() {
        return busySinceNs;
    }

    private void run() {
        threadSetup.run();
        reading.countDown();
        // The loop is entered once and so runs in the interpreter until an on-stack replacement (tens of
        // thousands of opens); its body is a method of its own, compiled like any other after a few calls.
        while (!stopping) {
            readAndAnswer();
        }
    }

    /** One blocking read, its events answered, then the spin. */
    private void readAndAnswer() {
        long n;
        try {
            n = group.read(buffer, readBytes);
        } catch (NativeCallException e) {
            counters.readErrors.incrementAndGet();
            readErrors.log("reading permission events failed: " + e.getMessage() + (e.errno() == Errno.EMFILE
                    || e.errno() == Errno.ENFILE ? "; the kernel denied the open it could not make an fd for"
                    : ""));
            return;
        }
        if (n <= 0) {
            return; // EINTR
        }
        long readNs = System.nanoTime();
        busySinceNs = readNs;
        boolean caughtUp = catchUp == null || catchUp.await();
        pipeline.answer(buffer, n, responder, readNs);
        busySinceNs = 0;
        if (!caughtUp) { // told only now: the answers come before any log line
            counters.lateCatchUps.incrementAndGet();
            lateLog.log("a permission decision was made before every notification event queued ahead of it"
                    + " was counted (waited " + CatchUp.MAX_WAIT_MS + " ms): a burst may be denied an open late");
        }
        spin();
    }

    private void spin() {
        if (spinNs <= 0) {
            return;
        }
        long until = System.nanoTime() + spinNs;
        while (!stopping && group.queuedEvents() <= 0 && System.nanoTime() - until < 0) {
            // sched_yield, not a pause: an opener that runs on this CPU gets it at once (a pause would keep it
            // waiting until the scheduler preempts us), and on an idle machine the yield returns at once.
            Thread.yield();
        }
    }

    /**
     * Stops the thread and waits for it (at most {@code timeoutMs}); the caller then closes the group, which
     * lets every open still pending through.
     */
    void stop(long timeoutMs) {
        stopping = true;
        if (thread == null || !thread.isAlive()) {
            group.close();
            return;
        }
        Thread waker = null;
        try {
            waker = group.wakeBlockedReader();
        } catch (NativeCallException e) {
            Log.warn("stopping the permission thread: " + e.getMessage() + "; closing its group instead");
        }
        try {
            thread.join(timeoutMs);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            Log.warn("the permission thread did not stop within " + timeoutMs + " ms; closing its group");
        }
        group.close(); // releases the waker's open if the thread never read it
        if (waker != null) {
            try {
                waker.join(timeoutMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    void flushLogCounts() {
        lateLog.flush("late catch-up warnings");
    }
}
