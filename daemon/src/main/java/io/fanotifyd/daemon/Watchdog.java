package io.fanotifyd.daemon;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * A small thread that keeps systemd informed once the daemon is ready: {@code WATCHDOG=1} every half of
 * {@code WATCHDOG_USEC}, but only while the event loop is making progress, and a {@code STATUS=} line with
 * the counts so far whenever they changed (with each ping, or every {@link #STATUS_EVERY_MS} without a
 * watchdog).
 *
 * <p>Progress is the loop's heartbeat: the {@code System.nanoTime} of its last turn round the poll loop (or of
 * its last batch), a volatile write that costs the event path nothing per event. With a watchdog the loop's
 * poll wait is capped at a quarter of the timeout ({@link #loopWakeNs}), so an idle loop still comes round;
 * a heartbeat older than half the timeout means the event thread is stuck (waiting on an output that takes
 * nothing, or worse). Then no ping goes out, and systemd, having heard none for {@code WatchdogSec=}, kills
 * the service and restarts it ({@code Restart=on-failure}).
 *
 * <p>A thread of its own rather than pings from the loop: the pings then keep their pace whatever the traffic,
 * and the event thread makes no extra system call; all it does is the volatile write. Once a stop has begun
 * nothing is pinged (systemd watches only a running service) and nothing is said about the loop, which has
 * ended.
 */
final class Watchdog implements AutoCloseable {
    /** How often the status is refreshed when systemd set no watchdog. */
    static final long STATUS_EVERY_MS = 5_000;

    private final SdNotify notify;
    private final LongSupplier heartbeatNs;
    private final Thread eventThread;
    private final Supplier<String> status;
    private final long intervalNs;
    private final boolean pinging;
    private final CountDownLatch closed = new CountDownLatch(1);
    private final Thread thread;
    private String lastStatus;
    /** The heartbeat the current stall began at (System.nanoTime), or 0 while the loop moves. */
    private long stalledAtNs;

    private Watchdog(SdNotify notify, LongSupplier heartbeatNs, Thread eventThread, Supplier<String> status,
                     String statusAtReady) {
        this.notify = notify;
        this.heartbeatNs = heartbeatNs;
        this.eventThread = eventThread;
        this.status = status;
        this.pinging = notify.watchdogUsec() > 0;
        this.intervalNs = pinging ? Math.max(1_000_000L, notify.watchdogUsec() * 1000 / 2)
                : STATUS_EVERY_MS * 1_000_000L;
        this.lastStatus = statusAtReady;
        this.thread = Thread.ofPlatform().daemon().name("fanotifyd-watchdog").unstarted(this::run);
    }

    /**
     * How long the event loop may wait in {@code poll} at most, so that its heartbeat stays fresh while idle:
     * a quarter of the watchdog timeout; 0 (wait as long as it likes) without a watchdog.
     */
    static long loopWakeNs(SdNotify notify) {
        return notify.watchdogUsec() > 0 ? Math.max(1_000_000L, notify.watchdogUsec() * 1000 / 4) : 0;
    }

    /**
     * Starts the thread if systemd listens (else returns null).
     *
     * @param heartbeatNs   the event loop's last turn ({@link EventLoop#heartbeatNs()})
     * @param eventThread   the thread running the loop: where it is stuck goes into the log
     * @param statusAtReady the status sent with {@code READY=1}: not repeated until it changes
     */
    static Watchdog start(SdNotify notify, LongSupplier heartbeatNs, Thread eventThread, Supplier<String> status,
                          String statusAtReady) {
        if (!notify.enabled()) {
            return null;
        }
        Watchdog w = new Watchdog(notify, heartbeatNs, eventThread, status, statusAtReady);
        w.thread.start();
        return w;
    }

    private void run() {
        long next = System.nanoTime() + intervalNs;
        try {
            while (!closed.await(Math.max(0, next - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                next += intervalNs;
                long now = System.nanoTime();
                if (next - now < 0) {
                    next = now + intervalNs; // this thread was held up (a stopped process): no burst of catch-up
                }
                tick(now);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void tick(long now) {
        if (notify.stopBegun()) {
            return;
        }
        StringBuilder m = new StringBuilder(128);
        if (pinging) {
            long beat = heartbeatNs.getAsLong();
            if (now - beat < intervalNs) {
                m.append("WATCHDOG=1\n");
                if (stalledAtNs != 0) {
                    Log.warn("the event loop is moving again after about " + (now - stalledAtNs) / 1_000_000
                            + " ms: watchdog pings resumed");
                    stalledAtNs = 0;
                }
            } else if (stalledAtNs == 0) {
                stalledAtNs = beat;
                Log.warn("the event loop has not come round for " + (now - beat) / 1_000_000 + " ms: no watchdog"
                        + " ping, so systemd restarts the service unless it moves within WatchdogSec; the event"
                        + " thread is at " + where(eventThread));
            }
        }
        String s = status.get();
        if (!s.equals(lastStatus)) {
            m.append("STATUS=").append(s).append('\n');
        }
        if (m.length() > 0 && notify.send(m.toString())) {
            lastStatus = s;
        }
    }

    /** The innermost frames of {@code t}'s stack, for the log: what a stuck thread waits on. */
    static String where(Thread t) {
        if (t == null) {
            return "(unknown)";
        }
        StackTraceElement[] stack = t.getStackTrace();
        if (stack.length == 0) {
            return "(no stack: " + t.getState() + ")";
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < Math.min(8, stack.length); i++) {
            b.append(i == 0 ? "" : " < ").append(stack[i].getClassName().replace("io.fanotifyd.", ""))
                    .append('.').append(stack[i].getMethodName());
        }
        return b.toString();
    }

    @Override
    public void close() {
        closed.countDown();
        try {
            thread.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
