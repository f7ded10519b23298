package io.fanotifyd.daemon;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import io.fanotifyd.enrich.DirPathCache;
import io.fanotifyd.enrich.Enricher;
import io.fanotifyd.enrich.Filesystems;
import io.fanotifyd.enrich.HandleResolver;
import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.enrich.MountScope;
import io.fanotifyd.enrich.ProcessCache;
import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Syscalls;
import io.fanotifyd.policy.BurstDetector;
import io.fanotifyd.policy.CanaryMatcher;
import io.fanotifyd.policy.Policy;
import io.fanotifyd.sink.BufferSink;
import io.fanotifyd.sink.RecordEncoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Runs the decode → enrich → encode path on synthetic events before the daemon reports ready, with throwaway
 * caches. Without it the first few hundred real events are handled by the interpreter, slowly enough that
 * short-lived processes are gone before their {@code comm} is read (measured: 123 of the first 500 records of
 * a burst of {@code touch} processes had no comm; see docs/PERFORMANCE.md).
 */
final class Warmup {
    private static final long FAKE_FSID = 0x7761726d75700000L;

    private Warmup() {}

    static void run(boolean fid, boolean canaries, int iterations, int permissionIterations) {
        try (Arena arena = Arena.ofConfined(); Filesystems none = new Filesystems()) {
            MemorySegment buf = arena.allocate(4096, 8);
            int len = fid ? fidEvents(buf) : fdEvents(buf);
            DirPathCache dirs = new DirPathCache(64, Long.MAX_VALUE);
            HandleResolver resolver = new HandleResolver(none, arena);
            Enricher enricher = new Enricher(fid, -1, dirs, resolver, new ProcessCache(64, 1000, arena),
                    new MountScope(), new JobIndex(List.of(new JobIndex.Root(
                            "/warm".getBytes(StandardCharsets.US_ASCII), "warm", "rootfs"))));
            // A pattern that matches the synthetic paths and a tiny burst threshold: alerts get compiled too.
            // Without configured canaries, none here either: matching links fnmatch, a few ms of start-up.
            Policy policy = new Policy(new CanaryMatcher(canaries ? List.of("/warm/up/*") : List.of()),
                    new BurstDetector(4, 1000, 64), true, true);
            BufferSink sink = new BufferSink(1 << 16);
            RecordEncoder encoder = new RecordEncoder();
            Pipeline pipeline = pipeline(enricher, permissionIterations > 0 ? policy.shareable() : policy, encoder,
                    sink);
            byte[] dirPath = "/warm/up".getBytes(StandardCharsets.US_ASCII);
            // Seed the directory cache so the hit path (the common one) is what gets compiled.
            seedDirectories(new EventCursor(), buf, len, dirs, dirPath, System.currentTimeMillis());
            for (int i = 0; i < iterations; i++) {
                sink.reset();
                pipeline.observe(buf, len);
            }
            if (permissionIterations > 0) {
                permission(arena, none, policy.shareable(), encoder, sink, permissionIterations);
            }
        }
    }

    /** The daemon's pipeline class, with nowhere to answer, hook or log to. */
    static Pipeline pipeline(Enricher enricher, Policy policy, RecordEncoder encoder, BufferSink sink) {
        return new Pipeline(enricher, policy, encoder, sink, null, new Counters(), false, -1,
                new LogLimiter(Log.DEBUG, 10_000), new LogLimiter(Log.DEBUG, 10_000));
    }

    /**
     * The permission path (decide, answer, record) on an {@code OPEN_PERM} event for an fd of our own (one per
     * round: the pipeline closes it, as the kernel's): its first real events would otherwise run in the
     * interpreter while an opener waits. The answer goes nowhere.
     */
    private static void permission(Arena arena, Filesystems none, Policy policy, RecordEncoder encoder,
                                   BufferSink sink, int iterations) {
        MemorySegment buf = arena.allocate(64, 8);
        int len = event(buf, 0, EventMask.OPEN_PERM, q -> q);
        Enricher enricher = new Enricher(false, -1, new DirPathCache(64, Long.MAX_VALUE),
                new HandleResolver(none, arena), new ProcessCache(64, 1000, arena), new MountScope(),
                new JobIndex(List.of()));
        Pipeline pipeline = pipeline(enricher, policy, encoder, sink);
        Pipeline.Responder nowhere = (fd, response) -> 0;
        for (int i = 0; i < iterations; i++) {
            int fd = Syscalls.open("/", Fanotify.O_RDONLY | Fanotify.O_CLOEXEC | Fanotify.O_DIRECTORY, 0);
            buf.set(JAVA_INT_UNALIGNED, 16, fd);
            sink.reset();
            pipeline.answer(buf, len, nowhere, System.nanoTime());
        }
    }

