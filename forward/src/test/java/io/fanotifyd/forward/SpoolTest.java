package io.fanotifyd.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class SpoolTest {
    @TempDir
    Path dir;

    private Path out() {
        return dir.resolve("out.jsonl");
    }

    private static void append(Path p, String s) throws IOException {
        Files.writeString(p, s, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    private static List<String> drain(Spool s) throws IOException {
        List<Spool.Line> lines = new ArrayList<>();
        while (s.read(lines, 3) > 0) {
            // until nothing more is there now
        }
        return lines.stream().map(l -> new String(l.bytes(), StandardCharsets.UTF_8)).toList();
    }

    @Test
    void aLineWithoutItsNewlineWaits() throws IOException {
        append(out(), "a\nb");
        try (Spool s = new Spool(out())) {
            assertEquals(List.of("a"), drain(s));
            append(out(), "c\n");
            assertEquals(List.of("bc"), drain(s));
        }
    }

    @Test
    void aPartLineCutOffTheFileIsNotGluedToTheNextRecord() throws IOException {
        append(out(), "{\"n\":1}\n{\"n\":2,\"pa");
        try (Spool s = new Spool(out())) {
            assertEquals(List.of("{\"n\":1}"), drain(s));
            // A new daemon after a killed one: the part is cut off, then a whole record appended.
            try (var ch = java.nio.channels.FileChannel.open(out(), StandardOpenOption.WRITE)) {
                ch.truncate(8);
            }
            append(out(), "{\"n\":3,\"path\":\"/x\"}\n");
            assertEquals(List.of("{\"n\":3,\"path\":\"/x\"}"), drain(s));
        }
    }

    @Test
    void followsTheDaemonsRotationWithoutLossOrRepeat() throws IOException {
        append(out(), "1\n2\n");
        try (Spool s = new Spool(out())) {
            assertEquals(List.of("1", "2"), drain(s));
            append(out(), "3\n");
            Files.move(out(), dir.resolve("out.jsonl.1"));
            assertEquals(List.of("3"), drain(s), "the rest of the renamed file");
            Files.writeString(out(), ""); // opened, nothing yet: stay on the old one
            assertEquals(List.of(), drain(s));
            append(out(), "4\n");
            assertEquals(List.of("4"), drain(s));
            Files.move(dir.resolve("out.jsonl.1"), dir.resolve("out.jsonl.2"));
            Files.move(out(), dir.resolve("out.jsonl.1"));
            append(out(), "5\n");
            assertEquals(List.of("5"), drain(s));
        }
    }

    @Test
    void logrotateCreateTheDaemonWritesTheRenamedFileUntilItReopens() throws IOException {
        append(out(), "1\n");
        try (Spool s = new Spool(out())) {
            assertEquals(List.of("1"), drain(s));
            Path old = dir.resolve("out.jsonl.1");
            Files.move(out(), old);
            Files.writeString(out(), ""); // logrotate's create
            append(old, "2\n"); // the daemon, before SIGUSR1
            assertEquals(List.of("2"), drain(s));
            append(old, "3\n");
            append(out(), "4\n"); // reopened: the old file is done
            assertEquals(List.of("3", "4"), drain(s));
        }
    }

    @Test
    void resumesAtTheCheckpointsFileWhereverRotationMovedIt() throws IOException {
        append(out(), "1\n2\n3\n");
        Checkpoint cp;
        try (Spool s = new Spool(out())) {
            List<Spool.Line> got = new ArrayList<>();
            s.read(got, 2);
            Spool.Line last = got.getLast();
            cp = new Checkpoint(last.dev(), last.ino(), last.endOffset(), last.path(), "", last.head());
        }
        Files.move(out(), dir.resolve("out.jsonl.3"));
        append(out(), "4\n");
        Files.setLastModifiedTime(out(), FileTime.fromMillis(System.currentTimeMillis() + 1000));
        Files.writeString(dir.resolve("out.jsonl.3.gz"), "compressed, never read\n");
        try (Spool s = new Spool(out())) {
            assertTrue(s.open(cp));
            assertEquals(List.of("3", "4"), drain(s));
        }
    }

    @Test
    void theCheckpointsFileGoneStartsAtTheOldestAndSaysSo() throws IOException {
        append(out(), "9\n");
        Checkpoint cp = new Checkpoint(1, 999_999_999L, 10, "/gone/out.jsonl.7", "", "");
        try (Spool s = new Spool(out())) {
            assertFalse(s.open(cp));
            assertTrue(s.note().contains("is gone"));
            assertNull(s.note(), "said once");
            assertEquals(List.of("9"), drain(s));
        }
    }

    @Test
    void anInodeTakenOverByAnotherFileIsNotTheCheckpointsFile() throws IOException {
        append(out(), "{\"n\":1}\n{\"n\":2}\n");
        Checkpoint cp;
        try (Spool s = new Spool(out())) {
            List<Spool.Line> got = new ArrayList<>();
            s.read(got, 1);
            Spool.Line l = got.getFirst();
            cp = new Checkpoint(l.dev(), l.ino(), l.endOffset(), l.path(), "", l.head());
            assertEquals(Spool.head("{\"n\":1}".getBytes(StandardCharsets.UTF_8)), l.head());
        }
        // Same device and inode, other records: what a file system does with a removed file's inode.
        Files.writeString(out(), "{\"n\":7}\n{\"n\":8}\n");
        try (Spool s = new Spool(out())) {
            assertFalse(s.open(cp), "not the checkpoint's file");
            assertTrue(s.note().contains("is gone"));
            assertEquals(List.of("{\"n\":7}", "{\"n\":8}"), drain(s));
        }
        try (Spool s = new Spool(out())) {
            Files.writeString(out(), "{\"n\":1}\n{\"n\":2}\n");
            assertTrue(s.open(cp), "the same first record: the same file");
            assertEquals(List.of("{\"n\":2}"), drain(s));
        }
        // A reboot that gave the file system another device number: inode and digest still name the file.
        Checkpoint moved = new Checkpoint(cp.dev() + 1, cp.ino(), cp.offset(), cp.path(), "", cp.head());
        try (Spool s = new Spool(out())) {
            assertTrue(s.open(moved));
            assertEquals(List.of("{\"n\":2}"), drain(s));
        }
    }

    @Test
    void beforeTheDaemonMadeItsDirectoryThereIsNothingYet() throws IOException {
        Path later = dir.resolve("later/out.jsonl");
        try (Spool s = new Spool(later)) {
            assertEquals(List.of(), drain(s));
            Files.createDirectories(later.getParent());
            append(later, "1\n");
            assertEquals(List.of("1"), drain(s));
        }
    }

    @Test
    void copytruncateIsNoticedAndTheFileReadAgainFromItsStart() throws IOException {
        append(out(), "1\n2\n");
        try (Spool s = new Spool(out())) {
            assertEquals(List.of("1", "2"), drain(s));
            Files.writeString(out(), "3\n");
            assertEquals(List.of(), drain(s), "noticed at the first look");
            assertTrue(s.note().contains("truncated"));
            assertEquals(List.of("3"), drain(s));
        }
    }

    static LongStream seeds() {
        return LongStream.range(1, 101);
    }

    /**
     * Property: whatever the chunking of the writes, the points of rotation and the size of each read, the
     * lines read are the lines written, in order, each once.
     */
    @ParameterizedTest
    @MethodSource("seeds")
    void everyLineOnceInOrderUnderRandomWritesRotationsAndReads(long seed) throws IOException {
        Random r = new Random(seed);
        List<String> written = new ArrayList<>();
        List<String> read = new ArrayList<>();
        int keep = 1 + r.nextInt(4);
        long mtime = System.currentTimeMillis();
        OutputStream w = Files.newOutputStream(out(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        try (Spool s = new Spool(out())) {
            StringBuilder pending = new StringBuilder();
            for (int step = 0; step < 300; step++) {
                int what = r.nextInt(10);
                if (what < 6) { // write a few lines, in pieces that may split a line
                    for (int i = 0, n = 1 + r.nextInt(5); i < n; i++) {
                        String line = "{\"n\":" + written.size() + ",\"pad\":\"" + "x".repeat(r.nextInt(200)) + "\"}";
                        written.add(line);
                        pending.append(line).append('\n');
                    }
                    int cut = r.nextInt(pending.length() + 1);
                    w.write(pending.substring(0, cut).getBytes(StandardCharsets.UTF_8));
                    w.flush();
                    pending.delete(0, cut);
                } else if (what < 8) { // read, a random number of lines at most
                    List<Spool.Line> got = new ArrayList<>();
                    s.read(got, 1 + r.nextInt(50));
                    got.forEach(l -> read.add(new String(l.bytes(), StandardCharsets.UTF_8)));
                } else if (pending.isEmpty()) { // rotate between two whole writes, as the daemon does
                    w.close();
                    Files.setLastModifiedTime(out(), FileTime.fromMillis(mtime += 10));
                    Files.deleteIfExists(dir.resolve("out.jsonl." + keep + ".unread"));
                    for (int i = keep - 1; i >= 1; i--) {
                        Path from = dir.resolve("out.jsonl." + i);
                        if (Files.exists(from)) {
                            Files.move(from, dir.resolve("out.jsonl." + (i + 1)),
                                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                        }
                    }
                    Files.move(out(), dir.resolve("out.jsonl.1"));
                    // the reader must be able to keep up: never remove a file it has not finished
                    Path last = dir.resolve("out.jsonl." + (keep + 1));
                    if (Files.exists(last)) {
                        Files.move(last, dir.resolve("out.jsonl." + (keep + 1) + "x"));
                    }
                    w = Files.newOutputStream(out(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                }
            }
            w.write(pending.toString().getBytes(StandardCharsets.UTF_8));
            w.close();
            Files.setLastModifiedTime(out(), FileTime.fromMillis(mtime + 10));
            read.addAll(drain(s));
        } finally {
            w.close();
        }
        assertEquals(written.size(), read.size(), "seed " + seed);
        assertEquals(written, read, "seed " + seed);
    }

    /**
     * A writer that rotates as the daemon does (OUT.k renamed to OUT.k+1 for 40 kept files, OUT to OUT.1, a new
     * OUT) every 1500 lines, 200 times, while the spool reads on another thread: a directory listing taken during the
     * renames must never make it pass over a file.
     */
    @Test
    void concurrentRotationWithManyKeptFilesLosesNothing() throws Exception {
        int keep = 40;
        int lines = 300_000;
        List<String> read = new ArrayList<>();
        Thread writer = new Thread(() -> {
            try {
                OutputStream w = Files.newOutputStream(out(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                for (int i = 0; i < lines; i++) {
                    w.write(("{\"n\":" + i + "}\n").getBytes(StandardCharsets.UTF_8));
                    if (i % 1500 == 1499) {
                        w.close();
                        for (int k = keep - 1; k >= 1; k--) {
                            Path from = dir.resolve("out.jsonl." + k);
                            if (Files.exists(from)) {
                                Files.move(from, dir.resolve("out.jsonl." + (k + 1)),
                                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                            }
                        }
                        Files.move(out(), dir.resolve("out.jsonl.1"));
                        w = Files.newOutputStream(out(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                    }
                }
                w.close();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Files.writeString(out(), "");
        try (Spool s = new Spool(out())) {
            writer.start();
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(120);
            while (read.size() < lines && System.nanoTime() < deadline) {
                List<Spool.Line> got = new ArrayList<>();
                if (s.read(got, 500) == 0) {
                    Thread.onSpinWait();
                }
                got.forEach(l -> read.add(new String(l.bytes(), StandardCharsets.UTF_8)));
            }
            writer.join(30_000);
        }
        assertEquals(lines, read.size(), "every line, once");
        for (int i = 0; i < lines; i++) {
            assertEquals("{\"n\":" + i + "}", read.get(i), "in order");
        }
    }
}
