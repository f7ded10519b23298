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
    private static final int ECONNRESET = 104;

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
    private volatile int maxClients;
    /** Until when (System.nanoTime) the listening socket is left alone after accept ran out of descriptors. */
    private long acceptPausedUntilNs;
    private long acceptFailures;
    private static final long ACCEPT_PAUSE_NS = 1_000_000_000L;
    private final long maxBacklogBytes;
    private final Consumer<String> log;
    private final List<Client> clients = new CopyOnWriteArrayList<>();
    private final List<Client> pending = new java.util.ArrayList<>();
    private final MemorySegment roomScratch = Arena.global().allocate(8, 4);
    /**
     * Held by the output's writer around "write a chunk, publish it", and taken (tried, never waited for) by
     * this hub to register a subscriber: a subscriber gets a chunk if and only if the chunk was written after
     * it connected. A hub that finds it taken registers the subscriber a moment later.
     */
    private final java.util.concurrent.locks.ReentrantLock stream = new java.util.concurrent.locks.ReentrantLock();
    private static final int PIECE_BYTES = 1 << 20;
    /** Room always left in a subscriber's socket, so that a last {@code dropped} record fits at exit. */
    private static final int RESERVE = 512;
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

    /** The output's writer takes this around writing a chunk and {@link #publish publishing} it. */
    public java.util.concurrent.locks.Lock streamLock() {
        return stream;
    }

    /**
     * Hands whole records just written to the output to every subscriber connected now. Called by the output's
     * writer thread, holding {@link #streamLock()}; never blocks on a subscriber. Large chunks are cut into
     * pieces of whole lines (at most 1 MiB each), so a backlog takes what fits rather than all or nothing.
     */
    public void publish(MemorySegment bytes, long length, int records) {
        if (clients.isEmpty() || length == 0) {
            return;
        }
        long start = 0;
        while (start < length) {
            long end = Math.min(length, start + PIECE_BYTES);
            if (end < length) {
                long cut = end;
                while (cut > start && bytes.get(JAVA_BYTE, cut - 1) != '\n') {
                    cut--;
                }
                end = cut > start ? cut : end; // a single line over 1 MiB stays whole
                while (end < length && bytes.get(JAVA_BYTE, end - 1) != '\n') {
                    end++;
                }
            }
            byte[] piece = bytes.asSlice(start, end - start).toArray(JAVA_BYTE); // shared by all subscribers
            int lines = 0;
            for (byte b : piece) {
                if (b == '\n') {
                    lines++;
                }
            }
            offer(piece, lines);
            start = end;
        }
        Syscalls.signalEventfd(wakeFd);
    }

    private void offer(byte[] piece, int lines) {
        for (Client c : clients) {
            synchronized (c) {
                if (c.backlogBytes + piece.length > maxBacklogBytes) {
                    c.droppedRecords += lines;
                    c.droppedTotal += lines;
                    droppedRecords += lines;
                } else {
                    c.backlog.add(piece);
                    c.backlogBytes += piece.length;
                }
            }
        }
    }

    public int subscribers() {
        return clients.size();
    }

    /**
     * Lowers the number of subscribers accepted, to what the daemon's descriptor budget allows (each holds an
     * fd); set once at start-up, before anyone can connect.
     */
    public void limitSubscribers(int max) {
        maxClients = Math.min(maxClients, Math.max(0, max));
    }

    /** Accepts that failed with EMFILE/ENFILE (each followed by a pause of the listening socket). */
    public long acceptFailures() {
        return acceptFailures;
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
                // Out of descriptors, the listening socket stays readable and poll would return at once, for
                // ever: it is left out of the poll for a while instead.
                boolean acceptPaused = acceptPausedUntilNs != 0 && System.nanoTime() - acceptPausedUntilNs < 0;
                set(fds, 0, acceptPaused ? -1 : listenFd, POLLIN);
                set(fds, 1, wakeFd, POLLIN);
                for (int i = 0; i < snapshot.length; i++) {
                    boolean pending;
                    synchronized (snapshot[i]) {
                        pending = !snapshot[i].backlog.isEmpty() || snapshot[i].droppedRecords > 0;
                    }
                    set(fds, i + 2, snapshot[i].fd, (short) (POLLIN | (pending ? POLLOUT : 0)));
                }
                registerPending();
                int timeout = !pending.isEmpty() ? 5 : acceptPaused ? 100 : -1;
                if (Libc.poll(fds, snapshot.length + 2, timeout) < 0
                        && Libc.errno() != Errno.EINTR) {
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
                if (fd == -Errno.EMFILE || fd == -Errno.ENFILE) {
                    acceptFailures++;
                    acceptPausedUntilNs = (System.nanoTime() + ACCEPT_PAUSE_NS) | 1;
                    if (acceptFailures == 1 || acceptFailures % 60 == 0) {
                        log.accept("socket " + path + ": cannot accept a subscriber: " + Errno.describe(-fd)
                                + "; not accepting for 1 s (" + acceptFailures + " times so far)");
                    }
                }
                return; // EAGAIN: nobody else waiting (other errors: try again at the next poll)
            }
            UnixSocket.PeerCredentials peer;
            try {
                peer = UnixSocket.peer(fd);
            } catch (RuntimeException e) {
                peer = new UnixSocket.PeerCredentials(-1, -1, -1);
            }
            if (clients.size() + pending.size() >= maxClients) {
                refused++;
                log.accept("socket " + path + ": refused subscriber pid " + peer.pid() + " uid " + peer.uid()
                        + ": already " + maxClients + " subscribers (the most the open-file limit and the"
                        + " configuration allow)");
                Libc.close(fd);
                continue;
            }
            Client c = new Client(fd, peer);
            log.accept("socket " + path + ": " + c.who() + " connected (" + (clients.size() + pending.size() + 1)
                    + " now)");
            pending.add(c);
            registerPending();
        }
    }

    private void registerPending() {
        if (pending.isEmpty() || !stream.tryLock()) {
            return;
        }
        try {
            for (Client c : pending) {
                clients.add(c);
                connected++;
            }
            pending.clear();
        } finally {
            stream.unlock();
        }
    }

    /** A readable subscriber either sent something (ignored) or went away; false if it is gone. */
    private boolean readOrHangUp(Client c, MemorySegment scratch) {
        long n = Libc.read(c.fd, scratch, scratch.byteSize());
        if (n > 0 || (n < 0 && Libc.errno() == Errno.EAGAIN)) {
            return true;
        }
        int errno = n < 0 ? Libc.errno() : 0;
        disconnect(c, n == 0 || errno == ECONNRESET ? "disconnected" : "read failed: " + Errno.describe(errno));
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
            // Only whole lines, and only as many as the socket takes without cutting the write short: a
            // subscriber that stops reading, or a daemon that exits, then never leaves half a record behind.
            long measured = UnixSocket.sendRoom(c.fd, roomScratch);
            long room = measured < 0 ? len : measured - RESERVE; // unmeasurable: plain writes
            if (room < len) {
                int cut = (int) Math.max(0, room);
                while (cut > 0 && head[offset + cut - 1] != '\n') {
                    cut--;
                }
                if (cut == 0) {
                    return; // not even one line fits: wait until the subscriber has read (POLLOUT)
                }
                len = cut;
            }
            MemorySegment.copy(head, offset, out, JAVA_BYTE, 0, len);
            long n = Libc.write(c.fd, out, len);
            if (n < 0) {
                int errno = Libc.errno();
                if (errno == Errno.EAGAIN) {
                    return;
                }
                disconnect(c, errno == Errno.EPIPE || errno == ECONNRESET ? "disconnected"
                        : "write failed: " + Errno.describe(errno));
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

    /**
     * At exit: a subscriber that has not taken everything learns how many records it will not get, in the
     * room kept free for that, so it ends with whole records and an exact count.
     */
    private void tellWhatIsLeft(Client c) {
        long left;
        synchronized (c) {
            left = c.droppedRecords;
            boolean first = true;
            for (byte[] piece : c.backlog) {
                for (int i = first ? c.headOffset : 0; i < piece.length; i++) {
                    if (piece[i] == '\n') {
                        left++;
                    }
                }
                first = false;
            }
        }
        if (left == 0) {
            return;
        }
        JsonWriter w = new JsonWriter(128);
        new RecordEncoder().dropped(System.currentTimeMillis(), left, w);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(w.length());
            MemorySegment.copy(w.array(), 0, seg, JAVA_BYTE, 0, w.length());
            Libc.write(c.fd, seg, w.length());
        }
        log.accept("socket " + path + ": " + c.who() + " did not take " + left + " records before the exit");
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
        // Let subscribers take what is queued for them (bounded: one that stopped reading does not hold up the
        // exit), so a reading subscriber ends with the last record, not part of it.
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (System.nanoTime() < deadline && thread.isAlive() && clients.stream().anyMatch(SocketHub::hasPending)) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        stopping = true;
        Syscalls.signalEventfd(wakeFd);
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Client c : clients) {
            tellWhatIsLeft(c);
            Libc.close(c.fd);
        }
        for (Client c : pending) {
            Libc.close(c.fd);
        }
        clients.clear();
        pending.clear();
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
