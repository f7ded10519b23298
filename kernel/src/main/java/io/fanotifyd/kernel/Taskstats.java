package io.fanotifyd.kernel;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

/**
 * The kernel's taskstats exit records (linux/taskstats.h, Documentation/accounting/taskstats.rst): a generic
 * netlink socket registered for every possible CPU, on which the kernel sends one record per task as it exits,
 * from {@code do_exit()}, before its parent can reap it. So once an event's pidfd says its process has been
 * reaped, that process's record is already queued here.
 *
 * <p>The socket is non-blocking and {@link #drain} reads what is queued and returns: the event thread calls it
 * without waiting. Registering needs {@code CAP_NET_ADMIN} in the initial user namespace and a caller in the
 * initial pid namespace; {@link #open} says in its exception why it could not.
 */
public final class Taskstats implements AutoCloseable {
    /** Receives the records {@link #drain} reads; called on the draining thread, nothing kept past the call. */
    public interface Sink {
        void exited(TaskExit exit);

        /** The kernel dropped records: the socket's buffer was full ({@code ENOBUFS}). */
        void lost();
    }

    private static final int AF_NETLINK = 16;
    private static final int NETLINK_GENERIC = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_NONBLOCK = 04000;
    private static final int SOCK_CLOEXEC = 02000000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVBUF = 8;
    private static final int SO_RCVBUFFORCE = 33;
    private static final short NLM_F_REQUEST = 1;
    private static final short NLM_F_ACK = 4;
    private static final int NLMSG_ERROR = 2;
    private static final int NLMSG_HDRLEN = 16;
    private static final int GENL_HDRLEN = 4;
    private static final short GENL_ID_CTRL = 0x10;
    private static final byte CTRL_CMD_GETFAMILY = 3;
    private static final short CTRL_ATTR_FAMILY_ID = 1;
    private static final short CTRL_ATTR_FAMILY_NAME = 2;
    private static final byte TASKSTATS_CMD_GET = 1;
    private static final byte TASKSTATS_CMD_NEW = 2;
    private static final short TASKSTATS_TYPE_STATS = 3;
    private static final short TASKSTATS_TYPE_AGGR_PID = 4;
    private static final short TASKSTATS_CMD_ATTR_REGISTER_CPUMASK = 3;
    private static final short TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK = 4;
    private static final int NLA_TYPE_MASK = 0x3fff;
    /** One datagram holds one exit message (well under 2 KiB); a read takes one datagram. */
    private static final int RECV_BYTES = 16 * 1024;
    private static final int HANDSHAKE_MS = 2000;

    private final int fd;
    private short family;
    private final String cpus;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment recv = arena.allocate(RECV_BYTES, 8);
    private final TaskExit view = new TaskExit();
    private int seq;
    private long records;
    private long lossReports;
    private int version = -1;

    private Taskstats(int fd, String cpus) {
        this.fd = fd;
        this.cpus = cpus;
    }

