package io.fanotifyd.enrich;

import io.fanotifyd.kernel.EventMask;

import io.fanotifyd.kernel.PathCodec;

import java.util.ArrayList;
import java.util.List;

/**
 * Keeps {@code --mount} honest in FID mode. The kernel refuses directory-entry (and attribute) events on mount
 * marks, so the daemon asks for them with a filesystem mark and drops those that happened outside the marked
 * mounts: an event whose bits all belong to that filesystem mark is kept only if its path lies under one of
 * the filesystem's marked mount roots or in one of its {@code --watch} directories. Filesystems marked whole,
 * and filesystems with no {@code --mount}, are not filtered.
 */
public final class MountScope {
    private record Rule(long fsid, boolean whole, List<byte[]> roots, List<byte[]> watched) {}

    private final List<Rule> rules = new ArrayList<>();

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
        rules.set(rules.indexOf(r), new Rule(fsid, true, r.roots, r.watched));
    }

    public void addMountRoot(long fsid, String root) {
        rule(fsid).roots.add(PathCodec.encode(root));
    }

    public void addWatch(long fsid, String dir) {
        rule(fsid).watched.add(PathCodec.encode(dir));
    }

    /**
     * @return false if the event came only from a filesystem mark placed for {@code --mount} and its path is
     *     outside every marked mount; true otherwise (also when the path is unknown: better reported than lost)
     */
    public boolean accepts(long fsid, long mask, PathRef path) {
        if ((mask & ~EventMask.ONDIR & ~EventMask.FID_ONLY_EVENTS) != 0 || !path.known()) {
            return true;
        }
        // Indexed loops: the launcher runs C1 only, which does not remove an iterator's allocation.
        for (int i = 0; i < rules.size(); i++) {
            Rule r = rules.get(i);
            if (r.fsid != fsid) {
                continue;
            }
            if (r.whole || r.roots.isEmpty()) {
                return true;
            }
            for (int k = 0; k < r.roots.size(); k++) {
                if (path.isUnder(r.roots.get(k))) {
                    return true;
                }
            }
            for (int k = 0; k < r.watched.size(); k++) {
                if (path.isInOrIs(r.watched.get(k))) {
                    return true;
                }
            }
            return false;
        }
        return true;
    }
}
