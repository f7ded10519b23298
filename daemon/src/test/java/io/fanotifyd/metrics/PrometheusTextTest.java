package io.fanotifyd.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class PrometheusTextTest {
    @Test
    void familiesWithHelpTypeAndSamples() {
        PrometheusText t = new PrometheusText();
        t.counter("things_total", "Things, with a \\ and a\nnewline.", 42);
        t.counter("by_kind_total", "By kind.", "kind", new String[] {"a\"b", "c\\d\ne"}, new long[] {1, 2});
        t.gauge("ratio", "A ratio.", 0.25);
        t.gauge("whole", "An integral gauge.", 3e9);
        assertEquals("""
                # HELP fanotifyd_things_total Things, with a \\\\ and a\\nnewline.
                # TYPE fanotifyd_things_total counter
                fanotifyd_things_total 42
                # HELP fanotifyd_by_kind_total By kind.
                # TYPE fanotifyd_by_kind_total counter
                fanotifyd_by_kind_total{kind="a\\"b"} 1
                fanotifyd_by_kind_total{kind="c\\\\d\\ne"} 2
                # HELP fanotifyd_ratio A ratio.
                # TYPE fanotifyd_ratio gauge
                fanotifyd_ratio 0.25
                # HELP fanotifyd_whole An integral gauge.
                # TYPE fanotifyd_whole gauge
                fanotifyd_whole 3000000000
                """, t.toString());
    }

    @Test
    void histogramBucketsAreCumulativeInSeconds() {
        PrometheusText t = new PrometheusText();
        // bounds 2 µs, 1 ms; 3 at or below 2 µs, 1 up to 1 ms, 2 above
        t.histogramSeconds("answer_seconds", "Latency.", new long[] {2_000, 1_000_000}, new long[] {3, 1, 2},
                1_500_000_000L);
        assertEquals("""
                # HELP fanotifyd_answer_seconds Latency.
                # TYPE fanotifyd_answer_seconds histogram
                fanotifyd_answer_seconds_bucket{le="0.000002"} 3
                fanotifyd_answer_seconds_bucket{le="0.001"} 4
                fanotifyd_answer_seconds_bucket{le="+Inf"} 6
                fanotifyd_answer_seconds_sum 1.5
                fanotifyd_answer_seconds_count 6
                """, t.toString());
    }
}
