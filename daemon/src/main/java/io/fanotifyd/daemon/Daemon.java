package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.Settings;
import io.fanotifyd.enrich.DirPathCache;
import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.ExitRecords;
import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.HandleResolver;
import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.enrich.MountScope;
import io.fanotifyd.enrich.ProcessCache;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.kernel.Taskstats;
import io.fanotifyd.policy.BurstDetector;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.HookCooldown;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.FdOutput;
import io.fanotifyd.sink.HookRunner;
import io.fanotifyd.sink.RecordEncoder;
import io.fanotifyd.sink.SocketHub;

import java.lang.foreign.Arena;
import java.util.concurrent.CompletableFuture;

/**
 * Wires the layers together for one run: groups and marks, enrichment, policy, output, hooks, the loop,
 * signals and clean-up.
 *
 * <p>Permission mode runs two groups: a content-class group in FD mode that answers open permission events
 * (the kernel refuses FID reporting there), and beside it the usual FID notification group, so names,
 * renames, deletes, modifications and bursts work as in observe mode.
 */
final class Daemon {
    static final int READ_BUFFER_BYTES = 256 << 10;
    static final int FLUSH_MS = 10;
    static final int WARMUP_ITERATIONS = 50;
    /**
     * In permission mode every event holds an opener, so the permission path is compiled before the marks: 2000
     * rounds cost ~10 ms of start-up and took ~1.8 µs off each open of a 20000-open run on the opener's CPU
     * (docs/PERFORMANCE.md).
     */
    static final int PERMISSION_WARMUP_ITERATIONS = 2000;
    /**
     * What burst windows may hold beyond each process's first 8 event times, all processes together: 8 processes
     * at the largest threshold (65536) at once. Unbounded, processes that burst one after another would keep
     * up to 16384 x 65536 x 8 bytes.
     */
    static final long BURST_RING_BYTES = 4L << 20;
    static final int HOOKS_RUNNING = 4;
    /** Exit records kept (about 100 bytes each): the exits of the last moments, system-wide. */
    static final int EXIT_RECORDS = 16384;
    static final int HOOKS_QUEUED = 256;
    static final long STOP_FLUSH_TIMEOUT_MS = Signals.STOP_TIMEOUT_MS;

    private final Settings settings;
    private final boolean detached;
    /** The arguments and directory the settings came from: a reload parses them again. */
    private final String[] rawArgs;
    private final String cwd;

    Daemon(Settings settings, boolean detached, String[] rawArgs, String cwd) {
        this.settings = settings;
        this.detached = detached;
        this.rawArgs = rawArgs;
        this.cwd = cwd;
    }

