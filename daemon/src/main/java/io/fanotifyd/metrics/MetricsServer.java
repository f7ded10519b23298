package io.fanotifyd.metrics;

import java.io.IOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A minimal HTTP/1.1 server for {@code GET /metrics}, on one thread with one selector, over TCP or a Unix
 * socket alike. Each connection is one request: its answer is sent with {@code Connection: close}.
 *
 * <p>Written here rather than taken from the JDK's {@code com.sun.net.httpserver} (which serves no Unix socket,
 * and adds a module to the runtime image and a dispatcher plus an executor's threads) or from the Prometheus
 * client library (measured at +100–165 ms of cold start and +12 threads): a scrape is one request line, and
 * what is answered is built by the caller. A client that sends nothing holds only its own connection, for
 * at most {@link #REQUEST_TIMEOUT_MS}; beyond {@link #MAX_CONNECTIONS} at once new ones are closed at once.
 * Nothing the daemon's event or permission threads do waits for this thread.
 */
public final class MetricsServer implements AutoCloseable {
    static final int MAX_CONNECTIONS = 16;
    static final int MAX_REQUEST_BYTES = 8192;
    static final long REQUEST_TIMEOUT_MS = 5_000;

    private final ServerSocketChannel server;
    private final Selector selector;
    private final SocketAddress local;
    private volatile Supplier<byte[]> metrics;
    private final Consumer<String> log;
    private final Thread thread;
    private volatile boolean closing;
    private int connections;
    private volatile long served;
    private boolean failureLogged;

    private MetricsServer(ServerSocketChannel server, Selector selector, Consumer<String> log) throws IOException {
        this.server = server;
        this.selector = selector;
        this.local = server.getLocalAddress();
        this.log = log;
        this.thread = Thread.ofPlatform().daemon().name("fanotifyd-metrics").unstarted(this::run);
    }

    /**
     * Binds and listens (so that an address in use is an error of the start-up, not later); serving starts with
     * {@link #start}. A Unix socket's path must not exist.
     */
    public static MetricsServer open(MetricsAddress address, Consumer<String> log) throws IOException {
        ServerSocketChannel ch = address.isUnix() ? ServerSocketChannel.open(StandardProtocolFamily.UNIX)
                : ServerSocketChannel.open();
        try {
            if (!address.isUnix()) {
                ch.setOption(StandardSocketOptions.SO_REUSEADDR, true); // a restart finds the port in TIME_WAIT
            }
            ch.bind(address.address(), MAX_CONNECTIONS);
            ch.configureBlocking(false);
            Selector selector = Selector.open();
            ch.register(selector, SelectionKey.OP_ACCEPT);
            return new MetricsServer(ch, selector, log);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** Where it listens (with the port the kernel chose for port 0). */
    public SocketAddress localAddress() {
        return local;
    }

    /**
     * Serves from now on; connections made since {@link #open} were queued and are answered now.
     *
     * @param metrics builds the exposition for one scrape, on the server's thread
     */
    public void start(Supplier<byte[]> metrics) {
        this.metrics = metrics;
        thread.start();
    }

    /** Scrapes answered so far. */
    public long served() {
        return served;
    }

    private void run() {
        try {
            while (!closing) {
                selector.select(1_000);
                for (SelectionKey key : selector.selectedKeys()) {
                    handle(key);
                }
                selector.selectedKeys().clear();
                expire(System.nanoTime());
            }
        } catch (IOException | RuntimeException e) {
            if (!closing) {
                log.accept("metrics: the server stopped: " + e);
            }
        }
    }

    private void handle(SelectionKey key) throws IOException {
        if (!key.isValid()) {
            return;
        }
        if (key.isAcceptable()) {
            SocketChannel c;
            while ((c = server.accept()) != null) {
                if (connections >= MAX_CONNECTIONS) {
                    c.close();
                    continue;
                }
                c.configureBlocking(false);
                connections++;
                c.register(selector, SelectionKey.OP_READ, new Connection(System.nanoTime()));
            }
            return;
        }
        Connection conn = (Connection) key.attachment();
        SocketChannel c = (SocketChannel) key.channel();
        try {
            if (key.isReadable()) {
                read(key, c, conn);
            } else if (key.isWritable()) {
                write(key, c, conn);
            }
        } catch (IOException e) {
            close(key); // the client went away
        }
    }

    private void read(SelectionKey key, SocketChannel c, Connection conn) throws IOException {
        int n = c.read(conn.request);
        int end = headEnd(conn.request);
        if (end < 0) {
            if (n < 0) {
                close(key);
            } else if (!conn.request.hasRemaining()) {
                respond(key, conn, Http.answer(431, "Request Header Fields Too Large", "request too large\n", false));
            }
            return;
        }
        respond(key, conn, answer(new String(conn.request.array(), 0, end, StandardCharsets.ISO_8859_1)));
    }

    /** The answer to a request head (its first line decides). */
    private byte[] answer(String head) {
        String line = head.lines().findFirst().orElse("");
        String[] parts = line.split(" ");
        if (parts.length != 3 || !parts[2].startsWith("HTTP/1.")) {
            return Http.answer(400, "Bad Request", "bad request\n", false);
        }
        boolean headOnly = parts[0].equals("HEAD");
        if (!headOnly && !parts[0].equals("GET")) {
            return Http.answer(405, "Method Not Allowed", "only GET and HEAD\n", false);
        }
        String path = parts[1];
        int query = path.indexOf('?');
        if (query >= 0) {
            path = path.substring(0, query);
        }
        if (path.equals("/")) {
            return Http.answer(200, "OK", "fanotifyd: the metrics are at /metrics\n", headOnly);
        }
        if (!path.equals("/metrics")) {
            return Http.answer(404, "Not Found", "not found; the metrics are at /metrics\n", headOnly);
        }
        byte[] body;
        try {
            body = metrics.get();
        } catch (RuntimeException e) {
            if (!failureLogged) {
                failureLogged = true;
                log.accept("metrics: building the exposition failed: " + e);
            }
            return Http.answer(500, "Internal Server Error", "the metrics could not be built\n", false);
        }
        served++;
        return Http.answer(200, "OK", PrometheusText.CONTENT_TYPE, body, headOnly);
    }

    private void respond(SelectionKey key, Connection conn, byte[] response) {
        conn.response = ByteBuffer.wrap(response);
        key.interestOps(SelectionKey.OP_WRITE);
    }

    private void write(SelectionKey key, SocketChannel c, Connection conn) throws IOException {
        c.write(conn.response);
        if (!conn.response.hasRemaining()) {
            close(key);
        }
    }

    /** Where the request head ends ({@code \r\n\r\n} or a bare {@code \n\n}), or -1 if it has not yet. */
    static int headEnd(ByteBuffer b) {
        byte[] a = b.array();
        for (int i = 1; i < b.position(); i++) {
            if (a[i] == '\n' && (a[i - 1] == '\n' || (i >= 3 && a[i - 1] == '\r' && a[i - 2] == '\n'
                    && a[i - 3] == '\r'))) {
                return i + 1;
            }
        }
        return -1;
    }

    private void expire(long nowNs) {
        for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof Connection conn
                    && nowNs - conn.startNs > REQUEST_TIMEOUT_MS * 1_000_000L) {
                close(key);
            }
        }
    }

    private void close(SelectionKey key) {
        key.cancel();
        try {
            key.channel().close();
        } catch (IOException ignored) {
            // closing a client's socket: nothing left to do with it
        }
        connections--;
    }

    /** Stops serving (bounded), closes the socket, and removes a Unix socket's file. */
    @Override
    public void close() {
        closing = true;
        selector.wakeup();
        if (thread.isAlive()) {
            try {
                thread.join(2_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            for (SelectionKey key : selector.keys()) {
                key.channel().close();
            }
            selector.close();
            server.close();
            if (local instanceof UnixDomainSocketAddress u) {
                Files.deleteIfExists(u.getPath());
            }
        } catch (IOException e) {
            log.accept("metrics: closing: " + e);
        }
    }

    private static final class Connection {
        final long startNs;
        final ByteBuffer request = ByteBuffer.allocate(MAX_REQUEST_BYTES);
        ByteBuffer response;

        Connection(long startNs) {
            this.startNs = startNs;
        }
    }

    /** HTTP/1.1 responses, whole. */
    static final class Http {
        private Http() {}

        static byte[] answer(int status, String reason, String text, boolean headOnly) {
            return answer(status, reason, "text/plain; charset=utf-8", text.getBytes(StandardCharsets.UTF_8),
                    headOnly);
        }

        static byte[] answer(int status, String reason, String contentType, byte[] body, boolean headOnly) {
            byte[] head = ("HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: " + contentType
                    + "\r\nContent-Length: " + body.length + "\r\nConnection: close\r\n"
                    + (status == 405 ? "Allow: GET, HEAD\r\n" : "") + "\r\n").getBytes(StandardCharsets.US_ASCII);
            if (headOnly) {
                return head;
            }
            byte[] all = java.util.Arrays.copyOf(head, head.length + body.length);
            System.arraycopy(body, 0, all, head.length, body.length);
            return all;
        }
    }
}
