package io.fanotifyd.metrics;

/**
 * Where the daemon's figures are told, once, in one order: the Prometheus exposition ({@link PrometheusText})
 * and the stream's {@code stats} record are two writers of the same calls, so they cannot disagree.
 *
 * <p>Names follow Prometheus' conventions: the {@code fanotifyd_} prefix is the writer's, counters end in
 * {@code _total}, units are base units (seconds, bytes). A family has at most one label.
 */
public interface MetricsWriter {
    /** A counter without labels; {@code name} ends in {@code _total}. */
    void counter(String name, String help, long value);

    /** A counter with one label: one sample per {@code labelValues[i]}, {@code values[i]}. */
    void counter(String name, String help, String label, String[] labelValues, long[] values);

    /** A gauge without labels. */
    void gauge(String name, String help, double value);

    /** A gauge with one label. */
    void gauge(String name, String help, String label, String[] labelValues, long[] values);

    /**
     * A histogram in seconds.
     *
     * @param boundsNs the buckets' upper bounds in nanoseconds, ascending ({@code +Inf} is implied)
     * @param counts   per bucket, not cumulative: {@code counts[i]} observations in {@code (bounds[i-1],
     *                 bounds[i]]}, and {@code counts[bounds.length]} above the last bound
     * @param sumNs    the sum of all observations in nanoseconds
     */
    void histogramSeconds(String name, String help, long[] boundsNs, long[] counts, long sumNs);
}
