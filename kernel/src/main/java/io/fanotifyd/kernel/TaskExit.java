package io.fanotifyd.kernel;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import java.lang.foreign.MemorySegment;

/**
 * A view of one {@code struct taskstats} (linux/taskstats.h) in the receive buffer of a {@link Taskstats}
 * socket: the exit record of one task. Valid only inside {@link Taskstats.Sink#exited}; a flyweight, so
 * reading it allocates nothing.
 *
 * <p>Offsets are those of the header's struct on x86-64 and arm64 (both LP64, same alignment rules); fields are
 * only ever appended, so a newer kernel's longer struct keeps them. {@link #hasExe()} tells whether the kernel's
 * struct is version 12 or newer, the first with the thread group id and the executable's device and inode.
 */
public final class TaskExit {
    private static final long VERSION = 0;
    private static final long COMM = 80;
    private static final int COMM_MAX = 32;
    private static final long UID = 120;
    private static final long GID = 124;
    private static final long PID = 128;
    private static final long PPID = 132;
    private static final long BTIME64 = 344;
    private static final long TGID = 368;
    private static final long EXE_DEV = 384;
    private static final long EXE_INODE = 392;
    /** The bytes up to and including {@code ac_exe_inode}. */
    public static final int V12_SIZE = 400;
    /** The bytes up to and including {@code ac_btime}, the least a record must have to be used. */
    static final int BASIC_SIZE = 140;

    private MemorySegment buf;
    private long at;
    private int length;

    /** Points the view at the {@code length} bytes of a {@code struct taskstats} at {@code buf[at]}. */
    public void set(MemorySegment buf, long at, int length) {
        this.buf = buf;
        this.at = at;
        this.length = length;
    }

    public int version() {
        return buf.get(JAVA_SHORT_UNALIGNED, at + VERSION) & 0xffff;
    }

    /** The task's id (a thread id; the process id for a thread group's leader). */
    public int pid() {
        return buf.get(JAVA_INT_UNALIGNED, at + PID);
    }

    /** The thread group (process) id, from struct version 12; before it, {@link #pid()}. */
    public int tgid() {
        return hasExe() ? buf.get(JAVA_INT_UNALIGNED, at + TGID) : pid();
    }

    public int ppid() {
        return buf.get(JAVA_INT_UNALIGNED, at + PPID);
    }

    /** The real user id. */
    public int uid() {
        return buf.get(JAVA_INT_UNALIGNED, at + UID);
    }

    /** The real group id. */
    public int gid() {
        return buf.get(JAVA_INT_UNALIGNED, at + GID);
    }

    /** When the task started, in whole seconds of the wall clock. */
    public long startSeconds() {
        return length >= BTIME64 + 8 ? buf.get(JAVA_LONG_UNALIGNED, at + BTIME64)
                : buf.get(JAVA_INT_UNALIGNED, at + 136) & 0xffff_ffffL;
    }

    /** Whether {@link #exeDevice()} and {@link #exeInode()} are there (struct version 12 or newer). */
    public boolean hasExe() {
        return length >= V12_SIZE && version() >= 12;
    }

    /** The executable's device as the kernel encodes it ({@code huge_encode_dev}); 0 for a kernel thread. */
    public long exeDevice() {
        return buf.get(JAVA_LONG_UNALIGNED, at + EXE_DEV);
    }

    public long exeInode() {
        return buf.get(JAVA_LONG_UNALIGNED, at + EXE_INODE);
    }

    /** Copies the command name (at most {@code out.length} bytes, without its NUL) and returns its length. */
    public int comm(byte[] out) {
        int n = 0;
        int max = Math.min(COMM_MAX, out.length);
        while (n < max) {
            byte b = buf.get(JAVA_BYTE, at + COMM + n);
            if (b == 0) {
                break;
            }
            out[n++] = b;
        }
        return n;
    }
}
