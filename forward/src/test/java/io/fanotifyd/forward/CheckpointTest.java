package io.fanotifyd.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
    @TempDir
    Path dir;

    @Test
    void roundTripAndNoTemporaryLeft() throws IOException {
        Path f = dir.resolve("state");
        assertNull(Checkpoint.read(f));
        Checkpoint cp = new Checkpoint(2049, 1234567, 4096, "/var/log/fanotifyd/out.jsonl.1", "b/1/2",
                "00112233445566778899aabbccddeeff");
        cp.write(f);
        assertEquals(cp, Checkpoint.read(f));
        new Checkpoint(1, 2, 3, "/p", "", "").write(f);
        assertEquals(new Checkpoint(1, 2, 3, "/p", "", ""), Checkpoint.read(f));
        assertEquals(1, Files.list(dir).count());
    }

    @Test
    void aBadFileIsNamedWithItsLine() throws IOException {
        Path f = dir.resolve("state");
        Files.writeString(f, "something else\n");
        assertEquals(f + ":1: not a forwarder checkpoint (expected 'fanotifyd-forward-checkpoint 1')",
                assertThrows(IOException.class, () -> Checkpoint.read(f)).getMessage());
        Files.writeString(f, "fanotifyd-forward-checkpoint 1\ndev 1\nino x\n");
        assertEquals(f + ":3: not a number: 'x'",
                assertThrows(IOException.class, () -> Checkpoint.read(f)).getMessage());
        Files.writeString(f, "fanotifyd-forward-checkpoint 1\ndev 1\nfuture_key y\n");
        assertEquals(f + ":3: incomplete (dev, ino and offset are needed)",
                assertThrows(IOException.class, () -> Checkpoint.read(f)).getMessage());
    }
}
