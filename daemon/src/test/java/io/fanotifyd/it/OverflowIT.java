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

    private static final Path MAX_QUEUED = Path.of("/proc/sys/fs/fanotify/max_queued_events");

    /**
     * The kernel takes a group's queue depth from a host-wide sysctl when the group is created: the test sets it
     * for the daemon's start only and puts it back at once.
     */
    static Daemon startWithKernelQueue(Path out, int depth, String... args) throws IOException {
        String old = readSysctl(MAX_QUEUED);
        Files.writeString(MAX_QUEUED, Integer.toString(depth));
        try {
            return Daemon.start(out, 1, args);
        } finally {
            Files.writeString(MAX_QUEUED, old);
            assertEquals(old, readSysctl(MAX_QUEUED), "sysctl restored");
        }
    }

    /**
     * One read(2) with room for the whole value: a sysctl file answers a read at a non-zero offset with EOF,
     * so a reader that starts with a small chunk (Files.readString does, on a file of size 0) gets "1" out
     * of "16384" and, written back, would leave the host with a one-event queue.
     */
    static String readSysctl(Path p) throws IOException {
        try (var in = new java.io.FileInputStream(p.toFile())) {
            byte[] buf = new byte[64];
            int n = in.read(buf);
            return new String(buf, 0, Math.max(0, n), java.nio.charset.StandardCharsets.US_ASCII).trim();
        }
    }

    @Test
    void overflowProducesARecord() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            try (Daemon d = startWithKernelQueue(m.outside("out.jsonl"), 64, "--queue-size", "kernel", "--watch",
                    dir.toString())) {
                d.freeze(); // stop the reader so the queue fills
                try {
                    Shell.run("i=0; while [ $i -lt 400 ]; do : > " + dir + "/f$i; i=$((i+1)); done");
                } finally {
                    d.thaw();
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
                d.freeze();
                try {
                    Shell.run("cd " + dir + " && i=0; while [ $i -lt " + n + " ]; do : > f$i; i=$((i+1)); done");
                } finally {
                    d.thaw();
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
