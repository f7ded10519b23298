package io.fanotifyd.sink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The fields that say which host a record comes from ({@code --host-fields}) and the static fields of
 * {@code --field KEY=VALUE}, written last in every record of the stream (docs/FLEET.md):
 * {@code host}, {@code machine_id}, {@code boot_id}, the static fields in the order given, then
 * {@code event_id}, {@code "BOOT_ID/RUN/N"}: RUN is when this daemon started, in microseconds on the
 * monotonic clock (which counts from boot and never goes back within it), and N counts the records of this
 * run from 1. So the id is unique across hosts, boots and restarts, and (RUN, N) compared as numbers orders a
 * host's records within a boot; a gap in N is a record that did not arrive.
 *
 * <p>Everything but N is encoded once, at start-up. {@link #write(JsonWriter)} is called inside the output's
 * transaction (the encoder and the stats record share that lock), which is what keeps N in the stream's order.
 */
public final class HostFields {
    /** What a {@code --field} key may look like: a JSON name a consumer can use as a column, unescaped. */
    private static final Pattern KEY = Pattern.compile("[a-z_][a-z0-9_]{0,63}");
    /**
     * The names a static field may not take: the record fields of every record type (README.md, "Records"),
     * so that {@code --field} can never shadow one, and ours.
     */
    private static final Set<String> RESERVED = Set.of("schema_version", "type", "ts_ms", "mask", "events",
            "decision", "job_id", "path_role", "pid", "comm", "exe", "path", "name", "is_dir", "old_path",
            "old_name", "seq", "old_job_id", "old_path_role", "kind", "reason", "count", "window_ms", "event_seq",
            "dropped", "fd_error", "uid", "gid", "euid", "egid", "ppid", "cgroup", "overflows", "host",
            "machine_id", "boot_id", "event_id");
    /**
     * The stats record's fields besides those: its figures, named as the metrics without their prefix
     * (docs/METRICS.md); the counters end in _total, the others are these or end in _seconds or _bytes.
     */
    private static final Set<String> STATS = Set.of("subscribers", "marks", "kernel_queue_events");
    private static final byte[] EVENT_ID = JsonWriter.key("event_id");

    /** {@code "host":...,...} up to the static fields' end, without a leading comma; empty when none. */
    private final byte[] fixed;
    /** {@code "event_id":"BOOT/RUN/} without its number and closing quote; null without --host-fields. */
    private final byte[] eventIdPrefix;
    private long n;

    private HostFields(byte[] fixed, byte[] eventIdPrefix) {
        this.fixed = fixed;
        this.eventIdPrefix = eventIdPrefix;
    }

    /**
     * The fields for this host, or null when there are none ({@code hostFields} false and no static field).
     *
     * @param fields {@code --field} entries, key and value, keys already checked by {@link #checkKey(String)}
     * @throws IOException if {@code /proc/sys/kernel/random/boot_id} cannot be read
     */
    public static HostFields of(boolean hostFields, List<Map.Entry<String, String>> fields) throws IOException {
        if (!hostFields && fields.isEmpty()) {
            return null;
        }
        JsonWriter w = new JsonWriter(256);
        w.beginObject();
        String bootId = null;
        if (hostFields) {
            bootId = firstLine(Path.of("/proc/sys/kernel/random/boot_id"));
            if (bootId == null) {
                throw new IOException("/proc/sys/kernel/random/boot_id: empty");
            }
            w.name(JsonWriter.key("host"));
            stringOrNull(w, firstLine(Path.of("/proc/sys/kernel/hostname")));
            w.name(JsonWriter.key("machine_id"));
            // Containers and minimal images may have none; null says so rather than a made-up id.
            stringOrNull(w, firstLineOrNull(Path.of("/etc/machine-id")));
            w.name(JsonWriter.key("boot_id"));
            w.string(bootId);
        }
        for (Map.Entry<String, String> f : fields) {
            w.name(JsonWriter.key(f.getKey()));
            w.string(f.getValue());
        }
        byte[] fixed = java.util.Arrays.copyOfRange(w.array(), 1, w.length());
        byte[] prefix = null;
        if (hostFields) {
            long runMicros = System.nanoTime() / 1000; // HotSpot's nanoTime is CLOCK_MONOTONIC on Linux
            prefix = ("\"event_id\":\"" + bootId + "/" + runMicros + "/").getBytes(StandardCharsets.US_ASCII);
        }
        return new HostFields(fixed, prefix);
    }

    /**
     * Checks a {@code --field} key.
     *
     * @return null if it is usable, else why not (for the caller's {@code where: ...} message)
     */
    public static String checkKey(String key) {
        if (!KEY.matcher(key).matches()) {
            return "not a field name: '" + key + "' (a-z, 0-9 and _, not starting with a digit, at most 64)";
        }
        if (RESERVED.contains(key) || key.endsWith("_b64") || STATS.contains(key) || key.endsWith("_total")
                || key.endsWith("_seconds") || key.endsWith("_bytes")) {
            return "'" + key + "' is a field of the records already";
        }
        return null;
    }

    /** Appends the fields, and {@code event_id} with the next record number, to the record open in {@code w}. */
    public void write(JsonWriter w) {
        if (fixed.length > 0) {
            w.fields(fixed, 0, fixed.length);
        }
        if (eventIdPrefix != null) {
            w.fields(eventIdPrefix, 0, eventIdPrefix.length);
            w.number(++n); // inside the string the prefix opened
            w.endString();
        }
    }

    /** The number of the last record given an {@code event_id} (0 before the first). */
    public long lastNumber() {
        return n;
    }

    /** The {@code event_id} of record number {@code number}, as {@link #write(JsonWriter)} spells it (tests). */
    public String eventId(long number) {
        if (eventIdPrefix == null) {
            return null;
        }
        String p = new String(eventIdPrefix, StandardCharsets.US_ASCII);
        return p.substring(EVENT_ID.length + 4) + number;
    }

    private static void stringOrNull(JsonWriter w, String s) {
        if (s == null) {
            w.nullValue();
        } else {
            w.string(s);
        }
    }

    private static String firstLineOrNull(Path p) {
        try {
            return firstLine(p);
        } catch (IOException e) {
            return null;
        }
    }

    private static String firstLine(Path p) throws IOException {
        String s = Files.readString(p, StandardCharsets.UTF_8).strip();
        int nl = s.indexOf('\n');
        s = nl < 0 ? s : s.substring(0, nl);
        return s.isEmpty() ? null : s;
    }
}
