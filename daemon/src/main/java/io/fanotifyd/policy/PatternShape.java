package io.fanotifyd.policy;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A canary pattern cut at its '/' separators into components, and what each component demands of the path
 * component it is matched against under {@code fnmatch(pattern, path, FNM_PATHNAME)}. Used to build the
 * {@link CanaryMatcher} index; nothing here runs per event.
 *
 * <p>Why the cut is exact: under FNM_PATHNAME glibc never lets {@code *}, {@code ?} or a bracket expression
 * match a '/' of the path (each returns FNM_NOMATCH on it), so every '/' of a matching path is matched by a
 * '/' of the pattern, and a '/' of the pattern outside a bracket matches only a '/'. A matching path therefore
 * has exactly as many components as the pattern, component i matching component i. That holds as long as the
 * parser here and glibc agree on which '/' bytes are separators, which is why {@link #parse} refuses
 * (returns a shape with no components) every pattern where a '/' could be read as part of something else:
 *
 * <ul>
 *   <li>an escaped slash {@code \/} (glibc's {@code *} treats {@code *\/} differently from {@code * /});</li>
 *   <li>a '/' anywhere after a {@code [} that does not open a <em>simple</em> bracket expression: one that
 *       closes at its first {@code ]} by every reading (see {@link #simpleBracketEnd}). Where glibc would end
 *       such a bracket, or whether it takes the {@code [} as a plain character, is not decided here.</li>
 * </ul>
 *
 * <p>Within a component, the literal bytes recorded (a whole literal component; a glob's prefix, suffix and
 * inner runs) are only bytes that glibc matches with themselves alone: ordinary bytes outside brackets and
 * escaped bytes. A bracket this parser reads as closing later than glibc would only costs literal bytes it
 * could have recorded, never records a wrong one. Bytes >= 0x80 are taken as they are: the ASCII bytes that
 * steer the parse ({@code / \ * ? [ ] ! ^ :}) never occur inside a UTF-8 sequence, so the cut is the same
 * whether glibc matches bytes (C locale, invalid UTF-8) or characters (a UTF-8 locale).
 */
final class PatternShape {
    /** How many bytes a {@code ?} or a bracket expression matches at least. */
    private static final int ONE = -2;
    /** A {@code *}: any run of bytes, no '/'. */
    private static final int STAR = -1;
    /** The rest of the pattern, not parsed further (an unclosed or unusual bracket, a trailing backslash). */
    private static final int OPAQUE = -3;

    /**
     * One component. For a literal component {@code literal} holds the only bytes it matches (escapes
     * removed) and the other fields are empty; for a glob, {@code literal} is null and a matching path
     * component is at least {@code minLength} bytes long, starts with {@code prefix}, ends with {@code suffix}
     * and contains the literal runs between its wildcards, {@code inner}, in order: run j at least
     * {@code innerGap[j]} bytes after the end of the prefix or of run j - 1, and at least
     * {@code innerAfter[j]} bytes before the component's end (a {@code ?} or bracket takes at least one byte,
     * a {@code *} none). A glob is {@code fixed} when it has no {@code *} (and nothing left unparsed): each
     * {@code ?} and bracket then takes exactly one character, which on a path component of ASCII bytes is one
     * byte, so there the component is exactly {@code minLength} bytes and each run exactly {@code innerGap[j]}
     * bytes after the previous piece. {@code key} is the component's text in the pattern, which decides all
     * the rest: equal keys, equal components.
     */
    record Component(String key, byte[] literal, byte[] prefix, byte[] suffix, byte[][] inner, int[] innerGap,
                     int[] innerAfter, int minLength, boolean fixed) {
        boolean isLiteral() {
            return literal != null;
        }
    }

    private static final PatternShape UNSPLIT = new PatternShape(null);

    private final Component[] components;

    private PatternShape(Component[] components) {
        this.components = components;
    }

    /** Whether the pattern could be cut at its separators (see the class comment for when it cannot). */
    boolean isSplit() {
        return components != null;
    }

    /** The components, first to last; only if {@link #isSplit}. An absolute pattern's first one is empty. */
    Component[] components() {
        return components;
    }

    /**
     * For a pattern whose components are all literal, the only path it can match: the pattern without its
     * escaping backslashes. Null if a component is a glob, or if the pattern was not split.
     */
    byte[] onlyPath() {
        if (components == null) {
            return null;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < components.length; i++) {
            if (!components[i].isLiteral()) {
                return null;
            }
            if (i > 0) {
                out.write('/');
            }
            out.writeBytes(components[i].literal());
        }
        return out.toByteArray();
    }

    static PatternShape parse(byte[] p) {
        List<Component> out = new ArrayList<>();
        TokenList tokens = new TokenList();
        int n = p.length;
        int from = 0; // where the current component starts
        int i = 0;
        while (i < n) {
            int b = p[i] & 0xff;
            switch (b) {
                case '/' -> {
                    out.add(tokens.component(p, from, i));
                    from = ++i;
                }
                case '\\' -> {
                    if (i + 1 == n) {
                        tokens.add(OPAQUE); // a trailing backslash: glibc never matches it; fnmatch will say so
                        i++;
                    } else if (p[i + 1] == '/') {
                        return UNSPLIT;
                    } else {
                        tokens.add(p[i + 1] & 0xff);
                        i += 2;
                    }
                }
                case '*' -> {
                    tokens.add(STAR);
                    i++;
                }
                case '?' -> {
                    tokens.add(ONE);
                    i++;
                }
                case '[' -> {
                    int close = simpleBracketEnd(p, i);
                    if (close >= 0) {
                        tokens.add(ONE);
                        i = close + 1;
                    } else if (indexOf(p, (byte) '/', i + 1) >= 0) {
                        return UNSPLIT;
                    } else {
                        tokens.add(OPAQUE); // the last component: whatever this is, fnmatch decides it
                        i = n;
                    }
                }
                default -> {
                    tokens.add(b);
                    i++;
                }
            }
        }
        out.add(tokens.component(p, from, n));
        return new PatternShape(out.toArray(new Component[0]));
    }

    /**
     * The index of the {@code ]} closing the bracket expression that opens at {@code open}, if it is simple:
     * an optional {@code !} or {@code ^}, then at least one item, each either a byte other than
     * {@code ] [ \ /} or a class {@code [:name:]} with a name of letters a to y (glibc's test for a class
     * name), then the {@code ]}. glibc cannot read such a bracket as ending anywhere else: no escape, no
     * collating element or equivalence class, and no {@code ]} that could be taken as a member (first
     * position, or the end of a range: glibc does not start a range at a {@code -} followed by {@code ]}).
     * Whether {@code ^} negates (it does not under POSIXLY_CORRECT) does not matter: {@code [^]} is refused
     * either way. Returns -1 for anything else.
     */
    static int simpleBracketEnd(byte[] p, int open) {
        int n = p.length;
        int j = open + 1;
        if (j < n && (p[j] == '!' || p[j] == '^')) {
            j++;
        }
        int items = 0;
        while (j < n) {
            byte c = p[j];
            if (c == ']') {
                return items > 0 ? j : -1;
            }
            if (c == '[') {
                int name = j + 2;
                int k = name;
                if (name < n && p[j + 1] == ':') {
                    while (k < n && p[k] >= 'a' && p[k] <= 'y') {
                        k++;
                    }
                }
                if (k == name || k + 1 >= n || p[k] != ':' || p[k + 1] != ']') {
                    return -1;
                }
                j = k + 2;
            } else if (c == '\\' || c == '/') {
                return -1;
            } else {
                j++;
            }
            items++;
        }
        return -1;
    }

    private static int indexOf(byte[] a, byte b, int from) {
        for (int i = from; i < a.length; i++) {
            if (a[i] == b) {
                return i;
            }
        }
        return -1;
    }

    /** The tokens of one component: literal bytes (0..255) and STAR, ONE, OPAQUE; reused for the next. */
    private static final class TokenList {
        private static final int[] NONE = new int[0];
        private static final byte[] EMPTY = new byte[0];
        private static final byte[][] NO_RUNS = new byte[0][];
        private int[] t = new int[64];
        private int n;

        void add(int token) {
            if (n == t.length) {
                t = java.util.Arrays.copyOf(t, 2 * n);
            }
            t[n++] = token;
        }

        /** The component made of the tokens added since the last call, whose text is p[from, to). */
        Component component(byte[] p, int from, int to) {
            String key = new String(p, from, to - from, StandardCharsets.ISO_8859_1);
            int minLength = 0;
            boolean glob = false;
            boolean fixed = true;
            for (int i = 0; i < n; i++) {
                glob |= t[i] < 0;
                fixed &= t[i] >= 0 || t[i] == ONE;
                minLength += t[i] >= 0 || t[i] == ONE ? 1 : 0;
            }
            Component c;
            if (!glob) {
                c = new Component(key, run(0, n), null, null, NO_RUNS, NONE, NONE, n, false);
            } else {
                int firstWild = 0;
                while (t[firstWild] >= 0) {
                    firstWild++;
                }
                int lastWild = n - 1;
                while (t[lastWild] >= 0) {
                    lastWild--;
                }
                int runs = 0;
                for (int i = firstWild + 1; i < lastWild; i++) {
                    runs += t[i] >= 0 && t[i - 1] < 0 ? 1 : 0;
                }
                byte[][] inner = runs == 0 ? NO_RUNS : new byte[runs][];
                int[] gaps = runs == 0 ? NONE : new int[runs];
                int[] after = runs == 0 ? NONE : new int[runs];
                int before = firstWild; // the fewest bytes the tokens before i can take
                int gap = 0;
                int r = 0;
                int i = firstWild;
                while (i < lastWild) {
                    if (t[i] < 0) {
                        gap += t[i] == ONE ? 1 : 0;
                        before += t[i] == ONE ? 1 : 0;
                        i++;
                        continue;
                    }
                    int start = i;
                    while (i < lastWild && t[i] >= 0) {
                        i++;
                    }
                    inner[r] = run(start, i);
                    gaps[r] = gap;
                    before += i - start;
                    after[r++] = minLength - before;
                    gap = 0;
                }
                c = new Component(key, null, run(0, firstWild), run(lastWild + 1, n), inner, gaps, after, minLength,
                        fixed);
            }
            n = 0;
            return c;
        }

        private byte[] run(int from, int to) {
            if (from == to) {
                return EMPTY;
            }
            byte[] b = new byte[to - from];
            for (int i = from; i < to; i++) {
                b[i - from] = (byte) t[i];
            }
            return b;
        }
    }
}
