package io.fanotifyd.daemon.options;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The option table: the single source for the command line, the config file and {@code --help}.
 *
 * <p>Each constant is one option. Its config key is the long name with {@code _} for {@code -}.
 * Options of features that are not built yet stay in the table with {@link Support#NOT_YET}: they are
 * recognised (so they are rejected with "not supported yet" instead of "unknown option") and listed
 * by {@code --help}; enabling one starts by flipping that marker.
 */
public enum Option {
    // long name, short, value kind, argument name, help group, repeatable?, supported?, help, default
    WATCH("watch", "w", Kind.PATH, "PATH", Group.MARKS, Repeat.MANY, Support.YES,
            "inode mark on a directory (and its direct children)", ""),
    MOUNT("mount", "", Kind.PATH, "PATH", Group.MARKS, Repeat.MANY, Support.YES,
            "mark only the mount containing PATH: what is done through it; creates, deletes and renames only"
                    + " in directories no other mount of its filesystem shows (else --filesystem or --watch)", ""),
    FILESYSTEM("filesystem", "", Kind.PATH, "PATH", Group.MARKS, Repeat.MANY, Support.YES,
            "mark the whole filesystem containing PATH", ""),

    OUTPUT("output", "o", Kind.OUTPUT, "PATH", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "append JSONL records to PATH; - means stdout", "-"),
    LOG_FILE("log-file", "", Kind.PATH, "PATH", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "where diagnostics go", "stderr in the foreground, syslog when daemonized"),
    VERBOSE("verbose", "v", Kind.COUNTER, "", Group.OUTPUT, Repeat.MANY, Support.YES,
            "increase log verbosity; each -v adds 1 (-vv); in a config file: verbose N", "0"),
    SOCKET("socket", "", Kind.PATH, "PATH", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "also stream every record to subscribers of a Unix socket at PATH", ""),
    SOCKET_MODE("socket-mode", "", Kind.TEXT, "MODE", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "permissions of the socket file, octal", "0660"),
    SOCKET_GROUP("socket-group", "", Kind.TEXT, "GROUP", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "group of the socket file (name or number)", ""),
    SUBSCRIBE("subscribe", "", Kind.PATH, "PATH", Group.GENERAL, Repeat.ONCE, Support.YES,
            "client mode: print the live stream of the daemon listening at socket PATH, then exit", ""),

    FOREGROUND("foreground", "f", Kind.FLAG, "", Group.DAEMON, Repeat.ONCE, Support.YES,
            "do not daemonize", ""),
    PID_FILE("pid-file", "", Kind.PATH, "PATH", Group.DAEMON, Repeat.ONCE, Support.YES,
            "write the daemon's pid to PATH", ""),

    EVENTS("events", "", Kind.EVENTS, "LIST", Group.EVENTS, Repeat.ONCE, Support.YES,
            "comma-separated event names replacing the default set, or only +name/-name items to "
                    + "adjust it; names: " + String.join(", ", EventSelection.NAMES), ""),
    QUEUE_SIZE("queue-size", "", Kind.QUEUE_SIZE, "unlimited|kernel", Group.EVENTS, Repeat.ONCE,
            Support.YES, "kernel queue depth: unlimited (never drops events), or kernel: bounded by sysctl "
                    + "fs.fanotify.max_queued_events, with an overflow record when full", "unlimited"),
    NO_FID("no-fid", "", Kind.FLAG, "", Group.EVENTS, Repeat.ONCE, Support.YES,
            "FD mode instead of FID mode (no names for directory-entry events)", ""),
    BATCH_DELAY_US("batch-delay-us", "", Kind.NUMBER, "US", Group.EVENTS, Repeat.ONCE, Support.YES,
            "after each read of the notification queue, leave it for US microseconds (0..1000000): the kernel "
                    + "merges events meanwhile and the next read takes more at once; less CPU per record, up "
                    + "to US more latency (permission events are never held back)", "0"),
    PERM("perm", "", Kind.FLAG, "", Group.EVENTS, Repeat.ONCE, Support.YES,
            "permission mode: answer open permission events (allow, or deny what alerts with "
                    + "--deny-on-alert)", ""),
    FAIL_CLOSED("fail-closed", "", Kind.FLAG, "", Group.EVENTS, Repeat.ONCE, Support.YES,
            "in permission mode, deny an event whose processing failed (default: allow it)", ""),
    PERM_SPIN_US("perm-spin-us", "", Kind.NUMBER, "US", Group.EVENTS, Repeat.ONCE, Support.YES,
            "in permission mode, after answering, keep looking for the next permission event without "
                    + "sleeping for US microseconds (0..1000000) so that the next open is answered without a wake-up; costs up to US of CPU "
                    + "per quiet spell; 0 disables", "100"),

    CANARY("canary", "", Kind.TEXT, "PATTERN", Group.ALERTS, Repeat.MANY, Support.YES,
            "alert when a path matching PATTERN (fnmatch, FNM_PATHNAME) is opened, modified, renamed or "
                    + "deleted", ""),
    BURST_THRESHOLD("burst-threshold", "", Kind.NUMBER, "N", Group.ALERTS, Repeat.ONCE,
            Support.YES, "alert when a process makes N mutating events within the window (1..65536); "
                    + "0 disables", "0"),
    BURST_WINDOW_MS("burst-window-ms", "", Kind.NUMBER, "MS", Group.ALERTS, Repeat.ONCE,
            Support.YES, "burst window in milliseconds (sliding)", "1000"),
    HOOK("hook", "", Kind.TEXT, "CMD", Group.ALERTS, Repeat.ONCE, Support.YES,
            "run CMD with /bin/sh -c when an alert fires (alert data in FAN_* environment variables)", ""),
    HOOK_COOLDOWN_MS("hook-cooldown-ms", "", Kind.NUMBER, "MS", Group.ALERTS, Repeat.ONCE,
            Support.YES, "at most one hook run per process and alert kind per MS; alerts are always "
                    + "recorded", "5000"),
    HOOK_TIMEOUT_MS("hook-timeout-ms", "", Kind.NUMBER, "MS", Group.ALERTS, Repeat.ONCE,
            Support.YES, "kill a hook's process group after MS", "10000"),
    DENY_ON_ALERT("deny-on-alert", "", Kind.FLAG, "", Group.ALERTS, Repeat.ONCE, Support.YES,
            "in permission mode, deny the permission events that raise an alert, and the opens of a "
                    + "process in a write burst", ""),

    JOB("job", "", Kind.TEXT, "ID", Group.JOBS, Repeat.MANY, Support.YES,
            "start job ID: the rootfs, workspace, export and cache after it (up to the next job) are its "
                    + "directories, events under them carry job_id ID and their path_role; and the events of the "
                    + "processes in its cgroup carry job_id ID wherever they are", ""),
    ROOTFS("rootfs", "", Kind.PATH, "PATH", Group.JOBS, Repeat.MANY, Support.YES,
            "the current job's root filesystem (repeatable)", ""),
    WORKSPACE("workspace", "", Kind.PATH, "PATH", Group.JOBS, Repeat.MANY, Support.YES,
            "the current job's workspace (repeatable)", ""),
    EXPORT("export", "", Kind.PATH, "PATH", Group.JOBS, Repeat.MANY, Support.YES,
            "the current job's export directory (repeatable)", ""),
    CACHE("cache", "", Kind.PATH, "PATH", Group.JOBS, Repeat.MANY, Support.YES,
            "the current job's cache directory (repeatable)", ""),
    CGROUP("cgroup", "", Kind.TEXT, "PATH", Group.JOBS, Repeat.MANY, Support.YES,
            "the current job's cgroup v2, as /proc/PID/cgroup names it (/jobs/J) or under the cgroup2 mount: "
                    + "events of processes in it or below it carry the job's job_id, also outside its "
                    + "directories (path_role null there)", ""),

    CONFIG("config", "c", Kind.PATH, "FILE", Group.GENERAL, Repeat.ONCE, Support.YES,
            "load settings from FILE (command line only; at most once)", ""),
    HELP("help", "h", Kind.ACTION, "", Group.GENERAL, Repeat.ONCE, Support.YES,
            "show this help and exit", ""),
    VERSION("version", "", Kind.ACTION, "", Group.GENERAL, Repeat.ONCE, Support.YES,
            "print the version and exit", ""),

    // Additions after the specification's options.
    SOCKET_BACKLOG("socket-backlog", "", Kind.SIZE, "BYTES", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "memory for records that subscribers have not taken yet, all subscribers together (1M..1G, suffix "
                    + "K, M or G); when it is full, the subscriber furthest behind loses its oldest records, "
                    + "counted and announced to it", "8M"),
    OUTPUT_MODE("output-mode", "", Kind.TEXT, "MODE", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "permissions of an output file fanotifyd creates (and of the files it rotates to), octal", "0640"),
    OUTPUT_MAX_BYTES("output-max-bytes", "", Kind.SIZE, "BYTES", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "rotate the output file before it grows past BYTES (suffix K, M or G; at least 1M): OUT becomes "
                    + "OUT.1, OUT.1 becomes OUT.2 and so on up to --output-keep, and a new OUT is started; 0 = "
                    + "never, for logrotate or another rotator (SIGUSR1 reopens)", "0"),
    OUTPUT_KEEP("output-keep", "", Kind.NUMBER, "N", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "how many rotated files --output-max-bytes keeps (OUT.1 .. OUT.N, 1..1000)", "5"),
    METRICS("metrics", "", Kind.TEXT, "ADDR", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "serve Prometheus metrics at http://ADDR/metrics; ADDR is IP:PORT, [IPV6]:PORT, PORT (on "
                    + "127.0.0.1) or a Unix socket path (absolute or ./); a wildcard address only when written",
            ""),
    STATS_INTERVAL_S("stats-interval-s", "", Kind.NUMBER, "N", Group.OUTPUT, Repeat.ONCE, Support.YES,
            "also write a stats record (the metrics' figures) into the records every N seconds (0..86400); 0 = "
                    + "never", "0"),
    HOST_FIELDS("host-fields", "", Kind.FLAG, "", Group.FLEET, Repeat.ONCE, Support.YES,
            "end every record with host, machine_id, boot_id and event_id (BOOT_ID/RUN/N: unique across hosts, "
                    + "ordered within a boot, the key to drop duplicates and see gaps)", ""),
    FIELD("field", "", Kind.TEXT, "KEY=VALUE", Group.FLEET, Repeat.MANY, Support.YES,
            "end every record with the string field KEY (a-z, 0-9, _; not a record field's name), for cluster, "
                    + "site or role", ""),
    FORWARD("forward", "", Kind.FLAG, "", Group.FLEET, Repeat.ONCE, Support.YES,
            "forwarder mode (command line only): carry the records of --output, and the files it rotates to, "
                    + "into Kafka, at least once, from a checkpoint written after the broker acknowledged; a "
                    + "process of its own beside the daemon", ""),
    KAFKA_BROKERS("kafka-brokers", "", Kind.TEXT, "HOST:PORT,...", Group.FLEET, Repeat.ONCE, Support.YES,
            "the Kafka bootstrap servers (--forward)", ""),
    KAFKA_TOPIC("kafka-topic", "", Kind.TEXT, "TOPIC", Group.FLEET, Repeat.ONCE, Support.YES,
            "the topic the forwarder writes to; the key of each record is the host's machine id", "fanotifyd"),
    KAFKA_PROPERTY("kafka-property", "", Kind.TEXT, "KEY=VALUE", Group.FLEET, Repeat.MANY, Support.YES,
            "a Kafka producer setting passed through, such as security.protocol, ssl.*, sasl.* or "
                    + "compression.type (delivery settings that at-least-once needs are refused)", ""),
    FORWARD_STATE("forward-state", "", Kind.PATH, "FILE", Group.FLEET, Repeat.ONCE, Support.YES,
            "the forwarder's checkpoint: the file and offset up to which the broker has acknowledged",
            "/var/lib/fanotifyd/forward.state"),
    FORWARD_METRICS("forward-metrics", "", Kind.TEXT, "ADDR", Group.FLEET, Repeat.ONCE, Support.YES,
            "the forwarder serves its Prometheus metrics at http://ADDR/metrics (ADDR as for --metrics)", "");

    /** How an option's value is written and what it turns into. */
    public enum Kind {
        /** Boolean: no value on the command line; 1/0/true/false/yes/no/on/off (or nothing) in a config file. */
        FLAG,
        /** Like {@link #FLAG} on the command line, but each occurrence adds 1; a number in a config file. */
        COUNTER,
        /** Handled by the caller instead of becoming a setting ({@code --help}, {@code --version}). */
        ACTION,
        /** A non-empty path, made absolute against the current directory. */
        PATH,
        /** A {@link #PATH}, or {@code -} for stdout. */
        OUTPUT,
        /** Any non-empty string, kept as written. */
        TEXT,
        /** An integer 0..2<sup>31</sup>-1. */
        NUMBER,
        /** A size in bytes: an integer with an optional {@code K}, {@code M} or {@code G} (powers of 1024). */
        SIZE,
        /** An event list, see {@link EventSelection#parse(String)}. */
        EVENTS,
        /** A queue size, see {@link QueueSize#parse(String)}. */
        QUEUE_SIZE;

        /** Whether the option consumes an argument on the command line. */
        public boolean takesValue() {
            return this != FLAG && this != COUNTER && this != ACTION;
        }
    }

    /** Section of {@code --help} an option is listed under, in display order. */
    public enum Group {
        MARKS("Marks"),
        OUTPUT("Output"),
        DAEMON("Daemon"),
        EVENTS("Events"),
        ALERTS("Alerts"),
        JOBS("Jobs"),
        FLEET("Fleet: host fields and forwarding into Kafka"),
        GENERAL("General");

        private final String title;

        Group(String title) {
            this.title = title;
        }

        /** The heading printed above the group. */
        public String title() {
            return title;
        }
    }

    /** Whether an option may be given more than once, accumulating values. */
    public enum Repeat {
        /** The last occurrence wins. */
        ONCE,
        /** Every occurrence counts (list options append, {@code -v} adds). */
        MANY
    }

    /** Whether the daemon implements the option yet. */
    public enum Support {
        YES,
        /** Recognised but rejected with "not supported yet". */
        NOT_YET
    }

    private final String longName;
    private final String shortName;
    private final Kind kind;
    private final String argName;
    private final Group group;
    private final Repeat repeat;
    private final Support support;
    private final String help;
    private final String defaultValue;

    Option(String longName, String shortName, Kind kind, String argName, Group group, Repeat repeat,
            Support support, String help, String defaultValue) {
        this.longName = longName;
        this.shortName = shortName;
        this.kind = kind;
        this.argName = argName;
        this.group = group;
        this.repeat = repeat;
        this.support = support;
        this.help = help;
        this.defaultValue = defaultValue;
    }

    /** The long name without dashes, e.g. {@code pid-file}. */
    public String longName() {
        return longName;
    }

    /** {@code --pid-file}. */
    public String longFlag() {
        return "--" + longName;
    }

    /** {@code -o}, or empty when the option has no short form. */
    public Optional<String> shortFlag() {
        return shortName.isEmpty() ? Optional.empty() : Optional.of("-" + shortName);
    }

    /**
     * The config file key ({@code pid_file}), or empty for options that only make sense on the command
     * line: {@code --help}, {@code --version}, and {@code --config}, because a config file naming another
     * one would need include semantics (cycles, relative bases) that nobody asked for; and {@code --forward},
     * so that the daemon and its forwarder can share one config file.
     */
    public Optional<String> configKey() {
        if (kind == Kind.ACTION || this == CONFIG || this == FORWARD) {
            return Optional.empty();
        }
        return Optional.of(longName.replace('-', '_'));
    }

    public Kind kind() {
        return kind;
    }

    /** The placeholder shown in {@code --help} ({@code PATH}), empty for options without a value. */
    public String argName() {
        return argName;
    }

    public Group group() {
        return group;
    }

    public boolean repeatable() {
        return repeat == Repeat.MANY;
    }

    public boolean supported() {
        return support == Support.YES;
    }

    /** One-line description for {@code --help}. */
    public String help() {
        return help;
    }

    /** The default as shown in {@code --help}, or empty when there is nothing useful to show. */
    public String defaultValue() {
        return defaultValue;
    }

    private static final Map<String, Option> BY_LONG_NAME = index(Option::longName);
    private static final Map<Character, Option> BY_SHORT_NAME = Arrays.stream(values())
            .filter(o -> !o.shortName.isEmpty())
            .collect(Collectors.toUnmodifiableMap(o -> o.shortName.charAt(0), Function.identity()));
    private static final Map<String, Option> BY_CONFIG_KEY = Arrays.stream(values())
            .filter(o -> o.configKey().isPresent())
            .collect(Collectors.toMap(o -> o.configKey().orElseThrow(), Function.identity(),
                    (a, b) -> a, LinkedHashMap::new));

    private static Map<String, Option> index(Function<Option, String> key) {
        return Arrays.stream(values())
                .collect(Collectors.toMap(key, Function.identity(), (a, b) -> a, LinkedHashMap::new));
    }

    /** The option spelled {@code --name}, if any. */
    public static Optional<Option> byLongName(String name) {
        return Optional.ofNullable(BY_LONG_NAME.get(name));
    }

    /** The option spelled {@code -c}, if any. */
    public static Optional<Option> byShortName(char c) {
        return Optional.ofNullable(BY_SHORT_NAME.get(c));
    }

    /** The option with config key {@code key}, if any. */
    public static Optional<Option> byConfigKey(String key) {
        return Optional.ofNullable(BY_CONFIG_KEY.get(key));
    }

    /** All long names, in table order (for "did you mean"). */
    static List<String> longNames() {
        return List.copyOf(BY_LONG_NAME.keySet());
    }

    /** All config keys, in table order (for "did you mean"). */
    static List<String> configKeys() {
        return List.copyOf(BY_CONFIG_KEY.keySet());
    }
}
