package io.fanotifyd.policy;

import java.util.Arrays;

/**
 * Per-process write-burst detector (the ransomware tripwire): tells when one process has made at least
 * {@code threshold} mutating events within the last {@code windowMs} milliseconds.
 *
 * <p><b>Window.</b> A true sliding window, not fixed buckets: an event at time {@code t} is inside the window
 * at time {@code now} iff {@code now - t < windowMs}, so an event exactly {@code windowMs} old is already
 * outside. With that choice "threshold events within windowMs" means they all fit in a half-open interval
 * {@code (now - windowMs, now]} of length windowMs, no more. A process is <em>at or above the threshold</em>
 * at {@code now} iff at least {@code threshold} of its events are inside the window, that is iff its
 * {@code threshold}-th most recent event is.
 *
 * <p><b>Processes.</b> Entries are keyed by pid and carry an identity (the process start time in clock
 * ticks, or {@code -1} when unknown) so that pid reuse never carries a count into another process: an event
 * whose known identity differs from the entry's known identity resets the entry; an event with identity
 * {@code -1} counts toward whatever process currently holds the pid; an entry created with {@code -1}
 * adopts the first known identity that arrives.
 *
 * <p><b>Memory.</b> At most {@code maxProcesses} entries, all preallocated; each entry's ring of event times
 * is allocated when first needed with 8 entries, and grows only while the process really has that many events
 * inside one window (capped at {@code threshold}), so in the steady state nothing is allocated per event.
 * What rings grow beyond their first 8 entries is bounded by {@code maxExtraRingEntries} for all processes
 * together (without it, up to {@code maxProcesses * threshold * 8} bytes: 8 GiB at 16384 processes and the
 * largest threshold, reached over time as processes burst one after another). A ring that would pass the
 * bound first takes back the memory of processes that are idle (every event of theirs outside the window:
 * forgetting them changes no answer), least recently active first; if all of it belongs to processes active
 * right now, the ring does not grow: its oldest event is overwritten as if it had left the window, so that
 * process's count stops at its ring's length until memory frees up ({@link #starvedEvents()} counts those
 * events). That can only delay an alert, never raise one for activity that did not happen. When the
 * table is full the entry with the oldest newest event is evicted; if it is idle (newest event outside the
 * window) that costs nothing, otherwise the evicted process restarts its count from zero, which can only
 * delay its alert (or, if it had already alerted, let it alert once more for the same burst once it has
 * again made {@code threshold} events within a window), never raise an alert for activity that did not
 * happen.
 *
 * <p>Times must come from one monotonic clock (e.g. {@code System.nanoTime() / 1_000_000}). Not thread-safe:
 * owned by the event loop.
 */
public final class BurstDetector {

    /** Outcome of recording one mutating event; see {@link #mutation}. */
    public enum Result {
        /** Below the threshold after this event. */
        NONE,
        /** This event took the process from below to at/above the threshold: raise one alert. */
        CROSSED,
        /** At/above the threshold and already was just before this event: already alerted. */
        ABOVE
    }

    /** The largest accepted threshold; a ring is at most this long. */
    public static final int MAX_THRESHOLD = 65536;
    /** The largest accepted {@code maxProcesses}: PID_MAX_LIMIT on 64-bit Linux, one entry per possible pid. */
    public static final int MAX_PROCESSES = 1 << 22;
    /** Identity meaning "start time unknown". */
    public static final long UNKNOWN_IDENTITY = -1;

    private static final int INITIAL_RING = 8;
    private static final int NIL = -1;

    private final int threshold;
    private final long windowMs;
    private final int maxProcesses;
    /** The length every ring starts with, and is cut back to when its memory is taken back. */
    private final int initialRing;
    private final long maxExtraRingEntries;
    /** Ring entries beyond {@link #initialRing}, summed over all entries; at most {@link #maxExtraRingEntries}. */
    private long extraRingEntries;
    private long starvedEvents;

    // Entry slots, parallel arrays indexed by slot number; slots [0, size) are in use.
    private final int[] pids;
    private final long[] identities;
    // Event times are stored as long, not as ints relative to a base: ints would halve ring memory but need a
    // rebase pass after ~24.8 days of uptime and an upper bound on windowMs, code that would run too rarely to
    // be trusted. Rings only grow for processes that really burst, so the doubled cost is paid only there.
    private final long[][] rings;
    /** Index in the ring where the next event is written; when the ring is full, also its oldest event. */
    private final int[] heads;
    /** Events held in the ring: min(events recorded since the entry was (re)set, ring length). */
    private final int[] counts;
    private final long[] newest;
    // Recency list ordered by newest event (head = most recent). Because times are non-decreasing, the tail
    // has the oldest newest event: if any entry is idle the tail is, so evicting the tail prefers idle
    // entries in O(1) without a scan.
    private final int[] prev;
    private final int[] next;
    private int lruHead = NIL;
    private int lruTail = NIL;
    // The entries whose ring grew past initialRing, in the same recency order: where memory is taken back from.
    private final int[] bigPrev;
    private final int[] bigNext;
    private int bigHead = NIL;
    private int bigTail = NIL;

