package io.fanotifyd.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.lang.reflect.Field;
import org.junit.jupiter.api.Test;

class FanotifyGroupFlagNamesTest {
    private static final String[] NAMES = {"A", "B", "C"};

    static String[] table(String field) throws ReflectiveOperationException {
        Field f = FanotifyGroup.class.getDeclaredField(field);
        f.setAccessible(true);
        return (String[]) f.get(null);
    }

    @Test
    void zeroIsZero() {
        assertEquals("0", FanotifyGroup.flagNames(0, NAMES));
    }

    @Test
    void knownBitsJoinedWithPipe() {
        assertEquals("A", FanotifyGroup.flagNames(1, NAMES));
        assertEquals("C", FanotifyGroup.flagNames(4, NAMES));
        assertEquals("A|B|C", FanotifyGroup.flagNames(7, NAMES));
        assertEquals("A|C", FanotifyGroup.flagNames(5, NAMES));
    }

    @Test
    void unknownBitsAsOneHexRest() {
        assertEquals("0x8", FanotifyGroup.flagNames(8, NAMES));
        assertEquals("B|0x18", FanotifyGroup.flagNames(0x1A, NAMES));
        assertEquals("A|B|C|0xfffffff8", FanotifyGroup.flagNames(-1, NAMES));
        assertEquals("0x80000000", FanotifyGroup.flagNames(Integer.MIN_VALUE, NAMES));
        assertEquals("0x1", FanotifyGroup.flagNames(1, new String[0]));
    }

    @Test
    void initFlagTableMatchesTheConstants() throws ReflectiveOperationException {
        String[] init = table("INIT_FLAG_NAMES");
        for (int bit = 0; bit < init.length; bit++) {
            assertEquals(1 << bit, Fanotify.class.getField(init[bit]).getInt(null), init[bit]);
        }
        assertEquals("FAN_CLOEXEC|FAN_NONBLOCK|FAN_REPORT_DIR_FID|FAN_REPORT_NAME",
                FanotifyGroup.flagNames(Fanotify.FAN_CLOEXEC | Fanotify.FAN_NONBLOCK | Fanotify.FAN_REPORT_DFID_NAME,
                        init));
        assertEquals("FAN_CLASS_CONTENT|FAN_REPORT_PIDFD|FAN_REPORT_FID",
                FanotifyGroup.flagNames(Fanotify.FAN_CLASS_CONTENT | Fanotify.FAN_REPORT_PIDFD
                        | Fanotify.FAN_REPORT_FID, init));
        assertEquals("FAN_REPORT_FD_ERROR|0x4000", FanotifyGroup.flagNames(0x6000, init));
    }

    @Test
    void markFlagTableMatchesTheConstants() throws ReflectiveOperationException {
        String[] mark = table("MARK_FLAG_NAMES");
        for (int bit = 0; bit < mark.length; bit++) {
            assertNotNull(mark[bit]);
            assertEquals(1 << bit, Fanotify.class.getField(mark[bit]).getInt(null), mark[bit]);
        }
        assertEquals("FAN_MARK_ADD|FAN_MARK_FILESYSTEM",
                FanotifyGroup.flagNames(Fanotify.FAN_MARK_ADD | Fanotify.FAN_MARK_FILESYSTEM, mark));
        assertEquals("FAN_MARK_REMOVE|FAN_MARK_MOUNT|FAN_MARK_IGNORE",
                FanotifyGroup.flagNames(Fanotify.FAN_MARK_REMOVE | Fanotify.FAN_MARK_MOUNT | Fanotify.FAN_MARK_IGNORE,
                        mark));
        // FAN_MARK_INODE is 0: nothing to print
        assertEquals("FAN_MARK_ADD", FanotifyGroup.flagNames(Fanotify.FAN_MARK_ADD | Fanotify.FAN_MARK_INODE, mark));
    }
}
