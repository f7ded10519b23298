package io.fanotifyd.daemon;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.SessionCalls;
import io.fanotifyd.kernel.Syscalls;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Daemonizing without {@code fork()} (which a multi-threaded JVM cannot survive): the command starts a copy of
 * itself with the same command line, marked by {@link #ENV}. The copy calls {@code setsid()} (it is not a
 * process-group leader, so that succeeds), sets itself up, and reports over its stderr pipe: diagnostics are
 * passed on to the user, and the line {@link #READY} means the marks are in place. The first process then
 * exits 0; if the copy dies during start-up, it exits with the copy's code and message.
 */
final class Detach {
    static final String ENV = "FANOTIFYD_DETACHED";
    static final String READY = "\u0001fanotifyd-ready";
    private static final long STARTUP_TIMEOUT_S = 60;

    private Detach() {}

    static boolean isDetachedChild() {
        return "1".equals(System.getenv(ENV));
    }

    /** In the first process: start the daemon copy and wait until it is ready or has failed. */
    static int spawnAndWait(String[] rawArgs) throws IOException, InterruptedException {
        List<String> cmd = ownCommandLine();
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put(ENV, "1");
        // ProcessBuilder re-encodes arguments with the JVM's charset, which would mangle bytes that are not
        // UTF-8 (a path is any bytes): the copy takes its arguments from here instead.
        pb.environment().put(RawArguments.ENV, RawArguments.toHex(rawArgs));
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.redirectOutput(ProcessBuilder.Redirect.INHERIT);
        pb.redirectError(ProcessBuilder.Redirect.PIPE);
        Process child = pb.start();
        Thread reader = Thread.ofPlatform().daemon().start(() -> relay(child));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(STARTUP_TIMEOUT_S);
        while (System.nanoTime() < deadline) {
            reader.join(100);
            if (!reader.isAlive()) {
                break;
            }
        }
        if (readyPid > 0) {
            return 0;
        }
        if (reader.isAlive()) {
            child.destroyForcibly();
            System.err.println("fanotifyd: the daemon did not finish starting within " + STARTUP_TIMEOUT_S
                    + " s; killed it (pid " + child.pid() + ")");
            return 1;
        }
        if (!child.waitFor(STARTUP_TIMEOUT_S, TimeUnit.SECONDS)) {
            child.destroyForcibly();
            return 1;
        }
        int code = child.exitValue();
        return code == 0 ? 1 : code;
    }

    private static volatile long readyPid;

    private static void relay(Process child) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getErrorStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.equals(READY)) {
                    readyPid = child.pid();
                    return;
                }
                System.err.println(line);
            }
        } catch (IOException e) {
            System.err.println("fanotifyd: lost contact with the starting daemon: " + e.getMessage());
        }
    }

    /** This JVM's exact command line, from {@code /proc/self/cmdline}. */
    private static List<String> ownCommandLine() throws IOException {
        byte[] raw = Files.readAllBytes(Path.of("/proc/self/cmdline"));
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < raw.length; i++) {
            if (raw[i] == 0) {
                out.add(new String(raw, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return out;
    }

    /** In the daemon copy, first thing: a new session without a controlling terminal, cwd "/". */
    static void becomeSessionLeader() {
        if (SessionCalls.setsid() < 0) {
            throw new StartupException("setsid: " + io.fanotifyd.kernel.Errno.describe(Libc.errno()));
        }
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            SessionCalls.chdir(arena.allocateFrom("/")); // don't keep a mount busy
        }
    }

    /**
     * In the daemon copy, once the marks are placed: tell the first process, then let go of its stderr (and of
     * stdout unless records go there).
     */
    static void announceReady(boolean keepStdout) {
        int devNull = Syscalls.open("/dev/null", Fanotify.O_RDWR | Fanotify.O_CLOEXEC, 0);
        if (!keepStdout) {
            SessionCalls.dup2(devNull, 1);
        }
        System.err.println(READY);
        System.err.flush();
        SessionCalls.dup2(devNull, 2);
        Syscalls.closeQuietly(devNull);
    }
}
