package io.fanotifyd.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.VarHandle;

/**
 * The errno capture shared by the binding classes ({@link Libc}, {@link SpawnCalls}, {@link SocketCalls},
 * {@link SessionCalls}): one segment per thread, so {@link Libc#errno()} answers for this thread's last call
 * through any of them, and concurrent calls on other threads cannot overwrite it.
 */
final class CallState {
    private static final StructLayout LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> CAPTURE =
            ThreadLocal.withInitial(() -> Arena.global().allocate(LAYOUT));

    private CallState() {}

    static MemorySegment capture() {
        return CAPTURE.get();
    }

    static int errno() {
        return (int) ERRNO.get(CAPTURE.get(), 0L);
    }

    /** A system call through {@link Syscall}, errno captured for this thread. */
    static long sys(long nr, long a, long b, long c, long d, long e, long f) {
        return Syscall.call(CAPTURE.get(), nr, a, b, c, d, e, f);
    }

    /** What a downcall's {@code invokeExact} threw, as an unchecked exception (it throws no checked ones). */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
