package io.fanotifyd.kernel;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Links libc functions for the binding classes ({@link Libc}, {@link SpawnCalls}, {@link SocketCalls},
 * {@link SessionCalls}, {@link Fnmatch}), each of which makes its handles in groups, on first use.
 */
final class Downcalls {
    static final Linker LINKER = Linker.nativeLinker();

    private Downcalls() {}

    static MethodHandle errnoCall(String name, MemoryLayout ret, MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.of(ret, args),
                Linker.Option.captureCallState("errno"));
    }

    static MethodHandle plainCall(String name, MemoryLayout ret, MemoryLayout... args) {
        FunctionDescriptor fd = ret == null ? FunctionDescriptor.ofVoid(args) : FunctionDescriptor.of(ret, args);
        return LINKER.downcallHandle(symbol(name), fd);
    }

    static MethodHandle variadicErrnoCall(String name, int firstVariadic, MemoryLayout ret,
                                                  MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.of(ret, args),
                Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(firstVariadic));
    }

    static MemorySegment symbol(String name) {
        return LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name + "()"));
    }
}
