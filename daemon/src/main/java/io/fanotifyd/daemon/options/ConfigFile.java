package io.fanotifyd.daemon.options;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the line-oriented config file: {@code key value} per line, {@code #} comments, blank lines.
 *
 * <p>A {@code #} starts a comment only at the start of a line or after whitespace, so values such as
 * {@code /srv/build#1} survive. The value is the rest of the line, trimmed, so paths may contain inner
 * spaces; there is no quoting. Every line is checked (and unsupported keys rejected) before anything
 * is applied, so a bad file never half-configures the daemon.
 *
 * <p>The file's own name is a {@link io.fanotifyd.kernel.PathCodec} string and may stand for bytes that are
 * not UTF-8; its content must be UTF-8.
 */
final class ConfigFile {
    /** A parsed line: the option and its typed value. */
    /** One line's setting; {@code where} is {@code FILE:LINE}, for errors found when it is applied. */
    record Entry(Option option, Object value, String where) {}

    static final int MAX_BYTES = 4 << 20;

    private ConfigFile() {}

    // Not in io.fanotifyd.kernel.Errno: read(2) on a directory, which open(O_RDONLY) lets through.
    private static final int EISDIR = 21;

    /**
     * Reads and parses {@code file}.
     *
     * @param file      absolute, in {@link io.fanotifyd.kernel.PathCodec} form; read by its bytes, so a name
     *                  that is not UTF-8 works
     * @param shownName the file as the user wrote it, used in messages
     */
    static List<Entry> load(String file, String shownName, String cwd) {
        byte[] content;
        try {
            // Only a regular file: a FIFO nobody writes would hang the start for ever, and a device has no end.
            content = Syscalls.readRegularFile(file, MAX_BYTES);
        } catch (NativeCallException e) {
            String reason = e.errno() == EISDIR ? "is a directory" : Errno.describe(e.errno());
            throw new UsageException(shownName + ": cannot read: " + reason);
        } catch (IllegalArgumentException e) {
            throw new UsageException(shownName + ": cannot read: " + e.getMessage());
        }
        return parse(content, shownName, cwd);
    }

    /** Parses the bytes of a config file named {@code shownName} in messages. */
    static List<Entry> parse(byte[] content, String shownName, String cwd) {
        List<Entry> entries = new ArrayList<>();
        int lineNumber = 0;
        int start = 0;
        // Split on the byte '\n' before decoding: it never occurs inside a UTF-8 sequence, and decoding
        // per line lets an encoding error carry its line number.
        while (start < content.length) {
            int end = start;
            while (end < content.length && content[end] != '\n') {
                end++;
            }
            lineNumber++;
            String where = shownName + ":" + lineNumber;
            String line = decode(content, start, end - start, where);
            if (lineNumber == 1 && line.startsWith("\uFEFF")) {
                line = line.substring(1);
            }
            Entry entry = parseLine(line, where, cwd);
            if (entry != null) {
                entries.add(entry);
            }
            start = end + 1;
        }
        return entries;
    }

    private static String decode(byte[] content, int offset, int length, String where) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(content, offset, length))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new UsageException(where + ": not valid UTF-8");
        }
    }

    /** One line, or {@code null} for a blank or comment line. */
    private static Entry parseLine(String rawLine, String where, String cwd) {
        String line = stripComment(rawLine).strip();
        if (line.isEmpty()) {
            return null;
        }
        int split = 0;
        while (split < line.length() && !Character.isWhitespace(line.charAt(split))) {
            split++;
        }
        String key = line.substring(0, split);
        String value = line.substring(split).strip();

        if (key.equals(Option.CONFIG.longName())) {
            throw new UsageException(where + ": config: not allowed inside a config file");
        }
        Option option = Option.byConfigKey(key).orElseThrow(() -> new UsageException(where + ": unknown key '"
                + key + "'" + Suggestions.closest(key, Option.configKeys())
                        .map(s -> " (did you mean '" + s + "'?)").orElse("")));
        if (value.isEmpty() && option.kind().takesValue()) {
            throw new UsageException(where + ": " + key + ": missing value");
        }
        Object parsed;
        try {
            parsed = Values.parse(option, value, cwd);
        } catch (IllegalArgumentException e) {
            throw new UsageException(where + ": " + key + ": " + e.getMessage());
        }
        // Checked after the value, so a line gives the same syntax error now as once the feature exists.
        if (!option.supported()) {
            throw new UsageException(where + ": " + key + ": not supported yet");
        }
        return new Entry(option, parsed, where);
    }

    private static String stripComment(String line) {
        for (int i = 0; i < line.length(); i++) {
            if (line.charAt(i) == '#' && (i == 0 || Character.isWhitespace(line.charAt(i - 1)))) {
                return line.substring(0, i);
            }
        }
        return line;
    }
}
