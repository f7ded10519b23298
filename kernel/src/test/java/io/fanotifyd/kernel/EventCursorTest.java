package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.EventBufferBuilder.le;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Decoding well-formed buffers: every info type the kernel sends, several events per read, odd names. */
class EventCursorTest {
    static final long FSID = 0x0123_4567_89AB_CDEFL;
    static final long FSID2 = 0x7EDC_BA98_7654_3210L;
    /** ext4's FILEID_INO32_GEN handle: 8 bytes (inode, generation). */
    static final int HANDLE_TYPE = 1;
    static final byte[] HANDLE = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, (byte) 0x88};
    /** A 12-byte handle of another type (FILEID_INO32_GEN_PARENT-like), to tell records apart. */
    static final int HANDLE_TYPE2 = 0x81;
    static final byte[] HANDLE2 = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, -1, -2};
    static final int PID = 4242;

    /** Where the buffer lives: the cursor must decode the same in each. */
    enum Backing { HEAP, NATIVE_ALIGNED, NATIVE_MISALIGNED_BY_4 }

    private Arena arena;

    @BeforeEach
    void openArena() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void closeArena() {
        arena.close();
    }

    MemorySegment segment(byte[] bytes, Backing backing) {
        return switch (backing) {
            case HEAP -> MemorySegment.ofArray(bytes);
            case NATIVE_ALIGNED -> EventBufferBuilder.nativeCopy(arena, bytes, 0);
            case NATIVE_MISALIGNED_BY_4 -> EventBufferBuilder.nativeCopy(arena, bytes, 4);
        };
    }

    static EventCursor cursor(MemorySegment seg) {
        return new EventCursor().reset(seg, seg.byteSize());
    }

    EventCursor cursor(byte[] bytes, Backing backing) {
        return cursor(segment(bytes, backing));
    }

    static EventCursor cursor(byte[] bytes) {
        return cursor(MemorySegment.ofArray(bytes));
    }

    /** The {@code struct file_handle} bytes as open_by_handle_at(2) wants them. */
    static byte[] fileHandle(int handleType, byte[] handle) {
        return le(8 + handle.length).putInt(handle.length).putInt(handleType).put(handle).array();
    }

    static void assertFid(FidRecord r, long fsid, int handleType, byte[] handle) {
        assertAll(
                () -> assertTrue(r.present(), "present"),
                () -> assertEquals(fsid, r.fsid(), "fsid"),
                () -> assertEquals(handleType, r.handleType(), "handleType"),
                () -> assertEquals(handle.length, r.handleBytes(), "handleBytes"),
                () -> assertArrayEquals(fileHandle(handleType, handle), r.handle().toArray(ValueLayout.JAVA_BYTE),
                        "struct file_handle"),
                () -> assertArrayEquals(fileHandle(handleType, handle),
                        r.buffer().asSlice(r.handleOffset(), 8 + r.handleBytes()).toArray(ValueLayout.JAVA_BYTE),
                        "buffer()/handleOffset()"));
    }

    static void assertNoName(FidRecord r) {
        assertFalse(r.hasName(), "hasName");
        assertEquals(-1, r.nameLength(), "nameLength");
        assertNull(r.nameBytes(), "nameBytes");
    }

    static void assertName(FidRecord r, byte[] name, long expectedNameOffset) {
        assertAll(
                () -> assertTrue(r.hasName(), "hasName"),
                () -> assertEquals(name.length, r.nameLength(), "nameLength"),
                () -> assertEquals(expectedNameOffset, r.nameOffset(), "nameOffset"),
                () -> assertArrayEquals(name, r.nameBytes(), "nameBytes"),
                () -> assertArrayEquals(name,
                        r.buffer().asSlice(r.nameOffset(), r.nameLength()).toArray(ValueLayout.JAVA_BYTE),
                        "buffer()/nameOffset()"),
                () -> assertEquals(0, r.buffer().get(ValueLayout.JAVA_BYTE, r.nameOffset() + r.nameLength()),
                        "NUL after the name"));
    }

    static void assertNoRecords(EventCursor c, String... except) {
        java.util.List<String> ex = Arrays.asList(except);
        assertAll(
                () -> assertEquals(ex.contains("fid"), c.fid().present(), "fid().present()"),
                () -> assertEquals(ex.contains("dir"), c.dir().present(), "dir().present()"),
                () -> assertEquals(ex.contains("oldDir"), c.oldDir().present(), "oldDir().present()"),
                () -> assertEquals(ex.contains("newDir"), c.newDir().present(), "newDir().present()"),
                () -> assertEquals(ex.contains("pidfd"), c.hasPidfd(), "hasPidfd()"),
                () -> assertEquals(ex.contains("error"), c.hasError(), "hasError()"));
    }

    // ---------------------------------------------------------------- one event per info type

    @ParameterizedTest
    @EnumSource(Backing.class)
    void fidRecord(Backing backing) {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.ATTRIB, Fanotify.FAN_NOFD, PID).fid(FSID, HANDLE_TYPE, HANDLE).done()
                .build();
        assertEquals(24 + 28, b.length);
        EventCursor c = cursor(b, backing);
        assertTrue(c.next());
        assertEquals(0, c.offset());
        assertEquals(52, c.eventLength());
        assertEquals(EventMask.ATTRIB, c.mask());
        assertEquals(-1, c.fd());
        assertEquals(PID, c.pid());
        assertFid(c.fid(), FSID, HANDLE_TYPE, HANDLE);
        assertEquals(24 + 12, c.fid().handleOffset());
        assertNoName(c.fid());
        assertNoRecords(c, "fid");
        assertFalse(c.next());
        assertFalse(c.next(), "stays exhausted");
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void dfidRecordAloneAndWithFid(Backing backing) {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.ATTRIB | EventMask.ONDIR, -1, PID).dfid(FSID, HANDLE_TYPE, HANDLE).done()
                .event(EventMask.MODIFY, -1, PID + 1)
                    .dfid(FSID, HANDLE_TYPE2, HANDLE2)
                    .fid(FSID2, HANDLE_TYPE, HANDLE)
                .done()
                .build();
        EventCursor c = cursor(b, backing);

        assertTrue(c.next());
        assertEquals(EventMask.ATTRIB | EventMask.ONDIR, c.mask());
        assertFid(c.dir(), FSID, HANDLE_TYPE, HANDLE);
        assertNoName(c.dir());
        assertNoRecords(c, "dir");

        assertTrue(c.next());
        assertEquals(52, c.offset());
        assertEquals(24 + 32 + 28, c.eventLength());
        assertEquals(EventMask.MODIFY, c.mask());
        assertEquals(PID + 1, c.pid());
        assertFid(c.dir(), FSID, HANDLE_TYPE2, HANDLE2);
        assertEquals(52 + 24 + 12, c.dir().handleOffset());
        assertNoName(c.dir());
        assertFid(c.fid(), FSID2, HANDLE_TYPE, HANDLE);
        assertEquals(52 + 24 + 32 + 12, c.fid().handleOffset());
        assertNoRecords(c, "dir", "fid");
        assertFalse(c.next());
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void dfidNameRecord(Backing backing) {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, PID).dfidName(FSID, HANDLE_TYPE, HANDLE, "a.txt").done()
                .build();
        // 4 + 16 + 8 + "a.txt\0" (6) = 34 -> 36
        assertEquals(24 + 36, b.length);
        EventCursor c = cursor(b, backing);
        assertTrue(c.next());
        assertEquals(EventMask.CREATE, c.mask());
        assertEquals(-1, c.fd());
        assertEquals(PID, c.pid());
        assertFid(c.dir(), FSID, HANDLE_TYPE, HANDLE);
        assertName(c.dir(), "a.txt".getBytes(StandardCharsets.US_ASCII), 24 + 20 + 8);
        assertNoRecords(c, "dir");
        assertFalse(c.next());
    }

    /** count() walks event_len alone, and stops at a length that cannot be right, as next() would fail there. */
    @Test
    void countsEventsByTheirLengths() {
        EventBufferBuilder builder = new EventBufferBuilder();
        builder.event(EventMask.CREATE, -1, PID).dfidName(FSID, HANDLE_TYPE, HANDLE, "a.txt").pidfd(7).done();
        builder.event(EventMask.CLOSE_WRITE, 5, PID).done();
        builder.event(EventMask.DELETE | EventMask.ONDIR, -1, PID).dfidName(FSID, HANDLE_TYPE, HANDLE, "subdir")
                .fid(FSID, HANDLE_TYPE2, HANDLE2).done();
        byte[] b = builder.build();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = EventBufferBuilder.nativeCopy(arena, b, 4);
            assertEquals(3, EventCursor.count(seg, b.length));
            assertEquals(0, EventCursor.count(seg, 0));
            assertEquals(1, EventCursor.count(seg, builder.eventOffset(1)), "a buffer cut after the first event");
            assertEquals(1, EventCursor.count(seg, builder.eventOffset(1) + 23), "a header cut short is not one");
            seg.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, builder.eventOffset(1), 8);
            assertEquals(1, EventCursor.count(seg, b.length), "an event_len below the metadata ends the count");
        }
    }

    @Test
    void dfidNameWithTargetFid() {
        // FAN_REPORT_DFID_NAME | FAN_REPORT_TARGET_FID: the child's own id follows the parent's.
        byte[] b = new EventBufferBuilder()
                .event(EventMask.DELETE | EventMask.ONDIR, -1, PID)
                    .dfidName(FSID, HANDLE_TYPE, HANDLE, "subdir")
                    .fid(FSID, HANDLE_TYPE2, HANDLE2)
                .done()
                .build();
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertEquals(EventMask.DELETE | EventMask.ONDIR, c.mask());
        assertFid(c.dir(), FSID, HANDLE_TYPE, HANDLE);
        assertName(c.dir(), "subdir".getBytes(StandardCharsets.US_ASCII), 24 + 20 + 8);
        assertFid(c.fid(), FSID, HANDLE_TYPE2, HANDLE2);
        assertNoName(c.fid());
        assertNoRecords(c, "dir", "fid");
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void renameCarriesOldAndNewDirectoryWithNames(Backing backing) {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.RENAME, -1, PID)
                    .oldDfidName(FSID, HANDLE_TYPE, HANDLE, "old-name")
                    .newDfidName(FSID, HANDLE_TYPE2, HANDLE2, "new")
                .done()
                .build();
        // old: 4 + 16 + 8 + 9 = 37 -> 40; new: 4 + 16 + 12 + 4 = 36
        assertEquals(24 + 40 + 36, b.length);
        EventCursor c = cursor(b, backing);
        assertTrue(c.next());
        assertEquals(EventMask.RENAME, c.mask());
        assertFid(c.oldDir(), FSID, HANDLE_TYPE, HANDLE);
        assertName(c.oldDir(), "old-name".getBytes(StandardCharsets.US_ASCII), 24 + 20 + 8);
        assertFid(c.newDir(), FSID, HANDLE_TYPE2, HANDLE2);
        assertName(c.newDir(), "new".getBytes(StandardCharsets.US_ASCII), 24 + 40 + 20 + 12);
        assertNoRecords(c, "oldDir", "newDir");
        assertFalse(c.next());
    }

    @ParameterizedTest
    @ValueSource(ints = {7, 1_000_000, Fanotify.FAN_NOPIDFD, Fanotify.FAN_EPIDFD})
    void pidfdRecord(int pidfd) {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.OPEN, 5, PID).pidfd(pidfd).done()
                .build();
        assertEquals(32, b.length);
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertEquals(EventMask.OPEN, c.mask());
        assertEquals(5, c.fd());
        assertEquals(PID, c.pid());
        assertTrue(c.hasPidfd());
        assertEquals(pidfd, c.pidfd());
        assertNoRecords(c, "pidfd");
        assertFalse(c.next());
    }

    @Test
    void pidfdNamedConstantsHaveTheKernelValues() {
        assertEquals(-1, Fanotify.FAN_NOPIDFD);
        assertEquals(-2, Fanotify.FAN_EPIDFD);
    }

    @Test
    void pidfdAfterFidRecords() {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, PID)
                    .dfidName(FSID, HANDLE_TYPE, HANDLE, "x")
                    .pidfd(Fanotify.FAN_EPIDFD)
                .done()
                .build();
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertName(c.dir(), new byte[] {'x'}, 24 + 20 + 8);
        assertTrue(c.hasPidfd());
        assertEquals(Fanotify.FAN_EPIDFD, c.pidfd());
        assertNoRecords(c, "dir", "pidfd");
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void errorRecord(Backing backing) {
        // FAN_FS_ERROR: an ERROR record and the FID of the inode (or of the root) that failed.
        int euclean = 117;
        byte[] b = new EventBufferBuilder()
                .event(EventMask.FS_ERROR, -1, 0).error(euclean, 3).fid(FSID, HANDLE_TYPE, HANDLE).done()
                .build();
        assertEquals(24 + 12 + 28, b.length);
        EventCursor c = cursor(b, backing);
        assertTrue(c.next());
        assertEquals(EventMask.FS_ERROR, c.mask());
        assertEquals(-1, c.fd());
        assertEquals(0, c.pid());
        assertTrue(c.hasError());
        assertEquals(euclean, c.error());
        assertEquals(3, c.errorCount());
        assertFid(c.fid(), FSID, HANDLE_TYPE, HANDLE);
        assertNoRecords(c, "error", "fid");
        assertFalse(c.next());
    }

    @Test
    void errorCountIsUnsigned() {
        byte[] b = new EventBufferBuilder().event(EventMask.FS_ERROR, -1, 0).error(5, 0xFFFF_FFFE).done().build();
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertEquals(5, c.error());
        assertEquals(4_294_967_294L, Integer.toUnsignedLong(c.errorCount()));
    }

    @Test
    void queueOverflowHasNoRecordsAndNoFd() {
        byte[] b = new EventBufferBuilder().event(EventMask.Q_OVERFLOW, Fanotify.FAN_NOFD, 0).done().build();
        assertEquals(24, b.length);
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertEquals(EventMask.Q_OVERFLOW, c.mask());
        assertEquals(Fanotify.FAN_NOFD, c.fd());
        assertEquals(0, c.pid());
        assertEquals(24, c.eventLength());
        assertNoRecords(c);
        assertFalse(c.next());
    }

    // ---------------------------------------------------------------- state must not leak between events

    @ParameterizedTest
    @EnumSource(Backing.class)
    void recordsOfThePreviousEventDoNotLeak(Backing backing) {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.RENAME | EventMask.FS_ERROR, -1, 1)
                    .fid(FSID, HANDLE_TYPE, HANDLE)
                    .dfidName(FSID, HANDLE_TYPE, HANDLE, "dir-name")
                    .oldDfidName(FSID, HANDLE_TYPE, HANDLE, "old")
                    .newDfidName(FSID, HANDLE_TYPE, HANDLE, "new")
                    .pidfd(12)
                    .error(5, 1)
                .done()
                .event(EventMask.OPEN, 9, 2).done()                                // nothing at all
                .event(EventMask.ATTRIB, -1, 3).dfid(FSID2, HANDLE_TYPE2, HANDLE2).done() // dir without name
                .event(EventMask.CREATE, -1, 4).dfidName(FSID2, HANDLE_TYPE2, HANDLE2, "n").done()
                .event(EventMask.ATTRIB, -1, 5).dfid(FSID, HANDLE_TYPE, HANDLE).done()   // name must vanish again
                .build();
        EventCursor c = cursor(b, backing);

        assertTrue(c.next());
        assertNoRecords(c, "fid", "dir", "oldDir", "newDir", "pidfd", "error");
        assertName(c.dir(), "dir-name".getBytes(StandardCharsets.US_ASCII), c.dir().handleOffset() + 8 + 8);

        assertTrue(c.next());
        assertEquals(2, c.pid());
        assertEquals(9, c.fd());
        assertEquals(24, c.eventLength());
        assertNoRecords(c);
        assertNoName(c.dir());

        assertTrue(c.next());
        assertEquals(3, c.pid());
        assertNoRecords(c, "dir");
        assertFid(c.dir(), FSID2, HANDLE_TYPE2, HANDLE2);
        assertNoName(c.dir());

        assertTrue(c.next());
        assertEquals(4, c.pid());
        assertNoRecords(c, "dir");
        assertName(c.dir(), new byte[] {'n'}, c.dir().handleOffset() + 8 + 12);

        assertTrue(c.next());
        assertEquals(5, c.pid());
        assertNoRecords(c, "dir");
        assertFid(c.dir(), FSID, HANDLE_TYPE, HANDLE);
        assertNoName(c.dir());

        assertFalse(c.next());
    }

    @Test
    void dfidAfterDfidNameInTheSameEventDropsTheName() {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, 1)
                    .dfidName(FSID, HANDLE_TYPE, HANDLE, "n")
                    .dfid(FSID2, HANDLE_TYPE2, HANDLE2)
                .done()
                .build();
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertFid(c.dir(), FSID2, HANDLE_TYPE2, HANDLE2);
        assertNoName(c.dir());
    }

    // ---------------------------------------------------------------- several events, misaligned mask

    @ParameterizedTest
    @EnumSource(Backing.class)
    void severalEventsWithAMisalignedMask(Backing backing) {
        long highMask = 0x4000_0000_0000_0020L | EventMask.ONDIR;
        assertEquals(0x4000_0000_4000_0020L, highMask);
        EventBufferBuilder builder = new EventBufferBuilder()
                // event_len 28: an empty record of an unknown type puts the next mask at 28 + 8 = 36 (= 4 mod 8)
                .event(EventMask.OPEN, 3, 100).info(99, new byte[0]).done()
                .event(highMask, 4, 101).done()
                .event(0x8000_0000_0000_0000L | EventMask.CLOSE_WRITE, 5, 102).fid(FSID, HANDLE_TYPE, HANDLE).done()
                .event(-1L, 6, 103).pidfd(8).done()
                .event(EventMask.Q_OVERFLOW, -1, 0).done();
        byte[] b = builder.build();
        assertEquals(28, builder.eventOffset(1));
        EventCursor c = cursor(b, backing);
        long[] masks = {EventMask.OPEN, highMask, 0x8000_0000_0000_0008L, -1L, EventMask.Q_OVERFLOW};
        int[] fds = {3, 4, 5, 6, -1};
        int[] pids = {100, 101, 102, 103, 0};
        int[] lens = {28, 24, 52, 32, 24};
        for (int i = 0; i < masks.length; i++) {
            assertTrue(c.next(), "event " + i);
            assertEquals(builder.eventOffset(i), c.offset(), "offset of event " + i);
            assertEquals(lens[i], c.eventLength(), "event_len of event " + i);
            assertEquals(masks[i], c.mask(), "mask of event " + i);
            assertEquals(fds[i], c.fd(), "fd of event " + i);
            assertEquals(pids[i], c.pid(), "pid of event " + i);
        }
        assertFalse(c.next());
        assertEquals(b.length, builder.eventOffset(5));
    }

    @Test
    void metadataLenLargerThan24SkipsTheExtraHeaderBytes() {
        // metadata_len exists for future optional headers: records start at metadata_len, not at 24.
        byte[] b = new EventBufferBuilder()
                .event(EventMask.OPEN, 3, 1).metadataLen(28).tail(new byte[] {1, 2, 3, 4}).pidfd(9).done()
                .build();
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertEquals(36, c.eventLength());
        assertTrue(c.hasPidfd());
        assertEquals(9, c.pidfd());
        assertFalse(c.next());
    }

    // ---------------------------------------------------------------- unknown info types

    @ParameterizedTest
    @ValueSource(ints = {0, 6, 7, 8, 9, 11, 13, 99, 255})
    void unknownInfoTypeIsSkippedByItsLength(int type) {
        // Bodies that would be invalid as FID records, so that decoding them by mistake would throw.
        byte[] body = new byte[37];
        Arrays.fill(body, (byte) 0xFF);
        byte[] b = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, PID)
                    .info(type, body)
                    .dfidName(FSID, HANDLE_TYPE, HANDLE, "after")
                    .info(type, new byte[0])
                    .pidfd(3)
                .done()
                .event(EventMask.DELETE, -1, PID).info(type, new byte[] {1, 2, 3, 4, 5, 6, 7, 8}).done()
                .build();
        EventCursor c = cursor(b);
        assertTrue(c.next());
        int dfidAt = 24 + 44;
        assertFid(c.dir(), FSID, HANDLE_TYPE, HANDLE);
        assertEquals(dfidAt + 12, c.dir().handleOffset());
        assertName(c.dir(), "after".getBytes(StandardCharsets.US_ASCII), dfidAt + 20 + 8);
        assertTrue(c.hasPidfd());
        assertEquals(3, c.pidfd());
        assertNoRecords(c, "dir", "pidfd");
        assertTrue(c.next());
        assertEquals(EventMask.DELETE, c.mask());
        assertNoRecords(c);
        assertFalse(c.next());
    }

    @Test
    void rangeAndMountRecordsAsTheKernelLaysThemOut() {
        // FAN_EVENT_INFO_TYPE_RANGE {hdr; u32 pad; u64 offset; u64 count} (24) and
        // FAN_EVENT_INFO_TYPE_MNT {hdr; u64 mnt_id} (12): not decoded, must be stepped over.
        byte[] range = le(20).putInt(0).putLong(4096).putLong(8192).array();
        byte[] mnt = le(8).putLong(0x1234_5678_9ABCL).array();
        byte[] b = new EventBufferBuilder()
                .event(EventMask.PRE_ACCESS, 7, PID).info(Fanotify.INFO_RANGE, range).fid(FSID, 1, HANDLE).done()
                .event(EventMask.MNT_ATTACH, -1, 0).info(Fanotify.INFO_MNT, mnt).pidfd(-1).done()
                .build();
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertEquals(24 + 24 + 28, c.eventLength());
        assertFid(c.fid(), FSID, 1, HANDLE);
        assertEquals(24 + 24 + 12, c.fid().handleOffset());
        assertNoRecords(c, "fid");
        assertTrue(c.next());
        assertEquals(24 + 12 + 8, c.eventLength());
        assertEquals(-1, c.pidfd());
        assertNoRecords(c, "pidfd");
        assertFalse(c.next());
    }

    // ---------------------------------------------------------------- names

    static byte[] allNonZeroBytes() {
        byte[] name = new byte[255];
        for (int i = 0; i < 255; i++) {
            name[i] = (byte) (i + 1);
        }
        return name;
    }

    static byte[][] names() {
        byte[] long255 = new byte[255];
        Arrays.fill(long255, (byte) 'n');
        return new byte[][] {
            {},
            {'.'},
            {'a', 'b', 'c'},                                  // "abc\0" fills 4 bytes exactly
            "héllo wörld".getBytes(StandardCharsets.UTF_8),
            long255,
            allNonZeroBytes(),
        };
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void namesOfEveryShape(Backing backing) {
        for (byte[] name : names()) {
            for (int type : new int[] {Fanotify.INFO_DFID_NAME, Fanotify.INFO_OLD_DFID_NAME,
                    Fanotify.INFO_NEW_DFID_NAME}) {
                byte[] b = new EventBufferBuilder()
                        .event(EventMask.MOVED_TO, -1, PID).namedRecord(type, FSID, HANDLE_TYPE, HANDLE, name).done()
                        .event(EventMask.OPEN, 4, PID).done()
                        .build();
                int recLen = (4 + 16 + HANDLE.length + name.length + 1 + 3) & ~3;
                assertEquals(24 + recLen + 24, b.length);
                EventCursor c = cursor(b, backing);
                assertTrue(c.next());
                FidRecord r = switch (type) {
                    case Fanotify.INFO_DFID_NAME -> c.dir();
                    case Fanotify.INFO_OLD_DFID_NAME -> c.oldDir();
                    default -> c.newDir();
                };
                assertFid(r, FSID, HANDLE_TYPE, HANDLE);
                assertName(r, name, 24 + 20 + HANDLE.length);
                assertTrue(c.next());
                assertEquals(24 + recLen, c.offset());
                assertFalse(c.next());
            }
        }
    }

    @Test
    void nameStopsAtTheFirstNul() {
        // "ab\0cd\0": the name is "ab"; the rest of the record is padding as far as the decoder is concerned.
        byte[] b = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, PID)
                    .namedRecord(Fanotify.INFO_DFID_NAME, FSID, 1, HANDLE, new byte[] {'a', 'b', 0, 'c', 'd'})
                .done()
                .build();
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertName(c.dir(), new byte[] {'a', 'b'}, 24 + 28);
    }

    @Test
    void emptyHandleAndEmptyNameAreTheSmallestValidRecords() {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, PID)
                    .fid(FSID, 0, new byte[0])                   // len 20
                    .dfidName(FSID2, 0, new byte[0], "")         // len 21 -> 24
                .done()
                .build();
        assertEquals(24 + 20 + 24, b.length);
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertFid(c.fid(), FSID, 0, new byte[0]);
        assertEquals(0, c.fid().handleBytes());
        assertEquals(8, c.fid().handle().byteSize());
        assertFid(c.dir(), FSID2, 0, new byte[0]);
        assertName(c.dir(), new byte[0], 24 + 20 + 20);
    }

    @Test
    void handleBytesMayCoverThePaddingExactly() {
        // A 6-byte handle in a 28-byte FID record: handle_bytes = 8 still fits (len - 20) and must be accepted.
        byte[] b = new EventBufferBuilder()
                .event(EventMask.OPEN, -1, PID).fid(FSID, 1, new byte[] {1, 2, 3, 4, 5, 6}).handleBytes(8).done()
                .build();
        EventCursor c = cursor(b);
        assertTrue(c.next());
        assertEquals(8, c.fid().handleBytes());
        assertArrayEquals(le(16).putInt(8).putInt(1).put(new byte[] {1, 2, 3, 4, 5, 6, 0, 0}).array(),
                c.fid().handle().toArray(ValueLayout.JAVA_BYTE));
    }

    // ---------------------------------------------------------------- reset() and length

    @Test
    void resetRejectsALengthOutsideTheSegment() {
        MemorySegment seg = MemorySegment.ofArray(new byte[48]);
        EventCursor c = new EventCursor();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.reset(seg, 49));
        assertTrue(e.getMessage().contains("49"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> c.reset(seg, Long.MAX_VALUE));
        assertThrows(IllegalArgumentException.class, () -> c.reset(seg, -1));
        assertThrows(IllegalArgumentException.class, () -> c.reset(MemorySegment.ofArray(new byte[0]), 1));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(100);
            assertThrows(IllegalArgumentException.class, () -> c.reset(n, 101));
            assertSame(c, c.reset(n, 100));
        }
    }

    @Test
    void emptyReadHasNoEvents() {
        EventCursor c = new EventCursor().reset(MemorySegment.ofArray(new byte[64]), 0);
        assertFalse(c.next());
        assertFalse(c.next());
    }

    @Test
    void lengthShorterThanTheSegmentEndsTheWalk() {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.OPEN, 3, 1).done()
                .event(EventMask.CLOSE_WRITE, 4, 2).fid(FSID, 1, HANDLE).done()
                .build();
        EventCursor c = new EventCursor().reset(MemorySegment.ofArray(b), 24);
        assertTrue(c.next());
        assertEquals(3, c.fd());
        assertFalse(c.next(), "the second event lies past length");
    }

    @Test
    void resetStartsANewWalkOnAnotherBuffer() {
        byte[] first = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, 1).dfidName(FSID, 1, HANDLE, "one").done()
                .event(EventMask.OPEN, 3, 1).done()
                .build();
        byte[] second = new EventBufferBuilder()
                .event(EventMask.DELETE, -1, 2).fid(FSID2, HANDLE_TYPE2, HANDLE2).done()
                .build();
        EventCursor c = cursor(first);
        assertTrue(c.next());
        assertName(c.dir(), "one".getBytes(StandardCharsets.US_ASCII), 24 + 28);
        // abandon the first walk halfway
        c.reset(MemorySegment.ofArray(second), second.length);
        assertTrue(c.next());
        assertEquals(0, c.offset());
        assertEquals(EventMask.DELETE, c.mask());
        assertFid(c.fid(), FSID2, HANDLE_TYPE2, HANDLE2);
        assertNoRecords(c, "fid");
        assertFalse(c.next());
        // and the same buffer again from the start
        c.reset(MemorySegment.ofArray(first), first.length);
        assertTrue(c.next());
        assertEquals(EventMask.CREATE, c.mask());
        assertTrue(c.next());
        assertEquals(EventMask.OPEN, c.mask());
        assertFalse(c.next());
    }

    @Test
    void recordsPointIntoTheGivenSegmentWithoutCopying() {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, 1).dfidName(FSID, 1, HANDLE, "abc").done()
                .build();
        MemorySegment seg = EventBufferBuilder.nativeCopy(arena, b, 4);
        EventCursor c = cursor(seg);
        assertTrue(c.next());
        assertEquals(seg.address(), c.dir().buffer().address());
        assertEquals(seg.address() + c.dir().handleOffset(), c.dir().handle().address());
    }
}
