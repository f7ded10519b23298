package io.fanotifyd.forward;

/** What the integration tests (package io.fanotifyd.it) use of the forwarder's package-private parts. */
public final class ForwardTestAccess {
    private ForwardTestAccess() {}

    /** The record's {@code event_id}, as the forwarder finds it; empty if it has none. */
    public static String eventId(byte[] record) {
        return Forwarder.eventId(record);
    }
}
