package io.fanotifyd.kernel;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds byte-exact fanotify read buffers (little-endian, as on x86-64 and arm64) for decoder tests.
 *
 * <p>Every length field is computed from the bytes actually written, and can be overridden afterwards to craft
 * corrupt buffers; overriding a length never changes the bytes that are laid out, only the field.
 *
 * <pre>{@code
 * byte[] buf = new EventBufferBuilder()
 *         .event(EventMask.CREATE, Fanotify.FAN_NOFD, 42)
 *             .dfidName(FSID, 1, HANDLE, "a.txt")
 *             .pidfd(7)
 *         .done()
 *         .build();
 * }</pre>
 */
final class EventBufferBuilder {
    static final int METADATA_LEN = 24;
    static final int INFO_HEADER = 4;
    /** fsid (8) + handle_bytes (4) + handle_type (4), after the 4-byte header. */
    static final int FID_FIXED_BODY = 16;

    private final List<Event> events = new ArrayList<>();
    private byte[] trailing = new byte[0];

    /** Starts a new event; finish it with {@link Event#done()}. */
    Event event(long mask, int fd, int pid) {
        Event e = new Event(this, mask, fd, pid);
        events.add(e);
        return e;
    }

    /** Raw bytes appended after the last event (for instance a truncated event header). */
    EventBufferBuilder trailing(byte[] bytes) {
        this.trailing = bytes.clone();
        return this;
    }

