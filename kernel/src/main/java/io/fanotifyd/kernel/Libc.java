package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.Downcalls.LINKER;
import static io.fanotifyd.kernel.Downcalls.errnoCall;
import static io.fanotifyd.kernel.Downcalls.plainCall;
import static io.fanotifyd.kernel.Downcalls.symbol;
import static io.fanotifyd.kernel.Downcalls.variadicErrnoCall;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * Raw libc downcalls, one {@link MethodHandle} per function, errno captured per call and per thread.
 *
 * <p>Every method returns what the C function returns; on failure ({@code -1}) {@link #errno()} gives the
 * errno of the calling thread's last call. The hot path uses these directly and never throws; the
 * {@code ...OrThrow} helpers in the higher-level classes turn failures into {@link NativeCallException}.
 */
public final class Libc {
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    /** One capture segment per thread: a shared one would mix up the errno of concurrent calls. */
    private static final ThreadLocal<MemorySegment> CAPTURE =
            ThreadLocal.withInitial(() -> Arena.global().allocate(CAPTURE_LAYOUT));

    // fnmatch(3) flags, glibc's <fnmatch.h> values: FNM_PATHNAME is bit 0 and FNM_NOESCAPE bit 1 (not the reverse).
    /** fnmatch(3) flag: a '/' in the string is matched only by a literal '/' in the pattern. */
    public static final int FNM_PATHNAME = 1;
    /** fnmatch(3) flag: backslash is an ordinary character, not an escape. */
    public static final int FNM_NOESCAPE = 2;
    /** fnmatch(3) flag: a leading '.' is matched only by a literal '.' in the pattern. */
    public static final int FNM_PERIOD = 4;
    /** What fnmatch(3) returns when the string does not match (any other nonzero return is an error). */
    public static final int FNM_NOMATCH = 1;

    private static final MethodHandle CLOSE = errnoCall("close", JAVA_INT, JAVA_INT);
    private static final MethodHandle OPENAT = variadicErrnoCall("openat", 3,
            JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle READLINKAT =
            errnoCall("readlinkat", JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle ISATTY = errnoCall("isatty", JAVA_INT, JAVA_INT);

    private static final MethodHandle FANOTIFY_INIT = errnoCall("fanotify_init", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle FANOTIFY_MARK =
            errnoCall("fanotify_mark", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS);
    private static final MethodHandle READ = errnoCall("read", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle WRITE = errnoCall("write", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle FSTATFS = errnoCall("fstatfs", JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle EVENTFD = errnoCall("eventfd", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle PPOLL = errnoCall("ppoll", JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS);

    // Handles the start-up path does not need are made on first use, one group at a time: each distinct
    // signature costs 2-3 ms to link, and linking all of them at once was most of the start-up time.

    /**
     * What only events need (file handles, process liveness, file types): linked on a thread of its own once
     * the marks are in place ({@link #linkEventPathInBackground()}), off the way to the marks.
     */
    private static final class EventPath {
        static final MethodHandle STATX =
                errnoCall("statx", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS);
        static final MethodHandle PIDFD_SEND_SIGNAL =
                errnoCall("pidfd_send_signal", JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle OPEN_BY_HANDLE_AT =
                errnoCall("open_by_handle_at", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    }

    /** {@code pidfd_open} (glibc 2.36): null where libc does not have it. */
    private static final class Pidfds {
        static final MethodHandle PIDFD_OPEN = LINKER.defaultLookup().find("pidfd_open")
                .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT),
                        Linker.Option.captureCallState("errno")))
                .orElse(null);
    }

    /** {@code PIDFD_GET_INFO} ({@code _IOWR(0xFF, 11, struct pidfd_info)} with the 64-byte first version). */
    public static final long PIDFD_GET_INFO = 0xC040FF0BL;

    /** {@code ioctl(pidfd, PIDFD_GET_INFO, info)}: Linux 6.13 and newer; ENOTTY before. */
    public static int pidfdGetInfo(int pidfd, MemorySegment info) {
        return ioctl(pidfd, PIDFD_GET_INFO, info);
    }

    /** {@code pidfd_open(pid, 0)}, or -1 with errno ENOSYS where libc has no such function. */
    public static int pidfdOpen(int pid) {
        if (Pidfds.PIDFD_OPEN == null) {
            ERRNO.set(CAPTURE.get(), 0L, Errno.ENOSYS);
            return -1;
        }
        try {
            return (int) Pidfds.PIDFD_OPEN.invokeExact(CAPTURE.get(), pid, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Starts linking the functions only events need, on a thread of its own; whatever needs one first waits
     * for it. Call once the marks are in place: until then nothing needs them, and start-up is shorter.
     */
    public static void linkEventPathInBackground() {
        Thread.ofPlatform().daemon().name("fanotifyd-link").start(() -> {
            try {
                EventPath.STATX.type();
            } catch (Throwable e) {
                // The first event that needs one meets the same error and reports it with its context.
            }
        });
    }

    /** Canary matching: only linked when canaries are configured. */
    private static final class Matching {
        /**
         * fnmatch(3) never sets errno, so nothing is captured. It is pure CPU work on two C strings (no syscall,
         * never blocks), so it is linked as a critical downcall: no thread-state transition, which is most of the
         * cost of a short call. The price: no safepoint can happen during the call, which is fine for path-sized
         * strings. Heap segments are not allowed ({@code critical(false)}): callers pass native strings.
         */
        static final MethodHandle FNMATCH = LINKER.downcallHandle(symbol("fnmatch"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT), Linker.Option.critical(false));
        static final MethodHandle NEWLOCALE = plainCall("newlocale", ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
        static final MethodHandle USELOCALE = plainCall("uselocale", ADDRESS, ADDRESS);
    }

    /** Waking a thread blocked in a permission group's read: only at stop. */
    private static final class Waking {
        static final MethodHandle MEMFD_CREATE = errnoCall("memfd_create", JAVA_INT, ADDRESS, JAVA_INT);
    }

    /** {@code memfd_create(name, flags)}: an anonymous file of our own (MFD_CLOEXEC is 1). */
    public static int memfdCreate(MemorySegment name, int flags) {
        try {
            return (int) Waking.MEMFD_CREATE.invokeExact(CAPTURE.get(), name, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Detaching and syslog. */
    private static final class Daemonizing {
        static final MethodHandle SETSID = errnoCall("setsid", JAVA_INT);
        static final MethodHandle DUP2 = errnoCall("dup2", JAVA_INT, JAVA_INT, JAVA_INT);
        static final MethodHandle CHDIR = errnoCall("chdir", JAVA_INT, ADDRESS);
        static final MethodHandle OPENLOG = plainCall("openlog", null, ADDRESS, JAVA_INT, JAVA_INT);
        static final MethodHandle SYSLOG = LINKER.downcallHandle(symbol("syslog"),
                FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, ADDRESS), Linker.Option.firstVariadicArg(2));
    }

    /** The pid file, socket files and output clean-up. */
    private static final class FileOps {
        static final MethodHandle UNLINK = errnoCall("unlink", JAVA_INT, ADDRESS);
        static final MethodHandle FLOCK = errnoCall("flock", JAVA_INT, JAVA_INT, JAVA_INT);
        static final MethodHandle FTRUNCATE = errnoCall("ftruncate", JAVA_INT, JAVA_INT, JAVA_LONG);
        static final MethodHandle LSEEK = errnoCall("lseek", JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT);
        static final MethodHandle RENAME = errnoCall("rename", JAVA_INT, ADDRESS, ADDRESS);
        static final MethodHandle PREAD = errnoCall("pread", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG);
        static final MethodHandle CHMOD = errnoCall("chmod", JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle CHOWN = errnoCall("chown", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    }

    /** Signal dispositions: reset at start-up, only when one was inherited ignored. */
    private static final class SignalDispositions {
        static final MethodHandle SIGNAL = errnoCall("signal", ADDRESS, JAVA_INT, ADDRESS);
    }

    /** {@code signal(sig, SIG_DFL)}: 0, or -1 with {@link #errno()}. */
    public static int signalDefault(int sig) {
        try {
            MemorySegment prev = (MemorySegment) SignalDispositions.SIGNAL.invokeExact(CAPTURE.get(), sig,
                    MemorySegment.NULL);
            return prev.address() == -1L ? -1 : 0; // SIG_ERR
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Datagrams to a service manager's notification socket ({@code sd_notify}): a group of its own, so that
     * telling systemd the daemon is ready does not link the subscribers' functions too.
     */
    private static final class Datagrams {
        static final MethodHandle SOCKET = errnoCall("socket", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
        static final MethodHandle SENDTO =
                errnoCall("sendto", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT);
    }

    /** Links the datagram functions now (on the calling thread), so that the first message does not wait. */
    public static void linkDatagrams() {
        Datagrams.SENDTO.type();
    }

    /** {@code socket(domain, type, protocol)} of the datagram group. */
    public static int datagramSocket(int domain, int type, int protocol) {
        try {
            return (int) Datagrams.SOCKET.invokeExact(CAPTURE.get(), domain, type, protocol);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long sendto(int fd, MemorySegment buf, long len, int flags, MemorySegment addr, int addrLen) {
        try {
            return (long) Datagrams.SENDTO.invokeExact(CAPTURE.get(), fd, buf, len, flags, addr, addrLen);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Resource limits: the open-file limit, read and raised once at start-up. */
    private static final class Limits {
        static final MethodHandle PRLIMIT = errnoCall("prlimit", JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    }

    /** Hooks: spawning, reaping and killing processes. */
    private static final class Spawning {
        static final MethodHandle POLL = errnoCall("poll", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
        static final MethodHandle POSIX_SPAWN = plainCall("posix_spawn", JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        static final MethodHandle POSIX_SPAWNATTR_INIT = plainCall("posix_spawnattr_init", JAVA_INT, ADDRESS);
        static final MethodHandle POSIX_SPAWNATTR_DESTROY =
                plainCall("posix_spawnattr_destroy", JAVA_INT, ADDRESS);
        static final MethodHandle POSIX_SPAWNATTR_SETFLAGS = plainCall("posix_spawnattr_setflags", JAVA_INT,
                ADDRESS, java.lang.foreign.ValueLayout.JAVA_SHORT);
        static final MethodHandle POSIX_SPAWNATTR_SETPGROUP =
                plainCall("posix_spawnattr_setpgroup", JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle POSIX_SPAWNATTR_SETSIGDEFAULT =
                plainCall("posix_spawnattr_setsigdefault", JAVA_INT, ADDRESS, ADDRESS);
        static final MethodHandle POSIX_SPAWNATTR_SETSIGMASK =
                plainCall("posix_spawnattr_setsigmask", JAVA_INT, ADDRESS, ADDRESS);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_INIT =
                plainCall("posix_spawn_file_actions_init", JAVA_INT, ADDRESS);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_DESTROY =
                plainCall("posix_spawn_file_actions_destroy", JAVA_INT, ADDRESS);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_ADDOPEN = plainCall(
                "posix_spawn_file_actions_addopen", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_ADDDUP2 =
                plainCall("posix_spawn_file_actions_adddup2", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_ADDCLOSE =
                plainCall("posix_spawn_file_actions_addclose", JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP =
                LINKER.defaultLookup().find("posix_spawn_file_actions_addclosefrom_np")
                        .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)))
                        .orElse(null);
        static final MethodHandle SIGEMPTYSET = errnoCall("sigemptyset", JAVA_INT, ADDRESS);
        static final MethodHandle SIGFILLSET = errnoCall("sigfillset", JAVA_INT, ADDRESS);
        static final MethodHandle PIPE2 = errnoCall("pipe2", JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle WAITPID = errnoCall("waitpid", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle KILL = errnoCall("kill", JAVA_INT, JAVA_INT, JAVA_INT);
        static final MethodHandle FCNTL_INT =
                variadicErrnoCall("fcntl", 2, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    }

    /** Subscribers: the Unix socket and its group. */
    private static final class Sockets {
        static final MethodHandle SOCKET = errnoCall("socket", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
        static final MethodHandle BIND = errnoCall("bind", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle LISTEN = errnoCall("listen", JAVA_INT, JAVA_INT, JAVA_INT);
        static final MethodHandle ACCEPT4 = errnoCall("accept4", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);
        static final MethodHandle CONNECT = errnoCall("connect", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle GETSOCKOPT =
                errnoCall("getsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
        static final MethodHandle SETSOCKOPT =
                errnoCall("setsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle GETGRNAM = errnoCall("getgrnam", ADDRESS, ADDRESS);
        static final MethodHandle IOCTL_INT = variadicErrnoCall("ioctl", 2, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS);
    }

    private Libc() {}

    /** The errno left by this thread's last call through this class. */
    public static int errno() {
        return (int) ERRNO.get(CAPTURE.get(), 0L);
    }

    /**
     * A NUL-terminated copy of {@code s} in {@code arena}: UTF-8, with {@link PathCodec}'s escaped bytes
     * restored, so a path read as bytes and decoded by {@link PathCodec#decode} reaches the kernel unchanged.
     * Rejects embedded NULs.
     */
    public static MemorySegment cString(Arena arena, String s) {
        if (s.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("path contains a NUL byte: " + s.replace('\0', '?'));
        }
        byte[] bytes = PathCodec.encode(s);
        MemorySegment seg = arena.allocate(bytes.length + 1L);
        MemorySegment.copy(bytes, 0, seg, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, bytes.length);
        return seg;
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    public static int fanotifyInit(int flags, int eventFFlags) {
        try {
            return (int) FANOTIFY_INIT.invokeExact(CAPTURE.get(), flags, eventFFlags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int fanotifyMark(int fd, int flags, long mask, int dirfd, MemorySegment path) {
        try {
            return (int) FANOTIFY_MARK.invokeExact(CAPTURE.get(), fd, flags, mask, dirfd, path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long read(int fd, MemorySegment buf, long count) {
        try {
            return (long) READ.invokeExact(CAPTURE.get(), fd, buf, count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long write(int fd, MemorySegment buf, long count) {
        try {
            return (long) WRITE.invokeExact(CAPTURE.get(), fd, buf, count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int close(int fd) {
        try {
            return (int) CLOSE.invokeExact(CAPTURE.get(), fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int poll(MemorySegment fds, long nfds, int timeoutMs) {
        try {
            return (int) Spawning.POLL.invokeExact(CAPTURE.get(), fds, nfds, timeoutMs);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code ppoll} without a signal mask; {@code timeout} is a {@code struct timespec}, or NULL for none. */
    public static int ppoll(MemorySegment fds, long nfds, MemorySegment timeout) {
        try {
            return (int) PPOLL.invokeExact(CAPTURE.get(), fds, nfds, timeout, MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int openat(int dirfd, MemorySegment path, int flags, int mode) {
        try {
            return (int) OPENAT.invokeExact(CAPTURE.get(), dirfd, path, flags, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int openByHandleAt(int mountFd, MemorySegment fileHandle, int flags) {
        try {
            return (int) EventPath.OPEN_BY_HANDLE_AT.invokeExact(CAPTURE.get(), mountFd, fileHandle, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long readlink(MemorySegment path, MemorySegment buf, long size) {
        try {
            // readlinkat with AT_FDCWD: one signature less to link at start-up (each costs 2-4 ms).
            return (long) READLINKAT.invokeExact(CAPTURE.get(), Fanotify.AT_FDCWD, path, buf, size);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long readlinkat(int dirFd, MemorySegment path, MemorySegment buf, long size) {
        try {
            return (long) READLINKAT.invokeExact(CAPTURE.get(), dirFd, path, buf, size);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int fstatfs(int fd, MemorySegment statfs) {
        try {
            return (int) FSTATFS.invokeExact(CAPTURE.get(), fd, statfs);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int statx(int dirfd, MemorySegment path, int flags, int mask, MemorySegment statx) {
        try {
            return (int) EventPath.STATX.invokeExact(CAPTURE.get(), dirfd, path, flags, mask, statx);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int eventfd(int initval, int flags) {
        try {
            return (int) EVENTFD.invokeExact(CAPTURE.get(), initval, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getpid() {
        // The JDK knows it already; linking getpid(2) would cost a downcall stub at start-up.
        return (int) ProcessHandle.current().pid();
    }

    public static int setsid() {
        try {
            return (int) Daemonizing.SETSID.invokeExact(CAPTURE.get());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int dup2(int oldfd, int newfd) {
        try {
            return (int) Daemonizing.DUP2.invokeExact(CAPTURE.get(), oldfd, newfd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int chdir(MemorySegment path) {
        try {
            return (int) Daemonizing.CHDIR.invokeExact(CAPTURE.get(), path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int isatty(int fd) {
        try {
            return (int) ISATTY.invokeExact(CAPTURE.get(), fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int pidfdSendSignal(int pidfd, int sig) {
        try {
            return (int) EventPath.PIDFD_SEND_SIGNAL.invokeExact(CAPTURE.get(), pidfd, sig, MemorySegment.NULL, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code openlog(ident, option, facility)}; {@code ident} must stay allocated for the process's life. */
    public static void openlog(MemorySegment ident, int option, int facility) {
        try {
            Daemonizing.OPENLOG.invokeExact(ident, option, facility);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code syslog(priority, "%s", message)}: the message is never used as a format. */
    public static void syslog(int priority, MemorySegment format, MemorySegment message) {
        try {
            Daemonizing.SYSLOG.invokeExact(priority, format, message);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int flock(int fd, int operation) {
        try {
            return (int) FileOps.FLOCK.invokeExact(CAPTURE.get(), fd, operation);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code rename(from, to)}: 0, or -1 with {@link #errno()}. */
    public static int rename(MemorySegment from, MemorySegment to) {
        try {
            return (int) FileOps.RENAME.invokeExact(CAPTURE.get(), from, to);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lseek(fd, offset, whence)}; whence 0 = SEEK_SET, 1 = SEEK_CUR, 2 = SEEK_END. */
    public static long lseek(int fd, long offset, int whence) {
        try {
            return (long) FileOps.LSEEK.invokeExact(CAPTURE.get(), fd, offset, whence);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code prlimit(pid, resource, newLimit, oldLimit)}: each limit a {@code struct rlimit} (two 64-bit
     * values, soft then hard), or NULL.
     */
    public static int prlimit(int pid, int resource, MemorySegment newLimit, MemorySegment oldLimit) {
        try {
            return (int) Limits.PRLIMIT.invokeExact(CAPTURE.get(), pid, resource, newLimit, oldLimit);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int ftruncate(int fd, long length) {
        try {
            return (int) FileOps.FTRUNCATE.invokeExact(CAPTURE.get(), fd, length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long pread(int fd, MemorySegment buf, long count, long offset) {
        try {
            return (long) FileOps.PREAD.invokeExact(CAPTURE.get(), fd, buf, count, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int unlink(MemorySegment path) {
        try {
            return (int) FileOps.UNLINK.invokeExact(CAPTURE.get(), path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code fnmatch(pattern, string, flags)}: 0 if {@code string} matches, {@link #FNM_NOMATCH} if not, another
     * nonzero value on error. Both arguments must be native, NUL-terminated C strings. Does not touch errno.
     * The result depends on the process locale (LC_CTYPE, LC_COLLATE) as for any C caller.
     */
    public static int fnmatch(MemorySegment pattern, MemorySegment string, int flags) {
        try {
            return (int) Matching.FNMATCH.invokeExact(pattern, string, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- process spawning (used by Spawn). Appended as a block so that the fields sit next to their methods.
    // posix_spawn(3) and the posix_spawnattr/file_actions functions return the error number instead of
    // setting errno, so they are plain calls; the others report through errno as usual.

    /** glibc >= 2.34 only; null elsewhere. */

    /** {@code posix_spawn(pid, path, fileActions, attr, argv, envp)}: 0 or an error number (errno is not used). */
    public static int posixSpawn(MemorySegment pid, MemorySegment path, MemorySegment fileActions,
                                 MemorySegment attr, MemorySegment argv, MemorySegment envp) {
        try {
            return (int) Spawning.POSIX_SPAWN.invokeExact(pid, path, fileActions, attr, argv, envp);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrInit(MemorySegment attr) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_INIT.invokeExact(attr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrDestroy(MemorySegment attr) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_DESTROY.invokeExact(attr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrSetflags(MemorySegment attr, short flags) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_SETFLAGS.invokeExact(attr, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrSetpgroup(MemorySegment attr, int pgroup) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_SETPGROUP.invokeExact(attr, pgroup);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrSetsigdefault(MemorySegment attr, MemorySegment sigset) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_SETSIGDEFAULT.invokeExact(attr, sigset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrSetsigmask(MemorySegment attr, MemorySegment sigset) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_SETSIGMASK.invokeExact(attr, sigset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnFileActionsInit(MemorySegment fileActions) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_INIT.invokeExact(fileActions);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnFileActionsDestroy(MemorySegment fileActions) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_DESTROY.invokeExact(fileActions);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. {@code path} is copied by libc, so it need not outlive the call. */
    public static int posixSpawnFileActionsAddopen(MemorySegment fileActions, int fd, MemorySegment path,
                                                   int oflag, int mode) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDOPEN.invokeExact(fileActions, fd, path, oflag, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnFileActionsAdddup2(MemorySegment fileActions, int fd, int newfd) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDDUP2.invokeExact(fileActions, fd, newfd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnFileActionsAddclose(MemorySegment fileActions, int fd) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDCLOSE.invokeExact(fileActions, fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Whether this libc has {@code posix_spawn_file_actions_addclosefrom_np} (glibc >= 2.34). */
    public static boolean hasPosixSpawnFileActionsAddclosefrom() {
        return Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP != null;
    }

    /**
     * 0 or an error number; {@link Errno#ENOSYS} if libc lacks the function
     * (see {@link #hasPosixSpawnFileActionsAddclosefrom()}).
     */
    public static int posixSpawnFileActionsAddclosefrom(MemorySegment fileActions, int from) {
        if (Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP == null) {
            return Errno.ENOSYS;
        }
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP.invokeExact(fileActions, from);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int sigemptyset(MemorySegment sigset) {
        try {
            return (int) Spawning.SIGEMPTYSET.invokeExact(CAPTURE.get(), sigset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int sigfillset(MemorySegment sigset) {
        try {
            return (int) Spawning.SIGFILLSET.invokeExact(CAPTURE.get(), sigset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code pipe2(fds, flags)}; {@code fds} holds two ints: read end, write end. */
    public static int pipe2(MemorySegment fds, int flags) {
        try {
            return (int) Spawning.PIPE2.invokeExact(CAPTURE.get(), fds, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code waitpid(pid, status, options)}; {@code status} is an int or {@link MemorySegment#NULL}. */
    public static int waitpid(int pid, MemorySegment status, int options) {
        try {
            return (int) Spawning.WAITPID.invokeExact(CAPTURE.get(), pid, status, options);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code kill(pid, sig)}; a negative {@code pid} signals the process group {@code -pid}. */
    public static int kill(int pid, int sig) {
        try {
            return (int) Spawning.KILL.invokeExact(CAPTURE.get(), pid, sig);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code fcntl(fd, cmd, arg)} for the commands whose argument is an int (F_DUPFD_CLOEXEC, F_SETFD, ...). */
    public static int fcntl(int fd, int cmd, int arg) {
        try {
            return (int) Spawning.FCNTL_INT.invokeExact(CAPTURE.get(), fd, cmd, arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final int LC_ALL_MASK = 0x1fbf; // glibc: every category bit but LC_ALL's own (6)

    /**
     * Switches the calling thread (only) to the "C" locale ({@code newlocale} + {@code uselocale}), so that
     * locale-dependent functions such as {@code fnmatch} treat strings as bytes, as a C program that never
     * calls {@code setlocale} does; the JVM itself sets the process locale from the environment.
     *
     * @return false if libc refused
     */
    public static boolean useCLocaleOnThisThread() {
        try {
            MemorySegment c = (MemorySegment) Matching.NEWLOCALE.invokeExact(LC_ALL_MASK, Arena.global().allocateFrom("C"),
                    MemorySegment.NULL);
            if (c.equals(MemorySegment.NULL)) {
                return false;
            }
            MemorySegment old = (MemorySegment) Matching.USELOCALE.invokeExact(c);
            return !old.equals(MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int socket(int domain, int type, int protocol) {
        try {
            return (int) Sockets.SOCKET.invokeExact(CAPTURE.get(), domain, type, protocol);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int bind(int fd, MemorySegment addr, int len) {
        try {
            return (int) Sockets.BIND.invokeExact(CAPTURE.get(), fd, addr, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int listen(int fd, int backlog) {
        try {
            return (int) Sockets.LISTEN.invokeExact(CAPTURE.get(), fd, backlog);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int accept4(int fd, MemorySegment addr, MemorySegment len, int flags) {
        try {
            return (int) Sockets.ACCEPT4.invokeExact(CAPTURE.get(), fd, addr, len, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int connect(int fd, MemorySegment addr, int len) {
        try {
            return (int) Sockets.CONNECT.invokeExact(CAPTURE.get(), fd, addr, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getsockopt(int fd, int level, int name, MemorySegment value, MemorySegment len) {
        try {
            return (int) Sockets.GETSOCKOPT.invokeExact(CAPTURE.get(), fd, level, name, value, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setsockopt(int fd, int level, int name, MemorySegment value, int len) {
        try {
            return (int) Sockets.SETSOCKOPT.invokeExact(CAPTURE.get(), fd, level, name, value, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int chmod(MemorySegment path, int mode) {
        try {
            return (int) FileOps.CHMOD.invokeExact(CAPTURE.get(), path, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int chown(MemorySegment path, int uid, int gid) {
        try {
            return (int) FileOps.CHOWN.invokeExact(CAPTURE.get(), path, uid, gid);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The gid of group {@code name} ({@code getgrnam}, so NSS sources count), or -1 if there is none.
     * {@code struct group} starts with two pointers, then {@code gid_t gr_gid}.
     */
    public static int groupId(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment g = (MemorySegment) Sockets.GETGRNAM.invokeExact(CAPTURE.get(), cString(arena, name));
            if (g.equals(MemorySegment.NULL)) {
                return -1;
            }
            return g.reinterpret(24).get(JAVA_INT, 16);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code ioctl(fd, request, out)}: {@code out} an {@code int} or a struct, as {@code request} says. */
    public static int ioctl(int fd, long request, MemorySegment out) {
        try {
            return (int) Sockets.IOCTL_INT.invokeExact(CAPTURE.get(), fd, request, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
