package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.Downcalls.LINKER;
import static io.fanotifyd.kernel.Downcalls.plainCall;
import static io.fanotifyd.kernel.Downcalls.symbol;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * {@code fnmatch(3)} for canary patterns, and the "C" locale it is run in. Linked on first use: only when
 * canaries are configured.
 */
public final class Fnmatch {
    private Fnmatch() {}

    // glibc's <fnmatch.h> values: FNM_PATHNAME is bit 0 and FNM_NOESCAPE bit 1 (not the reverse).
    /** fnmatch(3) flag: a '/' in the string is matched only by a literal '/' in the pattern. */
    public static final int FNM_PATHNAME = 1;
    /** fnmatch(3) flag: backslash is an ordinary character, not an escape. */
    public static final int FNM_NOESCAPE = 2;
    /** fnmatch(3) flag: a leading '.' is matched only by a literal '.' in the pattern. */
    public static final int FNM_PERIOD = 4;
    /** What fnmatch(3) returns when the string does not match (any other nonzero return is an error). */
    public static final int FNM_NOMATCH = 1;

    private static final int LC_ALL_MASK = 0x1fbf; // glibc: every category bit but LC_ALL's own (6)

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

    /**
     * {@code fnmatch(pattern, string, flags)}: 0 if {@code string} matches, {@link #FNM_NOMATCH} if not, another
     * nonzero value on error. Both arguments must be native, NUL-terminated C strings. Does not touch errno.
     * The result depends on the process locale (LC_CTYPE, LC_COLLATE) as for any C caller.
     */
    public static int fnmatch(MemorySegment pattern, MemorySegment string, int flags) {
        try {
            return (int) Matching.FNMATCH.invokeExact(pattern, string, flags);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /**
     * Switches the calling thread (only) to the "C" locale ({@code newlocale} + {@code uselocale}), so that
     * locale-dependent functions such as {@code fnmatch} treat strings as bytes, as a C program that never
     * calls {@code setlocale} does; the JVM itself sets the process locale from the environment.
     *
     * @return false if libc refused
     */
    public static boolean useCLocaleOnThisThread() {
        try {
            MemorySegment c = (MemorySegment) Matching.NEWLOCALE.invokeExact(LC_ALL_MASK,
                    Arena.global().allocateFrom("C"),
                    MemorySegment.NULL);
            if (c.equals(MemorySegment.NULL)) {
                return false;
            }
            MemorySegment old = (MemorySegment) Matching.USELOCALE.invokeExact(c);
            return !old.equals(MemorySegment.NULL);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }
}
