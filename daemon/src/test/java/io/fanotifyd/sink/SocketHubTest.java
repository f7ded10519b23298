package io.fanotifyd.sink;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The hub's memory bound, with real Unix sockets (no root needed): what subscribers have not taken is bounded
 * once for all of them, the loss falls on the subscriber furthest behind, and every record is either received
 * or counted. Records are 100-byte lines {@code {"seq":N,...}}; every wait is bounded.
 */
class SocketHubTest {
    private static final long WAIT_MS = 20_000;
    private static final int LINE = 100;
    private static final long BACKLOG = 1 << 20;
    private static final Pattern SEQ = Pattern.compile("\\{\"seq\":(\\d+),");
    private static final Pattern DROPPED = Pattern.compile("\"type\":\"dropped\".*\"dropped\":(\\d+)");

    private final List<String> log = Collections.synchronizedList(new ArrayList<>());

    /** A subscriber whose reading can be paused (then the socket, and the hub's backlog for it, fill up). */
    static final class Sub implements AutoCloseable {
        final SocketChannel channel;
        final ByteArrayOutputStream received = new ByteArrayOutputStream();
        volatile boolean reading;
        volatile boolean eof;
        final Thread thread;

        Sub(Path socket, boolean reading) throws IOException {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(socket));
            this.reading = reading;
            thread = Thread.ofPlatform().daemon().start(this::run);
        }

        private void run() {
            ByteBuffer bb = ByteBuffer.allocate(1 << 16);
            try {
                while (true) {
                    if (!reading) {
                        Thread.sleep(5);
                        continue;
                    }
                    bb.clear();
                    int n = channel.read(bb);
                    if (n < 0) {
                        eof = true;
                        return;
                    }
                    synchronized (received) {
                        received.write(bb.array(), 0, n);
                    }
                }
            } catch (IOException | InterruptedException e) {
                eof = true;
            }
        }

        long size() {
            synchronized (received) {
                return received.size();
            }
        }

