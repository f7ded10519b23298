package io.fanotifyd.kernel;

/**
 * A system call failed. The message names the call, its arguments and the error, for example
 * {@code fanotify_mark(fd=3, flags=FAN_MARK_ADD|FAN_MARK_MOUNT, mask=OPEN, path=/x): Invalid argument (EINVAL)}.
 */
public final class NativeCallException extends RuntimeException {
    private final String call;
    private final String arguments;
    private final int errno;
    private String message;

    public NativeCallException(String call, String arguments, int errno) {
        super(null, null, false, false);
        this.call = call;
        this.arguments = arguments;
        this.errno = errno;
    }

    /**
     * Built when first asked for: many failures are expected and handled by their errno alone (EEXIST from an
     * O_EXCL open, ENOENT from a probe), and the first description links libc's strerror functions, ~10 ms
     * of a start-up that opened an existing output file.
     */
    @Override
    public String getMessage() {
        String m = message;
        if (m == null) {
            m = call + "(" + arguments + "): " + Errno.describe(errno);
            message = m;
        }
        return m;
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
