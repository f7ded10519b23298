package io.fanotifyd.daemon;

import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.FanotifyGroup;
import io.fanotifyd.metrics.MetricsWriter;
import io.fanotifyd.policy.Decision;
import io.fanotifyd.sink.FdOutput;
import io.fanotifyd.sink.SocketHub;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The daemon's figures, told once to a {@link MetricsWriter}: the Prometheus exposition of {@code --metrics}
 * and the {@code stats} record of {@code --stats-interval-s} are both this list (docs/METRICS.md).
 *
 * <p>Everything is read racily from counters that their own threads keep without locks; telling them allocates
 * (labels, arrays), which happens on the metrics thread per scrape or on the event thread once per stats
 * interval, never per event. The kernel queues' depths are asked with the caller's own scratch memory, so a
 * scrape never holds a lock the permission thread takes.
 */
final class DaemonMetrics {
    /** The event types worth a sample each: every named type bit, in bit order. */
    private static final int[] TYPE_BITS;
    private static final String[] TYPE_NAMES;

    static {
        java.util.List<Integer> bits = new java.util.ArrayList<>();
        for (int bit = 0; bit < 64; bit++) {
            long b = 1L << bit;
            if (EventMask.bitName(bit) != null && b != EventMask.ONDIR && b != EventMask.EVENT_ON_CHILD) {
                bits.add(bit);
            }
        }
        TYPE_BITS = bits.stream().mapToInt(Integer::intValue).toArray();
        TYPE_NAMES = bits.stream().map(EventMask::bitName).toArray(String[]::new);
    }

    private static final String[] RECORD_TYPES = {"event", "alert", "overflow", "stats"};
    private static final String[] SKIP_REASONS = {"own", "out_of_scope"};
    private static final String[] ANSWERS = {"allow", "deny"};
    private static final String[] ALERT_KINDS = {io.fanotifyd.policy.Alerts.CANARY, io.fanotifyd.policy.Alerts.BURST};

    private final Counters counters;
    private final Pipeline notifyPipeline;
    private final Pipeline permPipeline;
    private final FdOutput output;
    private final java.util.function.Supplier<SocketHub> hubs;
    private final FanotifyGroup notify;
    private final FanotifyGroup perm;
    private final long startEpochMs;
    private final String[] groupNames;

    /**
     * @param permPipeline, perm, hub, hooks null when the daemon runs without them
     */
    DaemonMetrics(Counters counters, Pipeline notifyPipeline, Pipeline permPipeline, FdOutput output,
                  java.util.function.Supplier<SocketHub> hubs, FanotifyGroup notify, FanotifyGroup perm,
                  long startEpochMs) {
        this.counters = counters;
        this.notifyPipeline = notifyPipeline;
        this.permPipeline = permPipeline;
        this.output = output;
        this.hubs = hubs;
        this.notify = notify;
        this.perm = perm;
        this.startEpochMs = startEpochMs;
        this.groupNames = perm == null ? new String[] {"notification"} : new String[] {"notification", "permission"};
    }

