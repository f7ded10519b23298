package io.fanotifyd.policy;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.fanotifyd.kernel.Fnmatch;
import io.fanotifyd.kernel.PathCodec;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class CanaryMatcherTest {

    // ---------------------------------------------------------------- examples

    /** Whether the single pattern matches; also checks that the matcher agrees with libc on this pair. */
    private static boolean matches(String pattern, String path) {
        byte[] p = PathCodec.encode(pattern);
        byte[] s = PathCodec.encode(path);
        boolean viaMatcher = new CanaryMatcher(List.of(pattern)).match(s) == 0;
        assertEquals(fnmatch(p, s), viaMatcher, () -> "matcher and fnmatch disagree on " + show(p) + " / " + show(s));
        return viaMatcher;
    }

    @Test
    void exactPath() {
        assertTrue(matches("/etc/shadow", "/etc/shadow"));
        assertFalse(matches("/etc/shadow", "/etc/shadow2"));
        assertFalse(matches("/etc/shadow", "/etc/shado"));
        assertFalse(matches("/etc/shadow", "/etc/Shadow"));
        assertFalse(matches("/etc/shadow", "/etc/shadow/"));
        // ']', '!', '-', '^', '.' outside a bracket expression are ordinary characters
        assertTrue(matches("/d/a]b!c-d^e.f", "/d/a]b!c-d^e.f"));
    }

    @Test
    void starStopsAtSlash() {
        String p = "/tmp/d/canary*";
        assertTrue(matches(p, "/tmp/d/canary"));
        assertTrue(matches(p, "/tmp/d/canary.txt"));
        assertFalse(matches(p, "/tmp/d/canary/x"));
        assertFalse(matches(p, "/tmp/d/x/canary"));
        assertFalse(matches(p, "/tmp/d/canar"));
        assertFalse(matches(p, "/tmp/e/canary"));
        assertTrue(matches("/tmp/*/canary", "/tmp/d/canary"));
        assertFalse(matches("/tmp/*/canary", "/tmp/d/e/canary"));
        assertTrue(matches("/tmp/*/*/canary", "/tmp/d/e/canary"));
        assertFalse(matches("*", "/tmp"));
        assertTrue(matches("/*", "/tmp"));
    }

    @Test
    void questionMarkIsOneCharacterButNotSlash() {
        assertTrue(matches("/d/?", "/d/x"));
        assertFalse(matches("/d/?", "/d/"));
        assertFalse(matches("/d/?", "/d/xy"));
        assertFalse(matches("/d?x", "/d/x"));
        assertTrue(matches("/d?x", "/dax"));
    }

    @Test
    void bracketExpressions() {
        assertTrue(matches("/d/[ab]", "/d/a"));
        assertTrue(matches("/d/[ab]", "/d/b"));
        assertFalse(matches("/d/[ab]", "/d/c"));
        assertFalse(matches("/d/[!a]", "/d/a"));
        assertTrue(matches("/d/[!a]", "/d/b"));
        assertTrue(matches("/d/[^a]", "/d/b"));
        assertTrue(matches("/d/[a-c]", "/d/b"));
        assertTrue(matches("/d/[a-c]", "/d/c"));
        assertFalse(matches("/d/[a-c]", "/d/d"));
        assertTrue(matches("/d/[]]", "/d/]"));
        assertFalse(matches("/d/[]]", "/d/a"));
        assertTrue(matches("/d/[!]]", "/d/a"));
        assertFalse(matches("/d[/]x", "/d/x"));      // a bracket never matches '/' under FNM_PATHNAME
        assertFalse(matches("/d[!a]x", "/d/x"));
        assertTrue(matches("/d/[[:digit:]]", "/d/7"));
        assertTrue(matches("/d/[", "/d/["));         // unclosed: an ordinary '['
        assertFalse(matches("/d/[", "/d/a"));
    }

    @Test
    void leadingDotIsNotSpecial() {
        assertTrue(matches("/d/*", "/d/.hidden"));
        assertTrue(matches("/d/?hidden", "/d/.hidden"));
        assertTrue(matches("/d/[.]hidden", "/d/.hidden"));
        assertTrue(matches("/*/x", "/.d/x"));
    }

    @Test
    void backslashEscapes() {
        assertTrue(matches("/d/\\*", "/d/*"));
        assertFalse(matches("/d/\\*", "/d/x"));
        assertTrue(matches("/d/\\?", "/d/?"));
        assertFalse(matches("/d/\\?", "/d/x"));
        assertTrue(matches("/d/\\[ab]", "/d/[ab]"));
        assertFalse(matches("/d/\\[ab]", "/d/a"));
        assertTrue(matches("/d/\\\\", "/d/\\"));
        assertTrue(matches("/d/\\x", "/d/x"));       // an escaped ordinary character is itself
        assertTrue(matches("/d/a\\*b*", "/d/a*bcd"));
    }

    @Test
    void nonUtf8BytesMatchByteForByte() {
        // U+DCE9 is the lone byte 0xE9 (Latin-1 'é'), not the UTF-8 "é" (0xC3 0xA9).
        String latin1 = "/d/caf\uDCE9";
        assertEquals(7, PathCodec.encode(latin1).length);
        assertTrue(matches(latin1, latin1));
        assertFalse(matches(latin1, "/d/caf\u00e9"));
        assertFalse(matches(latin1, "/d/caf\uDCE8"));
        assertFalse(matches("/d/caf\u00e9", latin1));
        assertTrue(matches("/d/caf\u00e9", "/d/caf\u00e9"));
        assertTrue(matches("/d/\uDCFF*", "/d/\uDCFF"));
        assertTrue(matches("/d/\uDCFF*", "/d/\uDCFF\uDCFEx"));
        assertFalse(matches("/d/\uDCFF*", "/d/\uDCFE"));
        assertTrue(matches("/d/*", "/d/\uDCFF\uDCC3"));
        assertTrue(matches("/d/*.txt", "/d/\uDC80.txt"));
        assertFalse(matches("/d/*.txt", "/d/\uDC80/.txt"));
        // Whether '?' takes one byte or one UTF-8 character depends on the locale; matches() checks that the
        // matcher gives libc's answer, whichever it is.
        matches("/d/caf?", "/d/caf\u00e9");
        matches("/d/caf??", "/d/caf\u00e9");
        matches("/d/?", latin1.substring(0, 3) + "\uDCFF");
    }

    @Test
    void firstMatchingPatternWins() {
        CanaryMatcher m = new CanaryMatcher(List.of("/etc/shadow", "/tmp/d/*.txt", "/tmp/d/canary*", "/tmp/*"));
        assertEquals(4, m.size());
        assertFalse(m.isEmpty());
        assertEquals("/tmp/d/canary*", m.pattern(2));
        assertEquals(0, m.match(bytes("/etc/shadow")));
        assertEquals(1, m.match(bytes("/tmp/d/canary.txt")));
        assertEquals(2, m.match(bytes("/tmp/d/canary")));
        assertEquals(3, m.match(bytes("/tmp/x")));
        assertEquals(-1, m.match(bytes("/tmp/d/x/y")));
        assertEquals(-1, m.match(bytes("/")));
    }

    @Test
    void emptyMatcherMatchesNothing() {
        CanaryMatcher m = new CanaryMatcher(List.of());
        assertTrue(m.isEmpty());
        assertEquals(0, m.size());
        assertEquals(-1, m.match(bytes("/tmp/x")));
    }

    @Test
    void rejectsMalformedInput() {
        assertThrows(IllegalArgumentException.class, () -> new CanaryMatcher(List.of("/a\0b")));
        CanaryMatcher m = new CanaryMatcher(List.of("/a*"));
        assertThrows(IllegalArgumentException.class, () -> m.match(new byte[] {'/', 'a', 0}));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(4);
            seg.copyFrom(MemorySegment.ofArray(new byte[] {'/', 'a', 'b', 'c'}));
            // no NUL after the 3 bytes claimed
            assertThrows(IllegalArgumentException.class, () -> m.match(seg, 3));
            // no room for the NUL at all
            assertThrows(IndexOutOfBoundsException.class, () -> m.match(seg, 4));
            // fnmatch reads native memory only
            assertThrows(IllegalArgumentException.class, () -> m.match(MemorySegment.ofArray(new byte[] {'/', 0}), 1));
        }
    }

    /** The flag constants do what their names say (the property tests below take FNM_PATHNAME on trust). */
    @Test
    void flagConstantsHaveGlibcsMeaning() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment star = cString(arena, bytes("*"));
            MemorySegment escapedStar = cString(arena, bytes("\\*"));
            assertEquals(0, Fnmatch.fnmatch(star, cString(arena, bytes("/x")), 0));
            assertEquals(Fnmatch.FNM_NOMATCH, Fnmatch.fnmatch(star, cString(arena, bytes("/x")), Fnmatch.FNM_PATHNAME));
            assertEquals(0, Fnmatch.fnmatch(escapedStar, cString(arena, bytes("*")), Fnmatch.FNM_PATHNAME));
            assertEquals(Fnmatch.FNM_NOMATCH, Fnmatch.fnmatch(escapedStar, cString(arena, bytes("*")), Fnmatch.FNM_NOESCAPE));
            assertEquals(0, Fnmatch.fnmatch(escapedStar, cString(arena, bytes("\\*")), Fnmatch.FNM_NOESCAPE));
            assertEquals(0, Fnmatch.fnmatch(star, cString(arena, bytes(".x")), Fnmatch.FNM_PATHNAME));
            assertEquals(Fnmatch.FNM_NOMATCH, Fnmatch.fnmatch(star, cString(arena, bytes(".x")), Fnmatch.FNM_PERIOD));
        }
    }

    // ---------------------------------------------------------------- properties against libc

    private static final int SEEDS = 20;
    private static final int CASES_PER_SEED = 1000;

    static Stream<Arguments> seeds() {
        return LongStream.range(0, SEEDS).mapToObj(s -> Arguments.of(Named.of("seed " + s, s)));
    }

    /**
     * For random (pattern, path) pairs a one-pattern matcher answers exactly as fnmatch(FNM_PATHNAME) does: the
     * index, the pre-checks and the exact-equality shortcut never change a result. 20 seeds x 1000 cases.
     */
    @ParameterizedTest
    @MethodSource("seeds")
    void singlePatternAgreesWithFnmatch(long seed) {
        Random rnd = new Random(seed);
        int matched = 0;
        int exactPatterns = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (int c = 0; c < CASES_PER_SEED; c++) {
                byte[] pattern = randomPattern(rnd);
                byte[] path = pathFor(rnd, pattern);
                boolean expected = fnmatch(pattern, path);
                CanaryMatcher m = new CanaryMatcher(List.of(PathCodec.decode(pattern)));
                MemorySegment cPath = cString(arena, path);
                int got = m.match(cPath, path.length);
                String where = "seed " + seed + " case " + c + ": pattern " + show(pattern) + " path " + show(path);
                assertEquals(expected ? 0 : -1, got, where);
                assertEquals(got, m.match(path), where);
                // As the daemon calls it: the path at the start of a larger buffer, with junk after the NUL.
                assertEquals(got, m.match(inBuffer(arena, path), path.length), where);
                matched += expected ? 1 : 0;
                exactPatterns += isLiteral(pattern) ? 1 : 0;
            }
        }
        // The generator must exercise both answers and the wildcard-free shortcut, or the test proves little.
        assertTrue(matched > CASES_PER_SEED / 10, "only " + matched + " matches for seed " + seed);
        assertTrue(matched < CASES_PER_SEED * 9 / 10, matched + " matches for seed " + seed);
        assertTrue(exactPatterns > CASES_PER_SEED / 50, "only " + exactPatterns + " wildcard-free patterns");
    }

    /** With several patterns the answer is the first index whose fnmatch returns 0, or -1. */
    @ParameterizedTest
    @MethodSource("seeds")
    void multiPatternReturnsFirstFnmatchHit(long seed) {
        Random rnd = new Random(seed ^ 0x5DEECE66DL);
        int hits = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (int c = 0; c < CASES_PER_SEED / 4; c++) {
                int n = 1 + rnd.nextInt(12);
                List<byte[]> raw = new ArrayList<>();
                List<String> patterns = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    byte[] p = randomPattern(rnd);
                    raw.add(p);
                    patterns.add(PathCodec.decode(p));
                }
                byte[] path = pathFor(rnd, raw.get(rnd.nextInt(n)));
                int expected = -1;
                for (int i = 0; i < n && expected < 0; i++) {
                    if (fnmatch(raw.get(i), path)) {
                        expected = i;
                    }
                }
                CanaryMatcher m = new CanaryMatcher(patterns);
                assertEquals(n, m.size());
                int got = m.match(cString(arena, path), path.length);
                int fc = c;
                assertEquals(expected, got, () -> "seed " + seed + " case " + fc + ": patterns "
                        + raw.stream().map(CanaryMatcherTest::show).toList() + " path " + show(path));
                hits += expected >= 0 ? 1 : 0;
            }
        }
        assertTrue(hits > 0 && hits < CASES_PER_SEED / 4, hits + " hits for seed " + seed);
    }

    /**
     * Components to build pattern sets from: literal names that several patterns share, globs with literal
     * prefixes, suffixes and inner runs (what the index files patterns under), featureless globs, and the
     * pieces that make a pattern impossible to cut safely.
     */
    static final String[] COMPONENTS = {
            "", "a", "ab", "srv", "key-1", "key-12", "key-1.txt", "\u00e9", "caf\uDCE9", "\uDCFF",
            "*", "?", "*.txt", "key-*", "*-1", "*-12", "k*y", "key-1*", "*key-1*", "x*ab*y", "*ab*", "?ey-1",
            "*\uDCFF", "\uDCFF*", "*\u00e9*", "key-1[0-9]", "[ab]*", "[!a]", "[a-c]?", "[[:alpha:]]*", "[[:digit:]]",
            "\\*x", "a\\b", "\\[ab]", "key\\*1", "\\k\\e\\y", "[/]", "[", "a[", "[]a]", "[!]a]", "\\/", "a\\",
            "[[.a.]]", "[^]", "*\\/", "[[:alpha:]/]", "[[:alpha:]", "[a-]", "[!/]",
    };
    /** Literal names for paths: the patterns' literals, near misses of them, and special characters. */
    static final String[] NAMES = {
            "", "a", "ab", "srv", "key-1", "key-12", "key-123", "key-1.txt", "x-key-12", "key-1x", "\u00e9", "caf\uDCE9",
            "\uDCFF", "*", "?", "[", "]", "[ab]", "\\", "key*1", "xaby", "xaaby", ".txt", "k", "ky", "kxy", "9",
    };

    /** A pattern of one to four components from COMPONENTS (one in six random), mostly absolute. */
    static byte[] structuredPattern(Random rnd) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (rnd.nextInt(8) > 0) {
            out.write('/');
        }
        for (int i = 0, n = 1 + rnd.nextInt(4); i < n; i++) {
            if (i > 0) {
                out.write('/');
            }
            if (rnd.nextInt(6) == 0) {
                for (int t = rnd.nextInt(5); t > 0; t--) {
                    out.writeBytes(PATTERN_TOKENS[rnd.nextInt(PATTERN_TOKENS.length)]);
                }
            } else {
                out.writeBytes(bytes(COMPONENTS[rnd.nextInt(COMPONENTS.length)]));
            }
        }
        if (rnd.nextInt(12) == 0) {
            out.write('/');
        }
        return out.toByteArray();
    }

    /** A path for a set: an instance of one of its patterns (sometimes mutated), or a path of NAMES. */
    static byte[] structuredPath(Random rnd, List<byte[]> set) {
        int r = rnd.nextInt(10);
        if (r < 7) {
            byte[] path = instantiate(rnd, set.get(rnd.nextInt(set.size())));
            return r < 5 ? path : mutate(rnd, path);
        }
        if (r == 9) {
            return randomPath(rnd);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0, n = 1 + rnd.nextInt(5); i < n; i++) {
            out.write('/');
            out.writeBytes(bytes(NAMES[rnd.nextInt(NAMES.length)]));
        }
        return out.toByteArray();
    }

    /**
     * Sets of up to 300 patterns that share components, so that the index files many patterns under one
     * feature, checks chains in order and mixes cut and uncut patterns: the answer is always the first
     * pattern fnmatch accepts. 20 seeds x 40 sets x 50 paths, in the JVM's locale (UTF-8 here) ...
     */
    @ParameterizedTest
    @MethodSource("seeds")
    void structuredSetsAgreeWithFnmatch(long seed) {
        structuredSets(seed);
    }

    /** ... and in the C locale, as the daemon's event thread matches. */
    @ParameterizedTest
    @MethodSource("seeds")
    void structuredSetsAgreeWithFnmatchInTheCLocale(long seed) throws Throwable {
        inCLocale(() -> structuredSets(seed));
    }

    private static void structuredSets(long seed) {
        Random rnd = new Random(seed * 7919 + 17);
        int hits = 0;
        int cases = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (int set = 0; set < 40; set++) {
                int n = 1 + rnd.nextInt(rnd.nextBoolean() ? 20 : 300);
                List<byte[]> raw = new ArrayList<>();
                List<String> patterns = new ArrayList<>();
                MemorySegment[] cPatterns = new MemorySegment[n];
                for (int i = 0; i < n; i++) {
                    byte[] p = i > 0 && rnd.nextInt(20) == 0 ? raw.get(rnd.nextInt(i)) : structuredPattern(rnd);
                    raw.add(p);
                    patterns.add(PathCodec.decode(p));
                    cPatterns[i] = cString(arena, p);
                }
                CanaryMatcher m = new CanaryMatcher(patterns);
                for (int q = 0; q < 50; q++) {
                    byte[] path = structuredPath(rnd, raw);
                    if (indexOf(path, (byte) 0, 0) >= 0) {
                        continue;
                    }
                    MemorySegment cPath = inBuffer(arena, path);
                    int expected = -1;
                    for (int i = 0; i < n && expected < 0; i++) {
                        if (Fnmatch.fnmatch(cPatterns[i], cPath, Fnmatch.FNM_PATHNAME) == 0) {
                            expected = i;
                        }
                    }
                    int got = m.match(cPath, path.length);
                    if (got != expected) {
                        fail("seed " + seed + " set " + set + ": path " + show(path) + ": expected " + expected
                                + (expected < 0 ? "" : " " + show(raw.get(expected))) + ", got " + got
                                + (got < 0 ? "" : " " + show(raw.get(got))) + "; patterns "
                                + raw.stream().map(CanaryMatcherTest::show).toList());
                    }
                    hits += expected >= 0 ? 1 : 0;
                    cases++;
                }
            }
        }
        assertTrue(hits > cases / 5 && hits < cases * 4 / 5, hits + " hits in " + cases + " cases, seed " + seed);
    }

    /** Runs {@code body} on a thread of its own switched to the C locale, as the daemon's event thread is. */
    static void inCLocale(Runnable body) throws Throwable {
        Throwable[] failure = new Throwable[1];
        Thread t = new Thread(() -> {
            try {
                assertTrue(Fnmatch.useCLocaleOnThisThread(), "uselocale(C) refused");
                body.run();
            } catch (Throwable e) {
                failure[0] = e;
            }
        }, "c-locale");
        t.start();
        t.join(TimeUnit.MINUTES.toMillis(2));
        assertFalse(t.isAlive(), "the C-locale run did not finish within 2 minutes");
        if (failure[0] != null) {
            throw failure[0];
        }
    }

    // ---------------------------------------------------------------- allocation

    @Test
    void matchingAllocatesNothing() {
        Assumptions.assumeTrue(ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Assumptions.assumeTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled());

        // Every kind of pattern on the way to the hit: literal (other depth, same depth), filed under a prefix, a
        // suffix, an inner run, a literal directory, under no feature, not cut at all, and the matching glob last.
        CanaryMatcher m = new CanaryMatcher(List.of("/etc/shadow", "/tmp/d/canary.txX", "/home/*/.ssh/id_*",
                "/tmp/d/x*", "*/nope", "/tmp/[!d]/*", "/tmp/d/*.log", "/tmp/d/*anat*", "/var/lib/canary/[ab]*",
                "/tmp/?/?", "/*/*/?", "/tmp/[/]x/*", "/tmp/d/canary*"));
        byte[] hit = bytes("/tmp/d/canary.txt");
        byte[] miss = bytes("/tmp/d/other.txt");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment hitSeg = cString(arena, hit);
            MemorySegment missSeg = cString(arena, miss);
            long sink = 0;
            for (int i = 0; i < 200_000; i++) {
                sink += m.match(hitSeg, hit.length) + m.match(missSeg, miss.length);
            }
            int rounds = 100_000;
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < rounds; i++) {
                sink += m.match(hitSeg, hit.length) + m.match(missSeg, miss.length);
            }
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertEquals(300_000L * (12 - 1), sink);
            // One allocation per call would be >= 16 bytes x 200000 calls = 3.2 MB. Allow stray bytes from the
            // JIT replacing code mid-loop (seen: 3976 bytes once on a busy machine), 50x below that.
            assertTrue(allocated < 64 * 1024, "allocated " + allocated + " bytes for " + 2 * rounds + " matches");
        }
    }

    // ---------------------------------------------------------------- helpers

    /**
     * Pattern tokens, biased to the characters fnmatch treats specially and to bytes that are invalid or
     * multibyte in UTF-8, plus the pieces where cutting a pattern at its '/' bytes goes wrong if done naively:
     * a '/' inside brackets, an escaped '/', classes, collating elements and equivalence classes, brackets
     * that close late or never.
     */
    static final byte[][] PATTERN_TOKENS = tokens(
            "a", "a", "b", "b", "/", "/", "/", ".", "*", "*", "*", "?", "?", "[", "[", "]", "]", "!", "-", "\\",
            "\\", "^", "\u00e9", "\uDCFF", "\uDCC3", "\uDC80", ":", "[[:alpha:]]", "[:", ":]", "[/]", "\\/",
            "[!/]", "[a-c]", "[]/]", "[[.a.]]", "[[./.]]", "[[=a=]]", "[^]", "[a-]", "[[:alpha:]/]");
    /** Path tokens: mostly ordinary characters, but the special ones can be literal in a file name too. */
    static final byte[][] PATH_TOKENS = tokens(
            "a", "a", "a", "b", "b", "b", "/", "/", ".", "*", "?", "[", "]", "!", "-", "\\", "^", "\u00e9",
            "\uDCFF", "\uDCC3", "\uDC80");
    private static final byte[][] PREFIXES = tokens("/", "/a", "/a/", "/a/b", "/ab/", "/\u00e9/", "/\uDCFF/");

    static byte[][] tokens(String... s) {
        byte[][] out = new byte[s.length][];
        for (int i = 0; i < s.length; i++) {
            out[i] = PathCodec.encode(s[i]);
        }
        return out;
    }

    static byte[] randomPattern(Random rnd) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (rnd.nextInt(3) > 0) {
            out.writeBytes(PREFIXES[rnd.nextInt(PREFIXES.length)]);
        }
        int n = rnd.nextInt(9);
        boolean literalOnly = rnd.nextInt(6) == 0;
        for (int i = 0; i < n; i++) {
            byte[] t = PATTERN_TOKENS[rnd.nextInt(PATTERN_TOKENS.length)];
            if (literalOnly && isSpecial(t[0])) {
                t = PATH_TOKENS[rnd.nextInt(3)];
            }
            out.writeBytes(t);
        }
        return out.toByteArray();
    }

    /**
     * A path for the pattern: the pattern itself, an instance of it (wildcards replaced by what they might
     * match), either one lightly mutated, or an unrelated random path. Instances make matches common enough.
     */
    static byte[] pathFor(Random rnd, byte[] pattern) {
        byte[] path = switch (rnd.nextInt(5)) {
            case 0 -> pattern.clone();
            case 1, 2, 3 -> instantiate(rnd, pattern);
            default -> randomPath(rnd);
        };
        if (rnd.nextInt(4) == 0) {
            path = mutate(rnd, path);
        }
        return path;
    }

    static byte[] instantiate(Random rnd, byte[] pattern) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < pattern.length; i++) {
            byte b = pattern[i];
            switch (b) {
                case '*' -> {
                    for (int k = rnd.nextInt(4); k > 0; k--) {
                        out.writeBytes(PATH_TOKENS[rnd.nextInt(PATH_TOKENS.length)]);
                    }
                }
                case '?' -> out.writeBytes(PATH_TOKENS[rnd.nextInt(PATH_TOKENS.length)]);
                case '[' -> {
                    // Either a byte from inside the brackets or a random token; skip to the closing ']'.
                    int close = indexOf(pattern, (byte) ']', i + 2);
                    if (close < 0 || rnd.nextInt(3) == 0) {
                        out.write(b);
                    } else {
                        int from = i + 1 + rnd.nextInt(close - i - 1);
                        out.write(rnd.nextBoolean() ? pattern[from] : PATH_TOKENS[rnd.nextInt(3)][0]);
                        i = close;
                    }
                }
                case '\\' -> {
                    if (i + 1 < pattern.length && rnd.nextInt(5) > 0) {
                        out.write(pattern[++i]);
                    } else {
                        out.write(b);
                    }
                }
                default -> out.write(b);
            }
        }
        return out.toByteArray();
    }

    static byte[] randomPath(Random rnd) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write('/');
        for (int n = rnd.nextInt(10); n > 0; n--) {
            out.writeBytes(PATH_TOKENS[rnd.nextInt(PATH_TOKENS.length)]);
        }
        return out.toByteArray();
    }

    /** Insert, delete or replace one byte (possibly splitting a UTF-8 sequence, which is also worth testing). */
    static byte[] mutate(Random rnd, byte[] path) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int at = rnd.nextInt(path.length + 1);
        int op = path.length == 0 || at == path.length ? 0 : rnd.nextInt(3);
        out.write(path, 0, at);
        byte[] t = PATH_TOKENS[rnd.nextInt(PATH_TOKENS.length)];
        switch (op) {
            case 0 -> out.write(t[rnd.nextInt(t.length)]);                    // insert
            case 1 -> { }                                                     // delete
            default -> out.write(t[rnd.nextInt(t.length)]);                   // replace
        }
        int rest = op == 0 ? at : at + 1;
        out.write(path, rest, path.length - rest);
        return out.toByteArray();
    }

    static int indexOf(byte[] a, byte b, int from) {
        for (int i = from; i < a.length; i++) {
            if (a[i] == b) {
                return i;
            }
        }
        return -1;
    }

    private static boolean isSpecial(byte b) {
        return b == '*' || b == '?' || b == '[' || b == '\\';
    }

    private static boolean isLiteral(byte[] pattern) {
        for (byte b : pattern) {
            if (isSpecial(b)) {
                return false;
            }
        }
        return true;
    }

    /** The reference: libc's fnmatch(pattern, path, FNM_PATHNAME) called directly, no shortcut. */
    static boolean fnmatch(byte[] pattern, byte[] path) {
        try (Arena arena = Arena.ofConfined()) {
            return Fnmatch.fnmatch(cString(arena, pattern), cString(arena, path), Fnmatch.FNM_PATHNAME) == 0;
        }
    }

    static MemorySegment cString(Arena arena, byte[] b) {
        MemorySegment seg = arena.allocate(b.length + 1L);
        MemorySegment.copy(b, 0, seg, JAVA_BYTE, 0, b.length);
        return seg;
    }

    /** The path and its NUL at the start of a bigger native buffer whose other bytes are not zero. */
    static MemorySegment inBuffer(Arena arena, byte[] b) {
        MemorySegment seg = arena.allocate(b.length + 64L);
        seg.fill((byte) '*');
        MemorySegment.copy(b, 0, seg, JAVA_BYTE, 0, b.length);
        seg.set(JAVA_BYTE, b.length, (byte) 0);
        return seg;
    }

    static byte[] bytes(String s) {
        return PathCodec.encode(s);
    }

    static String show(byte[] b) {
        return "\"" + PathCodec.decode(b).replace("\\", "\\\\") + "\" (" + HexFormat.of().formatHex(b) + ")";
    }
}
