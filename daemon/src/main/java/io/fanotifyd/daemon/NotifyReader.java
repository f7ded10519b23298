package io.fanotifyd.daemon;

import io.fanotifyd.enrich.ExitRecords;
import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The notification group's reader: a thread of its own that reads batches of events into a small ring of
 * buffers and hands them, in the order read, to the event thread ({@link EventLoop}), which resolves, evaluates
 * and records them. Reading is not held up by that work, so the kernel queue stays as short as a reader that
 * only drains it keeps it: a deep queue costs every process that queues an event (the queue's lock, the merge
 * lookups), not only us.
 *
 * <p>Bounded: when every buffer is full and not yet processed, the reader stops reading and the kernel queue
 * holds the rest (unlimited by default, else an overflow record as before). Nothing is lost, and the memory is
 * the ring's, whatever the load. The fds the kernel makes for the events read count against {@link FdBudget}:
 * the read size is the budget's share divided among the buffers.
 *
 * <p>Order: batches are processed one at a time, in the order they were read, and a batch's events in the
 * kernel's order, so the records of the notification group keep the kernel's order, as with one thread.
 *
 * <p>Hand-over: the reader publishes a batch by a volatile count; the event thread releases it by another. Each
 * side says (a volatile flag) when it is about to sleep and checks again after, and the other side signals its
 * eventfd only then, so a busy stream costs no system call per batch for the hand-over.
 *
 * <p>The exit records' retirement ({@link ExitRecords#retireUpTo}) needs to know when the queue was seen empty,
 * which only the reader sees: a batch carries the exit records' count before its read and whether the queue was
 * empty after it, and an idle reader publishes an empty batch for the same purpose when exit records came in.
 */
final class NotifyReader {
    /** One read's events, handed from the reader to the event thread. */
    static final class Batch {
        final MemorySegment buffer;
        /** Bytes of events; 0 for a batch that only says the queue was empty. */
        long length;
        /** Events in those bytes: the unit of {@code FIONREAD} and of {@link CatchUp}. */
        int events;
        /** {@link ExitRecords#lastSeq()} before the read (or the poll that found the queue empty). */
        long exitSeqBefore;
        /** The queue was seen empty after this read: every exit record counted before it may retire. */
        boolean emptyAfter;

        Batch(MemorySegment buffer) {
            this.buffer = buffer;
        }
    }

    /** Buffers in the ring: enough to ride out a stall of the event thread without a deep kernel queue. */
    static final int MAX_SLOTS = 8;
    /** An idle reader still looks this often whether exit records came in that an empty queue retires. */
    private static final long IDLE_LOOK_NS = 1_000_000_000L;
    private static final short POLLIN = 1;

    private final FanotifyGroup group;
    private final CatchUp catchUp;
    private final ExitRecords exits;
    private final long readBytes;
    private final long batchDelayNs;
    private final Batch[] ring;
    private final int wakeFd;
    private final int readyFd;
    private final Counters counters;
    private final LogLimiter readErrors;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment readerScratch = arena.allocate(8, 8);
    private final MemorySegment consumerScratch = arena.allocate(8, 8);
    private final MemorySegment pollFds = arena.allocate(16, 8);
    private final MemorySegment timespec = arena.allocate(16, 8);
    private final java.util.function.LongSupplier readOnce;
    private final java.util.function.LongUnaryOperator countRead;
    /** What {@link #countRead} counted in the last read. */
    private int lastReadEvents;
    private final int[] wakeOnly;
    private final short[] wakeOnlyRevents = new short[1];
    private volatile long published;
    private volatile long consumed;
    private volatile boolean consumerSleeping;
    private volatile boolean readerSleeping;
    private volatile boolean stopping;
    private volatile long heartbeatNs;
    private long wakeAtLeastEveryNs;
    private Runnable onFirstPoll = () -> { };
    private Thread thread;

