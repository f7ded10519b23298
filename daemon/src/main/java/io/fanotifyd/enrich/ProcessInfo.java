package io.fanotifyd.enrich;

/**
 * What the daemon knows of one process: {@code comm} and {@code exe} as raw bytes (either may be any bytes).
 * Mutable and reused by {@link ProcessCache}; read it before the next lookup.
 */
public final class ProcessInfo {
    final byte[] comm = new byte[64];
    int commLength = -1;
    byte[] exe = new byte[256];
    int exeLength = -1;
    long verifiedBatch = -1;
    long verifiedMs;
    int pid;
    int processGroup;
    int parentPid;
    long startTime = -1;
    int uid = -1;
    int gid = -1;
    int euid = -1;
    int egid = -1;
    byte[] cgroup;
    /** Where this came from: the process's {@code /proc} entry, or its exit record (the process was gone). */
    boolean fromExitRecord;
    /** {@link ProcessCache#inheritedCgroup}'s answer, valid while {@link #parentCgroupStamp} is the stamp. */
    byte[] parentCgroup;
    long parentCgroupStamp = -1;
    /** The batch in which this was filled from an exit record, or -1. */
    long exitBatch = -1;
    /** The batch in which its {@code /proc} entry was found gone, or -1: not looked for again in that batch. */
    long goneBatch = -1;
    /** Changes whenever what this says changes: what an encoder made of it before is then stale. */
    long stamp;
    /** An encoder's own data for this process (its fields, encoded once per {@link #stamp}), or null. */
    public Object encoding;
    /** The {@link #stamp()} {@link #encoding} was made for. */
    public long encodingStamp = -1;

    public byte[] comm() {
        return comm;
    }

    /** -1 if unknown. */
    public int commLength() {
        return commLength;
    }

    public byte[] exe() {
        return exe;
    }

    /** -1 if unknown (a kernel thread, a zombie, or no permission). */
    public int exeLength() {
        return exeLength;
    }

    /** Changes whenever any of what this says changes. */
    public long stamp() {
        return stamp;
    }

    /** The real user id, or -1 if unknown. */
    public int uid() {
        return uid;
    }

    /** The real group id, or -1 if unknown. */
    public int gid() {
        return gid;
    }

    /**
     * The effective user id (what a setuid program runs as), or -1 if unknown: known while the process is
     * alive or a zombie, not from an exit record, which carries only the real ids.
     */
    public int euid() {
        return euid;
    }

    /** The effective group id, or -1 if unknown (as {@link #euid()}). */
    public int egid() {
        return egid;
    }

    /** The cgroup v2 path ({@code /proc/PID/cgroup}'s {@code 0::} line), or null if unknown. */
    public byte[] cgroup() {
        return cgroup;
    }

    /** Whether this came from the kernel's exit record of a process already gone when its event was read. */
    public boolean fromExitRecord() {
        return fromExitRecord;
    }

    /** The parent's pid ({@code /proc/PID/stat} field 4), or -1 if unknown. */
    public int parentPid() {
        return parentPid;
    }

    /** The process group ({@code /proc/PID/stat} field 5), or -1 if unknown (a process already gone). */
    public int processGroup() {
        return processGroup;
    }

    /**
     * Start time in clock ticks since boot ({@code /proc/PID/stat} field 22): with the pid, it names one process
     * for its whole life, so per-process state (burst windows, cooldowns) never passes to a reused pid.
     */
    public long startTime() {
        return startTime;
    }
}
