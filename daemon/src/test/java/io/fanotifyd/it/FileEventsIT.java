package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Each basic file event, with its path, name, is_dir and pid, in FID mode on tmpfs and ext4. */
@Tag("kernel")
class FileEventsIT {
    static final List<String> SPEC_FIELDS = List.of("schema_version", "type", "ts_ms", "mask", "events", "decision",
            "job_id", "path_role", "pid", "comm", "exe", "path", "name", "is_dir");

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    static TestMount mount(String fs) throws IOException {
        return fs.equals("ext4") ? TestMount.ext4() : TestMount.tmpfs();
    }

    static boolean has(JsonNode r, String event) {
        return List.of(r.path("events").asText().split(",")).contains(event);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tmpfs", "ext4"})
    void fidModeReportsEveryEventWithNamesAndPid(String fs) throws IOException {
        try (TestMount m = mount(fs)) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path out = m.outside("out.jsonl");
            try (Daemon d = Daemon.start(out, 1, "--watch", dir.toString())) {
                long writer = Shell.run("echo hello > " + dir + "/a.txt");
                long renamer = Shell.run("exec mv " + dir + "/a.txt " + dir + "/b.txt");
                long mkdirer = Shell.run("exec mkdir " + dir + "/sub");
                long deleter = Shell.run("exec rm " + dir + "/b.txt");

                String a = dir + "/a.txt";
                String b = dir + "/b.txt";
                JsonNode create = d.await(r -> has(r, "CREATE") && a.equals(r.path("path").asText()), "CREATE a", 10);
                assertEquals("a.txt", create.get("name").asText());
                assertEquals(writer, create.get("pid").asLong());
                assertFalse(create.get("is_dir").asBoolean());
                d.await(r -> has(r, "OPEN") && a.equals(r.path("path").asText()) && r.get("pid").asLong() == writer,
                        "OPEN a by the writer", 10);
                d.await(r -> has(r, "MODIFY") && a.equals(r.path("path").asText()), "MODIFY a", 10);
                d.await(r -> has(r, "CLOSE_WRITE") && a.equals(r.path("path").asText()), "CLOSE_WRITE a", 10);
                JsonNode from = d.await(r -> has(r, "MOVED_FROM") && a.equals(r.path("path").asText()), "MOVED_FROM", 10);
                assertEquals(renamer, from.get("pid").asLong());
                JsonNode to = d.await(r -> has(r, "MOVED_TO") && b.equals(r.path("path").asText()), "MOVED_TO", 10);
                assertEquals("b.txt", to.get("name").asText());
                JsonNode rename = d.await(r -> has(r, "RENAME"), "RENAME", 10);
                assertEquals(b, rename.get("path").asText());
                assertEquals("b.txt", rename.get("name").asText());
                assertEquals(a, rename.get("old_path").asText());
                assertEquals("a.txt", rename.get("old_name").asText());
                assertEquals(renamer, rename.get("pid").asLong());
                JsonNode sub = d.await(r -> has(r, "CREATE") && (dir + "/sub").equals(r.path("path").asText()),
                        "CREATE sub", 10);
                assertTrue(sub.get("is_dir").asBoolean());
                assertTrue(has(sub, "ONDIR"));
                assertEquals(mkdirer, sub.get("pid").asLong());
                JsonNode del = d.await(r -> has(r, "DELETE") && b.equals(r.path("path").asText()), "DELETE b", 10);
                assertEquals(deleter, del.get("pid").asLong());
                assertEquals(0, d.stop());

                for (JsonNode r : d.records()) {
                    List<String> names = new java.util.ArrayList<>();
                    r.fieldNames().forEachRemaining(names::add);
                    assertEquals(SPEC_FIELDS, names.subList(0, SPEC_FIELDS.size()), "field order in " + r);
                    assertEquals(1, r.get("schema_version").asInt());
                    assertEquals("event", r.get("type").asText());
                    assertEquals("observe", r.get("decision").asText());
                    assertTrue(r.get("job_id").isNull() && r.get("path_role").isNull());
                    assertEquals(r.get("mask").asLong(), maskOf(r.get("events").asText()), "mask vs events in " + r);
                    assertTrue(r.get("path").asText().startsWith(dir.toString()), "path inside the watch: " + r);
                }
            }
        }
    }

    static long maskOf(String events) {
        long m = 0;
        for (String e : events.split(",")) {
            m |= io.fanotifyd.kernel.EventMask.parse(e);
        }
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tmpfs", "ext4"})
    void fdModeReportsPathsFromTheEventFd(String fs) throws IOException {
        try (TestMount m = mount(fs)) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Files.createDirectory(dir.resolve("sub"));
            Path out = m.outside("out.jsonl");
            try (Daemon d = Daemon.start(out, 1, "--no-fid", "--watch", dir.toString())) {
                long writer = Shell.run("echo hello > " + dir + "/f.txt");
                long lister = Shell.run("exec ls " + dir + "/sub > /dev/null");
                String f = dir + "/f.txt";
                JsonNode mod = d.await(r -> has(r, "MODIFY") && f.equals(r.path("path").asText()), "MODIFY", 10);
                assertEquals(writer, mod.get("pid").asLong());
                assertEquals("f.txt", mod.get("name").asText());
                assertFalse(mod.get("is_dir").asBoolean());
                d.await(r -> has(r, "CLOSE_WRITE") && f.equals(r.path("path").asText()), "CLOSE_WRITE", 10);
                JsonNode open = d.await(r -> has(r, "OPEN") && (dir + "/sub").equals(r.path("path").asText()),
                        "OPEN of the subdirectory", 10);
                assertTrue(open.get("is_dir").asBoolean(), "is_dir in FD mode: " + open);
                assertEquals(lister, open.get("pid").asLong());
                assertEquals(0, d.stop());
                for (JsonNode r : d.records()) {
                    assertFalse(has(r, "CREATE") || has(r, "DELETE"), "no dirent events in FD mode: " + r);
                }
            }
        }
    }
}
