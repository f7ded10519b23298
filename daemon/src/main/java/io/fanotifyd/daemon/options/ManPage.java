package io.fanotifyd.daemon.options;

import java.util.Arrays;
import java.util.List;

/**
 * The manual page fanotifyd(8), in man(7) roff, generated from {@link Option} like {@code --help}, so that
 * neither can drift from what the parser accepts. {@code make} writes it to {@code build/man/fanotifyd.8}.
 *
 * <p>Everything taken from the option table goes through {@link #text}, which escapes what roff would read
 * as markup: a backslash, a dot or quote at the start of a line, and the hyphens of flags (written {@code \-},
 * so that they render as the ASCII minus a reader types).
 */
public final class ManPage {
    private ManPage() {}

    /** Prints the page: {@code java -cp app.jar io.fanotifyd.daemon.options.ManPage VERSION DATE}. */
    public static void main(String[] args) {
        System.out.print(render(args.length > 0 ? args[0] : "", args.length > 1 ? args[1] : ""));
    }

    /** The whole page. */
    public static String render(String version, String date) {
        StringBuilder m = new StringBuilder();
        m.append(".\\\" Generated from the option table (io.fanotifyd.daemon.options.Option); do not edit.\n");
        m.append(".TH FANOTIFYD 8 \"").append(text(date)).append("\" \"fanotifyd ").append(text(version))
                .append("\" \"System Administration\"\n");
        m.append(".nh\n.ad l\n"); // no hyphenation (flags and paths must stay whole), ragged right
        section(m, "NAME");
        m.append("fanotifyd \\- file event and policy daemon on fanotify(7), writing JSON Lines\n");
        section(m, "SYNOPSIS");
        m.append(".B fanotifyd\n.RI [ OPTION ]...\n.br\n.B fanotifyd \\-\\-subscribe\n.I PATH\n.br\n"
                + ".B fanotifyd \\-\\-forward\n.RI [ OPTION ]...\n");
        section(m, "DESCRIPTION");
        para(m, "fanotifyd watches directories, mounts or whole filesystems with fanotify(7) marks and writes one "
                + "JSON object per line for every file event: who (pid, comm, exe), what (the kernel's event "
                + "mask and its names) and where (path and name, also for creates, deletes and renames). It can "
                + "tag events with a job and a path role, raise alerts when a canary file is touched or a "
                + "process bursts through many writes, run a hook on alerts, stream the records to Unix-socket "
                + "subscribers, and, in permission mode, deny the opens that raise alerts.");
        para(m, "A --mount mark reports only what was done through that one mount, under the path it was done "
                + "through: opens, reads, writes and closes from a mount mark. The kernel cannot tell through "
                + "which mount a create, delete, rename or attribute change was made: --mount reports those only "
                + "in directories no other mount of the filesystem shows (a warning names the others; use "
                + "--filesystem or --watch for them). A workload in a mount namespace of its own (a container, "
                + "unshare -m, pivot_root) works on copies of the mount that a mount mark does not cover: mark its "
                + "filesystem with --filesystem.");
        para(m, "Without --foreground it detaches, and the command returns once every mark is in place. Under "
                + "systemd it runs in the foreground as a Type=notify service and tells systemd when it is "
                + "ready.");
        para(m, "It needs root, or CAP_SYS_ADMIN, and Linux 5.17 or newer.");
        para(m, "With --forward it is the forwarder instead: a process of its own, beside the daemon and reading "
                + "the same config file, that carries the records of --output, and of the files its rotation "
                + "makes, into a Kafka topic at least once. It keeps a checkpoint (--forward-state) written only "
                + "after the broker acknowledged, resumes from it after a broker outage or a restart, and counts "
                + "the records rotation removed before they were forwarded. It needs no privilege but reading the "
                + "output. --host-fields gives every record an event_id to drop the duplicates an at-least-once "
                + "path makes.");
        section(m, "OPTIONS");
        para(m, "Every option except --config, --forward, --help and --version has a config key (the CONFIG KEY shown "
                + "after it).");
        for (Option.Group group : Option.Group.values()) {
            List<Option> options = Arrays.stream(Option.values())
                    .filter(o -> o.group() == group && o.supported()).toList();
            if (options.isEmpty()) {
                continue;
            }
            m.append(".SS ").append(text(group.title())).append('\n');
            for (Option o : options) {
                option(m, o);
            }
        }
        section(m, "CONFIGURATION FILE");
        para(m, HelpText.CONFIG_FILE);
        para(m, HelpText.PRECEDENCE);
        para(m, HelpText.JOBS);
        section(m, "RECORDS");
        para(m, "One JSON object per line, UTF-8, always written whole. Event records carry the fields "
                + "schema_version, type (\"event\"), ts_ms, mask, events, decision (\"observe\", or in permission "
                + "mode \"allow\" or \"deny\"), job_id, path_role, pid, comm, exe, path, name and is_dir, in this "
                + "order, then the additions seq, old_path, old_name, old_job_id and old_path_role (renames), "
                + "uid, gid (real ids), euid, egid (effective ids), ppid and cgroup (the cgroup v2 path), "
                + "fd_error, and <field>_b64 for a value that is not valid UTF-8 (its exact bytes, base64). A "
                + "process already gone when its event is read is named from the kernel's exit record "
                + "(taskstats, which needs CAP_NET_ADMIN): its euid, egid and cgroup are then null.");
        para(m, "Alert records carry type (\"alert\"), ts_ms, kind (\"canary\" or \"burst\"), pid, comm, exe, "
                + "path and reason, bursts also count and window_ms, then event_seq, job_id, path_role, and uid, "
                + "gid, euid, egid, ppid and cgroup as in event records. "
                + "Records of type \"dropped\" count records that did not reach this reader, where they are "
                + "missing, with a reason; records of type \"overflow\" tell that the kernel queue overflowed.");
        section(m, "SIGNALS");
        tagged(m, "SIGTERM, SIGINT", "Stop: what the kernel had queued is read and every record read is "
                + "written out, within 10 s; records that could not be written are counted in a last error line "
                + "and make the exit status 1.");
        tagged(m, "SIGUSR1, SIGHUP", "Reopen the output file and the log file (after a rotation renamed them). "
                + "Every record lands whole in the old file or the new one. SIGHUP also rereads the config file "
                + "(the command line stays on top) and applies it without closing the fanotify groups, all or "
                + "nothing: canaries, bursts, hooks, jobs, events, marks, output, socket and log paths; a failure "
                + "is logged with FILE:LINE and leaves the old configuration in force. Under systemd SIGHUP is "
                + "the unit's reload (ExecReload=): the daemon sends RELOADING=1 at once and READY=1 once it is "
                + "done (with STATUS= and ERRNO= if the reload failed).");
        tagged(m, "SIGQUIT", "The JVM writes a thread dump to stderr, never into the records.");
        section(m, "FILES");
        tagged(m, "/etc/fanotifyd/fanotifyd.conf", "The configuration of fanotifyd.service.");
        tagged(m, "/etc/fanotifyd/INSTANCE.conf", "The configuration of fanotifyd@INSTANCE.service, one per job.");
        tagged(m, "/lib/systemd/system/fanotifyd.service", "One daemon for the host: fanotifyd --foreground "
                + "-c /etc/fanotifyd/fanotifyd.conf --pid-file /run/fanotifyd/fanotifyd.pid, Type=notify "
                + "(ready once every mark is in place), a watchdog, reload by SIGHUP, Restart=on-failure, the "
                + "capabilities bounded to CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_NET_ADMIN and "
                + "CAP_CHOWN, and no mount namespace of its own (mount marks placed in one see nothing of the host).");
        tagged(m, "/lib/systemd/system/fanotifyd@.service", "One daemon per job: fanotifyd@J.service reads "
                + "/etc/fanotifyd/J.conf and writes /run/fanotifyd/J.pid; otherwise as fanotifyd.service.");
        tagged(m, "/run/fanotifyd/", "The units' pid files (NAME.pid) and, as configured, sockets (NAME.sock).");
        tagged(m, "/etc/logrotate.d/fanotifyd", "Rotation by rename and SIGUSR1 (never copytruncate, which "
                + "loses records).");
        tagged(m, "/var/log/fanotifyd/", "Where the packaged configurations write their records.");
        section(m, "ENVIRONMENT");
        tagged(m, "NOTIFY_SOCKET", "Set by systemd for a Type=notify service: the daemon sends READY=1 when every "
                + "mark is in place, STATUS= lines with its counts, RELOADING=1 and READY=1 around a SIGHUP, and "
                + "STOPPING=1. Unset: nothing is sent. Hooks do not inherit it.");
        tagged(m, "WATCHDOG_USEC, WATCHDOG_PID", "Set by systemd with WatchdogSec=: WATCHDOG=1 is sent every half "
                + "of WATCHDOG_USEC, but only while the event loop makes progress, so a stuck daemon is killed and "
                + "restarted. Ignored when WATCHDOG_PID names another process. Hooks do not inherit them.");
        section(m, "EXIT STATUS");
        tagged(m, "0", "Success.");
        tagged(m, "1", "A failure at start-up (a mark that cannot be placed, no permission, a locked pid file), "
                + "records lost at a stop, or a reader of stdout that went away in observe mode.");
        tagged(m, "2", "A usage or configuration error, named by flag or FILE:LINE.");
        section(m, "EXAMPLES");
        example(m, "Watch a directory and print the records:",
                "fanotifyd \\-\\-foreground \\-\\-watch /srv/data \\-\\-output \\-");
        example(m, "Deny reads of canary files on a job's mount, and stream the records to subscribers:",
                "fanotifyd \\-\\-perm \\-\\-deny\\-on\\-alert \\-\\-mount /run/jobs/J/root \\e\n"
                        + "  \\-\\-canary '/run/jobs/J/root/etc/shadow' \\-\\-socket /run/fanotifyd/J.sock \\e\n"
                        + "  \\-\\-output /var/log/fanotifyd/J.jsonl");
        example(m, "Under systemd, one daemon per job, configured in /etc/fanotifyd/J.conf (the command returns once "
                + "every mark is in place):", "systemctl start fanotifyd@J");
        example(m, "Follow a running daemon's stream:", "fanotifyd \\-\\-subscribe /run/fanotifyd/J.sock");
        example(m, "Carry the host's records into Kafka (kafka_brokers and host_fields set in the config file):",
                "systemctl enable \\-\\-now fanotifyd\\-forward");
        section(m, "SEE ALSO");
        m.append(".BR fanotify (7),\n.BR fanotify_mark (2),\n.BR logrotate (8),\n.BR systemd.service (5),\n.BR sd_notify (3)\n");
        return m.toString();
    }

