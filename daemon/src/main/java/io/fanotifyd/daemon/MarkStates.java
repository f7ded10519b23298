package io.fanotifyd.daemon;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Which marked paths still have their kernel mark, and what to log when that changes. The kernel drops a mark
 * without a word: a filesystem mark and the inode marks on a filesystem when the filesystem goes (its last
 * mount unmounted), a mount mark when its mount goes, an inode mark when its inode is deleted. The marks it
 * still holds are listed in the group's {@code /proc/self/fdinfo}, which is the truth used here; the mount
 * table says why one went, and which live marks are only held by something else (a lazy unmount of a busy
 * filesystem, a copy of the mount in another mount namespace).
 *
 * <p>Pure logic over what {@link MarkWatch} reads, so that it can be tested without a kernel.
 */
final class MarkStates {
    /** A mount, unmounted here but still alive, is reported as such once it has stayed so this long. */
    static final long LINGER_REPORT_MS = 1000;

    /** The kernel mark whose loss ends a marked path. */
    enum Kind { INODE, MOUNT, FILESYSTEM }

    /**
     * A marked path: its option, the path as given, the kind of mark, its filesystem's device in the kernel's
     * encoding and the mount id of the mount it was marked through (from {@code /proc/self/mountinfo}).
     */
    record Mark(String flag, String path, Kind kind, int dev, int mountId) {}

    private static final int LIVE = 0;
    private static final int LINGERING = 1;
    private static final int LINGERING_REPORTED = 2;
    private static final int GONE = 3;
    private static final int UNTRACKED = 4;

    private final List<Mark> marks;
    private final long[] inodes;
    private final int[] states;
    private final long[] lingeringSince;
    private int gone;

    MarkStates(List<Mark> marks) {
        this.marks = List.copyOf(marks);
        this.inodes = new long[marks.size()];
        this.states = new int[marks.size()];
        this.lingeringSince = new long[marks.size()];
        java.util.Arrays.fill(inodes, -1);
    }

    List<Mark> marks() {
        return marks;
    }

    /** The inode number of inode mark {@code i}'s object, read after marking; -1 (unreadable) counts as gone. */
    void inode(int i, long ino) {
        inodes[i] = ino;
    }

    /**
     * Checks, right after marking, that the kernel lists each mark under the key worked out for it; one it does
     * not (a filesystem whose inode numbers differ from what {@code statx} says) is left alone rather than
     * reported gone by mistake. An inode mark whose inode could not be read (its directory already deleted) is
     * left to {@link #update}, which reports it gone.
     *
     * @return the warnings to log
     */
    List<String> verify(Set<String> kernelMarks) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < marks.size(); i++) {
            Mark m = marks.get(i);
            String key = key(m, inodes[i]);
            if (states[i] == LIVE && key != null && !kernelMarks.contains(key)) {
                states[i] = UNTRACKED;
                lines.add(m.flag() + " " + m.path() + ": its mark is not found in /proc/self/fdinfo as " + key
                        + "; its end will not be logged");
            }
        }
        return lines;
    }

    /** Whether every mark is gone. */
    boolean noneLeft() {
        return gone == marks.size();
    }

    /** Whether a live mark's mount is no longer in the table: worth checking again until it goes. */
    boolean lingering() {
        for (int state : states) {
            if (state == LINGERING || state == LINGERING_REPORTED) {
                return true;
            }
        }
        return false;
    }

    /**
     * Compares with the kernel's marks now.
     *
     * @param kernelMarks the group's marks, as {@link #kernelKeys} makes them from its fdinfo
     * @param present     what the mount table holds now
     * @param nowMs       a monotonic clock
     * @return the warnings to log, one line each, in order
     */
    List<String> update(Set<String> kernelMarks, MountInfo.Present present, long nowMs) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < marks.size(); i++) {
            if (states[i] == GONE || states[i] == UNTRACKED) {
                continue;
            }
            Mark m = marks.get(i);
            boolean mounted = m.kind() == Kind.MOUNT ? present.mountIds().contains(m.mountId())
                    : present.devs().contains(m.dev());
            String key = key(m, inodes[i]);
            if (key == null || !kernelMarks.contains(key)) {
                states[i] = GONE;
                gone++;
                lines.add(m.flag() + " " + m.path() + ": mark gone: " + reason(m, mounted)
                        + "; nothing more is reported from it (" + again(m) + " is not watched)");
                continue;
            }
            if (mounted) {
                states[i] = LIVE;
            } else if (states[i] == LIVE) {
                states[i] = LINGERING;
                lingeringSince[i] = nowMs;
            } else if (states[i] == LINGERING && nowMs - lingeringSince[i] >= LINGER_REPORT_MS) {
                states[i] = LINGERING_REPORTED;
                // A copy of a mount in another namespace is a mount of its own, without this mark.
                lines.add(m.flag() + " " + m.path() + ": unmounted, but the kernel keeps its mark while the "
                        + (m.kind() == Kind.MOUNT ? "mount is still in use (a lazy unmount)" : "filesystem is still"
                        + " in use (a lazy unmount) or mounted in another mount namespace")
                        + "; its events are reported until it goes");
            }
        }
        if (gone == marks.size() && !lines.isEmpty()) {
            lines.add("no marks left: nothing more will be reported; fanotifyd keeps running (output, socket"
                    + " subscribers, pid file) until it is stopped");
        }
        return lines;
    }

    private static String reason(Mark m, boolean mounted) {
        return switch (m.kind()) {
            case MOUNT -> "its mount was unmounted";
            case FILESYSTEM -> "its filesystem was unmounted";
            case INODE -> mounted ? "the directory was deleted" : "its filesystem was unmounted";
        };
    }

    private static String again(Mark m) {
        return switch (m.kind()) {
            case MOUNT, FILESYSTEM -> "a filesystem mounted there again";
            case INODE -> "anything made again at that path";
        };
    }

    /** The mark's key as {@link #kernelKeys} writes it; null for an inode mark whose inode is unknown. */
    static String key(Mark m, long inode) {
        return switch (m.kind()) {
            case INODE -> inode < 0 ? null : "i:" + Long.toHexString(inode) + ":" + Integer.toHexString(m.dev());
            case MOUNT -> "m:" + Integer.toHexString(m.mountId());
            case FILESYSTEM -> "s:" + Integer.toHexString(m.dev());
        };
    }

    /**
     * The marks a fanotify group's {@code /proc/self/fdinfo/FD} lists, as keys: {@code i:INO:SDEV} for inode
     * marks, {@code m:MNT_ID} for mount marks, {@code s:SDEV} for filesystem marks (all hex, as the kernel
     * prints them: {@code fanotify ino:2 sdev:28 ...}, {@code fanotify mnt_id:2d ...},
     * {@code fanotify sdev:27 ...}).
     */
    static Set<String> kernelKeys(String fdinfo) {
        Set<String> keys = new java.util.HashSet<>();
        for (String line : fdinfo.split("\n")) {
            if (!line.startsWith("fanotify ")) {
                continue;
            }
            String ino = null;
            String sdev = null;
            String mnt = null;
            for (String field : line.split(" ")) {
                if (field.startsWith("ino:")) {
                    ino = field.substring(4);
                } else if (field.startsWith("sdev:")) {
                    sdev = field.substring(5);
                } else if (field.startsWith("mnt_id:")) {
                    mnt = field.substring(7);
                }
            }
            if (ino != null && sdev != null) {
                keys.add("i:" + ino + ":" + sdev);
            } else if (mnt != null) {
                keys.add("m:" + mnt);
            } else if (sdev != null) {
                keys.add("s:" + sdev);
            }
        }
        return keys;
    }
}
