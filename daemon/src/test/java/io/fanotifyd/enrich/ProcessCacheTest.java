package io.fanotifyd.enrich;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** comm, exe, process group and start time come from /proc/PID/stat and /proc/PID/exe, parsed in place. */
class ProcessCacheTest {
    @TempDir
    Path tmp;

    /** Fields 5 (pgrp) and 22 (starttime) the slow, obvious way. */
    static long[] statFields(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return new long[] {Long.parseLong(after[5 - 3]), Long.parseLong(after[22 - 3])};
    }

    @Test
    void readsAProcessWithAHostileComm() throws Exception {
        Path exe = tmp.resolve("a) b (c");
        Files.copy(Path.of("/bin/sleep"), exe);
        exe.toFile().setExecutable(true);
        Process p = new ProcessBuilder(exe.toString(), "30").start();
        try (Arena arena = Arena.ofConfined()) {
            ProcessCache cache = new ProcessCache(16, 1000, arena);
            ProcessInfo info = null;
            for (int i = 0; i < 100 && (info == null || info.exeLength() < 0); i++) {
                info = cache.lookup((int) p.pid(), ProcessCache.noPidfdInfo(), i, System.currentTimeMillis());
                Thread.sleep(10); // until the exec has happened
            }
            assertNotNull(info);
            assertEquals("a) b (c", new String(info.comm(), 0, info.commLength(), StandardCharsets.UTF_8));
            assertEquals(exe.toRealPath().toString(), new String(info.exe(), 0, info.exeLength(),
                    StandardCharsets.UTF_8));
            long[] f = statFields(p.pid());
            assertEquals(f[0], info.processGroup());
            assertEquals(f[1], info.startTime());
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aProcessThatIsGoneIsUnknownOnceTheGraceHasPassed() throws Exception {
        Process p = new ProcessBuilder("/bin/true").start();
        p.waitFor(10, TimeUnit.SECONDS);
        try (Arena arena = Arena.ofConfined()) {
            ProcessCache cache = new ProcessCache(16, 1000, arena);
            assertNull(cache.lookup((int) p.pid(), ProcessCache.noPidfdInfo(), 1, System.currentTimeMillis()));
            assertEquals(1, cache.unknown());
        }
    }

    @Test
    void aProcessFoundGoneIsLookedForOncePerBatch() throws Exception {
        Process p = new ProcessBuilder("/bin/true").start();
        p.waitFor(10, TimeUnit.SECONDS);
        int pid = (int) p.pid();
        try (Arena arena = Arena.ofConfined()) {
            ProcessCache cache = new ProcessCache(16, 1000, arena);
            long now = System.currentTimeMillis();
            for (int event = 0; event < 5; event++) {
                assertNull(cache.lookup(pid, ProcessCache.noPidfdInfo(), 7, now));
            }
            assertEquals(1, cache.refreshes(), "one /proc read for five events of one batch");
            assertEquals(5, cache.unknown());
            assertNull(cache.lookup(pid, ProcessCache.noPidfdInfo(), 8, now));
            assertEquals(2, cache.refreshes(), "the next batch looks again");
        }
    }
}
