package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.EventCursorTest.FSID;
import static io.fanotifyd.kernel.EventCursorTest.FSID2;
import static io.fanotifyd.kernel.EventCursorTest.HANDLE;
import static io.fanotifyd.kernel.EventCursorTest.HANDLE2;
import static io.fanotifyd.kernel.EventCursorTest.HANDLE_TYPE;
import static io.fanotifyd.kernel.EventCursorTest.HANDLE_TYPE2;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Seeded mutation fuzzing: whatever the bytes, walking a buffer either succeeds or throws
 * {@link CorruptEventException}; and the cursor never looks at a byte at or past the length given to reset(),
 * even when the segment is larger and holds valid-looking events there.
 */
class EventCursorFuzzTest {
    static final long SEED = 0x5EED_F00D_2025L;
    static final int MUTATIONS = 20_000;

    /** Valid buffers covering every record type, names, unknown records and a misaligned mask. */
    static List<byte[]> corpus() {
        byte[] weird = new byte[255];
        for (int i = 0; i < weird.length; i++) {
            weird[i] = (byte) (i + 1);
        }
        List<byte[]> out = new ArrayList<>();
        out.add(new EventBufferBuilder()
                .event(EventMask.ATTRIB, -1, 1).fid(FSID, HANDLE_TYPE, HANDLE).done()
                .build());
        out.add(new EventBufferBuilder()
                .event(EventMask.OPEN, 3, 1).info(99, new byte[0]).done()                  // event_len 28
                .event(0x4000_0000_4000_0020L, 4, 2).pidfd(9).done()                      // misaligned mask
                .event(EventMask.CREATE | EventMask.ONDIR, -1, 3)
                    .dfidName(FSID, HANDLE_TYPE, HANDLE, "dir").fid(FSID, HANDLE_TYPE2, HANDLE2).done()
                .event(EventMask.Q_OVERFLOW, -1, 0).done()
                .build());
        out.add(new EventBufferBuilder()
                .event(EventMask.RENAME, -1, 5)
                    .oldDfidName(FSID, HANDLE_TYPE, HANDLE, "from")
                    .newDfidName(FSID2, HANDLE_TYPE2, HANDLE2, "to-a-longer-name")
                    .pidfd(Fanotify.FAN_NOPIDFD)
                .done()
                .event(EventMask.FS_ERROR, -1, 0).error(117, 2).fid(FSID, HANDLE_TYPE, HANDLE).done()
                .build());
        out.add(new EventBufferBuilder()
                .event(EventMask.MOVED_TO, -1, 6)
                    .info(Fanotify.INFO_RANGE, new byte[20])
                    .namedRecord(Fanotify.INFO_DFID_NAME, FSID, HANDLE_TYPE, HANDLE, weird)
                    .info(Fanotify.INFO_MNT, new byte[8])
                    .dfid(FSID2, HANDLE_TYPE2, HANDLE2)
                    .pidfd(Fanotify.FAN_EPIDFD)
                .done()
                .event(EventMask.CLOSE_WRITE, 7, 7).done()
                .event(EventMask.DELETE, -1, 8).dfidName(FSID, 0, new byte[0], "").done()
                .build());
        return out;
    }

    /**
     * Walks {@code [0, length)} of {@code seg} and describes everything the cursor decoded (touching every
     * accessor), ending with the CorruptEventException's message if there was one. Other exceptions propagate.
     */
    static String walk(MemorySegment seg, long length) {
        StringBuilder sb = new StringBuilder();
        EventCursor c = new EventCursor().reset(seg, length);
        long maxEvents = length / Fanotify.METADATA_SIZE;
        long events = 0;
        try {
            while (c.next()) {
                if (++events > maxEvents) {
                    fail("more events than can fit " + length + " bytes: the cursor does not advance");
                }
                assertTrue(c.offset() >= 0 && c.offset() + c.eventLength() <= length,
                        "event [" + c.offset() + ", +" + c.eventLength() + ") outside [0, " + length + ")");
                sb.append("event@").append(c.offset()).append(" len=").append(c.eventLength())
                        .append(" mask=").append(Long.toHexString(c.mask()))
                        .append(" fd=").append(c.fd()).append(" pid=").append(c.pid());
                describe(sb, "fid", c.fid(), length);
                describe(sb, "dir", c.dir(), length);
                describe(sb, "old", c.oldDir(), length);
                describe(sb, "new", c.newDir(), length);
                if (c.hasPidfd()) {
                    sb.append(" pidfd=").append(c.pidfd());
                }
                if (c.hasError()) {
                    sb.append(" error=").append(c.error()).append('/').append(c.errorCount());
                }
                sb.append('\n');
            }
        } catch (CorruptEventException e) {
            sb.append("CORRUPT ").append(e.getMessage());
        }
        return sb.toString();
    }

