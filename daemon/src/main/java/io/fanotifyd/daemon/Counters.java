package io.fanotifyd.daemon;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What the reading threads counted, for the status line and the stop line. Records, alerts and overflows are
 * counted inside the output's transaction ({@link io.fanotifyd.sink.RecordSink}), so one thread at a time adds
 * to them and they agree with what was written; errors are rare and come from either thread. Read racily for
 * status, exactly after the threads stopped.
 */
final class Counters {
    long records;
    long alerts;
    long overflows;
    /** {@code stats} records written ({@code --stats-interval-s}). */
    long stats;
    final AtomicLong errors = new AtomicLong();
    /** Reads of a group that failed (EMFILE and the like): the loop went on. */
    final AtomicLong readErrors = new AtomicLong();
    /** SIGHUP reloads that put a new configuration in force, and those that left the old one. */
    final AtomicLong reloads = new AtomicLong();
    final AtomicLong failedReloads = new AtomicLong();
    /**
     * The counts of hooks a reload replaced (started, failed, timed out, held back by the cooldown, not run
     * for a full queue): the metrics add them to the hooks in force. Written by the reload thread only.
     */
    final long[] retiredHooks = new long[5];

    void retireHooks(AlertHooks h) {
        io.fanotifyd.sink.HookRunner r = h.runner();
        retiredHooks[0] += r.started();
        retiredHooks[1] += r.failed();
        retiredHooks[2] += r.timedOut();
        retiredHooks[3] += h.suppressedByCooldown();
        retiredHooks[4] += r.dropped();
    }

    /** Permission decisions made before the notification events queued ahead of them were all counted. */
    final AtomicLong lateCatchUps = new AtomicLong();
}
