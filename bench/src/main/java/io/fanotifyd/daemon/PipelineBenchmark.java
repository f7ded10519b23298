package io.fanotifyd.daemon;

import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.policy.BurstDetector;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.Policy;

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
 * The per-event path without the kernel ({@link BenchPipeline}), with and without a policy.
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

    private BenchPipeline pipeline;

    @Setup(Level.Trial)
    public void setUp() {
        pipeline = new BenchPipeline(new JobIndex(List.of(new JobIndex.Root(
                "/srv/data".getBytes(StandardCharsets.US_ASCII), "J", "workspace"))),
                "policy".equals(policy)
                        ? new Policy(new CanaryMatcher(List.of("/srv/secrets/*")), new BurstDetector(1000, 1000, 64),
                                true, true)
                        : new Policy(new CanaryMatcher(List.of()), null, false, true));
    }

    @Benchmark
    public int threeEvents() {
        return pipeline.threeEvents();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pipeline.close();
    }
}
