package io.fanotifyd.kernel;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * File names are bytes; Java strings are UTF-16. This maps between them without loss: valid UTF-8 decodes as
 * usual, and each byte that is not part of a valid UTF-8 sequence becomes the lone surrogate
 * {@code U+DC80 + (byte - 0x80)} (Python's "surrogateescape"), which {@link #encode} turns back into that byte.
 * Every byte string round-trips exactly. A string with no lone surrogates encodes as plain UTF-8.
 */
public final class PathCodec {
    private PathCodec() {}

    /** Bytes → string, escaping undecodable bytes as lone surrogates. */
    public static String decode(byte[] b, int off, int len) {
        StringBuilder sb = new StringBuilder(len);
        int end = off + len;
        int i = off;
        while (i < end) {
            int c = b[i] & 0xff;
            if (c < 0x80) {
                sb.append((char) c);
                i++;
                continue;
            }
            int n = validSequence(b, i, end);
            if (n == 0) {
                sb.append((char) (0xDC00 + c));
                i++;
                continue;
            }
            sb.append(new String(b, i, n, StandardCharsets.UTF_8));
            i += n;
        }
        return sb.toString();
    }

    public static String decode(byte[] b) {
        return decode(b, 0, b.length);
    }

    /** String → bytes: UTF-8, except lone surrogates U+DC80..U+DCFF, which become the byte they escape. */
    public static byte[] encode(String s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length() + 8);
        int i = 0;
        int n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            if (c >= 0xDC80 && c <= 0xDCFF) {
                out.write(c - 0xDC00);
                i++;
            } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                out.writeBytes(s.substring(i, i + 2).getBytes(StandardCharsets.UTF_8));
                i += 2;
            } else {
                out.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
                i++;
            }
        }
        return out.toByteArray();
    }

    /** Length of the valid UTF-8 sequence starting at {@code i} (lead byte >= 0x80), or 0 if invalid. */
    private static int validSequence(byte[] b, int i, int end) {
        int c = b[i] & 0xff;
        int n;
        int min;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            min = 0x10000;
        } else {
            return 0;
        }
        if (i + n > end) {
            return 0;
        }
        int cp = c & (0xFF >> (n + 1));
        for (int k = 1; k < n; k++) {
            int cc = b[i + k] & 0xff;
            if ((cc & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        return n;
    }
}
