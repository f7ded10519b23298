package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import io.fanotifyd.it.PermissionIT.Child;
import io.fanotifyd.it.PermissionIT.Result;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The output fails while the daemon runs: its disk fills (ENOSPC), its filesystem turns read-only (EROFS), the
 * reader of stdout goes away (EPIPE). The event path and the permission answers never stop for it; what cannot
 * be written is counted, told in a {@code dropped} record once writing works again, and no line is ever left
 * torn. Each case on filesystems of the test's own: a marked tmpfs, and the output on another, small one.
 */
@Tag("kernel")
class OutputFaultsIT {
    /** Room left on the output's filesystem before the events start: a few hundred records. */
    static final long ROOM_BYTES = 64 * 1024;
    /** The output's filesystem: room for what the output holds for a retry (4 MiB) once the ballast is gone. */
    static final String OUTPUT_FS_SIZE = "16m";

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    /** Fills the filesystem at {@code dir} with a ballast file until about {@link #ROOM_BYTES} are left. */
    static Path ballast(Path dir) throws IOException {
        Path b = dir.resolve("ballast");
        long free = Files.getFileStore(dir).getUsableSpace();
        try (var out = Files.newOutputStream(b)) {
            byte[] chunk = new byte[64 * 1024];
            for (long left = free - ROOM_BYTES; left > 0; left -= chunk.length) {
                out.write(chunk, 0, (int) Math.min(chunk.length, left));
            }
        }
        return b;
    }

    /** A shell creating and writing {@code n} files in {@code dir}: a few records each. */
    static String writeFiles(Path dir, String prefix, int n) {
        return "cd " + dir + " || exit 9; i=0; while [ $i -lt " + n + " ]; do echo x > " + prefix
                + "$i; i=$((i+1)); done";
    }

    /**
     * Every record made is accounted for exactly once: written to the output, or counted as dropped (by the
     * event thread) or not written (output errors); and the {@code dropped} records in the output add up to
     * everything it missed.
     */
    static void assertAccounted(Daemon d, List<JsonNode> records) throws IOException {
        Map<String, Long> st = d.stats();
        long made = st.get("records") + st.get("alerts") + st.get("overflows");
        long written = st.get("records written");
        long dropped = st.get("dropped by a slow output");
        long lost = st.get("not written (output errors)");
        assertEquals(made, written + dropped + lost, "every record written or counted: " + st);
        long lines = records.stream().filter(r -> !"dropped".equals(r.path("type").asText())).count();
        assertEquals(written, lines, "records in the output = records written: " + st);
        long told = records.stream().filter(r -> "dropped".equals(r.path("type").asText()))
                .mapToLong(r -> r.path("dropped").asLong()).sum();
        assertEquals(dropped + lost, told, "the dropped records in the output count what it missed: " + st);
    }

    // ------------------------------------------------------------------------------------------------------
    // ENOSPC

    @Test
    void aFullDiskNeitherStopsTheDaemonNorTearsARecordAndWritingResumesByItself() throws IOException {
        try (TestMount m = TestMount.tmpfs(); TestMount small = TestMount.tmpfs(OUTPUT_FS_SIZE)) {
            Path root = m.root().toRealPath();
            Path out = small.root().resolve("out.jsonl");
            try (Daemon d = Daemon.start(out, 1, "-v", "--mount", root.toString())) {
                Path ballast = ballast(small.root());
                // Far more records (about 10 MB) than the output holds for a retry (4 MiB): the rest are dropped
                // and counted.
                Shell.run(writeFiles(root, "f", 20000));
                d.awaitLog("cannot write: No space left on device (ENOSPC)", 20);
                assertTrue(d.process().isAlive(), "the daemon keeps running with a full output disk");
                Shell.run(writeFiles(root, "g", 500)); // more events while it is full
                assertTrue(d.process().isAlive(), d.stderr());

                Files.delete(ballast);
                // What it holds is retried by itself; a record made before that may still find the hold full.
                d.awaitLog("is written again after", 20);
                Shell.run("touch " + root + "/sentinel-ok");
                d.await(r -> "sentinel-ok".equals(r.path("name").asText()), "the record after space returned", 20);
                assertEquals(0, d.stop(), d.stderr());
                List<JsonNode> rs = Daemon.parse(out); // fails on a torn or invalid line
                JsonNode drop = rs.stream().filter(r -> "dropped".equals(r.path("type").asText())).findFirst()
                        .orElseThrow(() -> new AssertionError("no dropped record after the disk was full"));
                assertTrue(drop.path("dropped").asLong() > 0, drop.toString());
                assertTrue(drop.path("reason").asText().startsWith("output write failed: No space left on device"),
                        drop.toString());
                assertAccounted(d, rs);
                System.out.println("full disk: " + d.stats().get("records written") + " written, "
                        + d.stats().get("not written (output errors)") + " not written and counted, 0 torn");
            }
        }
    }

