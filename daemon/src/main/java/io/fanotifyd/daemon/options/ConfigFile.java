package io.fanotifyd.daemon.options;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the line-oriented config file: {@code key value} per line, {@code #} comments, blank lines.
 *
 * <p>A {@code #} starts a comment only at the start of a line or after whitespace, so values such as
 * {@code /srv/build#1} survive. The value is the rest of the line, trimmed, so paths may contain inner
 * spaces; there is no quoting. Every line is checked (and unsupported keys rejected) before anything
 * is applied, so a bad file never half-configures the daemon.
 */
final class ConfigFile {
    /** A parsed line: the option and its typed value. */
    record Entry(Option option, Object value) {}

    // Guards against "-c /dev/zero" without refusing pipes such as "-c <(generate-config)".
    static final int MAX_BYTES = 4 << 20;

    private ConfigFile() {}

    /**
     * Reads and parses {@code file}.
     *
     * @param shownName the file as the user wrote it, used in messages
     */
    static List<Entry> load(Path file, String shownName, Path cwd) {
        byte[] content;
        if (Files.isDirectory(file)) {
            throw new UsageException(shownName + ": cannot read: is a directory");
        }
        try (InputStream in = Files.newInputStream(file)) {
            content = in.readNBytes(MAX_BYTES + 1);
        } catch (NoSuchFileException e) {
            throw new UsageException(shownName + ": cannot read: no such file or directory");
        } catch (AccessDeniedException e) {
            throw new UsageException(shownName + ": cannot read: permission denied");
        } catch (FileSystemException e) {
            throw new UsageException(shownName + ": cannot read: "
                    + (e.getReason() != null ? e.getReason() : e.getClass().getSimpleName()));
        } catch (IOException e) {
            throw new UsageException(shownName + ": cannot read: "
                    + (e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName()));
        }
        if (content.length > MAX_BYTES) {
            throw new UsageException(shownName + ": cannot read: larger than " + MAX_BYTES + " bytes");
        }
        return parse(content, shownName, cwd);
    }

    /** Parses the bytes of a config file named {@code shownName} in messages. */
    static List<Entry> parse(byte[] content, String shownName, Path cwd) {
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
    private static Entry parseLine(String rawLine, String where, Path cwd) {
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
        return new Entry(option, parsed);
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
