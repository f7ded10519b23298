package io.fanotifyd.enrich;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.TaskExit;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The path of a process already gone, without the kernel: one exit record taken in ({@link ExitRecords#exited},
 * as a drain does) and one event of that process named from it ({@link ProcessCache#lookup} with
 * {@code FAN_NOPIDFD}), a new pid each time, every record retired after its event as an idle queue would.
 * Measures that the path costs little and allocates nothing per event ({@code -prof gc}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC"})
@State(Scope.Thread)
public class ExitPathBenchmark {
    private final Arena arena = Arena.ofShared();
    private final MemorySegment record = arena.allocate(560, 8);
    private final TaskExit view = new TaskExit();
    private ExitRecords exits;
    private ProcessCache processes;
    private long batch;
    private int pid;

    @Setup(Level.Trial)
    public void setUp() {
        exits = new ExitRecords(16384);
        processes = new ProcessCache(8192, 1000, arena, null, exits);
        record.set(JAVA_SHORT_UNALIGNED, 0, (short) 16);
        byte[] comm = "touch".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        MemorySegment.copy(comm, 0, record, JAVA_BYTE, 80, comm.length);
        record.set(JAVA_LONG_UNALIGNED, 344, 1_700_000_000L);
        view.set(record, 0, 560);
    }

    @Benchmark
    public int goneProcess() {
        int p = 100_000 + (pid++ & 0xfff); // 4096 pids, each used again: the entries stay, as in a steady state
        record.set(JAVA_INT_UNALIGNED, 128, p);
        record.set(JAVA_INT_UNALIGNED, 368, p);
        exits.exited(view);
        ProcessInfo info = processes.lookup(p, Fanotify.FAN_NOPIDFD, ++batch, 0);
        exits.retireUpTo(exits.lastSeq());
        return info == null ? -1 : info.commLength();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }
}
