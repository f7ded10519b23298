package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code --metrics} and {@code --stats-interval-s} against the real kernel: scrapes taken while a writer runs
 * pass {@code promtool check metrics}; once the stream has settled, every figure agrees with the records
 * written; each stats record counts exactly the records before it; a bad address or a port in use is a
 * start-up error naming the flag.
 */
@Tag("kernel")
class MetricsIT {
    private static final Pattern SERVING = Pattern.compile("metrics: serving http://([0-9.]+):([0-9]+)/metrics");
    private static final Pattern SAMPLE = Pattern.compile("^(fanotifyd_[a-z_]+(?:\\{[^}]*\\})?) (\\S+)$");
    private static final String[] TYPES = {"ACCESS", "MODIFY", "ATTRIB", "CLOSE_WRITE", "CLOSE_NOWRITE", "OPEN",
            "MOVED_FROM", "MOVED_TO", "CREATE", "DELETE", "DELETE_SELF", "MOVE_SELF", "OPEN_EXEC", null, null,
            null, "OPEN_PERM"};

    private static final int OPEN_BIT = 5;

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    static URI metricsUri(Daemon d) throws IOException {
        return metricsUri(d.awaitLog("metrics: serving http://", 20));
    }

    /** Where the daemon whose log is {@code log} serves its metrics (it says so with -v). */
    static URI metricsUri(String log) {
        Matcher m = SERVING.matcher(log);
        assertTrue(m.find(), "no \"metrics: serving\" line in " + log);
        return URI.create("http://" + m.group(1) + ":" + m.group(2) + "/metrics");
    }

