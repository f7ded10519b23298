package io.fanotifyd.daemon;

import io.fanotifyd.kernel.PathCodec;
import io.fanotifyd.kernel.Syscalls;

import java.io.ByteArrayOutputStream;

/**
 * Finds the mount that contains a path, from {@code /proc/self/mountinfo}, and tells which mounts and
 * filesystems the table still holds (for {@link MarkWatch}).
 */
final class MountInfo {
    private MountInfo() {}

    /**
     * A mount: where it is mounted, which directory of its filesystem it shows ("/" when the whole filesystem
     * is there, a subdirectory for a bind mount of one), its mount id (as {@code fdinfo} names mount marks) and
     * its filesystem's device in the kernel's encoding ({@code major << 20 | minor}, as {@code fdinfo}'s
     * {@code sdev} names filesystem and inode marks); -1 where the table did not say.
     */
    record Mount(String mountPoint, String fsRoot, int mountId, int dev) {
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
        Mount best = new Mount("/", "/", -1, -1);
        int start = 0;
        for (int i = 0; i <= info.length; i++) {
            if (i == info.length || info[i] == '\n') {
                String mp = field(info, start, i, 4);
                // Later lines are mounted on top of earlier ones: on equal length, the last match wins.
                if (mp != null && isUnder(real, mp) && mp.length() >= best.mountPoint().length()) {
                    best = new Mount(mp, field(info, start, i, 3), mountId(info, start, i),
                            dev(field(info, start, i, 2)));
                }
                start = i + 1;
            }
        }
        return best;
    }

    /**
     * The mount ids and filesystem devices in a mount table ({@link #read()}): which of the marked mounts and
     * filesystems are still mounted here.
     */
    record Present(java.util.Set<Integer> mountIds, java.util.Set<Integer> devs) {}

    static Present present(byte[] info) {
        java.util.Set<Integer> ids = new java.util.HashSet<>();
        java.util.Set<Integer> devs = new java.util.HashSet<>();
        int start = 0;
        for (int i = 0; i <= info.length; i++) {
            if (i == info.length || info[i] == '\n') {
                int id = mountId(info, start, i);
                if (id >= 0) {
                    ids.add(id);
                    int dev = dev(field(info, start, i, 2));
                    if (dev >= 0) {
                        devs.add(dev);
                    }
                }
                start = i + 1;
            }
        }
        return new Present(ids, devs);
    }

    /** Every mount in a mount table ({@link #read()}), in its order. */
    static java.util.List<Mount> all(byte[] info) {
        java.util.List<Mount> out = new java.util.ArrayList<>();
        int start = 0;
        for (int i = 0; i <= info.length; i++) {
            if (i == info.length || info[i] == '\n') {
                String mp = field(info, start, i, 4);
                if (mp != null) {
                    out.add(new Mount(mp, field(info, start, i, 3), mountId(info, start, i),
                            dev(field(info, start, i, 2))));
                }
                start = i + 1;
            }
        }
        return out;
    }

    /**
     * The mount points of the mounts of filesystem type {@code fsType} in a mount table ({@link #read()}):
     * the type is the first field after the optional fields' {@code " - "} separator.
     */
    static java.util.List<String> mountPointsOfType(byte[] info, String fsType) {
        java.util.List<String> out = new java.util.ArrayList<>();
        byte[] separator = {' ', '-', ' '};
        int start = 0;
        for (int i = 0; i <= info.length; i++) {
            if (i == info.length || info[i] == '\n') {
                int sep = indexOf(info, start, i, separator);
                if (sep >= 0 && fsType.equals(field(info, sep + separator.length, i, 0))) {
                    out.add(field(info, start, i, 4));
                }
                start = i + 1;
            }
        }
        return out;
    }

    private static int indexOf(byte[] b, int from, int to, byte[] what) {
        for (int i = from; i + what.length <= to; i++) {
            if (java.util.Arrays.equals(b, i, i + what.length, what, 0, what.length)) {
                return i;
            }
        }
        return -1;
    }

    /** Field 0 of a mountinfo line, the mount id; -1 for an empty or malformed line. */
    private static int mountId(byte[] b, int from, int to) {
        int v = 0;
        int p = from;
        while (p < to && b[p] >= '0' && b[p] <= '9') {
            v = v * 10 + (b[p++] - '0');
        }
        return p == from || p >= to || b[p] != ' ' ? -1 : v;
    }

    /** {@code "major:minor"} as the kernel's internal {@code dev_t}: {@code major << 20 | minor}; -1 if malformed. */
    static int dev(String majorMinor) {
        int colon = majorMinor == null ? -1 : majorMinor.indexOf(':');
        if (colon <= 0) {
            return -1;
        }
        try {
            return Integer.parseInt(majorMinor.substring(0, colon)) << 20
                    | Integer.parseInt(majorMinor.substring(colon + 1));
        } catch (NumberFormatException e) {
            return -1;
        }
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
