package io.fanotifyd.it;

import static io.fanotifyd.it.FileEventsIT.has;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Permission mode ({@code --perm}) on a mount of the test's own, never anything shared.
 *
 * <p>Every open on the marked mount waits for the daemon's answer, so the test JVM never touches it while a
 * daemon runs (and above all while one is stopped): each access is a child process ({@link Child}) with a
 * short bounded wait, killed by its own pid when the bound passes. Records are read from a file outside the
 * mount, except in the test that puts the output inside it on purpose, which reads it through a child too.
 */
@Tag("kernel")
class PermissionIT {
    /** --perm --mount: one mount mark per group; --perm --filesystem: one filesystem mark per group. */
    /**
     * Marks of a {@code --perm --mount} daemon on a mount that shows its whole filesystem: the notification
     * group's mount mark and its filesystem mark (creates, deletes, renames), and the permission group's mount
     * mark.
     */
    static final int PERM_MOUNT_MARKS = 3;
    /** Marks of a {@code --perm --filesystem} daemon: one in each group. */
    static final int PERM_FS_MARKS = 2;
    static final long FAN_OPEN_PERM = 0x10000;
    /** How long one access to the marked mount may take before it counts as hung. */
    static final int ACCESS_BOUND_S = 10;

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    static TestMount mount(String fs) throws IOException {
        return fs.equals("ext4") ? TestMount.ext4() : TestMount.tmpfs();
    }

