package io.fanotifyd.it;

import static io.fanotifyd.it.FileEventsIT.has;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * File names that are hard to put into JSON: control bytes, quotes, backslashes, line separators, emoji,
 * NAME_MAX, invalid UTF-8, leading '-', only spaces; and a path longer than 1000 bytes. The files are made by
 * /bin/sh from octal escapes, so each name is exactly the bytes the test expects. Every record must stay one
 * line of valid UTF-8 JSON; {@code name}/{@code path} must read as {@code new String(bytes, UTF_8)}; and a name
 * that is not UTF-8 must also come back losslessly in {@code name_b64}/{@code path_b64} (absent otherwise).
 */
@Tag("kernel")
class HostileNamesIT {
    private static final ObjectMapper STRICT = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final List<String> STRING_FIELDS = List.of("path", "name", "old_path", "old_name", "comm", "exe");

    /** A file name to create: a label for messages and its exact bytes. */
    record Name(String label, byte[] bytes) {
        @Override
        public String toString() {
            return label;
        }
    }

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    static byte[] b(Object... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Object p : parts) {
            if (p instanceof String s) {
                out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
            } else if (p instanceof Integer i) {
                out.write(i);
            } else if (p instanceof byte[] a) {
                out.writeBytes(a);
            } else {
                throw new IllegalArgumentException(String.valueOf(p));
            }
        }
        return out.toByteArray();
    }

    static List<Name> names() {
        List<Name> n = new ArrayList<>();
        n.add(new Name("newline", b("nl", 0x0a, "x")));
        n.add(new Name("trailing newline", b("nl-end", 0x0a)));
        n.add(new Name("carriage return", b("cr", 0x0d, "x")));
        n.add(new Name("tab", b("tab", 0x09, "x")));
        n.add(new Name("double quotes", b("q\"uo\"te\"")));
        n.add(new Name("backslash", b("back\\slash\\")));
        n.add(new Name("json-looking", b("\",\"name\":\"evil\"}\n{\"x\":\"")));
        ByteArrayOutputStream controls = new ByteArrayOutputStream();
        controls.writeBytes(b("ctl-"));
        for (int c = 0x01; c <= 0x1f; c++) {
            controls.write(c);
        }
        n.add(new Name("every control byte 0x01-0x1f", controls.toByteArray()));
        n.add(new Name("DEL", b("del", 0x7f, "x")));
        n.add(new Name("U+2028", b("ls\u2028x")));
        n.add(new Name("U+2029", b("ps\u2029x")));
        n.add(new Name("emoji", b("emoji-\uD83D\uDE00\uD83D\uDC4D\uD83C\uDFFD")));
        n.add(new Name("255-byte ASCII", b("long-", "x".repeat(250))));
        n.add(new Name("255-byte emoji", b("\uD83D\uDE00".repeat(63), "abc")));
        n.add(new Name("255-byte ending in a truncated sequence", b("t".repeat(253), 0xe2, 0x82)));
        n.add(new Name("lone 0xff", b(0xff)));
        n.add(new Name("0xff inside", b("ff-", 0xff, "-x")));
        n.add(new Name("overlong 0xc0 0xaf", b("overlong-", 0xc0, 0xaf)));
        n.add(new Name("surrogate 0xed 0xa0 0x80", b("surrogate-", 0xed, 0xa0, 0x80)));
        n.add(new Name("truncated 0xe2 0x82", b("truncated-", 0xe2, 0x82)));
        n.add(new Name("truncated then ASCII", b("trunc-mid-", 0xe2, 0x82, "z")));
        n.add(new Name("invalid with newline and quote", b("mix-", 0xfe, 0x0a, "\"", 0xc3)));
        n.add(new Name("only spaces", b("   ")));
        n.add(new Name("leading dash", b("-rf --help")));
        n.add(new Name("leading dash and invalid", b("--", 0xff)));
        n.add(new Name("looks deleted", b("gone (deleted)")));
        for (Name x : n) {
            if (x.bytes().length > 255) {
                throw new IllegalStateException(x.label() + " is longer than NAME_MAX");
            }
        }
        return n;
    }

    /** A printf(1) format of octal escapes for {@code bytes} followed by '/', for {@code n=$(printf ...)}. */
    static String printfFormat(byte[] bytes) {
        StringBuilder s = new StringBuilder("'");
        for (byte x : bytes) {
            s.append(String.format("\\%03o", x & 0xff));
        }
        return s.append("/'").toString();
    }

    /**
     * A script that sets {@code $n} to exactly {@code name}: the trailing '/' (never in a name) keeps $(...)
     * from eating trailing newlines.
     */
    static String setName(byte[] name) {
        return "n=$(printf " + printfFormat(name) + "); n=${n%/}; ";
    }

    static boolean isUtf8(byte[] bytes) {
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    static byte[] concat(byte[] a, byte[] c) {
        byte[] r = Arrays.copyOf(a, a.length + c.length);
        System.arraycopy(c, 0, r, a.length, c.length);
        return r;
    }

    static byte[] pathBytes(Path dir, byte[] name) {
        return concat((dir + "/").getBytes(StandardCharsets.UTF_8), name);
    }

    static byte[] b64(JsonNode r, String field) {
        JsonNode v = r.get(field + "_b64");
        return v == null ? null : Base64.getDecoder().decode(v.asText());
    }

    /** The record of {@code event} for exactly these path bytes (by path_b64 or by path text). */
    static JsonNode awaitPath(Daemon d, String event, byte[] path, String what) throws IOException {
        String lossy = new String(path, StandardCharsets.UTF_8);
        return d.await(r -> has(r, event) && (Arrays.equals(path, b64(r, "path"))
                || (r.get("path_b64") == null && lossy.equals(r.path("path").asText()))), event + " " + what, 10);
    }

    /** path/name (and their _b64) of {@code r} are exactly {@code dir + "/" + name}. */
    static void assertNamed(JsonNode r, String prefix, Path dir, byte[] name, String what) {
        byte[] path = pathBytes(dir, name);
        String ctx = what + ": " + r;
        assertEquals(new String(name, StandardCharsets.UTF_8), r.path(prefix + "name").asText(null),
                prefix + "name of " + ctx);
        assertEquals(dir + "/" + new String(name, StandardCharsets.UTF_8), r.path(prefix + "path").asText(null),
                prefix + "path of " + ctx);
        if (isUtf8(name)) {
            assertFalse(r.has(prefix + "name_b64"), prefix + "name_b64 for a UTF-8 name in " + ctx);
            assertFalse(r.has(prefix + "path_b64"), prefix + "path_b64 for a UTF-8 path in " + ctx);
        } else {
            assertNotNull(r.get(prefix + "name_b64"), prefix + "name_b64 missing in " + ctx);
            assertNotNull(r.get(prefix + "path_b64"), prefix + "path_b64 missing in " + ctx);
            assertArrayEquals(name, b64(r, prefix + "name"), prefix + "name_b64 of " + ctx);
            assertArrayEquals(path, b64(r, prefix + "path"), prefix + "path_b64 of " + ctx);
        }
    }

    /**
     * The whole output: valid UTF-8 (strict decoder), one JSON object per '\n'-terminated line, as many lines as
     * records in the stream, and every {@code <field>_b64} consistent with its field. Returns the records.
     */
    static List<JsonNode> assertWellFormedOutput(Path out) throws IOException {
        byte[] all = Files.readAllBytes(out);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(all)).toString();
        } catch (CharacterCodingException e) {
            throw new AssertionError("output is not valid UTF-8: " + e, e);
        }
        assertTrue(all.length > 0 && all[all.length - 1] == '\n', "output does not end with a newline");
        // Records counted as a stream of JSON values, regardless of line breaks.
        int streamed = 0;
        try (JsonParser p = STRICT.getFactory().createParser(text)) {
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                assertEquals(JsonToken.START_OBJECT, t, "a top-level value that is not an object at "
                        + p.currentLocation());
                p.skipChildren();
                streamed++;
            }
        }
        List<JsonNode> records = new ArrayList<>();
        int start = 0;
        int lines = 0;
        for (int i = 0; i < all.length; i++) {
            if (all[i] != '\n') {
                continue;
            }
            lines++;
            String line = new String(all, start, i - start, StandardCharsets.UTF_8);
            JsonNode r;
            try {
                r = STRICT.readTree(line);
            } catch (IOException e) {
                throw new AssertionError("line " + lines + " is not one JSON object: " + line, e);
            }
            assertTrue(r != null && r.isObject(), "line " + lines + " is not a JSON object: " + line);
            records.add(r);
            start = i + 1;
        }
        assertEquals(streamed, lines, "records in the stream vs '\\n'-separated lines");
        for (JsonNode r : records) {
            for (String f : STRING_FIELDS) {
                JsonNode b = r.get(f + "_b64");
                if (b == null) {
                    continue;
                }
                byte[] raw = Base64.getDecoder().decode(b.asText());
                assertFalse(isUtf8(raw), f + "_b64 for bytes that are UTF-8 in " + r);
                assertEquals(new String(raw, StandardCharsets.UTF_8), r.path(f).asText(null),
                        f + " vs " + f + "_b64 in " + r);
            }
        }
        return records;
    }

    static TestMount mount(String fs) throws IOException {
        return fs.equals("ext4") ? TestMount.ext4() : TestMount.tmpfs();
    }

    /** {@code MODE-FS}: FID mode (CREATE records) or FD mode ({@code --no-fid}, CLOSE_WRITE) on tmpfs or ext4. */
    @ParameterizedTest
    @ValueSource(strings = {"fid-tmpfs", "fd-tmpfs", "fid-ext4", "fd-ext4"})
    void hostileNamesStayOneValidJsonLineAndRoundTrip(String variant) throws IOException {
        boolean fid = variant.startsWith("fid");
        String event = fid ? "CREATE" : "CLOSE_WRITE";
        List<Name> names = names();
        try (TestMount m = mount(variant.substring(variant.indexOf('-') + 1))) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path out = m.outside("out.jsonl");
            List<String> args = new ArrayList<>();
            if (!fid) {
                args.add("--no-fid");
            }
            args.add("--watch");
            args.add(dir.toString());
            try (Daemon d = Daemon.start(out, 1, args.toArray(String[]::new))) {
                StringBuilder script = new StringBuilder("cd " + dir + " && ");
                for (Name n : names) {
                    // ': >' is a shell builtin: the shell itself creates, opens for writing and closes.
                    // A failed redirection makes sh exit non-zero, so Shell.run fails for a name not made.
                    script.append(setName(n.bytes())).append(": > \"$n\"; ");
                }
                script.append("true");
                Shell.run(script.toString());

                for (Name n : names) {
                    JsonNode r = awaitPath(d, event, pathBytes(dir, n.bytes()), n.label());
                    assertNamed(r, "", dir, n.bytes(), n.label());
                    assertFalse(r.get("is_dir").asBoolean(), n.label() + ": " + r);
                }

                if (fid) {
                    byte[] from = b("ren-src-", 0xff, 0x0a, "\"");
                    byte[] to = b("ren-dst-", 0xc0, 0xaf, "\\", 0xed, 0xa0, 0x80);
                    Shell.run("cd " + dir + " && " + setName(from) + ": > \"$n\"; f=$n; " + setName(to)
                            + "exec mv -- \"$f\" \"$n\"");
                    JsonNode rename = awaitPath(d, "RENAME", pathBytes(dir, to), "invalid to invalid");
                    assertNamed(rename, "", dir, to, "RENAME new side");
                    assertNamed(rename, "old_", dir, from, "RENAME old side");

                    byte[] valid = b("ren-valid-\u00e9");
                    Shell.run("cd " + dir + " && " + setName(to) + "f=$n; " + setName(valid)
                            + "exec mv -- \"$f\" \"$n\"");
                    JsonNode back = awaitPath(d, "RENAME", pathBytes(dir, valid), "invalid to valid");
                    assertNamed(back, "", dir, valid, "RENAME to a valid name");
                    assertNamed(back, "old_", dir, to, "RENAME from an invalid name");
                }
                assertEquals(0, d.stop(), "exit code; stderr: " + d.stderr());
                List<JsonNode> records = assertWellFormedOutput(out);
                assertTrue(records.size() >= names.size(), "records: " + records.size());
            }
        }
    }

    /** Directory names making the full path longer than 1000 bytes, under a mount mark, in both modes. */
    @ParameterizedTest
    @ValueSource(strings = {"fid", "fd"})
    void deepPathUnderMountMark(String mode) throws IOException {
        boolean fid = mode.equals("fid");
        try (TestMount m = TestMount.tmpfs()) {
            // Six 200-byte directory names, one of them not UTF-8 and one with a newline: path > 1200 bytes.
            List<byte[]> dirs = List.of(
                    b("a".repeat(200)),
                    b("b".repeat(190), 0xff, "bbbbbbbbb"),
                    b("c".repeat(100), 0x0a, "c".repeat(99)),
                    b("\uD83D\uDE00".repeat(50)),
                    b("e".repeat(199), "\""),
                    b("f".repeat(200)));
            StringBuilder mk = new StringBuilder("cd " + m.root() + " && ");
            byte[] deep = m.root().toString().getBytes(StandardCharsets.UTF_8);
            for (byte[] dirName : dirs) {
                mk.append(setName(dirName)).append("mkdir -- \"$n\" && cd -P -- \"$n\" && ");
                deep = concat(concat(deep, b("/")), dirName);
            }
            mk.append("true");
            Shell.run(mk.toString());
            assertTrue(deep.length > 1000, "deep path is " + deep.length + " bytes");

            Path out = m.outside("out.jsonl");
            List<String> args = new ArrayList<>();
            if (!fid) {
                args.add("--no-fid");
            }
            args.add("--mount");
            args.add(m.root().toString());
            int marks = 1; // --mount: one mount mark (see Marks)
            try (Daemon d = Daemon.start(out, marks, args.toArray(String[]::new))) {
                byte[] name = b("leaf-", 0xe2, 0x82, 0x0a, "\u2028");
                Shell.run("cd " + m.root() + " && " + cdDeep(dirs) + setName(name) + ": > \"$n\"");

                byte[] path = concat(concat(deep, b("/")), name);
                // A mount mark reports writes and closes, not creates (README, Marks), in both modes.
                JsonNode r = awaitPath(d, "CLOSE_WRITE", path, "deep leaf");
                assertEquals(new String(name, StandardCharsets.UTF_8), r.path("name").asText(null), "name: " + r);
                assertEquals(new String(path, StandardCharsets.UTF_8), r.path("path").asText(null), "path: " + r);
                assertArrayEquals(path, b64(r, "path"), "path_b64: " + r);
                assertArrayEquals(name, b64(r, "name"), "name_b64: " + r);
                if (fid) {
                    // A UTF-8 name under a non-UTF-8 directory: path_b64 but no name_b64.
                    Shell.run("cd " + m.root() + " && " + cdDeep(dirs) + ": > sub");
                    JsonNode sub = awaitPath(d, "CLOSE_WRITE", concat(deep, b("/sub")), "a file in the deep dir");
                    assertEquals("sub", sub.path("name").asText(null), "name: " + sub);
                    assertFalse(sub.has("name_b64"), "name_b64 of a UTF-8 name: " + sub);
                    assertArrayEquals(concat(deep, b("/sub")), b64(sub, "path"), "path_b64 of " + sub);
                    assertFalse(sub.get("is_dir").asBoolean(), "is_dir: " + sub);
                }
                assertEquals(0, d.stop(), "exit code; stderr: " + d.stderr());
                assertWellFormedOutput(out);
            }
        }
    }

    /** {@code levels} directories of 250 bytes each, made under {@code root}; returns their names. */
    static List<byte[]> makeDeep(Path root, int levels) throws IOException {
        List<byte[]> dirs = new ArrayList<>();
        for (int i = 0; i < levels; i++) {
            dirs.add(b(String.format("%03d", i), (i % 2 == 0 ? "d" : "\u00e9").repeat(i % 2 == 0 ? 247 : 123),
                    i % 2 == 0 ? "" : "x"));
        }
        StringBuilder mk = new StringBuilder("cd " + root + " && ");
        for (byte[] dirName : dirs) {
            mk.append(setName(dirName)).append("mkdir -- \"$n\" && cd -P -- \"$n\" && ");
        }
        Shell.run(mk.append("true").toString());
        return dirs;
    }

    static byte[] joined(Path root, List<byte[]> dirs) {
        byte[] p = root.toString().getBytes(StandardCharsets.UTF_8);
        for (byte[] d : dirs) {
            p = concat(concat(p, b("/")), d);
        }
        return p;
    }

    /**
     * FID mode names an entry by its directory's handle plus the name, so a file whose full path is longer
     * than PATH_MAX (in a directory whose path is not) still gets its whole path.
     */
    @Test
    void pathLongerThanPathMaxInFidMode() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            List<byte[]> dirs = makeDeep(m.root(), 16); // about 4060 bytes
            byte[] dir = joined(m.root(), dirs);
            assertTrue(dir.length < 4095, "directory path of " + dir.length + " bytes");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--mount", m.root().toString())) {
                byte[] name = b("n".repeat(250), 0xff, 0x0a, "end");
                Shell.run("cd " + m.root() + " && " + cdDeep(dirs) + setName(name) + ": > \"$n\"");
                byte[] path = concat(concat(dir, b("/")), name);
                assertTrue(path.length > 4096, "path of " + path.length + " bytes");
                JsonNode r = awaitPath(d, "CLOSE_WRITE", path, "beyond PATH_MAX");
                assertEquals(new String(path, StandardCharsets.UTF_8), r.path("path").asText(null), "path: " + r);
                assertEquals(new String(name, StandardCharsets.UTF_8), r.path("name").asText(null), "name: " + r);
                assertArrayEquals(name, b64(r, "name"), "name_b64: " + r);
                assertEquals(0, d.stop(), "exit code; stderr: " + d.stderr());
                assertWellFormedOutput(m.outside("out.jsonl"));
            }
        }
    }

    /**
     * A directory whose own path is longer than PATH_MAX cannot be resolved (readlink of /proc/self/fd/N fails
     * with ENAMETOOLONG), so {@code path} is null. But the kernel still reported the entry's name, and the
     * README says {@code name} is "for FID events the name the kernel reported".
     */
    @Test
    void nameIsReportedWhenTheDirectoryIsTooDeepToResolve() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            List<byte[]> dirs = makeDeep(m.root(), 17); // about 4310 bytes
            assertTrue(joined(m.root(), dirs).length > 4096, "directory path not beyond PATH_MAX");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--mount", m.root().toString())) {
                long pid = Shell.run("cd " + m.root() + " && " + cdDeep(dirs) + ": > leaf-in-too-deep-dir");
                JsonNode r = d.await(r2 -> has(r2, "CLOSE_WRITE") && r2.get("pid").asLong() == pid,
                        "CLOSE_WRITE by the shell", 10);
                assertEquals("leaf-in-too-deep-dir", r.path("name").asText(null), "name: " + r);
            }
        }
    }

    private static String cdDeep(List<byte[]> dirs) {
        StringBuilder s = new StringBuilder();
        for (byte[] dirName : dirs) {
            s.append(setName(dirName)).append("cd -P -- \"$n\" && ");
        }
        return s.toString();
    }

    /**
     * A process whose executable has a hostile name: {@code comm} (15 bytes at most, cut by the kernel, here in
     * the middle of an emoji) and {@code exe} follow the same rules as names.
     */
    @ParameterizedTest
    @ValueSource(strings = {"invalid", "cut-emoji"})
    void hostileExecutableNameInCommAndExe(String variant) throws IOException {
        byte[] exeName = variant.equals("invalid") ? b("b", 0x0a, "x", 0xff, "\"y")
                : b("fourteen-bytes", "\uD83D\uDE00"); // comm keeps 15 bytes: the emoji's first byte only
        byte[] comm = Arrays.copyOf(exeName, Math.min(15, exeName.length));
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            byte[] exe = pathBytes(m.root(), exeName);
            Shell.run("cd " + m.root() + " && " + setName(exeName) + "cp /bin/dash \"$n\"");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString())) {
                // The copy of dash opens the file and stays alive for a second, so /proc still shows it.
                long pid = Shell.run("cd " + m.root() + " && " + setName(exeName) + "exec ./\"$n\" -c ': > "
                        + dir + "/by-hostile-exe; sleep 1'");
                JsonNode r = d.await(r2 -> has(r2, "CREATE") && r2.get("pid").asLong() == pid
                        && "by-hostile-exe".equals(r2.path("name").asText()), "CREATE by the hostile exe", 10);
                assertEquals(new String(comm, StandardCharsets.UTF_8), r.path("comm").asText(null), "comm: " + r);
                assertEquals(new String(exe, StandardCharsets.UTF_8), r.path("exe").asText(null), "exe: " + r);
                assertFalse(isUtf8(comm), "test premise: comm is not UTF-8");
                assertArrayEquals(comm, b64(r, "comm"), "comm_b64: " + r);
                if (isUtf8(exe)) {
                    assertFalse(r.has("exe_b64"), "exe_b64 of a UTF-8 exe: " + r);
                } else {
                    assertArrayEquals(exe, b64(r, "exe"), "exe_b64: " + r);
                }
                assertFalse(r.has("name_b64") || r.has("path_b64"), "b64 of a UTF-8 name: " + r);
                assertEquals(0, d.stop(), "exit code; stderr: " + d.stderr());
                assertWellFormedOutput(m.outside("out.jsonl"));
            }
        }
    }

    /**
     * A watched directory whose own name is not UTF-8. The JVM decodes argv as UTF-8 (the launcher sets a
     * UTF-8 locale), so 0xff arrives as U+FFFD and the daemon looks for a directory that does not exist.
     */
    @Test
    void watchedDirectoryWithANonUtf8Name() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            byte[] dirName = b("w", 0xff, "d");
            byte[] dir = pathBytes(m.root(), dirName);
            Path out = m.outside("out.jsonl");
            Path err = m.outside("stderr.txt");
            Shell.run("cd " + m.root() + " && " + setName(dirName) + "mkdir -- \"$n\"");
            // Only a shell can pass these bytes as an argument; exec keeps the pid.
            Process p = new ProcessBuilder("/bin/sh", "-c", "cd " + m.root() + " && " + setName(dirName) + "exec "
                    + KernelSupport.launcher() + " --foreground -o " + out + " --watch \"" + m.root() + "/$n\"")
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
            try {
                try {
                    Daemon.awaitMarks(p.pid(), 1);
                } catch (IOException e) {
                    throw new AssertionError(e.getMessage() + "; stderr: " + Files.readString(err), e);
                }
                Shell.run("cd " + m.root() + " && " + setName(dirName) + ": > \"$n/f\"");
                byte[] path = concat(dir, b("/f"));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                JsonNode found = null;
                while (found == null && System.nanoTime() < deadline) {
                    for (JsonNode r : Daemon.parse(out)) {
                        if (has(r, "CREATE") && Arrays.equals(path, b64(r, "path"))) {
                            found = r;
                        }
                    }
                    Daemon.sleep(20);
                }
                assertNotNull(found, "no CREATE of f in the non-UTF-8 directory: " + Daemon.parse(out));
                assertEquals(new String(path, StandardCharsets.UTF_8), found.path("path").asText(null));
                assertEquals("f", found.path("name").asText(null));
            } finally {
                p.destroyForcibly(); // this pid only
                try {
                    p.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** Guards the helpers: the shell really makes the exact bytes (else every other check is moot). */
    @Test
    void shellMakesTheExactBytes() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            for (Name n : names()) {
                Path listing = m.outside("listing");
                // od prints each byte in octal; compare with what we asked for.
                Shell.run("cd " + dir + " && " + setName(n.bytes()) + ": > \"$n\"; ls -A | od -An -v -to1 > "
                        + listing + "; rm -f -- \"$n\"");
                String od = Files.readString(listing).replaceAll("\\s+", " ").trim();
                StringBuilder want = new StringBuilder();
                for (byte x : concat(n.bytes(), b("\n"))) {
                    want.append(String.format("%03o ", x & 0xff));
                }
                if (!want.toString().trim().equals(od)) {
                    fail(n.label() + ": made " + od + ", wanted " + want);
                }
            }
        }
    }
}
