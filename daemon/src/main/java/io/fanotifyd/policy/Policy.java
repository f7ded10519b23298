package io.fanotifyd.policy;

import static io.fanotifyd.kernel.EventMask.ATTRIB;
import static io.fanotifyd.kernel.EventMask.CLOSE_WRITE;
import static io.fanotifyd.kernel.EventMask.CREATE;
import static io.fanotifyd.kernel.EventMask.DELETE;
import static io.fanotifyd.kernel.EventMask.MODIFY;
import static io.fanotifyd.kernel.EventMask.MOVED_FROM;
import static io.fanotifyd.kernel.EventMask.MOVED_TO;
import static io.fanotifyd.kernel.EventMask.OPEN;
import static io.fanotifyd.kernel.EventMask.OPEN_EXEC;
import static io.fanotifyd.kernel.EventMask.OPEN_EXEC_PERM;
import static io.fanotifyd.kernel.EventMask.OPEN_PERM;
import static io.fanotifyd.kernel.EventMask.ACCESS_PERM;
import static io.fanotifyd.kernel.EventMask.RENAME;

import io.fanotifyd.enrich.Event;
import io.fanotifyd.enrich.PathRef;
import io.fanotifyd.enrich.ProcessInfo;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Turns an enriched event into alerts and, for permission events, a decision. In memory only, no I/O, no
 * allocation: it runs before a permission event is answered.
 *
 * <p>Canary reasons, by what the event did to a matching path (the strongest wins when the kernel merged
 * several): deleted ({@code DELETE}), renamed ({@code RENAME}, either path; or {@code MOVED_FROM}/
 * {@code MOVED_TO} when renames are not reported as {@code RENAME}), modified ({@code MODIFY},
 * {@code CLOSE_WRITE}), opened ({@code OPEN}, {@code OPEN_EXEC} and the permission opens).
 *
 * <p>Bursts count one mutation per record that writes ({@code MODIFY}/{@code CLOSE_WRITE}), creates, deletes,
 * renames ({@code RENAME}; or {@code MOVED_TO} when renames are not reported as {@code RENAME}) or changes
 * attributes: a process that writes, renames and deletes one file counts three.
 */
public final class Policy {
    private static final long OPENS = OPEN | OPEN_EXEC | OPEN_PERM | OPEN_EXEC_PERM | ACCESS_PERM;
    private static final long PERMISSION_OPENS = OPEN_PERM | OPEN_EXEC_PERM;
    private static final long PERMISSION_EVENTS = OPEN_PERM | OPEN_EXEC_PERM | ACCESS_PERM;

    private final CanaryMatcher canaries;
    private final BurstDetector bursts;
    private final boolean denyOnAlert;
    private final long renameBits;
    private final long mutationBits;
    /** Whether another thread's policy shares {@link #bursts}: then each use of it holds its lock. */
    private final boolean sharedBursts;
    private final MemorySegment scratch = Arena.global().allocate(8192);

    /**
     * @param canaries     may be empty
     * @param bursts       null when bursts are off
     * @param renameRecord whether renames are reported as one {@code RENAME} record (then the
     *                     {@code MOVED_FROM}/{@code MOVED_TO} records of the same rename raise and count nothing)
     */
    public Policy(CanaryMatcher canaries, BurstDetector bursts, boolean denyOnAlert, boolean renameRecord) {
        this(canaries, bursts, denyOnAlert, renameRecord ? RENAME : MOVED_FROM | MOVED_TO,
                MODIFY | CLOSE_WRITE | CREATE | DELETE | ATTRIB | (renameRecord ? RENAME : MOVED_TO), false);
    }

    private Policy(CanaryMatcher canaries, BurstDetector bursts, boolean denyOnAlert, long renameBits,
                   long mutationBits, boolean sharedBursts) {
        this.canaries = canaries;
        this.bursts = bursts;
        this.denyOnAlert = denyOnAlert;
        this.renameBits = renameBits;
        this.mutationBits = mutationBits;
        this.sharedBursts = sharedBursts;
    }

    /** The canary patterns this policy matches (for the counters in the stop line). */
    public CanaryMatcher canaries() {
        return canaries;
    }

    /**
     * These rules for one of several threads that evaluate at once: the canary index and the burst windows are
     * shared, the matching scratch memory is the copy's own ({@link CanaryMatcher#forAnotherThread()}), and
     * every use of the burst detector holds its lock, so that a permission decision sees the windows the
     * notification side keeps, never half an update. The policy this is called on must no longer evaluate.
     */
    public Policy shareable() {
        return new Policy(canaries.forAnotherThread(), bursts, denyOnAlert, renameBits, mutationBits,
                bursts != null);
    }

    /**
     * Evaluates one event into {@code out}.
     *
     * @return {@link Decision#OBSERVE} for a notification event; for a permission event {@link Decision#DENY}
     *         when it raised an alert (or its process is in a burst) and alerts deny, else {@link Decision#ALLOW}
     */
    public Decision evaluate(Event ev, Alerts out, long nowMs) {
        out.clear();
        long mask = ev.mask();
        boolean deny = false;
        if (!canaries.isEmpty()) {
            String reason = canaryReason(mask);
            if (reason != null) {
                PathRef hit = match(ev.path()) ? ev.path()
                        : (ev.isRename() && (mask & renameBits) != 0 && match(ev.oldPath())) ? ev.oldPath() : null;
                if (hit != null) {
                    out.add(Alerts.CANARY, reason, hit, 0, 0);
                    deny = (mask & OPENS) != 0;
                }
            }
        }
        if (bursts != null && (mask & (mutationBits | PERMISSION_OPENS)) != 0) {
            if (sharedBursts) {
                synchronized (bursts) {
                    deny |= burst(ev, mask, out, nowMs);
                }
            } else {
                deny |= burst(ev, mask, out, nowMs);
            }
        }
        if ((mask & PERMISSION_EVENTS) == 0) {
            return Decision.OBSERVE;
        }
        return denyOnAlert && deny ? Decision.DENY : Decision.ALLOW;
    }

    /** Counts a mutation (and alerts when it crosses the threshold); true for a permission open in a burst. */
    private boolean burst(Event ev, long mask, Alerts out, long nowMs) {
        ProcessInfo p = ev.process();
        long identity = p == null ? BurstDetector.UNKNOWN_IDENTITY : p.startTime();
        if ((mask & mutationBits) != 0) {
            if (bursts.mutation(ev.pid(), identity, nowMs) == BurstDetector.Result.CROSSED) {
                out.add(Alerts.BURST, "write burst", ev.path(), bursts.threshold(), bursts.windowMs());
            }
        }
        return (mask & PERMISSION_OPENS) != 0 && bursts.inBurst(ev.pid(), identity, nowMs);
    }

    /** The burst detector, or null when bursts are off (for its counters). */
    public BurstDetector bursts() {
        return bursts;
    }

    private String canaryReason(long mask) {
        if ((mask & DELETE) != 0) {
            return "canary deleted";
        }
        if ((mask & renameBits) != 0) {
            return "canary renamed";
        }
        if ((mask & (MODIFY | CLOSE_WRITE)) != 0) {
            return "canary modified";
        }
        if ((mask & OPENS) != 0) {
            return "canary opened";
        }
        return null;
    }

    private boolean match(PathRef path) {
        int len = path.copyTo(scratch);
        return len >= 0 && canaries.match(scratch, len) >= 0;
    }
}
