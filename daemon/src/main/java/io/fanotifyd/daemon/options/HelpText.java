package io.fanotifyd.daemon.options;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The {@code --help} text, generated from {@link Option} so that it cannot drift from what the parser
 * accepts. Every line fits in {@link #WIDTH} columns.
 */
public final class HelpText {
    /** Maximum line length. */
    public static final int WIDTH = 100;

    private static final String INDENT = "  ";
    private static final int FLAG_COLUMN = 26;
    private static final int KEY_COLUMN = 18;
    private static final int TEXT_COLUMN = INDENT.length() + FLAG_COLUMN + KEY_COLUMN;

    private HelpText() {}

    /** What a config file looks like; shared with the manual page. */
    static final String CONFIG_FILE = "one \"key value\" per line, keys from the CONFIG KEY column. "
            + "'#' starts a comment at the start of a line or after whitespace. The value is the rest of "
            + "the line, trimmed; there is no quoting. Booleans take 1/0, true/false, yes/no or on/off; "
            + "a boolean key alone means true. When a key that takes one value is repeated, the last "
            + "one wins. The file must be a regular file.";
    /** How the config file and the command line combine; shared with the manual page. */
    static final String PRECEDENCE = "the config file is applied first, wherever -c appears on the command line. "
            + "Then a value given on the command line replaces the config file's, and repeatable options ("
            + repeatables() + ") from both are combined, config file first; each -v adds one to the "
            + "config file's verbose level. Relative paths are resolved against the current directory.";
    /** How jobs are declared; shared with the manual page. */
    static final String JOBS = "each job (job ID) owns the rootfs, workspace, export, cache and cgroup entries that "
            + "follow it, up to the next job; command-line entries continue the config file's last job unless a "
            + "--job comes first. Events under a job's directory carry its job_id and the directory's role "
            + "(path_role); the longest matching directory wins. Elsewhere, the events of processes in a job's "
            + "cgroup (or below it) carry its job_id, with path_role null.";

    /** The full help text, ending with a newline. */
    public static String render() {
        StringBuilder out = new StringBuilder();
        out.append("Usage: fanotifyd [OPTION]...\n");
        out.append("Watch files with fanotify(7) and write one JSON Lines record per event.\n\n");
        row(out, "OPTION", "CONFIG KEY", "MEANING");
        for (Option.Group group : Option.Group.values()) {
            List<Option> options = Arrays.stream(Option.values())
                    .filter(o -> o.group() == group && o.supported())
                    .toList();
            if (options.isEmpty()) {
                continue;
            }
            out.append('\n').append(group.title()).append(":\n");
            options.forEach(o -> option(out, o));
        }
        List<Option> later = Arrays.stream(Option.values()).filter(o -> !o.supported()).toList();
        if (!later.isEmpty()) {
            out.append("\nNot supported yet (recognised, but rejected on the command line and in config files):\n");
            later.forEach(o -> option(out, o));
        }
        out.append('\n');
        paragraph(out, "Config file (-c FILE): " + CONFIG_FILE);
        out.append('\n');
        paragraph(out, "Precedence: " + PRECEDENCE);
        out.append('\n');
        paragraph(out, "Jobs: " + JOBS);
        return out.toString();
    }

    private static String repeatables() {
        return Arrays.stream(Option.values())
                .filter(o -> o.supported() && o.repeatable() && o.kind() != Option.Kind.COUNTER)
                .map(Option::longName)
                .collect(Collectors.joining(", "));
    }

    private static void option(StringBuilder out, Option o) {
        // Options without a short form are indented past "-x, " so the long names line up.
        String flag = o.shortFlag().map(s -> s + ", ").orElse("    ") + o.longFlag()
                + (o.argName().isEmpty() ? "" : " " + o.argName());
        String text = o.help();
        if (o.repeatable() && o.kind() != Option.Kind.COUNTER) {
            text += "; repeatable";
        }
        if (!o.defaultValue().isEmpty()) {
            text += " (default: " + o.defaultValue() + ")";
        }
        row(out, flag, o.configKey().orElse(""), text);
    }

    private static void row(StringBuilder out, String flag, String key, String text) {
        if (flag.length() >= FLAG_COLUMN) {
            // Too long for its column (--queue-size N|unlimited|kernel): give it a line of its own.
            out.append(INDENT).append(flag).append('\n');
            flag = "";
        }
        List<String> lines = wrap(text, WIDTH - TEXT_COLUMN);
        out.append(pad(INDENT + pad(flag, FLAG_COLUMN) + key, TEXT_COLUMN)).append(lines.getFirst()).append('\n');
        for (String line : lines.subList(1, lines.size())) {
            out.append(" ".repeat(TEXT_COLUMN)).append(line).append('\n');
        }
    }

    private static void paragraph(StringBuilder out, String text) {
        wrap(text, WIDTH).forEach(line -> out.append(line).append('\n'));
    }

    private static String pad(String s, int width) {
        return s.length() >= width ? s + " " : s + " ".repeat(width - s.length());
    }

    /** Greedy word wrap; a word longer than {@code width} gets a line of its own. */
    static List<String> wrap(String text, int width) {
        List<String> lines = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        for (String word : text.split(" +")) {
            if (!line.isEmpty() && line.length() + 1 + word.length() > width) {
                lines.add(line.toString());
                line.setLength(0);
            }
            if (!line.isEmpty()) {
                line.append(' ');
            }
            line.append(word);
        }
        lines.add(line.toString());
        return lines;
    }
}
