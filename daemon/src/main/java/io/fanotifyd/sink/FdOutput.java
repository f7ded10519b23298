package io.fanotifyd.sink;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * The JSONL output (a file opened for appending, or stdout), written by a thread of its own so that a slow,
 * stuck or failing output never holds up the thread that reads events, and above all never a pending
 * permission event.
 *
 * <p>The threads that read events append records to the current buffer, one transaction at a time
 * ({@link RecordSink}), and a buffer is handed over when it passes its flush size or with {@link #flush}. Each
 * {@code write(2)} carries only whole lines, and a write that fails part-way (a disk that fills) is cut back
 * with {@code ftruncate}, so the file always ends with a whole record.
 *
 * <p>When every buffer is still waiting to be written (the output is slow):
 * <ul>
 *   <li>observe mode: {@link #flush} waits for one; nothing is lost, the kernel queue holds the events
 *       meanwhile. Unless the output has taken nothing for {@link #STALL_MS} (a reader that stopped reading, a
 *       hung network filesystem): then it is treated as failed, below;</li>
 *   <li>permission mode ({@code dropWhenFull}): the current buffer's records are dropped and counted, and the
 *       event thread goes on at once.</li>
 * </ul>
 *
 * <p>When a write fails (disk full, read-only filesystem, I/O error), the output is <em>failing</em>: the
 * writer keeps taking buffers and hands them to subscribers as usual; for the output it holds up to
 * {@link #HOLD_BYTES} of them, in order, and counts the records of any more as not written. It tries the output
 * again after a back-off (100 ms, doubling up to 2 s) and at once after a reopen, writing what it held first.
 * Every gap is told by a {@code dropped} record at the place where the records are missing. A reader of stdout that went away ({@code EPIPE}) is gone for good: the {@link Listener} hears of
 * it once, and the daemon decides what that means. Nothing here ever throws at the event thread.
 *
 * <p>{@link #requestReopen()} (SIGUSR1, SIGHUP) makes the writer open the output's path again between two
 * buffers and switch to the new file: after a rename by logrotate, every record lands whole in the old file
 * or in the new one.
 */
public final class FdOutput implements RecordSink, AutoCloseable {
    /** An output that has taken nothing for this long is treated as failed: observe mode stops waiting for it. */
    public static final long STALL_MS = 10_000;
    private static final long BACKOFF_MIN_MS = 100;
    private static final long BACKOFF_MAX_MS = 2_000;
    /** How often a failure that goes on is mentioned again in the log. */
    private static final long STILL_FAILING_LOG_MS = 60_000;
    /** Room before a buffer in the staging memory, for up to two {@code dropped} records. */
    private static final int NOTICE_ROOM = 1024;
    private static final short POLLOUT = 4;

    /** What the writer tells the daemon. Called on the writer thread; must not block. */
    public interface Listener {
        void warn(String message);

        /** The output will never take a record again (its reader went away); called once. */
        void gone(String message);
    }

    private static final class Chunk {
        final JsonWriter writer;
        int records;
        /** Records the event thread dropped right before this buffer (told to every reader with it). */
        long droppedBefore;

        Chunk(int capacity) {
            writer = new JsonWriter(capacity);
        }
    }

    private static final Chunk STOP = new Chunk(16);
    private static final Chunk WAKE = new Chunk(16);

    /** The path, or "stdout"; changed only by the writer when a reload moves the output ({@link #moveTo}). */
    private volatile String name;
    /** The path to reopen, or null for stdout. */
    private volatile String path;
    /** Where the next reopen goes instead of {@link #path} (a reload's new output), or null. */
    private volatile String nextPath;
    private final int mode;
    private final boolean ownsFd;
    private volatile int fd;
    private boolean regularFile;
    private volatile boolean dropWhenFull;
    private final BlockingQueue<Chunk> free;
    private final BlockingQueue<Chunk> full;
    private final Thread writerThread;
    private final Listener listener;
    private final int maxBuffers;
    private final int bufferBytes;
    private int allocated;
    /** Replaced by a hand-over, under {@link #producers}; volatile for {@link #pending()}'s lock-free look. */
    private volatile Chunk current;
    /**
     * Held from {@link #begin()} to {@link #commit}/{@link #abort()}, and by {@link #flush}: the notification and
     * permission threads both append, and each record lands whole and in one place. Uncontended in observe mode.
     */
    private final java.util.concurrent.locks.ReentrantLock producers = new java.util.concurrent.locks.ReentrantLock();
    private int recordStart;
    private final int flushBytes;
    private volatile BooleanSupplier giveUp = () -> false;
    private volatile Runnable onFirstRecord;
    private boolean created;
    private boolean finished;
    private volatile SocketHub hub;
    private final Rotation rotation;
    /** Bytes in the current file (writer thread), for size rotation. */
    private long fileBytes;
    /** When a rotation that failed may be tried again (System.nanoTime), or 0. */
    private long nextRotationNs;
    private volatile long rotations;

    // Reading threads, under producers.
    private long pendingDropped;
    private boolean dropping;
    private volatile long handedOver;
    private final AtomicLong dropped = new AtomicLong();

    // Writer thread (read by others for counters).
    private volatile long written;
    private volatile long lost;
    private volatile long bytesWritten;
    private volatile boolean failing;
    private volatile boolean gone;
    private volatile boolean finishing;
    /**
     * A reopen asked for and not begun yet: what to run once it is done ({@link #NOTHING} if nothing), or null
     * when none is pending. Taken by the writer before it reopens, so every request it took is served by a
     * reopen that began after the request.
     */
    private final java.util.concurrent.atomic.AtomicReference<Runnable> reopenRequest =
            new java.util.concurrent.atomic.AtomicReference<>();
    private static final Runnable NOTHING = () -> { };
    /** When the write under way started (System.nanoTime), or 0 between writes. */
    private volatile long writeStartedNs;

    private FdOutput(String name, String path, int mode, int fd, boolean ownsFd, int bufferBytes, int buffers,
                     boolean dropWhenFull, Rotation rotation, Listener listener) {
        this.name = name;
        this.path = path;
        this.mode = mode;
        this.rotation = path == null ? Rotation.NONE : rotation;
        this.fileBytes = path == null ? 0 : Math.max(0, Libc.lseek(fd, 0, 2));
        this.fd = fd;
        this.ownsFd = ownsFd;
        this.regularFile = isRegularFile(fd);
        this.dropWhenFull = dropWhenFull;
        this.listener = listener;
        this.free = new ArrayBlockingQueue<>(buffers);
        this.full = new ArrayBlockingQueue<>(buffers + 8); // + STOP and wake-ups
        this.maxBuffers = buffers;
        this.bufferBytes = bufferBytes;
        this.current = new Chunk(bufferBytes);
        this.flushBytes = Math.max(1, bufferBytes / 2);
        this.allocated = 1;
        this.writerThread = Thread.ofPlatform().daemon().name("fanotifyd-output").start(this::writeLoop);
    }

    /**
     * {@code "-"} is stdout; anything else is opened {@code O_WRONLY|O_APPEND|O_CREAT} with {@code mode}.
     *
     * @param buffers      at most this many buffers in flight, made as needed, each of {@code bufferBytes} to
     *                     start with (they grow if needed)
     * @param dropWhenFull permission mode: never wait for the output
     * @throws NativeCallException if the file cannot be opened
     */
    public static FdOutput open(String path, int mode, int bufferBytes, int buffers, boolean dropWhenFull,
                                Listener listener) {
        return open(path, mode, Rotation.NONE, bufferBytes, buffers, dropWhenFull, listener);
    }

    /**
     * Size rotation: before a write would take the file past {@code maxBytes}, {@code OUT.(keep-1)} is renamed
     * to {@code OUT.keep} and so on down to {@code OUT} to {@code OUT.1}, and a new {@code OUT} is created.
     * {@code maxBytes} 0: never.
     */
    public record Rotation(long maxBytes, int keep) {
        public static final Rotation NONE = new Rotation(0, 0);
    }

    /** As {@link #open(String, int, int, int, boolean, Listener)}, rotating by size. */
    public static FdOutput open(String path, int mode, Rotation rotation, int bufferBytes, int buffers,
                                boolean dropWhenFull, Listener listener) {
        if ("-".equals(path)) {
            return new FdOutput("stdout", null, 0, 1, false, bufferBytes, buffers, dropWhenFull, Rotation.NONE,
                    listener);
        }
        // O_EXCL first: knowing we created the file lets a failed start-up remove it again.
        boolean created = true;
        int fd;
        try {
            fd = Syscalls.open(path, openFlags() | Fanotify.O_EXCL, mode);
        } catch (NativeCallException e) {
            if (e.errno() != Errno.EEXIST) {
                throw e;
            }
            created = false;
            fd = Syscalls.open(path, openFlags(), mode);
        }
        if (!created) {
            cutTornTail(path, fd, listener);
        }
        FdOutput out = new FdOutput(path, path, mode, fd, true, bufferBytes, buffers, dropWhenFull, rotation,
                listener);
        out.created = created;
        return out;
    }

    /**
     * An existing output that does not end with a newline ends with part of a record: a daemon was killed
     * (SIGKILL, a power cut) in the middle of a write. The part is cut off, back to the last whole record,
     * before anything is appended: else the first new record would be glued to it, and a reader (a shipper, the
     * forwarder) would take the two for one broken line. Not for pipes or devices.
     */
    static void cutTornTail(String path, int writeFd, Listener listener) {
        if (!isRegularFile(writeFd)) {
            return;
        }
        long end = Libc.lseek(writeFd, 0, 2);
        if (end <= 0) {
            return;
        }
        int rfd = Syscalls.open(path, Fanotify.O_RDONLY | Fanotify.O_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            int chunk = 64 << 10;
            MemorySegment buf = arena.allocate(chunk);
            long keep = 0;
            boolean lastByte = true;
            search:
            for (long to = end; to > 0; to -= chunk) {
                long from = Math.max(0, to - chunk);
                long n = Libc.pread(rfd, buf, to - from, from);
                if (n != to - from) {
                    return; // changed under us, or unreadable: left as it is
                }
                for (long i = n - 1; i >= 0; i--) {
                    if (buf.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i) == '\n') {
                        if (lastByte) {
                            return; // ends with a whole record
                        }
                        keep = from + i + 1;
                        break search;
                    }
                    lastByte = false;
                }
            }
            if (Libc.ftruncate(writeFd, keep) == 0) {
                listener.warn("output " + path + " ended with part of a record (a daemon killed while writing it):"
                        + " cut back to its last whole record (" + (end - keep) + " bytes)");
            }
        } finally {
            Libc.close(rfd);
        }
    }

    /**
     * Opens {@code path} as the output would (appending, created with {@code mode}): a reload checks a new
     * output path this way before anything switches. The caller closes the fd.
     */
    public static int openForAppend(String path, int mode) {
        return Syscalls.open(path, openFlags(), mode);
    }

    /**
     * A reload's new output path: the writer switches to it between two buffers, as for a reopen, so that
     * every record goes whole to the old file or to the new one. Not for stdout. Any thread.
     */
    public void moveTo(String newPath) {
        nextPath = newPath;
        requestReopen();
    }

    private static int openFlags() {
        return Fanotify.O_WRONLY | Fanotify.O_APPEND | Fanotify.O_CREAT | Fanotify.O_CLOEXEC | Fanotify.O_LARGEFILE;
    }

    private static boolean isRegularFile(int fd) {
        try {
            return (Syscalls.fstat(fd).mode() & Syscalls.S_IFMT) == Syscalls.S_IFREG;
        } catch (NativeCallException e) {
            return false;
        }
    }

    /** Subscribers that get every record handed to the output from now on (set once, before events flow). */
    public void subscribers(SocketHub hub) {
        this.hub = hub;
    }

    /** After a failed start-up: removes the output file if this process created it and wrote nothing. */
    public void removeIfCreatedAndEmpty() {
        if (created && bytesWritten == 0 && current.writer.length() == 0) {
            try (Arena arena = Arena.ofConfined()) {
                Libc.unlink(Libc.cString(arena, name));
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // Reading threads (RecordSink)

    @Override
    public JsonWriter begin() {
        producers.lock();
        recordStart = current.writer.length();
        return current.writer;
    }

    /**
     * Keeps the records; hands the buffer over once it holds half its size (one read can make megabytes of
     * JSON, and a buffer grown to hold them would stay that big), and tells {@link #onFirstRecord} when this
     * made an empty buffer non-empty.
     */
    @Override
    public void commit(int records) {
        try {
            Chunk c = current;
            boolean first = c.records == 0 && recordStart == 0;
            c.records += records;
            if (c.writer.length() >= flushBytes) {
                flushLocked();
            } else if (first && onFirstRecord != null) {
                onFirstRecord.run();
            }
        } finally {
            producers.unlock();
        }
    }

    @Override
    public void abort() {
        try {
            current.writer.truncate(recordStart);
        } finally {
            producers.unlock();
        }
    }

    /**
     * Runs {@code action} (on the committing thread, under the lock; it must be quick and not throw) whenever a
     * commit puts the first record into an empty buffer: the loop that times flushes hears of records another
     * thread wrote while it slept.
     */
    public void onFirstRecord(Runnable action) {
        this.onFirstRecord = action;
    }

    /** What tells a waiting (observe-mode) hand-over to stop waiting and drop the buffer instead. */
    public void giveUpWaitingWhen(BooleanSupplier giveUp) {
        this.giveUp = giveUp;
    }

    /** Bytes appended and not yet handed over. */
    @Override
    public int pending() {
        return current.writer.length();
    }

    /**
     * Hands the current buffer to the writer thread. Never throws, never waits for a failing output (an
     * observe-mode flush waits for a free buffer until {@link #giveUpWaitingWhen} says to drop it instead).
     */
    public void flush() {
        producers.lock();
        try {
            flushLocked();
        } finally {
            producers.unlock();
        }
    }

    private void flushLocked() {
        Chunk current = this.current;
        if (current.writer.length() == 0) {
            return;
        }
        Chunk next = free.poll();
        if (next == null && allocated < maxBuffers) {
            // Buffers are made as the output falls behind, up to the limit: a short stall of the writer
            // (a slow disk write, a busy CPU) costs memory for a moment, not records.
            next = new Chunk(bufferBytes);
            allocated++;
        }
        while (next == null && !dropWhenFull && !unusable() && !giveUp.getAsBoolean()) {
            try {
                next = free.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (next == null) {
            if (!dropping) {
                dropping = true;
                listener.warn("output " + name + " is not keeping up: dropping records until it does"
                        + (dropWhenFull ? " (permission events are still answered)" : ""));
            }
            dropped.addAndGet(current.records);
            pendingDropped += current.records;
            current.writer.reset();
            current.records = 0;
            return;
        }
        dropping = false;
        handOver(next);
    }

    private void handOver(Chunk next) {
        current.droppedBefore = pendingDropped;
        pendingDropped = 0;
        handedOver += current.records;
        full.add(current);
        current = next;
    }

    /**
     * Gone, or stalled in one write for {@link #STALL_MS}: not worth waiting for. (A failing output is: its
     * writes fail at once, and the writer takes each buffer quickly, to hold or count it.)
     */
    private boolean unusable() {
        long started = writeStartedNs;
        return gone || (started != 0 && System.nanoTime() - started > STALL_MS * 1_000_000L);
    }

    /** From now on, wait for the output rather than drop (at stop, once no open waits for an answer). */
    public void waitWhenFull() {
        dropWhenFull = false;
    }

    /** Asks the writer to reopen the output's path before its next write (a no-op for stdout). Any thread. */
    public void requestReopen() {
        requestReopen(NOTHING);
    }

    /**
     * As {@link #requestReopen()}, and runs {@code done} on the writer thread once the reopen is done (or failed
     * and was logged; for stdout, at once): systemd is told a reload is over only then. Requests that come
     * before the writer gets to them share one reopen, and each one's {@code done} runs. {@code done} must not
     * block.
     */
    public void requestReopen(Runnable done) {
        reopenRequest.accumulateAndGet(done, (pending, next) -> pending == null || pending == NOTHING ? next
                : next == NOTHING ? pending : () -> {
                    pending.run();
                    next.run();
                });
        full.offer(WAKE);
    }

    // ------------------------------------------------------------------------------------------------------
    // Counters (any thread)

    /** Records dropped because the output did not keep up (or was failing) when a buffer was handed over. */
    public long dropped() {
        return dropped.get();
    }

    /** Records handed to the writer that the output could not take (write errors, a reader gone). */
    public long lost() {
        return lost;
    }

    /** Records written to the output. */
    public long written() {
        return written;
    }

    /** Records handed over and neither written nor lost yet: still queued, or in the write under way. */
    public long unwritten() {
        return handedOver - written - lost;
    }

    public long bytesWritten() {
        return bytesWritten;
    }

    public boolean failing() {
        return failing;
    }

    public boolean gone() {
        return gone;
    }

    public String name() {
        return name;
    }

    // ------------------------------------------------------------------------------------------------------
    // Writer thread

    /** A buffer the output could not take yet, kept (a copy) to be written first when it works again. */
    private record Held(byte[] bytes, int records, long droppedBefore, String reason) {}

    private final RecordEncoder encoder = new RecordEncoder();
    private final JsonWriter notice = new JsonWriter(NOTICE_ROOM);
    /** Buffers the failing output has not taken, oldest first; at most {@link #HOLD_BYTES}. */
    private final java.util.ArrayDeque<Held> held = new java.util.ArrayDeque<>();
    private long heldBytes;
    /** Records the output missed after everything held (event-thread drops, its own losses), not told yet. */
    private long untold;
    private String untoldReason;
    private String failReason;
    private long failingSinceNs;
    private long lostInEpisode;
    private long lastFailLogNs;
    private long nextAttemptNs;
    private long backoffMs = BACKOFF_MIN_MS;
    /** Where a write that failed part-way must be cut back to, when the cut itself failed; -1: nothing. */
    private long truncateTo = -1;
    private Arena stagingArena;
    private MemorySegment staging;
    private MemorySegment pollFd;

    /**
     * How much a failing output holds for a retry before it drops (and counts) what comes next: a short
     * failure (a disk that fills and is cleaned up, a filesystem remounted) loses nothing.
     */
    static final long HOLD_BYTES = 4L << 20;

    private void writeLoop() {
        stagingArena = Arena.ofConfined();
        staging = stagingArena.allocate(NOTICE_ROOM + (1 << 20));
        pollFd = stagingArena.allocate(8, 4);
        try {
            while (true) {
                long waitMs = 1000;
                if (failing && !held.isEmpty()) {
                    waitMs = Math.max(1, (nextAttemptNs - System.nanoTime()) / 1_000_000);
                }
                Chunk c = full.poll(waitMs, TimeUnit.MILLISECONDS);
                Runnable reopened = reopenRequest.getAndSet(null);
                if (reopened != null) {
                    reopen();
                    try {
                        reopened.run();
                    } catch (RuntimeException e) {
                        listener.warn("output " + name + ": after the reopen: " + e); // the writer goes on
                    }
                }
                if (failing && !held.isEmpty() && (finishing || System.nanoTime() - nextAttemptNs >= 0)) {
                    retryHeld();
                }
                if (c == null || c == WAKE) {
                    continue;
                }
                if (c == STOP) {
                    stop();
                    return;
                }
                take(c);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            stagingArena.close();
        }
    }

    /** At the end: one last try of what is held; what still cannot be written is lost, and told if possible. */
    private void stop() {
        if (!held.isEmpty() && !gone) {
            retryHeld();
        }
        for (Held h : held) {
            lost += h.records;
            lostInEpisode += h.records;
            addUntold(h.droppedBefore + h.records, h.reason != null ? h.reason : failReason());
        }
        held.clear();
        heldBytes = 0;
        if (untold > 0 && !gone) {
            writeNoticeAlone();
        }
    }

    /** One buffer from the event thread: to subscribers at once, then to the output (or held, or counted). */
    private void take(Chunk c) {
        int len = c.writer.length();
        int records = c.records;
        long droppedBefore = c.droppedBefore;
        if (staging.byteSize() < NOTICE_ROOM + len) {
            // A record bigger than the buffer (long paths, many alerts): the old one is freed, not kept.
            stagingArena.close();
            stagingArena = Arena.ofConfined();
            staging = stagingArena.allocate(NOTICE_ROOM + Math.max(len, 2 * (staging.byteSize() - NOTICE_ROOM)));
            pollFd = stagingArena.allocate(8, 4);
        }
        MemorySegment.copy(c.writer.array(), 0, staging, JAVA_BYTE, NOTICE_ROOM, len);
        c.writer.reset();
        c.records = 0;
        c.droppedBefore = 0;
        free.add(c);
        // Both under the hub's lock, which a new subscriber is registered under: it gets a buffer if and only
        // if the buffer reached the output after it connected.
        SocketHub h = hub;
        if (h != null) {
            h.streamLock().lock();
        }
        try {
            writeToOutput(len, records, droppedBefore);
            publish(h, len, records, droppedBefore);
        } finally {
            if (h != null) {
                h.streamLock().unlock();
            }
        }
    }

    /**
     * Subscribers get every buffer, whatever became of it in the output (held, lost), with the event thread's
     * drops told in front of it; their own losses are counted by the hub.
     */
    private void publish(SocketHub h, int len, int records, long droppedBefore) {
        if (h == null || (len == 0 && droppedBefore == 0)) {
            return;
        }
        int noticeLen = 0;
        if (droppedBefore > 0) {
            notice.reset();
            encoder.dropped(System.currentTimeMillis(), droppedBefore, SLOW, notice);
            noticeLen = placeNotice();
        }
        h.publish(staging.asSlice(NOTICE_ROOM - noticeLen), noticeLen + len, records + (noticeLen > 0 ? 1 : 0));
    }

    private static final String SLOW = "output not keeping up";

    private String failReason() {
        return "output write failed: " + failReason;
    }

    private void addUntold(long n, String reason) {
        if (n > 0) {
            untold += n;
            if (untoldReason == null || !SLOW.equals(reason)) {
                untoldReason = reason;
            }
        }
    }

    /** The buffer in the staging memory: written now, or held behind earlier ones, or counted as lost. */
    private void writeToOutput(int len, int records, long droppedBefore) {
        addUntold(droppedBefore, SLOW);
        if (gone) {
            lost += records;
            addUntold(records, "output gone");
            return;
        }
        if (failing || !held.isEmpty()) {
            hold(len, records);
            return;
        }
        notice.reset();
        if (untold > 0) {
            encoder.dropped(System.currentTimeMillis(), untold, untoldReason, notice);
        }
        int noticeLen = placeNotice();
        int err = writeOnce(staging.asSlice(NOTICE_ROOM - noticeLen), noticeLen + len);
        if (err == 0) {
            written += records;
            bytesWritten += noticeLen + len;
            if (untold > 0 && SLOW.equals(untoldReason)) {
                listener.warn("output " + name + " is moving again: " + untold + " records were dropped");
            }
            untold = 0;
            untoldReason = null;
            return;
        }
        if (failed(err, records)) {
            hold(len, records);
        }
    }

    /** Keeps the buffer in the staging memory for a retry, or counts it as lost when too much is held. */
    private void hold(int len, int records) {
        if (heldBytes + len > HOLD_BYTES) {
            lost += records;
            lostInEpisode += records;
            addUntold(records, failReason());
            logStillFailing(System.nanoTime());
            return;
        }
        byte[] copy = staging.asSlice(NOTICE_ROOM, len).toArray(JAVA_BYTE);
        held.add(new Held(copy, records, untold, untoldReason));
        heldBytes += len;
        untold = 0;
        untoldReason = null;
    }

    /**
     * A write failed with {@code err}: the reader gone for good (EPIPE), or a failure to retry after a back-off.
     *
     * @return true if the records are worth holding for a retry
     */
    private boolean failed(int err, int records) {
        long now = System.nanoTime();
        if (err == Errno.EPIPE) {
            gone = true;
            failing = false;
            lost += records;
            addUntold(records, "output gone");
            for (Held h : held) {
                lost += h.records;
            }
            held.clear();
            heldBytes = 0;
            listener.gone("output " + name + ": its reader went away (" + Errno.describe(err) + ")");
            return false;
        }
        failReason = Errno.describe(err);
        if (!failing) {
            failing = true;
            failingSinceNs = now;
            lastFailLogNs = now;
            lostInEpisode = 0;
            listener.warn("output " + name + ": cannot write: " + failReason + "; up to " + (HOLD_BYTES >> 20)
                    + " MiB of records are held for a retry (after " + BACKOFF_MIN_MS + " ms, then at least every "
                    + BACKOFF_MAX_MS + " ms, and at once on a reopen), later ones counted and dropped");
        } else {
            logStillFailing(now);
        }
        nextAttemptNs = now + backoffMs * 1_000_000L;
        backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
        return true;
    }

    /** Writes what is held, oldest first, until done or a write fails again. */
    private void retryHeld() {
        while (!held.isEmpty()) {
            Held h = held.peekFirst();
            int len = h.bytes.length;
            if (staging.byteSize() < NOTICE_ROOM + len) {
                stagingArena.close();
                stagingArena = Arena.ofConfined();
                staging = stagingArena.allocate(NOTICE_ROOM + len);
                pollFd = stagingArena.allocate(8, 4);
            }
            MemorySegment.copy(h.bytes, 0, staging, JAVA_BYTE, NOTICE_ROOM, len);
            notice.reset();
            if (h.droppedBefore > 0) {
                encoder.dropped(System.currentTimeMillis(), h.droppedBefore, h.reason, notice);
            }
            int noticeLen = placeNotice();
            int err = writeOnce(staging.asSlice(NOTICE_ROOM - noticeLen), noticeLen + len);
            if (err != 0) {
                failed(err, 0);
                return;
            }
            held.pollFirst();
            heldBytes -= len;
            written += h.records;
            bytesWritten += noticeLen + len;
        }
        if (untold > 0 && !writeNoticeAlone()) {
            return;
        }
        failing = false;
        backoffMs = BACKOFF_MIN_MS;
        listener.warn("output " + name + " is written again after " + (System.nanoTime() - failingSinceNs) / 1_000_000
                + " ms; " + (lostInEpisode == 0 ? "no record was lost" : lostInEpisode + " records could not be"
                + " written meanwhile (a dropped record in the output says so)"));
    }

    /** Writes a {@code dropped} record for {@link #untold} on its own; false if that fails too. */
    private boolean writeNoticeAlone() {
        notice.reset();
        encoder.dropped(System.currentTimeMillis(), untold, untoldReason, notice);
        int noticeLen = placeNotice();
        int err = writeOnce(staging.asSlice(NOTICE_ROOM - noticeLen), noticeLen);
        if (err != 0) {
            if (err == Errno.EPIPE) {
                failed(err, 0);
            }
            return false;
        }
        bytesWritten += noticeLen;
        untold = 0;
        untoldReason = null;
        return true;
    }

    private void logStillFailing(long now) {
        if (now - lastFailLogNs >= STILL_FAILING_LOG_MS * 1_000_000L) {
            lastFailLogNs = now;
            listener.warn("output " + name + ": still cannot write (" + failReason + "): " + lostInEpisode
                    + " records dropped since " + (now - failingSinceNs) / 1_000_000 + " ms");
        }
    }

    /** Copies {@link #notice} in front of the buffer in the staging memory; returns its length. */
    private int placeNotice() {
        int n = notice.length();
        MemorySegment.copy(notice.array(), 0, staging, JAVA_BYTE, NOTICE_ROOM - n, n);
        return n;
    }

    /**
     * Writes all of {@code buf}, retrying short writes and EINTR, and waiting for a non-blocking fd. A write
     * that fails after part of {@code buf} went out is cut back, so the output never ends inside a record.
     *
     * @return 0, or the errno of the failure
     */
    private int writeOnce(MemorySegment buf, long len) {
        rotateIfDue(len);
        int out = fd;
        if (truncateTo >= 0) {
            if (Libc.ftruncate(out, truncateTo) != 0) {
                return Libc.errno();
            }
            truncateTo = -1;
        }
        long off = 0;
        writeStartedNs = System.nanoTime() | 1;
        try {
            while (off < len) {
                long n = Libc.write(out, buf.asSlice(off), len - off);
                if (n >= 0) {
                    off += n;
                    fileBytes += n;
                    continue;
                }
                int errno = Libc.errno();
                if (errno == Errno.EINTR) {
                    continue;
                }
                if (errno == Errno.EAGAIN) {
                    awaitWritable(out); // stdout inherited non-blocking
                    continue;
                }
                if (off > 0) {
                    cutBack(out, off);
                }
                return errno;
            }
            return 0;
        } finally {
            writeStartedNs = 0;
        }
    }

    /** Removes the {@code written} bytes a failed write left at the end of a regular file. */
    private void cutBack(int out, long written) {
        if (!regularFile) {
            return; // a pipe or terminal cannot be cut back: the reader sees a partial line, as with any crash
        }
        long end = Libc.lseek(out, 0, 2);
        if (end < 0) {
            return;
        }
        long to = end - written;
        if (Libc.ftruncate(out, to) != 0) {
            truncateTo = to; // done before the next write, or that write is not made
        } else {
            fileBytes = to;
        }
    }

    private void awaitWritable(int out) {
        pollFd.set(JAVA_INT, 0, out);
        pollFd.set(JAVA_SHORT, 4, POLLOUT);
        pollFd.set(JAVA_SHORT, 6, (short) 0);
        Libc.poll(pollFd, 1, 1000);
    }

    /**
     * Size rotation, on the writer thread between two whole writes: if {@code len} more bytes would take the
     * current file past the limit (and it holds anything), the files move up one ({@code OUT.(keep-1)} over
     * {@code OUT.keep}, ..., {@code OUT} to {@code OUT.1}) and a new {@code OUT} is opened before the old fd is
     * closed. A rename or open that fails is logged; writing goes on into the current file and the rotation is
     * tried again a second later.
     */
    private void rotateIfDue(long len) {
        long max = rotation.maxBytes();
        if (max <= 0 || fileBytes == 0 || fileBytes + len <= max || !regularFile || truncateTo >= 0
                || (nextRotationNs != 0 && System.nanoTime() - nextRotationNs < 0)) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            for (int i = rotation.keep() - 1; i >= 1; i--) {
                if (Libc.rename(Libc.cString(arena, path + "." + i), Libc.cString(arena, path + "." + (i + 1))) != 0
                        && Libc.errno() != Errno.ENOENT) {
                    rotationFailed("rename " + path + "." + i + ": " + Errno.describe(Libc.errno()));
                    return;
                }
            }
            if (Libc.rename(Libc.cString(arena, path), Libc.cString(arena, path + ".1")) != 0) {
                rotationFailed("rename " + path + ": " + Errno.describe(Libc.errno()));
                return;
            }
        }
        int newFd;
        try {
            newFd = Syscalls.open(path, openFlags(), mode);
        } catch (NativeCallException e) {
            rotationFailed(e.getMessage());
            return; // still writing to the file now called OUT.1
        }
        int old = fd;
        fd = newFd;
        fileBytes = 0;
        nextRotationNs = 0;
        rotations++;
        Libc.close(old);
    }

    private void rotationFailed(String why) {
        if (nextRotationNs == 0) {
            listener.warn("output " + name + ": cannot rotate: " + why + "; still writing to the current file");
        }
        nextRotationNs = (System.nanoTime() + 1_000_000_000L) | 1;
    }

    /** Size rotations done so far. */
    public long rotations() {
        return rotations;
    }

    /** On the writer thread, between two buffers: the path again, then the old fd closed. */
    private void reopen() {
        if (path == null) {
            return; // stdout: nothing to reopen
        }
        String target = nextPath != null ? nextPath : path;
        int newFd;
        try {
            newFd = Syscalls.open(target, openFlags(), mode);
        } catch (NativeCallException e) {
            listener.warn("output " + target + ": cannot " + (target.equals(path) ? "reopen" : "open") + ": "
                    + e.getMessage() + "; still writing to the file it had open");
            return;
        }
        if (!target.equals(path)) {
            path = target;
            name = target;
            nextPath = null;
        }
        int old = fd;
        if (truncateTo >= 0) {
            Libc.ftruncate(old, truncateTo);
            truncateTo = -1;
        }
        fd = newFd;
        regularFile = isRegularFile(newFd);
        fileBytes = Math.max(0, Libc.lseek(newFd, 0, 2));
        Libc.close(old);
        gone = false;
        if (failing) {
            nextAttemptNs = System.nanoTime(); // try the new file at once
            backoffMs = BACKOFF_MIN_MS;
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // Stop

    /**
     * Hands over what is buffered (with any count of records dropped just before) and waits up to
     * {@code timeoutMs} for everything to be written. Buffers handed over from now on are tried even while the
     * output is backing off after a failure.
     *
     * @return false if the writer did not finish in time; {@link #unwritten()} then says how many records
     *     were still waiting
     */
    public boolean finish(long timeoutMs) {
        if (!finished) {
            finished = true;
            finishing = true;
            producers.lock(); // every reading thread has stopped by now; this only orders the memory
            try {
                if (current.writer.length() > 0 || pendingDropped > 0) {
                    Chunk last = current;
                    last.droppedBefore = pendingDropped;
                    pendingDropped = 0;
                    handedOver += last.records;
                    full.add(last);
                }
            } finally {
                producers.unlock();
            }
            full.add(STOP);
        }
        try {
            if (timeoutMs > 0) { // join(0) would wait forever on an output that never moves
                writerThread.join(timeoutMs);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !writerThread.isAlive();
    }

    /** Stops the writer (waiting for nothing: call {@link #finish} first to keep what is buffered). */
    @Override
    public void close() {
        finish(0);
        writerThread.interrupt();
        if (ownsFd) {
            try {
                writerThread.join(1000); // it may be closing the old fd of a reopen
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            Libc.close(fd);
        }
    }
}
