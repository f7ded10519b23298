package io.fanotifyd.daemon;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the mount point of the mount that contains a path, from {@code /proc/self/mountinfo}. */
final class MountInfo {
    private MountInfo() {}

    /** The mount point (absolute, symlinks resolved) of the mount holding {@code path}. */
    static String mountPointOf(String path) throws IOException {
        String real = Path.of(path).toRealPath().toString();
        String best = "/";
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            String[] f = line.split(" ", 6);
            if (f.length < 5) {
                continue;
            }
            String mp = unescape(f[4]);
            if (isUnder(real, mp) && mp.length() >= best.length()) {
                best = mp; // later lines are mounted on top of earlier ones: the last match wins on ties
            }
        }
        return best;
    }

    static boolean isUnder(String path, String root) {
        if (root.equals("/")) {
            return true;
        }
        return path.equals(root) || (path.startsWith(root) && path.charAt(root.length()) == '/');
    }

    /** mountinfo escapes space, tab, newline and backslash as {@code \ooo}. */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 4 <= s.length()) {
                try {
                    sb.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                    i += 3;
                    continue;
                } catch (NumberFormatException e) {
                    // not an escape: keep the backslash
                }
            }
            sb.append(c);
        }
        return sb.toString();
    }
}
