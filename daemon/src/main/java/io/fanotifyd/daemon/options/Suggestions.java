package io.fanotifyd.daemon.options;

import java.util.Collection;
import java.util.Optional;

/** "Did you mean" hints for misspelled option names, config keys and event names. */
final class Suggestions {
    /** Two edits catch a dropped letter plus a swap ({@code wacth}) without suggesting unrelated names. */
    static final int MAX_DISTANCE = 2;

    private Suggestions() {}

    /** The candidate nearest to {@code input} (first in order on ties), if within {@link #MAX_DISTANCE}. */
    static Optional<String> closest(String input, Collection<String> candidates) {
        String best = null;
        int bestDistance = MAX_DISTANCE + 1;
        for (String candidate : candidates) {
            int d = distance(input, candidate);
            if (d < bestDistance) {
                best = candidate;
                bestDistance = d;
            }
        }
        return Optional.ofNullable(best);
    }

    /** Levenshtein distance (insert, delete, substitute; each costs 1). */
    static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitute, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }
}
