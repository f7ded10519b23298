package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.util.Arrays;
import java.util.List;

/**
 * Which job and role a path belongs to: the longest configured root that contains it on a path-component
 * boundary ({@code /x/root} contains {@code /x/root} and {@code /x/root/a}, not {@code /x/rootish}).
 *
 * <p>The roots sit in a hash table keyed by their bytes. A lookup hashes the path once, front to back, and
 * probes the table at each {@code /} boundary and at the end, so its cost grows with the path's length, not
 * with the number of roots, and it allocates nothing.
 */
public final class JobIndex {
    /**
     * One root: its path (absolute, no trailing slash, except "/" itself), job id and role; for a job's cgroup,
     * the cgroup's path and a null role.
     */
    public record Root(byte[] path, String jobId, String role) {}

    private static final long FNV_OFFSET = 0xcbf29ce484222325L;
    private static final long FNV_PRIME = 0x100000001b3L;

    private final Root[] table;
    private final long[] hashes;
    private final int mask;
    private final Root slashRoot;
    private final int size;
    private JobIndex cgroups;
    private final PathRef cgroupPath = new PathRef();

    public JobIndex(List<Root> roots) {
        int cap = Integer.highestOneBit(Math.max(4, roots.size() * 4 - 1)) << 1;
        this.table = new Root[cap];
        this.hashes = new long[cap];
        this.mask = cap - 1;
        Root slash = null;
        for (Root r : roots) {
            if (r.path.length == 1 && r.path[0] == '/') {
                if (slash != null) {
                    throw new IllegalArgumentException("the same directory is given twice: / (job " + slash.jobId
                            + " " + slash.role + ", job " + r.jobId + " " + r.role + ")");
                }
                slash = r;
                continue;
            }
            long h = FNV_OFFSET;
            for (byte b : r.path) {
                h = (h ^ (b & 0xff)) * FNV_PRIME;
            }
            int slot = (int) (h ^ (h >>> 32)) & mask;
            while (table[slot] != null) {
                if (Arrays.equals(table[slot].path, r.path)) {
                    throw new IllegalArgumentException("the same directory is given twice: "
                            + new String(r.path, java.nio.charset.StandardCharsets.UTF_8) + " (job " + table[slot].jobId
                            + " " + table[slot].role + ", job " + r.jobId + " " + r.role + ")");
                }
                slot = (slot + 1) & mask;
            }
            table[slot] = r;
            hashes[slot] = h;
        }
        this.slashRoot = slash;
        this.size = roots.size();
    }

    /** Adds the jobs' cgroups (roots with a null role): {@link #lookupCgroup} finds them. */
    public JobIndex withCgroups(List<Root> roots) {
        this.cgroups = roots.isEmpty() ? null : new JobIndex(roots);
        return this;
    }

    /** Whether any job names its cgroup. */
    public boolean hasCgroups() {
        return cgroups != null;
    }

    public boolean isEmpty() {
        return size == 0 && cgroups == null;
    }

    /**
     * The job whose cgroup contains {@code cgroup} (a process's cgroup v2 path; the deepest configured one
     * wins), or null.
     */
    public Root lookupCgroup(byte[] cgroup) {
        if (cgroups == null || cgroup == null) {
            return null;
        }
        cgroupPath.set(cgroup, cgroup.length);
        return cgroups.lookup(cgroupPath);
    }

    /** The root that contains {@code path} (longest wins), or null if none does or the path is unknown. */
    public Root lookup(PathRef path) {
        if (size == 0 || !path.known()) {
            return null;
        }
        byte[] dir = path.dir();
        int dirLen = path.dirLength();
        Root best = slashRoot;
        long h = FNV_OFFSET;
        for (int i = 0; i < dirLen; i++) {
            byte b = dir[i];
            if (b == '/' && i > 0) {
                Root r = probe(h, dir, i, path, false);
                if (r != null) {
                    best = r;
                }
            }
            h = (h ^ (b & 0xff)) * FNV_PRIME;
        }
        Root r = probe(h, dir, dirLen, path, false);
        if (r != null) {
            best = r;
        }
        if (path.hasName()) {
            boolean root = dirLen == 1 && dir[0] == '/';
            if (!root) {
                h = (h ^ '/') * FNV_PRIME;
            }
            for (int i = 0; i < path.nameLength(); i++) {
                h = (h ^ (path.nameSegment().get(JAVA_BYTE, path.nameOffset() + i) & 0xff)) * FNV_PRIME;
            }
            r = probe(h, dir, dirLen, path, true);
            if (r != null) {
                best = r;
            }
        }
        return best;
    }

    /** The root whose bytes are {@code dir[0, len)}, or (whole) the full path dir/name, if any. */
    private Root probe(long h, byte[] dir, int len, PathRef path, boolean whole) {
        for (int slot = (int) (h ^ (h >>> 32)) & mask; table[slot] != null; slot = (slot + 1) & mask) {
            if (hashes[slot] == h && (whole ? equalsWhole(table[slot].path, path) : equalsPrefix(table[slot].path,
                    dir, len))) {
                return table[slot];
            }
        }
        return null;
    }

    private static boolean equalsPrefix(byte[] root, byte[] dir, int len) {
        return root.length == len && Arrays.equals(root, 0, len, dir, 0, len);
    }

    private static boolean equalsWhole(byte[] root, PathRef p) {
        int dirLen = p.dirLength();
        boolean slash = !(dirLen == 1 && p.dir()[0] == '/');
        int total = dirLen + (slash ? 1 : 0) + p.nameLength();
        if (root.length != total || !Arrays.equals(root, 0, dirLen, p.dir(), 0, dirLen)) {
            return false;
        }
        int at = dirLen;
        if (slash && root[at++] != '/') {
            return false;
        }
        for (int i = 0; i < p.nameLength(); i++) {
            if (root[at + i] != p.nameSegment().get(JAVA_BYTE, p.nameOffset() + i)) {
                return false;
            }
        }
        return true;
    }
}
