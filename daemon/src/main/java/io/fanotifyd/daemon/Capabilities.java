package io.fanotifyd.daemon;

/**
 * The capabilities the chosen mode needs beyond starting at all, checked once at start-up: running as root with
 * a reduced capability set (a container, a hardened unit) must not leave the daemon blind without a word.
 * fanotify itself needs CAP_SYS_ADMIN, and its absence is already a start-up error naming it.
 */
final class Capabilities {
    static final int CAP_DAC_READ_SEARCH = 2;
    static final int CAP_SYS_PTRACE = 19;

    private Capabilities() {}

    /** The effective set ({@code CapEff} of {@code /proc/self/status}), or -1 if it cannot be read. */
    static long effective() {
        return ProcStatus.hexField("CapEff");
    }

    static boolean has(long set, int cap) {
        return set == -1 || (set & (1L << cap)) != 0;
    }

    /** Says plainly, one warning each, what will not work with the capabilities this process has. */
    static void warnAboutMissing(boolean fid, boolean perm, boolean canaries) {
        long eff = effective();
        if (fid && !has(eff, CAP_DAC_READ_SEARCH)) {
            Log.warn("no CAP_DAC_READ_SEARCH: FID mode cannot turn the kernel's file handles into paths"
                    + " (open_by_handle_at needs it), so records will have no path"
                    + (canaries ? ", canaries will not fire" + (perm ? " on creates, writes, renames and deletes"
                    : "") : "") + " and jobs will not be tagged; grant the capability, or use --no-fid");
        }
        if (!has(eff, CAP_SYS_PTRACE)) {
            Log.warn("no CAP_SYS_PTRACE: the exe of processes of other users cannot be read (their records get"
                    + " exe null)");
        }
    }
}
