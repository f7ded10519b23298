package io.fanotifyd.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The scrape server over TCP and a Unix socket: what it answers, and that a silent client blocks nobody. */
class MetricsServerTest {
    private final List<String> log = new CopyOnWriteArrayList<>();
    private final AtomicInteger scrapes = new AtomicInteger();

    private MetricsServer serve(String address) throws IOException {
        MetricsServer s = MetricsServer.open(MetricsAddress.parse(address), log::add);
        s.start(() -> ("fanotifyd_scrapes_total " + scrapes.incrementAndGet() + "\n")
                .getBytes(StandardCharsets.UTF_8));
        return s;
    }

    /** One request, the whole answer (the server closes the connection after it); bounded by the socket. */
    static String exchange(SocketAddress to, String request) throws IOException {
        try (SocketChannel c = SocketChannel.open(to)) {
            c.write(ByteBuffer.wrap(request.getBytes(StandardCharsets.ISO_8859_1)));
            return readAll(c);
        }
    }

    /** Reads until the server closes, for at most 10 s. */
    private static String readAll(SocketChannel c) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        c.configureBlocking(false);
        long deadline = System.nanoTime() + 10_000_000_000L;
        try (Selector sel = Selector.open()) {
            c.register(sel, SelectionKey.OP_READ);
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    throw new AssertionError("no whole answer within 10 s: " + new String(b.array(), 0,
                            b.position(), StandardCharsets.UTF_8));
                }
                sel.select(left);
                sel.selectedKeys().clear();
                if (c.read(b) < 0) {
                    return new String(b.array(), 0, b.position(), StandardCharsets.UTF_8);
                }
                if (!b.hasRemaining()) {
                    throw new IOException("answer larger than 64 KiB");
                }
            }
        }
    }

    @Test
    void servesMetricsOverTcp() throws IOException {
        try (MetricsServer s = serve("127.0.0.1:0")) {
            String a = exchange(s.localAddress(), "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
            assertTrue(a.startsWith("HTTP/1.1 200 OK\r\n"), a);
            assertTrue(a.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), a);
            assertTrue(a.contains("\r\nContent-Length: 26\r\n"), a);
            assertTrue(a.endsWith("\r\n\r\nfanotifyd_scrapes_total 1\n"), a);
            String b = exchange(s.localAddress(), "GET /metrics?x=1 HTTP/1.0\n\n");
            assertTrue(b.endsWith("fanotifyd_scrapes_total 2\n"), "a query and bare line feeds: " + b);
            assertEquals(2, s.served());
        }
    }

    @Test
    void answersOtherRequestsWithoutBuildingMetrics() throws IOException {
        try (MetricsServer s = serve("127.0.0.1:0")) {
            assertTrue(exchange(s.localAddress(), "GET /other HTTP/1.1\r\n\r\n").startsWith("HTTP/1.1 404 "));
            String post = exchange(s.localAddress(), "POST /metrics HTTP/1.1\r\n\r\n");
            assertTrue(post.startsWith("HTTP/1.1 405 ") && post.contains("\r\nAllow: GET, HEAD\r\n"), post);
            assertTrue(exchange(s.localAddress(), "nonsense\r\n\r\n").startsWith("HTTP/1.1 400 "));
            String head = exchange(s.localAddress(), "HEAD /metrics HTTP/1.1\r\n\r\n");
            assertTrue(head.startsWith("HTTP/1.1 200 ") && head.endsWith("\r\n\r\n"), "no body for HEAD: " + head);
            assertTrue(exchange(s.localAddress(), "GET / HTTP/1.1\r\n\r\n").contains("/metrics"));
            String big = exchange(s.localAddress(), "GET /metrics HTTP/1.1\r\nX: " + "y".repeat(9000) + "\r\n\r\n");
            assertTrue(big.startsWith("HTTP/1.1 431 "), big);
            assertEquals(1, scrapes.get(), "only the HEAD of /metrics built the figures");
        }
    }

    @Test
    void silentClientsDoNotHoldUpAScrape() throws IOException {
        try (MetricsServer s = serve("127.0.0.1:0")) {
            List<SocketChannel> silent = new ArrayList<>();
            try {
                for (int i = 0; i < MetricsServer.MAX_CONNECTIONS - 1; i++) {
                    SocketChannel c = SocketChannel.open(s.localAddress());
                    c.write(ByteBuffer.wrap("GET /met".getBytes(StandardCharsets.US_ASCII))); // and no more
                    silent.add(c);
                }
                String a = exchange(s.localAddress(), "GET /metrics HTTP/1.1\r\n\r\n");
                assertTrue(a.endsWith("fanotifyd_scrapes_total 1\n"), a);
            } finally {
                for (SocketChannel c : silent) {
                    c.close();
                }
            }
        }
    }

    @Test
    void unixSocketIsServedAndRemovedOnClose(@TempDir Path dir) throws IOException {
        Path sock = dir.resolve("metrics.sock");
        MetricsServer s = serve(sock.toString());
        try {
            assertTrue(Files.exists(sock));
            try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                c.connect(UnixDomainSocketAddress.of(sock));
                c.write(ByteBuffer.wrap("GET /metrics HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
                String a = readAll(c);
                assertTrue(a.endsWith("fanotifyd_scrapes_total 1\n"), a);
            }
        } finally {
            s.close();
        }
        assertFalse(Files.exists(sock), "the socket file is removed");
    }

    @Test
    void anAddressInUseIsRefusedAtOpen() throws IOException {
        try (MetricsServer s = serve("127.0.0.1:0")) {
            String taken = MetricsAddress.describe(s.localAddress());
            IOException e = assertThrows(IOException.class, () -> MetricsServer.open(MetricsAddress.parse(taken),
                    log::add));
            assertTrue(e.getMessage().toLowerCase().contains("in use"), e.getMessage());
        }
    }

    @Test
    void aFailingBuildIsA500AndOneLogLine() throws IOException {
        try (MetricsServer s = MetricsServer.open(MetricsAddress.parse("127.0.0.1:0"), log::add)) {
            s.start(() -> {
                throw new IllegalStateException("boom");
            });
            assertTrue(exchange(s.localAddress(), "GET /metrics HTTP/1.1\r\n\r\n").startsWith("HTTP/1.1 500 "));
            assertTrue(exchange(s.localAddress(), "GET /metrics HTTP/1.1\r\n\r\n").startsWith("HTTP/1.1 500 "));
            assertEquals(1, log.size(), log.toString());
            assertTrue(log.getFirst().contains("boom"), log.toString());
        }
    }
}
