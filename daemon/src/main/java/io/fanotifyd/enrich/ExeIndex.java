package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.PathCodec;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Executables by device and inode, for the exit records of processes that are gone (which name their program
 * only so). Two tables: one made once, on a thread of its own ({@link #startScan}), from the programs in the
 * {@code PATH} and standard directories and the {@code /proc/PID/exe} of every process then; and one the event
 * thread adds to, from each live process it reads afterwards. Each is written by one thread only; the first is
 * published whole when done.
 *
 * <p>What stays unknown: a program that is in none of those directories and that no process the daemon saw
 * alive ran; a program deleted or replaced before the scan. A script's record names its interpreter.
 */
public final class ExeIndex {
    private static final String DEFAULT_DIRS = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private static final int STATX_INO = 0x100;
    private static final int STATX_SIZE = 256;
    /** How long a lookup waits for the scan if it is not done yet (once, just after start-up). */
    private static final long SCAN_WAIT_MS = 500;

    /** Open addressing by device and inode, and a set of the paths' hashes. One writer. */
    private static final class Table {
        final int capacity;
        final long[] devs;
        final long[] inos;
        final byte[][] paths;
        final long[] pathHashes;
        int size;

        Table(int entries) {
            capacity = Integer.highestOneBit(Math.max(16, entries * 2) - 1) << 1;
            devs = new long[capacity];
            inos = new long[capacity];
            paths = new byte[capacity][];
            pathHashes = new long[capacity];
        }

        byte[] find(long dev, long ino) {
            return paths[slot(dev, ino)];
        }

        int slot(long dev, long ino) {
            long h = (ino * 0x9E3779B97F4A7C15L) ^ dev;
            int mask = capacity - 1;
            for (int i = (int) (h ^ (h >>> 32)) & mask; ; i = (i + 1) & mask) {
                if (paths[i] == null || (inos[i] == ino && devs[i] == dev)) {
                    return i;
                }
            }
        }

        boolean knownPath(long h) {
            int mask = capacity - 1;
            for (int i = (int) (h ^ (h >>> 32)) & mask; pathHashes[i] != 0; i = (i + 1) & mask) {
                if (pathHashes[i] == h) {
                    return true;
                }
            }
            return false;
        }

        /** False when full: what is known stays, and new programs stay unknown once their processes are gone. */
        boolean put(long dev, long ino, byte[] path, long pathHash) {
            if (ino == 0 || size >= capacity / 2) {
                return false;
            }
            int s = slot(dev, ino);
            if (paths[s] == null) {
                size++;
            }
            devs[s] = dev;
            inos[s] = ino;
            paths[s] = path;
            int mask = capacity - 1;
            int i = (int) (pathHash ^ (pathHash >>> 32)) & mask;
            while (pathHashes[i] != 0 && pathHashes[i] != pathHash) {
                i = (i + 1) & mask;
            }
            pathHashes[i] = pathHash;
            return true;
        }
    }

    private final Table learned;
    private volatile Table scanned;
    private final CountDownLatch scanDone = new CountDownLatch(1);
    private volatile long scanNanos = -1;
    private final MemorySegment statx;
    private final MemorySegment procPath;

    /**
     * @param searchPath the daemon's {@code PATH}, scanned with the standard directories
     * @param arena      for the event thread's buffers
     */
    public ExeIndex(int capacity, String searchPath, Arena arena) {
        this.learned = new Table(capacity);
        this.statx = arena.allocate(STATX_SIZE, 8);
        this.procPath = arena.allocate(64);
        this.searchPath = searchPath;
        this.scanCapacity = capacity * 4;
    }

    private final String searchPath;
    private final int scanCapacity;
    private final java.util.concurrent.atomic.AtomicBoolean scanStarted = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Starts the scan on a thread of its own, once: called when the marks are in place (before that it would
     * only compete with the start-up for the CPUs), or by the first lookup that needs it.
     */
    public void startScan() {
        if (!scanStarted.compareAndSet(false, true)) {
            return;
        }
        Thread.ofPlatform().daemon().name("fanotifyd-exe-scan").start(() -> {
            long t0 = System.nanoTime();
            try {
                scanned = scan(searchPath, scanCapacity);
            } finally {
                scanNanos = System.nanoTime() - t0;
                scanDone.countDown();
            }
        });
    }

    /** The path of the executable with this device ({@code huge_encode_dev}) and inode, or null. */
    public byte[] find(long dev, long ino) {
        if (ino == 0) {
            return null;
        }
        byte[] p = learned.find(dev, ino);
        if (p != null) {
            return p;
        }
        Table s = scanned;
        if (s == null) {
            startScan();
            try {
                scanDone.await(SCAN_WAIT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            s = scanned;
        }
        return s == null ? null : s.find(dev, ino);
    }

    /**
     * A live process's {@code /proc/PID/exe} read as {@code exe[0..len)}: indexed by the file it names (one
     * {@code statx}) unless that path is known already.
     */
    public void learn(int pid, byte[] exe, int len) {
        if (len <= 0) {
            return;
        }
        long h = hash(exe, len);
        Table s = scanned;
        if (learned.knownPath(h) || (s != null && s.knownPath(h))) {
            return;
        }
        ProcPaths.pidFile(procPath, pid, EXE_LEAF);
        if (Libc.statx(Fanotify.AT_FDCWD, procPath, 0, STATX_INO, statx) != 0) {
            return;
        }
        learned.put(dev(statx), statx.get(JAVA_LONG_UNALIGNED, 32), java.util.Arrays.copyOf(exe, len), h);
    }

    private static final byte[] EXE_LEAF = {'e', 'x', 'e'};

    /** Programs known: from the scan (0 until it is done) and learned since. */
    public int size() {
        Table s = scanned;
        return learned.size + (s == null ? 0 : s.size);
    }

    /** How long the scan took, in ms; -1 while it runs. */
    public long scanMillis() {
        long n = scanNanos;
        return n < 0 ? -1 : n / 1_000_000;
    }

    /** The kernel's {@code huge_encode_dev} of a statx's {@code stx_dev_major:stx_dev_minor}. */
    private static long dev(MemorySegment stx) {
        long major = stx.get(JAVA_INT_UNALIGNED, 136) & 0xffff_ffffL;
        long minor = stx.get(JAVA_INT_UNALIGNED, 140) & 0xffff_ffffL;
        return (minor & 0xff) | (major << 8) | ((minor & ~0xffL) << 12);
    }

    private static long hash(byte[] b, int len) {
        long h = 1125899906842597L;
        for (int i = 0; i < len; i++) {
            h = 31 * h + b[i];
        }
        return h == 0 ? 1 : h;
    }

    /** The programs of the search path, then what every process runs now. */
    private static Table scan(String searchPath, int capacity) {
        Table t = new Table(capacity);
        Set<Path> dirs = new LinkedHashSet<>();
        for (String d : (searchPath + ":" + DEFAULT_DIRS).split(":")) {
            if (d.startsWith("/")) {
                try {
                    dirs.add(Path.of(d).toRealPath());
                } catch (IOException | RuntimeException e) {
                    // not there: nothing to index
                }
            }
        }
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment stx = tmp.allocate(STATX_SIZE, 8);
            for (Path dir : dirs) {
                try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
                    for (Path p : entries) {
                        Path real = Files.isSymbolicLink(p) ? realOrNull(p) : p;
                        if (real != null && Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
                            index(t, tmp, stx, PathCodec.encode(real.toString()));
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    // an unreadable directory: its programs stay unknown
                }
            }
            try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
                for (Path p : procs) {
                    Path real = realOrNull(p.resolve("exe"));
                    if (real != null) {
                        index(t, tmp, stx, PathCodec.encode(real.toString()));
                    }
                }
            } catch (IOException | RuntimeException e) {
                // /proc unreadable: only the search path is known
            }
        }
        return t;
    }

    private static void index(Table t, Arena tmp, MemorySegment stx, byte[] path) {
        long h = hash(path, path.length);
        if (t.knownPath(h)) {
            return;
        }
        MemorySegment c = tmp.allocate(path.length + 1);
        MemorySegment.copy(path, 0, c, JAVA_BYTE, 0, path.length);
        if (Libc.statx(Fanotify.AT_FDCWD, c, 0, STATX_INO, stx) == 0) {
            t.put(dev(stx), stx.get(JAVA_LONG_UNALIGNED, 32), path, h);
        }
    }

    private static Path realOrNull(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
