package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * SIGHUP reloads the configuration without closing the groups: under load through 50 reloads nothing is lost
 * or doubled and a canary in both configurations is denied every time; a bad configuration, a mark that cannot
 * be placed or a setting that needs new groups leaves the old one in force; marks, canaries and the output
 * move as the new configuration says; systemd hears RELOADING=1 and READY=1 each time.
 */
@Tag("kernel")
class ReloadIT {
    private static final int RELOADS = 50;

    /** Sends SIGHUP and waits (bounded) for the READY=1 that ends the reload; returns that message's text. */
    static String reload(Daemon d) throws IOException {
        NotifySocket n = d.notifySocket();
        int from = n.messages().size();
        d.signal("HUP");
        NotifySocket.Message reloading = n.await(m -> m.has("RELOADING=1"), from, "RELOADING=1", 20);
        assertTrue(reloading.text().contains("MONOTONIC_USEC="), reloading.text());
        return n.await(m -> m.has("READY=1"), n.indexOf(reloading) + 1, "READY=1 after a reload", 20).text();
    }

    private static Process sh(String script) throws IOException {
        return new ProcessBuilder("/bin/sh", "-c", script).redirectErrorStream(true).start();
    }

    private static String finish(Process p, int seconds) throws IOException {
        try {
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                Daemon.kill(p);
                throw new AssertionError("still running after " + seconds + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    }

    /** A state the test waits for; may read files or scrape. */
    private interface Check {
        boolean holds() throws IOException;
    }

    /** Polls {@code check} until it holds, for at most 20 s; the caller asserts the state afterwards. */
    private static void awaitState(Check check) throws IOException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!check.holds() && System.nanoTime() < until) {
            Daemon.sleep(20);
        }
    }

    private static long bits(JsonNode r, long bit) {
        return (r.path("mask").asLong() & bit) != 0 ? 1 : 0;
    }

