package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.EventCursorTest.FSID;
import static io.fanotifyd.kernel.EventCursorTest.HANDLE;
import static io.fanotifyd.kernel.EventCursorTest.HANDLE_TYPE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Malformed buffers: each must raise {@link CorruptEventException} naming the byte offset of the bad event or
 * record, never an {@link IndexOutOfBoundsException} or anything else, whatever the segment holds past length.
 */
class EventCursorCorruptTest {
    /** A valid event used before and after the broken part (FID record of 28 bytes, event_len 52). */
    static EventBufferBuilder goodEvent(EventBufferBuilder b) {
        return b.event(EventMask.OPEN, -1, 1).fid(FSID, HANDLE_TYPE, HANDLE).done();
    }

    /**
     * Walks {@code bytes} in several kinds of segment: exact heap, native at an address 4 mod 8, and a larger
     * segment whose bytes past the length are filled with copies of a valid event (so reading past the length
     * would find plausible data). Each walk must decode {@code goodEvents} events, then throw
     * CorruptEventException whose message names {@code offset} and contains each fragment.
     */
    static void assertCorrupt(byte[] bytes, int goodEvents, long offset, String... fragments) {
        try (Arena arena = Arena.ofConfined()) {
            byte[] filler = goodEvent(new EventBufferBuilder()).build();
            MemorySegment larger = arena.allocate(bytes.length + 4L * filler.length, 8);
            for (int i = 0; i < 4; i++) {
                MemorySegment.copy(filler, 0, larger, ValueLayout.JAVA_BYTE, bytes.length + (long) i * filler.length,
                        filler.length);
            }
            MemorySegment.copy(bytes, 0, larger, ValueLayout.JAVA_BYTE, 0, bytes.length);
            MemorySegment[] segments = {
                MemorySegment.ofArray(bytes),
                EventBufferBuilder.nativeCopy(arena, bytes, 4),
                larger,
            };
            for (MemorySegment seg : segments) {
                EventCursor c = new EventCursor().reset(seg, bytes.length);
                for (int i = 0; i < goodEvents; i++) {
                    try {
                        assertTrue(c.next(), "event " + i + " should decode");
                    } catch (CorruptEventException e) {
                        fail("event " + i + " should decode, got " + e.getMessage());
                    }
                }
                CorruptEventException e = assertThrows(CorruptEventException.class, c::next,
                        "event " + goodEvents + " must be reported as corrupt");
                String msg = e.getMessage();
                assertTrue(msg.contains("at byte " + offset + ":"), "offset " + offset + " not in: " + msg);
                for (String f : fragments) {
                    assertTrue(msg.contains(f), "'" + f + "' not in: " + msg);
                }
            }
        }
    }

    // ---------------------------------------------------------------- event metadata

    @ParameterizedTest
    @ValueSource(ints = {1, 4, 8, 16, 23})
    void trailingBytesFewerThanAHeader(int trailing) {
        byte[] tail = new byte[trailing];
        Arrays.fill(tail, (byte) 0x18); // looks like event_len 24...
        byte[] b = goodEvent(new EventBufferBuilder()).trailing(tail).build();
        assertCorrupt(b, 1, 52, trailing + " trailing bytes");
        // and as the only content of the read
        assertCorrupt(tail, 0, 0, trailing + " trailing bytes");
    }

