package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.OptionParser;
import io.fanotifyd.daemon.options.Settings;
import io.fanotifyd.daemon.options.UsageException;
import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.enrich.MountScope;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.policy.BurstDetector;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.HookCooldown;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.FdOutput;
import io.fanotifyd.sink.HookRunner;
import io.fanotifyd.sink.SocketHub;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * SIGHUP: the configuration read again and applied without closing the fanotify groups, on a thread of its
 * own (docs/RELOAD.md).
 *
 * <p>A reload is all or nothing. Everything is built and checked first (the command line and config file
 * parsed, settings that need new groups refused, jobs and canaries compiled, the marks planned, a new output,
 * log or socket path opened); then the new marks are placed beside the old ones (on a failure those placed so
 * far are taken back); then the new rules are switched in, one reference per thread, so that each event is
 * judged whole by the old rules or by the new; and only then are the marks that the new configuration no
 * longer wants removed. A path in both configurations keeps its mark throughout, so no event is lost or
 * doubled, and a canary in both denies every open during the switch. The permission thread never waits for
 * any of this.
 *
 * <p>SIGHUP also reopens the output and the log file, as before: a rotation's signal is a reload too.
 */
final class Reloader implements AutoCloseable {
    /**
     * What a reload works with and never replaces.
     *
     * @param permGroup, permPipeline null in observe mode
     */
    record Parts(String[] rawArgs, String cwd, FanotifyGroup notifyGroup, FanotifyGroup permGroup, Filesystems filesystems,
                 Pipeline pipeline, Pipeline permPipeline, FdOutput output, Counters counters, SdNotify sdNotify,
                 int selfPid) {}

    private final Parts parts;
    private final Object lock = new Object();
    private final Thread thread;
    private int requested;
    private boolean closing;
    // The configuration in force; only the reload thread changes these after start-up.
    private Settings settings;
    private volatile Marks marks;
    private MarkWatch markWatch;
    private volatile SocketHub hub;
    /** The hub this class opened (to close at the end); the start-up's own is closed by the daemon. */
    private SocketHub ownHub;
    /** Closes the mark watcher in force and starts one for the new marks and --mount scope. */
    private volatile java.util.function.BiFunction<Marks, MountScope, MarkWatch> markWatchRestart;

    Reloader(Parts parts, Settings settings, Marks marks, SocketHub hub) {
        this.parts = parts;
        this.settings = settings;
        this.marks = marks;
        this.hub = hub;
        this.thread = Thread.ofPlatform().daemon().name("fanotifyd-reload").unstarted(this::run);
    }

    /** The mark watcher of the marks in force, restarted by each reload that changes them. */
    void watchMarks(MarkWatch watch, java.util.function.BiFunction<Marks, MountScope, MarkWatch> restart) {
        this.markWatch = watch;
        this.markWatchRestart = restart;
        watching.countDown();
    }

    /** Open once the mark watcher of the start-up's marks is set: a first reload waits for it (bounded). */
    private final java.util.concurrent.CountDownLatch watching = new java.util.concurrent.CountDownLatch(1);

    MarkWatch markWatch() {
        return markWatch;
    }

    Marks marks() {
        return marks;
    }

    void start() {
        thread.start();
    }

    /** From the SIGHUP handler: never blocks; signals that come during a reload make one more reload. */
    void request() {
        synchronized (lock) {
            requested++;
            lock.notifyAll();
        }
    }

    private void run() {
        try {
            watching.await(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            return;
        }
        while (true) {
            synchronized (lock) {
                while (requested == 0 && !closing) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closing) {
                    return;
                }
                requested = 0;
            }
            reloadAndReopen();
        }
    }

    /** One SIGHUP's work after the reopen its handler asked for: the reload, then systemd told. */
    private void reloadAndReopen() {
        String failure;
        try {
            failure = reload();
        } catch (RuntimeException e) {
            failure = "internal error: " + e;
        }
        Counters c = parts.counters();
        if (failure == null) {
            c.reloads.incrementAndGet();
        } else {
            c.failedReloads.incrementAndGet();
            Log.error("reload failed, the configuration in force is unchanged: " + failure);
        }
        String why = failure;
        // The signal's handler asked for the reopen already; this one (cheap, the same paths) only orders the
        // READY=1 after it.
        parts.output().requestReopen(() -> {
            if (why == null) {
                parts.sdNotify().reloaded();
            } else {
                parts.sdNotify().reloadFailed(why);
            }
        });
    }