    /**
     * Opens the socket and registers it for the exit records of every possible CPU.
     *
     * @param receiveBufferBytes the socket's receive buffer, forced past {@code rmem_max} where allowed: what
     *     may queue between two drains
     * @throws NativeCallException naming the step that failed: {@code socket}, the family lookup
     *     ({@code ENOENT}: a kernel without taskstats), or the registration ({@code EPERM}: no
     *     {@code CAP_NET_ADMIN}; {@code EINVAL}: not in the initial user and pid namespaces)
     */
    public static Taskstats open(int receiveBufferBytes) {
        int fd = SocketCalls.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_GENERIC);
        if (fd < 0) {
            throw new NativeCallException("socket", "AF_NETLINK, SOCK_RAW, NETLINK_GENERIC", Libc.errno());
        }
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment addr = tmp.allocate(12, 4); // sockaddr_nl: the kernel picks our port id
            addr.set(JAVA_SHORT_UNALIGNED, 0, (short) AF_NETLINK);
            if (SocketCalls.bind(fd, addr, 12) != 0) {
                throw new NativeCallException("bind", "AF_NETLINK", Libc.errno());
            }
            MemorySegment size = tmp.allocate(4, 4);
            size.set(JAVA_INT_UNALIGNED, 0, receiveBufferBytes);
            if (SocketCalls.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) != 0) {
                SocketCalls.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4); // capped at rmem_max, but better than none
            }
            Taskstats ts = new Taskstats(fd, possibleCpus());
            ts.family = ts.familyId(tmp);
            ts.cpumask(tmp, TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, true);
            return ts;
        } catch (RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    /** The socket, for {@code poll}. */
    public int fd() {
        return fd;
    }

    /** Exit records read so far. */
    public long records() {
        return records;
    }

    /** How often the kernel said it dropped records. */
    public long lossReports() {
        return lossReports;
    }

    /** The kernel's {@code struct taskstats} version, from the first record read; -1 before one. */
    public int version() {
        return version;
    }

    /**
     * Reads every record queued on the socket into {@code sink} and returns how many there were. Never
     * blocks; allocates nothing.
     */
    public int drain(Sink sink) {
        int n = 0;
        while (true) {
            long got = Libc.read(fd, recv, RECV_BYTES);
            if (got < 0) {
                int errno = Libc.errno();
                if (errno == Errno.ENOBUFS) {
                    lossReports++;
                    sink.lost();
                    continue; // the error is reported once; what was queued after the loss is still there
                }
                if (errno == Errno.EINTR) {
                    continue;
                }
                return n; // EAGAIN: nothing more
            }
            n += parse(recv, got, sink);
        }
    }

    /** A socket-less instance that only parses, for tests of the message format. */
    static Taskstats parserFor(short family) {
        Taskstats t = new Taskstats(-1, "0");
        t.family = family;
        return t;
    }

    /** Hands the exit records in the netlink messages {@code buf[0, length)} to {@code sink}; returns how many. */
    int parse(MemorySegment buf, long length, Sink sink) {
        int n = 0;
        long at = 0;
        while (at + NLMSG_HDRLEN <= length) {
            int len = buf.get(JAVA_INT_UNALIGNED, at);
            int type = buf.get(JAVA_SHORT_UNALIGNED, at + 4) & 0xffff;
            if (len < NLMSG_HDRLEN || at + len > length) {
                break;
            }
            if (type == family && len >= NLMSG_HDRLEN + GENL_HDRLEN
                    && buf.get(JAVA_BYTE, at + NLMSG_HDRLEN) == TASKSTATS_CMD_NEW) {
                n += exitMessage(buf, at + NLMSG_HDRLEN + GENL_HDRLEN, at + len, sink);
            }
            at += align(len);
        }
        return n;
    }

    /** The attributes of one exit message: {@code AGGR_PID {PID, STATS}}, and after it maybe {@code AGGR_TGID}. */
    private int exitMessage(MemorySegment buf, long at, long end, Sink sink) {
        int n = 0;
        while (at + 4 <= end) {
            int len = buf.get(JAVA_SHORT_UNALIGNED, at) & 0xffff;
            int type = buf.get(JAVA_SHORT_UNALIGNED, at + 2) & NLA_TYPE_MASK;
            if (len < 4 || at + len > end) {
                break;
            }
            // The thread group's aggregate (AGGR_TGID) carries only summed delays, not who the process was.
            if (type == TASKSTATS_TYPE_AGGR_PID) {
                long in = at + 4;
                long inEnd = at + len;
                while (in + 4 <= inEnd) {
                    int alen = buf.get(JAVA_SHORT_UNALIGNED, in) & 0xffff;
                    int atype = buf.get(JAVA_SHORT_UNALIGNED, in + 2) & NLA_TYPE_MASK;
                    if (alen < 4 || in + alen > inEnd) {
                        break;
                    }
                    if (atype == TASKSTATS_TYPE_STATS && alen - 4 >= TaskExit.BASIC_SIZE) {
                        view.set(buf, in + 4, alen - 4);
                        if (version < 0) {
                            version = view.version();
                        }
                        records++;
                        n++;
                        sink.exited(view);
                    }
                    in += align(alen);
                }
            }
            at += align(len);
        }
        return n;
    }

    private static int align(int len) {
        return (len + 3) & ~3;
    }

    /** {@code CTRL_CMD_GETFAMILY "TASKSTATS"}: the family's id, or ENOENT on a kernel without taskstats. */
    private short familyId(Arena tmp) {
        byte[] name = "TASKSTATS\0".getBytes(StandardCharsets.US_ASCII);
        MemorySegment msg = request(tmp, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, name);
        send(msg, "CTRL_CMD_GETFAMILY TASKSTATS");
        while (true) {
            long got = receiveBlocking("CTRL_CMD_GETFAMILY TASKSTATS");
            for (long at = 0; at + NLMSG_HDRLEN <= got; ) {
                int len = recv.get(JAVA_INT_UNALIGNED, at);
                int type = recv.get(JAVA_SHORT_UNALIGNED, at + 4) & 0xffff;
                if (len < NLMSG_HDRLEN || at + len > got) {
                    break;
                }
                if (type == NLMSG_ERROR) {
                    int err = -recv.get(JAVA_INT_UNALIGNED, at + NLMSG_HDRLEN);
                    throw new NativeCallException("genetlink CTRL_CMD_GETFAMILY", "TASKSTATS",
                            err == 0 ? Errno.ENOENT : err);
                }
                if (type == GENL_ID_CTRL) {
                    for (long a = at + NLMSG_HDRLEN + GENL_HDRLEN; a + 4 <= at + len; ) {
                        int alen = recv.get(JAVA_SHORT_UNALIGNED, a) & 0xffff;
                        int atype = recv.get(JAVA_SHORT_UNALIGNED, a + 2) & NLA_TYPE_MASK;
                        if (alen < 4) {
                            break;
                        }
                        if (atype == CTRL_ATTR_FAMILY_ID) {
                            return recv.get(JAVA_SHORT_UNALIGNED, a + 4);
                        }
                        a += align(alen);
                    }
                }
                at += align(len);
            }
        }
    }

    /** Registers (or deregisters) for the CPUs in {@link #cpus}, and waits for the kernel's answer. */
    private void cpumask(Arena tmp, short attr, boolean wait) {
        byte[] mask = (cpus + "\0").getBytes(StandardCharsets.US_ASCII);
        String what = (attr == TASKSTATS_CMD_ATTR_REGISTER_CPUMASK ? "REGISTER_CPUMASK " : "DEREGISTER_CPUMASK ")
                + cpus;
        MemorySegment msg = request(tmp, family, TASKSTATS_CMD_GET, attr, mask);
        send(msg, "TASKSTATS_CMD_GET " + what);
        int expect = seq;
        while (wait) {
            long got = receiveBlocking("TASKSTATS_CMD_GET " + what);
            for (long at = 0; at + NLMSG_HDRLEN <= got; ) {
                int len = recv.get(JAVA_INT_UNALIGNED, at);
                int type = recv.get(JAVA_SHORT_UNALIGNED, at + 4) & 0xffff;
                if (len < NLMSG_HDRLEN || at + len > got) {
                    break;
                }
                // Exit records may come before the answer: the first exits after registering; not kept.
                if (type == NLMSG_ERROR && recv.get(JAVA_INT_UNALIGNED, at + 8) == expect) {
                    int err = -recv.get(JAVA_INT_UNALIGNED, at + NLMSG_HDRLEN);
                    if (err != 0) {
                        throw new NativeCallException("genetlink TASKSTATS_CMD_GET", what, err);
                    }
                    return;
                }
                at += align(len);
            }
        }
    }

    private MemorySegment request(Arena tmp, short type, byte cmd, short attr, byte[] value) {
        int attrLen = 4 + value.length;
        int len = NLMSG_HDRLEN + GENL_HDRLEN + align(attrLen);
        MemorySegment msg = tmp.allocate(len, 4);
        msg.set(JAVA_INT_UNALIGNED, 0, len);
        msg.set(JAVA_SHORT_UNALIGNED, 4, type);
        msg.set(JAVA_SHORT_UNALIGNED, 6, (short) (NLM_F_REQUEST | NLM_F_ACK));
        msg.set(JAVA_INT_UNALIGNED, 8, ++seq);
        msg.set(JAVA_BYTE, NLMSG_HDRLEN, cmd);
        msg.set(JAVA_BYTE, NLMSG_HDRLEN + 1, (byte) 1); // TASKSTATS_GENL_VERSION, and the controller's 1
        msg.set(JAVA_SHORT_UNALIGNED, NLMSG_HDRLEN + GENL_HDRLEN, (short) attrLen);
        msg.set(JAVA_SHORT_UNALIGNED, NLMSG_HDRLEN + GENL_HDRLEN + 2, attr);
        MemorySegment.copy(value, 0, msg, JAVA_BYTE, NLMSG_HDRLEN + GENL_HDRLEN + 4, value.length);
        return msg;
    }

    private void send(MemorySegment msg, String what) {
        if (Libc.write(fd, msg, msg.byteSize()) != msg.byteSize()) {
            throw new NativeCallException("write", "genetlink " + what, Libc.errno());
        }
    }

    /** One datagram, waiting at most {@link #HANDSHAKE_MS} for it (start-up only). */
    private long receiveBlocking(String what) {
        MemorySegment pollfds = arena.allocate(8, 4);
        int[] fds = {fd};
        short[] revents = new short[1];
        long deadline = System.nanoTime() + HANDSHAKE_MS * 1_000_000L;
        while (true) {
            long got = Libc.read(fd, recv, RECV_BYTES);
            if (got > 0) {
                return got;
            }
            int errno = Libc.errno();
            if (got == 0 || (errno != Errno.EAGAIN && errno != Errno.EINTR && errno != Errno.ENOBUFS)) {
                throw new NativeCallException("read", "genetlink answer to " + what, got == 0 ? Errno.EIO : errno);
            }
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                throw new NativeCallException("read", "genetlink answer to " + what + " (no answer in "
                        + HANDSHAKE_MS + " ms)", Errno.ETIMEDOUT);
            }
            Syscalls.pollIn(pollfds, fds, revents, (int) left);
        }
    }

    /** {@code /sys/devices/system/cpu/possible}, e.g. {@code "0-1"}: a mask with any other CPU is refused. */
    private static String possibleCpus() {
        try {
            return new String(Syscalls.readFile("/sys/devices/system/cpu/possible", 4096),
                    StandardCharsets.US_ASCII).trim();
        } catch (RuntimeException e) {
            return "0-" + (Runtime.getRuntime().availableProcessors() - 1);
        }
    }

    /** Deregisters (without waiting for the answer) and closes the socket. */
    @Override
    public void close() {
        try (Arena tmp = Arena.ofConfined()) {
            cpumask(tmp, TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK, false);
        } catch (RuntimeException e) {
            // Closing the socket is what matters: the kernel drops a listener whose socket is gone.
        }
        Libc.close(fd);
        arena.close();
    }
}