    // pid -> slot, open addressing with linear probing at load <= 1/2; deletion by backward shift, so there
    // are no tombstones to accumulate.
    private final int[] table;
    private final int mask;
    private final int shift;

    private int size;
    private long latestMs = Long.MIN_VALUE;
    private long evictions;
    private long activeEvictions;

    /** As {@link #BurstDetector(int, long, int, long)} with rings bounded only by the threshold. */
    public BurstDetector(int threshold, long windowMs, int maxProcesses) {
        this(threshold, windowMs, maxProcesses, (long) maxProcesses * threshold);
    }

    /**
     * @param threshold           events within the window that make a burst, 1..{@link #MAX_THRESHOLD} (a
     *                            disabled detector is the caller's business: it should not construct one)
     * @param windowMs            the sliding window's length in milliseconds, at least 1
     * @param maxProcesses        entries kept at most, 1..{@link #MAX_PROCESSES}
     * @param maxExtraRingEntries event times (8 bytes each) that rings may hold beyond their first 8 entries, all
     *                            processes together; at least {@code threshold}, so that one process can always
     *                            be followed up to the threshold
     * @throws IllegalArgumentException if an argument is out of range
     */
    public BurstDetector(int threshold, long windowMs, int maxProcesses, long maxExtraRingEntries) {
        if (threshold < 1 || threshold > MAX_THRESHOLD) {
            throw new IllegalArgumentException("threshold must be 1.." + MAX_THRESHOLD + ": " + threshold);
        }
        if (windowMs < 1) {
            throw new IllegalArgumentException("windowMs must be at least 1: " + windowMs);
        }
        if (maxProcesses < 1 || maxProcesses > MAX_PROCESSES) {
            throw new IllegalArgumentException("maxProcesses must be 1.." + MAX_PROCESSES + ": " + maxProcesses);
        }
        if (maxExtraRingEntries < threshold) {
            throw new IllegalArgumentException("maxExtraRingEntries must be at least the threshold (" + threshold
                    + "): " + maxExtraRingEntries);
        }
        this.threshold = threshold;
        this.windowMs = windowMs;
        this.maxProcesses = maxProcesses;
        this.initialRing = Math.min(threshold, INITIAL_RING);
        this.maxExtraRingEntries = maxExtraRingEntries;
        this.bigPrev = new int[maxProcesses];
        this.bigNext = new int[maxProcesses];
        this.pids = new int[maxProcesses];
        this.identities = new long[maxProcesses];
        this.rings = new long[maxProcesses][];
        this.heads = new int[maxProcesses];
        this.counts = new int[maxProcesses];
        this.newest = new long[maxProcesses];
        this.prev = new int[maxProcesses];
        this.next = new int[maxProcesses];
        int capacity = Integer.highestOneBit(maxProcesses) << 2; // > 2 * maxProcesses, so load <= 1/2
        this.table = new int[capacity];
        Arrays.fill(table, NIL);
        this.mask = capacity - 1;
        this.shift = 32 - Integer.numberOfTrailingZeros(capacity);
    }

    /**
     * Records one mutating event of the process and says whether it crossed the threshold.
     *
     * <p>{@link Result#CROSSED} exactly when the process was below the threshold at {@code nowMs} before this
     * event and is at/above it with it; so after the process falls below (its events aged out of the window)
     * a later crossing is reported again. Judging "before" at {@code nowMs} rather than at the previous event
     * matters: a process that was silent long enough to drop below has re-armed even if this very event puts
     * it back above.
     *
     * @param identity the process start time in clock ticks, or {@link #UNKNOWN_IDENTITY}
     * @param nowMs    monotonic milliseconds; a value earlier than one already seen is taken as that one,
     *                 which keeps every ring in time order
     */
    public Result mutation(int pid, long identity, long nowMs) {
        if (nowMs < latestMs) {
            nowMs = latestMs;
        }
        latestMs = nowMs;
        int slot = find(pid);
        if (slot == NIL) {
            slot = allocate(pid, identity);
        } else {
            long current = identities[slot];
            if (identity != UNKNOWN_IDENTITY && current != identity) {
                if (current != UNKNOWN_IDENTITY) {
                    forget(slot); // pid reused by another process: its events are not this one's
                }
                identities[slot] = identity;
            }
            unlink(slot);
            if (rings[slot].length > initialRing) {
                bigUnlink(slot);
                bigPushFront(slot);
            }
        }
        pushFront(slot);
        newest[slot] = nowMs;

        boolean wasAbove = above(slot, nowMs);
        record(slot, nowMs);
        if (!above(slot, nowMs)) {
            return Result.NONE;
        }
        return wasAbove ? Result.ABOVE : Result.CROSSED;
    }

