package io.fanotifyd.policy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.kernel.PathCodec;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** How patterns are cut into components, and which are left whole (CanaryMatcherTest checks the answers). */
class PatternShapeTest {

    private static PatternShape parse(String pattern) {
        return PatternShape.parse(PathCodec.encode(pattern));
    }

    /** Each component as text: the literal, or "prefix|inner,inner|suffix min=N fixed". */
    private static List<String> describe(String pattern) {
        PatternShape shape = parse(pattern);
        assertTrue(shape.isSplit(), pattern + " was not cut");
        List<String> out = new ArrayList<>();
        for (PatternShape.Component c : shape.components()) {
            if (c.isLiteral()) {
                out.add(PathCodec.decode(c.literal()));
            } else {
                StringBuilder inner = new StringBuilder();
                for (int r = 0; r < c.inner().length; r++) {
                    inner.append(r == 0 ? "" : ",").append(PathCodec.decode(c.inner()[r]))
                            .append('@').append(c.innerGap()[r]).append('-').append(c.innerAfter()[r]);
                }
                out.add(PathCodec.decode(c.prefix()) + "|" + inner + "|" + PathCodec.decode(c.suffix()) + " min="
                        + c.minLength() + (c.fixed() ? " fixed" : ""));
            }
        }
        return out;
    }

    @Test
    void literalComponentsAndGlobs() {
        assertEquals(List.of("", "srv", "|| min=0", "secrets", "key-1234"), describe("/srv/*/secrets/key-1234"));
        assertEquals(List.of("", "d", "key-||.txt min=8"), describe("/d/key-*.txt"));
        assertEquals(List.of("|| min=0", "w", "x"), describe("*/w/x"));
        assertEquals(List.of("", "d", ""), describe("/d/"));
        assertEquals(List.of(""), describe(""));
    }

    @Test
    void innerRunsKnowTheFewestBytesAroundThem() {
        // key- [!x] 1234 [ab]: the run is at least 1 byte after the prefix and 1 byte before the end.
        assertEquals(List.of("", "key-|1234@1-1| min=10 fixed"), describe("/key-[!x]1234[ab]"));
        assertEquals(List.of("", "|ab@0-5,cd@2-1| min=7"), describe("/*ab?*?cd*?"));
        assertEquals(List.of("", "x|no@0-2|y min=5"), describe("/x*no*?y"));
    }

    @Test
    void escapesAreLiteral() {
        assertEquals(List.of("", "d", "a*b"), describe("/d/a\\*b"));
        assertEquals(List.of("", "d", "a[b]"), describe("/d/a\\[b]"));
        assertArrayEquals(PathCodec.encode("/d/a*b"), parse("/d/a\\*b").onlyPath());
        assertEquals(List.of("", "a||\\* min=3"), describe("/a*\\\\\\*"));
        // A trailing backslash never matches (glibc); the component is left to fnmatch.
        assertEquals(List.of("", "a|| min=1"), describe("/a\\"));
        assertNull(parse("/a\\").onlyPath());
    }

    @Test
    void simpleBracketsAreOneCharacter() {
        assertEquals(List.of("", "d|| min=2 fixed", "x"), describe("/d[ab]/x"));
        assertEquals(List.of("", "|| min=1", "x"), describe("/[[:alpha:]]*/x"));
        assertEquals(List.of("", "|| min=2 fixed", "x"), describe("/[!a-c][^[:digit:]]/x"));
        assertEquals(List.of("", "a|| min=2 fixed", "x"), describe("/a[a-]/x"));
    }

    /** A bracket that may hold a '/' or close anywhere else than its first ']' is fine in the last component. */
    @Test
    void unusualBracketsInTheLastComponentAreLeftToFnmatch() {
        assertEquals(List.of("", "d", "|| min=0"), describe("/d/["));
        assertEquals(List.of("", "d", "ab|| min=2"), describe("/d/ab[]x]"));
        assertEquals(List.of("", "d", "|| min=0"), describe("/d/[[.a.]]"));
        assertEquals(List.of("", "d", "|| min=0"), describe("/d/[[=a=]]x"));
        assertEquals(List.of("", "d", "|| min=0"), describe("/d/[!]a]"));
        assertEquals(List.of("", "d", "|| min=0"), describe("/d/[\\]]"));
    }

    /** Wherever the '/' could belong to something other than a separator, the pattern is not cut. */
    @ParameterizedTest
    @ValueSource(strings = {"/a\\/b", "/a*\\/b", "/d[/]x", "/d[a/]x", "/d[!/]x", "/d[/x", "/[]/]/x", "/[[:alpha:]/]",
            "/[[./.]]/x", "/[[:alpha:]/x]", "/d/[\\]/x]", "/[^]/]", "[[:Alpha:]]/x", "[[:]]/x", "[/"})
    void slashesThatMayNotBeSeparatorsLeaveThePatternWhole(String pattern) {
        PatternShape shape = parse(pattern);
        assertFalse(shape.isSplit(), pattern);
        assertNull(shape.onlyPath());
    }

    @Test
    void simpleBracketEnd() {
        assertEquals(2, PatternShape.simpleBracketEnd(PathCodec.encode("[a]"), 0));
        assertEquals(10, PatternShape.simpleBracketEnd(PathCodec.encode("[[:alpha:]]"), 0));
        assertEquals(-1, PatternShape.simpleBracketEnd(PathCodec.encode("[]]"), 0));
        assertEquals(-1, PatternShape.simpleBracketEnd(PathCodec.encode("[!]"), 0));
        assertEquals(-1, PatternShape.simpleBracketEnd(PathCodec.encode("[^]"), 0));
        assertEquals(-1, PatternShape.simpleBracketEnd(PathCodec.encode("[a"), 0));
        assertEquals(-1, PatternShape.simpleBracketEnd(PathCodec.encode("[[:zeta:]]"), 0)); // glibc stops at 'z'
    }
}
