package io.fanotifyd.daemon.options;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fanotifyd.kernel.EventMask;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.FieldSource;

class EventSelectionTest {
    static final List<String> NAMES = EventSelection.NAMES;

    private static void assertInvalid(String message, String list) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EventSelection.parse(list));
        assertEquals(message, e.getMessage());
    }

    @Test
    void absoluteList() {
        EventSelection e = EventSelection.parse("access,Modify, CLOSE_WRITE ");
        assertEquals(List.of("access", "modify", "close_write"), e.items());
        assertFalse(e.relative());
        assertFalse(e.isDefault());
        assertEquals(List.of(), e.added());
        assertEquals(List.of(), e.removed());
    }

    @Test
    void relativeList() {
        EventSelection e = EventSelection.parse("+ACCESS,-attrib, +open_exec");
        assertEquals(List.of("+access", "-attrib", "+open_exec"), e.items());
        assertTrue(e.relative());
        assertFalse(e.isDefault());
        assertEquals(List.of("access", "open_exec"), e.added());
        assertEquals(List.of("attrib"), e.removed());
    }

    @Test
    void defaultIsAnEmptyRelativeList() {
        assertTrue(EventSelection.DEFAULT.isDefault());
        assertTrue(EventSelection.DEFAULT.relative());
        assertEquals(List.of(), EventSelection.DEFAULT.items());
    }

    @ParameterizedTest
    @FieldSource("NAMES")
    void everyNameIsAcceptedInEveryForm(String name) {
        assertEquals(List.of(name), EventSelection.parse(name).items());
        assertEquals(List.of(name), EventSelection.parse(name.toUpperCase()).items());
        assertEquals(List.of("+" + name), EventSelection.parse("+" + name).items());
        assertEquals(List.of("-" + name), EventSelection.parse("-" + name).items());
    }

    @ParameterizedTest
    @FieldSource("NAMES")
    void everyNameIsAKernelEventName(String name) {
        // The daemon maps names to bits with EventMask.parse; a name it cannot map would be a silent no-op.
        assertTrue(EventMask.parse(name) != 0, name);
    }

    @Test
    void allNamesAtOnce() {
        assertEquals(NAMES, EventSelection.parse(String.join(",", NAMES)).items());
    }

    @Test
    void mixingPlainAndSignedItemsIsAnError() {
        assertInvalid("cannot mix plain and +/- event names ('access' and '+modify')", "access,+modify");
        assertInvalid("cannot mix plain and +/- event names ('open' and '-attrib')", "-attrib,open,+create");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "bogus|unknown event 'bogus'",
        "access,bogus|unknown event 'bogus'",
        "+acess|unknown event '+acess' (did you mean 'access'?)",
        "-Atrib|unknown event '-Atrib' (did you mean 'attrib'?)",
        "close-write|unknown event 'close-write' (did you mean 'close_write'?)",
        "q_overflow|unknown event 'q_overflow'",
        "pre_access|unknown event 'pre_access'",
        "opne|unknown event 'opne' (did you mean 'open'?)",
        "+|unknown event '+'",
        "+-access|unknown event '+-access' (did you mean 'access'?)",
    })
    void unknownNamesAreNamed(String list, String message) {
        assertInvalid(message, list);
    }

    @Test
    void emptyItemsAndLists() {
        assertInvalid("empty event list", "");
        assertInvalid("empty event list", "  ");
        assertInvalid("empty item in event list 'access,,open'", "access,,open");
        assertInvalid("empty item in event list 'access,'", "access,");
        assertInvalid("empty item in event list ',access'", ",access");
    }

    @Test
    void itemsAreCopied() {
        List<String> items = new ArrayList<>(List.of("access"));
        EventSelection e = new EventSelection(items, false);
        items.add("modify");
        assertEquals(List.of("access"), e.items());
        assertThrows(UnsupportedOperationException.class, () -> e.items().add("open"));
    }
}
