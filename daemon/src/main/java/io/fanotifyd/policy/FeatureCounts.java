package io.fanotifyd.policy;

/**
 * How many patterns have each feature key (never 0): a growing open-addressing table of primitive longs and
 * ints, so that counting the features of 10,000 patterns at start-up boxes nothing.
 */
final class FeatureCounts {
    private long[] keys = new long[1024];
    private int[] counts = new int[1024];
    private int size;

    /** Counts one more pattern with {@code key}. */
    void add(long key) {
        if (2 * (size + 1) > keys.length) {
            grow();
        }
        int slot = find(keys, key);
        if (keys[slot] == 0) {
            keys[slot] = key;
            size++;
        }
        counts[slot]++;
    }

    /** How many patterns have {@code key}. */
    int get(long key) {
        int slot = find(keys, key);
        return keys[slot] == 0 ? 0 : counts[slot];
    }

    private static int find(long[] keys, long key) {
        int mask = keys.length - 1;
        int slot = (int) (key ^ (key >>> 32)) & mask;
        while (keys[slot] != 0 && keys[slot] != key) {
            slot = (slot + 1) & mask;
        }
        return slot;
    }

    private void grow() {
        long[] oldKeys = keys;
        int[] oldCounts = counts;
        keys = new long[2 * oldKeys.length];
        counts = new int[2 * oldKeys.length];
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != 0) {
                int slot = find(keys, oldKeys[i]);
                keys[slot] = oldKeys[i];
                counts[slot] = oldCounts[i];
            }
        }
    }
}
