package io.fanotifyd.kernel;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/** Spawns real processes (no root needed). Every wait is bounded; every child is killed and reaped. */
class SpawnTest {
    private static final long LIMIT_NANOS = TimeUnit.SECONDS.toNanos(10);
    private static final List<String> ENV = List.of("PATH=/usr/bin:/bin", "LC_ALL=C");

    private record Result(int pid, byte[] output, int status) {
        String text() {
            return new String(output, UTF_8);
        }
    }

    /** Runs {@code sh -c script args...} to completion (bounded), killing its group if it overruns. */
    private static Result sh(String script, List<String> args, List<String> env) {
        List<String> argv = new ArrayList<>(List.of("sh", "-c", script, "sh"));
        argv.addAll(args);
        return run(Spawn.spawn("/bin/sh", argv, env));
    }

    private static Result run(Spawn.SpawnedProcess p) {
        long deadline = System.nanoTime() + LIMIT_NANOS;
        boolean reaped = false;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(65536);
            MemorySegment pollFds = arena.allocate(8, 8);
            short[] revents = new short[1];
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            while (true) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    fail("child " + p.pid() + " still writing after 10 s; output so far: " + out);
                }
                if (Syscalls.pollIn(pollFds, new int[] {p.readFd()}, revents, 100) == 0) {
                    continue;
                }
                long n = Libc.read(p.readFd(), buf, buf.byteSize());
                if (n < 0 && Libc.errno() == Errno.EINTR) {
                    continue;
                }
                assertTrue(n >= 0, "read: errno " + Libc.errno());
                if (n == 0) {
                    break;
                }
                out.write(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), 0, (int) n);
            }
            Result result = new Result(p.pid(), out.toByteArray(), reap(p.pid(), deadline));
            reaped = true;
            return result;
        } finally {
            Syscalls.closeQuietly(p.readFd());
            if (!reaped) {
                killAndReap(p.pid());
            }
        }
    }

    /**
     * Cleanup for a child not reaped yet. Never used after a reap: the pid (and group id) could then belong
     * to an unrelated process.
     */
    private static void killAndReap(int pid) {
        Spawn.kill(-pid, Spawn.SIGKILL);
        reap(pid, System.nanoTime() + LIMIT_NANOS);
    }

    private static int reap(int pid, long deadline) {
        while (System.nanoTime() < deadline) {
            int status = Spawn.waitpid(pid, true);
            if (status != Spawn.STILL_RUNNING) {
                return status;
            }
            sleep(5);
        }
        Spawn.kill(-pid, Spawn.SIGKILL);
        fail("child " + pid + " did not exit within 10 s");
        return 0;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Pids of the processes (zombies excepted) whose process group is {@code pgid}, from /proc. */
    static List<Integer> liveMembers(int pgid) {
        List<Integer> members = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) procs::iterator) {
                String name = p.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                String stat;
                try {
                    stat = new String(Files.readAllBytes(p.resolve("stat")), ISO_8859_1);
                } catch (IOException e) {
                    continue; // exited meanwhile
                }
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                // after "(comm) ": state ppid pgrp ...
                if (Integer.parseInt(f[2]) == pgid && !f[0].equals("Z") && !f[0].equals("X")) {
                    members.add(Integer.parseInt(name));
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return members;
    }

    private static Set<String> fdsOf(int pid) throws IOException {
        Set<String> fds = new TreeSet<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            s.forEach(p -> fds.add(p.getFileName().toString()));
        }
        return fds;
    }

    private static List<byte[]> splitNul(byte[] b) {
        List<byte[]> parts = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < b.length; i++) {
            if (b[i] == 0) {
                byte[] part = new byte[i - start];
                System.arraycopy(b, start, part, 0, part.length);
                parts.add(part);
                start = i + 1;
            }
        }
        return parts;
    }

    // ------------------------------------------------------------------------------------------------- tests

    @Test
    void environmentAndArgumentsArriveByteForByteAndAreNeverEvaluated(@TempDir Path dir) {
        Path marker = dir.resolve("x");
        List<String> values = List.of(
                "line one\nline two",
                "quotes ' \" ` and \\ backslash",
                "$(touch " + marker + ")",
                "`touch " + marker + "`; touch " + marker + " ; echo $HOME",
                "raw byte \uDCFF and \uDC80, UTF-8 é ☃ \uD83D\uDE00",
                "",
                "=leading equals= and trailing =");
        List<String> env = new ArrayList<>(ENV);
        StringBuilder script = new StringBuilder("printf '%s\\0'");
        for (int i = 0; i < values.size(); i++) {
            env.add("V" + i + "=" + values.get(i));
            script.append(" \"$V").append(i).append('"');
        }
        script.append("; printf '%s\\0' \"$@\"");

        Result r = sh(script.toString(), values, env);

        assertEquals("exit 0", Spawn.describeStatus(r.status()), r.text());
        List<byte[]> got = splitNul(r.output());
        assertEquals(values.size() * 2, got.size(), r.text());
        for (int i = 0; i < values.size(); i++) {
            assertArrayEquals(PathCodec.encode(values.get(i)), got.get(i), "env V" + i);
            assertArrayEquals(PathCodec.encode(values.get(i)), got.get(values.size() + i), "argv " + i);
        }
        assertFalse(Files.exists(marker), "a value was evaluated by the shell");
    }

    @Test
    void environmentIsExactlyWhatWasPassed() {
        Result r = run(Spawn.spawn("/usr/bin/env", List.of("env"), List.of("A=1", "B=two words", "C=")));
        assertEquals("A=1\nB=two words\nC=\n", r.text());
    }

    @Test
    void stdinIsDevNullAndStdoutStderrShareThePipe() {
        Result r = sh("if read -r line; then echo \"got:$line\"; else echo eof; fi; echo err >&2; "
                + "readlink /proc/$$/fd/0", List.of(), ENV);
        assertEquals("eof\nerr\n/dev/null\n", r.text());
    }

    @Test
    void childOnlyHasStdioEvenIfTheParentHoldsInheritableFds() throws IOException {
        Assumptions.assumeTrue(SpawnCalls.hasPosixSpawnFileActionsAddclosefrom(), "libc without addclosefrom_np");
        int leaky;
        try (Arena arena = Arena.ofConfined()) {
            leaky = Libc.openat(Fanotify.AT_FDCWD, Libc.cString(arena, "/dev/null"), Fanotify.O_RDONLY, 0);
        }
        assertTrue(leaky > 2);
        Spawn.SpawnedProcess p = Spawn.spawn("/bin/sleep", List.of("sleep", "30"), ENV);
        try {
            // posix_spawn returns after the exec, so the descriptor table is final already.
            assertEquals(Set.of("0", "1", "2"), fdsOf(p.pid()));
            Path fd = Path.of("/proc/" + p.pid() + "/fd");
            assertEquals("/dev/null", Files.readSymbolicLink(fd.resolve("0")).toString());
            String out = Files.readSymbolicLink(fd.resolve("1")).toString();
            assertTrue(out.startsWith("pipe:"), out);
            assertEquals(out, Files.readSymbolicLink(fd.resolve("2")).toString());
        } finally {
            Syscalls.closeQuietly(leaky);
            Syscalls.closeQuietly(p.readFd());
            killAndReap(p.pid());
        }
    }

    @Test
    void childLeadsItsOwnProcessGroup() {
        Result r = sh("read -r _ _ _ _ pgrp sid _ < /proc/$$/stat; echo \"$$ $pgrp $sid\"", List.of(), ENV);
        String[] f = r.text().trim().split(" ");
        assertEquals(String.valueOf(r.pid()), f[0]);
        assertEquals(f[0], f[1], "pgid == pid");
        String self = new String(Syscalls.readFile("/proc/self/stat", 4096), ISO_8859_1);
        String[] mine = self.substring(self.lastIndexOf(')') + 2).split(" ");
        assertNotEquals(mine[2], f[1], "not in the test JVM's group");
        assertEquals(mine[3], f[2], "same session (a new group, not a new session)");
    }

    @Test
    void signalsAreDefaultAndUnblockedEvenIfTheParentIgnoresSome() {
        // The JVM ignores nothing by default; ignore SIGHUP for a moment so that SETSIGDEF is put to work.
        Signal hup = new Signal("HUP");
        SignalHandler previous = Signal.handle(hup, SignalHandler.SIG_IGN);
        try {
            // Shell builtins only: a forked helper would read the state of a shell busy forking.
            Result r = sh("while read -r k v; do case $k in SigIgn:|SigBlk:) echo \"$k$v\";; esac; done "
                    + "< /proc/$$/status", List.of(), ENV);
            assertEquals("SigBlk:0000000000000000\nSigIgn:0000000000000000\n", r.text());
            // And the program itself (no shell in between).
            Result direct = run(Spawn.spawn("/bin/grep", List.of("grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"),
                    ENV));
            assertEquals("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", direct.text());
        } finally {
            Signal.handle(hup, previous);
        }
    }

    @Test
    void groupKillReachesBackgroundChildren() {
        Spawn.SpawnedProcess p = Spawn.spawn("/bin/sh", List.of("sh", "-c", "sleep 1000 & sleep 1000"), ENV);
        Syscalls.closeQuietly(p.readFd());
        long deadline = System.nanoTime() + LIMIT_NANOS;
        int status;
        try {
            while (liveMembers(p.pid()).size() < 2) {
                assertTrue(System.nanoTime() < deadline, "background sleep never started");
                sleep(10);
            }
            assertTrue(Spawn.kill(-p.pid(), Spawn.SIGKILL));
        } finally {
            Spawn.kill(-p.pid(), Spawn.SIGKILL);
            status = reap(p.pid(), deadline);
        }
        assertTrue(Spawn.signaled(status));
        assertEquals(Spawn.SIGKILL, Spawn.termSignal(status));
        assertEquals("signal 9 (SIGKILL)", Spawn.describeStatus(status));
        while (!liveMembers(p.pid()).isEmpty()) {
            assertTrue(System.nanoTime() < deadline, "still alive in the group: " + liveMembers(p.pid()));
            sleep(10);
        }
    }

    @Test
    void waitStatusesDecode() {
        int exit3 = sh("exit 3", List.of(), ENV).status();
        assertTrue(Spawn.exited(exit3));
        assertFalse(Spawn.signaled(exit3));
        assertEquals(3, Spawn.exitCode(exit3));
        assertEquals("exit 3", Spawn.describeStatus(exit3));

        int term = sh("kill -TERM $$; sleep 5", List.of(), ENV).status();
        assertFalse(Spawn.exited(term));
        assertTrue(Spawn.signaled(term));
        assertEquals(Spawn.SIGTERM, Spawn.termSignal(term));
        assertEquals("signal 15 (SIGTERM)", Spawn.describeStatus(term));
    }

    @Test
    void waitpidWithoutHangReportsStillRunningThenTheStatus() {
        Spawn.SpawnedProcess p = Spawn.spawn("/bin/sleep", List.of("sleep", "1000"), ENV);
        try {
            assertEquals(Spawn.STILL_RUNNING, Spawn.waitpid(p.pid(), true));
        } finally {
            Spawn.kill(-p.pid(), Spawn.SIGKILL);
            Syscalls.closeQuietly(p.readFd());
        }
        int status = reap(p.pid(), System.nanoTime() + LIMIT_NANOS);
        assertEquals(Spawn.SIGKILL, Spawn.termSignal(status));
        NativeCallException e = assertThrows(NativeCallException.class, () -> Spawn.waitpid(p.pid(), true));
        assertEquals(10, e.errno()); // ECHILD: reaped already
    }

    @Test
    void spawnFailureThrowsWithTheErrnoAndLeaksNoDescriptor() throws IOException {
        int pid = Syscalls.getpid();
        Set<String> before = fdsOf(pid);
        NativeCallException e = assertThrows(NativeCallException.class,
                () -> Spawn.spawn("/nonexistent/program", List.of("program"), ENV));
        assertEquals("posix_spawn", e.call());
        assertEquals(Errno.ENOENT, e.errno());
        assertTrue(e.getMessage().contains("/nonexistent/program"), e.getMessage());
        assertEquals(before, fdsOf(pid));
    }

    @Test
    void invalidArgumentsAreRejectedBeforeAnythingIsCreated() {
        assertThrows(IllegalArgumentException.class, () -> Spawn.spawn("/bin/true", List.of(), ENV));
        assertThrows(IllegalArgumentException.class, () -> Spawn.spawn("/bin/true", List.of("true"), List.of("NOEQ")));
        assertThrows(IllegalArgumentException.class, () -> Spawn.spawn("/bin/true", List.of("true"), List.of("=x")));
        assertThrows(IllegalArgumentException.class,
                () -> Spawn.spawn("/bin/true", List.of("true"), List.of("A=nul\0byte")));
        assertThrows(IllegalArgumentException.class, () -> Spawn.kill(0, Spawn.SIGKILL));
        assertThrows(IllegalArgumentException.class, () -> Spawn.kill(-1, Spawn.SIGKILL));
    }

    @Test
    void killOfAGoneGroupIsFalse() {
        Result r = sh("exit 0", List.of(), ENV);
        // The group died with its only member (reaped above); pids are not reused this fast in practice.
        assertFalse(Spawn.kill(-r.pid(), 0));
    }
}