    /**
     * @param wakeFd    an eventfd that wakes the reader (a catch-up wanting a read, a stop); the reader owns it
     * @param slots     buffers in the ring, each of {@code readBytes}
     * @param catchUp   null unless permission decisions wait for the notification side
     * @param exits     null without exit records
     */
    NotifyReader(FanotifyGroup group, int wakeFd, int slots, long readBytes, int batchDelayUs, CatchUp catchUp,
                 ExitRecords exits, Counters counters, LogLimiter readErrors) {
        this.group = group;
        this.wakeFd = wakeFd;
        this.readyFd = Syscalls.eventfd();
        this.wakeOnly = new int[] {wakeFd};
        this.readBytes = readBytes;
        this.batchDelayNs = batchDelayUs * 1000L;
        this.catchUp = catchUp;
        this.exits = exits;
        this.counters = counters;
        this.readErrors = readErrors;
        int n = Integer.highestOneBit(Math.max(1, Math.min(MAX_SLOTS, slots)));
        this.ring = new Batch[n];
        for (int i = 0; i < n; i++) {
            ring[i] = new Batch(arena.allocate(readBytes, 8));
        }
        this.readOnce = () -> group.read(ring[(int) (published & (ring.length - 1))].buffer, readBytes);
        this.countRead = bytes -> lastReadEvents = io.fanotifyd.kernel.EventCursor.count(
                ring[(int) (published & (ring.length - 1))].buffer, bytes);
    }

    /** The eventfd the event thread polls: readable when a batch was handed to it while it slept. */
    int readyFd() {
        return readyFd;
    }

    int slots() {
        return ring.length;
    }

    long readBytes() {
        return readBytes;
    }

    /** Caps the reader's poll wait (before {@link #start}; 0 = none), so its heartbeat moves for the watchdog. */
    void wakeAtLeastEvery(long ns) {
        wakeAtLeastEveryNs = ns;
    }

    /** When the reader last came round (System.nanoTime); 0 before it started. */
    long heartbeatNs() {
        return heartbeatNs;
    }

    void start(Runnable onFirstPoll, Thread.UncaughtExceptionHandler onFailure) {
        this.onFirstPoll = onFirstPoll;
        heartbeatNs = System.nanoTime();
        thread = Thread.ofPlatform().name("fanotifyd-read").daemon().uncaughtExceptionHandler(onFailure).start(this::run);
    }

    // ---- the event thread's side ---------------------------------------------------------------------------

    /** The next batch to process, in the order read, or null if there is none now. */
    Batch next() {
        return consumed != published ? ring[(int) (consumed & (ring.length - 1))] : null;
    }

    /** The batch {@link #next()} gave is processed: its buffer goes back to the reader. */
    void release() {
        consumed = consumed + 1;
        if (readerSleeping) {
            Syscalls.signalEventfd(wakeFd);
        }
    }

    /**
     * The event thread is about to sleep in its poll (true) or has woken (false). While it sleeps the reader
     * signals {@link #readyFd()} for each batch; the caller checks {@link #next()} after saying it sleeps.
     */
    void consumerSleeping(boolean sleeping) {
        consumerSleeping = sleeping;
    }

    void drainReady() {
        Syscalls.drainEventfd(readyFd, consumerScratch);
    }

