package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.Downcalls.errnoCall;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Socket system calls ({@link UnixSocket}, {@link Taskstats}, the systemd notify socket), the socket file's
 * owner and mode, and {@code getgrnam(3)} for {@code --socket-group}. Errors through {@link Libc#errno()}.
 */
public final class SocketCalls {
    private SocketCalls() {}

    /** Subscribers: the Unix socket and its group. */
    private static final class Groups {
        static final MethodHandle GETGRNAM = errnoCall("getgrnam", ADDRESS, ADDRESS);
    }

    /** {@code socket(domain, type, protocol)} of the datagram group. */
    public static int datagramSocket(int domain, int type, int protocol) {
        return socket(domain, type, protocol);
    }

    public static long sendto(int fd, MemorySegment buf, long len, int flags, MemorySegment addr, int addrLen) {
        return CallState.sys(Syscall.NR.sendto(), fd, buf.address(), len, flags, addr.address(), addrLen);
    }

    public static int socket(int domain, int type, int protocol) {
        return (int) CallState.sys(Syscall.NR.socket(), domain, type, protocol, 0, 0, 0);
    }

    public static int bind(int fd, MemorySegment addr, int len) {
        return (int) CallState.sys(Syscall.NR.bind(), fd, addr.address(), len, 0, 0, 0);
    }

    public static int listen(int fd, int backlog) {
        return (int) CallState.sys(Syscall.NR.listen(), fd, backlog, 0, 0, 0, 0);
    }

    public static int accept4(int fd, MemorySegment addr, MemorySegment len, int flags) {
        return (int) CallState.sys(Syscall.NR.accept4(), fd, addr.address(), len.address(), flags, 0, 0);
    }

    public static int connect(int fd, MemorySegment addr, int len) {
        return (int) CallState.sys(Syscall.NR.connect(), fd, addr.address(), len, 0, 0, 0);
    }

    public static int getsockopt(int fd, int level, int name, MemorySegment value, MemorySegment len) {
        return (int) CallState.sys(Syscall.NR.getsockopt(), fd, level, name, value.address(), len.address(), 0);
    }

    public static int setsockopt(int fd, int level, int name, MemorySegment value, int len) {
        return (int) CallState.sys(Syscall.NR.setsockopt(), fd, level, name, value.address(), len, 0);
    }

    public static int chmod(MemorySegment path, int mode) {
        return (int) CallState.sys(Syscall.NR.fchmodat(), Fanotify.AT_FDCWD, path.address(), mode, 0, 0, 0);
    }

    public static int chown(MemorySegment path, int uid, int gid) {
        return (int) CallState.sys(Syscall.NR.fchownat(), Fanotify.AT_FDCWD, path.address(), uid, gid, 0, 0);
    }

    /**
     * The gid of group {@code name} ({@code getgrnam}, so NSS sources count), or -1 if there is none.
     * {@code struct group} starts with two pointers, then {@code gid_t gr_gid}.
     */
    public static int groupId(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment g = (MemorySegment) Groups.GETGRNAM.invokeExact(CallState.capture(),
                    Libc.cString(arena, name));
            if (g.equals(MemorySegment.NULL)) {
                return -1;
            }
            return g.reinterpret(24).get(JAVA_INT, 16);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }
}
