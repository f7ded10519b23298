package io.fanotifyd.kernel;

/** The read buffer does not hold well-formed fanotify events; the message says where and why. */
public final class CorruptEventException extends RuntimeException {
    public CorruptEventException(long offset, String reason) {
        super("corrupt fanotify event buffer at byte " + offset + ": " + reason, null, false, false);
    }
}
