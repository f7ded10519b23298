package io.fanotifyd.sink;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.Syscalls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The JSONL output (a file opened for appending, or stdout), written by a thread of its own so that a slow or
 * stuck reader of the output never holds up the thread that reads events, and above all never a pending
 * permission event.
 *
 * <p>The event thread appends records to the current buffer and hands it over with {@link #flush}. Each
 * {@code write(2)} carries only whole lines: once a buffer is written the output ends with a complete record,
 * and another process appending to the same file never lands inside one of ours. When every buffer is still
 * waiting to be written:
 * <ul>
 *   <li>observe mode ({@code dropWhenFull=false}): {@link #flush} waits for one; nothing is lost, the kernel
 *       queue holds the events meanwhile;</li>
 *   <li>permission mode ({@code dropWhenFull=true}): the current buffer's records are dropped and counted
 *       ({@link #dropped()}), and the event thread goes on at once. The writer thread writes a {@code dropped}
 *       record with the count as soon as the output takes data again, so the count itself cannot be lost,
 *       and one log line marks the start and one the end of each episode.</li>
 * </ul>
 */
public final class FdOutput implements AutoCloseable {
    private static final class Chunk {
        final JsonWriter writer;
        int records;

        Chunk(int capacity) {
            writer = new JsonWriter(capacity);
        }
    }

    private static final Chunk STOP = new Chunk(16);

    private final String name;
    private final int fd;
    private final boolean ownsFd;
    private final boolean dropWhenFull;
    private final BlockingQueue<Chunk> free;
    private final BlockingQueue<Chunk> full;
    private final Thread writerThread;
    private Chunk current;
    private volatile RuntimeException failure;
    private volatile long bytesWritten;
    private final java.util.concurrent.atomic.AtomicLong dropped = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.function.Consumer<String> warn;
    private boolean dropping;
    private boolean finished;
    private final int maxBuffers;
    private final int bufferBytes;
    private int allocated;
    private volatile SocketHub hub;

    /** Subscribers that get every byte written from now on (set once, before events flow). */
    public void subscribers(SocketHub hub) {
        this.hub = hub;
    }

    private FdOutput(String name, int fd, boolean ownsFd, int bufferBytes, int buffers, boolean dropWhenFull,
                     java.util.function.Consumer<String> warn) {
        this.warn = warn;
        this.name = name;
        this.fd = fd;
        this.ownsFd = ownsFd;
        this.dropWhenFull = dropWhenFull;
        this.free = new ArrayBlockingQueue<>(buffers);
        this.full = new ArrayBlockingQueue<>(buffers + 1);
        this.maxBuffers = buffers;
        this.bufferBytes = bufferBytes;
        this.current = new Chunk(bufferBytes);
        this.allocated = 1;
        this.writerThread = Thread.ofPlatform().daemon().name("fanotifyd-output").start(this::writeLoop);
    }

    /**
     * {@code "-"} is stdout; anything else is opened {@code O_WRONLY|O_APPEND|O_CREAT}, mode 0640.
     *
     * @param buffers      at most this many buffers in flight, made as needed, each of {@code bufferBytes} to
     *                     start with (they grow if needed)
     * @param dropWhenFull permission mode: never wait for the output
     * @param warn         where the start and end of a dropping episode are told
     */
    public static FdOutput open(String path, int bufferBytes, int buffers, boolean dropWhenFull,
                                java.util.function.Consumer<String> warn) {
        if ("-".equals(path)) {
            return new FdOutput("stdout", 1, false, bufferBytes, buffers, dropWhenFull, warn);
        }
        int flags = Fanotify.O_WRONLY | Fanotify.O_APPEND | Fanotify.O_CLOEXEC | Fanotify.O_LARGEFILE;
        // O_EXCL first: knowing we created the file lets a failed start-up remove it again.
        boolean created = true;
        int fd;
        try {
            fd = Syscalls.open(path, flags | Fanotify.O_CREAT | Fanotify.O_EXCL, 0640);
        } catch (io.fanotifyd.kernel.NativeCallException e) {
            if (e.errno() != io.fanotifyd.kernel.Errno.EEXIST) {
                throw e;
            }
            created = false;
            fd = Syscalls.open(path, flags | Fanotify.O_CREAT, 0640);
        }
        FdOutput out = new FdOutput(path, fd, true, bufferBytes, buffers, dropWhenFull, warn);
        out.created = created;
        return out;
    }

    private boolean created;

    /** After a failed start-up: removes the output file if this process created it and wrote nothing. */
    public void removeIfCreatedAndEmpty() {
        if (created && bytesWritten == 0 && current.writer.length() == 0) {
            try (Arena arena = Arena.ofConfined()) {
                Libc.unlink(Libc.cString(arena, name));
            }
        }
    }

    /** Where the event thread appends records; call {@link #recordAdded()} after each whole record. */
    public JsonWriter buffer() {
        return current.writer;
    }

    public void recordAdded() {
        current.records++;
    }

    /** Bytes appended and not yet handed over. */
    public int pending() {
        return current.writer.length();
    }

    /**
     * Hands the current buffer to the writer thread.
     *
     * @param stopping tells a waiting (observe-mode) flush to give up, so that a stuck output cannot keep the
     *                 daemon from stopping
     * @throws RuntimeException the writer's failure (disk full, reader gone), once it has happened
     */
    public void flush(BooleanSupplier stopping) {
        throwIfFailed();
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
        while (next == null && !dropWhenFull && !stopping.getAsBoolean()) {
            try {
                next = free.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            throwIfFailed();
        }
        if (next == null) {
            if (!dropping) {
                dropping = true;
                warn.accept("output " + name + " is not keeping up: dropping records until it does (permission"
                        + " events are still answered)");
            }
            dropped.addAndGet(current.records);
            current.writer.reset();
            current.records = 0;
            return;
        }
        dropping = false;
        full.add(current);
        current = next;
    }

    /** Records dropped because the output did not keep up (permission mode only). */
    public long dropped() {
        return dropped.get();
    }

    public long bytesWritten() {
        return bytesWritten;
    }

    public String name() {
        return name;
    }

    private void throwIfFailed() {
        RuntimeException f = failure;
        if (f != null) {
            throw f;
        }
    }

    private void writeLoop() {
        RecordEncoder encoder = new RecordEncoder();
        JsonWriter notice = new JsonWriter(256);
        long reported = 0;
        Arena arena = Arena.ofConfined();
        try {
            MemorySegment staging = arena.allocate(1 << 20);
            while (true) {
                Chunk c = full.take();
                if (c == STOP) {
                    return;
                }
                // Drops since the last write: told first, by the thread that now knows the output moves.
                long lost = dropped.get() - reported;
                notice.reset();
                if (lost > 0) {
                    encoder.dropped(System.currentTimeMillis(), lost, notice);
                    reported += lost;
                    warn.accept("output " + name + " is moving again: " + lost + " records were dropped");
                }
                int len = notice.length() + c.writer.length();
                if (staging.byteSize() < len) {
                    // A record bigger than the buffer (long paths, many alerts): the old one is freed, not kept.
                    arena.close();
                    arena = Arena.ofConfined();
                    staging = arena.allocate(Math.max(len, staging.byteSize() * 2));
                }
                MemorySegment.copy(notice.array(), 0, staging, JAVA_BYTE, 0, notice.length());
                MemorySegment.copy(c.writer.array(), 0, staging, JAVA_BYTE, notice.length(), c.writer.length());
                int records = c.records + (lost > 0 ? 1 : 0);
                c.writer.reset();
                c.records = 0;
                free.add(c);
                if (failure == null) {
                    SocketHub h = hub;
                    if (h != null) {
                        h.streamLock().lock();
                    }
                    try {
                        Syscalls.writeFully(fd, staging, len, "output " + name);
                        bytesWritten += len;
                        if (h != null) {
                            h.publish(staging, len, records);
                        }
                    } catch (RuntimeException e) {
                        failure = e;
                    } finally {
                        if (h != null) {
                            h.streamLock().unlock();
                        }
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            arena.close();
        }
    }

    /**
     * Hands over what is buffered and waits up to {@code timeoutMs} for it to be written.
     *
     * @return false if the output did not take everything in time (records still in flight are lost then)
     */
    public boolean finish(long timeoutMs) {
        if (!finished) {
            finished = true;
            if (current.writer.length() > 0) {
                full.add(current);
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

    /** The writer's failure, if any (to be reported after {@link #finish}). */
    public RuntimeException failure() {
        return failure;
    }

    /** Stops the writer (waiting for nothing: call {@link #finish} first to keep what is buffered). */
    @Override
    public void close() {
        finish(0);
        writerThread.interrupt();
        if (ownsFd) {
            Libc.close(fd);
        }
    }
}
