package io.fanotifyd.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The notification reader's buffers and read size against the fd budget: every buffer full at once never
 * brings more fds than the budget gives reads, unless even one whole event does not fit (then one buffer).
 */
class ReadSizesTest {
    static Stream<Arguments> budgets() {
        Random r = new Random(20261205);
        Stream<Integer> edges = Stream.of(2, 3, 16, 36, 37, 38, 100, 292, 293, 1000, 4681, 37449, 37450, 1 << 20);
        Stream<Integer> random = IntStream.range(0, 200).mapToObj(i -> 2 + r.nextInt(i % 2 == 0 ? 5000 : 1 << 20));
        return Stream.concat(edges, random).flatMap(fds -> Stream.of(
                Arguments.of(fds, true, false), Arguments.of(fds, true, true),
                Arguments.of(fds, false, false), Arguments.of(fds, false, true)));
    }

    @ParameterizedTest(name = "{0} fds for reads, FID {1}, permission {2}")
    @MethodSource("budgets")
    void theBuffersInFlightStayWithinTheBudget(int readFds, boolean fid, boolean perm) {
        FdBudget budget = new FdBudget(1 << 20, 10, 8, 0, readFds);
        EventLoop.ReadSizes s = Daemon.readSizes(budget, fid, perm);
        int notifyFds = perm ? readFds - readFds / 3 : readFds;
        int bytesPerFd = fid ? FdBudget.FID_MODE_BYTES_PER_FD : FdBudget.FD_MODE_BYTES_PER_FD;
        int minBytes = fid ? FdBudget.FID_MIN_READ_BYTES : FdBudget.FD_MODE_MIN_READ_BYTES;
        assertTrue(s.notifySlots() >= 1 && s.notifySlots() <= NotifyReader.MAX_SLOTS, s.toString());
        assertTrue(s.notifyBytes() >= minBytes, "a read takes one whole event: " + s);
        assertTrue(s.notifyBytes() <= Daemon.READ_BUFFER_BYTES, s.toString());
        long fdsInFlight = s.notifySlots() * (s.notifyBytes() / bytesPerFd);
        if ((long) notifyFds * bytesPerFd >= minBytes) {
            assertTrue(fdsInFlight <= notifyFds, fdsInFlight + " fds in flight for a budget of " + notifyFds + ": " + s);
        } else {
            assertEquals(1, s.notifySlots(), "too few fds for one whole read: one buffer, " + s);
        }
        if ((long) (notifyFds / NotifyReader.MAX_SLOTS) * bytesPerFd >= Daemon.READ_BUFFER_BYTES) {
            assertEquals(NotifyReader.MAX_SLOTS, s.notifySlots(), "fds to spare: the whole ring, " + s);
            assertEquals(Daemon.READ_BUFFER_BYTES, s.notifyBytes(), s.toString());
        }
    }
}
