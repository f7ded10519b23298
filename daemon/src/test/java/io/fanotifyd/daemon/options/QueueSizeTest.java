package io.fanotifyd.daemon.options;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class QueueSizeTest {
    @ParameterizedTest
    @CsvSource({"unlimited,unlimited", "UNLIMITED,unlimited", "kernel,kernel", "Kernel,kernel"})
    void validForms(String text, String shown) {
        assertEquals(shown, QueueSize.parse(text).toString());
    }

    @Test
    void typedResults() {
        assertEquals(QueueSize.UNLIMITED, QueueSize.parse("unlimited"));
        assertEquals(QueueSize.KERNEL, QueueSize.parse("kernel"));
        String described = switch (QueueSize.parse("Kernel")) {
            case QueueSize.Unlimited u -> "unlimited";
            case QueueSize.KernelDefault k -> "kernel";
        };
        assertEquals("kernel", described);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "0|'0': the kernel has no per-group queue size; set sysctl fs.fanotify.max_queued_events and use 'kernel'",
        "16384|'16384': the kernel has no per-group queue size; set sysctl fs.fanotify.max_queued_events and use 'kernel'",
        "-1|'-1': the kernel has no per-group queue size; set sysctl fs.fanotify.max_queued_events and use 'kernel'",
        "abc|not 'unlimited' or 'kernel': 'abc'",
        "1k|not 'unlimited' or 'kernel': '1k'",
        "0x10|not 'unlimited' or 'kernel': '0x10'",
        "-|not 'unlimited' or 'kernel': '-'",
        "unlimit|not 'unlimited' or 'kernel': 'unlimit'",
    })
    void badValues(String text, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> QueueSize.parse(text));
        assertEquals(message, e.getMessage());
    }
}
