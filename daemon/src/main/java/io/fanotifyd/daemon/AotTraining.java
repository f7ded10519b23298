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
    }
}
