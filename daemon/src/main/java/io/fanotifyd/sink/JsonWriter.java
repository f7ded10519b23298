package io.fanotifyd.sink;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * Appends JSON Lines records to a reusable byte buffer, allocating nothing once the buffer is large enough.
 *
 * <pre>{@code
 * static final byte[] PATH = JsonWriter.key("path");
 * w.reset();
 * w.beginObject();
 * w.name(PATH);
 * w.beginString();
 * boolean utf8 = w.bytes(dirSeg, dirOff, dirLen);
 * w.bytes(SLASH, 0, 1);
 * utf8 &= w.bytes(nameSeg, nameOff, nameLen);
 * w.endString();
 * w.endObject();
 * w.newline();
 * out.write(w.array(), 0, w.length());
 * }</pre>
 *
 * <p>File names reach us as raw kernel bytes that need not be UTF-8. The string methods therefore always emit
 * valid UTF-8 and valid JSON: bytes that are not UTF-8 are replaced by U+FFFD exactly as
 * {@code new String(bytes, UTF_8)} replaces them (one U+FFFD per maximal subpart, except that a UTF-8-encoded
 * surrogate such as {@code ED A0 80} becomes a single U+FFFD as in the JDK), and report it through their
 * return value so that the caller can add the lossless base64 form. Control characters, DEL and U+2028/U+2029
 * are escaped, so a record never contains a raw line break and can be embedded in JavaScript source.
 *
 * <p>The writer does not check the structure it is asked to write (objects are flat in our records); it is
 * not thread-safe.
 */
public final class JsonWriter {
    // Arrays in HotSpot cannot quite reach Integer.MAX_VALUE elements.
    private static final int MAX_CAPACITY = Integer.MAX_VALUE - 8;

