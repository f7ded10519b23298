package io.fanotifyd.daemon;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;

/**
 * Counts the notification events queued ahead of a permission decision before it is made, when bursts can
 * deny: a process's writes, creates and deletes are queued in the notification group by the system calls
 * that made them, so before its next open reaches the permission group. Without this, the open right after
 * the write that crossed the threshold would be let through.
 *
 * <p>The permission thread takes a target: every event the notification reader has read so far plus the
 * events the notification group still holds ({@code FIONREAD}, which counts events, not bytes:
 * {@link io.fanotifyd.kernel.FanotifyGroup#queuedEvents()}), both under the lock the reader reads under, so
 * nothing is counted twice or missed. It then waits until the event thread has processed that far, at most
 * {@link #MAX_WAIT_MS}: past that, the decision is made on what has been counted, and the late catch-up is
 * counted and logged (after the answers). A merged event is one event in the queue and one when read, so
 * merging cannot move the target either.
 */
final class CatchUp {
    /** The longest a permission decision waits for the notification side (docs/DESIGN.md, "Catch-up"). */
    static final long MAX_WAIT_MS = 100;

    private final LongSupplier queuedEvents;
    private final Runnable wakeReader;
    private final long maxWaitNs;
    /** Events the reader has read; only under the lock. */
    private long readEvents;
    /** Events the event thread has processed (counted by the policy). */
    private volatile long processedEvents;
    private volatile Thread waiter;
    private volatile long waiterTarget;
    private volatile boolean wanted;

    /**
     * @param queuedEvents the events the notification group holds ({@code FIONREAD} / 24)
     * @param wakeReader   makes the reader read now (it may be holding off for a batch delay)
     */
    CatchUp(LongSupplier queuedEvents, Runnable wakeReader, long maxWaitMs) {
        this.queuedEvents = queuedEvents;
        this.wakeReader = wakeReader;
        this.maxWaitNs = TimeUnit.MILLISECONDS.toNanos(maxWaitMs);
    }

    /**
     * Reader: one read of its group, and its events counted, under the lock a target is taken under.
     *
     * @param read   the read; returns its bytes (0: nothing, negative: failed)
     * @param events how many events the bytes read hold
     * @return what {@code read} returned
     */
    long read(LongSupplier read, java.util.function.LongUnaryOperator events) {
        synchronized (this) {
            long n = read.getAsLong();
            if (n > 0) {
                readEvents += events.applyAsLong(n);
            }
            return n;
        }
    }

    /** Event thread: {@code events} more events (one batch, in order) have been processed. */
    void processed(long events) {
        long done = processedEvents + events;
        processedEvents = done;
        Thread w = waiter;
        if (w != null && done >= waiterTarget) {
            LockSupport.unpark(w);
        }
    }

    /** Whether a permission decision is waiting for the notification thread (then it must not hold off). */
    boolean wanted() {
        return wanted;
    }

    /**
     * Permission thread: waits until every notification event queued now has been processed, at most the
     * bound.
     *
     * @return true if caught up, false if the bound passed first
     */
    boolean await() {
        long target;
        synchronized (this) {
            target = readEvents + Math.max(0, queuedEvents.getAsLong());
        }
        if (processedEvents >= target) {
            return true;
        }
        waiterTarget = target;
        waiter = Thread.currentThread();
        wanted = true;
        try {
            wakeReader.run();
            long deadline = System.nanoTime() + maxWaitNs;
            while (processedEvents < target) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                LockSupport.parkNanos(this, left);
            }
            return true;
        } finally {
            wanted = false;
            waiter = null;
        }
    }
}
