package io.fanotifyd.policy;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.PathCodec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;

/**
 * Matches absolute paths against an ordered list of canary patterns with exactly libc's
 * {@code fnmatch(pattern, path, FNM_PATHNAME)} semantics, and no other flag:
 *
 * <ul>
 *   <li>the whole path must match the whole pattern;</li>
 *   <li>{@code *} matches any run of characters not containing '/', {@code ?} exactly one character other than
 *       '/' (FNM_PATHNAME: a '/' in the path is matched only by a literal '/' in the pattern);</li>
 *   <li>{@code [...]} is a bracket expression ({@code [ab]}, {@code [a-c]}, {@code [!a]} or {@code [^a]},
 *       {@code []]}, {@code [[:alpha:]]}), which never matches '/'; a {@code [} with no closing {@code ]} is an
 *       ordinary character;</li>
 *   <li>{@code \} makes the next character literal (no FNM_NOESCAPE);</li>
 *   <li>a leading '.' is not special: {@code /d/*} matches {@code /d/.hidden} (no FNM_PERIOD);</li>
 *   <li>case-sensitive (no FNM_CASEFOLD), no extended patterns (no FNM_EXTMATCH).</li>
 * </ul>
 *
 * <p>"Character" is whatever glibc's fnmatch makes of it in the process locale: in a UTF-8 locale a {@code ?}
 * matches one UTF-8 sequence, and when the pattern or the path is not valid in the locale's charset glibc
 * (2.36 tested) matches bytes instead. Whatever libc decides is the answer: {@link #match(MemorySegment, int)}
 * returns the same result as calling {@link Libc#fnmatch} on each pattern in turn; its shortcuts only skip
 * calls whose answer is already known.
 *
 * <p>Patterns and paths are byte strings. Patterns are given as {@link PathCodec} strings, so a pattern can name
 * a non-UTF-8 file name byte for byte. Immutable and safe to share between threads.
 */
public final class CanaryMatcher {
    /** A pattern with a wildcard: after the literal-prefix check, fnmatch decides. */
    private static final byte GLOB = 0;
    /** A pattern without any special character: matches exactly the path with the same bytes. */
    private static final byte EXACT = 1;
    /** A pattern without special characters that fnmatch refuses even against itself: matches nothing. */
    private static final byte NEVER = 2;
    /** The first 8 bytes of a path as one little-endian long, whatever the platform's byte order. */
    private static final ValueLayout.OfLong HEAD = JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String[] patterns;
    /** Each pattern as a NUL-terminated C string, encoded once; kept alive by the matcher's arena. */
    private final MemorySegment[] cPatterns;
    /** Length of each pattern's literal prefix; for EXACT patterns, the whole pattern's length. */
    private final int[] prefixLengths;
    /**
     * The first min(8, prefix length) bytes of each literal prefix as a little-endian long, and the mask of
     * those bytes: one compare rejects most paths, where a {@code MemorySegment.mismatch} call costs several ns.
     */
    private final long[] heads;
    private final long[] headMasks;
    private final byte[] kinds;

    /**
     * @param patterns the patterns in priority order, as {@link PathCodec} strings (no NUL)
     * @throws IllegalArgumentException if a pattern contains a NUL
     */
    public CanaryMatcher(List<String> patterns) {
        int n = patterns.size();
        this.patterns = patterns.toArray(new String[0]);
        this.cPatterns = new MemorySegment[n];
        this.prefixLengths = new int[n];
        this.heads = new long[n];
        this.headMasks = new long[n];
        this.kinds = new byte[n];
        // An automatic arena: the C strings live as long as this matcher (the daemon's life, or until a
        // reloaded configuration replaces it) and may be read from any thread.
        Arena arena = Arena.ofAuto();
        for (int i = 0; i < n; i++) {
            String pattern = this.patterns[i];
            MemorySegment c = Libc.cString(arena, pattern);
            byte[] bytes = PathCodec.encode(pattern);
            int prefix = literalPrefixLength(bytes);
            cPatterns[i] = c;
            prefixLengths[i] = prefix;
            for (int k = 0; k < Math.min(8, prefix); k++) {
                heads[i] |= (bytes[k] & 0xffL) << (8 * k);
                headMasks[i] |= 0xffL << (8 * k);
            }
            if (prefix < bytes.length) {
                kinds[i] = GLOB;
            } else {
                // No special character: under fnmatch a literal matches only itself, so the only path that can
                // match is the pattern's own bytes. Whether that one does is asked of fnmatch once, here:
                // it is the very call match() would make for that path (same bytes, same locale), so the
                // shortcut cannot disagree with it, even on a libc that rejects bytes invalid in the locale
                // instead of matching them.
                kinds[i] = Libc.fnmatch(c, c, Libc.FNM_PATHNAME) == 0 ? EXACT : NEVER;
            }
        }
    }

