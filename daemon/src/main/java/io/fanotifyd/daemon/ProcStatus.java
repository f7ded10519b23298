package io.fanotifyd.daemon;

import io.fanotifyd.kernel.Syscalls;

import java.nio.charset.StandardCharsets;

/** Fields of {@code /proc/self/status}: read with the calls already linked, so it costs start-up nothing. */
final class ProcStatus {
    private ProcStatus() {}

    /** A hexadecimal field ({@code CapEff}, {@code SigIgn}, ...), or -1 if it cannot be read. */
    static long hexField(String name) {
        try {
            String status = new String(Syscalls.readFile("/proc/self/status", 1 << 16), StandardCharsets.US_ASCII);
            String prefix = name + ":";
            for (String line : status.split("\n")) {
                if (line.startsWith(prefix)) {
                    return Long.parseUnsignedLong(line.substring(prefix.length()).trim(), 16);
                }
            }
        } catch (RuntimeException e) {
            // fall through: unknown
        }
        return -1;
    }
}
