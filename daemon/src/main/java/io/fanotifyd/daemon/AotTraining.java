package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.HelpText;
import io.fanotifyd.daemon.options.OptionParser;
import io.fanotifyd.daemon.options.QueueSize;
import io.fanotifyd.daemon.options.Settings;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.kernel.NativeCallException;

/**
 * The training run behind the JDK's ahead-of-time cache ({@code make} runs it with {@code -XX:AOTCacheOutput}):
 * it walks the start-up path up to, but not including, the marks, so that the cache holds the classes, linked,
 * that a real start loads. Measured: exec to marks in place went from ~265 ms to ~150 ms (docs/PERFORMANCE.md).
 * Needs no privileges: where opening a group fails (not root), that part is skipped.
 */
final class AotTraining {
    private AotTraining() {}

    public static void main(String[] args) {
        Settings settings = OptionParser.parse(new String[] {"--foreground", "--mount", "/", "--output", "/dev/null",
                "--canary", "/nonexistent/canary*", "--burst-threshold", "8", "--job", "training",
                "--workspace", "/nonexistent/ws", "--events", "+access", "--batch-delay-us", "0"}, "/");
        HelpText.render();
        JobConfig.jobIndex(settings.jobs());
        for (boolean perm : new boolean[] {false, true}) {
            try (FanotifyGroup g = perm ? Groups.openPermissionGroup(QueueSize.UNLIMITED)
                    : Groups.openGroup(true, QueueSize.UNLIMITED)) {
                g.fd();
            } catch (NativeCallException | StartupException e) {
                // Not root: the classes on this path are loaded anyway by the attempt.
            }
        }
        try (io.fanotifyd.sink.FdOutput out = Outputs.openOutput("/dev/null", settings.outputFile(), false, new io.fanotifyd.sink.FdOutput
                .Listener() {
            @Override
            public void warn(String message) {
            }

            @Override
            public void gone(String message) {
            }
        })) {
            out.finish(1000);
        }
        FdBudget.compute(FdBudget.raiseLimit()[0], FdBudget.countOpen(), 4, 64);
        // --metrics: its server bound and started before the marks (18 ms of start-up before this was trained).
        try (io.fanotifyd.metrics.MetricsServer server = io.fanotifyd.metrics.MetricsServer.open(
                io.fanotifyd.metrics.MetricsAddress.parse("127.0.0.1:0"), line -> { })) {
            server.start(() -> new io.fanotifyd.metrics.PrometheusText().bytes());
        } catch (java.io.IOException | RuntimeException e) {
            // No loopback in the build's sandbox: the classes of the attempt are loaded all the same.
        }
        // Exit records: the socket (where the build may open it) and the lookups of a live and a gone process.
        io.fanotifyd.enrich.ExitRecords exits = new io.fanotifyd.enrich.ExitRecords(16);
        try (io.fanotifyd.kernel.Taskstats t = io.fanotifyd.kernel.Taskstats.open(1 << 16)) {
            t.drain(exits);
        } catch (NativeCallException e) {
            // Not root: the classes on this path are loaded anyway by the attempt.
        }
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            io.fanotifyd.enrich.ProcessCache processes = new io.fanotifyd.enrich.ProcessCache(16, 1000, arena, null,
                    exits);
            processes.lookup((int) ProcessHandle.current().pid(), io.fanotifyd.enrich.ProcessCache.noPidfdInfo(),
                    1, 0);
            processes.lookup(Integer.MAX_VALUE, io.fanotifyd.kernel.Fanotify.FAN_NOPIDFD, 2, 0);
        }
        Warmup.run(true, true, 500, 100);
        Warmup.run(false, false, 100, 0);
        ClassPreloader.loadAll();
        startAsTheDaemonDoes();
        System.exit(0); // as Main does: a thread the daemon left must not keep the build waiting
    }

    /** How long the training waits for its daemon's mark before it stops it anyway. */
    private static final long TRAINING_STOP_MS = 10_000;

    /**
     * Where the build runs as root: a real start-up, up to an inode mark on an empty directory of its own
     * (observe mode), then a SIGTERM to itself. What only that path runs (its lambdas, the method handles of the
     * threads it starts, the signal handling) is then in the cache too: ~16 ms of a start on this VM were
     * lambdas spun at run time. Not root: opening the group fails and the part is skipped.
     */
    private static void startAsTheDaemonDoes() {
        java.nio.file.Path dir;
        try {
            dir = java.nio.file.Files.createTempDirectory("fanotifyd-aot-training");
        } catch (java.io.IOException e) {
            return;
        }
        long pid = ProcessHandle.current().pid();
        Thread stopper = Thread.ofPlatform().daemon().name("fanotifyd-training-stop").start(() -> {
            long deadline = System.nanoTime() + TRAINING_STOP_MS * 1_000_000L;
            while (!hasInodeMark(pid) && System.nanoTime() - deadline < 0) {
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    return; // the daemon failed before its mark: nothing to stop
                }
            }
            try {
                new ProcessBuilder("kill", "-TERM", Long.toString(pid)).inheritIO().start().waitFor();
            } catch (java.io.IOException e) {
                // no kill(1): the build's training then hangs on, so say it
                System.err.println("AOT training: cannot stop its daemon: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            String[] args = {"--foreground", "--watch", dir.toString(), "--output", "/dev/null"};
            new Daemon(OptionParser.parse(args, "/"), false, args, "/").run();
        } catch (RuntimeException e) {
            // Not root (the group), or anything else: the classes of the attempt are in the cache anyway.
        } finally {
            stopper.interrupt();
            try {
                java.nio.file.Files.deleteIfExists(dir);
            } catch (java.io.IOException e) {
                // a temp directory left behind
            }
        }
    }

    private static boolean hasInodeMark(long pid) {
        java.io.File[] fds = new java.io.File("/proc/" + pid + "/fdinfo").listFiles();
        if (fds == null) {
            return false;
        }
        for (java.io.File f : fds) {
            try {
                for (String line : java.nio.file.Files.readAllLines(f.toPath())) {
                    if (line.startsWith("fanotify ino:")) {
                        return true;
                    }
                }
            } catch (java.io.IOException | java.io.UncheckedIOException e) {
                // an fd closed meanwhile
            }
        }
        return false;
    }
}
