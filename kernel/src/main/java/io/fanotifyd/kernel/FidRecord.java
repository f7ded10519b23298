package io.fanotifyd.kernel;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Flyweight over one file-identifier info record ({@code FID}, {@code DFID}, {@code DFID_NAME},
 * {@code OLD_DFID_NAME}, {@code NEW_DFID_NAME}) inside the buffer an {@link EventCursor} walks.
 *
 * <p>Layout: header (4), {@code __kernel_fsid_t} (8), {@code struct file_handle} (handle_bytes u32,
 * handle_type s32, f_handle[handle_bytes]), then for the named types a NUL-terminated name. The
 * {@code struct file_handle} can be passed as it is to {@code open_by_handle_at(2)}: see {@link #handle()}.
 * Valid only until the cursor moves on.
 */
public final class FidRecord {
    static final int FSID_OFFSET = 4;
    static final int HANDLE_OFFSET = 12;
    static final int HANDLE_HEADER = 8;
    static final int MIN_LENGTH = HANDLE_OFFSET + HANDLE_HEADER;

    private MemorySegment buf = MemorySegment.NULL;
    private long offset = -1;
    private int handleBytes;
    private long nameOffset;
    private int nameLength = -1;

    void clear() {
        offset = -1;
        nameLength = -1;
    }

    /**
     * Checks the record at {@code [off, off + len)} and points this flyweight at it.
     *
     * @throws CorruptEventException if the handle or the name does not fit the record
     */
    void set(MemorySegment buf, long off, int len, boolean named) {
        if (len < MIN_LENGTH) {
            throw new CorruptEventException(off, "fid record of " + len + " bytes is shorter than " + MIN_LENGTH);
        }
        int hb = buf.get(JAVA_INT_UNALIGNED, off + HANDLE_OFFSET);
        if (hb < 0 || hb > len - MIN_LENGTH) {
            throw new CorruptEventException(off, "file handle of " + Integer.toUnsignedString(hb)
                    + " bytes does not fit a " + len + "-byte record");
        }
        this.buf = buf;
        this.offset = off;
        this.handleBytes = hb;
        this.nameLength = -1;
        if (named) {
            long start = off + MIN_LENGTH + hb;
            long nul = firstNul(buf, start, off + len);
            if (nul < 0) {
                throw new CorruptEventException(off, "name is not NUL-terminated inside its record");
            }
            this.nameOffset = start;
            this.nameLength = (int) (nul - start);
        }
    }

    private static final long ONES = 0x0101010101010101L;
    private static final long HIGHS = 0x8080808080808080L;
    private static final ValueLayout.OfLong LE_LONG = JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * The offset of the first NUL byte in {@code [from, to)}, or -1. Eight bytes per read: each read of a
     * segment is a bounds-checked call under C1, and names are scanned for every event.
     */
    static long firstNul(MemorySegment buf, long from, long to) {
        long p = from;
        for (; to - p >= Long.BYTES; p += Long.BYTES) {
            long v = buf.get(LE_LONG, p);
            // The lowest byte flagged is the first zero byte (a false flag can only sit above a true one).
            long zeros = (v - ONES) & ~v & HIGHS;
            if (zeros != 0) {
                return p + (Long.numberOfTrailingZeros(zeros) >>> 3);
            }
        }
        for (; p < to; p++) {
            if (buf.get(JAVA_BYTE, p) == 0) {
                return p;
            }
        }
        return -1;
    }

    /** Whether the current event carries this record. */
    public boolean present() {
        return offset >= 0;
    }

    /** The filesystem id, the same 8 bytes as {@code statfs.f_fsid}, read as one little-endian long. */
    public long fsid() {
        return buf.get(JAVA_LONG_UNALIGNED, offset + FSID_OFFSET);
    }

    public int handleType() {
        return buf.get(JAVA_INT_UNALIGNED, offset + HANDLE_OFFSET + 4);
    }

    /** Number of opaque handle bytes ({@code handle_bytes}). */
    public int handleBytes() {
        return handleBytes;
    }

    /** The whole {@code struct file_handle} (header and bytes), ready for {@code open_by_handle_at}. */
    public MemorySegment handle() {
        return buf.asSlice(offset + HANDLE_OFFSET, HANDLE_HEADER + handleBytes);
    }

    /** Offset of {@code struct file_handle} in {@link #buffer()}; with {@link #handleBytes()} a hash key. */
    public long handleOffset() {
        return offset + HANDLE_OFFSET;
    }

    /** The buffer the record lives in. */
    public MemorySegment buffer() {
        return buf;
    }

    /** Whether a name follows the handle (the {@code *_NAME} record types). */
    public boolean hasName() {
        return nameLength >= 0;
    }

    /** Offset of the name's first byte in {@link #buffer()}. */
    public long nameOffset() {
        return nameOffset;
    }

    /** Length of the name in bytes, without its NUL; -1 if there is none. */
    public int nameLength() {
        return nameLength;
    }

    /** A copy of the name bytes (allocates: for tests and slow paths). */
    public byte[] nameBytes() {
        if (nameLength < 0) {
            return null;
        }
        return buf.asSlice(nameOffset, nameLength).toArray(JAVA_BYTE);
    }
}
