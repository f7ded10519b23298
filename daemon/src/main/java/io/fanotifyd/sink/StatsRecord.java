package io.fanotifyd.sink;

import io.fanotifyd.metrics.MetricsWriter;

/**
 * The stream's {@code stats} record ({@code --stats-interval-s}): the figures of the Prometheus exposition, as
 * one JSON line, so that a consumer of the records sees the daemon's health without a scraper. Each family is
 * a field named as the metric without its {@code fanotifyd_} prefix; a labelled family is an object of its
 * label values; a histogram is <code>{"count":N,"sum":SECONDS,"le":{BOUND:CUMULATIVE,...,"+Inf":N}}</code>.
 * Written by the event thread inside the output's transaction, at most once per interval.
 */
public final class StatsRecord implements MetricsWriter {
    private static final byte[] SCHEMA_VERSION = JsonWriter.key("schema_version");
    private static final byte[] TYPE = JsonWriter.key("type");
    private static final byte[] STATS = JsonWriter.key("stats");
    private static final byte[] TS_MS = JsonWriter.key("ts_ms");
    private static final byte[] COUNT = JsonWriter.key("count");
    private static final byte[] SUM = JsonWriter.key("sum");
    private static final byte[] LE = JsonWriter.key("le");
    private static final byte[] INF = JsonWriter.key("+Inf");

    private final JsonWriter w;
    private final HostFields host;

    /** Begins the record in {@code w}: its fixed fields; the figures follow, then {@link #end()}. */
    public StatsRecord(JsonWriter w, long tsMs) {
        this(w, tsMs, null);
    }

    /** As {@link #StatsRecord(JsonWriter, long)}, ending with {@code host}'s fields unless it is null. */
    public StatsRecord(JsonWriter w, long tsMs, HostFields host) {
        this.w = w;
        this.host = host;
        w.beginObject();
        w.name(SCHEMA_VERSION);
        w.number(RecordEncoder.SCHEMA_VERSION);
        w.name(TYPE);
        w.asciiString(STATS);
        w.name(TS_MS);
        w.number(tsMs);
    }

    /** Ends the record (a whole line). */
    public void end() {
        if (host != null) {
            host.write(w);
        }
        w.endObject();
        w.newline();
    }

    @Override
    public void counter(String name, String help, long value) {
        w.name(JsonWriter.key(name));
        w.number(value);
    }

    @Override
    public void counter(String name, String help, String label, String[] labelValues, long[] values) {
        labelled(name, labelValues, values);
    }

    @Override
    public void gauge(String name, String help, double value) {
        w.name(JsonWriter.key(name));
        w.decimal(value);
    }

    @Override
    public void gauge(String name, String help, String label, String[] labelValues, long[] values) {
        labelled(name, labelValues, values);
    }

    @Override
    public void histogramSeconds(String name, String help, long[] boundsNs, long[] counts, long sumNs) {
        long total = 0;
        for (long c : counts) {
            total += c;
        }
        w.name(JsonWriter.key(name));
        w.beginObject();
        w.name(COUNT);
        w.number(total);
        w.name(SUM);
        w.decimal(sumNs / 1e9);
        w.name(LE);
        w.beginObject();
        long cumulative = 0;
        for (int i = 0; i < boundsNs.length; i++) {
            cumulative += counts[i];
            w.name(JsonWriter.key(java.math.BigDecimal.valueOf(boundsNs[i], 9).stripTrailingZeros().toPlainString()));
            w.number(cumulative);
        }
        w.name(INF);
        w.number(total);
        w.endObject();
        w.endObject();
    }

    private void labelled(String name, String[] labelValues, long[] values) {
        w.name(JsonWriter.key(name));
        w.beginObject();
        for (int i = 0; i < labelValues.length; i++) {
            w.name(JsonWriter.key(labelValues[i]));
            w.number(values[i]);
        }
        w.endObject();
    }
}
