package io.fanotifyd.daemon.options;

import java.io.Serial;

/**
 * A mistake on the command line or in the config file. The message is one line that already
 * names the culprit ({@code --burst-threshold: ...}, {@code -o: ...} or {@code FILE:LINE: key: ...});
 * the daemon prints it as {@code fanotifyd: <message>} and exits with status 2.
 */
public final class UsageException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    /** @param message the complete one-line message, without the {@code fanotifyd: } prefix */
    public UsageException(String message) {
        // No stack trace: this is a user error, printed as one line, never logged as a crash.
        super(message, null, false, false);
    }
}
