package io.fanotifyd.it;

import static io.fanotifyd.it.FileEventsIT.has;
import static io.fanotifyd.it.PermissionIT.ACCESS_BOUND_S;
import static io.fanotifyd.it.PermissionIT.PERM_MOUNT_MARKS;
import static io.fanotifyd.it.PermissionIT.permOpen;
import static io.fanotifyd.it.StartupErrorsIT.assertOneLineError;
import static io.fanotifyd.it.StartupErrorsIT.launch;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;

import io.fanotifyd.it.PermissionIT.Child;
import io.fanotifyd.it.PermissionIT.Result;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code --batch-delay-us} and {@code --perm-spin-us} against the real kernel, on a tmpfs of each test's own
 * ({@link TestMount}: unmounted in its close, also after a failure); the daemon is started and stopped by its
 * own pid ({@link Daemon}: SIGKILLed in its close if still running).
 *
 * <p>Timing evidence comes from the records' {@code ts_ms}, which is the wall time of the read that brought
 * the event (one value per read), not from when the test happened to look at the output.
 *
 * <p>As in PermissionIT, the test JVM never opens anything on a permission-marked mount while a daemon runs:
 * every such access is a child process with a bounded wait, killed by its own pid when the bound passes.
 */
@Tag("kernel")
class LatencyOptionsIT {
    /** {@code --watch DIR} in observe mode: one inode mark. */
    static final int WATCH_MARKS = 1;

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    // ------------------------------------------------------------------------------------------------------
    // 1. --batch-delay-us in observe mode: nothing lost, each event recorded once, held events read

