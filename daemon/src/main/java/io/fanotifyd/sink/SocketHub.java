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
 * event thread, or another subscriber.
 *
 * <p><b>Memory.</b> What subscribers have not taken yet is held in blocks of {@value #BLOCK_BYTES} bytes of
 * whole lines, shared by every subscriber that still needs them, and all blocks together are bounded
 * ({@code maxBacklogBytes}): a block counts once however many subscribers hold it, so subscribers that stall
 * at different moments cannot multiply the memory. The newest block stays open and takes the lines of the
 * next chunks while they fit, so the small chunks of a quiet stream share blocks, and blocks are reused, so a
 * lagging subscriber costs no garbage. When a new block does not fit, the subscriber furthest behind (the
 * most bytes queued) loses its oldest block, until it fits: the loss falls on whoever is behind, never on a
 * subscriber that keeps up, and what it still gets is the newest output.
 *
 * <p>What a subscriber lost is counted and announced to it with a {@code dropped} record at the place of the
 * loss (a slow consumer learns exactly how much it missed and keeps its connection; a disconnect would lose
 * more, including the knowledge of the loss), and logged when it leaves. At most {@code maxClients}
 * subscribers; more are refused with a log line. Each connection is logged with the peer's pid and uid.
 */
public final class SocketHub implements AutoCloseable {
    private static final short POLLIN = 1;
    private static final short POLLOUT = 4;
    private static final short POLLERR = 8;
    private static final short POLLHUP = 16;
    private static final int ECONNRESET = 104;
    /** The unit of memory and of loss: a lagging subscriber loses a block (about 250 records) at a time. */
    static final int BLOCK_BYTES = 64 * 1024;
    /** The smallest backlog: 16 blocks. */
    public static final long MIN_BACKLOG_BYTES = 1 << 20;

    /**
     * Whole lines of output, {@code bytes[0, length)}, shared by every backlog it is in. All guarded by the hub's
     * {@code backlogs} lock; only {@code length} and {@code lines} change, and only while the block is the
     * hub's open {@code tail} (bytes before {@code length} never change).
     */
    private static final class Block {
        final byte[] bytes;
        int length;
        int lines;
        /** For a {@code dropped} notice, the count it tells (restored if the notice itself must go); else 0. */
        final long announces;
        int holders;

        Block(byte[] bytes, long announces) {
            this.bytes = bytes;
            this.announces = announces;
        }
    }

    private static final class Client {
        final int fd;
        final UnixSocket.PeerCredentials peer;
        /** Guarded by the hub's {@code backlogs} lock, as are the fields below. */
        final ArrayDeque<Block> backlog = new ArrayDeque<>();
        /** The lengths of the blocks in its backlog, summed: how far behind it is. */
        long backlogBytes;
        /** Bytes of the head block already written to the socket. */
        int headOffset;
        /** The head block is being written to the socket (outside the lock): it must stay. */
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
    /** Guards the blocks, every client's backlog and the counts below: taken by the writer and this hub's thread. */
    private final Object backlogs = new Object();
    /**
     * The newest block, while every subscriber holds it and it takes more lines; null once sealed (full, a
     * new subscriber that does not hold it, or taken from a subscriber).
     */
    private Block tail;
    /** The arrays of the blocks some subscriber holds, each counted once; at most {@link #maxBacklogBytes}. */
    private long heldBytes;
    private long peakHeldBytes;
    /** Arrays of {@link #BLOCK_BYTES} nobody holds, for reuse; held and spare ones stay within the backlog. */
    private final ArrayDeque<byte[]> spare = new ArrayDeque<>();
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
     * writer thread, holding {@link #streamLock()}; never blocks on a subscriber.
     */
    public void publish(MemorySegment bytes, long length, int records) {
        if (clients.isEmpty() || length == 0) {
            return;
        }
        synchronized (backlogs) {
            if (closed.get()) {
                return; // a reload moved the socket; the output's writer took this hub just before
            }
            long start = 0;
            while (start < length && !clients.isEmpty()) {
                if (tail != null) {
                    long end = lastLineEnd(bytes, start, Math.min(length, start + tail.bytes.length - tail.length));
                    if (end > start) {
                        append(tail, bytes, start, end);
                        start = end;
                        continue;
                    }
                    seal(); // the next line does not fit
                }
                long end = lastLineEnd(bytes, start, Math.min(length, start + BLOCK_BYTES));
                int capacity = BLOCK_BYTES;
                if (end == start) { // a single line longer than a block: a block of its own
                    end = start + 1;
                    while (end < length && bytes.get(JAVA_BYTE, end - 1) != '\n') {
                        end++;
                    }
                    capacity = (int) (end - start);
                }
                newBlock(capacity, bytes, start, end);
                start = end;
            }
            Syscalls.signalEventfd(wakeFd); // under the lock: close() closes the fd under it
        }
    }

    /** The end of the last whole line in {@code bytes[start, limit)}, or {@code start} if there is none. */
    private static long lastLineEnd(MemorySegment bytes, long start, long limit) {
        for (long end = limit; end > start; end--) {
            if (bytes.get(JAVA_BYTE, end - 1) == '\n') {
                return end;
            }
        }
        return start;
    }

    private static int lines(MemorySegment bytes, long start, long end) {
        int n = 0;
        for (long i = start; i < end; i++) {
            if (bytes.get(JAVA_BYTE, i) == '\n') {
                n++;
            }
        }
        return n;
    }

    /** Adds {@code bytes[start, end)} to the open tail, which every subscriber holds. Caller holds {@code backlogs}. */
    private void append(Block b, MemorySegment bytes, long start, long end) {
        int n = (int) (end - start);
        MemorySegment.copy(bytes, JAVA_BYTE, start, b.bytes, b.length, n);
        b.length += n;
        b.lines += lines(bytes, start, end);
        for (Client c : clients) {
            c.backlogBytes += n;
        }
    }

    /**
     * Queues {@code bytes[start, end)} (whole lines) in a new block for every subscriber, making room first; a
     * block of {@link #BLOCK_BYTES} stays open for the next lines. Caller holds {@code backlogs}.
     */
    private void newBlock(int capacity, MemorySegment bytes, long start, long end) {
        while (heldBytes + capacity > maxBacklogBytes && dropOldestOfFurthestBehind()) {
            // each round takes a block from one subscriber, and frees its memory once nobody else holds it
        }
        if (heldBytes + capacity > maxBacklogBytes) {
            // Nothing left to take (each backlog is down to the block it is writing): nobody gets these lines.
            int n = lines(bytes, start, end);
            for (Client c : clients) {
                countDropped(c, n);
            }
            return;
        }
        // After making room: the block just taken back is the array this one reuses.
        byte[] array = capacity == BLOCK_BYTES && !spare.isEmpty() ? spare.pollFirst() : new byte[capacity];
        Block b = new Block(array, 0);
        for (Client c : clients) {
            c.backlog.add(b);
            b.holders++;
        }
        heldBytes += array.length;
        peakHeldBytes = Math.max(peakHeldBytes, heldBytes);
        append(b, bytes, start, end);
        tail = capacity == BLOCK_BYTES ? b : null;
    }

    /**
     * Closes the open tail to further lines. A subscriber that has written all of it (and is not writing now)
     * lets go of it at once. Caller holds {@code backlogs}.
     */
    private void seal() {
        Block t = tail;
        if (t == null) {
            return;
        }
        tail = null;
        for (Client c : clients) {
            if (c.backlog.peekFirst() == t && c.headOffset == t.length && !c.sending) {
                c.backlog.pollFirst();
                c.backlogBytes -= t.length;
                c.headOffset = 0;
                release(t);
            }
        }
    }

    /**
     * Takes the oldest block from the subscriber with the most bytes queued (not the one it is in the middle
     * of writing: records go out whole), counting its records as dropped for it. False if no subscriber has
     * such a block. Caller holds {@code backlogs}.
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
        boolean busy = busyHead(victim);
        java.util.Iterator<Block> it = victim.backlog.iterator();
        Block lost = busy ? skip(it) : it.next();
        if (lost == tail) {
            seal(); // the victim will not hold the lines appended to it from now on
        }
        Block started = busy ? victim.backlog.pollFirst() : null;
        victim.backlog.pollFirst();
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

    private static Block skip(java.util.Iterator<Block> it) {
        it.next();
        return it.next();
    }

    private static boolean busyHead(Client c) {
        return c.headOffset > 0 || c.sending;
    }

    private void countDropped(Client c, long lines) {
        c.droppedRecords += lines;
        c.droppedTotal += lines;
        droppedRecords += lines;
    }

    /** One holder is done with {@code b}; its memory is free once nobody holds it. Caller holds {@code backlogs}. */
    private void release(Block b) {
        if (--b.holders > 0 || b.announces > 0) {
            return; // notices are a line per subscriber at most, not counted
        }
        if (b == tail) {
            tail = null; // its last holder left: never append to an array that may be reused
        }
        heldBytes -= b.bytes.length;
        if (b.bytes.length == BLOCK_BYTES && heldBytes + (long) (spare.size() + 1) * BLOCK_BYTES <= maxBacklogBytes) {
            spare.addFirst(b.bytes);
        }
    }

    public int subscribers() {
        return clients.size();
    }

    /**
     * Lowers the number of subscribers accepted, to what the daemon's descriptor budget allows (each holds an
     * fd); set once at start-up, before anyone can connect.
     */
    /** At most this many subscribers at once. */
    public int maxSubscribers() {
        return maxClients;
    }

    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

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

    /** The most memory subscribers' blocks took at once (at most the backlog limit). */
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

    /** Whether the subscriber has bytes it has not been sent, or a loss to be told. */
    private boolean hasPending(Client c) {
        synchronized (backlogs) {
            Block head = c.backlog.peekFirst();
            return (c.droppedRecords > 0 && c.headOffset == 0)
                    || (head != null && (c.backlog.size() > 1 || c.headOffset < head.length));
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
            synchronized (backlogs) {
                seal(); // the new ones do not hold it: what comes next goes into a block they all get
                for (Client c : pending) {
                    clients.add(c);
                    connected++;
                }
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
            Block head;
            int offset;
            int length;
            synchronized (backlogs) {
                if (!clients.contains(c)) {
                    return; // gone meanwhile
                }
                if (c.droppedRecords > 0 && c.headOffset == 0) {
                    // At the place of the loss, between whole blocks, never inside one.
                    JsonWriter w = new JsonWriter(128);
                    new RecordEncoder().dropped(System.currentTimeMillis(), c.droppedRecords, w);
                    Block notice = new Block(java.util.Arrays.copyOf(w.array(), w.length()), c.droppedRecords);
                    notice.length = w.length();
                    notice.lines = 1;
                    notice.holders = 1;
                    c.backlog.addFirst(notice);
                    c.backlogBytes += w.length();
                    c.droppedRecords = 0;
                }
                head = c.backlog.peekFirst();
                if (head == null) {
                    return;
                }
                offset = c.headOffset;
                length = head.length;
                if (offset == length) {
                    if (head == tail) {
                        return; // all of the open block is written: wait for more
                    }
                    c.backlog.pollFirst(); // sealed while it was being written
                    c.backlogBytes -= length;
                    c.headOffset = 0;
                    release(head);
                    continue;
                }
                c.sending = true;
            }
            long n;
            try {
                n = send(c, head.bytes, length, offset, out);
            } finally {
                synchronized (backlogs) {
                    c.sending = false;
                }
            }
            if (n <= 0) {
                return;
            }
            synchronized (backlogs) {
                if (c.backlog.peekFirst() != head) {
                    return; // disconnected meanwhile (its backlog was released)
                }
                c.headOffset += (int) n;
                if (c.headOffset == head.length && head != tail) {
                    c.backlog.pollFirst();
                    c.backlogBytes -= head.length;
                    c.headOffset = 0;
                    release(head);
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
            for (Block b : c.backlog) {
                for (int i = first ? c.headOffset : 0; i < b.length; i++) {
                    if (b.bytes[i] == '\n') {
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
                for (Block b : c.backlog) {
                    release(b);
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
        if (!closed.compareAndSet(false, true)) {
            return; // a reload that moved the socket closed this one already
        }
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
        synchronized (backlogs) { // no publish is under way once this is held, and none starts after it
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
        }
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
            synchronized (backlogs) {
                Libc.close(wakeFd);
            }
        }
    }
}
