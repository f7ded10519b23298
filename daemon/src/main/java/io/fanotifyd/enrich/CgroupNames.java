package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * cgroup v2 paths by cgroup id: a process's id comes with its pidfd's info ({@code PIDFD_GET_INFO}), its path
 * only from {@code /proc/PID/cgroup}, so that file is read once per cgroup, not once per process. A cgroup
 * removed and its id reused is not a concern: cgroup ids are 64-bit and never reused while the system runs.
 */
final class CgroupNames {
    private static final byte[] CGROUP = "cgroup".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final int MAX = 4096;
    private final int capacity;
    private final long[] ids;
    private final byte[][] paths;
    private int size;
    private final MemorySegment path;
    private final MemorySegment buf;

    CgroupNames(int capacity, Arena arena) {
        this.capacity = Integer.highestOneBit(Math.max(16, capacity * 2 - 1)) << 1;
        this.ids = new long[this.capacity];
        this.paths = new byte[this.capacity][];
        this.path = arena.allocate(64);
        this.buf = arena.allocate(MAX);
    }

    /** The path of cgroup {@code id} (0: unknown), reading {@code pid}'s cgroup file when it is new; or null. */
    byte[] path(long id, int pid) {
        if (id != 0) {
            int s = slot(id);
            if (paths[s] != null) {
                return paths[s];
            }
        }
        byte[] p = read(pid);
        if (p != null && id != 0) {
            if (size >= capacity / 2) {
                java.util.Arrays.fill(paths, null);
                java.util.Arrays.fill(ids, 0);
                size = 0;
            }
            int s = slot(id);
            ids[s] = id;
            paths[s] = p;
            size++;
        }
        return p;
    }

    private int slot(long id) {
        int mask = capacity - 1;
        long h = id * 0x9E3779B97F4A7C15L;
        for (int i = (int) (h >>> 40) & mask; ; i = (i + 1) & mask) {
            if (paths[i] == null || ids[i] == id) {
                return i;
            }
        }
    }

    /** The {@code 0::PATH} line of {@code /proc/PID/cgroup} (the unified hierarchy), or null. */
    byte[] read(int pid) {
        long n = ProcPaths.read(path, pid, CGROUP, buf, MAX);
        for (int line = 0; line < n; ) {
            int end = line;
            while (end < n && buf.get(JAVA_BYTE, end) != '\n') {
                end++;
            }
            if (end - line >= 3 && buf.get(JAVA_BYTE, line) == '0' && buf.get(JAVA_BYTE, line + 1) == ':'
                    && buf.get(JAVA_BYTE, line + 2) == ':') {
                byte[] p = new byte[end - line - 3];
                MemorySegment.copy(buf, JAVA_BYTE, line + 3, p, 0, p.length);
                return p;
            }
            line = end + 1;
        }
        return null;
    }
}
