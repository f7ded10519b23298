package io.fanotifyd.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** {@link FidRecord#firstNul}, eight bytes at a time, against a byte-by-byte scan. */
class FidRecordNulTest {
    static long[] seeds() {
        long[] s = new long[200];
        for (int i = 0; i < s.length; i++) {
            s[i] = 1000 + i;
        }
        return s;
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void findsTheFirstNulAsAByteScanDoes(long seed) {
        Random r = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            int size = 1 + r.nextInt(64);
            MemorySegment buf = arena.allocate(size);
            for (int i = 0; i < size; i++) {
                // Mostly non-zero bytes, with 0x01 and 0x80 (the values a borrow trick confuses) over-represented.
                int k = r.nextInt(10);
                byte b = k == 0 ? 0 : k == 1 ? 1 : k == 2 ? (byte) 0x80 : k == 3 ? (byte) 0xff : (byte) (1 + r.nextInt(255));
                buf.set(ValueLayout.JAVA_BYTE, i, b);
            }
            long from = r.nextInt(size);
            long to = from + r.nextInt((int) (size - from) + 1);
            long expected = -1;
            for (long p = from; p < to; p++) {
                if (buf.get(ValueLayout.JAVA_BYTE, p) == 0) {
                    expected = p;
                    break;
                }
            }
            assertEquals(expected, FidRecord.firstNul(buf, from, to), "from " + from + " to " + to);
        }
    }
}
