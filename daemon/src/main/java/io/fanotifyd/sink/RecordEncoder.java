package io.fanotifyd.sink;

import io.fanotifyd.enrich.Event;
import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.enrich.PathRef;
import io.fanotifyd.enrich.ProcessInfo;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.policy.Alerts;
import io.fanotifyd.policy.Decision;

import java.nio.charset.StandardCharsets;

/**
 * Writes records as JSON lines: the spec's fields in the spec's order, then our additions (README.md, "Records").
 * A byte string that is not UTF-8 is written with U+FFFD in its field and, losslessly, as base64 in a
 * {@code <field>_b64} field at the end of the record.
 */
public final class RecordEncoder {
    public static final int SCHEMA_VERSION = 1;

    private static final byte[] SCHEMA_VERSION_KEY = JsonWriter.key("schema_version");
    private static final byte[] TYPE = JsonWriter.key("type");
    private static final byte[] TS_MS = JsonWriter.key("ts_ms");
    private static final byte[] MASK = JsonWriter.key("mask");
    private static final byte[] EVENTS = JsonWriter.key("events");
    private static final byte[] DECISION = JsonWriter.key("decision");
    private static final byte[] JOB_ID = JsonWriter.key("job_id");
    private static final byte[] PATH_ROLE = JsonWriter.key("path_role");
    private static final byte[] PID = JsonWriter.key("pid");
    private static final byte[] COMM = JsonWriter.key("comm");
    private static final byte[] EXE = JsonWriter.key("exe");
    private static final byte[] PATH = JsonWriter.key("path");
    private static final byte[] NAME = JsonWriter.key("name");
    private static final byte[] IS_DIR = JsonWriter.key("is_dir");
    private static final byte[] OLD_PATH = JsonWriter.key("old_path");
    private static final byte[] OLD_NAME = JsonWriter.key("old_name");
    private static final byte[] COMM_B64 = JsonWriter.key("comm_b64");
    private static final byte[] EXE_B64 = JsonWriter.key("exe_b64");
    private static final byte[] PATH_B64 = JsonWriter.key("path_b64");
    private static final byte[] NAME_B64 = JsonWriter.key("name_b64");
    private static final byte[] OLD_PATH_B64 = JsonWriter.key("old_path_b64");
    private static final byte[] OLD_NAME_B64 = JsonWriter.key("old_name_b64");
    private static final byte[] OVERFLOWS = JsonWriter.key("overflows");
    private static final byte[] SEQ = JsonWriter.key("seq");
    private static final byte[] OLD_JOB_ID = JsonWriter.key("old_job_id");
    private static final byte[] OLD_PATH_ROLE = JsonWriter.key("old_path_role");
    private static final byte[] KIND = JsonWriter.key("kind");
    private static final byte[] REASON = JsonWriter.key("reason");
    private static final byte[] COUNT = JsonWriter.key("count");
    private static final byte[] WINDOW_MS = JsonWriter.key("window_ms");
    private static final byte[] EVENT_SEQ = JsonWriter.key("event_seq");
    private static final byte[] DROPPED = JsonWriter.key("dropped");
    private static final byte[] FD_ERROR = JsonWriter.key("fd_error");
    private static final byte[] UID = JsonWriter.key("uid");
    private static final byte[] GID = JsonWriter.key("gid");
    private static final byte[] EUID = JsonWriter.key("euid");
    private static final byte[] EGID = JsonWriter.key("egid");
    private static final byte[] PPID = JsonWriter.key("ppid");
    private static final byte[] CGROUP = JsonWriter.key("cgroup");
    private static final byte[] CGROUP_B64 = JsonWriter.key("cgroup_b64");
    private static final byte[][] WHO_KEYS = {UID, GID, EUID, EGID, PPID, CGROUP};
    private static final byte[] SLASH = {'/'};
    private static final byte[][] BIT_NAMES = new byte[64][];

    static {
        for (int bit = 0; bit < 64; bit++) {
            String n = EventMask.bitName(bit);
            BIT_NAMES[bit] = (n != null ? n : "0x" + Long.toHexString(1L << bit)).getBytes(StandardCharsets.US_ASCII);
        }
    }

    private long seq;
    /** {@code --host-fields} and {@code --field}: written last in each record; null when there are none. */
    private final HostFields host;

    public RecordEncoder() {
        this(null);
    }

    public RecordEncoder(HostFields host) {
        this.host = host;
    }

    private void end(JsonWriter w) {
        if (host != null) {
            host.write(w);
        }
        w.endObject();
        w.newline();
    }

    /** The host fields this encoder ends its records with, or null. */
    public HostFields host() {
        return host;
    }

    /** The {@code seq} of the last event record written; alerts carry it as {@code event_seq}. */
    public long lastSeq() {
        return seq;
    }

