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
 * event thread, or another subscriber. What subscribers have not taken yet is held in pieces shared by all
 * of them, and all of it together is bounded ({@code maxBacklogBytes}): a piece counts once however many
 * subscribers still need it, so subscribers that stall at different moments cannot multiply the memory. When
 * a new piece does not fit, the subscriber furthest behind (the most bytes queued) loses its oldest queued
 * piece, until it fits: the loss falls on whoever is behind, never on a subscriber that keeps up. What a
 * subscriber lost is counted and announced to it with a {@code dropped} record at the place of the loss (a
 * slow consumer learns exactly how much it missed and keeps its connection; a disconnect would lose more,
 * including the knowledge of the loss), and logged when it leaves. At most {@code maxClients} subscribers;
 * more are refused with a log line. Each connection is logged with the peer's pid and uid.
 */
public final class SocketHub implements AutoCloseable {
    private static final short POLLIN = 1;
    private static final short POLLOUT = 4;
    private static final short POLLERR = 8;
    private static final short POLLHUP = 16;
    private static final int ECONNRESET = 104;

    /** Whole lines of output, shared by every backlog it is in; its bytes count once while anyone holds it. */
    private static final class Piece {
        /** {@code bytes[0, length)}; a pooled array of {@code pieceBytes} unless a single line is longer. */
        final byte[] bytes;
        final int length;
        final int lines;
        /** For a {@code dropped} notice, the count it tells (restored if the notice itself must go); else 0. */
        final long announces;
        int holders;

        Piece(byte[] bytes, int length, int lines, long announces) {
            this.bytes = bytes;
            this.length = length;
            this.lines = lines;
            this.announces = announces;
        }
    }

    private static final class Client {
        final int fd;
        final UnixSocket.PeerCredentials peer;
        /** Guarded by the hub's {@code backlogs} lock, as are the counters below. */
        final ArrayDeque<Piece> backlog = new ArrayDeque<>();
        long backlogBytes;
        int headOffset;
        /** The head piece is being written to the socket (outside the lock): it must stay. */
        boolean sending;
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
    /** Pieces are at most this long, an eighth of the backlog: a lagging subscriber loses an eighth at a time. */
    private final int pieceBytes;
    /** Guards every client's backlog and {@link #heldBytes}: taken by the output's writer and this hub's thread. */
    private final Object backlogs = new Object();
    /** Bytes of the pieces some subscriber still holds, each counted once; at most {@link #maxBacklogBytes}. */
    private long heldBytes;
    private long peakHeldBytes;
    /**
     * Arrays of {@link #pieceBytes} no backlog holds any more, reused: a lagging subscriber then costs no garbage
     * per chunk, which the collector would otherwise move to the old generation and leave there until it fills.
     * At most the backlog's worth.
     */
    private final ArrayDeque<byte[]> spare = new ArrayDeque<>();
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
    /** The smallest backlog: pieces of an eighth of it still hold whole records of long paths (128 KiB). */
    public static final long MIN_BACKLOG_BYTES = 1 << 20;
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
        this.pieceBytes = (int) Math.min(PIECE_BYTES, maxBacklogBytes / 8);
        this.log = log;
        this.inode = Syscalls.stat(path, true).inode();
        this.thread = Thread.ofPlatform().daemon().name("fanotifyd-socket").start(this::run);
    }

