package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import io.fanotifyd.it.PermissionIT.Child;
import io.fanotifyd.it.PermissionIT.Result;

import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A job platform tears mounts down while the daemon runs: a plain {@code umount} of a marked filesystem must
 * succeed (nothing of the daemon's keeps it busy), the daemon must stay up and say which mark is gone, the
 * filesystem must really go (its superblock, and with it a tmpfs's memory), and in permission mode the marks on
 * the other mounts must keep denying. A deleted {@code --watch} directory is logged too, and records of objects
 * in it carry the path they had, never the kernel's {@code " (deleted)"} suffix.
 *
 * <p>Each test unmounts with a plain {@code umount} and asserts it succeeded ({@link TestMount#unmount()}); in
 * permission mode the test JVM never touches a marked mount itself (children do).
 */
@Tag("kernel")
class UnmountIT {
    private static final int WAIT_S = 10;

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    static Stream<Arguments> kindsAndModes() {
        List<Arguments> a = new ArrayList<>();
        for (String mode : List.of("fid", "fd", "perm")) {
            for (String kind : List.of("--watch", "--mount", "--filesystem")) {
                a.add(Arguments.of(kind, mode, "tmpfs"));
            }
        }
        a.add(Arguments.of("--mount", "fid", "ext4"));
        a.add(Arguments.of("--filesystem", "perm", "ext4"));
        return a.stream();
    }

    /** What {@code kind} marks on a filesystem mounted at {@code root}: a directory on it, or the mount. */
    private static Path target(String kind, Path root) {
        return kind.equals("--watch") ? root.resolve("d") : root;
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("kindsAndModes")
    void aPlainUmountOfAMarkedFilesystemSucceedsAndTheDaemonSaysTheMarkIsGone(String kind, String mode, String fs)
            throws IOException {
        boolean perm = mode.equals("perm");
        try (TestMount a = fs.equals("ext4") ? TestMount.ext4() : TestMount.tmpfs();
             TestMount b = perm ? TestMount.tmpfs() : null) {
            Path ra = a.root().toRealPath();
            Files.createDirectory(ra.resolve("d"));
            // 32 MiB that a filesystem kept alive would keep: a tmpfs's pages are its memory.
            Files.write(ra.resolve("d/big"), new byte[32 << 20]);
            List<String> args = new ArrayList<>(List.of("-v", kind, target(kind, ra).toString()));
            Path canary = null;
            if (mode.equals("fd")) {
                args.add("--no-fid");
            } else if (perm) {
                // A second mount, marked the same way and left mounted: its canary must stay denied.
                Path rb = b.root().toRealPath();
                Files.createDirectory(rb.resolve("d"));
                canary = Files.writeString(rb.resolve("d/secret.key"), "secret\n");
                args.addAll(List.of(kind, target(kind, rb).toString(), "--perm", "--deny-on-alert", "--canary",
                        rb + "/d/secret*"));
            }
            int marks = perm ? 4 : 1; // one per marked path and group; see Marks
            try (Daemon d = Daemon.start(a.outside("out.jsonl"), marks, args.toArray(String[]::new))) {
                awaitLog(d, "info: ready:");
                // Events on the filesystem about to go, all read before it goes: the kernel queues them in order,
                // so once the last one's record is out, so are the others (in FD mode a queued event holds its
                // file open, and the mount busy, until it is read).
                Path f = ra.resolve("d/f");
                Path last = ra.resolve("d/last");
                Result w = Child.run("echo hello > " + f + " && cat " + f + " && echo done > " + last, WAIT_S);
                assertEquals(0, w.code(), w.toString());
                String lastEvent = perm ? "OPEN_PERM" : "CLOSE_WRITE";
                d.await(r -> last.toString().equals(r.path("path").asText())
                        && r.path("events").asText().contains(lastEvent), lastEvent + " of " + last, WAIT_S);
                String dev = devOf(ra);

                TestMount.Unmounted u = a.unmount();
                assertEquals(0, u.code(), "plain umount of " + ra + " while fanotifyd " + d.pid() + " runs: "
                        + u.output() + "; its fds: " + fdsOn(d.pid(), ra));
                assertTrue(d.process().isAlive(), "fanotifyd survives the unmount: " + d.stderr());
                // --mount is a mount mark, which goes with its mount (README, Marks).
                String gone = kind.equals("--mount") ? "its mount was unmounted" : "its filesystem was unmounted";
                awaitLog(d, "warning: " + kind + " " + target(kind, ra) + ": mark gone: " + gone);
                if (!perm) {
                    awaitLog(d, "warning: no marks left");
                }
                // The superblock is gone (not merely detached): no mount of it, and the kernel dropped its marks.
                assertFalse(mountinfo().contains(" " + dev + " "), "a mount of " + dev + " left:\n" + mountinfo());
                assertFalse(fanotifyMarks(d.pid()).contains("sdev:" + kernelDev(dev) + " "),
                        "a mark on " + dev + " left: " + fanotifyMarks(d.pid()));
                // It mounts again: a new, empty tmpfs; the same ext4, whole (it was cleanly unmounted).
                a.mountAgain();
                if (fs.equals("ext4")) {
                    assertEquals("done\n", Files.readString(last), "ext4 mounted again");
                } else {
                    try (Stream<Path> fresh = Files.list(ra)) {
                        assertEquals(0, fresh.count(), "a fresh tmpfs mounted at " + ra);
                    }
                }

                if (perm) {
                    Result cat = Child.run("exec cat " + canary, WAIT_S);
                    assertNotEquals(0, cat.code(), "the canary on the mount still marked: " + cat);
                    assertTrue(cat.stderr().contains("Operation not permitted"), cat.toString());
                    Path c = canary;
                    JsonNode denied = d.await(r -> c.toString().equals(r.path("path").asText())
                            && r.path("pid").asLong() == cat.pid(), "the canary open by " + cat.pid(), WAIT_S);
                    assertEquals("deny", denied.path("decision").asText(), denied.toString());
                    assertFalse(d.stderr().contains("no marks left"), d.stderr());
                }
                assertEquals(0, d.stop(), d.stderr());
            }
        }
    }

    /**
     * {@code --mount} of a bind mount of a subdirectory is a mount mark: unmounting the bind mount ends it while
     * its filesystem stays mounted elsewhere, and the mount, not the filesystem, is named.
     */
    @Test
    void unmountingAMarkedBindMountEndsItsMountMark() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Files.createDirectory(root.resolve("sub"));
            Path bind = m.bind(root.resolve("sub"), "bind").toRealPath();
            Path inner = Files.createDirectory(root.resolve("inner"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 2, "-v", "--mount", bind.toString(), "--watch",
                    inner.toString())) {
                awaitLog(d, "info: ready:");
                Path f = bind.resolve("f");
                long pid = Shell.run("echo x > " + f);
                d.await(r -> f.toString().equals(r.path("path").asText()) && r.path("pid").asLong() == pid,
                        "the write to " + f, WAIT_S);
                TestMount.Unmounted ub = m.unmount(bind);
                assertEquals(0, ub.code(), "plain umount of the bind mount: " + ub.output() + "; fds: "
                        + fdsOn(d.pid(), bind));
                awaitLog(d, "warning: --mount " + bind + ": mark gone: its mount was unmounted");
                assertTrue(d.process().isAlive(), d.stderr());
                assertFalse(d.stderr().contains("--watch " + inner + ": mark gone"), d.stderr());
                assertFalse(d.stderr().contains("no marks left"), d.stderr());
                TestMount.Unmounted u = m.unmount();
                assertEquals(0, u.code(), "plain umount of the filesystem: " + u.output());
                awaitLog(d, "warning: --watch " + inner + ": mark gone: its filesystem was unmounted");
                awaitLog(d, "warning: no marks left");
                assertEquals(0, d.stop(), d.stderr());
            }
        }
    }

    /**
     * A {@code --watch} directory deleted while a file in it is still open: later events of that file carry the
     * path it had ({@code DIR/f}), not {@code DIR (deleted)/f} or {@code DIR/f (deleted)}; once the directory is
     * really gone the daemon logs it. A real name ending in {@code " (deleted)"} is kept as it is.
     */
    @ParameterizedTest
    @ValueSource(strings = {"fid", "fd"})
    void aDeletedWatchDirectoryIsLoggedAndItsFilesKeepTheirPaths(String mode) throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path dir = Files.createDirectory(root.resolve("d"));
            List<String> args = new ArrayList<>(List.of("-v", "--watch", root.toString(), "--watch", dir.toString()));
            if (mode.equals("fd")) {
                args.add("--no-fid");
            }
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 2, args.toArray(String[]::new))) {
                awaitLog(d, "info: ready:");
                long self = ProcessHandle.current().pid();
                Path f = dir.resolve("f");
                Path real = Files.writeString(root.resolve("x (deleted)"), "a real name\n");
                d.await(r -> real.toString().equals(r.path("path").asText()), "a record of " + real, WAIT_S);
                try (FileOutputStream out = new FileOutputStream(f.toFile())) {
                    out.write('a');
                    JsonNode before = d.await(r -> f.toString().equals(r.path("path").asText())
                            && r.path("events").asText().contains("MODIFY"), "the first write to " + f, WAIT_S);
                    Files.delete(f);
                    Files.delete(dir);
                    if (mode.equals("fid")) {
                        // Handled in order: once the directory's DELETE is reported, its cached path is dropped
                        // and the next event in it is resolved from its handle, as the deleted directory.
                        d.await(r -> dir.toString().equals(r.path("path").asText())
                                && r.path("events").asText().contains("DELETE"), "the DELETE of " + dir, WAIT_S);
                    }
                    out.write('b');
                    long after = before.get("seq").asLong();
                    JsonNode late = d.await(r -> r.path("seq").asLong() > after && r.path("pid").asLong() == self
                            && r.path("events").asText().contains("MODIFY"), "the write after the deletion", WAIT_S);
                    assertEquals(f.toString(), late.path("path").asText(), "the path f had: " + late);
                    assertEquals("f", late.path("name").asText(), late.toString());
                    assertFalse(d.stderr().contains("mark gone"), "the directory lives while f is open: "
                            + d.stderr());
                }
                awaitLog(d, "warning: --watch " + dir + ": mark gone: the directory was deleted");
                assertTrue(d.process().isAlive(), d.stderr());
                assertFalse(d.stderr().contains("no marks left"), "--watch " + root + " is still there: "
                        + d.stderr());
                assertEquals(0, d.stop(), d.stderr());
                List<JsonNode> rs = d.records();
                for (JsonNode r : rs) {
                    String p = r.path("path").asText();
                    assertTrue(p.equals(real.toString()) || !p.contains(" (deleted)"), "kernel suffix in " + r);
                }
                assertTrue(rs.stream().anyMatch(r -> real.toString().equals(r.path("path").asText())
                        && "x (deleted)".equals(r.path("name").asText())), "the real name kept: " + rs);
            }
            TestMount.Unmounted u = m.unmount();
            assertEquals(0, u.code(), u.output());
        }
    }

    // ------------------------------------------------------------------------------------------------------

    private static void awaitLog(Daemon d, String text) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (System.nanoTime() < deadline) {
            if (d.stderr().contains(text)) {
                return;
            }
            Daemon.sleep(20);
        }
        throw new AssertionError("no log line with [" + text + "] within " + WAIT_S + " s; stderr:\n" + d.stderr()
                + "\nalive: " + d.process().isAlive());
    }

    private static String mountinfo() throws IOException {
        return Files.readString(Path.of("/proc/self/mountinfo"));
    }

    /** The {@code major:minor} of the filesystem mounted at {@code mountPoint}, from mountinfo. */
    private static String devOf(Path mountPoint) throws IOException {
        String dev = null;
        for (String line : mountinfo().split("\n")) {
            String[] f = line.split(" ");
            if (f.length > 4 && f[4].equals(mountPoint.toString())) {
                dev = f[2]; // the last one mounted there wins
            }
        }
        assertTrue(dev != null, "no mount at " + mountPoint);
        return dev;
    }

    /** {@code major:minor} as fdinfo's {@code sdev} prints it (the kernel's dev_t, hex). */
    private static String kernelDev(String majorMinor) {
        String[] mm = majorMinor.split(":");
        return Integer.toHexString(Integer.parseInt(mm[0]) << 20 | Integer.parseInt(mm[1]));
    }

    private static String fanotifyMarks(long pid) throws IOException {
        StringBuilder sb = new StringBuilder();
        try (var fds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/fdinfo"))) {
            for (Path p : fds) {
                try {
                    for (String line : Files.readAllLines(p)) {
                        if (line.startsWith("fanotify ")) {
                            sb.append(line).append('\n');
                        }
                    }
                } catch (IOException closedMeanwhile) {
                    // not there any more
                }
            }
        }
        return sb.toString();
    }

    /** The daemon's fds and working directory that point into {@code dir}, for a failure message. */
    private static String fdsOn(long pid, Path dir) {
        StringBuilder sb = new StringBuilder();
        try (var fds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/fd"))) {
            for (Path p : fds) {
                try {
                    String target = Files.readSymbolicLink(p).toString();
                    if (target.startsWith(dir.toString())) {
                        sb.append(p.getFileName()).append(" -> ").append(target).append("; ");
                    }
                } catch (IOException closedMeanwhile) {
                    // not there any more
                }
            }
            String cwd = Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")).toString();
            sb.append("cwd ").append(cwd);
        } catch (IOException e) {
            sb.append(e);
        }
        return sb.toString();
    }
}
