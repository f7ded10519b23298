package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;

import io.fanotifyd.it.PermissionIT.Child;
import io.fanotifyd.it.PermissionIT.Result;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged systemd units and configs ({@code packaging/systemd}, {@code packaging/etc}), without systemd as
 * PID 1: {@code systemd-analyze verify} finds nothing to say about them; they use no directive that would put
 * the daemon in a mount namespace of its own (where mount marks see nothing of the host); the daemon does
 * everything it is for with exactly the capabilities the units bound it to, and each of them is needed; and
 * both configs start the daemon as the units do (--foreground -c CONF --pid-file /run/fanotifyd/NAME.pid).
 */
@Tag("kernel")
class SystemdUnitIT {
    /** Every directive that gives the service a mount namespace of its own (systemd 252 and later). */
    static final List<String> MOUNT_NAMESPACE_DIRECTIVES = List.of("PrivateTmp", "PrivateDevices", "PrivateMounts",
            "PrivateNetwork", "PrivateIPC", "PrivateUsers", "ProtectSystem", "ProtectHome", "ProtectKernelTunables",
            "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectProc", "ProcSubset",
            "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths",
            "TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths", "RootDirectory", "RootImage", "MountImages",
            "ExtensionImages", "ExtensionDirectories", "MountFlags", "MountAPIVFS", "NetworkNamespacePath",
            "IPCNamespacePath", "LogNamespace", "DynamicUser");

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    static Path packaging() {
        Path dir = Path.of("..", "packaging").toAbsolutePath().normalize();
        assertTrue(Files.isDirectory(dir.resolve("systemd")), "no packaging/systemd at " + dir);
        return dir;
    }

    /** The daemon's units (the forwarder's, which marks nothing, is {@link #forwardUnit()}). */
    static List<Path> units() throws IOException {
        try (var s = Files.list(packaging().resolve("systemd"))) {
            List<Path> units = s.filter(p -> p.toString().endsWith(".service")).sorted().toList();
            assertEquals(List.of("fanotifyd-forward.service", "fanotifyd.service", "fanotifyd@.service"),
                    units.stream().map(p -> p.getFileName().toString()).toList());
            return units.subList(1, 3);
        }
    }

    static Path forwardUnit() {
        return packaging().resolve("systemd/fanotifyd-forward.service");
    }

    /** The forwarder's unit: started as --forward on the shared config, restarted unless the config is bad. */
    @Test
    void theForwardersUnitRunsItOnTheSharedConfig() throws IOException {
        Map<String, String> s = service(forwardUnit());
        assertEquals("/usr/bin/fanotifyd --forward -c /etc/fanotifyd/fanotifyd.conf", s.get("ExecStart"));
        assertEquals("on-failure", s.get("Restart"));
        assertEquals("2", s.get("RestartPreventExitStatus"));
        assertEquals("fanotifyd", s.get("StateDirectory"), "its checkpoint's directory, forward_state's default");
        assertEquals("", s.get("CapabilityBoundingSet"), "it needs no capability");
        assertEquals("/var/lib/fanotifyd", s.get("ReadWritePaths"));
    }

