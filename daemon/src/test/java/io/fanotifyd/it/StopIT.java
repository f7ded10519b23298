package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A stop (SIGTERM) writes out everything the daemon read, within its documented bound (10 s): with a slow
 * reader of stdout every record still arrives and the exit is 0; with a reader that never reads, the daemon
 * still exits, says how many records it could not write, and exits 1.
 */
@Tag("kernel")
class StopIT {
    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    /** Reads a stream at about {@code bytesPerSecond}, keeping everything, until EOF. */
    static final class SlowReader extends Thread {
        private final InputStream in;
        private final long bytesPerSecond;
        final ByteArrayOutputStream got = new ByteArrayOutputStream();

        synchronized int size() {
            return got.size();
        }

        SlowReader(InputStream in, long bytesPerSecond) {
            this.in = in;
            this.bytesPerSecond = bytesPerSecond;
            setDaemon(true);
        }

        @Override
        public void run() {
            byte[] buf = new byte[16 * 1024];
            long start = System.nanoTime();
            long total = 0;
            try {
                int n;
                while ((n = in.read(buf)) > 0) {
                    synchronized (this) {
                        got.write(buf, 0, n);
                    }
                    total += n;
                    long dueNs = total * 1_000_000_000L / bytesPerSecond;
                    long aheadMs = (dueNs - (System.nanoTime() - start)) / 1_000_000;
                    if (aheadMs > 0) {
                        Thread.sleep(aheadMs);
                    }
                }
            } catch (IOException | InterruptedException e) {
                // the end of the stream
            }
        }
    }

    @Test
    void aStopWithASlowReaderOfStdoutWritesOutEveryRecordAndExits0() throws Exception {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            try (Daemon d = Daemon.start(List.of(), ProcessBuilder.Redirect.PIPE, null, 1, "-v", "--filesystem",
                    root.toString())) {
                SlowReader reader = new SlowReader(d.process().getInputStream(), 10L << 20);
                reader.start();
                // 30000 files made far faster than a 10 MB/s reader takes their records (about 20 MB): when the
                // stop comes right after, most of their events are still queued in the kernel or in buffers.
                int files = 30000;
                Shell.run("python3 -c 'import os\nfor i in range(" + files + "):\n    fd = os.open(\"" + root
                        + "/f%d\" % i, os.O_WRONLY | os.O_CREAT, 0o644)\n    os.write(fd, b\"x\")\n"
                        + "    os.close(fd)'");
                int code = Daemon.terminate(d.process());
                reader.join(30_000);
                assertEquals(0, code, d.stderr());
                String all = reader.got.toString(StandardCharsets.UTF_8);
                assertTrue(all.isEmpty() || all.endsWith("\n"), "the stream ends with a whole line");
                long lines = all.lines().count();
                Map<String, Long> st = d.stats();
                long made = st.get("records") + st.get("alerts") + st.get("overflows");
                System.out.println("stop with a 10 MB/s reader: " + lines + " of " + made + " records read reached it"
                        + " (" + all.lines().filter(l -> l.contains("\"events\":\"CREATE\"")).count() + " creates of "
                        + files + " files)");
                assertTrue(made >= files, "the workload made its records: " + st);
                assertEquals(made, st.get("records written"), "every record read was written: " + st);
                assertEquals(0L, st.get("dropped by a slow output"), st.toString());
                assertEquals(made, lines, "every record reached the reader");
                all.lines().forEach(l -> assertTrue(l.startsWith("{\"schema_version\":1,\"type\":\"event\""), l));
                // Every event made before the stop is reported: each file's create and its close after writing.
                java.util.Set<String> created = new java.util.HashSet<>();
                java.util.Set<String> closed = new java.util.HashSet<>();
                for (String l : (Iterable<String>) all.lines()::iterator) {
                    String name = l.replaceAll(".*\"name\":\"([^\"]*)\".*", "$1");
                    if (l.contains("\"events\":\"CREATE\"")) {
                        created.add(name);
                    }
                    if (l.contains("CLOSE_WRITE")) {
                        closed.add(name);
                    }
                }
                assertEquals(files, created.size(), "files whose create was reported; " + st + d.stderr().lines().filter(x -> !x.contains("debug")).toList());
                assertEquals(files, closed.size(), "files whose close was reported");
                // The kernel's order, through the reader's ring and the event thread: one process made the files
                // one after another, and seq counts up by one.
                long seq = 0;
                int lastCreated = -1;
                for (String l : (Iterable<String>) all.lines()::iterator) {
                    long s = Long.parseLong(l.replaceAll(".*\"seq\":(\\d+).*", "$1"));
                    assertEquals(seq + 1, s, "seq after " + seq + ": " + l);
                    seq = s;
                    if (l.contains("\"events\":\"CREATE\"")) {
                        int i = Integer.parseInt(l.replaceAll(".*\"name\":\"f(\\d+)\".*", "$1"));
                        assertEquals(lastCreated + 1, i, "the create after f" + lastCreated + "'s: " + l);
                        lastCreated = i;
                    }
                }
            }
        }
    }

    @Test
    void aStopWithAReaderThatNeverReadsEndsWithinTheBoundCountsWhatWasNotWrittenAndExits1() throws Exception {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            try (Daemon d = Daemon.start(List.of(), ProcessBuilder.Redirect.PIPE, null, 1, "-v", "--mount",
                    root.toString())) {
                // Nobody reads stdout: its pipe (64 KiB) fills at once, and the output's buffers after it.
                Shell.run(OutputFaultsIT.writeFiles(root, "f", 3000));
                d.process().toHandle().destroy(); // SIGTERM to this pid only
                assertTrue(d.process().waitFor(40, TimeUnit.SECONDS), "the stop is bounded: " + d.stderr());
                assertEquals(1, d.process().exitValue(), d.stderr());
                String log = d.stderr();
                java.util.regex.Matcher lost = java.util.regex.Pattern.compile(
                        "stopping: (\\d+) records read before the stop could not be written to stdout within 10000"
                                + " ms").matcher(log);
                assertTrue(lost.find(), log);
                assertTrue(Long.parseLong(lost.group(1)) > 0, log);
                d.process().getInputStream().close();
            }
        }
    }
}
