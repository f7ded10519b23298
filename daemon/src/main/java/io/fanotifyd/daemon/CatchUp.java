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
 * <p>The permission thread takes a target: every byte the notification thread has read so far plus what the
 * notification group still holds ({@code FIONREAD}), both under the lock the notification thread reads under,
 * so nothing is counted twice or missed. It then waits until the notification thread has processed that far,
 * at most {@link #MAX_WAIT_MS}: past that, the decision is made on what has been counted, and the late
 * catch-up is counted and logged (after the answers). Merged events do not add bytes, so they cannot move the
 * target either.
 */
final class CatchUp {
    /** The longest a permission decision waits for the notification side (docs/DESIGN.md, "Catch-up"). */
    static final long MAX_WAIT_MS = 100;

    private final LongSupplier queuedBytes;
    private final Runnable wakeReader;
    private final long maxWaitNs;
    /** Bytes the notification thread has read; only under the lock. */
    private long readBytes;
    /** Bytes whose events the notification thread has processed (counted by the policy). */
    private volatile long processedBytes;
    private volatile Thread waiter;
    private volatile long waiterTarget;
    private volatile boolean wanted;

    /**
     * @param queuedBytes the notification group's {@code FIONREAD}
     * @param wakeReader  makes the notification thread read now (it may be holding off for a batch delay)
     */
    CatchUp(LongSupplier queuedBytes, Runnable wakeReader, long maxWaitMs) {
        this.queuedBytes = queuedBytes;
        this.wakeReader = wakeReader;
        this.maxWaitNs = TimeUnit.MILLISECONDS.toNanos(maxWaitMs);
    }

    /** Notification thread: one read of its group, counted under the lock a target is taken under. */
    long read(LongSupplier read) {
        synchronized (this) {
            long n = read.getAsLong();
            if (n > 0) {
                readBytes += n;
            }
            return n;
        }
    }

    /** Notification thread: the events of {@code bytes} more bytes (one read, in order) have been processed. */
    void processed(long bytes) {
        long done = processedBytes + bytes;
        processedBytes = done;
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
            target = readBytes + Math.max(0, queuedBytes.getAsLong());
        }
        if (processedBytes >= target) {
            return true;
        }
        waiterTarget = target;
        waiter = Thread.currentThread();
        wanted = true;
        try {
            wakeReader.run();
            long deadline = System.nanoTime() + maxWaitNs;
            while (processedBytes < target) {
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
