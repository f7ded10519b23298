package io.fanotifyd.kernel;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * AF_UNIX sockets: stream sockets listening at a path (safely), accepting, peer credentials, connecting; and
 * single datagrams to a path or an abstract name ({@link #sendDatagram}).
 */
public final class UnixSocket {
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int SOCK_NONBLOCK = 04000;
    private static final int SOCK_CLOEXEC = 02000000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_PEERCRED = 17;
    private static final int ECONNREFUSED = 111;
    private static final int SUN_PATH_MAX = 108;
    private static final int S_IFSOCK = 0140000;

    private UnixSocket() {}

    /** The credentials of a connected peer ({@code SO_PEERCRED}). */
    public record PeerCredentials(int pid, int uid, int gid) {}

    /** What {@link #listen} found at the path before it bound: for the log. */
    public enum Previous { NOTHING, STALE_SOCKET_REPLACED }

    public record Listening(int fd, Previous previous) {}

    private static MemorySegment address(Arena arena, String path) {
        byte[] p = PathCodec.encode(path);
        if (p.length >= SUN_PATH_MAX) {
            throw new IllegalArgumentException("socket path longer than " + (SUN_PATH_MAX - 1) + " bytes: " + path);
        }
        MemorySegment addr = arena.allocate(2 + SUN_PATH_MAX);
        addr.set(JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(p, 0, addr, JAVA_BYTE, 2, p.length);
        return addr;
    }

    private static int addressLength(String path) {
        return 2 + PathCodec.encode(path).length + 1;
    }

    /**
     * Listens at {@code path} with {@code mode} (and group {@code gid} unless -1) applied before the first
     * connection can be made. A socket file left by a dead process is replaced; one that a live process
     * answers on is an error, as is any other kind of file there.
     *
     * @throws NativeCallException on failure; EADDRINUSE when another process is listening there
     */
    public static Listening listen(String path, int mode, int gid, int backlog) {
        Previous previous = Previous.NOTHING;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpath = Libc.cString(arena, path);
            Syscalls.FileStat st = null;
            try {
                st = Syscalls.stat(path, true);
            } catch (NativeCallException e) {
                if (e.errno() != Errno.ENOENT) {
                    throw e;
                }
            }
            if (st != null) {
                if ((st.mode() & Syscalls.S_IFMT) != S_IFSOCK) {
                    throw new NativeCallException("bind", path + ": exists and is not a socket; not replacing it",
                            Errno.EEXIST);
                }
                if (isAlive(path)) {
                    throw new NativeCallException("bind", path + ": another process is listening on it", 98);
                }
                Libc.unlink(cpath);
                previous = Previous.STALE_SOCKET_REPLACED;
            }
            int fd = SocketCalls.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw new NativeCallException("socket", "AF_UNIX, SOCK_STREAM", Libc.errno());
            }
            try {
                if (SocketCalls.bind(fd, address(arena, path), addressLength(path)) != 0) {
                    throw new NativeCallException("bind", path, Libc.errno());
                }
                // Before listen(): until then nobody can connect, so no one slips in under the umask's mode.
                if (SocketCalls.chmod(cpath, mode) != 0) {
                    throw new NativeCallException("chmod", path + ", 0" + Integer.toOctalString(mode), Libc.errno());
                }
                if (gid >= 0 && SocketCalls.chown(cpath, -1, gid) != 0) {
                    throw new NativeCallException("chown", path + ", group " + gid, Libc.errno());
                }
                if (SocketCalls.listen(fd, backlog) != 0) {
                    throw new NativeCallException("listen", path, Libc.errno());
                }
                return new Listening(fd, previous);
            } catch (RuntimeException e) {
                Syscalls.closeQuietly(fd);
                throw e;
            }
        }
    }

    /**
     * Sends {@code message} as one datagram, from a socket made for it and closed again, to {@code address}: a
     * path ({@code /run/systemd/notify}), or an abstract name written with a leading {@code @} as
     * {@code $NOTIFY_SOCKET} writes it. Never blocks ({@code MSG_DONTWAIT}: a receiver whose queue is full
     * gets nothing) and never raises SIGPIPE. The kernel attaches the sender's credentials for a receiver that
     * asked for them ({@code SO_PASSCRED}).
     *
     * @return 0, or the errno of the call that failed
     * @throws IllegalArgumentException if {@code address} is neither a path nor an {@code @} name, or too long
     */
    public static int sendDatagram(String address, byte[] message) {
        byte[] name = PathCodec.encode(address);
        boolean abstractName = name.length > 0 && name[0] == '@';
        if (name.length < 2 || (name[0] != '/' && !abstractName)) {
            throw new IllegalArgumentException("not a socket path or an @abstract name: " + address);
        }
        if (name.length >= SUN_PATH_MAX) {
            throw new IllegalArgumentException("socket address longer than " + (SUN_PATH_MAX - 1) + " bytes: "
                    + address);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment addr = arena.allocate(2 + SUN_PATH_MAX);
            addr.set(JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(name, 0, addr, JAVA_BYTE, 2, name.length);
            // An abstract name starts with a NUL byte and is exactly as long as the length says: no terminator.
            int addrLen = 2 + name.length + (abstractName ? 0 : 1);
            if (abstractName) {
                addr.set(JAVA_BYTE, 2, (byte) 0);
            }
            MemorySegment buf = arena.allocate(Math.max(1, message.length));
            MemorySegment.copy(message, 0, buf, JAVA_BYTE, 0, message.length);
            int fd = SocketCalls.datagramSocket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                return Libc.errno();
            }
            try {
                long n = SocketCalls.sendto(fd, buf, message.length, MSG_DONTWAIT | MSG_NOSIGNAL, addr, addrLen);
                return n < 0 ? Libc.errno() : 0;
            } finally {
                Libc.close(fd);
            }
        }
    }

    /** Whether a process accepts connections on the socket at {@code path}. */
    public static boolean isAlive(String path) {
        try {
            int fd = connect(path, false);
            Syscalls.closeQuietly(fd);
            return true;
        } catch (NativeCallException e) {
            if (e.errno() == ECONNREFUSED || e.errno() == Errno.ENOENT) {
                return false;
            }
            throw e;
        }
    }

    /** A connected client socket ({@code nonBlocking} for the daemon's own use). */
    public static int connect(String path, boolean nonBlocking) {
        try (Arena arena = Arena.ofConfined()) {
            int fd = SocketCalls.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0), 0);
            if (fd < 0) {
                throw new NativeCallException("socket", "AF_UNIX, SOCK_STREAM", Libc.errno());
            }
            if (SocketCalls.connect(fd, address(arena, path), addressLength(path)) != 0) {
                int errno = Libc.errno();
                Syscalls.closeQuietly(fd);
                throw new NativeCallException("connect", path, errno);
            }
            return fd;
        }
    }

    /** {@code accept4(fd, NULL, NULL, SOCK_NONBLOCK|SOCK_CLOEXEC)}: the new fd, or -errno (EAGAIN: none). */
    public static int accept(int listenFd) {
        int fd = SocketCalls.accept4(listenFd, MemorySegment.NULL, MemorySegment.NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        return fd >= 0 ? fd : -Libc.errno();
    }

    private static final int SO_SNDBUF = 7;
    private static final long TIOCOUTQ = 0x5411;

    /**
     * Bytes that can be written to a connected stream socket now without the kernel cutting the write short:
     * the send buffer ({@code SO_SNDBUF}) less what is queued ({@code TIOCOUTQ}), less a margin for the
     * kernel's per-buffer overhead, which both count. -1 if it cannot be told.
     */
    public static long sendRoom(int fd, MemorySegment scratch8) {
        MemorySegment len = scratch8.asSlice(4, 4);
        len.set(JAVA_INT, 0, 4);
        if (SocketCalls.getsockopt(fd, SOL_SOCKET, SO_SNDBUF, scratch8, len) != 0) {
            return -1;
        }
        long sndbuf = scratch8.get(JAVA_INT, 0);
        if (Libc.ioctl(fd, TIOCOUTQ, scratch8) != 0) {
            return -1;
        }
        long free = sndbuf - scratch8.get(JAVA_INT, 0);
        return Math.max(0, free - Math.max(4096, free / 4));
    }

    public static PeerCredentials peer(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cred = arena.allocate(12, 4);
            MemorySegment len = arena.allocate(JAVA_INT);
            len.set(JAVA_INT, 0, 12);
            if (SocketCalls.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) != 0) {
                throw new NativeCallException("getsockopt", "fd=" + fd + ", SO_PEERCRED", Libc.errno());
            }
            return new PeerCredentials(cred.get(JAVA_INT, 0), cred.get(JAVA_INT, 4), cred.get(JAVA_INT, 8));
        }
    }
}
