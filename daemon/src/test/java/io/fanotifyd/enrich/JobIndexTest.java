package io.fanotifyd.enrich;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link JobIndex}: the longest configured root containing a path on a component boundary, for paths given as
 * a directory alone or as a directory plus a name still in a (native) buffer, compared with a naive model.
 */
class JobIndexTest {
    private static final Arena ARENA = Arena.ofShared();

    @AfterAll
    static void freeArena() {
        ARENA.close();
    }

    // -------------------------------------------------------------------------------------------- helpers

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static JobIndex.Root root(String path, String job, String role) {
        return new JobIndex.Root(b(path), job, role);
    }

    static JobIndex index(JobIndex.Root... roots) {
        return new JobIndex(List.of(roots));
    }

    /**
     * A directory-only path. The bytes are copied into a larger array with junk after {@code dirLength}, as the
     * resolver's reused buffer would be: only the first dirLength bytes may count.
     */
    static PathRef dirOnly(byte[] dir) {
        byte[] buf = new byte[dir.length + 7];
        System.arraycopy(dir, 0, buf, 0, dir.length);
        for (int i = dir.length; i < buf.length; i++) {
            buf[i] = (byte) (i % 2 == 0 ? '/' : 'z');
        }
        PathRef p = new PathRef();
        p.set(buf, dir.length);
        return p;
    }

    static PathRef dirOnly(String dir) {
        return dirOnly(b(dir));
    }

    /** dir + name, the name at a non-zero offset of a native segment with other bytes around it. */
    static PathRef dirName(byte[] dir, byte[] name) {
        PathRef p = dirOnly(dir);
        MemorySegment seg = ARENA.allocate(name.length + 16);
        seg.fill((byte) '/');
        MemorySegment.copy(name, 0, seg, ValueLayout.JAVA_BYTE, 5, name.length);
        p.name(seg, 5, name.length);
        return p;
    }

    static PathRef dirName(String dir, String name) {
        return dirName(b(dir), b(name));
    }

    static String describe(PathRef p) {
        String dir = new String(p.dir(), 0, p.dirLength(), StandardCharsets.ISO_8859_1);
        if (!p.hasName()) {
            return "dir '" + dir + "'";
        }
        byte[] name = p.nameSegment().asSlice(p.nameOffset(), p.nameLength()).toArray(ValueLayout.JAVA_BYTE);
        return "dir '" + dir + "' name '" + new String(name, StandardCharsets.ISO_8859_1) + "'";
    }

    static String describe(JobIndex.Root r) {
        return r == null ? "null" : r.jobId() + "/" + r.role() + " (" + new String(r.path(),
                StandardCharsets.ISO_8859_1) + ")";
    }

    static void assertTagged(JobIndex idx, PathRef p, JobIndex.Root expected) {
        JobIndex.Root got = idx.lookup(p);
        assertSame(expected, got, describe(p) + ": expected " + describe(expected) + ", got " + describe(got));
    }

    /** Both forms of a path: dir only, and (unless it is "/") split at its last '/' into dir + name. */
    static List<PathRef> forms(String path) {
        List<PathRef> out = new ArrayList<>();
        out.add(dirOnly(path));
        int slash = path.lastIndexOf('/');
        if (path.length() > 1) {
            out.add(dirName(slash == 0 ? "/" : path.substring(0, slash), path.substring(slash + 1)));
        }
        return out;
    }

    static void assertTaggedBothForms(JobIndex idx, String path, JobIndex.Root expected) {
        for (PathRef p : forms(path)) {
            assertTagged(idx, p, expected);
        }
    }

    // -------------------------------------------------------------------------------------------- roles

    @ParameterizedTest
    @ValueSource(strings = {"rootfs", "workspace", "export", "cache"})
    void eachRoleIsReportedForItsDirectory(String role) {
        JobIndex.Root r = root("/srv/jobs/j1/" + role + "-dir", "j1", role);
        JobIndex.Root other = root("/srv/jobs/j2/" + role + "-dir", "j2", role);
        JobIndex idx = index(r, other);
        assertFalse(idx.isEmpty());
        assertTaggedBothForms(idx, "/srv/jobs/j1/" + role + "-dir", r);
        assertTaggedBothForms(idx, "/srv/jobs/j1/" + role + "-dir/f", r);
        assertTaggedBothForms(idx, "/srv/jobs/j1/" + role + "-dir/a/b/c/deep.txt", r);
        assertTaggedBothForms(idx, "/srv/jobs/j2/" + role + "-dir/x", other);
        JobIndex.Root got = idx.lookup(dirName("/srv/jobs/j1/" + role + "-dir", "f"));
        assertEquals("j1", got.jobId());
        assertEquals(role, got.role());
    }

