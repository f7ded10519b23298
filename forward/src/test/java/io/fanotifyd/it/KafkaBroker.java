package io.fanotifyd.it;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A real Kafka broker (KRaft, one node that is broker and controller), run from the {@code kafka_2.13} jars as a
 * process of its own, in a directory of its own, so that a test can stop it and start it again on the same port
 * with its data. Killed by pid on close; the directory is removed.
 */
final class KafkaBroker implements AutoCloseable {
    static {
        // The test's own clients (admin, consumer) log their whole configuration at info.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }

    private final Path dir;
    private final int port;
    private final int saslPort;
    private final int controllerPort;
    /** The SASL/PLAIN user the tests log in as, and its password. */
    static final String USER = "fanotifyd";
    static final String PASSWORD = "fan-secret";
    private Process process;

    private KafkaBroker(Path dir, int port, int saslPort, int controllerPort) {
        this.dir = dir;
        this.port = port;
        this.saslPort = saslPort;
        this.controllerPort = controllerPort;
    }

    /** Formats a new broker's storage and starts it; returns once it answers (at most 90 s). */
    static KafkaBroker start() throws IOException {
        Path dir = Files.createTempDirectory("fanotifyd-kafka.");
        KafkaBroker b = new KafkaBroker(dir, freePort(), freePort(), freePort());
        Files.writeString(dir.resolve("server.properties"), String.join("\n",
                "process.roles=broker,controller",
                "node.id=1",
                "controller.quorum.voters=1@127.0.0.1:" + b.controllerPort,
                "listeners=PLAINTEXT://127.0.0.1:" + b.port + ",SASL_PLAINTEXT://127.0.0.1:" + b.saslPort
                        + ",CONTROLLER://127.0.0.1:" + b.controllerPort,
                "advertised.listeners=PLAINTEXT://127.0.0.1:" + b.port + ",SASL_PLAINTEXT://127.0.0.1:" + b.saslPort,
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,"
                        + "CONTROLLER:PLAINTEXT",
                "sasl.enabled.mechanisms=PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                        + "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\""
                        + " password=\"admin-secret\" user_admin=\"admin-secret\" user_" + USER + "=\"" + PASSWORD
                        + "\";",
                "log.dirs=" + dir.resolve("data"),
                "num.partitions=1",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "") );
        Process format = new ProcessBuilder(b.java("kafka.tools.StorageTool", "format", "-t",
                Uuid.randomUuid().toString(), "-c", dir.resolve("server.properties").toString()))
                .redirectErrorStream(true).redirectOutput(dir.resolve("format.log").toFile()).start();
        try {
            if (!format.waitFor(60, TimeUnit.SECONDS) || format.exitValue() != 0) {
                format.destroyForcibly();
                throw new IOException("formatting the broker's storage failed: "
                        + Files.readString(dir.resolve("format.log")));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        b.startProcess();
        return b;
    }

    /** Starts the broker process on the existing storage and waits until it answers. */
    void startProcess() throws IOException {
        process = new ProcessBuilder(java("kafka.Kafka", dir.resolve("server.properties").toString()))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("broker.log").toFile())).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("the broker exited " + process.exitValue() + ": " + log());
            }
            try (Admin admin = admin()) {
                admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                return;
            } catch (Exception e) {
                Daemon.sleep(200);
            }
        }
        throw new IOException("the broker did not answer within 90 s: " + log());
    }

    /** Stops the broker (SIGTERM, then SIGKILL after 30 s) and waits for it; its data stays. */
    void stopProcess() {
        if (process != null && process.isAlive()) {
            process.toHandle().destroy();
            try {
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    String bootstrap() {
        return "127.0.0.1:" + port;
    }

    /** The listener that wants a SASL/PLAIN login ({@link #USER}, {@link #PASSWORD}). */
    String saslBootstrap() {
        return "127.0.0.1:" + saslPort;
    }

    Admin admin() {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap(),
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG,
                10000));
    }

    void createTopic(String topic, int partitions) throws Exception {
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
    }

    /** Every record of {@code topic} (all partitions), read from the start with a consumer of our own. */
    List<ConsumerRecord<byte[], byte[]>> readAll(String topic, int expectAtLeast, int seconds) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
                if (out.size() >= expectAtLeast) {
                    // and whatever else is there: to the end offsets
                    Map<TopicPartition, Long> ends = c.endOffsets(parts);
                    boolean atEnd = parts.stream().allMatch(tp -> c.position(tp) >= ends.get(tp));
                    if (atEnd) {
                        break;
                    }
                }
            }
        }
        return out;
    }

    String log() throws IOException {
        Path log = dir.resolve("broker.log");
        if (!Files.exists(log)) {
            return "(no log)";
        }
        List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }

    private List<String> java(String main, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dlog4j2.configurationFile=" + log4j(), "-cp", classPath(), main));
        cmd.addAll(List.of(args));
        return cmd;
    }

    private String log4j() {
        Path f = dir.resolve("log4j2.properties");
        try {
            if (!Files.exists(f)) {
                Files.writeString(f, "rootLogger.level=warn\nrootLogger.appenderRef.out.ref=out\n"
                        + "appender.out.type=Console\nappender.out.name=out\nappender.out.layout.type=PatternLayout\n"
                        + "appender.out.layout.pattern=%d %p %c: %m%n\n");
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return f.toString();
    }

    /** The test's class path, which holds the broker's jars (surefire may hide it behind a manifest jar). */
    private static String classPath() {
        String cp = System.getProperty("surefire.test.class.path");
        return cp != null && !cp.isEmpty() ? cp : System.getProperty("java.class.path");
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws IOException {
        if (process != null) {
            Daemon.kill(process);
        }
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
