package io.fanotifyd.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fanotifyd.daemon.options.EventSelection;
import io.fanotifyd.kernel.EventMask;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link EventSet#permissionMask}: never {@code FAN_ONDIR}, whatever is asked. The event thread opens the
 * mount points of marked filesystems (directories) to resolve file handles; with {@code FAN_ONDIR} in a
 * permission mask such an open would wait for an answer only that same thread can give.
 */
class EventSetTest {
    @ParameterizedTest
    @ValueSource(strings = {"+ondir", "open_perm,ondir", "+access_perm,+ondir", "open_perm,open_exec_perm,ondir,open"})
    void thePermissionMaskNeverCarriesOndir(String events) {
        long mask = EventSet.permissionMask(EventSelection.parse(events));
        assertEquals(0, mask & EventMask.ONDIR, EventMask.names(mask));
        assertEquals(mask, mask & EventMask.PERM_EVENTS, EventMask.names(mask));
    }
}
