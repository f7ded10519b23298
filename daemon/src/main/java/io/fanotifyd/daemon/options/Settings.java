package io.fanotifyd.daemon.options;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything the command line and config file decided, with defaults filled in. All paths are
 * absolute (resolved against the working directory at parse time, by string: not normalized, symlinks not
 * resolved) and in {@link io.fanotifyd.kernel.PathCodec} form: a file name byte that is not valid UTF-8 is
 * the lone surrogate {@code U+DC80 + (byte - 0x80)}, so pass them to the kernel through
 * {@code io.fanotifyd.kernel.Syscalls}/{@code Libc.cString}, never through {@code java.nio.file.Path}
 * (which rejects such strings). Lists are immutable.
 *
 * @param action      what to do; for {@link Action#HELP} and {@link Action#VERSION} the other fields
 *                    are the defaults, because parsing stops there
 * @param config      the config file that was loaded ({@code -c}), if any
 * @param watches     {@code --watch}: directories to put inode marks on (config entries first)
 * @param mounts      {@code --mount}: paths whose mounts are marked
 * @param filesystems {@code --filesystem}: paths whose filesystems are marked
 * @param output      {@code --output}: the JSONL file to append to; empty means stdout ({@code -}, the default)
 * @param pidFile     {@code --pid-file}, if any
 * @param logFile     {@code --log-file}; empty means stderr in the foreground and syslog when daemonized
 * @param foreground  {@code --foreground}: do not daemonize
 * @param noFid       {@code --no-fid}: FD mode instead of FID mode
 * @param verbosity   log verbosity, 0 by default: the config's {@code verbose N} plus one per {@code -v}
 * @param events      {@code --events}: the requested event list, {@link EventSelection#DEFAULT} if none
 * @param queueSize   {@code --queue-size}, {@link QueueSize#UNLIMITED} by default
 * @param batchDelayUs {@code --batch-delay-us}: how long the notification queue is left after each read, 0 by
 *                    default
 * @param permSpinUs  {@code --perm-spin-us}: how long to look for the next permission event without sleeping after one,
 *                    {@link #DEFAULT_PERM_SPIN_US} by default
 */
public record Settings(
        Action action,
        Optional<String> config,
        List<String> watches,
        List<String> mounts,
        List<String> filesystems,
        Optional<String> output,
        Optional<String> pidFile,
        Optional<String> logFile,
        boolean foreground,
        boolean noFid,
        int verbosity,
        EventSelection events,
        QueueSize queueSize,
        int batchDelayUs,
        int permSpinUs,
        Policy policy,
        List<Job> jobs,
        Socket socket,
        Optional<String> subscribe,
        OutputFile outputFile,
        Health health,
        Fleet fleet) {

    /**
     * A host among many: what its records say about it, and the forwarder into Kafka (docs/FLEET.md).
     *
     * @param hostFields      {@code --host-fields}: host, machine_id, boot_id and event_id in every record
     * @param fields          {@code --field KEY=VALUE}: static string fields in every record, in the order given
     * @param forward         {@code --forward}: run as the forwarder (command line only)
     * @param kafkaBrokers    {@code --kafka-brokers}: the bootstrap servers, if given
     * @param kafkaTopic      {@code --kafka-topic}
     * @param kafkaProperties {@code --kafka-property KEY=VALUE}: producer settings passed through, in order
     * @param forwardState    {@code --forward-state}: the forwarder's checkpoint file
     * @param forwardMetrics  {@code --forward-metrics}: where the forwarder serves its metrics, if at all
     */
    public record Fleet(boolean hostFields, List<Map.Entry<String, String>> fields, boolean forward,
                        Optional<String> kafkaBrokers, String kafkaTopic,
                        List<Map.Entry<String, String>> kafkaProperties, String forwardState,
                        Optional<io.fanotifyd.metrics.MetricsAddress> forwardMetrics) {
        public static final String DEFAULT_TOPIC = "fanotifyd";
        public static final String DEFAULT_STATE = "/var/lib/fanotifyd/forward.state";
        public static final Fleet NONE = new Fleet(false, List.of(), false, Optional.empty(), DEFAULT_TOPIC,
                List.of(), DEFAULT_STATE, Optional.empty());

        public Fleet {
            fields = List.copyOf(fields);
            kafkaProperties = List.copyOf(kafkaProperties);
            Objects.requireNonNull(kafkaBrokers, "kafkaBrokers");
            Objects.requireNonNull(kafkaTopic, "kafkaTopic");
            Objects.requireNonNull(forwardState, "forwardState");
            Objects.requireNonNull(forwardMetrics, "forwardMetrics");
        }
    }

    /**
     * How the daemon shows its health.
     *
     * @param metrics        {@code --metrics}: where to serve the Prometheus exposition, if at all
     * @param statsIntervalS {@code --stats-interval-s}: seconds between two {@code stats} records; 0 = none
     */
    public record Health(Optional<io.fanotifyd.metrics.MetricsAddress> metrics, int statsIntervalS) {
        public static final Health NONE = new Health(Optional.empty(), 0);
    }

    /**
     * How the output file is created and rotated (nothing of it applies to stdout).
     *
     * @param mode     {@code --output-mode}: permissions of a file fanotifyd creates, 0640 by default
     * @param maxBytes {@code --output-max-bytes}: rotate before the file passes this size; 0 = never
     * @param keep     {@code --output-keep}: rotated files kept, {@code OUT.1} (newest) to {@code OUT.keep}
     */
    public record OutputFile(int mode, long maxBytes, int keep) {
        /**
         * Smallest rotation size: larger than the biggest single write (a 256 KiB buffer and its last record),
         * which goes whole into one file, so that no file passes the size.
         */
        public static final long MIN_MAX_BYTES = 1 << 20;
        public static final OutputFile DEFAULT = new OutputFile(0640, 0, 5);
    }

    /** Measured: covers the gap between one open and the next of a busy process (docs/PERFORMANCE.md). */
    public static final int DEFAULT_PERM_SPIN_US = 100;

    /**
     * Subscribers.
     *
     * @param path  {@code --socket}: where to listen, if at all
     * @param mode  {@code --socket-mode}, 0660 by default
     * @param group {@code --socket-group}: name or number
     * @param backlogBytes {@code --socket-backlog}: what all subscribers together may have queued,
     *              {@link #DEFAULT_BACKLOG_BYTES} by default
     */
    public record Socket(Optional<String> path, int mode, Optional<String> group, long backlogBytes) {
        /**
         * 8 MiB: with one subscriber that never reads, the daemon stays under a 64 MiB memory limit (measured,
         * docs/PERFORMANCE.md); about 30000 records of a lagging subscriber.
         */
        public static final long DEFAULT_BACKLOG_BYTES = 8L << 20;
        public static final Socket NONE = new Socket(Optional.empty(), 0660, Optional.empty(), DEFAULT_BACKLOG_BYTES);
    }

    /**
     * One root of a job: its role ("rootfs", "workspace", "export" or "cache") and its absolute path; or, with
     * the role "cgroup", the job's cgroup v2 path.
     */
    public record JobRoot(String role, String path) {}

    /** A job ({@code job ID} and the directories after it), in the order given. */
    public record Job(String id, List<JobRoot> roots) {}

    /**
     * Alerts and permission mode.
     *
     * @param canaries       {@code --canary}: fnmatch patterns (PathCodec strings), config entries first
     * @param burstThreshold {@code --burst-threshold}: 0 = off
     * @param burstWindowMs  {@code --burst-window-ms}, 1000 by default
     * @param hook           {@code --hook}: the shell command run on alerts, if any
     * @param hookCooldownMs {@code --hook-cooldown-ms}, 5000 by default
     * @param hookTimeoutMs  {@code --hook-timeout-ms}, 10000 by default
     * @param perm           {@code --perm}: permission mode
     * @param denyOnAlert    {@code --deny-on-alert}
     * @param failClosed     {@code --fail-closed}: deny when processing a permission event fails
     */
    public record Policy(List<String> canaries, int burstThreshold, int burstWindowMs, Optional<String> hook,
                         int hookCooldownMs, int hookTimeoutMs, boolean perm, boolean denyOnAlert,
                         boolean failClosed) {
        public Policy {
            canaries = List.copyOf(canaries);
            Objects.requireNonNull(hook, "hook");
        }

        public static final Policy DEFAULT = new Policy(List.of(), 0, 1000, Optional.empty(), 5000, 10000, false,
                false, false);
    }

    public Settings {
        Objects.requireNonNull(action, "action");
        Objects.requireNonNull(config, "config");
        watches = List.copyOf(watches);
        mounts = List.copyOf(mounts);
        filesystems = List.copyOf(filesystems);
        Objects.requireNonNull(output, "output");
        Objects.requireNonNull(pidFile, "pidFile");
        Objects.requireNonNull(logFile, "logFile");
        if (verbosity < 0) {
            throw new IllegalArgumentException("verbosity < 0: " + verbosity);
        }
        Objects.requireNonNull(events, "events");
        Objects.requireNonNull(queueSize, "queueSize");
        Objects.requireNonNull(policy, "policy");
        jobs = List.copyOf(jobs);
        Objects.requireNonNull(socket, "socket");
        Objects.requireNonNull(subscribe, "subscribe");
        Objects.requireNonNull(outputFile, "outputFile");
        Objects.requireNonNull(health, "health");
        Objects.requireNonNull(fleet, "fleet");
    }

    /** What the daemon does with no options at all (it will then complain that nothing is marked). */
    public static Settings defaults() {
        return new Settings(Action.RUN, Optional.empty(), List.of(), List.of(), List.of(), Optional.empty(),
                Optional.empty(), Optional.empty(), false, false, 0, EventSelection.DEFAULT, QueueSize.UNLIMITED,
                0, DEFAULT_PERM_SPIN_US, Policy.DEFAULT, List.of(), Socket.NONE, Optional.empty(), OutputFile.DEFAULT,
                Health.NONE, Fleet.NONE);
    }

    /** Whether records go to stdout ({@code --output -} or no {@code --output}). */
    public boolean outputIsStdout() {
        return output.isEmpty();
    }

    /** Whether any watch, mount or filesystem mark was asked for. */
    public boolean hasMarks() {
        return !watches.isEmpty() || !mounts.isEmpty() || !filesystems.isEmpty();
    }
}
