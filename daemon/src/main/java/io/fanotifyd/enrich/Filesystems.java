package io.fanotifyd.enrich;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;

import java.util.Arrays;

/**
 * The filesystems the daemon marks, by fsid, each with an open directory fd on it: FID events name objects by
 * (fsid, file handle), and {@code open_by_handle_at(2)} needs an fd on the right filesystem (opened
 * {@code O_RDONLY|O_DIRECTORY}; {@code O_PATH} is refused). Paths come out as seen through that fd's mount.
 */
public final class Filesystems implements AutoCloseable {
    private long[] fsids = new long[4];
    private int[] fds = new int[4];
    private int count;

    /**
     * Registers the filesystem holding {@code path} (a directory, or a file whose parent is used).
     *
     * @return its fsid
     * @throws NativeCallException if the path cannot be opened
     */
    public long register(String path) {
        int fd;
        try {
            fd = Syscalls.open(path, Fanotify.O_RDONLY | Fanotify.O_DIRECTORY | Fanotify.O_CLOEXEC, 0);
        } catch (NativeCallException e) {
            // A file (not a directory): any fd on its filesystem will do, so take its parent's.
            int slash = path.lastIndexOf('/');
            if (e.errno() != io.fanotifyd.kernel.Errno.ENOTDIR || slash < 0) {
                throw e;
            }
            fd = Syscalls.open(slash == 0 ? "/" : path.substring(0, slash),
                    Fanotify.O_RDONLY | Fanotify.O_DIRECTORY | Fanotify.O_CLOEXEC, 0);
        }
        long fsid = Syscalls.fsid(fd);
        if (indexOf(fsid) >= 0) {
            Syscalls.closeQuietly(fd);
            return fsid;
        }
        if (count == fsids.length) {
            fsids = Arrays.copyOf(fsids, count * 2);
            fds = Arrays.copyOf(fds, count * 2);
        }
        fsids[count] = fsid;
        fds[count] = fd;
        count++;
        return fsid;
    }

    private int indexOf(long fsid) {
        for (int i = 0; i < count; i++) {
            if (fsids[i] == fsid) {
                return i;
            }
        }
        return -1;
    }

    /** The fd to pass to {@code open_by_handle_at} for objects on {@code fsid}, or -1 if unknown. */
    public int mountFd(long fsid) {
        int i = indexOf(fsid);
        return i < 0 ? -1 : fds[i];
    }

    @Override
    public void close() {
        for (int i = 0; i < count; i++) {
            Syscalls.closeQuietly(fds[i]);
        }
        count = 0;
    }
}
