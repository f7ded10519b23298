package io.fanotifyd.sink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The output's writer against outputs that fail without needing root: {@code /dev/full} (every write ENOSPC),
 * a FIFO whose reader goes away (EPIPE), and a file renamed and reopened. Nothing is ever thrown at the caller;
 * every record is written, or counted.
 */
class FdOutputTest {
    private final List<String> warnings = Collections.synchronizedList(new ArrayList<>());
    private final List<String> gone = Collections.synchronizedList(new ArrayList<>());

    private final FdOutput.Listener listener = new FdOutput.Listener() {
        @Override
        public void warn(String message) {
            warnings.add(message);
        }

        @Override
        public void gone(String message) {
            gone.add(message);
        }
    };

    /** Appends {@code n} one-line records and hands them over. */
    private static void records(FdOutput out, int n, String tag) {
        for (int i = 0; i < n; i++) {
            record(out, tag, i);
        }
        out.flush();
    }

    private static void record(FdOutput out, String tag, int i) {
        JsonWriter w = out.begin();
        w.beginObject();
        w.name(JsonWriter.key("tag"));
        w.string(tag);
        w.name(JsonWriter.key("i"));
        w.number(i);
        w.endObject();
        w.newline();
        out.commit(1);
    }

    /**
     * The notification and permission threads both append: each record is one transaction, so with two threads
     * writing at once every line is whole, each thread's records are in its own order, and none is lost; a
     * record given up half-way leaves nothing.
     */
    @Test
    void twoThreadsAppendingAtOnceWriteEveryRecordWholeAndAnAbortLeavesNothing(@TempDir Path dir) throws Exception {
        Path path = dir.resolve("out.jsonl");
        int each = 20_000;
        try (FdOutput out = FdOutput.open(path.toString(), 0640, 4096, 8, false, listener)) {
            Thread[] writers = new Thread[2];
            for (int t = 0; t < writers.length; t++) {
                String tag = "t" + t;
                writers[t] = Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < each; i++) {
                        if (i % 1000 == 0) { // half a record, given up
                            JsonWriter w = out.begin();
                            w.beginObject();
                            w.name(JsonWriter.key("half"));
                            out.abort();
                        }
                        record(out, tag, i);
                    }
                });
            }
            for (Thread w : writers) {
                w.join(60_000);
                assertTrue(!w.isAlive(), "a writer did not finish in 60 s");
            }
            assertTrue(out.finish(10_000));
            assertEquals(2L * each, out.written());
        }
        List<String> lines = Files.readAllLines(path);
        assertEquals(2 * each, lines.size());
        int[] next = new int[2];
        for (String l : lines) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\{\"tag\":\"t([01])\",\"i\":(\\d+)}")
                    .matcher(l);
            assertTrue(m.matches(), "not a whole record of ours: " + l);
            int t = Integer.parseInt(m.group(1));
            assertEquals(next[t]++, Integer.parseInt(m.group(2)), "thread " + t + "'s records in order");
        }
        assertEquals(List.of(), warnings);
    }

    @Test
    void aPartRecordLeftByAKilledDaemonIsCutOffBeforeAnythingIsAppended(@TempDir Path dir) throws Exception {
        Path path = dir.resolve("out.jsonl");
        Files.writeString(path, "{\"n\":1}\n{\"n\":2}\n{\"n\":3,\"pa");
        try (FdOutput out = FdOutput.open(path.toString(), 0640, 4096, 4, false, listener)) {
            record(out, "new", 1);
            out.flush();
            assertTrue(out.finish(10_000), "the writer finishes");
        }
        List<String> lines = Files.readAllLines(path);
        assertEquals(3, lines.size(), lines.toString());
        assertEquals("{\"n\":1}", lines.get(0));
        assertEquals("{\"n\":2}", lines.get(1));
        assertTrue(lines.get(2).contains("new"), lines.get(2));
        assertTrue(warnings.stream().anyMatch(w -> w.contains("ended with part of a record") && w.contains("(10 bytes)")),
                warnings.toString());
        // A file that ends with a whole record is left alone.
        warnings.clear();
        try (FdOutput out = FdOutput.open(path.toString(), 0640, 4096, 4, false, listener)) {
            out.flush();
        }
        assertEquals(3, Files.readAllLines(path).size());
        assertEquals(List.of(), warnings);
        Path torn = dir.resolve("torn.jsonl");
        Files.writeString(torn, "{\"n\":1,\"pa");
        try (FdOutput out = FdOutput.open(torn.toString(), 0640, 4096, 4, false, listener)) {
            out.flush();
        }
        assertEquals(0, Files.size(torn), "a lone part of a record goes too");
    }

    @Test
    void aDeviceThatIsAlwaysFullCostsTheCallerNothingAndEveryRecordIsCounted() {
        try (FdOutput out = FdOutput.open("/dev/full", 0640, 4096, 4, false, listener)) {
            for (int round = 0; round < 10; round++) {
                records(out, 100, "r" + round); // observe mode: never waits on a failing output
            }
            assertTrue(out.finish(10_000), "the writer finishes");
            assertEquals(1000, out.lost() + out.dropped(), "every record counted");
            assertEquals(0, out.written());
            assertEquals(0, out.unwritten());
            assertTrue(out.failing());
            assertTrue(warnings.stream().anyMatch(w -> w.contains("/dev/full: cannot write: No space left on device"
                    + " (ENOSPC)")), warnings.toString());
            assertEquals(List.of(), gone);
        }
    }

    @Test
    void aReaderThatGoesAwayIsToldOnceAndRecordsAreCountedFromThen(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("fifo");
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).start();
        assertTrue(mk.waitFor(10, TimeUnit.SECONDS) && mk.exitValue() == 0);
        // A reader that takes one line and leaves.
        Process reader = new ProcessBuilder("head", "-n", "1", fifo.toString()).start();
        try (FdOutput out = FdOutput.open(fifo.toString(), 0640, 4096, 4, false, listener)) {
            records(out, 1, "first");
            assertTrue(reader.waitFor(10, TimeUnit.SECONDS), "head read its line");
            assertEquals("{\"tag\":\"first\",\"i\":0}", new String(reader.getInputStream().readAllBytes(),
                    StandardCharsets.UTF_8).strip());
            for (int round = 0; round < 5; round++) {
                records(out, 50, "after");
            }
            assertTrue(out.finish(10_000));
            assertEquals(1, out.written());
            assertEquals(250, out.lost() + out.dropped());
            assertEquals(1, gone.size(), gone.toString());
            assertTrue(gone.getFirst().contains("its reader went away (Broken pipe (EPIPE))"), gone.toString());
        } finally {
            reader.destroyForcibly();
        }
    }

    @Test
    void aReopenAfterARenameSendsTheNextRecordsToTheNewFileNoneLostNoneTwice(@TempDir Path dir) throws Exception {
        Path path = dir.resolve("out.jsonl");
        Path rotated = dir.resolve("out.jsonl.1");
        try (FdOutput out = FdOutput.open(path.toString(), 0640, 4096, 4, false, listener)) {
            records(out, 300, "before");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (out.written() < 300 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(300, out.written());
            Files.move(path, rotated);
            out.requestReopen();
            records(out, 200, "after");
            assertTrue(out.finish(10_000));
        }
        List<String> old = Files.readAllLines(rotated);
        List<String> now = Files.readAllLines(path);
        assertEquals(300, old.size());
        assertTrue(old.stream().allMatch(l -> l.startsWith("{\"tag\":\"before\"")), old.toString());
        assertEquals(200, now.size());
        assertTrue(now.stream().allMatch(l -> l.startsWith("{\"tag\":\"after\"")), now.toString());
        assertEquals("rw-r-----", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(path)), "created 0640");
        assertEquals(List.of(), warnings);
    }

    @Test
    void sizeRotationKeepsTheNewestFilesEachUnderTheLimitAndEveryRecordOnce(@TempDir Path dir) throws IOException {
        Path path = dir.resolve("out.jsonl");
        try (FdOutput out = FdOutput.open(path.toString(), 0600, new FdOutput.Rotation(2048, 2), 4096, 4, false,
                listener)) {
            for (int round = 0; round < 100; round++) {
                records(out, 10, "r" + round); // ~300 bytes a buffer
            }
            assertTrue(out.finish(10_000));
            assertTrue(out.rotations() >= 5, out.rotations() + " rotations");
        }
        assertTrue(Files.exists(dir.resolve("out.jsonl.2")));
        assertTrue(!Files.exists(dir.resolve("out.jsonl.3")), "only --output-keep rotated files");
        List<String> lines = new ArrayList<>();
        for (String f : new String[] {"out.jsonl.2", "out.jsonl.1", "out.jsonl"}) {
            assertTrue(Files.size(dir.resolve(f)) <= 2048, f + ": " + Files.size(dir.resolve(f)));
            lines.addAll(Files.readAllLines(dir.resolve(f)));
        }
        // The newest records, in order, none twice: r99 ends the last file.
        assertEquals("{\"tag\":\"r99\",\"i\":9}", lines.getLast());
        assertEquals(lines.size(), new java.util.HashSet<>(lines).size(), "no record twice");
        assertEquals(List.of(), warnings);
    }

    @Test
    void aDroppedRecordStandsWhereTheRecordsAreMissing(@TempDir Path dir) throws IOException {
        Path path = dir.resolve("out.jsonl");
        try (FdOutput out = FdOutput.open(path.toString(), 0640, 4096, 1, true, listener)) {
            // One buffer in flight and permission mode's drop-when-full: a burst of flushes drops some.
            for (int round = 0; round < 200; round++) {
                records(out, 20, "r" + round);
            }
            assertTrue(out.finish(10_000));
            long written = out.written();
            long dropped = out.dropped();
            assertEquals(4000, written + dropped + out.lost());
            List<String> lines = Files.readAllLines(path);
            long told = lines.stream().filter(l -> l.contains("\"type\":\"dropped\"")).mapToLong(l ->
                    Long.parseLong(l.replaceAll(".*\"dropped\":(\\d+).*", "$1"))).sum();
            assertEquals(dropped, told, "the dropped records count exactly what is missing");
            assertEquals(written, lines.stream().filter(l -> l.startsWith("{\"tag\"")).count());
        }
    }
}
