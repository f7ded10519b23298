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
import io.fanotifyd.policy.Alerts;
import io.fanotifyd.policy.BurstDetector;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.JsonWriter;
import io.fanotifyd.sink.RecordEncoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The per-event path without the kernel: decode → enrich (warm directory and process caches) → policy →
 * encode, over the same three synthetic FID events the daemon warms up with (a write, a create, a rename).
 * Run with {@code -prof gc} to see the bytes allocated per operation (one operation = three events).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC"})
@State(Scope.Thread)
public class PipelineBenchmark {
    /** "none": no canaries or bursts; "policy": one canary pattern and a burst detector. */
    @Param({"none", "policy"})
    public String policy;

    private Arena arena;
    private Filesystems filesystems;
    private MemorySegment buffer;
    private int length;
    private EventCursor cursor;
    private Event event;
    private Enricher enricher;
    private Policy rules;
    private Alerts alerts;
    private RecordEncoder encoder;
    private JsonWriter out;
    private long now;

    /** The directory all the benchmark events are in, as the warm directory cache names it. */
    static final String EVENT_DIR = "/srv/data/project";

    /**
     * Writes the daemon's three synthetic warm-up FID events into {@code buffer} and returns their length;
     * their directories go into {@code dirs} as {@link #EVENT_DIR}, so that enrichment takes the cache-hit path.
     */
    static int warmEvents(MemorySegment buffer, DirPathCache dirs, long now) {
        int length = io.fanotifyd.daemon.Warmup.fidEvents(buffer);
        byte[] dirPath = EVENT_DIR.getBytes(StandardCharsets.US_ASCII);
        EventCursor cursor = new EventCursor();
        cursor.reset(buffer, length);
        while (cursor.next()) {
            if (cursor.dir().present()) {
                dirs.put(cursor.dir(), dirPath, dirPath.length, now);
            }
            if (cursor.oldDir().present()) {
                dirs.put(cursor.oldDir(), dirPath, dirPath.length, now);
            }
        }
        return length;
    }

    /** The FID-mode enricher over a warm {@code dirs}, with a small process cache and the given job roots. */
    static Enricher enricher(DirPathCache dirs, Filesystems filesystems, Arena arena, JobIndex jobs) {
        return new Enricher(true, -1, dirs, new HandleResolver(filesystems, arena), new ProcessCache(64, 1000, arena),
                new MountScope(), jobs);
    }

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        filesystems = new Filesystems();
        buffer = arena.allocate(4096, 8);
        DirPathCache dirs = new DirPathCache(64, Long.MAX_VALUE);
        now = System.nanoTime() / 1_000_000;
        length = warmEvents(buffer, dirs, now);
        cursor = new EventCursor();
        enricher = enricher(dirs, filesystems, arena, new JobIndex(List.of(new JobIndex.Root(
                "/srv/data".getBytes(StandardCharsets.US_ASCII), "J", "workspace"))));
        rules = "policy".equals(policy)
                ? new Policy(new CanaryMatcher(List.of("/srv/secrets/*")), new BurstDetector(1000, 1000, 64), true,
                        true)
                : new Policy(new CanaryMatcher(List.of()), null, false, true);
        io.fanotifyd.kernel.Libc.useCLocaleOnThisThread();
        alerts = new Alerts();
        encoder = new RecordEncoder();
        event = new Event();
        out = new JsonWriter(1 << 16);
    }

    @Benchmark
    public int threeEvents() {
        out.reset();
        cursor.reset(buffer, length);
        while (cursor.next()) {
            // batch 1 throughout: the process cache is warm after the first call, as for a busy process
            if (enricher.fill(cursor, event, 1, now, now)) {
                rules.evaluate(event, alerts, now);
                encoder.event(event, "observe", out);
                for (int a = 0; a < alerts.size(); a++) {
                    encoder.alert(event, alerts, a, out);
                }
            }
        }
        return out.length();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        filesystems.close();
        arena.close();
    }
}
