package io.fanotifyd.metrics;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;

/**
 * Where {@code --metrics} listens: {@code HOST:PORT} with a literal IPv4 address, {@code [IPV6]:PORT}, a bare
 * {@code PORT} (the IPv4 loopback), or a Unix socket path (absolute, or starting with {@code ./}). Host names
 * are refused: no name lookup at start-up, and no doubt about which interface is exposed. A wildcard address
 * ({@code 0.0.0.0}, {@code [::]}) is served only when given explicitly.
 */
public record MetricsAddress(SocketAddress address) {

    /** @throws IllegalArgumentException with a message that quotes {@code text} and says what is wrong */
    public static MetricsAddress parse(String text) {
        try {
            return parseUnquoted(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + text + "': " + e.getMessage());
        }
    }

    private static MetricsAddress parseUnquoted(String text) {
        if (text.isEmpty()) {
            throw new IllegalArgumentException("empty address");
        }
        if (text.startsWith("/") || text.startsWith("./") || text.startsWith("../")) {
            if (text.endsWith("/")) {
                throw new IllegalArgumentException("a Unix socket path cannot end in /");
            }
            return new MetricsAddress(UnixDomainSocketAddress.of(Path.of(text)));
        }
        String host;
        String port;
        if (text.startsWith("[")) {
            int close = text.indexOf(']');
            if (close < 0 || close + 1 >= text.length() || text.charAt(close + 1) != ':') {
                throw new IllegalArgumentException("expected [IPV6]:PORT");
            }
            host = text.substring(1, close);
            port = text.substring(close + 2);
            if (!host.contains(":")) {
                throw new IllegalArgumentException("not an IPv6 address: " + host);
            }
        } else {
            int colon = text.lastIndexOf(':');
            if (colon < 0) {
                host = "127.0.0.1";
                port = text;
            } else {
                host = text.substring(0, colon);
                port = text.substring(colon + 1);
                if (host.contains(":")) {
                    throw new IllegalArgumentException("an IPv6 address goes in brackets: [" + host + "]:" + port);
                }
                if (!host.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}")
                        || java.util.Arrays.stream(host.split("\\.")).anyMatch(o -> Integer.parseInt(o) > 255)) {
                    throw new IllegalArgumentException("not an IP address: " + host + " (host names are not"
                            + " looked up: use 127.0.0.1, [::1] or the interface's address)");
                }
            }
        }
        if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) > 65535) {
            throw new IllegalArgumentException("not a port (0..65535): " + port);
        }
        InetAddress ip;
        try {
            ip = InetAddress.getByName(host); // a literal only (checked above): no lookup
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("not an IP address: " + host);
        }
        return new MetricsAddress(new InetSocketAddress(ip, Integer.parseInt(port)));
    }

    public boolean isUnix() {
        return address instanceof UnixDomainSocketAddress;
    }

    /** Listening on every interface: said in the log, since the figures then leave the host. */
    public boolean isWildcard() {
        return address instanceof InetSocketAddress a && a.getAddress().isAnyLocalAddress();
    }

    /** As an operator writes it: {@code 127.0.0.1:9464}, {@code [::1]:9464}, or the path. */
    public static String describe(SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            String h = i.getAddress().getHostAddress();
            return (h.contains(":") ? "[" + h + "]" : h) + ":" + i.getPort();
        }
        return a instanceof UnixDomainSocketAddress u ? u.getPath().toString() : String.valueOf(a);
    }
}
