package io.fanotifyd.daemon;

import io.fanotifyd.kernel.PathCodec;
import io.fanotifyd.kernel.Syscalls;

import java.io.ByteArrayOutputStream;

/** Finds the mount point of the mount that contains a path, from {@code /proc/self/mountinfo}. */
final class MountInfo {
    private MountInfo() {}

    /**
     * A mount: where it is mounted, and which directory of its filesystem it shows ("/" when the whole
     * filesystem is there, a subdirectory for a bind mount of one).
     */
    record Mount(String mountPoint, String fsRoot) {
        boolean showsWholeFilesystem() {
            return fsRoot.equals("/");
        }
    }

    /** The mount table now; read once for many {@link #mountOf(String, byte[])} lookups. */
    static byte[] read() {
        return Syscalls.readFile("/proc/self/mountinfo", 1 << 24);
    }

    /**
     * The mount (its mount point absolute, symlinks resolved, in {@link PathCodec} form) holding {@code path},
     * in the mount table {@code info} ({@link #read()}).
     *
     * @throws io.fanotifyd.kernel.NativeCallException if the path does not exist or cannot be opened
     */
    static Mount mountOf(String path, byte[] info) {
        String real = Syscalls.realPath(path);
        Mount best = new Mount("/", "/");
        int start = 0;
        for (int i = 0; i <= info.length; i++) {
            if (i == info.length || info[i] == '\n') {
                String mp = field(info, start, i, 4);
                // Later lines are mounted on top of earlier ones: on equal length, the last match wins.
                if (mp != null && isUnder(real, mp) && mp.length() >= best.mountPoint().length()) {
                    best = new Mount(mp, field(info, start, i, 3));
                }
                start = i + 1;
            }
        }
        return best;
    }

    /** Field {@code index} (0-based) of a mountinfo line, with its {@code \ooo} escapes undone. */
    private static String field(byte[] b, int from, int to, int index) {
        int field = 0;
        int p = from;
        while (p < to && field < index) {
            if (b[p++] == ' ') {
                field++;
            }
        }
        if (field < index) {
            return null;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (p < to && b[p] != ' ') {
            if (b[p] == '\\' && p + 3 < to && isOctal(b[p + 1]) && isOctal(b[p + 2]) && isOctal(b[p + 3])) {
                out.write(((b[p + 1] - '0') << 6) | ((b[p + 2] - '0') << 3) | (b[p + 3] - '0'));
                p += 4;
            } else {
                out.write(b[p++]);
            }
        }
        return PathCodec.decode(out.toByteArray());
    }

    private static boolean isOctal(byte c) {
        return c >= '0' && c <= '7';
    }

    static boolean isUnder(String path, String root) {
        if (root.equals("/")) {
            return true;
        }
        return path.equals(root) || (path.startsWith(root) && path.charAt(root.length()) == '/');
    }
}
