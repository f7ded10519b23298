package io.fanotifyd.daemon;

import static io.fanotifyd.kernel.EventMask.ATTRIB;
import static io.fanotifyd.kernel.EventMask.CLOSE_WRITE;
import static io.fanotifyd.kernel.EventMask.CREATE;
import static io.fanotifyd.kernel.EventMask.DELETE;
import static io.fanotifyd.kernel.EventMask.MODIFY;
import static io.fanotifyd.kernel.EventMask.MOVED_FROM;
import static io.fanotifyd.kernel.EventMask.MOVED_TO;
import static io.fanotifyd.kernel.EventMask.ONDIR;
import static io.fanotifyd.kernel.EventMask.OPEN;
import static io.fanotifyd.kernel.EventMask.RENAME;

import io.fanotifyd.daemon.options.EventSelection;
import io.fanotifyd.daemon.options.UsageException;
import io.fanotifyd.kernel.EventMask;

/**
 * The events the daemon asks the kernel for. Default (FID mode): opens, writes, closes after writing, creates,
 * deletes, renames (both the MOVED_FROM/MOVED_TO pair and one RENAME record with both paths) and attribute
 * changes, on files and directories. FD mode cannot have directory-entry or attribute events. Per-read ACCESS
 * and CLOSE_NOWRITE only on request ({@code --events +access}).
 */
final class EventSet {
    static final long DEFAULT_FID = OPEN | MODIFY | CLOSE_WRITE | CREATE | DELETE | MOVED_FROM | MOVED_TO | RENAME
            | ATTRIB | ONDIR;
    static final long DEFAULT_FD = OPEN | MODIFY | CLOSE_WRITE | ONDIR;

    private EventSet() {}

    /** Permission mode's default: opens and executions; {@code ACCESS_PERM} (every read) only on request. */
    static final long DEFAULT_PERM = EventMask.OPEN_PERM | EventMask.OPEN_EXEC_PERM;

    /**
     * The events of {@code selection} that are permission events, for the permission group; the default ones
     * if the selection names none.
     */
    static long permissionMask(EventSelection selection) {
        long all = resolveAll(selection, DEFAULT_FID | DEFAULT_PERM);
        long perm = all & EventMask.PERM_EVENTS;
        if (perm == 0) {
            throw new UsageException("--events: no permission events left for --perm (open_perm, open_exec_perm, "
                    + "access_perm)");
        }
        return perm;
    }

    /**
     * The notification mask for {@code selection}; a usage error if it is empty or asks FD mode for FID-only
     * events. In permission mode opens are reported by the permission group, so {@code open} is left out here.
     */
    static long resolve(EventSelection selection, boolean fid, boolean perm) {
        long mask = resolveAll(selection, (fid ? DEFAULT_FID : DEFAULT_FD) | (perm ? DEFAULT_PERM : 0))
                & ~EventMask.PERM_EVENTS;
        if (perm) {
            mask &= ~EventMask.OPEN;
        } else if ((resolveAll(selection, 0) & EventMask.PERM_EVENTS) != 0) {
            throw new UsageException("--events: permission events need --perm");
        }
        if ((mask & ~ONDIR) == 0) {
            throw new UsageException("--events: no events left to watch");
        }
        if (!fid && (mask & EventMask.FID_ONLY_EVENTS) != 0) {
            long fidOnly = mask & EventMask.FID_ONLY_EVENTS;
            throw new UsageException("--events: " + EventMask.names(fidOnly).toLowerCase()
                    + (Long.bitCount(fidOnly) == 1 ? " needs" : " need") + " FID mode; drop --no-fid or remove "
                    + (Long.bitCount(fidOnly) == 1 ? "it" : "them"));
        }
        return mask;
    }

    private static long resolveAll(EventSelection selection, long defaults) {
        long mask = defaults;
        if (!selection.isDefault()) {
            if (!selection.relative()) {
                mask = 0;
                for (String n : selection.items()) {
                    mask |= EventMask.parse(n);
                }
            } else {
                for (String n : selection.added()) {
                    mask |= EventMask.parse(n);
                }
                for (String n : selection.removed()) {
                    mask &= ~EventMask.parse(n);
                }
            }
        }
        return mask;
    }
}