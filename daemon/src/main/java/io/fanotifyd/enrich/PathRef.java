package io.fanotifyd.enrich;

import java.lang.foreign.MemorySegment;

/**
 * A path as parts that are never concatenated: a directory path (bytes) and optionally an entry name still in
 * the kernel's read buffer. {@code path = dir + "/" + name}, or just {@code dir} when there is no name (FD mode
 * paths, FID-only objects, events on a directory itself). All bytes, any encoding.
 */
public final class PathRef {
    byte[] dir;
    int dirLength;
    MemorySegment nameSegment;
    long nameOffset;
    int nameLength = -1;

    void clear() {
        dir = null;
        nameLength = -1;
    }

    void set(byte[] dir, int dirLength) {
        this.dir = dir;
        this.dirLength = dirLength;
        this.nameLength = -1;
    }

    void name(MemorySegment seg, long offset, int length) {
        this.nameSegment = seg;
        this.nameOffset = offset;
        this.nameLength = length;
    }

    /** Whether the path is known at all. */
    public boolean known() {
        return dir != null;
    }

    public byte[] dir() {
        return dir;
    }

    public int dirLength() {
        return dirLength;
    }

    /** Whether the entry name is separate from {@link #dir()} (FID events with a name). */
    public boolean hasName() {
        return nameLength >= 0;
    }

    public MemorySegment nameSegment() {
        return nameSegment;
    }

    public long nameOffset() {
        return nameOffset;
    }

    public int nameLength() {
        return nameLength;
    }

    /** Offset in {@link #dir()} of its last component (after the last '/'), for events with no separate name. */
    public int dirBaseOffset() {
        for (int i = dirLength - 1; i >= 0; i--) {
            if (dir[i] == '/') {
                return i + 1;
            }
        }
        return 0;
    }

    /** Whether this path is {@code root} or lies below it, on a component boundary. */
    public boolean isUnder(byte[] root) {
        if (dir == null) {
            return false;
        }
        int n = root.length;
        if (n == 1 && root[0] == '/') {
            return true;
        }
        if (dirLength < n || !java.util.Arrays.equals(dir, 0, n, root, 0, n)) {
            return false;
        }
        return dirLength == n || dir[n] == '/';
    }

    /** Whether the directory part is exactly {@code d}, or the path itself is {@code d}. */
    public boolean isInOrIs(byte[] d) {
        if (dir == null) {
            return false;
        }
        if (java.util.Arrays.equals(dir, 0, dirLength, d, 0, d.length)) {
            return true;
        }
        return !hasName() ? false : nameMatchesTail(d);
    }

    private boolean nameMatchesTail(byte[] d) {
        // dir + "/" + name == d
        int sep = dirLength == 1 && dir[0] == '/' ? 0 : 1;
        if (dirLength + sep + nameLength != d.length
                || !java.util.Arrays.equals(dir, 0, dirLength, d, 0, dirLength)) {
            return false;
        }
        if (sep == 1 && d[dirLength] != '/') {
            return false;
        }
        int base = dirLength + sep;
        for (int i = 0; i < nameLength; i++) {
            if (nameSegment.get(java.lang.foreign.ValueLayout.JAVA_BYTE, nameOffset + i) != d[base + i]) {
                return false;
            }
        }
        return true;
    }

    /**
     * Copies the whole path, NUL-terminated, into {@code dst} (for matching it as a C string).
     *
     * @return its length without the NUL, or -1 if the path is unknown or does not fit
     */
    public int copyTo(MemorySegment dst) {
        if (dir == null) {
            return -1;
        }
        int sep = hasName() && !(dirLength == 1 && dir[0] == '/') ? 1 : 0;
        long len = (long) dirLength + (hasName() ? sep + nameLength : 0);
        if (len + 1 > dst.byteSize()) {
            return -1;
        }
        MemorySegment.copy(dir, 0, dst, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, dirLength);
        long p = dirLength;
        if (hasName()) {
            if (sep == 1) {
                dst.set(java.lang.foreign.ValueLayout.JAVA_BYTE, p++, (byte) '/');
            }
            MemorySegment.copy(nameSegment, nameOffset, dst, p, nameLength);
            p += nameLength;
        }
        dst.set(java.lang.foreign.ValueLayout.JAVA_BYTE, p, (byte) 0);
        return (int) p;
    }
}
