package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Conditions that used to leave the daemon blind, hung or flooding its log without a word: a reduced
 * capability set, a FIFO given as the config file, a huge path in an error, and a flood of identical warnings.
 */
@Tag("kernel")
class BlindnessIT {
    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    @Test
    void withoutCapDacReadSearchTheDaemonSaysPlainlyThatFidPathsAndCanariesWillNotWork() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            // Root with a reduced set: the capability out of the bounding and inheritable sets before the exec.
            List<String> drop = List.of("setpriv", "--bounding-set", "-dac_read_search", "--inh-caps",
                    "-dac_read_search");
            try (Daemon d = Daemon.start(drop, ProcessBuilder.Redirect.DISCARD, m.outside("out.jsonl"), 1,
                    "--mount", root.toString(), "--canary", root + "/canary*")) {
                String log = d.stderr();
                assertTrue(log.contains("no CAP_DAC_READ_SEARCH: FID mode cannot turn the kernel's file handles into"
                        + " paths"), log);
                assertTrue(log.contains("canaries will not fire"), log);
                assertTrue(log.contains("use --no-fid"), log);
                assertEquals(0, d.stop(), d.stderr());
            }
            // Permission mode without it: opens are decided on the event's fd, so enforcement holds.
            java.nio.file.Path canary = Files.writeString(root.resolve("canary.key"), "secret\n");
            try (Daemon d = Daemon.start(drop, ProcessBuilder.Redirect.DISCARD, m.outside("out-perm.jsonl"),
                    PermissionIT.PERM_MOUNT_MARKS, PermissionIT.permArgs(root, "--deny-on-alert", "--canary",
                            root + "/canary*"))) {
                assertTrue(d.stderr().contains("canaries will not fire on creates, writes, renames and deletes"),
                        d.stderr());
                PermissionIT.Result cat = PermissionIT.Child.run("exec cat " + canary, PermissionIT.ACCESS_BOUND_S);
                assertTrue(cat.code() != 0 && cat.stderr().contains("Operation not permitted"), cat.toString());
                assertEquals(0, d.stop(), d.stderr());
            }
            // With every capability: no such warning.
            try (Daemon d = Daemon.start(m.outside("out2.jsonl"), 1, "--mount", root.toString())) {
                assertEquals(0, d.stop(), d.stderr());
                assertFalse(d.stderr().contains("CAP_"), d.stderr());
            }
        }
    }

    @Test
    void aFifoGivenAsTheConfigIsRefusedAtOnce() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path fifo = m.outside("config.fifo");
            TestMount.run("mkfifo", fifo.toString());
            Daemon.Finished r = Daemon.runToEnd(List.of(), null, 20, "-c", fifo.toString(), "--watch",
                    m.root().toString());
            assertEquals(2, r.exit(), r.toString());
            assertEquals(fifo + ": cannot read: not a regular file (a fifo)", r.stderr().strip().replace(
                    "fanotifyd: ", ""), r.toString());
            Daemon.Finished dev = Daemon.runToEnd(List.of(), null, 20, "-c", "/dev/zero", "--watch",
                    m.root().toString());
            assertEquals(2, dev.exit(), dev.toString());
            assertTrue(dev.stderr().contains("/dev/zero: cannot read: not a regular file (a character device)"),
                    dev.toString());
        }
    }

    @Test
    void anErrorAboutAHugePathIsCappedToOneShortLine() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path config = m.outside("big.conf");
            String huge = "/" + "a".repeat(1 << 20);
            Files.writeString(config, "watch " + huge + "\n");
            Daemon.Finished r = Daemon.runToEnd(List.of(), null, 60, "--foreground", "-c", config.toString(), "-o",
                    m.outside("out.jsonl").toString());
            assertTrue(r.exit() == 1 || r.exit() == 2, r.exit() + ": " + r.stderr().length() + " chars");
            String err = r.stderr().strip();
            assertEquals(1, err.lines().count(), "one line");
            assertTrue(err.length() <= 8300, "an error line of " + err.length() + " characters");
            assertTrue(err.matches(".*\\.\\.\\. \\(\\d+ more characters\\)$"), "says how much was cut: "
                    + err.substring(err.length() - 100));
        }
    }

    @Test
    void aFloodOfDroppedHooksIsLoggedAFewTimesWithTheExactCount() throws IOException {
        int opens = 1000;
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path dir = Files.createDirectory(root.resolve("d"));
            for (int i = 0; i < opens; i++) {
                Files.writeString(dir.resolve("canary-" + i), "x\n");
            }
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PermissionIT.PERM_MOUNT_MARKS, PermissionIT.permArgs(
                    root, "-v", "--deny-on-alert", "--canary", dir + "/canary-*", "--hook", "sleep 30",
                    "--hook-cooldown-ms", "0", "--hook-timeout-ms", "60000"))) {
                // One process opens every canary: one alert each, far more than 4 running + 256 queued hooks;
                // every open is denied all the same.
                PermissionIT.Result opener = PermissionIT.Child.run("cd " + dir + " && n=0; for f in canary-*; do"
                        + " read x < $f 2>/dev/null || n=$((n+1)); done; echo denied=$n", 120);
                assertEquals("denied=" + opens, opener.stdout().trim(), opener.toString());
                d.await(r -> "alert".equals(r.path("type").asText()) && r.path("path").asText().endsWith(
                        "/canary-999"), "the last alert", 60);
                assertEquals(0, d.stop(), d.stderr());
                String log = d.stderr();
                System.out.println("hook flood: " + log.lines().filter(l -> l.contains("hook not run")).count()
                        + " warning lines");
                Matcher first = Pattern.compile("hook not run for a canary alert \\(pid \\d+\\): too many hooks"
                        + " waiting( \\((\\d+) more like it not logged\\))?").matcher(log);
                long lines = 0;
                long counted = 0;
                while (first.find()) {
                    lines++;
                    counted += 1 + (first.group(2) == null ? 0 : Long.parseLong(first.group(2)));
                }
                Matcher rest = Pattern.compile("(\\d+) more \"hook not run\" warnings not logged").matcher(log);
                while (rest.find()) {
                    lines++;
                    counted += Long.parseLong(rest.group(1));
                }
                assertTrue(lines >= 1 && lines <= 10, lines + " warning lines:\n" + log);
                // The hook runner's own count of runs it could not queue (logged in batches).
                Matcher runner = Pattern.compile("hook: (\\d+) run\\(s\\) dropped \\(queue full\\)").matcher(log);
                long dropped = 0;
                while (runner.find()) {
                    dropped += Long.parseLong(runner.group(1));
                }
                assertTrue(dropped >= opens - 4 - 256 - 4, dropped + " dropped:\n" + log);
                assertEquals(dropped, counted, "the lines count every hook not run:\n" + log);
            }
        }
    }
}