    private static void describe(StringBuilder sb, String what, FidRecord r, long length) {
        if (!r.present()) {
            return;
        }
        long handleEnd = r.handleOffset() + 8 + r.handleBytes();
        assertTrue(handleEnd <= length, what + " handle outside the length");
        sb.append(' ').append(what).append("{fsid=").append(Long.toHexString(r.fsid()))
                .append(" type=").append(r.handleType())
                .append(" hb=").append(r.handleBytes())
                .append(" at=").append(r.handleOffset())
                .append(" h=").append(HexFormat.of().formatHex(r.handle().toArray(ValueLayout.JAVA_BYTE)));
        if (r.hasName()) {
            assertTrue(r.nameOffset() >= handleEnd && r.nameOffset() + r.nameLength() < length,
                    what + " name (and its NUL) outside the length");
            sb.append(" name@").append(r.nameOffset()).append('=')
                    .append(HexFormat.of().formatHex(r.nameBytes()));
        }
        sb.append('}');
    }

    private static final int[] BYTES = {0, 1, 2, 3, 4, 5, 7, 10, 12, 19, 20, 23, 24, 28, 0x7F, 0x80, 0xFE, 0xFF};
    private static final int[] INTS = {0, 1, 3, 4, 8, 12, 16, 19, 20, 21, 23, 24, 28, 32, 0xFFFF, 0x10000,
        -1, -2, Integer.MIN_VALUE, Integer.MAX_VALUE};

    /** One to four random mutations: bit flips, random or boundary bytes, boundary u16/u32 at aligned offsets. */
    static void mutate(byte[] b, Random rnd) {
        int n = 1 + rnd.nextInt(4);
        for (int i = 0; i < n; i++) {
            int at = rnd.nextInt(b.length);
            switch (rnd.nextInt(5)) {
                case 0 -> b[at] ^= (byte) (1 << rnd.nextInt(8));
                case 1 -> b[at] = (byte) rnd.nextInt(256);
                case 2 -> b[at] = (byte) BYTES[rnd.nextInt(BYTES.length)];
                case 3 -> {
                    int p = at & ~1;
                    int v = rnd.nextBoolean() ? INTS[rnd.nextInt(INTS.length)] : rnd.nextInt(64);
                    putLe(b, p, v, 2);
                }
                default -> {
                    int p = at & ~3;
                    putLe(b, p, INTS[rnd.nextInt(INTS.length)], 4);
                }
            }
        }
    }

    private static void putLe(byte[] b, int p, int v, int width) {
        for (int k = 0; k < width && p + k < b.length; k++) {
            b[p + k] = (byte) (v >>> (8 * k));
        }
    }

