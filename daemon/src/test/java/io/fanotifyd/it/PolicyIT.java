package io.fanotifyd.it;

import static io.fanotifyd.it.FileEventsIT.has;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Alerts in observe mode: canaries (fnmatch with FNM_PATHNAME, byte semantics), per-process write bursts, and the
 * hook that runs for an alert (environment, no injection, cooldown, timeout, no alert → hook loop).
 *
 * <p>Every test checks the whole output at the end against an oracle ({@link #verify}): each event record ends
 * with {@code seq} (1, 2, 3... in output order), each event that should raise a canary alert is followed by
 * exactly that alert (reason by the strongest bit of the merged mask, path = the matching path, event_seq = the
 * event's seq), and no other record is. Absence is only trusted after a sentinel event has been read.
 *
 * <p>Kernel merging: while events are queued, the kernel merges those of one process on one object. Tests that
 * need separate records drive a long-lived shell step by step ({@link Scripted}) and wait for each record; the
 * tests about merged masks make the merge certain by stopping the daemon (SIGSTOP to its own pid) meanwhile.
 */
@Tag("kernel")
class PolicyIT {
    static final List<String> CANARY_ALERT_FIELDS = List.of("type", "ts_ms", "kind", "pid", "comm", "exe", "path",
            "reason", "event_seq", "job_id", "path_role");
    static final List<String> BURST_ALERT_FIELDS = List.of("type", "ts_ms", "kind", "pid", "comm", "exe", "path",
            "reason", "count", "window_ms", "event_seq", "job_id", "path_role");
    static final Set<String> MUTATIONS = Set.of("MODIFY", "CLOSE_WRITE", "CREATE", "DELETE", "RENAME", "ATTRIB");

    @BeforeAll
    static void kernel() {
        KernelSupport.requireKernel();
    }

    // ------------------------------------------------------------------------------------------------ canaries

    @ParameterizedTest
    @ValueSource(strings = {"tmpfs", "ext4"})
    void canaryReasonsForOpenModifyRenameDeleteButNotAttribOrCreate(String fs) throws IOException {
        try (TestMount m = FileEventsIT.mount(fs)) {
            String root = m.root().toString();
            Files.writeString(m.root().resolve("secret-a"), "canary\n");
            Files.writeString(m.root().resolve("plain"), "plain\n");
            Files.writeString(m.root().resolve("secret"), "not a canary: no dash\n");
            Predicate<String> canary = p -> p.startsWith(root + "/secret-") && p.indexOf('/', root.length() + 1) < 0;
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--filesystem", root, "--canary", root + "/secret-*")) {
                long opener = Shell.run("exec cat " + root + "/secret-a > /dev/null");
                JsonNode opened = awaitAlert(d, "canary", opener, "canary opened");
                assertEquals(root + "/secret-a", opened.get("path").asText());

                long modifier = Shell.run("echo more >> " + root + "/secret-a");
                JsonNode modified = awaitAlert(d, "canary", modifier, "canary modified");
                assertEquals(root + "/secret-a", modified.get("path").asText());

                long chmodder = Shell.run("exec chmod 600 " + root + "/secret-a");
                long mkdirer = Shell.run("exec mkdir " + root + "/secret-dir");
                long linker = Shell.run("exec ln " + root + "/secret-a " + root + "/secret-link");
                // '*' does not cross '/': a file inside secret-dir is no canary (its create, write, delete).
                long inner = Shell.run("echo x > " + root + "/secret-dir/inner; cat " + root
                        + "/secret-dir/inner > /dev/null; rm " + root + "/secret-dir/inner");
                long neighbour = Shell.run("cat " + root + "/secret " + root + "/plain > /dev/null; echo x >> "
                        + root + "/plain");

                long renamerFrom = Shell.run("exec mv " + root + "/secret-a " + root + "/moved-a");
                JsonNode renamedFrom = awaitAlert(d, "canary", renamerFrom, "canary renamed");
                assertEquals(root + "/secret-a", renamedFrom.get("path").asText(), "the matching (old) path");

                long renamerTo = Shell.run("exec mv " + root + "/plain " + root + "/secret-b");
                JsonNode renamedTo = awaitAlert(d, "canary", renamerTo, "canary renamed");
                assertEquals(root + "/secret-b", renamedTo.get("path").asText(), "the matching (new) path");

                long deleter = Shell.run("exec rm " + root + "/secret-b");
                JsonNode deleted = awaitAlert(d, "canary", deleter, "canary deleted");
                assertEquals(root + "/secret-b", deleted.get("path").asText());
                long rmdirer = Shell.run("exec rmdir " + root + "/secret-dir");
                JsonNode dirDeleted = awaitAlert(d, "canary", rmdirer, "canary deleted");
                assertEquals(root + "/secret-dir", dirDeleted.get("path").asText());

                List<JsonNode> rs = ScopeIT.settle(d, m.root().resolve("zz-sentinel"));
                assertTrue(rs.stream().anyMatch(r -> has(r, "ATTRIB") && r.get("pid").asLong() == chmodder),
                        "the chmod is seen: " + dump(rs));
                assertTrue(rs.stream().anyMatch(r -> has(r, "CREATE") && r.get("pid").asLong() == mkdirer),
                        "the mkdir is seen: " + dump(rs));
                assertTrue(rs.stream().anyMatch(r -> has(r, "CREATE") && r.get("pid").asLong() == linker),
                        "the link is seen: " + dump(rs));
                for (long quiet : List.of(chmodder, mkdirer, linker, inner, neighbour)) {
                    assertEquals(List.of(), alertsOf(rs, quiet), "ATTRIB, CREATE and non-matching paths are silent");
                }
                // The MOVED_FROM/MOVED_TO records of the renames exist and raise nothing (RENAME carries both).
                assertTrue(rs.stream().anyMatch(r -> has(r, "MOVED_FROM") && r.get("pid").asLong() == renamerFrom),
                        dump(rs));
                assertEquals(1, alertsOf(rs, renamerFrom).size(), dump(rs));
                assertEquals(1, alertsOf(rs, renamerTo).size(), dump(rs));
                assertEquals(1, alertsOf(rs, opener).size(), dump(rs));
                assertEquals(0, d.stop());
                verify(d.records(), canary, true, 0);
            }
        }
    }

    @Test
    void mergedMasksRaiseTheStrongestReason() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            Files.writeString(m.root().resolve("x-src"), "x\n");
            Files.writeString(m.root().resolve("c-ro"), "x\n");
            Predicate<String> canary = p -> p.startsWith(root + "/c-");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--filesystem", root, "--canary", root + "/c-*")) {
                long perl;
                d.freeze();
                try {
                    // One process; all its events stay queued (the daemon is stopped), so the kernel merges
                    // each object's events into one record.
                    perl = Shell.run("cd " + root + " && exec perl -e '"
                            + "open(R, \"<\", \"c-ro\") or die; close R; open(W, \">>\", \"c-ro\") or die;"
                            + " print W \"y\"; close W;"
                            + "open(F, \">\", \"c-del\") or die; close F; unlink \"c-del\" or die;"
                            + "mkdir \"c-dir\" or die; rmdir \"c-dir\" or die;"
                            + "rename(\"x-src\", \"c-mt\") or die; unlink \"c-mt\" or die;'");
                } finally {
                    d.thaw();
                }
                List<JsonNode> rs = ScopeIT.settle(d, m.root().resolve("sentinel"));
                JsonNode ro = event(rs, perl, root + "/c-ro", "OPEN", "MODIFY");
                assertEquals("canary modified", next(rs, ro).get("reason").asText(), "modified beats opened");
                JsonNode del = event(rs, perl, root + "/c-del", "CREATE", "DELETE");
                assertEquals("canary deleted", next(rs, del).get("reason").asText(), "deleted, CREATE adds nothing");
                JsonNode dir = event(rs, perl, root + "/c-dir", "CREATE", "DELETE");
                assertTrue(dir.get("is_dir").asBoolean());
                assertEquals("canary deleted", next(rs, dir).get("reason").asText());
                JsonNode mt = event(rs, perl, root + "/c-mt", "MOVED_TO", "DELETE");
                assertEquals("canary deleted", next(rs, mt).get("reason").asText(), "deleted, MOVED_TO adds nothing");
                JsonNode ren = event(rs, perl, root + "/c-mt", "RENAME");
                assertEquals("canary renamed", next(rs, ren).get("reason").asText());
                assertEquals(0, d.stop());
                verify(d.records(), canary, true, 0);
            }
        }
    }

    /** Without RENAME records (--events -rename) the MOVED_FROM/MOVED_TO records carry the rename. */
    @Test
    void withoutRenameRecordsMovesRaiseRenamedAndDeleteStillWins() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            Files.writeString(m.root().resolve("c-a"), "x\n");
            Files.writeString(m.root().resolve("src"), "x\n");
            Predicate<String> canary = p -> p.startsWith(root + "/c-");
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--filesystem", root, "--canary", root + "/c-*",
                    "--events", "-rename")) {
                long mover = Shell.run("exec mv " + root + "/c-a " + root + "/b");
                JsonNode from = awaitAlert(d, "canary", mover, "canary renamed");
                assertEquals(root + "/c-a", from.get("path").asText());
                long perl;
                d.freeze();
                try {
                    perl = Shell.run("cd " + root + " && exec perl -e 'rename(\"src\", \"c-x\") or die;"
                            + " unlink \"c-x\" or die;'");
                } finally {
                    d.thaw();
                }
                List<JsonNode> rs = ScopeIT.settle(d, m.root().resolve("sentinel"));
                assertFalse(rs.stream().anyMatch(r -> has(r, "RENAME")), "no RENAME records: " + dump(rs));
                JsonNode mt = event(rs, perl, root + "/c-x", "MOVED_TO", "DELETE");
                assertEquals("canary deleted", next(rs, mt).get("reason").asText(), "deleted beats renamed");
                assertEquals(0, d.stop());
                verify(d.records(), canary, false, 0);
            }
        }
    }

    @Test
    void globAndExactPatternsFromConfigAndCommandLineMatchWithPathnameSemantics() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            Path conf = m.outside("fanotifyd.conf");
            Files.writeString(conf, "# canaries from the config file come first\ncanary " + root + "/exact.txt\n"
                    + "canary " + root + "/conf-*.txt\n");
            List<String> files = List.of("exact.txt", "exact.txt.bak", "xexact.txt", "conf-1.txt", "conf-.txt",
                    "conf-1.txt.old", "g1ob-7x.key", "gXob-7.key", "glob-7.key", "glob-x.key", "globb-7.key",
                    "g/ob-7.key", "star/a.db", "star/.hidden.db", "star/sub/b.db", "star/a.dbx",
                    "cls-b", "cls-a", "cls-z", "cls-/x", "dot/.env", "dot/env");
            Set<String> expected = new TreeSet<>(Stream.of("exact.txt", "conf-1.txt", "conf-.txt", "g1ob-7x.key",
                    "gXob-7.key", "glob-7.key", "star/a.db", "star/.hidden.db", "cls-b", "cls-z", "dot/.env")
                    .map(f -> root + "/" + f).toList());
            for (String f : files) {
                Path p = m.root().resolve(f);
                Files.createDirectories(p.getParent());
                Files.writeString(p, "x\n");
            }
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "-c", conf.toString(), "--mount", root,
                    "--canary", root + "/g?ob-[0-9]*.key", "--canary", root + "/star/*.db",
                    "--canary", root + "/cls-[!a-c]", "--canary", root + "/cls-[b]", "--canary", root + "/dot/.e*")) {
                StringBuilder script = new StringBuilder();
                for (String f : files) {
                    script.append(": < '").append(root).append('/').append(f).append("'; ");
                }
                long reader = Shell.run(script.toString());
                List<JsonNode> rs = ScopeIT.settle(d, m.root().resolve("sentinel"));
                for (String f : files) {
                    String p = root + "/" + f;
                    assertTrue(rs.stream().anyMatch(r -> has(r, "OPEN") && p.equals(r.path("path").asText())
                            && r.get("pid").asLong() == reader), "the open of " + f + " is seen: " + dump(rs));
                }
                Set<String> alerted = new TreeSet<>();
                for (JsonNode a : alertsOf(rs, reader)) {
                    assertEquals("canary opened", a.get("reason").asText(), a.toString());
                    assertTrue(alerted.add(a.get("path").asText()), "one alert per open: " + dump(rs));
                }
                // cls-z matches [!a-c] but cls-b matches [b] (and [!a-c] does not): one alert each, none for cls-a.
                assertEquals(expected, alerted, "alerted paths");
                assertEquals(0, d.stop());
                verify(d.records(), expected::contains, true, 0);
            }
        }
    }

    @Test
    void nonUtf8PatternMatchesTheExactBytes() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            Path hooks = Files.createDirectory(m.outside("hooks"));
            // Made by /bin/sh from octal escapes: key-\377.pem (canary), key-\376.pem (not), u-\377.txt and
            // u-é.txt against u-?.txt ('?' is one byte: only the first), w-é.txt against w-??.txt (matches).
            String mk = "cd '" + root + "' && for n in 'key-\\377.pem' 'key-\\376.pem' 'u-\\377.txt' 'u-\\303\\251.txt'"
                    + " 'w-\\303\\251.txt'; do : > \"$(printf \"$n\")\"; done";
            Shell.run(mk);
            String hook = "printf '%s' \"$FAN_PATH\" > '" + hooks + "'/tmp.$$ && mv '" + hooks + "'/tmp.$$ '"
                    + hooks + "'/path.$$";
            String args = "--mount '" + root + "' --canary \"$(printf '" + root + "/key-\\377.pem')\" --canary '"
                    + root + "/u-?.txt' --canary '" + root + "/w-??.txt' --hook-cooldown-ms 0 --hook " + quote(hook);
            try (ShellDaemon d = ShellDaemon.start(m.outside("out.jsonl"), args)) {
                long reader = Shell.run("cd '" + root + "' && for n in 'key-\\377.pem' 'key-\\376.pem' 'u-\\377.txt'"
                        + " 'u-\\303\\251.txt' 'w-\\303\\251.txt'; do : < \"$(printf \"$n\")\"; done");
                List<JsonNode> rs = d.settle(m.root().resolve("sentinel"));
                Set<String> alerted = new TreeSet<>();
                for (JsonNode a : alertsOf(rs, reader)) {
                    assertEquals("canary opened", a.get("reason").asText());
                    alerted.add(hex(pathBytes(a)));
                }
                byte[] rootBytes = root.getBytes(StandardCharsets.UTF_8);
                Set<String> expected = new TreeSet<>(List.of(hex(concat(rootBytes, bytes("/key-", 0xff, ".pem"))),
                        hex(concat(rootBytes, bytes("/u-", 0xff, ".txt"))),
                        hex(concat(rootBytes, bytes("/w-", 0xc3, 0xa9, ".txt")))));
                assertEquals(expected, alerted, "alerted paths (hex): " + dump(rs));
                for (JsonNode a : alertsOf(rs, reader)) {
                    byte[] p = pathBytes(a);
                    boolean utf8 = isUtf8(p);
                    assertEquals(!utf8, a.has("path_b64"), "path_b64 exactly when the path is not UTF-8: " + a);
                }
                // The hook gets the exact bytes in FAN_PATH.
                awaitFiles(hooks, "path.", 3, 10);
                Set<String> hookPaths = new TreeSet<>();
                for (Path f : files(hooks, "path.")) {
                    hookPaths.add(hex(Files.readAllBytes(f)));
                }
                assertEquals(expected, hookPaths, "FAN_PATH bytes (hex)");
                assertEquals(0, d.stop());
            }
        }
    }

    // --------------------------------------------------------------------------------------------------- bursts

    @Test
    void crossingTheThresholdGivesExactlyOneBurstAlert() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            int threshold = 20;
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString(), "--burst-threshold",
                    Integer.toString(threshold))) {
                // 30 empty files: a CREATE and a CLOSE_WRITE (with OPEN) record each, 60 mutations in all.
                long writer = Shell.run(createFiles(dir, "f", 30));
                JsonNode alert = awaitAlert(d, "burst", writer, "write burst");
                List<JsonNode> rs = ScopeIT.settle(d, dir.resolve("sentinel"));
                assertEquals(60, rs.stream().filter(r -> r.get("pid").asLong() == writer && isMutation(r)).count(),
                        "mutation records of the writer: " + dump(rs));
                assertEquals(List.of(alert), alertsOf(rs, writer), "exactly one burst alert");
                assertEquals(threshold, alert.get("count").asInt());
                assertEquals(1000, alert.get("window_ms").asLong(), "the default window");
                JsonNode crossing = bySeq(rs, alert.get("event_seq").asLong());
                assertEquals(crossing.get("path").asText(), alert.get("path").asText());
                assertEquals(threshold, mutationIndex(rs, crossing), "crossed at the threshold-th mutation");
                assertEquals(0, d.stop());
                verify(d.records(), p -> false, true, threshold);
            }
        }
    }

    /** A record is one mutation: MOVED_FROM/MOVED_TO do not count (RENAME does), nor do merged bits twice. */
    @Test
    void mutationsAreCountedPerRecordWithRenameOnceAndAttribAndDelete() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            String root = m.root().toString();
            for (String f : List.of("r1", "r2", "r3", "a1", "a2", "d1", "d2")) {
                Files.writeString(m.root().resolve(f), "x\n");
            }
            int threshold = 9;
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--filesystem", root, "--burst-threshold",
                    Integer.toString(threshold), "--burst-window-ms", "600000")) {
                long perl;
                d.freeze();
                try {
                    // m1: CREATE + one merged OPEN|MODIFY|CLOSE_WRITE record = 2 (3 if bits were counted); three
                    // renames = 3 (9 with their MOVED_FROM/MOVED_TO); two chmods = 2 (7 so far); an unlink is an
                    // ATTRIB record (the link count; no path: the inode is gone) then the DELETE record, so the
                    // DELETE of d1 is the 9th and crosses; counting moves or bits would cross earlier.
                    perl = Shell.run("cd " + root + " && exec perl -e '"
                            + "open(F, \">\", \"m1\") or die; syswrite F, \"a\"; syswrite F, \"b\"; close F;"
                            + "rename(\"r1\", \"s1\") or die; rename(\"r2\", \"s2\") or die; rename(\"r3\", \"s3\") or die;"
                            + "chmod 0600, \"a1\" or die; chmod 0600, \"a2\" or die;"
                            + "unlink \"d1\" or die; unlink \"d2\" or die;'");
                } finally {
                    d.thaw();
                }
                List<JsonNode> rs = ScopeIT.settle(d, m.root().resolve("sentinel"));
                List<JsonNode> bursts = alertsOf(rs, perl);
                assertEquals(1, bursts.size(), "one burst alert: " + dump(rs));
                JsonNode alert = bursts.get(0);
                assertEquals("burst", alert.get("kind").asText());
                JsonNode crossing = bySeq(rs, alert.get("event_seq").asLong());
                assertTrue(has(crossing, "DELETE") && (root + "/d1").equals(crossing.get("path").asText()),
                        "crossed at the unlink of d1, not earlier: " + crossing + "\n" + dump(rs));
                JsonNode linkCount = rs.get(rs.indexOf(crossing) - 1);
                assertTrue(has(linkCount, "ATTRIB") && linkCount.get("pid").asLong() == perl,
                        "the unlink's ATTRIB record comes first and counts: " + linkCount);
                assertEquals(root + "/d1", alert.get("path").asText());
                assertEquals(threshold, alert.get("count").asInt());
                assertEquals(600000, alert.get("window_ms").asLong());
                assertEquals(0, d.stop());
                verify(d.records(), p -> false, true, threshold);
            }
        }
    }

    @Test
    void aProcessBelowTheThresholdRaisesNothing() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString(), "--burst-threshold",
                    "50")) {
                long writer = Shell.run(createFiles(dir, "f", 10));
                List<JsonNode> rs = ScopeIT.settle(d, dir.resolve("sentinel"));
                assertEquals(20, rs.stream().filter(r -> r.get("pid").asLong() == writer && isMutation(r)).count(),
                        dump(rs));
                assertEquals(List.of(), alerts(rs), "no alert for 20 mutations under a threshold of 50");
                assertEquals(0, d.stop());
                verify(d.records(), p -> false, true, 50);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void thresholdZeroDisablesBursts(boolean explicit) throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            List<String> args = new ArrayList<>(List.of("--watch", dir.toString()));
            if (explicit) {
                args.addAll(List.of("--burst-threshold", "0"));
            }
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, args.toArray(String[]::new))) {
                long writer = Shell.run(createFiles(dir, "f", 500));
                List<JsonNode> rs = ScopeIT.settle(d, dir.resolve("sentinel"));
                assertEquals(1000, rs.stream().filter(r -> r.get("pid").asLong() == writer && isMutation(r)).count(),
                        "all 1000 mutation records seen");
                assertEquals(List.of(), alerts(rs), "no alert with bursts off");
                assertEquals(0, d.stop());
                verify(d.records(), p -> false, true, 0);
            }
        }
    }

    @Test
    void burstsAreCountedPerProcess() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            // Two processes with 20 mutations each within one (long) window: 40 together, 20 each, threshold 30.
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString(), "--burst-threshold",
                    "30", "--burst-window-ms", "60000")) {
                long one = Shell.run(createFiles(dir, "a", 10));
                long two = Shell.run(createFiles(dir, "b", 10));
                List<JsonNode> rs = ScopeIT.settle(d, dir.resolve("sentinel"));
                for (long pid : List.of(one, two)) {
                    assertEquals(20, rs.stream().filter(r -> r.get("pid").asLong() == pid && isMutation(r)).count(),
                            dump(rs));
                }
                assertEquals(List.of(), alerts(rs), "each process stays below the threshold");
                assertEquals(0, d.stop());
                verify(d.records(), p -> false, true, 30);
            }
        }
    }

    @Test
    void burstRearmsOnceTheProcessIsBelowTheThresholdAgain() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            int threshold = 10;
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString(), "--burst-threshold",
                    Integer.toString(threshold), "--burst-window-ms", "500");
                 Scripted sh = new Scripted("read x; " + createFiles(dir, "a", 10) + "; read x; "
                         + createFiles(dir, "b", 10) + "; read x")) {
                long pid = sh.pid();
                sh.step();
                awaitAlert(d, "burst", pid, "write burst");
                d.await(r -> has(r, "CLOSE_WRITE") && (dir + "/a9").equals(r.path("path").asText()), "last a", 10);
                Daemon.sleep(1200); // > window: the next mutation finds the process below the threshold
                sh.step();
                d.await(r -> has(r, "CLOSE_WRITE") && (dir + "/b9").equals(r.path("path").asText()), "last b", 10);
                List<JsonNode> rs = ScopeIT.settle(d, dir.resolve("sentinel"));
                List<JsonNode> bursts = alertsOf(rs, pid);
                assertEquals(2, bursts.size(), "one alert per burst: " + dump(rs));
                assertEquals(threshold, mutationIndex(rs, bySeq(rs, bursts.get(0).get("event_seq").asLong())));
                // The second burst starts from one again: it crosses at its own threshold-th mutation.
                assertEquals(20 + threshold, mutationIndex(rs, bySeq(rs, bursts.get(1).get("event_seq").asLong())));
                assertTrue(bursts.get(1).get("path").asText().startsWith(dir + "/b"), bursts.get(1).toString());
                assertEquals(0, sh.finish());
                assertEquals(0, d.stop());
                verify(d.records(), p -> false, true, -1);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------- hooks

    @Test
    void hookGetsEveryAlertValueInItsEnvironment() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path canaryFile = Files.writeString(dir.resolve("canary.txt"), "x\n");
            Path hooks = Files.createDirectory(m.outside("hooks"));
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString(), "--canary",
                    canaryFile.toString(), "--burst-threshold", "10", "--burst-window-ms", "5000",
                    "--hook", envHook(hooks));
                 Scripted sh = new Scripted("read x; : < '" + canaryFile + "'; read x; " + createFiles(dir, "f", 10)
                         + "; read x")) {
                long pid = sh.pid();
                sh.step();
                JsonNode canary = awaitAlert(d, "canary", pid, "canary opened");
                sh.step();
                JsonNode burst = awaitAlert(d, "burst", pid, "write burst");
                List<Map<String, String>> runs = awaitRuns(hooks, 2, 10);
                Map<String, String> canaryRun = only(runs, "canary");
                Map<String, String> burstRun = only(runs, "burst");
                assertEnv(canary, canaryRun);
                assertFalse(canaryRun.containsKey("FAN_COUNT") || canaryRun.containsKey("FAN_WINDOW_MS"),
                        "no burst variables for a canary: " + canaryRun);
                assertEnv(burst, burstRun);
                assertEquals("10", burstRun.get("FAN_COUNT"));
                assertEquals("5000", burstRun.get("FAN_WINDOW_MS"));
                // The shell was alive: its comm and exe are known (and equal in record and environment).
                assertFalse(canaryRun.get("FAN_COMM").isEmpty() || canaryRun.get("FAN_EXE").isEmpty(),
                        canaryRun.toString());
                assertEquals(0, sh.finish());
                assertEquals(0, d.stop());
                verify(d.records(), canaryFile.toString()::equals, true, -1);
            }
        }
    }

    @Test
    void eventDataIsNeverSplicedIntoTheHookCommand() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path hooks = Files.createDirectory(m.outside("hooks"));
            // Were the name spliced into the command, each of these would create a file next to the canary.
            String name = "inj $(touch \"$FAN_PATH.dollar\"); touch \"$FAN_PATH.semi\" `touch \"$FAN_PATH.tick\"`"
                    + " ' \" && touch x.amp #";
            String hook = "printf '%s' \"$FAN_PATH\" > '" + hooks + "'/tmp.$$ && mv '" + hooks + "'/tmp.$$ '" + hooks
                    + "'/path.$$";
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "--watch", dir.toString(), "--canary",
                    dir + "/inj*", "--hook", hook)) {
                Path canaryFile = dir.resolve(name);
                long pid = Shell.run(": > " + quote(canaryFile.toString()));
                JsonNode alert = awaitAlert(d, "canary", pid, "canary modified");
                assertEquals(canaryFile.toString(), alert.get("path").asText());
                List<Path> runs = awaitFiles(hooks, "path.", 1, 10);
                assertEquals(canaryFile.toString(), Files.readString(runs.get(0)), "FAN_PATH holds the raw name");
                // A spliced name would have run its commands while the hook's shell expanded printf's argument,
                // before the mv that made the file just read: anything injected has happened by now.
                ScopeIT.settle(d, dir.resolve("sentinel"));
                try (Stream<Path> s = Files.list(dir)) {
                    assertEquals(Set.of(name, "sentinel"), s.map(p -> p.getFileName().toString())
                            .collect(Collectors.toSet()), "nothing injected ran");
                }
                assertEquals(List.of(runs.get(0)), files(hooks, "path."), "one hook run");
                assertEquals(0, d.stop());
            }
        }
    }

    @Test
    void cooldownLimitsHookRunsPerProcessAndKindButNeverAlertRecords() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path canaryFile = Files.writeString(dir.resolve("canary.txt"), "x\n");
            Path hooks = Files.createDirectory(m.outside("hooks"));
            String open = ": < '" + canaryFile + "'; read x; ";
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "-v", "--watch", dir.toString(), "--canary",
                    canaryFile.toString(), "--burst-threshold", "10", "--burst-window-ms", "60000",
                    "--hook-cooldown-ms", "60000", "--hook", envHook(hooks));
                 Scripted one = new Scripted("read x; " + open + open + open + createFiles(dir, "f", 10)
                         + "; read x")) {
                long first = one.pid();
                for (int i = 1; i <= 3; i++) {
                    one.step();
                    awaitAlertCount(d, first, i, 10);
                }
                awaitRuns(hooks, 1, 10);
                List<JsonNode> rs = d.records();
                assertEquals(3, alertsOf(rs, first).size(), "every open is an alert record: " + dump(rs));

                long second = Shell.run(": < '" + canaryFile + "'");
                awaitAlert(d, "canary", second, "canary opened");
                awaitRuns(hooks, 2, 10);

                one.step();
                awaitAlert(d, "burst", first, "write burst");
                awaitRuns(hooks, 3, 10);
                Set<String> kinds = runs(hooks).stream().map(r -> r.get("FAN_KIND") + " " + r.get("FAN_PID"))
                        .collect(Collectors.toSet());
                assertEquals(Set.of("canary " + first, "canary " + second, "burst " + first), kinds,
                        "one run per process and kind: " + runs(hooks));
                assertEquals(0, one.finish());
                assertEquals(0, d.stop());
                // The runner's own counts, final once stopped (no waiting for runs that might still come): three
                // runs, and the two further canary alerts of the first process held back by the cooldown.
                Map<String, Long> st = d.stats();
                assertEquals(3L, st.get("started"), "hook runs: " + st + " " + runs(hooks));
                assertEquals(2L, st.get("held back by the cooldown"), st.toString());
                assertEquals(3, runs(hooks).size(), runs(hooks).toString());
                verify(d.records(), canaryFile.toString()::equals, true, -1);
            }
        }
    }

    @Test
    void aHangingHookIsKilledAfterItsTimeoutAndNeverStopsEventProcessing() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path canaryFile = Files.writeString(dir.resolve("canary.txt"), "x\n");
            Path hooks = Files.createDirectory(m.outside("hooks"));
            long timeoutMs = 2500;
            String hook = ": > '" + hooks + "'/started.$$; exec sleep 1000";
            List<Long> hookPids = new ArrayList<>();
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "-v", "--watch", dir.toString(), "--canary",
                    canaryFile.toString(), "--hook-timeout-ms", Long.toString(timeoutMs), "--hook", hook)) {
                try {
                    Shell.run(": < '" + canaryFile + "'");
                    Path started = awaitFiles(hooks, "started.", 1, 10).get(0);
                    long hookPid = Long.parseLong(started.getFileName().toString().substring("started.".length()));
                    hookPids.add(hookPid);
                    assertTrue(alive(hookPid), "the hook hangs");

                    // While it hangs: file events and further alerts are recorded promptly.
                    long writer = Shell.run("echo x > " + dir + "/during");
                    d.await(r -> has(r, "CLOSE_WRITE") && r.get("pid").asLong() == writer, "event during the hook", 2);
                    long opener = Shell.run(": < '" + canaryFile + "'");
                    awaitAlert(d, "canary", opener, "canary opened", 2);
                    assertTrue(alive(hookPid), "still hanging while the events were recorded");

                    awaitFiles(hooks, "started.", 2, 10);
                    for (Path f : files(hooks, "started.")) {
                        long p = Long.parseLong(f.getFileName().toString().substring("started.".length()));
                        if (!hookPids.contains(p)) {
                            hookPids.add(p);
                        }
                    }
                    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs + 10_000);
                    while (alive(hookPid) && System.nanoTime() < deadline) {
                        Daemon.sleep(20);
                    }
                    assertFalse(alive(hookPid), "the hook " + hookPid + " was not killed within the timeout + 10 s");
                    // Killed for its timeout (the runner says so), and not before the events above were recorded.
                    d.awaitLog("hook pid " + hookPid + ": still running after " + timeoutMs + " ms, killed its process"
                            + " group", 10);
                    for (long p : hookPids) {
                        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs + 10_000);
                        while (alive(p) && System.nanoTime() < until) {
                            Daemon.sleep(20);
                        }
                        assertFalse(alive(p), "hook " + p + " killed");
                    }
                    long after = Shell.run("echo x > " + dir + "/after");
                    d.await(r -> has(r, "CLOSE_WRITE") && r.get("pid").asLong() == after, "event after the kill", 2);
                    assertEquals(0, d.stop());
                    verify(d.records(), canaryFile.toString()::equals, true, -1);
                } finally {
                    // Only if the daemon failed to: its hooks, by pid, and only while they are still our sleep.
                    for (long p : hookPids) {
                        killIfOurSleep(p);
                    }
                }
            }
        }
    }

    @Test
    void aHookThatOpensTheCanaryDoesNotStartAHookLoop() throws IOException {
        try (TestMount m = TestMount.tmpfs()) {
            Path dir = Files.createDirectory(m.root().resolve("d"));
            Path canaryFile = Files.writeString(dir.resolve("canary.txt"), "x\n");
            Path hooks = Files.createDirectory(m.outside("hooks"));
            // The hook records its run (and the pid it ran for), then (same pid) opens the canary itself.
            String hook = "echo \"$FAN_PID\" > '" + hooks + "'/tmp.$$; mv '" + hooks + "'/tmp.$$ '" + hooks
                    + "'/run.$$; exec cat '" + canaryFile + "' > /dev/null";
            try (Daemon d = Daemon.start(m.outside("out.jsonl"), 1, "-v", "--watch", dir.toString(), "--canary",
                    canaryFile.toString(), "--hook-cooldown-ms", "0", "--hook", hook)) {
                Set<Long> hookPids = new HashSet<>();
                for (int i = 1; i <= 3; i++) {
                    long trigger = Shell.run(": < '" + canaryFile + "'");
                    awaitAlert(d, "canary", trigger, "canary opened");
                    awaitFiles(hooks, "run.", i, 10);
                    for (Path f : files(hooks, "run.")) {
                        hookPids.add(Long.parseLong(f.getFileName().toString().substring("run.".length())));
                    }
                }
                for (long hookPid : hookPids) {
                    // The hook's own open is still recorded: its event and its alert.
                    JsonNode alert = awaitAlert(d, "canary", hookPid, "canary opened");
                    assertEquals(canaryFile.toString(), alert.get("path").asText());
                }
                assertEquals(0, d.stop());
                // Counted when each alert was decided, final once stopped: three runs for the outside alerts,
                // none for the three alerts the hooks' own opens raised.
                Map<String, Long> st = d.stats();
                List<Path> runs = files(hooks, "run.");
                StringBuilder ranFor = new StringBuilder();
                for (Path f : runs) {
                    ranFor.append("\nhook ").append(f.getFileName()).append(" ran for FAN_PID ")
                            .append(Files.readString(f).trim());
                }
                assertEquals(3L, st.get("started"), "one hook run per outside alert, none for the hooks' own opens: "
                        + st + ranFor + dump(d.records()));
                assertEquals(3L, st.get("alerts caused by hooks themselves"), st.toString());
                assertEquals(3, runs.size(), ranFor.toString());
                verify(d.records(), canaryFile.toString()::equals, true, -1);
            }
        }
    }

    // -------------------------------------------------------------------------------------------------- helpers

    static String createFiles(Path dir, String prefix, int n) {
        return "i=0; while [ $i -lt " + n + " ]; do : > '" + dir + "'/" + prefix + "$i; i=$((i+1)); done";
    }

    /** A hook that writes its FAN_* variables to a file of its own: {@code run.PID}, complete when it appears. */
    static String envHook(Path hooks) {
        return "env | grep '^FAN_' > '" + hooks + "'/tmp.$$; mv '" + hooks + "'/tmp.$$ '" + hooks + "'/run.$$";
    }

    static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    static void assertEnv(JsonNode alert, Map<String, String> env) {
        assertEquals(alert.get("kind").asText(), env.get("FAN_KIND"), "FAN_KIND " + env);
        assertEquals(alert.get("pid").asText(), env.get("FAN_PID"), "FAN_PID " + env);
        assertEquals(text(alert, "comm"), env.get("FAN_COMM"), "FAN_COMM " + env);
        assertEquals(text(alert, "exe"), env.get("FAN_EXE"), "FAN_EXE " + env);
        assertEquals(text(alert, "path"), env.get("FAN_PATH"), "FAN_PATH " + env);
        assertEquals(alert.get("reason").asText(), env.get("FAN_REASON"), "FAN_REASON " + env);
        assertEquals(alert.get("ts_ms").asText(), env.get("FAN_TS_MS"), "FAN_TS_MS " + env);
        assertEquals(alert.get("event_seq").asText(), env.get("FAN_EVENT_SEQ"), "FAN_EVENT_SEQ " + env);
        if (alert.has("count")) {
            assertEquals(alert.get("count").asText(), env.get("FAN_COUNT"), "FAN_COUNT " + env);
            assertEquals(alert.get("window_ms").asText(), env.get("FAN_WINDOW_MS"), "FAN_WINDOW_MS " + env);
        }
    }

    /** A string field, "" for null (the hook's value for "unknown"). */
    static String text(JsonNode r, String field) {
        JsonNode v = r.get(field);
        return v == null || v.isNull() ? "" : v.asText();
    }

    static Map<String, String> only(List<Map<String, String>> runs, String kind) {
        List<Map<String, String>> of = runs.stream().filter(r -> kind.equals(r.get("FAN_KIND"))).toList();
        assertEquals(1, of.size(), "one " + kind + " run: " + runs);
        return of.get(0);
    }

    static List<Path> files(Path dir, String prefix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith(prefix)).sorted().toList();
        }
    }

    static List<Path> awaitFiles(Path dir, String prefix, int n, int seconds) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<Path> got = files(dir, prefix);
        while (got.size() < n && System.nanoTime() < deadline) {
            Daemon.sleep(20);
            got = files(dir, prefix);
        }
        if (got.size() < n) {
            fail("expected " + n + " " + prefix + "* files in " + dir + " within " + seconds + " s, got " + got);
        }
        return got;
    }

    static List<Map<String, String>> runs(Path hooks) throws IOException {
        List<Map<String, String>> out = new ArrayList<>();
        for (Path f : files(hooks, "run.")) {
            Map<String, String> env = new LinkedHashMap<>();
            String last = null;
            for (String line : Files.readAllLines(f)) {
                int eq = line.indexOf('=');
                if (line.startsWith("FAN_") && eq > 0) {
                    last = line.substring(0, eq);
                    env.put(last, line.substring(eq + 1));
                } else if (last != null) {
                    env.put(last, env.get(last) + "\n" + line);
                }
            }
            out.add(env);
        }
        return out;
    }

    static List<Map<String, String>> awaitRuns(Path hooks, int n, int seconds) throws IOException {
        awaitFiles(hooks, "run.", n, seconds);
        return runs(hooks);
    }

    static boolean alive(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z';
        } catch (IOException e) {
            return false;
        }
    }

    static void killIfOurSleep(long pid) {
        try {
            byte[] cmd = Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline"));
            if (new String(cmd, StandardCharsets.UTF_8).equals("sleep\u00001000\u0000")) {
                System.err.println("PolicyIT: hook " + pid + " outlived the daemon's timeout; killing it");
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
        } catch (IOException e) {
            // gone
        }
    }

    static List<JsonNode> alerts(List<JsonNode> rs) {
        return rs.stream().filter(r -> "alert".equals(r.path("type").asText())).toList();
    }

    static List<JsonNode> alertsOf(List<JsonNode> rs, long pid) {
        return alerts(rs).stream().filter(r -> r.get("pid").asLong() == pid).toList();
    }

    static void awaitAlertCount(Daemon d, long pid, int n, int seconds) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<JsonNode> rs = d.records();
        while (alertsOf(rs, pid).size() < n && System.nanoTime() < deadline) {
            Daemon.sleep(20);
            rs = d.records();
        }
        assertEquals(n, alertsOf(rs, pid).size(), "alerts of pid " + pid + " within " + seconds + " s: " + dump(rs));
    }

    static JsonNode awaitAlert(Daemon d, String kind, long pid, String reason) throws IOException {
        return awaitAlert(d, kind, pid, reason, 10);
    }

    static JsonNode awaitAlert(Daemon d, String kind, long pid, String reason, int seconds) throws IOException {
        return d.await(r -> "alert".equals(r.path("type").asText()) && kind.equals(r.path("kind").asText())
                && r.get("pid").asLong() == pid && reason.equals(r.path("reason").asText()),
                kind + " alert '" + reason + "' for pid " + pid, seconds);
    }

    static boolean isMutation(JsonNode r) {
        return "event".equals(r.path("type").asText())
                && Stream.of(r.path("events").asText().split(",")).anyMatch(MUTATIONS::contains);
    }

    static JsonNode bySeq(List<JsonNode> rs, long seq) {
        return rs.stream().filter(r -> "event".equals(r.path("type").asText()) && r.get("seq").asLong() == seq)
                .findFirst().orElseThrow(() -> new AssertionError("no event with seq " + seq));
    }

    /** 1-based position of {@code ev} among the mutation records of its process. */
    static int mutationIndex(List<JsonNode> rs, JsonNode ev) {
        long pid = ev.get("pid").asLong();
        int n = 0;
        for (JsonNode r : rs) {
            if (isMutation(r) && r.get("pid").asLong() == pid) {
                n++;
            }
            if (r == ev) {
                return n;
            }
        }
        throw new AssertionError("not found: " + ev);
    }

    /** The one event record of {@code pid} on {@code path} whose events include all of {@code events}. */
    static JsonNode event(List<JsonNode> rs, long pid, String path, String... events) {
        List<JsonNode> found = rs.stream().filter(r -> "event".equals(r.path("type").asText())
                && r.get("pid").asLong() == pid && path.equals(r.path("path").asText())
                && Stream.of(events).allMatch(e -> has(r, e))).toList();
        assertEquals(1, found.size(), "one record " + String.join("|", events) + " on " + path + ": " + dump(rs));
        return found.get(0);
    }

    /** The record right after {@code r} (which must exist and be an alert). */
    static JsonNode next(List<JsonNode> rs, JsonNode r) {
        int i = rs.indexOf(r);
        assertTrue(i >= 0 && i + 1 < rs.size() && "alert".equals(rs.get(i + 1).path("type").asText()),
                "an alert after " + r + ": " + dump(rs));
        return rs.get(i + 1);
    }

    static String dump(List<JsonNode> rs) {
        return rs.stream().map(JsonNode::toString).collect(Collectors.joining("\n", "\n", ""));
    }

    static List<String> fieldNames(JsonNode r) {
        List<String> names = new ArrayList<>();
        r.fieldNames().forEachRemaining(names::add);
        return names;
    }

    /**
     * The whole output against the specification: seq and field order of every record; each event followed by
     * the canary alert it must raise (and no other); burst alerts (when {@code burstThreshold} > 0, assuming no
     * mutation of a process left the window during the test: each process alerts once, at its threshold-th
     * mutation; 0: no burst alert at all; -1: burst alerts are only checked for shape).
     */
    /** Who the process was: in event records after seq, in alerts after path_role (issue 10). */
    static final List<String> WHO_FIELDS = List.of("uid", "gid", "euid", "egid", "ppid", "cgroup");

    static void verify(List<JsonNode> rs, Predicate<String> canary, boolean renameRecords, int burstThreshold) {
        long seq = 0;
        JsonNode lastEvent = null;
        Map<Long, Integer> mutations = new HashMap<>();
        for (int i = 0; i < rs.size(); i++) {
            JsonNode r = rs.get(i);
            String type = r.path("type").asText();
            if (type.equals("event")) {
                List<String> names = fieldNames(r);
                int at = names.indexOf("seq");
                assertTrue(at > 0, "seq in " + r);
                assertEquals(r.has("old_path") ? "old_path_role" : "is_dir", names.get(at - 1), "seq's place in " + r);
                assertEquals(WHO_FIELDS, names.subList(at + 1, Math.min(names.size(), at + 1 + WHO_FIELDS.size())),
                        "who fields after seq: " + r);
                assertTrue(names.subList(at + 1 + WHO_FIELDS.size(), names.size()).stream()
                        .allMatch(n -> n.endsWith("_b64")), "only *_b64 after them: " + r);
                assertEquals(++seq, r.get("seq").asLong(), "seq in output order: " + r);
                lastEvent = r;

                String reason = canaryReason(r, renameRecords);
                String path = r.path("path").isTextual() ? r.get("path").asText() : null;
                String old = r.path("old_path").isTextual() ? r.get("old_path").asText() : null;
                boolean pathHit = path != null && canary.test(path);
                boolean oldHit = old != null && has(r, "RENAME") && canary.test(old);
                int j = i + 1;
                if (reason != null && (pathHit || oldHit)) {
                    assertTrue(j < rs.size(), "canary alert after " + r);
                    JsonNode a = rs.get(j);
                    assertEquals("alert", a.path("type").asText(), "canary alert after " + r + dump(rs));
                    assertEquals("canary", a.path("kind").asText(), "canary alert after " + r + dump(rs));
                    assertEquals(reason, a.get("reason").asText(), "reason for " + r);
                    if (pathHit && oldHit) {
                        assertTrue(Set.of(path, old).contains(a.get("path").asText()), a.toString());
                    } else {
                        assertEquals(pathHit ? path : old, a.get("path").asText(), "the matching path: " + r);
                    }
                    j++;
                } else if (j < rs.size()) {
                    assertFalse("canary".equals(rs.get(j).path("kind").asText()),
                            "no canary alert for " + r + ", got " + rs.get(j));
                }
                if (burstThreshold >= 0) {
                    boolean crossed = false;
                    if (burstThreshold > 0 && isMutation(r)) {
                        int n = mutations.merge(r.get("pid").asLong(), 1, Integer::sum);
                        crossed = n == burstThreshold;
                    }
                    boolean burstNext = j < rs.size() && "burst".equals(rs.get(j).path("kind").asText());
                    assertEquals(crossed, burstNext, "burst alert after " + r + " (mutation count "
                            + mutations.get(r.get("pid").asLong()) + ")" + dump(rs));
                }
            } else if (type.equals("alert")) {
                assertNotNull(lastEvent, "an alert before any event: " + r);
                String kind = r.path("kind").asText();
                List<String> names = fieldNames(r);
                List<String> spec = kind.equals("burst") ? BURST_ALERT_FIELDS : CANARY_ALERT_FIELDS;
                assertTrue(kind.equals("burst") || kind.equals("canary"), "kind: " + r);
                assertEquals(spec, names.subList(0, Math.min(spec.size(), names.size())), "field order: " + r);
                assertEquals(WHO_FIELDS, names.subList(spec.size(), Math.min(names.size(), spec.size()
                        + WHO_FIELDS.size())), "who fields after path_role: " + r);
                assertTrue(names.subList(spec.size() + WHO_FIELDS.size(), names.size()).stream()
                        .allMatch(n -> n.endsWith("_b64")), "only *_b64 after them: " + r);
                for (String f : WHO_FIELDS) {
                    assertEquals(lastEvent.get(f), r.get(f), f + " of " + r);
                }
                assertEquals(lastEvent.get("seq").asLong(), r.get("event_seq").asLong(), "event_seq of " + r);
                assertEquals(lastEvent.get("pid").asLong(), r.get("pid").asLong(), "pid of " + r);
                assertEquals(lastEvent.get("comm"), r.get("comm"), "comm of " + r);
                assertEquals(lastEvent.get("exe"), r.get("exe"), "exe of " + r);
                if (kind.equals("burst")) {
                    assertEquals("write burst", r.get("reason").asText());
                    assertEquals(lastEvent.get("path"), r.get("path"), "a burst's path is its event's: " + r);
                    assertTrue(isMutation(lastEvent), "a burst alert after a mutation: " + r);
                }
            } else {
                fail("unexpected record: " + r);
            }
        }
    }

    /** The reason the strongest bit of the record's mask gives, if a path matches. */
    static String canaryReason(JsonNode r, boolean renameRecords) {
        if (has(r, "DELETE")) {
            return "canary deleted";
        }
        if (renameRecords ? has(r, "RENAME") : has(r, "MOVED_FROM") || has(r, "MOVED_TO")) {
            return "canary renamed";
        }
        if (has(r, "MODIFY") || has(r, "CLOSE_WRITE")) {
            return "canary modified";
        }
        if (has(r, "OPEN")) {
            return "canary opened";
        }
        return null;
    }

    static byte[] pathBytes(JsonNode r) {
        JsonNode b64 = r.get("path_b64");
        return b64 != null ? Base64.getDecoder().decode(b64.asText())
                : r.get("path").asText().getBytes(StandardCharsets.UTF_8);
    }

    static boolean isUtf8(byte[] b) {
        try {
            StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(b));
            return true;
        } catch (java.nio.charset.CharacterCodingException e) {
            return false;
        }
    }

    static byte[] bytes(Object... parts) {
        return HostileNamesIT.b(parts);
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static String hex(byte[] b) {
        return java.util.HexFormat.of().formatHex(b);
    }

    /**
     * A {@code /bin/sh -c} script run in the background and driven step by step: each {@link #step()} lets one
     * {@code read x} in the script return. Its pid is the shell's (builtins run in it).
     */
    static final class Scripted implements AutoCloseable {
        private final Process process;
        private final Writer in;

        Scripted(String script) throws IOException {
            process = new ProcessBuilder("/bin/sh", "-c", script + "\nexit 0").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            in = process.outputWriter();
        }

        long pid() {
            return process.pid();
        }

        void step() throws IOException {
            in.write("\n");
            in.flush();
        }

        /** Closes its stdin (the remaining reads return) and waits at most 30 s; returns the exit code. */
        int finish() throws IOException {
            in.close();
            try {
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    throw new AssertionError("script " + pid() + " did not finish within 30 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            return process.exitValue();
        }

        @Override
        public void close() {
            if (process.isAlive()) {
                process.destroyForcibly(); // this pid only
                try {
                    process.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /**
     * A fanotifyd started through {@code /bin/sh -c 'exec LAUNCHER --foreground -o OUT ARGS'}, so that ARGS can
     * hold bytes that are not UTF-8 (ProcessBuilder cannot pass them); {@code exec} keeps the pid.
     */
    static final class ShellDaemon implements AutoCloseable {
        private final Process process;
        private final Path output;
        private final Path stderr;

        private ShellDaemon(Process process, Path output, Path stderr) {
            this.process = process;
            this.output = output;
            this.stderr = stderr;
        }

        static ShellDaemon start(Path output, String shellArgs) throws IOException {
            Path err = Files.createTempFile("fanotifyd-it-stderr.", ".txt");
            String script = "exec " + quote(KernelSupport.launcher().toString()) + " --foreground -o "
                    + quote(output.toString()) + " " + shellArgs;
            Process p = new ProcessBuilder("/bin/sh", "-c", script).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(err.toFile()).start();
            ShellDaemon d = new ShellDaemon(p, output, err);
            try {
                Daemon.awaitMarks(p.pid(), 1);
            } catch (IOException | RuntimeException e) {
                String why = Files.readString(err);
                d.close();
                throw new IOException(e.getMessage() + "; stderr: " + why, e);
            }
            return d;
        }

        List<JsonNode> records() throws IOException {
            return Daemon.parse(output, process.isAlive());
        }

        List<JsonNode> settle(Path sentinel) throws IOException {
            Shell.run("echo x > '" + sentinel + "'");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (System.nanoTime() < deadline) {
                List<JsonNode> rs = records();
                if (rs.stream().anyMatch(r -> sentinel.toString().equals(r.path("path").asText())
                        && has(r, "CLOSE_WRITE"))) {
                    return rs;
                }
                Daemon.sleep(20);
            }
            throw new AssertionError("sentinel not seen within 10 s: " + dump(records()) + "\nstderr: "
                    + Files.readString(stderr));
        }

        int stop() throws IOException {
            return Daemon.terminate(process);
        }

        @Override
        public void close() throws IOException {
            Daemon.kill(process);
            Files.deleteIfExists(stderr);
        }
    }
}
