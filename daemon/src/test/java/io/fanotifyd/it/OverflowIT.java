package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** A full kernel queue is a record of its own, never silent loss. */
@Tag("kernel")
class OverflowIT {
    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    @Test
    void overflowProducesARecord() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--queue-size", "64", "--watch", dir.toString())) {
                d.process().toHandle(); // stop the reader so the queue fills
                TestMount.run("kill", "-STOP", Long.toString(d.pid()));
                try {
                    Shell.run("i=0; while [ $i -lt 400 ]; do : > " + dir + "/f$i; i=$((i+1)); done");
                } finally {
                    TestMount.run("kill", "-CONT", Long.toString(d.pid()));
                }
                JsonNode ovf = d.await(r -> "overflow".equals(r.path("type").asText()), "overflow", 10);
                assertEquals("Q_OVERFLOW", ovf.get("events").asText());
                assertEquals(0x4000, ovf.get("mask").asLong());
                assertEquals(1, ovf.get("overflows").asLong());
                assertEquals(0, d.stop());
                List<JsonNode> events = d.records().stream().filter(r -> "event".equals(r.path("type").asText())).toList();
                assertTrue(events.size() <= 64, "a 64-event queue delivered " + events.size() + " events");
            }
        }
    }

    @Test
    void theDefaultQueueIsUnlimitedAndLosesNothing() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            int n = 20000; // more than the kernel's default 16384-event queue
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--events", "create", "--watch", dir.toString())) {
                TestMount.run("kill", "-STOP", Long.toString(d.pid()));
                try {
                    Shell.run("cd " + dir + " && i=0; while [ $i -lt " + n + " ]; do : > f$i; i=$((i+1)); done");
                } finally {
                    TestMount.run("kill", "-CONT", Long.toString(d.pid()));
                }
                String last = dir + "/f" + (n - 1);
                d.await(r -> last.equals(r.path("path").asText()), "the last create", 30);
                assertEquals(0, d.stop());
                List<JsonNode> rs = d.records();
                assertTrue(rs.stream().noneMatch(r -> "overflow".equals(r.path("type").asText())), "overflowed");
                assertEquals(n, rs.stream().filter(r -> FileEventsIT.has(r, "CREATE")).count());
            }
        }
    }
}
