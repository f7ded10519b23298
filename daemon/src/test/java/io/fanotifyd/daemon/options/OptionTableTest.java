package io.fanotifyd.daemon.options;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class OptionTableTest {
    @Test
    void configKeysUseUnderscores() {
        assertEquals(Optional.of("pid_file"), Option.PID_FILE.configKey());
        assertEquals(Optional.of("no_fid"), Option.NO_FID.configKey());
        assertEquals(Optional.of("burst_window_ms"), Option.BURST_WINDOW_MS.configKey());
        assertEquals(Optional.of("watch"), Option.WATCH.configKey());
    }

    @Test
    void commandLineOnlyOptionsHaveNoConfigKey() {
        assertEquals(Optional.empty(), Option.CONFIG.configKey());
        assertEquals(Optional.empty(), Option.HELP.configKey());
        assertEquals(Optional.empty(), Option.VERSION.configKey());
    }

    @Test
    void theSpecsFlags() {
        assertEquals(List.of("watch", "mount", "filesystem", "output", "log-file", "verbose", "socket",
                        "socket-mode", "socket-group", "subscribe", "foreground", "pid-file", "events", "queue-size", "no-fid",
                        "batch-delay-us", "perm", "fail-closed", "perm-spin-us", "canary",
                        "burst-threshold", "burst-window-ms", "hook", "hook-cooldown-ms", "hook-timeout-ms",
                        "deny-on-alert", "job",
                        "rootfs", "workspace", "export", "cache", "cgroup", "config", "help", "version",
                        "socket-backlog", "output-mode", "output-max-bytes", "output-keep", "metrics", "stats-interval-s",
                        "host-fields", "field", "forward", "kafka-brokers", "kafka-topic", "kafka-property",
                        "forward-state", "forward-metrics"),
                Arrays.stream(Option.values()).map(Option::longName).toList());
        assertEquals(Set.of("-c", "-w", "-o", "-f", "-v", "-h"),
                Set.copyOf(Arrays.stream(Option.values()).flatMap(o -> o.shortFlag().stream()).toList()));
    }

    @Test
    void repeatableOptions() {
        assertEquals(Set.of(Option.WATCH, Option.MOUNT, Option.FILESYSTEM, Option.CANARY, Option.VERBOSE,
                        Option.JOB, Option.ROOTFS, Option.WORKSPACE, Option.EXPORT, Option.CACHE, Option.CGROUP,
                        Option.FIELD, Option.KAFKA_PROPERTY),
                Set.copyOf(Arrays.stream(Option.values()).filter(Option::repeatable).toList()));
    }

    @ParameterizedTest
    @EnumSource(Option.class)
    void lookupsRoundTrip(Option o) {
        assertEquals(Optional.of(o), Option.byLongName(o.longName()));
        o.shortFlag().ifPresent(s -> assertEquals(Optional.of(o), Option.byShortName(s.charAt(1))));
        o.configKey().ifPresent(k -> assertEquals(Optional.of(o), Option.byConfigKey(k)));
        assertEquals("--" + o.longName(), o.longFlag());
        assertFalse(o.help().isBlank());
        assertEquals(o.kind().takesValue(), !o.argName().isEmpty(), "argument name iff it takes a value");
    }

    @Test
    void namesAreUnique() {
        Set<String> names = new HashSet<>();
        for (Option o : Option.values()) {
            assertTrue(names.add(o.longName()), o.longName());
        }
        assertEquals(Option.configKeys().size(), Set.copyOf(Option.configKeys()).size());
    }

    @Test
    void unknownLookups() {
        assertEquals(Optional.empty(), Option.byLongName("wach"));
        assertEquals(Optional.empty(), Option.byShortName('x'));
        assertEquals(Optional.empty(), Option.byConfigKey("pid-file"));
        assertEquals(Optional.empty(), Option.byConfigKey("config"));
    }

    @Test
    void editDistance() {
        assertEquals(0, Suggestions.distance("watch", "watch"));
        assertEquals(1, Suggestions.distance("wach", "watch"));
        assertEquals(2, Suggestions.distance("wacth", "watch"));
        assertEquals(5, Suggestions.distance("", "watch"));
        assertEquals(Optional.of("watch"), Suggestions.closest("wath", Option.configKeys()));
        assertEquals(Optional.of("cache"), Suggestions.closest("cach", Option.configKeys()));
        assertEquals(Optional.empty(), Suggestions.closest("zzzzzz", Option.configKeys()));
    }
}
