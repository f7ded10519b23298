package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.QueueSize;
import io.fanotifyd.daemon.options.Settings;
import io.fanotifyd.enrich.DirPathCache;
import io.fanotifyd.enrich.Enricher;
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
import io.fanotifyd.policy.BurstDetector;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.HookCooldown;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.FdOutput;
import io.fanotifyd.sink.HookRunner;
import io.fanotifyd.sink.RecordEncoder;
import io.fanotifyd.sink.SocketHub;

import java.lang.foreign.Arena;

/**
 * Wires the layers together for one run: groups and marks, enrichment, policy, output, hooks, the loop,
 * signals and clean-up.
 *
 * <p>Permission mode runs two groups: a content-class group in FD mode that answers open permission events
 * (the kernel refuses FID reporting there), and beside it the usual FID notification group, so names,
 * renames, deletes, modifications and bursts work as in observe mode.
 */
final class Daemon {
    static final int READ_BUFFER_BYTES = 1 << 20;
    static final int FLUSH_MS = 10;
    static final int WARMUP_ITERATIONS = 50;
    /**
     * In permission mode every event holds an opener, so the permission path is compiled before the marks: 2000
     * rounds cost ~10 ms of start-up and took ~1.8 µs off each open of a 20000-open run on the opener's CPU
     * (docs/PERFORMANCE.md).
     */
    static final int PERMISSION_WARMUP_ITERATIONS = 2000;
    /** Observe mode waits for the output after 4 buffers; permission mode may hold 64 (32 MiB) before dropping. */
    static final int OUTPUT_BUFFERS = 4;
    static final int OUTPUT_BUFFERS_PERMISSION = 64;
    static final int HOOKS_RUNNING = 4;
    static final int HOOKS_QUEUED = 256;
    static final long STOP_FLUSH_TIMEOUT_MS = 5000;

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
        StopRequest stop = new StopRequest();
        stop.install();
        // This thread matches canaries: fnmatch must see bytes, as in the C reference, not the JVM's locale.
        if (!policySettings.canaries().isEmpty() && !io.fanotifyd.kernel.Libc.useCLocaleOnThisThread()) {
            Log.warn("could not switch to the C locale: canary patterns match by the process locale");
        }
        int selfPid = Syscalls.getpid();
        String outputPath = settings.output().orElse("-");
        try (PidFile pidFile = settings.pidFile().map(p -> PidFile.acquire(p, selfPid)).orElse(null);
             FanotifyGroup notify = openGroup(fid, settings.queueSize());
             FanotifyGroup permGroup = perm ? openPermissionGroup(settings.queueSize()) : null;
             Filesystems filesystems = new Filesystems();
             Arena arena = Arena.ofShared()) {
            // Before the marks: events that arrive while the JVM is still cold would queue up meanwhile. What
            // matters is running each step once (class initialisation, call-site linking), not compile
            // thresholds: 50 rounds halved the comm-less records of a burst of short-lived processes as well as
            // 3000 did, at a fifth of the start-up cost (docs/PERFORMANCE.md).
            long t0 = System.nanoTime();
            Warmup.run(fid, !policySettings.canaries().isEmpty(), WARMUP_ITERATIONS,
                    perm ? PERMISSION_WARMUP_ITERATIONS : 0);
            Log.debug("warm-up took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            MountScope scope = new MountScope();
            Marks marks = new Marks();
            // Everything slow happens before the first mark, so that all marks appear together and readers of
            // /proc/PID/fdinfo never see a daemon half in place. And before the permission marks, because from
            // then on a file this thread opened could wait for its own answer.
            try (SocketHub hub = openSocket(settings.socket()); // before the output: a refusal leaves no file
                 FdOutput output = openOutput(outputPath, perm);
                 AlertHooks hooks = policySettings.hook().map(cmd -> new AlertHooks(
                         new HookRunner(cmd, HOOKS_RUNNING, HOOKS_QUEUED, policySettings.hookTimeoutMs(), Log::info),
                         new HookCooldown(policySettings.hookCooldownMs(), 65536), selfPid)).orElse(null)) {
                DirPathCache dirs = new DirPathCache(16384, 1000);
                ProcessCache processes = new ProcessCache(8192, 1000, arena);
                Enricher enricher = new Enricher(fid, selfPid, dirs, new HandleResolver(filesystems, arena),
                        processes, scope, jobs);
                Enricher permEnricher = perm ? new Enricher(false, selfPid, dirs,
                        new HandleResolver(filesystems, arena), processes, new MountScope(), jobs) : null;
                Policy policy = new Policy(new CanaryMatcher(policySettings.canaries()),
                        policySettings.burstThreshold() == 0 ? null : new BurstDetector(
                                policySettings.burstThreshold(), policySettings.burstWindowMs(), 16384),
                        policySettings.denyOnAlert(), (mask & EventMask.RENAME) != 0);
                if (hub != null) {
                    output.subscribers(hub);
                }
                int wakeFd = Syscalls.eventfd();
                if (permGroup != null) {
                    Log.debug("preloaded " + ClassPreloader.loadAll() + " classes");
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
                    output.removeIfCreatedAndEmpty();
                    throw e;
                }
                io.fanotifyd.kernel.Libc.linkEventPathInBackground();
                EventLoop.Counters counters = new EventLoop.Counters();
                EventLoop loop = new EventLoop(notify, permGroup, wakeFd, new EventLoop.Parts(enricher, permEnricher,
                        policy, new RecordEncoder(), output, hooks, policySettings.failClosed(), selfPid,
                        perm && policySettings.burstThreshold() > 0),
                        READ_BUFFER_BYTES, FLUSH_MS, settings.batchDelayUs(), settings.permSpinUs(), counters);
                stop.attach(loop);
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
                try {
                    loop.run();
                } finally {
                    if (!output.finish(STOP_FLUSH_TIMEOUT_MS)) {
                        Log.warn("output " + output.name() + " did not take the last records within "
                                + STOP_FLUSH_TIMEOUT_MS + " ms; stopping without them");
                    }
                    Syscalls.closeQuietly(wakeFd);
                }
                if (output.failure() != null) {
                    throw output.failure();
                }
                Log.info("stopping: " + counters.records + " records, " + counters.alerts + " alerts, "
                        + counters.overflows + " overflows, " + counters.errors + " errors, " + output.dropped()
                        + " records dropped by a slow output, " + enricher.ownEvents() + " own events skipped, "
                        + enricher.outOfScope() + " outside marked mounts, " + enricher.unresolved()
                        + " paths unresolved, dir cache " + dirs.hits() + " hits / " + dirs.misses() + " misses, "
                        + processes.refreshes() + " /proc reads, " + processes.unknown() + " processes unknown"
                        + (hooks == null ? "" : ", hooks: " + hooks.runner().started() + " started, "
                        + hooks.suppressedByCooldown() + " held back by the cooldown, " + hooks.suppressedHookOwn()
                        + " alerts caused by hooks themselves")
                        + (hub == null ? "" : ", subscribers: " + hub.connected() + " connected, " + hub.refused()
                        + " refused, " + hub.droppedRecords() + " records dropped for slow ones"));
                return 0;
            }
        }
    }

