# Sourced by the benchmark scripts: `. scripts/bench-copy.sh DIR` (always with DIR: without it, bash would pass
# the caller's arguments) copies the shared bench (../shared/bench,
# or $FANOTIFYD_BENCH) to build/DIR, where its C tools are built and its results
# written, so the shared copy stays untouched. Sets $here (the checkout) and $work (the copy).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${FANOTIFYD_BENCH:-$here/../shared/bench}
work=$here/build/${1:?bench-copy.sh: which directory under build/}
mkdir -p "$work"
cp -r "$shared"/. "$work"/
chmod -R u+w "$work"
