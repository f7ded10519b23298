package io.fanotifyd.it;

import static io.fanotifyd.it.FileEventsIT.has;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Daemon mode, the pid file and its lock, and a clean SIGTERM. */
@Tag("kernel")
class LifecycleIT {
    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    static long readPid(Path pidFile) throws IOException {
        return Long.parseLong(Files.readString(pidFile).trim());
    }

    static String statField(long pid, int index) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String afterComm = stat.substring(stat.lastIndexOf(')') + 2);
        return afterComm.split(" ")[index - 3];
    }

    static void awaitExit(long pid, int seconds) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            Daemon.sleep(20);
        }
        if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            throw new AssertionError("daemon " + pid + " still running " + seconds + " s after SIGTERM");
        }
    }

    @Test
    void daemonModeDetachesAfterMarksAndStopsCleanlyOnSigterm() throws Exception {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path work = Files.createDirectory(m.outside("work"));
            // Relative paths must be resolved before the daemon changes to "/".
            Daemon.Finished r = Daemon.runToEnd(List.of(), work, 60, "--watch", "../mnt/d", "-o", "out.jsonl",
                    "--pid-file", "daemon.pid");
            assertEquals(0, r.exit(), "daemon start: " + r.stderr());
            Path pidFile = work.resolve("daemon.pid");
            long pid = readPid(pidFile);
            try {
                // Back at the shell only once the marks are in place: no waiting needed here.
                assertTrue(Daemon.countMarks(pid) >= 1, "marks placed when the command returned");
                assertEquals(Long.toString(pid), statField(pid, 6), "session leader (setsid)");
                assertEquals("0", statField(pid, 7), "no controlling terminal");
                assertEquals("/", Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")).toString());

                Daemon.Finished second = Daemon.runToEnd(List.of(), work, 60, "--watch", dir.toString(), "-o",
                        "other.jsonl", "--pid-file",
                        "daemon.pid");
                assertEquals(1, second.exit(), "second instance on the same pid file must refuse");
                assertTrue(second.stderr().contains("locked") && second.stderr().contains(Long.toString(pid)),
                        second.stderr());
                assertEquals(pid, readPid(pidFile), "the first daemon's pid file is untouched");

                Shell.run("echo x > " + dir + "/last-before-term");
                Daemon.sleep(200);
                TestMount.run("kill", "-TERM", Long.toString(pid));
                awaitExit(pid, 20);
            } finally {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            assertFalse(Files.exists(pidFile), "pid file removed on exit");
            List<JsonNode> rs = Daemon.parse(work.resolve("out.jsonl"));
            assertTrue(rs.stream().anyMatch(x -> has(x, "CLOSE_WRITE") && x.path("path").asText()
                    .endsWith("/last-before-term")), "flushed on SIGTERM: " + rs);
            String real = dir.toRealPath().toString();
            assertTrue(rs.stream().allMatch(x -> x.path("path").asText().startsWith(real)), "paths: " + rs);
        }
    }

    @Test
    void foregroundSigtermAndSigintFlushAndExitZero() throws IOException {
        for (String signal : List.of("TERM", "INT")) {
            try (TestMount m = TestMount.tmpfs()) {
                Path dir = Files.createDirectory(m.root().resolve("d"));
                Path pidFile = m.outside("fg.pid");
                try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString(), "--pid-file",
                        pidFile.toString())) {
                    assertEquals(d.pid(), readPid(pidFile));
                    Shell.run("echo x > " + dir + "/f");
                    Daemon.sleep(100);
                    TestMount.run("kill", "-" + signal, Long.toString(d.pid()));
                    try {
                        assertTrue(d.process().waitFor(20, TimeUnit.SECONDS), "exit after SIG" + signal);
                    } catch (InterruptedException e) {
                        throw new IOException(e);
                    }
                    assertEquals(0, d.process().exitValue(), "exit code after SIG" + signal + ": " + d.stderr());
                    assertFalse(Files.exists(pidFile), "pid file removed after SIG" + signal);
                    assertTrue(d.records().stream().anyMatch(x -> has(x, "CLOSE_WRITE")), "flushed: " + d.records());
                }
            }
        }
    }

    @Test
    void staleUnlockedPidFileIsTakenOver() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path pidFile = m.outside("stale.pid");
            Files.writeString(pidFile, "999999\n");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString(), "--pid-file",
                    pidFile.toString())) {
                assertEquals(d.pid(), readPid(pidFile));
                assertNotEquals(999999, readPid(pidFile));
            }
        }
    }

    @Test
    void theLauncherExecsSoThePidIsTheDaemons() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString())) {
                String exe = Files.readSymbolicLink(Path.of("/proc/" + d.pid() + "/exe")).toString();
                assertTrue(exe.endsWith("/bin/java"), "the started pid is the JVM itself: " + exe);
                assertFalse(d.stderr().contains("WARNING"), "no native-access warning: " + d.stderr());
            }
        }
    }
}
