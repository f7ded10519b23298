package io.fanotifyd.daemon;

import io.fanotifyd.enrich.DirPathCache;
import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.Event;
import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.HandleResolver;
import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.enrich.MountScope;
import io.fanotifyd.enrich.ProcessCache;
import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.policy.Alerts;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.JsonWriter;
import io.fanotifyd.sink.RecordEncoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

/**
 * The per-event path without the kernel, as the benchmarks drive it: decode → enrich (warm directory and
 * process caches) → policy → encode, over the three synthetic FID events the daemon warms up with (a write, a
 * create, a rename), all in {@link #EVENT_DIR}. Made on the benchmark thread: it switches that thread to the C
 * locale, as the daemon's event thread is for fnmatch.
 */
final class BenchPipeline implements AutoCloseable {
    /** The directory all the benchmark events are in, as the warm directory cache names it. */
    static final String EVENT_DIR = "/srv/data/project";

    private final Arena arena = Arena.ofShared();
    private final Filesystems filesystems = new Filesystems();
    private final MemorySegment buffer = arena.allocate(4096, 8);
    private final int length;
    private final EventCursor cursor = new EventCursor();
    private final Event event = new Event();
    private final Enricher enricher;
    private final Policy policy;
    private final Alerts alerts = new Alerts();
    private final RecordEncoder encoder = new RecordEncoder();
    private final JsonWriter out = new JsonWriter(1 << 16);
    private final long now = System.nanoTime() / 1_000_000;

    BenchPipeline(JobIndex jobs, Policy policy) {
        DirPathCache dirs = new DirPathCache(64, Long.MAX_VALUE);
        length = Warmup.fidEvents(buffer);
        Warmup.seedDirectories(cursor, buffer, length, dirs, EVENT_DIR.getBytes(StandardCharsets.US_ASCII), now);
        enricher = new Enricher(true, -1, dirs, new HandleResolver(filesystems, arena),
                new ProcessCache(64, 1000, arena), new MountScope(), jobs);
        this.policy = policy;
        Libc.useCLocaleOnThisThread();
    }

    /** One operation: the three events through the whole path; returns the bytes encoded. */
    int threeEvents() {
        out.reset();
        cursor.reset(buffer, length);
        while (cursor.next()) {
            // batch 1 throughout: the process cache is warm after the first call, as for a busy process
            if (enricher.fill(cursor, event, 1, now, now)) {
                policy.evaluate(event, alerts, now);
                encoder.event(event, "observe", out);
                for (int a = 0; a < alerts.size(); a++) {
                    encoder.alert(event, alerts, a, out);
                }
            }
        }
        return out.length();
    }

    @Override
    public void close() {
        filesystems.close();
        arena.close();
    }
}
