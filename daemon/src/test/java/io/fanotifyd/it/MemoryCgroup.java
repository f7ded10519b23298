package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Assumptions;

/**
 * A memory cgroup of the test's own, with a limit, for one daemon: a child of the test's own cgroup, in
 * cgroup v2 where that cgroup hands the memory controller to its children ({@code memory.max}), else in the
 * cgroup v1 memory hierarchy ({@code memory.limit_in_bytes}). Where there is neither, the test prints one SKIP
 * line and is skipped, except under CI ({@code CI=true}), where that fails (as {@link KernelSupport} does).
 *
 * <p>A process joins it by writing its own pid to {@link #procsFile()} before it execs the daemon
 * ({@link #wrapper()}), so the JVM starts inside the limit and only the daemon (and the hooks it starts) are in
 * it. Closing it SIGKILLs whatever is still in it (only the daemon and its children can be: nothing else is
 * ever put there) and removes it, also after a failed test.
 */
final class MemoryCgroup implements AutoCloseable {
    private final Path dir;
    private final boolean v2;

    private MemoryCgroup(Path dir, boolean v2) {
        this.dir = dir;
        this.v2 = v2;
    }

    /** A new cgroup {@code name.<pid>} limited to {@code limitBytes} (swap off where the kernel lets us). */
    static MemoryCgroup create(String name, long limitBytes) throws IOException {
        Optional<Parent> parent = findParent();
        if (parent.isEmpty()) {
            String why = "no memory cgroup to make a child in (cgroup v2 with the memory controller enabled for "
                    + "children of this process's cgroup, or the cgroup v1 memory controller)";
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                fail("memory-limit tests cannot run in CI: " + why);
            }
            System.out.println("SKIP: fanotifyd memory-limit tests: " + why);
            Assumptions.abort(why);
        }
        Path dir = parent.get().dir().resolve(name + "." + ProcessHandle.current().pid());
        Files.createDirectory(dir);
        MemoryCgroup cg = new MemoryCgroup(dir, parent.get().v2());
        try {
            if (cg.v2) {
                Files.writeString(dir.resolve("memory.max"), Long.toString(limitBytes));
                if (Files.exists(dir.resolve("memory.swap.max"))) {
                    Files.writeString(dir.resolve("memory.swap.max"), "0");
                }
            } else {
                Files.writeString(dir.resolve("memory.limit_in_bytes"), Long.toString(limitBytes));
                Path swap = dir.resolve("memory.memsw.limit_in_bytes");
                if (Files.isWritable(swap)) {
                    Files.writeString(swap, Long.toString(limitBytes));
                }
            }
        } catch (IOException | RuntimeException e) {
            cg.close();
            throw e;
        }
        return cg;
    }

    private record Parent(Path dir, boolean v2) {}

    /** v2 if our v2 cgroup gives children the memory controller, else our v1 memory cgroup if writable. */
    private static Optional<Parent> findParent() throws IOException {
        List<String> mounts = Files.readAllLines(Path.of("/proc/self/mountinfo"));
        List<String> own = Files.readAllLines(Path.of("/proc/self/cgroup"));
        for (String m : mounts) {
            String[] f = m.split(" ");
            int dash = List.of(f).indexOf("-");
            if (dash > 0 && f[dash + 1].equals("cgroup2")) {
                for (String line : own) {
                    if (line.startsWith("0::")) {
                        Path p = Path.of(f[4] + line.substring(3));
                        Path control = p.resolve("cgroup.subtree_control");
                        if (Files.isReadable(control) && List.of(Files.readString(control).trim().split(" "))
                                .contains("memory")) {
                            return Optional.of(new Parent(p, true));
                        }
                    }
                }
            }
        }
        for (String m : mounts) {
            String[] f = m.split(" ");
            int dash = List.of(f).indexOf("-");
            if (dash > 0 && f[dash + 1].equals("cgroup") && List.of(f[dash + 3].split(",")).contains("memory")) {
                for (String line : own) {
                    String[] c = line.split(":", 3);
                    if (c.length == 3 && List.of(c[1].split(",")).contains("memory")) {
                        Path p = Path.of(f[4] + c[2]);
                        if (Files.isWritable(p)) {
                            return Optional.of(new Parent(p, false));
                        }
                    }
                }
            }
        }
        return Optional.empty();
    }

    Path procsFile() {
        return dir.resolve("cgroup.procs");
    }

    /** A command prefix that puts itself in this cgroup and then execs the rest of the command line. */
    List<String> wrapper() {
        return List.of("/bin/sh", "-c", "echo $$ > \"$0\" && exec \"$@\"", procsFile().toString());
    }

    String version() {
        return v2 ? "v2" : "v1";
    }

    /** The highest usage since creation, in bytes (page cache included), or -1 where the kernel has no peak. */
    long peakBytes() throws IOException {
        Path p = dir.resolve(v2 ? "memory.peak" : "memory.max_usage_in_bytes");
        return Files.exists(p) ? Long.parseLong(Files.readString(p).trim()) : -1;
    }

    /** Processes the OOM killer killed in this cgroup. */
    long oomKills() throws IOException {
        for (String line : Files.readAllLines(dir.resolve(v2 ? "memory.events" : "memory.oom_control"))) {
            if (line.startsWith("oom_kill ")) {
                return Long.parseLong(line.substring("oom_kill ".length()).trim());
            }
        }
        return 0;
    }

    List<Long> pids() throws IOException {
        List<Long> pids = new ArrayList<>();
        if (Files.exists(procsFile())) {
            for (String line : Files.readAllLines(procsFile())) {
                if (!line.isBlank()) {
                    pids.add(Long.parseLong(line.trim()));
                }
            }
        }
        return pids;
    }

    /** SIGKILLs what is left in it (the daemon's own processes only), then removes it (bounded waits). */
    @Override
    public void close() throws IOException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (Files.exists(dir)) {
            for (long pid : pids()) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            try {
                Files.delete(dir); // rmdir: fails while a process is still in it
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("cannot remove cgroup " + dir + " (still holds " + pids() + ")", e);
                }
                Daemon.sleep(50);
            }
        }
    }

    @Override
    public String toString() {
        return "memory cgroup " + version() + " " + dir;
    }
}
