package io.fanotifyd.daemon;

import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;

import java.util.List;

/**
 * Places the marks: {@code --watch} as inode marks (with child events), {@code --filesystem} as filesystem
 * marks, {@code --mount} as mount marks and nothing else.
 *
 * <p>{@code --mount} claims what happened through that one mount, so it gets only what the kernel can tell
 * per mount: the events a mount mark accepts (opens, executions, reads, writes, closes, and the permission
 * events). The kernel refuses creates, deletes, renames and attribute changes on mount marks because it does
 * not know through which mount they happened; a filesystem mark standing in for them reported the same
 * filesystem's changes made through any other mount (a bind mount elsewhere, a container's copy) under this
 * mount's path. So they are not reported for {@code --mount}: {@code --filesystem} or {@code --watch} ask for
 * them. Nor is a filesystem mark used when the mount shows its whole filesystem: a mount mark belongs to one
 * mount instance, and copies in other mount namespaces ({@code unshare -m}, containers) are not covered.
 */
final class Marks {
    private final java.util.Map<String, MarkStates.Mark> placed = new java.util.LinkedHashMap<>();
    private int count;

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

    /** Number of fanotify marks placed (what {@code /proc/PID/fdinfo} lists). */
    int count() {
        return count;
    }

    void apply(FanotifyGroup group, Filesystems filesystems, List<String> watches, List<String> mounts,
               List<String> fss, boolean fid, long mask) {
        byte[] table = MountInfo.read(); // once, not per path: there may be thousands of --watch
        long mountMask = mask & ~EventMask.FID_ONLY_EVENTS;
        List<MountInfo.Mount> marked = new java.util.ArrayList<>();
        // Mount roots first: the first fd registered for a filesystem decides how its paths read.
        for (String path : mounts) {
            MountInfo.Mount mount = mountOf("--mount", path, table);
            String root = mount.mountPoint();
            register(filesystems, "--mount", root, root);
            if ((mountMask & ~EventMask.ONDIR) == 0) {
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
            mark(group, "--mount", Fanotify.FAN_MARK_ADD | Fanotify.FAN_MARK_MOUNT, mountMask, path);
            placed("--mount", path, MarkStates.Kind.MOUNT, mount);
        }
        // Registered under the path of the mount they are on, not their own: open_by_handle_at through any fd
        // on one mount shows the same paths, so many directories on one mount share one registration (with one
        // each, resolving a handle tried them one by one: ~25 calls per directory-cache miss with 1000 --watch).
        for (String path : fss) {
            MountInfo.Mount mount = mountOf("--filesystem", path, table);
            register(filesystems, "--filesystem", path, mount.mountPoint());
            mark(group, "--filesystem", Fanotify.FAN_MARK_ADD | Fanotify.FAN_MARK_FILESYSTEM, mask, path);
            placed("--filesystem", path, MarkStates.Kind.FILESYSTEM, mount);
        }
        for (String path : watches) {
            MountInfo.Mount mount = mountOf("--watch", path, table);
            register(filesystems, "--watch", path, mount.mountPoint());
            mark(group, "--watch", Fanotify.FAN_MARK_ADD, mask | EventMask.EVENT_ON_CHILD, path);
            placed("--watch", path, MarkStates.Kind.INODE, mount);
        }
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

    /**
     * Says once, before the marks, which of the events asked for {@code --mount} reports and which it leaves
     * to {@code --filesystem} and {@code --watch}: a user who asked for creates should not wonder where they went.
     */
    static void explainMounts(List<String> mounts, long mask, long permMask) {
        long unclaimed = mask & EventMask.FID_ONLY_EVENTS;
        if (unclaimed != 0 && !mounts.isEmpty()) {
            Log.info("--mount reports " + EventMask.names((mask & ~EventMask.FID_ONLY_EVENTS & ~EventMask.ONDIR)
                    | permMask) + ", not " + EventMask.names(unclaimed) + ": the kernel cannot tell through which"
                    + " mount those happened (--filesystem or --watch report them)");
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

    private void mark(FanotifyGroup group, String flag, int flags, long mask, String path) {
        try {
            group.mark(flags, mask, path);
            count++;
        } catch (NativeCallException e) {
            throw new StartupException(flag + " " + path + ": cannot mark: " + e.getMessage());
        }
    }

}
