package io.fanotifyd.enrich;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.Syscalls;

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
 * What not holding an fd on each marked mount costs: a batch that has to resolve a file handle (a directory
 * cache miss) first opens the mount point and checks its fsid ({@link Filesystems#openMount}), and closes it
 * at the end ({@code mountFdPerBatch}: openat + fstatfs + close). For scale, {@code readlinkOfAnFd} is the
 * {@code readlink} every miss already pays (besides {@code open_by_handle_at} and {@code close}). Run on /tmp.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC"})
@State(Scope.Thread)
public class MountFdBenchmark {
    private final Arena arena = Arena.ofShared();
    private Filesystems filesystems;
    private HandleResolver resolver;
    private MemorySegment statfs;
    private final int[] errno = new int[1];
    private int fd;

    @Setup(Level.Trial)
    public void setUp() {
        filesystems = new Filesystems();
        filesystems.register("/tmp", "/tmp");
        resolver = new HandleResolver(filesystems, arena);
        statfs = Filesystems.statfsBuffer(arena);
        fd = Syscalls.open("/tmp", Fanotify.O_RDONLY | Fanotify.O_DIRECTORY | Fanotify.O_CLOEXEC, 0);
    }

    @Benchmark
    public int mountFdPerBatch() {
        int mountFd = filesystems.openMount(0, statfs, errno);
        if (mountFd < 0) {
            throw new IllegalStateException("openMount /tmp: errno " + errno[0]);
        }
        return Libc.close(mountFd);
    }

    @Benchmark
    public boolean readlinkOfAnFd() {
        return resolver.resolveFd(fd);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Syscalls.closeQuietly(fd);
        filesystems.close();
        arena.close();
    }
}
