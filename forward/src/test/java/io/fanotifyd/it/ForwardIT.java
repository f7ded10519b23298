package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The forwarder against a real broker: every record the daemon wrote reaches the topic (distinct
 * {@code event_id}s in Kafka = records in the output files, exactly), through a broker outage under load, a
 * SIGKILL of the forwarder, rotation and a restart of the daemon. Duplicates are allowed (at least once) and
 * printed per fault.
 */
@Tag("kernel")
class ForwardIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static KafkaBroker broker;

    @BeforeAll
    static void start() throws IOException {
        KernelSupport.requireKernel();
        broker = KafkaBroker.start();
    }

    @AfterAll
    static void stop() throws IOException {
        if (broker != null) {
            broker.close();
        }
    }

    /** A forwarder process, stderr to a file. */
    static final class Forwarder implements AutoCloseable {
        final Process process;
        final Path stderr;

        Forwarder(Path output, Path state, String topic, String... more) throws IOException {
            this(broker.bootstrap(), output, state, topic, more);
        }

        Forwarder(String brokers, Path output, Path state, String topic, String... more) throws IOException {
            List<String> cmd = new ArrayList<>(List.of(KernelSupport.launcher().toString(), "--forward", "-v",
                    "--output", output.toString(), "--kafka-brokers", brokers, "--kafka-topic", topic,
                    "--forward-state", state.toString()));
            cmd.addAll(List.of(more));
            stderr = Files.createTempFile("fanotifyd-forward.", ".log");
            process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(stderr.toFile()).start();
        }

        String log() throws IOException {
            return Files.readString(stderr);
        }

        /** Waits (at most {@code seconds}) until the log has {@code text}; returns the log. */
        String awaitLog(String text, int seconds) throws IOException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (System.nanoTime() < deadline) {
                String log = log();
                if (log.contains(text)) {
                    return log;
                }
                Daemon.sleep(50);
            }
            throw new AssertionError("no \"" + text + "\" in the forwarder's log within " + seconds + " s:\n" + log());
        }

        Map<String, Double> metrics() throws IOException {
            String text = MetricsIT.scrape(MetricsIT.metricsUri(awaitLog("metrics: serving http://", 30)));
            MetricsIT.promtoolAccepts(text);
            return MetricsIT.samples(text);
        }

        int stop() throws IOException {
            return Daemon.terminate(process);
        }

        @Override
        public void close() throws IOException {
            Daemon.kill(process);
            Files.deleteIfExists(stderr);
        }
    }

    /** Creates, writes and removes files under {@code dir} until stopped; each file makes a few records. */
    static final class Load implements AutoCloseable {
        final AtomicBoolean stop = new AtomicBoolean();
        volatile int perSecond;
        final AtomicLong files = new AtomicLong();
        final Thread thread;

        Load(Path dir) {
            this(dir, 2000);
        }

        /** At most {@code perSecond} files a second: the forwarder must catch up within the test's time. */
        Load(Path dir, int perSecond) {
            this.perSecond = perSecond;
            thread = new Thread(() -> {
                byte[] data = new byte[100];
                long lastNs = System.nanoTime();
                while (!stop.get()) {
                    long due = lastNs + 1_000_000_000L / this.perSecond;
                    lastNs = Math.max(due, System.nanoTime() - 100_000_000L);
                    long early = due - System.nanoTime();
                    if (early > 1_000_000) {
                        Daemon.sleep(early / 1_000_000); // pacing, not synchronisation
                    }
                    Path f = dir.resolve("f" + files.get());
                    try {
                        Files.write(f, data);
                        Files.delete(f);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                    files.incrementAndGet();
                }
            }, "load");
            thread.start();
        }

        /** Runs until at least {@code n} more files were made (at most 120 s). */
        void awaitMore(long n) {
            long target = files.get() + n;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (files.get() < target && System.nanoTime() < deadline && thread.isAlive()) {
                Daemon.sleep(20);
            }
            assertTrue(files.get() >= target, "the load made " + files.get() + " files, not " + target);
        }

        @Override
        public void close() {
            stop.set(true);
            try {
                thread.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The event_ids of every record in the output and its rotated files (logrotate's compressed ones too). */
    static List<String> writtenIds(Path output) throws IOException {
        List<String> ids = new ArrayList<>();
        try (Stream<Path> files = Files.list(output.getParent())) {
            for (Path f : files.filter(p -> p.getFileName().toString().startsWith(output.getFileName().toString()))
                    .toList()) {
                Path plain = f;
                if (f.toString().endsWith(".gz")) {
                    plain = Files.createTempFile("fanotifyd-gunzip.", ".jsonl");
                    try (var in = new java.util.zip.GZIPInputStream(Files.newInputStream(f))) {
                        Files.copy(in, plain, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    }
                }
                List<JsonNode> records = Daemon.parse(plain);
                if (plain != f) {
                    Files.delete(plain);
                }
                for (JsonNode r : records) {
                    String id = r.path("event_id").asText("");
                    assertTrue(!id.isEmpty(), "a record without event_id: " + r);
                    ids.add(id);
                }
            }
        }
        return ids;
    }

    /**
     * Waits until the topic holds every id in {@code written}; asserts that it holds nothing else; returns the
     * number of duplicates.
     */
    static long assertDelivered(String topic, List<String> written, String fault, Forwarder f) throws IOException {
        try {
            return assertDelivered(topic, written, fault);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nforwarder log:\n" + f.log(), e);
        }
    }

    static long assertDelivered(String topic, List<String> written, String fault) {
        Set<String> expected = new HashSet<>(written);
        assertEquals(written.size(), expected.size(), "event_ids are unique in the output");
        Map<String, Integer> seen = new HashMap<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
        List<ConsumerRecord<byte[], byte[]>> got = List.of();
        while (System.nanoTime() < deadline) {
            got = broker.readAll(topic, written.size(), 10);
            seen.clear();
            for (ConsumerRecord<byte[], byte[]> r : got) {
                seen.merge(io.fanotifyd.forward.ForwardTestAccess.eventId(r.value()), 1, Integer::sum);
            }
            if (seen.keySet().containsAll(expected)) {
                break;
            }
            Daemon.sleep(500);
        }
        Set<String> missing = new HashSet<>(expected);
        missing.removeAll(seen.keySet());
        Set<String> extra = new HashSet<>(seen.keySet());
        extra.removeAll(expected);
        assertEquals(Set.of(), missing.size() > 10 ? Set.of(missing.size() + " missing") : missing,
                fault + ": records written but not in Kafka");
        assertEquals(Set.of(), extra, fault + ": records in Kafka that the daemon did not write");
        long duplicates = got.size() - seen.size();
        System.out.println("ForwardIT " + fault + ": " + written.size() + " records written, " + seen.size()
                + " distinct in Kafka, " + duplicates + " duplicates"
                + (duplicates == 0 ? "" : ", e.g. " + seen.entrySet().stream().filter(e -> e.getValue() > 1).limit(5)
                .toList()));
        return duplicates;
    }

    private static Daemon daemon(TestMount m, Path out) throws IOException {
        return Daemon.start(out, 1, "--filesystem", m.root().toString(), "--host-fields", "--field", "site=lab",
                "--output-max-bytes", "1M", "--output-keep", "1000");
    }

    @Test
    void everyRecordArrivesOnceWithTheHostsKeyAndReadsBackWithKcat() throws Exception {
        String topic = "plain";
        broker.createTopic(topic, 3);
        Path dir = Files.createTempDirectory("fanotifyd-fw.");
        try (TestMount m = TestMount.tmpfs(); Daemon d = daemon(m, dir.resolve("out.jsonl"));
             Forwarder f = new Forwarder(dir.resolve("out.jsonl"), dir.resolve("state"), topic)) {
            try (Load load = new Load(m.root())) {
                load.awaitMore(3000);
            }
            // The daemon itself never has the Kafka client: not on its class path, no jar of it mapped.
            String cmdline = Files.readString(Path.of("/proc/" + d.pid() + "/cmdline")).replace('\0', ' ');
            assertTrue(!cmdline.contains("forward/"), cmdline);
            assertTrue(openFiles(d.pid()).stream().noneMatch(p -> p.contains("kafka")), "the daemon opened a Kafka jar");
            assertTrue(openFiles(f.process.pid()).stream().anyMatch(p -> p.contains("kafka-clients")),
                    "the forwarder does (so the check above can fail): " + openFiles(f.process.pid()));
            assertEquals(0, d.stop());
            List<String> written = writtenIds(dir.resolve("out.jsonl"));
            assertEquals(0, assertDelivered(topic, written, "no fault", f), "no fault, no duplicate; forwarder log:\n"
                    + f.log());
            // The values are the lines as written, the key the machine id, all in one partition.
            List<ConsumerRecord<byte[], byte[]>> got = broker.readAll(topic, written.size(), 10);
            String machineId = Files.readString(Path.of("/etc/machine-id")).strip();
            Set<Integer> partitions = new HashSet<>();
            for (ConsumerRecord<byte[], byte[]> r : got) {
                assertEquals(machineId, new String(r.key(), StandardCharsets.UTF_8));
                partitions.add(r.partition());
                JsonNode n = JSON.readTree(r.value());
                assertEquals("lab", n.path("site").asText());
                assertEquals(machineId, n.path("machine_id").asText());
            }
            assertEquals(1, partitions.size(), "one host's records share a partition");
            // In order: the numbers of event_id rise along the partition.
            long last = 0;
            for (ConsumerRecord<byte[], byte[]> r : got) {
                String id = io.fanotifyd.forward.ForwardTestAccess.eventId(r.value());
                long n = Long.parseLong(id.substring(id.lastIndexOf('/') + 1));
                assertTrue(n > last, "out of order: " + n + " after " + last);
                last = n;
            }
            // An independent consumer: kcat reads the same records.
            Process kcat = new ProcessBuilder("kcat", "-b", broker.bootstrap(), "-C", "-t", topic, "-o",
                    "beginning", "-e", "-q").redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String text = new String(kcat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(kcat.waitFor(60, TimeUnit.SECONDS));
            Set<String> kcatIds = new HashSet<>();
            text.lines().filter(l -> !l.isEmpty()).forEach(l -> kcatIds.add(
                    io.fanotifyd.forward.ForwardTestAccess.eventId(l.getBytes(StandardCharsets.UTF_8))));
            assertEquals(new HashSet<>(written), kcatIds, "kcat reads every record");
            assertEquals(0, f.stop());
            assertTrue(f.log().contains("forwarded " + written.size() + " records (0 sent again"), f.log());
        } finally {
            deleteTree(dir);
        }
    }

    @Test
    void brokerStoppedForThirtySecondsUnderLoad() throws Exception {
        String topic = "outage";
        broker.createTopic(topic, 1);
        Path dir = Files.createTempDirectory("fanotifyd-fw.");
        try (TestMount m = TestMount.tmpfs(); Daemon d = daemon(m, dir.resolve("out.jsonl"));
             Forwarder f = new Forwarder(dir.resolve("out.jsonl"), dir.resolve("state"), topic)) {
            try (Load load = new Load(m.root())) {
                load.awaitMore(1000);
                load.perSecond = 500; // 30 s of it: records the forwarder catches up with in seconds
                broker.stopProcess();
                long downAt = System.nanoTime();
                load.awaitMore(2000);
                long left = TimeUnit.SECONDS.toMillis(30) - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - downAt);
                if (left > 0) {
                    Thread.sleep(left); // the outage itself lasts 30 s, as a real one would
                }
                broker.startProcess();
                load.awaitMore(1000);
            }
            assertEquals(0, d.stop());
            assertDelivered(topic, writtenIds(dir.resolve("out.jsonl")), "broker down 30 s", f);
            assertTrue(f.process.isAlive(), "the forwarder outlived the outage: " + f.log());
        } finally {
            deleteTree(dir);
        }
    }

    /**
     * SIGKILL while the forwarder works through a backlog, just after a checkpoint was written: what was
     * acknowledged since is sent again by the next one (duplicates), nothing is lost.
     */
    @Test
    void forwarderKilledAndRestartedWhileCatchingUp() throws Exception {
        String topic = "killed";
        broker.createTopic(topic, 1);
        Path dir = Files.createTempDirectory("fanotifyd-fw.");
        Path out = dir.resolve("out.jsonl");
        Path state = dir.resolve("state");
        try (TestMount m = TestMount.tmpfs(); Daemon d = daemon(m, out)) {
            try (Load load = new Load(m.root())) {
                for (int round = 0; round < 3; round++) {
                    load.awaitMore(4000); // a backlog of about 16000 records
                    String before = Files.exists(state) ? Files.readString(state) : "";
                    try (Forwarder f = new Forwarder(out, state, topic)) {
                        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                        while (System.nanoTime() < deadline && f.process.isAlive()
                                && (!Files.exists(state) || Files.readString(state).equals(before))) {
                            Daemon.sleep(5);
                        }
                        assertTrue(Files.exists(state) && !Files.readString(state).equals(before),
                                "a checkpoint within 60 s: " + f.log());
                        f.process.destroyForcibly(); // SIGKILL: no last checkpoint
                        f.process.waitFor(10, TimeUnit.SECONDS);
                    }
                }
                load.awaitMore(500);
            }
            assertEquals(0, d.stop());
            try (Forwarder f = new Forwarder(out, state, topic)) {
                assertDelivered(topic, writtenIds(out), "forwarder SIGKILLed 3 times while catching up", f);
            }
        } finally {
            deleteTree(dir);
        }
    }

    @Test
    void daemonRestartedWhileTheForwarderFollows() throws Exception {
        String topic = "restarted";
        broker.createTopic(topic, 1);
        Path dir = Files.createTempDirectory("fanotifyd-fw.");
        Path out = dir.resolve("out.jsonl");
        try (TestMount m = TestMount.tmpfs();
             Forwarder f = new Forwarder(out, dir.resolve("state"), topic)) {
            for (int run = 0; run < 2; run++) {
                try (Daemon d = daemon(m, out); Load load = new Load(m.root())) {
                    load.awaitMore(3000); // past 1 MiB: rotation too
                    load.close();
                    assertEquals(0, d.stop());
                }
            }
            List<String> written = writtenIds(out);
            assertTrue(written.stream().map(id -> id.substring(0, id.lastIndexOf('/'))).distinct().count() == 2,
                    "two runs of the daemon");
            long files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.filter(p -> p.getFileName().toString().startsWith("out.jsonl")).count();
            }
            assertTrue(files > 2, "the output rotated: " + files + " files");
            assertDelivered(topic, written, "daemon restarted, " + files + " files", f);
        } finally {
            deleteTree(dir);
        }
    }

    /**
     * The packaged logrotate config, run for real three times under load: rename, create, a SIGUSR1 found
     * through the pid file, compress with delaycompress. The forwarder follows the renamed file through the
     * window before the daemon reopens, and holds it while logrotate compresses and removes it.
     */
    @Test
    void thePackagedLogrotateRotatesUnderLoad() throws Exception {
        String topic = "logrotate";
        broker.createTopic(topic, 1);
        try (TestMount m = TestMount.tmpfs()) {
            Path logDir = Files.createDirectory(m.outside("log"));
            Path runDir = Files.createDirectory(m.outside("run"));
            Path out = logDir.resolve("events.jsonl");
            Path conf = RotationIT.logrotateConfig(logDir, runDir, m.outside(""));
            Path state = m.outside("logrotate.state");
            try (Daemon d = Daemon.start(out, 1, "--filesystem", m.root().toString(), "--host-fields",
                    "--pid-file", runDir.resolve("events.pid").toString());
                 Forwarder f = new Forwarder(out, m.outside("forward.state"), topic)) {
                try (Load load = new Load(m.root())) {
                    for (int i = 0; i < 3; i++) {
                        load.awaitMore(1500);
                        RotationIT.logrotate(conf, state);
                    }
                    load.awaitMore(1500);
                }
                assertEquals(0, d.stop());
                List<String> names = List.of(logDir.toFile().list());
                assertTrue(names.contains("events.jsonl.2.gz") && names.contains("events.jsonl.1"), names.toString());
                assertDelivered(topic, writtenIds(out), "logrotate 3 times, " + names.size() + " files", f);
            }
        }
    }

    /**
     * The daemon SIGKILLed under load, twice, and started again on the same output: what it had written is in
     * the topic, once per event_id, and every value in the topic is a whole record (a daemon killed mid-write
     * leaves part of a record, which the next one cuts off before appending).
     */
    @Test
    void daemonKilledUnderLoadAndStartedAgain() throws Exception {
        String topic = "daemonkilled";
        broker.createTopic(topic, 1);
        Path dir = Files.createTempDirectory("fanotifyd-fw.");
        Path out = dir.resolve("out.jsonl");
        try (TestMount m = TestMount.tmpfs();
             Forwarder f = new Forwarder(out, dir.resolve("state"), topic)) {
            for (int run = 0; run < 3; run++) {
                try (Daemon d = daemon(m, out); Load load = new Load(m.root(), 4000)) {
                    load.awaitMore(4000);
                    if (run < 2) {
                        d.process().destroyForcibly(); // SIGKILL, under load
                        d.process().waitFor(10, TimeUnit.SECONDS);
                    } else {
                        load.close();
                        assertEquals(0, d.stop());
                    }
                }
            }
            List<String> written = writtenIds(out);
            assertDelivered(topic, written, "daemon SIGKILLed twice under load", f);
            for (ConsumerRecord<byte[], byte[]> r : broker.readAll(topic, written.size(), 10)) {
                JsonNode n = JSON.readTree(r.value()); // throws on a broken line
                assertTrue(n.has("event_id") && n.has("type"), n.toString());
            }
        } finally {
            deleteTree(dir);
        }
    }

    @Test
    void aMissingTopicIsRetriedUntilItExistsAndTheMetricsShowIt() throws Exception {
        String topic = "late";
        Path dir = Files.createTempDirectory("fanotifyd-fw.");
        Path out = dir.resolve("out.jsonl");
        try (TestMount m = TestMount.tmpfs(); Daemon d = daemon(m, out);
             Forwarder f = new Forwarder(out, dir.resolve("state"), topic, "--forward-metrics", "127.0.0.1:0")) {
            try (Load load = new Load(m.root())) {
                load.awaitMore(500);
            }
            String log = f.awaitLog("not present in metadata", 60);
            assertTrue(log.contains("kafka: TimeoutException: Topic late not present in metadata"), log);
            Map<String, Double> before = f.metrics();
            assertTrue(MetricsIT.get(before, "fanotifyd_forward_failures_total") >= 1, before.toString());
            assertEquals(0, MetricsIT.get(before, "fanotifyd_forward_records_acked_total"));
            broker.createTopic(topic, 1);
            assertEquals(0, d.stop());
            List<String> written = writtenIds(out);
            assertDelivered(topic, written, "missing topic", f);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            Map<String, Double> after = f.metrics();
            while (MetricsIT.get(after, "fanotifyd_forward_lag_bytes") != 0 && System.nanoTime() < deadline) {
                Daemon.sleep(200);
                after = f.metrics();
            }
            assertEquals(0, MetricsIT.get(after, "fanotifyd_forward_lag_bytes"), after.toString());
            assertTrue(MetricsIT.get(after, "fanotifyd_forward_records_acked_total") >= written.size());
            assertTrue(MetricsIT.get(after, "fanotifyd_forward_last_ack_timestamp_seconds") > 0);
        } finally {
            deleteTree(dir);
        }
    }

    @Test
    void wrongCredentialsAreSaidAndNothingIsLostUntilTheRightOnesCome() throws Exception {
        String topic = "sasl";
        broker.createTopic(topic, 1);
        Path dir = Files.createTempDirectory("fanotifyd-fw.");
        Path out = dir.resolve("out.jsonl");
        String jaas = "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required"
                + " username=\"" + KafkaBroker.USER + "\" password=\"%s\";";
        try (TestMount m = TestMount.tmpfs(); Daemon d = daemon(m, out)) {
            try (Load load = new Load(m.root())) {
                load.awaitMore(500);
            }
            assertEquals(0, d.stop());
            try (Forwarder f = new Forwarder(broker.saslBootstrap(), out, dir.resolve("state"), topic,
                    "--kafka-property", "security.protocol=SASL_PLAINTEXT", "--kafka-property", "sasl.mechanism=PLAIN",
                    "--kafka-property", jaas.formatted("wrong"))) {
                String log = f.awaitLog("kafka: SaslAuthenticationException", 60);
                assertTrue(log.contains("Invalid username or password"), log);
                assertEquals(0, f.stop());
            }
            try (Forwarder f = new Forwarder(broker.saslBootstrap(), out, dir.resolve("state"), topic,
                    "--kafka-property", "security.protocol=SASL_PLAINTEXT", "--kafka-property", "sasl.mechanism=PLAIN",
                    "--kafka-property", jaas.formatted(KafkaBroker.PASSWORD))) {
                assertDelivered(topic, writtenIds(out), "wrong password, then the right one", f);
            }
        } finally {
            deleteTree(dir);
        }
    }

    @Test
    void fallingBehindRotationCountsTheMissedRecordsExactly() throws Exception {
        String topic = "behind";
        broker.createTopic(topic, 1);
        Path dir = Files.createTempDirectory("fanotifyd-fw.");
        Path out = dir.resolve("out.jsonl");
        try (TestMount m = TestMount.tmpfs();
             Daemon d = Daemon.start(out, 1, "--filesystem", m.root().toString(), "--host-fields",
                     "--output-max-bytes", "1M", "--output-keep", "1")) {
            try (Load load = new Load(m.root())) {
                load.awaitMore(300);
            }
            // The daemon still writing the load's last records would put them in Kafka but not in the snapshot
            // below: a directory made after the load is one record, and every record before it is written first.
            Files.createDirectory(m.root().resolve("sentinel"));
            d.await(r -> "sentinel".equals(r.path("name").asText()), "for the sentinel directory", 30);
            try (Forwarder f = new Forwarder(out, dir.resolve("state"), topic)) {
                assertDelivered(topic, writtenIds(out), "before falling behind", f);
                assertEquals(0, f.stop());
            }
            try (Load load = new Load(m.root())) {
                load.awaitMore(8000); // about 3 MiB: the file the checkpoint names is rotated away
            }
            assertEquals(0, d.stop());
            // What the topic will hold: what it holds already, and what is left on disk.
            java.util.LinkedHashSet<String> expected = new java.util.LinkedHashSet<>();
            broker.readAll(topic, 1, 10).forEach(r -> expected.add(
                    io.fanotifyd.forward.ForwardTestAccess.eventId(r.value())));
            expected.addAll(writtenIds(out));
            List<String> left = List.copyOf(expected);
            try (Forwarder f = new Forwarder(out, dir.resolve("state"), topic)) {
                String log = f.awaitLog("fell behind: ", 60);
                java.util.regex.Matcher said = java.util.regex.Pattern
                        .compile("fell behind: (\\d+) records are missing from the spool").matcher(log);
                assertTrue(said.find(), log);
                assertDelivered(topic, left, "after falling behind", f);
                // Every number of the run that is in no file and not in Kafka is one the log counted.
                Set<Long> inKafka = new HashSet<>();
                for (ConsumerRecord<byte[], byte[]> r : broker.readAll(topic, 1, 10)) {
                    String id = io.fanotifyd.forward.ForwardTestAccess.eventId(r.value());
                    inKafka.add(Long.parseLong(id.substring(id.lastIndexOf('/') + 1)));
                }
                long max = inKafka.stream().mapToLong(Long::longValue).max().orElseThrow();
                long missing = LongStream.rangeClosed(1, max).filter(n -> !inKafka.contains(n)).count();
                assertTrue(missing > 0, "some were removed");
                assertEquals(missing, Long.parseLong(said.group(1)), log);
            }
        } finally {
            deleteTree(dir);
        }
    }

    @Test
    void aFullDiskUnderTheCheckpointIsSaidAndRecordsStillGo() throws Exception {
        String topic = "fulldisk";
        broker.createTopic(topic, 1);
        Path dir = Files.createTempDirectory("fanotifyd-fw.");
        Path out = dir.resolve("out.jsonl");
        try (TestMount m = TestMount.tmpfs(); TestMount small = TestMount.tmpfs("64k"); Daemon d = daemon(m, out)) {
            Path state = small.root().resolve("state");
            Path filler = small.root().resolve("filler");
            try (java.io.OutputStream o = Files.newOutputStream(filler)) {
                byte[] block = new byte[4096];
                for (int i = 0; i < 1000; i++) {
                    o.write(block);
                    o.flush();
                }
            } catch (IOException full) {
                // ENOSPC: full, as wanted
            }
            try (Forwarder f = new Forwarder(out, state, topic)) {
                try (Load load = new Load(m.root())) {
                    load.awaitMore(500);
                }
                assertEquals(0, d.stop());
                f.awaitLog("checkpoint " + state + ": ", 60);
                assertDelivered(topic, writtenIds(out), "checkpoint on a full disk", f);
                Files.delete(filler);
                SocketIT.await(() -> Files.exists(state), "the checkpoint written once there is room", 30);
                assertEquals(0, f.stop());
                assertTrue(Files.readString(state).contains("offset " + Files.size(out)), Files.readString(state));
            }
        } finally {
            deleteTree(dir);
        }
    }

    /** What the process has open ({@code /proc/PID/fd}), and what it maps. */
    static List<String> openFiles(long pid) throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    out.add(Files.readSymbolicLink(fd).toString());
                } catch (IOException gone) {
                    // closed meanwhile
                }
            }
        }
        out.addAll(Files.readAllLines(Path.of("/proc/" + pid + "/maps")));
        return out;
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
