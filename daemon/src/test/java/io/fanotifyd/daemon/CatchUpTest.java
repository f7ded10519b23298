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
        assertEquals(300, c.read(() -> 300, bytes -> bytes / 100));
        c.processed(3);
        assertTrue(c.await());
        assertEquals(0, wakes.get());
        assertFalse(c.wanted());
    }

    /** Events read but not yet processed count too: they are read, not yet counted by the policy. */
    @Test
    void waitsUntilWhatWasQueuedAndWhatWasReadAreProcessed() throws InterruptedException {
        queued.set(2); // events, as FIONREAD / 24 gives them
        CountDownLatch woken = new CountDownLatch(1);
        CatchUp c = new CatchUp(queued::get, () -> {
            wakes.incrementAndGet();
            woken.countDown();
        }, 60_000);
        c.read(() -> 900, bytes -> bytes / 90); // 10 events read before the permission event, not yet processed
        AtomicLong wantedSeen = new AtomicLong(-1);
        Thread notification = Thread.ofPlatform().start(() -> {
            try {
                assertTrue(woken.await(60, TimeUnit.SECONDS));
            } catch (InterruptedException e) {
                return;
            }
            wantedSeen.set(c.wanted() ? 1 : 0);
            c.processed(10);
            queued.set(0);
            for (int i = 0; i < 2; i++) {
                c.read(() -> 90, bytes -> 1);
                c.processed(1);
            }
        });
        assertTrue(c.await(), "caught up");
        notification.join(60_000);
        assertEquals(1, wakes.get(), "the reader was woken once (it may be holding off for a batch delay)");
        assertEquals(1, wantedSeen.get(), "the reader saw a decision waiting for it");
        assertFalse(c.wanted(), "nothing waits once caught up");
    }

    /**
     * The target is in events, whatever their size when read: FIONREAD counts 24 bytes per queued event, and
     * a read returns ~90 per FID event, so bytes read plus FIONREAD would be reached after about a quarter of
     * the events queued (the stop's drain, which compared the same units, read 19852 of 30000 creates so).
     */
    @Test
    void theTargetCountsEventsNotBytes() {
        queued.set(2);
        CatchUp c = new CatchUp(queued::get, wakes::incrementAndGet, 20);
        c.read(() -> 900, bytes -> bytes / 90);
        c.processed(11);
        assertFalse(c.await(), "one of the 12 events is not processed");
        c.processed(1);
        assertTrue(c.await(), "all 12 processed");
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