    private static final byte[] HEX = {
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'
    };
    private static final byte[] BASE64 =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] LONG_MIN = "-9223372036854775808".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TRUE = {'t', 'r', 'u', 'e'};
    private static final byte[] FALSE = {'f', 'a', 'l', 's', 'e'};
    private static final byte[] NULL = {'n', 'u', 'l', 'l'};

    /**
     * For each ASCII byte, the character that follows the backslash in its escape ({@code 'u'} for the
     * {@code \}{@code u00XX} form), or 0 if it is copied verbatim.
     */
    private static final byte[] ESCAPE = new byte[128];

    static {
        for (int c = 0; c < 0x20; c++) {
            ESCAPE[c] = 'u';
        }
        ESCAPE['\b'] = 'b';
        ESCAPE['\f'] = 'f';
        ESCAPE['\n'] = 'n';
        ESCAPE['\r'] = 'r';
        ESCAPE['\t'] = 't';
        ESCAPE['"'] = '"';
        ESCAPE['\\'] = '\\';
        // DEL is legal in JSON but invisible and mangled by some terminals and log tools.
        ESCAPE[0x7f] = 'u';
    }

    private byte[] buf;
    private int len;
    private boolean firstField;

    // Streaming base64 keeps the bytes of an unfinished 3-byte group between calls.
    private int b64Carry;
    private int b64CarryCount;

    /**
     * Creates a writer with an empty buffer.
     *
     * @param initialCapacity the initial buffer size in bytes; the buffer doubles when it is full
     * @throws IllegalArgumentException if {@code initialCapacity} is negative
     */
    public JsonWriter(int initialCapacity) {
        if (initialCapacity < 0 || initialCapacity > MAX_CAPACITY) {
            throw new IllegalArgumentException("initial capacity " + initialCapacity);
        }
        this.buf = new byte[initialCapacity];
    }

    /**
     * Encodes a field name once, for use with {@link #name(byte[])}.
     *
     * @param ascii printable ASCII without {@code "} or {@code \}, since the bytes are later written unescaped
     * @return the ASCII bytes of {@code ascii}
     * @throws IllegalArgumentException if {@code ascii} contains a character that would need escaping
     */
    public static byte[] key(String ascii) {
        byte[] out = new byte[ascii.length()];
        for (int i = 0; i < out.length; i++) {
            char c = ascii.charAt(i);
            if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
                throw new IllegalArgumentException("JSON key needs escaping: " + ascii);
            }
            out[i] = (byte) c;
        }
        return out;
    }

    /**
     * The buffer holding the output; only {@code [0, length())} is meaningful. The array is replaced when the
     * buffer grows, so fetch it again after writing.
     */
    public byte[] array() {
        return buf;
    }

    /** The number of bytes written so far. */
    public int length() {
        return len;
    }

    /** Discards all output, keeping the buffer for reuse. */
    public void reset() {
        len = 0;
    }

    /**
     * Discards everything written after the first {@code length} bytes, e.g. to drop a record that could not
     * be completed. Base64 and first-field state are not rolled back: start the next value or object afresh.
     *
     * @throws IllegalArgumentException if {@code length} is negative or beyond {@link #length()}
     */
    public void truncate(int length) {
        if (length < 0 || length > len) {
            throw new IllegalArgumentException("truncate to " + length + " of " + len + " bytes");
        }
        len = length;
    }

    /** Writes <code>{</code>; the next {@link #name(byte[])} is the object's first field. */
    public void beginObject() {
        ensure(1);
        buf[len++] = '{';
        firstField = true;
    }

    /** Writes <code>}</code>; an object inside another is one of its fields, so the next field takes a comma. */
    public void endObject() {
        ensure(1);
        buf[len++] = '}';
        firstField = false;
    }

    /** Writes the line feed that ends a JSON Lines record. */
    public void newline() {
        ensure(1);
        buf[len++] = '\n';
    }

    /**
     * Writes {@code "key":}, preceded by a comma unless this is the first field since {@link #beginObject()}.
     *
     * @param key a name made by {@link #key(String)}; written verbatim
     */
    public void name(byte[] key) {
        ensure(key.length + 4L);
        byte[] b = buf;
        int p = len;
        if (firstField) {
            firstField = false;
        } else {
            b[p++] = ',';
        }
        b[p++] = '"';
        System.arraycopy(key, 0, b, p, key.length);
        p += key.length;
        b[p++] = '"';
        b[p++] = ':';
        len = p;
    }

    /**
     * Writes fields encoded earlier by this class, {@code b[off, off+length)} (starting with a name, without a
     * leading comma), preceded by a comma unless they are the object's first: to repeat fields that are the
     * same for many records without encoding them again.
     */
    public void fields(byte[] b, int off, int length) {
        ensure(length + 1L);
        if (firstField) {
            firstField = false;
        } else {
            buf[len++] = ',';
        }
        System.arraycopy(b, off, buf, len, length);
        len += length;
    }

    /** Writes {@code v} in decimal. */
    public void number(long v) {
        if (v == Long.MIN_VALUE) {
            // The only value whose magnitude does not fit in a long.
            raw(LONG_MIN);
            return;
        }
        ensure(20);
        byte[] b = buf;
        int p = len;
        if (v < 0) {
            b[p++] = '-';
            v = -v;
        }
        int digits = 1;
        while (digits < POW10.length && v >= POW10[digits]) {
            digits++;
        }
        int end = p + digits;
        int q = end;
        // C1 (the daemon's compiler) calls into the VM for every long division: a 13-digit timestamp cost ~40
        // such calls. Here there is at most one per 9 digits above 2^31; the rest divides by 10 with a
        // multiply and a shift, exact for every int (x / 10 == x * 0xCCCCCCCD >>> 35 for 0 <= x < 2^32).
        while (v > Integer.MAX_VALUE) {
            long high = v / 1_000_000_000L;
            q = digitsBefore(b, q, q - 9, (int) (v - high * 1_000_000_000L));
            v = high;
        }
        digitsBefore(b, q, p, (int) v);
        len = end;
    }

    /** Writes the last {@code end - start} decimal digits of {@code x} to {@code b[start, end)}; returns start. */
    private static int digitsBefore(byte[] b, int end, int start, int x) {
        int q = end;
        while (q > start) {
            int div = (int) ((x * 0xCCCCCCCDL) >>> 35);
            b[--q] = (byte) ('0' + x - div * 10);
            x = div;
        }
        return q;
    }

    /** 10^i, i < 19: the number of digits of a long by comparisons, without dividing. */
    private static final long[] POW10 = new long[19];

    static {
        POW10[0] = 1;
        for (int i = 1; i < POW10.length; i++) {
            POW10[i] = POW10[i - 1] * 10;
        }
    }

    /**
     * Writes a JSON string whose text is {@code ascii}, made by {@link #key}: checked once there, copied here
     * (for the constant values of every record, such as its type and decision).
     */
    public void asciiString(byte[] ascii) {
        ensure(ascii.length + 2L);
        byte[] b = buf;
        int p = len;
        b[p++] = '"';
        System.arraycopy(ascii, 0, b, p, ascii.length);
        p += ascii.length;
        b[p++] = '"';
        len = p;
    }

    /**
     * Writes {@code v} as a plain decimal ({@code 0.000002}, not {@code 2.0E-6}); not for the per-event path (it
     * allocates). NaN and infinities, which JSON has no number for, are written as {@code null}.
     */
    public void decimal(double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            nullValue();
        } else if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            number((long) v);
        } else {
            raw(java.math.BigDecimal.valueOf(v).stripTrailingZeros().toPlainString()
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
    }

    /** Writes {@code true} or {@code false}. */
    public void bool(boolean v) {
        raw(v ? TRUE : FALSE);
    }

    /** Writes {@code null}. */
    public void nullValue() {
        raw(NULL);
    }

    /**
     * Writes a complete JSON string from UTF-16 text, encoded as UTF-8. A surrogate that is not part of a
     * pair becomes U+FFFD, so the output stays valid UTF-8.
     */
    public void string(String s) {
        beginString();
        int n = s.length();
        int i = 0;
        while (i < n) {
            int run = i;
            char c;
            while (i < n && (c = s.charAt(i)) < 0x80 && ESCAPE[c] == 0) {
                i++;
            }
            if (i > run) {
                ensure(i - run);
                byte[] b = buf;
                int p = len;
                for (int k = run; k < i; k++) {
                    b[p++] = (byte) s.charAt(k);
                }
                len = p;
            }
            if (i == n) {
                break;
            }
            c = s.charAt(i++);
            ensure(6);
            if (c < 0x80) {
                escapeAscii(c);
            } else if (c < 0x800) {
                buf[len++] = (byte) (0xc0 | c >> 6);
                buf[len++] = (byte) (0x80 | c & 0x3f);
            } else if (Character.isSurrogate(c)) {
                char lo;
                if (Character.isHighSurrogate(c) && i < n && Character.isLowSurrogate(lo = s.charAt(i))) {
                    i++;
                    int cp = Character.toCodePoint(c, lo);
                    buf[len++] = (byte) (0xf0 | cp >> 18);
                    buf[len++] = (byte) (0x80 | cp >> 12 & 0x3f);
                    buf[len++] = (byte) (0x80 | cp >> 6 & 0x3f);
                    buf[len++] = (byte) (0x80 | cp & 0x3f);
                } else {
                    replacement();
                }
            } else if (c == 0x2028 || c == 0x2029) {
                escapeLineSeparator(c);
            } else {
                buf[len++] = (byte) (0xe0 | c >> 12);
                buf[len++] = (byte) (0x80 | c >> 6 & 0x3f);
                buf[len++] = (byte) (0x80 | c & 0x3f);
            }
        }
        endString();
    }

    /** Writes the opening quote of a string assembled from {@link #bytes} parts. */
    public void beginString() {
        ensure(1);
        buf[len++] = '"';
    }

    /** Writes the closing quote of a string begun with {@link #beginString()}. */
    public void endString() {
        ensure(1);
        buf[len++] = '"';
    }

    /**
     * Appends raw bytes, such as a kernel file name, as JSON string content. The part is validated on its own:
     * a UTF-8 sequence split across two calls counts as invalid in both.
     *
     * @return true if the bytes were valid UTF-8; false if something was replaced by U+FFFD, in which case
     *     the written text is lossy and the caller should also record the bytes in base64
     * @throws IndexOutOfBoundsException if the range is outside {@code seg}
     */
    public boolean bytes(MemorySegment seg, long offset, int length) {
        Objects.checkFromIndexSize(offset, length, seg.byteSize());
        // One bulk copy, then the scan over a plain array: under C1 a single-value segment read per byte pays
        // the FFM's bounds and alignment checks each time (a quarter of the event thread's Java time).
        if (scratch.length < length) {
            scratch = new byte[Math.max(length, scratch.length * 2)];
        }
        MemorySegment.copy(seg, JAVA_BYTE, offset, scratch, 0, length);
        return bytes(scratch, 0, length);
    }

    /** Where {@link #bytes(MemorySegment, long, int)} copies a name or path before encoding it. */
    private byte[] scratch = new byte[256];

    /**
     * Appends raw bytes as JSON string content; see {@link #bytes(MemorySegment, long, int)}.
     *
     * @return true if the bytes were valid UTF-8
     * @throws IndexOutOfBoundsException if the range is outside {@code b}
     */
    public boolean bytes(byte[] b, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, b.length);
        boolean valid = true;
        int i = offset;
        final int end = offset + length;
        while (i < end) {
            int run = i;
            while (i < end && isPlain(b[i])) {
                i++;
            }
            if (i > run) {
                int n = i - run;
                ensure(n);
                System.arraycopy(b, run, buf, len, n);
                len += n;
            }
            if (i == end) {
                break;
            }
            int c = b[i] & 0xff;
            ensure(6);
            if (c < 0x80) {
                escapeAscii(c);
                i++;
                continue;
            }
            int b1 = i + 1 < end ? b[i + 1] & 0xff : -1;
            int b2 = i + 2 < end ? b[i + 2] & 0xff : -1;
            int b3 = i + 3 < end ? b[i + 3] & 0xff : -1;
            int n = sequence(c, b1, b2, b3);
            if (n > 0) {
                putSequence(n, c, b1, b2, b3);
                i += n;
            } else {
                replacement();
                valid = false;
                i -= n;
            }
        }
        return valid;
    }

    /** Writes the opening quote of a base64 string and starts a fresh encoding. */
    public void beginBase64() {
        ensure(1);
        buf[len++] = '"';
        b64Carry = 0;
        b64CarryCount = 0;
    }

    /**
     * Appends bytes to the base64 string begun with {@link #beginBase64()}. Parts are encoded as one
     * concatenated byte sequence, so the caller need not join a directory and a name first.
     *
     * @throws IndexOutOfBoundsException if the range is outside {@code seg}
     */
    public void base64(MemorySegment seg, long off, int length) {
        Objects.checkFromIndexSize(off, length, seg.byteSize());
        long i = off;
        final long end = off + length;
        while (b64CarryCount != 0 && i < end) {
            carry(seg.get(JAVA_BYTE, i++));
        }
        ensure((end - i) / 3 * 4);
        while (end - i >= 3) {
            putBase64Group((seg.get(JAVA_BYTE, i) & 0xff) << 16
                    | (seg.get(JAVA_BYTE, i + 1) & 0xff) << 8
                    | seg.get(JAVA_BYTE, i + 2) & 0xff);
            i += 3;
        }
        while (i < end) {
            carry(seg.get(JAVA_BYTE, i++));
        }
    }

    /**
     * Appends bytes to the base64 string begun with {@link #beginBase64()}; see
     * {@link #base64(MemorySegment, long, int)}.
     *
     * @throws IndexOutOfBoundsException if the range is outside {@code b}
     */
    public void base64(byte[] b, int off, int length) {
        Objects.checkFromIndexSize(off, length, b.length);
        int i = off;
        final int end = off + length;
        while (b64CarryCount != 0 && i < end) {
            carry(b[i++]);
        }
        ensure((end - i) / 3 * 4L);
        while (end - i >= 3) {
            putBase64Group((b[i] & 0xff) << 16 | (b[i + 1] & 0xff) << 8 | b[i + 2] & 0xff);
            i += 3;
        }
        while (i < end) {
            carry(b[i++]);
        }
    }

    /** Encodes the bytes still pending, with {@code =} padding, and writes the closing quote. */
    public void endBase64() {
        ensure(5);
        byte[] b = buf;
        int p = len;
        if (b64CarryCount == 1) {
            int v = b64Carry << 16;
            b[p++] = BASE64[v >>> 18];
            b[p++] = BASE64[v >>> 12 & 0x3f];
            b[p++] = '=';
            b[p++] = '=';
        } else if (b64CarryCount == 2) {
            int v = b64Carry << 8;
            b[p++] = BASE64[v >>> 18];
            b[p++] = BASE64[v >>> 12 & 0x3f];
            b[p++] = BASE64[v >>> 6 & 0x3f];
            b[p++] = '=';
        }
        b[p++] = '"';
        len = p;
        b64Carry = 0;
        b64CarryCount = 0;
    }

    /**
     * Whether {@code b[off, off + length)} is well-formed UTF-8, by the same rules that make
     * {@link #bytes(byte[], int, int)} return false.
     *
     * @throws IndexOutOfBoundsException if the range is outside {@code b}
     */
    public static boolean isValidUtf8(byte[] b, int off, int length) {
        Objects.checkFromIndexSize(off, length, b.length);
        int i = off;
        final int end = off + length;
        while (i < end) {
            int c = b[i];
            if (c >= 0) {
                i++;
                continue;
            }
            int n = sequence(c & 0xff,
                    i + 1 < end ? b[i + 1] & 0xff : -1,
                    i + 2 < end ? b[i + 2] & 0xff : -1,
                    i + 3 < end ? b[i + 3] & 0xff : -1);
            if (n < 0) {
                return false;
            }
            i += n;
        }
        return true;
    }

    /**
     * Whether {@code seg[off, off + length)} is well-formed UTF-8; see {@link #isValidUtf8(byte[], int, int)}.
     *
     * @throws IndexOutOfBoundsException if the range is outside {@code seg}
     */
    public static boolean isValidUtf8(MemorySegment seg, long off, int length) {
        Objects.checkFromIndexSize(off, length, seg.byteSize());
        long i = off;
        final long end = off + length;
        while (i < end) {
            int c = seg.get(JAVA_BYTE, i);
            if (c >= 0) {
                i++;
                continue;
            }
            int n = sequence(c & 0xff,
                    i + 1 < end ? seg.get(JAVA_BYTE, i + 1) & 0xff : -1,
                    i + 2 < end ? seg.get(JAVA_BYTE, i + 2) & 0xff : -1,
                    i + 3 < end ? seg.get(JAVA_BYTE, i + 3) & 0xff : -1);
            if (n < 0) {
                return false;
            }
            i += n;
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------------------

    /** True for ASCII bytes that go into a JSON string unchanged; bytes >= 0x80 are negative here. */
    private static boolean isPlain(byte c) {
        return c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
    }

    /**
     * Classifies the sequence starting with lead byte {@code b0} (>= 0x80), given the next three bytes
     * (-1 past the end of the part), following Unicode's well-formed byte sequence table (no overlongs, no
     * surrogates, nothing above U+10FFFF).
     *
     * @return the sequence length if it is well-formed; otherwise minus the number of bytes that one U+FFFD
     *     replaces (at least 1): the maximal subpart, except for surrogates (below), so that the text is
     *     exactly what {@code new String(bytes, UTF_8)} makes of the same bytes
     */
    private static int sequence(int b0, int b1, int b2, int b3) {
        if (b0 >= 0xc2 && b0 <= 0xdf) {
            return isContinuation(b1) ? 2 : -1;
        }
        if (b0 == 0xed && b1 >= 0xa0 && b1 <= 0xbf) {
            // A UTF-8-encoded surrogate (as CESU-8 or Java's modified UTF-8 write them). Unicode's maximal
            // subpart would be ED alone, but the JDK decoder replaces all three bytes (or ED plus A0..BF when
            // the third is missing) with a single U+FFFD; we follow the JDK so that names read back in Java
            // compare equal.
            return isContinuation(b2) ? -3 : -2;
        }
        if (b0 >= 0xe0 && b0 <= 0xef) {
            int lo = b0 == 0xe0 ? 0xa0 : 0x80;
            if (b1 < lo || b1 > 0xbf) {
                return -1;
            }
            return isContinuation(b2) ? 3 : -2;
        }
        if (b0 >= 0xf0 && b0 <= 0xf4) {
            int lo = b0 == 0xf0 ? 0x90 : 0x80;
            int hi = b0 == 0xf4 ? 0x8f : 0xbf;
            if (b1 < lo || b1 > hi) {
                return -1;
            }
            if (!isContinuation(b2)) {
                return -2;
            }
            return isContinuation(b3) ? 4 : -3;
        }
        // Stray continuation bytes, C0/C1 (only ever overlong) and F5..FF (beyond U+10FFFF).
        return -1;
    }

    private static boolean isContinuation(int b) {
        return b >= 0x80 && b <= 0xbf;
    }

    /** Copies a well-formed sequence; the caller has reserved 6 bytes. */
    private void putSequence(int n, int b0, int b1, int b2, int b3) {
        // U+2028 and U+2029 are line terminators in JavaScript source, though not in JSON.
        if (n == 3 && b0 == 0xe2 && b1 == 0x80 && (b2 == 0xa8 || b2 == 0xa9)) {
            escapeLineSeparator(0x2000 | b2 - 0x80);
            return;
        }
        byte[] b = buf;
        int p = len;
        b[p++] = (byte) b0;
        b[p++] = (byte) b1;
        if (n >= 3) {
            b[p++] = (byte) b2;
            if (n == 4) {
                b[p++] = (byte) b3;
            }
        }
        len = p;
    }

    /** Writes the escape of an ASCII character that {@link #ESCAPE} marks; the caller has reserved 6 bytes. */
    private void escapeAscii(int c) {
        byte e = ESCAPE[c];
        byte[] b = buf;
        int p = len;
        b[p++] = '\\';
        b[p++] = e;
        if (e == 'u') {
            b[p++] = '0';
            b[p++] = '0';
            b[p++] = HEX[c >> 4];
            b[p++] = HEX[c & 0xf];
        }
        len = p;
    }

    /** Writes {@code \u2028} or {@code \u2029}; the caller has reserved 6 bytes. */
    private void escapeLineSeparator(int c) {
        byte[] b = buf;
        int p = len;
        b[p++] = '\\';
        b[p++] = 'u';
        b[p++] = '2';
        b[p++] = '0';
        b[p++] = '2';
        b[p++] = HEX[c & 0xf];
        len = p;
    }

    /** Writes U+FFFD in UTF-8; the caller has reserved 3 bytes. */
    private void replacement() {
        byte[] b = buf;
        int p = len;
        b[p++] = (byte) 0xef;
        b[p++] = (byte) 0xbf;
        b[p++] = (byte) 0xbd;
        len = p;
    }

    private void carry(byte v) {
        b64Carry = b64Carry << 8 | v & 0xff;
        if (++b64CarryCount == 3) {
            ensure(4);
            putBase64Group(b64Carry);
            b64Carry = 0;
            b64CarryCount = 0;
        }
    }

    /** Writes the four characters of a 24-bit group; the caller has reserved 4 bytes. */
    private void putBase64Group(int v) {
        byte[] b = buf;
        int p = len;
        b[p++] = BASE64[v >>> 18];
        b[p++] = BASE64[v >>> 12 & 0x3f];
        b[p++] = BASE64[v >>> 6 & 0x3f];
        b[p++] = BASE64[v & 0x3f];
        len = p;
    }

    private void raw(byte[] v) {
        ensure(v.length);
        System.arraycopy(v, 0, buf, len, v.length);
        len += v.length;
    }

    /** Makes room for {@code extra} more bytes; taken as a long so that callers' sums cannot overflow. */
    private void ensure(long extra) {
        if (len + extra > buf.length) {
            grow(len + extra);
        }
    }

    private void grow(long needed) {
        if (needed > MAX_CAPACITY) {
            throw new OutOfMemoryError("JSON record of " + needed + " bytes");
        }
        // Doubling keeps the number of copies logarithmic in the largest record ever written.
        long capacity = Math.max(16, buf.length);
        while (capacity < needed) {
            capacity *= 2;
        }
        buf = Arrays.copyOf(buf, (int) Math.min(MAX_CAPACITY, capacity));
    }
}
