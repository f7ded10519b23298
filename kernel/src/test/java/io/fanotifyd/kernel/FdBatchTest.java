package io.fanotifyd.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class FdBatchTest {
    private static int open() {
        return Syscalls.open("/dev/null", Fanotify.O_RDONLY | Fanotify.O_CLOEXEC, 0);
    }

    private static boolean isOpen(int fd) {
        return Files.exists(Path.of("/proc/self/fd/" + fd));
    }

    @Test
    void aRunIsOneCallAndAnFdBetweenRunsStaysOpen() {
        int[] fds = new int[7];
        for (int i = 0; i < fds.length; i++) {
            fds[i] = open();
        }
        // Consecutive as the kernel hands them out; fds[3] is someone else's and must survive.
        for (int i = 1; i < fds.length; i++) {
            assertEquals(fds[i - 1] + 1, fds[i], "the test needs consecutive fds");
        }
        FdBatch batch = new FdBatch();
        for (int i = 0; i < fds.length; i++) {
            if (i != 3) {
                batch.add(fds[i]);
            }
        }
        batch.add(-1); // FAN_NOPIDFD and the like
        assertEquals(6, batch.size());
        batch.closeAll();
        assertEquals(2, batch.calls());
        assertEquals(0, batch.size());
        for (int i = 0; i < fds.length; i++) {
            assertEquals(i == 3, isOpen(fds[i]), "fd " + fds[i]);
        }
        Libc.close(fds[3]);
    }

    /** Random subsets of random order: exactly the added fds are closed, none of the others. */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
    void closesExactlyWhatWasAdded(long seed) {
        Random r = new Random(seed);
        int n = 1 + r.nextInt(400); // past the first capacity, so growing is covered
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            all.add(open());
        }
        List<Integer> ours = new ArrayList<>();
        for (int fd : all) {
            if (r.nextInt(10) < 8) {
                ours.add(fd);
            }
        }
        if (r.nextBoolean()) {
            java.util.Collections.shuffle(ours, r);
        }
        FdBatch batch = new FdBatch();
        ours.forEach(batch::add);
        batch.closeAll();
        assertTrue(batch.calls() <= ours.size());
        for (int fd : all) {
            boolean added = ours.contains(fd);
            assertEquals(!added, isOpen(fd), "fd " + fd + (added ? " added" : " not added"));
            if (!added) {
                Libc.close(fd);
            }
        }
        batch.closeAll(); // nothing left: no call
        assertFalse(batch.size() > 0);
    }
}
