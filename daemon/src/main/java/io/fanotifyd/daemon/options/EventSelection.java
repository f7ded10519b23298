package io.fanotifyd.daemon.options;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The parsed {@code --events} list. The daemon owns the default event set and the name-to-bit mapping,
 * so this only records what the user asked for.
 *
 * @param items    lower-case event names as given; when {@code relative}, each keeps its leading
 *                 {@code +} (add to the default set) or {@code -} (remove from it)
 * @param relative {@code true} if {@code items} adjust the default set, {@code false} if they replace it
 */
public record EventSelection(List<String> items, boolean relative) {

    /** Names accepted in an event list, matching the kernel's {@code FAN_*} names in lower case. */
    public static final List<String> NAMES = List.of(
            "access", "modify", "attrib", "close_write", "close_nowrite", "open", "open_exec",
            "moved_from", "moved_to", "create", "delete", "delete_self", "move_self", "rename", "ondir",
            "open_perm", "open_exec_perm", "access_perm");

    /** No {@code --events} given: the default set, unchanged. */
    public static final EventSelection DEFAULT = new EventSelection(List.of(), true);

    public EventSelection {
        items = List.copyOf(items);
    }

    /** Whether this leaves the default set untouched. */
    public boolean isDefault() {
        return relative && items.isEmpty();
    }

    /** Names to add to the default set (without the {@code +}); empty for an absolute list. */
    public List<String> added() {
        return withSign('+');
    }

    /** Names to remove from the default set (without the {@code -}); empty for an absolute list. */
    public List<String> removed() {
        return withSign('-');
    }

    private List<String> withSign(char sign) {
        if (!relative) {
            return List.of();
        }
        return items.stream().filter(i -> i.charAt(0) == sign).map(i -> i.substring(1)).toList();
    }

    /**
     * Parses {@code access,modify} (replace the default set) or {@code +access,-attrib} (adjust it).
     * Names are case-insensitive and may be surrounded by spaces.
     *
     * @throws IllegalArgumentException with a message naming the offending item
     */
    public static EventSelection parse(String list) {
        Objects.requireNonNull(list, "list");
        if (list.isBlank()) {
            throw new IllegalArgumentException("empty event list");
        }
        List<String> items = new ArrayList<>();
        String firstPlain = null;
        String firstSigned = null;
        // -1 keeps trailing empty strings, so "a," is reported instead of silently accepted.
        for (String raw : list.split(",", -1)) {
            String item = raw.strip();
            if (item.isEmpty()) {
                throw new IllegalArgumentException("empty item in event list '" + list + "'");
            }
            boolean signed = item.charAt(0) == '+' || item.charAt(0) == '-';
            String name = (signed ? item.substring(1) : item).strip().toLowerCase(Locale.ROOT);
            if (!NAMES.contains(name)) {
                String hint = Suggestions.closest(name, NAMES).map(s -> " (did you mean '" + s + "'?)").orElse("");
                throw new IllegalArgumentException("unknown event '" + item + "'" + hint);
            }
            if (signed) {
                firstSigned = firstSigned == null ? item : firstSigned;
                items.add(item.charAt(0) + name);
            } else {
                firstPlain = firstPlain == null ? item : firstPlain;
                items.add(name);
            }
        }
        if (firstPlain != null && firstSigned != null) {
            // Ambiguous: "access,+modify" could mean "exactly these" or "default plus these".
            throw new IllegalArgumentException("cannot mix plain and +/- event names ('" + firstPlain
                    + "' and '" + firstSigned + "')");
        }
        return new EventSelection(items, firstPlain == null);
    }
}
