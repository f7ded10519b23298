package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import io.fanotifyd.it.PermissionIT.Child;
import io.fanotifyd.it.PermissionIT.Result;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A daemon started under a tiny open-file limit ({@code ulimit -n 64}, soft and hard, so it cannot be raised):
 * no event is lost for want of a descriptor, no open is denied for it, subscribers beyond the budget are
 * refused with a log line, and paths, comm and exe keep being resolved.
 */
@Tag("kernel")
class FdLimitIT {
    static final List<String> ULIMIT_64 = List.of("sh", "-c", "ulimit -n 64 && exec \"$0\" \"$@\"");

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    @Test
    void fdModeLosesNoEventAtALimitOf64() throws IOException {
        int files = 5000;
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path out = m.outside("out.jsonl");
            try (Daemon d = Daemon.start(ULIMIT_64, ProcessBuilder.Redirect.DISCARD, out, 1, "-v", "--no-fid",
                    "--mount", root.toString())) {
                // One process writes every file: ~4 records each (open, modify, close), read in big batches.
                Shell.run(OutputFaultsIT.writeFiles(root, "f", files));
                Shell.run("touch " + root + "/sentinel");
                d.await(r -> r.path("path").asText().endsWith("/sentinel"), "the sentinel", 60);
                assertEquals(0, d.stop(), d.stderr());
                List<JsonNode> rs = d.records();
                Set<String> closed = new HashSet<>();
                for (JsonNode r : rs) {
                    assertFalse(r.has("fd_error"), "an event without its fd: " + r);
                    if (r.path("events").asText().contains("CLOSE_WRITE")) {
                        closed.add(r.path("path").asText());
                    }
                }
                List<String> missing = new ArrayList<>();
                for (int i = 0; i < files; i++) {
                    if (!closed.contains(root + "/f" + i)) {
                        missing.add("f" + i);
                    }
                }
                System.out.println("limit 64, FD mode: " + missing.size() + " of " + files
                        + " files without a CLOSE_WRITE record");
                assertEquals(List.of(), missing.subList(0, Math.min(20, missing.size())), missing.size()
                        + " files have no CLOSE_WRITE record");
                assertTrue(d.stderr().contains("open-file limit 64:"), d.stderr());
                assertEquals(0L, d.stats().get("failed reads"), d.stderr());
                assertEquals(0L, d.stats().get("events without an fd"), d.stderr());
            }
        }
    }

    @Test
    void permissionModeDeniesNoOpenForWantOfADescriptorAtALimitOf64() throws IOException {
        int openers = 80;
        int opensEach = 50;
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path canary = Files.writeString(root.resolve("canary.key"), "secret\n");
            Path dir = Files.createDirectory(root.resolve("d"));
            for (int i = 0; i < 20; i++) {
                Files.writeString(dir.resolve("r" + i), "x\n");
            }
            try (Daemon d = Daemon.start(ULIMIT_64, ProcessBuilder.Redirect.DISCARD, m.outside("out.jsonl"),
                    PermissionIT.PERM_MOUNT_MARKS, PermissionIT.permArgs(root, "-v", "--deny-on-alert", "--canary",
                            root + "/canary*"))) {
                // More opens waiting at once than the limit has descriptors: the daemon is held (SIGSTOP) while the
                // openers start, so that its next read finds every one of them waiting, and the kernel makes one
                // fd per event it hands over. Each refusal is counted by its opener.
                String loop = "cd " + dir + " || exit 9; n=0; i=0; while [ $i -lt " + opensEach + " ]; do"
                        + " if ! read x < r$((i % 20)); then n=$((n+1)); fi; i=$((i+1)); done; echo refused=$n";
                List<Child> kids = new ArrayList<>();
                try {
                    d.freeze();
                    try {
                        for (int k = 0; k < openers; k++) {
                            kids.add(Child.start(loop));
                        }
                        awaitWaitingOnFanotify(kids);
                    } finally {
                        d.thaw();
                    }
                    long refused = 0;
                    for (Child c : kids) {
                        assertTrue(c.awaitExit(120_000), "opener did not finish: " + c);
                        String o = c.stdout().trim();
                        assertTrue(o.startsWith("refused="), c.toString());
                        refused += Long.parseLong(o.substring("refused=".length()));
                    }
                    System.out.println("limit 64, permission mode: " + refused + " of " + openers * opensEach
                            + " opens denied for want of a descriptor");
                    assertEquals(0, refused, "opens denied at a limit of 64");
                } finally {
                    for (Child c : kids) {
                        c.close();
                    }
                }
                Result cat = Child.run("exec cat " + canary, PermissionIT.ACCESS_BOUND_S);
                assertNotEquals(0, cat.code(), "the canary is still denied: " + cat);
                assertEquals(0, d.stop(), d.stderr());
                assertEquals(0L, d.stats().get("failed reads"), d.stderr());
            }
        }
    }

    /** Waits (at most 30 s) until every child is blocked in the kernel on a fanotify permission event. */
    static void awaitWaitingOnFanotify(List<Child> kids) throws IOException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        for (Child c : kids) {
            Path wchan = Path.of("/proc/" + c.pid() + "/wchan");
            while (true) {
                String w = "";
                try {
                    w = Files.readString(wchan);
                } catch (IOException e) {
                    // not started yet, or gone
                }
                if (w.contains("fanotify")) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("opener " + c.pid() + " is not waiting on fanotify: " + w);
                }
                Daemon.sleep(5);
            }
        }
    }

    @Test
    void subscribersBeyondTheBudgetAreRefusedAndRecordsKeepTheirPathAndProcess() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path sock = m.outside("s.sock");
            List<SocketChannel> clients = new ArrayList<>();
            try (Daemon d = Daemon.start(ULIMIT_64, ProcessBuilder.Redirect.DISCARD, m.outside("out.jsonl"), 1, "-v",
                    "--mount", root.toString(), "--socket", sock.toString(), "--canary", root + "/canary*")) {
                try {
                    for (int i = 0; i < 100; i++) {
                        clients.add(SocketChannel.open(UnixDomainSocketAddress.of(sock)));
                    }
                    d.awaitLog("refused subscriber", 20);
                    // The writer stays alive until its records are read, so that comm and exe can be.
                    Path done = m.outside("done");
                    try (Child writer = Child.start("echo x > " + root + "/canary.key; echo y > " + root
                            + "/plain.txt; while [ ! -e " + done + " ]; do sleep 0.05; done")) {
                        long pid = writer.pid();
                        JsonNode alert = d.await(r -> "alert".equals(r.path("type").asText())
                                && r.path("pid").asLong() == pid, "the canary alert", 20);
                        assertEquals(root + "/canary.key", alert.path("path").asText(), alert.toString());
                        JsonNode plain = d.await(r -> r.path("path").asText().equals(root + "/plain.txt")
                                && r.path("pid").asLong() == pid, "the plain file's record", 20);
                        assertEquals("sh", plain.path("comm").asText(), plain.toString());
                        assertTrue(plain.path("exe").asText().endsWith("sh"), plain.toString());
                        Files.writeString(done, "");
                        assertTrue(writer.awaitExit(10_000), writer.toString());
                    }
                    assertTrue(d.process().isAlive(), d.stderr());
                } finally {
                    for (SocketChannel c : clients) {
                        c.close();
                    }
                }
                assertEquals(0, d.stop(), d.stderr());
                String log = d.stderr();
                assertTrue(log.contains("(the most the open-file limit and the configuration allow)"), log);
                assertFalse(log.contains("cannot accept a subscriber"), "no descriptor ran out: " + log);
            }
        }
    }
}
