package io.fanotifyd.it;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * What systemd is to a {@code Type=notify} service, for tests on machines where systemd is not PID 1: a
 * datagram socket bound at a path or an abstract name, to give a daemon as {@code $NOTIFY_SOCKET}. It asks the
 * kernel for each sender's credentials ({@code SO_PASSCRED}), so every message comes with the pid that sent
 * it, as systemd checks it ({@code NotifyAccess=main}). Java's own UNIX-domain channels are stream-only, so
 * this is FFM: socket, setsockopt, bind, poll, recvmsg.
 */
public final class NotifySocket implements AutoCloseable {
    /** One datagram: when it came (System.nanoTime), from which pid, and its text. */
    public record Message(long receivedNs, int pid, String text) {
        public boolean has(String line) {
            return ("\n" + text + "\n").contains("\n" + line + "\n");
        }

        /** The value of {@code KEY=} in this message, or null. */
        public String value(String key) {
            for (String l : text.split("\n")) {
                if (l.startsWith(key + "=")) {
                    return l.substring(key.length() + 1);
                }
            }
            return null;
        }
    }

    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 02000000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_PASSCRED = 16;
    private static final int SCM_CREDENTIALS = 2;
    private static final short POLLIN = 1;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SOCKET = handle("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT));
    private static final MethodHandle SETSOCKOPT = handle("setsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle BIND = handle("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS,
            JAVA_INT));
    private static final MethodHandle POLL = handle("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG,
            JAVA_INT));
    private static final MethodHandle RECVMSG = handle("recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT,
            ADDRESS, JAVA_INT));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd);
    }

    private final String address;
    private final Path path;
    private final int fd;
    private final List<Message> messages = new ArrayList<>();
    private final Thread reader;
    private volatile boolean closed;
    private volatile Consumer<Message> onMessage = m -> { };

    private NotifySocket(String address, Path path) throws IOException {
        this.address = address;
        this.path = path;
        try {
            fd = (int) SOCKET.invokeExact(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw new IOException("socket(AF_UNIX, SOCK_DGRAM) failed");
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment one = arena.allocate(JAVA_INT);
                one.set(JAVA_INT, 0, 1);
                if ((int) SETSOCKOPT.invokeExact(fd, SOL_SOCKET, SO_PASSCRED, one, 4) != 0) {
                    throw new IOException("setsockopt(SO_PASSCRED) failed");
                }
                byte[] name = address.getBytes(StandardCharsets.UTF_8);
                MemorySegment addr = arena.allocate(110);
                addr.set(JAVA_SHORT, 0, (short) AF_UNIX);
                MemorySegment.copy(name, 0, addr, JAVA_BYTE, 2, name.length);
                boolean abstractName = name[0] == '@';
                if (abstractName) {
                    addr.set(JAVA_BYTE, 2, (byte) 0);
                }
                if ((int) BIND.invokeExact(fd, addr, 2 + name.length + (abstractName ? 0 : 1)) != 0) {
                    throw new IOException("bind(" + address + ") failed");
                }
            }
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
        reader = Thread.ofPlatform().daemon().name("notify-socket").start(this::read);
    }

    /** Bound at {@code dir/notify.sock}. */
    public static NotifySocket at(Path dir) throws IOException {
        Path p = dir.resolve("notify.sock");
        Files.deleteIfExists(p);
        return new NotifySocket(p.toString(), p);
    }

    /** Bound at a fresh abstract name ({@code @fanotifyd-test-...}). */
    public static NotifySocket abstractName() throws IOException {
        return new NotifySocket("@fanotifyd-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime(), null);
    }

    /** What to give as {@code NOTIFY_SOCKET}. */
    public String address() {
        return address;
    }

    /** Runs {@code action} on the reader thread for each message as it arrives, before it is listed. */
    public void onMessage(Consumer<Message> action) {
        onMessage = action;
    }

    public List<Message> messages() {
        synchronized (messages) {
            return List.copyOf(messages);
        }
    }

    /** Waits (at most {@code seconds}) for a message matching {@code match} at index {@code from} or later. */
    public Message await(Predicate<Message> match, int from, String what, int seconds) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        synchronized (messages) {
            while (true) {
                for (int i = from; i < messages.size(); i++) {
                    if (match.test(messages.get(i))) {
                        return messages.get(i);
                    }
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("no " + what + " within " + seconds + " s; messages: " + messages);
                }
                try {
                    messages.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError(e);
                }
            }
        }
    }

    public Message await(Predicate<Message> match, String what, int seconds) {
        return await(match, 0, what, seconds);
    }

    /** The index of {@code m} in {@link #messages()}. */
    public int indexOf(Message m) {
        synchronized (messages) {
            return messages.indexOf(m);
        }
    }

    private void read() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pfd = arena.allocate(8, 4);
            MemorySegment buf = arena.allocate(4096);
            MemorySegment iov = arena.allocate(16, 8);
            MemorySegment control = arena.allocate(64, 8);
            MemorySegment msg = arena.allocate(56, 8);
            while (!closed) {
                pfd.set(JAVA_INT, 0, fd);
                pfd.set(JAVA_SHORT, 4, POLLIN);
                pfd.set(JAVA_SHORT, 6, (short) 0);
                if ((int) POLL.invokeExact(pfd, 1L, 200) <= 0) {
                    continue;
                }
                iov.set(ADDRESS, 0, buf);
                iov.set(JAVA_LONG, 8, buf.byteSize());
                msg.fill((byte) 0);
                msg.set(ADDRESS, 16, iov); // msg_iov
                msg.set(JAVA_LONG, 24, 1); // msg_iovlen
                msg.set(ADDRESS, 32, control); // msg_control
                msg.set(JAVA_LONG, 40, control.byteSize()); // msg_controllen
                long n = (long) RECVMSG.invokeExact(fd, msg, 0);
                if (n < 0) {
                    continue;
                }
                long received = System.nanoTime();
                int pid = -1;
                long controlLen = msg.get(JAVA_LONG, 40);
                // One cmsghdr: cmsg_len (size_t), cmsg_level, cmsg_type, then struct ucred {pid, uid, gid}.
                if (controlLen >= 28 && control.get(JAVA_INT, 8) == SOL_SOCKET
                        && control.get(JAVA_INT, 12) == SCM_CREDENTIALS) {
                    pid = control.get(JAVA_INT, 16);
                }
                String text = new String(buf.asSlice(0, n).toArray(JAVA_BYTE), StandardCharsets.UTF_8);
                Message m = new Message(received, pid, text);
                onMessage.accept(m);
                synchronized (messages) {
                    messages.add(m);
                    messages.notifyAll();
                }
            }
        } catch (Throwable t) {
            if (!closed) {
                System.err.println("notify socket reader failed: " + t);
            }
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        try {
            reader.join(2000);
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            // closing a test socket
        }
        if (path != null) {
            Files.deleteIfExists(path);
        }
    }
}
