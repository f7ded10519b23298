package io.fanotifyd.enrich;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.PathCodec;
import io.fanotifyd.kernel.Syscalls;

import java.util.Arrays;

/**
 * The filesystems the daemon marks, by fsid, each with open directory fds on it: FID events name objects by
 * (fsid, file handle), and {@code open_by_handle_at(2)} needs an fd on the right filesystem (opened
 * {@code O_RDONLY|O_DIRECTORY}; {@code O_PATH} is refused). A path comes out as seen through that fd's mount,
 * so a filesystem marked through several mounts (bind mounts of different subdirectories) keeps one fd per
 * mount, with the mount's path, and {@link HandleResolver} uses the one whose mount shows the object.
 */
public final class Filesystems implements AutoCloseable {
    private long[] fsids = new long[4];
    private int[] fds = new int[4];
    private byte[][] prefixes = new byte[4][];
    private int count;

    /**
     * Registers the filesystem holding {@code path} (a directory, or a file whose parent is used), seen
     * through the mount whose root is {@code mountPoint} (or null if unknown: then {@code path} itself).
     *
     * @return its fsid
     * @throws NativeCallException if the path cannot be opened
     */
    public long register(String path, String mountPoint) {
        int fd;
        String dir = path;
        try {
            fd = Syscalls.open(path, Fanotify.O_RDONLY | Fanotify.O_DIRECTORY | Fanotify.O_CLOEXEC, 0);
        } catch (NativeCallException e) {
            // A file (not a directory): any fd on its filesystem will do, so take its parent's.
            int slash = path.lastIndexOf('/');
            if (e.errno() != io.fanotifyd.kernel.Errno.ENOTDIR || slash < 0) {
                throw e;
            }
            dir = slash == 0 ? "/" : path.substring(0, slash);
            fd = Syscalls.open(dir, Fanotify.O_RDONLY | Fanotify.O_DIRECTORY | Fanotify.O_CLOEXEC, 0);
        }
        long fsid = Syscalls.fsid(fd);
        byte[] prefix = PathCodec.encode(mountPoint != null ? mountPoint : Syscalls.realPath(dir));
        for (int i = 0; i < count; i++) {
            if (fsids[i] == fsid && Arrays.equals(prefixes[i], prefix)) {
                Syscalls.closeQuietly(fd);
                return fsid;
            }
        }
        if (count == fsids.length) {
            fsids = Arrays.copyOf(fsids, count * 2);
            fds = Arrays.copyOf(fds, count * 2);
            prefixes = Arrays.copyOf(prefixes, count * 2);
        }
        fsids[count] = fsid;
        fds[count] = fd;
        prefixes[count] = prefix;
        count++;
        return fsid;
    }

    /** Index of the next registration of {@code fsid} after {@code after}, or -1. */
    int next(long fsid, int after) {
        for (int i = after + 1; i < count; i++) {
            if (fsids[i] == fsid) {
                return i;
            }
        }
        return -1;
    }

    int fd(int i) {
        return fds[i];
    }

    /** The path under which registration {@code i}'s mount shows its objects. */
    byte[] prefix(int i) {
        return prefixes[i];
    }

    @Override
    public void close() {
        for (int i = 0; i < count; i++) {
            Syscalls.closeQuietly(fds[i]);
        }
        count = 0;
    }
}