    /**
     * Appends one event record (a whole line) to {@code w}.
     *
     * @param decision its {@code decision} field: observe, or allow/deny for a permission event
     */
    public void event(Event ev, Decision decision, JsonWriter w) {
        w.beginObject();
        w.name(SCHEMA_VERSION_KEY);
        w.number(SCHEMA_VERSION);
        w.name(TYPE);
        w.asciiString(EVENT_TYPE);
        w.name(TS_MS);
        w.number(ev.tsMs());
        w.name(MASK);
        w.number(ev.mask());
        w.name(EVENTS);
        events(ev.mask(), w);
        w.name(DECISION);
        w.asciiString(DECISIONS[decision.ordinal()]);
        job(ev.job(), JOB_ID, PATH_ROLE, w);
        w.name(PID);
        w.number(ev.pid());
        ProcessInfo p = ev.process();
        int processInvalid = process(p, w);
        PathRef path = ev.path();
        w.name(PATH);
        boolean pathOk = path(path, w);
        w.name(NAME);
        boolean nameOk = name(path, w);
        w.name(IS_DIR);
        w.bool(ev.isDir());
        boolean oldPathOk = true;
        boolean oldNameOk = true;
        if (ev.isRename()) {
            w.name(OLD_PATH);
            oldPathOk = path(ev.oldPath(), w);
            w.name(OLD_NAME);
            oldNameOk = name(ev.oldPath(), w);
            job(ev.oldJob(), OLD_JOB_ID, OLD_PATH_ROLE, w);
        }
        w.name(SEQ);
        w.number(++seq);
        processInvalid |= who(p, w);
        if (ev.fdError() != 0) {
            w.name(FD_ERROR);
            w.string(io.fanotifyd.kernel.Errno.name(ev.fdError()));
        }
        processBase64(p, processInvalid, w);
        if (!pathOk) {
            pathBase64(w, PATH_B64, path);
        }
        if (!nameOk) {
            nameBase64(w, NAME_B64, path);
        }
        if (!oldPathOk) {
            pathBase64(w, OLD_PATH_B64, ev.oldPath());
        }
        if (!oldNameOk) {
            nameBase64(w, OLD_NAME_B64, ev.oldPath());
        }
        end(w);
    }

    /**
     * Appends alert {@code i} of {@code alerts}, raised by {@code ev}: the spec's fields
     * ({@code type, ts_ms, kind, pid, comm, exe, path, reason}, bursts add {@code count, window_ms}), then
     * {@code event_seq}, the {@code seq} of the event record written just before it.
     */
    public void alert(Event ev, Alerts alerts, int i, JsonWriter w) {
        w.beginObject();
        w.name(TYPE);
        w.string("alert");
        w.name(TS_MS);
        w.number(ev.tsMs());
        w.name(KIND);
        w.string(alerts.kind(i));
        w.name(PID);
        w.number(ev.pid());
        ProcessInfo p = ev.process();
        int processInvalid = process(p, w);
        PathRef path = alerts.path(i);
        w.name(PATH);
        boolean pathOk = path(path, w);
        w.name(REASON);
        w.string(alerts.reason(i));
        if (Alerts.BURST.equals(alerts.kind(i))) {
            w.name(COUNT);
            w.number(alerts.count(i));
            w.name(WINDOW_MS);
            w.number(alerts.windowMs(i));
        }
        w.name(EVENT_SEQ);
        w.number(seq);
        job(ev.jobOf(path), JOB_ID, PATH_ROLE, w);
        processInvalid |= who(p, w);
        processBase64(p, processInvalid, w);
        if (!pathOk) {
            pathBase64(w, PATH_B64, path);
        }
        end(w);
    }

    /** Appends a record saying that {@code records} records could not be written (the output was stuck). */
    public void dropped(long tsMs, long records, JsonWriter w) {
        dropped(tsMs, records, null, w);
    }

    /**
     * Appends a {@code dropped} record: {@code records} records that did not reach this reader, and why
     * ({@code reason}, a short phrase; left out when null).
     */
    public void dropped(long tsMs, long records, String reason, JsonWriter w) {
        w.beginObject();
        w.name(SCHEMA_VERSION_KEY);
        w.number(SCHEMA_VERSION);
        w.name(TYPE);
        w.string("dropped");
        w.name(TS_MS);
        w.number(tsMs);
        w.name(DROPPED);
        w.number(records);
        if (reason != null) {
            w.name(REASON);
            w.string(reason);
        }
        w.endObject();
        w.newline();
    }

    /** Appends a queue-overflow record: the kernel dropped events; {@code total} overflows so far. */
    public void overflow(long tsMs, long mask, long total, JsonWriter w) {
        w.beginObject();
        w.name(SCHEMA_VERSION_KEY);
        w.number(SCHEMA_VERSION);
        w.name(TYPE);
        w.string("overflow");
        w.name(TS_MS);
        w.number(tsMs);
        w.name(MASK);
        w.number(mask);
        w.name(EVENTS);
        events(mask, w);
        w.name(OVERFLOWS);
        w.number(total);
        end(w);
    }

