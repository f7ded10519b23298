package io.fanotifyd.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;

class EventMaskTest {
    @Test
    void namesInAscendingBitOrder() {
        assertEquals("MODIFY,CLOSE_WRITE", EventMask.names(0x8 | 0x2));
        assertEquals("MODIFY,CLOSE_WRITE", EventMask.names(EventMask.CLOSE_WRITE | EventMask.MODIFY));
        assertEquals("CREATE,ONDIR", EventMask.names(EventMask.ONDIR | EventMask.CREATE));
        assertEquals("CLOSE_WRITE,CLOSE_NOWRITE", EventMask.names(EventMask.CLOSE));
        assertEquals("MOVED_FROM,MOVED_TO", EventMask.names(EventMask.MOVE));
        assertEquals("Q_OVERFLOW", EventMask.names(EventMask.Q_OVERFLOW));
        assertEquals("", EventMask.names(0));
    }

    @Test
    void unknownBitsAsHex() {
        assertEquals("0x2000", EventMask.names(0x2000));
        assertEquals("ACCESS,0x2000,OPEN_PERM", EventMask.names(0x2000 | EventMask.ACCESS | EventMask.OPEN_PERM));
        assertEquals("OPEN,ONDIR,0x4000000000000000", EventMask.names(0x4000_0000_0000_0020L | EventMask.ONDIR));
        assertEquals("0x8000000000000000", EventMask.names(Long.MIN_VALUE));
        assertEquals("0x80000000", EventMask.names(0x8000_0000L));
        String all = EventMask.names(-1L);
        assertEquals(64, all.split(",").length);
        assertEquals(EventMask.allNames(), List.of(all.split(",")).stream().filter(s -> !s.startsWith("0x")).toList());
    }

    @Test
    void parseRoundTripsEveryName() {
        List<String> names = EventMask.allNames();
        assertEquals(24, names.size());
        long seen = 0;
        for (String name : names) {
            long bit = EventMask.parse(name.toLowerCase(Locale.ROOT));
            assertEquals(1, Long.bitCount(bit), name);
            assertEquals(name, EventMask.names(bit));
            assertEquals(bit, EventMask.parse(name));
            assertEquals(0, seen & bit, "two names for one bit: " + name);
            seen |= bit;
        }
        assertEquals(EventMask.CLOSE_WRITE, EventMask.parse("close_write"));
        assertEquals(EventMask.CLOSE_WRITE, EventMask.parse("Close_Write"));
    }

    @Test
    void parseUnknownIsZero() {
        assertEquals(0, EventMask.parse("no_such_event"));
        assertEquals(0, EventMask.parse(""));
        assertEquals(0, EventMask.parse("CLOSE")); // a combination, not a bit
        assertEquals(0, EventMask.parse("FAN_OPEN")); // names are without the prefix
    }

    @Test
    void namesMatchTheConstants() throws IllegalAccessException {
        // every single-bit constant's field name is its bitName, and the other way round
        int singleBits = 0;
        for (Field f : EventMask.class.getFields()) {
            if (f.getType() != long.class || !Modifier.isStatic(f.getModifiers())) {
                continue;
            }
            long v = f.getLong(null);
            if (Long.bitCount(v) == 1) {
                singleBits++;
                assertEquals(f.getName(), EventMask.bitName(Long.numberOfTrailingZeros(v)));
                assertEquals(v, EventMask.parse(f.getName()));
            }
        }
        assertEquals(EventMask.allNames().size(), singleBits);
        assertNull(EventMask.bitName(13));
        assertNull(EventMask.bitName(63));
    }

    @Test
    void kernelValues() {
        // <linux/fanotify.h>
        assertEquals(0x0000_0002L, EventMask.MODIFY);
        assertEquals(0x0000_0008L, EventMask.CLOSE_WRITE);
        assertEquals(0x0000_4000L, EventMask.Q_OVERFLOW);
        assertEquals(0x0000_8000L, EventMask.FS_ERROR);
        assertEquals(0x0010_0000L, EventMask.PRE_ACCESS);
        assertEquals(0x1000_0000L, EventMask.RENAME);
        assertEquals(0x4000_0000L, EventMask.ONDIR);
        assertNotEquals(0, EventMask.FID_ONLY_EVENTS & EventMask.RENAME);
    }
}
