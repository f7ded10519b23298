package io.fanotifyd.daemon;

import io.fanotifyd.sink.HostFields;
import io.fanotifyd.sink.JsonWriter;
import io.fanotifyd.sink.RecordSink;
import io.fanotifyd.sink.StatsRecord;

/**
 * {@code --stats-interval-s}: a {@code stats} record written into the records on the event thread, in one
 * transaction of the output, so that it sits in the stream between the records it counts.
 */
final class StatsWriter {
    private final DaemonMetrics metrics;
    private final RecordSink sink;
    private final Counters counters;
    private final long intervalNs;
    private final HostFields host;
    private long nextNs;

    /** @param host the fields every record ends with, or null */
    StatsWriter(DaemonMetrics metrics, RecordSink sink, Counters counters, int intervalS, HostFields host) {
        this.host = host;
        this.metrics = metrics;
        this.sink = sink;
        this.counters = counters;
        this.intervalNs = intervalS * 1_000_000_000L;
    }

    /** The first record is due one interval after {@code nowNs}. */
    void begin(long nowNs) {
        nextNs = nowNs + intervalNs;
    }

    /** How long until the next record is due (0 if it is), for the loop's wait. */
    long dueInNs(long nowNs) {
        return Math.max(0, nextNs - nowNs);
    }

    /** Writes the record if it is due; the next is due an interval later (not an interval after a late one). */
    void writeIfDue(long nowNs) {
        if (nowNs - nextNs < 0) {
            return;
        }
        nextNs = nowNs - nextNs > intervalNs ? nowNs + intervalNs : nextNs + intervalNs;
        JsonWriter w = sink.begin();
        try {
            StatsRecord r = new StatsRecord(w, System.currentTimeMillis(), host);
            metrics.describe(r, 1);
            r.end();
        } catch (RuntimeException e) {
            sink.abort();
            throw e;
        }
        counters.stats++; // under the transaction still, like the other record counts
        sink.commit(1);
    }
}
