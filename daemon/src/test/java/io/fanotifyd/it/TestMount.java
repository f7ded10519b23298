package io.fanotifyd.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A filesystem of the test's own: a tmpfs or a loop-mounted ext4 under a fresh directory in /tmp. Closing it
 * unmounts (lazily if busy) and removes what it made, also after a failed test. Only this is ever marked.
 */
public final class TestMount implements AutoCloseable {
    private final Path base;
    private final Path root;
    private final List<Path> mounts = new ArrayList<>();
    private Path image;

    private TestMount(Path base) {
        this.base = base;
        this.root = base.resolve("mnt");
    }

    public static TestMount tmpfs() throws IOException {
        return tmpfs("256m");
    }

    /** A tmpfs of {@code size} ({@code mount -o size=}), e.g. a small one to fill up. */
    public static TestMount tmpfs(String size) throws IOException {
        TestMount m = new TestMount(Files.createTempDirectory("fanotifyd-it."));
        try {
            Files.createDirectory(m.root);
            run("mount", "-t", "tmpfs", "-o", "size=" + size, "fanotifyd-it", m.root.toString());
            m.mounts.add(m.root);
            return m;
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    public static TestMount ext4() throws IOException {
        return ext4("loop");
    }

    /** A loop-mounted ext4 mounted with {@code options} (which must include {@code loop}). */
    public static TestMount ext4(String options) throws IOException {
        TestMount m = new TestMount(Files.createTempDirectory("fanotifyd-it."));
        try {
            Files.createDirectory(m.root);
            m.image = m.base.resolve("fs.img");
            run("truncate", "-s", "128M", m.image.toString());
            run("mkfs.ext4", "-q", "-F", m.image.toString());
            run("mount", "-o", options, m.image.toString(), m.root.toString());
            m.mounts.add(m.root);
            return m;
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** The mount point. */
    public Path root() {
        return root;
    }

    /** A scratch directory next to the mount point, outside it (for output files that must not be watched). */
    public Path outside(String name) {
        return base.resolve(name);
    }

    /** Bind-mounts {@code source} (inside this mount) at a new directory next to it; undone by close(). */
    public Path bind(Path source, String name) throws IOException {
        Path target = base.resolve(name);
        Files.createDirectories(target);
        run("mount", "--bind", source.toString(), target.toString());
        mounts.add(0, target);
        return target;
    }

    /** What a plain {@code umount} said: its exit code and output. */
    public record Unmounted(int code, String output) {}

    /**
     * A plain {@code umount} of the mount point, without the lazy fallback of {@link #close()}: for tests of
     * what keeps a filesystem busy. On success, close() leaves it alone.
     */
    public Unmounted unmount() throws IOException {
        return unmount(root);
    }

    /** As {@link #unmount()}, for one of this filesystem's mounts (the mount point or a {@link #bind}). */
    public Unmounted unmount(Path mountPoint) throws IOException {
        Process p = new ProcessBuilder("umount", mountPoint.toString()).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("umount " + mountPoint + ": timed out");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        Unmounted u = new Unmounted(p.exitValue(), new String(p.getInputStream().readAllBytes()).trim());
        if (u.code() == 0) {
            mounts.remove(mountPoint);
        }
        return u;
    }

    /** Mounts the same kind of filesystem at the mount point again, after {@link #unmount()}; close() undoes it. */
    public void mountAgain() throws IOException {
        if (image != null) {
            run("mount", "-o", "loop", image.toString(), root.toString());
        } else {
            run("mount", "-t", "tmpfs", "-o", "size=256m", "fanotifyd-it", root.toString());
        }
        mounts.add(root);
    }

    @Override
    public void close() throws IOException {
        for (Path p : mounts) {
            if (!isMountPoint(p)) {
                continue; // unmounted by the test itself
            }
            try {
                run("umount", p.toString());
            } catch (IOException | RuntimeException e) {
                run("umount", "-l", p.toString());
            }
        }
        mounts.clear();
        run("rm", "-rf", "--one-file-system", base.toString());
    }

    /** Whether {@code p} is a mount point now ({@code /proc/self/mountinfo}). */
    static boolean isMountPoint(Path p) throws IOException {
        String want = " " + p.toString().replace("\\", "\\134").replace(" ", "\\040") + " ";
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            if (f.length > 4 && (" " + f[4] + " ").equals(want)) {
                return true;
            }
        }
        return false;
    }

    /** The source device of this mount ({@code /dev/loop3} for an ext4), for /sys/fs/ext4/NAME. */
    public String device() throws IOException {
        Process p = new ProcessBuilder("findmnt", "-n", "-o", "SOURCE", root.toString()).start();
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("findmnt timed out");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        return new String(p.getInputStream().readAllBytes()).trim();
    }

    static void run(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + ": timed out");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        if (p.exitValue() != 0) {
            String out = new String(p.getInputStream().readAllBytes());
            throw new IOException(String.join(" ", cmd) + ": exit " + p.exitValue() + ": " + out.trim());
        }
    }
}
