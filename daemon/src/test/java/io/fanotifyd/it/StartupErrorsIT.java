package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The launcher's exit codes and messages when it cannot start: usage errors exit 2, start-up failures exit 1,
 * each with one line on stderr and never a Java stack trace; --help and --version exit 0. Nothing here marks
 * anything but a test's own tmpfs: the paths given to --watch/--mount are either on such a tmpfs or do not
 * exist (a unique /nonexistent-... path).
 */
@Tag("kernel")
class StartupErrorsIT {
    /** JVM start-up plus a failed start; generous, but bounded. */
    private static final int TIMEOUT_S = 60;
    private static final String SETPRIV = "/usr/bin/setpriv";
    private static Path scratch;

    @BeforeAll
    static void kernel() throws IOException {
        KernelSupport.requireKernel();
        scratch = Files.createTempDirectory("fanotifyd-it-startup.");
    }

    @AfterAll
    static void cleanUp() throws IOException {
        if (scratch != null) {
            TestMount.run("rm", "-rf", "--one-file-system", scratch.toString());
        }
    }

    /** A path that does not exist and that no other run uses, so it can be looked for in /proc/PID/cmdline. */
    static String nonexistent(String leaf) {
        return "/nonexistent-fanotifyd-it-" + ProcessHandle.current().pid() + "-" + System.nanoTime() + "/" + leaf;
    }

    static Daemon.Finished launch(String... args) throws IOException {
        return launch(List.of(), null, args);
    }

    /** {@code prefix... launcher args...} in {@code cwd} (null: here), run to its end within the bound. */
    static Daemon.Finished launch(List<String> prefix, Path cwd, String... args) throws IOException {
        return Daemon.runToEnd(prefix, cwd, TIMEOUT_S, args);
    }

    static void assertNoStackTrace(Daemon.Finished r) {
        for (String line : r.stderrLines()) {
            assertFalse(line.startsWith("\tat ") || line.contains("Exception in thread")
                    || line.matches("^\\s+at [\\w.$]+\\(.*"), "stack trace in stderr of " + r);
        }
    }

    /** Exit code, exactly one stderr line containing every one of {@code needles}, nothing on stdout. */
    static void assertOneLineError(Daemon.Finished r, int exit, String... needles) {
        assertEquals(exit, r.exit(), "exit code of " + r);
        assertNoStackTrace(r);
        assertEquals(1, r.stderrLines().size(), "stderr lines of " + r);
        for (String n : needles) {
            assertTrue(r.stderr().contains(n), "stderr lacks '" + n + "': " + r);
        }
        assertEquals("", r.stdout(), "stdout of " + r);
    }

    // ---- usage errors: exit 2 -------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"--no-such-flag", "-Q", "--watchh", "--Watch"})
    void unknownFlagExits2NamingIt(String flag) throws IOException {
        Daemon.Finished r = launch("--foreground", flag, "/nonexistent-never-used");
        assertOneLineError(r, 2, "'" + flag + "'");
    }

    @Test
    void badConfigLineExits2WithFileAndLine() throws IOException {
        Path cfg = scratch.resolve("bad-key.conf");
        Files.writeString(cfg, "# a comment\n\nverbose 1\nfrobnicate yes\nwatch " + nonexistent("d") + "\n");
        Daemon.Finished r = launch("--foreground", "-c", cfg.toString());
        assertOneLineError(r, 2, cfg + ":4:", "frobnicate");
    }

    @Test
    void badConfigValueExits2WithFileAndLine() throws IOException {
        Path cfg = scratch.resolve("bad-value.conf");
        Files.writeString(cfg, "queue_size banana\n");
        Daemon.Finished r = launch("--foreground", "--config", cfg.toString());
        assertOneLineError(r, 2, cfg + ":1:", "queue_size");
    }

    @Test
    void noMarksExits2() throws IOException {
        Daemon.Finished r = launch("--foreground", "-o", scratch.resolve("never.jsonl").toString());
        assertOneLineError(r, 2, "nothing to watch");
        assertFalse(Files.exists(scratch.resolve("never.jsonl")), "output created without marks");
    }

