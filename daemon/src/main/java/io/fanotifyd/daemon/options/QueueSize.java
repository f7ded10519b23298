package io.fanotifyd.daemon.options;

import java.util.Locale;

/**
 * How deep the kernel's event queue may grow ({@code --queue-size}).
 * Sealed so the daemon's switch over it is checked for completeness by the compiler.
 */
public sealed interface QueueSize permits QueueSize.Unlimited, QueueSize.KernelDefault, QueueSize.Bounded {

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

    /** At most {@code events} queued events (1..2<sup>31</sup>-1). */
    record Bounded(int events) implements QueueSize {
        public Bounded {
            if (events < 1) {
                throw new IllegalArgumentException("queue size must be at least 1: " + events);
            }
        }

        @Override
        public String toString() {
            return Integer.toString(events);
        }
    }

    /**
     * Parses {@code N}, {@code unlimited} or {@code kernel} (words case-insensitive).
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
                if (!Values.looksLikeInteger(text)) {
                    throw new IllegalArgumentException("not a number, 'unlimited' or 'kernel': '" + text + "'");
                }
                return new Bounded((int) Values.integerInRange(text, 1, Integer.MAX_VALUE));
            }
        }
    }
}
