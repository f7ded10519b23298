package io.fanotifyd.policy;

import io.fanotifyd.kernel.Fanotify;

/**
 * What the policy says about one event: a notification event is only observed; a permission event is allowed or
 * denied. One value from the policy to the kernel's answer and the record's {@code decision} field, so the three
 * cannot disagree.
 */
public enum Decision {
    OBSERVE("observe", 0),
    ALLOW("allow", Fanotify.FAN_ALLOW),
    DENY("deny", Fanotify.FAN_DENY);

    private final String label;
    private final int response;

    Decision(String label, int response) {
        this.label = label;
        this.response = response;
    }

    /** The record's {@code decision} field. */
    public String label() {
        return label;
    }

    /** The {@code response} written to the group for a permission event ({@code FAN_ALLOW}/{@code FAN_DENY}). */
    public int response() {
        if (this == OBSERVE) {
            throw new IllegalStateException("a notification event has no answer");
        }
        return response;
    }
}