    /**
     * Tells every figure to {@code w}. One thread at a time: the metrics thread, or the event thread for the
     * stats record ({@code scratch} is per caller thread through {@code slot}: 0 metrics, 1 stats).
     */
    void describe(MetricsWriter w, int slot) {
        PipelineCounts n = notifyPipeline.counts();
        SocketHub hub = hubs.get();
        AlertHooks hooks = notifyPipeline.hooks();
        long[] retired = counters.retiredHooks;
        PipelineCounts p = permPipeline == null ? null : permPipeline.counts();
        long[] byType = new long[TYPE_BITS.length];
        for (int i = 0; i < TYPE_BITS.length; i++) {
            byType[i] = n.eventsByBit[TYPE_BITS[i]] + (p == null ? 0 : p.eventsByBit[TYPE_BITS[i]]);
        }
        w.counter("events_read_total", "Events read from the kernel's fanotify queues, per event type (an event"
                + " of several merged types counts once for each).", "type", TYPE_NAMES, byType);
        io.fanotifyd.enrich.Enricher e = notifyPipeline.enricher();
        w.counter("events_skipped_total", "Notification events read that made no record: the daemon's own accesses"
                + " (resolving a path opens its directory), or changes not provably made through a --mount mount.",
                "reason", SKIP_REASONS, new long[] {e.ownEvents(), e.outOfScope()});
        w.counter("records_total", "Records made, per record type (each is written to the output and the"
                + " subscribers, or counted as dropped there).", "type", RECORD_TYPES,
                new long[] {counters.records, counters.alerts, counters.overflows, counters.stats});
        w.counter("records_written_total", "Records written to the output (file, stdout or pipe).",
                output.written());
        w.counter("records_dropped_total", "Records that did not reach a sink: the output (too slow, or its writes"
                + " failed) or the subscribers' socket (a slow subscriber's share).", "sink",
                hub == null ? new String[] {"output"} : new String[] {"output", "socket"},
                hub == null ? new long[] {output.dropped() + output.lost()}
                        : new long[] {output.dropped() + output.lost(), hub.droppedRecords()});
        w.gauge("subscribers", "Subscribers connected to the records' socket.", hub == null ? 0 : hub.connected());
        w.counter("alerts_total", "Alerts raised, per kind.", "kind", ALERT_KINDS,
                new long[] {n.canaryAlerts + (p == null ? 0 : p.canaryAlerts),
                        n.burstAlerts + (p == null ? 0 : p.burstAlerts)});
        w.counter("permission_decisions_total", "Permission events answered, per answer.", "answer", ANSWERS,
                p == null ? new long[2] : new long[] {p.decisions[Decision.ALLOW.ordinal()],
                        p.decisions[Decision.DENY.ordinal()]});
        long[] latency = p == null ? new long[PipelineCounts.LATENCY_BOUNDS_NS.length + 1] : p.latency.clone();
        w.histogramSeconds("permission_answer_seconds", "Time from reading a permission event to writing its"
                + " answer (the opener waits at least this long).", PipelineCounts.LATENCY_BOUNDS_NS, latency,
                p == null ? 0 : p.latencySumNs);
        w.counter("hook_runs_total", "Alert hooks started.", retired[0] + (hooks == null ? 0
                : hooks.runner().started()));
        w.counter("hook_failures_total", "Alert hooks that failed: exited non-zero, killed by a signal, or could"
                + " not be started.", retired[1] + (hooks == null ? 0 : hooks.runner().failed()));
        w.counter("hook_timeouts_total", "Alert hooks killed for outliving --hook-timeout-ms.",
                retired[2] + (hooks == null ? 0 : hooks.runner().timedOut()));
        w.counter("hook_cooldown_skips_total", "Alerts whose hook was held back by --hook-cooldown-ms.",
                retired[3] + (hooks == null ? 0 : hooks.suppressedByCooldown()));
        w.counter("hook_queue_full_total", "Alert hooks not run because too many were waiting.",
                retired[4] + (hooks == null ? 0 : hooks.runner().dropped()));
        w.counter("kernel_queue_overflows_total", "Times the kernel's notification queue overflowed and dropped"
                + " events (only with --queue-size kernel).", counters.overflows);
        long[] depth = new long[groupNames.length];
        depth[0] = queued(notify, slot);
        if (perm != null) {
            depth[1] = queued(perm, 2 + slot);
        }
        w.gauge("kernel_queue_events", "Events waiting in the kernel's fanotify queue, per group.", "group",
                groupNames, depth);
        w.counter("attribution_misses_total", "Event records written without comm: the process could not be"
                + " named.", n.withoutComm + (p == null ? 0 : p.withoutComm));
        w.counter("errors_total", "Events that could not be processed, and failed answers.", counters.errors.get());
        w.counter("read_errors_total", "Reads of a fanotify group that failed (EMFILE and the like).",
                counters.readErrors.get());
        long[] inPlace = new long[groupNames.length];
        inPlace[0] = Math.max(0, MarkWatch.marksInPlace(notify.fd()));
        if (perm != null) {
            inPlace[1] = Math.max(0, MarkWatch.marksInPlace(perm.fd()));
        }
        w.gauge("marks", "Marks the kernel holds, per group (a mark whose filesystem was unmounted is gone).",
                "group", groupNames, inPlace);
        w.counter("reloads_total", "SIGHUP reloads that put a new configuration in force.",
                counters.reloads.get());
        w.counter("reloads_failed_total", "SIGHUP reloads that failed and left the configuration in force"
                + " unchanged.", counters.failedReloads.get());
        w.gauge("resident_memory_bytes", "Resident set size of the daemon.", residentBytes());
        w.gauge("start_time_seconds", "When the daemon started, in seconds since the epoch.", startEpochMs / 1000);
    }

    private final MemorySegment[] queueScratch = new MemorySegment[4];

    private long queued(FanotifyGroup g, int i) {
        if (queueScratch[i] == null) {
            queueScratch[i] = Arena.ofAuto().allocate(4, 4);
        }
        return Math.max(0, g.queuedEvents(queueScratch[i]));
    }

    /** VmRSS of /proc/self/status, in bytes; 0 if it cannot be read. */
    static long residentBytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.substring(6).trim().split("\\s+")[0]) * 1024;
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }
}
