package io.fanotifyd.daemon;

import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.MountScope;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;

import java.util.List;

/**
 * Places the marks: {@code --watch} as inode marks (with child events), {@code --filesystem} as filesystem
 * marks, {@code --mount} as mount marks.
 *
 * <p>{@code --mount} claims what happened through that one mount. A mount mark gets what the kernel can tell
 * per mount: opens, executions, reads, writes, closes, and the permission events. The kernel refuses creates,
 * deletes, renames and attribute changes on mount marks, because it does not know through which mount they
 * were made; in FID mode a filesystem mark asks for them, and {@link MountScope} keeps only those made in a
 * directory that no other mount of the filesystem shows (in this mount namespace), which can only have been
 * made through the marked mount. The directories another mount also shows (a bind mount of a subdirectory
 * elsewhere; all of them when the marked mount is itself a bind mount of a filesystem mounted elsewhere) are
 * its <em>shadows</em>: said at start-up, and followed as the mount table changes. Nor is a filesystem mark
 * used for the rest when the mount shows its whole filesystem: a mount mark belongs to one mount instance, and
 * copies in other mount namespaces ({@code unshare -m}, containers) are not covered (README: use
 * {@code --filesystem} for such workloads).
 */
final class Marks {
    private final java.util.Map<String, MarkStates.Mark> placed = new java.util.LinkedHashMap<>();

    /**
     * One entry per marked path (not per group: the permission group's marks on it come and go with the
     * notification group's), naming the kernel mark whose loss ends it; for {@link MarkWatch}.
     */
    java.util.List<MarkStates.Mark> placed() {
        return java.util.List.copyOf(placed.values());
    }

    private void placed(String flag, String path, MarkStates.Kind kind, MountInfo.Mount mount) {
        placed.putIfAbsent(flag + " " + path, new MarkStates.Mark(flag, path, kind, mount.dev(), mount.mountId()));
    }

    /** Number of fanotify marks placed, over the groups (what {@code /proc/PID/fdinfo} lists). */
    int count() {
        int n = 0;
        for (java.util.Map<String, KernelMark> m : kernel.values()) {
            n += m.size();
        }
        return n;
    }

    /**
     * One kernel mark as {@code fanotify_mark} is asked for it: its kind ({@code FAN_MARK_MOUNT},
     * {@code FAN_MARK_FILESYSTEM} or 0 for an inode), the first flag and path that asked for it (the path it is
     * placed and removed by), and the union of the masks every flag asked for, since the kernel keeps one mark
     * per object and group.
     */
    record KernelMark(int kind, String flag, String path, long mask) {}

    /** Per group, the kernel marks by the object they mark ({@link #key}), in the order they are placed. */
    private final java.util.Map<FanotifyGroup, java.util.LinkedHashMap<String, KernelMark>> kernel =
            new java.util.IdentityHashMap<>();

    /** The --mount mounts whose directory-entry events come through a filesystem mark and {@link MountScope}. */
    private final List<MountInfo.Mount> direntMounts = new java.util.ArrayList<>();
    /** Every --mount mount (mount ids): another marked mount is no shadow (see warnIfSharedView). */
    private final java.util.Set<Integer> markedMountIds = new java.util.HashSet<>();

    /** Plans the marks of {@code group} ({@link #plan}) and places them, in order. */
    void apply(FanotifyGroup group, Filesystems filesystems, MountScope scope, List<String> watches,
               List<String> mounts, List<String> fss, boolean fid, long mask) {
        plan(group, filesystems, scope, watches, mounts, fss, fid, mask);
        for (KernelMark m : kernel.get(group).values()) {
            try {
                group.mark(Fanotify.FAN_MARK_ADD | m.kind(), m.mask(), m.path());
            } catch (NativeCallException e) {
                throw new StartupException(m.flag() + " " + m.path() + ": cannot mark: " + e.getMessage());
            }
        }
    }

