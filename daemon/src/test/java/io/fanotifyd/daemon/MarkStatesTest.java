package io.fanotifyd.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

/**
 * {@link MarkStates}: which marked path lost its kernel mark and why, from fdinfo text and a mount table as the
 * kernel writes them; and {@link MountInfo#present}.
 */
class MarkStatesTest {
    // tmpfs 0:40 (sdev 0x28) mounted at /j/root as mount 45; a bind mount of its /sub at /j/bind as mount 46.
    private static final String MOUNTINFO = """
            21 26 0:20 / /proc rw,relatime - proc proc rw
            45 26 0:40 / /j/root rw,relatime - tmpfs job rw,size=65536k
            46 26 0:40 /sub /j/bind rw,relatime - tmpfs job rw,size=65536k
            """;
    private static final String FDINFO = """
            pos:	0
            flags:	02004002
            mnt_id:	16
            ino:	1057
            fanotify flags:eb3 event-flags:88000
            fanotify ino:2 sdev:28 mflags:0 mask:580003ee ignored_mask:0 fhandle-bytes:c fhandle-type:1 f_handle:394b
            fanotify mnt_id:2e mflags:0 mask:4800002a ignored_mask:0
            fanotify sdev:28 mflags:0 mask:580003c4 ignored_mask:0
            """;
    private static final int DEV = 40; // 0:40 as the kernel's dev_t

    private static MarkStates.Mark watch() {
        return new MarkStates.Mark("--watch", "/j/root/d", MarkStates.Kind.INODE, DEV, 45);
    }

    private static MarkStates.Mark bind() {
        return new MarkStates.Mark("--mount", "/j/bind", MarkStates.Kind.MOUNT, DEV, 46);
    }

    private static MarkStates.Mark filesystem() {
        return new MarkStates.Mark("--filesystem", "/j/root", MarkStates.Kind.FILESYSTEM, DEV, 45);
    }

    private static MountInfo.Present table(String text) {
        return MountInfo.present(text.getBytes(StandardCharsets.UTF_8));
    }

    private static MarkStates all() {
        MarkStates s = new MarkStates(List.of(watch(), bind(), filesystem()));
        s.inode(0, 2);
        return s;
    }

    @Test
    void fdinfoLinesBecomeKeysOfEachKind() {
        assertEquals(Set.of("i:2:28", "m:2e", "s:28"), MarkStates.kernelKeys(FDINFO));
        assertEquals("i:2:28", MarkStates.key(watch(), 2));
        assertEquals("m:2e", MarkStates.key(bind(), -1));
        assertEquals("s:28", MarkStates.key(filesystem(), -1));
        assertEquals(null, MarkStates.key(watch(), -1), "an inode mark whose inode is unknown has no key");
    }

    @Test
    void theMountTableGivesMountIdsAndKernelDevices() {
        MountInfo.Present p = table(MOUNTINFO);
        assertEquals(Set.of(21, 45, 46), p.mountIds());
        assertEquals(Set.of(20, 40), p.devs());
        assertEquals(259 << 20 | 3, MountInfo.dev("259:3"));
        assertEquals(-1, MountInfo.dev("nonsense"));
        assertEquals(Set.of(), table("\n\ngarbage line\n").mountIds());
    }

    @Test
    void aMarkTheKernelDoesNotListUnderItsKeyIsLeftAloneNotReportedGone() {
        MarkStates s = all();
        List<String> warnings = s.verify(Set.of("m:2e", "s:28")); // the inode mark listed under another number
        assertEquals(List.of("--watch /j/root/d: its mark is not found in /proc/self/fdinfo as i:2:28; its end will"
                + " not be logged"), warnings);
        List<String> lines = s.update(Set.of(), table("21 26 0:20 / /proc rw,relatime - proc proc rw\n"), 0);
        assertEquals(2, lines.size(), "the other two go, the untracked one is not said to: " + lines);
        assertFalse(s.noneLeft(), "nor is there said to be no mark left");
    }

    @Test
    void aWatchedDirectoryWhoseInodeCouldNotBeReadIsReportedDeleted() {
        MarkStates s = new MarkStates(List.of(watch())); // statx failed: deleted between marking and reading
        assertEquals(List.of(), s.verify(MarkStates.kernelKeys(FDINFO)));
        List<String> lines = s.update(MarkStates.kernelKeys(FDINFO), table(MOUNTINFO), 0);
        assertTrue(lines.get(0).startsWith("--watch /j/root/d: mark gone: the directory was deleted;"),
                lines.toString());
    }

