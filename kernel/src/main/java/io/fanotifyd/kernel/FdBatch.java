package io.fanotifyd.kernel;

import java.util.Arrays;

/**
 * The fds one read of a notification group handed over (pidfds; event fds in FD mode), closed together when
 * the batch is done: each run of consecutive fd numbers with one {@code close_range(2)}, a lone fd with
 * {@code close(2)}.
 *
 * <p>Why: with {@code FAN_REPORT_PIDFD} every event brings a pidfd, and closing them one by one was a system
 * call per record. The kernel installs a read's fds as the lowest free numbers in turn, so they come mostly
 * as one run. Closing a run is safe because every number in it is one of ours and still open: no other fd can
 * hold a number inside it, whatever other threads open or close meanwhile.
 *
 * <p>Not thread-safe: one per pipeline. Allocates only when a batch holds more fds than any before it.
 */
public final class FdBatch {
    private int[] fds = new int[256];
    private int size;
    private long calls;

    /** Adds an open fd of ours that nothing else will close; negative values are ignored. */
    public void add(int fd) {
        if (fd < 0) {
            return;
        }
        if (size == fds.length) {
            fds = Arrays.copyOf(fds, size * 2);
        }
        fds[size++] = fd;
    }

    public int size() {
        return size;
    }

    /** Closes every fd added since the last call. */
    public void closeAll() {
        int i = 0;
        while (i < size) {
            int first = fds[i];
            int last = first;
            while (i + 1 < size && fds[i + 1] == last + 1) {
                last = fds[++i];
            }
            i++;
            calls++;
            if (first == last) {
                Libc.close(first);
            } else if (Libc.closeRange(first, last) != 0) {
                for (int fd = first; fd <= last; fd++) { // ENOSYS before 5.9: one by one
                    Libc.close(fd);
                }
            }
        }
        size = 0;
    }

    /** System calls {@link #closeAll} has made (for tests and benchmarks). */
    public long calls() {
        return calls;
    }
}
