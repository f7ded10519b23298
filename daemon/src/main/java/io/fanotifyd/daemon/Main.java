package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.Action;
import io.fanotifyd.daemon.options.HelpText;
import io.fanotifyd.daemon.options.OptionParser;
import io.fanotifyd.daemon.options.Settings;
import io.fanotifyd.daemon.options.UsageException;
import io.fanotifyd.kernel.Libc;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;


/**
 * Entry point. Exit codes: 0 success, 2 usage or configuration error, 1 failure at start-up or while running.
 * Errors are one line on stderr (or the log), never a stack trace unless {@code -vv}.
 */
public final class Main {
    public static final String VERSION = "0.1.0";

    private Main() {}

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /**
     * {@code --forward}: the forwarder, whose classes and Kafka client the launcher puts on the class path only
     * for this mode, so that the daemon never loads them (docs/FLEET.md).
     */
    private static int forward(Settings settings) throws ReflectiveOperationException {
        Class<?> c;
        try {
            c = Class.forName("io.fanotifyd.forward.ForwardMain");
        } catch (ClassNotFoundException e) {
            throw new UsageException("--forward: the forwarder is not installed here (it runs through the"
                    + " fanotifyd launcher, with the Kafka client in its forward/ directory)");
        }
        try {
            return (int) c.getMethod("run", Settings.class).invoke(null, settings);
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r; // UsageException and StartupException keep their exit codes
            }
            if (e.getCause() instanceof java.io.IOException io) {
                throw new StartupException("--forward: " + io.getMessage());
            }
            throw e;
        }
    }

    static int run(String[] args) {
        int verbosity = 0;
        try {
            String[] rawArgs = RawArguments.of(args);
            String cwd = Syscalls.realPath(".");
            Settings settings = OptionParser.parse(rawArgs, cwd);
            verbosity = settings.verbosity();
            if (settings.action() == Action.HELP) {
                System.out.print(HelpText.render());
                return 0;
            }
            if (settings.action() == Action.VERSION) {
                System.out.println("fanotifyd " + VERSION);
                return 0;
            }
            if (settings.fleet().forward()) {
                return forward(settings);
            }
            if (settings.subscribe().isPresent()) {
                return Subscribe.run(settings.subscribe().get());
            }
            if (!settings.hasMarks()) {
                throw new UsageException("nothing to watch: give --watch, --mount or --filesystem (see --help)");
            }
            Log.setVerbosity(verbosity);
            if (settings.logFile().isPresent()) {
                try {
                    Log.toFile(settings.logFile().get());
                } catch (NativeCallException e) {
                    throw new StartupException("--log-file " + settings.logFile().get() + ": " + e.getMessage());
                }
            }
            boolean detachedChild = Detach.isDetachedChild();
            if (!settings.foreground() && !detachedChild) {
                if (settings.outputIsStdout() && Libc.isatty(1) == 1) {
                    throw new UsageException("records would go to the terminal the daemon leaves: give --output PATH,"
                            + " redirect stdout, or use --foreground");
                }
                return Detach.spawnAndWait(rawArgs);
            }
            return new Daemon(settings, detachedChild && !settings.foreground(), rawArgs, cwd).run();
        } catch (UsageException e) {
            System.err.println("fanotifyd: " + Log.capped(e.getMessage()).replace('\n', ' '));
            return 2;
        } catch (StartupException | NativeCallException e) {
            Log.error(e.getMessage());
            return 1;
        } catch (Exception | Error e) {
            Log.error("internal error: " + e);
            if (verbosity >= 2) {
                e.printStackTrace();
            }
            return 1;
        }
    }
}
