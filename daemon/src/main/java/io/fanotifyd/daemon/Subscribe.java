package io.fanotifyd.daemon;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.kernel.UnixSocket;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * {@code fanotifyd --subscribe PATH}: copies the live stream of a daemon's socket to stdout until the daemon
 * closes it (exit 0) or the connection fails (exit 1). The same as {@code socat -u UNIX-CONNECT:PATH -}.
 */
final class Subscribe {
    private Subscribe() {}

    static int run(String path) {
        int fd;
        try {
            fd = UnixSocket.connect(path, false);
        } catch (NativeCallException | IllegalArgumentException e) {
            throw new StartupException("--subscribe " + path + ": " + e.getMessage());
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(1 << 16);
            while (true) {
                long n = Libc.read(fd, buf, buf.byteSize());
                if (n == 0) {
                    return 0;
                }
                if (n < 0) {
                    int errno = Libc.errno();
                    if (errno == Errno.EINTR) {
                        continue;
                    }
                    throw new StartupException("--subscribe " + path + ": read: " + Errno.describe(errno));
                }
                Syscalls.writeFully(1, buf, n, "stdout");
            }
        } finally {
            Syscalls.closeQuietly(fd);
        }
    }
}
