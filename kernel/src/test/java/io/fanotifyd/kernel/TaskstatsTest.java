package io.fanotifyd.kernel;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The exit-record messages: parsed from bytes laid out as the kernel sends them, and received for real. */
class TaskstatsTest {
    private record Seen(int pid, int tgid, String comm, int uid, long exeDev, long exeIno, int version) {}

    private static final class Collect implements Taskstats.Sink {
        final List<Seen> seen = new ArrayList<>();
        int lost;

        @Override
        public void exited(TaskExit e) {
            byte[] c = new byte[32];
            int n = e.comm(c);
            seen.add(new Seen(e.pid(), e.tgid(), new String(c, 0, n, StandardCharsets.US_ASCII), e.uid(),
                    e.hasExe() ? e.exeDevice() : -1, e.hasExe() ? e.exeInode() : -1, e.version()));
        }

        @Override
        public void lost() {
            lost++;
        }
    }

    /** nlmsghdr, genlmsghdr, then AGGR_PID {PID, STATS} and, for a thread group, AGGR_TGID {TGID, STATS}. */
    private static int message(MemorySegment m, int at, short family, int pid, int tgid, String comm, int structLen,
                               boolean group) {
        int stats = 4 + structLen;
        int aggr = 4 + 8 + stats;
        int len = 16 + 4 + aggr + (group ? aggr : 0);
        m.set(JAVA_INT_UNALIGNED, at, len);
        m.set(JAVA_SHORT_UNALIGNED, at + 4, family);
        m.set(JAVA_BYTE, at + 16, (byte) 2); // TASKSTATS_CMD_NEW
        int a = at + 20;
        for (int k = 0; k < (group ? 2 : 1); k++) {
            m.set(JAVA_SHORT_UNALIGNED, a, (short) aggr);
            m.set(JAVA_SHORT_UNALIGNED, a + 2, (short) (k == 0 ? 4 : 5)); // AGGR_PID, AGGR_TGID
            m.set(JAVA_SHORT_UNALIGNED, a + 4, (short) 8);
            m.set(JAVA_SHORT_UNALIGNED, a + 6, (short) (k == 0 ? 1 : 2));
            m.set(JAVA_INT_UNALIGNED, a + 8, k == 0 ? pid : tgid);
            m.set(JAVA_SHORT_UNALIGNED, a + 12, (short) stats);
            m.set(JAVA_SHORT_UNALIGNED, a + 14, (short) 3); // STATS
            int s = a + 16;
            m.set(JAVA_SHORT_UNALIGNED, s, (short) 16);
            byte[] c = comm.getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(c, 0, m, JAVA_BYTE, s + 80, c.length);
            m.set(JAVA_INT_UNALIGNED, s + 120, 7);
            m.set(JAVA_INT_UNALIGNED, s + 128, k == 0 ? pid : 0);
            if (structLen >= TaskExit.V12_SIZE) {
                m.set(JAVA_INT_UNALIGNED, s + 368, tgid);
                m.set(JAVA_LONG_UNALIGNED, s + 384, 0x803);
                m.set(JAVA_LONG_UNALIGNED, s + 392, 99);
            }
            a += aggr;
        }
        return len;
    }

    @Test
    void parsesTheLeadersAndTheThreadsRecordsAndSkipsTheGroupAggregate() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(8192, 8);
            short family = 0x1c;
            int at = message(m, 0, family, 500, 500, "touch", 560, false);
            at += message(m, at, family, 601, 600, "worker", 560, true);
            at += message(m, at, (short) 0x1d, 700, 700, "other", 560, false); // another family: not ours
            Collect c = new Collect();
            assertEquals(2, Taskstats.parserFor(family).parse(m, at, c));
            assertEquals(List.of(new Seen(500, 500, "touch", 7, 0x803, 99, 16),
                    new Seen(601, 600, "worker", 7, 0x803, 99, 16)), c.seen);
        }
    }

    @Test
    void aStructBeforeVersion12HasNoExeAndItsPidIsItsProcess() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(4096, 8);
            int len = message(m, 0, (short) 0x1c, 42, 0, "old", 328, false);
            Collect c = new Collect();
            Taskstats.parserFor((short) 0x1c).parse(m, len, c);
            assertEquals(List.of(new Seen(42, 42, "old", 7, -1, -1, 16)), c.seen);
        }
    }

    @Test
    void aTruncatedMessageStopsTheParseWithoutReadingPastIt() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(4096, 8);
            int len = message(m, 0, (short) 0x1c, 42, 42, "cut", 560, false);
            for (int cut = 0; cut < len; cut += 7) {
                Collect c = new Collect();
                Taskstats.parserFor((short) 0x1c).parse(m.asSlice(0, cut), cut, c);
                assertTrue(c.seen.isEmpty(), "cut at " + cut);
            }
        }
    }

    /** As root: the real kernel's record of a /bin/true that has just exited, with its program's inode. */
    @Test
    @Tag("kernel")
    void receivesTheExitOfAShortLivedProcess() throws IOException, InterruptedException {
        Taskstats ts;
        try {
            ts = Taskstats.open(1 << 20);
        } catch (NativeCallException e) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                fail("taskstats must work in CI: " + e.getMessage());
            }
            Assumptions.abort("SKIP: taskstats: " + e.getMessage());
            return;
        }
        try (ts) {
            Process p = new ProcessBuilder("/bin/true").start();
            assertTrue(p.waitFor(10, TimeUnit.SECONDS));
            long pid = p.pid();
            Path exe = Path.of("/bin/true").toRealPath();
            long ino = (Long) Files.getAttribute(exe, "unix:ino");
            Collect c = new Collect();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment pollFds = arena.allocate(8, 4);
                short[] revents = new short[1];
                while (c.seen.stream().noneMatch(s -> s.pid == pid) && System.nanoTime() < deadline) {
                    if (ts.drain(c) == 0) {
                        Syscalls.pollIn(pollFds, new int[] {ts.fd()}, revents, 1000); // until a record comes
                    }
                }
            }
            Seen s = c.seen.stream().filter(x -> x.pid == pid).findFirst().orElseThrow(
                    () -> new AssertionError("no exit record of pid " + pid + " among " + c.seen.size()));
            assertEquals("true", s.comm);
            assertEquals(pid, s.tgid);
            assertEquals(0, s.uid);
            assertEquals(ino, s.exeIno, "the executable's inode");
            assertTrue(s.version >= 12, "struct version " + s.version);
            assertTrue(ts.version() >= 12);
        }
    }
}
