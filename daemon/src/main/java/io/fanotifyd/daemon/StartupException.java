package io.fanotifyd.daemon;

/** Start-up failed for a reason the user can act on; the message is the whole one-line explanation. */
public final class StartupException extends RuntimeException {
    public StartupException(String message) {
        super(message, null, false, false);
    }
}