    /**
     * Works out the kernel marks of {@code group} for these paths and fills {@code scope}, without placing
     * anything: a reload plans the new marks beside the old ones, then {@link #switchTo} places the
     * difference. Refuses (StartupException, naming the flag and path) a path that cannot be marked.
     */
    void plan(FanotifyGroup group, Filesystems filesystems, MountScope scope, List<String> watches,
              List<String> mounts, List<String> fss, boolean fid, long mask) {
        kernel.putIfAbsent(group, new java.util.LinkedHashMap<>());
        byte[] table = MountInfo.read(); // once, not per path: there may be thousands of --watch
        long mountMask = mask & ~EventMask.FID_ONLY_EVENTS;
        long direntMask = mask & (EventMask.FID_ONLY_EVENTS | EventMask.ONDIR);
        boolean dirents = fid && (direntMask & ~EventMask.ONDIR) != 0;
        List<MountInfo.Mount> marked = new java.util.ArrayList<>();
        java.util.Set<Long> direntMarked = new java.util.HashSet<>();
        // Mount roots first: the first fd registered for a filesystem decides how its paths read.
        for (String path : mounts) {
            MountInfo.Mount mount = mountOf("--mount", path, table);
            String root = mount.mountPoint();
            long fsid = register(filesystems, "--mount", root, root);
            markedMountIds.add(mount.mountId());
            if (dirents) {
                scope.addMountRoot(fsid, root);
                direntMounts.add(mount);
                if (direntMarked.add(fsid)) {
                    mark(group, "--mount", Fanotify.FAN_MARK_FILESYSTEM, direntMask, path, mount);
                }
            }
            if ((mountMask & ~EventMask.ONDIR) == 0) {
                if (dirents) {
                    placed("--mount", path, MarkStates.Kind.FILESYSTEM, mount);
                    continue;
                }
                if (!placed.containsKey("--mount " + path)) { // the permission group's mark may be there
                    throw new StartupException("--mount " + path + ": none of the events asked for ("
                            + EventMask.names(mask & ~EventMask.ONDIR) + ") can be reported per mount; use"
                            + " --filesystem or --watch for them");
                }
                continue;
            }
            if (fid) {
                warnIfSharedView(path, mount, marked);
            }
            marked.add(mount);
            mark(group, "--mount", Fanotify.FAN_MARK_MOUNT, mountMask, path, mount);
            placed("--mount", path, MarkStates.Kind.MOUNT, mount);
        }
        // Registered under the path of the mount they are on, not their own: open_by_handle_at through any fd
        // on one mount shows the same paths, so many directories on one mount share one registration (with one
        // each, resolving a handle tried them one by one: ~25 calls per directory-cache miss with 1000 --watch).
        for (String path : fss) {
            MountInfo.Mount mount = mountOf("--filesystem", path, table);
            scope.addFilesystem(register(filesystems, "--filesystem", path, mount.mountPoint()));
            mark(group, "--filesystem", Fanotify.FAN_MARK_FILESYSTEM, mask, path, mount);
            placed("--filesystem", path, MarkStates.Kind.FILESYSTEM, mount);
        }
        for (String path : watches) {
            MountInfo.Mount mount = mountOf("--watch", path, table);
            scope.addWatch(register(filesystems, "--watch", path, mount.mountPoint()), path);
            mark(group, "--watch", Fanotify.FAN_MARK_INODE, mask | EventMask.EVENT_ON_CHILD, path, mount);
            placed("--watch", path, MarkStates.Kind.INODE, mount);
        }
        if (dirents) {
            startShadows = shadows(table, true);
            scope.setShadows(startShadows);
        }
    }

    private List<String> startShadows = List.of();

    /** The shadows found when the marks were placed. */
    List<String> startShadows() {
        return startShadows;
    }

    /** Whether some --mount has its directory-entry events filtered (so the mount table is to be followed). */
    boolean hasShadowedMounts() {
        return !direntMounts.isEmpty();
    }

    /**
     * The directories of the --mount mounts (as they show them) that another mount of the same filesystem in
     * {@code table} shows too; with {@code warn}, a warning for each.
     */
    List<String> shadows(byte[] table, boolean warn) {
        List<String> out = new java.util.ArrayList<>();
        List<MountInfo.Mount> all = MountInfo.all(table);
        for (MountInfo.Mount m : direntMounts) {
            for (MountInfo.Mount o : all) {
                if (o.dev() != m.dev() || markedMountIds.contains(o.mountId())) {
                    continue;
                }
                String shadow = null;
                if (MountInfo.isUnder(o.fsRoot(), m.fsRoot())) {
                    String rel = m.fsRoot().equals("/") ? o.fsRoot() : o.fsRoot().substring(m.fsRoot().length());
                    shadow = rel.isEmpty() || rel.equals("/") ? m.mountPoint()
                            : (m.mountPoint().equals("/") ? rel : m.mountPoint() + rel);
                } else if (MountInfo.isUnder(m.fsRoot(), o.fsRoot())) {
                    shadow = m.mountPoint();
                }
                if (shadow != null && !out.contains(shadow)) {
                    out.add(shadow);
                    if (warn) {
                        Log.warn("--mount " + m.mountPoint() + ": " + o.mountPoint() + " shows " + shadow + " too"
                                + " (another mount of the same filesystem); creates, deletes, renames and attribute"
                                + " changes in it are not reported, since the kernel does not say through which"
                                + " mount they were made (--filesystem reports them from every mount)");
                    }
                }
            }
        }
        return out;
    }

    /**
     * A FID event names a file, not the mount it came through, so a file that two marked mounts both show is
     * reported under the path through the first of them (docs/DESIGN.md, "--mount is the mount"); FD mode
     * ({@code --no-fid}) has the event's own fd, on the mount it came through, and is exact.
     */
    private static void warnIfSharedView(String path, MountInfo.Mount mount, List<MountInfo.Mount> marked) {
        for (MountInfo.Mount m : marked) {
            boolean overlap = MountInfo.isUnder(m.fsRoot(), mount.fsRoot())
                    || MountInfo.isUnder(mount.fsRoot(), m.fsRoot());
            if (m.dev() == mount.dev() && m.mountId() != mount.mountId() && overlap) {
                Log.warn("--mount " + path + " and --mount " + m.mountPoint() + " show the same files of one"
                        + " filesystem: in FID mode a record of such a file names it through one of them, whichever"
                        + " it was accessed through; --no-fid reports each through its own");
            }
        }
    }

