package io.fanotifyd.daemon;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * Loads every class of fanotifyd before the permission marks are placed. The JVM loads classes lazily, and
 * loading one from a class directory opens its file (and a jar is opened on first use when the AOT cache
 * does not hold its classes): if that file lay on a filesystem the daemon answers
 * permission events for, the event thread would wait for its own answer. (JDK classes come from the mapped
 * {@code lib/modules} image and open nothing.)
 */
final class ClassPreloader {
    private static final String PREFIX = "io/fanotifyd/";

    private ClassPreloader() {}

    /** @return the number of classes loaded */
    static int loadAll() {
        int n = 0;
        ClassLoader loader = ClassPreloader.class.getClassLoader();
        for (String entry : System.getProperty("java.class.path", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(entry);
            try {
                if (Files.isDirectory(p)) {
                    try (Stream<Path> files = Files.walk(p.resolve(PREFIX))) {
                        for (Path f : (Iterable<Path>) files::iterator) {
                            String rel = p.relativize(f).toString();
                            if (rel.endsWith(".class")) {
                                n += load(loader, rel);
                            }
                        }
                    }
                } else if (entry.endsWith(".jar") && Files.isRegularFile(p)) {
                    try (JarFile jar = new JarFile(p.toFile())) {
                        for (var e : (Iterable<java.util.jar.JarEntry>) jar.entries()::asIterator) {
                            if (e.getName().startsWith(PREFIX) && e.getName().endsWith(".class")) {
                                n += load(loader, e.getName());
                            }
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                Log.warn("could not preload classes from " + entry + ": " + e.getMessage());
            }
        }
        return n;
    }

    private static int load(ClassLoader loader, String file) {
        String name = file.substring(0, file.length() - ".class".length()).replace('/', '.');
        try {
            Class.forName(name, false, loader);
            return 1;
        } catch (ClassNotFoundException | LinkageError e) {
            return 0;
        }
    }
}