    /**
     * Stops the reader and waits for it (at most {@code timeoutMs}). The batches it published stay to be
     * processed; what is still in the kernel queue is the caller's to read ({@link #readDirect}).
     *
     * @return true if the reader has ended
     */
    boolean stop(long timeoutMs) {
        stopping = true;
        if (thread == null) {
            return true;
        }
        Syscalls.signalEventfd(wakeFd);
        try {
            thread.join(timeoutMs);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !thread.isAlive();
    }

    /**
     * After {@link #stop}: one read straight into a free buffer, for the last events before the daemon exits.
     *
     * @return the batch read (length 0 if the queue was empty), or null if no buffer is free or the read failed
     */
    Batch readDirect() {
        if (published - consumed == ring.length) {
            return null;
        }
        Batch b = ring[(int) (published & (ring.length - 1))];
        long n = read();
        if (n < 0) {
            return null;
        }
        b.length = n;
        b.events = lastReadEvents;
        b.exitSeqBefore = 0;
        b.emptyAfter = false;
        if (n > 0) {
            published = published + 1;
        }
        return b;
    }

    void close() {
        Syscalls.closeQuietly(readyFd);
        Syscalls.closeQuietly(wakeFd);
    }

    // ---- the reader's thread -------------------------------------------------------------------------------

    private void run() {
        readerFds = new int[] {group.fd(), wakeFd};
        readerRevents = new short[readerFds.length];
        retiredMark = exits == null ? 0 : exits.lastSeq();
        // The body is a method of its own so that it is compiled: a loop that turns once per read never
        // reaches C1's on-stack replacement (60,000 back-edges) and would run interpreted.
        while (!stopping && turn()) {
            // each turn: one wait, then one drain
        }
        if (firstPoll) {
            onFirstPoll.run();
        }
    }

    private int[] readerFds;
    private short[] readerRevents;
    private long holdUntilNs;
    private long retiredMark;
    private boolean firstPoll = true;

    /** One wait and what it woke for; false once stopping. */
    private boolean turn() {
        int[] fds = readerFds;
        short[] revents = readerRevents;
        long nowNs = System.nanoTime();
        heartbeatNs = nowNs;
        if (published - consumed == ring.length) {
            awaitRoom();
            return true;
        }
        // After a read, the group is left out of the poll for the batch delay: the kernel merges and queues
        // meanwhile, and the next read takes a bigger batch. A permission decision waiting ends the hold.
        boolean holding = holdUntilNs - nowNs > 0 && (catchUp == null || !catchUp.wanted());
        fds[0] = holding ? -1 : group.fd();
        long waitNs = holding ? holdUntilNs - nowNs : -1;
        long cap = wakeAtLeastEveryNs > 0 ? wakeAtLeastEveryNs : exits != null ? IDLE_LOOK_NS : -1;
        if (cap > 0 && (waitNs < 0 || waitNs > cap)) {
            waitNs = cap;
        }
        if (firstPoll) {
            firstPoll = false;
            onFirstPoll.run();
        }
        long exitSeqBeforePoll = exits == null ? 0 : exits.lastSeq();
        int ready = Syscalls.pollInNanos(pollFds, fds, revents, waitNs, timespec);
        if (stopping) {
            return false;
        }
        if ((revents[1] & POLLIN) != 0) {
            Syscalls.drainEventfd(wakeFd, readerScratch);
        }
        boolean wanted = catchUp != null && catchUp.wanted();
        if ((!holding && (revents[0] & POLLIN) != 0) || wanted) {
            drain();
            if (batchDelayNs > 0 && !wanted) {
                holdUntilNs = System.nanoTime() + batchDelayNs;
            }
        } else if (!holding && ready >= 0 && exitSeqBeforePoll != retiredMark) {
            // The queue was empty at the poll: the exit records read before it may retire, once the event
            // thread has processed what was read before.
            Batch b = ring[(int) (published & (ring.length - 1))];
            b.length = 0;
            b.events = 0;
            b.exitSeqBefore = exitSeqBeforePoll;
            b.emptyAfter = true;
            publish();
            retiredMark = exitSeqBeforePoll;
        }
        return true;
    }

    /** Reads until a short read (the queue is about empty) or the ring is full. */
    private void drain() {
        while (!stopping && published - consumed != ring.length) {
            Batch b = ring[(int) (published & (ring.length - 1))];
            long exitSeq = exits == null ? 0 : exits.lastSeq();
            long n = read();
            if (n <= 0) {
                return;
            }
            heartbeatNs = System.nanoTime(); // a flood keeps the reader here: each batch is progress too
            boolean shortRead = n < readBytes / 2;
            b.length = n;
            b.events = lastReadEvents;
            b.exitSeqBefore = exitSeq;
            b.emptyAfter = shortRead && exits != null && group.queuedEvents() == 0;
            publish();
            if (shortRead) {
                return; // back to poll rather than pay a read that returns EAGAIN
            }
        }
    }

    private void publish() {
        published = published + 1;
        if (consumerSleeping) {
            Syscalls.signalEventfd(readyFd);
        }
    }

    /** The ring is full: wait until the event thread releases a buffer (or the stop). */
    private void awaitRoom() {
        readerSleeping = true;
        try {
            if (published - consumed != ring.length || stopping) {
                return;
            }
            Syscalls.pollInNanos(pollFds, wakeOnly, wakeOnlyRevents,
                    wakeAtLeastEveryNs > 0 ? wakeAtLeastEveryNs : -1, timespec);
            if ((wakeOnlyRevents[0] & POLLIN) != 0) {
                Syscalls.drainEventfd(wakeFd, readerScratch);
            }
        } finally {
            readerSleeping = false;
        }
    }

    /**
     * One read of the group into the next buffer, its events counted ({@link #lastReadEvents}), under the
     * catch-up's lock if there is one. A failed read never ends the reader: it is counted and logged
     * (rate-limited), and returns -1.
     */
    private long read() {
        try {
            if (catchUp != null) {
                return catchUp.read(readOnce, countRead);
            }
            long n = readOnce.getAsLong();
            if (n > 0) {
                countRead.applyAsLong(n);
            }
            return n;
        } catch (NativeCallException e) {
            counters.readErrors.incrementAndGet();
            readErrors.log("reading events failed: " + e.getMessage() + (e.errno() == Errno.EMFILE
                    || e.errno() == Errno.ENFILE ? "; the kernel dropped the event (or denied the open) it could not"
                    + " make an fd for" : ""));
            return -1;
        }
    }
}
