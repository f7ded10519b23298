package io.fanotifyd.daemon.options;

import java.util.Locale;
import java.util.Optional;

/**
 * Turns the text of one option value into its typed form, the same way for the command line and the
 * config file. Errors are {@link IllegalArgumentException}s whose message lacks the "who" prefix, which
 * only the caller knows ({@code --output} vs {@code FILE:LINE: output}).
 */
final class Values {
    private Values() {}

    /**
     * Parses {@code text} as a value of {@code option}. For {@link Option.Kind#FLAG} and
     * {@link Option.Kind#COUNTER} this is the config-file form; the command line never passes them a value.
     *
     * @param cwd an absolute path, which relative paths are appended to
     * @return a Boolean, Integer, String (a path, absolute, in {@link io.fanotifyd.kernel.PathCodec} form, or
     *         a {@link Option.Kind#TEXT} value), Optional&lt;String&gt; (output path; empty = stdout),
     *         {@link EventSelection} or {@link QueueSize}
     */
    static Object parse(Option option, String text, String cwd) {
        return switch (option.kind()) {
            case FLAG -> text.isEmpty() || bool(text);
            case COUNTER -> counter(text);
            case ACTION -> throw new IllegalStateException(option + " takes no value");
            case PATH -> path(text, cwd);
            case OUTPUT -> text.equals("-") ? Optional.<String>empty() : Optional.of(path(text, cwd));
            case TEXT -> {
                if (text.isEmpty()) {
                    throw new IllegalArgumentException("empty value");
                }
                yield text;
            }
            case NUMBER -> (int) integerInRange(text, minimum(option), maximum(option));
            case SIZE -> size(text, minimum(option), maximum(option));
            case EVENTS -> EventSelection.parse(text);
            case QUEUE_SIZE -> QueueSize.parse(text);
        };
    }

    /** 1/0/true/false/yes/no/on/off, case-insensitive. */
    static boolean bool(String text) {
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "1", "true", "yes", "on" -> true;
            case "0", "false", "no", "off" -> false;
            default -> throw new IllegalArgumentException(
                    "not a boolean: '" + text + "' (expected 1/0, true/false, yes/no or on/off)");
        };
    }

    // "verbose" alone or "verbose yes" reads naturally as "be verbose", i.e. level 1.
    private static int counter(String text) {
        if (text.isEmpty()) {
            return 1;
        }
        if (!looksLikeInteger(text)) {
            try {
                return bool(text) ? 1 : 0;
            } catch (IllegalArgumentException notBoolean) {
                throw new IllegalArgumentException("not a number: '" + text + "'");
            }
        }
        return (int) integerInRange(text, 0, Integer.MAX_VALUE);
    }

    /**
     * Made absolute against {@code cwd} now, because the daemon changes directory when it detaches. Done on
     * the string, never through {@code java.nio.file.Path}: not normalized, so a path through a symlink keeps
     * meaning what the user typed ({@code link/..}), and a {@link io.fanotifyd.kernel.PathCodec} string (lone
     * surrogates for bytes that are not UTF-8) is kept exactly as given.
     */
    static String path(String text, String cwd) {
        if (text.isEmpty()) {
            throw new IllegalArgumentException("empty path");
        }
        if (text.indexOf('\0') >= 0) {
            // The one thing a Linux path cannot hold; the message is the one Path.of used to give.
            throw new IllegalArgumentException("not a valid path: '" + text + "' (Nul character not allowed)");
        }
        return resolve(text, cwd);
    }

    /** {@code p} if absolute, else {@code cwd + "/" + p} (one slash between them). */
    static String resolve(String p, String cwd) {
        if (p.startsWith("/")) {
            return p;
        }
        return cwd.endsWith("/") ? cwd + p : cwd + "/" + p;
    }

    /** Optional minus sign and ASCII digits only: no {@code +}, no {@code _}, no hex. */
    static boolean looksLikeInteger(String text) {
        int start = text.startsWith("-") ? 1 : 0;
        if (text.length() == start) {
            return false;
        }
        for (int i = start; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    }

    /**
     * Bytes: digits with an optional unit {@code K}, {@code M} or {@code G} (either case; powers of 1024), within
     * {@code [min, max]}; the range is told in the unit the value was written in.
     */
    static long size(String text, long min, long max) {
        int shift = switch (text.isEmpty() ? ' ' : Character.toUpperCase(text.charAt(text.length() - 1))) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            default -> 0;
        };
        String digits = shift == 0 ? text : text.substring(0, text.length() - 1);
        if (digits.isEmpty() || digits.startsWith("-") || !looksLikeInteger(digits)) {
            throw new IllegalArgumentException("not a size: '" + text + "' (bytes, or a number with K, M or G)");
        }
        long value;
        try {
            value = Long.parseLong(digits);
        } catch (NumberFormatException tooManyDigits) {
            value = Long.MAX_VALUE;
        }
        if (value > Long.MAX_VALUE >> shift || value << shift < min || value << shift > max) {
            throw new IllegalArgumentException("out of range: '" + text + "' (" + human(min) + ".." + human(max)
                    + ")");
        }
        return value << shift;
    }

    private static String human(long bytes) {
        return bytes % (1 << 30) == 0 ? (bytes >> 30) + "G" : bytes % (1 << 20) == 0 ? (bytes >> 20) + "M"
                : bytes % 1024 == 0 ? (bytes >> 10) + "K" : Long.toString(bytes);
    }

    /** An integer within {@code [min, max]}; "not a number" or "out of range" otherwise. */
    static long integerInRange(String text, long min, long max) {
        if (!looksLikeInteger(text)) {
            throw new IllegalArgumentException("not a number: '" + text + "'");
        }
        long value;
        try {
            value = Long.parseLong(text);
        } catch (NumberFormatException tooManyDigits) {
            value = text.startsWith("-") ? Long.MIN_VALUE : Long.MAX_VALUE;
        }
        if (value < min || value > max) {
            throw new IllegalArgumentException("out of range: '" + text + "' (" + min + ".." + max + ")");
        }
        return value;
    }

    private static long maximum(Option option) {
        return switch (option) {
            case BURST_THRESHOLD -> 65536;
            case BATCH_DELAY_US, PERM_SPIN_US -> 1_000_000; // a second: beyond it, a setting is a mistake
            case SOCKET_BACKLOG -> 1L << 30;
            case OUTPUT_MAX_BYTES -> Long.MAX_VALUE >> 1;
            case OUTPUT_KEEP -> 1000;
            case STATS_INTERVAL_S -> 86_400;
            default -> Integer.MAX_VALUE;
        };
    }

    /** Windows and timeouts of 0 ms make no sense; counts and cooldowns may be 0 (off). */
    private static long minimum(Option option) {
        if (option == Option.SOCKET_BACKLOG) {
            return 1 << 20; // io.fanotifyd.sink.SocketHub.MIN_BACKLOG_BYTES: pieces of an eighth hold long records
        }
        return option == Option.BURST_WINDOW_MS || option == Option.HOOK_TIMEOUT_MS || option == Option.OUTPUT_KEEP
                ? 1 : 0;
    }
}