    @Test
    void fdModeRefusesCreateExit2() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Daemon.Finished r = launch("--foreground", "-o", m.outside("out.jsonl").toString(), "--no-fid", "--events",
                    "create", "--watch", dir.toString());
            assertOneLineError(r, 2, "create", "FID mode", "--no-fid");
        }
    }

    // ---- start-up failures: exit 1 ---------------------------------------------------------------------

    @Test
    void watchOfAMissingDirectoryExits1WithOneLine() throws IOException {
        String missing = nonexistent("dir");
        Daemon.Finished r = launch("--foreground", "-o", scratch.resolve("w.jsonl").toString(), "--watch", missing);
        assertOneLineError(r, 1, "--watch", missing, "No such file or directory");
    }

    @Test
    void watchOfAMissingDirectoryWithANewlineInItsNameStaysOneLine() throws IOException {
        String missing = nonexistent("two\nlines");
        Daemon.Finished r = launch("--foreground", "-o", scratch.resolve("w2.jsonl").toString(), "--watch", missing);
        assertOneLineError(r, 1, "--watch", missing.substring(0, missing.indexOf('\n')), "No such file or directory");
    }

    @Test
    void watchOfAMissingFileInAnExistingDirectoryExits1() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String missing = m.root().resolve("not-there").toString();
            Daemon.Finished r = launch("--foreground", "-o", m.outside("out.jsonl").toString(), "--watch", missing);
            assertOneLineError(r, 1, "--watch", missing, "No such file or directory");
        }
    }

    @Test
    void mountOfAMissingPathExits1WithOneLine() throws IOException {
        String missing = nonexistent("dir");
        Daemon.Finished r = launch("--foreground", "-o", scratch.resolve("m.jsonl").toString(), "--mount", missing);
        assertOneLineError(r, 1, "--mount", missing, "No such file or directory");
    }

    @Test
    void filesystemOfAMissingPathExits1WithOneLine() throws IOException {
        String missing = nonexistent("dir");
        Daemon.Finished r = launch("--foreground", "-o", scratch.resolve("f.jsonl").toString(), "--filesystem", missing);
        assertOneLineError(r, 1, "--filesystem", missing, "No such file or directory");
    }

    @Test
    void outputInAMissingDirectoryExits1NamingOutput() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            String out = nonexistent("out.jsonl");
            Daemon.Finished r = launch("--foreground", "-o", out, "--watch", dir.toString());
            assertOneLineError(r, 1, "--output", out, "No such file or directory");
        }
    }

    // ---- --help and --version --------------------------------------------------------------------------

    @Test
    void helpExits0AndListsEveryFlagOfTheSpec() throws IOException {
        Daemon.Finished r = launch("--help");
        assertEquals(0, r.exit(), "exit code of " + r);
        assertEquals("", r.stderr(), "stderr of --help");
        String help = r.stdout();
        List<String[]> pairs = List.of(new String[] {"-c", "--config"}, new String[] {"-w", "--watch"},
                new String[] {"-o", "--output"}, new String[] {"-f", "--foreground"},
                new String[] {"-v", "--verbose"}, new String[] {"-h", "--help"});
        for (String[] p : pairs) {
            assertTrue(Pattern.compile("(?m)^\\s*" + p[0] + ", " + p[1] + "(?![\\w-])").matcher(help).find(),
                    p[0] + ", " + p[1] + " not listed:\n" + help);
        }
        for (String flag : List.of("--mount", "--filesystem", "--canary", "--socket", "--hook", "--pid-file",
                "--burst-threshold", "--burst-window-ms", "--hook-cooldown-ms", "--perm", "--deny-on-alert",
                "--no-fid", "--version")) {
            // As a word of its own: "--hook" inside "--hook-cooldown-ms" does not count.
            assertTrue(Pattern.compile("(?<![\\w-])" + Pattern.quote(flag) + "(?![\\w-])").matcher(help).find(),
                    flag + " not listed:\n" + help);
        }
        Daemon.Finished shortForm = launch("-h");
        assertEquals(0, shortForm.exit(), "exit code of " + shortForm);
        assertEquals(help, shortForm.stdout(), "-h vs --help");
    }

    @Test
    void versionExits0() throws IOException {
        Daemon.Finished r = launch("--version");
        assertEquals(0, r.exit(), "exit code of " + r);
        assertTrue(r.stdout().matches("fanotifyd [0-9]+(\\.[0-9]+)*\\S*\n"), "version line: " + r);
        assertEquals("", r.stderr(), "stderr of --version");
    }

    // ---- EPERM -----------------------------------------------------------------------------------------

    @Test
    void unprivilegedUserGetsTheCapabilityHint() throws IOException {
        Assumptions.assumeTrue(Files.isExecutable(Path.of(SETPRIV)), "no " + SETPRIV + " (util-linux)");
        List<String> nobody = List.of(SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=-all");
        try (TestMount m = TestMount.tmpfs()) {
            // The test's own temporary directory is 0700; let uid 65534 through to the tmpfs (mode 1777).
            Files.setPosixFilePermissions(m.root().getParent(), PosixFilePermissions.fromString("rwxr-xr-x"));
            Path dir = Files.createDirectory(m.root().resolve("d"));
            // First: can uid 65534 run the launcher at all (JDK and jars readable)?
            Daemon.Finished version = launch(nobody, m.root(), "--version");
            assertEquals(0, version.exit(), "uid 65534 cannot run the launcher (JDK or jars not readable?): "
                    + version);
            Daemon.Finished r = launch(nobody, m.root(), "--foreground", "-o", m.root().resolve("out.jsonl").toString(),
                    "--watch", dir.toString());
            assertOneLineError(r, 1, "fanotify needs root or CAP_SYS_ADMIN", "Operation not permitted");
        }
    }

    @Test
    void anUnreadableConfigFileIsAUsageErrorNamingIt() throws IOException {
        // Root reads any file whatever its mode, so this runs as uid 65534 (the unit tests run as root in CI).
        Assumptions.assumeTrue(Files.isExecutable(Path.of(SETPRIV)), "no " + SETPRIV + " (util-linux)");
        List<String> nobody = List.of(SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=-all");
        try (TestMount m = TestMount.tmpfs()) {
            Files.setPosixFilePermissions(m.root().getParent(), PosixFilePermissions.fromString("rwxr-xr-x"));
            Path conf = m.root().resolve("secret.conf");
            Files.writeString(conf, "watch /tmp\n");
            Files.setPosixFilePermissions(conf, PosixFilePermissions.fromString("---------"));
            Daemon.Finished r = launch(nobody, m.root(), "-c", conf.toString(), "--foreground");
            assertOneLineError(r, 2, conf + ": cannot read: Permission denied (EACCES)");
        }
    }

    // ---- daemon mode -----------------------------------------------------------------------------------

    @Test
    void daemonModeStartupFailureExits1WithTheReasonAndLeavesNoProcess() throws IOException {
        String missing = nonexistent("dir");
        Path out = scratch.resolve("daemon.jsonl");
        Daemon.Finished r = launch("-o", out.toString(), "--watch", missing);
        try {
            assertOneLineError(r, 1, "--watch", missing, "No such file or directory");
        } finally {
            assertNoProcessMentions(missing);
        }
    }

    @Test
    void daemonModePassesOnTheUsageErrorOfTheDaemonCopy() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Daemon.Finished r = launch("-o", m.outside("out.jsonl").toString(), "--no-fid", "--events", "create", "--watch",
                    dir.toString());
            try {
                assertOneLineError(r, 2, "create", "FID mode");
            } finally {
                assertNoProcessMentions(dir.toString());
            }
        }
    }

    /**
     * After 2 s, no process has {@code token} in its command line. One that does was started by this test (the
     * token is unique): it is killed by its pid and the test fails.
     */
    static void assertNoProcessMentions(String token) throws IOException {
        Daemon.sleep(2000);
        byte[] needle = token.getBytes(StandardCharsets.UTF_8);
        List<String> left = new ArrayList<>();
        try (var procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path p : procs) {
                byte[] cmdline;
                try {
                    cmdline = Files.readAllBytes(p.resolve("cmdline"));
                } catch (IOException e) {
                    continue; // exited meanwhile
                }
                if (indexOf(cmdline, needle) >= 0) {
                    long pid = Long.parseLong(p.getFileName().toString());
                    left.add(pid + ": " + new String(cmdline, StandardCharsets.UTF_8).replace('\0', ' '));
                    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
        }
        assertTrue(left.isEmpty(), "processes left running (now killed): " + left);
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
