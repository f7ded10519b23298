package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.kernel.TaskExit;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Which exit record an event of a gone process may take: one, or none when the pid was used again or lost. */
@Tag("unit")
class ExitRecordsTest {
    private final Arena arena = Arena.ofAuto();
    private final MemorySegment buf = arena.allocate(560, 8);
    private final TaskExit view = new TaskExit();

    /** A struct taskstats version 16 of a thread {@code pid} of process {@code tgid}. */
    private TaskExit exit(int pid, int tgid, String comm, long exeDev, long exeIno) {
        buf.fill((byte) 0);
        buf.set(JAVA_SHORT_UNALIGNED, 0, (short) 16);
        byte[] c = comm.getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(c, 0, buf, JAVA_BYTE, 80, c.length);
        buf.set(JAVA_INT_UNALIGNED, 120, 1000); // uid
        buf.set(JAVA_INT_UNALIGNED, 124, 1001); // gid
        buf.set(JAVA_INT_UNALIGNED, 128, pid);
        buf.set(JAVA_INT_UNALIGNED, 132, 77); // ppid
        buf.set(JAVA_LONG_UNALIGNED, 344, 1_700_000_000L); // btime64
        buf.set(JAVA_INT_UNALIGNED, 368, tgid);
        buf.set(JAVA_LONG_UNALIGNED, 384, exeDev);
        buf.set(JAVA_LONG_UNALIGNED, 392, exeIno);
        view.set(buf, 0, 560);
        return view;
    }

    private static String comm(ExitRecords r, int slot) {
        byte[] out = new byte[32];
        return new String(out, 0, r.comm(slot, out), StandardCharsets.US_ASCII);
    }

    @Test
    void oneRecordIsTheAnswerWithEverythingItSays() {
        ExitRecords r = new ExitRecords(64);
        r.exited(exit(42, 42, "touch", 0x803, 1234));
        int slot = r.lookupGone(42);
        assertTrue(slot >= 0);
        assertEquals("touch", comm(r, slot));
        assertEquals(1000, r.uid(slot));
        assertEquals(1001, r.gid(slot));
        assertEquals(77, r.ppid(slot));
        assertEquals(0x803, r.exeDevice(slot));
        assertEquals(1234, r.exeInode(slot));
        assertEquals(1_700_000_000L, r.startSeconds(slot));
        assertEquals(ExitRecords.NONE, r.lookupGone(43));
    }

    @Test
    void aLongCommIsCutToTheKernelsSixteenBytes() {
        ExitRecords r = new ExitRecords(64);
        r.exited(exit(5, 5, "abcdefghijklmnopqrstuvwxyz", 0, 0));
        assertEquals("abcdefghijklmnop", comm(r, r.lookupGone(5)));
    }

    @Test
    void otherThreadsRecordsAreNotKept() {
        ExitRecords r = new ExitRecords(64);
        r.exited(exit(43, 42, "worker", 0, 0));
        assertEquals(ExitRecords.NONE, r.lookupGone(43));
        assertEquals(ExitRecords.NONE, r.lookupGone(42));
        r.exited(exit(42, 42, "main", 0, 0));
        assertEquals("main", comm(r, r.lookupGone(42)));
    }

    @Test
    void aPidUsedAgainIsUnsureUntilTheOlderRecordIsRetired() {
        ExitRecords r = new ExitRecords(64);
        r.exited(exit(42, 42, "alpha", 0, 0));
        long afterAlpha = r.lastSeq();
        r.exited(exit(42, 42, "beta", 0, 0));
        assertEquals(ExitRecords.UNSURE, r.lookupGone(42));
        assertEquals(1, r.ambiguous());
        // The event queue was seen empty after alpha's record: alpha has no event left, so it is beta's.
        r.retireUpTo(afterAlpha);
        assertEquals("beta", comm(r, r.lookupGone(42)));
        r.retireUpTo(r.lastSeq());
        assertEquals(ExitRecords.NONE, r.lookupGone(42));
        assertEquals("beta", comm(r, r.lookupNewest(42)), "a zombie takes the newest, retired or not");
    }

    @Test
    void lostRecordsMakeEveryAnswerUnsureUntilARetirementPassesTheLoss() {
        ExitRecords r = new ExitRecords(64);
        r.exited(exit(42, 42, "alpha", 0, 0));
        r.lost();
        r.exited(exit(43, 43, "beta", 0, 0));
        assertEquals(ExitRecords.UNSURE, r.lookupGone(42));
        assertEquals(ExitRecords.UNSURE, r.lookupGone(43));
        long now = r.lastSeq();
        r.exited(exit(44, 44, "gamma", 0, 0));
        r.retireUpTo(now);
        assertEquals("gamma", comm(r, r.lookupGone(44)));
    }

    @Test
    void theRingWrappingOverARecordNotRetiredCountsAsALoss() {
        ExitRecords r = new ExitRecords(16);
        for (int pid = 100; pid < 132; pid++) {
            r.exited(exit(pid, pid, "p" + pid, 0, 0));
        }
        assertTrue(r.losses() > 0);
        assertEquals(ExitRecords.UNSURE, r.lookupGone(131));
        r.retireUpTo(r.lastSeq() - 1);
        assertEquals("p131", comm(r, r.lookupGone(131)));
        assertEquals(ExitRecords.NONE, r.lookupGone(100), "overwritten long ago");
    }

    @Test
    void aRetiredRingWrapsWithoutLoss() {
        ExitRecords r = new ExitRecords(16);
        for (int pid = 100; pid < 164; pid++) {
            r.exited(exit(pid, pid, "p" + pid, 0, 0));
            r.retireUpTo(r.lastSeq() - 1);
        }
        assertEquals(0, r.losses());
        assertEquals("p163", comm(r, r.lookupGone(163)));
    }

    /**
     * Against a model: random exits over a small pid space, random retirements; lookupGone answers the one
     * record not retired under that pid, or UNSURE when there are more, or NONE when there are none.
     */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void agreesWithAModel(long seed) {
        Random rnd = new Random(seed);
        ExitRecords r = new ExitRecords(4096);
        List<long[]> model = new ArrayList<>(); // {seq, pid}
        long retired = 0;
        Map<Long, String> names = new HashMap<>();
        for (int step = 0; step < 3000; step++) {
            if (rnd.nextInt(10) == 0) {
                retired = Math.max(retired, r.lastSeq() - rnd.nextInt(5));
                r.retireUpTo(retired);
            }
            int pid = 1 + rnd.nextInt(40);
            String name = "c" + step;
            r.exited(exit(pid, pid, name, 0, 0));
            model.add(new long[] {r.lastSeq(), pid});
            names.put(r.lastSeq(), name);
            int ask = 1 + rnd.nextInt(40);
            final long ret = retired;
            List<long[]> live = model.stream().filter(e -> e[1] == ask && e[0] > ret).toList();
            int slot = r.lookupGone(ask);
            if (live.isEmpty()) {
                assertEquals(ExitRecords.NONE, slot);
            } else if (live.size() > 1) {
                assertEquals(ExitRecords.UNSURE, slot);
            } else {
                assertEquals(names.get(live.getFirst()[0]), comm(r, slot));
            }
        }
    }
}
