package io.fanotifyd.daemon;

import io.fanotifyd.daemon.options.Settings;
import io.fanotifyd.enrich.JobIndex;
import io.fanotifyd.kernel.NativeCallException;
import io.fanotifyd.kernel.Syscalls;

/**
 * The configured jobs as the event path looks them up: directories as the kernel names them, cgroups as
 * {@code /proc} does.
 */
final class JobConfig {
    private JobConfig() {}

    /**
     * The jobs' directories as the kernel names them: symlinks resolved where the directory exists (event
     * paths are resolved too), else as given, without trailing slashes.
     */
    static JobIndex jobIndex(java.util.List<Settings.Job> jobs) {
        java.util.List<JobIndex.Root> roots = new java.util.ArrayList<>();
        java.util.List<JobIndex.Root> cgroups = new java.util.ArrayList<>();
        java.util.List<String> cgroup2 = null; // read once, and only if a job names a cgroup
        for (Settings.Job job : jobs) {
            for (Settings.JobRoot r : job.roots()) {
                if (r.role().equals("cgroup")) {
                    if (cgroup2 == null) {
                        cgroup2 = cgroup2MountPoints();
                    }
                    cgroups.add(new JobIndex.Root(io.fanotifyd.kernel.PathCodec.encode(cgroupPath(r.path(),
                            cgroup2)), job.id(), null));
                    continue;
                }
                String path;
                try {
                    path = Syscalls.realPath(r.path());
                } catch (NativeCallException e) {
                    path = r.path();
                    Log.info("job " + job.id() + " " + r.role() + " " + path + " does not exist (yet): "
                            + e.getMessage());
                }
                roots.add(new JobIndex.Root(io.fanotifyd.kernel.PathCodec.encode(withoutTrailingSlashes(path)),
                        job.id(), r.role()));
            }
        }
        try {
            return new JobIndex(roots).withCgroups(cgroups);
        } catch (IllegalArgumentException e) {
            throw new StartupException("jobs: " + e.getMessage());
        }
    }

    /**
     * A job's cgroup as {@code /proc/PID/cgroup} names it: a path under a cgroup2 mount (one of
     * {@code cgroup2}) loses the mount point ({@code /sys/fs/cgroup/jobs/J} is {@code /jobs/J}); trailing
     * slashes go.
     */
    static String cgroupPath(String given, java.util.List<String> cgroup2) {
        String path = given;
        for (String mountPoint : cgroup2) {
            if (path.startsWith(mountPoint + "/") || path.equals(mountPoint)) {
                path = path.substring(mountPoint.length());
                break;
            }
        }
        return path.isEmpty() ? "/" : withoutTrailingSlashes(path);
    }

    static String withoutTrailingSlashes(String path) {
        String p = path;
        while (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return p;
    }

    /** Where cgroup2 is mounted; none if the mount table cannot be read (paths are then taken as given). */
    static java.util.List<String> cgroup2MountPoints() {
        try {
            return MountInfo.mountPointsOfType(MountInfo.read(), "cgroup2");
        } catch (RuntimeException e) {
            return java.util.List.of();
        }
    }
}
