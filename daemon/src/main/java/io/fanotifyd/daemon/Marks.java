package io.fanotifyd.daemon;

import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.MountScope;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;

import io.fanotifyd.kernel.Syscalls;

import java.util.List;

/**
 * Places the marks: {@code --watch} as inode marks (with child events), {@code --filesystem} as filesystem
 * marks, {@code --mount} as mount marks plus, in FID mode, a filesystem mark for the events the kernel refuses
 * on mounts (creates, deletes, renames, attribute changes), narrowed to the mount by {@link MountScope}.
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

    void apply(FanotifyGroup group, Filesystems filesystems, MountScope scope, List<String> watches,
               List<String> mounts, List<String> fss, boolean fid, long mask) {
        byte[] table = MountInfo.read(); // once, not per path: there may be thousands of --watch
        // Mount roots first: the first fd registered for a filesystem decides how its paths read.
        for (String path : mounts) {
            MountInfo.Mount mount = mountOf("--mount", path, table);
            String root = mount.mountPoint();
            long fsid = register(filesystems, "--mount", root, root);
            scope.addMountRoot(fsid, root);
            if (mount.showsWholeFilesystem()) {
                // A mount mark belongs to one mount instance: a workload that unshares its mount namespace (a
                // container, pivot_root) works on copies it does not cover. When the mount shows its whole
                // filesystem, a filesystem mark means the same and covers every copy.
                mark(group, "--mount", Fanotify.FAN_MARK_ADD | Fanotify.FAN_MARK_FILESYSTEM, mask, path);
                placed("--mount", path, MarkStates.Kind.FILESYSTEM, mount);
                continue;
            }
            long mountMask = mask & ~EventMask.FID_ONLY_EVENTS;
            if ((mountMask & ~EventMask.ONDIR) != 0) {
                mark(group, "--mount", Fanotify.FAN_MARK_ADD | Fanotify.FAN_MARK_MOUNT, mountMask, path);
                // A bind mount of a subdirectory ends with its mount mark, whatever becomes of its filesystem.
                placed("--mount", path, MarkStates.Kind.MOUNT, mount);
            } else {
                placed("--mount", path, MarkStates.Kind.FILESYSTEM, mount);
            }
            long fsMask = mask & (EventMask.FID_ONLY_EVENTS | EventMask.ONDIR);
            if (fid && (fsMask & ~EventMask.ONDIR) != 0) {
                mark(group, "--mount", Fanotify.FAN_MARK_ADD | Fanotify.FAN_MARK_FILESYSTEM, fsMask, path);
            }
        }
        // Registered under the path of the mount they are on, not their own: open_by_handle_at through any fd
        // on one mount shows the same paths, so many directories on one mount share one registration (with one
        // each, resolving a handle tried them one by one: ~25 calls per directory-cache miss with 1000 --watch).
        for (String path : fss) {
            MountInfo.Mount mount = mountOf("--filesystem", path, table);
            scope.addFilesystem(register(filesystems, "--filesystem", path, mount.mountPoint()));
            mark(group, "--filesystem", Fanotify.FAN_MARK_ADD | Fanotify.FAN_MARK_FILESYSTEM, mask, path);
            placed("--filesystem", path, MarkStates.Kind.FILESYSTEM, mount);
        }
        for (String path : watches) {
            MountInfo.Mount mount = mountOf("--watch", path, table);
            long fsid = register(filesystems, "--watch", path, mount.mountPoint());
            try {
                scope.addWatch(fsid, Syscalls.realPath(path));
            } catch (NativeCallException e) {
                throw new StartupException("--watch " + path + ": " + e.getMessage());
            }
            mark(group, "--watch", Fanotify.FAN_MARK_ADD, mask | EventMask.EVENT_ON_CHILD, path);
            placed("--watch", path, MarkStates.Kind.INODE, mount);
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
