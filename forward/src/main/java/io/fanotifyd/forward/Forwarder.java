package io.fanotifyd.forward;

import io.fanotifyd.daemon.Log;
import io.fanotifyd.metrics.MetricsWriter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Carries the spool's records into one Kafka topic, at least once.
 *
 * <p>Records go out in chunks of up to {@link #CHUNK_RECORDS}, with up to {@link #MAX_CHUNKS_IN_FLIGHT}
 * chunks unacknowledged at a time. All records have the host's key, so they share one partition, where the
 * idempotent producer keeps them in order. The checkpoint moves to the end of a chunk only when that chunk and
 * every chunk before it were acknowledged by the broker ({@code acks=all}); it is written at most every
 * {@link #CHECKPOINT_EVERY_MS} and when the forwarder stops. When a record fails (the delivery timeout passed,
 * credentials were refused, the topic does not exist), the forwarder waits for what is still in flight, starts
 * a new producer, backs off, and sends again from the last acknowledged record: records after it may reach the
 * topic twice, never zero times while they are on disk. Duplicates carry the same {@code event_id}.
 */
final class Forwarder {
    static final int CHUNK_RECORDS = 2000;
    static final int MAX_CHUNKS_IN_FLIGHT = 8;
    static final long CHECKPOINT_EVERY_MS = 200;
    static final long POLL_MS = 20;
    static final long BACKOFF_MIN_MS = 500;
    static final long BACKOFF_MAX_MS = 30_000;

    /** Counts since start, read by the metrics server's thread. */
    static final class Counts {
        volatile long sent;
        volatile long acked;
        volatile long resent;
        volatile long missed;
        volatile long failures;
        volatile long checkpointWrites;
        volatile long checkpointErrors;
        /** Bytes of the spool after the last acknowledged record (looked at about once a second). */
        volatile long lagBytes;
        volatile long lastAckMs;

        /** The figures, for {@code --forward-metrics} (docs/FLEET.md). */
        void describe(MetricsWriter w) {
            w.counter("forward_records_sent_total", "Records handed to the Kafka producer (again after a failure"
                    + " too).", sent);
            w.counter("forward_records_acked_total", "Records the broker acknowledged (acks=all).", acked);
            w.counter("forward_records_resent_total", "Records sent again after a failure; each may be in the topic"
                    + " twice.", resent);
            w.counter("forward_records_missed_total", "Records rotation removed before they were forwarded"
                    + " (counted by event_id).", missed);
            w.counter("forward_failures_total", "Sends that failed (broker down past the delivery timeout,"
                    + " refused credentials, missing topic).", failures);
            w.counter("forward_checkpoint_writes_total", "Checkpoints written.", checkpointWrites);
            w.counter("forward_checkpoint_errors_total", "Checkpoints that could not be written (a full disk).",
                    checkpointErrors);
            w.gauge("forward_lag_bytes", "Bytes of the output and its rotated files not yet acknowledged.",
                    lagBytes);
            w.gauge("forward_last_ack_timestamp_seconds", "When the broker last acknowledged a chunk (Unix time;"
                    + " 0 before the first).", lastAckMs / 1000.0);
        }
    }

    /** One chunk of records in flight: acknowledged when {@link #pending} reaches 0 without a failure. */
    private static final class Chunk implements Callback {
        final Spool.Line last;
        final int records;
        final AtomicInteger pending;
        final Object signal;
        /** Records handed to the producer (the rest were held back after a failure). */
        int handed;
        volatile Exception failure;

        /** The last non-empty event_id of the chunk ("" if none): what the checkpoint keeps. */
        final String lastEventId;

        Chunk(Spool.Line last, String lastEventId, int records, Object signal) {
            this.last = last;
            this.lastEventId = lastEventId;
            this.records = records;
            this.pending = new AtomicInteger(records);
            this.signal = signal;
        }

        @Override
        public void onCompletion(RecordMetadata metadata, Exception e) {
            if (e != null && failure == null) {
                failure = e;
            }
            settled(1);
        }

        /** Records that were never handed to the producer count as done (and the chunk as failed). */
        void unsent(int n, Exception e) {
            failure = e;
            settled(n);
        }

        private void settled(int n) {
            if (pending.addAndGet(-n) == 0) {
                synchronized (signal) {
                    signal.notifyAll();
                }
            }
        }

        boolean done() {
            return pending.get() == 0;
        }
    }

    private final Spool spool;
    private final Path statePath;
    private final Supplier<Producer<byte[], byte[]>> producers;
    private final String topic;
    private final byte[] key;
    private final Counts counts;
    private final Object signal = new Object();
    private final ArrayDeque<Chunk> inFlight = new ArrayDeque<>();
    private Producer<byte[], byte[]> producer;
    /** The last acknowledged position, and whether it is on disk yet. */
    private Checkpoint acked;
    private boolean ackedWritten = true;
    private long lastCheckpointMs;
    /** The event_id of the last record read (""), to see a number missing from the spool. */
    private String prevId = "";
    /** The spool must go back to {@link #acked} before the next read (after a failure). */
    private boolean rewind;

    Forwarder(Spool spool, Path statePath, Supplier<Producer<byte[], byte[]>> producers, String topic, byte[] key,
              Counts counts) {
        this.spool = spool;
        this.statePath = statePath;
        this.producers = producers;
        this.topic = topic;
        this.key = key;
        this.counts = counts;
    }

    /** Runs until {@code stop} says so; then writes the checkpoint of what was acknowledged. */
    void run(BooleanSupplier stop) throws IOException {
        Checkpoint start = Checkpoint.read(statePath);
        acked = start;
        if (start != null) {
            Log.info("resuming at " + start.path() + " offset " + start.offset());
        }
        prevId = start == null ? "" : start.lastEventId();
        if (!spool.open(start) && prevId.isEmpty()) {
            Log.warn(spool.note() + "; how many records were missed is unknown (the records have no event_id:"
                    + " --host-fields)");
        }
        logNote();
        producer = newProducer(stop);
        long backoffMs = BACKOFF_MIN_MS;
        long failingSinceMs = 0;
        long ackedAtFailure = 0;
        List<Spool.Line> lines = new ArrayList<>(CHUNK_RECORDS);
        try {
            while (!stop.getAsBoolean()) {
                Exception failure = retire();
                if (failure != null) {
                    if (failingSinceMs == 0) {
                        failingSinceMs = System.currentTimeMillis();
                    }
                    recover(failure, backoffMs, stop);
                    ackedAtFailure = counts.acked;
                    backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
                    continue;
                }
                if (failingSinceMs != 0 && counts.acked > ackedAtFailure) { // the broker took a chunk again
                    Log.warn("forwarding again: the broker took records after "
                            + (System.currentTimeMillis() - failingSinceMs) / 1000 + " s of failures");
                    failingSinceMs = 0;
                    backoffMs = BACKOFF_MIN_MS;
                }
                if (producer == null) {
                    break; // stopped while no producer could be made
                }
                if (inFlight.size() >= MAX_CHUNKS_IN_FLIGHT) {
                    awaitHead(POLL_MS);
                    continue;
                }
                int n;
                lines.clear();
                try {
                    if (rewind) {
                        spool.close();
                        spool.open(acked);
                        prevId = acked == null ? "" : acked.lastEventId();
                        rewind = false;
                    }
                    measureLag();
                    n = spool.read(lines, CHUNK_RECORDS);
                } catch (IOException | RuntimeException e) {
                    // A file that cannot be read now (EIO, permissions changed, renamed on every look): from
                    // the checkpoint again, after a backoff, like a failed send.
                    recover(new IOException("reading the spool: " + e.getMessage(), e), backoffMs, stop);
                    backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
                    continue;
                }
                logNote();
                if (n == 0) {
                    checkpointIfDue(true);
                    if (inFlight.isEmpty()) {
                        sleep(POLL_MS);
                    } else {
                        awaitHead(POLL_MS);
                    }
                    continue;
                }
                send(lines, checkSequence(lines));
                checkpointIfDue(false);
            }
        } finally {
            finish();
        }
    }

    private void send(List<Spool.Line> lines, String lastEventId) {
        Chunk chunk = new Chunk(lines.getLast(), lastEventId, lines.size(), signal);
        inFlight.add(chunk);
        for (int i = 0; i < lines.size(); i++) {
            if (chunk.failure != null) {
                // The client reports most failures through the callback, after send() has waited up to
                // max.block.ms: the rest of the chunk would wait as long each. It is sent again anyway.
                chunk.unsent(lines.size() - i, chunk.failure);
                return;
            }
            try {
                producer.send(new ProducerRecord<>(topic, key, lines.get(i).bytes()), chunk);
                if (chunk.failure == null) { // a failure reported inside send() (no metadata): not sent
                    chunk.handed++;
                    counts.sent++;
                }
            } catch (RuntimeException e) {
                // Not handed over (a closed producer, an interrupt).
                chunk.unsent(lines.size() - i, e);
                return;
            }
        }
    }

    /** Drops acknowledged chunks from the head, moving {@link #acked}; returns the first failure met. */
    private Exception retire() {
        while (!inFlight.isEmpty() && inFlight.peekFirst().done()) {
            Chunk c = inFlight.peekFirst();
            if (c.failure != null) {
                return c.failure;
            }
            inFlight.removeFirst();
            counts.acked += c.records;
            counts.lastAckMs = System.currentTimeMillis();
            String id = !c.lastEventId.isEmpty() ? c.lastEventId : acked == null ? "" : acked.lastEventId();
            acked = new Checkpoint(c.last.dev(), c.last.ino(), c.last.endOffset(), c.last.path(), id,
                    c.last.head());
            ackedWritten = false;
        }
        return null;
    }

    /**
     * A send (or a read of the spool) failed: abort what is still in flight (a new producer sends it again),
     * say so, back off, and go back to the last acknowledged record.
     */
    private void recover(Exception failure, long backoffMs, BooleanSupplier stop) throws IOException {
        counts.failures++;
        // Closing at once fails the batches the client still holds; their callbacks run before it returns.
        if (producer != null) {
            producer.close(java.time.Duration.ZERO);
        }
        long deadline = System.currentTimeMillis() + 30_000;
        while (!inFlight.isEmpty() && !inFlight.peekLast().done() && System.currentTimeMillis() < deadline) {
            sleep(5);
        }
        retire(); // chunks acknowledged before a failure that is not theirs (a spool error) still count
        long again = 0;
        for (Chunk c : inFlight) {
            again += c.handed; // sent once already, some perhaps delivered: they may arrive twice
        }
        inFlight.clear();
        counts.resent += again;
        Log.error((failure instanceof IOException ? "" : "kafka: ") + describe(failure) + "; sending again from "
                + (acked == null ? "the start of the spool" : acked.path() + " offset " + acked.offset())
                + " in " + backoffMs + " ms (" + again + (again == 1 ? " record" : " records")
                + " sent since may reach the topic twice)");
        checkpointIfDue(true);
        long until = System.currentTimeMillis() + backoffMs;
        while (!stop.getAsBoolean() && System.currentTimeMillis() < until) {
            sleep(Math.min(100, until - System.currentTimeMillis()));
        }
        producer = stop.getAsBoolean() ? null : newProducer(stop);
        rewind = true;
    }

    /**
     * A new producer, tried until one is made or the forwarder stops (then null). Making one resolves the
     * bootstrap servers and loads TLS key and trust stores: a DNS outage or a store being replaced is a
     * failure to wait out like a broker's, not a configuration error.
     */
    private Producer<byte[], byte[]> newProducer(BooleanSupplier stop) {
        long backoffMs = BACKOFF_MIN_MS;
        while (!stop.getAsBoolean()) {
            try {
                return producers.get();
            } catch (RuntimeException e) {
                counts.failures++;
                Log.error("kafka: no producer: " + describe(e) + "; trying again in " + backoffMs + " ms");
                long until = System.currentTimeMillis() + backoffMs;
                while (!stop.getAsBoolean() && System.currentTimeMillis() < until) {
                    sleep(Math.min(100, until - System.currentTimeMillis()));
                }
                backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
            }
        }
        return null;
    }

    /** The exception's class and message, and its root cause's message when that says more. */
    private static String describe(Exception e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = e.getMessage() == null ? "" : ": " + e.getMessage();
        if (root != e && root.getMessage() != null && !m.contains(root.getMessage())) {
            m += ": " + root.getMessage();
        }
        return (e.getClass().getSimpleName() + m).replace('\n', ' ');
    }

    private void awaitHead(long ms) {
        synchronized (signal) {
            Chunk head = inFlight.peekFirst();
            if (head != null && !head.done()) {
                try {
                    signal.wait(ms);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    private long lagAtMs;

    /** {@link Counts#lagBytes}, at most once a second: a directory listing. */
    private void measureLag() throws IOException {
        long now = System.currentTimeMillis();
        if (now - lagAtMs < 1000) {
            return;
        }
        lagAtMs = now;
        long lag = 0;
        boolean after = acked == null;
        List<Spool.FileId> files = spool.files();
        for (Spool.FileId f : files) {
            if (!after && f.same(acked.dev(), acked.ino())) {
                after = true;
                lag += Math.max(0, f.size() - acked.offset());
            } else if (after) {
                lag += f.size();
            }
        }
        counts.lagBytes = after ? lag : files.stream().mapToLong(Spool.FileId::size).sum();
    }

    private void checkpointIfDue(boolean idle) {
        long now = System.currentTimeMillis();
        if (ackedWritten || acked == null || !idle && now - lastCheckpointMs < CHECKPOINT_EVERY_MS) {
            return;
        }
        try {
            acked.write(statePath);
            ackedWritten = true;
            counts.checkpointWrites++;
        } catch (IOException e) {
            // Records stay acknowledged; a restart before the next write sends some of them again.
            counts.checkpointErrors++;
            Log.error("checkpoint " + statePath + ": " + e.getMessage());
        }
        lastCheckpointMs = now;
    }

    /** On stop: what is in flight gets a few seconds to be acknowledged, then the checkpoint is written. */
    private void finish() {
        if (producer != null) {
            producer.close(java.time.Duration.ofSeconds(5));
        }
        retire();
        checkpointIfDue(true);
        Log.info("forwarded " + counts.acked + " records (" + counts.resent + " sent again after failures, "
                + counts.missed + " missed)" + (acked == null ? "" : "; checkpoint " + acked.path() + " offset "
                + acked.offset()));
    }

    /**
     * Looks at the event_ids of {@code lines} in order: a number missing within one run of the daemon is a
     * record that is not in the spool, removed by rotation before it was forwarded (or dropped by the daemon's
     * output, which says so in its own dropped records). Counted and logged. Returns the last event_id seen
     * in the chunk, or "".
     */
    private String checkSequence(List<Spool.Line> lines) {
        String last = "";
        for (Spool.Line l : lines) {
            String id = eventId(l.bytes());
            if (id.isEmpty()) {
                continue; // a dropped notice, or records without --host-fields
            }
            long missed = missedBetween(prevId, id);
            if (missed > 0) {
                counts.missed += missed;
                Log.error("fell behind: " + missed + " records are missing from the spool between event_id "
                        + prevId + " and " + id + " (rotation removed them before they were forwarded, or the"
                        + " daemon's output dropped them and said so in a dropped record)");
            }
            prevId = id;
            last = id;
        }
        return last;
    }

    /** How many numbers lie strictly between two event_ids of one run; 0 across runs or going back. */
    static long missedBetween(String before, String now) {
        int a = before.lastIndexOf('/');
        int b = now.lastIndexOf('/');
        if (a <= 0 || a != b || !before.regionMatches(0, now, 0, a)) {
            return 0; // another run of the daemon (or boot): numbering started again
        }
        try {
            return Math.max(0, Long.parseLong(now, b + 1, now.length(), 10)
                    - Long.parseLong(before, a + 1, before.length(), 10) - 1);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static final byte[] EVENT_ID = "\"event_id\":\"".getBytes(StandardCharsets.US_ASCII);

    /**
     * The record's {@code event_id}, or empty. It is the last field: only the record's last 160 bytes are
     * searched (the field is at most about 100), so a record without one costs little.
     */
    static String eventId(byte[] record) {
        int from = Math.max(0, record.length - 160);
        outer:
        for (int i = record.length - EVENT_ID.length; i >= from; i--) {
            for (int j = 0; j < EVENT_ID.length; j++) {
                if (record[i + j] != EVENT_ID[j]) {
                    continue outer;
                }
            }
            int start = i + EVENT_ID.length;
            int end = start;
            while (end < record.length && record[end] != '"') {
                end++;
            }
            return new String(record, start, end - start, StandardCharsets.US_ASCII);
        }
        return "";
    }

    private void logNote() {
        String n = spool.note();
        if (n != null) {
            Log.warn(n);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(Math.max(1, ms));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
