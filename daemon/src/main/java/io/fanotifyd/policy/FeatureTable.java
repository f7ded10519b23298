package io.fanotifyd.policy;

/**
 * A hash table from 64-bit feature keys (never 0) to int values, filled once and then only read: open
 * addressing with linear probing at a load of at most one half, so a lookup touches one or two slots and
 * allocates nothing.
 */
final class FeatureTable {
    private final long[] keys;
    private final int[] values;
    private final int mask;

    /** Holds {@code keys[i] -> values[i]} for i below {@code n}; the keys must be distinct and not 0. */
    FeatureTable(long[] keys, int[] values, int n) {
        int capacity = Integer.highestOneBit(Math.max(2, 2 * n - 1)) << 1;
        this.keys = new long[capacity];
        this.values = new int[capacity];
        this.mask = capacity - 1;
        for (int i = 0; i < n; i++) {
            long key = keys[i];
            if (key == 0) {
                throw new IllegalArgumentException("key 0 is reserved for empty slots");
            }
            int slot = slot(key);
            while (this.keys[slot] != 0) {
                if (this.keys[slot] == key) {
                    throw new IllegalArgumentException("duplicate key " + key);
                }
                slot = (slot + 1) & mask;
            }
            this.keys[slot] = key;
            this.values[slot] = values[i];
        }
    }

    /** The value stored for {@code key}, or -1. */
    int get(long key) {
        int slot = slot(key);
        long k;
        while ((k = keys[slot]) != 0) {
            if (k == key) {
                return values[slot];
            }
            slot = (slot + 1) & mask;
        }
        return -1;
    }

    private int slot(long key) {
        // Keys are already mixed (CanaryMatcher.key): the low bits are as good as any.
        return (int) (key ^ (key >>> 32)) & mask;
    }
}
