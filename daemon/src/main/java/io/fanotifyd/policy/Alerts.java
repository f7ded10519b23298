package io.fanotifyd.policy;

import io.fanotifyd.enrich.PathRef;

/**
 * The alerts one event raised (at most a canary alert and a burst alert), reused for every event. Valid until
 * the next evaluation.
 */
public final class Alerts {
    public static final String CANARY = "canary";
    public static final String BURST = "burst";

    private final String[] kind = new String[2];
    private final String[] reason = new String[2];
    private final PathRef[] path = new PathRef[2];
    private final int[] count = new int[2];
    private final long[] windowMs = new long[2];
    private int size;

    void clear() {
        size = 0;
    }

    void add(String kind, String reason, PathRef path, int count, long windowMs) {
        this.kind[size] = kind;
        this.reason[size] = reason;
        this.path[size] = path;
        this.count[size] = count;
        this.windowMs[size] = windowMs;
        size++;
    }

    public int size() {
        return size;
    }

    /** {@link #CANARY} or {@link #BURST}. */
    public String kind(int i) {
        return kind[i];
    }

    /** "canary opened", "canary modified", "canary renamed", "canary deleted", or the burst's. */
    public String reason(int i) {
        return reason[i];
    }

    /** The path the alert is about: the canary path that matched, or the event's path for a burst. */
    public PathRef path(int i) {
        return path[i];
    }

    /** Burst alerts: mutating events in the window when the threshold was crossed; 0 for canaries. */
    public int count(int i) {
        return count[i];
    }

    /** Burst alerts: the window; 0 for canaries. */
    public long windowMs(int i) {
        return windowMs[i];
    }
}
