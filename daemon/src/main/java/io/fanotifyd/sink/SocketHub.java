package io.fanotifyd.sink;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.kernel.UnixSocket;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Streams the output to Unix-socket subscribers: from the moment it connects, each subscriber receives
 * exactly the bytes written to the output, in whole records.
 *
 * <p>The output's writer thread {@link #publish publishes} what it has just written; one thread of the hub's
 * own writes to the subscribers with non-blocking sockets, so no subscriber can hold up the output, the
 * event thread, or another subscriber. Each subscriber has a bounded backlog ({@code maxBacklogBytes}); what
 * does not fit is dropped whole, counted, and announced to that subscriber with a {@code dropped} record as
 * soon as it has caught up (a slow consumer learns exactly how much it missed and keeps its connection; a
 * disconnect would lose more, including the knowledge of the loss). At most {@code maxClients} subscribers;
 * more are refused with a log line. Each connection is logged with the peer's pid and uid.
 */
public final class SocketHub implements AutoCloseable {
    private static final short POLLIN = 1;
    private static final short POLLOUT = 4;
    private static final short POLLERR = 8;
    private static final short POLLHUP = 16;

    private static final class Client {
        final int fd;
        final UnixSocket.PeerCredentials peer;
        final ArrayDeque<byte[]> backlog = new ArrayDeque<>();
        long backlogBytes;
        int headOffset;
        long droppedRecords;
        long droppedTotal;

        Client(int fd, UnixSocket.PeerCredentials peer) {
            this.fd = fd;
            this.peer = peer;
        }

        String who() {
            return "subscriber pid " + peer.pid() + " uid " + peer.uid();
        }
    }

    private final String path;
    private final int listenFd;
    private final int wakeFd;
    private final int maxClients;
    private final long maxBacklogBytes;
    private final Consumer<String> log;
    private final List<Client> clients = new CopyOnWriteArrayList<>();
    private final Thread thread;
    private final long inode;
    private volatile boolean stopping;
    private volatile long droppedRecords;
    private volatile long refused;
    private volatile long connected;

    private SocketHub(String path, int listenFd, int maxClients, long maxBacklogBytes, Consumer<String> log) {
        this.path = path;
        this.listenFd = listenFd;
        this.wakeFd = Syscalls.eventfd();
        this.maxClients = maxClients;
        this.maxBacklogBytes = maxBacklogBytes;
        this.log = log;
        this.inode = Syscalls.stat(path, true).inode();
        this.thread = Thread.ofPlatform().daemon().name("fanotifyd-socket").start(this::run);
    }

    /**
     * Listens at {@code path} (a stale socket file is replaced, a live one is an error) with {@code mode} and,
     * unless -1, group {@code gid}.
     *
     * @throws io.fanotifyd.kernel.NativeCallException if the socket cannot be set up
     */
    public static SocketHub open(String path, int mode, int gid, int maxClients, long maxBacklogBytes,
                                 Consumer<String> log) {
        UnixSocket.Listening l = UnixSocket.listen(path, mode, gid, 64);
        if (l.previous() == UnixSocket.Previous.STALE_SOCKET_REPLACED) {
            log.accept("socket " + path + ": replaced a stale socket file (nobody was listening on it)");
        }
        return new SocketHub(path, l.fd(), maxClients, maxBacklogBytes, log);
    }

    /**
     * Hands whole records just written to the output to every subscriber connected now. Called by the output's
     * writer thread; never blocks on a subscriber.
     */
    public void publish(MemorySegment bytes, long length, int records) {
        if (clients.isEmpty() || length == 0) {
            return;
        }
        byte[] copy = bytes.asSlice(0, length).toArray(JAVA_BYTE); // one copy, shared by all subscribers
        for (Client c : clients) {
            synchronized (c) {
                if (c.backlogBytes + copy.length > maxBacklogBytes) {
                    c.droppedRecords += records;
                    c.droppedTotal += records;
                    droppedRecords += records;
                } else {
                    c.backlog.add(copy);
                    c.backlogBytes += copy.length;
                }
            }
        }
        Syscalls.signalEventfd(wakeFd);
    }

    public int subscribers() {
        return clients.size();
    }

    /** Records dropped for slow subscribers, summed over all of them. */
    public long droppedRecords() {
        return droppedRecords;
    }

    public long refused() {
        return refused;
    }

    public long connected() {
        return connected;
    }

