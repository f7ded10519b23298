package io.fanotifyd.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.it.NotifySocket.Message;
import io.fanotifyd.it.PermissionIT.Child;
import io.fanotifyd.it.PermissionIT.Result;
import io.fanotifyd.kernel.SpawnCalls;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The daemon under a service manager that speaks sd_notify, played by a socket of the test's own
 * ({@link NotifySocket}: systemd is not PID 1 on these machines): READY=1 only once every mark is in place,
 * WATCHDOG=1 at about half of WATCHDOG_USEC while the event path moves and not while it is stuck, STATUS=
 * with the counts, RELOADING=1 + MONOTONIC_USEC then READY=1 around SIGHUP's reopen, STOPPING=1 at SIGTERM;
 * every message from the daemon's own pid; and hooks that do not inherit systemd's variables.
 */
@Tag("kernel")
class NotifyIT {
    private static final int SIGSTOP = 19;
    private static final int SIGCONT = 18;
    private static final int WATCH_DIRS = 12;

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    /**
     * {@code sh -c '... exec fanotifyd ...'} with systemd's variables, WATCHDOG_PID being the shell's pid, which
     * the daemon keeps across the exec.
     */
    static List<String> underSystemd(NotifySocket sock, long watchdogUsec) {
        return List.of("/bin/sh", "-c", "NOTIFY_SOCKET='" + sock.address() + "' WATCHDOG_USEC=" + watchdogUsec
                + " WATCHDOG_PID=$$; export NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID; exec \"$0\" \"$@\"");
    }

