package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shell launcher: runs the runtime installed next to its jar, else finds a JDK >= 25 by itself, and says in
 * one line what it needs when there is none.
 */
@Tag("kernel")
class LauncherIT {
    static Daemon.Finished launch(java.util.Map<String, String> env, String... args) throws IOException {
        return launch(KernelSupport.launcher(), env, args);
    }

    static Daemon.Finished launch(Path launcher, java.util.Map<String, String> env, String... args)
            throws IOException {
        return Daemon.runToEnd(launcher, List.of(), null, env, 30, args);
    }

    @Test
    void findsAJdk25WhenPathOnlyHasAnOldJava() throws Exception {
        Daemon.Finished r = launch(java.util.Map.of("PATH", "/usr/bin:/bin"), "--version");
        assertEquals(0, r.exit(), r.stderr());
        assertTrue(r.stdout().startsWith("fanotifyd "), r.stdout());
        assertEquals("", r.stderr(), "nothing on stderr, no native-access warning");
    }

    @Test
    void sayingWhatIsMissingInOneLineWhenThereIsNoJdk25() throws Exception {
        // An old JDK on JAVA_HOME and none in the search path: refused, not run with the old one.
        Daemon.Finished r = launch(java.util.Map.of("PATH", "/usr/bin:/bin",
                "JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64",
                "FANOTIFYD_JDK_DIRS", "/nonexistent"), "--version");
        assertEquals(1, r.exit());
        assertEquals(1, r.stderr().strip().lines().count(), r.stderr());
        assertTrue(r.stderr().contains("Java 25"), r.stderr());
    }

    @Test
    void anInstalledRuntimeComesBeforeEveryJdk(@TempDir Path dir) throws Exception {
        // The tree `make install` and the package make: LIBDIR/{app.jar,app.aot,runtime/}. Its java here is a
        // script that says it ran; a JDK 25 is on FANOTIFYD_JAVA_HOME, JAVA_HOME and PATH, and must not run.
        Path lib = dir.resolve("lib/fanotifyd");
        Path bundled = lib.resolve("runtime/bin/java");
        Files.createDirectories(bundled.getParent());
        Files.writeString(bundled, "#!/bin/sh\necho \"bundled runtime: $*\"\n");
        Files.setPosixFilePermissions(bundled, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.createFile(lib.resolve("app.aot"));
        Path launcher = dir.resolve("fanotifyd");
        String text = Files.readString(KernelSupport.launcher());
        String moved = text.replaceFirst("(?m)^LIBDIR='[^']*'$", "LIBDIR='" + lib + "'");
        assertTrue(!moved.equals(text), "no LIBDIR='...' line in the launcher");
        Files.writeString(launcher, moved);
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        String jdk = System.getProperty("java.home");

        Daemon.Finished r = launch(launcher, java.util.Map.of("PATH", jdk + "/bin:/usr/bin:/bin", "JAVA_HOME", jdk,
                "FANOTIFYD_JAVA_HOME", jdk), "--version");
        assertEquals(0, r.exit(), r.stderr());
        assertTrue(r.stdout().startsWith("bundled runtime: "), "a JDK ran instead: " + r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("-XX:AOTCache=" + lib + "/app.aot"), "the cache next to it: " + r.stdout());
        assertTrue(r.stdout().contains("-cp " + lib + "/app.jar io.fanotifyd.daemon.Main --version"), r.stdout());
    }

    @Test
    void aCheckoutUsesItsBuildJdkBeforePathButNotBeforeJavaHome(@TempDir Path dir) throws Exception {
        // The checkout's launcher with its build JDK replaced by a fake JDK 25 whose java says it ran; a real
        // JDK 25 is on PATH. Without JAVA_HOME the build JDK runs (PATH is not even looked at); with JAVA_HOME
        // set to a JDK 25, that one does.
        Path fake = dir.resolve("jdk");
        Files.createDirectories(fake.resolve("bin"));
        Files.writeString(fake.resolve("release"), "IMPLEMENTOR=\"test\"\nJAVA_VERSION=\"25.0.1\"\n");
        Files.writeString(fake.resolve("bin/java"), "#!/bin/sh\necho \"build jdk: $*\"\n");
        Files.setPosixFilePermissions(fake.resolve("bin/java"), PosixFilePermissions.fromString("rwxr-xr-x"));
        String text = Files.readString(KernelSupport.launcher());
        String moved = text.replaceFirst("(?m)^fanotifyd_built_with='[^']*'$", "fanotifyd_built_with='" + fake + "'");
        assertTrue(!moved.equals(text), "no fanotifyd_built_with='...' line in the launcher");
        Path launcher = dir.resolve("fanotifyd");
        Files.writeString(launcher, moved);
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        String jdk = System.getProperty("java.home");

        Daemon.Finished built = launch(launcher, java.util.Map.of("PATH", jdk + "/bin:/usr/bin:/bin"), "--version");
        assertEquals(0, built.exit(), built.stderr());
        assertTrue(built.stdout().startsWith("build jdk: "), "another JDK ran: " + built.stdout() + built.stderr());

        Daemon.Finished home = launch(launcher, java.util.Map.of("PATH", "/usr/bin:/bin", "JAVA_HOME", jdk),
                "--version");
        assertEquals(0, home.exit(), home.stderr());
        assertTrue(home.stdout().startsWith("fanotifyd "), "JAVA_HOME's JDK did not run: " + home.stdout());
    }
}