    private static final byte[] EVENT_TYPE = JsonWriter.key("event");
    private static final byte[][] DECISIONS = new byte[Decision.values().length][];

    static {
        for (Decision d : Decision.values()) {
            DECISIONS[d.ordinal()] = JsonWriter.key(d.label());
        }
    }

    /**
     * The {@code events} field's text per mask, for the masks seen last: a stream has few distinct masks, so
     * this is one copy per record instead of a name per bit, each scanned for escaping.
     */
    private final long[] eventsMasks = new long[32];
    private final byte[][] eventsTexts = new byte[32][];

    private void events(long mask, JsonWriter w) {
        int slot = (int) (mask ^ (mask >>> 27)) & (eventsMasks.length - 1);
        byte[] text = eventsTexts[slot];
        if (text == null || eventsMasks[slot] != mask) {
            text = eventsText(mask);
            eventsTexts[slot] = text;
            eventsMasks[slot] = mask;
        }
        w.asciiString(text);
    }

    private static byte[] eventsText(long mask) {
        StringBuilder sb = new StringBuilder();
        for (long rest = mask; rest != 0; rest &= rest - 1) {
            if (!sb.isEmpty()) {
                sb.append(',');
            }
            sb.append(new String(BIT_NAMES[Long.numberOfTrailingZeros(rest)], StandardCharsets.US_ASCII));
        }
        return JsonWriter.key(sb.toString());
    }

    /** {@code job_id} and {@code path_role}: the root's, or null and null. */
    private static void job(JobIndex.Root root, byte[] idKey, byte[] roleKey, JsonWriter w) {
        w.name(idKey);
        if (root == null) {
            w.nullValue();
            w.name(roleKey);
            w.nullValue();
        } else {
            w.string(root.jobId());
            w.name(roleKey);
            if (root.role() == null) {
                w.nullValue(); // tagged by the process's cgroup, outside the job's directories
            } else {
                w.string(root.role());
            }
        }
    }

    private static final int COMM_INVALID = 1;
    private static final int EXE_INVALID = 2;
    private static final int CGROUP_INVALID = 4;

    /**
     * Our additions on who the process was: real and effective ids, parent, cgroup v2 path; null where unknown
     * (the effective ids and the cgroup of a process known only by its exit record). Returns
     * {@link #CGROUP_INVALID} if the cgroup was not UTF-8.
     */
    private static int who(ProcessInfo p, JsonWriter w) {
        if (p == null) {
            for (byte[] key : WHO_KEYS) {
                w.name(key);
                w.nullValue();
            }
            return 0;
        }
        Encoded e = encoded(p);
        if (e.whoLength > 0) {
            w.fields(e.who, 0, e.whoLength);
            return e.invalid & CGROUP_INVALID;
        }
        int start = w.length() + 1; // after the comma: these follow seq
        id(w, UID, p.uid());
        id(w, GID, p.gid());
        id(w, EUID, p.euid());
        id(w, EGID, p.egid());
        id(w, PPID, p.parentPid());
        w.name(CGROUP);
        byte[] cg = p.cgroup();
        boolean ok = cg == null ? nullValue(w) : bytes(w, cg, cg.length);
        e.who = keep(e.who, w, start);
        e.whoLength = w.length() - start;
        int invalid = ok ? 0 : CGROUP_INVALID;
        e.invalid |= invalid;
        return invalid;
    }

    /** An id, or null for -1 (unknown; also the kernel's "no such id", which no process holds). */
    private static void id(JsonWriter w, byte[] key, int id) {
        w.name(key);
        if (id == -1) {
            w.nullValue();
        } else {
            w.number(id & 0xffff_ffffL);
        }
    }

    /**
     * What this encoder made of one process, kept in {@link ProcessInfo#encoding} until the process's details
     * change: its {@code comm, exe} fields and its who fields, copied into each record instead of encoded and
     * checked for UTF-8 again. Records of one process come in runs, so this is most of the encoding work saved.
     */
    private static final class Encoded {
        byte[] commExe = new byte[128];
        int commExeLength;
        byte[] who = new byte[128];
        int whoLength;
        int invalid;
    }

