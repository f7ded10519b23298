package io.fanotifyd.daemon;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.UnixSocket;

import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * systemd's notification protocol (sd_notify(3)), spoken directly: each message is one datagram of
 * {@code KEY=VALUE} lines to the AF_UNIX socket named by {@code $NOTIFY_SOCKET} (a path, or an abstract name
 * written with a leading {@code @}). No libsystemd: the protocol is a datagram, and the daemon would otherwise
 * need a native library that hosts without systemd do not have. With {@code $NOTIFY_SOCKET} unset (not under
 * systemd, or not {@code Type=notify}) nothing at all is sent.
 *
 * <p>What is said, and when:
 * <ul>
 *   <li>{@code READY=1} once, right after the last mark is placed, so {@code systemctl start} returns when
 *       monitoring is live; with a {@code STATUS=} line;</li>
 *   <li>{@code STOPPING=1} when a stop begins (SIGTERM, or the output's reader went away);</li>
 *   <li>{@code RELOADING=1} with {@code MONOTONIC_USEC} when SIGHUP arrives, then {@code READY=1} once the
 *       output and log have been reopened ({@link #reloading()}, {@link #reloaded()});</li>
 *   <li>{@code WATCHDOG=1} and {@code STATUS=} lines, sent by {@link Watchdog}.</li>
 * </ul>
 * Any thread may call; a message that cannot be sent is logged (at most every 10 s) and never stops the daemon.
 */
final class SdNotify {
    /** Not under a service manager that listens: every method does nothing. */
    static final SdNotify NONE = new SdNotify(null, 0);

    private final String socket;
    private final long watchdogUsec;
    private final LogLimiter failures = new LogLimiter(Log.WARN, 10_000);
    private boolean ready;
    private boolean stopping;
    private int reloads;

    private SdNotify(String socket, long watchdogUsec) {
        this.socket = socket;
        this.watchdogUsec = watchdogUsec;
    }

    /**
     * From the environment systemd gives a service: {@code NOTIFY_SOCKET}, and {@code WATCHDOG_USEC} when
     * {@code WatchdogSec=} is set, which counts only if {@code WATCHDOG_PID} is unset or this process's pid
     * (a variable inherited from a parent that was the watched process is not meant for us). A value that
     * cannot be used is warned about and left out.
     */
    static SdNotify fromEnvironment(Map<String, String> env, int selfPid) {
        String socket = env.get("NOTIFY_SOCKET");
        if (socket == null || socket.isEmpty()) {
            return NONE;
        }
        if (!(socket.startsWith("/") || socket.startsWith("@")) || socket.length() < 2) {
            Log.warn("NOTIFY_SOCKET=" + socket + ": not a socket path or an @abstract name; systemd is not told"
                    + " when the daemon is ready");
            return NONE;
        }
        long usec = 0;
        String watchdog = env.get("WATCHDOG_USEC");
        String watchdogPid = env.get("WATCHDOG_PID");
        if (watchdog != null && !watchdog.isEmpty()) {
            usec = positive(watchdog);
            if (usec <= 0) {
                Log.warn("WATCHDOG_USEC=" + watchdog + ": not a positive number of microseconds; no watchdog pings");
                usec = 0;
            } else if (watchdogPid != null && !watchdogPid.isEmpty()
                    && !watchdogPid.equals(Integer.toString(selfPid))) {
                Log.debug("WATCHDOG_PID=" + watchdogPid + " is not this process (" + selfPid + "): no watchdog pings");
                usec = 0;
            }
        }
        return new SdNotify(socket, usec);
    }

    private static long positive(String s) {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    boolean enabled() {
        return socket != null;
    }

    /** Whether a stop has begun (told or not). */
    synchronized boolean stopBegun() {
        return stopping;
    }

    /** The watchdog timeout systemd expects pings within, in µs; 0 without a watchdog. */
    long watchdogUsec() {
        return watchdogUsec;
    }

    /** Every mark is in place: {@code READY=1}, once, and not after a stop has begun. */
    void ready(String status) {
        synchronized (this) {
            if (socket == null || ready || stopping) {
                return;
            }
            ready = true;
        }
        send("READY=1\nSTATUS=" + status);
    }

    /** A stop began: {@code STOPPING=1}, once. */
    void stopping() {
        synchronized (this) {
            if (socket == null || stopping) {
                return;
            }
            stopping = true;
        }
        send("STOPPING=1\nSTATUS=stopping");
    }

    /**
     * SIGHUP arrived: {@code RELOADING=1} with the time it began on {@code CLOCK_MONOTONIC} (which
     * {@link System#nanoTime()} reads on Linux), as systemd wants it. Only between ready and stopping: a SIGHUP
     * during start-up must not tell systemd the daemon is ready.
     */
    void reloading() {
        long usec = System.nanoTime() / 1000;
        synchronized (this) {
            if (socket == null || !ready || stopping) {
                return;
            }
            reloads++;
        }
        send("RELOADING=1\nMONOTONIC_USEC=" + usec);
    }

    /** What SIGHUP does is done: {@code READY=1} again, if a {@link #reloading()} was told and no stop began. */
    /**
     * A reload that failed: the configuration in force is unchanged, so the service is ready as before, with
     * the reason in its status line and errno {@code EINVAL}.
     */
    void reloadFailed(String why) {
        synchronized (this) {
            if (socket == null || reloads == 0 || stopping) {
                return;
            }
            reloads = 0;
        }
        send("READY=1\nSTATUS=reload failed: " + why.replace('\n', ' ') + "\nERRNO=22");
    }

    void reloaded() {
        synchronized (this) {
            if (socket == null || reloads == 0 || stopping) {
                return;
            }
            reloads = 0;
        }
        send("READY=1");
    }

    /**
     * Sends one message (lines of {@code KEY=VALUE}) as it is, if a socket is set.
     *
     * @return whether it was sent
     */
    boolean send(String message) {
        if (socket == null) {
            return false;
        }
        int err;
        try {
            err = UnixSocket.sendDatagram(socket, message.getBytes(StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            failures.log("cannot notify systemd at " + socket + ": " + e.getMessage());
            return false;
        }
        if (err != 0) {
            failures.log("cannot notify systemd at " + socket + " (" + firstLine(message) + "): sendto: "
                    + Errno.describe(err));
            return false;
        }
        return true;
    }

    private static String firstLine(String message) {
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }

    /**
     * The {@code STATUS=} text: the marks placed, and records, alerts and dropped records (not written to
     * the output: too slow, failing or gone) since start; queue overflows when there were any.
     */
    static String status(int marks, long records, long alerts, long dropped, long overflows) {
        return marks + (marks == 1 ? " mark; " : " marks; ") + records + " records, " + alerts + " alerts, "
                + dropped + " dropped" + (overflows > 0 ? ", " + overflows + " queue overflows" : "");
    }
}