    /**
     * Whether the process is at/above the threshold at {@code nowMs}, without recording anything (not even an
     * identity adoption). An unknown pid, or a pid held by a process with a different known identity, is not
     * in a burst.
     */
    public boolean inBurst(int pid, long identity, long nowMs) {
        int slot = lookup(pid, identity);
        return slot != NIL && above(slot, nowMs);
    }

    /**
     * The process's events inside the window at {@code nowMs}, capped at {@code threshold} (only that many
     * are remembered). On the event that returned {@link Result#CROSSED} this is exactly {@code threshold}.
     * 0 for an unknown process. Does not record anything.
     */
    public int count(int pid, long identity, long nowMs) {
        int slot = lookup(pid, identity);
        if (slot == NIL) {
            return 0;
        }
        // Binary search for the oldest event still inside: ring times are non-decreasing, oldest first.
        long[] ring = rings[slot];
        int n = counts[slot];
        int oldest = n == ring.length ? heads[slot] : 0;
        int lo = 0;
        int hi = n; // answer in [lo, hi]: the number of leading (oldest) events outside the window
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            int index = oldest + mid;
            if (index >= ring.length) {
                index -= ring.length;
            }
            if (nowMs - ring[index] < windowMs) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return n - lo;
    }

    /** Processes currently tracked, at most {@code maxProcesses}. */
    public int size() {
        return size;
    }

    /** Entries dropped to make room for a new process because the table was full (idle or not). */
    public long evictions() {
        return evictions;
    }

    /**
     * Of {@link #evictions()}, those whose process still had events inside the window: each may have delayed
     * an alert, so a growing number says {@code maxProcesses} is too small for the load.
     */
    public long activeEvictions() {
        return activeEvictions;
    }

    /** The number of events within the window that makes a burst. */
    public int threshold() {
        return threshold;
    }

    /** The window's length in milliseconds. */
    public long windowMs() {
        return windowMs;
    }

    /** The most entries kept. */
    public int maxProcesses() {
        return maxProcesses;
    }

    /**
     * Events that found every ring's memory held by processes active at the time: each was remembered in place
     * of an older event of its process still inside the window, so that process's count stopped short.
     */
    public long starvedEvents() {
        return starvedEvents;
    }

    /** Ring entries beyond the first 8 of each ring, all processes together (8 bytes each). */
    public long extraRingEntries() {
        return extraRingEntries;
    }

    /** Length of the pid's event ring, 0 if untracked: lets tests check rings stay as small as real bursts. */
    int ringLength(int pid) {
        int slot = find(pid);
        return slot == NIL ? 0 : rings[slot].length;
    }

    // ---- window arithmetic ----

    /** At least threshold events and the threshold-th most recent one inside the window. */
    private boolean above(int slot, long nowMs) {
        // counts == threshold implies the ring is exactly threshold long and full, so the head is the
        // threshold-th most recent event.
        return counts[slot] == threshold && nowMs - rings[slot][heads[slot]] < windowMs;
    }

    private void record(int slot, long nowMs) {
        long[] ring = rings[slot];
        int n = counts[slot];
        int head = heads[slot];
        if (n == ring.length && ring.length < threshold && nowMs - ring[head] < windowMs) {
            // Full and its oldest event still counts: the window holds more events than the ring, grow.
            // If the oldest had aged out, so has every event it would take to fill a larger ring (times are
            // ordered), and overwriting it loses nothing: that is what keeps rings as small as real bursts.
            if (reserve(slot, Math.min(threshold, ring.length * 2) - ring.length)) {
                ring = grow(slot, ring, head);
                head = n;
            } else {
                starvedEvents++; // overwrites an event still inside the window: the count stops at ring.length
            }
        }
        ring[head] = nowMs;
        heads[slot] = head + 1 == ring.length ? 0 : head + 1;
        if (n < ring.length) {
            counts[slot] = n + 1;
        }
    }

