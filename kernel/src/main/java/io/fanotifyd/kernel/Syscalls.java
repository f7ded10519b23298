package io.fanotifyd.kernel;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Throwing wrappers over {@link Libc} for the calls made outside the hot path. */
public final class Syscalls {
    private static final int STATX_SIZE = 256;
    private static final int STATX_TYPE = 0x1;
    private static final int STATX_INO = 0x100;
    private static final int STATFS_SIZE = 120;
    private static final int STATFS_FSID_OFFSET = 56;
    public static final int S_IFMT = 0170000;
    public static final int S_IFDIR = 0040000;
    public static final int S_IFREG = 0100000;

    private Syscalls() {}

    /** {@code openat(AT_FDCWD, path, flags, mode)}. */
    public static int open(String path, int flags, int mode) {
        try (Arena arena = Arena.ofConfined()) {
            int fd = Libc.openat(Fanotify.AT_FDCWD, Libc.cString(arena, path), flags, mode);
            if (fd < 0) {
                throw new NativeCallException("open", path + ", flags=0" + Integer.toOctalString(flags),
                        Libc.errno());
            }
            return fd;
        }
    }

    /** Closes {@code fd}, ignoring errors (there is nothing useful to do about them). */
    public static void closeQuietly(int fd) {
        if (fd >= 0) {
            Libc.close(fd);
        }
    }

