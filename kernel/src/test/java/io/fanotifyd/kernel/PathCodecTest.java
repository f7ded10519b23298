package io.fanotifyd.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class PathCodecTest {
    static Stream<byte[]> randomNames() {
        Random rnd = new Random(0xC0DECL);
        byte[] interesting = {0, 0x2f, 0x41, (byte) 0x80, (byte) 0xbf, (byte) 0xc0, (byte) 0xc2, (byte) 0xe0,
            (byte) 0xed, (byte) 0xa0, (byte) 0xf0, (byte) 0xf4, (byte) 0x90, (byte) 0xff};
        return IntStream.range(0, 2000).mapToObj(i -> {
            byte[] b = new byte[rnd.nextInt(40)];
            for (int k = 0; k < b.length; k++) {
                b[k] = rnd.nextBoolean() ? interesting[rnd.nextInt(interesting.length)] : (byte) rnd.nextInt(256);
            }
            return b;
        });
    }

    @ParameterizedTest
    @MethodSource("randomNames")
    void everyByteStringRoundTrips(byte[] bytes) {
        assertArrayEquals(bytes, PathCodec.encode(PathCodec.decode(bytes)));
    }

    @Test
    void validUtf8DecodesAsUsual() {
        String s = "/tmp/ä/日本/🎉 name";
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        assertEquals(s, PathCodec.decode(b));
        assertArrayEquals(b, PathCodec.encode(s));
    }

    @Test
    void invalidBytesBecomeLoneSurrogatesAndBack() {
        byte[] b = {'a', (byte) 0xff, 'b', (byte) 0xed, (byte) 0xa0, (byte) 0x80, (byte) 0xc0, (byte) 0xaf};
        String s = PathCodec.decode(b);
        assertEquals("a\udcffb\udced\udca0\udc80\udcc0\udcaf", s);
        assertArrayEquals(b, PathCodec.encode(s));
    }

    @Test
    void aLoneSurrogateOutsideTheEscapeRangeEncodesAsReplacement() {
        // Not produced by decode; encoded as Java would (a '?'), never as a raw surrogate.
        assertArrayEquals("?".getBytes(StandardCharsets.UTF_8), PathCodec.encode("\ud800"));
    }
}
