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

    /** A thread and its capture segment: what {@link #capture()} finds without asking the ThreadLocal. */
    private record Owned(Thread owner, MemorySegment capture) {}

    /**
     * The capture segments of recent threads by thread id. {@code ThreadLocal.get} costs a call into the VM
     * under C1 (it checks its weak key with {@code Reference.refersTo}), once per system call and once per
     * errno: this array lookup is what the event path pays instead. An entry is immutable and found only by
     * its own thread, so a race between two threads whose ids collide costs a ThreadLocal lookup, never a
     * wrong segment.
     */
    private static final Owned[] RECENT = new Owned[64];

    static MemorySegment capture() {
        Thread t = Thread.currentThread();
        int slot = (int) t.threadId() & (RECENT.length - 1);
        Owned o = RECENT[slot];
        if (o != null && o.owner == t) {
            return o.capture;
        }
        MemorySegment segment = CAPTURE.get();
        RECENT[slot] = new Owned(t, segment);
        return segment;
    }

    static int errno() {
        return (int) ERRNO.get(capture(), 0L);
    }

    /** A system call through {@link Syscall}, errno captured for this thread. */
    static long sys(long nr, long a, long b, long c, long d, long e, long f) {
        return Syscall.call(capture(), nr, a, b, c, d, e, f);
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