    @Test
    void allRolesOfOneJob() {
        JobIndex.Root rootfs = root("/j/rootfs", "j", "rootfs");
        JobIndex.Root ws = root("/j/ws", "j", "workspace");
        JobIndex.Root export = root("/j/export", "j", "export");
        JobIndex.Root cache = root("/var/cache/j", "j", "cache");
        JobIndex idx = index(rootfs, ws, export, cache);
        assertTaggedBothForms(idx, "/j/rootfs/etc/passwd", rootfs);
        assertTaggedBothForms(idx, "/j/ws/src/main.c", ws);
        assertTaggedBothForms(idx, "/j/export/out.tar", export);
        assertTaggedBothForms(idx, "/var/cache/j/objs/1", cache);
        assertTaggedBothForms(idx, "/j", null);
        assertTaggedBothForms(idx, "/j/other", null);
        assertTaggedBothForms(idx, "/var/cache", null);
    }

    // -------------------------------------------------------------------------------------------- nesting

    @Test
    void nestedRootsTheLongestWins() {
        JobIndex.Root rootfs = root("/j/root", "j", "rootfs");
        JobIndex.Root ws = root("/j/root/ws", "j", "workspace");
        JobIndex.Root deeper = root("/j/root/ws/out/export", "k", "export");
        // Order of configuration must not matter.
        for (JobIndex idx : List.of(index(rootfs, ws, deeper), index(deeper, ws, rootfs), index(ws, deeper, rootfs))) {
            assertTaggedBothForms(idx, "/j/root", rootfs);
            assertTaggedBothForms(idx, "/j/root/etc/hosts", rootfs);
            assertTaggedBothForms(idx, "/j/root/wsx", rootfs);
            assertTaggedBothForms(idx, "/j/root/ws", ws);
            assertTaggedBothForms(idx, "/j/root/ws/a.c", ws);
            assertTaggedBothForms(idx, "/j/root/ws/out", ws);
            assertTaggedBothForms(idx, "/j/root/ws/out/exports", ws);
            assertTaggedBothForms(idx, "/j/root/ws/out/export", deeper);
            assertTaggedBothForms(idx, "/j/root/ws/out/export/x/y/z", deeper);
        }
    }

    // -------------------------------------------------------------------------------------------- boundaries

    @Test
    void rootContainsOnlyOnComponentBoundaries() {
        JobIndex.Root r = root("/x/root", "x", "rootfs");
        JobIndex idx = index(r);
        assertTaggedBothForms(idx, "/x/root", r);
        assertTaggedBothForms(idx, "/x/root/a", r);
        assertTaggedBothForms(idx, "/x/root/a/b", r);
        assertTaggedBothForms(idx, "/x/rootish", null);
        assertTaggedBothForms(idx, "/x/rootish/a", null);
        assertTaggedBothForms(idx, "/x/roo", null);
        assertTaggedBothForms(idx, "/x/roo/t", null);
        assertTaggedBothForms(idx, "/x", null);
        assertTaggedBothForms(idx, "/xx/root", null);
        assertTaggedBothForms(idx, "/y/x/root", null);
        // A name that would make "/x/root..." only by concatenation without the separator.
        assertTagged(idx, dirName("/x", "rootish"), null);
        assertTagged(idx, dirName("/x/rootish", "a"), null);
    }

    @Test
    void pathEqualToTheRootAsDirOnlyAndAsDirPlusName() {
        JobIndex.Root r = root("/x/root", "x", "workspace");
        JobIndex idx = index(r);
        assertTagged(idx, dirOnly("/x/root"), r);
        assertTagged(idx, dirName("/x", "root"), r);
        assertTagged(idx, dirName("/x/root", "a"), r);
        JobIndex.Root top = root("/top", "t", "cache");
        JobIndex idx2 = index(top);
        assertTagged(idx2, dirOnly("/top"), top);
        assertTagged(idx2, dirName("/", "top"), top);
        assertTagged(idx2, dirName("/", "topx"), null);
        assertTagged(idx2, dirName("/", "to"), null);
        assertTagged(idx2, dirName("/top", "x"), top);
    }

