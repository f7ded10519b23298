package io.fanotifyd.daemon;

import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.Event;
import io.fanotifyd.kernel.CorruptEventException;
import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.sink.FdOutput;
import io.fanotifyd.sink.JsonWriter;
import io.fanotifyd.sink.RecordEncoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The reading thread: {@code poll} on the fanotify fd and a wake-up eventfd, read a batch, enrich and encode
 * each event into the output buffer, close the fds the kernel handed over. Output is written in large writes:
 * when the buffer passes {@link #FLUSH_BYTES}, and otherwise at most {@code flushMs} after the first unwritten
 * record, so a quiet stream still appears promptly.
 */
final class EventLoop {
    static final int FLUSH_BYTES = 256 * 1024;
    private static final short POLLIN = 1;

    private final FanotifyGroup group;
    private final int wakeFd;
    private final Enricher enricher;
    private final RecordEncoder encoder;
    private final FdOutput output;
    private final int flushMs;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment readBuffer;
    private final MemorySegment pollFds = arena.allocate(16, 8);
    private final MemorySegment scratch = arena.allocate(8, 8);
    private final EventCursor cursor = new EventCursor();
    private final Event event = new Event();
    private final Counters counters;
    private volatile boolean stopping;
    private long batch;

    EventLoop(FanotifyGroup group, int wakeFd, Enricher enricher, RecordEncoder encoder, FdOutput output,
              int readBufferBytes, int flushMs, Counters counters) {
        this.group = group;
        this.wakeFd = wakeFd;
        this.enricher = enricher;
        this.encoder = encoder;
        this.output = output;
        this.flushMs = flushMs;
        this.readBuffer = arena.allocate(readBufferBytes, 8);
        this.counters = counters;
    }

    /** Asks the loop to stop; safe from any thread. */
    void stop() {
        stopping = true;
        Syscalls.signalEventfd(wakeFd);
    }

    /** Runs until {@link #stop()}; then writes out what is buffered. */
    void run() {
        int[] fds = {group.fd(), wakeFd};
        short[] revents = new short[2];
        long flushDeadline = 0;
        try {
            while (!stopping) {
                int timeout = -1;
                if (output.pending() > 0) {
                    timeout = (int) Math.max(0, flushDeadline - System.nanoTime() / 1_000_000);
                }
                Syscalls.pollIn(pollFds, fds, revents, timeout);
                if (stopping) {
                    break;
                }
                if ((revents[1] & POLLIN) != 0) {
                    Syscalls.drainEventfd(wakeFd, scratch);
                }
                boolean hadPending = output.pending() > 0;
                if ((revents[0] & POLLIN) != 0) {
                    drain();
                }
                long nowMs = System.nanoTime() / 1_000_000;
                if (!hadPending && output.pending() > 0) {
                    flushDeadline = nowMs + flushMs;
                }
                if (output.pending() >= FLUSH_BYTES || (output.pending() > 0 && nowMs >= flushDeadline)) {
                    output.flush();
                }
            }
        } finally {
            output.flush();
        }
    }

    private void drain() {
        while (true) {
            long n = group.read(readBuffer);
            if (n == 0) {
                return;
            }
            process(n);
            if (output.pending() >= FLUSH_BYTES) {
                output.flush();
            }
            // A batch well short of the buffer means the queue is (nearly) empty: back to poll rather
            // than pay a read that returns EAGAIN.
            if (n < readBuffer.byteSize() / 2) {
                return;
            }
        }
    }

    private void process(long length) {
        batch++;
        long nowMs = System.currentTimeMillis();
        JsonWriter w = output.buffer();
        cursor.reset(readBuffer, length);
        try {
            while (cursor.next()) {
                int fd = cursor.fd();
                int pidfd = cursor.hasPidfd() ? cursor.pidfd() : -1;
                int mark = w.length();
                try {
                    if (enricher.fill(cursor, event, batch, nowMs)) {
                        if (event.kind() == Event.KIND_OVERFLOW) {
                            counters.overflows++;
                            encoder.overflow(nowMs, event.mask(), counters.overflows, w);
                            Log.warn("kernel queue overflowed: events were lost (overflow #" + counters.overflows
                                    + "); see --queue-size");
                        } else {
                            encoder.event(event, w);
                            counters.records++;
                        }
                    }
                } catch (RuntimeException e) {
                    w.truncate(mark);
                    counters.errors++;
                    Log.error("event at byte " + cursor.offset() + " dropped: " + e);
                } finally {
                    if (fd >= 0) {
                        Libc.close(fd);
                    }
                    if (pidfd >= 0) {
                        Libc.close(pidfd);
                    }
                }
            }
        } catch (CorruptEventException e) {
            counters.errors++;
            Log.error(e.getMessage() + "; rest of the batch skipped");
        }
    }

    /** What the loop counted; read after it stopped, or racily for stats. */
    static final class Counters {
        long records;
        long overflows;
        long errors;
    }

    static boolean isOutputFailure(RuntimeException e) {
        return e instanceof NativeCallException n && "write".equals(n.call());
    }
}
