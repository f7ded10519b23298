package io.fanotifyd.daemon;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
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
import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.BufferSink;
import io.fanotifyd.sink.JsonWriter;
import io.fanotifyd.sink.RecordEncoder;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The event records the notification pipeline writes, on synthetic FID events (no root, no kernel group): the
 * specification's fields first and in its order, then ours; the {@code events} text for every mask, also when
 * masks that share a slot of the encoder's cache alternate; one sequence number per record.
 */
class RecordsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long FSID = 0x7265636f72647300L;
    private static final byte[] DIR = "/records/d".getBytes(StandardCharsets.US_ASCII);
    /** The specification's event fields, in its order; ours follow. */
    private static final List<String> SPEC_FIELDS = List.of("schema_version", "type", "ts_ms", "mask", "events",
            "decision", "job_id", "path_role", "pid", "comm", "exe", "path", "name", "is_dir");

    /** One event of {@code mask} by pid 1 with a directory handle and {@code name}; returns the next offset. */
    private static int event(MemorySegment b, int at, long mask, String name) {
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        int info = (4 + 8 + 8 + 8 + n.length + 1 + 3) & ~3;
        int len = Fanotify.METADATA_SIZE + info;
        b.asSlice(at, len).fill((byte) 0);
        b.set(JAVA_INT_UNALIGNED, at, len);
        b.set(JAVA_BYTE, at + 4, (byte) Fanotify.FANOTIFY_METADATA_VERSION);
        b.set(JAVA_SHORT_UNALIGNED, at + 6, (short) Fanotify.METADATA_SIZE);
        b.set(JAVA_LONG_UNALIGNED, at + 8, mask);
        b.set(JAVA_INT_UNALIGNED, at + 16, Fanotify.FAN_NOFD);
        b.set(JAVA_INT_UNALIGNED, at + 20, 1);
        int r = at + Fanotify.METADATA_SIZE;
        b.set(JAVA_BYTE, r, (byte) Fanotify.INFO_DFID_NAME);
        b.set(JAVA_SHORT_UNALIGNED, r + 2, (short) info);
        b.set(JAVA_LONG_UNALIGNED, r + 4, FSID);
        b.set(JAVA_INT_UNALIGNED, r + 12, 8);
        b.set(JAVA_INT_UNALIGNED, r + 16, 1);
        b.set(JAVA_LONG_UNALIGNED, r + 20, 42);
        MemorySegment.copy(n, 0, b, JAVA_BYTE, r + 28, n.length);
        return at + len;
    }

    /** The records the pipeline writes for {@code masks} (one event each, named e0, e1, ...), in one batch. */
    private static List<JsonNode> records(List<Long> masks) throws IOException {
        BufferSink sink = new BufferSink(1 << 20);
        try (Arena arena = Arena.ofConfined(); Filesystems none = new Filesystems()) {
            MemorySegment buf = arena.allocate(128L * masks.size() + 64, 8);
            int len = 0;
            for (int i = 0; i < masks.size(); i++) {
                len = event(buf, len, masks.get(i), "e" + i);
            }
            DirPathCache dirs = new DirPathCache(64, Long.MAX_VALUE);
            Warmup.seedDirectories(new EventCursor(), buf, len, dirs, DIR, System.currentTimeMillis());
            Enricher enricher = new Enricher(true, -1, dirs, new HandleResolver(none, arena),
                    new ProcessCache(64, 1000, arena), new MountScope(), new JobIndex(List.of()));
            Policy policy = new Policy(new CanaryMatcher(List.of()), null, false, true);
            Warmup.pipeline(enricher, policy, new RecordEncoder(), sink).observe(buf, len);
        }
        JsonWriter w = sink.begin();
        String text = new String(w.array(), 0, w.length(), StandardCharsets.UTF_8);
        List<JsonNode> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (!line.isEmpty()) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }

    /** Bits that make another kind of event (permission, overflow, error, mount): not notification records. */
    private static final long OTHER_KINDS = EventMask.PERM_EVENTS | EventMask.Q_OVERFLOW | (1L << 15) | (3L << 24);

    @Test
    void theSpecificationsFieldsComeFirstAndInItsOrder() throws IOException {
        List<JsonNode> rs = records(List.of(EventMask.CREATE, EventMask.MODIFY | EventMask.CLOSE_WRITE));
        assertEquals(2, rs.size(), rs.toString());
        for (JsonNode r : rs) {
            List<String> keys = new ArrayList<>();
            for (Iterator<String> it = r.fieldNames(); it.hasNext(); ) {
                keys.add(it.next());
            }
            assertEquals(SPEC_FIELDS, keys.subList(0, SPEC_FIELDS.size()), r.toString());
            assertEquals(1, r.get("schema_version").asInt());
            assertEquals("event", r.get("type").asText());
            assertEquals("observe", r.get("decision").asText());
            assertEquals(1, r.get("pid").asInt());
            assertTrue(r.get("job_id").isNull() && r.get("path_role").isNull(), r.toString());
        }
        assertEquals("CREATE", rs.get(0).get("events").asText());
        assertEquals(EventMask.CREATE, rs.get(0).get("mask").asLong());
        assertEquals("/records/d/e0", rs.get(0).get("path").asText());
        assertEquals("e0", rs.get(0).get("name").asText());
        assertEquals("MODIFY,CLOSE_WRITE", rs.get(1).get("events").asText());
        assertEquals(rs.get(0).get("seq").asLong() + 1, rs.get(1).get("seq").asLong(), "one seq per record");
    }

    /**
     * The encoder keeps the text of the last masks in 32 slots: masks that share a slot, alternating, and
     * random masks (unknown bits included) must each get their own text.
     */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void everyMaskGetsItsOwnEventsText(long seed) throws IOException {
        Random random = new Random(seed);
        List<Long> masks = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            long m = switch (random.nextInt(3)) {
                // MODIFY and OPEN|MODIFY share a slot ((m ^ m >>> 27) & 31 == 2)
                case 0 -> random.nextBoolean() ? EventMask.MODIFY : EventMask.MODIFY | EventMask.OPEN;
                case 1 -> 1L << random.nextInt(30);
                default -> random.nextLong() & 0x3fff_ffffL;
            } & ~OTHER_KINDS;
            if (m == 0) {
                m = EventMask.CREATE;
            }
            masks.add(m);
        }
        List<JsonNode> rs = records(masks);
        assertEquals(masks.size(), rs.size());
        for (int i = 0; i < masks.size(); i++) {
            assertEquals(masks.get(i), rs.get(i).get("mask").asLong(), rs.get(i).toString());
            assertEquals(EventMask.names(masks.get(i)), rs.get(i).get("events").asText(), rs.get(i).toString());
        }
    }
}
