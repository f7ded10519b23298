package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.QueueSize;
import io.fanotifyd.daemon.options.Settings;
import io.fanotifyd.enrich.DirPathCache;
import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.HandleResolver;
import io.fanotifyd.enrich.MountScope;
import io.fanotifyd.enrich.ProcessCache;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.sink.FdOutput;
import io.fanotifyd.sink.RecordEncoder;

import java.lang.foreign.Arena;

import sun.misc.Signal;

/** Wires the layers together for one run: output, group, marks, enrichment, the loop, signals, clean-up. */
final class Daemon {
    static final int READ_BUFFER_BYTES = 1 << 20;
    static final int FLUSH_MS = 10;
    static final int WARMUP_ITERATIONS = 3000;

    private final Settings settings;
    private final boolean detached;

    Daemon(Settings settings, boolean detached) {
        this.settings = settings;
        this.detached = detached;
    }

    int run() {
        boolean fid = !settings.noFid();
        long mask = EventSet.resolve(settings.events(), fid);
        if (detached) {
            Detach.becomeSessionLeader();
        }
        int selfPid = Syscalls.getpid();
        String outputPath = settings.output().orElse("-");
        try (PidFile pidFile = settings.pidFile().map(p -> PidFile.acquire(p, selfPid)).orElse(null);
             FanotifyGroup group = openGroup(fid, settings.queueSize());
             Filesystems filesystems = new Filesystems();
             Arena arena = Arena.ofShared()) {
            // Before the marks: events that arrive while the JVM is still cold would queue up meanwhile.
            long t0 = System.nanoTime();
            Warmup.run(fid, WARMUP_ITERATIONS);
            Log.debug("warm-up took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            MountScope scope = new MountScope();
            Marks marks = new Marks();
            marks.apply(group, filesystems, scope, settings.watches(), settings.mounts(), settings.filesystems(), fid,
                    mask);
            // After the marks: a start-up that fails there leaves no empty output file behind.
            FdOutput output = openOutput(outputPath);
            DirPathCache dirs = new DirPathCache(16384, 1000);
            ProcessCache processes = new ProcessCache(8192, 1000, arena);
            Enricher enricher = new Enricher(fid, selfPid, dirs, new HandleResolver(filesystems, arena), processes,
                    scope);
            int wakeFd = Syscalls.eventfd();
            EventLoop.Counters counters = new EventLoop.Counters();
            EventLoop loop = new EventLoop(group, wakeFd, enricher, new RecordEncoder("observe"), output,
                    READ_BUFFER_BYTES, FLUSH_MS, counters);
            Signal.handle(new Signal("TERM"), s -> loop.stop());
            Signal.handle(new Signal("INT"), s -> loop.stop());
            Signal.handle(new Signal("HUP"), s -> Log.warn("SIGHUP ignored: reloading is not supported; restart"));
            Log.info("ready: pid " + selfPid + ", " + marks.count() + " marks, " + (fid ? "FID" : "FD") + " mode, events "
                    + io.fanotifyd.kernel.EventMask.names(mask) + ", output " + output.name());
            if (detached) {
                Log.info("detached");
                if (settings.logFile().isEmpty()) {
                    Log.toSyslog();
                }
                Detach.announceReady("-".equals(outputPath));
            }
            loop.run();
            Log.info("stopping: " + counters.records + " records, " + counters.overflows + " overflows, "
                    + counters.errors + " errors, " + enricher.ownEvents() + " own events skipped, "
                    + enricher.outOfScope() + " outside marked mounts, " + enricher.unresolved() + " paths unresolved, "
                    + "dir cache " + dirs.hits() + " hits / " + dirs.misses() + " misses, " + processes.refreshes()
                    + " /proc reads, " + processes.unknown() + " processes unknown");
            Syscalls.closeQuietly(wakeFd);
            output.close();
            return 0;
        }
    }

    private static FdOutput openOutput(String path) {
        try {
            return FdOutput.open(path, EventLoop.FLUSH_BYTES * 2);
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
