package io.fanotifyd.sink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class HostFieldsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static List<String> names(JsonNode n) {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }

    @Test
    void noneWithoutTheFlagOrFields() throws Exception {
        assertNull(HostFields.of(false, List.of()));
        assertNull(new RecordEncoder().host());
    }

    @Test
    void recordsEndWithTheHostThenStaticFieldsThenEventIdCountingEveryRecordType() throws Exception {
        HostFields host = HostFields.of(true, List.of(Map.entry("site", "Zürich \"A\""), Map.entry("role", "db")));
        RecordEncoder enc = new RecordEncoder(host);
        JsonWriter w = new JsonWriter(64);
        enc.overflow(1L, 0x4000L, 1, w);
        new StatsRecord(w, 2L, host).end();
        enc.overflow(3L, 0x4000L, 2, w);
        String[] lines = new String(w.array(), 0, w.length(), StandardCharsets.UTF_8).split("\n");
        assertEquals(3, lines.length);
        String bootId = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
        String run = null;
        for (int i = 0; i < 3; i++) {
            JsonNode n = JSON.readTree(lines[i]);
            List<String> names = names(n);
            assertEquals(List.of("host", "machine_id", "boot_id", "site", "role", "event_id"),
                    names.subList(names.size() - 6, names.size()), lines[i]);
            assertEquals(Files.readString(Path.of("/proc/sys/kernel/hostname")).strip(), n.get("host").asText());
            assertEquals(bootId, n.get("boot_id").asText());
            assertEquals("Zürich \"A\"", n.get("site").asText());
            String[] id = n.get("event_id").asText().split("/");
            assertEquals(3, id.length);
            assertEquals(bootId, id[0]);
            run = run == null ? id[1] : run;
            assertEquals(run, id[1], "one run");
            assertEquals(String.valueOf(i + 1), id[2], "N counts every record: " + lines[i]);
        }
        assertEquals(3, host.lastNumber());
        assertEquals(bootId + "/" + run + "/7", host.eventId(7));
        // The spec's fields come first, as without host fields.
        JsonNode plain = JSON.readTree(overflowWithout());
        assertEquals(names(plain), names(JSON.readTree(lines[0])).subList(0, names(plain).size()));
    }

    private static String overflowWithout() {
        JsonWriter w = new JsonWriter(64);
        new RecordEncoder().overflow(1L, 0x4000L, 1, w);
        return new String(w.array(), 0, w.length(), StandardCharsets.UTF_8);
    }

    @Test
    void staticFieldsAloneHaveNoEventId() throws Exception {
        HostFields host = HostFields.of(false, List.of(Map.entry("cluster", "c1")));
        JsonWriter w = new JsonWriter(64);
        new RecordEncoder(host).overflow(1L, 0x4000L, 1, w);
        JsonNode n = JSON.readTree(new String(w.array(), 0, w.length(), StandardCharsets.UTF_8));
        assertEquals("c1", n.get("cluster").asText());
        assertTrue(!n.has("event_id") && !n.has("host"));
        assertNull(host.eventId(1));
    }

    @Test
    void keys() {
        assertNull(HostFields.checkKey("cluster"));
        assertNull(HostFields.checkKey("_x9"));
        assertNull(HostFields.checkKey("a".repeat(64)));
        assertTrue(HostFields.checkKey("a".repeat(65)).startsWith("not a field name"));
        assertTrue(HostFields.checkKey("a-b").startsWith("not a field name"));
        assertTrue(HostFields.checkKey("seq").endsWith("a field of the records already"));
        assertTrue(HostFields.checkKey("cgroup_b64").endsWith("a field of the records already"));
        // The stats record's figures (DaemonMetrics) are fields of the records too.
        for (String figure : List.of("events_read_total", "records_total", "subscribers", "marks",
                "kernel_queue_events", "permission_answer_seconds", "resident_memory_bytes", "start_time_seconds")) {
            assertTrue(HostFields.checkKey(figure).endsWith("a field of the records already"), figure);
        }
    }
}
