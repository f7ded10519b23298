package io.fanotifyd.daemon.options;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Parses the command line (and the config file it names) into {@link Settings}, driven by {@link Option}.
 *
 * <p>Command-line syntax, as getopt_long without abbreviations or permutation: {@code --name value},
 * {@code --name=value}, {@code -x value}, {@code -xvalue}, grouped short flags ({@code -fv}), and
 * {@code --} to end options. A value is taken from the next argument even if it starts with {@code -},
 * so {@code -o -} means stdout. There are no positional arguments. Flags take no value
 * ({@code --foreground=1} is an error). Scanning stops at {@code --help} or {@code --version}, which
 * win over anything after them and do not load the config file.
 *
 * <p>Precedence: the config file ({@code -c}, wherever it appears) is applied first, then the command
 * line; a scalar given on the command line replaces the config's value, list options are concatenated
 * (config first), and each {@code -v} adds one to the config's {@code verbose} level. Within one source
 * the last occurrence of a scalar wins. All arguments are validated before the config file is read.
 */
public final class OptionParser {
    private OptionParser() {}

    /**
     * A validated command-line occurrence: {@code flag} is the option as the user spelled it and
     * {@code text} the value as typed (null for flags).
     */
    private record Occurrence(Option option, Object value, String flag, String text) {}

    /**
     * Parses {@code args}.
     *
     * @param args the arguments, decoded with {@link io.fanotifyd.kernel.PathCodec} (so a path argument may
     *             hold lone surrogates standing for bytes that are not UTF-8; they are kept exactly)
     * @param cwd  the absolute directory (a {@link io.fanotifyd.kernel.PathCodec} string) that relative paths,
     *             on the command line and in the config file, are resolved against by string: {@code cwd + "/"
     *             + path}, not normalized
     * @throws UsageException for any mistake, with a one-line message naming the flag or {@code FILE:LINE}
     * @throws IllegalArgumentException if {@code cwd} is not absolute
     */
    public static Settings parse(String[] args, String cwd) {
        if (!cwd.startsWith("/")) {
            throw new IllegalArgumentException("cwd is not an absolute path: '" + cwd + "'");
        }
        String base = cwd;
        List<Occurrence> occurrences = new ArrayList<>();
        Optional<Action> action = scan(args, base, occurrences);
        if (action.isPresent()) {
            return new SettingsBuilder().action(action.get()).build();
        }

        SettingsBuilder builder = new SettingsBuilder();
        Occurrence config = null;
        for (Occurrence o : occurrences) {
            if (o.option() == Option.CONFIG) {
                if (config != null) {
                    // Silently dropping a whole file would be worse than "last wins" for a single value.
                    throw new UsageException(o.flag() + ": only one config file may be given");
                }
                config = o;
            }
        }
        if (config != null) {
            // Messages name the file as typed, like compilers do; Settings.config keeps the absolute path.
            for (ConfigFile.Entry e : ConfigFile.load((String) config.value(), config.text(), base)) {
                builder.apply(e.option(), e.value(), SettingsBuilder.Source.CONFIG_FILE, e.where() + ": "
                        + e.option().configKey().orElseThrow());
            }
        }
        for (Occurrence o : occurrences) {
            builder.apply(o.option(), o.value(), SettingsBuilder.Source.COMMAND_LINE, o.flag());
        }
        return builder.build();
    }

    /** Fills {@code out}; returns the action if {@code --help}/{@code --version} ended the scan. */
    private static Optional<Action> scan(String[] args, String cwd, List<Occurrence> out) {
        boolean endOfOptions = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (endOfOptions || arg.length() < 2 || arg.charAt(0) != '-') {
                throw new UsageException("unexpected argument '" + arg + "'");
            }
            if (arg.equals("--")) {
                endOfOptions = true;
                continue;
            }
            if (arg.startsWith("--")) {
                int eq = arg.indexOf('=');
                String flag = eq < 0 ? arg : arg.substring(0, eq);
                Option option = Option.byLongName(flag.substring(2)).orElseThrow(() -> unknownLong(flag));
                String value = null;
                if (option.kind().takesValue()) {
                    if (eq >= 0) {
                        value = arg.substring(eq + 1);
                    } else if (i + 1 < args.length) {
                        value = args[++i];
                    } else {
                        throw new UsageException(flag + ": missing argument " + option.argName());
                    }
                } else if (eq >= 0) {
                    throw new UsageException(flag + ": does not take a value");
                }
                Optional<Action> action = accept(option, flag, value, cwd, out);
                if (action.isPresent()) {
                    return action;
                }
                continue;
            }
            // A group of short options: flags until one that takes a value, which eats the rest.
            for (int j = 1; j < arg.length(); ) {
                int cp = arg.codePointAt(j);
                j += Character.charCount(cp);
                String flag = "-" + Character.toString(cp);
                Optional<Option> known = Character.isBmpCodePoint(cp)
                        ? Option.byShortName((char) cp)
                        : Optional.empty();
                Option option = known.orElseThrow(() -> new UsageException("unknown option '" + flag + "'"));
                String value = null;
                if (option.kind().takesValue()) {
                    if (j < arg.length()) {
                        value = arg.substring(j);
                    } else if (i + 1 < args.length) {
                        value = args[++i];
                    } else {
                        throw new UsageException(flag + ": missing argument " + option.argName());
                    }
                    j = arg.length();
                }
                Optional<Action> action = accept(option, flag, value, cwd, out);
                if (action.isPresent()) {
                    return action;
                }
            }
        }
        return Optional.empty();
    }

    private static UsageException unknownLong(String flag) {
        String hint = Suggestions.closest(flag.substring(2), Option.longNames())
                .map(s -> " (did you mean '--" + s + "'?)")
                .orElse("");
        return new UsageException("unknown option '" + flag + "'" + hint);
    }

    private static Optional<Action> accept(Option option, String flag, String value, String cwd, List<Occurrence> out) {
        Object parsed;
        switch (option.kind()) {
            case ACTION -> {
                return Optional.of(option == Option.VERSION ? Action.VERSION : Action.HELP);
            }
            case FLAG -> parsed = Boolean.TRUE;
            case COUNTER -> parsed = 1;
            default -> {
                try {
                    parsed = Values.parse(option, value, cwd);
                } catch (IllegalArgumentException e) {
                    throw new UsageException(flag + ": " + e.getMessage());
                }
            }
        }
        // Checked after the value, so an argument gives the same syntax error now as once the feature exists.
        if (!option.supported()) {
            throw new UsageException(flag + ": not supported yet");
        }
        out.add(new Occurrence(option, parsed, flag, value));
        return Optional.empty();
    }
}
