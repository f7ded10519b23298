package io.fanotifyd.it;

import static io.fanotifyd.it.FileEventsIT.has;
import static io.fanotifyd.it.PermissionIT.ACCESS_BOUND_S;
import static io.fanotifyd.it.PermissionIT.PERM_MOUNT_MARKS;
import static io.fanotifyd.it.PermissionIT.cpuTicks;
import static io.fanotifyd.it.PermissionIT.permOpen;
import static io.fanotifyd.it.StartupErrorsIT.assertOneLineError;
import static io.fanotifyd.it.StartupErrorsIT.launchIn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
    /** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux). */
    static final int TICKS_PER_S = 100;

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    // ------------------------------------------------------------------------------------------------------
    // 1. --batch-delay-us in observe mode: nothing lost, records in batches at least the delay apart

    @Test
    void batchDelayLosesNothingAndReadsAtMostOncePerDelay() throws IOException {
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

                // Every record within a bounded wait: the last read comes at most one delay after the burst.
                List<JsonNode> rs = awaitRecords(d, list -> count(list, "DELETE", dir, "b") >= n,
                        n + " DELETE records", 10);
                long waitedMs = (System.nanoTime() - burstEnd) / 1_000_000;
                assertTrue(waitedMs < 5000, "the last records came " + waitedMs + " ms after the burst");
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

                // One ts_ms per read. A read leaves the queue for the delay, so reads are at least that far
                // apart, and a burst of about a second spanning several delays is read in several batches.
                TreeSet<Long> reads = new TreeSet<>();
                rs.forEach(r -> reads.add(r.get("ts_ms").asLong()));
                List<Long> ts = new ArrayList<>(reads);
                long burstMs = (burstEnd - burstStart) / 1_000_000;
                System.out.println("batch delay " + delayMs + " ms: " + rs.size() + " records of " + n
                        + " file lifecycles in " + ts.size() + " reads over a " + burstMs + " ms burst; read times "
                        + "(ms after the first): " + ts.stream().map(t -> t - ts.get(0)).toList());
                for (int i = 1; i < ts.size(); i++) {
                    long gap = ts.get(i) - ts.get(i - 1);
                    // 5 ms for wall-clock rounding: the hold itself is measured on the monotonic clock.
                    assertTrue(gap >= delayMs - 5, "reads " + gap + " ms apart with a " + delayMs + " ms batch delay;"
                            + " read times " + ts);
                }
                assertTrue(ts.size() >= 2, "a " + burstMs + " ms burst read in one batch: " + ts);
                assertTrue(ts.size() <= burstMs / delayMs + 2, ts.size() + " reads for a " + burstMs
                        + " ms burst with a " + delayMs + " ms delay: " + ts);
            }
        }
    }

    /**
     * The hold, seen from one event: an event made right after a read is read one delay after that read, not
     * at once; and once a quiet spell has passed, an event is read at once again.
     */
    @Test
    void anEventRightAfterAReadWaitsForTheDelayAndOneAfterAQuietSpellDoesNot() throws IOException {
        int delayMs = 400;
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d")).toRealPath();
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), WATCH_MARKS, "--watch", dir.toString(),
                    "--batch-delay-us", Integer.toString(delayMs * 1000))) {
                boolean measured = false;
                for (int attempt = 1; attempt <= 5 && !measured; attempt++) {
                    Path a = Files.createDirectory(dir.resolve("first" + attempt));
                    JsonNode first = d.await(r -> has(r, "CREATE") && a.toString().equals(r.path("path").asText()),
                            "CREATE " + a, 10);
                    // Every record seen so far came from a read at or before the last ts_ms seen.
                    long lastRead = d.records().stream().mapToLong(r -> r.get("ts_ms").asLong()).max().orElseThrow();
                    long madeAt = System.currentTimeMillis();
                    Path b = Files.createDirectory(dir.resolve("second" + attempt));
                    if (madeAt - lastRead > delayMs / 2) {
                        // Too slow to land inside the hold (a loaded machine): no evidence either way, again.
                        System.out.println("hold: attempt " + attempt + " made its event " + (madeAt - lastRead)
                                + " ms after the read, retrying");
                        d.await(r -> has(r, "CREATE") && b.toString().equals(r.path("path").asText()), "CREATE " + b,
                                10);
                        Daemon.sleep(delayMs + 200);
                        continue;
                    }
                    JsonNode second = d.await(r -> has(r, "CREATE") && b.toString().equals(r.path("path").asText()),
                            "CREATE " + b, 10);
                    long readAt = second.get("ts_ms").asLong();
                    System.out.println("hold: event made " + (madeAt - lastRead) + " ms after a read, read "
                            + (readAt - madeAt) + " ms after it was made (" + (readAt - lastRead)
                            + " ms after the previous read); first record ts " + first.get("ts_ms").asLong());
                    assertTrue(readAt - lastRead >= delayMs - 5, "an event made " + (madeAt - lastRead) + " ms after"
                            + " a read was read " + (readAt - lastRead) + " ms after it, within the " + delayMs
                            + " ms batch delay");
                    assertTrue(readAt - lastRead < delayMs + 3000, "an event held " + (readAt - lastRead)
                            + " ms with a " + delayMs + " ms batch delay");
                    measured = true;
                }
                assertTrue(measured, "in 5 attempts the test never made an event within " + delayMs / 2
                        + " ms of a read (machine too loaded?)");

                // After a quiet spell longer than the delay, the queue is polled again: read at once.
                Daemon.sleep(delayMs + 300);
                long madeAt = System.currentTimeMillis();
                Path c = Files.createDirectory(dir.resolve("after-quiet"));
                JsonNode third = d.await(r -> has(r, "CREATE") && c.toString().equals(r.path("path").asText()),
                        "CREATE " + c, 10);
                long lag = third.get("ts_ms").asLong() - madeAt;
                assertTrue(lag < delayMs - 100, "an event after a quiet spell was read " + lag + " ms after it was"
                        + " made, as if still held (" + delayMs + " ms delay)");
                assertEquals(0, d.stop(), d.stderr());
            }
        }
    }

    /** A SIGTERM during a one-second hold: the stop eventfd stays in the poll, so the daemon stops at once. */
    @Test
    void sigtermDuringAHoldStopsPromptly() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d")).toRealPath();
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), WATCH_MARKS, "--watch", dir.toString(),
                    "--batch-delay-us", "1000000")) {
                Path a = Files.createDirectory(dir.resolve("a"));
                d.await(r -> has(r, "CREATE") && a.toString().equals(r.path("path").asText()), "CREATE a", 10);
                // The read of a started a one-second hold: stop now, well inside it.
                long t0 = System.nanoTime();
                d.process().toHandle().destroy(); // SIGTERM to this pid only
                boolean exited = d.process().waitFor(5, TimeUnit.SECONDS);
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(exited, "fanotifyd still running 5 s after SIGTERM during a 1 s hold; stderr: "
                        + d.stderr());
                System.out.println("SIGTERM during a 1 s hold: exit after " + ms + " ms");
                assertEquals(0, d.process().exitValue(), d.stderr());
                assertTrue(ms < 800, "SIGTERM during a 1 s batch-delay hold took " + ms + " ms: the stop waited"
                        + " for the hold");
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
                Path b = Files.createDirectory(dir.resolve("during-the-hold"));
                Daemon.sleep(100);
                assertEquals(0, d.stop(), d.stderr());
                assertTrue(d.records().stream().anyMatch(r -> has(r, "CREATE")
                        && b.toString().equals(r.path("path").asText())), "CREATE made 100 ms before SIGTERM, during"
                        + " a 1 s hold, is missing: " + d.records());
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 2. --batch-delay-us in permission mode: permission events are not held back

    @Test
    void permissionEventsAreAnsweredDuringAHold() throws IOException {
        int holdMs = 1000;
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path f = Files.writeString(root.resolve("f.txt"), "content\n");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PermissionIT.PERM_FS_MARKS, "--perm", "--filesystem",
                    root.toString(), "--batch-delay-us", Integer.toString(holdMs * 1000))) {
                boolean measured = false;
                for (int attempt = 1; attempt <= 3 && !measured; attempt++) {
                    // Notification activity: its read starts a one-second hold of the notification group.
                    String n0 = root + "/n0-" + attempt;
                    Result maker = Child.run("echo a > " + n0, ACCESS_BOUND_S);
                    assertEquals(0, maker.code(), maker.toString());
                    JsonNode created = d.await(r -> has(r, "CREATE") && n0.equals(r.path("path").asText()),
                            "CREATE " + n0, 10);
                    long holdFrom = d.records().stream().filter(r -> !has(r, "OPEN_PERM"))
                            .mapToLong(r -> r.get("ts_ms").asLong()).max().orElseThrow();
                    long startedAt = System.currentTimeMillis();
                    // A new notification event (held) and then an open (must not be): one child, one pid.
                    String n1 = root + "/n1-" + attempt;
                    Result opener = Child.run("echo b > " + n1 + "; exec cat " + f, ACCESS_BOUND_S);
                    assertEquals(0, opener.code(), opener.toString());
                    assertEquals("content\n", opener.stdout());
                    if (startedAt - holdFrom > holdMs / 2) {
                        System.out.println("perm hold: attempt " + attempt + " started " + (startedAt - holdFrom)
                                + " ms into the hold, retrying");
                        d.await(r -> has(r, "CREATE") && n1.equals(r.path("path").asText()), "CREATE " + n1, 10);
                        Daemon.sleep(holdMs + 200);
                        continue;
                    }
                    System.out.println("perm hold: child with two opens took " + opener.ms() + " ms, started "
                            + (startedAt - holdFrom) + " ms into a " + holdMs + " ms hold (created record "
                            + created.get("ts_ms").asLong() + ")");
                    assertTrue(opener.ms() < 500, "two opens during a " + holdMs + " ms notification hold took "
                            + opener.ms() + " ms: permission events were held back too");
                    JsonNode open = d.await(r -> permOpen(r, f.toString(), opener.pid()), "OPEN_PERM of f by "
                            + opener.pid(), 10);
                    assertEquals("allow", open.get("decision").asText(), open.toString());
                    JsonNode writeOpen = d.await(r -> permOpen(r, n1, opener.pid()), "OPEN_PERM of " + n1, 10);
                    assertEquals("allow", writeOpen.get("decision").asText(), writeOpen.toString());
                    JsonNode held = d.await(r -> has(r, "CREATE") && n1.equals(r.path("path").asText()),
                            "CREATE " + n1, 10);
                    long permRead = open.get("ts_ms").asLong();
                    long heldRead = held.get("ts_ms").asLong();
                    System.out.println("perm hold: OPEN_PERM read " + (permRead - holdFrom) + " ms, the CREATE made"
                            + " before it " + (heldRead - holdFrom) + " ms after the read that started the hold");
                    // The hold was real (the CREATE waited for it) and the open was read inside it.
                    assertTrue(heldRead - holdFrom >= holdMs - 5, "CREATE of " + n1 + " read " + (heldRead - holdFrom)
                            + " ms after the previous notification read: no hold in effect");
                    assertTrue(permRead < heldRead && permRead - holdFrom < holdMs, "the OPEN_PERM (read "
                            + (permRead - holdFrom) + " ms) waited for the notification hold (CREATE read "
                            + (heldRead - holdFrom) + " ms)");
                    measured = true;
                }
                assertTrue(measured, "in 3 attempts the child never started within " + holdMs / 2
                        + " ms of the notification read (machine too loaded?)");
                assertEquals(0, d.stop(), d.stderr());
                for (JsonNode r : d.records()) {
                    boolean perm = has(r, "OPEN_PERM") || has(r, "OPEN_EXEC_PERM") || has(r, "ACCESS_PERM");
                    assertEquals(perm ? "allow" : "observe", r.path("decision").asText(), r.toString());
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 3. --perm-spin-us: opens answered and recorded either way; a spinning loop still stops on SIGTERM

    @ParameterizedTest
    @ValueSource(ints = {0, 1_000_000})
    void opensAreAnsweredWithAnySpinAndSigtermStopsPromptly(int spinUs) throws IOException, InterruptedException {
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

                // What the spin costs: after an open, a spinning loop burns CPU for the spin, then sleeps again.
                Daemon.sleep(1500); // past any spin, and the JIT settles
                Result one = Child.run("exec cat " + f, ACCESS_BOUND_S);
                assertEquals(0, one.code(), one.toString());
                long cpu0 = cpuTicks(d.pid());
                Daemon.sleep(700);
                long afterOpen = cpuTicks(d.pid()) - cpu0;
                Daemon.sleep(800); // the 1 s spin is over
                long cpu1 = cpuTicks(d.pid());
                Daemon.sleep(1000);
                long quiet = cpuTicks(d.pid()) - cpu1;
                System.out.println("spin " + spinUs + " us: CPU ticks (1/" + TICKS_PER_S + " s) in the 0.7 s after"
                        + " an open: " + afterOpen + "; in a quiet second after that: " + quiet);
                assertTrue(quiet < 30, "a quiet daemon used " + quiet + " ticks in a second (spin " + spinUs
                        + " us): still spinning?");
                if (spinUs == 0) {
                    assertTrue(afterOpen < 30, "with --perm-spin-us 0 the daemon used " + afterOpen
                            + " ticks in the 0.7 s after an open");
                } else {
                    // A 1 s spin keeps one CPU busy (up to 70 ticks in 0.7 s); others' load may take some.
                    assertTrue(afterOpen >= 20, "with --perm-spin-us " + spinUs + " the daemon used only "
                            + afterOpen + " ticks in the 0.7 s after an open: not spinning");
                }

                // SIGTERM right after an open: with a 1 s spin the loop is spinning when it comes.
                Result last = Child.run("exec cat " + f, ACCESS_BOUND_S);
                assertEquals(0, last.code(), last.toString());
                long t0 = System.nanoTime();
                d.process().toHandle().destroy(); // SIGTERM to this pid only
                boolean exited = d.process().waitFor(5, TimeUnit.SECONDS);
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(exited, "fanotifyd (spin " + spinUs + " us) still running 5 s after SIGTERM; stderr: "
                        + d.stderr());
                System.out.println("spin " + spinUs + " us: SIGTERM right after an open: exit after " + ms + " ms");
                assertEquals(0, d.process().exitValue(), d.stderr());
                // Under the 1 s spin: the stop did not wait for the spin to run out.
                assertTrue(ms < 900, "SIGTERM during a " + spinUs + " us spin took " + ms + " ms");
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
                StartupErrorsIT.Result r = launchIn(m.outside(""), List.of(), null, args.toArray(String[]::new));
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
            StartupErrorsIT.Result r = launchIn(m.outside(""), List.of(), null, "--foreground", "-o",
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
                assertTrue(cat.ms() < 500, "an open took " + cat.ms() + " ms with batch_delay_us 1000000");
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