    @Test
    void nothingIsLoggedWhileEveryMarkIsInPlace() {
        MarkStates s = all();
        assertEquals(List.of(), s.verify(MarkStates.kernelKeys(FDINFO)));
        assertEquals(List.of(), s.update(MarkStates.kernelKeys(FDINFO), table(MOUNTINFO), 0));
        assertFalse(s.lingering());
        assertFalse(s.noneLeft());
    }

    @Test
    void anUnmountedBindMountEndsOnlyItsMountMark() {
        MarkStates s = all();
        String table = MOUNTINFO.replace("46 26 0:40 /sub /j/bind rw,relatime - tmpfs job rw,size=65536k\n", "");
        List<String> lines = s.update(Set.of("i:2:28", "s:28"), table(table), 0);
        assertEquals(List.of("--mount /j/bind: mark gone: its mount was unmounted; nothing more is reported from it"
                + " (a filesystem mounted there again is not watched)"), lines);
        assertEquals(List.of(), s.update(Set.of("i:2:28", "s:28"), table(table), 10), "said once");
    }

    @Test
    void anUnmountedFilesystemEndsEveryMarkOnItAndThenThereAreNoneLeft() {
        MarkStates s = all();
        List<String> lines = s.update(Set.of(), table("21 26 0:20 / /proc rw,relatime - proc proc rw\n"), 0);
        assertEquals(4, lines.size(), lines.toString());
        assertTrue(lines.get(0).startsWith("--watch /j/root/d: mark gone: its filesystem was unmounted;"),
                lines.get(0));
        assertTrue(lines.get(1).startsWith("--mount /j/bind: mark gone: its mount was unmounted;"), lines.get(1));
        assertTrue(lines.get(2).startsWith("--filesystem /j/root: mark gone: its filesystem was unmounted;"),
                lines.get(2));
        assertTrue(lines.get(3).startsWith("no marks left: nothing more will be reported;"), lines.get(3));
        assertTrue(s.noneLeft());
    }

    @Test
    void aWatchedDirectoryWhoseMarkGoesWhileItsFilesystemStaysWasDeleted() {
        MarkStates s = all();
        List<String> lines = s.update(Set.of("m:2e", "s:28"), table(MOUNTINFO), 0);
        assertEquals(List.of("--watch /j/root/d: mark gone: the directory was deleted; nothing more is reported from it"
                + " (anything made again at that path is not watched)"), lines);
    }

    @Test
    void aMarkThatOutlivesItsMountIsReportedOnceAfterASecondThenItsEnd() {
        MarkStates s = new MarkStates(List.of(filesystem()));
        MountInfo.Present gone = table("21 26 0:20 / /proc rw,relatime - proc proc rw\n");
        Set<String> alive = Set.of("s:28");
        // Right after an unmount the kernel may not have dropped the mark yet: no word within the first second.
        assertEquals(List.of(), s.update(alive, gone, 1000));
        assertTrue(s.lingering());
        assertEquals(List.of(), s.update(alive, gone, 1999));
        List<String> lines = s.update(alive, gone, 2000);
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).startsWith("--filesystem /j/root: unmounted, but the kernel keeps its mark while the "
                + "filesystem is still in use"), lines.get(0));
        assertEquals(List.of(), s.update(alive, gone, 9000), "said once");
        List<String> end = s.update(Set.of(), gone, 9500);
        assertTrue(end.get(0).startsWith("--filesystem /j/root: mark gone: its filesystem was unmounted"),
                end.toString());
        assertTrue(end.get(1).startsWith("no marks left"), end.toString());
        assertFalse(s.lingering());
    }

    @Test
    void aMarkWhoseFilesystemIsMountedAgainBeforeTheLookIsNotLingering() {
        MarkStates s = new MarkStates(List.of(filesystem()));
        MountInfo.Present gone = table("21 26 0:20 / /proc rw,relatime - proc proc rw\n");
        s.update(Set.of("s:28"), gone, 0);
        assertTrue(s.lingering());
        assertEquals(List.of(), s.update(Set.of("s:28"), table(MOUNTINFO), 100));
        assertFalse(s.lingering());
    }
}
