package io.fanotifyd.kernel;

/**
 * A system call failed. The message names the call, its arguments and the error, for example
 * {@code fanotify_mark(fd=3, flags=FAN_MARK_ADD|FAN_MARK_MOUNT, mask=OPEN, path=/x): Invalid argument (EINVAL)}.
 */
public final class NativeCallException extends RuntimeException {
    private final String call;
    private final int errno;

    public NativeCallException(String call, String arguments, int errno) {
        super(call + "(" + arguments + "): " + Errno.describe(errno), null, false, false);
        this.call = call;
        this.errno = errno;
    }

    /** The libc function that failed, e.g. {@code "fanotify_init"}. */
    public String call() {
        return call;
    }

    /** The errno the call left behind. */
    public int errno() {
        return errno;
    }
}
