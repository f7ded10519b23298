package io.fanotifyd.kernel;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Starts a program with {@code posix_spawn(3)} in a clean state, and waits for and signals it.
 *
 * <p>The child gets: stdin from {@code /dev/null}; stdout and stderr both on one pipe whose read end is
 * returned; no other file descriptor (closed with {@code closefrom} where libc has it, otherwise only the
 * close-on-exec ones are gone); its own new process group (so that it and everything it starts can be
 * signalled at once with {@code kill(-pid, sig)}); every signal at its default disposition and an empty signal
 * mask, whatever the JVM has installed or blocked. {@code posix_spawn} is used rather than
 * {@link ProcessBuilder} because the JDK offers no control over the process group, signal state or
 * environment bytes.
 *
 * <p>The caller owns the returned pipe fd and must reap the child with {@link #waitpid}.
 */
public final class Spawn {
    /** {@code SIGKILL}. */
    public static final int SIGKILL = 9;
    /** {@code SIGTERM}. */
    public static final int SIGTERM = 15;
    /** What {@link #waitpid(int, boolean)} returns when asked not to block and the child is still running. */
    public static final int STILL_RUNNING = -1;

    // glibc values (the same on every Linux architecture).
    private static final short POSIX_SPAWN_SETPGROUP = 0x02;
    private static final short POSIX_SPAWN_SETSIGDEF = 0x04;
    private static final short POSIX_SPAWN_SETSIGMASK = 0x08;
    private static final int WNOHANG = 1;
    private static final int ECHILD = 10;
    private static final int F_DUPFD_CLOEXEC = 1030;
    /**
     * posix_spawnattr_t and posix_spawn_file_actions_t are opaque (336 and 80 bytes on glibc x86-64); a generous
     * buffer is safe on any libc because only libc's own init/destroy/set functions touch them.
     */
    private static final long OPAQUE_SIZE = 512;
    /** glibc's sigset_t is 1024 bits; others are smaller. */
    private static final long SIGSET_SIZE = 128;
    private static final String[] SIGNAL_NAMES = {null, "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP",
            "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM",
            "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
            "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"};

    private Spawn() {}

    /**
     * A started child.
     *
     * @param pid    its process id, which is also its process group id
     * @param readFd the read end (close-on-exec, blocking) of the pipe that is the child's stdout and stderr;
     *               the caller closes it
     */
    public record SpawnedProcess(int pid, int readFd) {}

    /**
     * Starts {@code path} (an absolute path: no {@code PATH} search) with exactly {@code argv} and {@code env}.
     * Strings are encoded with {@link PathCodec#encode}, so any bytes can be passed (lone surrogates
     * U+DC80..U+DCFF stand for single non-UTF-8 bytes).
     *
     * @param path the program
     * @param argv the arguments, {@code argv[0]} included (must not be empty)
     * @param env  the whole environment, each entry {@code "KEY=value"}
     * @return the child and the read end of its output pipe
     * @throws NativeCallException      if the pipe cannot be made or the program cannot be started (missing, not
     *                                  executable, out of processes: the errno says which)
     * @throws IllegalArgumentException if {@code argv} is empty, a string contains NUL or an env entry has no
     *                                  {@code '='}
     */
    public static SpawnedProcess spawn(String path, List<String> argv, List<String> env) {
        if (argv.isEmpty()) {
            throw new IllegalArgumentException("argv is empty (argv[0] is required)");
        }
        for (String e : env) {
            if (e.indexOf('=') <= 0) {
                throw new IllegalArgumentException("environment entry is not KEY=value: " + e);
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = Libc.cString(arena, path);
            MemorySegment cArgv = stringArray(arena, argv);
            MemorySegment cEnv = stringArray(arena, env);
            MemorySegment devNull = Libc.cString(arena, "/dev/null");
            int[] pipe = pipe(arena);
            int readFd = pipe[0];
            int writeFd = pipe[1];
            boolean started = false;
            try {
                MemorySegment attr = arena.allocate(OPAQUE_SIZE, 8);
                MemorySegment actions = arena.allocate(OPAQUE_SIZE, 8);
                check("posix_spawnattr_init", SpawnCalls.posixSpawnattrInit(attr));
                try {
                    check("posix_spawn_file_actions_init", SpawnCalls.posixSpawnFileActionsInit(actions));
                    try {
                        configureAttributes(arena, attr);
                        configureFiles(actions, devNull, readFd, writeFd);
                        MemorySegment pid = arena.allocate(JAVA_INT);
                        int err = SpawnCalls.posixSpawn(pid, cPath, actions, attr, cArgv, cEnv);
                        if (err != 0) {
                            throw new NativeCallException("posix_spawn", path, err);
                        }
                        started = true;
                        return new SpawnedProcess(pid.get(JAVA_INT, 0), readFd);
                    } finally {
                        SpawnCalls.posixSpawnFileActionsDestroy(actions);
                    }
                } finally {
                    SpawnCalls.posixSpawnattrDestroy(attr);
                }
            } finally {
                // Our copy of the write end must go, or the reader would never see EOF.
                Syscalls.closeQuietly(writeFd);
                if (!started) {
                    Syscalls.closeQuietly(readFd);
                }
            }
        }
    }

    private static void configureAttributes(Arena arena, MemorySegment attr) {
        check("posix_spawnattr_setflags", SpawnCalls.posixSpawnattrSetflags(attr,
                (short) (POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)));
        // pgroup 0: the child's own pid, so it leads a new group and a group kill reaches its descendants
        // but never the daemon.
        check("posix_spawnattr_setpgroup", SpawnCalls.posixSpawnattrSetpgroup(attr, 0));
        // Handlers installed by the JVM are reset by exec anyway, but ignored signals (SIG_IGN) and the mask
        // would be inherited and silently change how the program behaves (e.g. a shell that cannot be stopped
        // by SIGTERM or never sees SIGPIPE).
        // Not sigfillset(): glibc's leaves out its two internal signals (32 and 33), and its posix_spawn child
        // then sets exactly those to SIG_IGN, which exec keeps: the program would start with them ignored. A
        // set with every bit on (Linux sigset_t is a plain bit array) makes the child reset them to SIG_DFL.
        MemorySegment all = arena.allocate(SIGSET_SIZE, 8);
        all.fill((byte) 0xff);
        check("posix_spawnattr_setsigdefault", SpawnCalls.posixSpawnattrSetsigdefault(attr, all));
        MemorySegment none = arena.allocate(SIGSET_SIZE, 8);
        if (SpawnCalls.sigemptyset(none) != 0) {
            throw new NativeCallException("sigemptyset", "", Libc.errno());
        }
        check("posix_spawnattr_setsigmask", SpawnCalls.posixSpawnattrSetsigmask(attr, none));
    }

    private static void configureFiles(MemorySegment actions, MemorySegment devNull, int readFd, int writeFd) {
        check("posix_spawn_file_actions_addopen",
                SpawnCalls.posixSpawnFileActionsAddopen(actions, 0, devNull, Fanotify.O_RDONLY, 0));
        check("posix_spawn_file_actions_adddup2", SpawnCalls.posixSpawnFileActionsAdddup2(actions, writeFd, 1));
        check("posix_spawn_file_actions_adddup2", SpawnCalls.posixSpawnFileActionsAdddup2(actions, writeFd, 2));
        check("posix_spawn_file_actions_addclose", SpawnCalls.posixSpawnFileActionsAddclose(actions, readFd));
        check("posix_spawn_file_actions_addclose", SpawnCalls.posixSpawnFileActionsAddclose(actions, writeFd));
        if (SpawnCalls.hasPosixSpawnFileActionsAddclosefrom()) {
            // The JVM and libraries may hold descriptors without close-on-exec (including, in the daemon, the
            // fanotify fd); a hook must not inherit any of them.
            check("posix_spawn_file_actions_addclosefrom_np", SpawnCalls.posixSpawnFileActionsAddclosefrom(actions, 3));
        }
    }

    /**
     * {@code pipe2(O_CLOEXEC)}, both ends moved to fd 3 or above: if stdin/stdout/stderr were closed, a pipe end
     * could land on 0..2, and the child's redirections (open on 0, dup2 onto 1 and 2) would then clobber it.
     * Close-on-exec so that a concurrent spawn from another thread does not inherit our pipe.
     */
    private static int[] pipe(Arena arena) {
        MemorySegment fds = arena.allocate(JAVA_INT, 2);
        if (SpawnCalls.pipe2(fds, Fanotify.O_CLOEXEC) != 0) {
            throw new NativeCallException("pipe2", "O_CLOEXEC", Libc.errno());
        }
        int[] result = {fds.getAtIndex(JAVA_INT, 0), fds.getAtIndex(JAVA_INT, 1)};
        try {
            for (int i = 0; i < 2; i++) {
                if (result[i] < 3) {
                    int moved = SpawnCalls.fcntl(result[i], F_DUPFD_CLOEXEC, 3);
                    if (moved < 0) {
                        throw new NativeCallException("fcntl", "fd=" + result[i] + ", F_DUPFD_CLOEXEC, 3",
                                Libc.errno());
                    }
                    Libc.close(result[i]);
                    result[i] = moved;
                }
            }
        } catch (RuntimeException e) {
            Syscalls.closeQuietly(result[0]);
            Syscalls.closeQuietly(result[1]);
            throw e;
        }
        return result;
    }

    private static MemorySegment stringArray(Arena arena, List<String> strings) {
        MemorySegment array = arena.allocate(ADDRESS, strings.size() + 1L);
        for (int i = 0; i < strings.size(); i++) {
            array.setAtIndex(ADDRESS, i, Libc.cString(arena, strings.get(i)));
        }
        array.setAtIndex(ADDRESS, strings.size(), MemorySegment.NULL);
        return array;
    }

    private static void check(String call, int err) {
        if (err != 0) {
            throw new NativeCallException(call, "", err);
        }
    }

    /**
     * {@code waitpid(pid, &status, noHang ? WNOHANG : 0)}, retrying {@code EINTR}.
     *
     * @return the raw wait status (decode with {@link #exited}, {@link #exitCode}, {@link #signaled},
     *         {@link #termSignal}), or {@link #STILL_RUNNING} if {@code noHang} and the child has not exited
     * @throws NativeCallException e.g. {@code ECHILD} if {@code pid} is not an unreaped child of this process
     */
    public static int waitpid(int pid, boolean noHang) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(JAVA_INT);
            while (true) {
                int rc = SpawnCalls.waitpid(pid, status, noHang ? WNOHANG : 0);
                if (rc == pid) {
                    return status.get(JAVA_INT, 0);
                }
                if (rc == 0) {
                    return STILL_RUNNING;
                }
                int errno = Libc.errno();
                if (errno != Errno.EINTR) {
                    throw new NativeCallException("waitpid", "pid=" + pid, errno);
                }
            }
        }
    }

    /**
     * {@code kill(pid, sig)}; a negative {@code pid} signals the whole process group {@code -pid}.
     *
     * @return false if no such process (group) exists ({@code ESRCH})
     * @throws NativeCallException on any other error (e.g. {@code EPERM})
     */
    public static boolean kill(int pid, int sig) {
        if (pid == 0 || pid == -1) {
            // 0 is our own group and -1 every process we may signal: never what a caller of this means.
            throw new IllegalArgumentException("refusing kill(" + pid + ", " + sig + ")");
        }
        if (SpawnCalls.kill(pid, sig) == 0) {
            return true;
        }
        int errno = Libc.errno();
        if (errno == Errno.ESRCH) {
            return false;
        }
        throw new NativeCallException("kill", "pid=" + pid + ", sig=" + sig, errno);
    }

    /** Whether the wait status says the child called {@code exit}. */
    public static boolean exited(int status) {
        return (status & 0x7f) == 0;
    }

    /** The exit code, if {@link #exited}. */
    public static int exitCode(int status) {
        return (status >> 8) & 0xff;
    }

    /** Whether the wait status says the child was killed by a signal. */
    public static boolean signaled(int status) {
        int low = status & 0x7f;
        return low != 0 && low != 0x7f; // 0x7f means stopped, not dead
    }

    /** The signal that killed the child, if {@link #signaled}. */
    public static int termSignal(int status) {
        return status & 0x7f;
    }

    /** {@code "exit 0"}, {@code "signal 9 (SIGKILL)"} or {@code "status 0x..."}. */
    public static String describeStatus(int status) {
        if (exited(status)) {
            return "exit " + exitCode(status);
        }
        if (signaled(status)) {
            int sig = termSignal(status);
            String name = sig < SIGNAL_NAMES.length ? SIGNAL_NAMES[sig] : null;
            return "signal " + sig + (name != null ? " (" + name + ")" : "")
                    + ((status & 0x80) != 0 ? ", core dumped" : "");
        }
        return "status 0x" + Integer.toHexString(status);
    }
}
