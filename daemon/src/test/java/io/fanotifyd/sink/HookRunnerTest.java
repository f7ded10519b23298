package io.fanotifyd.sink;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.fanotifyd.kernel.PathCodec;
import io.fanotifyd.kernel.Syscalls;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs real hooks through /bin/sh (no root needed). Every wait is bounded; every runner is closed. */
class HookRunnerTest {
    private static final long WAIT_MS = 15_000;
    private static final Pattern END_LINE =
            Pattern.compile("hook pid (\\d+): (exit \\d+|signal \\d+.*|exit status unknown) after \\d+ ms.*");

    private final List<String> log = Collections.synchronizedList(new ArrayList<>());

    private List<String> logSnapshot() {
        synchronized (log) {
            return new ArrayList<>(log);
        }
    }

    private List<String> endLines() {
        return logSnapshot().stream().filter(l -> END_LINE.matcher(l).matches()).toList();
    }

    private static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MS);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                fail("timed out after " + WAIT_MS + " ms waiting for " + what);
            }
            sleep(10);
        }
    }

    private void awaitEnds(int n) {
        await(n + " finished run(s); log: " + logSnapshot(), () -> endLines().size() >= n);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private HookRunner runner(String command, int maxRunning, int maxQueued, long timeoutMs) {
        return new HookRunner(command, maxRunning, maxQueued, timeoutMs, log::add);
    }

    /** Output lines of the hook with this pid, without the prefix (end and kill lines excluded). */
    private List<String> outputOf(int pid) {
        String prefix = "hook pid " + pid + ": ";
        return logSnapshot().stream().filter(l -> l.startsWith(prefix) && !END_LINE.matcher(l).matches()
                && !l.contains("still running after")).map(l -> l.substring(prefix.length())).toList();
    }

    private int pidOfOnlyRun() {
        List<String> ends = endLines();
        assertEquals(1, ends.size(), ends.toString());
        Matcher m = END_LINE.matcher(ends.get(0));
        assertTrue(m.matches());
        return Integer.parseInt(m.group(1));
    }

    /** Pids of the processes (zombies excepted) whose process group is {@code pgid}, from /proc. */
    private static List<Integer> liveMembers(int pgid) {
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
                if (Integer.parseInt(f[2]) == pgid && !f[0].equals("Z") && !f[0].equals("X")) {
                    members.add(Integer.parseInt(name));
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return members;
    }

    private static String readOrEmpty(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "";
        } catch (IOException e) {
            return "";
        }
    }

    // ------------------------------------------------------------------------------------------------- tests

    /** A SIGKILL the runner did not send (the OOM killer's, as the kernel takes hooks first) is named as such. */
    @Test
    void aSigkillFromElsewhereIsReportedAsPossiblyOutOfMemory() {
        try (HookRunner hooks = runner("kill -KILL $$", 1, 1, 10_000)) {
            assertTrue(hooks.submit(Map.of()));
            awaitEnds(1);
            List<String> ends = endLines();
            assertTrue(ends.getFirst().endsWith("(SIGKILL not sent by fanotifyd: out of memory?)"), ends.toString());
            assertEquals(1, hooks.failed());
        }
        log.clear();
        try (HookRunner hooks = runner("sleep 30", 1, 1, 200)) {
            assertTrue(hooks.submit(Map.of()));
            awaitEnds(1);
            assertFalse(endLines().getFirst().contains("out of memory"), "our own kill at the timeout: "
                    + endLines());
        }
    }

    /**
     * Hooks share the daemon's memory cgroup: a hook, and what it starts, must be what the OOM killer takes
     * first. The score is set just after the spawn, so the hook waits (bounded) until it sees it.
     */
    @Test
    void hooksAndTheirChildrenAreTheFirstTheOomKillerTakes() {
        String command = "i=0; while [ \"$(cat /proc/$$/oom_score_adj)\" != 1000 ] && [ $i -lt 100 ]; do sleep 0.05;"
                + " i=$((i+1)); done; echo \"shell $(cat /proc/$$/oom_score_adj)\";"
                + " sh -c 'echo \"child $(cat /proc/$$/oom_score_adj)\"'";
        try (HookRunner hooks = runner(command, 1, 1, 10_000)) {
            assertTrue(hooks.submit(Map.of()));
            awaitEnds(1);
            assertEquals(List.of("shell 1000", "child 1000"), outputOf(pidOfOnlyRun()), logSnapshot().toString());
        }
    }

    @Test
    void eventDataReachesTheHookExactlyAndOnlyThroughTheEnvironment(@TempDir Path dir) throws IOException {
        Path marker = dir.resolve("x");
        Map<String, String> vars = new LinkedHashMap<>();
        vars.put("FAN_PATH", dir + "/evil\nname 'q' \"dq\" $(touch " + marker + "); touch " + marker
                + " `touch " + marker + "` \uDCFF\uDC80 é end");
        vars.put("FAN_OTHER", "$(touch " + marker + ")");
        vars.put("FAN_EMPTY", "");
        vars.put("OUT_DIR", dir.toString());
        Map<String, String> base = Map.of("FANOTIFYD_DETACHED", "1", "KEEP", "kept", "FAN_PATH", "overridden",
                "PATH", "/usr/bin:/bin", "NOTIFY_SOCKET", "/run/systemd/notify", "WATCHDOG_USEC", "30000000",
                "WATCHDOG_PID", "1234");
        String command = "printf '%s' \"$FAN_PATH\" > \"$OUT_DIR/path\"; printf '%s' \"$FAN_OTHER\" > \"$OUT_DIR/other\";"
                + " printf '%s|%s|%s' \"${FAN_EMPTY-unset}\" \"${FANOTIFYD_DETACHED-unset}\" \"$KEEP\" > \"$OUT_DIR/misc\";"
                + " printf '%s|%s|%s' \"${NOTIFY_SOCKET-unset}\" \"${WATCHDOG_USEC-unset}\" \"${WATCHDOG_PID-unset}\""
                + " > \"$OUT_DIR/systemd\"";
        try (HookRunner hooks = new HookRunner(command, 1, 4, 10_000, log::add, base)) {
            assertTrue(hooks.submit(vars));
            awaitEnds(1);
            assertTrue(endLines().get(0).contains(": exit 0 after"), endLines().toString());
            assertEquals(0, hooks.failed());
        }
        assertArrayEquals(PathCodec.encode(vars.get("FAN_PATH")), Files.readAllBytes(dir.resolve("path")));
        assertArrayEquals(PathCodec.encode(vars.get("FAN_OTHER")), Files.readAllBytes(dir.resolve("other")));
        assertEquals("|unset|kept", Files.readString(dir.resolve("misc")));
        assertEquals("unset|unset|unset", Files.readString(dir.resolve("systemd")), "systemd's variables are the"
                + " service's alone: a hook speaking sd_notify would talk for the daemon");
        assertFalse(Files.exists(marker), "event data was evaluated by the shell");
    }

    @Test
    void theDaemonsEnvironmentIsInherited(@TempDir Path dir) throws IOException {
        String path = System.getenv("PATH");
        try (HookRunner hooks = runner("printf '%s' \"$PATH\" > \"$OUT\"", 1, 1, 10_000)) {
            assertTrue(hooks.submit(Map.of("OUT", dir.resolve("out").toString())));
            awaitEnds(1);
        }
        assertEquals(path == null ? "" : path, Files.readString(dir.resolve("out")));
    }

    @Test
    void hookHasDevNullStdinItsOwnGroupAndCleanSignalState() {
        String command = "if read -r line; then echo \"stdin:$line\"; else echo stdin:eof; fi;"
                + " read -r _ _ _ _ pgrp _ < /proc/$$/stat; echo \"pid:$$ pgrp:$pgrp\";"
                + " while read -r k v; do case $k in SigIgn:|SigBlk:) echo \"$k$v\";; esac; done < /proc/$$/status;"
                + " echo to-stderr >&2";
        try (HookRunner hooks = runner(command, 1, 1, 10_000)) {
            assertTrue(hooks.submit(Map.of()));
            awaitEnds(1);
        }
        int pid = pidOfOnlyRun();
        assertEquals(List.of("stdin:eof", "pid:" + pid + " pgrp:" + pid, "SigBlk:0000000000000000",
                "SigIgn:0000000000000000", "to-stderr"), outputOf(pid));
    }

    @Test
    void timeoutKillsTheWholeProcessGroupIncludingBackgroundChildren(@TempDir Path dir) {
        Path pidFile = dir.resolve("pid");
        try (HookRunner hooks = runner("echo $$ > \"$PID_FILE\"; sleep 1000 & sleep 1000", 1, 1, 2000)) {
            assertTrue(hooks.submit(Map.of("PID_FILE", pidFile.toString())));
            await("the hook's pid file", () -> readOrEmpty(pidFile).endsWith("\n"));
            int pgid = Integer.parseInt(readOrEmpty(pidFile).trim());
            await("the background sleep", () -> liveMembers(pgid).size() >= 2 || hooks.timedOut() > 0);
            assertTrue(hooks.isHookProcessGroup(pgid), "running hook's group");
            assertFalse(hooks.isHookProcessGroup(Syscalls.getpid()));

            awaitEnds(1);
            assertEquals(1, hooks.timedOut());
            assertEquals(0, hooks.failed());
            String end = endLines().get(0);
            assertTrue(end.startsWith("hook pid " + pgid + ": signal 9 (SIGKILL) after "), end);
            assertTrue(end.endsWith("(killed: timeout)"), end);
            assertTrue(logSnapshot().contains("hook pid " + pgid + ": still running after 2000 ms, killed its "
                    + "process group"), logSnapshot().toString());
            await("no process left in group " + pgid, () -> liveMembers(pgid).isEmpty());
            assertTrue(hooks.isHookProcessGroup(pgid), "still reported for a while after the end");
        }
    }

    @Test
    void aHookThatClosesItsOutputButKeepsRunningIsStillTimedOut() {
        try (HookRunner hooks = runner("exec >&- 2>&-; sleep 1000", 1, 1, 500)) {
            assertTrue(hooks.submit(Map.of()));
            awaitEnds(1);
            assertEquals(1, hooks.timedOut());
            assertTrue(endLines().get(0).contains("(killed: timeout)"), endLines().toString());
        }
    }

    @Test
    void atMostMaxRunningHooksRunAtOnce(@TempDir Path dir) throws IOException {
        Path trace = dir.resolve("trace");
        String command = "echo start >> \"$TRACE\"; sleep 0.3; echo end >> \"$TRACE\"";
        try (HookRunner hooks = runner(command, 2, 10, 10_000)) {
            for (int i = 0; i < 5; i++) {
                assertTrue(hooks.submit(Map.of("TRACE", trace.toString())));
            }
            awaitEnds(5);
            assertEquals(5, hooks.started());
            assertEquals(0, hooks.failed());
            List<String> names = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith("fanotifyd-hook-")).peek(t -> assertTrue(t.isDaemon()))
                    .map(Thread::getName).sorted().toList();
            assertEquals(List.of("fanotifyd-hook-1", "fanotifyd-hook-2"), names);
        }
        int now = 0;
        int max = 0;
        List<String> events = Files.readAllLines(trace);
        assertEquals(10, events.size(), events.toString());
        for (String e : events) {
            now += e.equals("start") ? 1 : -1;
            max = Math.max(max, now);
        }
        assertEquals(2, max, "peak concurrency; trace " + events);
    }

    @Test
    void aFullQueueDropsWithoutBlockingAndCloseKillsRunningHooks() {
        HookRunner hooks = runner("sleep 1000", 1, 2, 60_000);
        try {
            assertTrue(hooks.submit(Map.of()));
            await("the first hook to start", () -> hooks.started() == 1);
            assertTrue(hooks.submit(Map.of()));
            assertTrue(hooks.submit(Map.of()));
            assertFalse(hooks.submit(Map.of()));
            assertEquals(1, hooks.dropped());

            // The only worker hangs in its hook for 1000 s: a submit that waited for room would never return.
            for (int i = 0; i < 1000; i++) {
                assertFalse(hooks.submit(Map.of("FAN_PATH", "/x/" + i)));
            }
            assertEquals(1001, hooks.dropped());
        } finally {
            hooks.close(); // returns although the hook would sleep 1000 s: close kills it
        }
        assertEquals(1, hooks.started());
        int pid = pidOfOnlyRun();
        assertTrue(endLines().get(0).endsWith("(killed: daemon shutting down)"), endLines().toString());
        assertEquals(0, hooks.timedOut());
        assertEquals(0, hooks.failed());
        List<String> all = logSnapshot();
        assertTrue(all.contains("hook: 2 queued run(s) discarded: daemon shutting down"), all.toString());
        assertTrue(all.contains("hook: 1001 run(s) dropped (queue full)"), all.toString());
        await("no process left in group " + pid, () -> liveMembers(pid).isEmpty());
        assertFalse(hooks.submit(Map.of()));
        hooks.close(); // idempotent
    }

    @Test
    void aFloodingHookIsDrainedPromptlyAndItsLogIsBounded() {
        try (HookRunner hooks = runner("yes 0123456789abcdef | head -c 10000000; echo after-the-flood", 1, 1,
                60_000)) {
            assertTrue(hooks.submit(Map.of()));
            awaitEnds(1); // a hook whose output nobody drained would block in its write and never end
            assertEquals(0, hooks.timedOut());
            assertEquals(0, hooks.failed());
        }
        int pid = pidOfOnlyRun();
        assertTrue(endLines().get(0).contains(": exit 0 after"), endLines().toString());
        List<String> out = outputOf(pid);
        List<String> truncated = out.stream().filter(l -> l.startsWith(HookRunner.TRUNCATED)).toList();
        assertEquals(1, truncated.size(), truncated.toString());
        assertEquals(HookRunner.TRUNCATED, out.get(out.size() - 1).substring(0, HookRunner.TRUNCATED.length()));
        long bytes = out.stream().filter(l -> !l.startsWith(HookRunner.TRUNCATED))
                .mapToLong(l -> l.getBytes(UTF_8).length + 1).sum();
        assertTrue(bytes <= HookRunner.MAX_OUTPUT_BYTES + 1, "logged " + bytes + " bytes");
        assertTrue(bytes > HookRunner.MAX_OUTPUT_BYTES - 100, "logged only " + bytes + " bytes");
        assertTrue(out.subList(0, out.size() - 2).stream().allMatch(l -> l.equals("0123456789abcdef")));
        assertFalse(out.contains("after-the-flood"));
    }

    @Test
    void oneEndlessLineIsCutAtTheLimit() {
        try (HookRunner hooks = runner("head -c 10000000 /dev/zero | tr '\\0' x", 1, 1, 60_000)) {
            assertTrue(hooks.submit(Map.of()));
            awaitEnds(1);
        }
        List<String> out = outputOf(pidOfOnlyRun());
        assertEquals(2, out.size());
        assertEquals("x".repeat(HookRunner.MAX_OUTPUT_BYTES), out.get(0));
        assertTrue(out.get(1).startsWith(HookRunner.TRUNCATED), out.get(1));
    }

    @Test
    void outputIsLoggedLineByLineWithControlCharactersNeutralized() {
        try (HookRunner hooks = runner("printf 'one\\ntwo\\r\\nthree\\033[31m\\nno newline'", 1, 1, 10_000)) {
            assertTrue(hooks.submit(Map.of()));
            awaitEnds(1);
        }
        assertEquals(List.of("one", "two", "three?[31m", "no newline"), outputOf(pidOfOnlyRun()));
    }

    @Test
    void aFailingHookIsLoggedWithItsStatusAndCounted() {
        try (HookRunner hooks = runner("echo oops >&2; exit 3", 1, 1, 10_000)) {
            assertTrue(hooks.submit(Map.of()));
            awaitEnds(1);
            assertEquals(1, hooks.failed());
            assertEquals(1, hooks.started());
            assertEquals(0, hooks.timedOut());
        }
        int pid = pidOfOnlyRun();
        assertTrue(endLines().get(0).startsWith("hook pid " + pid + ": exit 3 after "), endLines().toString());
        assertEquals(List.of("oops"), outputOf(pid));
    }

    @Test
    void invalidVariablesAreRefusedWithoutThrowing() {
        try (HookRunner hooks = runner("true", 1, 4, 10_000)) {
            assertFalse(hooks.submit(Map.of("BAD-NAME", "x")));
            assertFalse(hooks.submit(Map.of("1ABC", "x")));
            assertFalse(hooks.submit(Map.of("OK", "nul\0byte")));
            Map<String, String> nullValue = new LinkedHashMap<>();
            nullValue.put("OK", null);
            assertFalse(hooks.submit(nullValue));
            assertFalse(hooks.submit(null));
            assertEquals(5, hooks.failed());
            assertEquals(0, hooks.dropped());
        }
        assertTrue(endLines().isEmpty());
    }

    @Test
    void constructorRejectsNonsense() {
        assertThrows(IllegalArgumentException.class, () -> runner(" ", 1, 1, 1000));
        assertThrows(IllegalArgumentException.class, () -> runner("true", 0, 1, 1000));
        assertThrows(IllegalArgumentException.class, () -> runner("true", 1, -1, 1000));
        assertThrows(IllegalArgumentException.class, () -> runner("true", 1, 1, 0));
    }

    @Test
    void withNoQueueAHookRunsOnlyIfAWorkerIsIdle() {
        try (HookRunner hooks = runner("sleep 1000", 1, 0, 60_000)) {
            // The worker polls the queue in rounds; retry until it is waiting in one.
            await("the idle worker to take a run", () -> hooks.submit(Map.of()));
            await("the hook to start", () -> hooks.started() == 1);
            long droppedBefore = hooks.dropped();
            assertFalse(hooks.submit(Map.of()));
            assertEquals(droppedBefore + 1, hooks.dropped());
        }
    }
}
