package io.fanotifyd.daemon.options;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Accumulates parsed option values, config file first and then the command line, into {@link Settings}. */
final class SettingsBuilder {
    /** Where a value came from; only {@code verbose} cares (the config sets the level, each -v adds one). */
    enum Source { CONFIG_FILE, COMMAND_LINE }

    private Action action = Action.RUN;
    private Optional<String> config = Optional.empty();
    private final List<String> watches = new ArrayList<>();
    private final List<String> mounts = new ArrayList<>();
    private final List<String> filesystems = new ArrayList<>();
    private Optional<String> output = Optional.empty();
    private Optional<String> pidFile = Optional.empty();
    private Optional<String> logFile = Optional.empty();
    private boolean foreground;
    private boolean noFid;
    private int verbosity;
    private EventSelection events = EventSelection.DEFAULT;
    private QueueSize queueSize = QueueSize.UNLIMITED;
    private int batchDelayUs;
    private int permSpinUs = Settings.DEFAULT_PERM_SPIN_US;
    private final List<String> canaries = new ArrayList<>();
    private int burstThreshold;
    private int burstWindowMs = 1000;
    private Optional<String> hook = Optional.empty();
    private int hookCooldownMs = 5000;
    private int hookTimeoutMs = 10000;
    private boolean perm;
    private boolean denyOnAlert;
    private boolean failClosed;
    private final List<Settings.Job> jobs = new ArrayList<>();
    private Optional<String> socket = Optional.empty();
    private int socketMode = 0660;
    private Optional<String> socketGroup = Optional.empty();
    private long socketBacklogBytes = Settings.Socket.DEFAULT_BACKLOG_BYTES;
    private int outputMode = Settings.OutputFile.DEFAULT.mode();
    private long outputMaxBytes = Settings.OutputFile.DEFAULT.maxBytes();
    private int outputKeep = Settings.OutputFile.DEFAULT.keep();
    private Optional<String> subscribe = Optional.empty();
    private Optional<io.fanotifyd.metrics.MetricsAddress> metrics = Optional.empty();
    private int statsIntervalS;
    private boolean hostFields;
    private final java.util.LinkedHashMap<String, String> fields = new java.util.LinkedHashMap<>();
    private boolean forward;
    private Optional<String> kafkaBrokers = Optional.empty();
    private String kafkaTopic = Settings.Fleet.DEFAULT_TOPIC;
    private final List<java.util.Map.Entry<String, String>> kafkaProperties = new ArrayList<>();
    private String forwardState = Settings.Fleet.DEFAULT_STATE;
    private Optional<io.fanotifyd.metrics.MetricsAddress> forwardMetrics = Optional.empty();

    private static io.fanotifyd.metrics.MetricsAddress metricsAddress(String text, String where) {
        try {
            return io.fanotifyd.metrics.MetricsAddress.parse(text);
        } catch (IllegalArgumentException e) {
            throw new UsageException(where + ": " + e.getMessage());
        }
    }

    /** {@code KEY=VALUE}, split at the first {@code =}; the key must not be empty. */
    private static java.util.Map.Entry<String, String> keyValue(String text, String where) {
        int eq = text.indexOf('=');
        if (eq <= 0) {
            throw new UsageException(where + ": not KEY=VALUE: '" + text + "'");
        }
        return java.util.Map.entry(text.substring(0, eq), text.substring(eq + 1));
    }

    private static int octalMode(String text, String where) {
        if (!text.matches("0?[0-7]{1,4}")) {
            throw new UsageException(where + ": not an octal mode: '" + text + "'");
        }
        return Integer.parseInt(text, 8);
    }

    SettingsBuilder action(Action a) {
        this.action = a;
        return this;
    }

