package io.fanotifyd.daemon;

/**
 * One kind of repeated log line, at most once per interval: the first occurrence is written at once, the
 * ones within the interval after it are counted, and the next line written says how many were left out. A
 * flood (740 dropped hooks, an output that keeps failing) then costs a few lines that still carry the exact
 * count. {@link #flush()} writes the count of the last interval, for the end of a run.
 *
 * <p>Thread-safe; {@code log} is cheap when suppressed (no string is built by the caller if it checks
 * {@link #due(long)} first).
 */
final class LogLimiter {
    private final int level;
    private final long intervalNs;
    private long lastNs;
    private boolean logged;
    private long suppressed;

    LogLimiter(int level, long intervalMs) {
        this.level = level;
        this.intervalNs = intervalMs * 1_000_000L;
    }

    /** Whether a line logged now would be written (false: it would only be counted). */
    synchronized boolean due(long nowNs) {
        return !logged || nowNs - lastNs >= intervalNs;
    }

    /** Writes {@code msg}, or counts it if one was written less than an interval ago. */
    void log(String msg) {
        String line;
        synchronized (this) {
            long now = System.nanoTime();
            if (logged && now - lastNs < intervalNs) {
                suppressed++;
                return;
            }
            line = suppressed == 0 ? msg : msg + " (" + suppressed + " more like it not logged)";
            logged = true;
            lastNs = now;
            suppressed = 0;
        }
        Log.log(level, line);
    }

    /** Counts one occurrence without a message (the caller saw {@link #due} false). */
    synchronized void count() {
        suppressed++;
    }

    /** Writes the count of lines left out since the last one written, if any. */
    void flush(String what) {
        long n;
        synchronized (this) {
            n = suppressed;
            suppressed = 0;
        }
        if (n > 0) {
            Log.log(level, n + " more " + what + " not logged");
        }
    }

    synchronized long suppressed() {
        return suppressed;
    }
}