    private long[] grow(int slot, long[] ring, int head) {
        long[] bigger = new long[Math.min(threshold, ring.length * 2)];
        int tail = ring.length - head;
        System.arraycopy(ring, head, bigger, 0, tail);
        System.arraycopy(ring, 0, bigger, tail, head);
        if (ring.length == initialRing) {
            bigPushFront(slot);
        }
        rings[slot] = bigger;
        return bigger;
    }

    /**
     * Makes room for {@code extra} more ring entries, taking back the rings of idle processes (least recently
     * active first) if needed; false if what is left belongs to processes with events inside the window.
     */
    private boolean reserve(int slot, int extra) {
        while (extraRingEntries + extra > maxExtraRingEntries) {
            int victim = bigTail;
            // The tail is the least recently active grown ring: if it is not idle, none is.
            if (victim == NIL || victim == slot || latestMs - newest[victim] < windowMs) {
                return false;
            }
            forget(victim);
        }
        extraRingEntries += extra;
        return true;
    }

    /** Forgets the entry's events, and gives a grown ring's memory back. */
    private void forget(int slot) {
        counts[slot] = 0;
        heads[slot] = 0;
        if (rings[slot].length > initialRing) {
            extraRingEntries -= rings[slot].length - initialRing;
            rings[slot] = new long[initialRing];
            bigUnlink(slot);
        }
    }

    private void bigUnlink(int slot) {
        int p = bigPrev[slot];
        int n = bigNext[slot];
        if (p == NIL) {
            bigHead = n;
        } else {
            bigNext[p] = n;
        }
        if (n == NIL) {
            bigTail = p;
        } else {
            bigPrev[n] = p;
        }
    }

    private void bigPushFront(int slot) {
        bigPrev[slot] = NIL;
        bigNext[slot] = bigHead;
        if (bigHead == NIL) {
            bigTail = slot;
        } else {
            bigPrev[bigHead] = slot;
        }
        bigHead = slot;
    }

    // ---- entries ----

    /** The slot of pid if it holds the process with that identity (by the matching rules), else NIL. */
    private int lookup(int pid, long identity) {
        int slot = find(pid);
        if (slot == NIL) {
            return NIL;
        }
        long current = identities[slot];
        if (identity != UNKNOWN_IDENTITY && current != UNKNOWN_IDENTITY && current != identity) {
            return NIL;
        }
        return slot;
    }

    private int allocate(int pid, long identity) {
        int slot;
        if (size < maxProcesses) {
            slot = size++;
            rings[slot] = new long[initialRing];
        } else {
            slot = lruTail;
            evictions++;
            if (latestMs - newest[slot] < windowMs) {
                activeEvictions++;
            }
            unlink(slot);
            remove(pids[slot]);
        }
        pids[slot] = pid;
        identities[slot] = identity;
        forget(slot);
        insert(pid, slot);
        return slot;
    }

    private void unlink(int slot) {
        int p = prev[slot];
        int n = next[slot];
        if (p == NIL) {
            lruHead = n;
        } else {
            next[p] = n;
        }
        if (n == NIL) {
            lruTail = p;
        } else {
            prev[n] = p;
        }
    }

    private void pushFront(int slot) {
        prev[slot] = NIL;
        next[slot] = lruHead;
        if (lruHead == NIL) {
            lruTail = slot;
        } else {
            prev[lruHead] = slot;
        }
        lruHead = slot;
    }

    // ---- pid -> slot table ----

    private int home(int pid) {
        // Fibonacci hashing: pids are mostly consecutive, the multiply spreads them over the high bits.
        return (pid * 0x9E3779B9) >>> shift;
    }

    private int find(int pid) {
        for (int i = home(pid); ; i = (i + 1) & mask) {
            int slot = table[i];
            if (slot == NIL || pids[slot] == pid) {
                return slot;
            }
        }
    }

    private void insert(int pid, int slot) {
        int i = home(pid);
        while (table[i] != NIL) {
            i = (i + 1) & mask;
        }
        table[i] = slot;
    }

    private void remove(int pid) {
        int hole = home(pid);
        while (pids[table[hole]] != pid) {
            hole = (hole + 1) & mask;
        }
        table[hole] = NIL;
        // Backward shift: pull later members of the probe run into the hole when the hole lies between
        // their home and where they sit, so that every lookup still finds them before an empty cell.
        for (int j = (hole + 1) & mask; table[j] != NIL; j = (j + 1) & mask) {
            int k = home(pids[table[j]]);
            if (((j - k) & mask) >= ((j - hole) & mask)) {
                table[hole] = table[j];
                table[j] = NIL;
                hole = j;
            }
        }
    }
}
