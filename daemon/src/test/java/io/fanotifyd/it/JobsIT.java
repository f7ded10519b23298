package io.fanotifyd.it;

import static io.fanotifyd.it.FileEventsIT.has;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Job tagging: every event and alert under a job's directory carries the job's id and the directory's role
 * (the longest configured root that contains the path on a component boundary), renames carry both sides,
 * hooks get FAN_JOB_ID and FAN_PATH_ROLE, a directory given twice stops the start.
 *
 * <p>Besides the targeted checks, every test checks the whole output against a naive oracle
 * ({@link #verifyJobs}): each record's job and role are those of the longest configured root containing its
 * path (by string comparison), with the fields in the documented order.
 */
@Tag("kernel")
class JobsIT {
    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    /** A configured root: its path as the kernel names it (no symlinks), job and role. */
    record Root(String path, String job, String role) {}

    /** The jobs of most tests, on one tmpfs: A, B (separate directories), C (a workspace inside its rootfs). */
    static final class Layout {
        final Path mnt;
        final Path aRoot;
        final Path aWs;
        final Path aExport;
        final Path aCache;
        final Path aRootish;
        final Path bRoot;
        final Path bWs;
        final Path bExport;
        final Path bCache;
        final Path cRoot;
        final Path cWork;
        final Path outside;
        final List<Root> roots = new ArrayList<>();

        Layout(TestMount m) throws IOException {
            mnt = m.root();
            aRoot = dir("jobs/A/root");
            aWs = dir("jobs/A/workspace");
            aExport = dir("jobs/A/export");
            aCache = dir("cache");
            aRootish = dir("jobs/A/rootish");
            bRoot = dir("jobs/B/root");
            Files.createDirectories(bRoot.resolve("etc"));
            bWs = dir("jobs/B/workspace");
            bExport = dir("jobs/B/export");
            bCache = dir("jobs/B/cache");
            cRoot = dir("jobs/C/root");
            cWork = dir("jobs/C/root/work");
            outside = dir("outside");
            roots.add(new Root(aRoot.toString(), "A", "rootfs"));
            roots.add(new Root(aWs.toString(), "A", "workspace"));
            roots.add(new Root(aExport.toString(), "A", "export"));
            roots.add(new Root(aCache.toString(), "A", "cache"));
            roots.add(new Root(bRoot.toString(), "B", "rootfs"));
            roots.add(new Root(bWs.toString(), "B", "workspace"));
            roots.add(new Root(bExport.toString(), "B", "export"));
            roots.add(new Root(bCache.toString(), "B", "cache"));
            roots.add(new Root(cRoot.toString(), "C", "rootfs"));
            roots.add(new Root(cWork.toString(), "C", "workspace"));
        }

        private Path dir(String rel) throws IOException {
            return Files.createDirectories(mnt.resolve(rel));
        }

        /**
         * The config file: a filesystem mark (creates, deletes and renames are tagged too, which {@code mount}
         * does not report), then the jobs. A's workspace with a trailing slash, A's export through a
         * symlink outside the mount (the daemon must resolve both to the kernel's names).
         */
        Path config(TestMount m, String... extraLines) throws IOException {
            Path link = m.outside("link-to-A-export");
            Files.createSymbolicLink(link, aExport);
            StringBuilder sb = new StringBuilder();
            sb.append("# jobs for JobsIT\nfilesystem ").append(mnt).append('\n');
            for (String l : extraLines) {
                sb.append(l).append('\n');
            }
            sb.append("job A\n");
            sb.append("rootfs ").append(aRoot).append('\n');
            sb.append("workspace ").append(aWs).append("/\n");
            sb.append("export ").append(link).append('\n');
            sb.append("cache ").append(aCache).append('\n');
            sb.append("\njob B\n");
            sb.append("rootfs ").append(bRoot).append('\n');
            sb.append("workspace ").append(bWs).append('\n');
            sb.append("export ").append(bExport).append('\n');
            sb.append("cache ").append(bCache).append('\n');
            sb.append("job C\n");
            sb.append("workspace ").append(cWork).append('\n'); // before its enclosing rootfs: order is irrelevant
            sb.append("rootfs ").append(cRoot).append('\n');
            Path cfg = m.outside("jobs.conf");
            Files.writeString(cfg, sb.toString());
            return cfg;
        }
    }

    // ------------------------------------------------------------------------------------------------- oracle

    /** The naive model: the longest root with {@code path == root} or {@code path} under {@code root + "/"}. */
    static Root expected(List<Root> roots, String path) {
        if (path == null) {
            return null;
        }
        Root best = null;
        for (Root r : roots) {
            boolean in = r.path().equals("/") || path.equals(r.path()) || path.startsWith(r.path() + "/");
            if (in && (best == null || r.path().length() > best.path().length())) {
                best = r;
            }
        }
        return best;
    }

    static String text(JsonNode r, String field) {
        JsonNode v = r.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    static void assertTag(JsonNode r, String idField, String roleField, String job, String role) {
        assertTrue(r.has(idField) && r.has(roleField), "no " + idField + "/" + roleField + " in " + r);
        assertEquals(job, text(r, idField), idField + " of " + r);
        assertEquals(role, text(r, roleField), roleField + " of " + r);
    }

    static void assertTag(JsonNode r, Root expected) {
        assertTag(r, "job_id", "path_role", expected == null ? null : expected.job(),
                expected == null ? null : expected.role());
    }

    static void assertFollows(List<String> names, String before, String... after) {
        int at = names.indexOf(before);
        assertTrue(at >= 0, before + " missing: " + names);
        for (int i = 0; i < after.length; i++) {
            assertTrue(at + 1 + i < names.size() && names.get(at + 1 + i).equals(after[i]),
                    after[i] + " must follow " + (i == 0 ? before : after[i - 1]) + ": " + names);
        }
    }

    /** Every record's tags against {@link #expected}, and the fields' order. Returns how many were checked. */
    static int verifyJobs(List<JsonNode> rs, List<Root> roots) {
        int n = 0;
        for (JsonNode r : rs) {
            String type = r.path("type").asText();
            List<String> names = PolicyIT.fieldNames(r);
            if (type.equals("event")) {
                assertFollows(names, "decision", "job_id", "path_role", "pid");
                assertTag(r, expected(roots, text(r, "path")));
                if (has(r, "RENAME")) {
                    assertFollows(names, "old_name", "old_job_id", "old_path_role", "seq");
                    Root old = expected(roots, text(r, "old_path"));
                    assertTag(r, "old_job_id", "old_path_role", old == null ? null : old.job(),
                            old == null ? null : old.role());
                } else {
                    assertFalse(r.has("old_job_id") || r.has("old_path_role"), "old_* only on renames: " + r);
                }
                n++;
            } else if (type.equals("alert")) {
                assertFollows(names, "event_seq", "job_id", "path_role", "uid", "gid", "euid", "egid", "ppid",
                        "cgroup");
                int at = names.indexOf("cgroup");
                assertTrue(names.subList(at + 1, names.size()).stream().allMatch(f -> f.endsWith("_b64")),
                        "only *_b64 after the who fields: " + r);
                assertTag(r, expected(roots, text(r, "path")));
                n++;
            } else {
                fail("unexpected record " + r);
            }
        }
        return n;
    }

    static List<JsonNode> settle(Daemon d, Path sentinel) throws IOException {
        return ScopeIT.settle(d, sentinel);
    }

    static JsonNode event(List<JsonNode> rs, String ev, String path, long pid) {
        for (JsonNode r : rs) {
            if ("event".equals(r.path("type").asText()) && has(r, ev) && path.equals(text(r, "path"))
                    && (pid < 0 || r.path("pid").asLong() == pid)) {
                return r;
            }
        }
        fail("no " + ev + " record for " + path + (pid < 0 ? "" : " by " + pid) + " in:\n" + dump(rs));
        return null;
    }

    static String dump(List<JsonNode> rs) {
        return String.join("\n", rs.stream().map(JsonNode::toString).toList());
    }

    // -------------------------------------------------------------------------------------------------- tests

    @Test
    void everyRoleOfEveryJobIsTaggedAndTheLongestRootWins() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Layout l = new Layout(m);
            Path cfg = l.config(m);
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "-c", cfg.toString())) {
                Map<Path, Root> files = new LinkedHashMap<>();
                files.put(l.aRoot.resolve("f"), new Root(l.aRoot.toString(), "A", "rootfs"));
                files.put(l.aWs.resolve("f"), new Root(l.aWs.toString(), "A", "workspace"));
                files.put(l.aExport.resolve("f"), new Root(l.aExport.toString(), "A", "export"));
                files.put(l.aCache.resolve("f"), new Root(l.aCache.toString(), "A", "cache"));
                files.put(l.bRoot.resolve("f"), new Root(l.bRoot.toString(), "B", "rootfs"));
                files.put(l.bWs.resolve("f"), new Root(l.bWs.toString(), "B", "workspace"));
                files.put(l.bExport.resolve("f"), new Root(l.bExport.toString(), "B", "export"));
                files.put(l.bCache.resolve("f"), new Root(l.bCache.toString(), "B", "cache"));
                files.put(l.cRoot.resolve("f"), new Root(l.cRoot.toString(), "C", "rootfs"));
                files.put(l.cWork.resolve("f"), new Root(l.cWork.toString(), "C", "workspace"));
                files.put(l.cRoot.resolve("workish"), new Root(l.cRoot.toString(), "C", "rootfs"));
                files.put(l.aRootish.resolve("f"), null);
                files.put(l.mnt.resolve("jobs/A/root-sibling"), null);
                files.put(l.outside.resolve("f"), null);
                files.put(l.mnt.resolve("f"), null);
                StringBuilder script = new StringBuilder();
                for (Path f : files.keySet()) {
                    script.append("echo x > '").append(f).append("'; ");
                }
                long writer = Shell.run(script.toString());
                // Deep paths, new directories, and events on a root directory itself.
                long deep = Shell.run("mkdir -p '" + l.aRoot + "/usr/lib/x/y' && echo x > '" + l.aRoot
                        + "/usr/lib/x/y/deep.so' && mkdir -p '" + l.cWork + "/src/main' && echo x > '" + l.cWork
                        + "/src/main/m.c' && exec chmod 700 '" + l.bWs + "'");
                List<JsonNode> rs = settle(d, l.outside.resolve("zz-sentinel"));
                for (Map.Entry<Path, Root> e : files.entrySet()) {
                    JsonNode r = event(rs, "CLOSE_WRITE", e.getKey().toString(), writer);
                    assertTag(r, e.getValue());
                    JsonNode c = event(rs, "CREATE", e.getKey().toString(), writer);
                    assertTag(c, e.getValue());
                }
                assertTag(event(rs, "CLOSE_WRITE", l.aRoot + "/usr/lib/x/y/deep.so", -1),
                        new Root(l.aRoot.toString(), "A", "rootfs"));
                JsonNode mkdir = event(rs, "CREATE", l.aRoot + "/usr/lib/x/y", -1);
                assertTrue(mkdir.get("is_dir").asBoolean(), mkdir.toString());
                assertTag(mkdir, new Root(l.aRoot.toString(), "A", "rootfs"));
                assertTag(event(rs, "CLOSE_WRITE", l.cWork + "/src/main/m.c", -1),
                        new Root(l.cWork.toString(), "C", "workspace"));
                JsonNode chmod = event(rs, "ATTRIB", l.bWs.toString(), deep);
                assertTrue(chmod.get("is_dir").asBoolean(), chmod.toString());
                assertTag(chmod, new Root(l.bWs.toString(), "B", "workspace"));
                assertEquals(0, d.stop());
                assertTrue(verifyJobs(d.records(), l.roots) > files.size() * 2, "records checked");
            }
        }
    }

    @Test
    void renamesCarryTheJobAndRoleOfBothPaths() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Layout l = new Layout(m);
            Path cfg = l.config(m);
            for (String f : List.of("w1", "w2")) {
                Files.writeString(l.aWs.resolve(f), "x\n");
            }
            Files.writeString(l.aExport.resolve("e1"), "x\n");
            Files.writeString(l.outside.resolve("o1"), "x\n");
            Files.writeString(l.bRoot.resolve("r1"), "x\n");
            Files.createDirectories(l.cWork.resolve("sub/inner"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "-c", cfg.toString())) {
                long withinJob = Shell.run("exec mv '" + l.aWs + "/w1' '" + l.aExport + "/w1'");
                long acrossJobs = Shell.run("exec mv '" + l.aExport + "/e1' '" + l.bWs + "/e1'");
                long intoJob = Shell.run("exec mv '" + l.outside + "/o1' '" + l.cWork + "/o1'");
                long outOfJob = Shell.run("exec mv '" + l.bRoot + "/r1' '" + l.aRootish + "/r1'");
                long nestedOut = Shell.run("exec mv '" + l.cWork + "/sub' '" + l.cRoot + "/sub'");
                long sameDir = Shell.run("exec mv '" + l.aWs + "/w2' '" + l.aWs + "/w2b'");
                List<JsonNode> rs = settle(d, l.outside.resolve("zz-sentinel"));

                JsonNode r = event(rs, "RENAME", l.aExport + "/w1", withinJob);
                assertEquals(l.aWs + "/w1", text(r, "old_path"));
                assertTag(r, "job_id", "path_role", "A", "export");
                assertTag(r, "old_job_id", "old_path_role", "A", "workspace");
                List<String> names = PolicyIT.fieldNames(r);
                assertFollows(names, "is_dir", "old_path", "old_name", "old_job_id", "old_path_role", "seq");
                assertTag(event(rs, "MOVED_FROM", l.aWs + "/w1", withinJob), "job_id", "path_role", "A",
                        "workspace");
                assertTag(event(rs, "MOVED_TO", l.aExport + "/w1", withinJob), "job_id", "path_role", "A", "export");

                r = event(rs, "RENAME", l.bWs + "/e1", acrossJobs);
                assertTag(r, "job_id", "path_role", "B", "workspace");
                assertTag(r, "old_job_id", "old_path_role", "A", "export");

                r = event(rs, "RENAME", l.cWork + "/o1", intoJob);
                assertTag(r, "job_id", "path_role", "C", "workspace");
                assertTag(r, "old_job_id", "old_path_role", null, null);

                r = event(rs, "RENAME", l.aRootish + "/r1", outOfJob);
                assertTag(r, "job_id", "path_role", null, null);
                assertTag(r, "old_job_id", "old_path_role", "B", "rootfs");

                r = event(rs, "RENAME", l.cRoot + "/sub", nestedOut);
                assertTrue(r.get("is_dir").asBoolean(), r.toString());
                assertTag(r, "job_id", "path_role", "C", "rootfs");
                assertTag(r, "old_job_id", "old_path_role", "C", "workspace");

                r = event(rs, "RENAME", l.aWs + "/w2b", sameDir);
                assertTag(r, "job_id", "path_role", "A", "workspace");
                assertTag(r, "old_job_id", "old_path_role", "A", "workspace");

                // After the directory moved, what happens in it is the rootfs's (paths are resolved anew).
                long after = Shell.run("echo x > '" + l.cRoot + "/sub/inner/late'");
                List<JsonNode> later = settle(d, l.outside.resolve("zz-sentinel-2"));
                assertTag(event(later, "CLOSE_WRITE", l.cRoot + "/sub/inner/late", after), "job_id", "path_role",
                        "C", "rootfs");
                assertEquals(0, d.stop());
                verifyJobs(d.records(), l.roots);
            }
        }
    }

    @Test
    void alertsAndHooksCarryTheJobOfTheMatchingPath() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Layout l = new Layout(m);
            Path hooks = Files.createDirectory(m.outside("hooks"));
            Path cfg = l.config(m, "canary " + l.bRoot + "/etc/secret*", "canary " + l.outside + "/secret*",
                    "hook_cooldown_ms 0", "hook " + PolicyIT.envHook(hooks));
            Files.writeString(l.bRoot.resolve("etc/secret-key"), "k\n");
            Files.writeString(l.bRoot.resolve("etc/secret-old"), "k\n");
            Files.writeString(l.aWs.resolve("to-be-secret"), "k\n");
            Files.writeString(l.outside.resolve("secret-plain"), "k\n");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "-c", cfg.toString())) {
                long reader = Shell.run("exec cat '" + l.bRoot + "/etc/secret-key' > /dev/null");
                JsonNode opened = PolicyIT.awaitAlert(d, "canary", reader, "canary opened");
                assertEquals(l.bRoot + "/etc/secret-key", text(opened, "path"));
                assertTag(opened, "job_id", "path_role", "B", "rootfs");

                // Renamed out of B's rootfs into A's export: the alert's path is the old one, so B/rootfs.
                long fromCanary = Shell.run("exec mv '" + l.bRoot + "/etc/secret-old' '" + l.aExport + "/stolen'");
                JsonNode from = PolicyIT.awaitAlert(d, "canary", fromCanary, "canary renamed");
                assertEquals(l.bRoot + "/etc/secret-old", text(from, "path"));
                assertTag(from, "job_id", "path_role", "B", "rootfs");

                // Renamed from A's workspace onto a canary name in B's rootfs: the new path, so B/rootfs.
                long toCanary = Shell.run("exec mv '" + l.aWs + "/to-be-secret' '" + l.bRoot + "/etc/secret-new'");
                JsonNode to = PolicyIT.awaitAlert(d, "canary", toCanary, "canary renamed");
                assertEquals(l.bRoot + "/etc/secret-new", text(to, "path"));
                assertTag(to, "job_id", "path_role", "B", "rootfs");

                long plain = Shell.run("exec cat '" + l.outside + "/secret-plain' > /dev/null");
                JsonNode outsideAlert = PolicyIT.awaitAlert(d, "canary", plain, "canary opened");
                assertTag(outsideAlert, "job_id", "path_role", null, null);

                List<Map<String, String>> runs = PolicyIT.awaitRuns(hooks, 4, 10);
                Map<String, Map<String, String>> byPid = new LinkedHashMap<>();
                for (Map<String, String> run : runs) {
                    assertTrue(byPid.put(run.get("FAN_PID"), run) == null, "one run per pid: " + runs);
                }
                for (JsonNode alert : List.of(opened, from, to, outsideAlert)) {
                    Map<String, String> env = byPid.get(alert.get("pid").asText());
                    assertNotNull(env, "hook run for " + alert + ": " + runs);
                    PolicyIT.assertEnv(alert, env);
                    assertTrue(env.containsKey("FAN_JOB_ID") && env.containsKey("FAN_PATH_ROLE"), env.toString());
                    assertEquals(alert.get("job_id").isNull() ? "" : alert.get("job_id").asText(),
                            env.get("FAN_JOB_ID"), "FAN_JOB_ID " + env);
                    assertEquals(alert.get("path_role").isNull() ? "" : alert.get("path_role").asText(),
                            env.get("FAN_PATH_ROLE"), "FAN_PATH_ROLE " + env);
                }
                assertEquals("B", byPid.get(Long.toString(reader)).get("FAN_JOB_ID"));
                assertEquals("rootfs", byPid.get(Long.toString(reader)).get("FAN_PATH_ROLE"));
                assertEquals("", byPid.get(Long.toString(plain)).get("FAN_JOB_ID"));
                assertEquals("", byPid.get(Long.toString(plain)).get("FAN_PATH_ROLE"));
                assertEquals(0, d.stop());
                verifyJobs(d.records(), l.roots);
            }
        }
    }

    // ------------------------------------------------------------------------------------- a directory twice

    static Path scratchOutput(TestMount m) {
        return m.outside("never.jsonl");
    }

    @ParameterizedTest
    @ValueSource(strings = {"same", "trailing-slash", "symlink", "same-job", "command-line", "slash"})
    void aDirectoryInTwoJobsStopsTheStartNamingBoth(String variant) throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path sharedDir = Files.createDirectories(m.root().resolve("shared/cache"));
            Path other = Files.createDirectories(m.root().resolve("other"));
            Path link = m.outside("link-to-shared");
            Files.createSymbolicLink(link, sharedDir);
            // "/" is kept apart from the other roots inside JobIndex: it must be refused twice all the same.
            String shared = variant.equals("slash") ? "/" : sharedDir.toString();
            String second = switch (variant) {
                case "trailing-slash" -> shared + "/";
                case "symlink" -> link.toString();
                default -> shared;
            };
            Path out = scratchOutput(m);
            String[] args;
            String first = "job-alpha-" + variant;
            String secondJob = variant.equals("same-job") ? first : "job-beta-" + variant;
            if (variant.equals("command-line")) {
                args = new String[] {"--foreground", "-o", out.toString(), "--mount", m.root().toString(), "--job",
                    first, "--cache", shared, "--rootfs", other.toString(), "--job", secondJob,
                    "--workspace", second};
            } else {
                Path cfg = m.outside("dup.conf");
                Files.writeString(cfg, "mount " + m.root() + "\njob " + first + "\ncache " + shared + "\nrootfs " + other
                        + "\n" + (variant.equals("same-job") ? "" : "job " + secondJob + "\n") + "workspace " + second
                        + "\n");
                args = new String[] {"--foreground", "-o", out.toString(), "-c", cfg.toString()};
            }
            Daemon.Finished r = Daemon.runToEnd(List.of(), null, 60, args);
            String stderr = r.stderr();
            assertEquals(1, r.exit(), "exit code; stderr: " + stderr);
            assertEquals(1, stderr.lines().count(), "one line on stderr: " + stderr);
            assertFalse(stderr.contains("\tat ") || stderr.contains("Exception"), "stack trace: " + stderr);
            assertTrue(stderr.contains(first), "names the first job: " + stderr);
            assertTrue(stderr.contains(secondJob), "names the second job: " + stderr);
            if (!variant.equals("slash")) {
                assertTrue(stderr.contains(shared), "names the directory: " + stderr);
            }
            assertTrue(stderr.contains("cache") && stderr.contains("workspace"), "names both roles: " + stderr);
        }
    }

    /**
     * Like any other failed start (a mark that cannot be placed, FdOutput.removeIfCreatedAndEmpty), a rejected
     * job configuration must not leave behind the empty output file the daemon created.
     */
    @Test
    void aRejectedJobConfigurationLeavesNoOutputFileBehind() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path shared = Files.createDirectories(m.root().resolve("shared"));
            Path out = m.outside("never.jsonl");
            Daemon.Finished r = Daemon.runToEnd(List.of(), null, 60, "--foreground", "-o", out.toString(), "--mount",
                    m.root().toString(), "--job", "alpha", "--cache", shared.toString(), "--job", "beta", "--cache",
                    shared.toString());
            assertEquals(1, r.exit(), "exit code; stderr: " + r.stderr());
            assertFalse(Files.exists(out), "the failed start left its empty output file behind: " + out);
        }
    }

    // ---------------------------------------------------------------------------------- a chroot'ed workload

    /** Copies {@code binary} to the same path under {@code root}, with the libraries {@code ldd} lists. */
    static void copyWithLibraries(Path binary, Path root) throws IOException {
        Set<Path> files = new LinkedHashSet<>();
        files.add(binary);
        Process p = new ProcessBuilder("ldd", binary.toString()).redirectErrorStream(true).start();
        String out;
        try {
            out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                fail("ldd " + binary + ": " + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        for (String line : out.lines().toList()) {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            String t = line.trim();
            int arrow = t.indexOf("=> ");
            String rest = arrow >= 0 ? t.substring(arrow + 3) : t;
            if (rest.startsWith("/")) {
                files.add(Path.of(rest.substring(0, rest.indexOf(' ') < 0 ? rest.length() : rest.indexOf(' '))));
            }
        }
        for (Path f : files) {
            Path target = root.resolve(f.toString().substring(1));
            Files.createDirectories(target.getParent());
            Files.copy(f, target, StandardCopyOption.REPLACE_EXISTING); // follows symlinks: the real bytes
            target.toFile().setExecutable(true, false);
        }
    }

    /** A minimal root filesystem: /bin/sh and /bin/mkdir (busybox if the host has it, else dash and mkdir). */
    static void populate(Path root) throws IOException {
        Path busybox = Path.of("/bin/busybox");
        if (Files.isExecutable(busybox)) {
            copyWithLibraries(busybox, root);
            Files.createSymbolicLink(root.resolve("bin/sh"), Path.of("busybox"));
            Files.createSymbolicLink(root.resolve("bin/mkdir"), Path.of("busybox"));
            return;
        }
        Files.createDirectories(root.resolve("bin"));
        for (String[] tool : new String[][] {{"/bin/dash", "bin/sh"}, {"/bin/mkdir", "bin/mkdir"}}) {
            Path real = Path.of(tool[0]).toRealPath();
            copyWithLibraries(real, root);
            Path at = root.resolve(tool[1]);
            if (!Files.exists(at, LinkOption.NOFOLLOW_LINKS)) {
                Files.copy(root.resolve(real.toString().substring(1)), at);
                at.toFile().setExecutable(true, false);
            }
        }
    }

    /**
     * A workload that pivots into its job's root (its own tmpfs) and writes deep paths. {@code chroot}: in the
     * host's mount namespace. {@code unshare-chroot} and {@code unshare-pivot_root}: in a mount namespace of its
     * own, as a container runtime does. With a {@code filesystem} mark, every one is seen and tagged, with host
     * paths, creates and attribute changes included (README, Jobs: "Pivoting workloads"). With a {@code mount}
     * mark, the {@code chroot} one entirely, as it stays on the marked mount; the others work on copies of the
     * mount in their own namespace, which the mount mark does not cover: of them only the creates and attribute
     * changes are seen (from the filesystem mark: no other mount here shows those directories), not the opens
     * and writes.
     */
    @ParameterizedTest(name = "{0} with a {1} mark")
    @CsvSource({"chroot, mount", "unshare-chroot, mount", "unshare-pivot_root, mount", "chroot, filesystem",
        "unshare-chroot, filesystem", "unshare-pivot_root, filesystem"})
    void aWorkloadThatPivotsIntoItsRootIsSeenAndTaggedWithHostPaths(String how, String mark) throws IOException {
        try (TestMount d1 = TestMount.tmpfs()) {
            Path root = d1.root();
            populate(root);
            Files.createDirectories(root.resolve(".old"));
            Path cfg = d1.outside("d.conf");
            Files.writeString(cfg, mark + " " + root + "\njob D\nrootfs " + root + "\n");
            List<Root> roots = List.of(new Root(root.toString(), "D", "rootfs"));
            String inner = "mkdir -p /a/b/c/d && echo x > /a/b/c/d/deep";
            // Each command execs the next, so the pid Shell.run returns is the inner shell's, whose redirection
            // writes the deep file.
            String cmd = switch (how) {
                case "chroot" -> "exec chroot '" + root + "' /bin/sh -c '" + inner + "'";
                case "unshare-chroot" -> "exec unshare --mount --propagation private chroot '" + root
                        + "' /bin/sh -c '" + inner + "'";
                default -> "exec unshare --mount --propagation private /bin/sh -c 'cd " + root
                        + " && pivot_root . .old && cd / && exec /bin/sh -c \"" + inner + "\"'";
            };
            boolean ownNamespace = !how.equals("chroot");
            boolean filesystem = mark.equals("filesystem");
            try (Daemon d = Daemon.start(d1.outside("out.jsonl"), 1, "-c", cfg.toString())) {
                long pid = Shell.run(cmd);
                assertTrue(Files.isRegularFile(root.resolve("a/b/c/d/deep")), "the workload ran");
                String deep = root + "/a/b/c/d/deep";
                List<JsonNode> rs = settle(d, root.resolve("zz-sentinel"));
                if (ownNamespace && !filesystem) {
                    assertFalse(rs.stream().anyMatch(r -> r.path("pid").asLong() == pid && (has(r, "OPEN")
                            || has(r, "MODIFY") || has(r, "CLOSE_WRITE"))), "a mount mark saw through a copy of"
                            + " its mount in another namespace (README: use filesystem for such workloads): " + rs);
                    assertTag(event(rs, "CREATE", root + "/a/b/c/d/deep", pid), "job_id", "path_role", "D", "rootfs");
                    assertEquals(0, d.stop());
                    return;
                }
                JsonNode w = event(rs, "CLOSE_WRITE", deep, pid);
                assertEquals("deep", text(w, "name"));
                assertTag(w, "job_id", "path_role", "D", "rootfs");
                // The shell binary the workload ran, opened under its host path.
                assertTag(event(rs, "OPEN", root + "/bin/sh", -1), "job_id", "path_role", "D", "rootfs");
                long chmod = Shell.run("exec chmod 751 '" + root + "'");
                {
                    assertTag(event(rs, "CREATE", deep, pid), "job_id", "path_role", "D", "rootfs");
                    JsonNode dir = event(rs, "CREATE", root + "/a/b/c/d", -1);
                    assertTrue(dir.get("is_dir").asBoolean(), dir.toString());
                    assertTag(dir, "job_id", "path_role", "D", "rootfs");
                    assertTag(event(rs, "CREATE", root + "/a", -1), "job_id", "path_role", "D", "rootfs");
                    // An event on the job root itself, which is also the mount's root.
                    rs = settle(d, root.resolve("zz-sentinel-2"));
                    JsonNode self = event(rs, "ATTRIB", root.toString(), chmod);
                    assertTrue(self.get("is_dir").asBoolean(), self.toString());
                    assertTag(self, "job_id", "path_role", "D", "rootfs");
                }
                assertEquals(0, d.stop());
                verifyJobs(d.records(), roots);
            }
        }
    }

    // ------------------------------------------------------------------------------------------ command line

    /** A job id that needs JSON escaping: quotes, a backslash, a control character, non-ASCII. */
    static final String ODD_ID = "F \"q\" \\ \t é ✓";

    @Test
    void commandLineJobsTagEventsAndContinueTheConfigFilesLastJob() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path eWs = Files.createDirectories(m.root().resolve("e/ws"));
            Path eOut = Files.createDirectories(m.root().resolve("e/out"));
            Path fCache = Files.createDirectories(m.root().resolve("f/cache"));
            Path gRoot = Files.createDirectories(m.root().resolve("g/root"));
            Path gExport = Files.createDirectories(m.root().resolve("g/export"));
            Path none = Files.createDirectories(m.root().resolve("e/wsx"));
            Path cfg = m.outside("g.conf");
            Files.writeString(cfg, "job G\nrootfs " + gRoot + "\n");
            List<Root> roots = List.of(new Root(eWs.toString(), "E", "workspace"),
                    new Root(eOut.toString(), "E", "export"), new Root(fCache.toString(), ODD_ID, "cache"),
                    new Root(gRoot.toString(), "G", "rootfs"), new Root(gExport.toString(), "G", "export"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "-c", cfg.toString(), "--mount",
                    m.root().toString(), "--export", gExport.toString(), "--job", "E", "--workspace", eWs.toString(),
                    "--export", eOut.toString(), "--job", ODD_ID, "--cache", fCache.toString())) {
                long pid = Shell.run("for d in '" + eWs + "' '" + eOut + "' '" + fCache + "' '" + gRoot + "' '"
                        + gExport + "' '" + none + "'; do echo x > \"$d/f\"; done");
                List<JsonNode> rs = settle(d, m.root().resolve("sentinel"));
                assertTag(event(rs, "CLOSE_WRITE", eWs + "/f", pid), "job_id", "path_role", "E", "workspace");
                assertTag(event(rs, "CLOSE_WRITE", eOut + "/f", pid), "job_id", "path_role", "E", "export");
                assertTag(event(rs, "CLOSE_WRITE", fCache + "/f", pid), "job_id", "path_role", ODD_ID, "cache");
                assertTag(event(rs, "CLOSE_WRITE", gRoot + "/f", pid), "job_id", "path_role", "G", "rootfs");
                assertTag(event(rs, "CLOSE_WRITE", gExport + "/f", pid), "job_id", "path_role", "G", "export");
                assertTag(event(rs, "CLOSE_WRITE", none + "/f", pid), "job_id", "path_role", null, null);
                assertEquals(0, d.stop());
                verifyJobs(d.records(), roots);
            }
        }
    }

    @Test
    void aRootThatDoesNotExistYetIsTaggedOnceCreated() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path later = m.root().resolve("later/ws");
            List<Root> roots = List.of(new Root(later.toString(), "L", "workspace"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--filesystem", m.root().toString(), "--job", "L",
                    "--workspace", later + "/")) {
                long pid = Shell.run("mkdir -p '" + later + "' && echo x > '" + later + "/f'");
                List<JsonNode> rs = settle(d, m.root().resolve("sentinel"));
                assertTag(event(rs, "CLOSE_WRITE", later + "/f", pid), "job_id", "path_role", "L", "workspace");
                assertTag(event(rs, "CREATE", later.toString(), -1), "job_id", "path_role", "L", "workspace");
                assertTag(event(rs, "CREATE", m.root() + "/later", -1), "job_id", "path_role", null, null);
                assertEquals(0, d.stop());
                verifyJobs(d.records(), roots);
            }
        }
    }

    // ----------------------------------------------------------------------------------------- other modes

    @ParameterizedTest
    @ValueSource(strings = {"no-fid", "perm", "ext4"})
    void fdModePermissionModeAndExt4TagToo(String mode) throws IOException {
        try (TestMount m = mode.equals("ext4") ? TestMount.ext4() : TestMount.tmpfs()) {
            Path ws = Files.createDirectories(m.root().resolve("j/ws"));
            Path rootfs = Files.createDirectories(m.root().resolve("j/root"));
            Path sib = Files.createDirectories(m.root().resolve("j/wsx"));
            Files.writeString(ws.resolve("existing"), "x\n");
            Files.writeString(sib.resolve("existing"), "x\n");
            List<Root> roots = List.of(new Root(ws.toString(), "J", "workspace"),
                    new Root(rootfs.toString(), "J", "rootfs"));
            List<String> args = new ArrayList<>();
            int marks = 1;
            switch (mode) {
                case "no-fid" -> args.add("--no-fid");
                case "perm" -> {
                    args.add("--perm");
                    marks = PermissionIT.PERM_MOUNT_MARKS;
                }
                default -> { }
            }
            args.addAll(List.of("--mount", m.root().toString(), "--job", "J", "--workspace", ws.toString(),
                    "--rootfs", rootfs.toString()));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), marks, args.toArray(String[]::new))) {
                long pid = Shell.run("echo y >> '" + ws + "/existing'; echo y > '" + rootfs + "/new'; cat '" + sib
                        + "/existing' > /dev/null");
                List<JsonNode> rs = settle(d, m.root().resolve("sentinel"));
                assertTag(event(rs, "CLOSE_WRITE", ws + "/existing", pid), "job_id", "path_role", "J", "workspace");
                assertTag(event(rs, "CLOSE_WRITE", rootfs + "/new", pid), "job_id", "path_role", "J", "rootfs");
                if (!mode.equals("perm")) { // with --perm, opens are reported as OPEN_PERM only
                    assertTag(event(rs, "OPEN", sib + "/existing", -1), "job_id", "path_role", null, null);
                } else {
                    JsonNode perm = event(rs, "OPEN_PERM", ws + "/existing", pid);
                    assertEquals("allow", text(perm, "decision"));
                    assertTag(perm, "job_id", "path_role", "J", "workspace");
                    assertTag(event(rs, "OPEN_PERM", sib + "/existing", -1), "job_id", "path_role", null, null);
                }
                assertEquals(0, d.stop());
                verifyJobs(d.records(), roots);
            }
        }
    }
}