    /**
     * The jobs' directories as the kernel names them: symlinks resolved where the directory exists (event
     * paths are resolved too), else as given, without trailing slashes.
     */
    static JobIndex jobIndex(java.util.List<Settings.Job> jobs) {
        java.util.List<JobIndex.Root> roots = new java.util.ArrayList<>();
        for (Settings.Job job : jobs) {
            for (Settings.JobRoot r : job.roots()) {
                String path;
                try {
                    path = Syscalls.realPath(r.path());
                } catch (NativeCallException e) {
                    path = r.path();
                    Log.info("job " + job.id() + " " + r.role() + " " + path + " does not exist (yet): "
                            + e.getMessage());
                }
                while (path.length() > 1 && path.endsWith("/")) {
                    path = path.substring(0, path.length() - 1);
                }
                roots.add(new JobIndex.Root(io.fanotifyd.kernel.PathCodec.encode(path), job.id(), r.role()));
            }
        }
        try {
            return new JobIndex(roots);
        } catch (IllegalArgumentException e) {
            throw new StartupException("jobs: " + e.getMessage());
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
     * Per subscriber. The bytes are shared between subscribers (each piece is one array, referenced by every
     * backlog it fits in), so this bounds the hub's memory once, not once per subscriber.
     */
    static final long SOCKET_BACKLOG_BYTES = 32L << 20;

    private static SocketHub openSocket(Settings.Socket s) {
        if (s.path().isEmpty()) {
            return null;
        }
        String path = s.path().get();
        int gid = -1;
        if (s.group().isPresent()) {
            String g = s.group().get();
            gid = g.matches("[0-9]+") ? Integer.parseInt(g) : io.fanotifyd.kernel.Libc.groupId(g);
            if (gid < 0) {
                throw new StartupException("--socket-group " + g + ": no such group");
            }
        }
        try {
            return SocketHub.open(path, s.mode(), gid, SOCKET_MAX_SUBSCRIBERS, SOCKET_BACKLOG_BYTES, Log::info);
        } catch (NativeCallException | IllegalArgumentException e) {
            throw new StartupException("--socket " + path + ": " + e.getMessage());
        }
    }

    static FdOutput openOutput(String path, boolean perm) {
        try {
            return FdOutput.open(path, EventLoop.FLUSH_BYTES * 2, perm ? OUTPUT_BUFFERS_PERMISSION : OUTPUT_BUFFERS,
                    perm, Log::warn);
        } catch (NativeCallException e) {
            throw new StartupException("--output " + path + ": " + e.getMessage());
        }
    }

    static FanotifyGroup openGroup(boolean fid, QueueSize queueSize) {
        int flags = Fanotify.FAN_CLASS_NOTIF | Fanotify.FAN_CLOEXEC | Fanotify.FAN_NONBLOCK
                | Fanotify.FAN_REPORT_PIDFD | Fanotify.FAN_UNLIMITED_MARKS;
        if (fid) {
            flags |= Fanotify.FAN_REPORT_DFID_NAME | Fanotify.FAN_REPORT_FID;
        }
        return open(flags, queueSize);
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
        return open(Fanotify.FAN_CLASS_CONTENT | Fanotify.FAN_CLOEXEC | Fanotify.FAN_NONBLOCK
                | Fanotify.FAN_UNLIMITED_MARKS, queueSize);
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
