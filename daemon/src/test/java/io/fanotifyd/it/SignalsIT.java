package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.fanotifyd.it.PermissionIT.Child;
import io.fanotifyd.it.PermissionIT.Result;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Signals a running daemon gets from operators and tools: SIGUSR1 and SIGHUP reopen the output (a rotation by
 * rename loses, splits and repeats no record, also in permission mode); SIGQUIT and SIGUSR2, which the JVM
 * itself answers, never put anything but records on stdout; none of them stops the daemon or its enforcement.
 */
@Tag("kernel")
class SignalsIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    static void signal(Daemon d, String sig) throws IOException {
        TestMount.run("kill", "-" + sig, Long.toString(d.pid())); // this pid only
    }

    @Test
    void sigquitSigusr2Sigusr1AndSighupNeverPutAnythingButRecordsOnStdoutNorStopTheDaemon() throws Exception {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path canary = Files.writeString(root.resolve("canary.key"), "secret\n");
            Path stdout = m.outside("stdout.jsonl");
            Path pidFile = m.outside("d.pid");
            try (Daemon d = Daemon.start(List.of(), ProcessBuilder.Redirect.to(stdout.toFile()), null,
                    PermissionIT.PERM_MOUNT_MARKS, PermissionIT.permArgs(root, "-v", "--deny-on-alert", "--canary",
                            root + "/canary*", "--pid-file", pidFile.toString()))) {
                for (String sig : List.of("QUIT", "USR2", "USR1", "HUP")) {
                    signal(d, sig);
                    Result cat = Child.run("exec cat " + canary, PermissionIT.ACCESS_BOUND_S);
                    assertNotEquals(0, cat.code(), "the canary after SIG" + sig + ": " + cat);
                    assertTrue(cat.stderr().contains("Operation not permitted"), cat.toString());
                    assertTrue(d.process().isAlive(), "SIG" + sig + " stopped the daemon: " + d.stderr());
                }
                assertEquals(0, d.stop(), d.stderr());
                assertFalse(Files.exists(pidFile), "pid file removed at exit");
            }
            List<String> lines = Files.readAllLines(stdout, StandardCharsets.UTF_8);
            assertEquals(4, lines.stream().filter(l -> l.contains("\"type\":\"alert\"")).count(), "one alert per"
                    + " denied open: " + lines.size() + " lines");
            for (String l : lines) {
                JsonNode r = JSON.readTree(l); // a thread dump or a JVM warning would not parse
                assertTrue(r.has("type"), l);
            }
        }
    }

    /** Started by nohup or with the signals ignored by its parent, SIGHUP still reopens and SIGTERM still stops. */
    @Test
    void sighupAndSigtermWorkEvenWhenTheParentIgnoredThem() throws Exception {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path out = m.outside("out.jsonl");
            List<String> ignoring = List.of("sh", "-c", "trap '' HUP TERM USR1; exec \"$0\" \"$@\"");
            try (Daemon d = Daemon.start(ignoring, ProcessBuilder.Redirect.DISCARD, out, 1, "-v", "--mount",
                    root.toString())) {
                String status = Files.readString(Path.of("/proc/" + d.pid() + "/status"));
                String sigIgn = status.lines().filter(l -> l.startsWith("SigIgn:")).findFirst().orElseThrow();
                long mask = Long.parseLong(sigIgn.substring(7).trim(), 16);
                assertEquals(0, mask & ((1L << 0) | (1L << 9) | (1L << 14)), "HUP, USR1, TERM not ignored: " + sigIgn);
                Shell.run("echo x > " + root + "/before");
                d.await(r -> r.path("path").asText().endsWith("/before"), "a record before the rotation", 20);
                Files.move(out, m.outside("out.jsonl.1"));
                signal(d, "HUP");
                // The signal arrives when it arrives: a record made before the daemon asked for the reopen belongs
                // in the old file. The handler asks for it before the reload, so the reload's log line says the
                // event comes after it.
                d.awaitLog("reloaded:", 20);
                Shell.run("echo x > " + root + "/after");
                d.await(r -> r.path("path").asText().endsWith("/after"), "a record in the reopened file", 20);
                assertEquals(0, d.stop(), d.stderr()); // SIGTERM
            }
        }
    }

    /**
     * Renames the output under load, then SIGUSR1 (and later SIGHUP) to reopen it; the writer keeps making
     * events throughout. Every event record's {@code seq} is in exactly one of the files, none is split.
     */
    void rotateUnderLoad(boolean perm) throws Exception {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path work = Files.createDirectory(root.resolve("work"));
            Path out = m.outside("out.jsonl");
            Path first = m.outside("out.jsonl.1");
            Path second = m.outside("out.jsonl.2");
            String[] args = perm ? PermissionIT.permArgs(root, "-v") : new String[] {"-v", "--mount", root.toString()};
            try (Daemon d = Daemon.start(out, perm ? PermissionIT.PERM_MOUNT_MARKS : 1, args)) {
                String load = "cd " + work + " || exit 9; i=0; while [ ! -e " + m.outside("stop") + " ]; do"
                        + " echo x > f$((i % 50)); i=$((i+1)); done; echo made=$i";
                try (Child writer = Child.start(load)) {
                    d.await(r -> r.path("path").asText().startsWith(work.toString()), "load", 20);
                    Files.move(out, first);
                    signal(d, "USR1");
                    d.await(r -> true, "a record in the reopened file", 20);
                    Files.move(out, second);
                    signal(d, "HUP");
                    d.await(r -> true, "a record in the file reopened again", 20);
                    Files.writeString(m.outside("stop"), "");
                    assertTrue(writer.awaitExit(30_000), writer.toString());
                    assertEquals(0, writer.exitCode(), "every open was answered: " + writer);
                }
                assertEquals(0, d.stop(), d.stderr());
            }
            Set<Long> seqs = new HashSet<>();
            long records = 0;
            long dropped = 0;
            long max = 0;
            for (Path f : List.of(first, second, out)) {
                List<JsonNode> rs = Daemon.parse(f); // every line whole and valid
                assertFalse(rs.isEmpty(), f + " got records");
                for (JsonNode r : rs) {
                    if ("dropped".equals(r.path("type").asText())) {
                        dropped += r.path("dropped").asLong();
                    } else if (r.has("seq")) {
                        records++;
                        assertTrue(seqs.add(r.get("seq").asLong()), "seq " + r.get("seq") + " written twice");
                        max = Math.max(max, r.get("seq").asLong());
                    }
                }
            }
            assertEquals(max, records + dropped, "seq 1.." + max + ": every record in one file or counted dropped");
            System.out.println("rotation " + (perm ? "(permission mode)" : "(observe mode)") + ": " + records
                    + " records in 3 files, " + dropped + " dropped, 0 lost, 0 duplicated, 0 split");
        }
    }

    @Test
    void renameAndSigusr1LosesSplitsAndRepeatsNoRecord() throws Exception {
        rotateUnderLoad(false);
    }

    @Test
    void renameAndSigusr1InPermissionModeLosesNoRecordAndAnswersEveryOpen() throws Exception {
        rotateUnderLoad(true);
    }
}