    /** The [Service] settings of a unit, by key (the last one of a key wins, as in systemd). */
    static Map<String, String> service(Path unit) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        String section = "";
        for (String line : Files.readAllLines(unit)) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#") || l.startsWith(";")) {
                continue;
            }
            if (l.startsWith("[")) {
                section = l;
            } else if (section.equals("[Service]")) {
                int eq = l.indexOf('=');
                out.put(l.substring(0, eq).strip(), l.substring(eq + 1).strip());
            }
        }
        return out;
    }

    /**
     * {@code systemd-analyze verify} exits 0 on many errors, so any line on stderr fails. The units name
     * /usr/bin/fanotifyd, which exists only once the package is installed (verify checks that ExecStart is
     * executable), and man:fanotifyd(8) is found only once installed (verify runs man for Documentation=):
     * these are copies whose ExecStart is the checkout's launcher, verified with MANPATH holding the built
     * build/man/fanotifyd.8. The package's own check verifies the installed units.
     */
    @Test
    void systemdAnalyzeVerifySaysNothing(@TempDir Path dir) throws Exception {
        String launcher = KernelSupport.launcher().toString();
        Path manPage = KernelSupport.launcher().getParent().resolve("build/man/fanotifyd.8");
        assertTrue(Files.isRegularFile(manPage), "no " + manPage + ": run make");
        Path man = Files.createDirectories(dir.resolve("man/man8"));
        Files.copy(manPage, man.resolve("fanotifyd.8"));
        List<Path> copies = new ArrayList<>();
        for (Path unit : units()) {
            String text = Files.readString(unit);
            assertTrue(text.contains("ExecStart=/usr/bin/fanotifyd --foreground "), unit + ": ExecStart");
            String copy = text.replace("/usr/bin/fanotifyd", launcher);
            copies.add(Files.writeString(dir.resolve(unit.getFileName()), copy));
            if (unit.getFileName().toString().contains("@")) { // and an instance, with %i filled in
                copies.add(Files.writeString(dir.resolve("fanotifyd@J.service"), copy));
            }
        }
        copies.add(Files.writeString(dir.resolve("fanotifyd-forward.service"),
                Files.readString(forwardUnit()).replace("/usr/bin/fanotifyd", launcher)));
        for (Path copy : copies) {
            Process p;
            try {
                ProcessBuilder pb = new ProcessBuilder("systemd-analyze", "verify", copy.toString());
                pb.environment().put("MANPATH", dir.resolve("man") + ":");
                p = pb.start();
            } catch (IOException e) {
                if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                    fail("systemd-analyze is needed in CI (Debian package systemd): " + e.getMessage());
                }
                System.out.println("SKIP: no systemd-analyze: " + e.getMessage());
                org.junit.jupiter.api.Assumptions.abort("no systemd-analyze");
                return;
            }
            p.getOutputStream().close();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "systemd-analyze verify " + copy + " took over 60 s");
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals("", err, "systemd-analyze verify " + copy.getFileName() + " (stdout: " + out + ")");
            assertEquals(0, p.exitValue(), "systemd-analyze verify " + copy.getFileName());
        }
    }

    @Test
    void noDirectiveGivesTheServiceAMountNamespace() throws IOException {
        for (Path unit : units()) {
            Map<String, String> s = service(unit);
            for (String d : MOUNT_NAMESPACE_DIRECTIVES) {
                String v = s.get(d);
                assertTrue(v == null || v.isEmpty() || List.of("no", "false", "0", "off").contains(v.toLowerCase(
                        Locale.ROOT)), unit.getFileName() + ": " + d + "=" + v + " would run the daemon on copies of"
                        + " the host's mounts, where mount marks see nothing of the host");
            }
            assertEquals("notify", s.get("Type"), unit.toString());
            assertEquals("on-failure", s.get("Restart"), unit.toString());
            assertEquals("/bin/sh -c 'kill -HUP \"$$MAINPID\"'", s.get("ExecReload"), unit.toString());
            assertTrue(s.get("ExecStart").matches("/usr/bin/fanotifyd --foreground -c /etc/fanotifyd/\\S+\\.conf"
                    + " --pid-file /run/fanotifyd/\\S+\\.pid"), s.get("ExecStart"));
            assertEquals(service(units().get(0)).get("CapabilityBoundingSet"), s.get("CapabilityBoundingSet"),
                    "both units, one set");
        }
    }

    /** The capability set of the units, as setpriv names it: {@code +sys_admin,+dac_read_search,...}. */
    static List<String> unitCapabilities() throws IOException {
        Map<String, String> s = service(units().get(0));
        assertEquals("yes", s.get("NoNewPrivileges"));
        List<String> caps = new ArrayList<>();
        for (String c : s.get("CapabilityBoundingSet").split("\\s+")) {
            assertTrue(c.startsWith("CAP_"), c);
            caps.add(c.substring(4).toLowerCase(Locale.ROOT));
        }
        return caps;
    }

    /** {@code setpriv} with only {@code caps} in the bounding set and no new privileges, as the units run it. */
    static List<String> withCapabilities(List<String> caps) {
        StringBuilder set = new StringBuilder("-all");
        for (String c : caps) {
            set.append(",+").append(c);
        }
        return List.of("setpriv", "--bounding-set=" + set, "--inh-caps=-all", "--no-new-privs", "--");
    }

    /**
     * With exactly the units' capabilities: FID paths of another user's files, the exe of another user's
     * process, a socket group root is not in, a hook killed at its timeout, permission mode denying a canary.
     */
    @Test
    void theDaemonDoesItsWorkWithTheUnitsCapabilitiesAlone() throws Exception {
        List<String> caps = unitCapabilities();
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            // The other user must reach the mount (the test's directory is 0700) and write in it.
            Files.setPosixFilePermissions(m.outside(""), java.nio.file.attribute.PosixFilePermissions.fromString(
                    "rwx--x--x"));
            Files.setPosixFilePermissions(root, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
            Path canary = Files.writeString(root.resolve("canary.key"), "secret\n");
            Path sock = m.outside("s.sock");
            Path hookOut = m.outside("hook.txt");
            try (Daemon d = Daemon.start(withCapabilities(caps), ProcessBuilder.Redirect.DISCARD, m.outside("out.jsonl"),
                    PermissionIT.PERM_MOUNT_MARKS, PermissionIT.permArgs(root, "-v", "--deny-on-alert", "--canary",
                            root + "/canary*", "--socket", sock.toString(), "--socket-group", "65534",
                            "--hook", "printf ran > " + hookOut + "; exec sleep 30", "--hook-timeout-ms", "500"))) {
                String status = Files.readString(Path.of("/proc/" + d.pid() + "/status"));
                assertTrue(status.lines().anyMatch(l -> l.startsWith("NoNewPrivs:") && l.endsWith("1")), status);
                // Another user writes a file and reads the canary: the shell and cat wait for their answers, so
                // their exe is read while they live.
                String nobody = "exec setpriv --reuid=65534 --regid=65534 --clear-groups -- ";
                Result r = Child.run(nobody + "sh -c 'echo data > " + root + "/mine; exec cat " + canary + "'",
                        PermissionIT.ACCESS_BOUND_S);
                assertNotEquals(0, r.code(), "the canary is denied: " + r);
                assertTrue(r.stderr().contains("Operation not permitted"), r.toString());
                // A write, not the create: --mount reports no creates (README, Marks).
                JsonNode created = d.await(x -> FileEventsIT.has(x, "CLOSE_WRITE")
                        && (root + "/mine").equals(x.path("path").asText()), "CLOSE_WRITE of the other user's file,"
                        + " with its path (open_by_handle_at: CAP_DAC_READ_SEARCH)", 10);
                JsonNode denied = d.await(x -> "deny".equals(x.path("decision").asText()), "the denied canary", 10);
                // The shell's or, once it has exec'd, cat's (a pid's details are cached for a second): known.
                assertTrue(List.of("/usr/bin/cat", "/usr/bin/dash").contains(denied.path("exe").asText()),
                        "another user's exe (CAP_SYS_PTRACE): " + denied);
                assertEquals(r.pid(), created.path("pid").asLong(), created.toString());
                assertEquals(65534, (int) Files.getAttribute(sock, "unix:gid"), "socket group (CAP_CHOWN)");
                d.awaitLog("(killed: timeout)", 20); // the hook, root like the daemon: no CAP_KILL needed
                assertEquals("ran", Files.readString(hookOut));
                assertEquals(0, d.stop(), d.stderr());
                String log = d.stderr();
                assertFalse(log.contains("CAP_"), "no capability missing:\n" + log);
                assertFalse(log.contains("error:"), log);
            }
        }
    }

    /** Each capability in the units is needed: without it the daemon cannot start or says what will not work. */
    @Test
    void eachCapabilityOfTheUnitsIsNeeded() throws Exception {
        List<String> caps = unitCapabilities();
        Map<String, String> without = Map.of(
                "sys_admin", "fanotify needs root or CAP_SYS_ADMIN",
                "dac_read_search", "no CAP_DAC_READ_SEARCH",
                "sys_ptrace", "no CAP_SYS_PTRACE",
                "net_admin", "no CAP_NET_ADMIN",
                "chown", "chown(");
        assertEquals(without.keySet(), new java.util.HashSet<>(caps), "a reason for each capability of the units");
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            for (String cap : caps) {
                List<String> fewer = new ArrayList<>(caps);
                fewer.remove(cap);
                List<String> cmd = new ArrayList<>(withCapabilities(fewer));
                cmd.addAll(List.of(KernelSupport.launcher().toString(), "--foreground", "-o",
                        m.outside("out-" + cap).toString(), "--mount", root.toString(), "--socket",
                        m.outside(cap + ".sock").toString(), "--socket-group", "65534"));
                Path err = m.outside("err-" + cap);
                Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(err.toFile()).start();
                try {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                    while (p.isAlive() && !Files.readString(err).contains(without.get(cap))
                            && System.nanoTime() < deadline) {
                        Daemon.sleep(20);
                    }
                    assertTrue(Files.readString(err).contains(without.get(cap)), "without CAP_" + cap.toUpperCase(
                            Locale.ROOT) + ": " + Files.readString(err));
                } finally {
                    if (p.isAlive()) {
                        Daemon.terminate(p);
                    }
                }
            }
        }
    }

    /**
     * The packaged default config and the example job config, with their paths moved under the test's own
     * directories (the marked ones onto its tmpfs), start the daemon as the units do; the job's canary is
     * denied and tagged with the job.
     */
    @Test
    void thePackagedConfigsStartAsTheUnitsRunThem() throws Exception {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path outside = m.outside("host");
            // The default config: observe mode.
            Path conf = moved(packaging().resolve("etc/fanotifyd.conf"), root, outside);
            Files.createDirectories(root.resolve("etc"));
            try (Daemon d = startAsTheUnit(conf, outside, "fanotifyd", 1)) {
                Files.writeString(root.resolve("etc/hosts.new"), "x");
                d.await(x -> (root + "/etc/hosts.new").equals(x.path("path").asText()), "a record of /etc", 10);
                assertEquals(0, d.stop(), d.stderr());
                assertFalse(d.stderr().contains("warning"), d.stderr());
            }
            // The job example: permission mode on the job's mounts (the JVM here stays off them).
            Path job = moved(packaging().resolve("etc/job.conf.example"), root, outside);
            for (String dir : List.of("run/jobs/J/root/etc", "run/jobs/J/workspace", "run/jobs/J/export",
                    "var/cache/job-platform")) {
                Files.createDirectories(root.resolve(dir));
            }
            Path shadow = Files.writeString(root.resolve("run/jobs/J/root/etc/shadow"), "secret\n");
            try (Daemon d = startAsTheUnit(job, outside, "J", PermissionIT.PERM_MOUNT_MARKS)) {
                assertTrue(Files.exists(outside.resolve("run/fanotifyd/J.sock")), "the job's socket");
                Result cat = Child.run("exec cat " + shadow, PermissionIT.ACCESS_BOUND_S);
                assertNotEquals(0, cat.code(), cat.toString());
                JsonNode alert = d.await(x -> "alert".equals(x.path("type").asText()), "the job's canary alert", 10);
                assertEquals("J", alert.path("job_id").asText(), alert.toString());
                assertEquals("rootfs", alert.path("path_role").asText(), alert.toString());
                assertEquals(0, d.stop(), d.stderr());
                assertFalse(d.stderr().contains("warning"), d.stderr());
            }
        }
    }

    /**
     * {@code --foreground -c CONF --pid-file /run/fanotifyd/NAME.pid} as in the units, /run and /var/log being
     * under {@code outside}; the pid file must be where the packaged logrotate config looks for it.
     */
    private static Daemon startAsTheUnit(Path conf, Path outside, String name, int marks) throws IOException {
        Path runDir = Files.createDirectories(outside.resolve("run/fanotifyd"));
        Files.createDirectories(outside.resolve("var/log/fanotifyd"));
        Path pidFile = runDir.resolve(name + ".pid");
        Daemon d = Daemon.start(List.of(), ProcessBuilder.Redirect.DISCARD,
                outside.resolve("var/log/fanotifyd/" + name + ".jsonl"), marks, "-c", conf.toString(), "--pid-file",
                pidFile.toString());
        assertEquals(Long.toString(d.pid()), Files.readString(pidFile).strip(), "pid file for logrotate");
        return d;
    }

    /**
     * A copy of {@code conf} with each absolute path moved: those of the daemon's own files (/var/log, /run/
     * fanotifyd) under {@code outside}, the watched ones under the tmpfs {@code root}. Every other line as is.
     */
    private static Path moved(Path conf, Path root, Path outside) throws IOException {
        StringBuilder out = new StringBuilder();
        for (String line : Files.readAllLines(conf)) {
            String[] kv = line.strip().split("\\s+", 2);
            if (kv.length == 2 && !kv[0].startsWith("#") && kv[1].startsWith("/")) {
                Path base = kv[1].startsWith("/var/log/") || kv[1].startsWith("/run/fanotifyd/") ? outside : root;
                line = kv[0] + " " + base + kv[1];
            }
            out.append(line).append('\n');
        }
        Files.createDirectories(outside);
        return Files.writeString(outside.resolve(conf.getFileName() + ".moved"), out);
    }
}
