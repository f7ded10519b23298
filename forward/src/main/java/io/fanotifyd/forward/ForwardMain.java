package io.fanotifyd.forward;

import io.fanotifyd.daemon.Log;
import io.fanotifyd.daemon.MetricsEndpoint;
import io.fanotifyd.metrics.MetricsServer;
import io.fanotifyd.daemon.StartupException;
import io.fanotifyd.daemon.options.Settings;
import io.fanotifyd.daemon.options.UsageException;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * {@code fanotifyd --forward}: the forwarder, a process of its own beside the daemon (docs/FLEET.md). It reads
 * the same config file; of it, it takes {@code output} (the spool), the {@code kafka_*} keys,
 * {@code forward_state} and {@code verbose}, and logs to stderr (the journal under systemd).
 */
public final class ForwardMain {
    /** Producer settings the forwarder decides: at-least-once in order rests on them. */
    static final Set<String> FIXED = Set.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, ProducerConfig.ACKS_CONFIG,
            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG,
            ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ProducerConfig.TRANSACTIONAL_ID_CONFIG,
            ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, ProducerConfig.RETRIES_CONFIG,
            ProducerConfig.PARTITIONER_CLASS_CONFIG);

    private ForwardMain() {}

    /** Called by {@code io.fanotifyd.daemon.Main} for {@code --forward}; returns the exit code. */
    public static int run(Settings settings) throws IOException {
        Settings.Fleet fleet = settings.fleet();
        if (settings.output().isEmpty()) {
            throw new UsageException("--forward: needs --output PATH, the daemon's output file (the spool)");
        }
        if (fleet.kafkaBrokers().isEmpty()) {
            throw new UsageException("--forward: needs --kafka-brokers HOST:PORT,...");
        }
        Log.setVerbosity(settings.verbosity());
        quietClientLog(settings.verbosity());
        String host = hostKeyText();
        Properties props = producerProperties(fleet, host);
        byte[] key = host.getBytes(StandardCharsets.UTF_8);
        // A setting the client refuses is found now, once (exit 2). Only the settings: making a producer also
        // resolves the brokers' names and loads TLS stores, which can fail for a while and is retried instead.
        try {
            Properties check = new Properties();
            check.putAll(props);
            check.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            check.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            new ProducerConfig(check);
        } catch (KafkaException e) {
            throw new UsageException("--kafka-property: " + rootMessage(e));
        }
        Path state = Path.of(fleet.forwardState());
        Path spoolPath = Path.of(settings.output().get());
        try {
            Files.createDirectories(state.toAbsolutePath().getParent());
        } catch (IOException e) {
            throw new StartupException("--forward-state " + state + ": " + e.getMessage());
        }
        try (FileChannel lockFile = FileChannel.open(state.resolveSibling(state.getFileName() + ".lock"),
                StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = lockFile.tryLock()) {
            if (lock == null) {
                throw new StartupException("--forward-state " + state + ": another forwarder is using it");
            }
            Forwarder.Counts counts = new Forwarder.Counts();
            MetricsServer metrics = MetricsEndpoint.open(fleet.forwardMetrics(), "--forward-metrics");
            if (metrics != null) {
                MetricsEndpoint.start(metrics, counts::describe);
            }
            // SIGTERM and SIGINT end the loop, which writes the last checkpoint and returns: exit 0, as systemd
            // expects of a stop (the JVM's own handling would exit 143 from a shutdown hook).
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            for (String name : new String[] {"TERM", "INT"}) {
                sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> stop.set(true));
            }
            Log.info("forwarding " + spoolPath + " to " + fleet.kafkaBrokers().get() + " topic "
                    + fleet.kafkaTopic());
            try (Spool spool = new Spool(spoolPath)) {
                new Forwarder(spool, state,
                        () -> new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer()),
                        fleet.kafkaTopic(), key, counts).run(stop::get);
            } finally {
                if (metrics != null) {
                    metrics.close();
                }
            }
            return 0;
        }
    }

    /** The producer's settings: ours, then what {@code --kafka-property} passes through. */
    static Properties producerProperties(Settings.Fleet fleet, String host) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.kafkaBrokers().orElseThrow());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "20");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, String.valueOf(256 << 10));
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, String.valueOf(16 << 20));
        // send() waits this long for a broker's metadata; then the forwarder backs off and tries again.
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "10000");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "fanotifyd-forward-" + host);
        for (Map.Entry<String, String> e : fleet.kafkaProperties()) {
            String k = e.getKey();
            if (FIXED.contains(k)) {
                throw new UsageException("--kafka-property " + k + ": set by the forwarder (at-least-once, in"
                        + " order, needs it as it is)" + (k.equals(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG)
                        ? "; give --kafka-brokers" : ""));
            }
            if (!ProducerConfig.configNames().contains(k)) {
                throw new UsageException("--kafka-property " + k + ": not a Kafka producer setting");
            }
            p.put(k, e.getValue());
        }
        return p;
    }

    /** The record key: the machine id (one host's records share a partition, in order), else the host name. */
    static String hostKeyText() throws IOException {
        for (String f : new String[] {"/etc/machine-id", "/proc/sys/kernel/hostname"}) {
            try {
                String s = Files.readString(Path.of(f), StandardCharsets.UTF_8).strip();
                if (!s.isEmpty()) {
                    return s;
                }
            } catch (IOException e) {
                // the next one
            }
        }
        throw new StartupException("--forward: neither /etc/machine-id nor the host name can be read");
    }

    /**
     * The client logs through SLF4J's simple logger, silent by default: its errors and warnings repeat at every
     * reconnect while a broker is down or refuses the login, and the forwarder's own error line carries the
     * client's reason once per attempt. -v shows the client's warnings and errors, -vv its info.
     */
    private static void quietClientLog(int verbosity) {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel",
                verbosity >= 2 ? "info" : verbosity == 1 ? "warn" : "off");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.setProperty("org.slf4j.simpleLogger.showThreadName", "false");
        System.setProperty("org.slf4j.simpleLogger.showLogName", "false");
    }

    private static String rootMessage(Throwable t) {
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return String.valueOf(t.getMessage()).replace('\n', ' ');
    }
}
