package io.fanotifyd.kernel;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/** The errno values the binding tests for, and their names and descriptions from glibc. */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EEXIST = 17;
    public static final int EXDEV = 18;
    public static final int ENODEV = 19;
    public static final int ENOTDIR = 20;
    public static final int EINVAL = 22;
    public static final int ENFILE = 23;
    public static final int EMFILE = 24;
    public static final int ENOTTY = 25;
    public static final int ENOSPC = 28;
    public static final int ESPIPE = 29;
    public static final int EROFS = 30;
    public static final int EPIPE = 32;
    public static final int ENAMETOOLONG = 36;
    public static final int ENOSYS = 38;
    public static final int ELOOP = 40;
    public static final int EOVERFLOW = 75;
    public static final int EOPNOTSUPP = 95;
    public static final int ENOBUFS = 105;
    public static final int ETIMEDOUT = 110;
    public static final int ESTALE = 116;

    // glibc >= 2.32: thread-safe, no buffer to manage. Absent on other libcs: fall back to "errno N".
    private static final MethodHandle NAME = lookup("strerrorname_np");
    private static final MethodHandle DESC = lookup("strerrordesc_np");

    private Errno() {}

    private static MethodHandle lookup(String symbol) {
        Linker linker = Linker.nativeLinker();
        Optional<MemorySegment> address = linker.defaultLookup().find(symbol);
        return address.map(a -> linker.downcallHandle(a,
                FunctionDescriptor.of(ValueLayout.ADDRESS.withTargetLayout(
                        java.lang.foreign.MemoryLayout.sequenceLayout(256, ValueLayout.JAVA_BYTE)),
                        ValueLayout.JAVA_INT))).orElse(null);
    }

    /** The symbolic name, e.g. {@code "EINVAL"}, or {@code "errno 22"} if libc does not know it. */
    public static String name(int errno) {
        String s = call(NAME, errno);
        return s != null ? s : "errno " + errno;
    }

    /** {@code "Invalid argument (EINVAL)"}. */
    public static String describe(int errno) {
        String desc = call(DESC, errno);
        return (desc != null ? desc : "error") + " (" + name(errno) + ")";
    }

    private static String call(MethodHandle handle, int errno) {
        if (handle == null) {
            return null;
        }
        try {
            MemorySegment p = (MemorySegment) handle.invokeExact(errno);
            return p.equals(MemorySegment.NULL) ? null : p.getString(0);
        } catch (Throwable t) {
            return null;
        }
    }
}
