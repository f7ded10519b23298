package io.fanotifyd.it;

import static io.fanotifyd.it.FileEventsIT.has;
import static io.fanotifyd.it.ScopeIT.settle;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code --mount PATH} reports what happened through that mount, under the path it happened through, and
 * nothing that happened through another mount of the same filesystem: a bind mount elsewhere, the
 * filesystem's own mount, or a copy in a mount namespace of its own ({@code unshare -m}), for which the README
 * sends users to {@code --filesystem}. Creates, deletes, renames and attribute changes are not claimed by
 * {@code --mount}, because the kernel does not say through which mount they happened (docs/DESIGN.md, "--mount
 * is the mount").
 */
@Tag("kernel")
class MountExactIT {
    /** Creates, deletes, renames and attribute changes: what a mount mark cannot be asked for. */
    static final List<String> DIRENT = List.of("CREATE", "DELETE", "MOVED_FROM", "MOVED_TO", "RENAME", "ATTRIB",
            "DELETE_SELF", "MOVE_SELF");

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    static boolean mentions(JsonNode r, String word) {
        return r.path("path").asText().contains(word) || r.path("name").asText().contains(word)
                || r.path("old_path").asText().contains(word);
    }

    static JsonNode event(List<JsonNode> rs, String ev, String path, long pid) {
        return rs.stream().filter(r -> has(r, ev) && path.equals(r.path("path").asText())
                && (pid < 0 || r.path("pid").asLong() == pid)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + ev + " " + path + " by " + pid + " in " + rs));
    }

    /**
     * The marked mount shows its whole filesystem; a subdirectory of it is bind-mounted elsewhere. Reads and
     * writes through the bind mount are not the marked mount's: not reported, in FID mode, FD mode and
     * permission mode (where the opens through it are not even asked about).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"fid", "no-fid", "perm"})
    void aBindMountElsewhereIsNotTheMarkedMount(String mode) throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path inner = Files.createDirectory(m.root().resolve("inner"));
            Files.writeString(inner.resolve("existing"), "x\n"); // before the daemon: no permission event of ours
            Path bound = m.bind(inner, "bound");
            List<String> args = new ArrayList<>(List.of("--mount", m.root().toString()));
            if (!mode.equals("fid")) {
                args.add(0, "--" + mode);
            }
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), mode.equals("perm") ? 2 : 1,
                    args.toArray(String[]::new))) {
                long viaBind = Shell.run("echo x > " + bound + "/via-bind; read l < " + bound + "/existing");
                long direct = Shell.run("echo y > " + inner + "/direct; read l < " + inner + "/existing");
                long outside = Shell.run("echo z > " + m.root() + "/elsewhere");
                List<JsonNode> rs = settle(d, m.root().resolve("sentinel"));
                event(rs, "CLOSE_WRITE", inner + "/direct", direct);
                if (mode.equals("fid")) {
                    // Only the marked mount shows the filesystem's root directory: its creates are exact. The
                    // bound directory's are not (either mount could have made them), so none is reported.
                    event(rs, "CREATE", m.root() + "/elsewhere", outside);
                    assertFalse(rs.stream().anyMatch(r -> has(r, "CREATE") && mentions(r, "direct")),
                            "a create in a directory the bind mount shows too: " + rs);
                    d.awaitLog(bound + " shows " + inner + " too", 5);
                }
                event(rs, mode.equals("perm") ? "OPEN_PERM" : "OPEN", inner + "/existing", direct);
                assertFalse(rs.stream().anyMatch(r -> r.path("pid").asLong() == viaBind || mentions(r, "via-bind")),
                        "an access through the bind mount " + bound + ": " + rs);
                assertTrue(rs.stream().allMatch(r -> r.path("path").asText().startsWith(m.root() + "/")),
                        "a path the marked mount does not show: " + rs);
            }
        }
    }

    /**
     * The marked mount is a bind mount of a subdirectory; the filesystem's own mount shows the same files. What
     * happens to them through the filesystem's mount is not reported, not even its creates and deletes under
     * the bind mount's path (which the process never used).
     */
    @Test
    void theFilesystemsOwnMountIsNotTheMarkedBindMount() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path inner = Files.createDirectory(m.root().resolve("inner"));
            Path bound = m.bind(inner, "bound");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--mount", bound.toString())) {
                Shell.run("echo x > " + inner + "/via-fs-mount; mkdir " + inner + "/dir-via-fs-mount; mv " + inner
                        + "/via-fs-mount " + inner + "/via-fs-mount-2; rm " + inner + "/via-fs-mount-2");
                long through = Shell.run("echo y > " + bound + "/through");
                List<JsonNode> rs = settle(d, bound.resolve("sentinel"));
                event(rs, "CLOSE_WRITE", bound + "/through", through);
                assertFalse(rs.stream().anyMatch(r -> mentions(r, "via-fs-mount")),
                        "an access through " + m.root() + " reported: " + rs);
                assertTrue(rs.stream().allMatch(r -> r.path("path").asText().startsWith(bound + "/")),
                        "a path the marked mount does not show: " + rs);
            }
        }
    }

    /**
     * A workload in a mount namespace of its own works on a copy of the marked mount, which a mount mark does
     * not cover and the kernel does not announce (so the daemon cannot follow it without missing what happens
     * before it notices). The README says to use {@code --filesystem} for such workloads: shown here to see it.
     */
    @Test
    void aWorkloadInAMountNamespaceOfItsOwnNeedsFilesystem() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root();
            String inCopy = "exec unshare --mount --propagation private /bin/sh -c 'echo x > " + root + "/in-copy-"
                    + "$0'";
            try (Daemon d = Daemon.start(m.outside("mount.jsonl"), 1, "--mount", root.toString())) {
                long copy = Shell.run(inCopy + " mount");
                long host = Shell.run("echo y > " + root + "/on-host");
                List<JsonNode> rs = settle(d, root.resolve("sentinel"));
                event(rs, "CLOSE_WRITE", root + "/on-host", host);
                assertFalse(rs.stream().anyMatch(r -> mentions(r, "in-copy") && !has(r, "CREATE")),
                        "--mount reported a write through a namespace's copy of the mount: " + rs);
                // The create comes from the filesystem mark: the copy shows the directory at the same path, and
                // no other mount here shows it.
                event(rs, "CREATE", root + "/in-copy-mount", copy);
            }
            assertTrue(Files.isRegularFile(root.resolve("in-copy-mount")), "the workload ran");
            try (Daemon d = Daemon.start(m.outside("filesystem.jsonl"), 1, "--filesystem", root.toString())) {
                long pid = Shell.run(inCopy + " filesystem");
                List<JsonNode> rs = settle(d, root.resolve("sentinel"));
                event(rs, "CLOSE_WRITE", root + "/in-copy-filesystem", pid);
                event(rs, "CREATE", root + "/in-copy-filesystem", pid);
            }
        }
    }

    /**
     * The documented choice: {@code --mount} reports creates, deletes, renames and attribute changes made in a
     * directory no other mount of the filesystem shows, as {@code --filesystem} and {@code --watch} do; once a
     * bind mount shows the directory too (made after the start: the mount table is followed), it says so and
     * reports none of them there, while the directories only it shows are reported as before.
     */
    @Test
    void directoryEntryEventsAreReportedWhereOnlyTheMarkedMountShowsThem() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path other = Files.createDirectory(m.root().resolve("other"));
            String work = "cd " + dir + " && mkdir sub && echo x > f && mv f g && chmod 600 g && rm g && rmdir sub";
            for (String flag : List.of("--mount", "--filesystem", "--watch")) {
                String target = flag.equals("--watch") ? dir.toString() : m.root().toString();
                try (Daemon d = Daemon.start(m.outside(flag.substring(2) + ".jsonl"), 1, flag, target)) {
                    long pid = Shell.run(work);
                    List<JsonNode> rs = settle(d, dir.resolve("sentinel"));
                    // The shell creates f itself; mkdir, mv, chmod, rm and rmdir are processes of their own.
                    event(rs, "CREATE", dir + "/f", pid);
                    assertTrue(event(rs, "CREATE", dir + "/sub", -1).get("is_dir").asBoolean(), flag);
                    event(rs, "RENAME", dir + "/g", -1);
                    event(rs, "ATTRIB", dir + "/g", -1);
                    event(rs, "DELETE", dir + "/g", -1);
                    event(rs, "DELETE", dir + "/sub", -1);
                }
            }
            try (Daemon d = Daemon.start(m.outside("later.jsonl"), 1, "-v", "--mount", m.root().toString())) {
                Path bound = m.bind(dir, "bound-later");
                d.awaitLog("are now [" + dir + "]", 10);
                long viaBind = Shell.run("echo x > " + bound + "/via-bind && mv " + bound + "/via-bind " + bound
                        + "/moved && rm " + bound + "/moved");
                long elsewhere = Shell.run("echo y > " + other + "/still-reported");
                List<JsonNode> rs = settle(d, other.resolve("sentinel"));
                event(rs, "CREATE", other + "/still-reported", elsewhere);
                assertFalse(rs.stream().anyMatch(r -> DIRENT.stream().anyMatch(e -> has(r, e))
                        && (r.path("pid").asLong() == viaBind || mentions(r, "via-bind") || mentions(r, "moved"))),
                        "a directory-entry change the bind mount could have made: " + rs);
            }
        }
    }

    /**
     * Two marked bind mounts of one directory: a FID event names the file, not the mount, so the daemon warns
     * that records name such files through one of them; FD mode has each event's fd on its own mount, and each
     * record carries the path the process used.
     */
    @Test
    void twoMarkedMountsShowingTheSameFilesAreWarnedAboutInFidModeAndExactInFdMode() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path shared = Files.createDirectory(m.root().resolve("shared"));
            Path a = m.bind(shared, "A");
            Path b = m.bind(shared, "B");
            try (Daemon d = Daemon.start(m.outside("fid.jsonl"), 2, "--mount", a.toString(), "--mount",
                    b.toString())) {
                d.awaitLog("show the same files of one filesystem", 10);
            }
            try (Daemon d = Daemon.start(m.outside("fd.jsonl"), 2, "--no-fid", "--mount", a.toString(), "--mount",
                    b.toString())) {
                long viaA = Shell.run("echo x > " + a + "/via-a");
                long viaB = Shell.run("echo y > " + b + "/via-b");
                List<JsonNode> rs = settle(d, a.resolve("sentinel"));
                event(rs, "CLOSE_WRITE", a + "/via-a", viaA);
                event(rs, "CLOSE_WRITE", b + "/via-b", viaB);
                assertFalse(rs.stream().anyMatch(r -> r.path("path").asText().equals(b + "/via-a")
                        || r.path("path").asText().equals(a + "/via-b")), "a path the process did not use: " + rs);
                assertFalse(d.stderr().contains("show the same files"), d.stderr());
            }
        }
    }

    /**
     * Asked only for directory-entry events, {@code --mount} places only the filesystem mark they come from,
     * and reports them where only it shows the directory.
     */
    @Test
    void aMountAskedOnlyForDirectoryEntryEventsReportsThem() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--events", "create,delete", "--mount",
                    m.root().toString())) {
                long pid = Shell.run("echo x > " + m.root() + "/f && rm " + m.root() + "/f");
                d.await(r -> has(r, "DELETE") && (m.root() + "/f").equals(r.path("path").asText()), "DELETE", 10);
                event(d.records(), "CREATE", m.root() + "/f", pid);
                assertEquals(1, Daemon.countMarks(d.pid()), "one filesystem mark, no mount mark");
            }
        }
    }
}
