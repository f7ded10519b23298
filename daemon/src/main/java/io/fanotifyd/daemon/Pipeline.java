package io.fanotifyd.daemon;

import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.Event;
import io.fanotifyd.enrich.ProcessInfo;
import io.fanotifyd.kernel.CorruptEventException;
import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.kernel.FdBatch;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.policy.Alerts;
import io.fanotifyd.policy.Decision;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.JsonWriter;
import io.fanotifyd.sink.RecordEncoder;
import io.fanotifyd.sink.RecordSink;

import java.lang.foreign.MemorySegment;

/**
 * One thread's way of a batch of events through the daemon: decode ({@link EventCursor}) → enrich
 * ({@link Enricher}) → policy ({@link Policy}) → answer (permission events) → encode into the output
 * ({@link RecordSink}, one transaction per event and its alerts) → hooks; a permission event's fd is closed
 * after it, a notification batch's fds together at the batch's end ({@link FdBatch}). The daemon runs one
 * per group it reads, the warm-up and the JMH benchmarks run the same class.
 *
 * <p>A permission event is answered by construction before anything else is done for it: {@link #decide}
 * makes a {@link Decision} and cannot throw or log (an error becomes the fail-open or fail-closed answer and is
 * kept), the answer is written, and only then are the error logged, the record written and hooks started.
 *
 * <p>Not thread-safe: the cursor, event and alerts are flyweights of this pipeline. What pipelines share is:
 * the policy's burst windows (locked by {@link Policy#shareable()}), the sink (its transaction), the hooks
 * (synchronised), the encoder (only used inside the sink's transaction) and the counters.
 */
final class Pipeline {
    /** Where a permission event's answer goes: its group ({@code FanotifyGroup::respond}); returns 0 or errno. */
    interface Responder {
        int respond(int eventFd, int response);
    }

    private final Enricher enricher;
    /** Replaced whole by a reload: each event is evaluated by one policy, the old or the new. */
    private volatile Policy policy;
    private final RecordEncoder encoder;
    private final RecordSink sink;
    private volatile AlertHooks hooks;
    private final Counters counters;
    private final Decision onError;
    private final int selfPid;
    private final EventCursor cursor = new EventCursor();
    private final Event event = new Event();
    private final Alerts alerts = new Alerts();
    private final PipelineCounts counts = new PipelineCounts();
    /**
     * A notification batch's fds (pidfds, and event fds in FD mode), closed together at its end, still before
     * the next batch; a permission event's fd is closed right after its event.
     */
    private final FdBatch fds = new FdBatch();
    private final LogLimiter eventErrors;
    private final LogLimiter overflowWarnings;
    private long batch;
    /** What {@link #decide} caught, for after the answer; null if nothing. */
    private RuntimeException decisionFailure;

    /**
     * @param hooks      null without {@code --hook}
     * @param failClosed an error while deciding denies (else allows)
     * @param limiters   the error and overflow log limits, shared by the daemon's pipelines
     */
    Pipeline(Enricher enricher, Policy policy, RecordEncoder encoder, RecordSink sink, AlertHooks hooks,
             Counters counters, boolean failClosed, int selfPid, LogLimiter eventErrors,
             LogLimiter overflowWarnings) {
        this.enricher = enricher;
        this.policy = policy;
        this.encoder = encoder;
        this.sink = sink;
        this.hooks = hooks;
        this.counters = counters;
        this.onError = failClosed ? Decision.DENY : Decision.ALLOW;
        this.selfPid = selfPid;
        this.eventErrors = eventErrors;
        this.overflowWarnings = overflowWarnings;
    }

    Enricher enricher() {
        return enricher;
    }

    Policy policy() {
        return policy;
    }

    /** The hooks alerts start now; null without {@code --hook}. */
    AlertHooks hooks() {
        return hooks;
    }

    /**
     * A reload's rules and hooks, for the events read from now on (any thread). {@code policy} must be this
     * pipeline's own ({@link Policy#shareable()} where two pipelines evaluate at once).
     */
    void reconfigure(Policy policy, AlertHooks hooks) {
        this.hooks = hooks;
        this.policy = policy;
    }

    /** This pipeline's per-type counts (for the metrics; read racily from another thread). */
    PipelineCounts counts() {
        return counts;
    }

    /** A monotonic clock for windows, cooldowns and cache expiry; the wall clock is only for ts_ms. */
    private static long monotonicMs() {
        return System.nanoTime() / 1_000_000;
    }

    /** Every event of one read of a notification group: enriched, evaluated, recorded, its fds closed. */
    void observe(MemorySegment buffer, long length) {
        batch++;
        long wallMs = System.currentTimeMillis();
        long nowMs = monotonicMs();
        cursor.reset(buffer, length);
        try {
            while (cursor.next()) {
                // In the order the kernel made them (event fd, then pidfd), so that a batch's fds form runs.
                fds.add(cursor.fd());
                if (cursor.hasPidfd()) {
                    fds.add(cursor.pidfd());
                }
                counts.read(cursor.mask());
                try {
                    if (enricher.fill(cursor, event, batch, wallMs, nowMs)) {
                        report(nowMs, policy.evaluate(event, alerts, nowMs));
                    }
                } catch (RuntimeException e) {
                    counters.errors.incrementAndGet();
                    eventErrors.log("event at byte " + cursor.offset() + " dropped: " + e);
                }
            }
        } catch (CorruptEventException e) {
            counters.errors.incrementAndGet();
            Log.error(e.getMessage() + "; rest of the batch skipped");
        } finally {
            fds.closeAll();
            enricher.endBatch(); // no fd of ours on a marked filesystem between batches: umount must not see EBUSY
        }
    }

