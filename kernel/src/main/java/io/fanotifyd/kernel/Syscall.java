package io.fanotifyd.kernel;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The system calls of the way to the marks and of the event path, all through one downcall: libc's
 * {@code syscall(2)}, with the call's number and six {@code long} arguments (pointers as addresses).
 *
 * <p>Why not one handle per libc wrapper: the JDK generates a stub class for every distinct function
 * signature the first time it is linked, 2–4 ms each on these machines, and the start-up linked 26 of them
 * (about 100 ms of a ~200 ms start; docs/PERFORMANCE.md). One signature is one stub, whatever the number of
 * calls made through it. {@code syscall(2)} returns -1 and sets errno on failure, as the wrappers do, and is
 * no slower: a handful of register moves in front of the same instruction. The price is a table of call
 * numbers per architecture (amd64 and aarch64 here, from the kernel's syscall tables) and passing
 * addresses: every segment passed must be native and stay alive for the call, which all of ours are (they
 * belong to long-lived or confined arenas of the caller).
 *
 * <p>Linked as a plain function of seven {@code long}s, although {@code syscall} is variadic: declaring the
 * variadic tail ({@code Linker.Option.firstVariadicArg}) cost another ~8 ms of the start-up's linking on
 * these machines (docs/PERFORMANCE.md), and on the two architectures we run on a variadic call of integer
 * arguments is the plain call. On x86-64 the caller's only extra duty is {@code %al} = the number of vector
 * registers used, which glibc's {@code syscall} (assembly: it moves the registers and traps) never reads and
 * a C implementation (musl) reads only to decide whether to spill the vector registers it does not use; on
 * aarch64 Linux (unlike Apple's ABI) variadic arguments travel in the same registers as the others.
 */
final class Syscall {
    private Syscall() {}

    /** Call numbers of one architecture. */
    record Numbers(long read, long write, long close, long ioctl, long openat, long readlinkat, long fstatfs,
                   long ppoll, long eventfd2, long prlimit64, long fanotifyInit, long fanotifyMark,
                   long openByHandleAt, long statx, long pidfdSendSignal, long pidfdOpen, long memfdCreate,
                   long socket, long bind, long listen, long accept4, long connect, long getsockopt,
                   long setsockopt, long sendto, long unlinkat, long flock, long ftruncate, long lseek,
                   long renameat2, long pread64, long fchmodat, long fchownat, long closeRange) {}

    /** arch/x86/entry/syscalls/syscall_64.tbl */
    static final Numbers AMD64 = new Numbers(0, 1, 3, 16, 257, 267, 138, 271, 290, 302, 300, 301, 304, 332,
            424, 434, 319, 41, 49, 50, 288, 42, 55, 54, 44, 263, 73, 77, 8, 316, 17, 268, 260, 436);
    /** include/uapi/asm-generic/unistd.h (arm64 uses the generic table) */
    static final Numbers AARCH64 = new Numbers(63, 64, 57, 29, 56, 78, 44, 73, 19, 261, 262, 263, 265, 291,
            424, 434, 279, 198, 200, 201, 242, 203, 209, 208, 206, 35, 32, 46, 62, 276, 67, 53, 54, 436);

    static final Numbers NR = numbers(System.getProperty("os.arch"));

    static Numbers numbers(String arch) {
        return switch (arch) {
            case "amd64", "x86_64" -> AMD64;
            case "aarch64", "arm64" -> AARCH64;
            default -> throw new UnsatisfiedLinkError("fanotifyd knows the system call numbers of amd64 and"
                    + " aarch64, not of " + arch);
        };
    }

    private static final MethodHandle SYSCALL = Downcalls.LINKER.downcallHandle(Downcalls.symbol("syscall"),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                    JAVA_LONG),
            Linker.Option.captureCallState("errno"));

    /** {@code syscall(nr, a..f)}: the call's result, or -1 with errno in {@code capture}. */
    static long call(MemorySegment capture, long nr, long a, long b, long c, long d, long e, long f) {
        try {
            return (long) SYSCALL.invokeExact(capture, nr, a, b, c, d, e, f);
        } catch (Throwable t) {
            if (t instanceof RuntimeException r) {
                throw r;
            }
            if (t instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(t);
        }
    }
}
