package io.fanotifyd.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The forwarder's loop against the client's MockProducer: what is acknowledged, checkpointed and sent again. */
class ForwarderTest {
    @TempDir
    Path dir;

    /** Acknowledges every record at once, except that the send numbered {@code failAt} (1-based) fails once. */
    static final class Flaky extends MockProducer<byte[], byte[]> {
        static final AtomicInteger SENDS = new AtomicInteger();
        static volatile int failAt;
        final List<String> acked = new CopyOnWriteArrayList<>();

        Flaky() {
            super(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        }

        @Override
        public synchronized Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> r, Callback cb) {
            if (SENDS.incrementAndGet() == failAt) {
                TimeoutException e = new TimeoutException("Expiring 1 record(s): delivery timeout (test)");
                cb.onCompletion(null, e);
                return java.util.concurrent.CompletableFuture.failedFuture(e);
            }
            acked.add(new String(r.value(), StandardCharsets.UTF_8));
            return super.send(r, cb);
        }
    }

    private static List<String> lines(int n) {
        List<String> out = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            out.add("{\"type\":\"event\",\"seq\":" + i + ",\"event_id\":\"b/1/" + i + "\"}");
        }
        return out;
    }

    private Forwarder.Counts runUntil(Path out, List<Flaky> producers, int distinct) throws Exception {
        Forwarder.Counts counts = new Forwarder.Counts();
        AtomicBoolean stop = new AtomicBoolean();
        Throwable[] failed = {null};
        Thread t = new Thread(() -> {
            try (Spool spool = new Spool(out)) {
                new Forwarder(spool, dir.resolve("state"), () -> {
                    Flaky p = new Flaky();
                    producers.add(p);
                    return p;
                }, "t", "host".getBytes(StandardCharsets.UTF_8), counts).run(stop::get);
            } catch (Throwable e) {
                failed[0] = e;
            }
        });
        t.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline && received(producers).size() < distinct && t.isAlive()) {
            Thread.sleep(10);
        }
        // and until the checkpoint has caught up with the last acknowledgement
        while (System.nanoTime() < deadline && t.isAlive() && (counts.acked < counts.sent - counts.resent
                || counts.checkpointWrites == 0)) {
            Thread.sleep(10);
        }
        stop.set(true);
        t.join(30_000);
        if (failed[0] != null) {
            throw new AssertionError(failed[0]);
        }
        return counts;
    }

    private static Map<String, Integer> received(List<Flaky> producers) {
        Map<String, Integer> m = new HashMap<>();
        for (Flaky p : producers) {
            p.acked.forEach(v -> m.merge(v, 1, Integer::sum));
        }
        return m;
    }

    @Test
    void aFailedRecordIsSentAgainFromTheLastAcknowledgedAndTheCheckpointEndsAtTheEnd() throws Exception {
        Path out = dir.resolve("out.jsonl");
        List<String> written = lines(10_000);
        Files.write(out, written);
        Flaky.SENDS.set(0);
        Flaky.failAt = 4321;
        List<Flaky> producers = new CopyOnWriteArrayList<>();
        Forwarder.Counts counts = runUntil(out, producers, written.size());
        Map<String, Integer> got = received(producers);
        assertEquals(written.size(), got.size(), "every record");
        assertTrue(got.keySet().containsAll(written));
        assertEquals(2, producers.size(), "a new producer after the failure");
        assertEquals(1, counts.failures);
        long duplicates = got.values().stream().mapToLong(v -> v - 1).sum();
        // Its chunk is sent again whole: the records sent before the failure arrive twice, the failed one was
        // never sent (the client reported it inside send()), the rest of the chunk was held back.
        assertEquals(counts.resent, duplicates);
        assertEquals(4320 - 4000, duplicates);
        assertTrue(duplicates < Forwarder.CHUNK_RECORDS * Forwarder.MAX_CHUNKS_IN_FLIGHT, "" + duplicates);
        Checkpoint cp = Checkpoint.read(dir.resolve("state"));
        assertEquals(Files.size(out), cp.offset());
        assertEquals("b/1/10000", cp.lastEventId());

        // Started again: nothing is sent twice.
        Flaky.failAt = -1;
        List<Flaky> again = new CopyOnWriteArrayList<>();
        Files.writeString(out, "{\"event_id\":\"b/1/10001\"}\n", java.nio.file.StandardOpenOption.APPEND);
        runUntil(out, again, 1);
        assertEquals(Map.of("{\"event_id\":\"b/1/10001\"}", 1), received(again));
    }

    @Test
    void missingNumbersAreCountedWithinARunOnly() {
        assertEquals(0, Forwarder.missedBetween("b/7/41", "b/7/42"));
        assertEquals(9, Forwarder.missedBetween("b/7/41", "b/7/51"));
        assertEquals(0, Forwarder.missedBetween("b/7/41", "b/8/1"), "another run starts at 1");
        assertEquals(0, Forwarder.missedBetween("b/7/41", "c/7/45"), "another boot");
        assertEquals(0, Forwarder.missedBetween("b/7/41", "b/7/30"), "sent again after a failure");
        assertEquals(0, Forwarder.missedBetween("", "b/7/30"));
        assertEquals(0, Forwarder.missedBetween("b/7/x", "b/7/30"));
    }

    @Test
    void eventIdIsFoundFromTheEnd() {
        assertEquals("b/2/3", Forwarder.eventId("{\"path\":\"\\\"event_id\\\":\",\"event_id\":\"b/2/3\"}"
                .getBytes(StandardCharsets.UTF_8)));
        assertEquals("", Forwarder.eventId("{\"seq\":1}".getBytes(StandardCharsets.UTF_8)));
    }
}
