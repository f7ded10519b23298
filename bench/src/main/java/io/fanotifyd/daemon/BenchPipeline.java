package io.fanotifyd.daemon;

import io.fanotifyd.enrich.DirPathCache;
import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.HandleResolver;
import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.enrich.MountScope;
import io.fanotifyd.enrich.ProcessCache;
import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.kernel.Fnmatch;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.BufferSink;
import io.fanotifyd.sink.RecordEncoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

/**
 * The daemon's per-event {@link Pipeline} without the kernel, as the benchmarks drive it: decode → enrich (warm
 * directory and process caches) → policy → encode, over the three synthetic FID events the daemon warms up with (a write, a
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
    private final BufferSink out = new BufferSink(1 << 16);
    private final Pipeline pipeline;
    private final long now = System.nanoTime() / 1_000_000;

    BenchPipeline(JobIndex jobs, Policy policy) {
        DirPathCache dirs = new DirPathCache(64, Long.MAX_VALUE);
        length = Warmup.fidEvents(buffer);
        Warmup.seedDirectories(new EventCursor(), buffer, length, dirs, EVENT_DIR.getBytes(StandardCharsets.US_ASCII),
                now);
        Enricher enricher = new Enricher(true, -1, dirs, new HandleResolver(filesystems, arena),
                new ProcessCache(64, 1000, arena), new MountScope(), jobs);
        pipeline = Warmup.pipeline(enricher, policy, new RecordEncoder(), out);
        Fnmatch.useCLocaleOnThisThread();
    }

    /** One operation: the three events through the daemon's {@link Pipeline}; returns the bytes encoded. */
    int threeEvents() {
        out.reset();
        pipeline.observe(buffer, length);
        return out.pending();
    }

    @Override
    public void close() {
        filesystems.close();
        arena.close();
    }
}
