package io.fanotifyd.enrich;

import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.FidRecord;

/**
 * Fills an {@link Event} from the event under an {@link EventCursor}: paths (directory cache, file handles,
 * event fds), process identity, and the {@code --mount} scope filter. Allocates nothing on a cache hit.
 */
public final class Enricher {
    private static final long FD_DIR_POSSIBLE = EventMask.OPEN | EventMask.ACCESS | EventMask.CLOSE_NOWRITE
            | EventMask.OPEN_EXEC;
    private final boolean fidMode;
    private final int selfPid;
    private final DirPathCache dirs;
    private final HandleResolver resolver;
    private final ProcessCache processes;
    /** Replaced whole by a reload ({@link #reconfigure}); read once per event. */
    private volatile MountScope scope;
    private volatile JobIndex jobs;
    private long ownEvents;
    private long outOfScope;
    private long unresolved;
    private long fdErrors;

    public Enricher(boolean fidMode, int selfPid, DirPathCache dirs, HandleResolver resolver,
                    ProcessCache processes, MountScope scope, JobIndex jobs) {
        this.scope = scope;
        this.jobs = jobs;
        this.fidMode = fidMode;
        this.selfPid = selfPid;
        this.dirs = dirs;
        this.resolver = resolver;
        this.processes = processes;
    }

    /**
     * @param wallMs the wall-clock time of the read (the record's {@code ts_ms})
     * @param nowMs  a monotonic millisecond clock, for cache expiry (a wall-clock jump must not matter)
     * @return false if the event is not to be reported (the daemon's own, or not provably through a marked
     *     mount)
     */
    public boolean fill(EventCursor c, Event ev, long batch, long wallMs, long nowMs) {
        int start = start(c, ev, wallMs);
        if (start != CONTINUE) {
            return start == REPORT;
        }
        long mask = ev.mask;
        if (fidMode) {
            if (!fillFid(c, ev, nowMs)) {
                outOfScope++;
                return false;
            }
        } else if (c.fd() >= 0) {
            if (resolver.resolveFd(c.fd())) {
                ev.path.set(resolver.bytes(), resolver.length());
            } else {
                unresolved++;
            }
            // Only these can happen to a directory; a write or close-after-write proves a file.
            if ((mask & FD_DIR_POSSIBLE) != 0 && (mask & (EventMask.MODIFY | EventMask.CLOSE_WRITE)) == 0) {
                ev.dir = resolver.isDirectory(c.fd());
            }
        } else {
            // FD mode gives every event but an overflow an fd; a negative one is the errno of the kernel's
            // failed open (FAN_REPORT_FD_ERROR): the event is reported, without its path.
            ev.fdError = -c.fd();
            fdErrors++;
        }
        int pidfd = c.hasPidfd() ? c.pidfd() : ProcessCache.noPidfdInfo();
        ev.process = processes.lookup(ev.pid, pidfd, batch, nowMs);
        tagJobs(ev);
        return true;
    }

    /**
     * A reload's new {@code --mount} scope and jobs: each event from then on is tagged and filtered by the new
     * ones (an event is never half one, half the other). Any thread.
     */
    public void reconfigure(MountScope scope, JobIndex jobs) {
        this.jobs = jobs;
        this.scope = scope;
    }

    private void tagJobs(Event ev) {
        JobIndex jobs = this.jobs;
        if (!jobs.isEmpty()) {
            ev.job = jobs.lookup(ev.path);
            ev.oldJob = ev.rename ? jobs.lookup(ev.oldPath) : null;
            // A job's own directories say most; elsewhere (/tmp, a shared cache) its cgroup says whose it is.
            if (jobs.hasCgroups() && ev.process != null && (ev.job == null || (ev.rename && ev.oldJob == null))) {
                byte[] cgroup = ev.process.cgroup();
                JobIndex.Root byCgroup = jobs.lookupCgroup(cgroup != null ? cgroup
                        : processes.inheritedCgroup(ev.process));
                if (ev.job == null) {
                    ev.job = byCgroup;
                }
                if (ev.rename && ev.oldJob == null) {
                    ev.oldJob = byCgroup;
                }
            }
        }
    }

    /** A process seen within this long is not read from /proc again for its next permission event. */
    private static final long PERMISSION_PROCESS_MAX_AGE_MS = 100;

