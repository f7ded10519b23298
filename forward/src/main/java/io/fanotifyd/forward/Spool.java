package io.fanotifyd.forward;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The daemon's output file and the files rotation made of it, read as one stream of whole records (lines).
 *
 * <p>The files are {@code OUT} and the regular files named {@code OUT.*} beside it (the daemon's
 * {@code OUT.1 .. OUT.N}, and logrotate's numbered or dated names), except compressed ones; they are taken
 * oldest first by modification time, {@code OUT} last. A file is known by its device and inode, which a rename
 * keeps. The reader moves from a rotated file to the next only once the next one has data: one writer writes
 * the files one after the other, so by then nothing more comes to the old one (after logrotate's
 * {@code create}, the daemon writes to the renamed file until it reopens). Before moving it reads the old file
 * to its end once more. A line without its newline yet is never returned: records are never split.
 */
final class Spool implements AutoCloseable {
    /** One record: its bytes without the newline, where the stream stands after it, and its file's head. */
    record Line(byte[] bytes, long dev, long ino, long endOffset, String path, String head) {}

    /** A file of the spool, as a directory listing saw it. */
    record FileId(Path path, long dev, long ino, long size, long mtimeNs) {
        boolean same(long d, long i) {
            return dev == d && ino == i;
        }
    }

    private static final int MAX_RECORD = 16 << 20;
    private static final List<String> COMPRESSED = List.of(".gz", ".xz", ".zst", ".bz2", ".lz4", ".zip", ".Z");

    private final Path live;
    private FileChannel ch;
    private FileId cur;
    /** Offset in {@link #cur} just after the last record returned. */
    private long pos;
    /**
     * Whether {@link #buf} holds the start of a line that the file ended in at the last read: only those bytes
     * need checking against the file ({@link #stillInFile()}), not a buffer full of lines not taken yet.
     */
    private boolean partAtEnd;
    /** {@link #head(byte[])} of {@link #cur}'s first record; null until it has one. */
    private String curHead;
    private ByteBuffer buf = ByteBuffer.allocate(1 << 20);
    /** What the last {@link #open} or rotation had to say (for the log), or null. */
    private String note;

    Spool(Path live) {
        this.live = live.toAbsolutePath();
    }

    /** The files of the spool, oldest first, {@code OUT} last; those that vanish while listed are left out. */
    List<FileId> files() throws IOException {
        List<FileId> out = new ArrayList<>();
        FileId liveId = null;
        String dotted = live.getFileName() + ".";
        String dashed = live.getFileName() + "-"; // logrotate's dateext: OUT-20261206
        DirectoryStream<Path> listing;
        try {
            listing = Files.newDirectoryStream(live.getParent());
        } catch (NoSuchFileException e) {
            return out; // not made yet (the daemon has not started): nothing to read so far
        }
        try (DirectoryStream<Path> dir = listing) {
            for (Path p : dir) {
                String name = p.getFileName().toString();
                boolean isLive = p.equals(live);
                if (!isLive && (!(name.startsWith(dotted) || name.startsWith(dashed))
                        || COMPRESSED.stream().anyMatch(name::endsWith)
                        || name.endsWith(".tmp"))) {
                    continue;
                }
                FileId id = stat(p);
                if (id == null) {
                    continue;
                }
                if (isLive) {
                    liveId = id;
                } else {
                    out.add(id);
                }
            }
        }
        // Oldest first. Two files of the same mtime (a coarse clock, small files): OUT.N before OUT.N-1 (a
        // higher number is older), a dated name before a later one.
        out.sort(Comparator.comparingLong(FileId::mtimeNs).thenComparing(Spool::rotationAge));
        if (liveId != null) {
            out.add(liveId);
        }
        return out;
    }

    /** Orders files of one mtime: {@code OUT.3} before {@code OUT.2}; other names by name. */
    private static int rotationAge(FileId a, FileId b) {
        long na = number(a.path());
        long nb = number(b.path());
        if (na >= 0 && nb >= 0) {
            return Long.compare(nb, na);
        }
        return a.path().getFileName().toString().compareTo(b.path().getFileName().toString());
    }

    /** N of a name ending in {@code .N}, else -1. */
    private static long number(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        if (dot < 0 || dot == n.length() - 1 || n.length() - dot > 10) {
            return -1;
        }
        for (int i = dot + 1; i < n.length(); i++) {
            if (n.charAt(i) < '0' || n.charAt(i) > '9') {
                return -1;
            }
        }
        return Long.parseLong(n.substring(dot + 1));
    }

    static FileId stat(Path p) throws IOException {
        try {
            Map<String, Object> a = Files.readAttributes(p, "unix:dev,ino,size,lastModifiedTime,isRegularFile",
                    LinkOption.NOFOLLOW_LINKS);
            if (!(Boolean) a.get("isRegularFile")) {
                return null;
            }
            long mtime = ((java.nio.file.attribute.FileTime) a.get("lastModifiedTime"))
                    .to(java.util.concurrent.TimeUnit.NANOSECONDS);
            return new FileId(p, (Long) a.get("dev"), (Long) a.get("ino"), (Long) a.get("size"), mtime);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /**
     * Positions the stream at {@code cp}, or at the start of the oldest file without one. Returns false if the
     * checkpoint's file is gone (rotation removed it before it was all forwarded): the stream then starts at the
     * oldest file there is, and {@link #note()} says so.
     */
    boolean open(Checkpoint cp) throws IOException {
        List<FileId> files = settledFiles();
        if (cp != null) {
            for (int attempt = 0; attempt < 10; attempt++) {
                FileId found = find(files, cp);
                if (found != null) {
                    switchTo(found, cp.offset());
                    return true;
                }
                if (!renamedMeanwhile) {
                    break;
                }
                files = settledFiles();
            }
        }
        if (!files.isEmpty()) {
            switchTo(files.getFirst(), 0);
        }
        if (cp != null) {
            note = "the checkpoint's file (" + cp.path() + ", inode " + cp.ino() + ") is gone: rotation removed it"
                    + " before it was all forwarded; going on from " + (cur == null ? live : cur.path());
            return false;
        }
        return true;
    }

    private void switchTo(FileId f, long offset) throws IOException {
        closeChannel();
        buf.clear();
        pos = offset;
        cur = f;
        curHead = null;
        // The path must name the listed file before and after the open: rotation renames forward only, so
        // then the channel is that file (Java cannot fstat a channel). If it moved, it is looked up again.
        for (int attempt = 0; attempt < 100; attempt++) {
            FileId at = attempt == 0 ? f : find(f);
            if (at == null) {
                // Removed before it was read: nothing to open; the next read goes on after it (by mtime).
                note = f.path() + " (inode " + f.ino() + ") was removed before it was all forwarded";
                return;
            }
            FileId before = stat(at.path());
            FileChannel opened;
            try {
                opened = FileChannel.open(at.path(), StandardOpenOption.READ);
            } catch (NoSuchFileException e) {
                continue;
            }
            FileId after = stat(at.path());
            if (before != null && after != null && before.same(f.dev(), f.ino()) && after.same(f.dev(), f.ino())) {
                ch = opened;
                cur = after;
                curHead = offset == 0 ? null : headOf(opened);
                if (offset > after.size()) {
                    note = after.path() + " is shorter (" + after.size() + " bytes) than the checkpoint's offset "
                            + offset + ": it was truncated (copytruncate loses records; see docs/FLEET.md);"
                            + " reading it from its start";
                    pos = 0;
                }
                return;
            }
            opened.close();
        }
        throw new IOException(f.path() + " (inode " + f.ino() + "): renamed on every attempt to open it");
    }

    private boolean renamedMeanwhile;

    /**
     * The checkpoint's file among {@code files}: same device and inode and the same first record. After a
     * reboot the file system's device number can differ (device-mapper, disks found in another order): the
     * inode and the first record's digest together still name the file then. Sets {@link #renamedMeanwhile}
     * when a candidate could not be read as itself.
     */
    private FileId find(List<FileId> files, Checkpoint cp) throws IOException {
        renamedMeanwhile = false;
        for (int pass = 0; pass < 2; pass++) {
            for (FileId f : files) {
                boolean candidate = pass == 0 ? f.same(cp.dev(), cp.ino())
                        : f.ino() == cp.ino() && !cp.head().isEmpty();
                if (!candidate) {
                    continue;
                }
                if (pass == 0 && cp.head().isEmpty()) {
                    return f; // a checkpoint without a digest
                }
                String h = headOf(f);
                if (h == null) {
                    renamedMeanwhile = true;
                } else if (h.equals(cp.head())) {
                    return f;
                }
            }
        }
        return null;
    }

    private FileId find(FileId f) throws IOException {
        for (FileId g : settledFiles()) {
            if (g.same(f.dev(), f.ino())) {
                return g;
            }
        }
        return null;
    }

    /**
     * A digest of a file's first record (SHA-256, the first 16 bytes in hex). The first record is whole and
     * differs from file to file (its ts_ms, seq, event_id), unlike the first bytes, which every file shares.
     */
    static String head(byte[] firstLine) {
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(firstLine);
            return java.util.HexFormat.of().formatHex(d, 0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The head of the file open as {@code ch}, or "" if it has no whole first record (up to 1 MiB). */
    private static String headOf(FileChannel ch) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1 << 20);
        while (b.hasRemaining() && ch.read(b, b.position()) > 0) {
            byte[] a = b.array();
            for (int i = 0; i < b.position(); i++) {
                if (a[i] == '\n') {
                    return head(java.util.Arrays.copyOf(a, i));
                }
            }
        }
        return "";
    }

    /** The head of {@code f}, or null if its path named another file around the read (a rename). */
    private static String headOf(FileId f) throws IOException {
        FileId before = stat(f.path());
        String h;
        try (FileChannel ch = FileChannel.open(f.path(), StandardOpenOption.READ)) {
            h = headOf(ch);
        } catch (NoSuchFileException e) {
            return null;
        }
        FileId after = stat(f.path());
        boolean same = before != null && after != null && before.same(f.dev(), f.ino())
                && after.same(f.dev(), f.ino());
        return same ? h : null;
    }

    /** What the last open or switch had to say, once; null if nothing. */
    String note() {
        String n = note;
        note = null;
        return n;
    }

    /** The file being read, or null before there is one. */
    FileId current() {
        return cur;
    }

    /**
     * Appends up to {@code max} whole records to {@code out}, moving on to the next file when the current one
     * is done. Returns how many were added; 0 when nothing is there yet.
     */
    int read(List<Line> out, int max) throws IOException {
        if (cur == null && !open(null)) {
            return 0;
        }
        if (cur == null) {
            return 0;
        }
        int n = readCurrent(out, max);
        if (n > 0) {
            return n;
        }
        // At the end of the current file. Still the live one: nothing more now (one stat, no listing).
        FileId liveNow = stat(live);
        if (ch != null && liveNow != null && liveNow.same(cur.dev(), cur.ino())) {
            truncatedCheck(liveNow);
            return 0;
        }
        // Rotated: is there a next one with data? (Not while the rotator is renaming: then at the next look.)
        List<FileId> files = stableFiles();
        FileId next = files == null ? null : nextAfter(files);
        if (next == null) {
            return 0;
        }
        n = readCurrent(out, max); // the last of the old file, written before the next one began
        if (n > 0) {
            return n;
        }
        switchTo(next, 0);
        return readCurrent(out, max);
    }

    /** The file after the current one if it has data, else null. */
    private FileId nextAfter(List<FileId> files) {
        int at = -1;
        // Without a channel the current file was removed before it could be opened, and its inode may be
        // another file's by now: it is placed by its mtime only.
        for (int i = 0; ch != null && i < files.size(); i++) {
            if (files.get(i).same(cur.dev(), cur.ino())) {
                at = i;
                cur = files.get(i); // fresher size and mtime
                break;
            }
        }
        int from = files.size();
        if (at >= 0) {
            from = at + 1;
        } else {
            for (int i = 0; i < files.size(); i++) { // ours was removed: the first written after it
                if (files.get(i).mtimeNs() >= cur.mtimeNs()) {
                    from = i;
                    break;
                }
            }
        }
        // An empty file is passed over: rotated while nothing was written to it, it never will be. Only data
        // in a later file proves that the writer has left the current one.
        for (int i = from; i < files.size(); i++) {
            if (files.get(i).size() > 0) {
                return files.get(i);
            }
        }
        return null;
    }

    /** copytruncate: the live file, still ours, shorter than what we read of it. */
    private void truncatedCheck(FileId f) {
        if (f.size() < pos) {
            note = f.path() + " shrank from " + pos + " to " + f.size() + " bytes: it was truncated"
                    + " (copytruncate loses records; see docs/FLEET.md); reading it from its start";
            pos = 0;
            buf.clear();
        }
    }

    /**
     * {@link #files()}, listed until two listings in a row agree on the names and files; null if 20 pairs in a
     * row did not (the rotator is renaming right now: ask again later). A directory read while files are
     * renamed can miss one or see one twice, and deciding on such a listing could pass over a file never read.
     */
    List<FileId> stableFiles() throws IOException {
        List<FileId> a = files();
        for (int i = 0; i < 20; i++) {
            List<FileId> b = files();
            if (sameFiles(a, b)) {
                return b;
            }
            a = b;
        }
        return null;
    }

    /** {@link #stableFiles()}, waiting up to 10 s for the renames to settle (start-up must decide). */
    private List<FileId> settledFiles() throws IOException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            List<FileId> files = stableFiles();
            if (files != null) {
                return files;
            }
            if (System.nanoTime() > deadline) {
                throw new IOException(live.getParent() + ": its files kept being renamed for 10 s");
            }
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
    }

    private static boolean sameFiles(List<FileId> a, List<FileId> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            FileId x = a.get(i);
            FileId y = b.get(i);
            if (!x.path().equals(y.path()) || !x.same(y.dev(), y.ino())) {
                return false;
            }
        }
        return true;
    }

    private int readCurrent(List<Line> out, int max) throws IOException {
        if (ch == null) {
            return 0;
        }
        if (partAtEnd && buf.position() > 0 && !stillInFile()) {
            buf.clear(); // the part of a line held here was cut off the file: read again from pos
        }
        partAtEnd = false;
        int added = 0;
        while (added < max) {
            // buf holds [pos, pos + buf.position()) of the file: bytes read past the last whole record
            int got = ch.read(buf, pos + buf.position());
            int end = buf.position();
            byte[] a = buf.array();
            int start = 0;
            for (int i = 0; i < end && added < max; i++) {
                if (a[i] == '\n') {
                    byte[] line = java.util.Arrays.copyOfRange(a, start, i);
                    start = i + 1;
                    if (pos == 0) {
                        curHead = head(line);
                    }
                    pos += line.length + 1;
                    if (line.length > 0) {
                        out.add(new Line(line, cur.dev(), cur.ino(), pos, cur.path().toString(), curHead));
                        added++;
                    }
                }
            }
            // keep the unread rest at the front
            System.arraycopy(a, start, a, 0, end - start);
            buf.position(end - start);
            if (!buf.hasRemaining()) {
                if (buf.capacity() >= MAX_RECORD) {
                    throw new IOException(cur.path() + ": a record at offset " + pos + " is longer than "
                            + MAX_RECORD + " bytes");
                }
                ByteBuffer bigger = ByteBuffer.allocate(buf.capacity() * 2);
                buf.flip();
                bigger.put(buf);
                buf = bigger;
                continue;
            }
            if (got <= 0) {
                partAtEnd = buf.position() > 0; // the file ended inside a line
                break;
            }
        }
        return added;
    }

    /**
     * Whether the start of a line held from the last read is still what the file has there. A daemon started
     * after one that was killed mid-write cuts such a part off its output before appending (FdOutput), and
     * the first new record must not be read as the rest of it.
     */
    private boolean stillInFile() throws IOException {
        int n = buf.position();
        ByteBuffer again = ByteBuffer.allocate(n);
        while (again.hasRemaining() && ch.read(again, pos + again.position()) > 0) {
            // until n bytes, or the end of the file
        }
        return !again.hasRemaining() && java.util.Arrays.equals(buf.array(), 0, n, again.array(), 0, n);
    }

    private void closeChannel() throws IOException {
        if (ch != null) {
            ch.close();
            ch = null;
        }
    }

    @Override
    public void close() throws IOException {
        closeChannel();
    }
}
