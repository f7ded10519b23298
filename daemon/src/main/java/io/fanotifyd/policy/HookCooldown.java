package io.fanotifyd.policy;

/**
 * At most one hook run per process and alert kind per cooldown. It limits hook runs only: every alert is
 * recorded and every decision is made whatever the cooldown says. Keyed by pid, start time and kind, so a
 * reused pid starts fresh and a canary alert never silences the same process's burst hook (the C reference
 * shares one cooldown per pid across kinds). Bounded: when full, the oldest half is forgotten, which can only
 * allow an extra hook run, never suppress one wrongly.
 */
public final class HookCooldown {
    private final long cooldownMs;
    private final int max;
    private final java.util.LinkedHashMap<Key, Long> lastRun;

    private record Key(int pid, long startTime, String kind) {}

    public HookCooldown(long cooldownMs, int max) {
        this.cooldownMs = cooldownMs;
        this.max = max;
        this.lastRun = new java.util.LinkedHashMap<>(64, 0.75f, true);
    }

    /** Whether the hook may run now for this process and kind; records the run if so. */
    public boolean tryAcquire(int pid, long startTime, String kind, long nowMs) {
        if (cooldownMs == 0) {
            return true;
        }
        Key k = new Key(pid, startTime, kind);
        Long last = lastRun.get(k);
        if (last != null && nowMs - last < cooldownMs) {
            return false;
        }
        if (lastRun.size() >= max) {
            var it = lastRun.entrySet().iterator();
            for (int i = 0; i < max / 2 && it.hasNext(); i++) {
                it.next();
                it.remove();
            }
        }
        lastRun.put(k, nowMs);
        return true;
    }
}
