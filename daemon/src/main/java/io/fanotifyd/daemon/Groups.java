package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.QueueSize;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Taskstats;

/**
 * The kernel groups a run reads from: the notification group (FID or FD mode), the permission group, and the
 * taskstats socket that names processes gone before their events are read. Failures become
 * {@link StartupException}s with the kernel's reason.
 */
final class Groups {
    private Groups() {}

    /** The exit-record socket's buffer: what may queue between two drains (about 1 KiB per exit). */
    static final int TASKSTATS_BUFFER_BYTES = 4 << 20;

    static FanotifyGroup openGroup(boolean fid, QueueSize queueSize) {
        int flags = Fanotify.FAN_CLASS_NOTIF | Fanotify.FAN_CLOEXEC | Fanotify.FAN_NONBLOCK
                | Fanotify.FAN_REPORT_PIDFD | Fanotify.FAN_UNLIMITED_MARKS;
        if (fid) {
            flags |= Fanotify.FAN_REPORT_DFID_NAME | Fanotify.FAN_REPORT_FID;
            return open(flags, queueSize);
        }
        // FD mode: an event whose fd the kernel cannot open (out of descriptors, a file that cannot be opened)
        // is otherwise dropped without a trace; with FAN_REPORT_FD_ERROR (6.13+) it comes with the errno
        // instead, and is reported without its path. Older kernels refuse the flag: then the fd budget alone
        // keeps reads from running out of descriptors.
        try {
            return open(flags | Fanotify.FAN_REPORT_FD_ERROR, queueSize);
        } catch (StartupException e) {
            Log.debug("no FAN_REPORT_FD_ERROR (" + e.getMessage() + "): events whose fd cannot be opened are lost");
            return open(flags, queueSize);
        }
    }

    /**
     * The permission group. With a bounded queue the kernel, finding it full, drops a permission event and
     * lets the access through unasked: hence unlimited unless the user insists (and is warned).
     */
    static FanotifyGroup openPermissionGroup(QueueSize queueSize) {
        if (queueSize instanceof QueueSize.KernelDefault) {
            Log.warn("--queue-size kernel in permission mode: when the kernel queue is full, opens are allowed"
                    + " without being asked");
        }
        // No FAN_REPORT_PIDFD: the opener waits for our answer, so its pid cannot be reused meanwhile, and a
        // pidfd made and closed per open cost measurable time on the opener's critical path.
        // Blocking: the permission thread waits in read() (PermissionLoop).
        return open(Fanotify.FAN_CLASS_CONTENT | Fanotify.FAN_CLOEXEC | Fanotify.FAN_UNLIMITED_MARKS, queueSize);
    }

    private static FanotifyGroup open(int flags, QueueSize queueSize) {
        int eventFlags = Fanotify.O_RDONLY | Fanotify.O_LARGEFILE | Fanotify.O_CLOEXEC;
        try {
            // instanceof, not a pattern switch: its bootstrap spins a class at run time, on the start-up path.
            return FanotifyGroup.open(queueSize instanceof QueueSize.Unlimited
                    ? flags | Fanotify.FAN_UNLIMITED_QUEUE : flags, eventFlags);
        } catch (NativeCallException e) {
            throw new StartupException(e.getMessage());
        }
    }

    /**
     * The kernel's exit records, to name processes gone before their events are read; null, with one log line,
     * where they are not to be had (no CAP_NET_ADMIN, not in the initial namespaces, no taskstats).
     */
    static Taskstats openTaskstats() {
        try {
            Taskstats t = Taskstats.open(TASKSTATS_BUFFER_BYTES);
            Log.debug("exit records: taskstats registered, socket fd " + t.fd());
            return t;
        } catch (RuntimeException | LinkageError e) {
            if (!(e instanceof NativeCallException n)) {
                Log.warn("exit records: unavailable (" + e + "); a process that exits before its events are read"
                        + " may be reported without comm and exe");
                return null;
            }
            String why = switch (n.errno()) {
                case io.fanotifyd.kernel.Errno.EPERM -> "no CAP_NET_ADMIN";
                case io.fanotifyd.kernel.Errno.EINVAL -> "not in the initial user and pid namespaces";
                case io.fanotifyd.kernel.Errno.ENOENT -> "the kernel has no taskstats";
                default -> "unavailable";
            };
            Log.warn("exit records: " + why + " (" + n.getMessage() + "); a process that exits before its events"
                    + " are read may be reported without comm and exe");
            return null;
        }
    }
}
