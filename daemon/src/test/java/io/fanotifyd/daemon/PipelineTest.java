package io.fanotifyd.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.fanotifyd.enrich.DirPathCache;
import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.HandleResolver;
import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.enrich.MountScope;
import io.fanotifyd.enrich.ProcessCache;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.Decision;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.BufferSink;
import io.fanotifyd.sink.JsonWriter;
import io.fanotifyd.sink.RecordEncoder;
import io.fanotifyd.sink.RecordSink;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The permission side of {@link Pipeline} on events of the test's own (an {@code OPEN_PERM} per file, its fd
 * opened here, the opener this JVM): every answer is written before anything is recorded for its event, the
 * answer is the decision the record carries, and a sink that fails costs records, never an answer.
 */
class PipelineTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int METADATA = 24;
    private final int self = (int) ProcessHandle.current().pid();

    /** {@code n} OPEN_PERM events, one per file, each with an fd of its own (the pipeline closes them). */
    private int events(MemorySegment buf, List<Path> files) {
        int at = 0;
        for (Path f : files) {
            int fd = Syscalls.open(f.toString(), Fanotify.O_RDONLY | Fanotify.O_CLOEXEC, 0);
            buf.set(ValueLayout.JAVA_INT_UNALIGNED, at, METADATA);
            buf.set(ValueLayout.JAVA_BYTE, at + 4, (byte) Fanotify.FANOTIFY_METADATA_VERSION);
            buf.set(ValueLayout.JAVA_SHORT_UNALIGNED, at + 6, (short) METADATA);
            buf.set(ValueLayout.JAVA_LONG_UNALIGNED, at + 8, EventMask.OPEN_PERM);
            buf.set(ValueLayout.JAVA_INT_UNALIGNED, at + 16, fd);
            buf.set(ValueLayout.JAVA_INT_UNALIGNED, at + 20, self);
            at += METADATA;
        }
        return at;
    }

    private static Pipeline pipeline(Arena arena, Filesystems fs, List<String> canaries, RecordSink sink,
                                     Counters counters, boolean failClosed) {
        Enricher enricher = new Enricher(false, -1, new DirPathCache(64, 1000), new HandleResolver(fs, arena),
                new ProcessCache(64, 1000, arena), new MountScope(), new JobIndex(List.of()));
        Policy policy = new Policy(new CanaryMatcher(canaries), null, true, true);
        return new Pipeline(enricher, policy, new RecordEncoder(), sink, null, counters, failClosed, -1,
                new LogLimiter(Log.DEBUG, 10_000), new LogLimiter(Log.DEBUG, 10_000));
    }

    private static List<Path> files(Path dir, String... names) throws IOException {
        List<Path> out = new ArrayList<>();
        for (String n : names) {
            out.add(Files.writeString(dir.resolve(n), n));
        }
        return out;
    }

    @Test
    void eachAnswerIsWrittenBeforeItsRecordAndIsTheRecordsDecision(@TempDir Path dir) throws IOException {
        Path real = dir.toRealPath();
        List<Path> files = files(real, "a.txt", "canary.key", "b.txt");
        BufferSink sink = new BufferSink(1 << 16);
        List<String> answers = new ArrayList<>();
        try (Arena arena = Arena.ofConfined(); Filesystems fs = new Filesystems()) {
            MemorySegment buf = arena.allocate(4096, 8);
            int len = events(buf, files);
            Pipeline p = pipeline(arena, fs, List.of(real + "/canary*"), sink, new Counters(), false);
            p.answer(buf, len, (fd, response) -> {
                // What was committed when this answer went out: the records of the events answered before.
                answers.add(response + "@" + sink.records());
                return 0;
            }, System.nanoTime());
            // The metrics' counts: three events read and answered, one canary alert.
            PipelineCounts c = p.counts();
            assertEquals(2, c.decisions[io.fanotifyd.policy.Decision.ALLOW.ordinal()]);
            assertEquals(1, c.decisions[io.fanotifyd.policy.Decision.DENY.ordinal()]);
            assertEquals(3, java.util.Arrays.stream(c.latency).sum());
            assertEquals(3, c.eventsByBit[Long.numberOfTrailingZeros(io.fanotifyd.kernel.EventMask.OPEN_PERM)]);
            assertEquals(1, c.canaryAlerts);
            assertEquals(0, c.burstAlerts);
        }
        // canary.key: its record and its alert (2), after its answer
        assertEquals(List.of(Fanotify.FAN_ALLOW + "@0", Fanotify.FAN_DENY + "@1", Fanotify.FAN_ALLOW + "@3"), answers);
        List<JsonNode> records = parse(sink);
        assertEquals(4, records.size(), records.toString());
        assertEquals(List.of("allow", "deny", "allow"), records.stream().filter(r -> "event".equals(r.path("type")
                .asText())).map(r -> r.path("decision").asText()).toList());
        assertEquals(real + "/canary.key", records.get(2).path("path").asText(), records.get(2).toString());
        assertEquals(Decision.DENY.label(), records.get(1).path("decision").asText());
    }

    @Test
    void aSinkThatFailsCostsTheRecordsButNoAnswer(@TempDir Path dir) throws IOException {
        Path real = dir.toRealPath();
        List<Path> files = files(real, "a", "b", "c");
        RecordSink failing = new RecordSink() {
            private final JsonWriter w = new JsonWriter(1024);

            @Override
            public JsonWriter begin() {
                throw new IllegalStateException("the sink is broken");
            }

            @Override
            public void commit(int records) {
                throw new AssertionError("nothing to commit");
            }

            @Override
            public void abort() {
                w.reset();
            }

            @Override
            public int pending() {
                return 0;
            }
        };
        Counters counters = new Counters();
        List<Integer> answers = new ArrayList<>();
        try (Arena arena = Arena.ofConfined(); Filesystems fs = new Filesystems()) {
            MemorySegment buf = arena.allocate(4096, 8);
            int len = events(buf, files);
            pipeline(arena, fs, List.of(), failing, counters, true).answer(buf, len, (fd, response) -> {
                answers.add(response);
                return 0;
            }, System.nanoTime());
        }
        assertEquals(List.of(Fanotify.FAN_ALLOW, Fanotify.FAN_ALLOW, Fanotify.FAN_ALLOW), answers,
                "decided as the policy says (fail-closed is for errors while deciding, not after)");
        assertEquals(3, counters.errors.get(), "each lost record counted as an error");
        assertEquals(0, counters.records);
    }

    private static List<JsonNode> parse(BufferSink sink) throws IOException {
        JsonWriter w = sink.begin();
        String text = new String(w.array(), 0, w.length(), StandardCharsets.UTF_8);
        sink.abort();
        List<JsonNode> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (!line.isEmpty()) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }
}
