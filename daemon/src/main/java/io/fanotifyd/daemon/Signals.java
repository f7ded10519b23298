package io.fanotifyd.daemon;

import sun.misc.Signal;

/**
 * The daemon's signals, handled from the start of a run.
 *
 * <ul>
 *   <li>SIGTERM and SIGINT stop it. A stop asked for while the daemon is still starting (warming up, placing
 *       marks) is remembered and honoured as soon as the event loop exists, so it still ends with its output
 *       written and its pid file and socket removed. The stop's deadline ({@link #STOP_TIMEOUT_MS}) counts from
 *       the signal.</li>
 *   <li>SIGUSR1 and SIGHUP reopen the output file and the log file (after a rotation renamed them); SIGHUP
 *       also reloads the configuration once the daemon is running ({@link Reloader}).</li>
 *   <li>Under systemd ({@link SdNotify}) a stop is told with {@code STOPPING=1}, and SIGHUP, which a unit's
 *       {@code ExecReload=} sends, with {@code RELOADING=1} before the reopen and {@code READY=1} once it is
 *       done.</li>
 * </ul>
 *
 * The JVM runs handlers on a thread of its own; they only set flags, wake the threads concerned and send
 * systemd a datagram that never blocks, so a signal never waits on anything.
 */
final class Signals {
    /** Everything read before a stop is written out within this time; what is not is counted and makes exit 1. */
    static final long STOP_TIMEOUT_MS = 10_000;

    private volatile long stopRequestedNs;
    private volatile EventLoop loop;
    private volatile java.util.function.Consumer<Runnable> reopen;
    private volatile SdNotify notify = SdNotify.NONE;
    /** Once the daemon is running: reloads the configuration (and reopens); before that SIGHUP only reopens. */
    private volatile Runnable reload;

    private static final int SIGHUP = 1;
    private static final int SIGUSR1 = 10;
    private static final int SIGTERM = 15;

    void install() {
        // A signal ignored by the parent (nohup ignores SIGHUP) stays ignored across exec, and the JVM then
        // refuses to handle it: a rotation's SIGHUP or a stop's SIGTERM would do nothing. These three are made
        // to work whatever the parent did; SIGINT keeps the convention that a background job ignores it.
        long ignored = ProcStatus.hexField("SigIgn");
        for (int sig : new int[] {SIGHUP, SIGUSR1, SIGTERM}) {
            if (ignored != -1 && (ignored & (1L << (sig - 1))) != 0) {
                io.fanotifyd.kernel.SessionCalls.signalDefault(sig);
            }
        }
        Signal.handle(new Signal("TERM"), s -> stop());
        Signal.handle(new Signal("INT"), s -> stop());
        Signal.handle(new Signal("USR1"), s -> reopen(() -> { }));
        Signal.handle(new Signal("HUP"), s -> reload());
    }

    /** Whom to tell about stops and reloads (before {@link #install()}). */
    void notifyTo(SdNotify n) {
        notify = n;
    }

    /** Stops the daemon as SIGTERM does (also used when the output's reader went away). */
    void stop() {
        if (stopRequestedNs == 0) {
            stopRequestedNs = System.nanoTime() | 1;
            notify.stopping();
        }
        EventLoop l = loop;
        if (l != null) {
            l.stop(stopRequestedNs + STOP_TIMEOUT_MS * 1_000_000L);
        }
    }

    /**
     * SIGHUP: a reload of the configuration once the daemon runs, and the reopen, told to systemd as a reload
     * (RELOADING=1, then READY=1 once both are done).
     */
    private void reload() {
        SdNotify n = notify;
        n.reloading();
        Runnable r = reload;
        if (r != null) {
            // The reopen at once, as before reloads existed: records made after the signal go to the new file.
            reopen(() -> { });
            r.run(); // the reload's thread tells systemd when it is done
        } else {
            reopen(n::reloaded);
        }
    }

    /** What SIGHUP does from now on besides the reopen ({@link Reloader#request}); null: only the reopen. */
    void reloadWith(Runnable r) {
        reload = r;
    }

    /** Reopens the output and the log file, then runs {@code done} (on whichever thread finished the reopen). */
    private void reopen(Runnable done) {
        java.util.function.Consumer<Runnable> r = reopen;
        if (r != null) {
            r.accept(done);
        } else {
            Log.reopen();
            done.run();
        }
    }

    boolean stopRequested() {
        return stopRequestedNs != 0;
    }

    /**
     * @param reopenAction reopens the output and the log file, and runs its argument once that is done
     */
    void attach(EventLoop l, java.util.function.Consumer<Runnable> reopenAction) {
        reopen = reopenAction;
        loop = l;
        if (stopRequestedNs != 0) {
            l.stop(stopRequestedNs + STOP_TIMEOUT_MS * 1_000_000L);
        }
    }
}
