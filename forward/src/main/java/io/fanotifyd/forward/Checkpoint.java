package io.fanotifyd.forward;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Where the forwarder stands: the spool file (by identity, so that a rename does not lose it) and the offset up
 * to which every record has been acknowledged by the broker, with the last {@code event_id} shipped (to count
 * what was missed when the file is gone). Written whole to a temporary file, synced, renamed over the old one
 * and the directory synced: after a crash or a power cut the file is the old checkpoint or the new one.
 *
 * @param dev    the file's device ({@code unix:dev})
 * @param ino    the file's inode
 * @param offset bytes of it acknowledged; always at a record's end
 * @param path   where the file was when the checkpoint was written (for the log; the identity decides)
 * @param lastEventId the {@code event_id} of the last record acknowledged, or empty
 * @param head   a digest of the file's first record ({@link Spool#head(byte[])}): a file system reuses the
 *               inode of a removed file, and a file that took it over must not be read from the old offset
 */
record Checkpoint(long dev, long ino, long offset, String path, String lastEventId, String head) {
    private static final String MAGIC = "fanotifyd-forward-checkpoint 1";

    /** The checkpoint in {@code file}, or null if there is none. */
    static Checkpoint read(Path file) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return null;
        }
        if (lines.isEmpty() || !lines.get(0).equals(MAGIC)) {
            throw new IOException(file + ":1: not a forwarder checkpoint (expected '" + MAGIC + "')");
        }
        long dev = -1;
        long ino = -1;
        long offset = -1;
        String path = "";
        String last = "";
        String head = "";
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i);
            int sp = line.indexOf(' ');
            String key = sp < 0 ? line : line.substring(0, sp);
            String value = sp < 0 ? "" : line.substring(sp + 1);
            try {
                switch (key) {
                    case "dev" -> dev = Long.parseLong(value);
                    case "ino" -> ino = Long.parseLong(value);
                    case "offset" -> offset = Long.parseLong(value);
                    case "path" -> path = value;
                    case "last_event_id" -> last = value;
                    case "head" -> head = value;
                    default -> { } // written by a newer version: ignored
                }
            } catch (NumberFormatException e) {
                throw new IOException(file + ":" + (i + 1) + ": not a number: '" + value + "'");
            }
        }
        if (dev < 0 || ino < 0 || offset < 0) {
            throw new IOException(file + ":" + lines.size() + ": incomplete (dev, ino and offset are needed)");
        }
        return new Checkpoint(dev, ino, offset, path, last, head);
    }

    /** Replaces {@code file} with this checkpoint, durably. */
    void write(Path file) throws IOException {
        String text = MAGIC + "\ndev " + dev + "\nino " + ino + "\noffset " + offset + "\npath " + path
                + "\nlast_event_id " + lastEventId + "\nhead " + head + "\n";
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("rename " + tmp + " to " + file + ": not atomic on this filesystem");
        }
        try (FileChannel dir = FileChannel.open(file.toAbsolutePath().getParent(), StandardOpenOption.READ)) {
            dir.force(true);
        }
    }
}
