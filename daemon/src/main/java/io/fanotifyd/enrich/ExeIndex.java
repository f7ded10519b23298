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

/**
 * Executables by device and inode, for the exit records of processes that are gone (which name their program
 * only so): filled from the programs in the {@code PATH} directories and the {@code /proc/PID/exe} of every
 * process at the first need, and from each live process the daemon reads afterwards.
 *
 * <p>What stays unknown: a program that is in none of those directories and that no process the daemon saw
 * alive ran (a script's interpreter is found, the script is not: the kernel names the interpreter); a
 * program deleted or replaced before the scan.
 */
public final class ExeIndex {
    private static final String DEFAULT_DIRS = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private static final int STATX_INO = 0x100;
    private static final int STATX_SIZE = 256;
    private static final long EMPTY = 0;

    private final int capacity;
    private final long[] keysDev;
    private final long[] keysIno;
    private final byte[][] paths;
    /** Hashes of the paths indexed: a set of its own (open addressing, 0 = empty slot). */
    private final long[] pathHashes;
    private int size;
    private boolean scanned;
    private final String searchPath;
    private final MemorySegment statx;
    private final MemorySegment procPath;

    public ExeIndex(int capacity, String searchPath, Arena arena) {
        this.capacity = Integer.highestOneBit(Math.max(16, capacity * 2 - 1)) << 1;
        this.keysDev = new long[this.capacity];
        this.keysIno = new long[this.capacity];
        this.paths = new byte[this.capacity][];
        this.pathHashes = new long[this.capacity];
        this.searchPath = searchPath;
        this.statx = arena.allocate(STATX_SIZE, 8);
        this.procPath = arena.allocate(64);
    }

    /** The path of the executable with this device ({@code huge_encode_dev}) and inode, or null. */
    public byte[] find(long dev, long ino) {
        if (ino == 0) {
            return null;
        }
        if (!scanned) {
            scan();
        }
        int s = slot(dev, ino);
        return paths[s];
    }

    /**
     * A live process's {@code /proc/PID/exe} read as {@code exe[0..len)}: indexed by the file it names (one
     * {@code statx}) unless that path is known already.
     */
    public void learn(int pid, byte[] exe, int len) {
        if (len <= 0 || !scanned) {
            return; // before the first need, the scan finds it
        }
        long h = hash(exe, len);
        if (knownPath(h)) {
            return;
        }
        ProcPaths.pidFile(procPath, pid, EXE_LEAF);
        if (Libc.statx(Fanotify.AT_FDCWD, procPath, 0, STATX_INO, statx) != 0) {
            return;
        }
        put(dev(statx), statx.get(JAVA_LONG_UNALIGNED, 32), java.util.Arrays.copyOf(exe, len), h);
    }

    private static final byte[] EXE_LEAF = {'e', 'x', 'e'};

    /** Whether a path with this hash was indexed (a 64-bit hash: a collision only costs one program's name). */
    private boolean knownPath(long h) {
        int mask = capacity - 1;
        for (int i = (int) (h ^ (h >>> 32)) & mask; pathHashes[i] != EMPTY; i = (i + 1) & mask) {
            if (pathHashes[i] == h) {
                return true;
            }
        }
        return false;
    }

    private void addPath(long h) {
        int mask = capacity - 1;
        int i = (int) (h ^ (h >>> 32)) & mask;
        while (pathHashes[i] != EMPTY && pathHashes[i] != h) {
            i = (i + 1) & mask;
        }
        pathHashes[i] = h;
    }

    private void put(long dev, long ino, byte[] path, long pathHash) {
        if (ino == 0) {
            return;
        }
        if (size >= capacity / 2) {
            return; // full: what is known stays, new programs stay unknown when their processes are gone
        }
        int s = slot(dev, ino);
        if (paths[s] == null) {
            size++;
        }
        keysDev[s] = dev;
        keysIno[s] = ino;
        paths[s] = path;
        addPath(pathHash);
    }

    private int slot(long dev, long ino) {
        long h = (ino * 0x9E3779B97F4A7C15L) ^ dev;
        int mask = capacity - 1;
        for (int i = (int) (h ^ (h >>> 32)) & mask; ; i = (i + 1) & mask) {
            if (paths[i] == null || (keysIno[i] == ino && keysDev[i] == dev)) {
                return i;
            }
        }
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
        return h == EMPTY ? 1 : h;
    }

    /** Once, at the first need: the programs of the search path, then what every process runs now. */
    private void scan() {
        scanned = true;
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
            for (Path dir : dirs) {
                try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
                    for (Path p : entries) {
                        Path real = Files.isSymbolicLink(p) ? realOrNull(p) : p;
                        if (real != null && Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
                            index(tmp, PathCodec.encode(real.toString()));
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
                        index(tmp, PathCodec.encode(real.toString()));
                    }
                }
            } catch (IOException | RuntimeException e) {
                // /proc unreadable: only the search path is known
            }
        }
    }

    private void index(Arena tmp, byte[] path) {
        long h = hash(path, path.length);
        if (knownPath(h)) {
            return;
        }
        MemorySegment c = tmp.allocate(path.length + 1);
        MemorySegment.copy(path, 0, c, JAVA_BYTE, 0, path.length);
        if (Libc.statx(Fanotify.AT_FDCWD, c, 0, STATX_INO, statx) == 0) {
            put(dev(statx), statx.get(JAVA_LONG_UNALIGNED, 32), path, h);
        }
    }

    private static Path realOrNull(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    public int size() {
        return size;
    }
}
