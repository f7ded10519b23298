package io.fanotifyd.policy;

import static io.fanotifyd.policy.CanaryMatcherTest.bytes;
import static io.fanotifyd.policy.CanaryMatcherTest.cString;
import static io.fanotifyd.policy.CanaryMatcherTest.show;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.kernel.Fnmatch;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * 10,000 patterns of one shape: every answer is still the first pattern fnmatch accepts, and a path costs
 * at most a few fnmatch calls however many patterns there are (the matcher counts its calls). Before the index,
 * every path whose first bytes matched the patterns' literal prefix went to fnmatch once per pattern: 10,000
 * calls for the first shape below.
 */
class CanaryMatcherScaleTest {
    static final int PATTERNS = 10_000;
    /** Most fnmatch calls one path may cost, matching or not. */
    static final int MOST_CALLS = 2;

    /**
     * The shapes of issue 14: i is the pattern's number, and {@code instance} names a path that pattern i
     * matches.
     */
    enum Shape {
        /** A literal prefix shared by all, differing in a glob file name (scripts/scaling.sh's "same prefix"). */
        SHARED_PREFIX(i -> "/srv/w/*/nomatch-" + i + "-*", i -> "/srv/w/d3/nomatch-" + i + "-x.txt"),
        /** Differing only in the file name, no wildcard at all. */
        FILE_NAME_ONLY(i -> "/srv/w/d0/key-" + i, i -> "/srv/w/d0/key-" + i),
        /** A {@code *} in a middle directory. */
        STAR_IN_MIDDLE_DIR(i -> "/srv/*/secrets/key-" + i, i -> "/srv/app" + i % 7 + "/secrets/key-" + i),
        STAR_FIRST(i -> "/srv/w/d0/*-key-" + i, i -> "/srv/w/d0/x-key-" + i),
        QUESTION_FIRST(i -> "/srv/w/d0/?key-" + i, i -> "/srv/w/d0/.key-" + i),
        BRACKET_FIRST(i -> "/srv/w/d0/[a-c]key-" + i, i -> "/srv/w/d0/bkey-" + i),
        /** A whole pattern starting with {@code *}: its first component is not the empty one. */
        PATTERN_STARTS_WITH_STAR(i -> "*/w/d0/key-" + i + "*", i -> "/w/d0/key-" + i + "~"),
        BRACKETS(i -> "/srv/[[:alpha:]]*/d[0-9]/key-[!x]" + i + "[ab]", i -> "/srv/w/d0/key-y" + i + "b"),
        ESCAPES(i -> "/srv/w/d0/key\\*" + i + "\\[x]-*", i -> "/srv/w/d0/key*" + i + "[x]-1"),
        NON_UTF8(i -> "/srv/caf\uDCE9/d0/\uDCFFkey-" + i + "*", i -> "/srv/caf\uDCE9/d0/\uDCFFkey-" + i + "\uDCFE"),
        /** Only an inner literal run tells the patterns apart. */
        INNER_RUN(i -> "/srv/w/*/*nomatch-" + i + "-*", i -> "/srv/w/d1/x-nomatch-" + i + "-y"),
        /** All of the above, one after the other. */
        MIXED(i -> Shape.values()[i % 11].pattern.apply(i), i -> Shape.values()[i % 11].instance.apply(i));

        final IntFunction<String> pattern;
        final IntFunction<String> instance;

        Shape(IntFunction<String> pattern, IntFunction<String> instance) {
            this.pattern = pattern;
            this.instance = instance;
        }
    }

    /** Paths like the workload's, and near misses of every shape: none of them matches any pattern. */
    static final String[] OTHER_PATHS = {
            "/srv/w/d3/f1234", "/srv/w/d3/r1234", "/srv/w/d3", "/srv/w", "/srv", "/", "/srv/w/d0/key-",
            "/srv/w/d0/key-10000", "/srv/w/d0/key-12345x", "/srv/w/d0/xkey-1234", "/srv/other/secrets/key-x",
            "/srv/app1/secrets/key-1234/x", "/srv/w/d3/nomatch-x-1", "/srv/w/d3/nomatch-1234", "/srv/w/d0/abkey-12",
            "/srv/w/d0/dkey-12", "/srv/w/d9/key-y12b/x", "/srv/w/d0/key*12[x]", "/srv/caf\u00e9/d0/\uDCFFkey-1",
            "/srv/w/d1/nomatch-", "/w/d0/kez-1", "/srv/w/d0/key-1234.txt/f",
    };

    @ParameterizedTest
    @EnumSource(Shape.class)
    void tenThousandPatternsCostAFewFnmatchCallsPerPath(Shape shape) {
        List<String> patterns = new ArrayList<>();
        for (int i = 0; i < PATTERNS; i++) {
            patterns.add(shape.pattern.apply(i));
        }
        CanaryMatcher m = new CanaryMatcher(patterns);
        List<String> paths = new ArrayList<>(List.of(OTHER_PATHS));
        for (int k : new int[] {0, 1, 7, 1234, 5000, PATTERNS - 2, PATTERNS - 1}) {
            paths.add(shape.instance.apply(k));
        }
        int mostCalls = 0;
        int matched = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] cPatterns = new MemorySegment[PATTERNS];
            for (int i = 0; i < PATTERNS; i++) {
                cPatterns[i] = cString(arena, bytes(patterns.get(i)));
            }
            for (String path : paths) {
                byte[] p = bytes(path);
                MemorySegment cPath = cString(arena, p);
                int expected = -1;
                for (int i = 0; i < PATTERNS && expected < 0; i++) {
                    if (Fnmatch.fnmatch(cPatterns[i], cPath, Fnmatch.FNM_PATHNAME) == 0) {
                        expected = i;
                    }
                }
                long before = m.fnmatchCalls();
                int got = m.match(cPath, p.length);
                int calls = (int) (m.fnmatchCalls() - before);
                assertEquals(expected, got, shape + ": " + show(p));
                assertTrue(calls <= MOST_CALLS, shape + ": " + show(p) + " cost " + calls + " fnmatch calls");
                mostCalls = Math.max(mostCalls, calls);
                matched += got >= 0 ? 1 : 0;
            }
        }
        assertEquals(paths.size(), m.pathsChecked());
        // Every instance path matches some pattern (its own, or an earlier one that also fits).
        assertTrue(matched >= 7, shape + ": only " + matched + " of the 7 instances matched");
        System.out.println(shape + ": at most " + mostCalls + " fnmatch calls per path");
    }

    /** Without wildcards the index answers alone: 10,000 literal patterns never call fnmatch. */
    @ParameterizedTest
    @EnumSource(value = Shape.class, names = {"FILE_NAME_ONLY"})
    void literalPatternsNeverCallFnmatch(Shape shape) {
        List<String> patterns = new ArrayList<>();
        for (int i = 0; i < PATTERNS; i++) {
            patterns.add(shape.pattern.apply(i));
            patterns.add("/srv/w/d0/key\\-" + i + "\\*"); // escaped, still literal: "/srv/w/d0/key-<i>*"
        }
        CanaryMatcher m = new CanaryMatcher(patterns);
        assertEquals(2 * 1234, m.match(bytes("/srv/w/d0/key-1234")));
        assertEquals(2 * 1234 + 1, m.match(bytes("/srv/w/d0/key-1234*")));
        assertEquals(2 * (PATTERNS - 1), m.match(bytes("/srv/w/d0/key-" + (PATTERNS - 1))));
        for (String other : OTHER_PATHS) {
            assertEquals(-1, m.match(bytes(other)), other);
        }
        assertEquals(0, m.fnmatchCalls(), "fnmatch calls");
    }
}
