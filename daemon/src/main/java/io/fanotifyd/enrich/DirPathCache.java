package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import io.fanotifyd.kernel.FidRecord;

import java.lang.foreign.MemorySegment;

/**
 * Directory file handle → path, so that an event in a known directory costs no system call.
 *
 * <p>Keys are (fsid, {@code struct file_handle}) compared byte by byte straight from the event buffer: a hit
 * allocates nothing. Open addressing with linear probing; when full it is cleared (a directory in use is
 * resolved again at the cost of two system calls). Entries expire after {@code ttlMs} so a directory renamed
 * by a path the marks do not see (its parent outside an inode mark) is corrected within that time; the
 * daemon also calls {@link #clear()} whenever it sees a directory renamed or deleted.
 */
public final class DirPathCache {
    private final int capacity;
    private final int maxEntries;
    private final long ttlMs;
    private final long[] fsids;
    private final byte[][] handles;
    private final byte[][] paths;
    private final long[] stamps;
    private int size;
    private long hits;
    private long misses;

    /** @param maxEntries entries kept before the cache is cleared; the table has twice as many slots */
    public DirPathCache(int maxEntries, long ttlMs) {
        int cap = Integer.highestOneBit(Math.max(16, maxEntries * 2 - 1)) << 1;
        this.capacity = cap;
        this.maxEntries = maxEntries;
        this.ttlMs = ttlMs;
        this.fsids = new long[cap];
        this.handles = new byte[cap][];
        this.paths = new byte[cap][];
        this.stamps = new long[cap];
    }

    /** The cached path of the directory {@code dir} names, or null (absent or expired at {@code nowMs}). */
    public byte[] get(FidRecord dir, long nowMs) {
        int slot = find(dir);
        if (slot >= 0 && handles[slot] != null && nowMs - stamps[slot] <= ttlMs) {
            hits++;
            return paths[slot];
        }
        misses++;
        return null;
    }

    /** Stores a copy of {@code path[0, len)} for {@code dir}. */
    public byte[] put(FidRecord dir, byte[] path, int len, long nowMs) {
        int slot = find(dir);
        if (slot < 0 || handles[slot] == null) {
            if (size >= maxEntries) {
                clear();
            }
            slot = find(dir);
            fsids[slot] = dir.fsid();
            handles[slot] = dir.handle().toArray(JAVA_BYTE);
            size++;
        }
        byte[] copy = java.util.Arrays.copyOf(path, len);
        paths[slot] = copy;
        stamps[slot] = nowMs;
        return copy;
    }

    /** Forgets everything (after a directory rename or delete, whose descendants' paths changed). */
    public void clear() {
        java.util.Arrays.fill(handles, null);
        java.util.Arrays.fill(paths, null);
        size = 0;
    }

    public int size() {
        return size;
    }

    public long hits() {
        return hits;
    }

    public long misses() {
        return misses;
    }

    /** Slot holding {@code dir}, or the empty slot where it would go; -1 never happens (table half empty). */
    private int find(FidRecord dir) {
        MemorySegment buf = dir.buffer();
        long off = dir.handleOffset();
        int len = 8 + dir.handleBytes();
        long fsid = dir.fsid();
        int h = hash(fsid, buf, off, len);
        for (int i = 0; i < capacity; i++) {
            int slot = (h + i) & (capacity - 1);
            byte[] key = handles[slot];
            if (key == null) {
                return slot;
            }
            if (fsids[slot] == fsid && equal(key, buf, off, len)) {
                return slot;
            }
        }
        return -1;
    }

    // A handle is compared and hashed 8 bytes at a time: under C1 every single-value segment read pays the FFM's
    // bounds and alignment checks (a quarter of the event thread's Java time in a JFR profile), and a handle is
    // 16 bytes or more.
    private static final java.lang.invoke.VarHandle KEY_LONG = java.lang.invoke.MethodHandles.byteArrayViewVarHandle(
            long[].class, java.nio.ByteOrder.nativeOrder());

    private static boolean equal(byte[] key, MemorySegment buf, long off, int len) {
        if (key.length != len) {
            return false;
        }
        int i = 0;
        for (; i + 8 <= len; i += 8) {
            if ((long) KEY_LONG.get(key, i) != buf.get(JAVA_LONG_UNALIGNED, off + i)) {
                return false;
            }
        }
        for (; i < len; i++) {
            if (key[i] != buf.get(JAVA_BYTE, off + i)) {
                return false;
            }
        }
        return true;
    }

    private static int hash(long fsid, MemorySegment buf, long off, int len) {
        long h = fsid * 0x9E3779B97F4A7C15L;
        int i = 0;
        for (; i + 8 <= len; i += 8) {
            h = (h ^ buf.get(JAVA_LONG_UNALIGNED, off + i)) * 0x100000001B3L;
        }
        for (; i < len; i++) {
            h = (h ^ buf.get(JAVA_BYTE, off + i)) * 0x100000001B3L;
        }
        return (int) (h ^ (h >>> 32));
    }
}
