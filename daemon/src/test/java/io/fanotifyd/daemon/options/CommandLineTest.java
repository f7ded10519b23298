package io.fanotifyd.daemon.options;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.kernel.PathCodec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class CommandLineTest {
    // Need not exist: nothing here touches the disk.
    private static final String CWD = "/home/u/work";

    static Settings parse(String... args) {
        return OptionParser.parse(args, CWD);
    }

    static void assertUsage(String message, String... args) {
        UsageException e = assertThrows(UsageException.class, () -> parse(args));
        assertEquals(message, e.getMessage());
    }

    @Test
    void noArgumentsGiveTheDefaults() {
        assertEquals(Settings.defaults(), parse());
        Settings d = Settings.defaults();
        assertEquals(Action.RUN, d.action());
        assertTrue(d.outputIsStdout());
        assertFalse(d.hasMarks());
        assertEquals(QueueSize.UNLIMITED, d.queueSize());
        assertTrue(d.events().isDefault());
        assertEquals(0, d.verbosity());
    }

    @Test
    void watchLongAndShortAreRepeatableInOrder() {
        Settings s = parse("--watch", "/a", "-w", "/b", "--watch=/c", "-w/d");
        assertEquals(List.of("/a", "/b", "/c", "/d"), s.watches());
        assertTrue(s.hasMarks());
    }

    @Test
    void mountAndFilesystemAreRepeatable() {
        Settings s = parse("--mount", "/m1", "--filesystem=/f1", "--mount=/m2", "--filesystem", "/f2");
        assertEquals(List.of("/m1", "/m2"), s.mounts());
        assertEquals(List.of("/f1", "/f2"), s.filesystems());
        assertTrue(s.watches().isEmpty());
    }

    @Test
    void outputDashMeansStdout() {
        Settings s = parse("-o", "-");
        assertTrue(s.outputIsStdout());
        assertEquals(Optional.empty(), s.output());
        assertTrue(parse("--output=-").outputIsStdout());
    }

    @Test
    void outputPathIsResolved() {
        assertEquals(Optional.of("/home/u/work/events.jsonl"), parse("--output", "events.jsonl").output());
        assertEquals(Optional.of("/var/log/f.jsonl"), parse("-o/var/log/f.jsonl").output());
    }

    @Test
    void lastScalarWins() {
        assertEquals(Optional.of("/b"), parse("-o", "/a", "--output", "/b").output());
        assertTrue(parse("-o", "/a", "-o", "-").outputIsStdout());
        assertEquals(QueueSize.KERNEL, parse("--queue-size", "unlimited", "--queue-size", "kernel").queueSize());
    }

    @Test
    void pidFileAndLogFile() {
        Settings s = parse("--pid-file", "/run/f.pid", "--log-file=f.log");
        assertEquals(Optional.of("/run/f.pid"), s.pidFile());
        assertEquals(Optional.of("/home/u/work/f.log"), s.logFile());
    }

    @Test
    void booleans() {
        assertTrue(parse("-f").foreground());
        assertTrue(parse("--foreground").foreground());
        assertTrue(parse("--no-fid").noFid());
        assertFalse(parse("-f").noFid());
    }

    @ParameterizedTest
    @MethodSource
    void verboseCounts(List<String> args, int expected) {
        assertEquals(expected, parse(args.toArray(String[]::new)).verbosity());
    }

    static Stream<Arguments> verboseCounts() {
        return Stream.of(
                Arguments.of(List.of(), 0),
                Arguments.of(List.of("-v"), 1),
                Arguments.of(List.of("-v", "-v"), 2),
                Arguments.of(List.of("-vv"), 2),
                Arguments.of(List.of("-vvv", "--verbose"), 4),
                Arguments.of(List.of("--verbose", "--verbose"), 2),
                Arguments.of(List.of("-fvv"), 2),
                Arguments.of(List.of("-vfv"), 2));
    }

    @Test
    void groupedShortFlags() {
        Settings s = parse("-fv");
        assertTrue(s.foreground());
        assertEquals(1, s.verbosity());
    }

    @ParameterizedTest
    @MethodSource
    void everyValueSyntaxGivesTheSameResult(List<String> args) {
        assertEquals(Optional.of("/home/u/work/out"), parse(args.toArray(String[]::new)).output());
    }

    static Stream<List<String>> everyValueSyntaxGivesTheSameResult() {
        return Stream.of(
                List.of("--output", "out"),
                List.of("--output=out"),
                List.of("-o", "out"),
                List.of("-oout"),
                List.of("-fo", "out"),
                List.of("-fvoout"),
                List.of("-o", "out", "--"));
    }

    @Test
    void valueAfterAShortOptionInAGroupTakesTheRest() {
        Settings s = parse("-fowv");
        assertEquals(Optional.of("/home/u/work/wv"), s.output());
        assertTrue(s.foreground());
        assertEquals(0, s.verbosity());
        assertTrue(s.watches().isEmpty());
    }

    @Test
    void onlyTheFirstEqualsSignSplitsALongOption() {
        assertEquals(List.of("/a=b"), parse("--watch=/a=b").watches());
    }

    @Test
    void theNextArgumentIsTheValueEvenIfItLooksLikeAnOption() {
        // As getopt does: "-o -" must mean stdout, so the next word is never inspected.
        assertEquals(Optional.of("/home/u/work/--foreground"), parse("-o", "--foreground").output());
        assertFalse(parse("-o", "--foreground").foreground());
        assertEquals(List.of("/home/u/work/-w"), parse("--watch", "-w").watches());
    }

    @Test
    void doubleDashEndsOptions() {
        assertTrue(parse("-f", "--").foreground());
        assertUsage("unexpected argument '-f'", "--", "-f");
        assertUsage("unexpected argument '--'", "--", "--");
    }

    @ParameterizedTest
    @ValueSource(strings = {"x", "/tmp/a", "-", ""})
    void nonOptionArgumentsAreErrors(String arg) {
        assertUsage("unexpected argument '" + arg + "'", "-f", arg);
    }

    @Test
    void relativePathsAreResolvedAgainstCwdWithoutNormalizing() {
        Settings s = parse("-w", "a/../b", "-w", "./c", "-w", "/abs/./d", "-w", "e//f/", "-w", "//g/", "-w", "..");
        assertEquals(List.of("/home/u/work/a/../b", "/home/u/work/./c", "/abs/./d", "/home/u/work/e//f/", "//g/",
                "/home/u/work/.."), s.watches());
        assertTrue(s.watches().stream().allMatch(p -> p.startsWith("/")));
    }

    @Test
    void aCwdEndingInASlashGetsNoSecondOne() {
        assertEquals(List.of("/x", "/abs"), OptionParser.parse(new String[] {"-w", "x", "-w", "/abs"}, "/").watches());
        assertEquals(List.of("/home/u/x"), OptionParser.parse(new String[] {"-w", "x"}, "/home/u/").watches());
        assertEquals(Optional.of("/home/u//o"), OptionParser.parse(new String[] {"-o", "o"}, "/home/u//").output());
    }

    @ParameterizedTest
    @ValueSource(strings = {"rel", "", "./x"})
    void aRelativeCwdIsRefused(String cwd) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OptionParser.parse(new String[] {"-w", "x"}, cwd));
        assertEquals("cwd is not an absolute path: '" + cwd + "'", e.getMessage());
    }

    @Test
    void aPathThatIsNotUtf8IsKeptExactly() {
        // What PathCodec.decode makes of the bytes "/tmp/a", 0xFF, "b": the byte 0xFF becomes a lone surrogate.
        String abs = "/tmp/a\udcffb";
        assertEquals("/tmp/a\udcffb", PathCodec.decode(new byte[] {'/', 't', 'm', 'p', '/', 'a', (byte) 0xFF, 'b'}));
        Settings s = parse("--watch", abs, "-w", "a\udcffb", "--mount=\udc80", "-o", "x\udcfe/y", "--pid-file",
                "/p\udcc3\udca9", "--log-file", "l\udcff");
        assertEquals(List.of("/tmp/a\udcffb", "/home/u/work/a\udcffb"), s.watches());
        assertEquals(List.of("/home/u/work/\udc80"), s.mounts());
        assertEquals(Optional.of("/home/u/work/x\udcfe/y"), s.output());
        // Two escaped bytes that would be valid UTF-8 together ("é") are not merged: the string is not touched.
        assertEquals(Optional.of("/p\udcc3\udca9"), s.pidFile());
        assertEquals(Optional.of("/home/u/work/l\udcff"), s.logFile());
        // And it goes back to the very bytes it came from.
        assertArrayEquals(new byte[] {'/', 't', 'm', 'p', '/', 'a', (byte) 0xFF, 'b'},
                PathCodec.encode(s.watches().getFirst()));
    }

    @Test
    void aRelativeNonUtf8PathUnderANonUtf8Cwd() {
        Settings s = OptionParser.parse(new String[] {"--filesystem", "f\udcff"}, "/d\udc80ir");
        assertEquals(List.of("/d\udc80ir/f\udcff"), s.filesystems());
    }

    @Test
    void aNulInAPathIsRefused() {
        assertUsage("-w: not a valid path: '/a\0b' (Nul character not allowed)", "-w", "/a\0b");
        assertUsage("--output: not a valid path: 'x\0' (Nul character not allowed)", "--output=x\0");
        assertUsage("-c: not a valid path: '\0' (Nul character not allowed)", "-c", "\0");
    }

    @Test
    void eventsOnTheCommandLine() {
        assertEquals(new EventSelection(List.of("access", "close_write"), false),
                parse("--events", "ACCESS,Close_Write").events());
        assertEquals(new EventSelection(List.of("+access", "-attrib"), true),
                parse("--events=+access,-attrib").events());
    }

    @Test
    void queueSizeOnTheCommandLine() {
        assertEquals(QueueSize.UNLIMITED, parse("--queue-size", "unlimited").queueSize());
        assertEquals(QueueSize.KERNEL, parse("--queue-size=kernel").queueSize());
    }

    @Test
    void flagsTakeNoValue() {
        assertUsage("--foreground: does not take a value", "--foreground=1");
        assertUsage("--no-fid: does not take a value", "--no-fid=yes");
        assertUsage("--verbose: does not take a value", "--verbose=2");
        assertUsage("--help: does not take a value", "--help=x");
        assertUsage("--foreground: does not take a value", "--foreground=");
    }

    @Test
    void unknownLongOptionsWithAndWithoutHint() {
        assertUsage("unknown option '--wach' (did you mean '--watch'?)", "--wach", "/a");
        assertUsage("unknown option '--pid_file' (did you mean '--pid-file'?)", "--pid_file=/x");
        assertUsage("unknown option '--forground' (did you mean '--foreground'?)", "--forground");
        assertUsage("unknown option '--xyzzy'", "--xyzzy");
        assertUsage("unknown option '---'", "---");
    }

    @Test
    void unknownShortOptions() {
        assertUsage("unknown option '-x'", "-x");
        assertUsage("unknown option '-x'", "-fx");
        assertUsage("unknown option '-='", "-f=1");
        assertUsage("unknown option '-\uD83D\uDE00'", "-\uD83D\uDE00");
    }

    @Test
    void missingArguments() {
        assertUsage("--watch: missing argument PATH", "--watch");
        assertUsage("-o: missing argument PATH", "-f", "-o");
        assertUsage("-o: missing argument PATH", "-fo");
        assertUsage("-c: missing argument FILE", "-c");
        assertUsage("--queue-size: missing argument unlimited|kernel", "--queue-size");
        assertUsage("--events: missing argument LIST", "--events");
    }

    @Test
    void emptyValues() {
        assertUsage("--watch: empty path", "--watch=");
        assertUsage("-w: empty path", "-w", "");
        assertUsage("--output: empty path", "--output", "");
        assertUsage("--config: empty path", "--config=");
        assertUsage("--events: empty event list", "--events=");
        assertUsage("--queue-size: not 'unlimited' or 'kernel': ''", "--queue-size=");
    }

    @Test
    void badValuesNameTheFlagAsWritten() {
        assertUsage("--queue-size: '16384': the kernel has no per-group queue size; set sysctl"
                + " fs.fanotify.max_queued_events and use 'kernel'", "--queue-size", "16384");
        assertUsage("--events: unknown event 'acess' (did you mean 'access'?)", "--events", "acess");
        assertUsage("--events: cannot mix plain and +/- event names ('access' and '+modify')",
                "--events", "access,+modify");
        assertUsage("--events: unknown event '+bogus'", "--events=+bogus");
    }

    @Test
    void onlyOneConfigFile() {
        assertUsage("-c: only one config file may be given", "--config", "/a.conf", "-c", "/b.conf");
    }

    @ParameterizedTest
    @ValueSource(strings = {"--help", "-h", "-fh", "-vh"})
    void helpIsAnAction(String arg) {
        Settings s = parse(arg);
        assertEquals(Action.HELP, s.action());
    }

    @Test
    void versionIsAnAction() {
        assertEquals(Action.VERSION, parse("--version").action());
        assertEquals(Action.VERSION, parse("--version", "--help").action());
        assertEquals(Action.HELP, parse("--help", "--version").action());
    }

    @Test
    void helpStopsTheScanAndSkipsTheConfigFile() {
        Settings s = parse("-w", "/a", "-c", "/nonexistent/f.conf", "--help", "--bogus", "stray");
        assertEquals(Action.HELP, s.action());
        // Parsing stopped: the rest are defaults.
        assertEquals(Settings.defaults().watches(), s.watches());
        assertEquals(Optional.empty(), s.config());
    }

    @Test
    void errorsBeforeHelpStillCount() {
        assertUsage("unknown option '--bogus'", "--bogus", "--help");
        assertUsage("-w: empty path", "-w", "", "--help");
    }

    static Stream<Option> unsupported() {
        return Arrays.stream(Option.values()).filter(o -> !o.supported());
    }

    /** A syntactically valid value, so the only thing wrong is the missing feature. */
    static String sampleValue(Option o) {
        return switch (o.kind()) {
            case PATH, OUTPUT -> "/some/path";
            case TEXT -> "J";
            case NUMBER -> "32";
            case SIZE -> "8M";
            case EVENTS -> "access";
            case QUEUE_SIZE -> "10";
            case FLAG, COUNTER, ACTION -> throw new IllegalArgumentException(o + " takes no value");
        };
    }

    @ParameterizedTest(allowZeroInvocations = true) // every option of the spec is supported now
    @MethodSource("unsupported")
    void laterOptionsAreRejectedInEveryForm(Option o) {
        List<List<String>> forms = new ArrayList<>();
        if (o.kind().takesValue()) {
            forms.add(List.of(o.longFlag(), sampleValue(o)));
            forms.add(List.of(o.longFlag() + "=" + sampleValue(o)));
            forms.add(List.of("-f", o.longFlag(), sampleValue(o), "-v"));
        } else {
            forms.add(List.of(o.longFlag()));
            forms.add(List.of("-f", o.longFlag(), "-v"));
        }
        for (List<String> args : forms) {
            assertUsage(o.longFlag() + ": not supported yet", args.toArray(String[]::new));
        }
    }

    @Test
    void laterOptionsAreTheOnesTheSpecNames() {
        assertEquals(List.of(), unsupported().map(Option::longName).toList());
    }

    @Test
    void aBadValueOfALaterOptionIsReportedAsSuch() {
        assertUsage("--socket: missing argument PATH", "--socket");
    }

    @Test
    void jobsTakeTheDirectoriesThatFollowThem() {
        Settings s = parse("--job", "a", "--rootfs", "/a/root", "--workspace", "ws", "--job", "b", "--cache", "/c",
                "--export", "/b/out", "--cache", "/c2");
        assertEquals(List.of(
                new Settings.Job("a", List.of(new Settings.JobRoot("rootfs", "/a/root"),
                        new Settings.JobRoot("workspace", "/home/u/work/ws"))),
                new Settings.Job("b", List.of(new Settings.JobRoot("cache", "/c"),
                        new Settings.JobRoot("export", "/b/out"), new Settings.JobRoot("cache", "/c2")))),
                s.jobs());
        assertUsage("--rootfs: needs a job before it (job ID, then its directories)", "--rootfs", "/r");
        assertUsage("--job: job 'a' is defined twice", "--job", "a", "--job", "a");
        assertUsage("--job: empty value", "--job=");
    }

    @Test
    void policyOptions() {
        Settings s = parse("--canary", "/a/*", "--canary=/b", "--burst-threshold", "32", "--burst-window-ms", "500",
                "--hook", "logger x", "--hook-cooldown-ms", "0", "--hook-timeout-ms", "250", "--perm",
                "--deny-on-alert", "--fail-closed");
        assertEquals(new Settings.Policy(List.of("/a/*", "/b"), 32, 500, Optional.of("logger x"), 0, 250, true, true,
                true), s.policy());
        assertEquals(Settings.Policy.DEFAULT, parse().policy());
        assertEquals(new Settings.Policy(List.of(), 0, 1000, Optional.empty(), 5000, 10000, false, false, false),
                Settings.Policy.DEFAULT);
    }

    @Test
    void policyValuesAreChecked() {
        assertUsage("--burst-window-ms: not a number: 'abc'", "--burst-window-ms", "abc");
        assertUsage("--burst-window-ms: out of range: '0' (1..2147483647)", "--burst-window-ms", "0");
        assertUsage("--hook-timeout-ms: out of range: '0' (1..2147483647)", "--hook-timeout-ms=0");
        assertUsage("--burst-threshold: out of range: '-1' (0..65536)", "--burst-threshold=-1");
        assertUsage("--burst-threshold: out of range: '65537' (0..65536)", "--burst-threshold=65537");
        assertUsage("--perm: does not take a value", "--perm=1");
        assertUsage("--canary: missing argument PATTERN", "--canary");
        assertUsage("--hook: empty value", "--hook=");
    }

    @Test
    void latencyOptions() {
        Settings defaults = parse();
        assertEquals(0, defaults.batchDelayUs());
        assertEquals(Settings.DEFAULT_PERM_SPIN_US, defaults.permSpinUs());
        Settings s = parse("--batch-delay-us", "1000", "--perm-spin-us=0");
        assertEquals(1000, s.batchDelayUs());
        assertEquals(0, s.permSpinUs());
        assertEquals(1_000_000, parse("--perm-spin-us", "1000000").permSpinUs());
        assertUsage("--batch-delay-us: out of range: '1000001' (0..1000000)", "--batch-delay-us", "1000001");
        assertUsage("--perm-spin-us: out of range: '-5' (0..1000000)", "--perm-spin-us=-5");
        assertUsage("--perm-spin-us: not a number: '1ms'", "--perm-spin-us", "1ms");
    }

    @Test
    void socketBacklogTakesASizeWithinItsRange() {
        assertEquals(Settings.Socket.DEFAULT_BACKLOG_BYTES, parse().socket().backlogBytes());
        assertEquals(8L << 20, Settings.Socket.DEFAULT_BACKLOG_BYTES);
        assertEquals(1L << 20, parse("--socket-backlog", "1M").socket().backlogBytes());
        assertEquals(3L << 20, parse("--socket-backlog=3072k").socket().backlogBytes());
        assertEquals(1L << 30, parse("--socket-backlog", "1g").socket().backlogBytes());
        assertEquals(2_000_000, parse("--socket-backlog", "2000000").socket().backlogBytes());
        assertUsage("--socket-backlog: out of range: '1023K' (1M..1G)", "--socket-backlog", "1023K");
        assertUsage("--socket-backlog: out of range: '2G' (1M..1G)", "--socket-backlog", "2G");
        assertUsage("--socket-backlog: out of range: '99999999999999999999M' (1M..1G)", "--socket-backlog",
                "99999999999999999999M");
        assertUsage("--socket-backlog: not a size: '8MB' (bytes, or a number with K, M or G)", "--socket-backlog",
                "8MB");
        assertUsage("--socket-backlog: not a size: '-1M' (bytes, or a number with K, M or G)",
                "--socket-backlog=-1M");
        assertUsage("--socket-backlog: not a size: 'M' (bytes, or a number with K, M or G)", "--socket-backlog=M");
        assertUsage("--socket-backlog: missing argument BYTES", "--socket-backlog");
    }

    @Test
    void settingsListsAreImmutable() {
        Settings s = parse("-w", "/a", "--mount", "/m", "--filesystem", "/f");
        assertThrows(UnsupportedOperationException.class, () -> s.watches().add("/x"));
        assertThrows(UnsupportedOperationException.class, () -> s.mounts().clear());
        assertThrows(UnsupportedOperationException.class, () -> s.filesystems().clear());
    }
}