    private static MountInfo.Mount mountOf(String flag, String path, byte[] table) {
        try {
            return MountInfo.mountOf(path, table);
        } catch (NativeCallException e) {
            throw new StartupException(flag + " " + path + ": " + e.getMessage());
        }
    }

    private static long register(Filesystems filesystems, String flag, String path, String mountPoint) {
        try {
            return filesystems.register(path, mountPoint);
        } catch (NativeCallException e) {
            throw new StartupException(flag + " " + path + ": " + e.getMessage());
        }
    }

    /** Adds {@code mask} to the planned kernel mark of {@code path}'s object (a new one if it has none). */
    private void mark(FanotifyGroup group, String flag, int kind, long mask, String path, MountInfo.Mount mount) {
        String key = key(flag, kind, path, mount);
        kernel.get(group).merge(key, new KernelMark(kind, flag, path, mask),
                (a, b) -> new KernelMark(a.kind(), a.flag(), a.path(), a.mask() | b.mask()));
    }

    /** The object a mark is on: a mount by its id, a filesystem by its device, an inode by device and number. */
    private static String key(String flag, int kind, String path, MountInfo.Mount mount) {
        if (kind == Fanotify.FAN_MARK_MOUNT) {
            return "m:" + mount.mountId();
        }
        if (kind == Fanotify.FAN_MARK_FILESYSTEM) {
            return "s:" + mount.dev();
        }
        try {
            // By statx on the bytes of the path (any name, UTF-8 or not), following a symlink as the mark does.
            return "i:" + mount.dev() + ":" + io.fanotifyd.kernel.Syscalls.stat(path, false).inode();
        } catch (NativeCallException e) {
            throw new StartupException(flag + " " + path + ": " + e.getMessage());
        }
    }

    /**
     * A reload's marks placed beside the old ones ({@link #switchTo}): {@link #undo()} takes them back, or
     * {@link #finish()}, once the new rules are in force, removes what the new configuration no longer wants.
     */
    interface Switch {
        void undo();

        void finish();
    }

    /**
     * A reload: makes {@code group}'s marks those {@code next} planned for it. Every mark and mask bit
     * {@code next} adds is placed now; if one cannot be, those placed so far are taken back and the
     * StartupException says which path failed, so the old marks stay exactly in force. What {@code next} no
     * longer wants is removed only by {@link Switch#finish()}: a path in both configurations keeps its mark
     * throughout, and one that leaves is watched until the new rules are in force. A removal that fails is
     * logged (a directory deleted since took its mark with it).
     */
    Switch switchTo(FanotifyGroup group, Marks next) {
        java.util.Map<String, KernelMark> now = kernel.getOrDefault(group, new java.util.LinkedHashMap<>());
        java.util.Map<String, KernelMark> wanted = next.kernel.getOrDefault(group, new java.util.LinkedHashMap<>());
        List<KernelMark> added = new java.util.ArrayList<>();
        for (var e : wanted.entrySet()) {
            KernelMark old = now.get(e.getKey());
            KernelMark w = e.getValue();
            long bits = w.mask() & ~(old == null ? 0 : old.mask());
            if (bits == 0) {
                continue;
            }
            try {
                group.mark(Fanotify.FAN_MARK_ADD | w.kind(), bits, w.path());
                added.add(new KernelMark(w.kind(), w.flag(), w.path(), bits));
            } catch (NativeCallException ex) {
                for (KernelMark a : added.reversed()) {
                    remove(group, a);
                }
                throw new StartupException(w.flag() + " " + w.path() + ": cannot mark: " + ex.getMessage());
            }
        }
        List<KernelMark> removals = new java.util.ArrayList<>();
        for (var e : now.entrySet()) {
            KernelMark w = wanted.get(e.getKey());
            KernelMark old = e.getValue();
            long bits = old.mask() & ~(w == null ? 0 : w.mask());
            if (bits != 0) {
                removals.add(new KernelMark(old.kind(), old.flag(), old.path(), bits));
            }
        }
        return new Switch() {
            @Override
            public void undo() {
                for (KernelMark a : added.reversed()) {
                    remove(group, a);
                }
            }

            @Override
            public void finish() {
                for (KernelMark r : removals) {
                    remove(group, r);
                }
            }
        };
    }

    private static void remove(FanotifyGroup group, KernelMark m) {
        try {
            group.mark(Fanotify.FAN_MARK_REMOVE | m.kind(), m.mask(), m.path());
        } catch (NativeCallException e) {
            Log.warn(m.flag() + " " + m.path() + ": removing its mark: " + e.getMessage()
                    + (e.errno() == io.fanotifyd.kernel.Errno.ENOENT ? " (gone, and its mark with it)" : ""));
        }
    }

}