    /**
     * Applies one occurrence. Scalars overwrite (so the last one wins and the command line, applied
     * after the config file, overrides it); lists append. {@code value} is what {@link Values#parse}
     * returned for {@code option}.
     */
    @SuppressWarnings("unchecked")
    /** @param where how to name this setting in an error: {@code --flag} or {@code FILE:LINE: key} */
    void apply(Option option, Object value, Source source, String where) {
        if (!option.supported()) {
            throw new IllegalStateException(option + " is not supported and must be rejected before apply");
        }
        switch (option) {
            case CONFIG -> config = Optional.of((String) value);
            case WATCH -> watches.add((String) value);
            case MOUNT -> mounts.add((String) value);
            case FILESYSTEM -> filesystems.add((String) value);
            case OUTPUT -> output = (Optional<String>) value;
            case PID_FILE -> pidFile = Optional.of((String) value);
            case LOG_FILE -> logFile = Optional.of((String) value);
            case FOREGROUND -> foreground = (Boolean) value;
            case NO_FID -> noFid = (Boolean) value;
            case VERBOSE -> {
                int n = (Integer) value;
                // Saturate: "verbose 2147483647" plus -v must not wrap around to a negative level.
                verbosity = source == Source.CONFIG_FILE
                        ? n
                        : (int) Math.min(Integer.MAX_VALUE, (long) verbosity + n);
            }
            case EVENTS -> events = (EventSelection) value;
            case QUEUE_SIZE -> queueSize = (QueueSize) value;
            case BATCH_DELAY_US -> batchDelayUs = (Integer) value;
            case PERM_SPIN_US -> permSpinUs = (Integer) value;
            case HELP, VERSION -> throw new IllegalStateException(option + " is an action, not a setting");
            case CANARY -> canaries.add((String) value);
            case BURST_THRESHOLD -> burstThreshold = (Integer) value;
            case BURST_WINDOW_MS -> burstWindowMs = (Integer) value;
            case HOOK -> hook = Optional.of((String) value);
            case HOOK_COOLDOWN_MS -> hookCooldownMs = (Integer) value;
            case HOOK_TIMEOUT_MS -> hookTimeoutMs = (Integer) value;
            case PERM -> perm = (Boolean) value;
            case DENY_ON_ALERT -> denyOnAlert = (Boolean) value;
            case FAIL_CLOSED -> failClosed = (Boolean) value;
            case JOB -> {
                String id = (String) value;
                for (Settings.Job j : jobs) {
                    if (j.id().equals(id)) {
                        throw new UsageException(where + ": job '" + id + "' is defined twice");
                    }
                }
                jobs.add(new Settings.Job(id, new ArrayList<>()));
            }
            case ROOTFS, WORKSPACE, EXPORT, CACHE, CGROUP -> {
                if (jobs.isEmpty()) {
                    throw new UsageException(where + ": needs a job before it (job ID, then its directories)");
                }
                if (option == Option.CGROUP && !((String) value).startsWith("/")) {
                    throw new UsageException(where + ": not a cgroup path: '" + value + "' (one starting with /,"
                            + " as /proc/PID/cgroup shows it)");
                }
                jobs.getLast().roots().add(new Settings.JobRoot(option.longName(), (String) value));
            }
            case SOCKET -> socket = Optional.of((String) value);
            case SOCKET_MODE -> socketMode = octalMode((String) value, where);
            case SOCKET_GROUP -> socketGroup = Optional.of((String) value);
            case SUBSCRIBE -> subscribe = Optional.of((String) value);
            case SOCKET_BACKLOG -> socketBacklogBytes = (Long) value;
            case OUTPUT_MODE -> outputMode = octalMode((String) value, where);
            case OUTPUT_MAX_BYTES -> {
                long max = (Long) value;
                if (max != 0 && max < Settings.OutputFile.MIN_MAX_BYTES) {
                    throw new UsageException(where + ": out of range: '" + max + "' (0, or at least 1M)");
                }
                outputMaxBytes = max;
            }
            case OUTPUT_KEEP -> outputKeep = (Integer) value;
            case METRICS -> metrics = Optional.of(metricsAddress((String) value, where));
            case FORWARD_METRICS -> forwardMetrics = Optional.of(metricsAddress((String) value, where));
            case STATS_INTERVAL_S -> statsIntervalS = (Integer) value;
            case HOST_FIELDS -> hostFields = (Boolean) value;
            case FIELD -> {
                java.util.Map.Entry<String, String> kv = keyValue((String) value, where);
                String bad = io.fanotifyd.sink.HostFields.checkKey(kv.getKey());
                if (bad != null) {
                    throw new UsageException(where + ": " + bad);
                }
                fields.remove(kv.getKey()); // given again (the command line after the config): the last one wins
                fields.put(kv.getKey(), kv.getValue());
            }
            case FORWARD -> forward = (Boolean) value;
            case KAFKA_BROKERS -> kafkaBrokers = Optional.of((String) value);
            case KAFKA_TOPIC -> {
                String t = (String) value;
                if (!t.matches("[A-Za-z0-9._-]{1,249}") || t.equals(".") || t.equals("..")) {
                    throw new UsageException(where + ": not a Kafka topic name: '" + t + "' (1 to 249 of"
                            + " A-Z a-z 0-9 . _ -)");
                }
                kafkaTopic = t;
            }
            case KAFKA_PROPERTY -> kafkaProperties.add(keyValue((String) value, where));
            case FORWARD_STATE -> forwardState = (String) value;
        }
    }

    Settings build() {
        return new Settings(action, config, watches, mounts, filesystems, output, pidFile, logFile, foreground,
                noFid, verbosity, events, queueSize, batchDelayUs, permSpinUs, new Settings.Policy(canaries, burstThreshold, burstWindowMs, hook,
                        hookCooldownMs, hookTimeoutMs, perm, denyOnAlert, failClosed),
                jobs.stream().map(j -> new Settings.Job(j.id(), List.copyOf(j.roots()))).toList(),
                new Settings.Socket(socket, socketMode, socketGroup, socketBacklogBytes), subscribe,
                new Settings.OutputFile(outputMode, outputMaxBytes, outputKeep),
                new Settings.Health(metrics, statsIntervalS),
                new Settings.Fleet(hostFields, fields.entrySet().stream()
                        .map(e -> java.util.Map.entry(e.getKey(), e.getValue())).toList(), forward, kafkaBrokers,
                        kafkaTopic, kafkaProperties, forwardState, forwardMetrics));
    }
}