    @Test
    void randomMutationsEitherDecodeOrThrowCorruptEventException() {
        List<byte[]> corpus = corpus();
        int maxLen = corpus.stream().mapToInt(b -> b.length).max().orElseThrow();
        byte[] lure = corpus.get(1); // valid events to put past the length
        Random rnd = new Random(SEED);
        int clean = 0;
        int corrupt = 0;
        int truncated = 0;
        try (Arena arena = Arena.ofConfined()) {
            // one native segment, reused: at an address 4 mod 8 and larger than any input
            MemorySegment nat = arena.allocate(maxLen + 2L * lure.length + 8, 8).asSlice(4);
            for (int iter = 0; iter < MUTATIONS; iter++) {
                byte[] base = corpus.get(rnd.nextInt(corpus.size()));
                byte[] mutated = base.clone();
                if (rnd.nextInt(10) != 0) { // leave some unmutated so that truncation alone is tried too
                    mutate(mutated, rnd);
                }
                int length = rnd.nextInt(3) == 0 ? rnd.nextInt(mutated.length + 1) : mutated.length;
                if (length < mutated.length) {
                    truncated++;
                }
                String context = "seed=" + SEED + " iteration=" + iter + " length=" + length + " bytes="
                        + HexFormat.of().formatHex(mutated);
                try {
                    // 1. exact-size heap segment: any read past length is an IndexOutOfBoundsException
                    byte[] exact = Arrays.copyOf(mutated, length);
                    String expected = walk(MemorySegment.ofArray(exact), length);

                    // 2. larger heap segment: past length, the unmutated rest of the input, then valid events
                    byte[] larger = new byte[mutated.length + 2 * lure.length];
                    System.arraycopy(base, 0, larger, 0, base.length);
                    System.arraycopy(lure, 0, larger, base.length, lure.length);
                    System.arraycopy(lure, 0, larger, base.length + lure.length, lure.length);
                    System.arraycopy(mutated, 0, larger, 0, length);
                    assertEquals(expected, walk(MemorySegment.ofArray(larger), length),
                            "heap segment larger than length: " + context);

                    // 3. larger native segment at a misaligned address: past length, valid events from byte length
                    nat.fill((byte) 0);
                    MemorySegment.copy(lure, 0, nat, ValueLayout.JAVA_BYTE, length, lure.length);
                    MemorySegment.copy(lure, 0, nat, ValueLayout.JAVA_BYTE, length + lure.length, lure.length);
                    MemorySegment.copy(mutated, 0, nat, ValueLayout.JAVA_BYTE, 0, length);
                    assertEquals(expected, walk(nat, length), "native segment larger than length: " + context);

                    if (expected.contains("CORRUPT ")) {
                        corrupt++;
                    } else {
                        clean++;
                    }
                } catch (CorruptEventException e) {
                    throw new AssertionError("escaped the walk: " + context, e);
                } catch (AssertionError e) {
                    throw new AssertionError(e.getMessage() + "; " + context, e);
                } catch (RuntimeException | Error e) {
                    throw new AssertionError(e.getClass().getName() + " instead of CorruptEventException: "
                            + context, e);
                }
            }
        }
        // the fuzzing must exercise both outcomes, or it proves little
        assertTrue(clean > MUTATIONS / 20, "only " + clean + " walks decoded cleanly");
        assertTrue(corrupt > MUTATIONS / 5, "only " + corrupt + " walks hit corruption");
        assertTrue(truncated > MUTATIONS / 5, "only " + truncated + " truncated inputs");
    }

    /** Every prefix of every valid buffer, in a segment that holds the full buffer past the prefix. */
    @Test
    void everyTruncationOfAValidBufferIsCleanOrCorruptAtTheCutEvent() {
        for (byte[] valid : corpus()) {
            // event boundaries
            List<Integer> starts = new ArrayList<>();
            EventCursor scan = new EventCursor().reset(MemorySegment.ofArray(valid), valid.length);
            while (scan.next()) {
                starts.add((int) scan.offset());
            }
            starts.add(valid.length);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment nat = EventBufferBuilder.nativeCopy(arena, valid, 4);
                for (int length = 0; length <= valid.length; length++) {
                    String heap = walk(MemorySegment.ofArray(valid), length);
                    assertEquals(walk(MemorySegment.ofArray(Arrays.copyOf(valid, length)), length), heap,
                            "length " + length);
                    assertEquals(heap, walk(nat, length), "native, length " + length);
                    int completed = 0;
                    while (starts.get(completed + 1) <= length) {
                        completed++;
                        if (completed + 1 == starts.size()) {
                            break;
                        }
                    }
                    long lines = heap.lines().filter(l -> l.startsWith("event@")).count();
                    assertEquals(completed, lines, "events decoded from the first " + length + " bytes");
                    if (starts.contains(length)) {
                        assertTrue(!heap.contains("CORRUPT"), "cut at an event boundary is clean: " + heap);
                    } else {
                        int cut = starts.get(completed);
                        assertTrue(heap.contains("CORRUPT corrupt fanotify event buffer at byte " + cut + ":"),
                                "cut inside the event at " + cut + " (length " + length + "): " + heap);
                    }
                }
            }
        }
    }
}
