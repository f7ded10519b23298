package io.fanotifyd.it;

import static io.fanotifyd.it.FileEventsIT.has;
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
import org.junit.jupiter.api.Test;

/**
 * What each kind of mark sees and does not see. A sentinel write after the activity proves the daemon has
 * read everything before the absence of a record is taken as meaningful.
 */
@Tag("kernel")
class ScopeIT {
    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    static List<JsonNode> settle(Daemon d, Path sentinel) throws IOException {
        Shell.run("echo x > " + sentinel);
        d.await(r -> sentinel.toString().equals(r.path("path").asText()) && has(r, "CLOSE_WRITE"), "sentinel", 10);
        return d.records();
    }

    static boolean any(List<JsonNode> rs, String pathPrefix) {
        return rs.stream().anyMatch(r -> r.path("path").asText().startsWith(pathPrefix));
    }

    @Test
    void inodeMarkSeesDirectChildrenOnly() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path deep = Files.createDirectory(dir.resolve("deep"));
            Path sibling = Files.createDirectory(m.root().resolve("sibling"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString())) {
                Shell.run("echo x > " + deep + "/grandchild; echo x > " + sibling + "/other");
                List<JsonNode> rs = settle(d, dir.resolve("child"));
                assertFalse(any(rs, deep + "/"), "grandchild seen by an inode mark: " + rs);
                assertFalse(any(rs, sibling.toString()), "sibling seen: " + rs);
            }
        }
    }

    @Test
    void mountMarkSeesTheWholeMountWithNamesButNotOtherMounts() throws IOException {
        try (TestMount m = TestMount.tmpfs(); TestMount other = TestMount.tmpfs()) {
            Path deep = Files.createDirectories(m.root().resolve("a/b/c"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--mount", m.root().toString())) {
                long pid = Shell.run("echo x > " + deep + "/f; echo x > " + other.root() + "/elsewhere");
                List<JsonNode> rs = settle(d, m.root().resolve("sentinel"));
                // At any depth, with the name; creates, deletes and renames are not --mount's (MountExactIT).
                assertTrue(rs.stream().anyMatch(r -> has(r, "CLOSE_WRITE") && r.get("pid").asLong() == pid
                        && (deep + "/f").equals(r.path("path").asText()) && "f".equals(r.path("name").asText())),
                        "a write deep under --mount: " + rs);
                assertFalse(any(rs, other.root().toString()), "another mount seen: " + rs);
            }
        }
    }

    @Test
    void mountMarkIgnoresTheSameFilesystemThroughAnotherMountForFileEvents() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path a = Files.createDirectory(m.root().resolve("a"));
            Path inner = Files.createDirectory(m.root().resolve("inner"));
            Path bound = m.bind(inner, "bound");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--mount", bound.toString())) {
                // Through the marked bind mount: seen, with the bind mount's paths.
                Shell.run("echo x > " + bound + "/via-bind");
                // Same filesystem, outside the bind mount's subtree: nothing.
                Shell.run("echo x > " + a + "/outside; rm " + a + "/outside");
                List<JsonNode> rs = settle(d, bound.resolve("sentinel"));
                assertTrue(rs.stream().anyMatch(r -> has(r, "CLOSE_WRITE") && (bound + "/via-bind").equals(r.path(
                        "path").asText())), "a write through the marked mount: " + rs);
                assertFalse(rs.stream().anyMatch(r -> r.path("name").asText().equals("outside")),
                        "event outside the marked mount: " + rs);
            }
        }
    }

    @Test
    void filesystemMarkSeesEveryMountOfTheFilesystem() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path inner = Files.createDirectory(m.root().resolve("inner"));
            Path bound = m.bind(inner, "bound");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--filesystem", m.root().toString())) {
                long pid = Shell.run("echo x > " + bound + "/through-bind");
                List<JsonNode> rs = settle(d, m.root().resolve("sentinel"));
                assertTrue(rs.stream().anyMatch(r -> has(r, "MODIFY") && r.get("pid").asLong() == pid
                        && r.path("name").asText().equals("through-bind")), "write through another mount: " + rs);
            }
        }
    }

    @Test
    void outputInsideTheWatchedMountDoesNotFeedBack() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path out = m.root().resolve("out.jsonl");
            try (Daemon d = Daemon.start(out, 1, "--mount", m.root().toString())) {
                long self = ProcessHandle.current().pid(); // this test reading the output is a real event
                long before = settle(d, m.root().resolve("sentinel")).stream()
                        .filter(r -> r.get("pid").asLong() != self).count();
                Daemon.sleep(500);
                List<JsonNode> after = d.records();
                assertEquals(before, after.stream().filter(r -> r.get("pid").asLong() != self).count(),
                        "the output grew on its own: " + after);
                assertFalse(after.stream().anyMatch(r -> r.get("pid").asLong() == d.pid()), "own events: " + after);
            }
        }
    }

    @Test
    void twoBindMountsOfOneFilesystemEachShowTheirOwnPaths() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path a = m.bind(Files.createDirectory(m.root().resolve("a")), "A");
            Path b = m.bind(Files.createDirectory(m.root().resolve("b")), "B");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 2, "--mount", a.toString(), "--mount", b.toString())) {
                Shell.run("echo x > " + a + "/one; echo y > " + b + "/two; cat " + a + "/one " + b + "/two");
                List<JsonNode> rs = settle(d, b.resolve("sentinel"));
                for (String[] e : new String[][] {{"CLOSE_WRITE", a + "/one"}, {"OPEN", a + "/one"},
                        {"CLOSE_WRITE", b + "/two"}, {"OPEN", b + "/two"}}) {
                    assertTrue(rs.stream().anyMatch(r -> has(r, e[0]) && e[1].equals(r.path("path").asText())),
                            e[0] + " " + e[1] + " in " + rs);
                }
                assertTrue(rs.stream().allMatch(r -> r.path("path").asText().startsWith(a.toString())
                        || r.path("path").asText().startsWith(b.toString())), "paths through the marked mounts: " + rs);
            }
        }
    }
}
