package io.fanotifyd.kernel;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Event mask bits and their names (the kernel's names without the {@code FAN_} prefix). */
public final class EventMask {
    private EventMask() {}

    public static final long ACCESS = 0x0000_0001L;
    public static final long MODIFY = 0x0000_0002L;
    public static final long ATTRIB = 0x0000_0004L;
    public static final long CLOSE_WRITE = 0x0000_0008L;
    public static final long CLOSE_NOWRITE = 0x0000_0010L;
    public static final long OPEN = 0x0000_0020L;
    public static final long MOVED_FROM = 0x0000_0040L;
    public static final long MOVED_TO = 0x0000_0080L;
    public static final long CREATE = 0x0000_0100L;
    public static final long DELETE = 0x0000_0200L;
    public static final long DELETE_SELF = 0x0000_0400L;
    public static final long MOVE_SELF = 0x0000_0800L;
    public static final long OPEN_EXEC = 0x0000_1000L;
    public static final long Q_OVERFLOW = 0x0000_4000L;
    public static final long FS_ERROR = 0x0000_8000L;
    public static final long OPEN_PERM = 0x0001_0000L;
    public static final long ACCESS_PERM = 0x0002_0000L;
    public static final long OPEN_EXEC_PERM = 0x0004_0000L;
    public static final long PRE_ACCESS = 0x0010_0000L;
    public static final long MNT_ATTACH = 0x0100_0000L;
    public static final long MNT_DETACH = 0x0200_0000L;
    public static final long EVENT_ON_CHILD = 0x0800_0000L;
    public static final long RENAME = 0x1000_0000L;
    public static final long ONDIR = 0x4000_0000L;

    public static final long CLOSE = CLOSE_WRITE | CLOSE_NOWRITE;
    public static final long MOVE = MOVED_FROM | MOVED_TO;
    /** Events about names in a directory: the kernel reports them only to FID groups, never on mount marks. */
    public static final long DIRENT_EVENTS = CREATE | DELETE | MOVED_FROM | MOVED_TO | RENAME;
    /** Events that need a FID group and are refused on mount marks (fanotify_mark(2), EINVAL). */
    public static final long FID_ONLY_EVENTS = DIRENT_EVENTS | ATTRIB | DELETE_SELF | MOVE_SELF;
    public static final long PERM_EVENTS = OPEN_PERM | ACCESS_PERM | OPEN_EXEC_PERM | PRE_ACCESS;

    private static final String[] NAMES = new String[64];

    static {
        NAMES[0] = "ACCESS";
        NAMES[1] = "MODIFY";
        NAMES[2] = "ATTRIB";
        NAMES[3] = "CLOSE_WRITE";
        NAMES[4] = "CLOSE_NOWRITE";
        NAMES[5] = "OPEN";
        NAMES[6] = "MOVED_FROM";
        NAMES[7] = "MOVED_TO";
        NAMES[8] = "CREATE";
        NAMES[9] = "DELETE";
        NAMES[10] = "DELETE_SELF";
        NAMES[11] = "MOVE_SELF";
        NAMES[12] = "OPEN_EXEC";
        NAMES[14] = "Q_OVERFLOW";
        NAMES[15] = "FS_ERROR";
        NAMES[16] = "OPEN_PERM";
        NAMES[17] = "ACCESS_PERM";
        NAMES[18] = "OPEN_EXEC_PERM";
        NAMES[20] = "PRE_ACCESS";
        NAMES[24] = "MNT_ATTACH";
        NAMES[25] = "MNT_DETACH";
        NAMES[27] = "EVENT_ON_CHILD";
        NAMES[28] = "RENAME";
        NAMES[30] = "ONDIR";
    }

    /** Name of a single bit (0..63), or {@code null} if the kernel defines none. */
    public static String bitName(int bit) {
        return NAMES[bit];
    }

    /** {@code "MODIFY,CLOSE_WRITE"}: set bits in ascending order; unknown bits as hex {@code 0x...}. */
    public static String names(long mask) {
        StringBuilder sb = new StringBuilder();
        for (long rest = mask; rest != 0; rest &= rest - 1) {
            int bit = Long.numberOfTrailingZeros(rest);
            if (!sb.isEmpty()) {
                sb.append(',');
            }
            sb.append(NAMES[bit] != null ? NAMES[bit] : "0x" + Long.toHexString(1L << bit));
        }
        return sb.toString();
    }

    /** The bit for a name such as {@code "close_write"} (case-insensitive), or 0 if there is none. */
    public static long parse(String name) {
        String upper = name.toUpperCase(Locale.ROOT);
        for (int bit = 0; bit < NAMES.length; bit++) {
            if (upper.equals(NAMES[bit])) {
                return 1L << bit;
            }
        }
        return 0;
    }

    /** All known names, in bit order. */
    public static List<String> allNames() {
        List<String> out = new ArrayList<>();
        for (String n : NAMES) {
            if (n != null) {
                out.add(n);
            }
        }
        return out;
    }
}
