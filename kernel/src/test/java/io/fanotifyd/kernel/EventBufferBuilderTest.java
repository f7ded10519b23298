package io.fanotifyd.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** The helper itself must be byte-exact, or every decoder test built on it proves nothing. */
class EventBufferBuilderTest {
    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replaceAll("\\s", ""));
    }

    @Test
    void metadataOnlyEventIsTwentyFourLittleEndianBytes() {
        byte[] b = new EventBufferBuilder()
                .event(0x4000_0000_0000_0020L, 7, 0x01020304).done()
                .build();
        assertArrayEquals(hex("""
                18000000 03 00 1800
                2000000000000040
                07000000
                04030201
                """), b);
    }

    @Test
    void dfidNameRecordIsPaddedToFourWithZeros() {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.CREATE, -1, 42)
                    .dfidName(0x1122334455667788L, 0x81, new byte[] {(byte) 0xAA, (byte) 0xBB}, "ab")
                .done()
                .build();
        // header 4 + fsid 8 + handle_bytes 4 + handle_type 4 + f_handle 2 + "ab\0" 3 = 25, padded to 28
        assertArrayEquals(hex("""
                34000000 03 00 1800
                0001000000000000
                ffffffff
                2a000000
                02 00 1c00
                8877665544332211
                02000000
                81000000
                aabb
                616200
                000000
                """), b);
    }

    @Test
    void pidfdAndErrorRecordsHaveTheirFixedLengths() {
        byte[] b = new EventBufferBuilder()
                .event(EventMask.FS_ERROR, -1, 0).pidfd(-2).error(117, 3).done()
                .build();
        assertArrayEquals(hex("""
                2c000000 03 00 1800
                0080000000000000
                ffffffff
                00000000
                04 00 0800 feffffff
                05 00 0c00 75000000 03000000
                """), b);
    }

    @Test
    void overridesChangeOnlyTheFields() {
        byte[] b = new EventBufferBuilder()
                .event(0, 3, 4).version(2).reserved(9).eventLen(-1).metadataLen(16)
                    .fid(1L, 1, new byte[] {1, 2, 3}).handleBytes(-1).infoLen(2).infoPad(5)
                    .tail(new byte[] {(byte) 0xEE})
                .done()
                .trailing(new byte[] {(byte) 0xCC, (byte) 0xDD})
                .build();
        assertArrayEquals(hex("""
                ffffffff 02 09 1000
                0000000000000000
                03000000
                04000000
                01 05 0200
                0100000000000000
                ffffffff
                01000000
                010203 00
                ee
                ccdd
                """), b);
    }

    @Test
    void unterminatedNameIsPaddedWithNonZeroBytes() {
        byte[] b = new EventBufferBuilder()
                .event(0, -1, 0).dfidName(0, 0, new byte[0], "a").unterminatedName().done()
                .build();
        // header 4 + 16 + "a" = 21 -> 24, padding 0xff
        assertArrayEquals(hex("02 00 1800 0000000000000000 00000000 00000000 61 ffffff"),
                java.util.Arrays.copyOfRange(b, 24, b.length));
    }

    @Test
    void eventOffsetAndNativeCopy() {
        EventBufferBuilder builder = new EventBufferBuilder()
                .event(1, 1, 1).info(99, new byte[0]).done()
                .event(2, 2, 2).done();
        assertEquals(0, builder.eventOffset(0));
        assertEquals(28, builder.eventOffset(1));
        byte[] b = builder.build();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = EventBufferBuilder.nativeCopy(arena, b, 4);
            assertEquals(4, seg.address() % 8);
            assertEquals(b.length, seg.byteSize());
            assertArrayEquals(b, seg.toArray(ValueLayout.JAVA_BYTE));
        }
    }
}
