package io.fanotifyd.enrich;

import io.fanotifyd.kernel.TaskExit;
import io.fanotifyd.kernel.Taskstats;

/**
 * The last exit records the kernel sent ({@link Taskstats}), by pid: who a process was after it is gone.
 * A ring of fixed size in parallel arrays, filled by {@link #exited}; nothing is allocated per record.
 *
 * <p>Only a thread group leader's record is kept (its task id is the process id fanotify reports); the other
 * threads' records say nothing the leader's does not.
 *
 * <p>Which record belongs to an event whose process is gone ({@code FAN_NOPIDFD}): that process was reaped
 * before the event was read, so its record was queued before the read, and the caller drains the socket before
 * asking. A pid may have been used again since: then two records name it, and only order could tell them apart,
 * which the two queues do not share. So a record is a candidate unless it is <em>retired</em>: the caller
 * observed the event queue empty after the record had been drained ({@link #retireUpTo}), so every event of
 * that process was read before. One candidate is the answer; two or more, and the answer is "unknown", never a
 * guess. If records were lost (the socket overflowed, or the ring wrapped over a candidate) the answer is
 * "unknown" until a retirement passes the loss.
 */
public final class ExitRecords implements Taskstats.Sink {
    private static final int COMM_BYTES = 16;
    /** {@link #lookupGone}: no record of the pid. */
    public static final int NONE = -1;
    /** {@link #lookupGone}: records that cannot be told apart, or records lost. */
    public static final int UNSURE = -2;

    private final int capacity;
    private final int mask;
    private final int[] pids;
    private final int[] ppids;
    private final int[] uids;
    private final int[] gids;
    private final long[] starts;
    private final long[] exeDevs;
    private final long[] exeInodes;
    private final long[] seqs;
    private final byte[] comms;
    private final byte[] commLengths;
    private final int[] next;
    private final int[] heads;
    private final int headMask;
    private final byte[] commScratch = new byte[32];
    /** Sequence number of the last record added; the first is 1. */
    /** Volatile: the notification reader reads it from its own thread; only the event thread writes it. */
    private volatile long lastSeq;
    private long retiredSeq;
    /** {@link #lastSeq} when records were last lost; lookups are unsure while it is above {@link #retiredSeq}. */
    private long lossSeq;
    private long losses;
    private long ambiguous;

    /** @param capacity records kept, rounded up to a power of two */
    public ExitRecords(int capacity) {
        this.capacity = Integer.highestOneBit(Math.max(16, capacity) - 1) << 1;
        this.mask = this.capacity - 1;
        pids = new int[this.capacity];
        ppids = new int[this.capacity];
        uids = new int[this.capacity];
        gids = new int[this.capacity];
        starts = new long[this.capacity];
        exeDevs = new long[this.capacity];
        exeInodes = new long[this.capacity];
        seqs = new long[this.capacity];
        comms = new byte[this.capacity * COMM_BYTES];
        commLengths = new byte[this.capacity];
        next = new int[this.capacity];
        heads = new int[this.capacity];
        headMask = this.capacity - 1;
        java.util.Arrays.fill(heads, -1);
    }

    @Override
    public void exited(TaskExit e) {
        int pid = e.pid();
        if (pid != e.tgid() || pid <= 0) {
            return;
        }
        long seq = ++lastSeq;
        int slot = (int) (seq & mask);
        if (seqs[slot] != 0) {
            // The oldest record goes: if nothing retired it yet, an event may still need it, and until a
            // retirement passes it, an answer could be missing its rival.
            if (seqs[slot] > retiredSeq) {
                losses++;
                lossSeq = Math.max(lossSeq, seqs[slot]);
            }
            int oldBucket = pids[slot] & headMask;
            if (heads[oldBucket] == slot) {
                heads[oldBucket] = -1; // the oldest is the last of its chain: if it heads it, it is alone
            }
        }
        pids[slot] = pid;
        ppids[slot] = e.ppid();
        uids[slot] = e.uid();
        gids[slot] = e.gid();
        starts[slot] = e.startSeconds();
        boolean exe = e.hasExe() && e.exeInode() != 0;
        exeDevs[slot] = exe ? e.exeDevice() : 0;
        exeInodes[slot] = exe ? e.exeInode() : 0;
        int n = e.comm(commScratch);
        n = Math.min(n, COMM_BYTES);
        System.arraycopy(commScratch, 0, comms, slot * COMM_BYTES, n);
        commLengths[slot] = (byte) n;
        seqs[slot] = seq;
        int bucket = pid & headMask;
        next[slot] = heads[bucket];
        heads[bucket] = slot;
    }

    /** The socket overflowed: what was lost was sent before the records still to come. */
    @Override
    public void lost() {
        losses++;
        lossSeq = lastSeq + 1;
    }

    /** The last record's sequence number (0 before any): what {@link #retireUpTo} takes. */
    public long lastSeq() {
        return lastSeq;
    }

    /**
     * Every record up to {@code seq} was drained before a moment the event queue was seen empty: none of those
     * processes has an unread event left.
     */
    public void retireUpTo(long seq) {
        if (seq > retiredSeq) {
            retiredSeq = seq;
        }
    }

    /**
     * The one record an unread event of the gone process {@code pid} can be from; {@link #NONE}; or
     * {@link #UNSURE}: more than one (the pid was used again), or records lost since the last retirement.
     */
    public int lookupGone(int pid) {
        if (lossSeq > retiredSeq) {
            return UNSURE;
        }
        int found = NONE;
        for (int slot = first(pid); slot >= 0; slot = following(slot)) {
            if (seqs[slot] <= retiredSeq) {
                break; // older ones are retired too
            }
            if (pids[slot] == pid) {
                if (found >= 0) {
                    ambiguous++;
                    return UNSURE;
                }
                found = slot;
            }
        }
        return found;
    }

    /**
     * The newest record of {@code pid}, retired or not, or -1: for a zombie, which holds its pid until it is
     * reaped, so that no later process can have sent a record under it.
     */
    public int lookupNewest(int pid) {
        for (int slot = first(pid); slot >= 0; slot = following(slot)) {
            if (pids[slot] == pid) {
                return slot;
            }
        }
        return -1;
    }

    private int first(int pid) {
        return heads[pid & headMask];
    }

    /** The next older record in the chain, or -1 where the chain's next slot was reused by a newer record. */
    private int following(int slot) {
        int n = next[slot];
        if (n < 0 || seqs[n] >= seqs[slot] || seqs[n] == 0) {
            return -1;
        }
        return n;
    }

    public int ppid(int slot) {
        return ppids[slot];
    }

    /** The real user id. */
    public int uid(int slot) {
        return uids[slot];
    }

    /** The real group id. */
    public int gid(int slot) {
        return gids[slot];
    }

    /** When the process started, in wall-clock seconds. */
    public long startSeconds(int slot) {
        return starts[slot];
    }

    /** The executable's device ({@code huge_encode_dev}); with {@link #exeInode} 0 when unknown. */
    public long exeDevice(int slot) {
        return exeDevs[slot];
    }

    public long exeInode(int slot) {
        return exeInodes[slot];
    }

    /** Copies the command name into {@code out} and returns its length. */
    public int comm(int slot, byte[] out) {
        int n = Math.min(commLengths[slot], out.length);
        System.arraycopy(comms, slot * COMM_BYTES, out, 0, n);
        return n;
    }

    /** Lookups that found the pid used again (answered "unknown"). */
    public long ambiguous() {
        return ambiguous;
    }

    /** How often records were lost (socket overflow, or the ring wrapping over one not yet retired). */
    public long losses() {
        return losses;
    }
}
