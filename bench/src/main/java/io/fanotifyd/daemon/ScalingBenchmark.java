package io.fanotifyd.daemon;

import io.fanotifyd.enrich.DirPathCache;
import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.Event;
import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.policy.Alerts;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.JsonWriter;
import io.fanotifyd.sink.RecordEncoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
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
 * How {@link PipelineBenchmark}'s per-event path (decode → enrich → policy → encode, the same three synthetic
 * FID events in {@link PipelineBenchmark#EVENT_DIR}, one operation = three events) grows with the
 * configuration, one dimension per benchmark class:
 *
 * <ul>
 *   <li>{@link Canaries}: 0, 1, 10, 100 canary patterns, none matching. {@code prefix=other}:
 *       {@code /nomatch/<i>/*}, rejected by the literal-prefix check; {@code prefix=same}:
 *       {@code /srv/data/*}{@code /nomatch-<i>}, whose literal prefix the paths share, so that every pattern
 *       goes to fnmatch.</li>
 *   <li>{@link Jobs}: 0, 10, 1000, 100000 job roots ({@code /srv/data/job<i>/workspace}) that contain none of the
 *       events, with ({@code own=true}) or without one more root that is the events' own directory.</li>
 * </ul>
 *
 * The forks run as the daemon's launcher does: C1 only, serial GC.
 */
public class ScalingBenchmark {
    private ScalingBenchmark() {}

    /** The pipeline of {@link PipelineBenchmark} with the given canary patterns and job roots, no burst detector. */
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    @Warmup(iterations = 3, time = 2)
    @Measurement(iterations = 5, time = 2)
    @Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1"})
    @State(Scope.Thread)
    public abstract static class Pipeline {
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

        final void setUp(List<String> canaries, List<JobIndex.Root> roots) {
            arena = Arena.ofShared();
            filesystems = new Filesystems();
            buffer = arena.allocate(4096, 8);
            DirPathCache dirs = new DirPathCache(64, Long.MAX_VALUE);
            now = System.nanoTime() / 1_000_000;
            length = PipelineBenchmark.warmEvents(buffer, dirs, now);
            cursor = new EventCursor();
            enricher = PipelineBenchmark.enricher(dirs, filesystems, arena, new JobIndex(roots));
            rules = new Policy(new CanaryMatcher(canaries), null, false, true);
            io.fanotifyd.kernel.Libc.useCLocaleOnThisThread(); // as the daemon's event thread, for fnmatch
            alerts = new Alerts();
            encoder = new RecordEncoder();
            event = new Event();
            out = new JsonWriter(1 << 16);
        }

        /** {@link PipelineBenchmark#threeEvents()}, line for line. */
        final int run() {
            out.reset();
            cursor.reset(buffer, length);
            while (cursor.next()) {
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

    /** Canary patterns that never match the events. */
    public static class Canaries extends Pipeline {
        @Param({"0", "1", "10", "100"})
        public int canaries;

        /** "other": the patterns' literal prefix differs from the paths'; "same": the paths start with it. */
        @Param({"other", "same"})
        public String prefix;

        @Setup(Level.Trial)
        public void setUp() {
            List<String> patterns = new ArrayList<>();
            for (int i = 0; i < canaries; i++) {
                patterns.add("same".equals(prefix) ? "/srv/data/*/nomatch-" + i : "/nomatch/" + i + "/*");
            }
            setUp(patterns, List.of());
        }

        @Benchmark
        public int threeEvents() {
            return run();
        }
    }

    /** Job roots that do not contain the events, and optionally the events' own directory as one more. */
    public static class Jobs extends Pipeline {
        @Param({"0", "10", "1000", "100000"})
        public int jobs;

        /** Whether {@link PipelineBenchmark#EVENT_DIR} is one more root (then every event gets a job). */
        @Param({"false", "true"})
        public boolean own;

        @Setup(Level.Trial)
        public void setUp() {
            List<JobIndex.Root> roots = new ArrayList<>();
            for (int i = 0; i < jobs; i++) {
                roots.add(new JobIndex.Root(("/srv/data/job" + i + "/workspace").getBytes(StandardCharsets.US_ASCII),
                        "job" + i, "workspace"));
            }
            if (own) {
                roots.add(new JobIndex.Root(PipelineBenchmark.EVENT_DIR.getBytes(StandardCharsets.US_ASCII), "own",
                        "workspace"));
            }
            setUp(List.of(), roots);
        }

        @Benchmark
        public int threeEvents() {
            return run();
        }
    }
}
