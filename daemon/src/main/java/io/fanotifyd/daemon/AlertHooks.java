package io.fanotifyd.daemon;

import io.fanotifyd.enrich.Event;
import io.fanotifyd.enrich.PathRef;
import io.fanotifyd.enrich.ProcessInfo;
import io.fanotifyd.kernel.PathCodec;
import io.fanotifyd.policy.Alerts;
import io.fanotifyd.policy.HookCooldown;
import io.fanotifyd.sink.HookRunner;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Starts the user's hook for alerts: at most once per process and alert kind per cooldown, never for events
 * caused by a hook's own processes (so a hook that touches a canary cannot start an alert → hook loop; the
 * alert is still recorded), and always through {@link HookRunner}'s queue, so the event thread never waits.
 *
 * <p>Environment: {@code FAN_KIND, FAN_PID, FAN_COMM, FAN_EXE, FAN_PATH, FAN_REASON} as in the specification,
 * plus {@code FAN_TS_MS}, {@code FAN_EVENT_SEQ} (the {@code seq} of the event record), {@code FAN_JOB_ID},
 * {@code FAN_PATH_ROLE}, who the process was as in the record ({@code FAN_UID, FAN_GID, FAN_EUID, FAN_EGID,
 * FAN_PPID, FAN_CGROUP}), and for bursts {@code FAN_COUNT} and {@code FAN_WINDOW_MS}. Unknown values are empty strings. Values are the exact bytes.
 */
final class AlertHooks implements AutoCloseable {
    private final HookRunner runner;
    private final HookCooldown cooldown;
    private final MemorySegment pathBuf = Arena.global().allocate(8192);
    private long suppressedByCooldown;
    private long suppressedHookOwn;

    private final int selfPid;

    AlertHooks(HookRunner runner, HookCooldown cooldown, int selfPid) {
        this.selfPid = selfPid;
        this.runner = runner;
        this.cooldown = cooldown;
    }

    private static String id(int id) {
        return id == -1 ? "" : Long.toString(id & 0xffff_ffffL);
    }

    /** Synchronised: the notification and permission threads both raise alerts. */
    synchronized void onAlerts(Event ev, Alerts alerts, long eventSeq, long nowMs) {
        ProcessInfo p = ev.process();
        // Hooks are the daemon's only children, so a child of ours is a hook, even before its worker thread
        // has registered its process group; a hook's shell leads its own group, so its pid is a hook group
        // too, which catches a hook that had already exited when its own event was read; and the group
        // catches what the hook started.
        if ((p != null && (p.parentPid() == selfPid || runner.isHookProcessGroup(p.processGroup())))
                || runner.isHookProcessGroup(ev.pid())) {
            suppressedHookOwn += alerts.size();
            return;
        }
        long startTime = p == null ? -1 : p.startTime();
        for (int i = 0; i < alerts.size(); i++) {
            if (!cooldown.tryAcquire(ev.pid(), startTime, alerts.kind(i), nowMs)) {
                suppressedByCooldown++;
                continue;
            }
            Map<String, String> env = new LinkedHashMap<>();
            env.put("FAN_KIND", alerts.kind(i));
            env.put("FAN_PID", Integer.toString(ev.pid()));
            env.put("FAN_COMM", p == null || p.commLength() < 0 ? "" : PathCodec.decode(p.comm(), 0, p.commLength()));
            env.put("FAN_EXE", p == null || p.exeLength() < 0 ? "" : PathCodec.decode(p.exe(), 0, p.exeLength()));
            env.put("FAN_PATH", path(alerts.path(i)));
            env.put("FAN_REASON", alerts.reason(i));
            env.put("FAN_TS_MS", Long.toString(ev.tsMs()));
            env.put("FAN_EVENT_SEQ", Long.toString(eventSeq));
            io.fanotifyd.enrich.JobIndex.Root job = ev.jobOf(alerts.path(i));
            env.put("FAN_JOB_ID", job == null ? "" : job.jobId());
            env.put("FAN_PATH_ROLE", job == null ? "" : job.role());
            env.put("FAN_UID", id(p == null ? -1 : p.uid()));
            env.put("FAN_GID", id(p == null ? -1 : p.gid()));
            env.put("FAN_EUID", id(p == null ? -1 : p.euid()));
            env.put("FAN_EGID", id(p == null ? -1 : p.egid()));
            env.put("FAN_PPID", id(p == null ? -1 : p.parentPid()));
            env.put("FAN_CGROUP", p == null || p.cgroup() == null ? "" : PathCodec.decode(p.cgroup(), 0,
                    p.cgroup().length));
            if (Alerts.BURST.equals(alerts.kind(i))) {
                env.put("FAN_COUNT", Integer.toString(alerts.count(i)));
                env.put("FAN_WINDOW_MS", Long.toString(alerts.windowMs(i)));
            }
            if (!runner.submit(env)) {
                // A flood of alerts would write one line each: one per 10 s, with the count of the others.
                notRun.log("hook not run for a " + alerts.kind(i) + " alert (pid " + ev.pid()
                        + "): too many hooks waiting");
            }
        }
    }

    private String path(PathRef ref) {
        int len = ref.copyTo(pathBuf);
        return len < 0 ? "" : PathCodec.decode(pathBuf.asSlice(0, len).toArray(ValueLayout.JAVA_BYTE));
    }

    long suppressedByCooldown() {
        return suppressedByCooldown;
    }

    long suppressedHookOwn() {
        return suppressedHookOwn;
    }

    HookRunner runner() {
        return runner;
    }

    private final LogLimiter notRun = new LogLimiter(Log.WARN, 10_000);

    @Override
    public void close() {
        notRun.flush("\"hook not run\" warnings");
        runner.close();
    }
}