    /**
     * Listens at {@code path} (a stale socket file is replaced, a live one is an error) with {@code mode} and,
     * unless -1, group {@code gid}.
     *
     * @param maxBacklogBytes what all subscribers together may have queued, at least {@link #MIN_BACKLOG_BYTES}
     * @throws io.fanotifyd.kernel.NativeCallException if the socket cannot be set up
     */
    public static SocketHub open(String path, int mode, int gid, int maxClients, long maxBacklogBytes,
                                 Consumer<String> log) {
        if (maxBacklogBytes < MIN_BACKLOG_BYTES) {
            throw new IllegalArgumentException("backlog below " + MIN_BACKLOG_BYTES + " bytes: " + maxBacklogBytes);
        }
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
     * pieces of whole lines (at most 1 MiB, or an eighth of the backlog, each), so that making room for new
     * output costs a lagging subscriber a piece, not its whole backlog.
     */
    public void publish(MemorySegment bytes, long length, int records) {
        if (clients.isEmpty() || length == 0) {
            return;
        }
        long start = 0;
        while (start < length) {
            long end = Math.min(length, start + pieceBytes);
            if (end < length) {
                long cut = end;
                while (cut > start && bytes.get(JAVA_BYTE, cut - 1) != '\n') {
                    cut--;
                }
                end = cut > start ? cut : end; // a single line longer than a piece stays whole
                while (end < length && bytes.get(JAVA_BYTE, end - 1) != '\n') {
                    end++;
                }
            }
            int len = (int) (end - start);
            byte[] piece = array(len); // shared by all subscribers
            MemorySegment.copy(bytes, JAVA_BYTE, start, piece, 0, len);
            int lines = 0;
            for (int i = 0; i < len; i++) {
                if (piece[i] == '\n') {
                    lines++;
                }
            }
            offer(piece, len, lines);
            start = end;
        }
        Syscalls.signalEventfd(wakeFd);
    }

    /** An array for a piece of {@code len} bytes: a spare one if there is one. */
    private byte[] array(int len) {
        if (len > pieceBytes) {
            return new byte[len]; // a single line longer than a piece
        }
        synchronized (backlogs) {
            byte[] a = spare.pollFirst();
            return a != null ? a : new byte[pieceBytes];
        }
    }

    /** Caller holds {@code backlogs}. */
    private void recycle(byte[] a) {
        if (a.length == pieceBytes && (long) spare.size() * pieceBytes < maxBacklogBytes) {
            spare.addFirst(a);
        }
    }

    private void offer(byte[] bytes, int length, int lines) {
        synchronized (backlogs) {
            if (clients.isEmpty()) {
                recycle(bytes);
                return;
            }
            while (heldBytes + length > maxBacklogBytes && dropOldestOfFurthestBehind()) {
                // each round frees a piece for one subscriber, and its memory once nobody else holds it
            }
            if (heldBytes + length > maxBacklogBytes) {
                // Nothing left to take away (each backlog is down to the piece being written): nobody gets it.
                for (Client c : clients) {
                    countDropped(c, lines);
                }
                recycle(bytes);
                return;
            }
            Piece piece = new Piece(bytes, length, lines, 0);
            for (Client c : clients) {
                c.backlog.add(piece);
                c.backlogBytes += length;
                piece.holders++;
            }
            hold(piece);
        }
    }

    /**
     * Drops the oldest piece queued for the subscriber with the most bytes queued (not the one it is in the
     * middle of writing: records go out whole). False if no subscriber has such a piece. Caller holds
     * {@code backlogs}.
     */
    private boolean dropOldestOfFurthestBehind() {
        Client victim = null;
        for (Client c : clients) {
            int whole = c.backlog.size() - (busyHead(c) ? 1 : 0);
            if (whole > 0 && (victim == null || c.backlogBytes > victim.backlogBytes)) {
                victim = c;
            }
        }
        if (victim == null) {
            return false;
        }
        Piece started = busyHead(victim) ? victim.backlog.pollFirst() : null;
        Piece lost = victim.backlog.pollFirst();
        if (started != null) {
            victim.backlog.addFirst(started);
        }
        victim.backlogBytes -= lost.length;
        if (lost.announces > 0) {
            victim.droppedRecords += lost.announces; // a notice not sent yet: its count goes into the next one
        } else {
            countDropped(victim, lost.lines);
        }
        release(lost);
        return true;
    }

    private static boolean busyHead(Client c) {
        return c.headOffset > 0 || c.sending;
    }

    private void countDropped(Client c, long lines) {
        c.droppedRecords += lines;
        c.droppedTotal += lines;
        droppedRecords += lines;
    }

    /** Caller holds {@code backlogs}. */
    private void hold(Piece p) {
        heldBytes += p.length;
        peakHeldBytes = Math.max(peakHeldBytes, heldBytes);
    }

    /** One holder is done with {@code p}; its bytes are free once nobody holds it. Caller holds {@code backlogs}. */
    private void release(Piece p) {
        if (--p.holders == 0 && p.announces == 0) {
            heldBytes -= p.length;
            recycle(p.bytes);
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

    /** The most bytes subscribers had queued at once (at most the backlog limit). */
    public long peakBacklogBytes() {
        synchronized (backlogs) {
            return peakHeldBytes;
        }
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
                    boolean pending = hasPending(snapshot[i]);
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

    private boolean hasPending(Client c) {
        synchronized (backlogs) {
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
            Piece headPiece;
            int offset;
            synchronized (backlogs) {
                if (!clients.contains(c)) {
                    return; // gone meanwhile
                }
                if (c.droppedRecords > 0 && c.headOffset == 0) {
                    // At the place of the loss, between whole pieces, never inside one.
                    JsonWriter w = new JsonWriter(128);
                    new RecordEncoder().dropped(System.currentTimeMillis(), c.droppedRecords, w);
                    Piece notice = new Piece(java.util.Arrays.copyOf(w.array(), w.length()), w.length(), 1,
                            c.droppedRecords);
                    notice.holders = 1; // not counted in heldBytes: one small line per subscriber at most
                    c.backlog.addFirst(notice);
                    c.backlogBytes += w.length();
                    c.droppedRecords = 0;
                }
                headPiece = c.backlog.peekFirst();
                offset = c.headOffset;
                c.sending = headPiece != null;
            }
            if (headPiece == null) {
                return;
            }
            long n;
            try {
                n = send(c, headPiece.bytes, headPiece.length, offset, out);
            } finally {
                synchronized (backlogs) {
                    c.sending = false;
                }
            }
            if (n <= 0) {
                return;
            }
            synchronized (backlogs) {
                if (c.backlog.peekFirst() != headPiece) {
                    return; // disconnected meanwhile (its backlog was released)
                }
                c.headOffset += (int) n;
                if (c.headOffset == headPiece.length) {
                    c.backlog.pollFirst();
                    c.backlogBytes -= headPiece.length;
                    c.headOffset = 0;
                    release(headPiece);
                }
            }
        }
    }

    /**
     * Writes whole lines of {@code head[offset, headLength)}, as many as the socket takes at once; the bytes
     * written, or 0 when it takes none now (or the subscriber is gone).
     */
    private long send(Client c, byte[] head, int headLength, int offset, MemorySegment out) {
        int len = Math.min(headLength - offset, (int) out.byteSize());
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
                return 0; // not even one line fits: wait until the subscriber has read (POLLOUT)
            }
            len = cut;
        }
        MemorySegment.copy(head, offset, out, JAVA_BYTE, 0, len);
        long n = Libc.write(c.fd, out, len);
        if (n < 0) {
            int errno = Libc.errno();
            if (errno == Errno.EAGAIN) {
                return 0;
            }
            disconnect(c, errno == Errno.EPIPE || errno == ECONNRESET ? "disconnected"
                    : "write failed: " + Errno.describe(errno));
            return 0;
        }
        return n;
    }

    /**
     * At exit: a subscriber that has not taken everything learns how many records it will not get, in the
     * room kept free for that, so it ends with whole records and an exact count.
     */
    private void tellWhatIsLeft(Client c) {
        long left;
        synchronized (backlogs) {
            left = c.droppedRecords;
            boolean first = true;
            for (Piece p : c.backlog) {
                byte[] piece = p.bytes;
                for (int i = first ? c.headOffset : 0; i < p.length; i++) {
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
        boolean removed;
        synchronized (backlogs) {
            removed = clients.remove(c);
            if (removed) {
                for (Piece p : c.backlog) {
                    release(p);
                }
                c.backlog.clear();
                c.backlogBytes = 0;
            }
        }
        if (removed) {
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
        while (System.nanoTime() < deadline && thread.isAlive() && clients.stream().anyMatch(this::hasPending)) {
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