    @Test
    void trailingBytesThatAreATruncatedValidHeader() {
        byte[] next = new EventBufferBuilder().event(EventMask.OPEN, 3, 1).done().build();
        byte[] b = goodEvent(new EventBufferBuilder()).trailing(Arrays.copyOf(next, 20)).build();
        assertCorrupt(b, 1, 52, "20 trailing bytes");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 4, 20, 23})
    void eventLenSmallerThanMetadataLen(int eventLen) {
        byte[] b = new EventBufferBuilder().event(EventMask.OPEN, 3, 1).eventLen(eventLen).done().build();
        assertCorrupt(b, 0, 0, "event_len " + eventLen, "metadata_len 24");
        // the same as the second event, after a 28-byte one
        b = new EventBufferBuilder()
                .event(EventMask.OPEN, 3, 1).info(99, new byte[0]).done()
                .event(EventMask.OPEN, 3, 1).eventLen(eventLen).done()
                .event(EventMask.OPEN, 3, 1).done()
                .build();
        assertCorrupt(b, 1, 28, "event_len " + eventLen);
    }

    @Test
    void eventLenSmallerThanALargerMetadataLen() {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.OPEN, 3, 1).metadataLen(32).eventLen(28).tail(new byte[8]).done().build();
        assertCorrupt(b, 0, 0, "event_len 28", "metadata_len 32");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 8, 16, 23})
    void metadataLenSmallerThan24(int metadataLen) {
        byte[] b = new EventBufferBuilder().event(EventMask.OPEN, 3, 1).metadataLen(metadataLen).done().build();
        assertCorrupt(b, 0, 0, "metadata_len " + metadataLen);
        b = goodEvent(new EventBufferBuilder())
                .event(EventMask.OPEN, 3, 1).metadataLen(metadataLen).pidfd(1).done()
                .build();
        assertCorrupt(b, 1, 52, "metadata_len " + metadataLen);
    }

    @Test
    void metadataLenLargerThanEventLen() {
        byte[] b = new EventBufferBuilder().event(EventMask.OPEN, 3, 1).metadataLen(0xFFFF).done().build();
        assertCorrupt(b, 0, 0, "metadata_len 65535");
    }

    @Test
    void eventLenLargerThanTheBuffer() {
        byte[] b = goodEvent(new EventBufferBuilder()).event(EventMask.OPEN, 3, 1).eventLen(28).done().build();
        assertCorrupt(b, 1, 52, "event_len 28", "24 remaining bytes");
        b = new EventBufferBuilder().event(EventMask.OPEN, -1, 1).fid(FSID, 1, HANDLE).eventLen(56).done().build();
        assertCorrupt(b, 0, 0, "event_len 56", "52 remaining bytes");
    }

    @ParameterizedTest
    @ValueSource(ints = {-1, Integer.MIN_VALUE, Integer.MAX_VALUE, 0x0001_0018})
    void eventLenHugeOrNegativeAsS32(int eventLen) {
        byte[] b = goodEvent(new EventBufferBuilder())
                .event(EventMask.OPEN, 3, 1).eventLen(eventLen).done()
                .build();
        assertCorrupt(b, 1, 52, "event_len " + Integer.toUnsignedString(eventLen));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 4, 255})
    void wrongVersion(int version) {
        byte[] b = new EventBufferBuilder().event(EventMask.OPEN, 3, 1).version(version).done().build();
        assertCorrupt(b, 0, 0, "version " + version);
        b = goodEvent(new EventBufferBuilder()).event(EventMask.OPEN, 3, 1).version(version).done().build();
        assertCorrupt(b, 1, 52, "version " + version);
    }

    // ---------------------------------------------------------------- info record headers

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void infoHeaderWithFewerThanFourBytesLeft(int left) {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.OPEN, -1, 1).fid(FSID, 1, HANDLE).tail(new byte[left]).done()
                .event(EventMask.OPEN, 3, 1).done()
                .build();
        assertCorrupt(b, 0, 52, left + " trailing bytes", "info header");
        b = new EventBufferBuilder().event(EventMask.OPEN, -1, 1).tail(new byte[left]).done().build();
        assertCorrupt(b, 0, 24, left + " trailing bytes");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    void infoLenSmallerThanTheHeader(int len) {
        // len 0 accepted would loop for ever on the same record
        for (int type : new int[] {Fanotify.INFO_PIDFD, Fanotify.INFO_FID, 99}) {
            byte[] b = new EventBufferBuilder()
                    .event(EventMask.OPEN, -1, 1).pidfd(4).info(type, new byte[4]).infoLen(len).done()
                    .build();
            assertCorrupt(b, 0, 32, "type " + type, "claims " + len + " bytes");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {32, 36, 0xFFFF})
    void infoLenPastTheEventEnd(int len) {
        // the FID record is 28 bytes: any len above that crosses into the next event
        byte[] b = new EventBufferBuilder()
                .event(EventMask.OPEN, 3, 1).pidfd(4).fid(FSID, 1, HANDLE).infoLen(len).done()
                .event(EventMask.OPEN, 3, 1).pidfd(5).done()
                .event(EventMask.OPEN, 3, 1).pidfd(6).done()
                .build();
        assertCorrupt(b, 0, 32, "claims " + len + " bytes, 28 left");
        // the same for a type the cursor does not decode
        b = new EventBufferBuilder()
                .event(EventMask.OPEN, 3, 1).info(99, new byte[4]).infoLen(len - 20).done()
                .event(EventMask.OPEN, 3, 1).done()
                .build();
        assertCorrupt(b, 0, 24, "type 99", "claims " + (len - 20) + " bytes, 8 left");
    }

    // ---------------------------------------------------------------- FID records

    static final int[] FID_TYPES = {Fanotify.INFO_FID, Fanotify.INFO_DFID, Fanotify.INFO_DFID_NAME,
        Fanotify.INFO_OLD_DFID_NAME, Fanotify.INFO_NEW_DFID_NAME};

    @ParameterizedTest
    @ValueSource(ints = {4, 8, 12, 16})
    void fidRecordShorterThan20(int len) {
        for (int type : FID_TYPES) {
            byte[] body = new byte[len - 4];
            byte[] b = new EventBufferBuilder()
                    .event(EventMask.OPEN, -1, 1).pidfd(1).info(type, body).done()
                    .event(EventMask.OPEN, 3, 1).done()
                    .build();
            assertCorrupt(b, 0, 32, "fid record of " + len + " bytes");
        }
    }

    @Test
    void fidRecordLenFieldShorterThan20() {
        // the bytes are a valid 28-byte record, only its len says 16/19
        for (int len : new int[] {16, 19}) {
            byte[] b = new EventBufferBuilder()
                    .event(EventMask.OPEN, -1, 1).fid(FSID, 1, HANDLE).infoLen(len).done()
                    .build();
            assertCorrupt(b, 0, 24, "fid record of " + len + " bytes");
        }
    }

    @Test
    void handleBytesLargerThanTheRecord() {
        for (int type : FID_TYPES) {
            boolean named = type != Fanotify.INFO_FID && type != Fanotify.INFO_DFID;
            // unnamed: 4 + 16 + 8 = 28, room for 8; named ("a.txt"): 4 + 16 + 8 + 6 = 34 -> 36, room for 16
            int room = named ? 16 : 8;
            int recLen = named ? 36 : 28;
            for (int hb : new int[] {room + 1, room + 4, 0x7FFF_FFFF}) {
                EventBufferBuilder.Event e = new EventBufferBuilder().event(EventMask.OPEN, -1, 1).pidfd(-1);
                if (named) {
                    e.namedRecord(type, FSID, 1, HANDLE, "a.txt".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                } else {
                    e.fidRecord(type, FSID, 1, HANDLE);
                }
                byte[] b = e.handleBytes(hb).done().event(EventMask.OPEN, 3, 1).done().build();
                assertCorrupt(b, 0, 32, "file handle of " + hb + " bytes", recLen + "-byte record");
            }
        }
    }

    @Test
    void handleBytesThatEatTheNameLeaveNoNul() {
        // DFID_NAME "a.txt" record of 36 bytes: handle_bytes 16 fits, but then no NUL remains in the record
        // (the next event right after starts with a zero-containing header that must not be taken for it).
        byte[] b = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, 1).dfidName(FSID, 1, HANDLE, "a.txt").handleBytes(16).done()
                .event(EventMask.OPEN, 3, 1).done()
                .build();
        // f_handle[16] now swallows "a.txt\0" and the padding: the name would start at the record's end.
        assertCorrupt(b, 0, 24, "NUL");
    }

    @ParameterizedTest
    @ValueSource(ints = {-1, Integer.MIN_VALUE, -8})
    void handleBytesNegativeAsS32(int hb) {
        for (int type : FID_TYPES) {
            boolean named = type != Fanotify.INFO_FID && type != Fanotify.INFO_DFID;
            EventBufferBuilder.Event e = new EventBufferBuilder().event(EventMask.OPEN, -1, 1);
            if (named) {
                e.namedRecord(type, FSID, 1, HANDLE, new byte[] {'n'});
            } else {
                e.fidRecord(type, FSID, 1, HANDLE);
            }
            byte[] b = e.handleBytes(hb).done().build();
            assertCorrupt(b, 0, 24, "file handle of " + Integer.toUnsignedString(hb) + " bytes");
        }
    }

    @Test
    void nameWithoutNul() {
        for (int type : new int[] {Fanotify.INFO_DFID_NAME, Fanotify.INFO_OLD_DFID_NAME,
                Fanotify.INFO_NEW_DFID_NAME}) {
            for (String name : new String[] {"", "a", "abc", "abcd", "x".repeat(255)}) {
                byte[] b = new EventBufferBuilder()
                        .event(EventMask.CREATE, -1, 1).pidfd(2)
                            .namedRecord(type, FSID, 1, HANDLE, name.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                            .unterminatedName()
                        .done()
                        .event(EventMask.OPEN, 3, 1).done() // zeros right after the record
                        .build();
                if (name.isEmpty()) {
                    // no name bytes and no NUL: the record is exactly header + fsid + handle = 28
                    assertEquals(24 + 8 + 28 + 24, b.length);
                }
                assertCorrupt(b, 0, 32, "NUL");
            }
        }
    }

    @Test
    void unnamedTypesDoNotNeedANul() {
        // FID and DFID carry no name: non-zero bytes between the handle and the record's end are no error.
        for (int type : new int[] {Fanotify.INFO_FID, Fanotify.INFO_DFID}) {
            byte[] b = new EventBufferBuilder()
                    .event(EventMask.OPEN, -1, 1).fidRecord(type, FSID, 1, new byte[] {1, 2, 3, 4, -1, -1, -1, -1})
                    .handleBytes(4).done()
                    .build();
            EventCursor c = new EventCursor().reset(MemorySegment.ofArray(b), b.length);
            assertTrue(c.next());
            FidRecord r = type == Fanotify.INFO_FID ? c.fid() : c.dir();
            assertEquals(4, r.handleBytes());
            assertEquals(12, r.handle().byteSize());
            assertTrue(!r.hasName());
        }
    }

    // ---------------------------------------------------------------- PIDFD and ERROR records

    @Test
    void pidfdRecordTooShort() {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.OPEN, 3, 1).info(Fanotify.INFO_PIDFD, new byte[0]).done()
                .event(EventMask.OPEN, 3, 1).pidfd(5).done()
                .build();
        assertCorrupt(b, 0, 24, "type 4 has 4 bytes, needs 8");
        // the len field lies, the bytes are there
        b = new EventBufferBuilder()
                .event(EventMask.OPEN, 3, 1).fid(FSID, 1, HANDLE).pidfd(7).infoLen(4).info(99, new byte[0]).done()
                .build();
        assertCorrupt(b, 0, 52, "type 4 has 4 bytes, needs 8");
    }

    @ParameterizedTest
    @ValueSource(ints = {4, 8})
    void errorRecordTooShort(int len) {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.FS_ERROR, -1, 0).info(Fanotify.INFO_ERROR, new byte[len - 4]).done()
                .event(EventMask.OPEN, 3, 1).done()
                .build();
        assertCorrupt(b, 0, 24, "type 5 has " + len + " bytes, needs 12");
        b = new EventBufferBuilder()
                .event(EventMask.FS_ERROR, -1, 0).pidfd(1).error(5, 1).infoLen(len).info(99, new byte[0]).done()
                .build();
        assertCorrupt(b, 0, 32, "type 5 has " + len + " bytes, needs 12");
    }

    @Test
    void longerPidfdAndErrorRecordsAreAccepted() {
        // a future kernel may append fields: the decoder needs a minimum, not an exact length
        byte[] b = new EventBufferBuilder()
                .event(EventMask.FS_ERROR, -1, 0)
                    .info(Fanotify.INFO_PIDFD, EventBufferBuilder.le(8).putInt(11).putInt(-7).array())
                    .info(Fanotify.INFO_ERROR, EventBufferBuilder.le(12).putInt(5).putInt(2).putInt(-7).array())
                .done()
                .build();
        EventCursor c = new EventCursor().reset(MemorySegment.ofArray(b), b.length);
        assertTrue(c.next());
        assertEquals(11, c.pidfd());
        assertEquals(5, c.error());
        assertEquals(2, c.errorCount());
    }
}
