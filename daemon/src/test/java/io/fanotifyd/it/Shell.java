package io.fanotifyd.it;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * Runs a short {@code sh -c} script (bounded wait) and returns the shell's own pid ({@code $$}), to match
 * records against: builtins run in that shell, and a command started with {@code exec} keeps its pid.
 */
final class Shell {
    private Shell() {}

    static long run(String script) throws IOException {
        Process p = new ProcessBuilder("/bin/sh", "-c", "echo $$; " + script).redirectErrorStream(true)
                .start();
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("script timed out: " + script);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        if (p.exitValue() != 0) {
            throw new IOException("script failed (" + p.exitValue() + "): " + script + ": "
                    + new String(p.getInputStream().readAllBytes()));
        }
        String out = new String(p.getInputStream().readAllBytes());
        return Long.parseLong(out.lines().findFirst().orElseThrow().trim());
    }
}
