package io.fanotifyd.enrich;

import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.PathCodec;

import java.util.ArrayList;
import java.util.List;

/**
 * Keeps {@code --mount} exact for creates, deletes, renames and attribute changes in FID mode. The kernel
 * refuses those on mount marks, because it does not know through which mount they were made; the daemon asks
 * for them with a filesystem mark and keeps only those it can place: an event whose bits all come from that
 * mark is kept if its directory lies under a marked mount and no other mount of the filesystem shows that
 * directory (a <em>shadow</em>: a bind mount of it elsewhere, or the filesystem's own mount when the marked
 * one is a bind mount), or if it is in a {@code --watch} directory. Filesystems marked whole are not filtered.
 *
 * <p>Shadows come from the mount table, at start-up and whenever it changes ({@link #setShadows}, from the
 * marks thread); the event thread reads them through one volatile field.
 */
public final class MountScope {
    private record Rule(long fsid, boolean whole, List<byte[]> roots, List<byte[]> watched) {}

    private final List<Rule> rules = new ArrayList<>();
    private volatile byte[][] shadows = new byte[0][];

    private Rule rule(long fsid) {
        for (Rule r : rules) {
            if (r.fsid == fsid) {
                return r;
            }
        }
        Rule r = new Rule(fsid, false, new ArrayList<>(), new ArrayList<>());
        rules.add(r);
        return r;
    }

    public void addFilesystem(long fsid) {
        Rule r = rule(fsid);
        // By identity, not indexOf: a record's equals is bootstrapped at its first call (~15 ms of start-up on a
        // slow VM, and the AOT cache does not keep it).
        for (int i = 0; i < rules.size(); i++) {
            if (rules.get(i) == r) {
                rules.set(i, new Rule(fsid, true, r.roots, r.watched));
                return;
            }
        }
    }

    public void addMountRoot(long fsid, String root) {
        rule(fsid).roots.add(PathCodec.encode(root));
    }

    public void addWatch(long fsid, String dir) {
        rule(fsid).watched.add(PathCodec.encode(dir));
    }

    /**
     * The directories (as the marked mounts show them) that another mount of the same filesystem shows too:
     * their directory-entry changes are not reported. Any thread; replaces the previous set.
     */
    public void setShadows(List<String> dirs) {
        byte[][] s = new byte[dirs.size()][];
        for (int i = 0; i < s.length; i++) {
            s[i] = PathCodec.encode(dirs.get(i));
        }
        shadows = s;
    }

    private static final int OUTSIDE = 0;
    private static final int SHADOWED = 1;
    private static final int EXACT = 2;

    /**
     * @return false if the event came only from a filesystem mark placed for {@code --mount} and its directory
     *     is outside every marked mount, or one that another mount shows too, or unknown (a directory already
     *     gone: nothing proves the marked mount made it); true otherwise
     */
    public boolean accepts(long fsid, long mask, PathRef path) {
        if (!filtered(mask)) {
            return true;
        }
        return where(fsid, path) == EXACT;
    }

    /**
     * As {@link #accepts} for a rename: a rename never crosses mounts, so it was made through a marked mount if
     * that mount shows both directories and no other mount shows one of them.
     */
    public boolean acceptsRename(long fsid, long mask, PathRef path, PathRef oldPath) {
        if (!filtered(mask)) {
            return true;
        }
        int a = where(fsid, path);
        int b = where(fsid, oldPath);
        return a != OUTSIDE && b != OUTSIDE && (a == EXACT || b == EXACT);
    }

    private static boolean filtered(long mask) {
        return (mask & ~EventMask.ONDIR & ~EventMask.FID_ONLY_EVENTS) == 0;
    }

    private int where(long fsid, PathRef path) {
        boolean known = path.known();
        // Indexed loops: the launcher runs C1 only, which does not remove an iterator's allocation.
        for (int i = 0; i < rules.size(); i++) {
            Rule r = rules.get(i);
            if (r.fsid != fsid) {
                continue;
            }
            if (r.whole || r.roots.isEmpty()) {
                return EXACT;
            }
            if (!known) {
                return OUTSIDE;
            }
            for (int k = 0; k < r.watched.size(); k++) {
                if (path.isInOrIs(r.watched.get(k))) {
                    return EXACT; // an inode mark on the directory: which mount does not matter
                }
            }
            boolean under = false;
            for (int k = 0; k < r.roots.size() && !under; k++) {
                under = path.isUnder(r.roots.get(k));
            }
            if (!under) {
                return OUTSIDE;
            }
            byte[][] s = shadows;
            for (int k = 0; k < s.length; k++) {
                if (path.isUnder(s[k])) {
                    return SHADOWED;
                }
            }
            return EXACT;
        }
        return EXACT;
    }
}
