package io.fanotifyd.daemon.options;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code --host-fields}, {@code --field} and the forwarder's options, on the command line and in a config file. */
class FleetOptionsTest {
    @TempDir
    Path dir;

    private Settings parse(String... args) {
        return OptionParser.parse(args, dir.toString());
    }

    @Test
    void defaultsAddNothing() {
        Settings.Fleet f = parse("-w", "/x").fleet();
        assertFalse(f.hostFields());
        assertEquals(List.of(), f.fields());
        assertFalse(f.forward());
        assertEquals(Optional.empty(), f.kafkaBrokers());
        assertEquals("fanotifyd", f.kafkaTopic());
        assertEquals("/var/lib/fanotifyd/forward.state", f.forwardState());
    }

    @Test
    void fieldsKeepTheirOrderAndTheCommandLineReplacesAConfigValue() throws IOException {
        Path conf = dir.resolve("f.conf");
        Files.writeString(conf, "host_fields yes\nfield cluster=eu-1\nfield site=a b=c\n", UTF_8);
        Settings.Fleet f = parse("-c", conf.toString(), "--field", "role=db", "--field", "cluster=eu-2").fleet();
        assertTrue(f.hostFields());
        assertEquals(List.of(Map.entry("site", "a b=c"), Map.entry("role", "db"), Map.entry("cluster", "eu-2")),
                f.fields());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "noequals|--field: not KEY=VALUE: 'noequals'",
        "=v|--field: not KEY=VALUE: '=v'",
        "Site=x|--field: not a field name: 'Site' (a-z, 0-9 and _, not starting with a digit, at most 64)",
        "9x=y|--field: not a field name: '9x' (a-z, 0-9 and _, not starting with a digit, at most 64)",
        "path=x|--field: 'path' is a field of the records already",
        "event_id=x|--field: 'event_id' is a field of the records already",
        "name_b64=x|--field: 'name_b64' is a field of the records already",
    })
    void badFieldsAreRefusedNamingTheFlag(String value, String message) {
        UsageException e = assertThrows(UsageException.class, () -> parse("-w", "/x", "--field", value));
        assertEquals(message, e.getMessage());
    }

    @Test
    void badFieldInAConfigFileNamesFileAndLine() throws IOException {
        Path conf = dir.resolve("f.conf");
        Files.writeString(conf, "watch /x\n\nfield type=x\n", UTF_8);
        UsageException e = assertThrows(UsageException.class, () -> parse("-c", conf.toString()));
        assertTrue(e.getMessage().startsWith(conf + ":3: "), e.getMessage());
        assertTrue(e.getMessage().endsWith("'type' is a field of the records already"), e.getMessage());
    }

    @Test
    void forwarderOptions() {
        Settings.Fleet f = parse("--forward", "-o", "out.jsonl", "--kafka-brokers", "k1:9092,k2:9092",
                "--kafka-topic", "fs.events", "--kafka-property", "security.protocol=SSL", "--kafka-property",
                "ssl.truststore.location=/etc/t.jks", "--forward-state", "st").fleet();
        assertTrue(f.forward());
        assertEquals(Optional.of("k1:9092,k2:9092"), f.kafkaBrokers());
        assertEquals("fs.events", f.kafkaTopic());
        assertEquals(List.of(Map.entry("security.protocol", "SSL"),
                Map.entry("ssl.truststore.location", "/etc/t.jks")), f.kafkaProperties());
        assertEquals(dir + "/st", f.forwardState());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--kafka-topic|a/b|--kafka-topic: not a Kafka topic name: 'a/b' (1 to 249 of A-Z a-z 0-9 . _ -)",
        "--kafka-topic|..|--kafka-topic: not a Kafka topic name: '..' (1 to 249 of A-Z a-z 0-9 . _ -)",
        "--kafka-property|novalue|--kafka-property: not KEY=VALUE: 'novalue'",
    })
    void badForwarderValues(String flag, String value, String message) {
        UsageException e = assertThrows(UsageException.class, () -> parse("-w", "/x", flag, value));
        assertEquals(message, e.getMessage());
    }

    @Test
    void forwardIsForTheCommandLineOnly() throws IOException {
        // One config file serves the daemon and its forwarder: "forward" in it would turn the daemon into one.
        Path conf = dir.resolve("f.conf");
        Files.writeString(conf, "watch /x\nforward 1\n", UTF_8);
        UsageException e = assertThrows(UsageException.class, () -> parse("-c", conf.toString()));
        assertTrue(e.getMessage().startsWith(conf + ":2: "), e.getMessage());
        assertTrue(Option.FORWARD.configKey().isEmpty());
    }
}
