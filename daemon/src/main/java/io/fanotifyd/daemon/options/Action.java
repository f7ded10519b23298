package io.fanotifyd.daemon.options;

/**
 * What the command line asked the daemon to do. {@code --help} and {@code --version} are
 * answered by the caller, so the parser never prints or exits the JVM itself and stays testable.
 */
public enum Action {
    /** Start watching with the parsed settings. */
    RUN,
    /** Print {@link HelpText#render()} to stdout and exit 0. */
    HELP,
    /** Print {@code fanotifyd <version>} to stdout and exit 0. */
    VERSION
}
