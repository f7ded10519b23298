package io.fanotifyd.daemon.options;

import java.util.Locale;

/**
 * How deep the kernel's event queue may grow ({@code --queue-size}).
 * Sealed so the daemon's switch over it is checked for completeness by the compiler.
 */
public sealed interface QueueSize permits QueueSize.Unlimited, QueueSize.KernelDefault {

    /** {@code unlimited}: FAN_UNLIMITED_QUEUE; the default, because a dropped event is a silent gap. */
    QueueSize UNLIMITED = new Unlimited();

    /** {@code kernel}: whatever {@code fs.fanotify.max_queued_events} says. */
    QueueSize KERNEL = new KernelDefault();

    /** See {@link #UNLIMITED}. */
    record Unlimited() implements QueueSize {
        @Override
        public String toString() {
            return "unlimited";
        }
    }

    /** See {@link #KERNEL}. */
    record KernelDefault() implements QueueSize {
        @Override
        public String toString() {
            return "kernel";
        }
    }

    /**
     * Parses {@code unlimited} or {@code kernel} (case-insensitive). A number is refused: the kernel has no
     * per-group queue size, only the host-wide {@code fs.fanotify.max_queued_events}, and a daemon that
     * changed that for itself would change it for every other fanotify user on the host too.
     *
     * @throws IllegalArgumentException with a message quoting {@code text}
     */
    static QueueSize parse(String text) {
        switch (text.toLowerCase(Locale.ROOT)) {
            case "unlimited" -> {
                return UNLIMITED;
            }
            case "kernel" -> {
                return KERNEL;
            }
            default -> {
                if (Values.looksLikeInteger(text)) {
                    throw new IllegalArgumentException("'" + text + "': the kernel has no per-group queue size;"
                            + " set sysctl fs.fanotify.max_queued_events and use 'kernel'");
                }
                throw new IllegalArgumentException("not 'unlimited' or 'kernel': '" + text + "'");
            }
        }
    }
}
