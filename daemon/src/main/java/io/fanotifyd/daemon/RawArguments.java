package io.fanotifyd.daemon;

import io.fanotifyd.kernel.PathCodec;
import io.fanotifyd.kernel.Syscalls;

import java.util.ArrayList;
import java.util.List;

/**
 * The command-line arguments as the bytes the user passed. The JVM decodes {@code argv} with the locale's
 * charset and turns bytes it cannot decode into U+FFFD, so a path that is not UTF-8 could never be watched.
 * The same arguments are the last entries of {@code /proc/self/cmdline}; they are decoded here with
 * {@link PathCodec}, which keeps every byte.
 */
final class RawArguments {
    private RawArguments() {}

    /** The daemon copy gets its arguments' exact bytes from here (see {@link Detach}), hex-encoded. */
    static final String ENV = "FANOTIFYD_ARGV_HEX";

    static String[] of(String[] jvmDecoded) {
        String hex = System.getenv(ENV);
        if (hex != null) {
            return fromHex(hex);
        }
        try {
            byte[] raw = Syscalls.readFile("/proc/self/cmdline", 1 << 22);
            List<String> all = new ArrayList<>();
            int start = 0;
            for (int i = 0; i < raw.length; i++) {
                if (raw[i] == 0) {
                    all.add(PathCodec.decode(raw, start, i - start));
                    start = i + 1;
                }
            }
            if (all.size() < jvmDecoded.length) {
                return jvmDecoded;
            }
            String[] out = all.subList(all.size() - jvmDecoded.length, all.size()).toArray(new String[0]);
            // Guard against a launcher that rewrote arguments: the ASCII-only ones must match exactly.
            for (int i = 0; i < out.length; i++) {
                if (isAscii(jvmDecoded[i]) && !jvmDecoded[i].equals(out[i])) {
                    return jvmDecoded;
                }
            }
            return out;
        } catch (RuntimeException e) {
            return jvmDecoded;
        }
    }

    /** NUL-separated argument bytes as hex: survives any charset the JVM uses for the environment. */
    static String toHex(String[] args) {
        StringBuilder sb = new StringBuilder();
        for (String a : args) {
            for (byte b : PathCodec.encode(a)) {
                sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
            }
            sb.append("00");
        }
        return sb.toString();
    }

    private static String[] fromHex(String hex) {
        byte[] raw = java.util.HexFormat.of().parseHex(hex);
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < raw.length; i++) {
            if (raw[i] == 0) {
                out.add(PathCodec.decode(raw, start, i - start));
                start = i + 1;
            }
        }
        return out.toArray(new String[0]);
    }

    private static boolean isAscii(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) >= 0x80) {
                return false;
            }
        }
        return true;
    }
}
