package io.fanotifyd.metrics;

import java.nio.charset.StandardCharsets;

/**
 * The Prometheus text exposition format (version 0.0.4): a {@code # HELP} and a {@code # TYPE} line per family,
 * then its samples. Built on the metrics thread at each scrape; nothing here runs on the event path.
 */
public final class PrometheusText implements MetricsWriter {
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    public static final String PREFIX = "fanotifyd_";

    private final StringBuilder out = new StringBuilder(8192);

    @Override
    public void counter(String name, String help, long value) {
        head(name, help, "counter");
        sample(name, null, null, value);
    }

    @Override
    public void counter(String name, String help, String label, String[] labelValues, long[] values) {
        labelled(name, help, "counter", label, labelValues, values);
    }

    @Override
    public void gauge(String name, String help, double value) {
        head(name, help, "gauge");
        out.append(PREFIX).append(name).append(' ');
        number(value);
        out.append('\n');
    }

    @Override
    public void gauge(String name, String help, String label, String[] labelValues, long[] values) {
        labelled(name, help, "gauge", label, labelValues, values);
    }

    private void labelled(String name, String help, String type, String label, String[] labelValues,
                          long[] values) {
        head(name, help, type);
        for (int i = 0; i < labelValues.length; i++) {
            sample(name, label, labelValues[i], values[i]);
        }
    }

    @Override
    public void histogramSeconds(String name, String help, long[] boundsNs, long[] counts, long sumNs) {
        head(name, help, "histogram");
        long cumulative = 0;
        for (int i = 0; i < boundsNs.length; i++) {
            cumulative += counts[i];
            out.append(PREFIX).append(name).append("_bucket{le=\"");
            number(boundsNs[i] / 1e9);
            out.append("\"} ").append(cumulative).append('\n');
        }
        cumulative += counts[boundsNs.length];
        out.append(PREFIX).append(name).append("_bucket{le=\"+Inf\"} ").append(cumulative).append('\n');
        out.append(PREFIX).append(name).append("_sum ");
        number(sumNs / 1e9);
        out.append('\n');
        out.append(PREFIX).append(name).append("_count ").append(cumulative).append('\n');
    }

    /** The exposition so far, UTF-8. */
    public byte[] bytes() {
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return out.toString();
    }

    private void head(String name, String help, String type) {
        out.append("# HELP ").append(PREFIX).append(name).append(' ');
        for (int i = 0; i < help.length(); i++) { // the format escapes only these two in help text
            char c = help.charAt(i);
            if (c == '\\') {
                out.append("\\\\");
            } else if (c == '\n') {
                out.append("\\n");
            } else {
                out.append(c);
            }
        }
        out.append('\n').append("# TYPE ").append(PREFIX).append(name).append(' ').append(type).append('\n');
    }

    private void sample(String name, String label, String labelValue, long value) {
        out.append(PREFIX).append(name);
        if (label != null) {
            out.append('{').append(label).append("=\"");
            for (int i = 0; i < labelValue.length(); i++) {
                char c = labelValue.charAt(i);
                switch (c) {
                    case '\\' -> out.append("\\\\");
                    case '"' -> out.append("\\\"");
                    case '\n' -> out.append("\\n");
                    default -> out.append(c);
                }
            }
            out.append("\"}");
        }
        out.append(' ').append(value).append('\n');
    }

    /** Integral values without a fraction (Prometheus parses both; people read the short form). */
    private void number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            out.append((long) v);
        } else {
            out.append(java.math.BigDecimal.valueOf(v).stripTrailingZeros().toPlainString()); // 0.000002, not 2.0E-6
        }
    }
}
