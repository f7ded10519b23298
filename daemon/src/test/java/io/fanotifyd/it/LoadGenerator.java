package io.fanotifyd.it;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A load for rotation tests, run as a process of its own ({@link #start}): in {@code dir} it creates a new file,
 * writes a byte, closes it and removes the one made 1000 files earlier, as fast as it can, until {@code stop}
 * exists. Three records per file (create, write+close, delete), no two events on one file that the kernel could
 * merge: on these machines about 100k records a second. A process of its own because in permission mode the
 * test JVM never opens a file on the marked mount; through libc (FFM), because java.io costs several times more
 * per file. Prints the number of files made.
 */
public final class LoadGenerator {
    private LoadGenerator() {}

    public static void main(String[] args) {
        String dir = args[0];
        Path stop = Path.of(args[1]);
        long i = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(1);
            one.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 0, (byte) 'x');
            int slots = 1000;
            MemorySegment names = arena.allocate(4096L * slots); // one NUL-terminated name per slot, reused
            while (!Files.exists(stop)) {
                for (int k = 0; k < 500; k++, i++) {
                    MemorySegment c = names.asSlice(4096L * (i % slots), 4096);
                    if (i >= slots) {
                        Libc.unlink(c); // the file made 1000 earlier
                    }
                    byte[] name = (dir + "/f" + i).getBytes(StandardCharsets.UTF_8);
                    MemorySegment.copy(name, 0, c, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, name.length);
                    c.set(java.lang.foreign.ValueLayout.JAVA_BYTE, name.length, (byte) 0);
                    int fd = Libc.openat(Fanotify.AT_FDCWD, c, Fanotify.O_WRONLY | Fanotify.O_CREAT
                            | Fanotify.O_CLOEXEC, 0644);
                    if (fd < 0) {
                        System.err.println("open " + dir + "/f" + i + ": errno " + Libc.errno());
                        System.exit(1);
                    }
                    Libc.write(fd, one, 1);
                    Libc.close(fd);
                }
            }
        }
        System.out.println(i);
    }

    /** Starts it on {@code dir} as a child process of the test (its java, its class path). */
    static PermissionIT.Child start(Path dir, Path stop) throws java.io.IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx64m", "-cp",
                System.getProperty("java.class.path"), LoadGenerator.class.getName(), dir.toString(), stop.toString()));
        return PermissionIT.Child.start(cmd);
    }
}
