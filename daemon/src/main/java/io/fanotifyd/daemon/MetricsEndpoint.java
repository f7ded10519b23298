package io.fanotifyd.daemon;

import io.fanotifyd.kernel.UnixSocket;
import io.fanotifyd.metrics.MetricsAddress;
import io.fanotifyd.metrics.MetricsServer;
import io.fanotifyd.metrics.PrometheusText;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;

/** {@code --metrics}: the server bound at start-up (or refused with the flag's name), then serving. */
public final class MetricsEndpoint {
    private MetricsEndpoint() {}

    /** Bound and listening, not serving yet; null without {@code --metrics}. */
    static MetricsServer open(Optional<MetricsAddress> address) {
        return open(address, "--metrics");
    }

    /** As {@link #open(Optional)}, for the option {@code flag} (named in errors and warnings). */
    public static MetricsServer open(Optional<MetricsAddress> address, String flag) {
        if (address.isEmpty()) {
            return null;
        }
        MetricsAddress a = address.get();
        String name = MetricsAddress.describe(a.address());
        if (a.address() instanceof UnixDomainSocketAddress u) {
            replaceStale(u.getPath(), flag + " " + name);
        }
        try {
            MetricsServer server = MetricsServer.open(a, Log::warn);
            if (a.isWildcard()) {
                Log.warn(flag + " " + name + ": served on every interface; the figures are readable from other"
                        + " hosts");
            }
            return server;
        } catch (IOException | RuntimeException e) {
            String why = e.getMessage() == null ? e.toString() : e.getMessage();
            throw new StartupException(flag + " " + name + ": " + why);
        }
    }

    /** Serves {@code metrics}' figures from now on, and says where. */
    static void start(MetricsServer server, DaemonMetrics metrics) {
        start(server, w -> metrics.describe(w, 0));
    }

    /** Serves the figures {@code describe} tells a writer, from now on, and says where. */
    public static void start(MetricsServer server, java.util.function.Consumer<io.fanotifyd.metrics.MetricsWriter> describe) {
        server.start(() -> {
            PrometheusText text = new PrometheusText();
            describe.accept(text);
            return text.bytes();
        });
        Log.info("metrics: serving http://" + MetricsAddress.describe(server.localAddress()) + "/metrics"
                + (server.localAddress() instanceof UnixDomainSocketAddress ? " (on a Unix socket)" : ""));
    }

    /** A socket file nobody listens on is left over from a daemon that died: it goes; anything else is refused. */
    private static void replaceStale(Path path, String name) {
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        boolean socket;
        try {
            socket = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS).isOther();
        } catch (IOException e) {
            throw new StartupException(name + ": " + e.getMessage());
        }
        if (!socket || UnixSocket.isAlive(path.toString())) {
            throw new StartupException(name + ": exists" + (socket ? " and a process listens on it"
                    : " and is not a socket"));
        }
        try {
            Files.delete(path);
            Log.info(name + ": replaced a stale socket file (nobody was listening on it)");
        } catch (IOException e) {
            throw new StartupException(name + ": a stale socket file could not be removed: " + e);
        }
    }
}
