package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The daemon, and only it, in a memory cgroup of its own limited to 64 MiB ({@link MemoryCgroup}): it must
 * live through what a production host does to it, stop with exit 0, and count what it dropped for memory's
 * sake. Each case fails with a clear message if the OOM killer took the daemon (the cgroup's {@code oom_kill}
 * count and the exit by SIGKILL).
 *
 * <p>Workloads are {@code sh}/{@code xargs touch} on a tmpfs of the test's own, outside the cgroup; the output
 * file is next to the mount (on the disk, so its page cache is charged to the daemon's cgroup but can be
 * reclaimed: see docs/DESIGN.md). Each case prints the daemon's VmHWM and the cgroup's peak usage.
 */
@Tag("kernel")
class MemoryLimitIT {
    private static final long LIMIT = 64L << 20;
    /** Bound for the daemon to catch up with a workload. */
    private static final int CATCH_UP_S = 180;

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    // --------------------------------------------------------------------------------------------- helpers

    /** Runs {@code sh -c script} (outside the daemon's cgroup), bounded, and fails if it fails. */
    static void sh(int seconds, String script) throws IOException {
        Process p = new ProcessBuilder("/bin/sh", "-c", script).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                fail("workload did not finish within " + seconds + " s: " + script);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "workload failed: " + script + ": " + out);
    }

    /** {@code count} empty files in a new directory {@code dir}, created by one {@code touch}. */
    static String touchScript(Path dir, int count) {
        return "mkdir '" + dir + "' && cd '" + dir + "' && seq -f 'f%.0f' " + count + " | xargs -s 2000000 touch";
    }

    /** Starts the daemon inside {@code cg} (its JVM starts there) with one mark. */
    static Daemon start(MemoryCgroup cg, Path out, String... args) throws IOException {
        return Daemon.start(cg.wrapper(), ProcessBuilder.Redirect.DISCARD, out, 1, args);
    }

    /** Fails, saying why, unless the daemon still runs: OOM-killed in its cgroup, or gone otherwise. */
    static void assertAlive(Daemon d, MemoryCgroup cg, String when) throws IOException {
        if (d.process().isAlive()) {
            return;
        }
        int code = waitExit(d);
        long kills = cg.oomKills();
        String log = d.stderr();
        if (kills > 0 && code == 128 + 9) {
            fail("fanotifyd was OOM-killed " + when + " in a " + (LIMIT >> 20) + " MiB " + cg + " (oom_kill "
                    + kills + ", exit by SIGKILL, cgroup peak " + (cg.peakBytes() >> 20) + " MiB); its log:\n" + log);
        }
        fail("fanotifyd exited " + when + " with " + code + " (oom_kill " + kills + "); its log:\n" + log);
    }

    static int waitExit(Daemon d) {
        try {
            d.process().waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return d.process().isAlive() ? -1 : d.process().exitValue();
    }

    /** Waits (bounded) for a log line containing {@code needle}, failing early if the daemon dies. */
    static void awaitLog(Daemon d, MemoryCgroup cg, String needle) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!d.stderr().contains(needle)) {
            assertAlive(d, cg, "while waiting for '" + needle + "'");
            if (System.nanoTime() > deadline) {
                fail("no log line '" + needle + "' within 30 s:\n" + d.stderr());
            }
            Daemon.sleep(20);
        }
    }

    /** Counts the lines of a file as it grows, reading only what is new. */
    static final class Lines {
        private final Path file;
        private long offset;
        private long lines;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 20);

        Lines(Path file) {
            this.file = file;
        }

        long count() throws IOException {
            if (!Files.exists(file)) {
                return 0;
            }
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                ch.position(offset);
                int n;
                while ((n = ch.read(buf.clear())) > 0) {
                    for (int i = 0; i < n; i++) {
                        if (buf.get(i) == '\n') {
                            lines++;
                        }
                    }
                    offset += n;
                }
            }
            return lines;
        }
    }

    /** Waits until the output has {@code n} lines (bounded), failing at once if the daemon dies. */
    static void awaitLines(Daemon d, MemoryCgroup cg, Path out, long n) throws IOException {
        Lines lines = new Lines(out);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CATCH_UP_S);
        while (lines.count() < n) {
            assertAlive(d, cg, "after " + lines.count() + " of " + n + " records");
            if (System.nanoTime() > deadline) {
                fail("the output has " + lines.count() + " of " + n + " records after " + CATCH_UP_S + " s:\n"
                        + d.stderr());
            }
            Daemon.sleep(50);
        }
    }

    /** Prints the daemon's peak RSS and the cgroup's peak usage (figures for docs/PERFORMANCE.md). */
    static void report(String name, Daemon d, MemoryCgroup cg) throws IOException {
        String hwm = "?";
        for (String line : Files.readAllLines(Path.of("/proc/" + d.pid() + "/status"))) {
            if (line.startsWith("VmHWM:")) {
                hwm = (Long.parseLong(line.replaceAll("[^0-9]", "")) >> 10) + " MiB";
            }
        }
        System.out.println("MemoryLimitIT: " + name + ": VmHWM " + hwm + ", cgroup peak " + (cg.peakBytes() >> 20)
                + " MiB (" + cg.version() + ", page cache of the output included), oom_kill " + cg.oomKills());
    }

    /** Stops the daemon (SIGTERM), which must exit 0; returns its "stopping:" log line. */
    static String stop(Daemon d) throws IOException {
        int code = d.stop();
        String log = d.stderr();
        assertEquals(0, code, "exit code; log:\n" + log);
        for (String line : log.lines().toList()) {
            if (line.contains("info: stopping: ")) {
                return line;
            }
        }
        throw new AssertionError("no 'stopping:' line in the log:\n" + log);
    }

    /** The number before {@code what} in {@code line}, e.g. "3 dropped (too many waiting)". */
    static long number(String line, String what) {
        Matcher m = Pattern.compile("(\\d+) " + Pattern.quote(what)).matcher(line);
        assertTrue(m.find(), "'N " + what + "' in: " + line);
        return Long.parseLong(m.group(1));
    }

    // ----------------------------------------------------------------------------------------------- tests

    /** The backlog lives on the heap: one the heap cannot hold is refused at start-up, in one line. */
    @Test
    void aBacklogTheHeapCannotHoldIsRefusedAtStartUp() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Process p = new ProcessBuilder(KernelSupport.launcher().toString(), "--foreground", "-o", "/dev/null",
                    "--watch", m.root().toString(), "--socket", m.outside("s.sock").toString(), "--socket-backlog",
                    "64M").redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "exits");
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(1, p.exitValue(), err);
            assertEquals(1, err.lines().count(), err);
            assertTrue(err.startsWith("fanotifyd: --socket-backlog 64M: more than half of the JVM's heap (")
                    && err.contains("MiB); raise -Xmx in FANOTIFYD_JVM_OPTS or lower the backlog"), err);
            assertTrue(Files.notExists(m.outside("s.sock")), "no socket left behind");
        }
    }

    /**
     * A subscriber that connects and never reads, while 200000 records are made (about 50 MB): the backlog it
     * would need is far over the limit. The daemon lives, and the subscriber, reading at last, gets whole
     * records plus {@code dropped} records that count exactly what it missed.
     */
    @Test
    void aSubscriberThatNeverReadsDoesNotGetTheDaemonKilled() throws IOException {
        final int files = 200_000;
        try (TestMount m = TestMount.tmpfs();
             MemoryCgroup cg = MemoryCgroup.create("fanotifyd-it-stalled", LIMIT)) {
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            try (Daemon d = start(cg, out, "-v", "--filesystem", m.root().toString(), "--events",
                    "create", "--socket", sock.toString());
                 SocketChannel stalled = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                awaitLog(d, cg, "info: ready: ");
                stalled.setOption(StandardSocketOptions.SO_RCVBUF, 4096);
                stalled.connect(UnixDomainSocketAddress.of(sock));
                awaitLog(d, cg, "connected (1 now)");
                sh(CATCH_UP_S, touchScript(m.root().resolve("d"), files));
                awaitLines(d, cg, out, files);
                assertAlive(d, cg, "after the workload");
                report("stalled subscriber, " + files + " records", d, cg);
                String stopping = stop(d);
                assertEquals(files, number(stopping, "records,"), stopping);
                long droppedWhileRunning = number(stopping, "records dropped for slow ones");
                assertTrue(droppedWhileRunning > 0, stopping);

                // Now it reads: whole records, in order, and every record either received or counted.
                ByteBuffer bb = ByteBuffer.allocate(1 << 20);
                java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
                while (stalled.read(bb.clear()) > 0) {
                    got.write(bb.array(), 0, bb.position());
                }
                long events = 0;
                long dropped = 0;
                String text = got.toString(StandardCharsets.UTF_8);
                assertTrue(text.isEmpty() || text.endsWith("\n"), "ends with a whole record");
                for (String line : text.split("\n")) {
                    if (line.contains("\"type\":\"dropped\"")) {
                        Matcher n = Pattern.compile("\"dropped\":(\\d+)").matcher(line);
                        assertTrue(n.find(), line);
                        dropped += Long.parseLong(n.group(1));
                    } else if (line.contains("\"type\":\"event\"")) {
                        events++;
                    }
                }
                System.out.println("MemoryLimitIT: the stalled subscriber got " + events + " records and was told of "
                        + dropped + " dropped");
                assertEquals(files, events + dropped, "records received + dropped = records made");
                assertTrue(dropped >= droppedWhileRunning, dropped + " >= " + droppedWhileRunning);
            }
        }
    }

    /**
     * 1000 canary alerts, far faster than the hook runs (4 at a time, 256 waiting), with a hook that holds
     * about 12 MiB for 2 s: hooks run in the daemon's cgroup, and when they fill it the OOM killer must take a
     * hook, not the daemon. Every alert's hook is run, dropped (counted) or discarded at the stop (counted).
     */
    @Test
    void hooksThatFillTheLimitAreKilledInsteadOfTheDaemon() throws IOException {
        final int alerts = 1000;
        try (TestMount m = TestMount.tmpfs();
             MemoryCgroup cg = MemoryCgroup.create("fanotifyd-it-hooks", LIMIT)) {
            Path out = m.outside("out.jsonl");
            Path canary = m.root().resolve("canary");
            Files.writeString(canary, "x");
            try (Daemon d = start(cg, out, "-v", "--mount", m.root().toString(), "--events",
                    "open", "--canary", canary.toString(), "--hook-cooldown-ms", "0", "--hook",
                    "x=$(head -c 6000000 /dev/zero | tr '\\0' x); sleep 2")) {
                awaitLog(d, cg, "info: ready: ");
                sh(CATCH_UP_S, "i=0; while [ $i -lt " + alerts + " ]; do cat '" + canary + "' >/dev/null; i=$((i+1));"
                        + " done");
                awaitLines(d, cg, out, 2L * alerts); // each open: its record and its alert
                awaitLog(d, cg, "hook not run");
                assertAlive(d, cg, "after " + alerts + " alerts");
                report(alerts + " alerts, a hook of ~12 MiB", d, cg);
                long kills = cg.oomKills();
                String stopping = stop(d);
                assertEquals(alerts, number(stopping, "alerts,"), stopping);
                long started = number(stopping, "started,");
                long dropped = number(stopping, "dropped (too many waiting)");
                // Under the limit a spawn itself can fail (out of memory): said and counted, not lost.
                long notStarted = number(stopping, "could not be started,");
                String log = d.stderr();
                Matcher discarded = Pattern.compile("hook: (\\d+) queued run\\(s\\) discarded").matcher(log);
                long atStop = discarded.find() ? Long.parseLong(discarded.group(1)) : 0;
                System.out.println("MemoryLimitIT: hooks: " + started + " started, " + notStarted + " not started, "
                        + dropped + " dropped, " + atStop
                        + " discarded at the stop; the OOM killer killed " + kills + " processes, not the daemon");
                assertTrue(dropped > 0, stopping);
                assertEquals(alerts, started + notStarted + dropped + atStop, "every alert's hook run, not started,"
                        + " dropped or discarded: " + stopping + "\n" + log.lines().filter(l -> l.contains("hook:"))
                        .limit(20).collect(java.util.stream.Collectors.joining("\n")));
            }
        }
    }

    /**
     * A write-burst storm with the largest threshold and a long window: 10 processes, 2 at a time, each
     * creating 66000 files (so each crosses 65536 within the window). Burst windows may hold 4 MiB beyond their
     * first 8 event times: 8 processes at that threshold. The daemon lives; what it could not remember is
     * counted and logged, and no alert is raised for a process that did not cross.
     */
    @Test
    void aBurstStormStaysWithinTheMemoryForBurstWindows() throws IOException {
        final int processes = 10;
        final int perProcess = 66_000;
        try (TestMount m = TestMount.tmpfs();
             MemoryCgroup cg = MemoryCgroup.create("fanotifyd-it-burst", LIMIT)) {
            Path out = m.outside("out.jsonl");
            try (Daemon d = start(cg, out, "-v", "--filesystem", m.root().toString(), "--events",
                    "create", "--burst-threshold", "65536", "--burst-window-ms", "60000")) {
                awaitLog(d, cg, "info: ready: ");
                for (int p = 0; p < processes; p += 2) {
                    List<String> pair = new ArrayList<>();
                    for (int q = p; q < p + 2; q++) {
                        pair.add("( " + touchScript(m.root().resolve("p" + q), perProcess) + " ) &");
                    }
                    sh(CATCH_UP_S, String.join(" ", pair) + " wait; rm -rf '" + m.root() + "'/p*");
                    assertAlive(d, cg, "after " + (p + 2) + " processes");
                }
                awaitLines(d, cg, out, (long) processes * perProcess);
                assertAlive(d, cg, "after the storm");
                report("burst storm, " + processes + " x " + perProcess + " creates", d, cg);
                String stopping = stop(d);
                long alerts = number(stopping, "alerts,");
                long starved = number(stopping, "events not remembered for lack of memory");
                System.out.println("MemoryLimitIT: burst storm: " + alerts + " alerts, " + starved
                        + " events not remembered");
                assertTrue(alerts <= processes, "at most one alert per process: " + stopping);
                if (alerts < processes) {
                    // The storm outran the memory: the rest were counted short, said so, and not forgotten.
                    assertTrue(starved > 0, stopping);
                    assertTrue(d.stderr().contains("bursts: the memory for burst windows"), d.stderr());
                }
                assertTrue(alerts >= 8, "the first 8 processes had the memory to cross: " + stopping);
            }
        }
    }
}
