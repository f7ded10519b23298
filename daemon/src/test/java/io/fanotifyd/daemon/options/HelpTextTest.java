package io.fanotifyd.daemon.options;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

class HelpTextTest {
    private static final String HELP = HelpText.render();
    private static final String HEADING = "Not supported yet";
    private static final int HEADING_AT = HELP.indexOf(HEADING);

    /** The help line that introduces {@code o}: its flags, and its config key if the flag fits. */
    private static String lineOf(Option o) {
        Pattern p = Pattern.compile("^  (" + o.shortFlag().map(s -> Pattern.quote(s + ", ")).orElse("    ") + ")"
                + Pattern.quote(o.longFlag()) + "( |$).*$", Pattern.MULTILINE);
        var m = p.matcher(HELP);
        assertTrue(m.find(), "no help line for " + o.longFlag() + " in\n" + HELP);
        int end = HELP.indexOf('\n', HELP.indexOf('\n', m.start()) + 1);
        return HELP.substring(m.start(), end); // this line and the next, for flags that overflow
    }

    @ParameterizedTest
    @EnumSource(Option.class)
    void everyOptionIsListedWithItsFlagsArgumentAndKey(Option o) {
        String line = lineOf(o);
        o.shortFlag().ifPresent(s -> assertTrue(line.startsWith("  " + s + ", " + o.longFlag()), line));
        if (!o.argName().isEmpty()) {
            assertTrue(line.contains(o.longFlag() + " " + o.argName()), line);
        }
        o.configKey().ifPresent(k -> assertTrue(Pattern.compile("\\s" + Pattern.quote(k) + "\\s").matcher(line)
                .find(), k + " missing in: " + line));
        assertTrue(HELP.contains(o.help().substring(0, Math.min(20, o.help().length()))), o.help());
        if (!o.defaultValue().isEmpty()) {
            assertTrue(HELP.replaceAll("\\s+", " ").contains("(default: " + o.defaultValue() + ")"), o.toString());
        }
    }

    @ParameterizedTest
    @EnumSource(Option.class)
    void supportedOptionsComeBeforeTheNotSupportedHeadingAndLaterOnesAfterIt(Option o) {
        int at = HELP.indexOf(lineOf(o));
        assertTrue(at >= 0, o.longFlag());
        if (Arrays.stream(Option.values()).allMatch(Option::supported)) {
            assertEquals(-1, HEADING_AT, "no 'not supported yet' heading when every option is supported");
        } else {
            assertTrue(HEADING_AT > 0);
            assertEquals(o.supported(), at < HEADING_AT, o.longFlag());
        }
    }

    static Stream<String> configKeys() {
        return Option.configKeys().stream();
    }

    @ParameterizedTest
    @MethodSource("configKeys")
    void everyConfigKeyIsMentioned(String key) {
        assertTrue(Pattern.compile("\\s" + Pattern.quote(key) + "\\s").matcher(HELP).find(), key);
    }

    @Test
    void linesFitIn100Columns() {
        HELP.lines().forEach(line -> assertTrue(line.length() <= HelpText.WIDTH, "too long: " + line));
        HELP.lines().forEach(line -> assertEquals(line.stripTrailing(), line, "trailing space: '" + line + "'"));
    }

    @Test
    void structure() {
        assertTrue(HELP.startsWith("Usage: fanotifyd [OPTION]...\n"));
        assertTrue(HELP.endsWith("\n"));
        List<String> headings = Arrays.stream(Option.values()).allMatch(Option::supported)
                ? List.of("Marks:", "Output:", "Daemon:", "Events:", "Alerts:", "Jobs:", "General:")
                : List.of("Marks:", "Output:", "Daemon:", "Events:", "General:", HEADING);
        int last = -1;
        for (String h : headings) {
            int at = HELP.indexOf("\n" + h);
            assertTrue(at > last, h + " out of order");
            last = at;
        }
    }

    @Test
    void explainsPrecedenceAndConfigSyntax() {
        String flat = HELP.replaceAll("\\s+", " ");
        assertTrue(flat.contains("the config file is applied first, wherever -c appears on the command line"));
        assertTrue(flat.contains("a value given on the command line replaces the config file's"));
        assertTrue(flat.contains("repeatable options (watch, mount, filesystem, canary, job, rootfs, workspace, export, cache, cgroup, field, kafka-property) from both are combined, "
                + "config file first"));
        assertTrue(flat.contains("each -v adds one"));
        assertTrue(flat.contains("the last one wins"));
        assertTrue(flat.contains("1/0, true/false, yes/no or on/off"));
        assertTrue(flat.contains("Relative paths are resolved against the current directory"));
    }

    @Test
    void listsEveryEventName() {
        String flat = HELP.replaceAll("\\s+", " ");
        EventSelection.NAMES.forEach(n -> assertTrue(flat.contains(n), n));
    }

    @Test
    void helpDoesNotMentionOptionsOutsideTheTable() {
        var m = Pattern.compile("--([a-z][a-z-]*)").matcher(HELP);
        List<String> known = Arrays.stream(Option.values()).map(Option::longName).toList();
        while (m.find()) {
            assertTrue(known.contains(m.group(1)), m.group());
        }
    }

    @Test
    void wrapKeepsWordsAndWidth() {
        assertEquals(List.of("aa bb", "cc"), HelpText.wrap("aa bb cc", 5));
        assertEquals(List.of("a", "toolongword", "b"), HelpText.wrap("a toolongword b", 5));
        assertEquals(List.of(""), HelpText.wrap("", 5));
    }
}