        String text() {
            synchronized (received) {
                return received.toString(UTF_8);
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void await(String what, BooleanSupplier done) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MS);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                fail("not within " + WAIT_MS + " ms: " + what);
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    /** Publishes records {@code from..from+count-1} as one chunk of whole lines, as the output's writer does. */
    private static void publish(SocketHub hub, long from, int count) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment chunk = arena.allocate((long) count * LINE);
            for (int i = 0; i < count; i++) {
                StringBuilder line = new StringBuilder("{\"seq\":" + (from + i) + ",\"pad\":\"");
                line.append("x".repeat(LINE - line.length() - 3)).append("\"}\n");
                byte[] b = line.toString().getBytes(UTF_8);
                MemorySegment.copy(b, 0, chunk, ValueLayout.JAVA_BYTE, (long) i * LINE, LINE);
            }
            hub.streamLock().lock();
            try {
                hub.publish(chunk, chunk.byteSize(), count);
            } finally {
                hub.streamLock().unlock();
            }
        }
    }

    /** {@code text} up to its last newline (a read may end inside a record). */
    private static String wholeLines(String text) {
        return text.substring(0, text.lastIndexOf('\n') + 1);
    }

    /** Records received (by seq, each once and in order) plus records announced as dropped. */
    private static long[] tally(String text, String who) {
        long records = 0;
        long dropped = 0;
        long last = -1;
        assertTrue(text.isEmpty() || text.endsWith("\n"), who + ": ends with a whole line");
        for (String line : text.split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            Matcher d = DROPPED.matcher(line);
            if (d.find()) {
                dropped += Long.parseLong(d.group(1));
                continue;
            }
            Matcher m = SEQ.matcher(line);
            assertTrue(m.find() && line.length() == LINE - 1, who + ": a whole record: " + line);
            long seq = Long.parseLong(m.group(1));
            assertTrue(seq > last, who + ": in order: " + seq + " after " + last);
            last = seq;
            records++;
        }
        return new long[] {records, dropped};
    }

    @Test
    void subscribersThatStallAtDifferentTimesShareOneBound(@TempDir Path dir) throws IOException {
        Path socket = dir.resolve("s.sock");
        int perChunk = 2560; // 256 KB, as the output hands over
        int chunks = 64; // 16 MB: sixteen times the backlog
        try (SocketHub hub = SocketHub.open(socket.toString(), 0600, -1, 8, BACKLOG, log::add);
             Sub first = new Sub(socket, false);
             Sub second = new Sub(socket, true)) {
            await("two subscribers", () -> hub.subscribers() == 2);
            long seq = 0;
            for (int c = 0; c < chunks; c++) {
                if (c == chunks / 2) {
                    second.reading = false; // the second stalls half-way, the first has stalled all along
                }
                publish(hub, seq, perChunk);
                seq += perChunk;
                if (c < chunks / 2) {
                    long want = seq * LINE;
                    await("the second subscriber keeps up", () -> second.size() >= want);
                }
            }
            assertTrue(hub.peakBacklogBytes() <= BACKLOG, "held at most the backlog for both: "
                    + hub.peakBacklogBytes());
            assertTrue(hub.droppedRecords() > 0);
            first.reading = true;
            second.reading = true;
            long total = seq;
            await("both have taken everything", () -> {
                long[] a = tally(wholeLines(first.text()), "first");
                long[] b = tally(wholeLines(second.text()), "second");
                return a[0] + a[1] == total && b[0] + b[1] == total;
            });
            long[] a = tally(first.text(), "first");
            long[] b = tally(second.text(), "second");
            assertTrue(a[1] > 0 && b[1] > 0, "both lost records: " + a[1] + ", " + b[1]);
            assertEquals(a[1] + b[1], hub.droppedRecords(), "the hub's count is theirs");
            assertTrue(b[0] >= total / 2, "the second received all it read before it stalled: " + b[0]);
        }
    }

    /**
     * A quiet stream hands over a record or two at a time: those share blocks (one open block takes the next
     * lines), so a stalled subscriber's backlog holds records, not mostly empty blocks; a reading one gets each
     * as it comes.
     */
    @Test
    void smallChunksShareBlocks(@TempDir Path dir) throws IOException {
        Path socket = dir.resolve("s.sock");
        int records = 6000; // 600 KB in 6000 chunks: fits in the 1 MiB backlog only if chunks share blocks
        try (SocketHub hub = SocketHub.open(socket.toString(), 0600, -1, 8, BACKLOG, log::add);
             Sub stalled = new Sub(socket, false);
             Sub reading = new Sub(socket, true)) {
            await("two subscribers", () -> hub.subscribers() == 2);
            for (int i = 0; i < records; i++) {
                publish(hub, i, 1);
                if (i % 500 == 0) {
                    long want = (i + 1L) * LINE;
                    await("the reading subscriber gets each record", () -> reading.size() >= want);
                }
            }
            await("the reading subscriber has all", () -> reading.size() >= (long) records * LINE);
            assertEquals(0, hub.droppedRecords(), "nothing dropped");
            assertTrue(hub.peakBacklogBytes() <= 10L * SocketHub.BLOCK_BYTES, "600 KB in ~10 blocks: "
                    + hub.peakBacklogBytes());
            stalled.reading = true;
            await("the stalled one has all", () -> stalled.size() >= (long) records * LINE);
            assertEquals(records, tally(stalled.text(), "stalled")[0]);
            assertEquals(records, tally(reading.text(), "reading")[0]);
        }
    }

    @Test
    void theLossFallsOnTheSubscriberFurthestBehind(@TempDir Path dir) throws IOException {
        Path socket = dir.resolve("s.sock");
        int perChunk = 2560;
        int chunks = 40; // 10 MB
        try (SocketHub hub = SocketHub.open(socket.toString(), 0600, -1, 8, BACKLOG, log::add);
             Sub stalled = new Sub(socket, false);
             Sub keeping = new Sub(socket, true)) {
            await("two subscribers", () -> hub.subscribers() == 2);
            long seq = 0;
            for (int c = 0; c < chunks; c++) {
                publish(hub, seq, perChunk);
                seq += perChunk;
                long want = seq * LINE;
                await("the reading subscriber keeps up", () -> keeping.size() >= want);
            }
            long total = seq;
            long[] k = tally(keeping.text(), "keeping up");
            assertEquals(total, k[0], "every record for the one that keeps up");
            assertEquals(0, k[1]);
            assertTrue(hub.peakBacklogBytes() <= BACKLOG, "peak " + hub.peakBacklogBytes());
            stalled.reading = true;
            await("the stalled one has taken what is left", () -> {
                long[] s = tally(wholeLines(stalled.text()), "stalled");
                return s[0] + s[1] == total;
            });
            long[] s = tally(stalled.text(), "stalled");
            assertEquals(s[1], hub.droppedRecords());
            // Oldest first: what it still gets is the newest records, the backlog's worth.
            assertTrue(stalled.text().endsWith(keeping.text().substring(keeping.text().length() - LINE)),
                    "its last record is the last one published");
        }
    }
}