    static String[] permArgs(Path root, String... more) {
        List<String> a = new ArrayList<>(List.of("--perm", "--mount", root.toString()));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    /**
     * As {@link #permArgs}, with a filesystem mark: for tests that need creates, deletes and renames, which
     * {@code --mount} does not report (README, Marks).
     */
    static String[] permFsArgs(Path root, String... more) {
        List<String> a = new ArrayList<>(List.of("--perm", "--filesystem", root.toString()));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    static boolean permOpen(JsonNode r, String path, long pid) {
        return "event".equals(r.path("type").asText()) && has(r, "OPEN_PERM") && path.equals(r.path("path").asText())
                && r.path("pid").asLong() == pid;
    }

    static int indexOf(List<JsonNode> rs, JsonNode r) {
        for (int i = 0; i < rs.size(); i++) {
            if (rs.get(i).equals(r)) {
                return i;
            }
        }
        return -1;
    }

    /** The record right after {@code event}, which must be its alert. */
    static JsonNode alertAfter(Daemon d, JsonNode event) throws IOException {
        List<JsonNode> rs = d.records();
        int i = indexOf(rs, event);
        assertTrue(i >= 0 && i + 1 < rs.size(), "no record after " + event + " in " + rs);
        JsonNode alert = rs.get(i + 1);
        assertEquals("alert", alert.path("type").asText(), "the record after a denied canary open: " + alert);
        assertEquals(event.get("seq").asLong(), alert.get("event_seq").asLong(), "event_seq: " + alert);
        return alert;
    }

    // ------------------------------------------------------------------------------------------------------
    // 1. a canary open is denied, every time; other files are allowed

    @ParameterizedTest
    @ValueSource(strings = {"tmpfs", "ext4"})
    void canaryOpenIsDeniedEveryTimeAndOtherFilesAreAllowed(String fs) throws IOException {
        try (TestMount m = mount(fs)) {
            Path root = m.root().toRealPath();
            Path canary = Files.writeString(root.resolve("canary.txt"), "secret\n");
            Path other = Files.writeString(root.resolve("other.txt"), "hello\n");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PERM_MOUNT_MARKS, permArgs(root, "--deny-on-alert",
                    "--canary", root + "/canary*"))) {
                List<Long> deniedSeqs = new ArrayList<>();
                for (int attempt = 1; attempt <= 2; attempt++) {
                    Result cat = Child.run("exec cat " + canary, ACCESS_BOUND_S);
                    assertNotEquals(0, cat.code(), "cat of the canary, attempt " + attempt + ": " + cat);
                    assertTrue(cat.stderr().contains("Operation not permitted"), "attempt " + attempt + ": " + cat);
                    assertEquals("", cat.stdout(), "nothing read from the canary: " + cat);
                    JsonNode ev = d.await(r -> permOpen(r, canary.toString(), cat.pid()), "OPEN_PERM of the canary by "
                            + cat.pid(), 10);
                    assertEquals("deny", ev.get("decision").asText(), "attempt " + attempt + ": " + ev);
                    assertEquals("OPEN_PERM", ev.get("events").asText());
                    assertEquals(FAN_OPEN_PERM, ev.get("mask").asLong());
                    JsonNode alert = alertAfter(d, ev);
                    assertEquals("canary", alert.get("kind").asText());
                    assertEquals("canary opened", alert.get("reason").asText());
                    assertEquals(cat.pid(), alert.get("pid").asLong());
                    assertEquals(canary.toString(), alert.get("path").asText());
                    deniedSeqs.add(ev.get("seq").asLong());
                }
                assertNotEquals(deniedSeqs.get(0), deniedSeqs.get(1), "the retry is an event of its own");

                Result ok = Child.run("exec cat " + other, ACCESS_BOUND_S);
                assertEquals(0, ok.code(), "cat of another file: " + ok);
                assertEquals("hello\n", ok.stdout());
                JsonNode allowed = d.await(r -> permOpen(r, other.toString(), ok.pid()), "OPEN_PERM of other", 10);
                assertEquals("allow", allowed.get("decision").asText(), allowed.toString());
                assertEquals(0, d.stop());

                List<JsonNode> rs = d.records();
                assertEquals(2, rs.stream().filter(r -> "alert".equals(r.path("type").asText())).count(),
                        "one alert per denied open, none for other: " + rs);
                assertTrue(rs.stream().noneMatch(r -> r.path("pid").asLong() == d.pid()), "own accesses: " + rs);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 2. a write burst denies the burster's opens, not other processes', until the window has passed

    /**
     * One shell creates 40 files ({@code true > f} opens in the shell itself; {@code true} is a regular builtin,
     * so a refused redirection fails the command, not the shell), then, after {@code pause}, reads other with
     * the builtin {@code read}, which opens in the same process too; prints {@code refused=N} and
     * {@code READ1=ok|denied}.
     */
    static String burstScript(Path dir, Path other, String pause) {
        return "cd " + dir + " || exit 9\n"
                + "i=0; refused=0\n"
                + "while [ $i -lt 40 ]; do if ! true 2>/dev/null > f$i; then refused=$((refused+1)); fi;"
                + " i=$((i+1)); done\n"
                + "echo refused=$refused\n"
                + pause
                + "if read x < " + other + "; then echo READ1=ok; else echo READ1=denied; fi\n";
    }

    @Test
    void writeBurstDeniesTheBurstersOpensUntilTheWindowPasses() throws IOException {
        int threshold = 20;
        int windowMs = 5000;
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path dir = Files.createDirectory(root.resolve("burst"));
            Path other = Files.writeString(root.resolve("other.txt"), "hello\n");
            Path phase = m.outside("phase1");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PERM_FS_MARKS, permFsArgs(root, "--deny-on-alert",
                    "--burst-threshold", Integer.toString(threshold), "--burst-window-ms", Integer.toString(windowMs)))) {
                // The pause (sleep is a child, off the mount) lets the daemon read the creates from its
                // notification group; the back-to-back case is openRightAfterABurstIsDenied.
                String script = burstScript(dir, other, "sleep 1\n")
                        + "echo > " + phase + "\n"
                        + "sleep " + (windowMs / 1000 + 2) + "\n"
                        + "if read x < " + other + "; then echo READ2=ok:$x; else echo READ2=denied; fi\n";
                try (Child burster = Child.start(script)) {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                    while (!Files.exists(phase) && burster.alive() && System.nanoTime() < deadline) {
                        Daemon.sleep(20);
                    }
                    assertTrue(Files.exists(phase), "the burster did not get past its first read: " + burster);
                    // Meanwhile (the burster is sleeping, still in its burst) another process reads other.
                    Result bystander = Child.run("exec cat " + other, ACCESS_BOUND_S);
                    assertEquals(0, bystander.code(), "another process during the burst: " + bystander);
                    assertEquals("hello\n", bystander.stdout());
                    assertTrue(burster.alive(), "the burster must still be sleeping through its window");

                    assertTrue(burster.awaitExit(windowMs + 20_000), "burster did not finish: " + burster);
                    String out = burster.stdout();
                    assertTrue(out.contains("READ1=denied"), "the burster's open during its burst: " + burster);
                    assertTrue(burster.stderr().contains("Operation not permitted"), burster.toString());
                    assertTrue(out.contains("READ2=ok:hello"), "the burster after its window: " + burster);
                    assertEquals(0, burster.exitCode(), burster.toString());
                    System.out.println("burst: " + out.lines().filter(l -> l.startsWith("refused=")).findFirst()
                            .orElse("?") + " of 40 creating opens refused once in the burst");

                    long pid = burster.pid();
                    JsonNode alert = d.await(r -> "alert".equals(r.path("type").asText())
                            && "burst".equals(r.path("kind").asText()) && r.path("pid").asLong() == pid,
                            "burst alert for the burster", 10);
                    assertEquals("write burst", alert.get("reason").asText());
                    assertEquals(threshold, alert.get("count").asInt(), alert.toString());
                    assertEquals(windowMs, alert.get("window_ms").asInt(), alert.toString());
                    assertTrue(alert.get("path").asText().startsWith(dir + "/f"), alert.toString());
                    d.await(r -> permOpen(r, other.toString(), bystander.pid()) && "allow".equals(r.path("decision")
                            .asText()), "the bystander's open allowed", 10);
                    d.await(r -> permOpen(r, other.toString(), pid) && "allow".equals(r.path("decision").asText()),
                            "the burster's late open allowed", 10);
                    assertEquals(0, d.stop());
                    List<JsonNode> opens = d.records().stream().filter(r -> permOpen(r, other.toString(), pid)).toList();
                    assertEquals(2, opens.size(), "the burster opened other twice: " + opens);
                    assertEquals("deny", opens.get(0).get("decision").asText(), opens.toString());
                    assertEquals("allow", opens.get(1).get("decision").asText(), opens.toString());
                    long creates = d.records().stream().filter(r -> has(r, "CREATE") && r.path("pid").asLong() == pid)
                            .count();
                    assertEquals(40, creates, "CREATE records of the burster");
                }
            }
        }
    }

