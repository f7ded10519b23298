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

    /** The parent's pid ({@code /proc/PID/stat} field 4). */
    public int parentPid() {
        return parentPid;
    }

    /** The process group ({@code /proc/PID/stat} field 5). */
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
