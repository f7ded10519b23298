package io.fanotifyd.daemon.options;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class QueueSizeTest {
    @ParameterizedTest
    @CsvSource({"unlimited,unlimited", "UNLIMITED,unlimited", "kernel,kernel", "Kernel,kernel", "1,1",
            "16384,16384", "2147483647,2147483647", "0010,10"})
    void validForms(String text, String shown) {
        assertEquals(shown, QueueSize.parse(text).toString());
    }

    @Test
    void typedResults() {
        assertEquals(QueueSize.UNLIMITED, QueueSize.parse("unlimited"));
        assertEquals(QueueSize.KERNEL, QueueSize.parse("kernel"));
        assertEquals(new QueueSize.Bounded(1), QueueSize.parse("1"));
        String described = switch (QueueSize.parse("42")) {
            case QueueSize.Unlimited u -> "unlimited";
            case QueueSize.KernelDefault k -> "kernel";
            case QueueSize.Bounded(int events) -> "bounded " + events;
        };
        assertEquals("bounded 42", described);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "0|out of range: '0' (1..2147483647)",
        "-1|out of range: '-1' (1..2147483647)",
        "2147483648|out of range: '2147483648' (1..2147483647)",
        "99999999999999999999|out of range: '99999999999999999999' (1..2147483647)",
        "abc|not a number, 'unlimited' or 'kernel': 'abc'",
        "1k|not a number, 'unlimited' or 'kernel': '1k'",
        "+5|not a number, 'unlimited' or 'kernel': '+5'",
        "1_000|not a number, 'unlimited' or 'kernel': '1_000'",
        "0x10|not a number, 'unlimited' or 'kernel': '0x10'",
        "-|not a number, 'unlimited' or 'kernel': '-'",
        "unlimit|not a number, 'unlimited' or 'kernel': 'unlimit'",
    })
    void badValues(String text, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> QueueSize.parse(text));
        assertEquals(message, e.getMessage());
    }

    @Test
    void boundedRejectsZero() {
        assertThrows(IllegalArgumentException.class, () -> new QueueSize.Bounded(0));
    }
}
