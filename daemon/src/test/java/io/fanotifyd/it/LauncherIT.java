package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The shell launcher: finds a JDK >= 25 by itself, and says in one line what it needs when there is none. */
@Tag("kernel")
class LauncherIT {
    record Run(int code, String out, String err) {}

    static Run launch(java.util.Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> cmd = new java.util.ArrayList<>(List.of(KernelSupport.launcher().toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().clear();
        pb.environment().putAll(env);
        Process p = pb.start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "launcher did not return");
        return new Run(p.exitValue(), new String(p.getInputStream().readAllBytes()),
                new String(p.getErrorStream().readAllBytes()));
    }

    @Test
    void findsAJdk25WhenPathOnlyHasAnOldJava() throws Exception {
        Run r = launch(java.util.Map.of("PATH", "/usr/bin:/bin"), "--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("fanotifyd "), r.out());
        assertEquals("", r.err(), "nothing on stderr, no native-access warning");
    }

    @Test
    void sayingWhatIsMissingInOneLineWhenThereIsNoJdk25() throws Exception {
        // An old JDK on JAVA_HOME and none in the search path: refused, not run with the old one.
        Run r = launch(java.util.Map.of("PATH", "/usr/bin:/bin", "JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64",
                "FANOTIFYD_JDK_DIRS", "/nonexistent"), "--version");
        assertEquals(1, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("Java 25"), r.err());
    }
}
