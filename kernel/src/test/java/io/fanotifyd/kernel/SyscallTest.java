package io.fanotifyd.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * {@link Syscall}'s call numbers against the kernel's own headers (linux-libc-dev): amd64's
 * {@code asm/unistd_64.h}, and the generic table arm64 uses. A wrong number would call another system call.
 */
class SyscallTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "amd64, /usr/include/x86_64-linux-gnu/asm/unistd_64.h",
        "aarch64, /usr/include/asm-generic/unistd.h",
    })
    void everyNumberIsTheKernelHeadersOwn(String arch, String header) throws Exception {
        Map<String, Long> nr = parse(Path.of(header));
        Syscall.Numbers numbers = Syscall.numbers(arch);
        for (RecordComponent c : Syscall.Numbers.class.getRecordComponents()) {
            String name = snake(c.getName());
            Long expected = nr.get(name);
            assertTrue(expected != null, "no __NR_" + name + " in " + header);
            assertEquals(expected, (long) c.getAccessor().invoke(numbers), arch + " " + name);
        }
    }

    @Test
    void architecturesByTheirJavaNames() {
        assertSame(Syscall.AMD64, Syscall.numbers("amd64"));
        assertSame(Syscall.AMD64, Syscall.numbers("x86_64"));
        assertSame(Syscall.AARCH64, Syscall.numbers("aarch64"));
        UnsatisfiedLinkError e = assertThrows(UnsatisfiedLinkError.class, () -> Syscall.numbers("riscv64"));
        assertTrue(e.getMessage().contains("riscv64"), e.getMessage());
    }

    /** {@code openByHandleAt} → {@code open_by_handle_at}, {@code eventfd2} → {@code eventfd2}. */
    static String snake(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(java.util.Locale.ROOT);
    }

    /** {@code #define __NR_x N}, {@code #define __NR3264_x N} and {@code #define __NR_x __NR3264_x}. */
    static Map<String, Long> parse(Path header) throws IOException {
        Map<String, Long> numbers = new HashMap<>();
        Map<String, String> aliases = new HashMap<>();
        Pattern def = Pattern.compile("^#define __NR(?:3264)?_(\\w+)\\s+(\\S+)");
        for (String line : Files.readAllLines(header)) {
            Matcher m = def.matcher(line);
            if (!m.find()) {
                continue;
            }
            String value = m.group(2);
            if (value.matches("\\d+")) {
                numbers.putIfAbsent(m.group(1), Long.parseLong(value));
            } else if (value.startsWith("__NR")) {
                aliases.put(m.group(1), value.replaceFirst("^__NR(?:3264)?_", ""));
            }
        }
        aliases.forEach((name, target) -> {
            if (numbers.containsKey(target)) {
                numbers.putIfAbsent(name, numbers.get(target));
            }
        });
        return numbers;
    }
}
