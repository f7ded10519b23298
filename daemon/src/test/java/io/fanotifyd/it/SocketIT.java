package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code --socket}: subscribers of a Unix socket get the output's bytes from the moment they connect, whole
 * records only; a slow one cannot slow the output or anyone else and learns what it missed; the socket file's
 * life cycle (stale, live, not a socket, mode, group, removal, relative path) and {@code --subscribe}.
 *
 * <p>Subscribers are the test JVM's own {@link SocketChannel}s, each read by a thread of its own ({@link Sub}),
 * or a {@code fanotifyd --subscribe} child. The daemon accepts a connection on its socket thread, some time
 * after {@code connect} returns: tests that need a subscriber to see a given record wait for the daemon's
 * "connected (N now)" log line (-v) before making it. Files are made by {@code sh} loops on a tmpfs of the
 * test's own; with {@code --events create} each file is exactly one record.
 */
@Tag("kernel")
class SocketIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * Bound for any wait on the daemon or a subscriber: a bound, not a measure (a 46 MB stream on a loaded
     * machine can take long).
     */
    private static final int WAIT_S = 60;

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    // --------------------------------------------------------------------------------------------- helpers

    /** A subscriber: a connected channel and, once {@link #startReading} is called, a thread copying it. */
    static final class Sub implements AutoCloseable {
        final SocketChannel channel;
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();
        private volatile boolean eof;
        private volatile boolean closed;
        private volatile IOException error;
        private Thread reader;

        private Sub(SocketChannel channel) {
            this.channel = channel;
        }

        static Sub connect(Path socket) throws IOException {
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                ch.connect(UnixDomainSocketAddress.of(socket));
            } catch (IOException e) {
                ch.close();
                throw e;
            }
            return new Sub(ch);
        }

        Sub startReading() {
            reader = Thread.ofPlatform().daemon().name("sub-reader").start(() -> {
                ByteBuffer bb = ByteBuffer.allocate(1 << 16);
                try {
                    while (true) {
                        bb.clear();
                        int n = channel.read(bb);
                        synchronized (received) {
                            if (n < 0) {
                                eof = true;
                                received.notifyAll();
                                return;
                            }
                            received.write(bb.array(), 0, n);
                            received.notifyAll(); // awaitSize
                        }
                    }
                } catch (IOException e) {
                    if (!closed) {
                        error = e;
                    }
                }
            });
            return this;
        }

        byte[] bytes() {
            synchronized (received) {
                return received.toByteArray();
            }
        }

        int size() {
            synchronized (received) {
                return received.size();
            }
        }

        boolean eof() {
            return eof;
        }

        void awaitEof(String what) throws IOException {
            await(() -> eof || error != null, what + ": EOF", WAIT_S);
            if (error != null) {
                throw new IOException(what + ": read failed", error);
            }
        }

        /**
         * For a subscriber that does not read: waits until the hub has written to its socket, by taking one byte
         * (the rest stays unread).
         */
        void awaitQueued(String what) throws IOException {
            channel.configureBlocking(false);
            try (Selector readable = Selector.open()) {
                channel.register(readable, SelectionKey.OP_READ);
                if (readable.select(TimeUnit.SECONDS.toMillis(WAIT_S)) == 0
                        || channel.read(ByteBuffer.allocate(1)) != 1) {
                    fail("not within " + WAIT_S + " s: " + what + " got a first byte");
                }
            }
        }

        /** Waits (bounded) until {@code n} bytes came or the hub closed the connection; woken by the reader. */
        void awaitSize(long n, String what) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
            synchronized (received) {
                long left;
                while (received.size() < n && !eof && (left = deadline - System.nanoTime()) > 0) {
                    try {
                        received.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
            if (size() < n) {
                // A subscriber that fell a whole backlog behind loses a block and is told so: say which it was.
                int notices = new String(bytes(), StandardCharsets.UTF_8).split("\"type\":\"dropped\"", -1).length - 1;
                fail(what + ": " + size() + " of " + n + " bytes" + (eof ? ", then EOF" : " within " + WAIT_S + " s")
                        + "; dropped notices received: " + notices);
            }
        }

        @Override
        public void close() throws IOException {
            closed = true;
            channel.close();
            if (reader != null) {
                try {
                    reader.join(5000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    static void await(BooleanSupplier done, String what, int seconds) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("not within " + seconds + " s: " + what);
            }
            Daemon.sleep(10);
        }
    }

    static int occurrences(String text, String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length())) {
            n++;
        }
        return n;
    }

    /** Waits until the daemon's log holds {@code count} lines containing {@code needle}. */
    static void awaitLog(Daemon d, String needle, int count) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (occurrences(d.stderr(), needle) < count) {
            if (System.nanoTime() > deadline) {
                fail("log has not " + count + " x '" + needle + "' within " + WAIT_S + " s:\n" + d.stderr());
            }
            Daemon.sleep(10);
        }
    }

    /** Waits until the daemon has accepted its {@code n}th subscriber (so it gets every record made from now). */
    static void awaitAccepted(Daemon d, int n) throws IOException {
        awaitLog(d, " connected (", n);
    }

    /**
     * Waits until each subscriber holds as many bytes as the output file. Tests that are not about stopping do
     * this before SIGTERM: a subscriber still behind when the daemon stops loses its tail (a product bug, see
     * {@link #aSubscriberBehindAtShutdownGetsWholeRecords}), and that must not make them flaky.
     */
    static void awaitCaughtUp(Path out, Sub... subs) throws IOException {
        long size = Files.size(out);
        for (Sub s : subs) {
            s.awaitSize(size, "subscriber caught up with the output");
        }
    }

    static long countLines(Path file) throws IOException {
        if (!Files.exists(file)) {
            return 0;
        }
        long n = 0;
        for (byte b : Files.readAllBytes(file)) {
            if (b == '\n') {
                n++;
            }
        }
        return n;
    }

    /** Waits until the daemon logs the departure of this process's subscriber; returns the log's name for it. */
    static String awaitLeaveLogged(Daemon d) {
        // How the hub words it depends on a race: "disconnected", "read failed: ..." or "write failed: ...".
        String who = "subscriber pid " + ProcessHandle.current().pid() + " uid 0 ";
        await(() -> {
            try {
                String log = d.stderr();
                return log.contains(who + "disconnected") || log.contains(who + "read failed")
                        || log.contains(who + "write failed");
            } catch (IOException e) {
                return false;
            }
        }, "a log line for the subscriber that left", WAIT_S);
        return who;
    }

    static void awaitFileContains(Path file, String needle, String what) {
        await(() -> {
            try {
                return Files.readString(file).contains(needle);
            } catch (IOException e) {
                return false;
            }
        }, what, WAIT_S);
    }

    static void awaitLines(Path file, long n, int seconds) {
        long[] seen = {0};
        await(() -> {
            try {
                seen[0] = countLines(file);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
            return seen[0] >= n;
        }, file + ": " + n + " lines (has " + seen[0] + ")", seconds);
    }

    /** Every line a whole JSON object; the bytes must end with a newline (nothing torn). */
    static List<JsonNode> parseAll(byte[] bytes, String what) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == '\n') {
                String line = new String(bytes, start, i - start, StandardCharsets.UTF_8);
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (IOException e) {
                    throw new AssertionError(what + ": line " + (out.size() + 1) + " is not JSON: " + line, e);
                }
                assertTrue(n != null && n.isObject(), what + ": line " + (out.size() + 1) + " not an object: " + line);
                out.add(n);
                start = i + 1;
            }
        }
        if (start != bytes.length) {
            fail(what + ": ends with a torn record (" + (bytes.length - start) + " bytes without a newline): "
                    + new String(bytes, start, Math.min(200, bytes.length - start), StandardCharsets.UTF_8));
        }
        return out;
    }

    static List<String> lines(byte[] bytes) {
        String s = new String(bytes, StandardCharsets.UTF_8);
        List<String> parts = Arrays.asList(s.split("\n", -1));
        return parts.subList(0, parts.size() - 1); // what follows the last newline is not a line (yet)
    }

    static void assertSameBytes(byte[] expected, byte[] actual, String what) {
        if (!Arrays.equals(expected, actual)) {
            int i = 0;
            while (i < Math.min(expected.length, actual.length) && expected[i] == actual[i]) {
                i++;
            }
            fail(what + ": expected " + expected.length + " bytes, got " + actual.length + "; first difference at "
                    + i + ": expected '" + excerpt(expected, i) + "', got '" + excerpt(actual, i) + "'");
        }
    }

    static String excerpt(byte[] b, int at) {
        int from = Math.max(0, at - 40);
        int to = Math.min(b.length, at + 80);
        return from >= to ? "<end>" : new String(b, from, to - from, StandardCharsets.UTF_8);
    }

    /** {@code count} empty files {@code prefix0..} in {@code dir}, by one {@code sh} (30 s bound). */
    static void makeFiles(Path dir, String prefix, int count) throws IOException {
        Shell.run("i=0; while [ $i -lt " + count + " ]; do : > '" + dir + "/" + prefix + "'$i; i=$((i+1)); done");
    }

    /**
     * {@link Daemon#start}, then waits for the "ready" log line (-v): the daemon handles SIGTERM only from then
     * on (its marks show a little earlier: see {@link #sigtermAsSoonAsTheMarksAreInPlaceIsACleanStop}).
     */
    static Daemon start(Path output, int marks, String... args) throws IOException {
        Daemon d = Daemon.start(output, marks, args);
        try {
            awaitLog(d, "info: ready: ", 1);
        } catch (IOException | RuntimeException | AssertionError e) {
            d.close();
            throw e;
        }
        return d;
    }

    static String[] args(Path dir, Path socket, String... more) {
        List<String> a = new ArrayList<>(List.of("-v", "--watch", dir.toString(), "--events", "create", "--socket",
                socket.toString()));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    static boolean isSocket(Path p) throws IOException {
        return Files.exists(p, LinkOption.NOFOLLOW_LINKS)
                && ((Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000) == 0140000;
    }

    /** Runs the launcher to its end (60 s bound), in {@code cwd}. */
    static Daemon.Finished launch(Path cwd, String... args) throws IOException {
        return Daemon.runToEnd(List.of(), cwd, 60, args);
    }

    static void assertOneErrorLine(Daemon.Finished r, int code, String... needles) {
        String all = "exit " + r.exit() + ", stderr: " + r.stderr();
        assertEquals(code, r.exit(), all);
        assertEquals(1, r.stderrLines().size(), "one line: " + all);
        for (String n : needles) {
            assertTrue(r.stderr().contains(n), "mentions '" + n + "': " + all);
        }
        assertFalse(r.stderr().contains("internal error") || r.stderr().contains("Exception"), all);
    }

    // ------------------------------------------------------------------------ 1. exactly the output's bytes

    @Test
    void twoSubscribersGetExactlyTheOutputBytesFromWhenTheyConnected() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            byte[] file;
            byte[] a;
            byte[] b;
            byte[] c;
            long cFrom;
            try (Daemon d = start(out, 1, args(dir, sock));
                 Sub subA = Sub.connect(sock).startReading();
                 Sub subB = Sub.connect(sock).startReading()) {
                awaitAccepted(d, 2);
                assertEquals(0, Files.size(out), "nothing written before the first event");
                makeFiles(dir, "a", 2000);
                awaitLines(out, 2000, WAIT_S);
                // A third one mid-stream: it gets the file from the offset it had when it was accepted.
                cFrom = Files.size(out);
                try (Sub subC = Sub.connect(sock).startReading()) {
                    awaitAccepted(d, 3);
                    assertEquals(cFrom, Files.size(out), "nothing happened while the third connected");
                    makeFiles(dir, "b", 2000);
                    awaitLines(out, 4000, WAIT_S);
                    awaitCaughtUp(out, subA, subB);
                    subC.awaitSize(Files.size(out) - cFrom, "C caught up");
                    assertEquals(0, d.stop(), d.stderr());
                    subA.awaitEof("A");
                    subB.awaitEof("B");
                    subC.awaitEof("C");
                    c = subC.bytes();
                }
                file = Files.readAllBytes(out);
                a = subA.bytes();
                b = subB.bytes();
            }
            List<JsonNode> records = Daemon.parse(out);
            assertEquals(4000, records.size(), "one CREATE per file");
            assertSameBytes(file, a, "subscriber A");
            assertSameBytes(file, b, "subscriber B");
            // C must hold everything written after it connected. It may hold more: the chunk the output had just
            // written when C was accepted, if its publication came after (a product bug, see
            // subscribersGetNothingWrittenBeforeTheyConnected); then it starts at an earlier record boundary.
            long cStart = file.length - c.length;
            assertTrue(cStart <= cFrom && cStart >= 0, "C got " + c.length + " bytes, less than the " + (file.length
                    - cFrom) + " written after it connected");
            assertTrue(cStart == 0 || file[(int) cStart - 1] == '\n', "C starts at a record boundary");
            assertSameBytes(Arrays.copyOfRange(file, (int) cStart, file.length), c, "subscriber C");
            if (cStart != cFrom) {
                System.out.println("SocketIT: subscriber C, accepted when the file had " + cFrom + " bytes, got the"
                        + " file from offset " + cStart + " (records written before it connected)");
            }
            assertEquals(4000, parseAll(a, "A").size());
            assertTrue(parseAll(c, "C").size() >= 2000, "C got the 2000 records made after it connected");
            assertTrue(parseAll(b, "B").stream().allMatch(r -> "event".equals(r.path("type").asText())
                    && r.path("events").asText().equals("CREATE")), "only CREATE events");
        }
    }

    /**
     * Nothing written to the output before a subscriber connected may reach it. With the output a pipe (stdout
     * read by a consumer that pauses), the test reads what the daemon has written so far, then connects: the
     * subscriber must get a tail of what stdout yields afterwards, not records the test had already read.
     */
    @Test
    void subscribersGetNothingWrittenBeforeTheyConnected() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path sock = m.outside("s.sock");
            Path err = m.outside("stderr.txt");
            List<String> cmd = new ArrayList<>(List.of(KernelSupport.launcher().toString(), "--foreground", "-o",
                    "-"));
            cmd.addAll(List.of(args(dir, sock)));
            Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
            try {
                Daemon.awaitMarks(p.pid(), 1);
                awaitFileContains(err, "info: ready: ", "ready");
                makeFiles(dir, "f", 2000); // ~540 KB: the pipe takes 64 KiB, the rest waits in the writer thread
                Daemon.awaitOutputBlockedInWrite(p.pid(), 1, WAIT_S);
                java.io.InputStream stdout = p.getInputStream();
                ByteArrayOutputStream before = new ByteArrayOutputStream();
                before.write(stdout.readNBytes(1 << 16)); // of ~540 KB: the daemon's write stays blocked
                Daemon.awaitOutputBlockedInWrite(p.pid(), 1, WAIT_S); // the pipe full again, before we connect
                try (Sub s = Sub.connect(sock).startReading()) {
                    awaitFileContains(err, "connected (1 now)", "subscriber accepted");
                    ByteArrayOutputStream after = new ByteArrayOutputStream();
                    Thread drain = Thread.ofPlatform().daemon().start(() -> {
                        try {
                            stdout.transferTo(after);
                        } catch (IOException ignored) {
                            // the daemon is gone
                        }
                    });
                    awaitLinesOf(after, 2000 - lines(before.toByteArray()).size());
                    p.toHandle().destroy(); // the stop gives the subscriber what it has not sent yet, then EOF
                    assertTrue(p.waitFor(WAIT_S, TimeUnit.SECONDS), "exit after SIGTERM");
                    s.awaitEof("subscriber");
                    drain.join(5000);
                    byte[] later = after.toByteArray();
                    byte[] got = s.bytes();
                    assertTrue(got.length <= later.length, "the subscriber got " + got.length + " bytes, more than the "
                            + later.length + " the output took after it connected (the test had read " + before.size()
                            + " bytes before connecting)");
                    assertSameBytes(Arrays.copyOfRange(later, later.length - got.length, later.length), got,
                            "subscriber: a tail of what was written after it connected");
                }
            } finally {
                if (p.isAlive()) {
                    p.destroyForcibly();
                    p.waitFor(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    static void awaitLinesOf(ByteArrayOutputStream stream, long n) {
        await(() -> {
            byte[] b;
            synchronized (stream) {
                b = stream.toByteArray();
            }
            return lines(b).size() >= n;
        }, n + " lines on stdout", WAIT_S);
    }

    /**
     * A subscriber still behind when the daemon stops (its backlog holds records the output already has, well
     * under the 8 MiB limit, so nothing was dropped) must still get whole records: the README promises
     * "exactly the bytes written to the output, in whole records".
     */
    @Test
    void aSubscriberBehindAtShutdownGetsWholeRecords() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            try (Daemon d = start(out, 1, args(dir, sock));
                 Sub lagging = Sub.connect(sock)) {
                awaitAccepted(d, 1);
                makeFiles(dir, "f", 12000); // ~3 MB: more than the socket buffer, less than the backlog
                awaitLines(out, 12000, WAIT_S);
                assertEquals(0, d.stop(), d.stderr()); // it has not read a byte: behind, whatever the timing
                lagging.startReading();
                lagging.awaitEof("lagging subscriber");
                byte[] file = Files.readAllBytes(out);
                byte[] got = lagging.bytes();
                System.out.println("SocketIT: lagging subscriber at shutdown got " + got.length + " of " + file.length
                        + " bytes");
                List<JsonNode> rs = parseAll(got, "lagging subscriber");
                long dropped = rs.stream().filter(r -> "dropped".equals(r.path("type").asText()))
                        .mapToLong(r -> r.path("dropped").asLong()).sum();
                long events = rs.stream().filter(r -> "event".equals(r.path("type").asText())).count();
                assertEquals(12000, events + dropped, "every record received or counted as dropped");
                if (dropped == 0) {
                    assertSameBytes(file, got, "lagging subscriber");
                } else {
                    // Whole records, the file's from its start, then the one record that counts the rest.
                    List<String> gotLines = lines(got);
                    assertTrue(gotLines.getLast().contains("\"type\":\"dropped\""), "ends with the count");
                    byte[] records = String.join("\n", gotLines.subList(0, gotLines.size() - 1))
                            .concat("\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
                    assertSameBytes(Arrays.copyOf(file, records.length), records, "lagging subscriber's records");
                }
            }
        }
    }

    // ------------------------------------------------------------------ 2. a subscriber that never reads

    @Test
    void aSubscriberThatNeverReadsSlowsNothingAndLearnsWhatItMissed() throws IOException {
        final int files = 160000; // one ~250-byte CREATE each: ~40 MB, well over the 8 MiB backlog
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            try (Daemon d = start(out, 1, args(dir, sock));
                 Sub stuck = Sub.connect(sock);
                 Sub reading = Sub.connect(sock).startReading()) {
                try {
                    stuck.channel.setOption(StandardSocketOptions.SO_RCVBUF, 4096);
                } catch (IOException | UnsupportedOperationException ignored) {
                    // best effort: AF_UNIX stream sockets are bounded by the sender's buffer anyway
                }
                awaitAccepted(d, 2);
                long t0 = System.nanoTime();
                for (int batch = 0; batch < 4; batch++) {
                    makeFiles(dir, "b" + batch + "-", files / 4);
                }
                awaitLines(out, files, 30);
                long ms = (System.nanoTime() - t0) / 1_000_000;
                System.out.println("SocketIT: " + files + " records in the file after " + ms + " ms with one stuck"
                        + " and one reading subscriber");
                byte[] file = Files.readAllBytes(out);
                List<JsonNode> fileRecords = Daemon.parse(out);
                assertEquals(files, fileRecords.stream().filter(r -> r.path("events").asText().equals("CREATE"))
                        .count(), "the output got every record");
                assertEquals(files, fileRecords.size());

                reading.awaitSize(file.length, "the reading subscriber");
                assertSameBytes(file, reading.bytes(), "the reading subscriber");

                // Now the stuck one reads: whole records, and every record is either received or counted.
                Map<Long, String> lineBySeq = new HashMap<>();
                List<String> fileLines = lines(file);
                for (int i = 0; i < fileLines.size(); i++) {
                    lineBySeq.put(fileRecords.get(i).get("seq").asLong(), fileLines.get(i));
                }
                stuck.startReading();
                long[] tally = new long[3]; // events, dropped, dropped records
                Supplier<Boolean> complete = () -> {
                    byte[] got = stuck.bytes();
                    int end = got.length;
                    while (end > 0 && got[end - 1] != '\n') {
                        end--;
                    }
                    long ev = 0;
                    long dr = 0;
                    long notices = 0;
                    for (String line : lines(Arrays.copyOf(got, end))) {
                        if (line.contains("\"type\":\"dropped\"")) {
                            notices++;
                            try {
                                dr += JSON.readTree(line).get("dropped").asLong();
                            } catch (IOException e) {
                                throw new AssertionError("not JSON: " + line, e);
                            }
                        } else {
                            ev++;
                        }
                    }
                    tally[0] = ev;
                    tally[1] = dr;
                    tally[2] = notices;
                    return ev + dr >= files;
                };
                await(complete::get, "the stuck subscriber caught up (events + dropped = " + files + ")", WAIT_S);
                byte[] got = trimToLines(stuck.bytes()); // whole lines: what the tally above counted
                List<JsonNode> rs = parseAll(got, "the stuck subscriber");
                List<String> gotLines = lines(got);
                long events = 0;
                long dropped = 0;
                long notices = 0;
                long lastSeq = 0;
                for (int i = 0; i < rs.size(); i++) {
                    JsonNode r = rs.get(i);
                    if ("dropped".equals(r.path("type").asText())) {
                        notices++;
                        assertEquals(1, r.path("schema_version").asInt(), r.toString());
                        assertTrue(r.path("dropped").asLong() > 0, r.toString());
                        dropped += r.path("dropped").asLong();
                    } else {
                        events++;
                        long seq = r.get("seq").asLong();
                        assertTrue(seq > lastSeq, "in order: " + seq + " after " + lastSeq);
                        lastSeq = seq;
                        assertEquals(lineBySeq.get(seq), gotLines.get(i), "the same bytes as the file's record " + seq);
                    }
                }
                System.out.println("SocketIT: the stuck subscriber got " + events + " records and " + notices
                        + " dropped notices for " + dropped + " records (" + got.length + " bytes)");
                assertTrue(notices >= 1, "at least one dropped record");
                assertEquals(files, events + dropped, "records received + dropped = records in the file");

                stuck.close();
                awaitLog(d, "records had been dropped for it", 1);
                assertTrue(d.stderr().contains("disconnected (" + dropped + " records had been dropped for it)"),
                        d.stderr());
                assertEquals(0, d.stop(), d.stderr());
                reading.awaitEof("the reading subscriber");
                assertSameBytes(Files.readAllBytes(out), reading.bytes(), "the reading subscriber at the end");
            }
        }
    }

    /**
     * A subscriber that reads gets every record of a burst that fits in the backlog (8 MiB by default), however
     * fast the daemon writes it. The burst: the daemon is stopped (SIGSTOP, its own pid) while 7000 files are
     * made in a directory with a 600-byte path (~6 MB of records), then continued, so it reads its queue in full
     * 1 MiB batches and writes them as fast as it can. A larger burst than the backlog costs a subscriber that
     * reads slower than the daemon writes some records, counted (see the stuck subscriber above): with 30000
     * files (26 MB) a reading subscriber lost 1000-5000 of them on this 2-CPU VM.
     */
    @Test
    void aFastSubscriberGetsEveryRecordOfABurstWithLongPaths() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String segment = "d".repeat(200);
            Path deep = Files.createDirectories(m.root().resolve(segment).resolve(segment).resolve(segment));
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            try (Daemon d = start(out, 1, args(deep, sock));
                 Sub fast = Sub.connect(sock).startReading()) {
                awaitAccepted(d, 1);
                d.freeze();
                try {
                    makeFiles(deep, "", 7000);
                } finally {
                    d.thaw();
                }
                awaitLines(out, 7000, 60);
                long size = Files.size(out);
                // Until it has as many bytes as the file, or (records having been dropped) nothing more comes.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
                int last = -1;
                while (fast.size() < size && fast.size() != last && System.nanoTime() < deadline) {
                    last = fast.size();
                    Daemon.sleep(1000);
                }
                List<JsonNode> rs = parseAll(trimToLines(fast.bytes()), "the fast subscriber");
                long dropped = rs.stream().filter(r -> "dropped".equals(r.path("type").asText()))
                        .mapToLong(r -> r.path("dropped").asLong()).sum();
                System.out.println("SocketIT: burst with long paths: the fast subscriber got " + rs.size()
                        + " records of 7000, " + dropped + " dropped; output " + size + " bytes");
                assertEquals(0, dropped, "records dropped for a subscriber that keeps up");
                assertSameBytes(Files.readAllBytes(out), fast.bytes(), "the fast subscriber");
            }
        }
    }

    /** {@code bytes} up to and including its last newline. */
    static byte[] trimToLines(byte[] bytes) {
        int end = bytes.length;
        while (end > 0 && bytes[end - 1] != '\n') {
            end--;
        }
        return Arrays.copyOf(bytes, end);
    }

    // -------------------------------------------------------------------- 3. a subscriber leaves mid-stream

    @Test
    void aSubscriberThatLeavesMidStreamAffectsNobody() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            try (Daemon d = start(out, 1, args(dir, sock));
                 Sub stays = Sub.connect(sock).startReading()) {
                Sub leaves = Sub.connect(sock).startReading();
                awaitAccepted(d, 2);
                makeFiles(dir, "a", 5000);
                leaves.awaitSize(10_000, "the leaving subscriber");
                leaves.close(); // in the middle of the stream: more is on its way
                makeFiles(dir, "b", 5000);
                awaitLines(out, 10000, WAIT_S);
                awaitLeaveLogged(d);
                assertTrue(d.process().isAlive(), "still running");
                makeFiles(dir, "c", 1000);
                awaitLines(out, 11000, WAIT_S);
                awaitCaughtUp(out, stays);
                try (Sub later = Sub.connect(sock).startReading()) {
                    awaitAccepted(d, 3);
                    List<String> connects = d.stderr().lines().filter(l -> l.contains(" connected (")).toList();
                    assertTrue(connects.get(connects.size() - 1).endsWith("connected (2 now)"),
                            "the one that left no longer counts: " + d.stderr());
                }
                assertEquals(0, d.stop(), d.stderr());
                stays.awaitEof("the remaining subscriber");
                assertEquals(11000, Daemon.parse(out).size());
                assertSameBytes(Files.readAllBytes(out), stays.bytes(), "the remaining subscriber");
            }
        }
    }

    /**
     * A subscriber that goes away with records still unread (killed, or a pipeline whose reader quit) has left,
     * like one that leaves while the stream is idle: the log should say "disconnected", not report a failure.
     */
    @Test
    void aSubscriberThatLeavesWithUnreadRecordsIsLoggedAsDisconnected() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            try (Daemon d = start(out, 1, args(dir, sock))) {
                Sub leaves = Sub.connect(sock); // never reads
                awaitAccepted(d, 1);
                makeFiles(dir, "a", 2000); // ~540 KB: more than its socket buffer takes
                awaitLines(out, 2000, WAIT_S);
                leaves.awaitQueued("the subscriber that leaves"); // it leaves with records unread, not before any came
                leaves.close();
                String who = awaitLeaveLogged(d);
                String log = d.stderr();
                assertFalse(log.contains("write failed") || log.contains("read failed"),
                        "a subscriber that leaves is not a failure: " + log);
                assertTrue(log.contains(who + "disconnected"), log);
            }
        }
    }

    // ------------------------------------------------------------------- 4. stale, live, not a socket at all

    @Test
    void aStaleSocketIsReplacedALiveOneAndOtherFilesAreRefused() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            try (ServerSocketChannel gone = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
                gone.bind(UnixDomainSocketAddress.of(sock));
            }
            assertTrue(isSocket(sock), "a stale socket file left behind");
            try (Daemon d = start(out, 1, args(dir, sock))) {
                assertTrue(d.stderr().contains("replaced a stale socket"), d.stderr());
                assertTrue(d.stderr().contains(sock.toString()), d.stderr());
                try (Sub s = Sub.connect(sock).startReading()) {
                    awaitAccepted(d, 1);
                    makeFiles(dir, "x", 1);
                    awaitLines(out, 1, WAIT_S);
                    s.awaitSize(Files.size(out), "subscriber of the replacing daemon");
                }

                Path out2 = m.outside("second.jsonl");
                Daemon.Finished second = launch(m.outside(""), "--foreground", "--watch", dir.toString(), "-o", out2.toString(),
                        "--socket", sock.toString());
                assertOneErrorLine(second, 1, sock.toString(), "another process is listening");
                assertTrue(isSocket(sock), "the first daemon's socket is still there");
                try (Sub s = Sub.connect(sock).startReading()) {
                    awaitAccepted(d, 2 + 1); // the second daemon's probe counts as one too
                    long from = Files.size(out);
                    makeFiles(dir, "y", 1);
                    awaitLines(out, 2, WAIT_S);
                    s.awaitSize(Files.size(out) - from, "the first daemon still serves its socket");
                }
                assertEquals(0, d.stop(), d.stderr());
            }
            assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "removed on exit");

            Path regular = m.outside("regular.sock");
            Files.writeString(regular, "keep me\n");
            Daemon.Finished r = launch(m.outside(""), "--foreground", "--watch", dir.toString(), "-o",
                    m.outside("third.jsonl").toString(), "--socket", regular.toString());
            assertOneErrorLine(r, 1, regular.toString(), "not a socket");
            assertEquals("keep me\n", Files.readString(regular), "the regular file is untouched");

            Path directory = Files.createDirectory(m.outside("dir.sock"));
            Daemon.Finished rd = launch(m.outside(""), "--foreground", "--watch", dir.toString(), "-o",
                    m.outside("fourth.jsonl").toString(), "--socket", directory.toString());
            assertOneErrorLine(rd, 1, directory.toString(), "not a socket");
            assertTrue(Files.isDirectory(directory), "the directory is untouched");
        }
    }

    /**
     * Like any other failed start (JobsIT: FdOutput.removeIfCreatedAndEmpty), a start refused because of its
     * socket must not leave behind the empty output file it created.
     */
    @Test
    void aStartRefusedForItsSocketLeavesNoOutputFileBehind() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path regular = Files.writeString(m.outside("regular.sock"), "keep me\n");
            Path out = m.outside("never.jsonl");
            Daemon.Finished r = launch(m.outside(""), "--foreground", "--watch", m.root().toString(), "-o", out.toString(),
                    "--socket", regular.toString());
            assertEquals(1, r.exit(), r.stderr());
            assertFalse(Files.exists(out), "the failed start left its empty output file behind: " + out);
            Path out2 = m.outside("never2.jsonl");
            Daemon.Finished g = launch(m.outside(""), "--foreground", "--watch", m.root().toString(), "-o", out2.toString(),
                    "--socket", m.outside("s.sock").toString(), "--socket-group", "no-such-group-fanotifyd-it");
            assertEquals(1, g.exit(), g.stderr());
            assertFalse(Files.exists(out2), "the failed start left its empty output file behind: " + out2);
        }
    }

    /**
     * A daemon only removes its own socket file on exit: if the file was removed and another daemon now listens
     * at the same path, the first one's exit must leave the second one's socket alone (/tmp is ext4 here,
     * where a freed inode number is handed out again at once).
     */
    @Test
    void onExitADaemonLeavesAnotherDaemonsSocketAtItsPathAlone() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path sock = m.outside("shared.sock");
            try (Daemon first = start(m.outside("first.jsonl"), 1, args(dir, sock))) {
                long firstIno = (Long) Files.getAttribute(sock, "unix:ino");
                Files.delete(sock);
                try (Daemon second = start(m.outside("second.jsonl"), 1, args(dir, sock))) {
                    long secondIno = (Long) Files.getAttribute(sock, "unix:ino");
                    System.out.println("SocketIT: socket inode of the first daemon " + firstIno + ", of the second "
                            + secondIno);
                    assertEquals(0, first.stop(), first.stderr());
                    assertTrue(isSocket(sock), "the first daemon's exit removed the second daemon's socket (inode "
                            + firstIno + " then " + secondIno + ")");
                    try (Sub s = Sub.connect(sock).startReading()) {
                        awaitAccepted(second, 1);
                    }
                    assertEquals(0, second.stop(), second.stderr());
                }
            }
            assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "removed by the second daemon's exit");
        }
    }

    /**
     * Once its marks are in place (the point the foreground daemon is taken as started), SIGTERM stops the
     * daemon cleanly: exit 0 and the socket file removed. Tried 20 times: SIGTERM as soon as the mark shows.
     */
    @Test
    void sigtermAsSoonAsTheMarksAreInPlaceIsACleanStop() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            for (int i = 0; i < 20; i++) {
                Path sock = m.outside("early" + i + ".sock");
                List<String> cmd = new ArrayList<>(List.of(KernelSupport.launcher().toString(), "--foreground", "-o",
                        m.outside("early" + i + ".jsonl").toString()));
                cmd.addAll(List.of(args(m.root(), sock)));
                Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
                try {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
                    while (Daemon.countMarks(p.pid()) < 1 && p.isAlive() && System.nanoTime() < deadline) {
                        Daemon.sleep(1); // as soon as the mark shows (Daemon.awaitMarks looks every 20 ms)
                    }
                    assertTrue(Daemon.countMarks(p.pid()) >= 1, "mark placed within " + WAIT_S + " s");
                    p.toHandle().destroy();
                    assertTrue(p.waitFor(WAIT_S, TimeUnit.SECONDS), "exit after SIGTERM");
                } finally {
                    if (p.isAlive()) {
                        p.destroyForcibly();
                        p.waitFor(10, TimeUnit.SECONDS);
                    }
                }
                assertEquals(0, p.exitValue(), "run " + (i + 1) + ": exit code after SIGTERM");
                assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "run " + (i + 1) + ": socket left behind");
            }
        }
    }

    // ---------------------------------------------------------------------------------------- 5. permissions

    @Test
    void socketModeAndGroup() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path sock = m.outside("s.sock");
            try (Daemon d = start(m.outside("a.jsonl"), 1, args(dir, sock))) {
                assertEquals("rw-rw----", mode(sock), "default 0660");
                assertEquals(0, d.stop(), d.stderr());
            }
            assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "removed on SIGTERM");

            try (Daemon d = start(m.outside("b.jsonl"), 1, args(dir, sock, "--socket-mode", "0600"))) {
                assertEquals("rw-------", mode(sock));
                assertEquals(0, d.stop(), d.stderr());
            }
            assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "removed on SIGTERM");

            try (Daemon d = start(m.outside("c.jsonl"), 1, args(dir, sock, "--socket-mode", "644",
                    "--socket-group", "65534"))) {
                assertEquals("rw-r--r--", mode(sock), "without the leading 0");
                assertEquals(65534, Files.getAttribute(sock, "unix:gid", LinkOption.NOFOLLOW_LINKS));
                assertEquals(0, Files.getAttribute(sock, "unix:uid", LinkOption.NOFOLLOW_LINKS));
                assertEquals(0, d.stop(), d.stderr());
            }

            String groupName = Files.readAllLines(Path.of("/etc/group")).stream()
                    .filter(l -> l.startsWith("nogroup:") || l.startsWith("nobody:")).map(l -> l.split(":"))
                    .filter(f -> f.length > 2).findFirst().map(f -> f[0] + ":" + f[2]).orElse(null);
            if (groupName != null) {
                String[] g = groupName.split(":");
                try (Daemon d = start(m.outside("d.jsonl"), 1, args(dir, sock, "--socket-group", g[0]))) {
                    assertEquals(Integer.parseInt(g[1]), Files.getAttribute(sock, "unix:gid",
                            LinkOption.NOFOLLOW_LINKS), "group by name " + g[0]);
                    assertEquals("rw-rw----", mode(sock));
                    assertEquals(0, d.stop(), d.stderr());
                }
            }

            Daemon.Finished bad = launch(m.outside(""), "--foreground", "--watch", dir.toString(), "-o",
                    m.outside("e.jsonl").toString(), "--socket", sock.toString(), "--socket-mode", "0999");
            assertOneErrorLine(bad, 2, "0999");
            assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "no socket made after a usage error");

            Daemon.Finished noGroup = launch(m.outside(""), "--foreground", "--watch", dir.toString(), "-o",
                    m.outside("f.jsonl").toString(), "--socket", sock.toString(), "--socket-group",
                    "no-such-group-fanotifyd-it");
            assertOneErrorLine(noGroup, 1, "no-such-group-fanotifyd-it");
            assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "no socket made when the group is unknown");
        }
    }

    /** The mode is set explicitly, so a restrictive umask (077) does not shrink it, nor a lax one widen it. */
    @Test
    void theModeDoesNotDependOnTheUmask() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path sock = m.outside("s.sock");
            for (String[] c : List.of(new String[] {"077", "0666", "rw-rw-rw-"}, new String[] {"000", "0600",
                    "rw-------"})) {
                List<String> cmd = new ArrayList<>(List.of("/bin/sh", "-c", "umask " + c[0] + "; exec \"$0\" \"$@\"",
                        KernelSupport.launcher().toString(), "--foreground", "-o", m.outside("u.jsonl").toString()));
                cmd.addAll(List.of(args(dir, sock, "--socket-mode", c[1])));
                Path err = m.outside("umask" + c[0] + ".err");
                Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(err.toFile()).start();
                try {
                    Daemon.awaitMarks(p.pid(), 1);
                    awaitFileContains(err, "info: ready: ", "ready");
                    assertEquals(c[2], mode(sock), "--socket-mode " + c[1] + " under umask " + c[0]);
                } finally {
                    p.toHandle().destroy();
                    if (!p.waitFor(WAIT_S, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                        p.waitFor(10, TimeUnit.SECONDS);
                    }
                }
                assertEquals(0, p.exitValue());
                assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "removed on exit");
            }
        }
    }

    // -------------------------------------------------------------------- 6. a relative path in daemon mode

    @Test
    void aRelativeSocketPathWorksInDaemonMode() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path work = Files.createDirectory(m.outside("work"));
            Daemon.Finished r = launch(work, "-v", "--watch", dir.toString(), "--events", "create", "--socket", "rel.sock", "-o",
                    "out.jsonl", "--pid-file", "p.pid", "--log-file", "log.txt");
            assertEquals(0, r.exit(), "daemon start: " + r.stderr());
            long pid = LifecycleIT.readPid(work.resolve("p.pid"));
            Path sock = work.resolve("rel.sock");
            Path out = work.resolve("out.jsonl");
            Path log = work.resolve("log.txt");
            try {
                assertEquals("/", Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")).toString(), "detached");
                assertTrue(isSocket(sock), "socket at cwd/rel.sock: " + Files.readString(log));
                assertFalse(Files.exists(Path.of("/rel.sock"), LinkOption.NOFOLLOW_LINKS), "not relative to /");
                try (Sub s = Sub.connect(sock).startReading()) {
                    awaitFileContains(log, " connected (1 now)", "the subscriber accepted");
                    assertTrue(Files.readString(log).contains("socket " + sock + ":"), "the log names the absolute"
                            + " path: " + Files.readString(log));
                    makeFiles(dir, "f", 100);
                    awaitLines(out, 100, WAIT_S);
                    awaitCaughtUp(out, s);
                    TestMount.run("kill", "-TERM", Long.toString(pid));
                    LifecycleIT.awaitExit(pid, WAIT_S);
                    s.awaitEof("subscriber of the detached daemon");
                    assertSameBytes(Files.readAllBytes(out), s.bytes(), "subscriber of the detached daemon");
                }
            } finally {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "removed on SIGTERM");
            assertFalse(Files.exists(work.resolve("p.pid")), "pid file removed");
        }
    }

    // ------------------------------------------------------------------------- 7. peer credentials logged

    @Test
    void theLogNamesEachSubscribersPidAndUid() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path sock = m.outside("s.sock");
            try (Daemon d = start(m.outside("out.jsonl"), 1, args(m.root(), sock))) {
                try (Sub s = Sub.connect(sock).startReading()) {
                    awaitAccepted(d, 1);
                }
                awaitLog(d, " disconnected", 1);
                long me = ProcessHandle.current().pid();
                String log = d.stderr();
                assertTrue(log.contains("subscriber pid " + me + " uid 0 connected"), log);
                assertTrue(log.contains("subscriber pid " + me + " uid 0 disconnected"), log);
            }
        }
    }

    // ----------------------------------------------------------------------------- 8. at most 64 subscribers

    @Test
    void the65thSubscriberIsRefusedAndTheOthersKeepWorking() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            List<Sub> subs = new ArrayList<>();
            try (Daemon d = start(out, 1, args(dir, sock))) {
                try {
                    for (int i = 0; i < 64; i++) {
                        subs.add(Sub.connect(sock).startReading());
                    }
                    awaitLog(d, "connected (64 now)", 1);
                    try (Sub extra = Sub.connect(sock).startReading()) {
                        extra.awaitEof("the 65th subscriber");
                        assertEquals(0, extra.size(), "nothing sent to the refused one");
                    }
                    awaitLog(d, "refused subscriber", 1);
                    String log = d.stderr();
                    assertTrue(log.contains("refused subscriber pid " + ProcessHandle.current().pid() + " uid 0"),
                            log);
                    assertFalse(log.contains("connected (65 now)"), log);
                    makeFiles(dir, "f", 500);
                    awaitLines(out, 500, WAIT_S);
                    awaitCaughtUp(out, subs.toArray(Sub[]::new));
                    assertEquals(0, d.stop(), d.stderr());
                    byte[] file = Files.readAllBytes(out);
                    for (int i = 0; i < subs.size(); i++) {
                        subs.get(i).awaitEof("subscriber " + i);
                        assertSameBytes(file, subs.get(i).bytes(), "subscriber " + i);
                    }
                } finally {
                    for (Sub s : subs) {
                        s.close();
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------- 9. --subscribe

    @Test
    void subscribePrintsTheStreamAndExitsZeroWhenTheDaemonStops() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = m.root();
            Path out = m.outside("out.jsonl");
            Path sock = m.outside("s.sock");
            Path subOut = m.outside("sub.out");
            Path subErr = m.outside("sub.err");
            try (Daemon d = start(out, 1, args(dir, sock))) {
                Process sub = new ProcessBuilder(KernelSupport.launcher().toString(), "--subscribe", sock.toString())
                        .redirectOutput(subOut.toFile()).redirectError(subErr.toFile()).start();
                try {
                    awaitAccepted(d, 1);
                    assertTrue(d.stderr().contains("subscriber pid " + sub.pid() + " uid 0 connected"), d.stderr());
                    makeFiles(dir, "f", 3000);
                    awaitLines(out, 3000, WAIT_S);
                    long size = Files.size(out);
                    await(() -> subOut.toFile().length() >= size, "--subscribe printed everything", WAIT_S);
                    assertEquals(0, d.stop(), d.stderr());
                    assertTrue(sub.waitFor(WAIT_S, TimeUnit.SECONDS), "--subscribe exits when the daemon stops");
                    assertEquals(0, sub.exitValue(), Files.readString(subErr));
                } finally {
                    if (sub.isAlive()) {
                        sub.destroyForcibly();
                        sub.waitFor(10, TimeUnit.SECONDS);
                    }
                }
                assertEquals("", Files.readString(subErr));
                assertSameBytes(Files.readAllBytes(out), Files.readAllBytes(subOut), "--subscribe's stdout");
                assertEquals(3000, parseAll(Files.readAllBytes(subOut), "--subscribe").size());
            }

            String missing = "/nonexistent-fanotifyd-it-" + ProcessHandle.current().pid() + ".sock";
            Daemon.Finished r = launch(m.outside(""), "--subscribe", missing);
            assertOneErrorLine(r, 1, missing);
            assertEquals("", r.stdout());

            Path regular = Files.writeString(m.outside("plain"), "x");
            Daemon.Finished rr = launch(m.outside(""), "--subscribe", regular.toString());
            assertOneErrorLine(rr, 1, regular.toString());
        }
    }

    /** A socket path too long for sun_path is an ordinary start-up error. */
    @Test
    void aDaemonSocketPathTooLongIsAnOrdinaryError() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String longPath = m.outside("x".repeat(120) + ".sock").toString();
            Daemon.Finished daemon = launch(m.outside(""), "--foreground", "--watch", m.root().toString(), "-o",
                    m.outside("o.jsonl").toString(), "--socket", longPath);
            assertOneErrorLine(daemon, 1, longPath);
        }
    }

    @Test
    void subscribeWithASocketPathTooLongIsAnOrdinaryError() throws IOException {
        String longPath = "/tmp/" + "x".repeat(120) + ".sock";
        Daemon.Finished client = launch(Path.of("/"), "--subscribe", longPath);
        assertOneErrorLine(client, 1, longPath);
        assertFalse(client.stderr().contains("internal error"), client.stderr());
    }

    // ---------------------------------------------------------------------------------------- measurement

    /** Prints how long N records take to reach the output file with 0 and with 2 reading subscribers. */
    @Test
    void measureOutputTimeWithAndWithoutSubscribers() throws IOException {
        final int n = 50000;
        StringBuilder report = new StringBuilder("SocketIT measurement: " + n + " records (one CREATE per file, ~"
                + "250 bytes each) from the first file made to the last record in the output file:");
        for (int round = 0; round < 2; round++) {
            for (int subscribers : new int[] {0, 2}) {
                try (TestMount m = TestMount.tmpfs()) {
                    Path dir = m.root();
                    Path out = m.outside("out.jsonl");
                    Path sock = m.outside("s.sock");
                    List<Sub> subs = new ArrayList<>();
                    // A backlog of nearly the whole run (the most a 32 MiB heap takes): this measures time, and a subscriber thread starved on a
                    // busy machine must not lose a block (that is SlowSubscriber's business, not this test's).
                    try (Daemon d = start(out, 1, args(dir, sock, "--socket-backlog", "15M"))) {
                        try {
                            for (int i = 0; i < subscribers; i++) {
                                subs.add(Sub.connect(sock).startReading());
                            }
                            if (subscribers > 0) {
                                awaitAccepted(d, subscribers);
                            }
                            makeFiles(dir, "warm", 2000);
                            awaitLines(out, 2000, WAIT_S);
                            long t0 = System.nanoTime();
                            makeFiles(dir, "f", n);
                            long made = System.nanoTime();
                            awaitLines(out, n + 2000, 60);
                            long t1 = System.nanoTime();
                            for (Sub s : subs) {
                                s.awaitSize(Files.size(out), "subscriber");
                            }
                            long t2 = System.nanoTime();
                            report.append(String.format("%n  round %d, %d subscribers: files made in %d ms, output"
                                            + " complete after %d ms%s", round + 1, subscribers,
                                    (made - t0) / 1_000_000, (t1 - t0) / 1_000_000, subscribers == 0 ? ""
                                            : ", subscribers complete after " + (t2 - t0) / 1_000_000 + " ms"));
                            assertEquals(0, d.stop(), d.stderr());
                        } finally {
                            for (Sub s : subs) {
                                s.close();
                            }
                        }
                    }
                }
            }
        }
        System.out.println(report);
    }

}