    /** Marks and (in permission mode, where the JVM here never touches the mount) a canary with a hook. */
    @ParameterizedTest(name = "perm={0}")
    @ValueSource(booleans = {false, true})
    void readyAfterTheMarksThenWatchdogStatusReloadAndStopping(boolean perm) throws Exception {
        long watchdogUsec = 1_000_000;
        try (TestMount m = TestMount.tmpfs();
             NotifySocket sock = perm ? NotifySocket.abstractName() : NotifySocket.at(m.outside(""))) {
            Path root = m.root().toRealPath();
            List<String> args = new ArrayList<>(List.of("-v"));
            for (int i = 0; i < WATCH_DIRS; i++) {
                args.addAll(List.of("--watch", Files.createDirectory(root.resolve("d" + i)).toString()));
            }
            Path canary = Files.writeString(root.resolve("d0/canary.key"), "secret\n");
            Path hookOut = m.outside("hook.txt");
            args.addAll(List.of("--canary", root + "/d0/canary*", "--hook", "printf '%s|%s|%s' \"${NOTIFY_SOCKET-unset}\""
                    + " \"${WATCHDOG_USEC-unset}\" \"${WATCHDOG_PID-unset}\" > " + hookOut));
            if (perm) {
                args.add("--perm");
            }
            // Permission mode marks each directory twice: the permission group and the notification group.
            int marks = perm ? 2 * WATCH_DIRS : WATCH_DIRS;
            Path out = m.outside("out.jsonl");
            // At READY=1 the daemon is frozen (SIGSTOP) and its marks counted: READY must come after the last.
            AtomicInteger marksAtReady = new AtomicInteger(-1);
            AtomicReference<Boolean> outputAtReload = new AtomicReference<>();
            AtomicInteger reloading = new AtomicInteger();
            sock.onMessage(msg -> {
                if (msg.has("READY=1") && marksAtReady.get() < 0) {
                    SpawnCalls.kill(msg.pid(), SIGSTOP);
                    try {
                        Daemon.awaitStopped(msg.pid());
                        marksAtReady.set(Daemon.countMarks(msg.pid()));
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    } finally {
                        SpawnCalls.kill(msg.pid(), SIGCONT);
                    }
                } else if (msg.has("RELOADING=1")) {
                    reloading.incrementAndGet();
                } else if (msg.has("READY=1") && reloading.get() > 0) {
                    outputAtReload.set(Files.exists(out)); // READY=1 after the reopen made the new file
                }
            });
            try (Daemon d = Daemon.start(underSystemd(sock, watchdogUsec), ProcessBuilder.Redirect.DISCARD, out,
                    marks, args.toArray(String[]::new))) {
                int pid = (int) d.pid();
                Message ready = sock.await(x -> x.has("READY=1"), "READY=1", 20);
                assertEquals(0, sock.indexOf(ready), "READY=1 is the first message: " + sock.messages());
                // At least: by the time the message is read, MarkWatch may have added its own DELETE_SELF marks.
                assertTrue(marksAtReady.get() >= marks, "every mark in /proc/" + pid + "/fdinfo at READY=1: "
                        + marksAtReady.get() + " of " + marks);
                assertEquals(marks + (marks == 1 ? " mark" : " marks") + "; 0 records, 0 alerts, 0 dropped",
                        ready.value("STATUS"), ready.toString());

                // Pings keep coming while the daemon is idle (the loops' poll waits are capped); their pace is
                // printed, not asserted: that is timing.
                awaitPings(sock, 8, 20);
                System.out.println("NotifyIT perm=" + perm + ": WATCHDOG_USEC " + watchdogUsec / 1000 + " ms, ping"
                        + " gaps " + gapsMs(pings(sock, 0)) + " ms");

                // An alert (its record, its hook) shows in the next STATUS=.
                Result cat = Child.run("exec cat " + canary, PermissionIT.ACCESS_BOUND_S);
                assertEquals(0, cat.code(), cat.toString());
                d.await(r -> "alert".equals(r.path("type").asText()), "the canary alert", 10);
                Message status = sock.await(x -> x.value("STATUS") != null && x.value("STATUS").contains(" 1 alerts"),
                        "STATUS= with the alert", 20);
                assertTrue(status.value("STATUS").matches(marks + " marks; [1-9][0-9]* records, 1 alerts, 0 dropped"),
                        status.toString());
                awaitFile(hookOut, 10);
                assertEquals("unset|unset|unset", Files.readString(hookOut), "hooks do not inherit systemd's"
                        + " variables");

                // SIGHUP (ExecReload=): RELOADING=1 with CLOCK_MONOTONIC in µs, then READY=1 once reopened.
                Files.move(out, m.outside("out.jsonl.1"));
                int beforeHup = sock.messages().size();
                long t0 = System.nanoTime() / 1000;
                SignalsIT.signal(d, "HUP");
                Message reload = sock.await(x -> x.has("RELOADING=1"), beforeHup, "RELOADING=1", 10);
                long t1 = System.nanoTime() / 1000;
                long usec = Long.parseLong(reload.value("MONOTONIC_USEC"));
                assertTrue(t0 <= usec && usec <= t1, "MONOTONIC_USEC=" + usec + " between " + t0 + " and " + t1);
                sock.await(x -> x.has("READY=1"), sock.indexOf(reload) + 1, "READY=1 after the reload", 10);
                assertEquals(Boolean.TRUE, outputAtReload.get(), "the output was reopened before READY=1");

                int beforeTerm = sock.messages().size();
                assertEquals(0, d.stop(), d.stderr());
                sock.await(x -> x.has("STOPPING=1"), beforeTerm, "STOPPING=1", 10);
                for (Message x : sock.messages()) {
                    assertEquals(pid, x.pid(), "every message from the daemon's pid: " + x);
                }
            }
        }
    }