    /**
     * No pause: the open comes right after the creates, as an encryptor's next open would. The creates are
     * queued on the notification group before the opens that follow them are asked about, so a daemon that
     * has read what is queued there before it decides denies these opens every time. Five bursters, each in a
     * directory of its own.
     */
    @Test
    void openRightAfterABurstIsDenied() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path other = Files.writeString(root.resolve("other.txt"), "hello\n");
            List<Path> dirs = new ArrayList<>();
            for (int k = 0; k < 5; k++) {
                dirs.add(Files.createDirectory(root.resolve("b" + k)));
            }
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PERM_MOUNT_MARKS, permArgs(root, "--deny-on-alert",
                    "--burst-threshold", "20", "--burst-window-ms", "5000"))) {
                List<String> outcomes = new ArrayList<>();
                for (Path dir : dirs) {
                    Result r = Child.run(burstScript(dir, other, ""), 30);
                    outcomes.add("pid " + r.pid() + ": " + r.stdout().replace('\n', ' ').trim());
                }
                System.out.println("back-to-back bursts: " + outcomes);
                // Once 20 files are created (20 CREATE records at least) the creating opens that follow are
                // "further opens" too: at least f20..f39 must be refused, and the read after them.
                for (String o : outcomes) {
                    int refused = Integer.parseInt(o.replaceAll(".*refused=(\\d+).*", "$1"));
                    assertTrue(refused >= 20 && o.contains("READ1=denied"), "a burster's opens after it crossed"
                            + " the threshold (20 of 40 creating opens at least, and the read): " + outcomes);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 3. a stuck reader of stdout holds up no open, and no SIGTERM

    /** {@code fanotifyd --foreground -o - ARGS} with stdout piped to this test, which may never read it. */
    static Process startToStdout(Path stderr, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(KernelSupport.launcher().toString(), "--foreground", "-o", "-"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.PIPE)
                .redirectError(stderr.toFile()).start();
        try {
            Daemon.awaitMarks(p.pid(), PERM_MOUNT_MARKS);
        } catch (IOException | RuntimeException e) {
            kill(p);
            throw e;
        }
        return p;
    }

    static void kill(Process p) {
        if (p.isAlive()) {
            p.destroyForcibly(); // SIGKILL to this pid only
            try {
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The stack of the daemon's output thread ("fanotifyd-outpu" in /proc), or null if not readable. */
    static String outputThreadStack(long pid) {
        try (var tasks = Files.newDirectoryStream(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks) {
                if (readProc(t.resolve("comm")).trim().startsWith("fanotifyd-outp")) {
                    return readProc(t.resolve("stack"));
                }
            }
        } catch (IOException e) {
            return null;
        }
        return null;
    }

    /** One read(2) with room for the whole file, as /proc files want (see OverflowIT.readSysctl). */
    static String readProc(Path p) throws IOException {
        try (var in = new java.io.FileInputStream(p.toFile())) {
            byte[] buf = new byte[65536];
            int n = in.read(buf);
            return new String(buf, 0, Math.max(0, n), StandardCharsets.US_ASCII);
        }
    }

    static long lines(Path file) throws IOException {
        try (var l = Files.lines(file, StandardCharsets.ISO_8859_1)) {
            return l.count();
        }
    }

    /** The first 3 and last 5 lines of a (possibly huge) log. */
    static String tail(Path file) throws IOException {
        List<String> all = Files.readAllLines(file, StandardCharsets.ISO_8859_1);
        if (all.size() <= 8) {
            return String.join("\n", all);
        }
        return String.join("\n", all.subList(0, 3)) + "\n... (" + (all.size() - 8) + " more lines) ...\n"
                + String.join("\n", all.subList(all.size() - 5, all.size()));
    }

    /**
     * Opens by one shell: about 50 MB of records, far more than the pipe and the daemon's output buffers
     * (up to 64 of 512 KiB in permission mode) hold.
     */
    static final int FLOOD = 150000;

    static Result floodOpens(Path file) throws IOException {
        return Child.run("i=0; while [ $i -lt " + FLOOD + " ]; do read x < " + file + " || exit 3; i=$((i+1)); done",
                120);
    }

    @Test
    void stalledStdoutHoldsUpNoOpenAndNoSigterm() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path f = Files.writeString(root.resolve("f.txt"), "content\n");
            Path err = m.outside("stderr.txt");
            Process p = startToStdout(err, permArgs(root));
            try {
                // The test never reads p's stdout.
                Result flood = floodOpens(f);
                assertEquals(0, flood.code(), FLOOD + " opens with stdout stalled: " + flood);
                System.out.println("stalled stdout: " + FLOOD + " opens took " + flood.ms() + " ms");
                String stack = null;
                for (int i = 0; i < 100 && (stack == null || !stack.contains("pipe_write")); i++) {
                    stack = outputThreadStack(p.pid());
                    Daemon.sleep(20);
                }
                System.out.println("stalled stdout: output thread stack:\n" + stack);
                if (stack != null) {
                    assertTrue(stack.contains("pipe_write"), "the output thread is stuck writing the pipe:\n" + stack);
                }
                // Stuck but idle: no thread spinning (each asleep in nearly every one of 200 looks), no warning
                // per loop turn, and an open still answered.
                long lines0 = lines(err);
                Map<String, Integer> running = new java.util.TreeMap<>();
                for (String name : List.of("fanotifyd-event", "fanotifyd-read", "fanotifyd-perm")) {
                    long tid = Daemon.threadId(p.pid(), name);
                    // Once the flood's backlog is behind it: asleep once (bounded), then looked at.
                    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                    while (Daemon.threadState(p.pid(), tid) != 'S' && System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                    int r = 0;
                    for (int i = 0; i < 200; i++) {
                        r += Daemon.threadState(p.pid(), tid) == 'R' ? 1 : 0;
                    }
                    running.put(name, r);
                }
                Result cat = Child.run("exec cat " + f, 5);
                assertEquals(0, cat.code(), cat.toString());
                assertEquals("content\n", cat.stdout());
                long lines = lines(err) - lines0;
                System.out.println("stalled stdout: with the output stuck, threads seen running in 200 looks: "
                        + running + "; " + lines + " stderr lines meanwhile");

                long t0 = System.nanoTime();
                p.toHandle().destroy(); // SIGTERM to this pid only
                boolean exited = p.waitFor(20, TimeUnit.SECONDS);
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(exited, "fanotifyd ignored SIGTERM with its stdout stalled for 20 s; stderr: " + tail(err));
                System.out.println("stalled stdout: SIGTERM to exit took " + ms + " ms, exit code " + p.exitValue()
                        + "; stderr: " + lines(err) + " lines, the last:\n" + tail(err));
                String errTail = tail(err);
                int code = p.exitValue();
                assertAll(
                        // What the stuck output never took is counted, and makes the exit non-zero.
                        () -> assertEquals(1, code, "exit code after SIGTERM; stderr: " + errTail),
                        () -> assertTrue(errTail.contains("records read before the stop could not be written to"
                                + " stdout within 10000 ms"), errTail),
                        () -> assertTrue(lines < 10, "an idle daemon with a stuck output wrote " + lines
                                + " stderr lines while it was looked at: " + errTail),
                        () -> assertTrue(running.values().stream().allMatch(r -> r <= 40), "a thread of a daemon"
                                + " whose output is stuck was running in more than 40 of 200 looks: " + running));
            } finally {
                kill(p);
                p.getInputStream().close();
            }
        }
    }

    /** Beyond the stall: once the reader moves again, the loss is told in a {@code dropped} record. */
    @Test
    void recordsDroppedWhileStdoutWasStuckAreReportedOnceItMoves() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path f = Files.writeString(root.resolve("f.txt"), "content\n");
            Path err = m.outside("stderr.txt");
            Process p = startToStdout(err, permArgs(root));
            Drain drain = null;
            try {
                Result flood = floodOpens(f);
                assertEquals(0, flood.code(), flood.toString());
                drain = new Drain(p.getInputStream());
                // The output thread gets going again; the next flush after a new record tells the drop.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                JsonNode dropped = null;
                while (dropped == null && System.nanoTime() < deadline) {
                    Result cat = Child.run("exec cat " + f, ACCESS_BOUND_S);
                    assertEquals(0, cat.code(), cat.toString());
                    Daemon.sleep(200);
                    dropped = drain.records().stream().filter(r -> "dropped".equals(r.path("type").asText()))
                            .findFirst().orElse(null);
                }
                assertTrue(dropped != null, "no dropped record within 20 s; stderr: " + tail(err));
                Daemon.sleep(500); // whatever else the output had in flight
                List<JsonNode> rs = drain.records();
                long events = rs.stream().filter(r -> permOpen(r, f.toString(), flood.pid())).count();
                long told = rs.stream().filter(r -> "dropped".equals(r.path("type").asText()))
                        .mapToLong(r -> r.path("dropped").asLong()).sum();
                System.out.println("drops: " + rs.stream().filter(r -> "dropped".equals(r.path("type").asText()))
                        .count() + " dropped records telling " + told + " records lost; " + events
                        + " of the " + FLOOD + " flood records written");
                assertTrue(dropped.get("dropped").asLong() > 0, dropped.toString());
                assertTrue(events < FLOOD, "all flood records arrived, nothing was dropped? " + events);
                // Every flood record is either in the output or counted in a dropped record.
                assertTrue(events + told >= FLOOD, events + " flood records written, " + told
                        + " records reported dropped: " + (FLOOD - events - told) + " lost silently");
                p.toHandle().destroy();
                assertTrue(p.waitFor(20, TimeUnit.SECONDS), "SIGTERM");
                assertEquals(0, p.exitValue(), Files.readString(err));
            } finally {
                kill(p);
                if (drain != null) {
                    drain.join();
                } else {
                    p.getInputStream().close();
                }
            }
        }
    }

    /** Reads a stream to its end on a thread of its own; parses whole lines on request. */
    static final class Drain {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final Thread thread;

        Drain(InputStream in) {
            thread = Thread.ofPlatform().daemon().start(() -> {
                byte[] buf = new byte[65536];
                try (in) {
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        synchronized (bytes) {
                            bytes.write(buf, 0, n);
                        }
                    }
                } catch (IOException ignored) {
                    // closed
                }
            });
        }

        List<JsonNode> records() throws IOException {
            byte[] all;
            synchronized (bytes) {
                all = bytes.toByteArray();
            }
            Path tmp = Files.createTempFile("fanotifyd-it-drain.", ".jsonl");
            try {
                int end = all.length;
                while (end > 0 && all[end - 1] != '\n') {
                    end--;
                }
                Files.write(tmp, java.util.Arrays.copyOf(all, end));
                return Daemon.parse(tmp);
            } finally {
                Files.deleteIfExists(tmp);
            }
        }

        void join() throws InterruptedException {
            thread.join(10_000);
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 4. a killed daemon leaves no open waiting

    @Test
    void sigkillOfAStoppedDaemonReleasesTheOpenWaitingForIt() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path f = Files.writeString(root.resolve("f.txt"), "content\n");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PERM_MOUNT_MARKS, permArgs(root))) {
                // From here until the daemon is dead the test JVM stays off the mount.
                d.freeze();
                try (Child opener = Child.start("exec cat " + f)) {
                    FdLimitIT.awaitWaitingOnFanotify(List.of(opener));
                    assertTrue(opener.alive(), "the open did not wait for the stopped daemon: " + opener
                            + "; daemon alive " + d.process().isAlive() + ", stderr: " + d.stderr());
                    d.process().destroyForcibly(); // SIGKILL to the daemon's pid
                    assertTrue(d.process().waitFor(10, TimeUnit.SECONDS), "daemon not dead 10 s after SIGKILL");
                    long t0 = System.nanoTime();
                    assertTrue(opener.awaitExit(5000), "the open still waits 5 s after the daemon died: " + opener);
                    System.out.println("SIGKILL: the waiting open completed " + (System.nanoTime() - t0) / 1_000_000
                            + " ms after the daemon was reaped");
                    assertEquals(0, opener.exitCode(), opener.toString());
                    assertEquals("content\n", opener.stdout());
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 5. records of opens, and the notification group beside the permission group

    @Test
    void opensAreAllowedAndRecordedAndTheNotificationGroupStillReportsNames() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path dir = Files.createDirectory(root.resolve("d"));
            Path f = Files.writeString(dir.resolve("f.txt"), "content\n");
            String a = dir + "/a.txt";
            String b = dir + "/b.txt";
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), PERM_FS_MARKS, permFsArgs(root))) {
                List<Result> readers = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    Result reader = Child.run("exec cat " + f, ACCESS_BOUND_S);
                    assertEquals(0, reader.code(), reader.toString());
                    readers.add(reader);
                }
                Result writer = Child.run("echo hi > " + a, ACCESS_BOUND_S);
                assertEquals(0, writer.code(), writer.toString());
                Result renamer = Child.run("exec mv " + a + " " + b, ACCESS_BOUND_S);
                assertEquals(0, renamer.code(), renamer.toString());
                Result mkdirer = Child.run("exec mkdir " + dir + "/sub", ACCESS_BOUND_S);
                assertEquals(0, mkdirer.code(), mkdirer.toString());
                Result deleter = Child.run("exec rm " + b, ACCESS_BOUND_S);
                assertEquals(0, deleter.code(), deleter.toString());

                List<String> wrongProcess = new ArrayList<>();
                for (Result reader : readers) {
                    JsonNode open = d.await(r -> permOpen(r, f.toString(), reader.pid()), "OPEN_PERM by cat", 10);
                    assertEquals("allow", open.get("decision").asText());
                    assertEquals("OPEN_PERM", open.get("events").asText());
                    assertEquals(FAN_OPEN_PERM, open.get("mask").asLong());
                    assertEquals("f.txt", open.get("name").asText());
                    assertFalse(open.get("is_dir").asBoolean());
                    if (!"cat".equals(open.path("comm").asText()) || !open.path("exe").asText().endsWith("/cat")) {
                        wrongProcess.add(open.toString());
                    }
                }

                JsonNode wopen = d.await(r -> permOpen(r, a, writer.pid()), "OPEN_PERM by the writing shell", 10);
                assertEquals("allow", wopen.get("decision").asText());
                JsonNode create = d.await(r -> has(r, "CREATE") && a.equals(r.path("path").asText()), "CREATE a", 10);
                assertEquals("a.txt", create.get("name").asText());
                assertEquals(writer.pid(), create.get("pid").asLong());
                assertEquals("observe", create.get("decision").asText());
                d.await(r -> has(r, "MODIFY") && a.equals(r.path("path").asText()), "MODIFY a", 10);
                d.await(r -> has(r, "CLOSE_WRITE") && a.equals(r.path("path").asText()), "CLOSE_WRITE a", 10);
                JsonNode rename = d.await(r -> has(r, "RENAME"), "RENAME", 10);
                assertEquals(b, rename.get("path").asText());
                assertEquals("b.txt", rename.get("name").asText());
                assertEquals(a, rename.get("old_path").asText());
                assertEquals("a.txt", rename.get("old_name").asText());
                assertEquals(renamer.pid(), rename.get("pid").asLong());
                JsonNode sub = d.await(r -> has(r, "CREATE") && (dir + "/sub").equals(r.path("path").asText()),
                        "CREATE sub", 10);
                assertTrue(sub.get("is_dir").asBoolean() && has(sub, "ONDIR"), sub.toString());
                assertEquals(mkdirer.pid(), sub.get("pid").asLong());
                JsonNode del = d.await(r -> has(r, "DELETE") && b.equals(r.path("path").asText()), "DELETE b", 10);
                assertEquals(deleter.pid(), del.get("pid").asLong());
                assertEquals("b.txt", del.get("name").asText());
                assertEquals(0, d.stop());
                // The opener waits for the answer, so its comm and exe can be read while it surely exists.
                assertEquals(List.of(), wrongProcess, "OPEN_PERM records of `exec cat` without comm/exe \"cat\"");

                for (JsonNode r : d.records()) {
                    assertEquals("event", r.get("type").asText(), r.toString());
                    assertFalse(has(r, "OPEN"), "opens are OPEN_PERM records in permission mode: " + r);
                    boolean perm = has(r, "OPEN_PERM") || has(r, "OPEN_EXEC_PERM") || has(r, "ACCESS_PERM");
                    assertEquals(perm ? "allow" : "observe", r.get("decision").asText(), r.toString());
                    // The ATTRIB the kernel sends when a file's last link goes names only the file, already
                    // gone: its path is null (documented in the README's record table).
                    boolean unlinkAttrib = r.get("path").isNull() && "ATTRIB".equals(r.get("events").asText());
                    assertTrue(unlinkAttrib || r.get("path").asText().startsWith(root.toString()), r.toString());
                    assertNotEquals(d.pid(), r.get("pid").asLong(), "the daemon's own access recorded: " + r);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 6. the output file inside the marked mount: no self-deadlock

    @Test
    void outputFileInsideThePermissionMarkedMount() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path f = Files.writeString(root.resolve("f.txt"), "content\n");
            Path out = root.resolve("out.jsonl");
            try (Daemon d = Daemon.start(out, PERM_MOUNT_MARKS, permArgs(root))) {
                Result cat = Child.run("exec cat " + f, ACCESS_BOUND_S);
                assertEquals(0, cat.code(), cat.toString());
                // Read the output through children too: the file is on the marked mount.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                boolean seen = false;
                String last = "";
                while (!seen && System.nanoTime() < deadline) {
                    Result read = Child.run("exec cat " + out, ACCESS_BOUND_S);
                    assertEquals(0, read.code(), "reading the output inside the mount: " + read);
                    last = read.stdout();
                    seen = last.lines().anyMatch(l -> l.contains("\"path\":\"" + f + "\"")
                            && l.contains("\"pid\":" + cat.pid() + ","));
                    if (!seen) {
                        Daemon.sleep(50);
                    }
                }
                assertTrue(seen, "no record of the cat in the output inside the mount:\n" + last);
                // No feedback loop: the daemon's own writes make no records (stat, not open: no permission event).
                Daemon.sleep(300);
                long size = Files.size(out);
                Daemon.sleep(1000);
                assertEquals(size, Files.size(out), "the output grows by itself");
                assertEquals(0, d.stop(), d.stderr());
            }
            List<JsonNode> rs = Daemon.parse(out);
            JsonNode open = rs.stream().filter(r -> "f.txt".equals(r.path("name").asText())).findFirst().orElseThrow();
            assertEquals("allow", open.get("decision").asText());
            assertTrue(rs.stream().allMatch(r -> "allow".equals(r.path("decision").asText())
                    || "observe".equals(r.path("decision").asText())), rs.toString());
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // 7. --fail-closed: accepted, and the decisions of events that are processed are unchanged

    @Test
    void failClosedIsAcceptedAndChangesNoNormalDecision() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path canary = Files.writeString(root.resolve("canary.txt"), "secret\n");
            Path other = Files.writeString(root.resolve("other.txt"), "hello\n");
            // Without --deny-on-alert a canary open is recorded and alerted, but allowed.
            try (Daemon d = Daemon.start(m.outside("out1.jsonl"), PERM_MOUNT_MARKS, permArgs(root, "--fail-closed",
                    "--canary", root + "/canary*"))) {
                Result c = Child.run("exec cat " + canary, ACCESS_BOUND_S);
                assertEquals(0, c.code(), c.toString());
                assertEquals("secret\n", c.stdout());
                Result o = Child.run("exec cat " + other, ACCESS_BOUND_S);
                assertEquals(0, o.code(), o.toString());
                JsonNode ev = d.await(r -> permOpen(r, canary.toString(), c.pid()), "canary open", 10);
                assertEquals("allow", ev.get("decision").asText());
                assertEquals("canary opened", alertAfter(d, ev).get("reason").asText());
                assertEquals("allow", d.await(r -> permOpen(r, other.toString(), o.pid()), "other open", 10)
                        .get("decision").asText());
                assertEquals(0, d.stop(), d.stderr());
                assertFalse(d.stderr().contains("answered deny after an error"), d.stderr());
            }
            try (Daemon d = Daemon.start(m.outside("out2.jsonl"), PERM_MOUNT_MARKS, permArgs(root, "--fail-closed",
                    "--deny-on-alert", "--canary", root + "/canary*"))) {
                Result c = Child.run("exec cat " + canary, ACCESS_BOUND_S);
                assertNotEquals(0, c.code(), c.toString());
                assertTrue(c.stderr().contains("Operation not permitted"), c.toString());
                Result o = Child.run("exec cat " + other, ACCESS_BOUND_S);
                assertEquals(0, o.code(), o.toString());
                assertEquals("deny", d.await(r -> permOpen(r, canary.toString(), c.pid()), "canary open", 10)
                        .get("decision").asText());
                assertEquals("allow", d.await(r -> permOpen(r, other.toString(), o.pid()), "other open", 10)
                        .get("decision").asText());
                assertEquals(0, d.stop(), d.stderr());
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // Children

    /** What a finished child did: its pid ({@code exec} keeps it), exit code, output and wall time. */
    record Result(long pid, int code, String stdout, String stderr, long ms) {
        @Override
        public String toString() {
            return "pid " + pid + " exit " + code + " in " + ms + " ms, stdout [" + stdout + "], stderr [" + stderr
                    + "]";
        }
    }

    /**
     * {@code /bin/sh -c SCRIPT} as a child of the test, its output in files outside any mount. Closing it kills
     * it (SIGKILL to its own pid) if it still runs: a process waiting for a permission answer is killable.
     */
    static final class Child implements AutoCloseable {
        private final Process process;
        private final Path out;
        private final Path err;
        private final long startNs = System.nanoTime();
        private long endNs;

        private Child(Process process, Path out, Path err) {
            this.process = process;
            this.out = out;
            this.err = err;
        }

        static Child start(String script) throws IOException {
            return start(List.of("/bin/sh", "-c", script));
        }

        /** Starts {@code cmd} (not through a shell). */
        static Child start(List<String> cmd) throws IOException {
            Path out = Files.createTempFile("fanotifyd-it-child.", ".out");
            Path err = Files.createTempFile("fanotifyd-it-child.", ".err");
            Process p = new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            return new Child(p, out, err);
        }

        /** Starts SCRIPT and waits at most {@code seconds}; a child still running then is killed and fails. */
        static Result run(String script, int seconds) throws IOException {
            try (Child c = start(script)) {
                if (!c.awaitExit(seconds * 1000L)) {
                    String what = c.toString();
                    c.close();
                    org.junit.jupiter.api.Assertions.fail("child did not finish within " + seconds + " s (killed): "
                            + script + "\n" + what);
                }
                return new Result(c.pid(), c.exitCode(), c.stdout(), c.stderr(), (c.endNs - c.startNs) / 1_000_000);
            }
        }

        long pid() {
            return process.pid();
        }

        boolean alive() {
            return process.isAlive();
        }

        boolean awaitExit(long ms) {
            try {
                if (process.waitFor(ms, TimeUnit.MILLISECONDS)) {
                    if (endNs == 0) {
                        endNs = System.nanoTime();
                    }
                    return true;
                }
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }

        int exitCode() {
            return process.exitValue();
        }

        String stdout() {
            return read(out);
        }

        String stderr() {
            return read(err);
        }

        private static String read(Path p) {
            try {
                return Files.readString(p, StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "(" + e + ")";
            }
        }

        @Override
        public String toString() {
            return "child " + pid() + (alive() ? " running" : " exit " + exitCode()) + ", stdout [" + stdout()
                    + "], stderr [" + stderr() + "]";
        }

        @Override
        public void close() throws IOException {
            Daemon.kill(process);
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
