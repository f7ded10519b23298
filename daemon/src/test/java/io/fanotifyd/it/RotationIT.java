package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.fanotifyd.it.PermissionIT.Child;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPInputStream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Output that survives rotation, under load: fanotifyd's own size rotation ({@code --output-max-bytes},
 * {@code --output-keep}), and the packaged logrotate configuration run for real ({@code logrotate -f}, rename,
 * {@code create}, a postrotate SIGUSR1 found through the pid file). Every event record's {@code seq} must be in
 * exactly one file, whole; none lost, none twice, none split.
 */
@Tag("kernel")
class RotationIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    /** What a set of output files holds: every event record's seq, the dropped counts, torn lines. */
    record Tally(Set<Long> seqs, long records, long dropped, long maxSeq, long minSeq, int files) {
        static Tally of(List<Path> files) throws IOException {
            Set<Long> seqs = new HashSet<>();
            long records = 0;
            long dropped = 0;
            long max = 0;
            long min = Long.MAX_VALUE;
            for (Path f : files) {
                for (JsonNode r : parse(f)) {
                    if ("dropped".equals(r.path("type").asText())) {
                        dropped += r.path("dropped").asLong();
                    } else if (r.has("seq")) {
                        long seq = r.get("seq").asLong();
                        records++;
                        if (!seqs.add(seq)) {
                            fail("seq " + seq + " is written twice (in " + f + ")");
                        }
                        max = Math.max(max, seq);
                        min = Math.min(min, seq);
                    }
                }
            }
            return new Tally(seqs, records, dropped, max, min, files.size());
        }
    }

    /** A file's records, gzip or not; a torn or invalid line fails. */
    static List<JsonNode> parse(Path f) throws IOException {
        byte[] all;
        if (f.toString().endsWith(".gz")) {
            try (InputStream in = new GZIPInputStream(Files.newInputStream(f))) {
                all = in.readAllBytes();
            }
        } else {
            all = Files.readAllBytes(f);
        }
        String text = new String(all, StandardCharsets.UTF_8);
        if (!text.isEmpty() && !text.endsWith("\n")) {
            fail(f + " ends inside a record: " + text.substring(Math.max(0, text.length() - 200)));
        }
        List<JsonNode> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (!line.isEmpty()) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }

    /** A writer making events on {@code work} as fast as it can ({@link LoadGenerator}) until {@code stop} exists. */
    static Child load(Path work, Path stop) throws IOException {
        return LoadGenerator.start(work, stop);
    }

    /** Records per second over a run: the records the stop line counts, by the run's wall time. */
    static long rate(Daemon d, long startNs) throws IOException {
        long records = d.stats().get("records");
        return records * 1_000_000_000L / Math.max(1, System.nanoTime() - startNs);
    }

    static String[] args(boolean perm, Path root, String... more) {
        List<String> a = new ArrayList<>(List.of("-v"));
        if (perm) {
            a.addAll(List.of(PermissionIT.permArgs(root)));
        } else {
            a.addAll(List.of("--mount", root.toString()));
        }
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void sizeRotationUnderLoadKeepsTheNewestFilesWithEveryRecordWholeAndOnce(boolean perm) throws Exception {
        long max = 1 << 20;
        int keep = 3;
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path work = Files.createDirectory(root.resolve("work"));
            Path out = m.outside("out.jsonl");
            Path stop = m.outside("stop");
            long rate;
            try (Daemon d = Daemon.start(out, perm ? PermissionIT.PERM_MOUNT_MARKS : 1, args(perm, root,
                    "--output-max-bytes", "1M", "--output-keep", Integer.toString(keep), "--output-mode", "0600"))) {
                long t0;
                try (Child writer = load(work, stop)) {
                    d.await(r -> r.path("path").asText().startsWith(work.toString()), "the load", 30);
                    t0 = System.nanoTime(); // the rate is taken from here: not the load's JVM start
                    // Until the rotation has gone past what it keeps: the oldest files were dropped by then.
                    Path beyond = m.outside("out.jsonl." + keep);
                    long deadline = System.nanoTime() + 60_000_000_000L;
                    while (System.nanoTime() < deadline && (!Files.exists(beyond)
                            || Tally.of(List.of(beyond)).minSeq() < 2)) {
                        Daemon.sleep(50);
                    }
                    Files.writeString(stop, "");
                    assertTrue(writer.awaitExit(30_000), writer.toString());
                    assertEquals(0, writer.exitCode(), "every open was answered: " + writer);
                }
                assertEquals(0, d.stop(), d.stderr());
                rate = rate(d, t0);
            }
            List<Path> files = new ArrayList<>();
            for (int i = keep; i >= 1; i--) {
                Path f = m.outside("out.jsonl." + i);
                assertTrue(Files.exists(f), f + " exists");
                files.add(f);
            }
            files.add(out);
            assertFalse(Files.exists(m.outside("out.jsonl." + (keep + 1))), "no more than --output-keep files");
            for (Path f : files) {
                assertTrue(Files.size(f) <= max, f + " is " + Files.size(f) + " bytes, over " + max);
                assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)),
                        "--output-mode for " + f);
            }
            Tally t = Tally.of(files);
            // The kept files hold one unbroken run of records, up to the last one: older ones went with the
            // files rotated away, none inside the run.
            assertEquals(t.maxSeq() - t.minSeq() + 1, t.records() + t.dropped(), "seq " + t.minSeq() + ".." + t.maxSeq()
                    + ": every record in one file or counted dropped");
            assertTrue(t.minSeq() > 1, "the oldest records were rotated away");
            System.out.println("size rotation" + (perm ? " (permission mode)" : "") + ": " + t.records()
                    + " records in " + t.files() + " files of at most " + max + " bytes, " + t.dropped()
                    + " dropped, 0 lost, 0 duplicated, 0 torn, at " + rate + " records/s");
        }
    }

    /** The packaged /etc/logrotate.d/fanotifyd, pointed at the test's own directories. */
    static Path logrotateConfig(Path logDir, Path runDir, Path dir) throws IOException {
        Path packaged = Path.of("..", "packaging", "logrotate", "fanotifyd").toAbsolutePath().normalize();
        String conf = Files.readString(packaged)
                .replace("/var/log/fanotifyd/", logDir + "/")
                .replace("/run/fanotifyd/", runDir + "/");
        assertTrue(conf.contains(logDir + "/*.jsonl {"), conf);
        assertFalse(conf.lines().anyMatch(l -> l.strip().startsWith("copytruncate")), "never copytruncate");
        return Files.writeString(dir.resolve("logrotate.conf"), conf);
    }

    static void logrotate(Path conf, Path state) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder("logrotate", "-f", "-s", state.toString(), conf.toString())
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                fail("logrotate is needed in CI (Debian package logrotate): " + e.getMessage());
            }
            System.out.println("SKIP: no logrotate: " + e.getMessage());
            org.junit.jupiter.api.Assumptions.abort("no logrotate");
            return;
        }
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "logrotate did not finish");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "logrotate: " + out);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void thePackagedLogrotateConfigRotatesUnderLoadWithoutLosingOrTearingARecord(boolean perm) throws Exception {
        int rotations = 3;
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path work = Files.createDirectory(root.resolve("work"));
            Path logDir = Files.createDirectory(m.outside("log"));
            Path runDir = Files.createDirectory(m.outside("run"));
            Path out = logDir.resolve("events.jsonl");
            Path conf = logrotateConfig(logDir, runDir, m.outside(""));
            Path state = m.outside("logrotate.state");
            Path stop = m.outside("stop");
            long rate;
            try (Daemon d = Daemon.start(out, perm ? PermissionIT.PERM_MOUNT_MARKS : 1, args(perm, root,
                    "--pid-file", runDir.resolve("events.pid").toString()))) {
                long t0;
                try (Child writer = load(work, stop)) {
                    d.await(r -> r.path("path").asText().startsWith(work.toString()), "the load", 30);
                    t0 = System.nanoTime(); // the rate is taken from here: not the load's JVM start
                    for (int i = 0; i < rotations; i++) {
                        // A record in the file about to be rotated, so that notifempty does not skip it.
                        d.await(r -> true, "a record before rotation " + (i + 1), 20);
                        logrotate(conf, state);
                        assertTrue(Files.exists(logDir.resolve("events.jsonl.1")), "rotated: "
                                + List.of(logDir.toFile().list()));
                    }
                    d.await(r -> true, "a record after the last rotation", 20);
                    Files.writeString(stop, "");
                    assertTrue(writer.awaitExit(30_000), writer.toString());
                    assertEquals(0, writer.exitCode(), "every open was answered: " + writer);
                }
                assertEquals(0, d.stop(), d.stderr());
                rate = rate(d, t0);
            }
            List<Path> files = new ArrayList<>();
            for (int i = rotations; i >= 2; i--) {
                files.add(logDir.resolve("events.jsonl." + i + ".gz")); // compress, delaycompress
            }
            files.add(logDir.resolve("events.jsonl.1"));
            files.add(out);
            for (Path f : files) {
                assertTrue(Files.exists(f), f + " exists; " + List.of(logDir.toFile().list()));
            }
            assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
            Tally t = Tally.of(files);
            assertEquals(1, t.minSeq(), "the first record is kept");
            assertEquals(t.maxSeq(), t.records() + t.dropped(), "seq 1.." + t.maxSeq()
                    + ": every record in one file or counted dropped");
            System.out.println("logrotate" + (perm ? " (permission mode)" : "") + ": " + rotations + " rotations, "
                    + t.records() + " records in " + t.files() + " files, " + t.dropped()
                    + " dropped, 0 lost, 0 duplicated, 0 torn, at " + rate + " records/s");
        }
    }
}
