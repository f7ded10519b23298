package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.it.PermissionIT.Child;
import io.fanotifyd.it.PermissionIT.Result;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * In permission mode the permission thread answers before the first permission mark is placed: an open that
 * the new mark holds is answered at once, not after the rest of the start-up (formerly 8-31 ms of stalled
 * opens). Shown without timing: at the moment the first mark shows in {@code /proc/PID/fdinfo}, the permission
 * thread exists, and it waits in a blocking {@code read()} of a fanotify group (no {@code ppoll} per open).
 */
@Tag("kernel")
class PermissionStartIT {
    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    /**
     * The syscall each thread of {@code pid} is in, as "name:number:first argument" (from
     * /proc/PID/task/TID/{comm,syscall}; the argument in decimal, or "-" for a thread that is not in a syscall).
     */
    static List<String> threadSyscalls(long pid) {
        List<String> out = new ArrayList<>();
        try (var tasks = Files.newDirectoryStream(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks) {
                try {
                    String comm = Files.readString(t.resolve("comm")).strip();
                    String[] sc = Files.readString(t.resolve("syscall")).strip().split(" ");
                    String arg = sc.length > 1 && sc[1].startsWith("0x") ? Long.toString(Long.parseLong(
                            sc[1].substring(2), 16)) : "-";
                    out.add(comm + ":" + sc[0] + ":" + arg);
                } catch (IOException e) {
                    // thread gone meanwhile
                }
            }
        } catch (IOException e) {
            // process gone
        }
        return out;
    }

    @Test
    void thePermissionThreadWaitsInReadBeforeTheFirstMarkIsPlaced() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path root = m.root().toRealPath();
            Path f = Files.writeString(root.resolve("f.txt"), "hello\n");
            List<String> cmd = new ArrayList<>(List.of(KernelSupport.launcher().toString(), "--foreground", "-o",
                    m.outside("out.jsonl").toString()));
            cmd.addAll(List.of(PermissionIT.permArgs(root)));
            Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                List<String> atFirstMark = null;
                while (System.nanoTime() < deadline && p.isAlive()) {
                    if (Daemon.countMarks(p.pid()) > 0) {
                        atFirstMark = threadSyscalls(p.pid());
                        break;
                    }
                    Thread.onSpinWait();
                }
                assertTrue(atFirstMark != null, "no mark appeared within 20 s");
                // The permission thread exists when the first mark shows (the daemon waited for it to reach its
                // read before marking).
                assertTrue(atFirstMark.stream().anyMatch(t -> t.startsWith("fanotifyd-perm:")), "when the first"
                        + " mark showed, there was no permission thread: " + atFirstMark);
                // It may be on its way into the read at that moment, so the read is checked for just after.
                String reading = null;
                for (int i = 0; i < 200 && reading == null; i++) {
                    reading = threadSyscalls(p.pid()).stream().filter(t -> t.startsWith("fanotifyd-perm:"
                            + Daemon.READ_NR + ":")).findFirst().orElse(null);
                    if (reading == null) {
                        Daemon.sleep(5);
                    }
                }
                assertTrue(reading != null, "the permission thread does not wait in read(): " + threadSyscalls(
                        p.pid()));
                String fd = reading.substring(reading.lastIndexOf(':') + 1);
                assertTrue(Files.readString(Path.of("/proc/" + p.pid() + "/fdinfo/" + fd)).contains("fanotify flags:"),
                        "the permission thread reads fd " + fd + ", which is not a fanotify group");
                Daemon.awaitMarks(p.pid(), PermissionIT.PERM_MOUNT_MARKS);
                Result cat = Child.run("exec cat " + f, PermissionIT.ACCESS_BOUND_S);
                assertEquals(0, cat.code(), cat.toString());
                assertEquals(0, Daemon.terminate(p));
            } finally {
                Daemon.kill(p);
            }
        }
    }
}
