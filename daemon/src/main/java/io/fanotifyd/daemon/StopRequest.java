package io.fanotifyd.daemon;

import sun.misc.Signal;

/**
 * SIGTERM and SIGINT, handled from the start of a run: a stop asked for while the daemon is still starting
 * (warming up, placing marks) is remembered and honoured as soon as the event loop exists, so it still ends
 * with exit 0, its output written and its pid file and socket removed.
 */
final class StopRequest {
    private volatile boolean requested;
    private volatile EventLoop loop;

    void install() {
        Signal.handle(new Signal("TERM"), s -> request());
        Signal.handle(new Signal("INT"), s -> request());
        Signal.handle(new Signal("HUP"), s -> Log.warn("SIGHUP ignored: reloading is not supported; restart"));
    }

    private void request() {
        requested = true;
        EventLoop l = loop;
        if (l != null) {
            l.stop();
        }
    }

    void attach(EventLoop l) {
        loop = l;
        if (requested) {
            l.stop();
        }
    }
}