    int run() {
        Settings.Policy policySettings = settings.policy();
        boolean fid = !settings.noFid();
        boolean perm = policySettings.perm();
        long mask = EventSet.resolve(settings.events(), fid, perm);
        long permMask = perm ? EventSet.permissionMask(settings.events()) : 0;
        warnAboutIneffectiveSettings(policySettings);
        // A bad job configuration stops us before anything is created.
        JobIndex jobs = JobConfig.jobIndex(settings.jobs());
        if (detached) {
            Detach.becomeSessionLeader();
        }
        Signals signals = new Signals();
        SdNotify sdNotify = SdNotify.fromEnvironment(System.getenv(), Syscalls.getpid()); // systemd, if it listens
        signals.notifyTo(sdNotify);
        signals.install();
        long[] fdLimit = FdBudget.raiseLimit();
        // Bound on a thread of its own from the start (its classes take ~15 ms to load and link), joined before
        // the outputs are created, so that an address in use still stops the start-up before anything exists.
        CompletableFuture<io.fanotifyd.metrics.MetricsServer> metricsOpening =
                settings.health().metrics().isEmpty() ? CompletableFuture.completedFuture(null)
                        : CompletableFuture.supplyAsync(() -> MetricsEndpoint.open(settings.health().metrics()),
                                onThread("fanotifyd-metrics-bind"));
        int selfPid = Syscalls.getpid();
        String outputPath = settings.output().orElse("-");
        try (PidFile pidFile = settings.pidFile().map(p -> PidFile.acquire(p, selfPid)).orElse(null);
             FanotifyGroup notify = Groups.openGroup(fid, settings.queueSize());
             FanotifyGroup permGroup = perm ? Groups.openPermissionGroup(settings.queueSize()) : null;
             Filesystems filesystems = new Filesystems();
             Arena arena = Arena.ofShared()) {
            // Only now: without CAP_SYS_ADMIN opening the group failed, with its own message.
            Capabilities.warnAboutMissing(fid, perm, !policySettings.canaries().isEmpty());
            // Before the marks: events that arrive while the JVM is still cold would queue up meanwhile. What
            // matters is running each step once (class initialisation, call-site linking), not compile
            // thresholds: 50 rounds halved the comm-less records of a burst of short-lived processes as well as
            // 3000 did, at a fifth of the start-up cost. Fewer (10) saved little start-up beside the rest, and
            // moved ~30 ms of C1 compilation from before the marks to the first real events
            // (docs/PERFORMANCE.md).
            long t0 = System.nanoTime();
            // Registering for exit records takes a few netlink round trips and linking: done meanwhile.
            CompletableFuture<Taskstats> taskstatsOpening = CompletableFuture.supplyAsync(Groups::openTaskstats,
                    onThread("fanotifyd-taskstats"));
            // On a thread of its own, while this one opens the output and builds the pipeline (~20 ms of the
            // start-up each on two CPUs); joined before the loops start, so still before any mark.
            CompletableFuture<Void> warming = CompletableFuture.runAsync(() -> {
                Warmup.run(fid, !policySettings.canaries().isEmpty(), WARMUP_ITERATIONS,
                        perm ? PERMISSION_WARMUP_ITERATIONS : 0);
                Log.debug("warm-up took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            }, onThread("fanotifyd-warmup"));
            Marks marks = new Marks();
            MountScope scope = new MountScope();
            OutputListener outputListener = new OutputListener();
            // Everything slow happens before the first mark, so that all marks appear together and readers of
            // /proc/PID/fdinfo never see a daemon half in place. And before the permission marks, because from
            // then on a file this thread opened could wait for its own answer.
            try (Taskstats taskstats = joinRethrowing(taskstatsOpening);
                 // Bound before the outputs: an address in use stops the start-up before anything is created.
                 io.fanotifyd.metrics.MetricsServer metricsServer = joinRethrowing(metricsOpening);
                 SocketHub hub = Outputs.openSocket(settings.socket()); // before the output: a refusal leaves no file
                 FdOutput output = Outputs.openOutput(outputPath, settings.outputFile(), perm, outputListener);
                 AlertHooks hooks = policySettings.hook().map(cmd -> new AlertHooks(
                         new HookRunner(cmd, HOOKS_RUNNING, HOOKS_QUEUED, policySettings.hookTimeoutMs(), Log::info),
                         new HookCooldown(policySettings.hookCooldownMs(), 65536), selfPid)).orElse(null)) {
                DirPathCache dirs = new DirPathCache(16384, 1000);
                ExitRecords exits = taskstats == null ? null : new ExitRecords(EXIT_RECORDS);
                ProcessCache processes = new ProcessCache(8192, 1000, arena, taskstats, exits);
                Enricher enricher = new Enricher(fid, selfPid, dirs, new HandleResolver(filesystems, arena),
                        processes, scope, jobs);
                Policy policy = new Policy(new CanaryMatcher(policySettings.canaries()),
                        policySettings.burstThreshold() == 0 ? null : new BurstDetector(
                                policySettings.burstThreshold(), policySettings.burstWindowMs(), 16384,
                                BURST_RING_BYTES / Long.BYTES),
                        policySettings.denyOnAlert(), (mask & EventMask.RENAME) != 0);
                if (hub != null) {
                    output.subscribers(hub);
                }
                int wakeFd = Syscalls.eventfd();
                int readerWakeFd = Syscalls.eventfd();
                if (permGroup != null) {
                    Log.debug("preloaded " + ClassPreloader.loadAll() + " classes");
                }
                FdBudget budget = FdBudget.compute(fdLimit[0] < 0 ? 1024 : fdLimit[0], FdBudget.countOpen(),
                        hooks == null ? 0 : HOOKS_RUNNING, hub == null ? 0 : Outputs.SOCKET_MAX_SUBSCRIBERS);
                logBudget(budget, fdLimit[1], hub != null);
                if (hub != null) {
                    hub.limitSubscribers(budget.subscribers());
                }
                Counters counters = new Counters();
                LogLimiter eventErrors = new LogLimiter(Log.ERROR, 10_000);
                LogLimiter overflowWarnings = new LogLimiter(Log.WARN, 10_000);
                LogLimiter readErrors = new LogLimiter(Log.ERROR, 10_000);
                RecordEncoder encoder = new RecordEncoder(hostFields(settings.fleet()));
                EventLoop.ReadSizes readSizes = readSizes(budget, fid, perm);
                boolean canaries = !policySettings.canaries().isEmpty();
                // fnmatch must see bytes, as in the C reference, not the JVM's locale: the threads that match.
                Runnable matchingThread = () -> {
                    if (canaries && !io.fanotifyd.kernel.Fnmatch.useCLocaleOnThisThread()) {
                        Log.warn("could not switch to the C locale: canary patterns match by the process locale");
                    }
                };
                Pipeline pipeline = new Pipeline(enricher, perm ? policy.shareable() : policy, encoder, output, hooks,
                        counters, policySettings.failClosed(), selfPid, eventErrors, overflowWarnings);
                PermissionLoop permission = null;
                Pipeline permPipeline = null;
                CatchUp catchUp = null;
                LoopFailure loopFailure = new LoopFailure();
                if (perm) {
                    // Its own caches: the permission thread's lookups never wait for the notification side's.
                    Enricher permEnricher = new Enricher(false, selfPid, new DirPathCache(1024, 1000),
                            new HandleResolver(filesystems, arena), new ProcessCache(8192, 1000, arena),
                            new MountScope(), jobs);
                    permPipeline = new Pipeline(permEnricher, policy.shareable(), encoder, output, hooks,
                            counters, policySettings.failClosed(), selfPid, eventErrors, overflowWarnings);
                    if (policySettings.burstThreshold() > 0) {
                        catchUp = new CatchUp(notify::queuedEvents, () -> Syscalls.signalEventfd(readerWakeFd),
                                CatchUp.MAX_WAIT_MS);
                    }
                    permission = new PermissionLoop(permGroup, permPipeline, catchUp, settings.permSpinUs(),
                            readSizes.permBytes(), counters, readErrors, matchingThread);
                }
                Reloader reloader = new Reloader(new Reloader.Parts(rawArgs, cwd, notify, permGroup, filesystems,
                        pipeline, permPipeline, output, counters, sdNotify, selfPid), settings, marks, hub);
                DaemonMetrics metrics = new DaemonMetrics(counters, pipeline, permPipeline, output, reloader::hub,
                        notify, permGroup, System.currentTimeMillis());
                int statsIntervalS = settings.health().statsIntervalS();
                StatsWriter stats = statsIntervalS == 0 ? null : new StatsWriter(metrics, output, counters,
                        statsIntervalS, encoder.host());
                NotifyReader reader = new NotifyReader(notify, readerWakeFd, readSizes.notifySlots(),
                        readSizes.notifyBytes(), settings.batchDelayUs(), catchUp, exits, counters, readErrors);
                EventLoop loop = new EventLoop(notify, reader, wakeFd, new EventLoop.Parts(pipeline, output, taskstats,
                        exits, permission, catchUp, stats), FLUSH_MS, counters);
                outputListener.attach(signals, !perm && hub == null && hooks == null);
                signals.attach(loop, done -> {
                    Log.reopen();
                    output.requestReopen(done);
                });
                loop.wakeAtLeastEvery(Watchdog.loopWakeNs(sdNotify));
                // The loops run before the marks are placed: the first open a permission mark holds is answered
                // at once, not after the rest of the start-up.
                Thread loopThread = Thread.ofPlatform().name("fanotifyd-events").unstarted(() -> {
                    matchingThread.run();
                    loop.run();
                });
                loopThread.setUncaughtExceptionHandler((t, e) -> {
                    loopFailure.error = e;
                    Log.error("event loop stopped by an internal error: " + e);
                });
                if (permission != null) {
                    permission.start((t, e) -> {
                        loopFailure.error = e;
                        Log.error("permission thread stopped by an internal error: " + e + "; stopping (the"
                                + " group is closed, which lets every pending open through)");
                        loop.stop(System.nanoTime() + STOP_FLUSH_TIMEOUT_MS * 1_000_000L);
                    });
                }
                joinRethrowing(warming);
                loopThread.start();
                if (!loop.awaitPolling(5_000) && loopThread.isAlive()) {
                    Log.warn("the event loop took over 5 s to start; placing the marks anyway");
                }
                if (permission != null && !permission.awaitReading(5_000)) {
                    Log.warn("the permission thread took over 5 s to start; placing the marks anyway");
                }
                try {
                    // Permission marks first: the security-relevant one is in place before anything is reported.
                    if (permGroup != null) {
                        marks.apply(permGroup, filesystems, new MountScope(), settings.watches(), settings.mounts(),
                                settings.filesystems(), false, permMask);
                    }
                    marks.apply(notify, filesystems, scope, settings.watches(), settings.mounts(),
                            settings.filesystems(), fid, mask);
                } catch (StartupException e) {
                    loop.stop(System.nanoTime());
                    join(loopThread);
                    output.removeIfCreatedAndEmpty();
                    Syscalls.closeQuietly(wakeFd);
                    throw e;
                }
                if (metricsServer != null) {
                    MetricsEndpoint.start(metricsServer, metrics);
                }
                // Right after the last mark: systemctl start returns when monitoring is live.
                java.util.function.Supplier<String> status = () -> SdNotify.status(reloader.marks().count(),
                        counters.records,
                        counters.alerts, output.dropped() + output.lost(), counters.overflows);
                // SIGHUP reloads from READY=1 on (before, it only reopens): a reload asked for by whoever saw the
                // daemon ready is a reload (the thread waits for the mark watcher below before its first).
                reloader.start();
                signals.reloadWith(reloader::request);
                String readyStatus = status.get();
                sdNotify.ready(readyStatus);
                Watchdog watchdog = Watchdog.start(sdNotify, loop::heartbeatNs, loopThread, status, readyStatus);
                // Logs marks that go away, and keeps the --mount filter's shadows as the mount table changes.
                if (processes.exes() != null) {
                    processes.exes().startScan();
                }
                reloader.watchMarks(MarkWatch.start(marks.placed(), notify.fd(),
                        marks.hasShadowedMounts() ? shadowFollower(marks, scope) : null), (m, sc) -> {
                            MarkWatch old = reloader.markWatch();
                            if (old != null) {
                                old.close();
                            }
                            return MarkWatch.start(m.placed(), notify.fd(),
                                    m.hasShadowedMounts() ? shadowFollower(m, sc) : null);
                        });
                Log.info("ready: pid " + selfPid + ", " + marks.count() + " marks, " + (fid ? "FID" : "FD") + " mode, "
                        + "events " + EventMask.names(mask) + (perm ? ", permission events " + EventMask.names(permMask)
                        : "") + ", output " + output.name());
                if (detached) {
                    Log.info("detached");
                    if (settings.logFile().isEmpty()) {
                        Log.toSyslog();
                    }
                    Detach.announceReady("-".equals(outputPath));
                }
                join(loopThread);
                signals.reloadWith(null);
                reloader.stopReloading();
                if (watchdog != null) {
                    watchdog.close();
                }
                if (reloader.markWatch() != null) {
                    reloader.markWatch().close();
                }
                long stopLoss = StopReport.finishOutput(loop, output);
                Syscalls.closeQuietly(wakeFd);
                loop.flushLogCounts();
                AlertHooks lastHooks = pipeline.hooks(); // a reload may have replaced the start-up's
                if (lastHooks != null) {
                    // Before the stop line, so that its hook counts are final: a worker may still be starting
                    // a run it took from the queue (the close waits for it, or counts it as discarded).
                    lastHooks.close();
                }
                Log.info(new StopReport(counters, output, enricher, dirs, processes, exits, taskstats,
                        pipeline.policy(), pipeline, permPipeline, lastHooks, reloader.hub(), perm).line());
                reloader.close(); // after the output's last records reached its subscribers
                if (loopFailure.error != null) {
                    return 1;
                }
                return stopLoss > 0 || outputListener.stoppedTheDaemon ? 1 : 0;
            }
        }
    }

    /** Runs a start-up task on a platform thread of its own, named {@code name} (not in the common pool). */
    /** {@code --host-fields} and {@code --field}, read and encoded once; null when neither is given. */
    private static io.fanotifyd.sink.HostFields hostFields(Settings.Fleet fleet) {
        try {
            return io.fanotifyd.sink.HostFields.of(fleet.hostFields(), fleet.fields());
        } catch (java.io.IOException e) {
            throw new StartupException("--host-fields: " + e.getMessage());
        }
    }

    private static java.util.concurrent.Executor onThread(String name) {
        return task -> Thread.ofPlatform().daemon().name(name).start(task);
    }

    /** Waits for {@code f}; what it failed with is thrown here, as it was thrown there. */
    private static <T> T joinRethrowing(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    private static void join(Thread t) {
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static final class LoopFailure {
        volatile Throwable error;
    }

    /**
     * The output's troubles, told in the log. A reader of stdout that went away is gone for good: in observe
     * mode with nothing else taking the records (no socket, no hook) the daemon has nothing left to do and
     * stops with exit 1; otherwise it goes on (enforcing, streaming, running hooks) and says so.
     */
    private static final class OutputListener implements FdOutput.Listener {
        private volatile Signals signals;
        private volatile boolean stopWhenGone;
        volatile boolean stoppedTheDaemon;

        void attach(Signals s, boolean stopWhenGone) {
            this.stopWhenGone = stopWhenGone;
            this.signals = s;
        }

        @Override
        public void warn(String message) {
            Log.warn(message);
        }

        @Override
        public void gone(String message) {
            Signals s = signals;
            if (stopWhenGone && s != null) {
                stoppedTheDaemon = true;
                Log.error(message + "; nothing else takes the records: stopping");
                s.stop();
            } else {
                Log.warn(message + "; records are no longer written there, and are counted; the daemon goes on"
                        + " (permission answers, subscribers, hooks)");
            }
        }
    }

    /**
     * The notification reader's buffers and read size, and the permission read size, within the budget's fds
     * for reads (a third for permission events when there are any): as many buffers as
     * {@link NotifyReader#MAX_SLOTS} while each can still take a whole read of {@link #READ_BUFFER_BYTES}'s
     * share; at a low limit fewer, down to one.
     */
    static EventLoop.ReadSizes readSizes(FdBudget budget, boolean fid, boolean perm) {
        int notifyFds = perm ? budget.readFds() - budget.readFds() / 3 : budget.readFds();
        int bytesPerFd = fid ? FdBudget.FID_MODE_BYTES_PER_FD : FdBudget.FD_MODE_BYTES_PER_FD;
        int minBytes = fid ? FdBudget.FID_MIN_READ_BYTES : FdBudget.FD_MODE_MIN_READ_BYTES;
        // Each buffer must be able to hold at least one whole event: fewer buffers where the fds are few.
        int slots = (int) Math.max(1, Math.min(NotifyReader.MAX_SLOTS, (long) notifyFds * bytesPerFd / minBytes));
        long notifyBytes = FdBudget.readBytes(READ_BUFFER_BYTES, notifyFds / slots, bytesPerFd, minBytes);
        long permBytes = perm ? FdBudget.readBytes(PermissionLoop.BUFFER_BYTES, budget.readFds() / 3,
                FdBudget.PERMISSION_BYTES_PER_FD, FdBudget.PERMISSION_MIN_READ_BYTES) : 0;
        return new EventLoop.ReadSizes(notifyBytes, slots, permBytes);
    }

    private static void logBudget(FdBudget budget, long hardLimit, boolean socket) {
        if (budget.low()) {
            Log.warn(budget + ": too few to read events in batches (and " + (socket ? "subscribers are limited to "
                    + budget.subscribers() + ")" : "no room to spare)") + "; raise the hard limit (ulimit -Hn "
                    + hardLimit + ", LimitNOFILE= in a systemd unit)");
        } else {
            Log.info(budget.toString());
        }
    }

    private static void warnAboutIneffectiveSettings(Settings.Policy p) {
        if (!p.perm() && p.denyOnAlert()) {
            Log.warn("deny_on_alert has no effect without perm (observe mode only records alerts)");
        }
        if (!p.perm() && p.failClosed()) {
            Log.warn("fail_closed has no effect without perm");
        }
    }

    /**
     * Keeps the --mount filter's shadows as the mount table changes (on the marks thread), and says when they
     * change: a bind mount made after the start narrows what --mount reports.
     */
    private static java.util.function.Consumer<byte[]> shadowFollower(Marks marks, MountScope scope) {
        java.util.concurrent.atomic.AtomicReference<java.util.List<String>> last =
                new java.util.concurrent.atomic.AtomicReference<>(marks.startShadows());
        return table -> {
            java.util.List<String> now = marks.shadows(table, false);
            scope.setShadows(now);
            if (!now.equals(last.getAndSet(now))) {
                Log.info("--mount: the directories another mount of the same filesystem shows too, whose creates,"
                        + " deletes, renames and attribute changes are not reported, are now " + now);
            }
        };
    }

}
