package io.fanotifyd.daemon;

import io.fanotifyd.kernel.Libc;

import io.fanotifyd.kernel.Fanotify;
import io.fanotifyd.kernel.SessionCalls;
import io.fanotifyd.kernel.Syscalls;

import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * Diagnostics: one line per message, to stderr in the foreground, to {@code log_file} if set, else to syslog
 * once the daemon has detached. Never on the per-event path except for rare conditions.
 */
public final class Log {
    public static final int ERROR = 0;
    public static final int WARN = 1;
    public static final int INFO = 2;
    public static final int DEBUG = 3;

    private static final int LOG_PID = 0x01;
    private static final int LOG_DAEMON = 3 << 3;
    private static final int[] SYSLOG_PRIORITY = {3, 4, 6, 7};
    private static final String[] LABEL = {"error", "warning", "info", "debug"};

    /**
     * The longest line written, in characters: a message quoting a huge argument (a 1 MB path given as a mark)
     * is cut here, with the number of characters left out, instead of writing megabytes to the log.
     */
    static final int MAX_LINE_CHARS = 8192;

    private static volatile int level = WARN;
    private static volatile PrintStream stream = System.err;
    private static volatile String filePath;
    private static volatile boolean syslog;
    private static MemorySegment percentS;

    private Log() {}

    /** verbose 0 = errors and warnings, 1 = info, 2+ = debug. */
    public static void setVerbosity(int verbose) {
        level = Math.min(DEBUG, WARN + verbose);
    }

    public static boolean enabled(int lvl) {
        return lvl <= level;
    }

    /**
     * Sends diagnostics to a file (appended; any bytes in its name).
     *
     * @throws io.fanotifyd.kernel.NativeCallException if it cannot be opened
     */
    public static void toFile(String path) {
        stream = openFile(path);
        filePath = path;
        syslog = false;
    }

    private static PrintStream openFile(String path) {
        int fd = Syscalls.open(path, Fanotify.O_WRONLY | Fanotify.O_APPEND | Fanotify.O_CREAT | Fanotify.O_CLOEXEC,
                0640);
        return new PrintStream(new FdStream(fd), true, StandardCharsets.UTF_8);
    }

    /**
     * Reopens the log file by its path (after a rotation renamed it), if diagnostics go to one. The new file
     * is opened before the old one is closed; a message being written meanwhile lands whole in one of them
     * ({@code println} holds the stream's lock, and so does the close). If the path cannot be opened, the old
     * file stays in use and the reason is logged there.
     */
    public static void reopen() {
        String path = filePath;
        if (path != null) {
            switchTo(path, "reopen");
        }
    }

    /** Opens {@code path} as the log would and closes it again: a reload checks a new log file this way. */
    public static void checkFile(String path) {
        openFile(path).close();
    }

    /**
     * A reload's new log file: opened, then the old one closed, as for {@link #reopen()}; if it cannot be
     * opened the old one stays and the reason is logged there.
     */
    public static void moveTo(String path) {
        switchTo(path, "open");
    }

    /** {@code path} opened, then the old stream closed; if it cannot be opened, the old stays and says why. */
    private static void switchTo(String path, String verb) {
        PrintStream old = stream;
        try {
            stream = openFile(path);
        } catch (io.fanotifyd.kernel.NativeCallException e) {
            warn("cannot " + verb + " the log file " + path + ": " + e.getMessage()
                    + "; still writing to the old one");
            return;
        }
        filePath = path;
        synchronized (old) {
            old.close();
        }
    }

    /** An OutputStream over a raw fd: java.io cannot open a file whose name is not in the JVM's charset. */
    private static final class FdStream extends OutputStream {
        private final int fd;
        private boolean closed;

        FdStream(int fd) {
            this.fd = fd;
        }

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                Libc.close(fd);
            }
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            if (closed) {
                return;
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment seg = a.allocate(Math.max(1, len));
                MemorySegment.copy(b, off, seg, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, len);
                Syscalls.writeFully(fd, seg, len, "log file");
            } catch (RuntimeException e) {
                // nowhere left to report a failing log write
            }
        }
    }

    /** Sends diagnostics to syslog (facility daemon, ident "fanotifyd"). */
    public static synchronized void toSyslog() {
        Arena arena = Arena.global();
        SessionCalls.openlog(arena.allocateFrom("fanotifyd"), LOG_PID, LOG_DAEMON);
        percentS = arena.allocateFrom("%s");
        syslog = true;
    }

    public static void error(String msg) {
        log(ERROR, msg);
    }

    public static void warn(String msg) {
        log(WARN, msg);
    }

    public static void info(String msg) {
        log(INFO, msg);
    }

    public static void debug(String msg) {
        log(DEBUG, msg);
    }

    public static void log(int lvl, String msg) {
        if (lvl > level) {
            return;
        }
        String oneLine = capped(msg).replace('\n', ' ');
        if (syslog) {
            synchronized (Log.class) {
                try (Arena a = Arena.ofConfined()) {
                    SessionCalls.syslog(SYSLOG_PRIORITY[lvl], percentS, a.allocateFrom(oneLine));
                }
            }
            return;
        }
        PrintStream s = stream;
        if (s == System.err) {
            s.println("fanotifyd: " + (lvl == ERROR ? "" : LABEL[lvl] + ": ") + oneLine);
        } else {
            s.println(Instant.now() + " " + LABEL[lvl] + " " + oneLine);
        }
    }

    /** {@code msg}, cut to {@link #MAX_LINE_CHARS} with a note of how much was left out. */
    static String capped(String msg) {
        if (msg.length() <= MAX_LINE_CHARS) {
            return msg;
        }
        int keep = MAX_LINE_CHARS - 64;
        if (Character.isHighSurrogate(msg.charAt(keep - 1))) {
            keep--;
        }
        return msg.substring(0, keep) + "... (" + (msg.length() - keep) + " more characters)";
    }
}