    /**
     * The number of leading bytes before the first {@code * ? [ \}. Every other byte outside a bracket
     * expression (including '/', '.', ']', '!', '-', '^' and any byte >= 0x80) is a literal that fnmatch
     * matches only with itself, so a path that matches must begin with exactly these bytes. In UTF-8 those four
     * ASCII bytes never occur inside a multibyte sequence, so the prefix never ends mid-character.
     */
    private static int literalPrefixLength(byte[] pattern) {
        for (int i = 0; i < pattern.length; i++) {
            byte b = pattern[i];
            if (b == '*' || b == '?' || b == '[' || b == '\\') {
                return i;
            }
        }
        return pattern.length;
    }

    public boolean isEmpty() {
        return patterns.length == 0;
    }

    public int size() {
        return patterns.length;
    }

    /** Pattern {@code i} as given to the constructor. */
    public String pattern(int i) {
        return patterns[i];
    }

    /**
     * The index of the first pattern that {@code fnmatch(pattern, path, FNM_PATHNAME)} accepts (returns 0), or
     * -1 if none does. Allocates nothing.
     *
     * <p>fnmatch is called only when needed: a path that does not begin with a pattern's literal prefix is
     * rejected by a byte comparison, and a pattern without wildcards is decided by byte equality. Neither ever
     * changes an answer (see the constructor and {@code literalPrefixLength}).
     *
     * @param cPath a native segment holding the path's {@code length} bytes followed by a NUL; the path itself
     *              must contain no NUL (no path does), since fnmatch would stop there
     * @param length the path's length in bytes, without the NUL
     * @throws IllegalArgumentException if {@code cPath} is not native or its byte at {@code length} is not NUL
     * @throws IndexOutOfBoundsException if {@code cPath} is shorter than {@code length + 1} bytes
     */
    public int match(MemorySegment cPath, int length) {
        // fnmatch reads up to the NUL with no bounds check; make sure it is there (this also bounds-checks).
        if (!cPath.isNative() || cPath.get(JAVA_BYTE, length) != 0) {
            throw new IllegalArgumentException("path must be a native, NUL-terminated C string of "
                    + length + " bytes");
        }
        long head = head(cPath, length);
        for (int i = 0; i < kinds.length; i++) {
            int prefix = prefixLengths[i];
            // The head compare covers the prefix's first 8 bytes (all bytes of head beyond the path's length
            // are masked off: length >= prefix); mismatch() is needed only for a longer prefix.
            if (length < prefix || (head & headMasks[i]) != heads[i]) {
                continue;
            }
            MemorySegment pattern = cPatterns[i];
            switch (kinds[i]) {
                case EXACT -> {
                    if (length == prefix
                            && (prefix <= 8 || MemorySegment.mismatch(pattern, 8, prefix, cPath, 8, prefix) < 0)) {
                        return i;
                    }
                }
                case GLOB -> {
                    if ((prefix <= 8 || MemorySegment.mismatch(pattern, 8, prefix, cPath, 8, prefix) < 0)
                            && Libc.fnmatch(pattern, cPath, Libc.FNM_PATHNAME) == 0) {
                        return i;
                    }
                }
                default -> {
                    // NEVER: fnmatch rejects this pattern's only candidate path.
                }
            }
        }
        return -1;
    }

    /** The path's first 8 bytes as a little-endian long; for a segment shorter than 8 bytes, its path bytes. */
    private static long head(MemorySegment cPath, int length) {
        if (cPath.byteSize() >= 8) {
            return cPath.get(HEAD, 0);
        }
        long head = 0;
        for (int k = 0; k < length; k++) {
            head |= (cPath.get(JAVA_BYTE, k) & 0xffL) << (8 * k);
        }
        return head;
    }

    /**
     * {@link #match(MemorySegment, int)} for a path held in a byte array (without NUL). Allocates a native copy
     * on every call: for tests and slow paths.
     *
     * @throws IllegalArgumentException if {@code path} contains a NUL
     */
    public int match(byte[] path) {
        for (byte b : path) {
            if (b == 0) {
                throw new IllegalArgumentException("path contains a NUL byte");
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = arena.allocate(path.length + 1L);
            MemorySegment.copy(path, 0, c, JAVA_BYTE, 0, path.length);
            return match(c, path.length);
        }
    }
}
