package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.kernel.EventCursor;
import io.fanotifyd.kernel.EventMask;
import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.FanotifyGroup;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * What the kernel's {@code FIONREAD} on a fanotify group counts: the reader's catch-up target and the stop's
 * drain compare it with what was read, so the two must be in the same unit. It counts events (24 bytes each),
 * not the bytes a read returns.
 */
@Tag("kernel")
class KernelQueueIT {
    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    @Test
    void fionreadCountsQueuedEventsNotTheBytesAReadReturns() throws IOException {
        try (TestMount m = TestMount.tmpfs(); Arena arena = Arena.ofConfined()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            FanotifyGroup g = FanotifyGroup.open(Fanotify.FAN_CLASS_NOTIF | Fanotify.FAN_CLOEXEC
                    | Fanotify.FAN_NONBLOCK | Fanotify.FAN_UNLIMITED_QUEUE | Fanotify.FAN_REPORT_PIDFD
                    | Fanotify.FAN_REPORT_DFID_NAME | Fanotify.FAN_REPORT_FID, Fanotify.O_RDONLY | Fanotify.O_CLOEXEC);
            try {
                g.mark(Fanotify.FAN_MARK_ADD | Fanotify.FAN_MARK_FILESYSTEM, EventMask.CREATE | EventMask.CLOSE_WRITE,
                        m.root().toString());
                for (int i = 0; i < 100; i++) {
                    Files.writeString(dir.resolve("file-" + i), "x");
                }
                long queued = g.queuedEvents();
                MemorySegment buf = arena.allocate(64 * 1024, 8);
                long events = 0;
                long bytes = 0;
                long n;
                while ((n = g.read(buf)) > 0) {
                    events += EventCursor.count(buf, n);
                    bytes += n;
                    closePidfds(buf, n);
                }
                assertEquals(200, events, "a create and a close per file");
                assertEquals(events, queued, "FIONREAD / 24 before the reads");
                assertTrue(bytes > 24 * events, bytes + " bytes read for " + events + " events: more than 24 each");
                assertEquals(0, g.queuedEvents());
            } finally {
                g.close();
            }
        }
    }

    private static void closePidfds(MemorySegment buf, long n) {
        EventCursor c = new EventCursor().reset(buf, n);
        while (c.next()) {
            if (c.hasPidfd() && c.pidfd() >= 0) {
                io.fanotifyd.kernel.Libc.close(c.pidfd());
            }
        }
    }
}