    /** Writes the {@code comm} and {@code exe} fields; returns which of them were not valid UTF-8. */
    private static int process(ProcessInfo p, JsonWriter w) {
        if (p == null) {
            w.name(COMM);
            w.nullValue();
            w.name(EXE);
            w.nullValue();
            return 0;
        }
        Encoded e = encoded(p);
        if (e.commExeLength > 0) {
            w.fields(e.commExe, 0, e.commExeLength);
            return e.invalid & (COMM_INVALID | EXE_INVALID);
        }
        int start = w.length() + 1; // after the comma name() writes: comm is never a record's first field
        w.name(COMM);
        boolean commOk = p.commLength() < 0 ? nullValue(w) : bytes(w, p.comm(), p.commLength());
        w.name(EXE);
        boolean exeOk = p.exeLength() < 0 ? nullValue(w) : bytes(w, p.exe(), p.exeLength());
        int invalid = (commOk ? 0 : COMM_INVALID) | (exeOk ? 0 : EXE_INVALID);
        e.commExe = keep(e.commExe, w, start);
        e.commExeLength = w.length() - start;
        e.invalid |= invalid;
        return invalid;
    }

    /** The process's {@link Encoded}, emptied if the process changed since it was made. */
    private static Encoded encoded(ProcessInfo p) {
        Encoded e = p.encoding instanceof Encoded x ? x : null;
        if (e == null) {
            e = new Encoded();
            p.encoding = e;
        } else if (p.encodingStamp == p.stamp()) {
            return e;
        }
        e.commExeLength = 0;
        e.whoLength = 0;
        e.invalid = 0;
        p.encodingStamp = p.stamp();
        return e;
    }

    /** Copies what {@code w} holds from {@code start} on into {@code into} (grown as needed). */
    private static byte[] keep(byte[] into, JsonWriter w, int start) {
        int n = w.length() - start;
        byte[] out = into.length >= n ? into : new byte[Math.max(n, into.length * 2)];
        System.arraycopy(w.array(), start, out, 0, n);
        return out;
    }

    /** The lossless {@code comm_b64}/{@code exe_b64} additions for what {@link #process} found invalid. */
    private static void processBase64(ProcessInfo p, int invalid, JsonWriter w) {
        if ((invalid & COMM_INVALID) != 0) {
            base64(w, COMM_B64, p.comm(), p.commLength());
        }
        if ((invalid & EXE_INVALID) != 0) {
            base64(w, EXE_B64, p.exe(), p.exeLength());
        }
        if ((invalid & CGROUP_INVALID) != 0) {
            base64(w, CGROUP_B64, p.cgroup(), p.cgroup().length);
        }
    }

    private static boolean nullValue(JsonWriter w) {
        w.nullValue();
        return true;
    }

    private static boolean bytes(JsonWriter w, byte[] b, int len) {
        w.beginString();
        boolean ok = w.bytes(b, 0, len);
        w.endString();
        return ok;
    }

    /** Writes the path or null; returns whether it was valid UTF-8. */
    private static boolean path(PathRef p, JsonWriter w) {
        if (!p.known()) {
            w.nullValue();
            return true;
        }
        w.beginString();
        boolean ok = w.bytes(p.dir(), 0, p.dirLength());
        if (p.hasName()) {
            if (!isRoot(p)) {
                w.bytes(SLASH, 0, 1);
            }
            ok &= w.bytes(p.nameSegment(), p.nameOffset(), p.nameLength());
        }
        w.endString();
        return ok;
    }

    private static boolean name(PathRef p, JsonWriter w) {
        if (p.hasName()) {
            w.beginString();
            boolean ok = w.bytes(p.nameSegment(), p.nameOffset(), p.nameLength());
            w.endString();
            return ok;
        }
        if (!p.known()) {
            w.nullValue();
            return true;
        }
        int base = p.dirBaseOffset();
        return bytes(w, p.dir(), base, p.dirLength() - base);
    }

    private static boolean bytes(JsonWriter w, byte[] b, int off, int len) {
        w.beginString();
        boolean ok = w.bytes(b, off, len);
        w.endString();
        return ok;
    }

    private static boolean isRoot(PathRef p) {
        return p.dirLength() == 1 && p.dir()[0] == '/';
    }

    private static void base64(JsonWriter w, byte[] key, byte[] b, int len) {
        w.name(key);
        w.beginBase64();
        w.base64(b, 0, len);
        w.endBase64();
    }

    private static void pathBase64(JsonWriter w, byte[] key, PathRef p) {
        w.name(key);
        w.beginBase64();
        w.base64(p.dir(), 0, p.dirLength());
        if (p.hasName()) {
            if (!isRoot(p)) {
                w.base64(SLASH, 0, 1);
            }
            w.base64(p.nameSegment(), p.nameOffset(), p.nameLength());
        }
        w.endBase64();
    }

    private static void nameBase64(JsonWriter w, byte[] key, PathRef p) {
        w.name(key);
        w.beginBase64();
        if (p.hasName()) {
            w.base64(p.nameSegment(), p.nameOffset(), p.nameLength());
        } else {
            int base = p.dirBaseOffset();
            w.base64(p.dir(), base, p.dirLength() - base);
        }
        w.endBase64();
    }
}
