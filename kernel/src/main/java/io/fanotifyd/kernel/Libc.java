package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.Downcalls.errnoCall;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The system calls of the fanotify group, the event path and the files the daemon keeps: reads, writes,
 * opens by handle, {@code /proc}, pidfds, eventfds, limits. All go through one downcall ({@link Syscall});
 * errno is captured per call and per thread. The libc functions of other domains have classes of their own,
 * each linked on first use: {@link SpawnCalls} (hooks), {@link SocketCalls} (subscribers, taskstats, systemd),
 * {@link SessionCalls} (detaching, syslog, signals) and {@link Fnmatch} (canaries).
 *
 * <p>Every method returns what the C function returns; on failure ({@code -1}) {@link #errno()} gives the
 * errno of the calling thread's last call. The hot path uses these directly and never throws; the
 * {@code ...OrThrow} helpers in the higher-level classes turn failures into {@link NativeCallException}.
 */
public final class Libc {
    /** Linked on first use: the socket hub and the output's waits. */
    private static final class Polling {
        static final MethodHandle POLL = errnoCall("poll", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    }

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

    /** {@code memfd_create(name, flags)}: an anonymous file of our own (MFD_CLOEXEC is 1). */
    public static int memfdCreate(MemorySegment name, int flags) {
        return (int) sys(Syscall.NR.memfdCreate(), name.address(), flags, 0, 0, 0, 0);
    }

    private Libc() {}

    private static long sys(long nr, long a, long b, long c, long d, long e, long f) {
        return CallState.sys(nr, a, b, c, d, e, f);
    }

    /**
     * The errno of this thread's last failed call through this class, {@link SpawnCalls}, {@link SocketCalls}
     * or {@link SessionCalls} (they share one capture segment per thread).
     */
    public static int errno() {
        return CallState.errno();
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

    /** {@code close_range(first, last, 0)} (Linux 5.9): every open fd in {@code [first, last]}. */
    public static int closeRange(int first, int last) {
        return (int) sys(Syscall.NR.closeRange(), first, last, 0, 0, 0, 0);
    }

    public static int poll(MemorySegment fds, long nfds, int timeoutMs) {
        try {
            return (int) Polling.POLL.invokeExact(CallState.capture(), fds, nfds, timeoutMs);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
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

    // ---- process spawning (used by Spawn). Appended as a block so that the fields sit next to their methods.
    // posix_spawn(3) and the posix_spawnattr/file_actions functions return the error number instead of
    // setting errno, so they are plain calls; the others report through errno as usual.

    /** glibc >= 2.34 only; null elsewhere. */

    /** {@code ioctl(fd, request, out)}: {@code out} an {@code int} or a struct, as {@code request} says. */
    public static int ioctl(int fd, long request, MemorySegment out) {
        return (int) sys(Syscall.NR.ioctl(), fd, request, out.address(), 0, 0, 0);
    }
}
