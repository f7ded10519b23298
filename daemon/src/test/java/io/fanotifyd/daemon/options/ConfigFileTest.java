package io.fanotifyd.daemon.options;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.kernel.PathCodec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ConfigFileTest {
    @TempDir
    Path dir;

    private Path conf;

    @BeforeEach
    void setUp() {
        conf = dir.resolve("f.conf");
    }

    private Settings load(String content, String... moreArgs) throws IOException {
        Files.writeString(conf, content, UTF_8);
        String[] args = Stream.concat(Stream.of("-c", conf.toString()), Arrays.stream(moreArgs))
                .toArray(String[]::new);
        return OptionParser.parse(args, dir.toString());
    }

    private void assertError(String expectedAfterFileName, String content) throws IOException {
        Files.writeString(conf, content, UTF_8);
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"-c", conf.toString()}, dir.toString()));
        assertEquals(conf + ":" + expectedAfterFileName, e.getMessage());
    }

    @Test
    void everySupportedKey() throws IOException {
        Settings s = load("""
                watch /w1
                watch /w2
                mount /m
                filesystem /fs
                output /var/log/f.jsonl
                pid_file /run/f.pid
                log_file /var/log/f.log
                foreground 1
                no_fid yes
                verbose 2
                events +access,-attrib
                queue_size kernel
                batch_delay_us 250
                perm_spin_us 0
                """);
        assertEquals(Action.RUN, s.action());
        assertEquals(Optional.of(conf.toString()), s.config());
        assertEquals(List.of("/w1", "/w2"), s.watches());
        assertEquals(List.of("/m"), s.mounts());
        assertEquals(List.of("/fs"), s.filesystems());
        assertEquals(Optional.of("/var/log/f.jsonl"), s.output());
        assertEquals(Optional.of("/run/f.pid"), s.pidFile());
        assertEquals(Optional.of("/var/log/f.log"), s.logFile());
        assertTrue(s.foreground());
        assertTrue(s.noFid());
        assertEquals(2, s.verbosity());
        assertEquals(new EventSelection(List.of("+access", "-attrib"), true), s.events());
        assertEquals(QueueSize.KERNEL, s.queueSize());
        assertEquals(250, s.batchDelayUs());
        assertEquals(0, s.permSpinUs());
    }

    @Test
    void emptyFileGivesDefaults() throws IOException {
        Settings s = load("");
        assertEquals(Settings.defaults().watches(), s.watches());
        assertEquals(Optional.of(conf.toString()), s.config());
        assertFalse(s.foreground());
    }

    @Test
    void outputDashMeansStdout() throws IOException {
        assertTrue(load("output -\n").outputIsStdout());
    }

    @Test
    void queueSizeWordsAndEventLists() throws IOException {
        assertEquals(QueueSize.KERNEL, load("queue_size kernel").queueSize());
        assertEquals(QueueSize.UNLIMITED, load("queue_size Unlimited").queueSize());
        assertEquals(new EventSelection(List.of("create", "delete", "ondir"), false),
                load("events create, delete , ONDIR").events());
    }

    @Test
    void commentsAndBlankLines() throws IOException {
        Settings s = load("""
                # a comment
                   # an indented comment

                watch /a # trailing comment
                watch /b\t# after a tab
                watch /c#1
                watch /d #1 # two
                watch /e#
                #watch /never
                """);
        assertEquals(List.of("/a", "/b", "/c#1", "/d", "/e#"), s.watches());
    }

    @Test
    void whitespaceRules() throws IOException {
        Settings s = load("   watch    /my dir/with  spaces   \n\twatch\t/tabbed\t\r\nforeground\r\n  \t  \n");
        assertEquals(List.of("/my dir/with  spaces", "/tabbed"), s.watches());
        assertTrue(s.foreground());
    }

    @Test
    void aByteOrderMarkIsIgnored() throws IOException {
        assertEquals(List.of("/a"), load("\uFEFFwatch /a\n").watches());
    }

    @Test
    void noFinalNewlineIsFine() throws IOException {
        assertEquals(List.of("/a", "/b"), load("watch /a\nwatch /b").watches());
    }

    @Test
    void utf8Paths() throws IOException {
        assertEquals(List.of("/srv/données/日本"), load("watch /srv/données/日本\n").watches());
    }

    @ParameterizedTest
    @CsvSource({"1,true", "0,false", "true,true", "false,false", "yes,true", "no,false", "on,true",
            "off,false", "TRUE,true", "No,false", "ON,true", "Off,false"})
    void booleanWords(String word, boolean expected) throws IOException {
        Settings s = load("foreground " + word + "\nno_fid " + word + "\n");
        assertEquals(expected, s.foreground());
        assertEquals(expected, s.noFid());
    }

    @Test
    void aBooleanKeyAloneMeansTrue() throws IOException {
        Settings s = load("foreground\nno_fid   # comment\n");
        assertTrue(s.foreground());
        assertTrue(s.noFid());
    }

    @Test
    void badBoolean() throws IOException {
        assertError("2: foreground: not a boolean: 'maybe' (expected 1/0, true/false, yes/no or on/off)",
                "# x\nforeground maybe\n");
        assertError("1: no_fid: not a boolean: '2' (expected 1/0, true/false, yes/no or on/off)", "no_fid 2");
    }

    @ParameterizedTest
    @CsvSource({"verbose 3,3", "verbose,1", "verbose 0,0", "verbose yes,1", "verbose off,0", "verbose true,1",
            "verbose 007,7"})
    void verboseInConfig(String line, int expected) throws IOException {
        assertEquals(expected, load(line + "\n").verbosity());
    }

    @Test
    void badVerbose() throws IOException {
        assertError("1: verbose: out of range: '-1' (0..2147483647)", "verbose -1");
        assertError("1: verbose: not a number: 'lots'", "verbose lots");
    }

    @Test
    void aRepeatedScalarKeyLastOneWins() throws IOException {
        Settings s = load("output /a\nqueue_size unlimited\nverbose 3\noutput /b\nqueue_size kernel\nverbose 1\n");
        assertEquals(Optional.of("/b"), s.output());
        assertEquals(QueueSize.KERNEL, s.queueSize());
        assertEquals(1, s.verbosity());
        assertFalse(load("foreground 1\nforeground off\n").foreground());
    }

    @Test
    void relativePathsResolveAgainstTheCurrentDirectoryNotTheConfigFile() throws IOException {
        Path sub = Files.createDirectory(dir.resolve("sub"));
        conf = sub.resolve("f.conf");
        Settings s = load("watch data/../x\noutput out.jsonl\npid_file ./f.pid\nlog_file l.log\nmount m\n"
                + "filesystem fs\n");
        assertEquals(List.of(dir + "/data/../x"), s.watches());
        assertEquals(Optional.of(dir + "/out.jsonl"), s.output());
        assertEquals(Optional.of(dir + "/./f.pid"), s.pidFile());
        assertEquals(Optional.of(dir + "/l.log"), s.logFile());
        assertEquals(List.of(dir + "/m"), s.mounts());
        assertEquals(List.of(dir + "/fs"), s.filesystems());
    }

    @Test
    void aRelativeConfigPathIsResolvedAndNamedAsTyped() throws IOException {
        Files.writeString(dir.resolve("rel.conf"), "watch /a\n\nwach /b\n");
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"--config=rel.conf"}, dir.toString()));
        assertEquals("rel.conf:3: unknown key 'wach' (did you mean 'watch'?)", e.getMessage());

        Files.writeString(dir.resolve("rel.conf"), "watch /a\n");
        Settings s = OptionParser.parse(new String[] {"-crel.conf"}, dir.toString());
        assertEquals(Optional.of(dir + "/rel.conf"), s.config());
        assertTrue(s.config().orElseThrow().startsWith("/"));
        assertEquals(List.of("/a"), s.watches());
    }

    @Test
    void unknownKeys() throws IOException {
        assertError("3: unknown key 'wach' (did you mean 'watch'?)", "watch /a\n\nwach /b\n");
        assertError("1: unknown key 'pid-file' (did you mean 'pid_file'?)", "pid-file /x");
        assertError("1: unknown key 'Foreground' (did you mean 'foreground'?)", "Foreground 1");
        assertError("1: unknown key '--watch' (did you mean 'watch'?)", "--watch /a");
        assertError("1: unknown key 'xyzzy'", "xyzzy 1");
        assertError("1: unknown key 'help'", "help");
        assertError("1: unknown key 'version'", "version");
        // "#" glued to the key is not a comment, so this is a key named "foreground#on".
        assertError("1: unknown key 'foreground#on'", "foreground#on");
    }

    @Test
    void configInsideAConfigFile() throws IOException {
        assertError("2: config: not allowed inside a config file", "watch /a\nconfig /etc/other.conf\n");
        assertError("1: config: not allowed inside a config file", "config");
    }

    static Stream<Option> keysWithValues() {
        return Arrays.stream(Option.values()).filter(o -> o.configKey().isPresent() && o.kind().takesValue());
    }

    @ParameterizedTest
    @MethodSource("keysWithValues")
    void missingValue(Option o) throws IOException {
        String key = o.configKey().orElseThrow();
        assertError("2: " + key + ": missing value", "\n" + key + "\n");
        assertError("1: " + key + ": missing value", "  " + key + "   # only a comment\n");
    }

    @Test
    void badNumbers() throws IOException {
        assertError("7: burst_window_ms: not a number: 'abc'", "\n\n\n\n\n\nburst_window_ms abc\n");
        assertError("1: burst_threshold: out of range: '99999999999999999999999' (0..65536)",
                "burst_threshold 99999999999999999999999");
        assertError("1: queue_size: not 'unlimited' or 'kernel': '1k'", "queue_size 1k");
        assertError("1: queue_size: '4096': the kernel has no per-group queue size; set sysctl"
                + " fs.fanotify.max_queued_events and use 'kernel'", "queue_size 4096");
    }

    @Test
    void badEvents() throws IOException {
        assertError("1: events: unknown event 'opn' (did you mean 'open'?)", "events opn");
        assertError("1: events: cannot mix plain and +/- event names ('open' and '-attrib')",
                "events -attrib,open");
        assertError("1: events: empty item in event list 'open,,close_write'", "events open,,close_write");
    }

    @Test
    void invalidUtf8NamesTheLine() throws IOException {
        Files.write(conf, new byte[] {'w', 'a', 't', 'c', 'h', ' ', '/', 'a', '\n',
                'w', 'a', 't', 'c', 'h', ' ', '/', (byte) 0xC3, (byte) 0x28, '\n'});
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"-c", conf.toString()}, dir.toString()));
        assertEquals(conf + ":2: not valid UTF-8", e.getMessage());
    }

    @Test
    void invalidUtf8InACommentIsStillAnError() throws IOException {
        Files.write(conf, new byte[] {'#', ' ', (byte) 0xFF, '\n'});
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"-c", conf.toString()}, dir.toString()));
        assertEquals(conf + ":1: not valid UTF-8", e.getMessage());
    }

    @Test
    void aMissingFileCannotBeRead() {
        Path missing = dir.resolve("nope.conf");
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"-c", missing.toString()}, dir.toString()));
        assertEquals(missing + ": cannot read: No such file or directory (ENOENT)", e.getMessage());
    }

    @Test
    void aPathThroughAFileCannotBeRead() throws IOException {
        Files.writeString(conf, "watch /a\n");
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"-c", conf + "/x"}, dir.toString()));
        assertEquals(conf + "/x: cannot read: Not a directory (ENOTDIR)", e.getMessage());
    }

    @Test
    void aDirectoryCannotBeRead() {
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"--config", "."}, dir.toString()));
        assertEquals(".: cannot read: is a directory", e.getMessage());
        e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"--config", dir.toString()}, "/"));
        assertEquals(dir + ": cannot read: is a directory", e.getMessage());
    }

    @Test
    void aHugeFileIsRefused() throws IOException {
        Files.write(conf, new byte[ConfigFile.MAX_BYTES + 1]);
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"-c", conf.toString()}, dir.toString()));
        assertEquals(conf + ": cannot read: larger than " + ConfigFile.MAX_BYTES + " bytes", e.getMessage());
    }

    @Test
    void aFileOfExactlyTheLimitIsRead() throws IOException {
        byte[] content = new byte[ConfigFile.MAX_BYTES];
        // One line and then one long comment, so the parse is quick.
        Arrays.fill(content, (byte) ' ');
        byte[] start = "watch /a\n#".getBytes(UTF_8);
        System.arraycopy(start, 0, content, 0, start.length);
        Files.write(conf, content);
        assertEquals(List.of("/a"),
                OptionParser.parse(new String[] {"-c", conf.toString()}, dir.toString()).watches());
    }

    /**
     * Makes {@code dir/<nameBytes>} holding {@code content} through the shell: java.io and java.nio cannot
     * name a file whose name is not UTF-8 (Path.of refuses lone surrogates). Returns the PathCodec name.
     */
    private String writeFileNamedByBytes(byte[] nameBytes, String content) throws Exception {
        StringBuilder octal = new StringBuilder();
        for (byte b : nameBytes) {
            octal.append(String.format("\\%03o", b & 0xff));
        }
        Process p = new ProcessBuilder("/bin/sh", "-c", "cd \"$1\" && printf '%s' \"$3\" > \"$(printf \"$2\")\"",
                "sh", dir.toString(), octal.toString(), content)
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), UTF_8);
        assertEquals(0, p.waitFor(), out);
        return PathCodec.decode(nameBytes);
    }

    @Test
    void aConfigFileWhoseNameIsNotUtf8IsRead() throws Exception {
        // "c", 0xFF, ".conf": 0xFF is never valid UTF-8.
        String name = writeFileNamedByBytes(new byte[] {'c', (byte) 0xFF, '.', 'c', 'o', 'n', 'f'},
                "watch /a\nwatch rel\nforeground 1\n");
        assertEquals("c\udcff.conf", name);
        String absolute = dir + "/" + name;

        Settings s = OptionParser.parse(new String[] {"-c", absolute}, dir.toString());
        assertEquals(Optional.of(absolute), s.config());
        assertEquals(List.of("/a", dir + "/rel"), s.watches());
        assertTrue(s.foreground());

        // Relative, resolved against cwd by string; the same file.
        Settings r = OptionParser.parse(new String[] {"--config=" + name}, dir.toString());
        assertEquals(Optional.of(absolute), r.config());
        assertEquals(s, r);

        // It is the byte 0xFF that names the file, not the UTF-8 encoding of U+00FF (0xC3 0xBF).
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"-c", dir + "/c\u00ff.conf"}, dir.toString()));
        assertEquals(dir + "/c\u00ff.conf: cannot read: No such file or directory (ENOENT)", e.getMessage());
    }

    @Test
    void errorsInAConfigFileWhoseNameIsNotUtf8NameItAsTyped() throws Exception {
        String name = writeFileNamedByBytes(new byte[] {'b', (byte) 0xC3, (byte) 0x28, '.', 'c', 'o', 'n', 'f'},
                "watch /a\nwach /b\n");
        assertEquals("b\udcc3(.conf", name);
        UsageException e = assertThrows(UsageException.class,
                () -> OptionParser.parse(new String[] {"-c", name}, dir.toString()));
        assertEquals("b\udcc3(.conf:2: unknown key 'wach' (did you mean 'watch'?)", e.getMessage());
    }

    @Test
    void aConfigWatchValueIsResolvedAgainstCwdByString() throws IOException {
        // cwd need not exist and is not normalized; only the config file itself is read.
        Files.writeString(conf, "watch w\nwatch ./x/../y\nwatch /abs\nmount m\u00e9\n");
        Settings s = OptionParser.parse(new String[] {"-c", conf.toString()}, "/no/such//cwd/");
        assertEquals(List.of("/no/such//cwd/w", "/no/such//cwd/./x/../y", "/abs"), s.watches());
        assertEquals(List.of("/no/such//cwd/m\u00e9"), s.mounts());
        Settings t = OptionParser.parse(new String[] {"-c", conf.toString()}, "/d\udcff");
        assertEquals(List.of("/d\udcff/w", "/d\udcff/./x/../y", "/abs"), t.watches());
    }

    static Stream<Option> unsupported() {
        return Arrays.stream(Option.values()).filter(o -> !o.supported());
    }

    @ParameterizedTest(allowZeroInvocations = true) // every option of the spec is supported now
    @MethodSource("unsupported")
    void laterKeysAreRejected(Option o) throws IOException {
        String key = o.configKey().orElseThrow();
        String line = o.kind().takesValue() ? key + " " + CommandLineTest.sampleValue(o) : key + " 1";
        assertError("3: " + key + ": not supported yet", "watch /a\n# comment\n" + line + "\n");
        if (!o.kind().takesValue()) {
            assertError("1: " + key + ": not supported yet", key);
        }
    }

    @Test
    void theSpecsExampleConfigIsAccepted() throws IOException {
        Settings s = load("""
                output /var/log/fanotifyd/J.jsonl
                socket /run/fanotifyd/J.sock
                foreground 1
                perm 1
                deny_on_alert 1
                burst_threshold 32
                burst_window_ms 1000
                hook_cooldown_ms 5000
                job J
                rootfs /run/jobs/J/root
                workspace /run/jobs/J/workspace
                export /run/jobs/J/export
                cache /var/cache/job-platform
                mount /run/jobs/J/root
                mount /run/jobs/J/workspace
                mount /run/jobs/J/export
                mount /var/cache/job-platform
                canary /run/jobs/J/root/etc/shadow
                """);
        assertEquals(Optional.of("/var/log/fanotifyd/J.jsonl"), s.output());
        assertEquals(Optional.of("/run/fanotifyd/J.sock"), s.socket().path());
        assertTrue(s.foreground() && s.policy().perm() && s.policy().denyOnAlert());
        assertEquals(32, s.policy().burstThreshold());
        assertEquals(List.of("/run/jobs/J/root/etc/shadow"), s.policy().canaries());
        assertEquals(List.of(new Settings.Job("J", List.of(new Settings.JobRoot("rootfs", "/run/jobs/J/root"),
                new Settings.JobRoot("workspace", "/run/jobs/J/workspace"),
                new Settings.JobRoot("export", "/run/jobs/J/export"),
                new Settings.JobRoot("cache", "/var/cache/job-platform")))), s.jobs());
        assertEquals(4, s.mounts().size());
    }

    @Test
    void socketBacklogIsAConfigKey() throws IOException {
        assertEquals(16L << 20, load("socket_backlog 16M\n").socket().backlogBytes());
        assertEquals(2L << 20, load("socket_backlog 16M\n", "--socket-backlog", "2M").socket().backlogBytes());
        assertError("1: socket_backlog: out of range: '100K' (1M..1G)", "socket_backlog 100K");
    }

    @ParameterizedTest
    @ValueSource(strings = {"watch", "mount", "filesystem", "output", "pid_file", "log_file"})
    void pathKeysKeepInnerSpacesAndHashes(String key) throws IOException {
        Settings s = load(key + " /a b#c  d # comment\n");
        String expected = "/a b#c  d";
        String actual = switch (key) {
            case "watch" -> s.watches().getFirst();
            case "mount" -> s.mounts().getFirst();
            case "filesystem" -> s.filesystems().getFirst();
            case "output" -> s.output().orElseThrow();
            case "pid_file" -> s.pidFile().orElseThrow();
            case "log_file" -> s.logFile().orElseThrow();
            default -> throw new AssertionError(key);
        };
        assertEquals(expected, actual);
    }

    @Test
    void errorsInTheConfigFileStopEverything() throws IOException {
        // The bad line is the last one; nothing before it may leak into a half-built result.
        assertError("3: unknown key 'bogus'", "watch /a\nforeground\nbogus\n");
    }
}