    @Test
    void aFullDiskInPermissionModeStillDeniesTheCanary() throws IOException {
        try (TestMount m = TestMount.tmpfs(); TestMount small = TestMount.tmpfs(OUTPUT_FS_SIZE)) {
            Path root = m.root().toRealPath();
            Path canary = Files.writeString(root.resolve("canary.key"), "secret\n");
            Path other = Files.writeString(root.resolve("other.txt"), "hello\n");
            Path work = Files.createDirectory(root.resolve("work"));
            Path out = small.root().resolve("out.jsonl");
            try (Daemon d = Daemon.start(out, PermissionIT.PERM_MOUNT_MARKS, PermissionIT.permArgs(root, "-v",
                    "--deny-on-alert", "--canary", root + "/canary*"))) {
                Path ballast = ballast(small.root());
                Result fill = Child.run(writeFiles(work, "f", 8000), 120);
                assertEquals(0, fill.code(), "the opens while the output fills: " + fill);
                d.awaitLog("cannot write: No space left on device (ENOSPC)", 20);

                // During the fault: enforcement holds, other opens go through.
                Result cat = Child.run("exec cat " + canary, PermissionIT.ACCESS_BOUND_S);
                assertNotEquals(0, cat.code(), "the canary during a full output disk: " + cat);
                assertTrue(cat.stderr().contains("Operation not permitted"), cat.toString());
                Result ok = Child.run("exec cat " + other, PermissionIT.ACCESS_BOUND_S);
                assertEquals(0, ok.code(), ok.toString());
                assertEquals("hello\n", ok.stdout());

                Files.delete(ballast);
                d.awaitLog("is written again after", 20);
                Result sentinel = Child.run("exec cat " + other, PermissionIT.ACCESS_BOUND_S);
                assertEquals(0, sentinel.code(), sentinel.toString());
                d.await(r -> PermissionIT.permOpen(r, other.toString(), sentinel.pid()), "the open after space"
                        + " returned", 20);
                assertEquals(0, d.stop(), d.stderr());
                List<JsonNode> rs = Daemon.parse(out);
                assertTrue(rs.stream().anyMatch(r -> "dropped".equals(r.path("type").asText())), "dropped record");
                assertAccounted(d, rs);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // EROFS, then a reopen onto a writable file

    @Test
    void aReadOnlyOutputFilesystemKeepsEnforcingAndAReopenWritesWhatWasHeld() throws IOException {
        try (TestMount m = TestMount.tmpfs(); TestMount disk = TestMount.ext4("loop,errors=remount-ro")) {
            Path root = m.root().toRealPath();
            Path canary = Files.writeString(root.resolve("canary.key"), "secret\n");
            Path other = Files.writeString(root.resolve("other.txt"), "hello\n");
            Path out = disk.root().resolve("out.jsonl");
            try (Daemon d = Daemon.start(out, PermissionIT.PERM_MOUNT_MARKS, PermissionIT.permArgs(root, "-v",
                    "--deny-on-alert", "--canary", root + "/canary*"))) {
                Result first = Child.run("exec cat " + other, PermissionIT.ACCESS_BOUND_S);
                d.await(r -> PermissionIT.permOpen(r, other.toString(), first.pid()), "a record before the fault", 10);
                // An ext4 error with errors=remount-ro: from now on every write to it fails with EROFS.
                String dev = Path.of(disk.device()).getFileName().toString();
                Files.writeString(Path.of("/sys/fs/ext4/" + dev + "/trigger_fs_error"), "fanotifyd test\n");
                Result during = Child.run("exec cat " + other, PermissionIT.ACCESS_BOUND_S);
                assertEquals(0, during.code(), during.toString());
                d.awaitLog("cannot write: Read-only file system (EROFS)", 20);
                Result cat = Child.run("exec cat " + canary, PermissionIT.ACCESS_BOUND_S);
                assertNotEquals(0, cat.code(), "the canary while the output is read-only: " + cat);
                assertTrue(d.process().isAlive(), d.stderr());

                // The operator moves the output somewhere writable: here the broken filesystem goes away (lazily:
                // the daemon still holds its old file) and the directory under it takes the new file.
                TestMount.run("umount", "-l", disk.root().toString());
                Files.deleteIfExists(out);
                TestMount.run("kill", "-USR1", Long.toString(d.pid()));
                Result after = Child.run("exec cat " + other, PermissionIT.ACCESS_BOUND_S);
                d.await(r -> PermissionIT.permOpen(r, other.toString(), after.pid()), "the open after the reopen",
                        20);
                assertEquals(0, d.stop(), d.stderr());
                // What was made during the fault was held and written once the output worked: nothing lost.
                assertTrue(d.stderr().contains("is written again after") && d.stderr().contains("no record was lost"),
                        d.stderr());
                List<JsonNode> rs = Daemon.parse(out);
                assertTrue(rs.stream().noneMatch(r -> "dropped".equals(r.path("type").asText())), rs.toString());
                assertTrue(rs.stream().anyMatch(r -> PermissionIT.permOpen(r, other.toString(), during.pid())),
                        "the open during the fault, in the new file: " + rs);
                JsonNode denied = rs.stream().filter(r -> PermissionIT.permOpen(r, canary.toString(), cat.pid()))
                        .findFirst().orElseThrow(() -> new AssertionError("the denied open is not in the new file"));
                assertEquals("deny", denied.path("decision").asText(), denied.toString());
                assertEquals(0L, d.stats().get("not written (output errors)"), d.stderr());
                assertEquals(0L, d.stats().get("dropped by a slow output"), d.stderr());
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // EPIPE

    /** Reads {@code n} lines from the daemon's stdout, then closes it: the reader goes away. */
    static List<String> readLinesThenClose(Daemon d, int n) throws IOException {
        InputStream in = d.process().getInputStream();
        List<String> lines = new ArrayList<>();
        StringBuilder sb = new StringBuilder();
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (lines.size() < n && System.nanoTime() < deadline) {
            int c = in.read();
            if (c < 0) {
                break;
            }
            if (c == '\n') {
                lines.add(sb.toString());
                sb.setLength(0);
            } else {
                sb.append((char) c);
            }
        }
        in.close();
        return lines;
    }

    @Test
    void observeModeStopsWithExit1WhenTheReaderOfStdoutGoesAwayAndNothingElseTakesTheRecords() throws Exception {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            try (Daemon d = Daemon.start(List.of(), ProcessBuilder.Redirect.PIPE, null, 1, "-v", "--mount",
                    root.toString())) {
                Shell.run(writeFiles(root, "f", 5));
                List<String> got = readLinesThenClose(d, 3);
                assertEquals(3, got.size(), "the reader read its lines: " + got);
                Shell.run(writeFiles(root, "g", 2000)); // the next writes meet EPIPE
                assertTrue(d.process().waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "the daemon did not stop: "
                        + d.stderr());
                assertEquals(1, d.process().exitValue(), d.stderr());
                String log = d.stderr();
                assertTrue(log.contains("output stdout: its reader went away (Broken pipe (EPIPE))"), log);
                assertTrue(log.contains("nothing else takes the records: stopping"), log);
                assertFalse(log.contains("Exception"), log);
            }
        }
    }

    @Test
    void permissionModeKeepsEnforcingWhenTheReaderOfStdoutGoesAway() throws Exception {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path canary = Files.writeString(root.resolve("canary.key"), "secret\n");
            Path other = Files.writeString(root.resolve("other.txt"), "hello\n");
            Path work = Files.createDirectory(root.resolve("work"));
            try (Daemon d = Daemon.start(List.of(), ProcessBuilder.Redirect.PIPE, null, PermissionIT.PERM_MOUNT_MARKS,
                    PermissionIT.permArgs(root, "-v", "--deny-on-alert", "--canary", root + "/canary*"))) {
                Child.run("exec cat " + other, PermissionIT.ACCESS_BOUND_S);
                readLinesThenClose(d, 1);
                Result fill = Child.run(writeFiles(work, "f", 2000), 60);
                assertEquals(0, fill.code(), fill.toString());
                d.awaitLog("its reader went away", 20);
                Result cat = Child.run("exec cat " + canary, PermissionIT.ACCESS_BOUND_S);
                assertNotEquals(0, cat.code(), "the canary after stdout's reader went away: " + cat);
                assertTrue(cat.stderr().contains("Operation not permitted"), cat.toString());
                Result ok = Child.run("exec cat " + other, PermissionIT.ACCESS_BOUND_S);
                assertEquals(0, ok.code(), ok.toString());
                assertTrue(d.process().isAlive(), "still enforcing: " + d.stderr());
                Daemon.terminate(d.process()); // exits within the bound, whatever it counts
                assertTrue(d.stderr().contains("the daemon goes on"), d.stderr());
            }
        }
    }
}
