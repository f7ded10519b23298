package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Who did it: processes that are gone before their events are read are still named (the kernel's exit
 * records), never wrongly when their pid is used again; ids, parent and cgroup in every record; jobs by cgroup;
 * and without CAP_NET_ADMIN, one log line and the daemon as before.
 *
 * <p>To make "gone before the read" certain rather than likely, the tests stop the daemon (SIGSTOP, its own
 * pid) while the workload runs and let it go on (SIGCONT) once every process of the workload has been reaped.
 */
@Tag("kernel")
class AttributionIT {
    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    /** Runs {@code cmd} (argv) to its end, bounded; returns its pid. */
    private static long runToEnd(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + List.of(cmd));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(List.of(cmd) + " failed: " + new String(p.getInputStream().readAllBytes()));
        }
        return p.pid();
    }

    @Test
    void everyShortLivedProcessIsNamedWithItsProgram() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString())) {
                d.freeze();
                Map<Long, String> programOf = new TreeMap<>();
                try {
                    for (int i = 0; i < 40; i++) {
                        programOf.put(runToEnd("/bin/touch", dir + "/touch-" + i), "touch");
                        programOf.put(runToEnd("/bin/mkdir", dir + "/mkdir-" + i), "mkdir");
                        programOf.put(runToEnd("/bin/chmod", "600", dir + "/touch-" + i), "chmod");
                        programOf.put(runToEnd("/bin/mv", dir + "/touch-" + i, dir + "/mv-" + i), "mv");
                        programOf.put(runToEnd("/bin/rmdir", dir + "/mkdir-" + i), "rmdir");
                        programOf.put(runToEnd("/bin/cat", dir + "/mv-" + i), "cat");
                    }
                } finally {
                    d.thaw();
                }
                // The stop reads what the kernel holds: every event of the workload was queued before SIGCONT.
                assertEquals(0, d.stop());
                int checked = 0;
                for (JsonNode r : d.records()) {
                    String program = programOf.get(r.get("pid").asLong());
                    if (program == null) {
                        continue;
                    }
                    checked++;
                    assertEquals(program, r.get("comm").asText(null), "comm of " + r);
                    assertEquals(Path.of("/bin", program).toRealPath().toString(), r.get("exe").asText(null),
                            "exe of " + r);
                    assertEquals(0, r.get("uid").asInt(-1), "uid of " + r);
                    assertEquals(0, r.get("gid").asInt(-1), "gid of " + r);
                    assertTrue(r.get("ppid").asLong(0) > 0, "ppid of " + r);
                    // Known only by its exit record: the effective ids and the cgroup are not in it.
                    assertTrue(r.get("euid").isNull() && r.get("cgroup").isNull(), "what an exit record lacks: " + r);
                }
                assertTrue(checked >= 240, checked + " records of the workload");
            }
        }
    }

    /**
     * A process writes and is reaped; its pid is given to the next process (ns_last_pid) before the daemon reads
     * the event. While the second one lives, the first one's record is the only exit record under that pid:
     * the event names the first. Once both are gone, two records name the pid and nothing tells which event is
     * whose: neither is named rather than one wrongly.
     */
    @Test
    void aReusedPidNamesTheRightProcessOrNone() throws IOException, InterruptedException {
        Path bin = Files.createTempDirectory("fanotifyd-it-bin.");
        try (TestMount m = TestMount.tmpfs()) {
            Path alpha = Files.copy(Path.of("/bin/touch"), bin.resolve("alpha"), StandardCopyOption.COPY_ATTRIBUTES);
            Path beta = Files.copy(Path.of("/bin/sh"), bin.resolve("beta"), StandardCopyOption.COPY_ATTRIBUTES);
            Path dir = Files.createDirectory(m.root().resolve("d"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "-v", "--watch", dir.toString())) {
                // While the second lives.
                d.freeze();
                Path flag = null;
                long pid;
                try {
                    Reused r = reuse(alpha, dir.resolve("a1"), beta, dir.resolve("b1"), true);
                    pid = r.pid;
                    flag = r.flag;
                } finally {
                    d.thaw();
                }
                try {
                    JsonNode a = d.await(r -> r.path("path").asText().equals(dir + "/a1")
                            && r.path("events").asText().contains("CREATE"), "the first process's create", 20);
                    assertEquals(pid, a.get("pid").asLong());
                    assertEquals("alpha", a.get("comm").asText(null), "the first process, named by its record: " + a);
                    JsonNode b = d.await(r -> r.path("path").asText().equals(dir + "/b1")
                            && r.path("events").asText().contains("CREATE"), "the second process's create", 20);
                    assertEquals(pid, b.get("pid").asLong());
                    assertEquals("beta", b.get("comm").asText(null), "the live second process: " + b);
                } finally {
                    Files.deleteIfExists(flag); // the second process ends
                }

                // Both gone.
                d.freeze();
                try {
                    Reused r = reuse(alpha, dir.resolve("a2"), beta, dir.resolve("b2"), false);
                    pid = r.pid;
                } finally {
                    d.thaw();
                }
                for (String name : List.of("a2", "b2")) {
                    String expected = name.startsWith("a") ? "alpha" : "beta";
                    JsonNode rec = d.await(r -> r.path("path").asText().equals(dir + "/" + name)
                            && r.path("events").asText().contains("CREATE"), "create of " + name, 20);
                    assertEquals(pid, rec.get("pid").asLong());
                    String comm = rec.get("comm").asText(null);
                    assertTrue(comm == null || comm.equals(expected), "right or none: " + rec);
                }
                assertEquals(0, d.stop());
                for (JsonNode r : d.records()) {
                    String name = r.path("name").asText("");
                    String comm = r.get("comm").asText(null);
                    if (comm != null && name.matches("[ab][12]")) {
                        assertEquals(name.startsWith("a") ? "alpha" : "beta", comm, "never the other one: " + r);
                    }
                }
            }
        } finally {
            for (String f : List.of("alpha", "beta")) {
                Files.deleteIfExists(bin.resolve(f));
            }
            Files.deleteIfExists(bin);
        }
    }

    /** The pid used twice, and the file whose removal ends the second process (when it stays). */
    private record Reused(long pid, Path flag) {}

    /**
     * {@code first} creates {@code a} and is reaped; then {@code second} ({@code sh}) is started under the same
     * pid and creates {@code b}, and, if {@code stay}, waits for its stdin to close. Tries until the pid is
     * reused (another process may take it first), at most 50 times.
     */
    private static Reused reuse(Path first, Path a, Path second, Path b, boolean stay) throws IOException {
        for (int attempt = 0; attempt < 50; attempt++) {
            Files.deleteIfExists(a);
            long pid = runToEnd(first.toString(), a.toString());
            // ns_last_pid is written and the child forked by one shell, right after each other. The second one
            // stays while the flag file does (at most 30 s).
            Path flag = b.resolveSibling(b.getFileName() + ".flag");
            if (stay) {
                Files.writeString(flag, "");
            }
            String script = "echo " + (pid - 1) + " > /proc/sys/kernel/ns_last_pid; " + second
                    + " -c 'echo x > \"$0\"; i=0; while [ -e \"$1\" ] && [ $i -lt 600 ]; do sleep 0.05; "
                    + "i=$((i+1)); done' '" + b + "' '" + flag + "' >/dev/null 2>&1 & echo $!";
            Process p = new ProcessBuilder("/bin/sh", "-c", script).start();
            String got = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(),
                    StandardCharsets.US_ASCII)).readLine();
            long child = got == null ? -1 : Long.parseLong(got.trim());
            if (child == pid) {
                awaitFile(b);
                return new Reused(pid, flag);
            }
            Files.deleteIfExists(flag);
            try {
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            Files.deleteIfExists(b);
        }
        throw new IOException("could not get pid reused in 50 attempts");
    }

    private static void awaitFile(Path f) throws IOException {
        for (int i = 0; i < 1000 && !Files.exists(f); i++) {
            Daemon.sleep(10);
        }
        if (!Files.exists(f)) {
            throw new IOException(f + " did not appear");
        }
    }

    /**
     * Real and effective ids of a setuid-like process (effective 65534, real 0), its parent and its cgroup,
     * in event and alert records and in the hook's environment.
     */
    @Test
    void idsParentAndCgroupInRecordsAlertsAndHooks() throws IOException, InterruptedException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            // The writer's effective uid is nobody's: it must get through the test's directories to its own.
            Files.setPosixFilePermissions(m.root().getParent(), PosixFilePermissions.fromString("rwx--x--x"));
            Files.setPosixFilePermissions(m.root(), PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
            Path env = m.outside("hook.env");
            String hook = "env | grep ^FAN_ > '" + env + ".tmp' && mv '" + env + ".tmp' '" + env + "'";
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString(),
                    "--canary", dir + "/canary", "--hook", hook)) {
                Process p = new ProcessBuilder("setpriv", "--euid", "65534", "--egid", "65534", "--clear-groups",
                        "/bin/sh", "-p", "-c", "echo x > '" + dir + "/canary'; read line").start();
                try {
                    JsonNode ev = d.await(r -> "event".equals(r.path("type").asText())
                            && r.path("path").asText().equals(dir + "/canary")
                            && r.path("events").asText().contains("CREATE"), "the create", 20);
                    JsonNode alert = d.await(r -> "alert".equals(r.path("type").asText()), "the alert", 20);
                    long self = ProcessHandle.current().pid();
                    String cgroup = ownCgroup();
                    for (JsonNode r : List.of(ev, alert)) {
                        assertEquals(p.pid(), r.get("pid").asLong());
                        assertEquals(0, r.get("uid").asInt(-1), "real uid: " + r);
                        assertEquals(0, r.get("gid").asInt(-1), "real gid: " + r);
                        assertEquals(65534, r.get("euid").asInt(-1), "effective uid: " + r);
                        assertEquals(65534, r.get("egid").asInt(-1), "effective gid: " + r);
                        assertEquals(self, r.get("ppid").asLong(), "parent: " + r);
                        assertEquals(cgroup, r.get("cgroup").asText(null), "cgroup: " + r);
                    }
                    for (int i = 0; i < 1000 && !Files.exists(env); i++) {
                        Daemon.sleep(10);
                    }
                    List<String> lines = Files.readAllLines(env);
                    assertTrue(lines.contains("FAN_UID=0"), lines.toString());
                    assertTrue(lines.contains("FAN_EUID=65534"), lines.toString());
                    assertTrue(lines.contains("FAN_EGID=65534"), lines.toString());
                    assertTrue(lines.contains("FAN_PPID=" + self), lines.toString());
                    assertTrue(lines.contains("FAN_CGROUP=" + cgroup), lines.toString());
                } finally {
                    p.getOutputStream().close();
                    p.waitFor(10, TimeUnit.SECONDS);
                }
                assertEquals(0, d.stop());
            }
        }
    }

    private static String ownCgroup() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
            if (line.startsWith("0::")) {
                return line.substring(3);
            }
        }
        throw new IOException("no cgroup v2 line in /proc/self/cgroup");
    }

    /** Where cgroup2 is mounted, or null. */
    static Path cgroup2() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
            String[] f = line.split(" ");
            if (f.length > 2 && f[2].equals("cgroup2")) {
                return Path.of(f[1]);
            }
        }
        return null;
    }

    /**
     * A job named by its cgroup: its processes' events outside the job's directories carry its job_id, with
     * path_role null; inside them the directory's role still counts; another process's events outside are
     * no job's.
     */
    @Test
    void jobsByCgroupTagTheirProcessesEverywhere() throws IOException, InterruptedException {
        Path v2 = cgroup2();
        if (v2 == null) {
            KernelSupport.skipOrFail("no cgroup2 mount");
            return;
        }
        Path cg = v2.resolve("fanotifyd-it-" + ProcessHandle.current().pid());
        try (TestMount m = TestMount.tmpfs()) {
            Files.createDirectory(cg);
            Path ws = Files.createDirectory(m.root().resolve("ws"));
            Path tmp = Files.createDirectory(m.root().resolve("tmp"));
            String cgName = "/" + cg.getFileName();
            // Given under the cgroup2 mount; the daemon takes it as /proc/PID/cgroup shows it.
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--mount", m.root().toString(),
                    "--job", "J1", "--workspace", ws.toString(), "--cgroup", cg.toString())) {
                Process p = new ProcessBuilder("/bin/sh", "-c", "echo $$ > '" + cg + "/cgroup.procs' && "
                        + "mkdir '" + cg + "/sub' 2>/dev/null; echo $$ > '" + cg + "/sub/cgroup.procs' && "
                        + "echo x > '" + tmp + "/in-job' && echo x > '" + ws + "/w' && read line").start();
                try {
                    JsonNode inJob = d.await(r -> r.path("path").asText().equals(tmp + "/in-job")
                            && r.path("events").asText().contains("CREATE"), "the job's write to tmp", 20);
                    assertEquals("J1", inJob.get("job_id").asText(null), inJob.toString());
                    assertTrue(inJob.get("path_role").isNull(), inJob.toString());
                    assertEquals(cgName + "/sub", inJob.get("cgroup").asText(null), inJob.toString());
                    JsonNode inWs = d.await(r -> r.path("path").asText().equals(ws + "/w")
                            && r.path("events").asText().contains("CREATE"), "the job's write to its workspace", 20);
                    assertEquals("J1", inWs.get("job_id").asText(null));
                    assertEquals("workspace", inWs.get("path_role").asText(null));
                } finally {
                    p.getOutputStream().close();
                    p.waitFor(10, TimeUnit.SECONDS);
                }
                // A short-lived child of the job, gone before its event is read: its parent's cgroup counts.
                Process parent = new ProcessBuilder("/bin/sh", "-c", "echo $$ > '" + cg + "/cgroup.procs' && "
                        + "echo started && read line && /bin/touch '" + tmp + "/short' && echo touched && read line")
                        .start();
                try {
                    java.io.BufferedReader out = new java.io.BufferedReader(
                            new java.io.InputStreamReader(parent.getInputStream()));
                    assertEquals("started", out.readLine());
                    d.freeze();
                    java.io.OutputStream in = parent.getOutputStream();
                    try {
                        in.write('\n');
                        in.flush();
                        // The shell says so only once touch has exited and it has reaped it.
                        assertEquals("touched", out.readLine());
                    } finally {
                        d.thaw();
                    }
                    JsonNode shortLived = d.await(r -> r.path("path").asText().equals(tmp + "/short")
                            && r.path("events").asText().contains("CREATE"), "the short-lived child's write", 20);
                    assertEquals("touch", shortLived.get("comm").asText(null), shortLived.toString());
                    assertTrue(shortLived.get("cgroup").isNull(), "not known of the process itself: " + shortLived);
                    assertEquals("J1", shortLived.get("job_id").asText(null), shortLived.toString());
                } finally {
                    parent.getOutputStream().close();
                    parent.waitFor(10, TimeUnit.SECONDS);
                }
                long other = Shell.run("echo x > '" + tmp + "/not-job'");
                JsonNode notJob = d.await(r -> r.path("path").asText().equals(tmp + "/not-job")
                        && r.path("events").asText().contains("CREATE"), "another process's write", 20);
                assertEquals(other, notJob.get("pid").asLong());
                assertTrue(notJob.get("job_id").isNull(), notJob.toString());
                assertEquals(0, d.stop());
            }
        } finally {
            removeCgroup(cg.resolve("sub"));
            removeCgroup(cg);
        }
    }

    /** rmdir of a cgroup, once its processes are gone (bounded). */
    private static void removeCgroup(Path cg) {
        for (int i = 0; i < 200 && Files.exists(cg); i++) {
            try {
                Files.delete(cg);
            } catch (IOException e) {
                Daemon.sleep(25); // still populated for a moment after its last process exited
            }
        }
    }

    /** Without CAP_NET_ADMIN: one line says so, and the daemon runs as before (live processes named). */
    @Test
    void withoutNetAdminOneLineAndTheDaemonAsBefore() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            try (Daemon d = Daemon.start(List.of("setpriv", "--bounding-set", "-net_admin", "--inh-caps",
                    "-net_admin"), ProcessBuilder.Redirect.DISCARD, m.outside("out.jsonl"), 1,
                    "--watch", dir.toString())) {
                String line = d.awaitLog("exit records:", 10);
                assertTrue(line.contains("no CAP_NET_ADMIN"), line);
                Process p = new ProcessBuilder("/bin/sh", "-c", "echo x > '" + dir + "/f'; read line").start();
                try {
                    JsonNode r = d.await(x -> x.path("path").asText().equals(dir + "/f")
                            && x.path("events").asText().contains("CREATE"), "the create", 20);
                    assertEquals("sh", r.get("comm").asText(null));
                    assertNotNull(r.get("uid"));
                } finally {
                    p.getOutputStream().close();
                }
                assertEquals(0, d.stop());
                long lines = d.stderr().lines().filter(l -> l.contains("exit records:")).count();
                assertEquals(1, lines, d.stderr());
                assertFalse(d.stderr().contains("Exception"), d.stderr());
            }
        }
    }
}
