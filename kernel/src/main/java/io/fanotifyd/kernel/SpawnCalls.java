package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.Downcalls.LINKER;
import static io.fanotifyd.kernel.Downcalls.errnoCall;
import static io.fanotifyd.kernel.Downcalls.plainCall;
import static io.fanotifyd.kernel.Downcalls.variadicErrnoCall;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The libc calls behind {@link Spawn}: {@code posix_spawn(3)} and its attribute and file-action functions,
 * signal sets, pipes, {@code waitpid} and {@code kill}. Linked on first use (hooks only), all at once.
 *
 * <p>{@code posix_spawn} and the {@code posix_spawnattr}/{@code file_actions} functions return an error number
 * instead of setting errno, so they are plain calls; the others report through {@link Libc#errno()}.
 */
public final class SpawnCalls {
    private SpawnCalls() {}

    /** Linked on first use. */
    private static final class Spawning {
        static final MethodHandle POSIX_SPAWN = plainCall("posix_spawn", JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        static final MethodHandle POSIX_SPAWNATTR_INIT = plainCall("posix_spawnattr_init", JAVA_INT, ADDRESS);
        static final MethodHandle POSIX_SPAWNATTR_DESTROY =
                plainCall("posix_spawnattr_destroy", JAVA_INT, ADDRESS);
        static final MethodHandle POSIX_SPAWNATTR_SETFLAGS = plainCall("posix_spawnattr_setflags", JAVA_INT,
                ADDRESS, java.lang.foreign.ValueLayout.JAVA_SHORT);
        static final MethodHandle POSIX_SPAWNATTR_SETPGROUP =
                plainCall("posix_spawnattr_setpgroup", JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle POSIX_SPAWNATTR_SETSIGDEFAULT =
                plainCall("posix_spawnattr_setsigdefault", JAVA_INT, ADDRESS, ADDRESS);
        static final MethodHandle POSIX_SPAWNATTR_SETSIGMASK =
                plainCall("posix_spawnattr_setsigmask", JAVA_INT, ADDRESS, ADDRESS);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_INIT =
                plainCall("posix_spawn_file_actions_init", JAVA_INT, ADDRESS);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_DESTROY =
                plainCall("posix_spawn_file_actions_destroy", JAVA_INT, ADDRESS);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_ADDOPEN = plainCall(
                "posix_spawn_file_actions_addopen", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_ADDDUP2 =
                plainCall("posix_spawn_file_actions_adddup2", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_ADDCLOSE =
                plainCall("posix_spawn_file_actions_addclose", JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP =
                LINKER.defaultLookup().find("posix_spawn_file_actions_addclosefrom_np")
                        .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)))
                        .orElse(null);
        static final MethodHandle SIGEMPTYSET = errnoCall("sigemptyset", JAVA_INT, ADDRESS);
        static final MethodHandle SIGFILLSET = errnoCall("sigfillset", JAVA_INT, ADDRESS);
        static final MethodHandle PIPE2 = errnoCall("pipe2", JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle WAITPID = errnoCall("waitpid", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
        static final MethodHandle KILL = errnoCall("kill", JAVA_INT, JAVA_INT, JAVA_INT);
        static final MethodHandle FCNTL_INT =
                variadicErrnoCall("fcntl", 2, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    }

    /** {@code posix_spawn(pid, path, fileActions, attr, argv, envp)}: 0 or an error number (errno is not used). */
    public static int posixSpawn(MemorySegment pid, MemorySegment path, MemorySegment fileActions,
                                 MemorySegment attr, MemorySegment argv, MemorySegment envp) {
        try {
            return (int) Spawning.POSIX_SPAWN.invokeExact(pid, path, fileActions, attr, argv, envp);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrInit(MemorySegment attr) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_INIT.invokeExact(attr);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrDestroy(MemorySegment attr) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_DESTROY.invokeExact(attr);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrSetflags(MemorySegment attr, short flags) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_SETFLAGS.invokeExact(attr, flags);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrSetpgroup(MemorySegment attr, int pgroup) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_SETPGROUP.invokeExact(attr, pgroup);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrSetsigdefault(MemorySegment attr, MemorySegment sigset) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_SETSIGDEFAULT.invokeExact(attr, sigset);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnattrSetsigmask(MemorySegment attr, MemorySegment sigset) {
        try {
            return (int) Spawning.POSIX_SPAWNATTR_SETSIGMASK.invokeExact(attr, sigset);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnFileActionsInit(MemorySegment fileActions) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_INIT.invokeExact(fileActions);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnFileActionsDestroy(MemorySegment fileActions) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_DESTROY.invokeExact(fileActions);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. {@code path} is copied by libc, so it need not outlive the call. */
    public static int posixSpawnFileActionsAddopen(MemorySegment fileActions, int fd, MemorySegment path,
                                                   int oflag, int mode) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDOPEN.invokeExact(fileActions, fd, path, oflag, mode);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnFileActionsAdddup2(MemorySegment fileActions, int fd, int newfd) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDDUP2.invokeExact(fileActions, fd, newfd);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** 0 or an error number. */
    public static int posixSpawnFileActionsAddclose(MemorySegment fileActions, int fd) {
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDCLOSE.invokeExact(fileActions, fd);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** Whether this libc has {@code posix_spawn_file_actions_addclosefrom_np} (glibc >= 2.34). */
    public static boolean hasPosixSpawnFileActionsAddclosefrom() {
        return Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP != null;
    }

    /**
     * 0 or an error number; {@link Errno#ENOSYS} if libc lacks the function
     * (see {@link #hasPosixSpawnFileActionsAddclosefrom()}).
     */
    public static int posixSpawnFileActionsAddclosefrom(MemorySegment fileActions, int from) {
        if (Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP == null) {
            return Errno.ENOSYS;
        }
        try {
            return (int) Spawning.POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP.invokeExact(fileActions, from);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    public static int sigemptyset(MemorySegment sigset) {
        try {
            return (int) Spawning.SIGEMPTYSET.invokeExact(CallState.capture(), sigset);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    public static int sigfillset(MemorySegment sigset) {
        try {
            return (int) Spawning.SIGFILLSET.invokeExact(CallState.capture(), sigset);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** {@code pipe2(fds, flags)}; {@code fds} holds two ints: read end, write end. */
    public static int pipe2(MemorySegment fds, int flags) {
        try {
            return (int) Spawning.PIPE2.invokeExact(CallState.capture(), fds, flags);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** {@code waitpid(pid, status, options)}; {@code status} is an int or {@link MemorySegment#NULL}. */
    public static int waitpid(int pid, MemorySegment status, int options) {
        try {
            return (int) Spawning.WAITPID.invokeExact(CallState.capture(), pid, status, options);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** {@code kill(pid, sig)}; a negative {@code pid} signals the process group {@code -pid}. */
    public static int kill(int pid, int sig) {
        try {
            return (int) Spawning.KILL.invokeExact(CallState.capture(), pid, sig);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** {@code fcntl(fd, cmd, arg)} for the commands whose argument is an int (F_DUPFD_CLOEXEC, F_SETFD, ...). */
    public static int fcntl(int fd, int cmd, int arg) {
        try {
            return (int) Spawning.FCNTL_INT.invokeExact(CallState.capture(), fd, cmd, arg);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }
}