    @Test
    void nothingOutsideAnyRoot() {
        JobIndex idx = index(root("/a/b", "j", "rootfs"), root("/c", "k", "cache"));
        assertTaggedBothForms(idx, "/", null);
        assertTaggedBothForms(idx, "/a", null);
        assertTaggedBothForms(idx, "/a/c", null);
        assertTaggedBothForms(idx, "/b", null);
        assertTaggedBothForms(idx, "/cc", null);
        assertTaggedBothForms(idx, "/d/a/b", null);
    }

    @Test
    void unknownPathIsNull() {
        JobIndex.Root slash = root("/", "all", "rootfs");
        for (JobIndex idx : List.of(index(root("/a", "j", "rootfs")), index(slash))) {
            PathRef unknown = new PathRef();
            assertFalse(unknown.known());
            assertNull(idx.lookup(unknown));
            PathRef cleared = dirOnly("/a/b");
            cleared.clear();
            assertNull(idx.lookup(cleared));
        }
    }

    @Test
    void emptyIndexTagsNothing() {
        JobIndex idx = new JobIndex(List.of());
        assertTrue(idx.isEmpty());
        assertTaggedBothForms(idx, "/a/b", null);
        assertTagged(idx, dirOnly("/"), null);
    }

    @Test
    void slashRootContainsEverythingNotUnderAnotherRoot() {
        JobIndex.Root slash = root("/", "host", "rootfs");
        JobIndex.Root ws = root("/home/ws", "j", "workspace");
        JobIndex idx = index(slash, ws);
        assertTagged(idx, dirOnly("/"), slash);
        assertTaggedBothForms(idx, "/etc", slash);
        assertTaggedBothForms(idx, "/etc/passwd", slash);
        assertTaggedBothForms(idx, "/home", slash);
        assertTaggedBothForms(idx, "/home/wsx", slash);
        assertTaggedBothForms(idx, "/home/ws", ws);
        assertTaggedBothForms(idx, "/home/ws/a/b", ws);
        assertTagged(idx, dirName("/", "x"), slash);
        // "/" alone as the only root.
        JobIndex only = index(slash);
        assertFalse(only.isEmpty());
        assertTaggedBothForms(only, "/anything/at/all", slash);
        assertTagged(only, dirOnly("/"), slash);
    }

    @Test
    void namesAndDirectoriesThatAreNotUtf8() {
        byte[] rootBytes = {'/', 'd', (byte) 0xff, (byte) 0xfe, '/', 'r', (byte) 0x80};
        JobIndex.Root r = new JobIndex.Root(rootBytes, "bin", "export");
        JobIndex.Root plain = root("/d", "plain", "cache");
        JobIndex idx = index(r, plain);
        byte[] bad = {(byte) 0xc3, (byte) 0x28, 'x', (byte) 0xff};
        // A non-UTF-8 name below a plain root.
        assertTagged(idx, dirName(b("/d"), bad), plain);
        // The root itself, its name not UTF-8, as dir + name and as dir.
        assertTagged(idx, dirName(new byte[] {'/', 'd', (byte) 0xff, (byte) 0xfe}, new byte[] {'r', (byte) 0x80}), r);
        assertTagged(idx, dirOnly(rootBytes), r);
        // Below it.
        byte[] below = new byte[rootBytes.length + 1 + bad.length];
        System.arraycopy(rootBytes, 0, below, 0, rootBytes.length);
        below[rootBytes.length] = '/';
        System.arraycopy(bad, 0, below, rootBytes.length + 1, bad.length);
        assertTagged(idx, dirOnly(below), r);
        assertTagged(idx, dirName(rootBytes, bad), r);
        // One byte different: not the root (bytes compare exactly, no decoding to U+FFFD).
        assertTagged(idx, dirName(new byte[] {'/', 'd', (byte) 0xff, (byte) 0xfe}, new byte[] {'r', (byte) 0x81}),
                null);
        assertTagged(idx, dirOnly(new byte[] {'/', 'd', (byte) 0xff, (byte) 0xfd, '/', 'r', (byte) 0x80}), null);
        // Negative bytes must hash as unsigned identically in the root and the path (0xff vs 0x7f).
        assertTagged(idx, dirOnly(new byte[] {'/', 'd', (byte) 0x7f, (byte) 0x7e, '/', 'r', 0}), null);
    }

