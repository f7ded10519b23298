package io.fanotifyd.enrich;

/**
 * One event, enriched: reused for every event the daemon handles (a flyweight), so it is valid only until
 * the next one. Paths point into the directory cache and the kernel's read buffer.
 */
public final class Event {
    public static final int KIND_EVENT = 0;
    public static final int KIND_OVERFLOW = 1;

    int kind;
    long mask;
    int pid;
    long tsMs;
    boolean dir;
    ProcessInfo process;
    final PathRef path = new PathRef();
    final PathRef oldPath = new PathRef();
    boolean rename;
    JobIndex.Root job;
    JobIndex.Root oldJob;
    int fdError;

    void reset(long mask, int pid, long tsMs) {
        this.fdError = 0;
        this.job = null;
        this.oldJob = null;
        this.kind = KIND_EVENT;
        this.mask = mask;
        this.pid = pid;
        this.tsMs = tsMs;
        this.dir = (mask & io.fanotifyd.kernel.EventMask.ONDIR) != 0;
        this.process = null;
        this.rename = false;
        path.clear();
        oldPath.clear();
    }

    public int kind() {
        return kind;
    }

    /** The kernel's mask, as read. */
    public long mask() {
        return mask;
    }

    public int pid() {
        return pid;
    }

    /** Wall-clock time the daemon read the event (the kernel stamps none). */
    public long tsMs() {
        return tsMs;
    }

    public boolean isDir() {
        return dir;
    }

    /** comm and exe, or null when the process could not be identified safely. */
    public ProcessInfo process() {
        return process;
    }

    /** Where the event happened; for a rename, the new path. */
    public PathRef path() {
        return path;
    }

    /** Whether {@link #oldPath()} holds a rename's old path. */
    public boolean isRename() {
        return rename;
    }

    public PathRef oldPath() {
        return oldPath;
    }

    /** The job root containing {@link #path()}, or null. */
    public JobIndex.Root job() {
        return job;
    }

    /** The job root containing {@link #oldPath()} (renames), or null. */
    public JobIndex.Root oldJob() {
        return oldJob;
    }

    /**
     * FD mode: the errno with which the kernel failed to open the event's fd (with
     * {@code FAN_REPORT_FD_ERROR}; the path is then unknown), or 0.
     */
    public int fdError() {
        return fdError;
    }

    /** The job root of one of this event's paths. */
    public JobIndex.Root jobOf(PathRef p) {
        return p == oldPath ? oldJob : job;
    }
}