    private void run() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(8L * (maxClients + 2), 8);
            MemorySegment scratch = arena.allocate(65536);
            MemorySegment out = arena.allocate(1 << 20);
            while (!stopping) {
                Client[] snapshot = clients.toArray(new Client[0]);
                set(fds, 0, listenFd, POLLIN);
                set(fds, 1, wakeFd, POLLIN);
                for (int i = 0; i < snapshot.length; i++) {
                    boolean pending;
                    synchronized (snapshot[i]) {
                        pending = !snapshot[i].backlog.isEmpty() || snapshot[i].droppedRecords > 0;
                    }
                    set(fds, i + 2, snapshot[i].fd, (short) (POLLIN | (pending ? POLLOUT : 0)));
                }
                if (Libc.poll(fds, snapshot.length + 2, -1) < 0 && Libc.errno() != Errno.EINTR) {
                    log.accept("socket " + path + ": poll failed: " + Errno.describe(Libc.errno()));
                    return;
                }
                if (stopping) {
                    return;
                }
                if (revents(fds, 1) != 0) {
                    Syscalls.drainEventfd(wakeFd, scratch);
                }
                if ((revents(fds, 0) & POLLIN) != 0) {
                    acceptAll();
                }
                for (int i = 0; i < snapshot.length; i++) {
                    Client c = snapshot[i];
                    short re = revents(fds, i + 2);
                    if ((re & (POLLIN | POLLERR | POLLHUP)) != 0 && !readOrHangUp(c, scratch)) {
                        continue;
                    }
                    if ((re & POLLOUT) != 0 || (re == 0 && hasPending(c))) {
                        drain(c, out);
                    }
                }
            }
        } catch (RuntimeException e) {
            log.accept("socket " + path + ": stopped after an error: " + e);
        }
    }

    private static void set(MemorySegment fds, int i, int fd, short events) {
        fds.set(JAVA_INT, i * 8L, fd);
        fds.set(JAVA_SHORT, i * 8L + 4, events);
        fds.set(JAVA_SHORT, i * 8L + 6, (short) 0);
    }

    private static short revents(MemorySegment fds, int i) {
        return fds.get(JAVA_SHORT, i * 8L + 6);
    }

    private static boolean hasPending(Client c) {
        synchronized (c) {
            return !c.backlog.isEmpty() || c.droppedRecords > 0;
        }
    }

    private void acceptAll() {
        while (true) {
            int fd = UnixSocket.accept(listenFd);
            if (fd < 0) {
                return; // EAGAIN: nobody else waiting (other errors: try again at the next poll)
            }
            UnixSocket.PeerCredentials peer;
            try {
                peer = UnixSocket.peer(fd);
            } catch (RuntimeException e) {
                peer = new UnixSocket.PeerCredentials(-1, -1, -1);
            }
            if (clients.size() >= maxClients) {
                refused++;
                log.accept("socket " + path + ": refused subscriber pid " + peer.pid() + " uid " + peer.uid()
                        + ": already " + maxClients + " subscribers");
                Libc.close(fd);
                continue;
            }
            Client c = new Client(fd, peer);
            clients.add(c);
            connected++;
            log.accept("socket " + path + ": " + c.who() + " connected (" + clients.size() + " now)");
        }
    }

    /** A readable subscriber either sent something (ignored) or went away; false if it is gone. */
    private boolean readOrHangUp(Client c, MemorySegment scratch) {
        long n = Libc.read(c.fd, scratch, scratch.byteSize());
        if (n > 0 || (n < 0 && Libc.errno() == Errno.EAGAIN)) {
            return true;
        }
        disconnect(c, n == 0 ? "disconnected" : "read failed: " + Errno.describe(Libc.errno()));
        return false;
    }

    /** Writes as much of the subscriber's backlog as it takes without blocking. */
    private void drain(Client c, MemorySegment out) {
        while (true) {
            byte[] head;
            int offset;
            synchronized (c) {
                if (c.droppedRecords > 0 && c.headOffset == 0) {
                    // Caught up enough to be told: the notice goes between whole chunks, never inside one.
                    JsonWriter w = new JsonWriter(128);
                    new RecordEncoder().dropped(System.currentTimeMillis(), c.droppedRecords, w);
                    c.backlog.addFirst(java.util.Arrays.copyOf(w.array(), w.length()));
                    c.backlogBytes += w.length();
                    c.droppedRecords = 0;
                }
                head = c.backlog.peekFirst();
                offset = c.headOffset;
            }
            if (head == null) {
                return;
            }
            int len = Math.min(head.length - offset, (int) out.byteSize());
            MemorySegment.copy(head, offset, out, JAVA_BYTE, 0, len);
            long n = Libc.write(c.fd, out, len);
            if (n < 0) {
                int errno = Libc.errno();
                if (errno == Errno.EAGAIN) {
                    return;
                }
                disconnect(c, "write failed: " + Errno.describe(errno));
                return;
            }
            synchronized (c) {
                c.headOffset += (int) n;
                if (c.headOffset == head.length) {
                    c.backlog.pollFirst();
                    c.backlogBytes -= head.length;
                    c.headOffset = 0;
                }
            }
        }
    }

    private void disconnect(Client c, String why) {
        if (clients.remove(c)) {
            Libc.close(c.fd);
            log.accept("socket " + path + ": " + c.who() + " " + why + (c.droppedTotal > 0 ? " (" + c.droppedTotal
                    + " records had been dropped for it)" : ""));
        }
    }

    /** Stops the hub, closes every connection and removes the socket file (if it is still ours). */
    @Override
    public void close() {
        stopping = true;
        Syscalls.signalEventfd(wakeFd);
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Client c : clients) {
            Libc.close(c.fd);
        }
        clients.clear();
        Libc.close(listenFd);
        try {
            if (Syscalls.stat(path, true).inode() == inode) {
                try (Arena arena = Arena.ofConfined()) {
                    Libc.unlink(Libc.cString(arena, path));
                }
            }
        } catch (RuntimeException e) {
            // already gone: nothing to remove
        }
        if (!thread.isAlive()) {
            Libc.close(wakeFd);
        }
    }
}
