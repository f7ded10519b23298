package io.fanotifyd.policy;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import io.fanotifyd.kernel.Fnmatch;
import io.fanotifyd.kernel.PathCodec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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
 * returns the same result as calling {@link Libc#fnmatch} on each pattern in turn; its index only skips calls
 * whose answer is already known. (The index reads the ASCII bytes {@code / \ * ? [ ]} as themselves, which
 * holds in the C locale the daemon matches in and in UTF-8, not in the legacy East Asian multibyte charsets.)
 *
 * <p><b>The index.</b> Each pattern is cut into components at its '/' separators ({@link PatternShape}): a
 * path can only match a pattern with as many components, component by component. Each pattern is filed under
 * one <em>feature</em> that every matching path has, the one the fewest other patterns share: a literal
 * component at depth d of a pattern of k components ({@code /srv/}{@code *}{@code /secrets/key-1234} is filed
 * under "key-1234, depth 3 of 4"), or the literal prefix, suffix or an inner run (up to 8 bytes) of a glob
 * component at depth d. A path is cut the same way and each of its components is looked up: by its whole
 * bytes, by those of its prefixes and suffixes whose lengths some filed feature has, and by its substrings of
 * the lengths filed as inner runs, each lookup one probe of a hash table. The patterns found are checked in
 * index order, lowest first, and only while they come before the best match so far: every literal component
 * must equal the path's, every glob component's prefix, suffix, inner runs and length must fit, and then
 * fnmatch decides. A
 * pattern without wildcards is decided without fnmatch (see the constructor). Patterns that cannot be cut
 * safely (an escaped '/', or a '/' after a bracket expression this parser does not fully understand) and
 * patterns with no literal byte outside their first component are checked one by one, the first behind an
 * 8-byte literal-prefix compare, the second only against paths with their number of components. A repeated
 * pattern is checked once, at its first position.
 *
 * <p>Patterns and paths are byte strings. Patterns are given as {@link PathCodec} strings, so a pattern can
 * name a non-UTF-8 file name byte for byte. Matching uses a scratch buffer of the matcher's, so one thread
 * at a time may match; another thread takes {@link #forAnotherThread()}, which shares the index. The counters
 * ({@link #pathsChecked}, {@link #fnmatchCalls}) are read on the matching thread or after it stopped.
 */
public final class CanaryMatcher {
    /** A pattern with a wildcard: after the index and the pre-checks, fnmatch decides. */
    private static final byte GLOB = 0;
    /** A pattern without wildcards: matches exactly the path equal to it without its escapes. */
    private static final byte EXACT = 1;
    /** A pattern without wildcards that fnmatch refuses even against that path: matches nothing. */
    private static final byte NEVER = 2;

    /** Feature kinds: a whole literal component, a glob component's literal prefix, suffix or inner run. */
    private static final int F_EXACT = 0;
    private static final int F_PREFIX = 1;
    private static final int F_SUFFIX = 2;
    private static final int F_INFIX = 3;
    /** Inner runs longer than this are filed under one of their windows of this many bytes. */
    private static final int WINDOW = 8;
    /** Bits of {@link #slotFlags}: which lookups a path component at that depth needs. */
    private static final int HAS_EXACT = 1;
    private static final int HAS_PREFIX = 2;
    private static final int HAS_SUFFIX = 4;
    private static final int HAS_INFIX = 8;
    private static final long FNV_BASIS = 0xcbf29ce484222325L;
    private static final long FNV_PRIME = 0x100000001b3L;
    private static final int NONE = Integer.MAX_VALUE;
    /** The first 8 bytes of a path as one little-endian long, whatever the platform's byte order. */
    private static final ValueLayout.OfLong HEAD = JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String[] patterns;
    /** Each pattern as a NUL-terminated C string, all in one native block kept alive by the matcher. */
    private final MemorySegment[] cPatterns;
    private final byte[] kinds;

    // ---- The index over the patterns that were cut into components.
    /** The most components of an indexed pattern; 0 when nothing is indexed. */
    private final int maxComponents;
    /** Per component count k: the slot of depth 0 for patterns of k components (depth d is +d), or -1. */
    private final int[] slotBase;
    /** Per component count k: the chain of patterns of k components filed under no feature, or -1. */
    private final int[] anyHead;
    /** Per slot (component count, depth): HAS_* bits for the features filed there. */
    private final int[] slotFlags;
    /** Per slot: bit L set when some prefix (suffix) feature of length L is filed there; null if none. */
    private final long[][] prefixLengths;
    private final long[][] suffixLengths;
    private final int[] prefixMax;
    private final int[] suffixMax;
    /** Per slot: bit L set when some inner-run feature of length L (1..WINDOW) is filed there. */
    private final int[] infixLengths;
    /** Feature key to the first entry of its chain. */
    private final FeatureTable table;
    /** Chains: the pattern of each entry, and the next entry (a higher pattern index) or -1. */
    private final int[] chainPattern;
    private final int[] chainNext;
    /** Per pattern: where its components' ids start in {@link #componentIds}, or -1 when it is not indexed. */
    private final int[] componentBase;
    /** Per component of each indexed pattern: the id of an equal component in the arrays below. */
    private final int[] componentIds;
    /**
     * Per distinct component (patterns mostly share their directories, so each is stored once): the literal
     * bytes, or null for a glob; a glob's prefix, suffix and minimum length.
     */
    private final byte[][] compLiteral;
    private final byte[][] compPrefix;
    private final byte[][] compSuffix;
    private final int[] compMinLength;
    /** Per glob component: whether it has no {@code *} (PatternShape.Component.fixed). */
    private final boolean[] compFixed;
    /** Per glob component: its inner literal runs and where they may lie (PatternShape.Component); or null. */
    private final byte[][][] compInner;
    private final int[][] compInnerGap;
    private final int[][] compInnerAfter;

    // ---- Patterns that could not be cut: checked in order, behind a literal-prefix compare.
    private final int[] unsplit;
    private final int[] unsplitPrefix;
    /** The first min(8, prefix) bytes of each literal prefix as a little-endian long, and their mask. */
    private final long[] unsplitHead;
    private final long[] unsplitHeadMask;

    /** Where the path being matched is copied and cut: a match must not allocate. */
    private final Scratch scratch = new Scratch();
    private long pathsChecked;
    private long fnmatchCalls;

    /**
     * A matcher over the same index for another thread: everything built is shared (it is never written after
     * the build), the scratch memory and the counters are its own.
     */
    public CanaryMatcher forAnotherThread() {
        return new CanaryMatcher(this);
    }

    private CanaryMatcher(CanaryMatcher from) {
        this.patterns = from.patterns;
        this.cPatterns = from.cPatterns;
        this.kinds = from.kinds;
        this.maxComponents = from.maxComponents;
        this.slotBase = from.slotBase;
        this.anyHead = from.anyHead;
        this.slotFlags = from.slotFlags;
        this.prefixLengths = from.prefixLengths;
        this.suffixLengths = from.suffixLengths;
        this.prefixMax = from.prefixMax;
        this.suffixMax = from.suffixMax;
        this.infixLengths = from.infixLengths;
        this.table = from.table;
        this.chainPattern = from.chainPattern;
        this.chainNext = from.chainNext;
        this.componentBase = from.componentBase;
        this.componentIds = from.componentIds;
        this.compLiteral = from.compLiteral;
        this.compPrefix = from.compPrefix;
        this.compSuffix = from.compSuffix;
        this.compMinLength = from.compMinLength;
        this.compFixed = from.compFixed;
        this.compInner = from.compInner;
        this.compInnerGap = from.compInnerGap;
        this.compInnerAfter = from.compInnerAfter;
        this.unsplit = from.unsplit;
        this.unsplitPrefix = from.unsplitPrefix;
        this.unsplitHead = from.unsplitHead;
        this.unsplitHeadMask = from.unsplitHeadMask;
    }

    /**
     * @param patterns the patterns in priority order, as {@link PathCodec} strings (no NUL)
     * @throws IllegalArgumentException if a pattern contains a NUL
     */
    public CanaryMatcher(List<String> patterns) {
        int n = patterns.size();
        this.patterns = patterns.toArray(new String[0]);
        this.cPatterns = new MemorySegment[n];
        this.kinds = new byte[n];
        byte[][] bytes = new byte[n][];
        long total = 0;
        int longest = 0;
        for (int i = 0; i < n; i++) {
            if (this.patterns[i].indexOf('\0') >= 0) {
                throw new IllegalArgumentException("pattern contains a NUL byte: "
                        + this.patterns[i].replace('\0', '?'));
            }
            bytes[i] = encode(this.patterns[i]);
            total += bytes[i].length + 1L;
            longest = Math.max(longest, bytes[i].length);
        }
        // An automatic arena: the C strings live as long as this matcher (the daemon's life, or until a
        // reloaded configuration replaces it) and may be read from any thread. One block for all of them.
        MemorySegment block = n == 0 ? MemorySegment.NULL : Arena.ofAuto().allocate(Math.max(1, total));
        long at = 0;
        for (int i = 0; i < n; i++) {
            MemorySegment.copy(bytes[i], 0, block, JAVA_BYTE, at, bytes[i].length);
            block.set(JAVA_BYTE, at + bytes[i].length, (byte) 0);
            cPatterns[i] = block.asSlice(at, bytes[i].length + 1L);
            at += bytes[i].length + 1L;
        }

        // Parse each pattern once, keeping only what the index needs: its distinct components (patterns mostly
        // share their directories) and its features. No parse is kept for long, so that 10,000 patterns do not
        // fill the old generation with garbage at start-up.
        // Repeats are keyed by the strings as given: two strings for the same bytes (PathCodec's escapes of
        // UTF-8 bytes) only cost a repeat its check.
        Map<String, Integer> firstOf = new HashMap<>();
        Map<String, Integer> ids = new HashMap<>();
        List<PatternShape.Component> distinct = new ArrayList<>();
        int[] ofPattern = new int[Math.max(16, 8 * n)];
        int used = 0;
        this.componentBase = new int[n];
        int[] counts = new int[n]; // each indexed pattern's number of components
        FeatureList features = new FeatureList();
        int[] featureStart = new int[n + 1];
        LongIntMap popularity = new LongIntMap();
        List<Integer> unsplitList = new ArrayList<>();
        // For the self-check of wildcard-free patterns: no pattern's unescaped text is longer than itself.
        MemorySegment onlyPathBuffer = n == 0 ? MemorySegment.NULL : Arena.ofAuto().allocate(longest + 1L);
        for (int i = 0; i < n; i++) {
            componentBase[i] = -1;
            featureStart[i] = features.size;
            if (firstOf.putIfAbsent(this.patterns[i], i) != null) {
                continue; // a repeat can never be the first match
            }
            PatternShape shape = PatternShape.parse(bytes[i]);
            if (!shape.isSplit()) {
                kinds[i] = GLOB;
                unsplitList.add(i);
                continue;
            }
            PatternShape.Component[] comps = shape.components();
            kinds[i] = kindOf(cPatterns[i], shape.onlyPath(), onlyPathBuffer);
            if (used + comps.length > ofPattern.length) {
                ofPattern = java.util.Arrays.copyOf(ofPattern, Math.max(2 * ofPattern.length, used + comps.length));
            }
            componentBase[i] = used;
            counts[i] = comps.length;
            for (PatternShape.Component comp : comps) {
                ofPattern[used++] = ids.computeIfAbsent(comp.key(), key -> {
                    distinct.add(comp);
                    return distinct.size() - 1;
                });
            }
            features.addAll(comps);
            for (int f = featureStart[i]; f < features.size; f++) {
                popularity.put(features.keys[f], popularity.get(features.keys[f], 0) + 1);
            }
        }
        featureStart[n] = features.size;
        this.componentIds = java.util.Arrays.copyOf(ofPattern, used);
        int[] chosen = new int[n]; // the feature each pattern is filed under, or -1 for none
        int maxK = 0;
        for (int i = 0; i < n; i++) {
            chosen[i] = -1;
            if (componentBase[i] < 0) {
                continue;
            }
            maxK = Math.max(maxK, counts[i]);
            for (int f = featureStart[i]; f < featureStart[i + 1]; f++) {
                if (chosen[i] < 0 || features.better(f, chosen[i], popularity)) {
                    chosen[i] = f;
                }
            }
        }

        // Slots, one per (component count, depth) that has a feature filed, and the chains.
        this.maxComponents = maxK;
        this.slotBase = new int[maxK + 1];
        this.anyHead = new int[maxK + 1];
        java.util.Arrays.fill(slotBase, -1);
        java.util.Arrays.fill(anyHead, -1);
        int slots = 0;
        int indexed = 0;
        for (int i = 0; i < n; i++) {
            indexed += componentBase[i] < 0 ? 0 : 1;
            if (chosen[i] >= 0 && slotBase[counts[i]] < 0) {
                slotBase[counts[i]] = slots;
                slots += counts[i];
            }
        }
        this.slotFlags = new int[slots];
        this.prefixLengths = new long[slots][];
        this.suffixLengths = new long[slots][];
        this.prefixMax = new int[slots];
        this.suffixMax = new int[slots];
        this.infixLengths = new int[slots];
        // Chains link their patterns in pattern order: each new one is appended to its chain's last entry.
        this.chainPattern = new int[indexed];
        this.chainNext = new int[indexed];
        long[] keys = new long[indexed];
        int[] heads = new int[indexed];
        int chains = 0;
        LongIntMap tails = new LongIntMap();
        int[] anyTail = new int[maxK + 1];
        java.util.Arrays.fill(anyTail, -1);
        int entry = 0;
        for (int i = 0; i < n; i++) {
            if (componentBase[i] < 0) {
                continue;
            }
            int k = counts[i];
            int f = chosen[i];
            int e = entry++;
            chainPattern[e] = i;
            chainNext[e] = -1;
            if (f < 0) {
                if (anyTail[k] < 0) {
                    anyHead[k] = e;
                } else {
                    chainNext[anyTail[k]] = e;
                }
                anyTail[k] = e;
                continue;
            }
            long key = features.keys[f];
            int tail = tails.get(key, -1);
            if (tail < 0) {
                keys[chains] = key;
                heads[chains++] = e;
            } else {
                chainNext[tail] = e;
            }
            tails.put(key, e);
            int slot = slotBase[k] + features.depths[f];
            int length = features.lengths[f];
            switch (features.kinds[f]) {
                case F_EXACT -> slotFlags[slot] |= HAS_EXACT;
                case F_PREFIX -> {
                    slotFlags[slot] |= HAS_PREFIX;
                    prefixLengths[slot] = withBit(prefixLengths[slot], length);
                    prefixMax[slot] = Math.max(prefixMax[slot], length);
                }
                case F_SUFFIX -> {
                    slotFlags[slot] |= HAS_SUFFIX;
                    suffixLengths[slot] = withBit(suffixLengths[slot], length);
                    suffixMax[slot] = Math.max(suffixMax[slot], length);
                }
                default -> {
                    slotFlags[slot] |= HAS_INFIX;
                    infixLengths[slot] |= 1 << length;
                }
            }
        }
        this.table = new FeatureTable(keys, heads, chains);

        // What the pre-check compares, per distinct component.
        int comps = distinct.size();
        this.compLiteral = new byte[comps][];
        this.compPrefix = new byte[comps][];
        this.compSuffix = new byte[comps][];
        this.compMinLength = new int[comps];
        this.compFixed = new boolean[comps];
        this.compInner = new byte[comps][][];
        this.compInnerGap = new int[comps][];
        this.compInnerAfter = new int[comps][];
        for (int x = 0; x < comps; x++) {
            PatternShape.Component comp = distinct.get(x);
            compLiteral[x] = comp.literal();
            compPrefix[x] = comp.prefix();
            compSuffix[x] = comp.suffix();
            compMinLength[x] = comp.minLength();
            compFixed[x] = comp.fixed();
            if (comp.inner().length > 0) {
                compInner[x] = comp.inner();
                compInnerGap[x] = comp.innerGap();
                compInnerAfter[x] = comp.innerAfter();
            }
        }

        // The patterns that were not cut, as before the index: literal prefix, then fnmatch.
        int u = unsplitList.size();
        this.unsplit = new int[u];
        this.unsplitPrefix = new int[u];
        this.unsplitHead = new long[u];
        this.unsplitHeadMask = new long[u];
        for (int j = 0; j < u; j++) {
            int i = unsplitList.get(j);
            int prefix = literalPrefixLength(bytes[i]);
            unsplit[j] = i;
            unsplitPrefix[j] = prefix;
            for (int b = 0; b < Math.min(8, prefix); b++) {
                unsplitHead[j] |= (bytes[i][b] & 0xffL) << (8 * b);
                unsplitHeadMask[j] |= 0xffL << (8 * b);
            }
        }
    }

    /** {@link PathCodec#encode}, without its per-character work for the common all-ASCII pattern. */
    private static byte[] encode(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) >= 0x80) {
                return PathCodec.encode(s);
            }
        }
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    /**
     * The features of the patterns, pattern after pattern, in parallel arrays (a feature: what a path must
     * have at one depth, and its hash-table key). Build-time only.
     */
    private static final class FeatureList {
        long[] keys = new long[1024];
        int[] kinds = new int[1024];
        int[] depths = new int[1024];
        int[] lengths = new int[1024];
        int size;

        /** Appends every feature of a pattern with these components, once each. */
        void addAll(PatternShape.Component[] comps) {
            int first = size;
            int k = comps.length;
            for (int d = 0; d < k; d++) {
                PatternShape.Component c = comps[d];
                if (c.isLiteral()) {
                    // An empty component (before the leading '/') tells absolute paths nothing.
                    if (c.literal().length > 0) {
                        add(first, F_EXACT, k, d, c.literal(), 0, c.literal().length);
                    }
                    continue;
                }
                if (c.prefix().length > 0) {
                    add(first, F_PREFIX, k, d, c.prefix(), 0, c.prefix().length);
                }
                if (c.suffix().length > 0) {
                    add(first, F_SUFFIX, k, d, c.suffix(), 0, c.suffix().length);
                }
                for (byte[] run : c.inner()) {
                    int w = Math.min(WINDOW, run.length);
                    for (int from = 0; from + w <= run.length; from++) {
                        add(first, F_INFIX, k, d, run, from, w);
                    }
                }
            }
        }

        private void add(int first, int kind, int k, int d, byte[] b, int from, int len) {
            long h = FNV_BASIS;
            if (kind == F_SUFFIX) {
                for (int i = from + len - 1; i >= from; i--) {
                    h = (h ^ (b[i] & 0xff)) * FNV_PRIME;
                }
            } else {
                for (int i = from; i < from + len; i++) {
                    h = (h ^ (b[i] & 0xff)) * FNV_PRIME;
                }
            }
            long key = key(kind, k, d, len, h);
            for (int i = first; i < size; i++) {
                if (keys[i] == key) {
                    return;
                }
            }
            if (size == keys.length) {
                keys = java.util.Arrays.copyOf(keys, 2 * size);
                kinds = java.util.Arrays.copyOf(kinds, 2 * size);
                depths = java.util.Arrays.copyOf(depths, 2 * size);
                lengths = java.util.Arrays.copyOf(lengths, 2 * size);
            }
            keys[size] = key;
            kinds[size] = kind;
            depths[size] = d;
            lengths[size++] = len;
        }

        /**
         * Whether feature {@code a} is a better one to file a pattern under than {@code b}: shared by fewer
         * patterns; then a whole component (one probe, exact) before a prefix or suffix before an inner run;
         * then longer.
         */
        boolean better(int a, int b, LongIntMap popularity) {
            int pa = popularity.get(keys[a], 0);
            int pb = popularity.get(keys[b], 0);
            if (pa != pb) {
                return pa < pb;
            }
            int ra = kinds[a] == F_EXACT ? 0 : kinds[a] == F_INFIX ? 2 : 1;
            int rb = kinds[b] == F_EXACT ? 0 : kinds[b] == F_INFIX ? 2 : 1;
            if (ra != rb) {
                return ra < rb;
            }
            return lengths[a] > lengths[b];
        }
    }

    /**
     * The hash-table key of a feature: the FNV-1a hash of its bytes (a suffix's from its last byte back),
     * with its kind, the pattern's component count, the depth and the length mixed in. Never 0. A collision
     * between two features only makes a path look up patterns that the pre-check and fnmatch then reject.
     */
    private static long key(int kind, int components, int depth, int length, long hash) {
        long x = hash + kind * 0x9E3779B97F4A7C15L + components * 0xC2B2AE3D27D4EB4FL
                + depth * 0x165667B19E3779F9L + length * 0xD6E8FEB86659FD93L;
        x ^= x >>> 33;
        x *= 0xff51afd7ed558ccdL;
        x ^= x >>> 33;
        x *= 0xc4ceb9fe1a85ec53L;
        x ^= x >>> 33;
        return x == 0 ? 1 : x;
    }

    /**
     * EXACT or NEVER for a pattern without wildcards, GLOB for any other. Under fnmatch a literal or escaped
     * character matches only itself, so the one path that can match a wildcard-free pattern is the pattern
     * without its escapes. Whether that one does is asked of fnmatch once, here: it is the very call
     * match() would make for that path (same bytes, same locale), so the shortcut cannot disagree with it,
     * even on a libc that rejects bytes invalid in the locale instead of matching them.
     */
    private static byte kindOf(MemorySegment cPattern, byte[] onlyPath, MemorySegment buffer) {
        if (onlyPath == null) {
            return GLOB;
        }
        MemorySegment.copy(onlyPath, 0, buffer, JAVA_BYTE, 0, onlyPath.length);
        buffer.set(JAVA_BYTE, onlyPath.length, (byte) 0);
        return Fnmatch.fnmatch(cPattern, buffer, Fnmatch.FNM_PATHNAME) == 0 ? EXACT : NEVER;
    }

    private static long[] withBit(long[] bits, int bit) {
        if (bits == null || bits.length <= bit >>> 6) {
            bits = bits == null ? new long[(bit >>> 6) + 1] : java.util.Arrays.copyOf(bits, (bit >>> 6) + 1);
        }
        bits[bit >>> 6] |= 1L << bit;
        return bits;
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

    /** How many paths {@link #match(MemorySegment, int)} has been asked about. */
    public long pathsChecked() {
        return pathsChecked;
    }

    /** How many times {@link #match(MemorySegment, int)} has called libc's fnmatch. */
    public long fnmatchCalls() {
        return fnmatchCalls;
    }

    /**
     * The index of the first pattern that {@code fnmatch(pattern, path, FNM_PATHNAME)} accepts (returns 0), or
     * -1 if none does. Allocates nothing.
     *
     * <p>fnmatch is called only when needed (see the class comment): the index and the pre-checks rule out
     * only patterns that cannot match, and a pattern without wildcards is decided by byte equality.
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
        pathsChecked++;
        int best = maxComponents > 0 ? matchIndexed(cPath, length) : NONE;
        if (unsplit.length > 0 && unsplit[0] < best) {
            best = matchUnsplit(cPath, length, best);
        }
        return best == NONE ? -1 : best;
    }

    /** The first indexed pattern that matches, or NONE. */
    private int matchIndexed(MemorySegment cPath, int length) {
        Scratch s = scratch;
        byte[] path = s.path(length);
        int[] starts = s.starts(length);
        MemorySegment.copy(cPath, JAVA_BYTE, 0, path, 0, length);
        // Component d is path[starts[d] .. starts[d + 1] - 1), the last one ending at the path's end.
        int k = 0;
        starts[k++] = 0;
        for (int i = 0; i < length; i++) {
            if (path[i] == '/') {
                starts[k++] = i + 1;
            }
        }
        starts[k] = length + 1;
        if (k > maxComponents) {
            return NONE;
        }
        int best = NONE;
        if (anyHead[k] >= 0) {
            best = walk(anyHead[k], best, s, k, cPath);
        }
        int base = slotBase[k];
        if (base < 0) {
            return best;
        }
        for (int d = 0; d < k; d++) {
            int slot = base + d;
            int flags = slotFlags[slot];
            if (flags == 0) {
                continue;
            }
            int from = starts[d];
            int len = starts[d + 1] - 1 - from;
            if ((flags & (HAS_EXACT | HAS_PREFIX)) != 0) {
                best = probePrefixes(slot, flags, k, d, path, from, len, best, s, cPath);
            }
            if ((flags & HAS_SUFFIX) != 0) {
                best = probeSuffixes(slot, k, d, path, from, len, best, s, cPath);
            }
            if ((flags & HAS_INFIX) != 0) {
                best = probeInfixes(slot, k, d, path, from, len, best, s, cPath);
            }
        }
        return best;
    }

    /** Looks the component up by its whole bytes and by each of its prefixes of a filed length. */
    private int probePrefixes(int slot, int flags, int k, int d, byte[] path, int from, int len, int best,
                              Scratch s, MemorySegment cPath) {
        boolean exact = (flags & HAS_EXACT) != 0;
        long[] bits = prefixLengths[slot];
        int max = bits == null ? 0 : Math.min(len, prefixMax[slot]);
        int limit = exact ? len : max;
        long h = FNV_BASIS;
        for (int i = 0; i < limit; i++) {
            h = (h ^ (path[from + i] & 0xff)) * FNV_PRIME;
            int l = i + 1;
            if (l <= max && (bits[l >>> 6] & (1L << l)) != 0) {
                best = lookup(key(F_PREFIX, k, d, l, h), best, s, k, cPath);
            }
        }
        if (exact) {
            best = lookup(key(F_EXACT, k, d, len, h), best, s, k, cPath);
        }
        return best;
    }

    /** Looks the component up by each of its suffixes of a filed length (hashed from the last byte back). */
    private int probeSuffixes(int slot, int k, int d, byte[] path, int from, int len, int best, Scratch s,
                              MemorySegment cPath) {
        long[] bits = suffixLengths[slot];
        int max = Math.min(len, suffixMax[slot]);
        int end = from + len - 1;
        long h = FNV_BASIS;
        for (int i = 0; i < max; i++) {
            h = (h ^ (path[end - i] & 0xff)) * FNV_PRIME;
            int l = i + 1;
            if ((bits[l >>> 6] & (1L << l)) != 0) {
                best = lookup(key(F_SUFFIX, k, d, l, h), best, s, k, cPath);
            }
        }
        return best;
    }

    /** Looks the component up by each of its substrings of a filed inner-run length. */
    private int probeInfixes(int slot, int k, int d, byte[] path, int from, int len, int best, Scratch s,
                             MemorySegment cPath) {
        int lengths = infixLengths[slot];
        int longest = 31 - Integer.numberOfLeadingZeros(lengths);
        int shortest = Integer.numberOfTrailingZeros(lengths);
        int end = from + len;
        for (int start = from; start <= end - shortest; start++) {
            int stop = Math.min(end, start + longest);
            long h = FNV_BASIS;
            for (int j = start; j < stop; j++) {
                h = (h ^ (path[j] & 0xff)) * FNV_PRIME;
                int l = j - start + 1;
                if ((lengths & (1 << l)) != 0) {
                    best = lookup(key(F_INFIX, k, d, l, h), best, s, k, cPath);
                }
            }
        }
        return best;
    }

    private int lookup(long key, int best, Scratch s, int k, MemorySegment cPath) {
        int head = table.get(key);
        return head < 0 ? best : walk(head, best, s, k, cPath);
    }

    /** Checks the chain's patterns that come before {@code best}, lowest first; returns the new best. */
    private int walk(int entry, int best, Scratch s, int k, MemorySegment cPath) {
        for (int e = entry; e >= 0; e = chainNext[e]) {
            int p = chainPattern[e];
            if (p >= best) {
                break;
            }
            if (check(p, s, k, cPath)) {
                return p;
            }
        }
        return best;
    }

    /**
     * Whether pattern {@code p} (of {@code k} components, like the path) matches: its literal components and
     * its globs' prefixes, suffixes and lengths are compared first, as none of them can differ in a match;
     * then EXACT and NEVER answer, and fnmatch decides the rest.
     */
    private boolean check(int p, Scratch s, int k, MemorySegment cPath) {
        byte[] path = s.path;
        int[] starts = s.starts;
        int base = componentBase[p];
        // Last component first: where patterns filed together differ is most often the file name.
        for (int d = k - 1; d >= 0; d--) {
            int from = starts[d];
            int len = starts[d + 1] - 1 - from;
            int c = componentIds[base + d];
            byte[] literal = compLiteral[c];
            if (literal != null) {
                if (len != literal.length || !equalAt(literal, path, from)) {
                    return false;
                }
            } else {
                byte[] prefix = compPrefix[c];
                byte[] suffix = compSuffix[c];
                boolean exact = compFixed[c] && isAscii(path, from, len);
                if (len < compMinLength[c] || (exact && len != compMinLength[c]) || !equalAt(prefix, path, from)
                        || !equalAt(suffix, path, from + len - suffix.length)
                        || (compInner[c] != null
                            && !innerRunsFit(c, path, from + prefix.length, from + len, exact))) {
                    return false;
                }
            }
        }
        byte kind = kinds[p];
        if (kind != GLOB) {
            return kind == EXACT;
        }
        fnmatchCalls++;
        return Fnmatch.fnmatch(cPatterns[p], cPath, Fnmatch.FNM_PATHNAME) == 0;
    }

    /**
     * Whether glob component {@code c}'s inner runs can all be placed, in order, in {@code path[pos, end)}
     * (the part between its prefix and the component's end). Each is placed at its leftmost position: if any
     * placement works, the leftmost one leaves the most room for the runs after it. With {@code exact} (a
     * component without {@code *} on ASCII bytes) each run has one possible position.
     */
    private boolean innerRunsFit(int c, byte[] path, int pos, int end, boolean exact) {
        byte[][] runs = compInner[c];
        int[] gaps = compInnerGap[c];
        int[] after = compInnerAfter[c];
        for (int r = 0; r < runs.length; r++) {
            byte[] run = runs[r];
            int last = exact ? pos + gaps[r] : end - after[r] - run.length; // the last start that fits
            int at = pos + gaps[r];
            while (at <= last && !equalAt(run, path, at)) {
                at++;
            }
            if (at > last) {
                return false;
            }
            pos = at + run.length;
        }
        return true;
    }

    /**
     * Whether {@code path[from, from + len)} is all ASCII. Then, in the C locale and in UTF-8 alike, each of
     * its bytes is one character, and a {@code ?} or bracket expression matches exactly one of its bytes.
     */
    private static boolean isAscii(byte[] path, int from, int len) {
        for (int i = from; i < from + len; i++) {
            if (path[i] < 0) {
                return false;
            }
        }
        return true;
    }

    /** Whether {@code path} holds {@code b} at {@code at} (the caller made sure it fits). */
    private static boolean equalAt(byte[] b, byte[] path, int at) {
        for (int i = 0; i < b.length; i++) {
            if (b[i] != path[at + i]) {
                return false;
            }
        }
        return true;
    }

    /** The first pattern that could not be cut and matches, if it comes before {@code best}; else best. */
    private int matchUnsplit(MemorySegment cPath, int length, int best) {
        long head = head(cPath, length);
        for (int j = 0; j < unsplit.length && unsplit[j] < best; j++) {
            int prefix = unsplitPrefix[j];
            // The head compare covers the prefix's first 8 bytes (all bytes of head beyond the path's length
            // are masked off: length >= prefix); mismatch() is needed only for a longer prefix.
            if (length < prefix || (head & unsplitHeadMask[j]) != unsplitHead[j]) {
                continue;
            }
            MemorySegment pattern = cPatterns[unsplit[j]];
            if (prefix > 8 && MemorySegment.mismatch(pattern, 8, prefix, cPath, 8, prefix) >= 0) {
                continue;
            }
            fnmatchCalls++;
            if (Fnmatch.fnmatch(pattern, cPath, Fnmatch.FNM_PATHNAME) == 0) {
                return unsplit[j];
            }
        }
        return best;
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

    /** A thread's copy of the path being matched and where its components start; grown, never shrunk. */
    private static final class Scratch {
        byte[] path = new byte[4096];
        int[] starts = new int[4098];

        byte[] path(int length) {
            if (path.length < length) {
                path = new byte[length];
            }
            return path;
        }

        int[] starts(int length) {
            if (starts.length < length + 2) {
                starts = new int[length + 2];
            }
            return starts;
        }
    }
}
