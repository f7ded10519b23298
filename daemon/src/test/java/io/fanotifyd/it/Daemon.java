package io.fanotifyd.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A fanotifyd the test started: ready once it has said {@code READY=1} on a notify socket of the test's own
 * (sent after its last mark is placed, as systemd would get it) and at least the marks the test expects show in
 * {@code /proc/PID/fdinfo}; stopped by its own pid (SIGTERM, then SIGKILL after a bounded wait). Its records are
 * read from the output file it was given. Counting marks alone is not enough: a test that counted one too few
 * (a {@code --mount} line places a mount mark and, for creates and deletes, a filesystem mark) went on while the
 * permission group's mark was still to come.
 */
public final class Daemon implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Process process;
    private final Path output;
    private final Path stderr;
    private final NotifySocket notify;

    private Daemon(Process process, Path output, Path stderr, NotifySocket notify) {
        this.process = process;
        this.output = output;
        this.stderr = stderr;
        this.notify = notify;
    }

    /** What a run of the launcher to its end left: the command, its exit code, stdout and stderr. */
    public record Finished(List<String> cmd, int exit, String stdout, String stderr) {
        public List<String> stderrLines() {
            return stderr.lines().toList();
        }

        @Override
        public String toString() {
            return String.join(" ", cmd) + "\n exit " + exit + "\n stdout: " + stdout + "\n stderr: " + stderr;
        }
    }

    /** As {@link #runToEnd(Path, List, Path, java.util.Map, int, String...)} with this build's launcher. */
    public static Finished runToEnd(List<String> wrapper, Path cwd, int timeoutS, String... args) throws IOException {
        return runToEnd(KernelSupport.launcher(), wrapper, cwd, null, timeoutS, args);
    }

    /**
     * The one way the tests run a launcher to its end (a start-up error, {@code --help}, a detaching start):
     * {@code wrapper... launcher args...}, stdin {@code /dev/null}, in {@code cwd} (null: this one), with
     * {@code env} as its whole environment (null: this one's, without {@code FANOTIFYD_DETACHED}); stdout and
     * stderr captured through files that are removed afterwards. Fails the test if it runs longer than
     * {@code timeoutS} (it is killed by its pid).
     */
    public static Finished runToEnd(Path launcher, List<String> wrapper, Path cwd, java.util.Map<String, String> env,
                                    int timeoutS, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.add(launcher.toString());
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile("fanotifyd-it-stdout.", ".txt");
        Path err = Files.createTempFile("fanotifyd-it-stderr.", ".txt");
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(
                    new java.io.File("/dev/null"))).redirectOutput(out.toFile()).redirectError(err.toFile());
            if (env != null) {
                pb.environment().clear();
                pb.environment().putAll(env);
            } else {
                pb.environment().remove("FANOTIFYD_DETACHED");
            }
            if (cwd != null) {
                pb.directory(cwd.toFile());
            }
            Process p = pb.start();
            try {
                if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
                    p.destroyForcibly(); // this pid only
                    p.waitFor(10, TimeUnit.SECONDS);
                    org.junit.jupiter.api.Assertions.fail(String.join(" ", cmd) + ": still running after " + timeoutS
                            + " s (killed); stderr: " + Files.readString(err));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            return new Finished(cmd, p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** Starts {@code fanotifyd --foreground -o output args...} and waits until {@code marks} marks are placed. */
    public static Daemon start(Path output, int marks, String... args) throws IOException {
        return start(List.of(), ProcessBuilder.Redirect.DISCARD, output, marks, args);
    }

    /**
     * As {@link #start(Path, int, String...)}, through {@code wrapper} (a command that ends by exec-ing its
     * arguments, e.g. {@code sh -c 'ulimit -n 64; exec "$0" "$@"'}), with stdout going to {@code stdout}
     * ({@code PIPE}: readable from {@link #process()}). {@code output} null: records go to stdout ({@code -o -}).
     * A wrapper that sets {@code NOTIFY_SOCKET} itself (a test of the notify protocol) keeps it, and readiness is
     * then the marks alone.
     */
    public static Daemon start(List<String> wrapper, ProcessBuilder.Redirect stdout, Path output, int marks,
                               String... args) throws IOException {
        return start(wrapper, stdout, output, true, marks, args);
    }

    /**
     * As {@link #start(Path, int, String...)} without {@code -o}: the config file ({@code -c}) names the output,
     * {@code output}, so that a reload can move it (the command line would stay on top of the file).
     */
    public static Daemon startOutputFromConfig(Path output, int marks, String... args) throws IOException {
        return start(List.of(), ProcessBuilder.Redirect.DISCARD, output, false, marks, args);
    }

    private static Daemon start(List<String> wrapper, ProcessBuilder.Redirect stdout, Path output,
                                boolean outputFlag, int marks, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.add(KernelSupport.launcher().toString());
        cmd.add("--foreground");
        if (outputFlag) {
            cmd.add("-o");
            cmd.add(output == null ? "-" : output.toString());
        }
        cmd.addAll(List.of(args));
        Path err = Files.createTempFile("fanotifyd-it-stderr.", ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(stdout).redirectError(err.toFile());
        boolean ownNotify = wrapper.stream().noneMatch(w -> w.contains("NOTIFY_SOCKET"));
        // Abstract: a permission-mode test's JVM must stay off the marked mount, and a path would be a file.
        NotifySocket notify = ownNotify ? NotifySocket.abstractName() : null;
        if (notify != null) {
            pb.environment().put("NOTIFY_SOCKET", notify.address());
            pb.environment().keySet().removeAll(List.of("WATCHDOG_USEC", "WATCHDOG_PID"));
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException | RuntimeException e) {
            if (notify != null) {
                notify.close();
            }
            throw e;
        }
        Daemon d = new Daemon(p, output, err, notify);
        try {
            if (notify != null) {
                awaitReady(p, notify);
            }
            awaitMarks(p.pid(), marks);
        } catch (IOException | RuntimeException | AssertionError e) {
            d.close();
            throw e;
        }
        return d;
    }

    /** Waits (at most 20 s) for {@code READY=1} from {@code p}; fails as soon as {@code p} has exited. */
    static void awaitReady(Process p, NotifySocket notify) throws IOException {
        for (int s = 0; s < 20; s++) {
            if (notify.messages().stream().anyMatch(m -> m.has("READY=1"))) {
                return;
            }
            if (!p.isAlive()) {
                throw new IOException("fanotifyd " + p.pid() + " exited (" + p.exitValue() + ") before READY=1");
            }
            try {
                notify.await(m -> m.has("READY=1"), "READY=1", 1);
                return;
            } catch (AssertionError notYet) {
                // look at the process again
            }
        }
        throw new IOException("fanotifyd " + p.pid() + " did not say READY=1 within 20 s");
    }

    public long pid() {
        return process.pid();
    }

    public Process process() {
        return process;
    }

    /**
     * Stops the daemon (SIGSTOP) and returns once every one of its threads is stopped. kill(2) returns before
     * that: the group stop is carried to the other threads by the first thread that takes the signal, and on a
     * busy machine the event thread can read a few more events meanwhile (CI saw a 64-event queue give 66).
     */
    public void freeze() throws IOException {
        TestMount.run("kill", "-STOP", Long.toString(pid()));
        awaitStopped(pid());
    }

    /** Waits (at most 20 s) until every thread of {@code pid}, sent SIGSTOP, is stopped. */
    static void awaitStopped(long pid) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!allThreadsStopped(pid)) {
            if (System.nanoTime() > deadline) {
                throw new IOException("fanotifyd " + pid + " was not stopped 20 s after SIGSTOP");
            }
            sleep(2);
        }
    }

    /** Lets a {@link #freeze frozen} daemon go on. */
    public void thaw() throws IOException {
        TestMount.run("kill", "-CONT", Long.toString(pid()));
    }

    /** The tid of {@code pid}'s thread named {@code name} (its comm, at most 15 characters). */
    static long threadId(long pid, String name) throws IOException {
        try (var tasks = Files.newDirectoryStream(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks) {
                try {
                    if (Files.readString(t.resolve("comm")).strip().equals(name)) {
                        return Long.parseLong(t.getFileName().toString());
                    }
                } catch (IOException gone) {
                    // a thread that ended meanwhile
                }
            }
        }
        throw new IOException("fanotifyd " + pid + " has no thread " + name);
    }

    /** The state letter of a thread (R running, S sleeping, ...), from its stat line; '?' if it is gone. */
    static char threadState(long pid, long tid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/task/" + tid + "/stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2);
        } catch (IOException gone) {
            return '?';
        }
    }

    /**
     * Whether the thread was seen running (R) within {@code windowMs}, looking one look right after another;
     * null if it was, else the states it was seen in, for the failure message.
     */
    static String notSeenRunning(long pid, long tid, long windowMs) {
        StringBuilder seen = new StringBuilder();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(windowMs);
        do {
            char state = threadState(pid, tid);
            if (state == 'R') {
                return null;
            }
            if (seen.isEmpty() || seen.charAt(seen.length() - 1) != state) {
                seen.append(state);
            }
        } while (System.nanoTime() < deadline);
        return seen.toString();
    }

    /** {@code read}'s system call number: what /proc/PID/task/TID/syscall shows first for a thread in read(). */
    static final String READ_NR = "aarch64".equals(System.getProperty("os.arch")) ? "63" : "0";

    /** Waits (at most {@code seconds}) until the thread sleeps in read() on one of the process's fanotify fds. */
    static void awaitBlockedInFanotifyRead(long pid, long tid, int seconds) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        String last = "";
        while (System.nanoTime() < deadline) {
            try {
                last = Files.readString(Path.of("/proc/" + pid + "/task/" + tid + "/syscall")).strip();
                String[] sc = last.split(" ");
                if (sc.length > 1 && sc[0].equals(READ_NR) && sc[1].startsWith("0x") && threadState(pid, tid) == 'S') {
                    long fd = Long.parseLong(sc[1].substring(2), 16);
                    if (Files.readString(Path.of("/proc/" + pid + "/fdinfo/" + fd)).contains("fanotify flags:")) {
                        return;
                    }
                }
            } catch (IOException gone) {
                throw new IOException("thread " + tid + " of fanotifyd " + pid + " is gone", gone);
            }
            sleep(5);
        }
        throw new IOException("thread " + tid + " of fanotifyd " + pid + " did not block in read() on a fanotify"
                + " fd within " + seconds + " s; its syscall: " + last);
    }

    /** {@code write}'s system call number. */
    static final String WRITE_NR = "aarch64".equals(System.getProperty("os.arch")) ? "64" : "1";

    /**
     * Waits (at most {@code seconds}) until the output thread sleeps in write() on {@code fd}: a pipe it writes
     * is full, and what it has not written waits in its buffers.
     */
    static void awaitOutputBlockedInWrite(long pid, int fd, int seconds) throws IOException {
        long tid = threadId(pid, "fanotifyd-outpu"); // "fanotifyd-output", cut to 15 characters as comm is
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        String last = "";
        while (System.nanoTime() < deadline) {
            last = Files.readString(Path.of("/proc/" + pid + "/task/" + tid + "/syscall")).strip();
            String[] sc = last.split(" ");
            if (sc.length > 1 && sc[0].equals(WRITE_NR) && sc[1].equals("0x" + Integer.toHexString(fd))
                    && threadState(pid, tid) == 'S') {
                return;
            }
            sleep(5);
        }
        throw new IOException("the output thread of fanotifyd " + pid + " did not block writing fd " + fd
                + " within " + seconds + " s; its syscall: " + last);
    }

    /** Every thread of {@code pid} in state T (stopped), read from the third field of its stat line. */
    static boolean allThreadsStopped(long pid) throws IOException {
        try (var tasks = Files.newDirectoryStream(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks) {
                String stat;
                try {
                    stat = Files.readString(t.resolve("stat"));
                } catch (IOException gone) {
                    continue; // a thread that ended meanwhile
                }
                // comm may hold spaces and parentheses: the state follows the last ')'.
                char state = stat.charAt(stat.lastIndexOf(')') + 2);
                if (state != 'T' && state != 'Z' && state != 'X') { // a thread that has ended cannot read either
                    return false;
                }
            }
        }
        return true;
    }

    /** Waits (at most 20 s) until the process's fanotify fd carries {@code marks} marks. */
    public static void awaitMarks(long pid, int marks) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            if (countMarks(pid) >= marks) {
                return;
            }
            ProcessHandle h = ProcessHandle.of(pid).orElse(null);
            if (h == null || !h.isAlive()) {
                throw new IOException("fanotifyd " + pid + " exited before its marks were placed");
            }
            sleep(20);
        }
        throw new IOException("fanotifyd " + pid + " did not place " + marks + " marks within 20 s");
    }

    static int countMarks(long pid) {
        int n = 0;
        try (var fds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/fdinfo"))) {
            for (Path f : fds) {
                try {
                    for (String line : Files.readAllLines(f)) {
                        if (line.startsWith("fanotify ino:") || line.startsWith("fanotify mnt_id:")
                                || line.startsWith("fanotify sdev:")) {
                            n++;
                        }
                    }
                } catch (IOException ignored) {
                    // fd closed meanwhile
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return n;
    }

    /**
     * All records written so far, parsed (each line must be valid JSON: a bad line fails the test). While the
     * daemon runs, a last line without its newline is a write still in progress and is left out; once it has
     * stopped, the file must end with a whole line.
     */
    public List<JsonNode> records() throws IOException {
        return parse(output, process.isAlive());
    }

    public static List<JsonNode> parse(Path file) throws IOException {
        return parse(file, false);
    }

    static List<JsonNode> parse(Path file, boolean writerRunning) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        if (!Files.exists(file)) {
            return out;
        }
        byte[] all = Files.readAllBytes(file);
        int start = 0;
        for (int i = 0; i < all.length; i++) {
            if (all[i] == '\n') {
                out.add(JSON.readTree(new String(all, start, i - start, StandardCharsets.UTF_8)));
                start = i + 1;
            }
        }
        if (start != all.length && !writerRunning) {
            throw new IOException("output ends with a partial line: " + new String(all, start, all.length - start,
                    StandardCharsets.UTF_8));
        }
        return out;
    }

    /** Waits (at most {@code seconds}) until some record matches; returns it or fails with what was seen. */
    public JsonNode await(Predicate<JsonNode> match, String what, int seconds) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<JsonNode> seen = List.of();
        while (System.nanoTime() < deadline) {
            seen = records();
            for (JsonNode n : seen) {
                if (match.test(n)) {
                    return n;
                }
            }
            sleep(20);
        }
        String shown = seen.size() <= 40 ? String.join("\n", seen.stream().map(JsonNode::toString).toList())
                : "(the last 20)\n" + String.join("\n", seen.subList(seen.size() - 20, seen.size()).stream()
                .map(JsonNode::toString).toList());
        throw new AssertionError("no record " + what + " within " + seconds + " s; got " + seen.size() + ":\n"
                + shown + "\nstderr: " + stderrWithThreadDump());
    }

    public String stderr() throws IOException {
        return Files.readString(stderr);
    }

    /**
     * Stderr, after asking a daemon that still runs for a thread dump (SIGQUIT: the JVM writes it to stderr),
     * so that a test that waited in vain shows where the daemon's threads were.
     */
    String stderrWithThreadDump() throws IOException {
        if (process.isAlive()) {
            new ProcessBuilder("kill", "-QUIT", Long.toString(process.pid())).start();
            sleep(500);
        }
        return stderr();
    }

    /** Waits (at most {@code seconds}) until stderr (the log, in the foreground) contains {@code text}. */
    public String awaitLog(String text, int seconds) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            String log = stderr();
            if (log.contains(text)) {
                return log;
            }
            if (!process.isAlive()) {
                break;
            }
            sleep(20);
        }
        throw new AssertionError("no log line with \"" + text + "\" within " + seconds + " s (daemon "
                + (process.isAlive() ? "running" : "exited " + process.exitValue()) + "); log:\n"
                + stderrWithThreadDump());
    }

    /**
     * The counters of the daemon's last log line ({@code -v}: "stopping: 12 records, 0 alerts, ..."), by their
     * words: {@code stats().get("records written")}.
     */
    public java.util.Map<String, Long> stats() throws IOException {
        String log = stderr();
        int at = log.lastIndexOf("info: stopping: ");
        if (at < 0) {
            throw new AssertionError("no \"stopping:\" line (run with -v); log:\n" + log);
        }
        String line = log.substring(at + "info: stopping: ".length()).lines().findFirst().orElse("");
        java.util.Map<String, Long> out = new java.util.HashMap<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+) ([a-z][a-z /()]*?)(?=, |$)")
                .matcher(line);
        while (m.find()) {
            out.putIfAbsent(m.group(2).trim(), Long.parseLong(m.group(1)));
        }
        return out;
    }

    /** The notify socket the daemon tells its readiness and reloads on (null if a wrapper set its own). */
    public NotifySocket notifySocket() {
        return notify;
    }

    /** Sends {@code signal} (a name: HUP, USR1) to this daemon's pid alone. */
    public void signal(String signal) throws IOException {
        Process k = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).start();
        try {
            if (!k.waitFor(10, TimeUnit.SECONDS) || k.exitValue() != 0) {
                throw new IOException("kill -" + signal + " " + process.pid() + " failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    /** The output file this daemon writes, or null for stdout. */
    public Path output() {
        return output;
    }

    /** SIGTERM, then waits at most 20 s; returns the exit code. */
    public int stop() throws IOException {
        return terminate(process);
    }

    /** SIGTERM to {@code p} alone, then at most 20 s for it to exit (killed and failed if it does not). */
    static int terminate(Process p) throws IOException {
        p.toHandle().destroy(); // SIGTERM to this pid only
        try {
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("fanotifyd " + p.pid() + " ignored SIGTERM for 20 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        return p.exitValue();
    }

    /** SIGKILL to {@code p} alone if it still runs, and at most 10 s to reap it. */
    static void kill(Process p) {
        if (p.isAlive()) {
            p.destroyForcibly();
            try {
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void close() throws IOException {
        kill(process);
        if (notify != null) {
            notify.close();
        }
        Files.deleteIfExists(stderr);
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
