package io.fanotifyd.policy;

import static io.fanotifyd.policy.BurstDetector.Result.ABOVE;
import static io.fanotifyd.policy.BurstDetector.Result.CROSSED;
import static io.fanotifyd.policy.BurstDetector.Result.NONE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.policy.BurstDetector.Result;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class BurstDetectorTest {
    private static final int PID = 4242;
    private static final long ID = 123_456L;
    private static final long UNKNOWN = BurstDetector.UNKNOWN_IDENTITY;

    /** Feeds events of PID/ID at the given times and returns the results. */
    private static List<Result> feed(BurstDetector d, long... times) {
        List<Result> out = new ArrayList<>();
        for (long t : times) {
            out.add(d.mutation(PID, ID, t));
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 7, 8, 9, 16, 17, 100, 1000})
    void exactThreshold(int n) {
        BurstDetector d = new BurstDetector(n, 1000, 16);
        for (int i = 0; i < n - 1; i++) {
            assertEquals(NONE, d.mutation(PID, ID, i % 1000), "event " + (i + 1));
            assertFalse(d.inBurst(PID, ID, i % 1000));
        }
        long now = (n - 1) % 1000;
        assertEquals(CROSSED, d.mutation(PID, ID, now), "event " + n);
        assertEquals(n, d.count(PID, ID, now), "alert count is exactly the threshold at the crossing");
        assertTrue(d.inBurst(PID, ID, now));
        assertEquals(ABOVE, d.mutation(PID, ID, now), "event " + (n + 1));
        assertEquals(ABOVE, d.mutation(PID, ID, now));
        assertEquals(n, d.count(PID, ID, now), "count is capped at the threshold");
    }

    @Test
    void slidingNotFixedBucketsSpreadEventsNeverCross() {
        BurstDetector d = new BurstDetector(3, 1000, 16);
        // Any three consecutive events span 1200 ms: never three inside one 1000 ms window.
        assertEquals(List.of(NONE, NONE, NONE, NONE, NONE, NONE), feed(d, 0, 600, 1200, 1800, 2400, 3000));
        assertEquals(2, d.count(PID, ID, 3000));
    }

    @Test
    void slidingWindowCatchesABurstStraddlingAFixedBoundary() {
        BurstDetector d = new BurstDetector(3, 1000, 16);
        // A fixed [0,1000) / [1000,2000) bucketing would see 2 + 1 and miss this.
        assertEquals(List.of(NONE, NONE, CROSSED), feed(d, 900, 950, 1050));
    }

    @Test
    void anEventExactlyWindowMsOldIsOutside() {
        BurstDetector d = new BurstDetector(2, 1000, 16);
        assertEquals(List.of(NONE, NONE), feed(d, 0, 1000));
        BurstDetector e = new BurstDetector(2, 1000, 16);
        assertEquals(List.of(NONE, CROSSED), feed(e, 0, 999));
        assertTrue(e.inBurst(PID, ID, 999));
        assertFalse(e.inBurst(PID, ID, 1000));
        assertEquals(1, e.count(PID, ID, 1000));
        assertEquals(1, e.count(PID, ID, 1998));
        assertEquals(0, e.count(PID, ID, 1999));
    }

    @Test
    void windowOfOneMillisecondCountsOnlyTheSameMillisecond() {
        BurstDetector d = new BurstDetector(2, 1, 16);
        assertEquals(List.of(NONE, NONE, CROSSED, ABOVE, NONE), feed(d, 5, 6, 6, 6, 7));
    }

    @Test
    void reArmsAfterFallingBelow() {
        BurstDetector d = new BurstDetector(3, 1000, 16);
        assertEquals(List.of(NONE, NONE, CROSSED, ABOVE), feed(d, 0, 10, 20, 30));
        // Long silence: everything aged out; it takes three fresh events to cross again.
        assertEquals(List.of(NONE, NONE, CROSSED, ABOVE), feed(d, 5000, 5001, 5002, 5003));
        // A short dip: at 6002 the events at 5000..5002 have aged out, only 5003 is left (below); two new
        // events make three again: a new crossing.
        assertEquals(List.of(NONE, CROSSED), feed(d, 6002, 6002));
    }

    @Test
    void crossingIsJudgedAgainstTheStateJustBeforeTheEvent() {
        // Threshold 1: in a burst iff the last event is inside the window. After a full window of silence the
        // process was below, so the next event is a new crossing, not a continuation.
        BurstDetector d = new BurstDetector(1, 1000, 16);
        assertEquals(List.of(CROSSED, ABOVE, ABOVE, CROSSED, ABOVE), feed(d, 0, 500, 1499, 2499, 2500));
    }

    @Test
    void inBurstDuringTheBurstAndNotAfterTheWindowPasses() {
        BurstDetector d = new BurstDetector(3, 1000, 16);
        assertFalse(d.inBurst(PID, ID, 0), "unknown process");
        assertEquals(0, d.count(PID, ID, 0));
        feed(d, 0, 10, 20);
        assertTrue(d.inBurst(PID, ID, 20));
        assertTrue(d.inBurst(PID, ID, 999));
        assertTrue(d.inBurst(PID, UNKNOWN, 999), "an unknown identity asks about whoever holds the pid");
        assertFalse(d.inBurst(PID, ID + 1, 999), "another process with the same pid");
        assertFalse(d.inBurst(PID + 1, ID, 999), "another pid");
        assertFalse(d.inBurst(PID, ID, 1000), "the event at 0 left the window");
        assertEquals(2, d.count(PID, ID, 1000));
        assertFalse(d.inBurst(PID, ID, 5000));
        assertEquals(0, d.count(PID, ID, 5000));
    }

    @Test
    void queriesRecordNothing() {
        BurstDetector d = new BurstDetector(2, 1000, 16);
        for (int i = 0; i < 10; i++) {
            assertFalse(d.inBurst(PID, ID, 0));
            assertEquals(0, d.count(PID, ID, 0));
        }
        assertEquals(0, d.size());
        assertEquals(NONE, d.mutation(PID, UNKNOWN, 0));
        assertFalse(d.inBurst(PID, ID, 0));
        assertEquals(1, d.count(PID, ID, 0));
        // Had the queries adopted ID, ID + 1 would now be another process and reset the count.
        assertEquals(CROSSED, d.mutation(PID, ID + 1, 1), "the unknown entry adopts ID + 1 on an event");
    }

    @Test
    void pidReuseWithAnotherIdentityResets() {
        BurstDetector d = new BurstDetector(3, 1000, 16);
        assertEquals(NONE, d.mutation(PID, 100, 0));
        assertEquals(NONE, d.mutation(PID, 100, 1));
        assertEquals(NONE, d.mutation(PID, 200, 2), "new process: its count starts at 1");
        assertEquals(1, d.count(PID, 200, 2));
        assertEquals(0, d.count(PID, 100, 2), "the old process is gone");
        assertEquals(NONE, d.mutation(PID, 200, 3));
        assertEquals(CROSSED, d.mutation(PID, 200, 4));
        // Reuse while the old process was above: the new one starts below and must cross on its own.
        assertEquals(NONE, d.mutation(PID, 300, 5));
        assertFalse(d.inBurst(PID, 300, 5));
        assertFalse(d.inBurst(PID, 200, 5));
        assertEquals(1, d.size());
    }

    @Test
    void unknownIdentityCountsTowardTheCurrentEntryAndAdoptionWorks() {
        BurstDetector d = new BurstDetector(4, 1000, 16);
        assertEquals(NONE, d.mutation(PID, UNKNOWN, 0)); // entry with unknown identity
        assertEquals(NONE, d.mutation(PID, 100, 1)); // adopts 100, keeps the first event
        assertEquals(2, d.count(PID, 100, 1));
        assertEquals(NONE, d.mutation(PID, UNKNOWN, 2)); // counts toward 100
        assertEquals(3, d.count(PID, 100, 2));
        assertEquals(CROSSED, d.mutation(PID, 100, 3));
        assertEquals(ABOVE, d.mutation(PID, UNKNOWN, 4));
        // Adopted, so a different identity is now a different process.
        assertEquals(NONE, d.mutation(PID, 200, 5));
        assertEquals(1, d.count(PID, UNKNOWN, 5));
        assertEquals(0, d.count(PID, 100, 5));
    }

    @Test
    void thousandsOfPidsStayWithinMaxProcesses() {
        int max = 4096;
        int total = 20_000;
        BurstDetector d = new BurstDetector(3, 1000, max);
        Random random = new Random(7);
        int[] pids = random.ints(1, 4_194_304).distinct().limit(total).toArray();
        for (int i = 0; i < total; i++) {
            assertEquals(NONE, d.mutation(pids[i], i, i / 10));
            assertTrue(d.size() <= max);
        }
        assertEquals(max, d.size());
        assertEquals(total - max, d.evictions());
        long now = total / 10;
        // The newest max processes survived (least recently used evicted) and the pid table still finds them
        // all after thousands of deletions.
        for (int i = 0; i < total; i++) {
            assertEquals(i >= total - max ? 1 : 0, d.count(pids[i], i, now), "pid " + pids[i]);
        }
        // Keep going on the survivors: their counts are intact.
        for (int i = total - max; i < total; i++) {
            assertEquals(NONE, d.mutation(pids[i], i, now));
        }
        for (int i = total - max; i < total; i++) {
            assertEquals(CROSSED, d.mutation(pids[i], i, now));
        }
        assertEquals(total - max, d.evictions());
    }

    @Test
    void idleEntriesAreEvictedBeforeActiveOnes() {
        BurstDetector d = new BurstDetector(3, 1000, 4);
        // Created first, then kept active: creation order alone would evict these.
        d.mutation(3, 30, 0);
        d.mutation(4, 40, 0);
        d.mutation(1, 10, 100);
        d.mutation(2, 20, 100);
        d.mutation(3, 30, 600);
        d.mutation(4, 40, 600);
        // At 1150 pids 1 and 2 are idle (newest event 1050 ms old), 3 and 4 are not.
        d.mutation(5, 50, 1150);
        d.mutation(6, 60, 1150);
        assertEquals(4, d.size());
        assertEquals(2, d.evictions());
        assertEquals(0, d.activeEvictions());
        assertEquals(0, d.count(1, 10, 1150));
        assertEquals(0, d.count(2, 20, 1150));
        assertEquals(1, d.count(4, 40, 1150), "pid 4 kept its event at 600");
        assertEquals(NONE, d.mutation(3, 30, 1150));
        assertEquals(2, d.count(3, 30, 1150), "pid 3 kept its event at 600");
        assertEquals(CROSSED, d.mutation(3, 30, 1151));
    }

    @Test
    void whenNothingIsIdleTheLeastRecentlyActiveIsEvicted() {
        BurstDetector d = new BurstDetector(2, 1000, 2);
        d.mutation(1, 10, 0);
        d.mutation(2, 20, 1);
        d.mutation(1, 10, 2); // pid 1 is now the more recent
        assertEquals(NONE, d.mutation(3, 30, 3)); // creating 3 evicts 2, the least recently active
        assertEquals(1, d.evictions());
        assertEquals(1, d.activeEvictions());
        assertEquals(0, d.count(2, 20, 3));
        assertEquals(2, d.count(1, 10, 3));
        // The evicted process restarts from zero: its alert is delayed, not invented.
        assertEquals(NONE, d.mutation(2, 20, 4));
        assertEquals(2, d.activeEvictions());
    }

    @Test
    void ringsGrowPastTheirInitialSizeAndKeepOrder() {
        BurstDetector d = new BurstDetector(50, 100, 4);
        // 49 events spread over 98 ms, then one more inside the window of the first: crosses at the 50th.
        for (int i = 0; i < 49; i++) {
            assertEquals(NONE, d.mutation(PID, ID, 2L * i));
        }
        assertEquals(CROSSED, d.mutation(PID, ID, 99));
        assertEquals(ABOVE, d.mutation(PID, ID, 99));
        assertEquals(NONE, d.mutation(PID, ID, 105), "events at 0, 2 and 4 aged out; 49 left");
        assertEquals(49, d.count(PID, ID, 105));
    }

    @Test
    void ringsStayAsSmallAsTheLargestBurstCappedAtTheThreshold() {
        BurstDetector d = new BurstDetector(1000, 100, 4);
        // A steady writer with at most two events per window: thousands of events, the initial ring.
        for (int i = 0; i < 10_000; i++) {
            assertEquals(NONE, d.mutation(PID, ID, 50L * i));
        }
        assertEquals(8, d.ringLength(PID));
        // Twenty events inside one window need a ring of at least twenty.
        long now = 50L * 10_000 + 100; // the steady events have all left the window
        for (int i = 0; i < 20; i++) {
            d.mutation(PID, ID, now);
        }
        assertEquals(32, d.ringLength(PID));
        assertEquals(20, d.count(PID, ID, now));
        BurstDetector small = new BurstDetector(20, 100, 4);
        for (int i = 0; i < 500; i++) {
            small.mutation(PID, ID, 0);
        }
        assertEquals(20, small.ringLength(PID), "never longer than the threshold");
        assertEquals(0, small.ringLength(PID + 1));
    }

    @Test
    void timeGoingBackwardsIsTakenAsTheLatestTime() {
        BurstDetector d = new BurstDetector(3, 1000, 4);
        assertEquals(List.of(NONE, NONE, CROSSED), feed(d, 5000, 4000, 4000));
        assertTrue(d.inBurst(PID, ID, 5999));
        assertFalse(d.inBurst(PID, ID, 6000));
    }

    @Test
    void largeTimesDoNotOverflow() {
        long base = Long.MAX_VALUE / 2 + 12345;
        BurstDetector d = new BurstDetector(2, Long.MAX_VALUE / 4, 4);
        assertEquals(List.of(NONE, CROSSED), feed(d, base, base + (Long.MAX_VALUE / 8)));
        BurstDetector e = new BurstDetector(2, 1000, 4);
        assertEquals(List.of(NONE, CROSSED), feed(e, -500, 400));
    }

    @ParameterizedTest
    @CsvSource({"0, 1000, 16", "-1, 1000, 16", "65537, 1000, 16", "3, 0, 16", "3, -5, 16", "3, 1000, 0",
            "3, 1000, -1", "3, 1000, 4194305"})
    void rejectsBadArguments(int threshold, long windowMs, int maxProcesses) {
        assertThrows(IllegalArgumentException.class, () -> new BurstDetector(threshold, windowMs, maxProcesses));
    }

    @Test
    void acceptsTheLimits() {
        BurstDetector d = new BurstDetector(65536, 1, 1);
        assertEquals(NONE, d.mutation(1, 1, 0));
        assertEquals(65536, d.threshold());
        assertEquals(1, d.windowMs());
        assertEquals(1, d.maxProcesses());
    }

    // ---- memory for rings, all processes together ----

    @Test
    void processesThatBurstOneAfterAnotherReuseTheSameMemory() {
        int threshold = 1000;
        BurstDetector d = new BurstDetector(threshold, 100, 64, threshold);
        for (int p = 1; p <= 50; p++) {
            long t = 200L * p; // each starts after the one before has gone idle
            for (int i = 1; i < threshold; i++) {
                assertEquals(NONE, d.mutation(p, p, t));
            }
            assertEquals(CROSSED, d.mutation(p, p, t), "process " + p);
            assertTrue(d.extraRingEntries() <= threshold, "process " + p + ": " + d.extraRingEntries());
        }
        assertEquals(0, d.starvedEvents());
        // Without the bound, the 50 grown rings would all still be there.
        BurstDetector unbounded = new BurstDetector(threshold, 100, 64);
        for (int p = 1; p <= 50; p++) {
            for (int i = 0; i < threshold; i++) {
                unbounded.mutation(p, p, 200L * p);
            }
        }
        assertEquals(50L * (threshold - 8), unbounded.extraRingEntries());
    }

    @Test
    void whenActiveProcessesHoldTheMemoryAnotherCountsShortUntilItFrees() {
        // Extra entries: a ring grown to the threshold of 100 holds 92 beyond its first 8; 8 -> 16 -> 32 -> 64
        // holds 56. With 150, A at the threshold and B at 64 fit; B's growth to 100 (36 more) does not.
        BurstDetector d = new BurstDetector(100, 1000, 16, 150);
        for (int i = 1; i < 100; i++) {
            assertEquals(NONE, d.mutation(1, 10, 0));
        }
        assertEquals(CROSSED, d.mutation(1, 10, 0));
        for (int i = 1; i <= 100; i++) {
            assertEquals(NONE, d.mutation(2, 20, 500), "B's event " + i + ": its count stops at 64");
        }
        assertEquals(36, d.starvedEvents());
        assertEquals(64, d.count(2, 20, 500), "counted short, never more than it did");
        assertEquals(148, d.extraRingEntries());
        assertTrue(d.inBurst(1, 10, 999), "A, still active, keeps its window");
        // At 1000 A is idle: B's next growth takes A's memory back, and B, really at 100 already, crosses late.
        for (int i = 1; i < 36; i++) {
            assertEquals(NONE, d.mutation(2, 20, 1000), "B's event at 1000 #" + i);
        }
        assertEquals(CROSSED, d.mutation(2, 20, 1000));
        assertEquals(36, d.starvedEvents());
        assertEquals(0, d.count(1, 10, 1000));
        assertEquals(92, d.extraRingEntries(), "A's ring is back to its first 8 entries");
    }

    @Test
    void anEvictedProcessGivesItsRingBack() {
        BurstDetector d = new BurstDetector(64, 1000, 2, 1000);
        for (int i = 0; i < 64; i++) {
            d.mutation(1, 10, 0);
        }
        assertEquals(56, d.extraRingEntries());
        d.mutation(2, 20, 5);
        d.mutation(3, 30, 6); // evicts 1, the least recently active
        assertEquals(0, d.extraRingEntries());
        assertEquals(0, d.count(1, 10, 6));
    }

    @ParameterizedTest
    @CsvSource({"8, 1000, 4, 7", "100, 1000, 4, 99"})
    void rejectsLessMemoryThanOneRingAtTheThreshold(int threshold, long windowMs, int maxProcesses, long extra) {
        assertThrows(IllegalArgumentException.class, () -> new BurstDetector(threshold, windowMs, maxProcesses,
                extra));
    }

    /** Taking back the memory of idle processes changes no answer: bursts one after another match the model. */
    @ParameterizedTest
    @ValueSource(longs = {201, 202, 203, 204, 205, 206, 207, 208})
    void takingBackIdleRingsChangesNoAnswer(long seed) {
        Random random = new Random(seed);
        int threshold = 20 + random.nextInt(60);
        long window = 100;
        BurstDetector d = new BurstDetector(threshold, window, 64, threshold);
        Model m = new Model(threshold, window);
        long now = 0;
        int pid = 1;
        for (int step = 0; step < 20_000; step++) {
            if (random.nextInt(300) == 0) {
                pid = 1 + random.nextInt(20);
                now += window; // the one before is idle now
            }
            now += random.nextInt(3) == 0 ? 1 : 0;
            String where = "seed " + seed + " step " + step + " pid " + pid;
            assertEquals(m.mutation(pid, pid, now), d.mutation(pid, pid, now), where);
            assertEquals(m.count(pid, pid, now), d.count(pid, pid, now), where);
            assertTrue(d.extraRingEntries() <= threshold, where);
        }
        assertEquals(0, d.starvedEvents());
    }

    /** Short of memory, several processes bursting at once may be alerted late, never falsely. */
    @ParameterizedTest
    @ValueSource(longs = {301, 302, 303, 304, 305, 306, 307, 308})
    void shortOfMemoryNeverInventsABurst(long seed) {
        Random random = new Random(seed);
        int threshold = 20 + random.nextInt(40);
        long window = 200;
        long budget = threshold + random.nextInt(2 * threshold);
        BurstDetector d = new BurstDetector(threshold, window, 16, budget);
        Model m = new Model(threshold, window);
        long now = 0;
        for (int step = 0; step < 8_000; step++) {
            now += random.nextInt(4) == 0 ? random.nextInt(3) : 0;
            int pid = 1 + random.nextInt(6);
            Result expected = m.mutation(pid, pid, now);
            Result actual = d.mutation(pid, pid, now);
            String where = "seed " + seed + " step " + step;
            if (actual != NONE) {
                assertTrue(expected != NONE, where);
            }
            assertTrue(d.count(pid, pid, now) <= m.count(pid, pid, now), where);
            assertTrue(d.extraRingEntries() <= budget, where);
            for (int other = 1; other <= 6; other++) {
                if (d.inBurst(other, UNKNOWN, now)) {
                    assertTrue(m.inBurst(other, UNKNOWN, now), where);
                }
            }
        }
        assertTrue(d.starvedEvents() > 0, "the budget was short at some point");
    }

    // ---- against a naive model ----

    /** Every event of every (pid, identity), counted by brute force. */
    private static final class Model {
        private static final class Entry {
            long identity;
            final List<Long> times = new ArrayList<>();
        }

        private final int threshold;
        private final long windowMs;
        private final Map<Integer, Entry> entries = new HashMap<>();

        Model(int threshold, long windowMs) {
            this.threshold = threshold;
            this.windowMs = windowMs;
        }

        Result mutation(int pid, long identity, long now) {
            Entry e = entries.get(pid);
            if (e == null) {
                e = new Entry();
                e.identity = identity;
                entries.put(pid, e);
            } else if (identity != UNKNOWN && e.identity != identity) {
                if (e.identity != UNKNOWN) {
                    e.times.clear();
                }
                e.identity = identity;
            }
            int before = inWindow(e, now);
            e.times.add(now);
            int after = inWindow(e, now);
            if (after < threshold) {
                return NONE;
            }
            return before < threshold ? CROSSED : ABOVE;
        }

        private Entry lookup(int pid, long identity) {
            Entry e = entries.get(pid);
            if (e == null || identity != UNKNOWN && e.identity != UNKNOWN && e.identity != identity) {
                return null;
            }
            return e;
        }

        boolean inBurst(int pid, long identity, long now) {
            Entry e = lookup(pid, identity);
            return e != null && inWindow(e, now) >= threshold;
        }

        int count(int pid, long identity, long now) {
            Entry e = lookup(pid, identity);
            return e == null ? 0 : Math.min(threshold, inWindow(e, now));
        }

        /** Events in (now - windowMs, now]. */
        private int inWindow(Entry e, long now) {
            int n = 0;
            for (long t : e.times) {
                if (t > now - windowMs && t <= now) {
                    n++;
                }
            }
            return n;
        }
    }

    private static final int[] THRESHOLDS = {1, 2, 3, 5, 8, 9, 20, 40};
    private static final long[] WINDOWS = {1, 7, 100, 1000};

    private static long gap(Random random, long window, int threshold) {
        return switch (random.nextInt(6)) {
            case 0, 1 -> 0;
            case 2 -> random.nextLong(Math.max(1, window / threshold) + 1);
            case 3 -> random.nextLong(window + 1);
            case 4 -> window - 1 + random.nextInt(3);
            default -> random.nextLong(3 * window + 1);
        };
    }

    private static long identity(Random random, int pid) {
        return switch (random.nextInt(8)) {
            case 0, 1 -> UNKNOWN;
            case 2 -> pid * 10L + 1; // an occasional other process on the same pid
            default -> pid * 10L;
        };
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
    void matchesANaiveModel(long seed) {
        Random random = new Random(seed);
        int threshold = THRESHOLDS[random.nextInt(THRESHOLDS.length)];
        long window = WINDOWS[random.nextInt(WINDOWS.length)];
        int pidCount = 1 + random.nextInt(4);
        BurstDetector d = new BurstDetector(threshold, window, 64);
        Model m = new Model(threshold, window);
        long now = random.nextLong(-1_000_000, 1_000_000);
        for (int step = 0; step < 4000; step++) {
            now += gap(random, window, threshold);
            int pid = 100 + random.nextInt(pidCount);
            long identity = identity(random, pid);
            String where = "seed " + seed + " step " + step + " threshold " + threshold + " window " + window
                    + " pid " + pid + " identity " + identity + " now " + now;
            if (random.nextInt(4) == 0) {
                long later = now + gap(random, window, threshold);
                assertEquals(m.inBurst(pid, identity, later), d.inBurst(pid, identity, later), where);
                assertEquals(m.count(pid, identity, later), d.count(pid, identity, later), where);
                continue;
            }
            Result expected = m.mutation(pid, identity, now);
            assertEquals(expected, d.mutation(pid, identity, now), where);
            assertEquals(m.count(pid, identity, now), d.count(pid, identity, now), where);
            if (expected == CROSSED) {
                assertEquals(threshold, d.count(pid, identity, now), where);
            }
            for (int other = 100; other < 100 + pidCount; other++) {
                assertEquals(m.inBurst(other, UNKNOWN, now), d.inBurst(other, UNKNOWN, now), where);
            }
        }
        assertEquals(0, d.evictions());
        assertTrue(d.size() <= pidCount);
    }

    /** With eviction under pressure the detector may miss or delay an alert but never invent one. */
    @ParameterizedTest
    @ValueSource(longs = {101, 102, 103, 104, 105, 106, 107, 108})
    void evictionNeverInventsABurst(long seed) {
        Random random = new Random(seed);
        int threshold = 1 + random.nextInt(6);
        long window = 50;
        BurstDetector d = new BurstDetector(threshold, window, 2);
        Model m = new Model(threshold, window);
        long now = 0;
        for (int step = 0; step < 5000; step++) {
            now += gap(random, window, threshold);
            int pid = 1 + random.nextInt(5);
            // Known identities only: after an eviction an unknown one is ambiguous (the recreated entry
            // cannot tell which process it belongs to), which the model without eviction would not share.
            long identity = random.nextInt(8) == 0 ? pid * 10L + 1 : pid * 10L;
            Result expected = m.mutation(pid, identity, now);
            Result actual = d.mutation(pid, identity, now);
            String where = "seed " + seed + " step " + step;
            if (actual != NONE) {
                assertTrue(expected != NONE, where);
            }
            assertTrue(d.count(pid, identity, now) <= m.count(pid, identity, now), where);
            assertTrue(d.size() <= 2, where);
            for (int other = 1; other <= 5; other++) {
                if (d.inBurst(other, UNKNOWN, now)) {
                    assertTrue(m.inBurst(other, UNKNOWN, now), where);
                }
            }
        }
        assertTrue(d.evictions() > 0);
    }
}
