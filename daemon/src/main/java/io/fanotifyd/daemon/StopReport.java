package io.fanotifyd.daemon;

import io.fanotifyd.enrich.DirPathCache;
import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.ExitRecords;
import io.fanotifyd.enrich.ProcessCache;
import io.fanotifyd.kernel.Taskstats;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.FdOutput;
import io.fanotifyd.sink.SocketHub;

/**
 * The end of a run: the output finished within the stop's deadline ({@link #finishOutput}), and the one log
 * line that says what the run did and lost ({@link #line()}), from the parts' counters, read after every
 * thread that moves them has stopped.
 */
record StopReport(Counters counters, FdOutput output, Enricher enricher, DirPathCache dirs, ProcessCache processes,
                  ExitRecords exits, Taskstats taskstats, Policy policy, Pipeline pipeline, Pipeline permPipeline,
                  AlertHooks hooks, SocketHub hub, boolean perm) {

    String line() {
        return "stopping: " + counters.records + " records, " + counters.alerts + " alerts, "
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
                + " refused, " + hub.droppedRecords() + " records dropped for slow ones");
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
    static long finishOutput(EventLoop loop, FdOutput output) {
        long deadline = loop.stopDeadlineNs();
        long leftMs = deadline == 0 ? Daemon.STOP_FLUSH_TIMEOUT_MS
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
}
