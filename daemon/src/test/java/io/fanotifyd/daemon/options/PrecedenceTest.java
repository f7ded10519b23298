package io.fanotifyd.daemon.options;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The config file is applied first, then the command line, wherever -c appears. */
class PrecedenceTest {
    @TempDir
    Path dir;

    private String conf;

    @BeforeEach
    void writeConfig() throws IOException {
        Path file = dir.resolve("f.conf");
        Files.writeString(file, """
                watch /conf/w
                mount /conf/m
                filesystem /conf/fs
                output /conf/out.jsonl
                pid_file /conf/f.pid
                log_file /conf/f.log
                foreground 1
                no_fid 1
                verbose 2
                events access
                queue_size kernel
                """);
        conf = file.toString();
    }

    private Settings parse(String... args) {
        return OptionParser.parse(args, dir.toString());
    }

    @Test
    void configAloneApplies() {
        Settings s = parse("-c", conf);
        assertEquals(List.of("/conf/w"), s.watches());
        assertEquals(Optional.of("/conf/out.jsonl"), s.output());
        assertTrue(s.foreground());
        assertTrue(s.noFid());
        assertEquals(2, s.verbosity());
        assertEquals(QueueSize.KERNEL, s.queueSize());
    }

    @Test
    void commandLineScalarsOverrideTheConfigWhereverDashCIs() {
        for (String[] args : List.of(
                new String[] {"-c", conf, "-o", "/cli/out", "--pid-file", "/cli/pid", "--log-file", "/cli/log",
                        "--events", "+modify", "--queue-size", "kernel"},
                new String[] {"-o", "/cli/out", "--pid-file", "/cli/pid", "--log-file", "/cli/log",
                        "--events", "+modify", "--queue-size", "kernel", "--config", conf})) {
            Settings s = parse(args);
            assertEquals(Optional.of("/cli/out"), s.output());
            assertEquals(Optional.of("/cli/pid"), s.pidFile());
            assertEquals(Optional.of("/cli/log"), s.logFile());
            assertEquals(new EventSelection(List.of("+modify"), true), s.events());
            assertEquals(QueueSize.KERNEL, s.queueSize());
        }
    }

    @Test
    void commandLineStdoutOverridesAConfigOutputFile() {
        assertTrue(parse("-o", "-", "-c", conf).outputIsStdout());
    }

    @Test
    void repeatableOptionsConcatenateConfigFirst() {
        Settings s = parse("-w", "/cli/w1", "--mount", "/cli/m", "-c", conf, "-w", "/cli/w2",
                "--filesystem", "/cli/fs");
        assertEquals(List.of("/conf/w", "/cli/w1", "/cli/w2"), s.watches());
        assertEquals(List.of("/conf/m", "/cli/m"), s.mounts());
        assertEquals(List.of("/conf/fs", "/cli/fs"), s.filesystems());
    }

    @Test
    void eachDashVAddsToTheConfigLevel() {
        assertEquals(3, parse("-v", "-c", conf).verbosity());
        assertEquals(4, parse("-c", conf, "-vv").verbosity());
    }

    @Test
    void verbosityDoesNotOverflow() throws IOException {
        Path file = dir.resolve("max.conf");
        Files.writeString(file, "verbose 2147483647\n");
        assertEquals(Integer.MAX_VALUE, parse("-c", file.toString(), "-vvv").verbosity());
    }

    @Test
    void commandLineBooleansCannotBeTurnedOffButAreNotLost() {
        Settings s = parse("-f", "-c", conf);
        assertTrue(s.foreground());
        assertTrue(s.noFid());
    }

    @Test
    void booleansFromTheConfigStayFalseWhenSaidSo() throws IOException {
        Path file = dir.resolve("off.conf");
        Files.writeString(file, "foreground off\n");
        assertFalse(parse("-c", file.toString()).foreground());
        assertTrue(parse("-c", file.toString(), "--foreground").foreground());
    }

    @Test
    void commandLineErrorsAreReportedBeforeTheConfigIsRead() {
        UsageException e = assertThrows(UsageException.class,
                () -> parse("-c", dir.resolve("missing.conf").toString(), "--bogus"));
        assertEquals("unknown option '--bogus'", e.getMessage());
    }
}
