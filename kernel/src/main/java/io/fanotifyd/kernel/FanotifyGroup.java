package io.fanotifyd.kernel;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** One fanotify group: its fd, its marks, reading events and answering permission events. */
public final class FanotifyGroup implements AutoCloseable {
    private static final String[] INIT_FLAG_NAMES = {
        "FAN_CLOEXEC", "FAN_NONBLOCK", "FAN_CLASS_CONTENT", "FAN_CLASS_PRE_CONTENT", "FAN_UNLIMITED_QUEUE",
        "FAN_UNLIMITED_MARKS", "FAN_ENABLE_AUDIT", "FAN_REPORT_PIDFD", "FAN_REPORT_TID", "FAN_REPORT_FID",
        "FAN_REPORT_DIR_FID", "FAN_REPORT_NAME", "FAN_REPORT_TARGET_FID", "FAN_REPORT_FD_ERROR",
    };
    private static final String[] MARK_FLAG_NAMES = {
        "FAN_MARK_ADD", "FAN_MARK_REMOVE", "FAN_MARK_DONT_FOLLOW", "FAN_MARK_ONLYDIR", "FAN_MARK_MOUNT",
        "FAN_MARK_IGNORED_MASK", "FAN_MARK_IGNORED_SURV_MODIFY", "FAN_MARK_FLUSH", "FAN_MARK_FILESYSTEM",
        "FAN_MARK_EVICTABLE", "FAN_MARK_IGNORE",
    };

    private final int fd;
    private final int initFlags;
    private final MemorySegment response = Arena.global().allocate(8, 4);
    private volatile boolean closed;

    private FanotifyGroup(int fd, int initFlags) {
        this.fd = fd;
        this.initFlags = initFlags;
    }

    /**
     * {@code fanotify_init(flags, eventFFlags)}.
     *
     * @throws NativeCallException on failure; for EPERM the message says that root or CAP_SYS_ADMIN is needed
     */
    public static FanotifyGroup open(int flags, int eventFFlags) {
        int fd = Libc.fanotifyInit(flags, eventFFlags);
        if (fd < 0) {
            int errno = Libc.errno();
            String args = "flags=" + flagNames(flags, INIT_FLAG_NAMES) + ", event_f_flags=0" +
                    Integer.toOctalString(eventFFlags);
            if (errno == Errno.EPERM) {
                throw new NativeCallException("fanotify_init", args + "; fanotify needs root or CAP_SYS_ADMIN",
                        errno);
            }
            throw new NativeCallException("fanotify_init", args, errno);
        }
        return new FanotifyGroup(fd, flags);
    }

    public int fd() {
        return fd;
    }

    public int initFlags() {
        return initFlags;
    }

    /** {@code fanotify_mark(fd, flags, mask, AT_FDCWD, path)}; the exception names the path. */
    public void mark(int flags, long mask, String path) {
        try (Arena arena = Arena.ofConfined()) {
            int rc = Libc.fanotifyMark(fd, flags, mask, Fanotify.AT_FDCWD, Libc.cString(arena, path));
            if (rc < 0) {
                throw new NativeCallException("fanotify_mark", "fd=" + fd + ", flags="
                        + flagNames(flags, MARK_FLAG_NAMES) + ", mask=" + EventMask.names(mask) + ", path="
                        + path, Libc.errno());
            }
        }
    }

    /**
     * Reads queued events into {@code buf}.
     *
     * @return bytes read; 0 if the (non-blocking) queue is empty
     */
    public long read(MemorySegment buf) {
        return read(buf, buf.byteSize());
    }

    /**
     * Reads queued events into the first {@code count} bytes of {@code buf}. In FD mode the kernel opens one fd
     * per event read (and a pidfd with {@code FAN_REPORT_PIDFD}): a smaller {@code count} bounds how many
     * descriptors one read can make.
     *
     * @return bytes read; 0 if the (non-blocking) queue is empty
     * @throws NativeCallException on any other failure, e.g. EMFILE when the kernel could not make the first
     *     event's fd (without {@code FAN_REPORT_FD_ERROR}; a permission event is then denied by the kernel)
     */
    public long read(MemorySegment buf, long count) {
        long n = Libc.read(fd, buf, count);
        if (n < 0) {
            int errno = Libc.errno();
            if (errno == Errno.EAGAIN || errno == Errno.EINTR) {
                return 0;
            }
            throw new NativeCallException("read", "fanotify fd=" + fd + ", count=" + count, errno);
        }
        return n;
    }