    /** {@code statfs.f_fsid} of the filesystem {@code fd} is on, as fanotify reports it in FID records. */
    public static long fsid(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(STATFS_SIZE, 8);
            if (Libc.fstatfs(fd, st) < 0) {
                throw new NativeCallException("fstatfs", "fd=" + fd, Libc.errno());
            }
            return st.get(JAVA_LONG_UNALIGNED, STATFS_FSID_OFFSET);
        }
    }

    /** File type and inode number of an open fd, from {@code statx(fd, "", AT_EMPTY_PATH)}. */
    public record FileStat(int mode, long inode) {
        public boolean isDirectory() {
            return (mode & S_IFMT) == S_IFDIR;
        }
    }

    public static FileStat fstat(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(STATX_SIZE, 8);
            int rc = Libc.statx(fd, arena.allocate(1), Fanotify.AT_EMPTY_PATH, STATX_TYPE | STATX_INO, st);
            if (rc < 0) {
                throw new NativeCallException("statx", "fd=" + fd, Libc.errno());
            }
            return new FileStat(st.get(JAVA_SHORT_UNALIGNED, 28) & 0xffff, st.get(JAVA_LONG_UNALIGNED, 32));
        }
    }

    /** {@code statx(path)} without following a trailing symlink when {@code noFollow}. */
    public static FileStat stat(String path, boolean noFollow) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(STATX_SIZE, 8);
            int rc = Libc.statx(Fanotify.AT_FDCWD, Libc.cString(arena, path), noFollow ? 0x100 : 0,
                    STATX_TYPE | STATX_INO, st);
            if (rc < 0) {
                throw new NativeCallException("statx", path, Libc.errno());
            }
            return new FileStat(st.get(JAVA_SHORT_UNALIGNED, 28) & 0xffff, st.get(JAVA_LONG_UNALIGNED, 32));
        }
    }

    /** {@code eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)}: a wake-up fd for poll loops. */
    public static int eventfd() {
        int fd = Libc.eventfd(0, Fanotify.O_CLOEXEC | Fanotify.O_NONBLOCK);
        if (fd < 0) {
            throw new NativeCallException("eventfd", "0, EFD_CLOEXEC|EFD_NONBLOCK", Libc.errno());
        }
        return fd;
    }

    /** The 8 bytes an eventfd is signalled with: only ever read (by write(2)), so every thread can share them. */
    private static final MemorySegment ONE = one();

    private static MemorySegment one() {
        MemorySegment one = Arena.global().allocate(8, 8);
        one.set(JAVA_LONG_UNALIGNED, 0, 1L);
        return one;
    }

    /**
     * Writes 1 to an eventfd; safe from any thread and from signal handlers' Java side, and allocates nothing
     * (a permission decision waiting for the catch-up wakes the reader with it).
     */
    public static void signalEventfd(int fd) {
        Libc.write(fd, ONE, 8);
    }

    /** Reads and resets an eventfd's counter (non-blocking). */
    public static void drainEventfd(int fd, MemorySegment scratch8) {
        Libc.read(fd, scratch8, 8);
    }

    /** Writes all of {@code buf[0, len)} to {@code fd}, retrying short writes and EINTR. */
    public static void writeFully(int fd, MemorySegment buf, long len, String what) {
        long off = 0;
        while (off < len) {
            long n = Libc.write(fd, buf.asSlice(off), len - off);
            if (n < 0) {
                int errno = Libc.errno();
                if (errno == Errno.EINTR) {
                    continue;
                }
                throw new NativeCallException("write", what + ", fd=" + fd + ", count=" + (len - off), errno);
            }
            off += n;
        }
    }

    /**
     * {@code poll} on up to a few fds; returns the revents of each in {@code revents}, and what poll returned:
     * the number of fds ready, 0 on timeout, -1 when a signal interrupted it (revents all 0).
     */
    public static int pollIn(MemorySegment pollfds, int[] fds, short[] revents, int timeoutMs) {
        setPollFds(pollfds, fds);
        int rc = Libc.poll(pollfds, fds.length, timeoutMs);
        return pollResult(rc, pollfds, fds, revents, "poll", timeoutMs + " ms");
    }

    /**
     * As {@link #pollIn}, with a timeout in nanoseconds ({@code ppoll}; negative: none), for waits shorter than a
     * millisecond. {@code timespec} is 16 bytes of scratch.
     */
    public static int pollInNanos(MemorySegment pollfds, int[] fds, short[] revents, long timeoutNs,
                                  MemorySegment timespec) {
        setPollFds(pollfds, fds);
        MemorySegment tmo = MemorySegment.NULL;
        if (timeoutNs >= 0) {
            timespec.set(JAVA_LONG_UNALIGNED, 0, timeoutNs / 1_000_000_000L);
            timespec.set(JAVA_LONG_UNALIGNED, 8, timeoutNs % 1_000_000_000L);
            tmo = timespec;
        }
        int rc = Libc.ppoll(pollfds, fds.length, tmo);
        return pollResult(rc, pollfds, fds, revents, "ppoll", timeoutNs + " ns");
    }

    private static void setPollFds(MemorySegment pollfds, int[] fds) {
        for (int i = 0; i < fds.length; i++) {
            pollfds.set(JAVA_INT_UNALIGNED, i * 8L, fds[i]);
            pollfds.set(JAVA_SHORT_UNALIGNED, i * 8L + 4, (short) 1); // POLLIN
            pollfds.set(JAVA_SHORT_UNALIGNED, i * 8L + 6, (short) 0);
        }
    }

    private static int pollResult(int rc, MemorySegment pollfds, int[] fds, short[] revents, String call,
                                  String timeout) {
        if (rc < 0) {
            int errno = Libc.errno();
            if (errno == Errno.EINTR) {
                java.util.Arrays.fill(revents, (short) 0); // nothing is ready: not the last round's flags
                return -1; // and nothing was seen: not a timeout, whose zero flags say the fds were idle
            }
            throw new NativeCallException(call, fds.length + " fds, timeout=" + timeout, errno);
        }
        for (int i = 0; i < fds.length; i++) {
            revents[i] = pollfds.get(JAVA_SHORT_UNALIGNED, i * 8L + 6);
        }
        return rc;
    }

    public static int getpid() {
        return Libc.getpid();
    }

    /**
     * Reads a whole file (at most {@code max} bytes) by a {@link PathCodec} path, so that paths that are not
     * UTF-8 work too.
     *
     * @throws NativeCallException if it cannot be opened or read
     * @throws IllegalArgumentException if it is longer than {@code max}
     */
    public static byte[] readFile(String path, int max) {
        return read(open(path, Fanotify.O_RDONLY | Fanotify.O_CLOEXEC, 0), path, max);
    }

    /**
     * As {@link #readFile}, but only for a regular file: opened without blocking (a FIFO with no writer would
     * block the open for ever) and refused unless {@code fstat} says it is a regular file.
     *
     * @throws NativeCallException if it cannot be opened or read
     * @throws IllegalArgumentException if it is not a regular file ({@code "not a regular file (a fifo)"}), or
     *     longer than {@code max}
     */
    public static byte[] readRegularFile(String path, int max) {
        int fd = open(path, Fanotify.O_RDONLY | Fanotify.O_CLOEXEC | Fanotify.O_NONBLOCK, 0);
        int type;
        try {
            type = fstat(fd).mode() & S_IFMT;
        } catch (NativeCallException e) {
            closeQuietly(fd);
            throw e;
        }
        if (type != S_IFREG) {
            closeQuietly(fd);
            throw new IllegalArgumentException(type == S_IFDIR ? "is a directory"
                    : "not a regular file (" + typeName(type) + ")");
        }
        return read(fd, path, max);
    }

    private static String typeName(int type) {
        return switch (type) {
            case 0010000 -> "a fifo";
            case 0020000 -> "a character device";
            case 0060000 -> "a block device";
            case 0140000 -> "a socket";
            default -> "type 0" + Integer.toOctalString(type);
        };
    }

    private static byte[] read(int fd, String path, int max) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(65536);
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            while (true) {
                long n = Libc.read(fd, buf, buf.byteSize());
                if (n < 0) {
                    int errno = Libc.errno();
                    if (errno == Errno.EINTR) {
                        continue;
                    }
                    throw new NativeCallException("read", path, errno);
                }
                if (n == 0) {
                    return out.toByteArray();
                }
                if (out.size() + n > max) {
                    throw new IllegalArgumentException("larger than " + max + " bytes");
                }
                out.write(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), 0, (int) n);
            }
        } finally {
            closeQuietly(fd);
        }
    }

    /**
     * The canonical absolute path of {@code path} (symlinks resolved), as the kernel names it: opened with
     * {@code O_PATH} and read back from {@code /proc/self/fd}. Decoded with {@link PathCodec}.
     */
    public static String realPath(String path) {
        int fd = open(path, Fanotify.O_PATH | Fanotify.O_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment link = Libc.cString(arena, "/proc/self/fd/" + fd);
            MemorySegment buf = arena.allocate(4096 + 16);
            long n = Libc.readlink(link, buf, buf.byteSize());
            if (n < 0) {
                throw new NativeCallException("readlink", "/proc/self/fd/" + fd + " (" + path + ")", Libc.errno());
            }
            return PathCodec.decode(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        } finally {
            closeQuietly(fd);
        }
    }
}