    /** The buffer as {@code read(2)} would return it. */
    byte[] build() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Event e : events) {
            out.writeBytes(e.bytes());
        }
        out.writeBytes(trailing);
        return out.toByteArray();
    }

    /** Byte offset at which event {@code index} starts in {@link #build()}. */
    int eventOffset(int index) {
        int off = 0;
        for (int i = 0; i < index; i++) {
            off += events.get(i).bytes().length;
        }
        return off;
    }

    /** Copies {@code bytes} into a fresh native segment of {@code arena}, starting at {@code misalign} bytes
     *  past an 8-byte boundary (use 4 to make every aligned 64-bit field land misaligned). */
    static MemorySegment nativeCopy(Arena arena, byte[] bytes, int misalign) {
        MemorySegment whole = arena.allocate(bytes.length + misalign + 8L, 8);
        MemorySegment seg = whole.asSlice(misalign, bytes.length);
        MemorySegment.copy(bytes, 0, seg, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return seg;
    }

    /** One event: the metadata and its info records. */
    static final class Event {
        private final EventBufferBuilder owner;
        private final long mask;
        private final int fd;
        private final int pid;
        private int version = Fanotify.FANOTIFY_METADATA_VERSION;
        private int reserved;
        private Integer eventLenOverride;
        private Integer metadataLenOverride;
        private final List<Info> infos = new ArrayList<>();

        private Event(EventBufferBuilder owner, long mask, int fd, int pid) {
            this.owner = owner;
            this.mask = mask;
            this.fd = fd;
            this.pid = pid;
        }

        /** Back to the buffer builder. */
        EventBufferBuilder done() {
            return owner;
        }

        Event version(int v) {
            this.version = v;
            return this;
        }

        Event reserved(int r) {
            this.reserved = r;
            return this;
        }

        /** Overrides {@code event_len} (written as u32: negative values give the unsigned bit pattern). */
        Event eventLen(int len) {
            this.eventLenOverride = len;
            return this;
        }

        /** Overrides {@code metadata_len} (u16). */
        Event metadataLen(int len) {
            this.metadataLenOverride = len;
            return this;
        }

        /** A FID-type record without a name ({@code INFO_FID} or {@code INFO_DFID}). */
        Event fidRecord(int type, long fsid, int handleType, byte[] handle) {
            infos.add(Info.fid(type, fsid, handleType, handle, null));
            return this;
        }

        Event fid(long fsid, int handleType, byte[] handle) {
            return fidRecord(Fanotify.INFO_FID, fsid, handleType, handle);
        }

        Event dfid(long fsid, int handleType, byte[] handle) {
            return fidRecord(Fanotify.INFO_DFID, fsid, handleType, handle);
        }

        /** A FID-type record with a NUL-terminated name ({@code *_DFID_NAME}). */
        Event namedRecord(int type, long fsid, int handleType, byte[] handle, byte[] name) {
            infos.add(Info.fid(type, fsid, handleType, handle, name));
            return this;
        }

        Event dfidName(long fsid, int handleType, byte[] handle, String name) {
            return namedRecord(Fanotify.INFO_DFID_NAME, fsid, handleType, handle, utf8(name));
        }

        Event oldDfidName(long fsid, int handleType, byte[] handle, String name) {
            return namedRecord(Fanotify.INFO_OLD_DFID_NAME, fsid, handleType, handle, utf8(name));
        }

        Event newDfidName(long fsid, int handleType, byte[] handle, String name) {
            return namedRecord(Fanotify.INFO_NEW_DFID_NAME, fsid, handleType, handle, utf8(name));
        }

        /** {@code fanotify_event_info_pidfd}: header + s32 (len 8). */
        Event pidfd(int pidfd) {
            infos.add(Info.raw(Fanotify.INFO_PIDFD, le(4).putInt(pidfd).array()));
            return this;
        }

        /** {@code fanotify_event_info_error}: header + s32 error + u32 error_count (len 12). */
        Event error(int error, int errorCount) {
            infos.add(Info.raw(Fanotify.INFO_ERROR, le(8).putInt(error).putInt(errorCount).array()));
            return this;
        }

        /** Any record: header of {@code type} + {@code body}, padded to 4 with zeros. */
        Event info(int type, byte[] body) {
            infos.add(Info.raw(type, body));
            return this;
        }

        /** Bytes appended after the last record with no header of their own (counted in event_len). */
        Event tail(byte[] bytes) {
            Info i = Info.raw(-1, bytes);
            i.headerless = true;
            infos.add(i);
            return this;
        }

        /** Overrides the {@code len} field of the last record added (u16). */
        Event infoLen(int len) {
            last().lenOverride = len;
            return this;
        }

        /** Sets the {@code pad} byte of the last record added. */
        Event infoPad(int pad) {
            last().pad = pad;
            return this;
        }

        /** Overrides {@code handle_bytes} of the last (FID-type) record added (u32). */
        Event handleBytes(int handleBytes) {
            Info i = last();
            if (!i.isFid) {
                throw new IllegalStateException("last record is not a FID record");
            }
            i.handleBytesOverride = handleBytes;
            return this;
        }

        /** Drops the NUL after the name of the last named record and pads it with {@code 0xFF} instead of zeros,
         *  so that no zero byte follows the name inside the record. */
        Event unterminatedName() {
            Info i = last();
            if (i.name == null) {
                throw new IllegalStateException("last record has no name");
            }
            i.unterminated = true;
            return this;
        }

        private Info last() {
            if (infos.isEmpty()) {
                throw new IllegalStateException("no record yet");
            }
            return infos.getLast();
        }

        byte[] bytes() {
            ByteArrayOutputStream records = new ByteArrayOutputStream();
            for (Info i : infos) {
                records.writeBytes(i.bytes());
            }
            byte[] body = records.toByteArray();
            int eventLen = eventLenOverride != null ? eventLenOverride : METADATA_LEN + body.length;
            int metaLen = metadataLenOverride != null ? metadataLenOverride : METADATA_LEN;
            ByteBuffer b = le(METADATA_LEN + body.length);
            b.putInt(eventLen).put((byte) version).put((byte) reserved).putShort((short) metaLen)
                    .putLong(mask).putInt(fd).putInt(pid).put(body);
            return b.array();
        }
    }

    /** One info record. */
    private static final class Info {
        int type;
        int pad;
        byte[] body;
        boolean isFid;
        long fsid;
        int handleType;
        byte[] handle;
        byte[] name;
        boolean unterminated;
        boolean headerless;
        Integer lenOverride;
        Integer handleBytesOverride;

        static Info raw(int type, byte[] body) {
            Info i = new Info();
            i.type = type;
            i.body = body.clone();
            return i;
        }

        static Info fid(int type, long fsid, int handleType, byte[] handle, byte[] name) {
            Info i = new Info();
            i.type = type;
            i.isFid = true;
            i.fsid = fsid;
            i.handleType = handleType;
            i.handle = handle.clone();
            i.name = name == null ? null : name.clone();
            return i;
        }

        byte[] bytes() {
            if (headerless) {
                return body.clone();
            }
            byte[] content;
            byte padByte = 0;
            if (isFid) {
                int nameBytes = name == null ? 0 : name.length + (unterminated ? 0 : 1);
                ByteBuffer b = le(FID_FIXED_BODY + handle.length + nameBytes);
                b.putLong(fsid)
                        .putInt(handleBytesOverride != null ? handleBytesOverride : handle.length)
                        .putInt(handleType)
                        .put(handle);
                if (name != null) {
                    b.put(name);
                    if (!unterminated) {
                        b.put((byte) 0);
                    }
                }
                content = b.array();
                if (unterminated) {
                    padByte = (byte) 0xFF;
                }
            } else {
                content = body;
            }
            int natural = INFO_HEADER + content.length;
            int padded = (natural + 3) & ~3; // the kernel rounds every record up to FANOTIFY_EVENT_ALIGN (4)
            ByteBuffer b = le(padded);
            b.put((byte) type).put((byte) pad)
                    .putShort((short) (lenOverride != null ? lenOverride : padded))
                    .put(content);
            while (b.hasRemaining()) {
                b.put(padByte);
            }
            return b.array();
        }
    }

    static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    static byte[] utf8(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