    // -------------------------------------------------------------------------------------------- duplicates

    @Test
    void theSameDirectoryTwiceThrowsNamingBothJobs() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> index(
                root("/srv/shared", "alpha", "cache"), root("/srv/other", "beta", "rootfs"),
                root("/srv/shared", "gamma", "workspace")));
        assertTrue(e.getMessage().contains("alpha"), e.getMessage());
        assertTrue(e.getMessage().contains("gamma"), e.getMessage());
        assertTrue(e.getMessage().contains("/srv/shared"), e.getMessage());
        // Within one job, in two roles.
        IllegalArgumentException same = assertThrows(IllegalArgumentException.class, () -> index(
                root("/srv/x", "j", "workspace"), root("/srv/x", "j", "export")));
        assertTrue(same.getMessage().contains("workspace") && same.getMessage().contains("export"),
                same.getMessage());
    }

    @Test
    void slashTwiceThrowsToo() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> index(
                root("/", "alpha", "rootfs"), root("/", "beta", "rootfs")),
                "\"/\" given by two jobs must be refused like any other directory given twice");
        assertTrue(e.getMessage().contains("alpha") && e.getMessage().contains("beta"), e.getMessage());
    }

    @Test
    void prefixesThatAreNotEqualAreNoDuplicates() {
        JobIndex idx = index(root("/a", "1", "rootfs"), root("/a/b", "2", "rootfs"), root("/ab", "3", "rootfs"),
                root("/a/bc", "4", "rootfs"));
        assertEquals("2", idx.lookup(dirName("/a/b", "c")).jobId());
        assertEquals("4", idx.lookup(dirName("/a", "bc")).jobId());
        assertEquals("3", idx.lookup(dirName("/", "ab")).jobId());
        assertEquals("1", idx.lookup(dirName("/a", "abc")).jobId());
    }

    // -------------------------------------------------------------------------------------------- property

    private static final String[] ALPHABET = {"a", "ab", "b", "a.b", "ba", "aa", "x", "a-"};

    static Stream<Long> seeds() {
        return LongStream.range(0, 300).mapToObj(i -> 0x5eedL * 1_000_003L + i);
    }

    static String randomPath(Random rnd, int minDepth, int maxDepth) {
        int depth = minDepth + rnd.nextInt(maxDepth - minDepth + 1);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < depth; i++) {
            sb.append('/').append(ALPHABET[rnd.nextInt(ALPHABET.length)]);
        }
        return sb.toString();
    }

    /** The naive model: every root checked, the longest containing one kept. */
    static JobIndex.Root model(List<JobIndex.Root> roots, String path) {
        JobIndex.Root best = null;
        for (JobIndex.Root r : roots) {
            String rp = new String(r.path(), StandardCharsets.UTF_8);
            boolean contains = rp.equals("/") || path.equals(rp) || path.startsWith(rp + "/");
            if (contains && (best == null || r.path().length > best.path().length)) {
                best = r;
            }
        }
        return best;
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void agreesWithTheNaiveModel(long seed) {
        Random rnd = new Random(seed);
        int n = 1 + rnd.nextInt(50);
        Map<String, JobIndex.Root> byPath = new LinkedHashMap<>();
        String[] roles = {"rootfs", "workspace", "export", "cache"};
        boolean withSlash = rnd.nextInt(10) == 0;
        if (withSlash) {
            byPath.put("/", root("/", "slash", "rootfs"));
        }
        for (int i = 0; byPath.size() < n + (withSlash ? 1 : 0) && i < n * 20; i++) {
            String p;
            if (!byPath.isEmpty() && rnd.nextInt(3) == 0) {
                // Nested under an existing root, or a sibling sharing a prefix with one.
                List<String> existing = new ArrayList<>(byPath.keySet());
                String base = existing.get(rnd.nextInt(existing.size()));
                p = rnd.nextBoolean() || base.equals("/") ? (base.equals("/") ? "" : base) + randomPath(rnd, 1, 2)
                        : base + ALPHABET[rnd.nextInt(ALPHABET.length)];
            } else {
                p = randomPath(rnd, 1, 5);
            }
            byPath.putIfAbsent(p, root(p, "job" + rnd.nextInt(8), roles[rnd.nextInt(roles.length)]));
        }
        List<JobIndex.Root> roots = new ArrayList<>(byPath.values());
        java.util.Collections.shuffle(roots, rnd);
        JobIndex idx = new JobIndex(roots);
        List<String> rootPaths = new ArrayList<>(byPath.keySet());
        for (int q = 0; q < 400; q++) {
            String path;
            int kind = rnd.nextInt(5);
            String someRoot = rootPaths.get(rnd.nextInt(rootPaths.size()));
            String base = someRoot.equals("/") ? "" : someRoot;
            path = switch (kind) {
                case 0 -> someRoot;                                                 // a root itself
                case 1 -> base + randomPath(rnd, 1, 4);                             // below a root
                case 2 -> (base.isEmpty() ? "/" : base) + ALPHABET[rnd.nextInt(ALPHABET.length)] // prefix sibling
                        + (rnd.nextBoolean() ? "" : randomPath(rnd, 1, 2));
                case 3 -> someRoot.length() > 2                                    // a strict string prefix
                        ? someRoot.substring(0, 1 + rnd.nextInt(someRoot.length() - 1)) : "/";
                default -> rnd.nextInt(20) == 0 ? "/" : randomPath(rnd, 1, 7);      // anywhere
            };
            if (path.length() > 1 && path.endsWith("/")) {
                path = path.substring(0, path.length() - 1);
            }
            assertTrue(path.startsWith("/"), path);
            JobIndex.Root expected = model(roots, path);
            PathRef ref;
            int slash = path.lastIndexOf('/');
            if (path.length() > 1 && rnd.nextBoolean()) {
                ref = dirName(slash == 0 ? "/" : path.substring(0, slash), path.substring(slash + 1));
            } else {
                ref = dirOnly(path);
            }
            JobIndex.Root got = idx.lookup(ref);
            if (got != expected) {
                fail("seed " + seed + ", roots " + rootPaths + ": " + describe(ref) + " (path '" + path + "'): expected "
                        + describe(expected) + ", got " + describe(got));
            }
        }
    }

    // -------------------------------------------------------------------------------------------- scale

    @Test
    void oneHundredThousandRoots() {
        int n = 100_000;
        List<JobIndex.Root> roots = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            roots.add(root("/srv/jobs/" + Integer.toString(i, 36) + "/root", "job-" + i, "rootfs"));
        }
        // A nested one, so that the lookup has a longer match to find.
        JobIndex.Root nested = root("/srv/jobs/" + Integer.toString(77_777, 36) + "/root/work", "job-77777",
                "workspace");
        roots.add(nested);
        JobIndex idx = new JobIndex(roots);
        JobIndex.Root r = idx.lookup(dirName("/srv/jobs/" + Integer.toString(12_345, 36) + "/root/usr/bin", "cc"));
        assertEquals("job-12345", r.jobId());
        assertEquals("rootfs", r.role());
        assertSame(nested, idx.lookup(dirName("/srv/jobs/" + Integer.toString(77_777, 36) + "/root/work", "o.o")));
        assertEquals("job-77777", idx.lookup(dirOnly("/srv/jobs/" + Integer.toString(77_777, 36) + "/root/worker"))
                .jobId());
        assertNull(idx.lookup(dirName("/srv/jobs/" + Integer.toString(n, 36), "root")));
        assertNull(idx.lookup(dirOnly("/srv/jobs/" + Integer.toString(12_345, 36) + "/rootx")));
        for (int i = 0; i < n; i += 997) {
            assertEquals("job-" + i, idx.lookup(dirOnly("/srv/jobs/" + Integer.toString(i, 36) + "/root/f")).jobId(),
                    HexFormat.of().toHexDigits(i));
        }
    }
}
