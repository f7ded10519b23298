package io.fanotifyd.daemon;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

/**
 * A pid file that is also a lock ({@code flock(LOCK_EX)}, held for the daemon's whole life), so a second
 * daemon with the same pid file refuses to start instead of overwriting it.
 */
public final class PidFile implements AutoCloseable {
    private static final int LOCK_EX = 2;
    private static final int LOCK_NB = 4;

    private final String path;
    private final int fd;

    private PidFile(String path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /**
     * Locks {@code path} and writes {@code pid} into it.
     *
     * @throws StartupException if another process holds it, or it cannot be written
     */
    public static PidFile acquire(String path, long pid) {
        String p = path;
        for (int attempt = 0; attempt < 3; attempt++) {
            int fd;
            try {
                fd = Syscalls.open(p, Fanotify.O_RDWR | Fanotify.O_CREAT | Fanotify.O_CLOEXEC, 0644);
            } catch (NativeCallException e) {
                throw new StartupException("pid file " + p + ": " + e.getMessage());
            }
            if (Libc.flock(fd, LOCK_EX | LOCK_NB) != 0) {
                int errno = Libc.errno();
                String other = readPid(fd);
                Syscalls.closeQuietly(fd);
                if (errno == Errno.EAGAIN) {
                    throw new StartupException("pid file " + p + " is locked by another fanotifyd"
                            + (other.isEmpty() ? "" : " (pid " + other + ")") + "; refusing to start a second one");
                }
                throw new StartupException("pid file " + p + ": flock: " + Errno.describe(errno));
            }
            // The previous holder may have unlinked the file between our open and our lock: then we hold an
            // orphan inode and must start over on the file now at that path.
            if (!samePath(fd, p)) {
                Syscalls.closeQuietly(fd);
                continue;
            }
            try (Arena arena = Arena.ofConfined()) {
                byte[] text = (pid + "\n").getBytes(StandardCharsets.US_ASCII);
                Libc.ftruncate(fd, 0);
                Syscalls.writeFully(fd, arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_BYTE, text),
                        text.length, "pid file " + p);
            } catch (NativeCallException e) {
                Syscalls.closeQuietly(fd);
                throw new StartupException("pid file " + p + ": " + e.getMessage());
            }
            return new PidFile(path, fd);
        }
        throw new StartupException("pid file " + p + ": replaced repeatedly while locking it");
    }

    private static boolean samePath(int fd, String path) {
        try {
            return Syscalls.fstat(fd).inode() == Syscalls.stat(path, true).inode();
        } catch (NativeCallException e) {
            return false;
        }
    }

    private static String readPid(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(32);
            long n = Libc.pread(fd, buf, 32, 0);
            if (n <= 0) {
                return "";
            }
            return new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                    StandardCharsets.US_ASCII).trim();
        }
    }

    /** Removes the file while still holding the lock, then releases it. */
    @Override
    public void close() {
        if (samePath(fd, path)) {
            try (Arena arena = Arena.ofConfined()) {
                if (Libc.unlink(Libc.cString(arena, path)) != 0) {
                    Log.warn("pid file " + path + ": cannot remove: " + Errno.describe(Libc.errno()));
                }
            }
        }
        Syscalls.closeQuietly(fd);
    }
}