    /**
     * A stalled event path stops the pings, for real: in observe mode the event thread waits for an output
     * that takes nothing (stdout whose reader never reads: every buffer is in flight), up to 10 s
     * (FdOutput.STALL_MS), after which it drops and counts records and moves again. With WATCHDOG_USEC of 2 s
     * the pings stop during the stall and come back after it, and the daemon says why in the log.
     */
    @Test
    void aStalledEventPathStopsTheWatchdogPings() throws Exception {
        long watchdogUsec = 2_000_000;
        try (TestMount m = TestMount.tmpfs("256m"); NotifySocket sock = NotifySocket.at(m.outside(""))) {
            Path root = m.root().toRealPath();
            try (Daemon d = Daemon.start(underSystemd(sock, watchdogUsec), ProcessBuilder.Redirect.PIPE, null, 1,
                    "-v", "--mount", root.toString())) {
                sock.await(x -> x.has("READY=1"), "READY=1", 20);
                int from = sock.messages().size();
                sock.await(x -> x.has("WATCHDOG=1"), from, "a first ping", 10);
                // Far more records than the pipe (64 KiB) and the output's buffers (4 of 256 KiB+) hold.
                for (int i = 0; i < 20000; i++) {
                    Files.writeString(root.resolve("f" + i), "x");
                }
                // Between the watchdog's word that the loop stopped coming round and its word that pings
                // resumed, no ping goes out; the one ping allowed is the first after the stall, which the daemon
                // sends right after writing "resumed" and which can reach the socket before the line reaches us.
                d.awaitLog("the event loop has not come round for", 40);
                long stalled = System.nanoTime();
                d.awaitLog("is not keeping up: dropping records", 40); // the stall's end: STALL_MS passed
                d.awaitLog("watchdog pings resumed", 20);
                long resumed = System.nanoTime();
                List<Message> during = sock.messages().stream().filter(x -> x.has("WATCHDOG=1")
                        && x.receivedNs() > stalled && x.receivedNs() < resumed).toList();
                System.out.println("NotifyIT stall: WATCHDOG_USEC " + watchdogUsec / 1000 + " ms, ping gaps "
                        + gapsMs(pings(sock, 0)) + " ms");
                assertTrue(during.size() <= 1, during.size() + " pings while the event loop was stalled: " + during
                        + "\nlog:\n" + d.stderr());
                Message after = sock.await(x -> x.has("WATCHDOG=1") && x.receivedNs() > resumed, "a ping after the"
                        + " stall", 10);
                sock.await(x -> x.has("WATCHDOG=1"), sock.indexOf(after) + 1, "another ping", 10);
                assertTrue(d.process().isAlive(), "the daemon lives through the stall");
                drain(d.process().getInputStream()); // stdout moves again: the stop writes out and ends
                assertEquals(0, d.stop(), d.stderr());
            }
        }
    }

    private static List<Message> pings(NotifySocket sock, int from) {
        List<Message> all = sock.messages();
        return all.subList(from, all.size()).stream().filter(x -> x.has("WATCHDOG=1")).toList();
    }

    /** Waits (at most {@code seconds}) until {@code n} pings have come. */
    private static void awaitPings(NotifySocket sock, int n, int seconds) {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (pings(sock, 0).size() < n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not " + n + " watchdog pings within " + seconds + " s: " + sock.messages());
            }
            Daemon.sleep(20);
        }
    }

    private static List<Long> gapsMs(List<Message> pings) {
        List<Long> gaps = new ArrayList<>();
        for (int i = 1; i < pings.size(); i++) {
            gaps.add((pings.get(i).receivedNs() - pings.get(i - 1).receivedNs()) / 1_000_000);
        }
        return gaps;
    }

    private static void awaitFile(Path p, int seconds) throws IOException {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (!(Files.exists(p) && Files.size(p) > 0)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no " + p + " within " + seconds + " s");
            }
            Daemon.sleep(20);
        }
    }

    /** Reads and discards {@code in} on a thread of its own until it ends. */
    private static void drain(InputStream in) {
        Thread.ofPlatform().daemon().start(() -> {
            try {
                in.transferTo(java.io.OutputStream.nullOutputStream());
            } catch (IOException e) {
                // the daemon ended
            }
        });
    }
}