    private static void option(StringBuilder m, Option o) {
        m.append(".TP\n");
        StringBuilder head = new StringBuilder();
        o.shortFlag().ifPresent(s -> head.append("\\fB").append(text(s)).append("\\fR, "));
        head.append("\\fB").append(text(o.longFlag())).append("\\fR");
        if (!o.argName().isEmpty()) {
            head.append(" \\fI").append(text(o.argName())).append("\\fR");
        }
        o.configKey().ifPresent(k -> head.append("  (config key \\fB").append(text(k)).append("\\fR)"));
        m.append(head).append('\n');
        String body = o.help();
        if (o.repeatable() && o.kind() != Option.Kind.COUNTER) {
            body += "; repeatable";
        }
        if (!o.defaultValue().isEmpty()) {
            body += " (default: " + o.defaultValue() + ")";
        }
        m.append(line(text(Character.toUpperCase(body.charAt(0)) + body.substring(1) + "."))).append('\n');
    }

    private static void section(StringBuilder m, String name) {
        m.append(".SH ").append(name).append('\n');
    }

    private static void para(StringBuilder m, String s) {
        m.append(".PP\n").append(line(text(s))).append('\n');
    }

    private static void tagged(StringBuilder m, String tag, String s) {
        m.append(".TP\n.B ").append(text(tag)).append('\n').append(line(text(s))).append('\n');
    }

    /** An example: a sentence, then the command (already in roff) in a no-fill block. */
    private static void example(StringBuilder m, String what, String roffCommand) {
        m.append(".PP\n").append(line(text(what))).append("\n.PP\n.RS\n.nf\n").append(roffCommand)
                .append("\n.fi\n.RE\n");
    }

    /** Plain text for a roff line: backslashes and hyphens escaped (so "--foo" renders as typed). */
    static String text(String s) {
        return s.replace("\\", "\\e").replace("-", "\\-");
    }

    /** A text line that must not be read as a request: a leading dot or quote is protected. */
    private static String line(String escaped) {
        return escaped.startsWith(".") || escaped.startsWith("'") ? "\\&" + escaped : escaped;
    }
}
