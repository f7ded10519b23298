package io.fanotifyd.daemon;

import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.Policy;

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
 * How the per-event path of {@link BenchPipeline} (decode → enrich → policy → encode, three synthetic FID
 * events in {@link BenchPipeline#EVENT_DIR}, one operation = three events) grows with the
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

    /** {@link BenchPipeline} with the given canary patterns and job roots, no burst detector. */
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    @Warmup(iterations = 3, time = 2)
    @Measurement(iterations = 5, time = 2)
    @Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1"})
    @State(Scope.Thread)
    public abstract static class Pipeline {
        private BenchPipeline pipeline;

        final void setUp(List<String> canaries, List<JobIndex.Root> roots) {
            pipeline = new BenchPipeline(new JobIndex(roots), new Policy(new CanaryMatcher(canaries), null, false,
                    true));
        }

        final int run() {
            return pipeline.threeEvents();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            pipeline.close();
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

        /** Whether {@link BenchPipeline#EVENT_DIR} is one more root (then every event gets a job). */
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
                roots.add(new JobIndex.Root(BenchPipeline.EVENT_DIR.getBytes(StandardCharsets.US_ASCII), "own",
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
