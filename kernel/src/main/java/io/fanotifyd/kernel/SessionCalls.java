package io.fanotifyd.kernel;

import static io.fanotifyd.kernel.Downcalls.LINKER;
import static io.fanotifyd.kernel.Downcalls.errnoCall;
import static io.fanotifyd.kernel.Downcalls.plainCall;
import static io.fanotifyd.kernel.Downcalls.symbol;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * What a daemon does to its own process once: leave the terminal's session ({@code setsid}, {@code dup2},
 * {@code chdir}), log to syslog, reset inherited signal dispositions. Each group linked on first use, so a
 * foreground daemon without syslog links none of it. Errors through {@link Libc#errno()}.
 */
public final class SessionCalls {
    private SessionCalls() {}

    /** Detaching and syslog. */
    private static final class Daemonizing {
        static final MethodHandle SETSID = errnoCall("setsid", JAVA_INT);
        static final MethodHandle DUP2 = errnoCall("dup2", JAVA_INT, JAVA_INT, JAVA_INT);
        static final MethodHandle CHDIR = errnoCall("chdir", JAVA_INT, ADDRESS);
        static final MethodHandle OPENLOG = plainCall("openlog", null, ADDRESS, JAVA_INT, JAVA_INT);
        static final MethodHandle SYSLOG = LINKER.downcallHandle(symbol("syslog"),
                FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, ADDRESS), Linker.Option.firstVariadicArg(2));
    }

    /** Signal dispositions: reset at start-up, only when one was inherited ignored. */
    private static final class SignalDispositions {
        static final MethodHandle SIGNAL = errnoCall("signal", ADDRESS, JAVA_INT, ADDRESS);
    }

    /** {@code signal(sig, SIG_DFL)}: 0, or -1 with {@link Libc#errno()}. */
    public static int signalDefault(int sig) {
        try {
            MemorySegment prev = (MemorySegment) SignalDispositions.SIGNAL.invokeExact(CallState.capture(), sig,
                    MemorySegment.NULL);
            return prev.address() == -1L ? -1 : 0; // SIG_ERR
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    public static int setsid() {
        try {
            return (int) Daemonizing.SETSID.invokeExact(CallState.capture());
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    public static int dup2(int oldfd, int newfd) {
        try {
            return (int) Daemonizing.DUP2.invokeExact(CallState.capture(), oldfd, newfd);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    public static int chdir(MemorySegment path) {
        try {
            return (int) Daemonizing.CHDIR.invokeExact(CallState.capture(), path);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** {@code openlog(ident, option, facility)}; {@code ident} must stay allocated for the process's life. */
    public static void openlog(MemorySegment ident, int option, int facility) {
        try {
            Daemonizing.OPENLOG.invokeExact(ident, option, facility);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }

    /** {@code syslog(priority, "%s", message)}: the message is never used as a format. */
    public static void syslog(int priority, MemorySegment format, MemorySegment message) {
        try {
            Daemonizing.SYSLOG.invokeExact(priority, format, message);
        } catch (Throwable t) {
            throw CallState.rethrow(t);
        }
    }
}
