package io.fanotifyd.daemon;

import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.policy.Decision;

/**
 * What one {@link Pipeline} counted, for the metrics and the stats record: events read per type, permission
 * answers and how long each took, alerts per kind, records without a process name. One thread writes (the
 * pipeline's), without locks or allocation; the metrics thread reads racily (64-bit HotSpot does not tear a
 * long), so a scrape may be a few events behind but never waits for the event path.
 */
final class PipelineCounts {
    /** Upper bounds of the answer-latency buckets, ns: 2 µs to 1 s, about three per decade. */
    static final long[] LATENCY_BOUNDS_NS = {2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
            1_000_000, 5_000_000, 10_000_000, 100_000_000, 1_000_000_000};
    /** Bits of an event's mask that are flags, not its type. */
    private static final long FLAGS = EventMask.ONDIR | EventMask.EVENT_ON_CHILD;

    final long[] eventsByBit = new long[64];
    final long[] decisions = new long[Decision.values().length];
    final long[] latency = new long[LATENCY_BOUNDS_NS.length + 1];
    long latencySumNs;
    long canaryAlerts;
    long burstAlerts;
    /** Event records written without {@code comm}: the process could not be named. */
    long withoutComm;

    /** One event read, counted once per type bit of its mask. */
    void read(long mask) {
        for (long m = mask & ~FLAGS; m != 0; m &= m - 1) {
            eventsByBit[Long.numberOfTrailingZeros(m)]++;
        }
    }

    /** One permission event answered {@code d}, {@code ns} after its batch was read. */
    void answered(Decision d, long ns) {
        decisions[d.ordinal()]++;
        int i = 0;
        while (i < LATENCY_BOUNDS_NS.length && ns > LATENCY_BOUNDS_NS[i]) {
            i++;
        }
        latency[i]++;
        latencySumNs += ns;
    }
}