    @Test
    void batchDelayLosesNothingAndRecordsEachEventOnce() throws IOException {
        int delayMs = 300;
        int rounds = 5;
        int perRound = 60;
        int n = rounds * perRound;
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d")).toRealPath();
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), WATCH_MARKS, "--watch", dir.toString(),
                    "--batch-delay-us", Integer.toString(delayMs * 1000))) {
                // Observe mode: the test JVM may touch the watched directory itself. The burst is spread over
                // about a second, so that events keep arriving while the notification queue is held.
                long burstStart = System.nanoTime();
                for (int r = 0; r < rounds; r++) {
                    for (int k = 0; k < perRound; k++) {
                        int i = r * perRound + k;
                        Path a = dir.resolve("a" + i);
                        Files.writeString(a, "content " + i + "\n"); // CREATE, OPEN, MODIFY, CLOSE_WRITE
                        Path b = Files.move(a, dir.resolve("b" + i)); // MOVED_FROM, MOVED_TO, RENAME
                        Files.delete(b); // DELETE
                    }
                    Daemon.sleep(150);
                }
                long burstEnd = System.nanoTime();

                // Every record within a bounded wait: the reader comes back after each hold by itself.
                List<JsonNode> rs = awaitRecords(d, list -> count(list, "DELETE", dir, "b") >= n,
                        n + " DELETE records", 10);
                assertEquals(0, d.stop(), d.stderr());
                rs = d.records();

                // Exactly one record per file and event (the kernel may merge a file's events into one
                // record, e.g. CREATE,MOVED_FROM of a<i> by this pid: each event is still in exactly one).
                assertExactlyOnce(rs, "CREATE", dir, "a", n);
                assertExactlyOnce(rs, "MOVED_FROM", dir, "a", n);
                assertExactlyOnce(rs, "MOVED_TO", dir, "b", n);
                assertExactlyOnce(rs, "DELETE", dir, "b", n);
                assertEquals(n, rs.stream().filter(r -> has(r, "RENAME")).count(), "RENAME records");
                assertTrue(rs.stream().allMatch(r -> "event".equals(r.path("type").asText())),
                        "no overflow or other records: " + rs.stream().filter(r -> !"event".equals(
                                r.path("type").asText())).toList());

                // One ts_ms per read: how the burst was batched is printed, not asserted (that is timing; the
                // batching's effect is measured by the benchmarks, docs/PERFORMANCE.md).
                TreeSet<Long> reads = new TreeSet<>();
                rs.forEach(r -> reads.add(r.get("ts_ms").asLong()));
                List<Long> ts = new ArrayList<>(reads);
                System.out.println("batch delay " + delayMs + " ms: " + rs.size() + " records of " + n
                        + " file lifecycles in " + ts.size() + " reads over a " + (burstEnd - burstStart) / 1_000_000
                        + " ms burst; read times (ms after the first): " + ts.stream().map(t -> t - ts.get(0)).toList());
            }
        }
    }

    /**
     * The hold, seen from one event: an event made right after a read waits in the kernel queue, and the reader
     * comes back for it when the hold ends, with no other event to wake it. (How long it waits is timing,
     * measured by the benchmarks, not asserted here.) A SIGTERM during a hold: see the next test.
     */
    @Test
    void eventsMadeDuringAHoldAreReadWhenItEndsWithoutAnotherEvent() throws IOException {
        int delayMs = 400;
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d")).toRealPath();
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), WATCH_MARKS, "--watch", dir.toString(),
                    "--batch-delay-us", Integer.toString(delayMs * 1000))) {
                for (int i = 0; i < 5; i++) {
                    Path a = Files.createDirectory(dir.resolve("first" + i));
                    d.await(r -> has(r, "CREATE") && a.toString().equals(r.path("path").asText()), "CREATE " + a, 10);
                    // Made right after the read of the first: most likely inside its hold, and the last event.
                    Path b = Files.createDirectory(dir.resolve("second" + i));
                    d.await(r -> has(r, "CREATE") && b.toString().equals(r.path("path").asText()), "CREATE " + b, 10);
                }
                assertEquals(0, d.stop(), d.stderr());
                List<JsonNode> rs = d.records();
                for (int i = 0; i < 5; i++) {
                    for (String name : List.of("first" + i, "second" + i)) {
                        String path = dir.resolve(name).toString();
                        assertEquals(1, rs.stream().filter(r -> has(r, "CREATE") && path.equals(r.path("path").asText()))
                                .count(), "CREATE records of " + path);
                    }
                }
            }
        }
    }

    /**
     * Events queued during a hold when SIGTERM comes: a clean stop should still record them (the daemon's
     * other paths flush everything on SIGTERM, see LifecycleIT), else a SIGTERM silently loses up to the batch
     * delay's worth of events.
     */
    @Test
    void eventsQueuedDuringAHoldAreRecordedOnSigterm() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d")).toRealPath();
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), WATCH_MARKS, "--watch", dir.toString(),
                    "--batch-delay-us", "1000000")) {
                Path a = Files.createDirectory(dir.resolve("a"));
                d.await(r -> has(r, "CREATE") && a.toString().equals(r.path("path").asText()), "CREATE a", 10);
                // The kernel queues the event before mkdir returns; the read of a started a 1 s hold.
                Path b = Files.createDirectory(dir.resolve("during-the-hold"));
                assertEquals(0, d.stop(), d.stderr()); // exits 0: the stop does not wait for the hold to run out
                assertTrue(d.records().stream().anyMatch(r -> has(r, "CREATE")
                        && b.toString().equals(r.path("path").asText())), "CREATE made right before SIGTERM, during"
                        + " a 1 s hold, is missing: " + d.records());
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 2. --batch-delay-us in permission mode: permission events are not held back

    /**
     * Permission events are read by a thread of their own, never held by the notification group's batch delay:
     * a process that creates a file (its CREATE read starts a 1 s hold) and then opens another gets both opens
     * answered and recorded allowed, and its CREATE is recorded too. A held open would still be answered
     * within the bounded wait; that it is not held is the design (DESIGN.md, Threads), its latency the
     * benchmarks' (docs/PERFORMANCE.md).
     */
    @Test
    void permissionEventsAreAnsweredDuringAHold() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path f = Files.writeString(root.resolve("f.txt"), "content\n");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PermissionIT.PERM_FS_MARKS, "--perm", "--filesystem",
                    root.toString(), "--batch-delay-us", "1000000")) {
                for (int i = 0; i < 3; i++) {
                    // Notification activity: its read starts a one-second hold of the notification group.
                    String n0 = root + "/n0-" + i;
                    Result maker = Child.run("echo a > " + n0, ACCESS_BOUND_S);
                    assertEquals(0, maker.code(), maker.toString());
                    d.await(r -> has(r, "CREATE") && n0.equals(r.path("path").asText()), "CREATE " + n0, 10);
                    // A new notification event (held) and then an open: one child, one pid.
                    String n1 = root + "/n1-" + i;
                    Result opener = Child.run("echo b > " + n1 + "; exec cat " + f, ACCESS_BOUND_S);
                    assertEquals(0, opener.code(), opener.toString());
                    assertEquals("content\n", opener.stdout());
                    JsonNode open = d.await(r -> permOpen(r, f.toString(), opener.pid()), "OPEN_PERM of f by "
                            + opener.pid(), 10);
                    assertEquals("allow", open.get("decision").asText(), open.toString());
                    JsonNode writeOpen = d.await(r -> permOpen(r, n1, opener.pid()), "OPEN_PERM of " + n1, 10);
                    assertEquals("allow", writeOpen.get("decision").asText(), writeOpen.toString());
                    d.await(r -> has(r, "CREATE") && n1.equals(r.path("path").asText()), "CREATE " + n1, 10);
                }
                assertEquals(0, d.stop(), d.stderr());
                for (JsonNode r : d.records()) {
                    boolean perm = has(r, "OPEN_PERM") || has(r, "OPEN_EXEC_PERM") || has(r, "ACCESS_PERM");
                    assertEquals(perm ? "allow" : "observe", r.path("decision").asText(), r.toString());
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 3. --perm-spin-us: opens answered and recorded either way; a spin ends in a blocking read; SIGTERM stops it

    @ParameterizedTest
    @ValueSource(ints = {0, 1_000_000})
    void opensAreAnsweredWithAnySpinAndASpinEndsInABlockingRead(int spinUs) throws IOException, InterruptedException {
        int opens = 200;
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path f = Files.writeString(root.resolve("f.txt"), "content\n");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PERM_MOUNT_MARKS, "--perm", "--mount",
                    root.toString(), "--perm-spin-us", Integer.toString(spinUs))) {
                // The builtin read opens in the shell itself: 200 permission events from one pid.
                Result reader = Child.run("i=0; while [ $i -lt " + opens + " ]; do read x < " + f + " || exit 3;"
                        + " i=$((i+1)); done", 60);
                assertEquals(0, reader.code(), reader.toString());
                System.out.println("spin " + spinUs + " us: " + opens + " opens in " + reader.ms() + " ms");
                List<JsonNode> rs = awaitRecords(d, l -> l.stream().filter(r -> permOpen(r, f.toString(),
                        reader.pid())).count() >= opens, opens + " OPEN_PERM records", 10);
                List<JsonNode> mine = rs.stream().filter(r -> permOpen(r, f.toString(), reader.pid())).toList();
                assertEquals(opens, mine.size(), "OPEN_PERM records of the reader");
                assertTrue(mine.stream().allMatch(r -> "allow".equals(r.get("decision").asText())),
                        "decisions: " + mine.stream().filter(r -> !"allow".equals(r.get("decision").asText())).toList());
                assertEquals(opens, mine.stream().map(r -> r.get("seq").asLong()).distinct().count(), "distinct seq");

                // After an open, a spinning permission thread keeps running (asking the kernel for the next event)
                // for the spin, then blocks in read() again; without a spin it blocks at once. Seen in the thread's
                // state, not in timings or CPU ticks: those are the benchmarks'.
                long tid = Daemon.threadId(d.pid(), "fanotifyd-perm");
                long opened = System.nanoTime();
                Result one = Child.run("exec cat " + f, ACCESS_BOUND_S);
                assertEquals(0, one.code(), one.toString());
                if (spinUs > 0) {
                    // Looked at for a fifth of the spin, once the opener is gone (the spin started at its open).
                    String states = Daemon.notSeenRunning(d.pid(), tid, spinUs / 5000);
                    assertNull(states, "with --perm-spin-us " + spinUs + " the permission thread was not seen"
                            + " running after an open (states seen: " + states + ", looked until "
                            + (System.nanoTime() - opened) / 1_000_000 + " ms after the open began): not spinning");
                }
                Daemon.awaitBlockedInFanotifyRead(d.pid(), tid, 20);

                // SIGTERM right after an open: with a 1 s spin the thread is spinning when it comes.
                Result last = Child.run("exec cat " + f, ACCESS_BOUND_S);
                assertEquals(0, last.code(), last.toString());
                d.process().toHandle().destroy(); // SIGTERM to this pid only
                assertTrue(d.process().waitFor(20, TimeUnit.SECONDS), "fanotifyd (spin " + spinUs + " us) still"
                        + " running 20 s after SIGTERM; stderr: " + d.stderr());
                assertEquals(0, d.process().exitValue(), d.stderr());
                List<JsonNode> after = d.records();
                assertTrue(after.stream().anyMatch(r -> permOpen(r, f.toString(), last.pid())
                        && "allow".equals(r.get("decision").asText())), "the open right before SIGTERM is recorded");
                assertTrue(after.stream().anyMatch(r -> permOpen(r, f.toString(), one.pid())), "the single open");
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 4. values out of range are usage errors: exit 2, one line naming the option

    @ParameterizedTest
    @ValueSource(strings = {"--perm-spin-us=2000000", "--perm-spin-us=-1", "--batch-delay-us=1000001",
            "--batch-delay-us=-5", "--batch-delay-us=soon"})
    void outOfRangeValuesAreUsageErrors(String arg) throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path out = m.outside("out.jsonl");
            String flag = arg.substring(0, arg.indexOf('='));
            String value = arg.substring(arg.indexOf('=') + 1);
            // As two arguments too: "--flag VALUE".
            for (List<String> form : List.of(List.of(arg), List.of(flag, value))) {
                List<String> args = new ArrayList<>(List.of("--foreground", "-o", out.toString(), "--perm",
                        "--mount", dir.toString()));
                args.addAll(form);
                // The launcher's stdout and stderr go to files next to the mount (removed with it).
                Daemon.Finished r = launch(List.of(), null, args.toArray(String[]::new));
                assertOneLineError(r, 2, flag + ":", "'" + value + "'");
                if (!value.equals("soon")) {
                    assertTrue(r.stderr().contains("out of range") && r.stderr().contains("(0..1000000)"), r.toString());
                }
                assertFalse(Files.exists(out), "output created by a refused start: " + r);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"perm_spin_us 2000000", "batch_delay_us 1000001"})
    void outOfRangeConfigValuesAreUsageErrorsWithFileAndLine(String line) throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path cfg = m.outside("bad.conf");
            Files.writeString(cfg, "# latency options\nwatch " + dir + "\n" + line + "\n");
            Path out = m.outside("out.jsonl");
            Daemon.Finished r = launch(List.of(), null, "--foreground", "-o",
                    out.toString(), "-c", cfg.toString());
            assertOneLineError(r, 2, cfg + ":3:", line.substring(0, line.indexOf(' ')), "out of range");
            assertFalse(Files.exists(out), "output created by a refused start: " + r);
        }
    }

    /** The boundary values are accepted (from the config file too) and the daemon runs with them. */
    @Test
    void boundaryValuesFromTheConfigFileAreAccepted() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path f = Files.writeString(root.resolve("f.txt"), "content\n");
            Path cfg = m.outside("ok.conf");
            Files.writeString(cfg, "perm 1\nmount " + root + "\nbatch_delay_us 1000000\nperm_spin_us 0\n");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PERM_MOUNT_MARKS, "-c", cfg.toString())) {
                Result cat = Child.run("exec cat " + f, ACCESS_BOUND_S);
                assertEquals(0, cat.code(), cat.toString());
                JsonNode open = d.await(r -> permOpen(r, f.toString(), cat.pid()), "OPEN_PERM by cat", 10);
                assertEquals("allow", open.get("decision").asText());
                assertEquals(0, d.stop(), d.stderr());
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // Helpers

    /** Records with {@code event} whose path is DIR/PREFIX followed by digits. */
    static long count(List<JsonNode> rs, String event, Path dir, String prefix) {
        String start = dir + "/" + prefix;
        return rs.stream().filter(r -> has(r, event) && r.path("path").asText().startsWith(start)
                && r.path("path").asText().substring(start.length()).matches("[0-9]+")).count();
    }

    /** One record with {@code event} for each of DIR/PREFIX0 .. DIR/PREFIX(n-1), and no other such record. */
    static void assertExactlyOnce(List<JsonNode> rs, String event, Path dir, String prefix, int n) {
        Set<String> want = new HashSet<>();
        for (int i = 0; i < n; i++) {
            want.add(dir + "/" + prefix + i);
        }
        Set<String> seen = new HashSet<>();
        List<String> dup = new ArrayList<>();
        for (JsonNode r : rs) {
            String p = r.path("path").asText();
            if (has(r, event) && want.contains(p) && !seen.add(p)) {
                dup.add(p);
            }
        }
        assertEquals(List.of(), dup, event + " recorded twice for");
        Set<String> missing = new TreeSet<>(want);
        missing.removeAll(seen);
        assertEquals(Set.of(), missing, event + " records missing (" + missing.size() + " of " + n + ")");
        assertEquals(n, count(rs, event, dir, prefix), event + " records under " + dir + "/" + prefix);
    }

    /** Waits (at most {@code seconds}) until the records so far satisfy {@code done}; returns them. */
    static List<JsonNode> awaitRecords(Daemon d, Predicate<List<JsonNode>> done, String what, int seconds)
            throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<JsonNode> rs = d.records();
        while (!done.test(rs)) {
            if (System.nanoTime() > deadline) {
                fail("no " + what + " within " + seconds + " s: " + rs.size() + " records; stderr: " + d.stderr());
            }
            Daemon.sleep(20);
            rs = d.records();
        }
        return rs;
    }
}
