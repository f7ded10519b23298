package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.Fanotify.FANOTIFY_METADATA_VERSION;
import static io.fanotifyd.kernel.Fanotify.METADATA_SIZE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Walks the events that one {@code read(2)} of a fanotify fd returned, without allocating.
 *
 * <pre>{@code
 * cursor.reset(buffer, bytesRead);
 * while (cursor.next()) {
 *     long mask = cursor.mask();
 *     if (cursor.dir().present()) { ... cursor.dir().nameOffset() ... }
 * }
 * }</pre>
 *
 * <p>Every length is checked against the buffer before it is used; a malformed buffer raises
 * {@link CorruptEventException} and never leads to a read outside {@code [0, length)}. Info records of
 * types this class does not know are skipped by their length. The 64-bit mask is read unaligned because
 * {@code event_len} is only a multiple of 4.
 */
public final class EventCursor {
    private static final int HEADER_SIZE = 4;
    /**
     * Fields read together, low bytes first: the binding runs on amd64 and aarch64 ({@link Syscall} refuses
     * others), both little-endian, so the kernel's native-order structs are little-endian too.
     */
    private static final ValueLayout.OfLong LE_LONG = JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE_INT = JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private MemorySegment buf = MemorySegment.NULL;
    private long limit;
    private long next;
    private long current = -1;
    private int eventLength;
    private long mask;
    private int fd;
    private int pid;

    private final FidRecord fid = new FidRecord();
    private final FidRecord dir = new FidRecord();
    private final FidRecord oldDir = new FidRecord();
    private final FidRecord newDir = new FidRecord();
    private int pidfd;
    private boolean hasPidfd;
    private int error;
    private int errorCount;
    private boolean hasError;

    /**
     * How many events {@code buf[0, length)} holds, by their {@code event_len} alone: the unit the kernel's
     * {@code FIONREAD} counts in ({@link FanotifyGroup#queuedEvents()}). A malformed length ends the count; the
     * walk that decodes the events reports it.
     */
    public static int count(MemorySegment buf, long length) {
        int n = 0;
        long off = 0;
        while (length - off >= METADATA_SIZE) {
            int len = buf.get(JAVA_INT_UNALIGNED, off);
            if (len < METADATA_SIZE || len > length - off) {
                break;
            }
            n++;
            off += len;
        }
        return n;
    }

    /** Starts a walk over {@code buf[0, length)}. */
    public EventCursor reset(MemorySegment buf, long length) {
        if (length < 0 || length > buf.byteSize()) {
            throw new IllegalArgumentException("length " + length + " outside a buffer of " + buf.byteSize());
        }
        this.buf = buf;
        this.limit = length;
        this.next = 0;
        this.current = -1;
        return this;
    }

    /**
     * Moves to the next event.
     *
     * @return false when the buffer is exhausted
     * @throws CorruptEventException if the event or one of its info records is malformed
     */
    public boolean next() {
        long off = next;
        long remaining = limit - off;
        if (remaining == 0) {
            current = -1;
            return false;
        }
        if (remaining < METADATA_SIZE) {
            throw new CorruptEventException(off, remaining + " trailing bytes, less than an event header");
        }
        // event_len (u32), vers (u8), reserved (u8), metadata_len (u16) in one read; then the mask, then fd and
        // pid in one more: every segment read is a bounds-checked call under C1, and this runs for every event.
        long head = buf.get(LE_LONG, off);
        int len = (int) head;
        int vers = (int) (head >>> 32) & 0xff;
        int metaLen = (int) (head >>> 48) & 0xffff;
        if (vers != FANOTIFY_METADATA_VERSION) {
            throw new CorruptEventException(off, "metadata version " + vers + ", expected "
                    + FANOTIFY_METADATA_VERSION);
        }
        if (metaLen < METADATA_SIZE || len < metaLen || Integer.toUnsignedLong(len) > remaining) {
            throw new CorruptEventException(off, "event_len " + Integer.toUnsignedString(len) + ", metadata_len "
                    + metaLen + " do not fit " + remaining + " remaining bytes");
        }
        current = off;
        eventLength = len;
        mask = buf.get(LE_LONG, off + 8);
        long fdPid = buf.get(LE_LONG, off + 16);
        fd = (int) fdPid;
        pid = (int) (fdPid >>> 32);
        next = off + len;
        parseInfo(off + metaLen, off + len);
        return true;
    }