    /**
     * Puts every directory handle of the events in {@code buf} into {@code dirs} as {@code dirPath}, so that
     * enriching them takes the cache-hit path. Package-private: the JMH benchmarks warm their cache with it.
     */
    static void seedDirectories(EventCursor cursor, MemorySegment buf, int len, DirPathCache dirs, byte[] dirPath,
                                long now) {
        cursor.reset(buf, len);
        while (cursor.next()) {
            if (cursor.dir().present()) {
                dirs.put(cursor.dir(), dirPath, dirPath.length, now);
            }
            if (cursor.oldDir().present()) {
                dirs.put(cursor.oldDir(), dirPath, dirPath.length, now);
            }
        }
    }

    /**
     * MODIFY|CLOSE_WRITE with DFID_NAME+FID, CREATE with DFID_NAME, RENAME with OLD/NEW_DFID_NAME; pid 1.
     * Package-private: the JMH benchmarks drive the same path with it.
     */
    static int fidEvents(MemorySegment b) {
        int p = 0;
        p = event(b, p, EventMask.MODIFY | EventMask.CLOSE_WRITE,
                (q) -> fidRecord(b, fidRecord(b, q, Fanotify.INFO_DFID_NAME, 1, "warmup-file.txt"),
                        Fanotify.INFO_FID, 2, null));
        p = event(b, p, EventMask.CREATE, (q) -> fidRecord(b, q, Fanotify.INFO_DFID_NAME, 1, "created"));
        p = event(b, p, EventMask.RENAME, (q) -> fidRecord(b, fidRecord(b, q, Fanotify.INFO_OLD_DFID_NAME, 1, "old"),
                Fanotify.INFO_NEW_DFID_NAME, 1, "new-name"));
        return p;
    }

    /** One OPEN with no fd (nothing to resolve or close). */
    private static int fdEvents(MemorySegment b) {
        return event(b, 0, EventMask.OPEN, q -> q);
    }

    private interface Body {
        int write(int at);
    }

    private static int event(MemorySegment b, int at, long mask, Body body) {
        int end = body.write(at + Fanotify.METADATA_SIZE);
        b.set(JAVA_INT_UNALIGNED, at, end - at);
        b.set(JAVA_BYTE, at + 4, (byte) Fanotify.FANOTIFY_METADATA_VERSION);
        b.set(JAVA_SHORT_UNALIGNED, at + 6, (short) Fanotify.METADATA_SIZE);
        b.set(JAVA_LONG_UNALIGNED, at + 8, mask);
        b.set(JAVA_INT_UNALIGNED, at + 16, Fanotify.FAN_NOFD);
        b.set(JAVA_INT_UNALIGNED, at + 20, 1);
        return end;
    }

    private static int fidRecord(MemorySegment b, int at, int type, int handleId, String name) {
        byte[] n = name == null ? null : name.getBytes(StandardCharsets.US_ASCII);
        int len = 4 + 8 + 8 + 8 + (n == null ? 0 : n.length + 1);
        len = (len + 3) & ~3;
        b.asSlice(at, len).fill((byte) 0);
        b.set(JAVA_BYTE, at, (byte) type);
        b.set(JAVA_SHORT_UNALIGNED, at + 2, (short) len);
        b.set(JAVA_LONG_UNALIGNED, at + 4, FAKE_FSID);
        b.set(JAVA_INT_UNALIGNED, at + 12, 8);
        b.set(JAVA_INT_UNALIGNED, at + 16, 1);
        b.set(JAVA_LONG_UNALIGNED, at + 20, handleId);
        if (n != null) {
            MemorySegment.copy(n, 0, b, JAVA_BYTE, at + 28, n.length);
        }
        return at + len;
    }
}
