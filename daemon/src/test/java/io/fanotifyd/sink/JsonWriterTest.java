package io.fanotifyd.sink;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class JsonWriterTest {
    private static final ObjectMapper JSON =
            new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private static final byte[] SEQ = JsonWriter.key("seq");
    private static final byte[] EVENT = JsonWriter.key("event");
    private static final byte[] PID = JsonWriter.key("pid");
    private static final byte[] COMM = JsonWriter.key("comm");
    private static final byte[] IS_DIR = JsonWriter.key("is_dir");
    private static final byte[] PATH = JsonWriter.key("path");
    private static final byte[] PATH_B64 = JsonWriter.key("path_b64");
    private static final byte[] NAME = JsonWriter.key("name");
    private static final byte[] NAME_B64 = JsonWriter.key("name_b64");
    private static final byte[] V = JsonWriter.key("v");

    // ----------------------------------------------------------------------------------------------- records

    @Test
    void fullRecordRoundTrips() throws IOException {
        byte[] dir = "/srv/data".getBytes(UTF_8);
        byte[] name = {'r', 'e', 'p', 'o', 'r', 't', (byte) 0xff, '\n', '"', '.', 't', 'x', 't'};
        byte[] slash = {'/'};
        JsonWriter w = new JsonWriter(64);

        w.beginObject();
        w.name(SEQ);
        w.number(42);
        w.name(EVENT);
        w.string("CLOSE_WRITE");
        w.name(PID);
        w.number(-7);
        w.name(COMM);
        w.nullValue();
        w.name(IS_DIR);
        w.bool(false);
        w.name(PATH);
        w.beginString();
        boolean ok = w.bytes(dir, 0, dir.length);
        ok &= w.bytes(slash, 0, 1);
        ok &= w.bytes(name, 0, name.length);
        w.endString();
        assertFalse(ok, "0xff is not UTF-8");
        w.name(PATH_B64);
        w.beginBase64();
        w.base64(dir, 0, dir.length);
        w.base64(slash, 0, 1);
        w.base64(name, 0, name.length);
        w.endBase64();
        w.name(V);
        w.bool(true);
        w.endObject();
        w.newline();

        byte[] line = output(w);
        assertEquals('\n', line[line.length - 1], "a record ends with one newline");
        JsonNode node = parseLine(line);
        assertEquals(List.of("seq", "event", "pid", "comm", "is_dir", "path", "path_b64", "v"), fieldNames(node));
        assertTrue(node.get("seq").isIntegralNumber());
        assertEquals(42L, node.get("seq").longValue());
        assertEquals("CLOSE_WRITE", node.get("event").textValue());
        assertEquals(-7L, node.get("pid").longValue());
        assertTrue(node.get("comm").isNull());
        assertTrue(node.get("is_dir").isBoolean());
        assertFalse(node.get("is_dir").booleanValue());
        assertTrue(node.get("v").booleanValue());
        byte[] whole = concat(dir, slash, name);
        assertEquals(new String(whole, UTF_8), node.get("path").textValue());
        assertEquals("/srv/data/report\uFFFD\n\".txt", node.get("path").textValue());
        assertArrayEquals(whole, Base64.getDecoder().decode(node.get("path_b64").textValue()));
    }

    @Test
    void fieldsAreSeparatedOnlyBetweenFieldsOfOneObject() {
        JsonWriter w = new JsonWriter(16);
        w.beginObject();
        w.endObject();
        w.newline();
        w.beginObject();
        w.name(V);
        w.number(1);
        w.endObject();
        w.newline();
        w.beginObject();
        w.name(V);
        w.number(1);
        w.name(SEQ);
        w.number(2);
        w.endObject();
        w.newline();
        w.beginObject();
        w.name(V);
        w.bool(true);
        w.endObject();
        assertEquals("{}\n{\"v\":1}\n{\"v\":1,\"seq\":2}\n{\"v\":true}", text(w));
    }

    @Test
    void keyRejectsCharactersThatWouldNeedEscaping() {
        assertArrayEquals(new byte[] {'a', '_', 'b', '6', '4'}, JsonWriter.key("a_b64"));
        assertEquals(0, JsonWriter.key("").length);
        for (String bad : List.of("a\"b", "a\\b", "a\nb", "\u0000", "\u007f", "caf\u00e9", "\u2028")) {
            assertThrows(IllegalArgumentException.class, () -> JsonWriter.key(bad), bad);
        }
    }

    // -------------------------------------------------------------------------------------------- escaping

    @Test
    void escapesUseShortFormsAndLowercaseHex() {
        byte[] in = new byte[0x20 + 4];
        for (int c = 0; c < 0x20; c++) {
            in[c] = (byte) c;
        }
        in[0x20] = '"';
        in[0x21] = '\\';
        in[0x22] = 0x7f;
        in[0x23] = '/';
        JsonWriter w = new JsonWriter(8);
        w.beginString();
        assertTrue(w.bytes(in, 0, in.length));
        w.endString();
        assertEquals("\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
                + "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c"
                + "\\u001d\\u001e\\u001f\\\"\\\\\\u007f/\"", text(w));
    }

    @Test
    void lineSeparatorsAreEscapedAndOtherUtf8IsCopiedVerbatim() {
        byte[] in = "a\u2028b\u2029c\u2027\u202a\u00e9\u20ac\uD83D\uDE00".getBytes(UTF_8);
        JsonWriter w = new JsonWriter(8);
        w.beginString();
        assertTrue(w.bytes(in, 0, in.length));
        w.endString();
        byte[] expected = concat("\"a\\u2028b\\u2029c".getBytes(UTF_8),
                "\u2027\u202a\u00e9\u20ac\uD83D\uDE00\"".getBytes(UTF_8));
        assertArrayEquals(expected, output(w));
    }

    /** Pins the maximal-subpart replacement independently of the JDK decoder used as the oracle elsewhere. */
    @ParameterizedTest
    @MethodSource("replacementCases")
    void invalidSequencesBecomeOneReplacementPerMaximalSubpart(byte[] in, String expected) {
        JsonWriter w = new JsonWriter(8);
        w.beginString();
        assertFalse(w.bytes(in, 0, in.length));
        w.endString();
        assertEquals("\"" + expected + "\"", text(w));
        assertEquals(expected, new String(in, UTF_8), "the oracle agrees");
    }

    static Stream<Arguments> replacementCases() {
        String r = "\uFFFD";
        return Stream.of(
                Arguments.of(Named.of("lone continuation", bytes(0x80)), r),
                Arguments.of(Named.of("FF", bytes(0xff)), r),
                Arguments.of(Named.of("overlong slash C0 AF", bytes(0xc0, 0xaf)), r + r),
                Arguments.of(Named.of("overlong E0 80 AF", bytes(0xe0, 0x80, 0xaf)), r + r + r),
                // The JDK departs from Unicode's maximal subparts here (which would give three U+FFFD).
                Arguments.of(Named.of("surrogate ED A0 80", bytes(0xed, 0xa0, 0x80)), r),
                Arguments.of(Named.of("surrogate ED BF BF", bytes(0xed, 0xbf, 0xbf)), r),
                Arguments.of(Named.of("truncated surrogate ED A0", bytes(0xed, 0xa0)), r),
                Arguments.of(Named.of("truncated surrogate ED A0 then ASCII", bytes(0xed, 0xa0, 'A')), r + "A"),
                Arguments.of(Named.of("surrogate pair in UTF-8", bytes(0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80)), r + r),
                Arguments.of(Named.of("ED 9F BF is U+D7FF, valid", bytes(0xed, 0x9f, 0xbf, 0xed)), "\uD7FF" + r),
                Arguments.of(Named.of("above U+10FFFF F4 90 80 80", bytes(0xf4, 0x90, 0x80, 0x80)), r + r + r + r),
                Arguments.of(Named.of("F5 lead", bytes(0xf5, 0x80, 0x80, 0x80)), r + r + r + r),
                Arguments.of(Named.of("truncated E2 82", bytes(0xe2, 0x82)), r),
                Arguments.of(Named.of("truncated E2 82 then ASCII", bytes(0xe2, 0x82, 'x')), r + "x"),
                Arguments.of(Named.of("truncated F0 9F 98", bytes(0xf0, 0x9f, 0x98)), r),
                Arguments.of(Named.of("F0 9F 98 then lead", bytes(0xf0, 0x9f, 0x98, 0xf0, 0x9f, 0x98, 0x80)),
                        r + "\uD83D\uDE00"),
                Arguments.of(Named.of("C2 then ASCII", bytes(0xc2, 'A')), r + "A"),
                Arguments.of(Named.of("mixed", bytes('a', 0xc3, 0xa9, 0xff, 'b', 0xe2, 0x82, 0xac, 0x80)),
                        "a\u00e9" + r + "b\u20ac" + r));
    }

    @Test
    void stringEncodesUtf16AsUtf8AndReplacesLoneSurrogates() throws IOException {
        String s = "plain \"q\" \\ \n\t\u0001\u007f caf\u00e9 \u20ac \uD83D\uDE00 \u2028\u2029";
        JsonWriter w = new JsonWriter(4);
        w.string(s);
        byte[] out = output(w);
        checkSafe(out);
        assertEquals(s, JSON.readTree(out).textValue());
        assertTrue(text(w).contains("\\u2028\\u2029"));
        assertTrue(text(w).contains("caf\u00e9 \u20ac \uD83D\uDE00"), "non-ASCII is raw UTF-8, not escaped");

        for (String[] c : new String[][] {
            {"a\uD800b", "a\uFFFDb"}, {"a\uDC00b", "a\uFFFDb"}, {"\uD800", "\uFFFD"},
            {"\uDE00\uD83D", "\uFFFD\uFFFD"}, {"\uD83D\uD83D\uDE00", "\uFFFD\uD83D\uDE00"}, {"", ""}}) {
            w.reset();
            w.string(c[0]);
            out = output(w);
            checkSafe(out);
            assertEquals(c[1], JSON.readTree(out).textValue(), () -> "for " + escapeForMessage(c[0]));
        }
    }

    // ------------------------------------------------------------------------------------- hostile names

    @ParameterizedTest
    @MethodSource("hostileNames")
    void hostileNamesProduceSafeLinesThatRoundTrip(byte[] name) throws IOException {
        checkName(name, new Random(name.length));
    }

    static Stream<Arguments> hostileNames() {
        List<Arguments> cases = new ArrayList<>();
        cases.add(named("empty", new byte[0]));
        cases.add(named("newline", "a\nb".getBytes(UTF_8)));
        cases.add(named("CR", "a\rb".getBytes(UTF_8)));
        cases.add(named("tab", "a\tb".getBytes(UTF_8)));
        cases.add(named("quotes", "\"x\" 'y'".getBytes(UTF_8)));
        cases.add(named("backslash", "a\\b\\\\".getBytes(UTF_8)));
        cases.add(named("fake escape", "\\u0041\\n".getBytes(UTF_8)));
        for (int c = 0; c < 0x20; c++) {
            cases.add(named(String.format("control 0x%02x", c), bytes('x', c, 'y')));
        }
        cases.add(named("DEL", bytes(0x7f)));
        cases.add(named("U+2028", "a\u2028b".getBytes(UTF_8)));
        cases.add(named("U+2029", "\u2029".getBytes(UTF_8)));
        cases.add(named("emoji", "\uD83D\uDE00\uD83C\uDDE9\uD83C\uDDEA.txt".getBytes(UTF_8)));
        cases.add(named("4096 ASCII", repeat("a".getBytes(UTF_8), 4096)));
        cases.add(named("4096 hostile",
                Arrays.copyOf(repeat(concat("a\n\"\\".getBytes(UTF_8), bytes(0xff, 0xe2, 0x80, 0xa8, 0x00),
                        "\u20ac\uD83D\uDE00".getBytes(UTF_8)), 400), 4096)));
        cases.add(named("4096 invalid", repeat(bytes(0xff), 4096)));
        cases.add(named("0x80", bytes(0x80)));
        cases.add(named("0xFF", bytes(0xff)));
        cases.add(named("overlong C0 AF", bytes(0xc0, 0xaf)));
        cases.add(named("surrogate ED A0 80", bytes(0xed, 0xa0, 0x80)));
        cases.add(named("surrogate pair in UTF-8", bytes(0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80)));
        cases.add(named("above U+10FFFF", bytes(0xf4, 0x90, 0x80, 0x80)));
        cases.add(named("truncated E2 82", bytes(0xe2, 0x82)));
        cases.add(named("only invalid bytes", bytes(0x80, 0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80,
                0x80, 0xe2, 0x82)));
        cases.add(named("mixed valid and invalid", concat("caf\u00e9".getBytes(UTF_8), bytes(0xe9),
                "\n\u2028".getBytes(UTF_8), bytes(0xf0, 0x9f, 0x98), "\uD83D\uDE00\"".getBytes(UTF_8),
                bytes(0xc3))));
        cases.add(named("max code point", "\uDBFF\uDFFF".getBytes(UTF_8)));
        return cases.stream();
    }

    // ------------------------------------------------------------------------------------ property test

    @ParameterizedTest(name = "random name #{0}")
    @MethodSource("randomNames")
    void randomNamesProduceSafeLinesThatRoundTrip(int index, byte[] name) throws IOException {
        checkName(name, new Random(index));
    }

    static Stream<Arguments> randomNames() {
        Random random = new Random(0x5eed_f00dL);
        return IntStream.range(0, 500).mapToObj(i -> Arguments.of(i, randomName(random, random.nextInt(301))));
    }

    private static final int[] INTERESTING = {
        0x00, 0x01, '\b', '\t', '\n', '\f', '\r', 0x1b, 0x1f, ' ', '"', '/', '\\', 0x7e, 0x7f,
        0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xa8, 0xa9, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xee, 0xef,
        0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf8, 0xfe, 0xff
    };

    /** Mixes ASCII, interesting single bytes, well-formed sequences and sequences cut short. */
    private static byte[] randomName(Random random, int length) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(length + 4);
        while (out.size() < length) {
            int kind = random.nextInt(10);
            if (kind < 3) {
                out.write(' ' + random.nextInt(0x5f));
            } else if (kind < 5) {
                out.write(INTERESTING[random.nextInt(INTERESTING.length)]);
            } else if (kind < 6) {
                out.write(random.nextInt(256));
            } else {
                byte[] seq = new String(Character.toChars(randomCodePoint(random))).getBytes(UTF_8);
                int n = kind < 9 ? seq.length : 1 + random.nextInt(seq.length);
                out.write(seq, 0, n);
            }
        }
        return Arrays.copyOf(out.toByteArray(), length);
    }

    private static int randomCodePoint(Random random) {
        while (true) {
            int cp = switch (random.nextInt(6)) {
                case 0 -> 0x80 + random.nextInt(0x780);
                case 1 -> 0x800 + random.nextInt(0xf800);
                case 2 -> 0x2028 + random.nextInt(2);
                case 3 -> 0x10000 + random.nextInt(0x100000);
                case 4 -> random.nextBoolean() ? 0xfffd : 0x10ffff;
                default -> random.nextInt(0x80);
            };
            if (!Character.isSurrogate((char) cp) || cp > 0xffff) {
                return cp;
            }
        }
    }

    // ------------------------------------------------------------------------------ MemorySegment overloads

    @ParameterizedTest(name = "random name #{0}")
    @MethodSource("segmentCases")
    void segmentOverloadsMatchArrayOverloads(int index, byte[] name) {
        byte[] expected;
        boolean expectedValid;
        {
            JsonWriter w = new JsonWriter(8);
            w.beginString();
            expectedValid = w.bytes(name, 0, name.length);
            w.endString();
            w.beginBase64();
            w.base64(name, 0, name.length);
            w.endBase64();
            expected = output(w);
        }
        assertEquals(JsonWriter.isValidUtf8(name, 0, name.length), expectedValid);

        try (Arena arena = Arena.ofConfined()) {
            int pad = index % 8;
            MemorySegment padded = arena.allocate(name.length + 2L * pad + 1);
            padded.fill((byte) 0xff);
            MemorySegment.copy(name, 0, padded, ValueLayout.JAVA_BYTE, pad, name.length);
            byte[] paddedArray = new byte[name.length + 2 * pad + 1];
            Arrays.fill(paddedArray, (byte) 0xff);
            System.arraycopy(name, 0, paddedArray, pad, name.length);

            for (MemorySegment seg : List.of(MemorySegment.ofArray(name), padded, MemorySegment.ofArray(paddedArray))) {
                long off = seg.byteSize() == name.length ? 0 : pad;
                JsonWriter w = new JsonWriter(8);
                w.beginString();
                assertEquals(expectedValid, w.bytes(seg, off, name.length), seg.toString());
                w.endString();
                w.beginBase64();
                w.base64(seg, off, name.length);
                w.endBase64();
                assertArrayEquals(expected, output(w), seg.toString());
                assertEquals(expectedValid, JsonWriter.isValidUtf8(seg, off, name.length), seg.toString());
            }
            // Offsets into a larger array must be honoured too, not just offsets into segments.
            JsonWriter w = new JsonWriter(8);
            w.beginString();
            assertEquals(expectedValid, w.bytes(paddedArray, pad, name.length));
            w.endString();
            w.beginBase64();
            w.base64(paddedArray, pad, name.length);
            w.endBase64();
            assertArrayEquals(expected, output(w));
            assertEquals(expectedValid, JsonWriter.isValidUtf8(paddedArray, pad, name.length));
        }
    }

    static Stream<Arguments> segmentCases() {
        Random random = new Random(0xc0ffeeL);
        List<byte[]> names = new ArrayList<>();
        hostileNames().forEach(a -> names.add((byte[]) ((Named<?>) a.get()[0]).getPayload()));
        while (names.size() < 250) {
            names.add(randomName(random, random.nextInt(301)));
        }
        return IntStream.range(0, names.size()).mapToObj(i -> Arguments.of(i, names.get(i)));
    }

    @Test
    void rangesOutsideTheInputAreRejected() {
        JsonWriter w = new JsonWriter(8);
        byte[] b = new byte[4];
        assertThrows(IndexOutOfBoundsException.class, () -> w.bytes(b, 2, 3));
        assertThrows(IndexOutOfBoundsException.class, () -> w.bytes(b, -1, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> w.base64(b, 0, 5));
        assertThrows(IndexOutOfBoundsException.class, () -> JsonWriter.isValidUtf8(b, 4, 1));
        MemorySegment seg = MemorySegment.ofArray(b);
        assertThrows(IndexOutOfBoundsException.class, () -> w.bytes(seg, 1, 4));
        assertThrows(IndexOutOfBoundsException.class, () -> w.base64(seg, 5, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> JsonWriter.isValidUtf8(seg, -1, 1));
        assertEquals(0, w.length(), "nothing written by a rejected call");
    }

    // ----------------------------------------------------------------------------------------------- base64

    @Test
    void base64MatchesTheJdkForEverySplitOfSmallInputs() {
        Random random = new Random(64);
        JsonWriter w = new JsonWriter(8);
        for (int n = 0; n <= 12; n++) {
            byte[] in = new byte[n];
            random.nextBytes(in);
            String expected = "\"" + Base64.getEncoder().encodeToString(in) + "\"";
            for (int a = 0; a <= n; a++) {
                for (int b = a; b <= n; b++) {
                    w.reset();
                    w.beginBase64();
                    w.base64(in, 0, a);
                    w.base64(in, a, b - a);
                    w.base64(MemorySegment.ofArray(in), b, n - b);
                    w.endBase64();
                    assertEquals(expected, text(w), "n=" + n + " split at " + a + "," + b);
                }
            }
        }
    }

    @Test
    void base64StartsAfreshAfterAnAbandonedEncoding() {
        JsonWriter w = new JsonWriter(8);
        w.beginBase64();
        w.base64(new byte[] {1, 2}, 0, 2);
        w.truncate(0);
        w.beginBase64();
        w.base64(new byte[] {'M'}, 0, 1);
        w.endBase64();
        assertEquals("\"TQ==\"", text(w));
    }

    // ---------------------------------------------------------------------------------------------- numbers

    @ParameterizedTest
    @ValueSource(longs = {0, 1, -1, 9, 10, -10, 99, 100, 12345, 999_999_999_999L, 1_000_000_000_000_000_000L,
        Integer.MAX_VALUE, Integer.MIN_VALUE, Long.MAX_VALUE, Long.MIN_VALUE, Long.MIN_VALUE + 1,
        // where the writer goes from long to int arithmetic, and its 9-digit steps
        2_147_483_648L, -2_147_483_648L, 4_294_967_295L, 999_999_999L, 1_000_000_000L, 1_000_000_001L,
        1_000_000_000_000_000_000L + 7, 1_764_950_400_123L})
    void numbersAreDecimal(long v) throws IOException {
        JsonWriter w = new JsonWriter(8);
        w.number(v);
        assertEquals(Long.toString(v), text(w));
        assertEquals(v, JSON.readTree(output(w)).longValue());
    }

    @Test
    void randomNumbersMatchLongToString() {
        Random random = new Random(10);
        JsonWriter w = new JsonWriter(8);
        for (int i = 0; i < 10_000; i++) {
            // Vary the magnitude so every digit count is exercised, not just 19-digit values.
            long v = random.nextLong() >> random.nextInt(64);
            w.reset();
            w.number(v);
            assertEquals(Long.toString(v), text(w));
        }
        for (long p = 1; p > 0 && p <= Long.MAX_VALUE / 10; p *= 10) {
            for (long v : new long[] {p - 1, p, p + 1, -p, -p + 1, -p - 1}) {
                w.reset();
                w.number(v);
                assertEquals(Long.toString(v), text(w));
            }
        }
    }

    @Test
    void asciiStringsAreQuotedAsIs() throws IOException {
        JsonWriter w = new JsonWriter(4);
        w.beginObject();
        w.name(SEQ);
        w.asciiString(JsonWriter.key("allow"));
        w.endObject();
        assertEquals("allow", JSON.readTree(output(w)).get("seq").asText());
    }

    // ------------------------------------------------------------------------------------- buffer handling

    @Test
    void growsPastTheInitialCapacityAndKeepsContent() throws IOException {
        JsonWriter w = new JsonWriter(8);
        byte[] initial = w.array();
        assertEquals(8, initial.length);
        byte[] name = repeat("\u00e9\n".getBytes(UTF_8), 500);
        w.beginObject();
        w.name(SEQ);
        w.number(Long.MIN_VALUE);
        w.name(NAME);
        w.beginString();
        assertTrue(w.bytes(name, 0, name.length));
        w.endString();
        w.name(NAME_B64);
        w.beginBase64();
        w.base64(name, 0, name.length);
        w.endBase64();
        w.endObject();
        assertNotSame(initial, w.array());
        assertTrue(w.array().length >= w.length());
        JsonNode node = parseLine(output(w));
        assertEquals(Long.MIN_VALUE, node.get("seq").longValue());
        assertEquals(new String(name, UTF_8), node.get("name").textValue());
        assertArrayEquals(name, Base64.getDecoder().decode(node.get("name_b64").textValue()));

        int capacity = w.array().length;
        assertTrue(Integer.bitCount(capacity / 8) == 1 && capacity % 8 == 0, "grew by doubling: " + capacity);
        byte[] grown = w.array();
        w.reset();
        assertEquals(0, w.length());
        assertSame(grown, w.array(), "the buffer is kept, never shrunk");
        w.string("x");
        assertEquals("\"x\"", text(w));
    }

    @Test
    void growsFromZeroCapacity() {
        JsonWriter w = new JsonWriter(0);
        w.nullValue();
        assertEquals("null", text(w));
        assertThrows(IllegalArgumentException.class, () -> new JsonWriter(-1));
    }

    @Test
    void truncateRollsBackAHalfWrittenRecord() throws IOException {
        JsonWriter w = new JsonWriter(8);
        w.beginObject();
        w.name(V);
        w.number(1);
        w.endObject();
        w.newline();
        int mark = w.length();
        w.beginObject();
        w.name(V);
        w.beginString();
        w.bytes(new byte[300], 0, 300);
        w.truncate(mark);
        assertEquals(mark, w.length());
        w.beginObject();
        w.name(V);
        w.number(2);
        w.endObject();
        w.newline();
        assertEquals("{\"v\":1}\n{\"v\":2}\n", text(w));
        for (String line : text(w).split("\n")) {
            parseLine(line.getBytes(UTF_8));
        }

        w.truncate(w.length());
        assertEquals("{\"v\":1}\n{\"v\":2}\n", text(w));
        w.truncate(0);
        assertEquals(0, w.length());
        assertThrows(IllegalArgumentException.class, () -> w.truncate(1));
        assertThrows(IllegalArgumentException.class, () -> w.truncate(-1));
    }

    @Test
    void steadyStateWritesDoNotAllocate() {
        Assumptions.assumeTrue(ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Assumptions.assumeTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled());

        byte[] name = concat("r\u00e9sum\u00e9 \u2028 \uD83D\uDE00\n".getBytes(UTF_8), bytes(0xff, 0xe2, 0x82),
                repeat("plain".getBytes(UTF_8), 20));
        JsonWriter w = new JsonWriter(16);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(name.length);
            MemorySegment.copy(name, 0, seg, ValueLayout.JAVA_BYTE, 0, name.length);
            for (int i = 0; i < 20_000; i++) {
                writeRecord(w, name, seg, i);
            }
            int rounds = 20_000;
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < rounds; i++) {
                writeRecord(w, name, seg, i);
            }
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            // Any per-record allocation would cost at least 16 bytes a record; allow for the odd one-off.
            assertTrue(allocated < rounds, "allocated " + allocated + " bytes for " + rounds + " records");
        }
    }

    private static void writeRecord(JsonWriter w, byte[] name, MemorySegment seg, long i) {
        w.reset();
        w.beginObject();
        w.name(SEQ);
        w.number(i * 7919);
        w.name(EVENT);
        w.string("OPEN");
        w.name(COMM);
        w.nullValue();
        w.name(IS_DIR);
        w.bool((i & 1) == 0);
        w.name(PATH);
        w.beginString();
        boolean ok = w.bytes(seg, 0, (int) seg.byteSize());
        ok &= w.bytes(name, 0, name.length);
        w.endString();
        if (!ok || !JsonWriter.isValidUtf8(seg, 0, (int) seg.byteSize())) {
            w.name(PATH_B64);
            w.beginBase64();
            w.base64(seg, 0, (int) seg.byteSize());
            w.base64(name, 0, name.length);
            w.endBase64();
        }
        w.endObject();
        w.newline();
    }

    // -------------------------------------------------------------------------------------------- helpers

    /**
     * Writes {@code name} as a byte-string field (in 1..3 random parts) with its base64 twin, and checks the
     * line the way a consumer would see it.
     */
    private static void checkName(byte[] name, Random random) throws IOException {
        boolean valid = JsonWriter.isValidUtf8(name, 0, name.length);
        JsonWriter w = new JsonWriter(8);
        w.beginObject();
        w.name(NAME);
        w.beginString();
        assertEquals(valid, w.bytes(name, 0, name.length), "bytes() reports what isValidUtf8 says");
        w.endString();
        w.name(NAME_B64);
        w.beginBase64();
        int[] cuts = randomCuts(random, name.length);
        for (int p = 0; p + 1 < cuts.length; p++) {
            w.base64(name, cuts[p], cuts[p + 1] - cuts[p]);
        }
        w.endBase64();
        w.endObject();
        w.newline();

        byte[] line = output(w);
        assertEquals('\n', line[line.length - 1]);
        byte[] body = Arrays.copyOf(line, line.length - 1);
        checkSafe(body);
        JsonNode node = parseLine(line);
        assertEquals(List.of("name", "name_b64"), fieldNames(node));
        String oracle = new String(name, UTF_8);
        assertEquals(oracle, node.get("name").textValue());
        assertEquals(valid, Arrays.equals(oracle.getBytes(UTF_8), name), "valid iff the JDK decodes losslessly");
        assertArrayEquals(name, Base64.getDecoder().decode(node.get("name_b64").textValue()),
                Arrays.toString(cuts));
    }

    /** 0 = c0 <= c1 <= ... = length, splitting into 1..3 parts (parts may be empty). */
    private static int[] randomCuts(Random random, int length) {
        int parts = 1 + random.nextInt(3);
        int[] cuts = new int[parts + 1];
        for (int i = 1; i < parts; i++) {
            cuts[i] = random.nextInt(length + 1);
        }
        cuts[parts] = length;
        Arrays.sort(cuts, 1, parts);
        return cuts;
    }

    /** No raw control character or line break, and well-formed UTF-8. */
    private static void checkSafe(byte[] out) {
        for (int i = 0; i < out.length; i++) {
            if ((out[i] & 0xff) < 0x20 || out[i] == 0x7f) {
                fail(String.format("raw byte 0x%02x at %d", out[i] & 0xff, i));
            }
        }
        try {
            String s = UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(out))
                    .toString();
            assertFalse(s.contains("\u2028") || s.contains("\u2029"), "raw U+2028/U+2029");
        } catch (CharacterCodingException e) {
            fail("output is not valid UTF-8: " + e);
        }
    }

    private static JsonNode parseLine(byte[] line) throws IOException {
        JsonNode node = JSON.readTree(line);
        assertTrue(node.isObject(), "a record is an object");
        return node;
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static byte[] output(JsonWriter w) {
        return Arrays.copyOf(w.array(), w.length());
    }

    private static String text(JsonWriter w) {
        return new String(w.array(), 0, w.length(), UTF_8);
    }

    private static Arguments named(String name, byte[] b) {
        return Arguments.of(Named.of(name, b));
    }

    private static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = (byte) v[i];
        }
        return b;
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static byte[] repeat(byte[] unit, int times) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(unit.length * times);
        for (int i = 0; i < times; i++) {
            out.writeBytes(unit);
        }
        return out.toByteArray();
    }

    private static String escapeForMessage(String s) {
        StringBuilder b = new StringBuilder();
        s.chars().forEach(c -> b.append(c < 0x20 || c > 0x7e ? String.format("\\u%04x", c) : String.valueOf((char) c)));
        return b.toString();
    }
}
