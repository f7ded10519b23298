package io.fanotifyd.sink;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.fanotifyd.kernel.Errno;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Spawn;
import io.fanotifyd.kernel.Syscalls;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Runs the user's alert hook, {@code /bin/sh -c COMMAND}, once per {@link #submit}, off the caller's thread.
 *
 * <p>Event data reaches the hook only through environment variables, never through the command string, so
 * no file name can inject shell syntax. Each run gets stdin from {@code /dev/null}, default signal
 * dispositions and an empty signal mask, and leads its own process group (see {@link Spawn}). Its stdout and
 * stderr are logged line by line, at most {@value #MAX_OUTPUT_BYTES} bytes per run; the rest is read and
 * discarded so that a chatty hook never stalls on a full pipe. A run still going after the timeout has its
 * whole process group killed with {@code SIGKILL}. At most {@code maxRunning} hooks run at once and at most
 * {@code maxQueued} wait; anything beyond that is dropped and counted, never waited for.
 *
 * <p>Hooks share the daemon's memory cgroup. Each run's shell gets {@code oom_score_adj} 1000 right after it is
 * spawned (what it starts inherits it), so when memory runs out the kernel kills a hook, not the daemon that
 * enforces and records.
 *
 * <p>The log consumer is called from the worker threads, possibly concurrently, and must be thread-safe.
 */
public final class HookRunner implements AutoCloseable {
    /** Output bytes (newlines included) logged per run; the rest is drained and dropped. */
    static final int MAX_OUTPUT_BYTES = 64 * 1024;
    /** The line logged once when a run's output goes over {@link #MAX_OUTPUT_BYTES}. */
    static final String TRUNCATED = "... output truncated";

    private static final String SHELL = "/bin/sh";
    /**
     * Not for hooks: the daemon's own start-up plumbing (see the daemon's Detach), and what systemd gives the
     * service alone ({@code NOTIFY_SOCKET} and the watchdog's variables): a program in a hook that speaks
     * sd_notify itself would take them as its own, believe itself supervised, and talk to systemd about a
     * service that is not its own.
     */
    private static final java.util.Set<String> PRIVATE_VARIABLES = java.util.Set.of("FANOTIFYD_DETACHED",
            "FANOTIFYD_ARGV_HEX", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID");
    /** How long a finished hook's process group still counts as the hook's: its children may outlive it. */
    private static final long RECENT_GROUP_NANOS = TimeUnit.SECONDS.toNanos(10);
    /**
     * After the kill, how long the pipe may stay open. Only a process that left the group (setsid, setpgid)
     * can still hold it; the worker stops reading rather than wait for it forever.
     */
    private static final long PIPE_GRACE_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** How long a waiting worker sleeps between checks for shutdown (close() also wakes it directly). */
    private static final long IDLE_POLL_MILLIS = 100;
    private static final long CLOSE_JOIN_MILLIS = 5000;
    private static final int REAP_BACKOFF_MAX_MILLIS = 50;
    private static final int READ_CHUNK = 64 * 1024;
    private static final String SHUTDOWN = "daemon shutting down";
    private static final String TIMEOUT = "timeout";

    private final String command;
    private final long timeoutMs;
    private final long timeoutNanos;
    private final Consumer<String> log;
    private final Map<String, String> baseEnvironment;
    private final BlockingQueue<Map<String, String>> queue;
    private final Thread[] workers;
    /** An eventfd that close() signals so that workers blocked in poll() notice the shutdown at once. */
    private final int wakeFd;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile boolean closing;
    private final ConcurrentHashMap<Integer, Run> running = new ConcurrentHashMap<>();
    /** Process group id → System.nanoTime() at which its hook ended. */
    private final ConcurrentHashMap<Integer, Long> recentlyEnded = new ConcurrentHashMap<>();
    private final AtomicLong started = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong timedOut = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong notStarted = new AtomicLong();
    /** The value of {@link #dropped} last mentioned in the log: drops are logged in batches by the workers. */
    private final AtomicLong droppedLogged = new AtomicLong();

    /**
     * Starts {@code maxRunning} worker threads. The hook's environment is this process's (without
     * {@code FANOTIFYD_DETACHED}, {@code NOTIFY_SOCKET} and the watchdog's variables) plus the variables of each
     * {@link #submit}.
     *
     * @param command    the shell command, run as {@code /bin/sh -c command}; passed as one argument, never
     *                   combined with event data
     * @param maxRunning hooks that may run at the same time (at least 1)
     * @param maxQueued  runs that may wait for a free worker (0 = run only if a worker is idle)
     * @param timeoutMs  after this many milliseconds a run's process group is killed (at least 1)
     * @param log        receives one line per output line of a hook, per kill and per finished run; called from
     *                   the worker threads
     * @throws IllegalArgumentException on a blank command or out-of-range numbers
     * @throws NativeCallException      if the wake-up eventfd cannot be created
     */
    public HookRunner(String command, int maxRunning, int maxQueued, long timeoutMs, Consumer<String> log) {
        this(command, maxRunning, maxQueued, timeoutMs, log, System.getenv());
    }

    /** As the public constructor, with {@code baseEnvironment} in place of {@link System#getenv()} (tests). */
    HookRunner(String command, int maxRunning, int maxQueued, long timeoutMs, Consumer<String> log,
               Map<String, String> baseEnvironment) {
        Objects.requireNonNull(command, "command");
        Objects.requireNonNull(log, "log");
        if (command.isBlank() || command.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("hook command is empty or contains a NUL byte");
        }
        if (maxRunning < 1 || maxQueued < 0 || timeoutMs < 1) {
            throw new IllegalArgumentException("hook limits out of range: maxRunning=" + maxRunning
                    + ", maxQueued=" + maxQueued + ", timeoutMs=" + timeoutMs);
        }
        this.command = command;
        this.timeoutMs = timeoutMs;
        // Capped so that start + timeout cannot overflow (the cap is over 70 years).
        this.timeoutNanos = Math.min(TimeUnit.MILLISECONDS.toNanos(timeoutMs), Long.MAX_VALUE / 4);
        this.log = log;
        this.baseEnvironment = baseEnvironment(baseEnvironment);
        this.queue = maxQueued == 0 ? new SynchronousQueue<>() : new ArrayBlockingQueue<>(maxQueued);
        this.wakeFd = Syscalls.eventfd();
        this.workers = new Thread[maxRunning];
        for (int i = 0; i < maxRunning; i++) {
            workers[i] = Thread.ofPlatform().daemon(true).name("fanotifyd-hook-" + (i + 1)).unstarted(this::work);
        }
        for (Thread worker : workers) {
            worker.start();
        }
    }

    private static Map<String, String> baseEnvironment(Map<String, String> env) {
        Map<String, String> result = new LinkedHashMap<>();
        env.forEach((key, value) -> {
            // Entries that cannot be passed on (only possible with a hand-made map) are left out.
            if (!PRIVATE_VARIABLES.contains(key) && !key.isEmpty() && key.indexOf('=') < 0 && key.indexOf('\0') < 0
                    && value != null && value.indexOf('\0') < 0) {
                result.put(key, value);
            }
        });
        return Map.copyOf(result);
    }

    /**
     * Queues one run of the hook with {@code vars} added to (and overriding) the base environment. Never blocks
     * and never throws.
     *
     * @param vars variable names must be shell identifiers ({@code [A-Za-z_][A-Za-z0-9_]*}); values may hold
     *             any characters but NUL (lone surrogates U+DC80..U+DCFF stand for raw bytes, as in
     *             {@link io.fanotifyd.kernel.PathCodec})
     * @return true if queued; false if the queue is full or the runner closed (counted in {@link #dropped()}),
     *         or if {@code vars} is invalid (logged, counted in {@link #failed()})
     */
    public boolean submit(Map<String, String> vars) {
        try {
            if (closing) {
                dropped.incrementAndGet();
                return false;
            }
            Map<String, String> copy = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : vars.entrySet()) {
                String problem = invalidVariable(e.getKey(), e.getValue());
                if (problem != null) {
                    countNotStarted();
                    safeLog("hook: not run: " + problem);
                    return false;
                }
                copy.put(e.getKey(), e.getValue());
            }
            if (!queue.offer(copy)) {
                dropped.incrementAndGet();
                return false;
            }
            return true;
        } catch (RuntimeException e) {
            countNotStarted();
            return false;
        }
    }

    private static String invalidVariable(String key, String value) {
        if (key == null || key.isEmpty() || !(Character.isLetter(key.charAt(0)) || key.charAt(0) == '_')) {
            return "invalid environment variable name " + sanitize(String.valueOf(key));
        }
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c >= 0x80 || !(Character.isLetterOrDigit(c) || c == '_')) {
                return "invalid environment variable name " + sanitize(key);
            }
        }
        if (value == null || value.indexOf('\0') >= 0) {
            return "environment variable " + key + " is null or contains a NUL byte";
        }
        return null;
    }

    /**
     * Whether {@code pgid} is the process group of a hook that is running or ended less than 10 s ago (its
     * background children may still be at work). Lets the daemon ignore the hook's own file activity instead
     * of alerting on it and running the hook again. A group id reused by an unrelated process within those 10 s
     * is also reported: a missed alert is preferred over a loop.
     */
    public boolean isHookProcessGroup(int pgid) {
        if (pgid <= 0) {
            return false;
        }
        if (running.containsKey(pgid)) {
            return true;
        }
        Long ended = recentlyEnded.get(pgid);
        if (ended == null) {
            return false;
        }
        if (System.nanoTime() - ended < RECENT_GROUP_NANOS) {
            return true;
        }
        recentlyEnded.remove(pgid, ended);
        return false;
    }

    /** Hooks spawned so far. */
    public long started() {
        return started.get();
    }

    /** Submissions refused because the queue was full or the runner closed. */
    public long dropped() {
        return dropped.get();
    }

    /** Runs killed because they outlived the timeout. */
    public long timedOut() {
        return timedOut.get();
    }

    /**
     * Runs that failed: the shell could not be spawned, exited non-zero or was killed by a signal it was not
     * sent by this runner; also submissions with invalid variables. Timeouts count in {@link #timedOut()} only.
     */
    public long failed() {
        return failed.get();
    }

    /**
     * Runs accepted or asked for that never started: invalid variables, or the shell could not be spawned (out
     * of memory under a limit, out of processes). Also counted in {@link #failed()}.
     */
    public long notStarted() {
        return notStarted.get();
    }

    /** A run that never started is a failed one too. */
    private void countNotStarted() {
        failed.incrementAndGet();
        notStarted.incrementAndGet();
    }

    /**
     * Stops accepting runs, drops the queued ones, kills the process group of every running hook and waits (at
     * most 5 s) for the workers to reap them. Idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        closing = true;
        List<Map<String, String>> discarded = new ArrayList<>();
        queue.drainTo(discarded);
        Syscalls.signalEventfd(wakeFd);
        for (Run run : running.values()) {
            run.kill(SHUTDOWN);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CLOSE_JOIN_MILLIS);
        boolean allStopped = true;
        for (Thread worker : workers) {
            long leftMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            try {
                if (leftMs > 0) {
                    worker.join(leftMs);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            allStopped &= !worker.isAlive();
        }
        // After the workers: a run a worker had just taken from the queue when the stop came is discarded too.
        long total = discarded.size() + discardedByWorkers.get();
        if (total > 0) {
            safeLog("hook: " + total + " queued run(s) discarded: " + SHUTDOWN);
        }
        if (allStopped) {
            Syscalls.closeQuietly(wakeFd);
        } else {
            // Left open: a worker still polling it must not see the number reused by another file.
            safeLog("hook: workers still busy " + CLOSE_JOIN_MILLIS + " ms after shutdown; not waiting longer");
        }
    }

    // ------------------------------------------------------------------------------------------------ workers

    private final AtomicLong discardedByWorkers = new AtomicLong();

    private void work() {
        try (Arena arena = Arena.ofConfined()) {
            Worker worker = new Worker(arena);
            while (!closing) {
                Map<String, String> vars;
                try {
                    vars = queue.poll(IDLE_POLL_MILLIS, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    // Nobody interrupts these threads; if someone does, the closing flag decides.
                    continue;
                }
                if (vars != null && closing) {
                    discardedByWorkers.incrementAndGet(); // taken from the queue just as the stop came
                } else if (vars != null) {
                    try {
                        worker.run(vars);
                    } catch (RuntimeException e) {
                        failed.incrementAndGet();
                        safeLog("hook: internal error: " + e);
                    }
                }
                logDrops();
            }
        }
    }

    private void logDrops() {
        long now = dropped.get();
        long before = droppedLogged.get();
        if (now != before && droppedLogged.compareAndSet(before, now)) {
            safeLog("hook: " + (now - before) + " run(s) dropped (queue full)");
        }
    }

    /** One worker thread's buffers, reused for each of its runs. */
    private final class Worker {
        private final MemorySegment readBuffer;
        private final MemorySegment pollFds;
        private final byte[] chunk = new byte[READ_CHUNK];
        private final byte[] line = new byte[MAX_OUTPUT_BYTES];
        private final short[] revents = new short[2];

        Worker(Arena arena) {
            readBuffer = arena.allocate(READ_CHUNK);
            pollFds = arena.allocate(16, 8);
        }

        void run(Map<String, String> vars) {
            long start = System.nanoTime();
            Spawn.SpawnedProcess process;
            try {
                process = Spawn.spawn(SHELL, List.of("sh", "-c", command), environment(vars));
            } catch (RuntimeException e) {
                countNotStarted();
                safeLog("hook: cannot start " + SHELL + ": " + e.getMessage());
                return;
            }
            started.incrementAndGet();
            preferAsOomVictim(process.pid());
            Run run = new Run(process.pid(), start + timeoutNanos);
            running.put(run.pid, run);
            int status = Run.UNKNOWN;
            try {
                // close() may have walked the running set just before the put above.
                if (closing) {
                    run.kill(SHUTDOWN);
                }
                try {
                    pump(run, process.readFd());
                } catch (RuntimeException e) {
                    safeLog(run.prefix + "reading its output failed (" + e.getMessage() + "); killing it");
                    run.kill("output error");
                }
                status = reap(run);
            } finally {
                Syscalls.closeQuietly(process.readFd());
                // Recorded before the removal so that isHookProcessGroup() never has a gap.
                long ended = System.nanoTime();
                recentlyEnded.put(run.pid, ended);
                running.remove(run.pid);
                recentlyEnded.values().removeIf(t -> ended - t >= RECENT_GROUP_NANOS);
            }
            report(run, status, System.nanoTime() - start);
        }

        private List<String> environment(Map<String, String> vars) {
            Map<String, String> env = new LinkedHashMap<>(baseEnvironment);
            env.putAll(vars);
            List<String> entries = new ArrayList<>(env.size());
            env.forEach((k, v) -> entries.add(k + "=" + v));
            return entries;
        }

        /** Logs the hook's output until EOF, or until the kill plus a grace period. */
        private void pump(Run run, int fd) {
            Output output = new Output(run.prefix, line);
            int[] withWake = {fd, wakeFd};
            int[] pipeOnly = {fd};
            while (true) {
                checkDeadline(run);
                long now = System.nanoTime();
                long waitNanos;
                if (run.killed()) {
                    waitNanos = run.killedAt() + PIPE_GRACE_NANOS - now;
                    if (waitNanos <= 0) {
                        safeLog(run.prefix + "output pipe still open " + TimeUnit.NANOSECONDS.toMillis(
                                PIPE_GRACE_NANOS) + " ms after the kill (held by a process that left the "
                                + "group?); no longer reading it");
                        return;
                    }
                } else {
                    waitNanos = run.deadline - now;
                }
                // Once killed the wake fd is left out: it stays readable after close() and would spin.
                int[] fds = run.killed() ? pipeOnly : withWake;
                if (Syscalls.pollIn(pollFds, fds, revents, toPollMillis(waitNanos)) <= 0 || revents[0] == 0) {
                    continue;
                }
                long n = Libc.read(fd, readBuffer, READ_CHUNK);
                if (n == 0) {
                    output.finish();
                    return;
                }
                if (n < 0) {
                    int errno = Libc.errno();
                    if (errno == Errno.EINTR || errno == Errno.EAGAIN) {
                        continue;
                    }
                    throw new NativeCallException("read", "hook output pipe, fd=" + fd, errno);
                }
                if (!output.truncated()) {
                    MemorySegment.copy(readBuffer, ValueLayout.JAVA_BYTE, 0, chunk, 0, (int) n);
                    output.accept(chunk, (int) n);
                }
            }
        }

        /** Waits for the shell to exit without ever blocking past the deadline; returns its wait status. */
        private int reap(Run run) {
            int sleepMs = 1;
            while (true) {
                int status;
                try {
                    status = run.tryReap();
                } catch (NativeCallException e) {
                    // ECHILD: someone else reaped it (e.g. SIGCHLD set to SIG_IGN elsewhere in the process).
                    safeLog(run.prefix + "cannot collect its exit status: " + e.getMessage());
                    return Run.UNKNOWN;
                }
                if (status != Spawn.STILL_RUNNING) {
                    return status;
                }
                checkDeadline(run);
                long left = run.killed() ? Long.MAX_VALUE : run.deadline - System.nanoTime();
                int waitMs = (int) Math.min(sleepMs, Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                Syscalls.pollIn(pollFds, run.killed() ? new int[0] : new int[] {wakeFd}, revents, waitMs);
                sleepMs = Math.min(sleepMs * 2, REAP_BACKOFF_MAX_MILLIS);
            }
        }

        private void checkDeadline(Run run) {
            if (closing) {
                run.kill(SHUTDOWN);
            } else if (System.nanoTime() - run.deadline >= 0 && run.kill(TIMEOUT)) {
                timedOut.incrementAndGet();
                safeLog(run.prefix + "still running after " + timeoutMs + " ms, killed its process group");
            }
        }

        private void report(Run run, int status, long elapsedNanos) {
            String reason = run.killReason();
            String how;
            if (status == Run.UNKNOWN) {
                how = "exit status unknown";
                if (reason == null) {
                    failed.incrementAndGet();
                }
            } else {
                how = Spawn.describeStatus(status);
                boolean ok = Spawn.exited(status) && Spawn.exitCode(status) == 0;
                if (!ok && reason == null) {
                    failed.incrementAndGet();
                }
            }
            // A SIGKILL nobody here sent is most likely the OOM killer, which takes hooks first (oom_score_adj).
            boolean foreignKill = reason == null && status != Run.UNKNOWN && ((Spawn.signaled(status)
                    && Spawn.termSignal(status) == Spawn.SIGKILL) || (Spawn.exited(status)
                    && Spawn.exitCode(status) == 128 + Spawn.SIGKILL));
            safeLog(run.prefix + how + " after " + TimeUnit.NANOSECONDS.toMillis(elapsedNanos) + " ms"
                    + (reason != null ? " (killed: " + reason + ")" : "")
                    + (foreignKill ? " (SIGKILL not sent by fanotifyd: out of memory?)" : ""));
        }
    }

    private static final MemorySegment OOM_SCORE_ADJ_MAX = Arena.global().allocateFrom("1000");

    /**
     * Makes {@code pid} (our child, not reaped yet, so the pid is still its own) the first the OOM killer takes.
     * Raising the score needs no privilege; a hook that already exited is no longer a candidate anyway.
     */
    private void preferAsOomVictim(int pid) {
        int fd;
        try {
            fd = Syscalls.open("/proc/" + pid + "/oom_score_adj", io.fanotifyd.kernel.Fanotify.O_WRONLY
                    | io.fanotifyd.kernel.Fanotify.O_CLOEXEC, 0);
        } catch (NativeCallException e) {
            return; // already gone
        }
        try {
            Syscalls.writeFully(fd, OOM_SCORE_ADJ_MAX, 4, "/proc/" + pid + "/oom_score_adj");
        } catch (NativeCallException e) {
            safeLog("hook pid " + pid + ": cannot raise its oom_score_adj: " + e.getMessage());
        } finally {
            Syscalls.closeQuietly(fd);
        }
    }

    private static int toPollMillis(long nanos) {
        long ms = (nanos + 999_999) / 1_000_000;
        return (int) Math.max(1, Math.min(ms, IDLE_POLL_MILLIS * 10));
    }

    /**
     * One running hook. Killing and reaping are serialized on it: once the shell is reaped its pid, which is also
     * the group id, may be reused by an unrelated process, so no kill may follow the reap.
     */
    private final class Run {
        static final int UNKNOWN = Integer.MIN_VALUE;

        final int pid;
        final long deadline;
        final String prefix;
        private boolean reaped;
        private String killReason;
        private long killedAt;

        Run(int pid, long deadline) {
            this.pid = pid;
            this.deadline = deadline;
            this.prefix = "hook pid " + pid + ": ";
        }

        /** SIGKILLs the process group unless already done or reaped; true if this call sent it. */
        synchronized boolean kill(String reason) {
            if (killReason != null || reaped) {
                return false;
            }
            killReason = reason;
            killedAt = System.nanoTime();
            try {
                Spawn.kill(-pid, Spawn.SIGKILL);
            } catch (RuntimeException e) {
                safeLog(prefix + "cannot kill its process group: " + e.getMessage());
            }
            return true;
        }

        synchronized int tryReap() {
            int status = Spawn.waitpid(pid, true);
            if (status != Spawn.STILL_RUNNING) {
                reaped = true;
            }
            return status;
        }

        synchronized boolean killed() {
            return killReason != null;
        }

        synchronized long killedAt() {
            return killedAt;
        }

        synchronized String killReason() {
            return killReason;
        }
    }

    /**
     * Splits output into log lines, stopping after {@link #MAX_OUTPUT_BYTES} bytes. The line buffer is the
     * worker's and as large as the budget, so one endless line cannot grow memory either.
     */
    private final class Output {
        private final String prefix;
        private final byte[] line;
        private int length;
        private int consumed;
        private boolean truncated;

        Output(String prefix, byte[] line) {
            this.prefix = prefix;
            this.line = line;
        }

        boolean truncated() {
            return truncated;
        }

        void accept(byte[] bytes, int count) {
            for (int i = 0; i < count; i++) {
                if (consumed == MAX_OUTPUT_BYTES) {
                    if (length > 0) {
                        emit();
                    }
                    safeLog(prefix + TRUNCATED + " (" + MAX_OUTPUT_BYTES + " bytes logged)");
                    truncated = true;
                    return;
                }
                consumed++;
                byte b = bytes[i];
                if (b == '\n') {
                    emit();
                } else {
                    line[length++] = b;
                }
            }
        }

        void finish() {
            if (!truncated && length > 0) {
                emit();
            }
        }

        private void emit() {
            int end = length;
            if (end > 0 && line[end - 1] == '\r') {
                end--;
            }
            safeLog(prefix + sanitize(new String(line, 0, end, UTF_8)));
            length = 0;
        }
    }

    /** Control characters would let a hook forge or garble log lines; they become '?'. */
    private static String sanitize(String s) {
        StringBuilder sb = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if ((c < 0x20 && c != '\t') || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
                if (sb == null) {
                    sb = new StringBuilder(s);
                }
                sb.setCharAt(i, '?');
            }
        }
        return sb == null ? s : sb.toString();
    }

    /** A throwing log consumer must not take a worker, or the accounting, down with it. */
    private void safeLog(String message) {
        try {
            log.accept(message);
        } catch (RuntimeException e) {
            // nowhere else to report it
        }
    }
}
