package io.fanotifyd.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MetricsAddressTest {
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "127.0.0.1:9464|127.0.0.1:9464",
            "9464|127.0.0.1:9464",
            "[::1]:9464|[0:0:0:0:0:0:0:1]:9464",
            "10.1.2.3:0|10.1.2.3:0",
            "0.0.0.0:9464|0.0.0.0:9464",
            "/run/fanotifyd/metrics.sock|/run/fanotifyd/metrics.sock",
            "./m.sock|./m.sock"})
    void parses(String text, String described) {
        assertEquals(described, MetricsAddress.describe(MetricsAddress.parse(text).address()));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "localhost:9464|host names are not looked up",
            "example.org:80|host names are not looked up",
            "127.0.0.1|not a port",
            "127.0.0.1:65536|not a port",
            "127.0.0.1:-1|not a port",
            "127.0.0.1:http|not a port",
            "256.0.0.1:9464|not an IP address",
            "::1:9464|an IPv6 address goes in brackets",
            "[::1]|expected [IPV6]:PORT",
            "[::1]9464|expected [IPV6]:PORT",
            "[127.0.0.1]:9464|not an IPv6 address",
            "[fe80::zz]:9464|not an IP address",
            "/run/x/|cannot end in /",
            "relative.sock|not a port"})
    void refuses(String text, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MetricsAddress.parse(text));
        assertTrue(e.getMessage().contains(message), text + ": " + e.getMessage());
    }

    @Test
    void emptyIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> MetricsAddress.parse(""));
    }

    @Test
    void wildcardOnlyWhenWritten() {
        assertTrue(MetricsAddress.parse("0.0.0.0:1").isWildcard());
        assertTrue(MetricsAddress.parse("[::]:1").isWildcard());
        assertFalse(MetricsAddress.parse("9464").isWildcard(), "a bare port is the loopback");
        assertTrue(MetricsAddress.parse("/tmp/m.sock").isUnix());
    }
}
