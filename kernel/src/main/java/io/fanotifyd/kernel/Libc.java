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

    // System calls go through one handle (Syscall). The libc functions that are not plain system calls are
    // linked on first use, one group at a time: each distinct signature costs 2-4 ms to link.

    /** {@code PIDFD_GET_INFO} ({@code _IOWR(0xFF, 11, struct pidfd_info)} with the 64-byte first version). */
    public static final long PIDFD_GET_INFO = 0xC040FF0BL;

    /** {@code ioctl(pidfd, PIDFD_GET_INFO, info)}: Linux 6.13 and newer; ENOTTY before. */
    public static int pidfdGetInfo(int pidfd, MemorySegment info) {
        return ioctl(pidfd, PIDFD_GET_INFO, info);
    }

    /** {@code pidfd_open(pid, 0)}: -1 with errno ENOSYS on a kernel before 5.3. */
    public static int pidfdOpen(int pid) {
        return (int) sys(Syscall.NR.pidfdOpen(), pid, 0, 0, 0, 0, 0);
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

    /** {@code memfd_create(name, flags)}: an anonymous file of our own (MFD_CLOEXEC is 1). */
    public static int memfdCreate(MemorySegment name, int flags) {
        return (int) sys(Syscall.NR.memfdCreate(), name.address(), flags, 0, 0, 0, 0);
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

    /** {@code socket(domain, type, protocol)} of the datagram group. */
    public static int datagramSocket(int domain, int type, int protocol) {
        return socket(domain, type, protocol);
    }

    public static long sendto(int fd, MemorySegment buf, long len, int flags, MemorySegment addr, int addrLen) {
        return sys(Syscall.NR.sendto(), fd, buf.address(), len, flags, addr.address(), addrLen);
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
    private static final class Groups {
        static final MethodHandle GETGRNAM = errnoCall("getgrnam", ADDRESS, ADDRESS);
    }

    private Libc() {}

    /** The errno left by this thread's last call through this class. */
    /** A system call through {@link Syscall}, errno captured for this thread. */
    private static long sys(long nr, long a, long b, long c, long d, long e, long f) {
        return Syscall.call(CAPTURE.get(), nr, a, b, c, d, e, f);
    }

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
        return (int) sys(Syscall.NR.fanotifyInit(), flags, eventFFlags, 0, 0, 0, 0);
    }

    public static int fanotifyMark(int fd, int flags, long mask, int dirfd, MemorySegment path) {
        return (int) sys(Syscall.NR.fanotifyMark(), fd, flags, mask, dirfd, path.address(), 0);
    }

    public static long read(int fd, MemorySegment buf, long count) {
        return sys(Syscall.NR.read(), fd, buf.address(), count, 0, 0, 0);
    }

    public static long write(int fd, MemorySegment buf, long count) {
        return sys(Syscall.NR.write(), fd, buf.address(), count, 0, 0, 0);
    }

    public static int close(int fd) {
        return (int) sys(Syscall.NR.close(), fd, 0, 0, 0, 0, 0);
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
        // No signal mask (NULL); the kernel then ignores the mask's size, 8 bytes.
        return (int) sys(Syscall.NR.ppoll(), fds.address(), nfds, timeout.address(), 0, 8, 0);
    }

    public static int openat(int dirfd, MemorySegment path, int flags, int mode) {
        return (int) sys(Syscall.NR.openat(), dirfd, path.address(), flags, mode, 0, 0);
    }

    public static int openByHandleAt(int mountFd, MemorySegment fileHandle, int flags) {
        return (int) sys(Syscall.NR.openByHandleAt(), mountFd, fileHandle.address(), flags, 0, 0, 0);
    }

    public static long readlink(MemorySegment path, MemorySegment buf, long size) {
        return readlinkat(Fanotify.AT_FDCWD, path, buf, size);
    }

    public static long readlinkat(int dirFd, MemorySegment path, MemorySegment buf, long size) {
        return sys(Syscall.NR.readlinkat(), dirFd, path.address(), buf.address(), size, 0, 0);
    }

    public static int fstatfs(int fd, MemorySegment statfs) {
        return (int) sys(Syscall.NR.fstatfs(), fd, statfs.address(), 0, 0, 0, 0);
    }

    public static int statx(int dirfd, MemorySegment path, int flags, int mask, MemorySegment statx) {
        return (int) sys(Syscall.NR.statx(), dirfd, path.address(), flags, mask, statx.address(), 0);
    }

    public static int eventfd(int initval, int flags) {
        return (int) sys(Syscall.NR.eventfd2(), initval, flags, 0, 0, 0, 0);
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

    /** {@code TCGETS}: what isatty(3) asks; 0 for a terminal. */
    private static final long TCGETS = 0x5401;

    /** 1 if {@code fd} is a terminal, else 0 (errno ENOTTY, or EBADF): isatty(3) through {@code TCGETS}. */
    public static int isatty(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            return ioctl(fd, TCGETS, arena.allocate(64, 8)) == 0 ? 1 : 0; // struct termios fits in 64 bytes
        }
    }

    public static int pidfdSendSignal(int pidfd, int sig) {
        return (int) sys(Syscall.NR.pidfdSendSignal(), pidfd, sig, 0, 0, 0, 0);
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
        return (int) sys(Syscall.NR.flock(), fd, operation, 0, 0, 0, 0);
    }

    /** {@code rename(from, to)}: 0, or -1 with {@link #errno()}. */
    public static int rename(MemorySegment from, MemorySegment to) {
        return (int) sys(Syscall.NR.renameat2(), Fanotify.AT_FDCWD, from.address(), Fanotify.AT_FDCWD, to.address(),
                0, 0);
    }

    /** {@code lseek(fd, offset, whence)}; whence 0 = SEEK_SET, 1 = SEEK_CUR, 2 = SEEK_END. */
    public static long lseek(int fd, long offset, int whence) {
        return sys(Syscall.NR.lseek(), fd, offset, whence, 0, 0, 0);
    }

    /**
     * {@code prlimit(pid, resource, newLimit, oldLimit)}: each limit a {@code struct rlimit} (two 64-bit
     * values, soft then hard), or NULL.
     */
    public static int prlimit(int pid, int resource, MemorySegment newLimit, MemorySegment oldLimit) {
        return (int) sys(Syscall.NR.prlimit64(), pid, resource, newLimit.address(), oldLimit.address(), 0, 0);
    }

    public static int ftruncate(int fd, long length) {
        return (int) sys(Syscall.NR.ftruncate(), fd, length, 0, 0, 0, 0);
    }

    public static long pread(int fd, MemorySegment buf, long count, long offset) {
        return sys(Syscall.NR.pread64(), fd, buf.address(), count, offset, 0, 0);
    }

    public static int unlink(MemorySegment path) {
        return (int) sys(Syscall.NR.unlinkat(), Fanotify.AT_FDCWD, path.address(), 0, 0, 0, 0);
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
        return (int) sys(Syscall.NR.socket(), domain, type, protocol, 0, 0, 0);
    }

    public static int bind(int fd, MemorySegment addr, int len) {
        return (int) sys(Syscall.NR.bind(), fd, addr.address(), len, 0, 0, 0);
    }

    public static int listen(int fd, int backlog) {
        return (int) sys(Syscall.NR.listen(), fd, backlog, 0, 0, 0, 0);
    }

    public static int accept4(int fd, MemorySegment addr, MemorySegment len, int flags) {
        return (int) sys(Syscall.NR.accept4(), fd, addr.address(), len.address(), flags, 0, 0);
    }

    public static int connect(int fd, MemorySegment addr, int len) {
        return (int) sys(Syscall.NR.connect(), fd, addr.address(), len, 0, 0, 0);
    }

    public static int getsockopt(int fd, int level, int name, MemorySegment value, MemorySegment len) {
        return (int) sys(Syscall.NR.getsockopt(), fd, level, name, value.address(), len.address(), 0);
    }

    public static int setsockopt(int fd, int level, int name, MemorySegment value, int len) {
        return (int) sys(Syscall.NR.setsockopt(), fd, level, name, value.address(), len, 0);
    }

    public static int chmod(MemorySegment path, int mode) {
        return (int) sys(Syscall.NR.fchmodat(), Fanotify.AT_FDCWD, path.address(), mode, 0, 0, 0);
    }

    public static int chown(MemorySegment path, int uid, int gid) {
        return (int) sys(Syscall.NR.fchownat(), Fanotify.AT_FDCWD, path.address(), uid, gid, 0, 0);
    }

    /**
     * The gid of group {@code name} ({@code getgrnam}, so NSS sources count), or -1 if there is none.
     * {@code struct group} starts with two pointers, then {@code gid_t gr_gid}.
     */
    public static int groupId(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment g = (MemorySegment) Groups.GETGRNAM.invokeExact(CAPTURE.get(), cString(arena, name));
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
        return (int) sys(Syscall.NR.ioctl(), fd, request, out.address(), 0, 0, 0);
    }
}
