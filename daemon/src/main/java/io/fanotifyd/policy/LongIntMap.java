package io.fanotifyd.policy;

/**
 * A growing open-addressing map from long keys (never 0) to ints, for building the canary index: counting
 * the features of 10,000 patterns and linking their chains boxes nothing.
 */
final class LongIntMap {
    private long[] keys = new long[1024];
    private int[] values = new int[1024];
    private int size;

    /** The value stored for {@code key}, or {@code absent}. */
    int get(long key, int absent) {
        int slot = find(keys, key);
        return keys[slot] == 0 ? absent : values[slot];
    }

    void put(long key, int value) {
        if (key == 0) {
            throw new IllegalArgumentException("key 0 is reserved for empty slots");
        }
        if (2 * (size + 1) > keys.length) {
            grow();
        }
        int slot = find(keys, key);
        if (keys[slot] == 0) {
            keys[slot] = key;
            size++;
        }
        values[slot] = value;
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
        int[] oldValues = values;
        keys = new long[2 * oldKeys.length];
        values = new int[2 * oldKeys.length];
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != 0) {
                int slot = find(keys, oldKeys[i]);
                keys[slot] = oldKeys[i];
                values[slot] = oldValues[i];
            }
        }
    }
}