    /** @return null once the new configuration is in force, else why it is not (one line) */
    String reload() {
        Settings next;
        try {
            next = OptionParser.parse(parts.rawArgs(), parts.cwd());
        } catch (UsageException e) {
            return e.getMessage();
        }
        String refused = needsRestart(settings, next);
        if (refused != null) {
            return refused + " needs a restart (a reload keeps the running groups and resources)";
        }
        if (!next.hasMarks()) {
            return "nothing to watch: give watch, mount or filesystem";
        }
        boolean fid = !next.noFid();
        boolean perm = next.policy().perm();
        long mask = EventSet.resolve(next.events(), fid, perm);
        long permMask = perm ? EventSet.permissionMask(next.events()) : 0;
        JobIndex jobs;
        Marks nextMarks = new Marks();
        MountScope scope = new MountScope();
        Opened opened = new Opened();
        try {
            jobs = JobConfig.jobIndex(next.jobs());
            if (perm) {
                nextMarks.plan(parts.permGroup(), parts.filesystems(), new MountScope(), next.watches(), next.mounts(),
                        next.filesystems(), false, permMask);
            }
            nextMarks.plan(parts.notifyGroup(), parts.filesystems(), scope, next.watches(), next.mounts(),
                    next.filesystems(), fid, mask);
            opened.open(settings, next);
        } catch (StartupException e) {
            opened.discard();
            return e.getMessage();
        }
        Policy policy = policy(next, mask);
        AlertHooks hooks = hooks(next);
        // The new marks beside the old: the permission group's first, as at start-up.
        List<Marks.Switch> switches = new ArrayList<>();
        try {
            if (perm) {
                switches.add(marks.switchTo(parts.permGroup(), nextMarks));
            }
            switches.add(marks.switchTo(parts.notifyGroup(), nextMarks));
        } catch (StartupException e) {
            for (Marks.Switch s : switches.reversed()) {
                s.undo();
            }
            opened.discard();
            if (hooks != parts.pipeline().hooks() && hooks != null) {
                hooks.close();
            }
            return e.getMessage();
        }
        // The switch: each thread takes the new rules with its next event.
        AlertHooks oldHooks = parts.pipeline().hooks();
        parts.pipeline().enricher().reconfigure(scope, jobs);
        parts.pipeline().reconfigure(perm ? policy.shareable() : policy, hooks);
        if (parts.permPipeline() != null) {
            parts.permPipeline().enricher().reconfigure(new MountScope(), jobs);
            parts.permPipeline().reconfigure(policy.shareable(), hooks);
        }
        for (Marks.Switch s : switches) {
            s.finish();
        }
        Marks oldMarks = marks;
        marks = nextMarks;
        opened.commit();
        if (oldHooks != null && oldHooks != hooks) {
            oldHooks.close(); // its running hooks are ended, its queued runs discarded and counted
            parts.counters().retireHooks(oldHooks);
        }
        Settings old = settings;
        settings = next;
        Log.setVerbosity(next.verbosity());
        var restart = markWatchRestart;
        if (restart != null && !oldMarks.placed().equals(nextMarks.placed())) {
            markWatch = restart.apply(nextMarks, scope);
        }
        Log.info("reloaded: " + nextMarks.count() + " marks, " + next.policy().canaries().size() + " canaries, "
                + next.jobs().size() + " jobs" + changes(old, next));
        return null;
    }

    /** The new rules; the burst windows carry over when threshold and window are unchanged. */
    private Policy policy(Settings next, long mask) {
        Settings.Policy p = next.policy();
        BurstDetector bursts = parts.pipeline().policy().bursts();
        Settings.Policy was = settings.policy();
        if (p.burstThreshold() == 0) {
            bursts = null;
        } else if (bursts == null || p.burstThreshold() != was.burstThreshold()
                || p.burstWindowMs() != was.burstWindowMs()) {
            bursts = new BurstDetector(p.burstThreshold(), p.burstWindowMs(), 16384,
                    Daemon.BURST_RING_BYTES / Long.BYTES);
        }
        return new Policy(new CanaryMatcher(p.canaries()), bursts, p.denyOnAlert(),
                (mask & io.fanotifyd.kernel.EventMask.RENAME) != 0);
    }

    /** The hooks in force if nothing about them changed, else new ones (null: no hook any more). */
    private AlertHooks hooks(Settings next) {
        Settings.Policy p = next.policy();
        Settings.Policy was = settings.policy();
        AlertHooks current = parts.pipeline().hooks();
        if (p.hook().equals(was.hook()) && p.hookCooldownMs() == was.hookCooldownMs()
                && p.hookTimeoutMs() == was.hookTimeoutMs()) {
            return current;
        }
        return p.hook().map(cmd -> new AlertHooks(new HookRunner(cmd, Daemon.HOOKS_RUNNING, Daemon.HOOKS_QUEUED,
                p.hookTimeoutMs(), Log::info), new HookCooldown(p.hookCooldownMs(), 65536), parts.selfPid()))
                .orElse(null);
    }