    private static final long FIONREAD = 0x541B;
    private final MemorySegment queued = Arena.global().allocate(8, 8);

    /**
     * Events waiting in the kernel queue, or -1 if the kernel does not say. {@code FIONREAD} on a fanotify fd
     * counts {@code FAN_EVENT_METADATA_LEN} (24) bytes per queued event, whatever the event's info records
     * add to it when read (a FID event with a name and a pidfd reads as ~90 bytes): so it gives the number of
     * events, not the bytes a read would return. Merged events are one. Any thread: the permission thread asks
     * it of the notification group while the reader does.
     */
    public long queuedEvents() {
        synchronized (queued) {
            if (Libc.ioctl(fd, FIONREAD, queued) != 0) {
                return -1;
            }
            return (queued.get(JAVA_INT, 0) & 0xffffffffL) / Fanotify.METADATA_SIZE;
        }
    }

    /**
     * {@link #queuedEvents()} into the caller's own 4-byte {@code scratch}, without the lock the group's threads
     * share: for a thread that must never make them wait (the metrics), -1 on error.
     */
    public long queuedEvents(MemorySegment scratch) {
        if (Libc.ioctl(fd, FIONREAD, scratch) != 0) {
            return -1;
        }
        return (scratch.get(JAVA_INT, 0) & 0xffffffffL) / Fanotify.METADATA_SIZE;
    }

    private static final int MFD_CLOEXEC = 1;

    /**
     * Wakes a thread blocked in {@code read()} on this permission group, which closing the fd would not do (the
     * read holds its own reference to the file): puts an {@code FAN_OPEN_PERM} mark on an anonymous file of
     * our own ({@code memfd_create}) and opens that file through {@code /proc/self/fd} on a new thread. The
     * reader then gets a permission event from this process's pid, which it must allow: the opening thread
     * waits for that answer, or for the group to be closed, which releases every event still pending.
     *
     * @return the opening thread; it ends once its open was answered
     * @throws NativeCallException if the file cannot be made or marked
     */
    public Thread wakeBlockedReader() {
        int memfd;
        try (Arena arena = Arena.ofConfined()) {
            memfd = Libc.memfdCreate(arena.allocateFrom("fanotifyd-wake"), MFD_CLOEXEC);
        }
        if (memfd < 0) {
            throw new NativeCallException("memfd_create", "fanotifyd-wake", Libc.errno());
        }
        if (Libc.fanotifyMark(fd, Fanotify.FAN_MARK_ADD, EventMask.OPEN_PERM, memfd, MemorySegment.NULL) < 0) {
            int errno = Libc.errno();
            Libc.close(memfd);
            throw new NativeCallException("fanotify_mark", "fd=" + fd + ", FAN_MARK_ADD, FAN_OPEN_PERM, memfd "
                    + memfd, errno);
        }
        return Thread.ofPlatform().daemon().name("fanotifyd-perm-wake").start(() -> {
            try {
                int opened = Syscalls.open("/proc/self/fd/" + memfd, Fanotify.O_RDONLY | Fanotify.O_CLOEXEC, 0);
                if (opened >= 0) {
                    Libc.close(opened);
                }
            } catch (RuntimeException e) {
                // the group was closed meanwhile, or the open failed: either way the reader is free
            } finally {
                Libc.close(memfd);
            }
        });
    }

    /**
     * Answers a permission event: writes {@code struct fanotify_response {fd, response}}.
     *
     * @return 0, or the errno of a failed write (the caller decides; the answer must never be retried blindly)
     */
    public int respond(int eventFd, int answer) {
        response.set(JAVA_INT, 0, eventFd);
        response.set(JAVA_INT, 4, answer);
        long n = Libc.write(fd, response, 8);
        return n == 8 ? 0 : Libc.errno();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }

    static String flagNames(int flags, String[] names) {
        if (flags == 0) {
            return "0";
        }
        StringBuilder sb = new StringBuilder();
        int known = 0;
        for (int bit = 0; bit < names.length; bit++) {
            if ((flags & (1 << bit)) != 0) {
                known |= 1 << bit;
                sb.append(sb.isEmpty() ? "" : "|").append(names[bit]);
            }
        }
        if ((flags & ~known) != 0) {
            sb.append(sb.isEmpty() ? "" : "|").append("0x").append(Integer.toHexString(flags & ~known));
        }
        return sb.toString();
    }
}
