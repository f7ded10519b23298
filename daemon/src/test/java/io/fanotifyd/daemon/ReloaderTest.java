package io.fanotifyd.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.fanotifyd.daemon.options.OptionParser;
import io.fanotifyd.daemon.options.Settings;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Which changes a reload applies and which it refuses as needing new groups or resources. */
class ReloaderTest {
    private static Settings parse(String args) {
        return OptionParser.parse(args.isBlank() ? new String[0] : args.trim().split(" +"), "/");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--watch /a|--watch /b --canary /b/* --burst-threshold 5 --events +access -v",
            "--watch /a --hook true|--watch /a --hook false --hook-cooldown-ms 1 --hook-timeout-ms 9",
            "--watch /a --hook true|--watch /a",
            "--watch /a --socket /s1|--watch /a --socket /s2",
            "--watch /a -o /o1|--watch /a -o /o2 --job j --workspace /w --cgroup /c",
            "--perm --watch /a --canary /a/k --log-file /l1|--perm --filesystem /a --deny-on-alert --log-file /l2"})
    void applied(String before, String after) {
        assertNull(Reloader.needsRestart(parse(before), parse(after)));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--watch /a|--watch /a --perm|perm",
            "--watch /a|--watch /a --no-fid|no_fid",
            "--watch /a|--watch /a --queue-size kernel|queue_size",
            "--watch /a|--watch /a --hook true|hook (where there was none)",
            "--watch /a|--watch /a --socket /s|socket (added or removed)",
            "--watch /a -o /o|--watch /a|output (to or from stdout)",
            "--watch /a|--watch /a --metrics 9464 --stats-interval-s 5|metrics, stats_interval_s",
            "--watch /a|--watch /a --output-keep 3|output_mode, output_max_bytes, output_keep",
            "--watch /a --perm|--watch /a --perm --fail-closed --perm-spin-us 5|fail_closed, perm_spin_us",
            "--watch /a --perm|--watch /a --perm --burst-threshold 9|burst_threshold (from 0, in permission mode)"})
    void refused(String before, String after, String keys) {
        assertEquals(keys, Reloader.needsRestart(parse(before), parse(after)));
    }
}
