package io.fanotifyd.it;

import static io.fanotifyd.it.PermissionIT.ACCESS_BOUND_S;
import static io.fanotifyd.it.PermissionIT.PERM_MOUNT_MARKS;
import static io.fanotifyd.it.PermissionIT.alertAfter;
import static io.fanotifyd.it.PermissionIT.permOpen;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fanotifyd.it.PermissionIT.Child;
import io.fanotifyd.it.PermissionIT.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * 10,000 canary patterns from a config file, in permission mode with --deny-on-alert on a tmpfs of the
 * test's own: opens of files matching pattern k (first, middle, last, one of each shape) are denied with an
 * alert naming the file, other opens are allowed, and the stop line shows that the daemon called fnmatch a
 * few times per path checked, not once per pattern (before the index: up to 10,000 per path). The test JVM
 * never touches the marked mount while the daemon runs: every open is a child process.
 */
@Tag("kernel")
class CanaryScaleIT {
    static final int PATTERNS = 10_000;
    private static final Pattern COUNTERS =
            Pattern.compile("canaries: (\\d+) patterns, (\\d+) paths checked, (\\d+) fnmatch calls");

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    /** Pattern k, in one of five shapes by k mod 5 (the ones of issue 14 item 8 a config file can hold). */
    static String pattern(Path root, int k) {
        return switch (k % 5) {
            case 0 -> root + "/w/*/nomatch-" + k + "-*";        // shared literal prefix, glob file name
            case 1 -> root + "/w/d0/key-" + k;                  // differing only in the file name
            case 2 -> root + "/*/secrets/key-" + k;             // '*' in a middle directory
            case 3 -> root + "/w/d0/[a-c]key-" + k + ".*";      // starting with a bracket expression
            default -> root + "/w/d0/*key\\-" + k + "\\*";      // starting with '*', escapes
        };
    }

    /** A file that pattern k matches, and no pattern before it. */
    static Path instance(Path root, int k) {
        return Path.of(switch (k % 5) {
            case 0 -> root + "/w/d1/nomatch-" + k + "-x";
            case 1 -> root + "/w/d0/key-" + k;
            case 2 -> root + "/app/secrets/key-" + k;
            case 3 -> root + "/w/d0/bkey-" + k + ".txt";
            default -> root + "/w/d0/xkey-" + k + "*";
        });
    }

    @Test
    void tenThousandCanariesDenyTheirOpensAndCostAFewFnmatchCallsPerPath() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Files.createDirectories(root.resolve("w/d0"));
            Files.createDirectories(root.resolve("w/d1"));
            Files.createDirectories(root.resolve("app/secrets"));
            List<String> conf = new ArrayList<>();
            for (int k = 0; k < PATTERNS; k++) {
                conf.add("canary " + pattern(root, k));
            }
            Path config = Files.write(m.outside("canaries.conf"), conf);
            int[] targets = {0, 1, 2, 3, 4, 4998, 5000, PATTERNS - 1};
            List<Path> canaries = new ArrayList<>();
            for (int k : targets) {
                canaries.add(Files.writeString(instance(root, k), "secret " + k + "\n"));
            }
            List<Path> others = new ArrayList<>();
            for (String name : new String[] {"w/d0/other.txt", "w/d0/key-" + PATTERNS, "w/d1/nomatch-x",
                    "app/secrets/key-x", "w/d0/dkey-3.txt", "w/d0/xkey-4", "w/d1/nomatch-6-"}) {
                others.add(Files.writeString(root.resolve(name), "hello\n"));
            }

            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PERM_MOUNT_MARKS, "--perm", "--mount",
                    root.toString(), "--deny-on-alert", "-c", config.toString(), "-v")) {
                for (int i = 0; i < targets.length; i++) {
                    Path canary = canaries.get(i);
                    Result cat = Child.run("exec cat '" + canary + "'", ACCESS_BOUND_S);
                    String what = "open of the file of pattern #" + targets[i] + " " + pattern(root, targets[i]);
                    assertNotEquals(0, cat.code(), what + ": " + cat);
                    assertTrue(cat.stderr().contains("Operation not permitted"), what + ": " + cat);
                    assertEquals("", cat.stdout(), what + ": " + cat);
                    JsonNode ev = d.await(r -> permOpen(r, canary.toString(), cat.pid()), what, 10);
                    assertEquals("deny", ev.get("decision").asText(), what + ": " + ev);
                    JsonNode alert = alertAfter(d, ev);
                    assertEquals("canary", alert.get("kind").asText(), alert.toString());
                    assertEquals("canary opened", alert.get("reason").asText(), alert.toString());
                    assertEquals(canary.toString(), alert.get("path").asText(), what + ": " + alert);
                }
                for (Path other : others) {
                    Result cat = Child.run("exec cat '" + other + "'", ACCESS_BOUND_S);
                    assertEquals(0, cat.code(), "open of " + other + ": " + cat);
                    assertEquals("hello\n", cat.stdout());
                    JsonNode ev = d.await(r -> permOpen(r, other.toString(), cat.pid()), "open of " + other, 10);
                    assertEquals("allow", ev.get("decision").asText(), ev.toString());
                }
                assertEquals(0, d.stop(), d.stderr());

                List<JsonNode> rs = d.records();
                long alerts = rs.stream().filter(r -> "alert".equals(r.path("type").asText())).count();
                assertEquals(targets.length, alerts, "one alert per denied open, none for the others: " + rs);

                String log = d.stderr();
                Matcher c = COUNTERS.matcher(log);
                assertTrue(c.find(), "no canary counters in the stop line:\n" + log);
                long patterns = Long.parseLong(c.group(1));
                long paths = Long.parseLong(c.group(2));
                long fnmatch = Long.parseLong(c.group(3));
                System.out.println("canary scale: " + patterns + " patterns, " + paths + " paths checked, " + fnmatch
                        + " fnmatch calls, " + rs.size() + " records");
                assertEquals(PATTERNS, patterns);
                assertTrue(paths >= targets.length + others.size(), paths + " paths checked");
                // Each path costs at most a couple of calls (the unit tests bound it per path); one call per
                // pattern would be 10,000 per path.
                assertTrue(fnmatch <= 2 * paths, fnmatch + " fnmatch calls for " + paths + " paths");
            }
        }
    }
}
