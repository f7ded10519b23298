package io.fanotifyd.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

/**
 * {@link CatchUp}'s contract without a kernel: the notification group is played by a byte count, the
 * notification thread by a thread of the test's own.
 */
class CatchUpTest {
    private final AtomicLong queued = new AtomicLong();
    private final AtomicInteger wakes = new AtomicInteger();

    @Test
    void nothingQueuedAndAllProcessedDecidesAtOnceWithoutWakingTheReader() {
        CatchUp c = new CatchUp(queued::get, wakes::incrementAndGet, 60_000);
        assertEquals(300, c.read(() -> 300));
        c.processed(300);
        assertTrue(c.await());
        assertEquals(0, wakes.get());
        assertFalse(c.wanted());
    }

    /** Bytes read but not yet processed count too: the events are read, not yet counted by the policy. */
    @Test
    void waitsUntilWhatWasQueuedAndWhatWasReadAreProcessed() throws InterruptedException {
        queued.set(200);
        CountDownLatch woken = new CountDownLatch(1);
        CatchUp c = new CatchUp(queued::get, () -> {
            wakes.incrementAndGet();
            woken.countDown();
        }, 60_000);
        c.read(() -> 100); // read before the permission event, not yet processed
        AtomicLong wantedSeen = new AtomicLong(-1);
        Thread notification = Thread.ofPlatform().start(() -> {
            try {
                assertTrue(woken.await(60, TimeUnit.SECONDS));
            } catch (InterruptedException e) {
                return;
            }
            wantedSeen.set(c.wanted() ? 1 : 0);
            c.processed(100);
            queued.set(0);
            for (int i = 0; i < 2; i++) {
                c.read(() -> 100);
                c.processed(100);
            }
        });
        assertTrue(c.await(), "caught up");
        notification.join(60_000);
        assertEquals(1, wakes.get(), "the reader was woken once (it may be holding off for a batch delay)");
        assertEquals(1, wantedSeen.get(), "the reader saw a decision waiting for it");
        assertFalse(c.wanted(), "nothing waits once caught up");
    }

    /** A notification side that never gets there costs a decision the bound, not forever. */
    @Test
    void aStuckNotificationSideIsWaitedForAtMostTheBound() {
        queued.set(4096);
        CatchUp c = new CatchUp(queued::get, wakes::incrementAndGet, 20);
        assertFalse(c.await(), "not caught up: the bound passed");
        assertFalse(c.wanted());
        c.processed(4096);
        assertTrue(c.await(), "caught up once processed");
    }
}
