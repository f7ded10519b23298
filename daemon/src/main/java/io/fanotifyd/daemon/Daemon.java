package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.QueueSize;
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
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;
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
    /** Each output buffer; handed over at half full (FdOutput), so one read's records rarely grow one. */
    static final int OUTPUT_BUFFER_BYTES = 512 * 1024;
    /** Observe mode waits for the output after 4 buffers; permission mode may hold 16 (8 MiB) before dropping. */
    static final int OUTPUT_BUFFERS = 4;
    static final int OUTPUT_BUFFERS_PERMISSION = 16;
    /**
     * What burst windows may hold beyond each process's first 8 event times, all processes together: 8 processes
     * at the largest threshold (65536) at once. Unbounded, processes that burst one after another would keep
     * up to 16384 x 65536 x 8 bytes.
     */
    static final long BURST_RING_BYTES = 4L << 20;
    static final int HOOKS_RUNNING = 4;
    /** Exit records kept (about 100 bytes each): the exits of the last moments, system-wide. */
    static final int EXIT_RECORDS = 16384;
    /** The exit-record socket's buffer: what may queue between two drains (about 1 KiB per exit). */
    static final int TASKSTATS_BUFFER_BYTES = 4 << 20;
    static final int HOOKS_QUEUED = 256;
    static final long STOP_FLUSH_TIMEOUT_MS = Signals.STOP_TIMEOUT_MS;

    private final Settings settings;
    private final boolean detached;

    Daemon(Settings settings, boolean detached) {
        this.settings = settings;
        this.detached = detached;
    }

    int run() {
        Settings.Policy policySettings = settings.policy();
        boolean fid = !settings.noFid();
        boolean perm = policySettings.perm();
        long mask = EventSet.resolve(settings.events(), fid, perm);
        long permMask = perm ? EventSet.permissionMask(settings.events()) : 0;
        warnAboutIneffectiveSettings(policySettings);
        JobIndex jobs = jobIndex(settings.jobs()); // a bad job configuration stops us before anything is created
        if (detached) {
            Detach.becomeSessionLeader();
        }
        Signals signals = new Signals();
        SdNotify sdNotify = SdNotify.fromEnvironment(System.getenv(), Syscalls.getpid()); // systemd, if it listens
        signals.notifyTo(sdNotify);
        signals.install();
        long[] fdLimit = FdBudget.raiseLimit();
        int selfPid = Syscalls.getpid();
        String outputPath = settings.output().orElse("-");
        try (PidFile pidFile = settings.pidFile().map(p -> PidFile.acquire(p, selfPid)).orElse(null);
             FanotifyGroup notify = openGroup(fid, settings.queueSize());
             FanotifyGroup permGroup = perm ? openPermissionGroup(settings.queueSize()) : null;
             Filesystems filesystems = new Filesystems();
             Arena arena = Arena.ofShared()) {
            // Only now: without CAP_SYS_ADMIN opening the group failed, with its own message.
            Capabilities.warnAboutMissing(fid, perm, !policySettings.canaries().isEmpty());
            // Before the marks: events that arrive while the JVM is still cold would queue up meanwhile. What
            // matters is running each step once (class initialisation, call-site linking), not compile
            // thresholds: 50 rounds halved the comm-less records of a burst of short-lived processes as well as
            // 3000 did, at a fifth of the start-up cost (docs/PERFORMANCE.md).
            long t0 = System.nanoTime();
            // Registering for exit records takes a few netlink round trips and linking: done meanwhile.
            CompletableFuture<Taskstats> taskstatsOpening = new CompletableFuture<>();
            Thread.ofPlatform().daemon().name("fanotifyd-taskstats").start(() -> {
                try {
                    taskstatsOpening.complete(openTaskstats());
                } catch (Throwable e) {
                    taskstatsOpening.completeExceptionally(e);
                }
            });
            Warmup.run(fid, !policySettings.canaries().isEmpty(), WARMUP_ITERATIONS,
                    perm ? PERMISSION_WARMUP_ITERATIONS : 0);
            Log.debug("warm-up took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            Marks marks = new Marks();
            MountScope scope = new MountScope();
            OutputListener outputListener = new OutputListener();
            // Everything slow happens before the first mark, so that all marks appear together and readers of
            // /proc/PID/fdinfo never see a daemon half in place. And before the permission marks, because from
            // then on a file this thread opened could wait for its own answer.
            try (Taskstats taskstats = taskstatsOpening.join();
                 SocketHub hub = openSocket(settings.socket()); // before the output: a refusal leaves no file
                 FdOutput output = openOutput(outputPath, settings.outputFile(), perm, outputListener);
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
                        hooks == null ? 0 : HOOKS_RUNNING, hub == null ? 0 : SOCKET_MAX_SUBSCRIBERS);
                logBudget(budget, fdLimit[1], hub != null);
                if (hub != null) {
                    hub.limitSubscribers(budget.subscribers());
                }
                Counters counters = new Counters();
                LogLimiter eventErrors = new LogLimiter(Log.ERROR, 10_000);
                LogLimiter overflowWarnings = new LogLimiter(Log.WARN, 10_000);
                LogLimiter readErrors = new LogLimiter(Log.ERROR, 10_000);
                RecordEncoder encoder = new RecordEncoder();
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
                NotifyReader reader = new NotifyReader(notify, readerWakeFd, readSizes.notifySlots(),
                        readSizes.notifyBytes(), settings.batchDelayUs(), catchUp, exits, counters, readErrors);
                EventLoop loop = new EventLoop(notify, reader, wakeFd, new EventLoop.Parts(pipeline, output, taskstats,
                        exits, permission, catchUp), FLUSH_MS, counters);
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
                // Right after the last mark: systemctl start returns when monitoring is live.
                java.util.function.Supplier<String> status = () -> SdNotify.status(marks.count(), counters.records,
                        counters.alerts, output.dropped() + output.lost(), counters.overflows);
                String readyStatus = status.get();
                sdNotify.ready(readyStatus);
                Watchdog watchdog = Watchdog.start(sdNotify, loop::heartbeatNs, loopThread, status, readyStatus);
                // Logs marks that go away, and keeps the --mount filter's shadows as the mount table changes.
                if (processes.exes() != null) {
                    processes.exes().startScan();
                }
                MarkWatch markWatch = MarkWatch.start(marks.placed(), notify.fd(),
                        marks.hasShadowedMounts() ? shadowFollower(marks, scope) : null);
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
                if (watchdog != null) {
                    watchdog.close();
                }
                if (markWatch != null) {
                    markWatch.close();
                }
                long stopLoss = finishOutput(loop, output);
                Syscalls.closeQuietly(wakeFd);
                loop.flushLogCounts();
                if (hooks != null) {
                    // Before the stop line, so that its hook counts are final: a worker may still be starting
                    // a run it took from the queue (the close waits for it, or counts it as discarded).
                    hooks.close();
                }
                Log.info("stopping: " + counters.records + " records, " + counters.alerts + " alerts, "
                        + counters.overflows + " overflows, " + counters.errors + " errors, "
                        + counters.readErrors + " failed reads, " + output.written() + " records written, "
                        + output.dropped() + " dropped by a slow output, " + output.lost()
                        + " not written (output errors), " + output.rotations() + " output rotations, "
                        + enricher.ownEvents() + " own events skipped, "
                        + enricher.outOfScope() + " not provably through a marked mount, " + enricher.unresolved()
                        + " paths unresolved, " + enricher.fdErrors() + " events without an fd, dir cache "
                        + dirs.hits() + " hits / " + dirs.misses() + " misses, "
                        + processes.refreshes() + " /proc reads, " + processes.unknown() + " processes unknown"
                        + (exits == null ? "" : ", " + processes.fromExits() + " named from exit records ("
                        + taskstats.records() + " read, " + exits.losses() + " losses, " + exits.ambiguous()
                        + " pids used again; " + processes.exes().size() + " programs known, scanned in "
                        + processes.exes().scanMillis() + " ms)")
                        + (policy.canaries().isEmpty() ? "" : ", canaries: " + policy.canaries().size()
                        + " patterns, " + canaryCount(pipeline, permPipeline, CanaryMatcher::pathsChecked)
                        + " paths checked, " + canaryCount(pipeline, permPipeline, CanaryMatcher::fnmatchCalls)
                        + " fnmatch calls")
                        + (hooks == null ? "" : ", hooks: " + hooks.runner().started() + " started, "
                        + hooks.runner().notStarted() + " could not be started, "
                        + hooks.runner().dropped() + " dropped (too many waiting), " + hooks.suppressedByCooldown()
                        + " held back by the cooldown, " + hooks.suppressedHookOwn()
                        + " alerts caused by hooks themselves")
                        + (policy.bursts() == null ? "" : ", bursts: " + policy.bursts().starvedEvents()
                        + " events not remembered for lack of memory, " + policy.bursts().activeEvictions()
                        + " active processes evicted" + (perm ? ", " + counters.lateCatchUps.get()
                        + " permission decisions made before the notification side caught up" : ""))
                        + (hub == null ? "" : ", subscribers: " + hub.connected() + " connected, " + hub.refused()
                        + " refused, " + hub.droppedRecords() + " records dropped for slow ones"));
                if (loopFailure.error != null) {
                    return 1;
                }
                return stopLoss > 0 || outputListener.stoppedTheDaemon ? 1 : 0;
            }
        }
    }

    /** A canary counter over both pipelines (each matches with a matcher of its own). */
    private static long canaryCount(Pipeline notify, Pipeline perm,
                                    java.util.function.ToLongFunction<CanaryMatcher> counter) {
        return counter.applyAsLong(notify.policy().canaries())
                + (perm == null ? 0 : counter.applyAsLong(perm.policy().canaries()));
    }

    /**
     * After the loop: everything read is written out, up to the stop's deadline. What could not be (the
     * output too slow, failing or gone, events left in the kernel) is counted in one error line.
     *
     * @return the number of records read before the stop that the output did not take (0 = all written)
     */
    private static long finishOutput(EventLoop loop, FdOutput output) {
        long deadline = loop.stopDeadlineNs();
        long leftMs = deadline == 0 ? STOP_FLUSH_TIMEOUT_MS
                : Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
        boolean done = output.finish(leftMs);
        long[] before = loop.stopSnapshot != null ? loop.stopSnapshot : new long[] {output.dropped(), output.lost()};
        long loss = (output.dropped() - before[0]) + (output.lost() - before[1]) + (done ? 0 : output.unwritten());
        if (loss > 0 || loop.leftInKernelEvents > 0) {
            Log.error("stopping: " + loss + " records read before the stop could not be written to " + output.name()
                    + " within " + Signals.STOP_TIMEOUT_MS + " ms" + (output.gone() ? " (its reader went away)"
                    : output.failing() ? " (it cannot be written)" : "")
                    + (loop.leftInKernelEvents > 0 ? "; " + loop.leftInKernelEvents + " events queued in the"
                    + " kernel were not read" : ""));
            return Math.max(1, loss);
        }
        return 0;
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

    /**
     * The jobs' directories as the kernel names them: symlinks resolved where the directory exists (event
     * paths are resolved too), else as given, without trailing slashes.
     */
    static JobIndex jobIndex(java.util.List<Settings.Job> jobs) {
        java.util.List<JobIndex.Root> roots = new java.util.ArrayList<>();
        java.util.List<JobIndex.Root> cgroups = new java.util.ArrayList<>();
        java.util.List<String> cgroup2 = null; // read once, and only if a job names a cgroup
        for (Settings.Job job : jobs) {
            for (Settings.JobRoot r : job.roots()) {
                if (r.role().equals("cgroup")) {
                    if (cgroup2 == null) {
                        cgroup2 = cgroup2MountPoints();
                    }
                    cgroups.add(new JobIndex.Root(io.fanotifyd.kernel.PathCodec.encode(cgroupPath(r.path(),
                            cgroup2)), job.id(), null));
                    continue;
                }
                String path;
                try {
                    path = Syscalls.realPath(r.path());
                } catch (NativeCallException e) {
                    path = r.path();
                    Log.info("job " + job.id() + " " + r.role() + " " + path + " does not exist (yet): "
                            + e.getMessage());
                }
                roots.add(new JobIndex.Root(io.fanotifyd.kernel.PathCodec.encode(withoutTrailingSlashes(path)),
                        job.id(), r.role()));
            }
        }
        try {
            return new JobIndex(roots).withCgroups(cgroups);
        } catch (IllegalArgumentException e) {
            throw new StartupException("jobs: " + e.getMessage());
        }
    }

    /**
     * A job's cgroup as {@code /proc/PID/cgroup} names it: a path under a cgroup2 mount (one of
     * {@code cgroup2}) loses the mount point ({@code /sys/fs/cgroup/jobs/J} is {@code /jobs/J}); trailing
     * slashes go.
     */
    static String cgroupPath(String given, java.util.List<String> cgroup2) {
        String path = given;
        for (String mountPoint : cgroup2) {
            if (path.startsWith(mountPoint + "/") || path.equals(mountPoint)) {
                path = path.substring(mountPoint.length());
                break;
            }
        }
        return path.isEmpty() ? "/" : withoutTrailingSlashes(path);
    }

    private static String withoutTrailingSlashes(String path) {
        String p = path;
        while (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return p;
    }

    /** Where cgroup2 is mounted; none if the mount table cannot be read (paths are then taken as given). */
    private static java.util.List<String> cgroup2MountPoints() {
        try {
            return MountInfo.mountPointsOfType(MountInfo.read(), "cgroup2");
        } catch (RuntimeException e) {
            return java.util.List.of();
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

    static final int SOCKET_MAX_SUBSCRIBERS = 64;

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

    /**
     * The kernel's exit records, to name processes gone before their events are read; null, with one log line,
     * where they are not to be had (no CAP_NET_ADMIN, not in the initial namespaces, no taskstats).
     */
    private static Taskstats openTaskstats() {
        try {
            Taskstats t = Taskstats.open(TASKSTATS_BUFFER_BYTES);
            Log.debug("exit records: taskstats registered, socket fd " + t.fd());
            return t;
        } catch (RuntimeException | LinkageError e) {
            if (!(e instanceof NativeCallException n)) {
                Log.warn("exit records: unavailable (" + e + "); a process that exits before its events are read"
                        + " may be reported without comm and exe");
                return null;
            }
            String why = switch (n.errno()) {
                case io.fanotifyd.kernel.Errno.EPERM -> "no CAP_NET_ADMIN";
                case io.fanotifyd.kernel.Errno.EINVAL -> "not in the initial user and pid namespaces";
                case io.fanotifyd.kernel.Errno.ENOENT -> "the kernel has no taskstats";
                default -> "unavailable";
            };
            Log.warn("exit records: " + why + " (" + n.getMessage() + "); a process that exits before its events"
                    + " are read may be reported without comm and exe");
            return null;
        }
    }

    private static SocketHub openSocket(Settings.Socket s) {
        if (s.path().isEmpty()) {
            return null;
        }
        String path = s.path().get();
        // The backlog lives on the Java heap, which must also hold everything else: a backlog the heap cannot
        // hold would end in an OutOfMemoryError the first time a subscriber stalls.
        long heap = Runtime.getRuntime().maxMemory();
        if (s.backlogBytes() > heap / 2) {
            String backlog = s.backlogBytes() % (1 << 20) == 0 ? (s.backlogBytes() >> 20) + "M"
                    : Long.toString(s.backlogBytes());
            throw new StartupException("--socket-backlog " + backlog + ": more than half of the JVM's heap ("
                    + (heap >> 20) + " MiB); raise -Xmx in FANOTIFYD_JVM_OPTS or lower the backlog");
        }
        int gid = -1;
        if (s.group().isPresent()) {
            String g = s.group().get();
            gid = g.matches("[0-9]+") ? Integer.parseInt(g) : io.fanotifyd.kernel.SocketCalls.groupId(g);
            if (gid < 0) {
                throw new StartupException("--socket-group " + g + ": no such group");
            }
        }
        try {
            return SocketHub.open(path, s.mode(), gid, SOCKET_MAX_SUBSCRIBERS, s.backlogBytes(), Log::info);
        } catch (NativeCallException | IllegalArgumentException e) {
            throw new StartupException("--socket " + path + ": " + e.getMessage());
        }
    }

    static FdOutput openOutput(String path, Settings.OutputFile file, boolean perm, FdOutput.Listener listener) {
        try {
            return FdOutput.open(path, file.mode(), new FdOutput.Rotation(file.maxBytes(), file.keep()),
                    OUTPUT_BUFFER_BYTES, perm ? OUTPUT_BUFFERS_PERMISSION : OUTPUT_BUFFERS, perm, listener);
        } catch (NativeCallException e) {
            throw new StartupException("--output " + path + ": " + e.getMessage());
        }
    }

    static FanotifyGroup openGroup(boolean fid, QueueSize queueSize) {
        int flags = Fanotify.FAN_CLASS_NOTIF | Fanotify.FAN_CLOEXEC | Fanotify.FAN_NONBLOCK
                | Fanotify.FAN_REPORT_PIDFD | Fanotify.FAN_UNLIMITED_MARKS;
        if (fid) {
            flags |= Fanotify.FAN_REPORT_DFID_NAME | Fanotify.FAN_REPORT_FID;
            return open(flags, queueSize);
        }
        // FD mode: an event whose fd the kernel cannot open (out of descriptors, a file that cannot be opened)
        // is otherwise dropped without a trace; with FAN_REPORT_FD_ERROR (6.13+) it comes with the errno
        // instead, and is reported without its path. Older kernels refuse the flag: then the fd budget alone
        // keeps reads from running out of descriptors.
        try {
            return open(flags | Fanotify.FAN_REPORT_FD_ERROR, queueSize);
        } catch (StartupException e) {
            Log.debug("no FAN_REPORT_FD_ERROR (" + e.getMessage() + "): events whose fd cannot be opened are lost");
            return open(flags, queueSize);
        }
    }

    /**
     * The permission group. With a bounded queue the kernel, finding it full, drops a permission event and
     * lets the access through unasked: hence unlimited unless the user insists (and is warned).
     */
    static FanotifyGroup openPermissionGroup(QueueSize queueSize) {
        if (queueSize instanceof QueueSize.KernelDefault) {
            Log.warn("--queue-size kernel in permission mode: when the kernel queue is full, opens are allowed"
                    + " without being asked");
        }
        // No FAN_REPORT_PIDFD: the opener waits for our answer, so its pid cannot be reused meanwhile, and a
        // pidfd made and closed per open cost measurable time on the opener's critical path.
        // Blocking: the permission thread waits in read() (PermissionLoop).
        return open(Fanotify.FAN_CLASS_CONTENT | Fanotify.FAN_CLOEXEC | Fanotify.FAN_UNLIMITED_MARKS, queueSize);
    }

    private static FanotifyGroup open(int flags, QueueSize queueSize) {
        int eventFlags = Fanotify.O_RDONLY | Fanotify.O_LARGEFILE | Fanotify.O_CLOEXEC;
        try {
            return switch (queueSize) {
                case QueueSize.Unlimited u -> FanotifyGroup.open(flags | Fanotify.FAN_UNLIMITED_QUEUE, eventFlags);
                case QueueSize.KernelDefault k -> FanotifyGroup.open(flags, eventFlags);
            };
        } catch (NativeCallException e) {
            throw new StartupException(e.getMessage());
        }
    }
}
