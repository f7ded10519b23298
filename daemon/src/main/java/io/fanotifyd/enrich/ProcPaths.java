package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;

import java.lang.foreign.MemorySegment;

/**
 * Writes {@code /proc/...} paths as NUL-terminated ASCII into a reused native buffer, and reads the small files
 * there into reused buffers, without allocating.
 */
final class ProcPaths {
    private static final byte[] SELF_FD = "/proc/self/fd/".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] PROC = "/proc/".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private ProcPaths() {}

    /** {@code /proc/self/fd/<fd>}. */
    static void fdLink(MemorySegment out, int fd) {
        int p = put(out, 0, SELF_FD);
        p = putInt(out, p, fd);
        out.set(JAVA_BYTE, p, (byte) 0);
    }

    /** {@code <fd>}, for {@code readlinkat} relative to an open {@code /proc/self/fd}. */
    static void fdName(MemorySegment out, int fd) {
        int p = putInt(out, 0, fd);
        out.set(JAVA_BYTE, p, (byte) 0);
    }

    /** {@code /proc/<pid>/<leaf>}, leaf given as ASCII bytes. */
    static void pidFile(MemorySegment out, int pid, byte[] leaf) {
        int p = put(out, 0, PROC);
        p = putInt(out, p, pid);
        out.set(JAVA_BYTE, p++, (byte) '/');
        p = put(out, p, leaf);
        out.set(JAVA_BYTE, p, (byte) 0);
    }

    /**
     * Reads {@code /proc/<pid>/<leaf>} (at most {@code max} bytes, one read: these files are generated whole)
     * into {@code buf}, with {@code path} as scratch for the name; returns the bytes read, or -1.
     */
    static long read(MemorySegment path, int pid, byte[] leaf, MemorySegment buf, int max) {
        pidFile(path, pid, leaf);
        int fd = Libc.openat(Fanotify.AT_FDCWD, path, Fanotify.O_RDONLY | Fanotify.O_CLOEXEC, 0);
        if (fd < 0) {
            return -1;
        }
        long n = Libc.read(fd, buf, max);
        Libc.close(fd);
        return n;
    }

    private static int put(MemorySegment out, int p, byte[] bytes) {
        MemorySegment.copy(bytes, 0, out, JAVA_BYTE, p, bytes.length);
        return p + bytes.length;
    }

    private static int putInt(MemorySegment out, int p, int v) {
        if (v < 0) {
            out.set(JAVA_BYTE, p++, (byte) '-');
            v = -v;
        }
        int digits = 1;
        for (int t = v; t >= 10; t /= 10) {
            digits++;
        }
        for (int i = digits - 1; i >= 0; i--) {
            out.set(JAVA_BYTE, p + i, (byte) ('0' + v % 10));
            v /= 10;
        }
        return p + digits;
    }
}
