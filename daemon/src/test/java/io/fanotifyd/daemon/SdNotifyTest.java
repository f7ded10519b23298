package io.fanotifyd.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.it.NotifySocket;
import io.fanotifyd.it.NotifySocket.Message;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The sd_notify protocol as the daemon speaks it, against a notification socket of the test's own. */
class SdNotifyTest {
    private static final int SELF = (int) ProcessHandle.current().pid();

    @Test
    void nothingWithoutNotifySocket() {
        assertSame(SdNotify.NONE, SdNotify.fromEnvironment(Map.of(), SELF));
        assertSame(SdNotify.NONE, SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", ""), SELF));
        assertSame(SdNotify.NONE, SdNotify.fromEnvironment(Map.of("WATCHDOG_USEC", "1000000"), SELF));
        // Neither a path nor an abstract name (vsock: addresses and relative paths are not ours to guess).
        assertSame(SdNotify.NONE, SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", "vsock:2:1234"), SELF));
        assertFalse(SdNotify.NONE.enabled());
        assertFalse(SdNotify.NONE.send("READY=1"));
        SdNotify.NONE.ready("x"); // no-ops
        SdNotify.NONE.stopping();
    }

    @Test
    void theWatchdogCountsOnlyForThisProcess() {
        assertEquals(2_000_000, SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", "/run/x", "WATCHDOG_USEC",
                "2000000"), SELF).watchdogUsec());
        assertEquals(2_000_000, SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", "/run/x", "WATCHDOG_USEC",
                "2000000", "WATCHDOG_PID", Integer.toString(SELF)), SELF).watchdogUsec());
        assertEquals(0, SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", "/run/x", "WATCHDOG_USEC", "2000000",
                "WATCHDOG_PID", Integer.toString(SELF + 1)), SELF).watchdogUsec(), "another process's watchdog");
        for (String bad : List.of("0", "-5", "soon", "")) {
            assertEquals(0, SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", "/run/x", "WATCHDOG_USEC", bad), SELF)
                    .watchdogUsec(), bad);
        }
        assertEquals(0, SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", "/run/x"), SELF).watchdogUsec());
    }

    @Test
    void statusLine() {
        assertEquals("3 marks; 120 records, 1 alerts, 0 dropped", SdNotify.status(3, 120, 1, 0, 0));
        assertEquals("1 mark; 0 records, 0 alerts, 7 dropped, 2 queue overflows", SdNotify.status(1, 0, 0, 7, 2));
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void readyOnceReloadingThenReadyStoppingOnce(boolean abstractName, @TempDir Path dir) throws Exception {
        try (NotifySocket sock = abstractName ? NotifySocket.abstractName() : NotifySocket.at(dir)) {
            SdNotify n = SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", sock.address()), SELF);
            assertTrue(n.enabled());
            n.reloading(); // a SIGHUP during start-up: systemd must not hear READY=1 from it
            n.reloaded();
            n.ready("2 marks; 0 records, 0 alerts, 0 dropped");
            n.ready("again");
            long before = System.nanoTime() / 1000;
            n.reloading();
            long after = System.nanoTime() / 1000;
            n.reloaded();
            n.reloaded(); // one READY=1 per reload
            n.stopping();
            n.stopping();
            n.ready("after the stop");
            n.reloading();
            n.reloaded();
            assertTrue(n.send("STATUS=last"));
            sock.await(m -> m.text().equals("STATUS=last"), "the last message", 10);
            List<Message> got = sock.messages();
            assertEquals(List.of("READY=1\nSTATUS=2 marks; 0 records, 0 alerts, 0 dropped", "RELOADING=1",
                    "READY=1", "STOPPING=1\nSTATUS=stopping", "STATUS=last"),
                    got.stream().map(m -> m.text().replaceAll("\nMONOTONIC_USEC=[0-9]+", "")).toList());
            long usec = Long.parseLong(got.get(1).value("MONOTONIC_USEC"));
            assertTrue(before <= usec && usec <= after, "MONOTONIC_USEC " + usec + " is CLOCK_MONOTONIC when the"
                    + " reload began, between " + before + " and " + after);
            for (Message m : got) {
                assertEquals(SELF, m.pid(), "sent by this process: " + m);
            }
        }
    }

    @Test
    void aSocketNobodyListensOnIsLoggedNotThrown(@TempDir Path dir) {
        SdNotify n = SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", dir.resolve("none").toString()), SELF);
        assertFalse(n.send("READY=1"));
        assertNull(Watchdog.start(SdNotify.NONE, () -> 0, null, () -> "", ""), "no thread without systemd");
    }

    /**
     * The watchdog thread pings at half of WATCHDOG_USEC while the heartbeat is fresh, not at all while it is
     * stale, and again once it moves; the status goes out when it changes.
     */
    @Test
    void pingsOnlyWhileTheHeartbeatMoves(@TempDir Path dir) throws Exception {
        try (NotifySocket sock = NotifySocket.at(dir)) {
            SdNotify n = SdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", sock.address(), "WATCHDOG_USEC", "200000"),
                    SELF);
            assertEquals(50_000_000L, Watchdog.loopWakeNs(n), "the loop comes round at a quarter of the timeout");
            AtomicLong stalledAt = new AtomicLong();
            AtomicLong records = new AtomicLong();
            try (Watchdog w = Watchdog.start(n, () -> stalledAt.get() != 0 ? stalledAt.get() : System.nanoTime(),
                    Thread.currentThread(), () -> records.get() + " records", "0 records")) {
                int first = sock.messages().size();
                sock.await(m -> m.has("WATCHDOG=1"), first, "a first ping", 10);
                records.set(5);
                sock.await(m -> m.has("STATUS=5 records"), first, "the new status", 10);
                stalledAt.set(System.nanoTime());
                Thread.sleep(150); // the ping under way when the loop stalled may still come
                int stallStart = sock.messages().size();
                Thread.sleep(600); // 6 intervals
                List<Message> during = sock.messages().subList(stallStart, sock.messages().size());
                assertTrue(during.stream().noneMatch(m -> m.has("WATCHDOG=1")), "pings while stalled: " + during);
                stalledAt.set(0);
                int resumed = sock.messages().size();
                sock.await(m -> m.has("WATCHDOG=1"), resumed, "a ping once the loop moves again", 10);
            }
            int end = sock.messages().size();
            n.stopping();
            Thread.sleep(300);
            assertTrue(sock.messages().subList(end, sock.messages().size()).stream()
                    .noneMatch(m -> m.has("WATCHDOG=1")), "no ping once closed");
        }
    }
}