    @Test
    void fiftyReloadsUnderLoadLoseNothingAndDenyTheCanaryThroughout() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            Files.createDirectory(m.root().resolve("extra"));
            Files.createDirectory(m.root().resolve("ws"));
            Files.writeString(m.root().resolve("c-key"), "secret\n");
            Path conf = m.outside("fanotifyd.conf");
            String a = "filesystem " + root + "\nperm 1\ndeny_on_alert 1\ncanary " + root + "/c-*\n"
                    + "burst_threshold 60000\nburst_window_ms 1000\n";
            // B adds a mark, a canary, a job and other burst windows; the canary c-* is in both.
            String b = a.replace("burst_window_ms 1000", "burst_window_ms 2000") + "watch " + root + "/extra\n"
                    + "canary " + root + "/zz-*\njob j1\nworkspace " + root + "/ws\n";
            Files.writeString(conf, a);
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PermissionIT.PERM_FS_MARKS, "-c", conf.toString(),
                    "--metrics", "127.0.0.1:0", "-v")) {
                URI metrics = MetricsIT.metricsUri(d);
                // Both run until the 50 reloads are done (the stop file is off the marked mount), so that every
                // reload happens under load; each says how far it got.
                Path stop = m.outside("stop");
                Process writer = sh("cd " + root + " && i=0; while [ ! -e " + stop + " ]; do echo x > f$i;"
                        + " cat f$i > /dev/null; rm f$i; i=$((i+1)); done; echo $i");
                Process opener = sh("cd " + root + " && n=0; d=0; while [ ! -e " + stop + " ]; do"
                        + " cat c-key > /dev/null 2>&1 || d=$((d+1)); n=$((n+1)); done; echo $n $d");
                int files;
                String[] opens;
                try {
                    for (int i = 0; i < RELOADS; i++) {
                        Files.writeString(conf, i % 2 == 0 ? b : a);
                        assertFalse(reload(d).contains("ERRNO="), "reload " + (i + 1) + " failed: " + d.stderr());
                    }
                    assertTrue(writer.isAlive() && opener.isAlive(), "the load ran through every reload");
                    Files.writeString(stop, "");
                    files = Integer.parseInt(finish(writer, 60));
                    opens = finish(opener, 60).split(" ");
                } finally {
                    Daemon.kill(writer);
                    Daemon.kill(opener);
                }
                assertEquals(opens[0], opens[1], "canary opens made, and denied");
                assertTrue(files >= RELOADS, "files written during the reloads: " + files);
                List<JsonNode> rs = ScopeIT.settle(d, m.root().resolve("sentinel"));
                Map<String, long[]> perFile = new HashMap<>(); // CREATE, OPEN, MODIFY, CLOSE_WRITE, DELETE, OPEN_PERM
                long canaryDenied = 0;
                long canaryAllowed = 0;
                for (JsonNode r : rs) {
                    if (!"event".equals(r.path("type").asText())) {
                        continue;
                    }
                    String path = r.path("path").asText();
                    if (path.equals(root + "/c-key") && r.path("events").asText().contains("OPEN_PERM")) {
                        canaryDenied += "deny".equals(r.path("decision").asText()) ? 1 : 0;
                        canaryAllowed += "allow".equals(r.path("decision").asText()) ? 1 : 0;
                    }
                    if (!path.matches(java.util.regex.Pattern.quote(root) + "/f[0-9]+")) {
                        continue;
                    }
                    long[] c = perFile.computeIfAbsent(path, k -> new long[6]);
                    c[0] += bits(r, 0x100);
                    c[1] += bits(r, 0x20);
                    c[2] += bits(r, 0x2);
                    c[3] += bits(r, 0x8);
                    c[4] += bits(r, 0x200);
                    c[5] += bits(r, 0x10000);
                }
                assertEquals(files, perFile.size(), "files with records");
                for (var e : perFile.entrySet()) {
                    // In permission mode OPEN_PERM reports the opens (the notification group leaves OPEN out).
                    assertEquals("[1, 0, 1, 1, 1, 2]", java.util.Arrays.toString(e.getValue()),
                            e.getKey() + ": CREATE, OPEN, MODIFY, CLOSE_WRITE, DELETE, OPEN_PERM");
                }
                assertEquals(Long.parseLong(opens[0]), canaryDenied, "every open of the canary denied and recorded");
                assertEquals(0, canaryAllowed);
                Map<String, Double> s = MetricsIT.samples(MetricsIT.scrape(metrics));
                assertEquals(RELOADS, MetricsIT.get(s, "fanotifyd_reloads_total"));
                assertEquals(0, MetricsIT.get(s, "fanotifyd_reloads_failed_total"));
                assertEquals(MetricsIT.get(s, "fanotifyd_events_read_total{type=\"OPEN_PERM\"}"),
                        MetricsIT.get(s, "fanotifyd_permission_decisions_total{answer=\"allow\"}")
                                + MetricsIT.get(s, "fanotifyd_permission_decisions_total{answer=\"deny\"}"),
                        "every permission event answered");
                assertEquals(0, MetricsIT.get(s, "fanotifyd_errors_total"));
                System.out.println("ReloadIT: " + RELOADS + " reloads under load: " + files + " files written and"
                        + " removed, " + opens[0] + " canary opens (all denied), " + rs.size() + " records");
                assertEquals(PermissionIT.PERM_FS_MARKS, Daemon.countMarks(d.pid()), "config A's marks, after 50");
                assertEquals(0, d.stop());
            }
        }
    }

    @Test
    void aFailedReloadLeavesTheOldConfigurationInForce() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            Files.createDirectory(m.root().resolve("a"));
            Files.writeString(m.root().resolve("a/c-key"), "secret\n");
            Path conf = m.outside("fanotifyd.conf");
            String good = "watch " + root + "/a\nperm 1\ndeny_on_alert 1\ncanary " + root + "/a/c-*\n";
            Files.writeString(conf, good);
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 2, "-c", conf.toString(), "--metrics",
                    "127.0.0.1:0", "-v")) {
                URI metrics = MetricsIT.metricsUri(d);
                int marks = Daemon.countMarks(d.pid()); // both groups', and the mark watcher's own
                // A line that does not parse, a path that cannot be marked (after one that can), a setting
                // that needs new groups: each refused whole, with the reason in the log and in systemd's status.
                String[][] bad = {
                        {good + "canary\n", conf + ":5: "},
                        {"watch " + root + "/b-new\nwatch " + root + "/nonexistent\nperm 1\n", "/nonexistent: "},
                        {good.replace("perm 1\n", "") , "perm needs a restart"}};
                Files.createDirectory(m.root().resolve("b-new"));
                for (int i = 0; i < bad.length; i++) {
                    Files.writeString(conf, bad[i][0]);
                    String ready = reload(d);
                    assertTrue(ready.contains("ERRNO=22") && ready.contains("STATUS=reload failed: "), ready);
                    assertTrue(ready.contains(bad[i][1]), ready);
                    d.awaitLog("reload failed, the configuration in force is unchanged: ", 10);
                    assertEquals(marks, Daemon.countMarks(d.pid()), "the old marks only, after bad config " + i);
                    Process cat = sh("exec cat " + root + "/a/c-key");
                    finish(cat, 20);
                    assertTrue(cat.exitValue() != 0, "the canary still denied after bad config " + i);
                    assertTrue(d.stderr().contains(bad[i][1]), d.stderr());
                }
                Map<String, Double> s = MetricsIT.samples(MetricsIT.scrape(metrics));
                assertEquals(3, MetricsIT.get(s, "fanotifyd_reloads_failed_total"));
                assertEquals(0, MetricsIT.get(s, "fanotifyd_reloads_total"));
                // The b-new mark placed during the second attempt was taken back: nothing of b-new is reported.
                Shell.run("echo x > " + root + "/b-new/f");
                List<JsonNode> rs = ScopeIT.settle(d, m.root().resolve("a/sentinel"));
                assertFalse(ScopeIT.any(rs, root + "/b-new"), "b-new reported: " + rs);
                assertEquals(0, d.stop());
            }
        }
    }

    /** Writes after the reload and waits (bounded) until the subscriber printed the sentinel's record. */
    private static void subscriberSees(Process sub, Path subscribed, String root) throws IOException {
        Shell.run("echo x > " + root + "/a/two; echo x > " + root + "/b/two; echo x > " + root + "/b/c-b");
        Shell.run("echo x > " + root + "/b/sentinel2");
        awaitState(() -> Files.readString(subscribed).contains(root + "/b/sentinel2"));
        assertTrue(Files.readString(subscribed).contains(root + "/b/two"), "subscriber: "
                + Files.readString(subscribed));
        assertTrue(sub.isAlive());
    }

    @Test
    void marksCanariesAndTheOutputMoveWithTheConfiguration() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            Files.createDirectory(m.root().resolve("a"));
            Files.createDirectory(m.root().resolve("b"));
            Path conf = m.outside("fanotifyd.conf");
            Path out1 = m.outside("out1.jsonl");
            Path out2 = m.outside("out2.jsonl");
            Path log2 = m.outside("log2.txt");
            Path sock1 = m.outside("s1.sock");
            Path sock2 = m.outside("s2.sock");
            Files.writeString(conf, "watch " + root + "/a\noutput " + out1 + "\nlog_file " + m.outside("log1.txt")
                    + "\ncanary " + root + "/a/c-*\nverbose 1\nsocket " + sock1 + "\n");
            try (Daemon d = Daemon.startOutputFromConfig(out1, 1, "-c", conf.toString(), "--metrics",
                    "127.0.0.1:0")) {
                awaitState(() -> Files.readString(m.outside("log1.txt")).contains("metrics: serving"));
                URI metrics = MetricsIT.metricsUri(Files.readString(m.outside("log1.txt")));
                String notifyMarks = "fanotifyd_marks{group=\"notification\"}";
                assertEquals(1, MetricsIT.get(MetricsIT.samples(MetricsIT.scrape(metrics)), notifyMarks));
                Shell.run("echo x > " + root + "/a/one; echo x > " + root + "/b/one; echo x > " + root + "/b/c-b");
                ScopeIT.settle(d, m.root().resolve("a/sentinel1"));
                Files.writeString(conf, "watch " + root + "/b\noutput " + out2 + "\nlog_file " + log2
                        + "\ncanary " + root + "/b/c-*\nverbose 1\nsocket " + sock2 + "\nevents -open\njob j2\n"
                        + "workspace " + root + "/b\n");
                assertTrue(Files.exists(sock1));
                assertFalse(reload(d).contains("ERRNO="));
                assertFalse(Files.exists(sock1), "the old socket is gone");
                // A subscriber of the new socket gets the records made after the reload.
                Path subscribed = m.outside("subscribed.jsonl");
                Process sub = new ProcessBuilder(KernelSupport.launcher().toString(), "--subscribe", sock2.toString())
                        .redirectOutput(subscribed.toFile()).redirectErrorStream(false).start();
                try {
                    awaitState(() -> MetricsIT.get(MetricsIT.samples(MetricsIT.scrape(metrics)),
                            "fanotifyd_subscribers") >= 1);
                    assertEquals(1, MetricsIT.get(MetricsIT.samples(MetricsIT.scrape(metrics)),
                            "fanotifyd_subscribers"), "the subscriber connected to the new socket");
                    subscriberSees(sub, subscribed, root);
                } finally {
                    Daemon.kill(sub);
                }
                // The records after the reload went to the new output: wait for the sentinel there.
                awaitState(() -> Daemon.parse(out2).stream().anyMatch(r -> r.path("path").asText()
                        .equals(root + "/b/sentinel2") && r.path("events").asText().contains("CLOSE_WRITE")));
                List<JsonNode> second = Daemon.parse(out2);
                List<JsonNode> first = Daemon.parse(out1);
                assertTrue(ScopeIT.any(first, root + "/a/one") && !ScopeIT.any(first, root + "/b/"), "before: "
                        + first);
                assertFalse(ScopeIT.any(first, root + "/a/two"), "nothing after the reload in the old output");
                assertTrue(ScopeIT.any(second, root + "/b/two"), "b marked after the reload: " + second);
                for (JsonNode r : second) {
                    if ("event".equals(r.path("type").asText())) {
                        assertFalse(r.path("events").asText().matches("(.*,)?OPEN(,.*)?"), "events -open: " + r);
                        assertEquals("j2", r.path("job_id").asText(), "the new job's workspace: " + r);
                    }
                }
                assertFalse(ScopeIT.any(second, root + "/a/"), "a no longer marked: " + second);
                // One alert per record of b/c-b's write (the kernel may or may not merge MODIFY and CLOSE_WRITE).
                List<JsonNode> alerts = second.stream().filter(r -> "alert".equals(r.path("type").asText())).toList();
                assertFalse(alerts.isEmpty(), "the new canary: " + second);
                assertTrue(alerts.stream().allMatch(r -> r.path("path").asText().equals(root + "/b/c-b")),
                        "alerts of the new canary only: " + alerts);
                assertEquals(1, MetricsIT.get(MetricsIT.samples(MetricsIT.scrape(metrics)), notifyMarks),
                        "one watch for another");
                assertTrue(Files.readString(log2).contains("reloaded: 1 marks, 1 canaries"), Files.readString(log2));
                assertEquals(0, d.stop());
            }
        }
    }
}
