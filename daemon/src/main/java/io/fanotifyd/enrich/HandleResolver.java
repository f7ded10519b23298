package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FidRecord;
import io.fanotifyd.kernel.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Turns a file handle or an event fd into a path: {@code open_by_handle_at(O_PATH)} and/or
 * {@code readlink("/proc/self/fd/N")}. Reuses one native buffer; returns bytes in a reused array.
 */
public final class HandleResolver {
    /** PATH_MAX, plus room for the kernel's " (deleted)" suffix. */
    private static final int MAX = 4096 + 16;
    private static final int STATX_TYPE = 0x1;
    private static final long STATX_MODE = 28;
    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;
    private static final MemorySegment EMPTY = Arena.global().allocate(1);

    private final Filesystems filesystems;
    private final MemorySegment linkPath;
    private final MemorySegment target;
    private final MemorySegment statx;
    private final byte[] out = new byte[MAX];
    private int length;
    private int lastErrno;

    public HandleResolver(Filesystems filesystems, Arena arena) {
        this.filesystems = filesystems;
        this.linkPath = arena.allocate(64);
        this.target = arena.allocate(MAX);
        this.statx = arena.allocate(256, 8);
    }

    /**
     * Whether an open fd is a directory ({@code statx(fd, "", AT_EMPTY_PATH, STATX_TYPE)}): FD-mode groups never
     * see {@code FAN_ONDIR} in an event's mask, so this is how they tell.
     */
    public boolean isDirectory(int fd) {
        if (Libc.statx(fd, EMPTY, Fanotify.AT_EMPTY_PATH, STATX_TYPE, statx) != 0) {
            return false;
        }
        return (statx.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, STATX_MODE) & S_IFMT) == S_IFDIR;
    }

    /**
     * Resolves the object a FID record names.
     *
     * @return true if {@link #bytes()} now holds its path; false with {@link #lastErrno()} set (ESTALE for
     *     an object already gone, ENODEV for a filesystem that was never registered)
     */
    public boolean resolve(FidRecord record) {
        long fsid = record.fsid();
        MemorySegment handle = record.handle();
        lastErrno = io.fanotifyd.kernel.Errno.ENODEV;
        // Through each mount of this filesystem that we marked, until one shows the object under its own path
        // (a bind mount of another subdirectory shows it disconnected, as if at "/"); the last one's answer
        // stands if none does.
        for (int i = filesystems.next(fsid, -1); i >= 0; i = filesystems.next(fsid, i)) {
            int fd = Libc.openByHandleAt(filesystems.fd(i), handle, Fanotify.O_PATH | Fanotify.O_CLOEXEC);
            if (fd < 0) {
                lastErrno = Libc.errno();
                continue;
            }
            try {
                if (resolveFd(fd) && (isUnder(filesystems.prefix(i)) || filesystems.next(fsid, i) < 0)) {
                    return true;
                }
            } finally {
                Libc.close(fd);
            }
        }
        return false;
    }

    /** Whether the last resolved path is {@code prefix} or below it. */
    private boolean isUnder(byte[] prefix) {
        int n = prefix.length;
        if (n == 1 && prefix[0] == '/') {
            return true;
        }
        if (length < n || !java.util.Arrays.equals(out, 0, n, prefix, 0, n)) {
            return false;
        }
        return length == n || out[n] == '/';
    }

    /** Resolves an open fd (an FD-mode event's fd, or one from {@link #resolve}). */
    public boolean resolveFd(int fd) {
        long n;
        int dir = ProcSelfFd.FD;
        if (dir >= 0) {
            // Relative to an open /proc/self/fd: about 1 µs less per call than walking the whole path.
            ProcPaths.fdName(linkPath, fd);
            n = Libc.readlinkat(dir, linkPath, target, MAX);
        } else {
            ProcPaths.fdLink(linkPath, fd);
            n = Libc.readlink(linkPath, target, MAX);
        }
        if (n < 0) {
            lastErrno = Libc.errno();
            return false;
        }
        length = (int) n;
        MemorySegment.copy(target, JAVA_BYTE, 0, out, 0, length);
        return true;
    }

    /** {@code /proc/self/fd}, opened once on first use (after any re-exec), for the life of the process. */
    private static final class ProcSelfFd {
        static final int FD = Libc.openat(Fanotify.AT_FDCWD, Libc.cString(Arena.global(), "/proc/self/fd"),
                Fanotify.O_RDONLY | Fanotify.O_DIRECTORY | Fanotify.O_CLOEXEC, 0);
    }

    /** The last resolved path; valid until the next call. */
    public byte[] bytes() {
        return out;
    }

    public int length() {
        return length;
    }

    public int lastErrno() {
        return lastErrno;
    }
}