    private void parseInfo(long p, long end) {
        fid.clear();
        dir.clear();
        oldDir.clear();
        newDir.clear();
        hasPidfd = false;
        hasError = false;
        while (p < end) {
            if (end - p < HEADER_SIZE) {
                throw new CorruptEventException(p, (end - p) + " trailing bytes, less than an info header");
            }
            int header = buf.get(LE_INT, p); // info_type (u8), pad (u8), len (u16)
            int type = header & 0xff;
            int len = header >>> 16;
            if (len < HEADER_SIZE || len > end - p) {
                throw new CorruptEventException(p, "info record of type " + type + " claims " + len
                        + " bytes, " + (end - p) + " left in the event");
            }
            switch (type) {
                case Fanotify.INFO_FID -> fid.set(buf, p, len, false);
                case Fanotify.INFO_DFID -> dir.set(buf, p, len, false);
                case Fanotify.INFO_DFID_NAME -> dir.set(buf, p, len, true);
                case Fanotify.INFO_OLD_DFID_NAME -> oldDir.set(buf, p, len, true);
                case Fanotify.INFO_NEW_DFID_NAME -> newDir.set(buf, p, len, true);
                case Fanotify.INFO_PIDFD -> {
                    requireLength(p, type, len, 8);
                    pidfd = buf.get(JAVA_INT_UNALIGNED, p + 4);
                    hasPidfd = true;
                }
                case Fanotify.INFO_ERROR -> {
                    requireLength(p, type, len, 12);
                    error = buf.get(JAVA_INT_UNALIGNED, p + 4);
                    errorCount = buf.get(JAVA_INT_UNALIGNED, p + 8);
                    hasError = true;
                }
                default -> { } // a type newer than this code: its length lets us step over it
            }
            p += len;
        }
    }

    private static void requireLength(long p, int type, int len, int min) {
        if (len < min) {
            throw new CorruptEventException(p, "info record of type " + type + " has " + len + " bytes, needs "
                    + min);
        }
    }

    /** Offset of the current event in the buffer. */
    public long offset() {
        return current;
    }

    public int eventLength() {
        return eventLength;
    }

    public long mask() {
        return mask;
    }

    /** The event's fd ({@code FAN_NOFD} in FID mode and for overflow); the reader must close it. */
    public int fd() {
        return fd;
    }

    /** Pid (or tid with {@code FAN_REPORT_TID}) of the process that caused the event. */
    public int pid() {
        return pid;
    }

    /** The object's own file id ({@code FID}). */
    public FidRecord fid() {
        return fid;
    }

    /** The parent directory's id ({@code DFID} or {@code DFID_NAME}, then with the entry's name). */
    public FidRecord dir() {
        return dir;
    }

    /** Old directory and name of a {@code FAN_RENAME}. */
    public FidRecord oldDir() {
        return oldDir;
    }

    /** New directory and name of a {@code FAN_RENAME}. */
    public FidRecord newDir() {
        return newDir;
    }

    public boolean hasPidfd() {
        return hasPidfd;
    }

    /** The pidfd, {@code FAN_NOPIDFD} if the process had exited, {@code FAN_EPIDFD} on error. */
    public int pidfd() {
        return pidfd;
    }

    public boolean hasError() {
        return hasError;
    }

    /** errno of an {@code FS_ERROR} event. */
    public int error() {
        return error;
    }

    public int errorCount() {
        return errorCount;
    }
}
