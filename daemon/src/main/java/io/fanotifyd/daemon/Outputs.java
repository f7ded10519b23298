package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.Settings;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.sink.FdOutput;
import io.fanotifyd.sink.SocketHub;

/**
 * Where records go: the output (a file, stdout, a pipe) and the subscribers' socket, opened, or refused with
 * the flag's name.
 */
final class Outputs {
    private Outputs() {}

    /** Each output buffer; handed over at half full (FdOutput), so one read's records rarely grow one. */
    static final int OUTPUT_BUFFER_BYTES = 512 * 1024;
    /** Observe mode waits for the output after 4 buffers; permission mode may hold 16 (8 MiB) before dropping. */
    static final int OUTPUT_BUFFERS = 4;
    static final int OUTPUT_BUFFERS_PERMISSION = 16;
    static final int SOCKET_MAX_SUBSCRIBERS = 64;

    static SocketHub openSocket(Settings.Socket s) {
        if (s.path().isEmpty()) {
            return null;
        }
        String path = s.path().get();
        // The backlog lives on the Java heap, which must also hold everything else: a backlog the heap cannot
        // hold would end in an OutOfMemoryError the first time a subscriber stalls.
        long heap = Runtime.getRuntime().maxMemory();
        if (s.backlogBytes() > heap / 2) {
            String backlog = s.backlogBytes() % (1 << 20) == 0 ? (s.backlogBytes() >> 20) + "M"
                    : Long.toString(s.backlogBytes());
            throw new StartupException("--socket-backlog " + backlog + ": more than half of the JVM's heap ("
                    + (heap >> 20) + " MiB); raise -Xmx in FANOTIFYD_JVM_OPTS or lower the backlog");
        }
        int gid = -1;
        if (s.group().isPresent()) {
            String g = s.group().get();
            gid = g.matches("[0-9]+") ? Integer.parseInt(g) : io.fanotifyd.kernel.SocketCalls.groupId(g);
            if (gid < 0) {
                throw new StartupException("--socket-group " + g + ": no such group");
            }
        }
        try {
            return SocketHub.open(path, s.mode(), gid, SOCKET_MAX_SUBSCRIBERS, s.backlogBytes(), Log::info);
        } catch (NativeCallException | IllegalArgumentException e) {
            throw new StartupException("--socket " + path + ": " + e.getMessage());
        }
    }

    static FdOutput openOutput(String path, Settings.OutputFile file, boolean perm, FdOutput.Listener listener) {
        try {
            return FdOutput.open(path, file.mode(), new FdOutput.Rotation(file.maxBytes(), file.keep()),
                    OUTPUT_BUFFER_BYTES, perm ? OUTPUT_BUFFERS_PERMISSION : OUTPUT_BUFFERS, perm, listener);
        } catch (NativeCallException e) {
            throw new StartupException("--output " + path + ": " + e.getMessage());
        }
    }
}