    /**
     * What a permission event needs: the path from the event fd, and the process, read now because the opener
     * is certainly alive while it waits for the answer (a short-lived one is often gone a moment later); at
     * most one {@code /proc} read per process per 100 ms. {@code is_dir} stays false: the permission group's
     * mask never has {@code FAN_ONDIR}, so the kernel sends it no events on directories.
     *
     * @return false for the daemon's own events
     */
    public boolean fillForDecision(EventCursor c, Event ev, long batch, long wallMs, long nowMs) {
        int start = start(c, ev, wallMs);
        if (start != CONTINUE) {
            return start == REPORT;
        }
        if (c.fd() >= 0) {
            if (resolver.resolveFd(c.fd())) {
                ev.path.set(resolver.bytes(), resolver.length());
            } else {
                unresolved++;
            }
        }
        int pidfd = c.hasPidfd() ? c.pidfd() : ProcessCache.noPidfdInfo();
        ev.process = processes.lookup(ev.pid, pidfd, batch, nowMs, PERMISSION_PROCESS_MAX_AGE_MS);
        tagJobs(ev);
        return true;
    }

    private static final int CONTINUE = 0;
    private static final int REPORT = 1;
    private static final int SKIP = 2;

    /** Resets {@code ev} for the event under {@code c}: an overflow is reported as is, our own is skipped. */
    private int start(EventCursor c, Event ev, long wallMs) {
        long mask = c.mask();
        ev.reset(mask, c.pid(), wallMs);
        if ((mask & EventMask.Q_OVERFLOW) != 0) {
            ev.kind = Event.KIND_OVERFLOW;
            return REPORT;
        }
        if (ev.pid == selfPid) {
            ownEvents++;
            return SKIP;
        }
        return CONTINUE;
    }

    private boolean fillFid(EventCursor c, Event ev, long nowMs) {
        long fsid;
        if (c.newDir().present()) {
            ev.rename = true;
            fsid = c.newDir().fsid();
            named(c.newDir(), ev.path, nowMs);
            named(c.oldDir(), ev.oldPath, nowMs);
        } else if (c.dir().present()) {
            fsid = c.dir().fsid();
            named(c.dir(), ev.path, nowMs);
        } else if (c.fid().present()) {
            fsid = c.fid().fsid();
            if (resolver.resolve(c.fid())) {
                // The resolver's buffer, as for FD mode: the record is written before the next event resolves.
                ev.path.set(resolver.bytes(), resolver.length());
            } else {
                unresolved++;
            }
        } else {
            return true;
        }
        MountScope scope = this.scope;
        boolean keep = ev.rename ? scope.acceptsRename(fsid, ev.mask, ev.path, ev.oldPath)
                : scope.accepts(fsid, ev.mask, ev.path);
        if (ev.dir && (ev.mask & (EventMask.MOVE | EventMask.RENAME | EventMask.DELETE)) != 0) {
            dirs.clear(); // every cached path below the renamed or deleted directory is now wrong
        }
        return keep;
    }

    private void named(FidRecord rec, PathRef out, long nowMs) {
        if (!rec.present()) {
            return;
        }
        byte[] dir = dirs.get(rec, nowMs);
        if (dir == null) {
            if (resolver.resolve(rec)) {
                dir = dirs.put(rec, resolver.bytes(), resolver.length(), nowMs);
            } else {
                unresolved++; // the directory is gone or unreachable: the name the kernel gave still counts
            }
        }
        if (dir != null) {
            out.set(dir, dir.length);
        }
        if (rec.hasName() && !isDot(rec)) {
            out.name(rec.buffer(), rec.nameOffset(), rec.nameLength());
        }
    }

    /** The kernel names an event on a marked directory itself "." : the path is then the directory's. */
    private static boolean isDot(FidRecord rec) {
        return rec.nameLength() == 1
                && rec.buffer().get(java.lang.foreign.ValueLayout.JAVA_BYTE, rec.nameOffset()) == '.';
    }

    /**
     * Called after each batch read from the group: closes what the batch opened on marked filesystems (see
     * {@link HandleResolver#endBatch()}), so that nothing of ours keeps them busy between batches.
     */
    public void endBatch() {
        resolver.endBatch();
    }

    public long ownEvents() {
        return ownEvents;
    }

    /** Events dropped because they were not provably made through a marked mount. */
    public long outOfScope() {
        return outOfScope;
    }

    public long unresolved() {
        return unresolved;
    }

    /** FD mode: events whose fd the kernel could not open (reported without a path). */
    public long fdErrors() {
        return fdErrors;
    }
}
