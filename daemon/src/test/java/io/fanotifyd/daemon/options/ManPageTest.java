package io.fanotifyd.daemon.options;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** fanotifyd(8): every option of the table is in it, and groff renders it without a warning. */
class ManPageTest {
    private final String page = ManPage.render("9.9.9", "2026-12-04");

    @Test
    void everySupportedOptionAndItsConfigKeyIsInThePage() {
        for (Option o : Option.values()) {
            if (!o.supported()) {
                continue;
            }
            assertTrue(page.contains("\\fB" + ManPage.text(o.longFlag()) + "\\fR"), o.longFlag());
            o.shortFlag().ifPresent(s -> assertTrue(page.contains("\\fB" + ManPage.text(s) + "\\fR, "), s));
            o.configKey().ifPresent(k -> assertTrue(page.contains("config key \\fB" + ManPage.text(k) + "\\fR"),
                    k));
        }
    }

    @Test
    void theSectionsAManPageNeedsAreThere() {
        for (String s : new String[] {"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "CONFIGURATION FILE", "RECORDS",
                "SIGNALS", "FILES", "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"}) {
            assertTrue(page.contains("\n.SH " + s + "\n"), s);
        }
        assertTrue(page.startsWith(".\\\" Generated from the option table"));
        assertTrue(page.contains(".TH FANOTIFYD 8 \"2026\\-12\\-04\" \"fanotifyd 9.9.9\""), page.lines().limit(3)
                .toList().toString());
    }

    @Test
    void noTextLineCanBeReadAsARequest() {
        for (String line : page.split("\n")) {
            if (line.startsWith(".") || line.startsWith("'")) {
                assertTrue(line.matches("^\\.(\\\\\"|TH|SH|SS|TP|PP|B|I|BR|RI|br|RS|RE|nf|fi|nh|ad) ?.*"), line);
            }
        }
    }

    /** groff -ww: every warning; -z: no output. CI must have groff (Debian's groff-base). */
    @Test
    void groffRendersItWithoutAWarning(@TempDir Path dir) throws IOException, InterruptedException {
        Path file = dir.resolve("fanotifyd.8");
        Files.writeString(file, page);
        Process p;
        try {
            p = new ProcessBuilder("groff", "-ww", "-man", "-Tutf8", "-z", file.toString()).start();
        } catch (IOException e) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                fail("groff is needed in CI: " + e.getMessage());
            }
            System.out.println("SKIP: no groff: " + e.getMessage());
            org.junit.jupiter.api.Assumptions.abort("no groff");
            return;
        }
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "groff did not finish");
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals("", err, "groff warnings");
        assertEquals(0, p.exitValue());
        assertFalse(page.contains("\t"), "no tabs");
    }
}