    static String scrape(URI uri) throws IOException {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("text/plain; version=0.0.4; charset=utf-8",
                    r.headers().firstValue("Content-Type").orElse(""));
            return r.body();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    /** {@code promtool check metrics}: the exposition's syntax and Prometheus' naming conventions. */
    static void promtoolAccepts(String exposition) throws IOException {
        Process p = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
        try {
            p.getOutputStream().write(exposition.getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("promtool did not finish within 30 s");
            }
            assertEquals(0, p.exitValue(), "promtool check metrics: " + said + "\n" + exposition);
            assertEquals("", said.strip(), "promtool's complaints");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    /** Each sample by its name and labels: {@code fanotifyd_alerts_total{kind="canary"}}. */
    static Map<String, Double> samples(String exposition) {
        Map<String, Double> out = new HashMap<>();
        for (String line : exposition.lines().toList()) {
            Matcher m = SAMPLE.matcher(line);
            if (m.matches()) {
                out.put(m.group(1), Double.parseDouble(m.group(2)));
            }
        }
        return out;
    }

    static long get(Map<String, Double> s, String key) {
        Double v = s.get(key);
        if (v == null) {
            throw new AssertionError("no sample " + key + " in " + s.keySet());
        }
        return v.longValue();
    }

    private static long countBit(List<JsonNode> events, int bit) {
        return events.stream().filter(r -> (r.get("mask").asLong() & (1L << bit)) != 0).count();
    }

    private static List<JsonNode> ofType(List<JsonNode> rs, String type) {
        return rs.stream().filter(r -> type.equals(r.path("type").asText())).toList();
    }

    @Test
    void scrapesUnderLoadAreValidAndAgreeWithTheRecords() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            Files.writeString(m.root().resolve("c-key"), "secret\n");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 2, "--filesystem", root, "--perm",
                    "--canary", root + "/c-*", "--deny-on-alert", "--metrics", "127.0.0.1:0", "-v")) {
                URI uri = metricsUri(d);
                Process writer = new ProcessBuilder("/bin/sh", "-c", "cd " + root + " && i=0; while [ $i -lt 3000 ];"
                        + " do echo x > f$i; cat f$i > /dev/null; i=$((i+1)); done").redirectErrorStream(true).start();
                int during = 0;
                try {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    while (writer.isAlive() && System.nanoTime() < deadline) {
                        promtoolAccepts(scrape(uri));
                        during++;
                    }
                    assertTrue(writer.waitFor(60, TimeUnit.SECONDS), "writer still running after 60 s");
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException(e);
                } finally {
                    Daemon.kill(writer);
                }
                assertEquals(0, writer.exitValue());
                assertTrue(during >= 1, "no scrape while the writer ran");
                int denied = 0;
                for (int i = 0; i < 3; i++) {
                    Process cat = new ProcessBuilder("cat", root + "/c-key").redirectErrorStream(true).start();
                    try {
                        assertTrue(cat.waitFor(10, TimeUnit.SECONDS));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IOException(e);
                    }
                    denied += cat.exitValue() != 0 ? 1 : 0;
                }
                assertEquals(3, denied, "the canary's opens were denied");
                List<JsonNode> rs = ScopeIT.settle(d, m.root().resolve("sentinel"));
                // Nothing happens on the mount after the sentinel: the scrape sees what the records say.
                String last = scrape(uri);
                promtoolAccepts(last);
                Map<String, Double> s = samples(last);
                List<JsonNode> events = ofType(rs, "event");
                List<JsonNode> alerts = ofType(rs, "alert");
                assertEquals(events.size(), get(s, "fanotifyd_records_total{type=\"event\"}"));
                assertEquals(alerts.size(), get(s, "fanotifyd_records_total{type=\"alert\"}"));
                assertEquals(alerts.size(), get(s, "fanotifyd_alerts_total{kind=\"canary\"}"));
                assertEquals(0, get(s, "fanotifyd_alerts_total{kind=\"burst\"}"));
                assertEquals(rs.size(), get(s, "fanotifyd_records_written_total"));
                long own = get(s, "fanotifyd_events_skipped_total{reason=\"own\"}");
                for (int bit = 0; bit < TYPES.length; bit++) {
                    if (TYPES[bit] != null) {
                        // The daemon's own accesses (it opens directories to resolve paths) are read, not recorded.
                        assertEquals(countBit(events, bit) + (bit == OPEN_BIT ? own : 0), get(s,
                                "fanotifyd_events_read_total{type=\"" + TYPES[bit] + "\"}"), TYPES[bit]);
                    }
                }
                assertEquals(0, get(s, "fanotifyd_events_skipped_total{reason=\"out_of_scope\"}"));
                long denies = events.stream().filter(r -> "deny".equals(r.path("decision").asText())).count();
                long allows = events.stream().filter(r -> "allow".equals(r.path("decision").asText())).count();
                assertEquals(3, denies);
                assertEquals(denies, get(s, "fanotifyd_permission_decisions_total{answer=\"deny\"}"));
                assertEquals(allows, get(s, "fanotifyd_permission_decisions_total{answer=\"allow\"}"));
                assertTrue(allows >= 6000, "an open per write and per read: " + allows);
                assertEquals(allows + denies, get(s, "fanotifyd_permission_answer_seconds_count"));
                assertEquals(allows + denies, get(s, "fanotifyd_permission_answer_seconds_bucket{le=\"+Inf\"}"));
                assertEquals(events.stream().filter(r -> !r.hasNonNull("comm")).count(),
                        get(s, "fanotifyd_attribution_misses_total"));
                assertEquals(Daemon.countMarks(d.pid()), get(s, "fanotifyd_marks{group=\"notification\"}")
                        + get(s, "fanotifyd_marks{group=\"permission\"}"));
                assertEquals(0, get(s, "fanotifyd_kernel_queue_overflows_total"));
                assertEquals(0, get(s, "fanotifyd_records_dropped_total{sink=\"output\"}"));
                assertTrue(get(s, "fanotifyd_resident_memory_bytes") > 8 << 20);
                assertTrue(get(s, "fanotifyd_kernel_queue_events{group=\"permission\"}") >= 0);
                assertEquals(0, d.stop());
            }
        }
    }

    @Test
    void eachStatsRecordCountsTheRecordsBeforeIt() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--filesystem", root, "--stats-interval-s",
                    "1")) {
                Process writer = new ProcessBuilder("/bin/sh", "-c", "cd " + root + " && i=0; while [ $i -lt 200000 ];"
                        + " do echo x > f$((i % 50)); rm -f g; mkdir g; rmdir g; i=$((i+1)); done")
                        .redirectErrorStream(true).start();
                try {
                    d.await(r -> "stats".equals(r.path("type").asText())
                            && r.path("records_total").path("stats").asLong() >= 2, "third stats record", 30);
                } finally {
                    Daemon.kill(writer);
                }
                List<JsonNode> rs = ScopeIT.settle(d, m.root().resolve("sentinel"));
                int statsSeen = 0;
                int checked = 0;
                for (int i = 0; i < rs.size(); i++) {
                    JsonNode r = rs.get(i);
                    if (!"stats".equals(r.path("type").asText())) {
                        continue;
                    }
                    List<JsonNode> before = ofType(rs.subList(0, i), "event");
                    assertEquals(before.size(), r.get("records_total").get("event").asLong(), "stats #" + statsSeen);
                    assertEquals(statsSeen, r.get("records_total").get("stats").asLong());
                    long own = r.get("events_skipped_total").get("own").asLong();
                    for (int bit = 0; bit < TYPES.length; bit++) {
                        if (TYPES[bit] != null) {
                            assertEquals(countBit(before, bit) + (bit == OPEN_BIT ? own : 0),
                                    r.get("events_read_total").get(TYPES[bit]).asLong(),
                                    "stats #" + statsSeen + ", " + TYPES[bit]);
                        }
                    }
                    long made = 0;
                    for (var it = r.get("records_total").fields(); it.hasNext(); ) {
                        made += it.next().getValue().asLong();
                    }
                    assertEquals(i, made, "stats #" + statsSeen + ": the records made before it are the lines before it");
                    assertTrue(r.get("records_written_total").asLong() <= made);
                    assertTrue(r.get("marks").get("notification").asLong() >= 1);
                    statsSeen++;
                    checked += before.isEmpty() ? 0 : 1;
                }
                assertTrue(statsSeen >= 3, "stats records: " + statsSeen);
                assertTrue(checked >= 2, "stats records with events before them: " + checked);
                assertEquals(0, d.stop());
            }
        }
    }

    @Test
    void aBadAddressIsAUsageErrorNamingTheFlag() throws IOException {
        Daemon.Finished r = StartupErrorsIT.launch("--foreground", "--watch", "/tmp", "--metrics", "localhost:9464");
        StartupErrorsIT.assertOneLineError(r, 2, "--metrics: 'localhost:9464': ", "host names are not looked up");
    }

    @Test
    void aPortInUseIsAStartupErrorAndLeavesNoOutput() throws IOException {
        try (TestMount m = TestMount.tmpfs();
             ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Path out = m.outside("out.jsonl");
            String addr = "127.0.0.1:" + taken.getLocalPort();
            Daemon.Finished r = StartupErrorsIT.launch("--foreground", "--filesystem", m.root().toString(), "-o",
                    out.toString(), "--metrics", addr);
            StartupErrorsIT.assertOneLineError(r, 1, "--metrics " + addr + ":", "in use");
            assertFalse(Files.exists(out), "the output was not created");
        }
    }
}
