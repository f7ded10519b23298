package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.PathCodec;
import io.fanotifyd.kernel.Syscalls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The filesystems the daemon marks, by fsid, each with the mount point of every marked mount of it: FID events
 * name objects by (fsid, file handle), and {@code open_by_handle_at(2)} needs an fd on the right filesystem
 * (opened {@code O_RDONLY|O_DIRECTORY}; {@code O_PATH} is refused). A path comes out as seen through that fd's
 * mount, so a filesystem marked through several mounts (bind mounts of different subdirectories) has one
 * registration per mount, with the mount's path, and {@link HandleResolver} uses the one whose mount shows the
 * object.
 *
 * <p>No fd is held here. An open fd keeps its mount busy, so that a plain {@code umount} fails with EBUSY and
 * {@code umount -l} leaves the filesystem alive: {@link #openMount} opens a mount point when a batch of events
 * needs it, and the resolver closes it at the end of the batch. The path may show another filesystem by then
 * (ours unmounted, or another mounted over it), so what was opened is checked by its fsid, the key fanotify
 * itself names filesystems by in FID events.
 */
public final class Filesystems implements AutoCloseable {
    private static final int STATFS_SIZE = 120;
    private static final long STATFS_FSID_OFFSET = 56;

    private final Arena arena = Arena.ofShared();
    private long[] fsids = new long[4];
    private MemorySegment[] mountPoints = new MemorySegment[4];
    private byte[][] prefixes = new byte[4][];
    private int count;

    /**
     * Registers the filesystem holding {@code path}, seen through the mount whose root is {@code mountPoint}
     * (or null if unknown: then {@code path}, or its directory for a file).
     *
     * @return its fsid
     * @throws NativeCallException if the path cannot be opened
     */
    public long register(String path, String mountPoint) {
        int fd = Syscalls.open(path, Fanotify.O_PATH | Fanotify.O_CLOEXEC, 0);
        long fsid;
        String root = mountPoint;
        try {
            fsid = Syscalls.fsid(fd);
            if (root == null) {
                root = Syscalls.realPath(path);
                if (!Syscalls.fstat(fd).isDirectory()) {
                    int slash = root.lastIndexOf('/');
                    root = slash <= 0 ? "/" : root.substring(0, slash);
                }
            }
        } finally {
            Syscalls.closeQuietly(fd);
        }
        byte[] prefix = PathCodec.encode(root);
        for (int i = 0; i < count; i++) {
            if (fsids[i] == fsid && Arrays.equals(prefixes[i], prefix)) {
                return fsid;
            }
        }
        if (count == fsids.length) {
            fsids = Arrays.copyOf(fsids, count * 2);
            mountPoints = Arrays.copyOf(mountPoints, count * 2);
            prefixes = Arrays.copyOf(prefixes, count * 2);
        }
        fsids[count] = fsid;
        mountPoints[count] = Libc.cString(arena, root);
        prefixes[count] = prefix;
        count++;
        return fsid;
    }

    /** Number of registrations; indexes are 0 to count - 1. */
    int count() {
        return count;
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

    /**
     * Opens registration {@code i}'s mount point for {@code open_by_handle_at}; the caller closes it. A
     * directory, never a file: the permission group's masks never carry {@code FAN_ONDIR}, so opening a
     * directory makes no permission event that the event thread would have to answer itself.
     *
     * @param statfs 120 bytes of scratch
     * @return the fd, or -1 with {@link Libc#errno()}-style code in {@code errnoOut[0]}: the open's errno, or
     *     ENODEV if the path now shows another filesystem (ours unmounted or covered)
     */
    int openMount(int i, MemorySegment statfs, int[] errnoOut) {
        int fd = Libc.openat(Fanotify.AT_FDCWD, mountPoints[i],
                Fanotify.O_RDONLY | Fanotify.O_DIRECTORY | Fanotify.O_CLOEXEC, 0);
        if (fd < 0) {
            errnoOut[0] = Libc.errno();
            return -1;
        }
        if (Libc.fstatfs(fd, statfs) != 0 || statfs.get(JAVA_LONG_UNALIGNED, STATFS_FSID_OFFSET) != fsids[i]) {
            Libc.close(fd);
            errnoOut[0] = Errno.ENODEV;
            return -1;
        }
        return fd;
    }

    /** Scratch for {@link #openMount}'s {@code statfs} argument. */
    static MemorySegment statfsBuffer(Arena arena) {
        return arena.allocate(STATFS_SIZE, 8);
    }

    /** The path under which registration {@code i}'s mount shows its objects. */
    byte[] prefix(int i) {
        return prefixes[i];
    }

    @Override
    public void close() {
        count = 0;
        arena.close();
    }
}