    /**
     * The settings a reload cannot change, by their config key, or null if none changed. Groups are made once
     * ({@code perm}, {@code no_fid}, {@code queue_size}); the descriptor budget counted hooks and subscribers
     * at start-up (so a hook or a socket cannot be added where there was none, only changed or removed).
     */
    static String needsRestart(Settings a, Settings b) {
        List<String> keys = new ArrayList<>();
        check(keys, "perm", a.policy().perm(), b.policy().perm());
        check(keys, "no_fid", a.noFid(), b.noFid());
        check(keys, "queue_size", a.queueSize(), b.queueSize());
        check(keys, "fail_closed", a.policy().failClosed(), b.policy().failClosed());
        check(keys, "pid_file", a.pidFile(), b.pidFile());
        check(keys, "batch_delay_us", a.batchDelayUs(), b.batchDelayUs());
        check(keys, "perm_spin_us", a.permSpinUs(), b.permSpinUs());
        check(keys, "socket_mode", a.socket().mode(), b.socket().mode());
        check(keys, "socket_group", a.socket().group(), b.socket().group());
        check(keys, "socket_backlog", a.socket().backlogBytes(), b.socket().backlogBytes());
        check(keys, "output_mode, output_max_bytes, output_keep", a.outputFile(), b.outputFile());
        check(keys, "metrics", a.health().metrics(), b.health().metrics());
        check(keys, "stats_interval_s", a.health().statsIntervalS(), b.health().statsIntervalS());
        // The event_id's RUN names one run of the daemon; the fields are encoded once for it.
        check(keys, "host_fields", a.fleet().hostFields(), b.fleet().hostFields());
        check(keys, "field", a.fleet().fields(), b.fleet().fields());
        if (a.policy().hook().isEmpty() && b.policy().hook().isPresent()) {
            keys.add("hook (where there was none)");
        }
        if (b.policy().perm() && a.policy().burstThreshold() == 0 && b.policy().burstThreshold() > 0) {
            keys.add("burst_threshold (from 0, in permission mode)"); // no catch-up was set up for it
        }
        if (a.socket().path().isEmpty() != b.socket().path().isEmpty()) {
            keys.add("socket (added or removed)");
        }
        if (a.output().isEmpty() != b.output().isEmpty()) {
            keys.add("output (to or from stdout)");
        }
        if (a.logFile().isEmpty() != b.logFile().isEmpty()) {
            keys.add("log_file (added or removed)");
        }
        return keys.isEmpty() ? null : String.join(", ", keys);
    }

    private static void check(List<String> keys, String key, Object a, Object b) {
        if (!Objects.equals(a, b)) {
            keys.add(key);
        }
    }

    private static String changes(Settings a, Settings b) {
        StringBuilder s = new StringBuilder();
        if (!a.output().equals(b.output())) {
            s.append("; output ").append(b.output().orElse("-"));
        }
        if (!a.socket().path().equals(b.socket().path())) {
            s.append("; socket ").append(b.socket().path().orElse(""));
        }
        if (!a.logFile().equals(b.logFile())) {
            s.append("; log file ").append(b.logFile().orElse(""));
        }
        return s.toString();
    }

    /**
     * The output, log and socket paths a reload moves to: opened (so checked) before anything switches,
     * switched by {@link #commit}, or closed again by {@link #discard}.
     */
    private final class Opened {
        private String outputPath;
        private String logPath;
        private SocketHub newHub;

        void open(Settings a, Settings b) {
            if (!a.output().equals(b.output())) {
                outputPath = b.output().get();
                try {
                    io.fanotifyd.kernel.Syscalls.closeQuietly(FdOutput.openForAppend(outputPath, b.outputFile().mode()));
                } catch (NativeCallException e) {
                    throw new StartupException("output " + outputPath + ": " + e.getMessage());
                }
            }
            if (!a.logFile().equals(b.logFile())) {
                logPath = b.logFile().get();
                try {
                    Log.checkFile(logPath);
                } catch (NativeCallException e) {
                    throw new StartupException("log_file " + logPath + ": " + e.getMessage());
                }
            }
            if (!a.socket().path().equals(b.socket().path())) {
                newHub = Outputs.openSocket(b.socket());
            }
        }

        void commit() {
            if (outputPath != null) {
                parts.output().moveTo(outputPath);
            }
            if (logPath != null) {
                Log.moveTo(logPath);
            }
            if (newHub != null) {
                newHub.limitSubscribers(hub.maxSubscribers());
                SocketHub old = hub;
                parts.output().subscribers(newHub);
                // The writer publishes under the hub's stream lock: once it is free, no publish to the old one
                // is under way, and the next takes the new one.
                old.streamLock().lock();
                old.streamLock().unlock();
                hub = newHub;
                old.close(); // its subscribers get what was queued for them, then the end of the stream
                ownHub = newHub;
            }
        }

        void discard() {
            if (newHub != null) {
                newHub.close();
            }
        }
    }

    /** The subscribers' hub in force (for the metrics and the stop line); null without --socket. */
    SocketHub hub() {
        return hub;
    }

    /** Stops reloading: a reload under way is finished first (bounded). At the start of the daemon's stop. */
    void stopReloading() {
        synchronized (lock) {
            closing = true;
            lock.notifyAll();
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Closes a hub a reload opened, once the output has written its last records (the start-up's hub and the
     * rest are the daemon's to close).
     */
    @Override
    public void close() {
        stopReloading();
        if (ownHub != null) {
            ownHub.close();
        }
    }
}
