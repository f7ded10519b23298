package io.fanotifyd.kernel;

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
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    /** One capture segment per thread: a shared one would mix up the errno of concurrent calls. */
    private static final ThreadLocal<MemorySegment> CAPTURE =
            ThreadLocal.withInitial(() -> Arena.global().allocate(CAPTURE_LAYOUT));

    private static final MethodHandle FANOTIFY_INIT = errnoCall("fanotify_init", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle FANOTIFY_MARK =
            errnoCall("fanotify_mark", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS);
    private static final MethodHandle READ = errnoCall("read", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle WRITE = errnoCall("write", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle CLOSE = errnoCall("close", JAVA_INT, JAVA_INT);
    private static final MethodHandle POLL = errnoCall("poll", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle OPENAT = variadicErrnoCall("openat", 3,
            JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle OPEN_BY_HANDLE_AT =
            errnoCall("open_by_handle_at", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle READLINK = errnoCall("readlink", JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle FSTATFS = errnoCall("fstatfs", JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle STATX =
            errnoCall("statx", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle EVENTFD = errnoCall("eventfd", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle GETPID = errnoCall("getpid", JAVA_INT);
    private static final MethodHandle SETSID = errnoCall("setsid", JAVA_INT);
    private static final MethodHandle DUP2 = errnoCall("dup2", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle CHDIR = errnoCall("chdir", JAVA_INT, ADDRESS);
    private static final MethodHandle ISATTY = errnoCall("isatty", JAVA_INT, JAVA_INT);
    private static final MethodHandle UNLINK = errnoCall("unlink", JAVA_INT, ADDRESS);
    private static final MethodHandle FLOCK = errnoCall("flock", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle FTRUNCATE = errnoCall("ftruncate", JAVA_INT, JAVA_INT, JAVA_LONG);
    private static final MethodHandle PREAD = errnoCall("pread", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG);
    private static final MethodHandle OPENLOG = plainCall("openlog", null, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle SYSLOG = LINKER.downcallHandle(symbol("syslog"),
            FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, ADDRESS), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle PIDFD_SEND_SIGNAL =
            errnoCall("pidfd_send_signal", JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);

    private Libc() {}

    private static MethodHandle errnoCall(String name, MemoryLayout ret, MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.of(ret, args),
                Linker.Option.captureCallState("errno"));
    }

    private static MethodHandle plainCall(String name, MemoryLayout ret, MemoryLayout... args) {
        FunctionDescriptor fd = ret == null ? FunctionDescriptor.ofVoid(args) : FunctionDescriptor.of(ret, args);
        return LINKER.downcallHandle(symbol(name), fd);
    }

    private static MethodHandle variadicErrnoCall(String name, int firstVariadic, MemoryLayout ret,
                                                  MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.of(ret, args),
                Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(firstVariadic));
    }

    private static MemorySegment symbol(String name) {
        return LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name + "()"));
    }

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
            return (int) POLL.invokeExact(CAPTURE.get(), fds, nfds, timeoutMs);
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
            return (int) OPEN_BY_HANDLE_AT.invokeExact(CAPTURE.get(), mountFd, fileHandle, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long readlink(MemorySegment path, MemorySegment buf, long size) {
        try {
            return (long) READLINK.invokeExact(CAPTURE.get(), path, buf, size);
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
            return (int) STATX.invokeExact(CAPTURE.get(), dirfd, path, flags, mask, statx);
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
        try {
            return (int) GETPID.invokeExact(CAPTURE.get());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setsid() {
        try {
            return (int) SETSID.invokeExact(CAPTURE.get());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int dup2(int oldfd, int newfd) {
        try {
            return (int) DUP2.invokeExact(CAPTURE.get(), oldfd, newfd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int chdir(MemorySegment path) {
        try {
            return (int) CHDIR.invokeExact(CAPTURE.get(), path);
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
            return (int) PIDFD_SEND_SIGNAL.invokeExact(CAPTURE.get(), pidfd, sig, MemorySegment.NULL, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code openlog(ident, option, facility)}; {@code ident} must stay allocated for the process's life. */
    public static void openlog(MemorySegment ident, int option, int facility) {
        try {
            OPENLOG.invokeExact(ident, option, facility);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code syslog(priority, "%s", message)}: the message is never used as a format. */
    public static void syslog(int priority, MemorySegment format, MemorySegment message) {
        try {
            SYSLOG.invokeExact(priority, format, message);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int flock(int fd, int operation) {
        try {
            return (int) FLOCK.invokeExact(CAPTURE.get(), fd, operation);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int ftruncate(int fd, long length) {
        try {
            return (int) FTRUNCATE.invokeExact(CAPTURE.get(), fd, length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long pread(int fd, MemorySegment buf, long count, long offset) {
        try {
            return (long) PREAD.invokeExact(CAPTURE.get(), fd, buf, count, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int unlink(MemorySegment path) {
        try {
            return (int) UNLINK.invokeExact(CAPTURE.get(), path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
