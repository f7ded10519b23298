package io.fanotifyd.sink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

class StatsRecordTest {
    @Test
    void everyKindOfFigureIsOneValidJsonLine() throws Exception {
        JsonWriter w = new JsonWriter(256);
        StatsRecord r = new StatsRecord(w, 1234);
        r.counter("events_read_total", "h", "type", new String[] {"OPEN", "CREATE"}, new long[] {5, 6});
        r.counter("records_written_total", "h", 11);
        r.gauge("ratio", "h", 0.5);
        r.histogramSeconds("answer_seconds", "h", new long[] {2_000, 1_000_000}, new long[] {3, 1, 2}, 1_500_000_000L);
        r.gauge("marks", "h", "group", new String[] {"notification"}, new long[] {2});
        r.end();
        String line = new String(w.array(), 0, w.length(), StandardCharsets.UTF_8);
        assertEquals('\n', line.charAt(line.length() - 1));
        JsonNode n = new ObjectMapper().readTree(line);
        assertEquals("stats", n.get("type").asText());
        assertEquals(1234, n.get("ts_ms").asLong());
        assertEquals(6, n.get("events_read_total").get("CREATE").asLong());
        assertEquals(11, n.get("records_written_total").asLong());
        assertEquals(0.5, n.get("ratio").asDouble());
        JsonNode h = n.get("answer_seconds");
        assertEquals(6, h.get("count").asLong());
        assertEquals(1.5, h.get("sum").asDouble());
        assertEquals(3, h.get("le").get("0.000002").asLong());
        assertEquals(4, h.get("le").get("0.001").asLong());
        assertEquals(6, h.get("le").get("+Inf").asLong());
        assertEquals(2, n.get("marks").get("notification").asLong());
    }
}
