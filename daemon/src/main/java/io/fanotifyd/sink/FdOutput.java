package io.fanotifyd.sink;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The JSONL output: a file opened for appending, or stdout. Records accumulate in a {@link JsonWriter}; a flush
 * writes them with as few {@code write(2)} calls as possible, each carrying only whole lines: once a flush has
 * returned the output ends with a complete record, and another process appending to the same file never lands
 * inside one of ours. (A reader racing a write in progress can still see its first part, as with any file.)
 */
public final class FdOutput implements AutoCloseable {
    private final String name;
    private final int fd;
    private final boolean ownsFd;
    private final JsonWriter buffer;
    private final Arena arena = Arena.ofShared();
    private MemorySegment staging;
    private long bytesWritten;

    private FdOutput(String name, int fd, boolean ownsFd, int capacity) {
        this.name = name;
        this.fd = fd;
        this.ownsFd = ownsFd;
        this.buffer = new JsonWriter(capacity);
        this.staging = arena.allocate(capacity);
    }

    /** {@code "-"} is stdout; anything else is opened {@code O_WRONLY|O_APPEND|O_CREAT}, mode 0640. */
    public static FdOutput open(String path, int capacity) {
        if ("-".equals(path)) {
            return new FdOutput("stdout", 1, false, capacity);
        }
        int fd = Syscalls.open(path, Fanotify.O_WRONLY | Fanotify.O_APPEND | Fanotify.O_CREAT
                | Fanotify.O_CLOEXEC | Fanotify.O_LARGEFILE, 0640);
        return new FdOutput(path, fd, true, capacity);
    }

    /** Where records are appended. */
    public JsonWriter buffer() {
        return buffer;
    }

    public int pending() {
        return buffer.length();
    }

    /**
     * Writes everything buffered.
     *
     * @throws NativeCallException if the write fails (disk full, reader gone): the caller decides
     */
    public void flush() {
        int len = buffer.length();
        if (len == 0) {
            return;
        }
        if (staging.byteSize() < len) {
            staging = arena.allocate(Math.max(len, staging.byteSize() * 2));
        }
        MemorySegment.copy(buffer.array(), 0, staging, JAVA_BYTE, 0, len);
        buffer.reset();
        Syscalls.writeFully(fd, staging, len, "output " + name);
        bytesWritten += len;
    }

    public long bytesWritten() {
        return bytesWritten;
    }

    public String name() {
        return name;
    }

    public int fd() {
        return fd;
    }

    @Override
    public void close() {
        if (ownsFd) {
            Libc.close(fd);
        }
    }
}
