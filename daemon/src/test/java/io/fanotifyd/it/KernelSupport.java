package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Assumptions;

/**
 * Preconditions of the integration tests: root and a kernel with fanotify. Where they are missing the tests
 * print one SKIP line and are skipped, except under CI (CI=true), where that is a broken setup and fails.
 */
public final class KernelSupport {
    private KernelSupport() {}

    public static void requireKernel() {
        String why = null;
        if (!"root".equals(System.getProperty("user.name")) && !isUidZero()) {
            why = "not root (fanotify needs CAP_SYS_ADMIN)";
        } else if (!Files.exists(Path.of("/proc/sys/fs/fanotify/max_queued_events"))) {
            why = "kernel without fanotify (/proc/sys/fs/fanotify missing)";
        }
        if (why == null) {
            return;
        }
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            fail("integration tests cannot run in CI: " + why);
        }
        System.out.println("SKIP: fanotifyd integration tests: " + why);
        Assumptions.abort(why);
    }

    /** Something a test needs is missing: a SKIP line, or under CI ({@code CI=true}) a failure. */
    public static void skipOrFail(String why) {
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            fail("cannot run in CI: " + why);
        }
        System.out.println("SKIP: " + why);
        Assumptions.abort(why);
    }

    private static boolean isUidZero() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return line.split("\\s+")[1].equals("0");
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    /** The built launcher: -Dfanotifyd.launcher, else ../fanotifyd relative to the module. */
    public static Path launcher() {
        String p = System.getProperty("fanotifyd.launcher");
        Path path = p != null ? Path.of(p) : Path.of("..", "fanotifyd").toAbsolutePath().normalize();
        if (!Files.isExecutable(path)) {
            fail("no launcher at " + path + ": run `make` first (make integration does)");
        }
        return path;
    }
}
