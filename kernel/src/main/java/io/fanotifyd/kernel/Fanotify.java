package io.fanotifyd.kernel;

/** Flag values from {@code <linux/fanotify.h>} and {@code <fcntl.h>} that the binding and its users need. */
public final class Fanotify {
    private Fanotify() {}

    // fanotify_init(2) flags
    public static final int FAN_CLOEXEC = 0x0000_0001;
    public static final int FAN_NONBLOCK = 0x0000_0002;
    public static final int FAN_CLASS_NOTIF = 0x0000_0000;
    public static final int FAN_CLASS_CONTENT = 0x0000_0004;
    public static final int FAN_CLASS_PRE_CONTENT = 0x0000_0008;
    public static final int FAN_UNLIMITED_QUEUE = 0x0000_0010;
    public static final int FAN_UNLIMITED_MARKS = 0x0000_0020;
    public static final int FAN_ENABLE_AUDIT = 0x0000_0040;
    public static final int FAN_REPORT_PIDFD = 0x0000_0080;
    public static final int FAN_REPORT_TID = 0x0000_0100;
    public static final int FAN_REPORT_FID = 0x0000_0200;
    public static final int FAN_REPORT_DIR_FID = 0x0000_0400;
    public static final int FAN_REPORT_NAME = 0x0000_0800;
    public static final int FAN_REPORT_TARGET_FID = 0x0000_1000;
    public static final int FAN_REPORT_FD_ERROR = 0x0000_2000;
    public static final int FAN_REPORT_DFID_NAME = FAN_REPORT_DIR_FID | FAN_REPORT_NAME;

    // fanotify_mark(2) flags
    public static final int FAN_MARK_ADD = 0x0000_0001;
    public static final int FAN_MARK_REMOVE = 0x0000_0002;
    public static final int FAN_MARK_DONT_FOLLOW = 0x0000_0004;
    public static final int FAN_MARK_ONLYDIR = 0x0000_0008;
    public static final int FAN_MARK_IGNORED_MASK = 0x0000_0020;
    public static final int FAN_MARK_IGNORED_SURV_MODIFY = 0x0000_0040;
    public static final int FAN_MARK_FLUSH = 0x0000_0080;
    public static final int FAN_MARK_EVICTABLE = 0x0000_0200;
    public static final int FAN_MARK_IGNORE = 0x0000_0400;
    public static final int FAN_MARK_INODE = 0x0000_0000;
    public static final int FAN_MARK_MOUNT = 0x0000_0010;
    public static final int FAN_MARK_FILESYSTEM = 0x0000_0100;

    // event metadata
    public static final int FANOTIFY_METADATA_VERSION = 3;
    public static final int METADATA_SIZE = 24;
    public static final int FAN_NOFD = -1;
    public static final int FAN_NOPIDFD = FAN_NOFD;
    public static final int FAN_EPIDFD = -2;

    // info record types
    public static final int INFO_FID = 1;
    public static final int INFO_DFID_NAME = 2;
    public static final int INFO_DFID = 3;
    public static final int INFO_PIDFD = 4;
    public static final int INFO_ERROR = 5;
    public static final int INFO_RANGE = 6;
    public static final int INFO_MNT = 7;
    public static final int INFO_OLD_DFID_NAME = 10;
    public static final int INFO_NEW_DFID_NAME = 12;

    // responses written back for permission events
    public static final int FAN_ALLOW = 0x01;
    public static final int FAN_DENY = 0x02;
    public static final int FAN_AUDIT = 0x10;

    // open(2) flags used with fanotify
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_NOCTTY = 0400;
    public static final int O_TRUNC = 01000;
    public static final int O_APPEND = 02000;
    public static final int O_NONBLOCK = 04000;
    public static final int O_LARGEFILE = 0100000;
    public static final int O_DIRECTORY = 0200000;
    public static final int O_NOFOLLOW = 0400000;
    public static final int O_NOATIME = 01000000;
    public static final int O_CLOEXEC = 02000000;
    public static final int O_PATH = 010000000;
    public static final int AT_FDCWD = -100;
    public static final int AT_EMPTY_PATH = 0x1000;
}