    /**
     * Every event of one read of the permission group: each answered as decided, before its record, its log
     * lines and its hooks.
     *
     * @param readNs when the read returned (System.nanoTime): each answer's latency is counted from it
     */
    void answer(MemorySegment buffer, long length, Responder group, long readNs) {
        batch++;
        long wallMs = System.currentTimeMillis();
        long nowMs = monotonicMs();
        cursor.reset(buffer, length);
        try {
            while (cursor.next()) {
                int fd = cursor.fd();
                int pidfd = cursor.hasPidfd() ? cursor.pidfd() : -1;
                Decision decision = decide(wallMs, nowMs);
                int err = fd >= 0 ? group.respond(fd, decision.response()) : 0;
                // The opener is on its way: now the rest.
                counts.read(cursor.mask());
                if (fd >= 0) {
                    counts.answered(decision, System.nanoTime() - readNs);
                }
                try {
                    afterAnswer(decision, err, nowMs);
                } finally {
                    closeFds(fd, pidfd);
                }
            }
        } catch (CorruptEventException e) {
            // Cannot happen with a kernel buffer; if it did, the events after it cannot be found to be
            // answered, and closing the group is what releases them.
            counters.errors.incrementAndGet();
            Log.error(e.getMessage() + "; rest of the permission batch skipped");
        } finally {
            enricher.endBatch();
        }
    }

    /**
     * The decision for the permission event under the cursor, with {@link #event} and {@link #alerts} filled
     * when there is something to record ({@code event.kind()} is then not {@code KIND_NONE}). Never throws and
     * never logs: an error is kept in {@link #decisionFailure} and gives the fail-open or fail-closed answer.
     */
    private Decision decide(long wallMs, long nowMs) {
        decisionFailure = null;
        reportable = false;
        try {
            if (cursor.pid() == selfPid) {
                return Decision.ALLOW; // our own accesses: never wait on ourselves
            }
            if (!enricher.fillForDecision(cursor, event, batch, wallMs, nowMs)) {
                return Decision.ALLOW;
            }
            reportable = true;
            return policy.evaluate(event, alerts, nowMs);
        } catch (RuntimeException e) {
            reportable = false;
            decisionFailure = e;
            return onError;
        }
    }

    private boolean reportable;

    private void afterAnswer(Decision decision, int respondErr, long nowMs) {
        if (respondErr != 0) {
            counters.errors.incrementAndGet();
            eventErrors.log("answering a permission event failed: " + Errno.describe(respondErr));
        }
        if (decisionFailure != null) {
            counters.errors.incrementAndGet();
            eventErrors.log("permission event for pid " + cursor.pid() + " answered " + decision.label()
                    + " after an error: " + decisionFailure);
        }
        if (!reportable) {
            return;
        }
        try {
            report(nowMs, decision);
        } catch (RuntimeException e) {
            counters.errors.incrementAndGet();
            eventErrors.log("permission event record dropped: " + e);
        }
    }

    /** The event's record (or overflow record) and its alerts, in one transaction; then hooks. */
    private void report(long nowMs, Decision decision) {
        if (event.kind() == Event.KIND_OVERFLOW) {
            JsonWriter w = sink.begin();
            long overflows = counters.overflows + 1;
            try {
                encoder.overflow(event.tsMs(), event.mask(), overflows, w);
            } catch (RuntimeException e) {
                sink.abort();
                throw e;
            }
            counters.overflows = overflows; // under the transaction still: commit releases it
            sink.commit(1);
            overflowWarnings.log("kernel queue overflowed: events were lost (overflow #" + overflows
                    + "); see --queue-size");
            return;
        }
        long seq;
        JsonWriter w = sink.begin();
        try {
            encoder.event(event, decision, w);
            seq = encoder.lastSeq();
            for (int i = 0; i < alerts.size(); i++) {
                encoder.alert(event, alerts, i, w);
            }
        } catch (RuntimeException e) {
            sink.abort();
            throw e;
        }
        counters.records++;
        counters.alerts += alerts.size();
        sink.commit(1 + alerts.size());
        ProcessInfo p = event.process();
        if (p == null || p.commLength() < 0) {
            counts.withoutComm++;
        }
        for (int i = 0; i < alerts.size(); i++) {
            if (Alerts.BURST.equals(alerts.kind(i))) {
                counts.burstAlerts++;
            } else {
                counts.canaryAlerts++;
            }
        }
        AlertHooks h = hooks;
        if (alerts.size() > 0 && h != null) {
            h.onAlerts(event, alerts, seq, nowMs);
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
}
