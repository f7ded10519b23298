# Sourced by the launcher and the Makefile: sets FANOTIFYD_JAVA to a java binary of a JDK >= 25.
# Looks at $FANOTIFYD_JAVA_HOME, $JAVA_HOME, a checkout's build JDK, java on $PATH and the usual JDK locations
# ($FANOTIFYD_JDK_DIRS overrides the build JDK and those), in that order, reading each candidate's `release`
# file (no JVM is started to find out). Leaves FANOTIFYD_JAVA empty if none fits.
fanotifyd_java_major() { # $1 = JDK home -> sets _v to the feature version, or to nothing
  # Shell builtins only: a sed per candidate cost ~1.5 ms each, and the launcher runs this on every start.
  _v=
  [ -f "$1/release" ] || return 0
  while IFS= read -r _l || [ -n "$_l" ]; do
    case $_l in
      JAVA_VERSION=*) _v=${_l#JAVA_VERSION=}; _v=${_v#\"}; _v=${_v%%[!0-9]*}; return 0 ;;
    esac
  done < "$1/release"
}
fanotifyd_try_java() { # $1 = JDK home -> sets FANOTIFYD_JAVA (and _HOME_FOUND) if it is a JDK >= 25
  fanotifyd_java_major "$1"
  if [ -n "$_v" ] && [ "$_v" -ge 25 ] 2>/dev/null && [ -x "$1/bin/java" ]; then
    FANOTIFYD_JAVA="$1/bin/java"
    FANOTIFYD_JAVA_HOME_FOUND="$1"
    return 0
  fi
  return 1
}
fanotifyd_find_java() {
  FANOTIFYD_JAVA=
  # In this order, each looked at only if those before it did not fit: finding the java on PATH costs two
  # forks (~10 ms on a slow VM), which a JAVA_HOME or the JDK a checkout was built with spares.
  [ -n "${FANOTIFYD_JAVA_HOME:-}" ] && fanotifyd_try_java "$FANOTIFYD_JAVA_HOME" && return 0
  [ -n "${JAVA_HOME:-}" ] && fanotifyd_try_java "$JAVA_HOME" && return 0
  # A checkout's ./fanotifyd: the JDK `make` built it with and trained its AOT cache on (the launcher sets
  # fanotifyd_built_with). It belongs to the searched places that FANOTIFYD_JDK_DIRS replaces.
  [ -z "${FANOTIFYD_JDK_DIRS+set}" ] && [ -n "${fanotifyd_built_with:-}" ] \
    && fanotifyd_try_java "$fanotifyd_built_with" && return 0
  if _j=$(command -v java 2>/dev/null); then
    _j=$(readlink -f "$_j" 2>/dev/null || echo "$_j")
    fanotifyd_try_java "${_j%/bin/java}" && return 0
  fi
  # FANOTIFYD_JDK_DIRS replaces the list of places searched after JAVA_HOME and PATH (tests use it).
  for _d in ${FANOTIFYD_JDK_DIRS-/usr/lib/jvm/* /usr/local/lib/jvm/* /opt/java/* /opt/jdk* /opt/*jdk* /usr/java/*}; do
    [ -x "$_d/bin/java" ] && fanotifyd_try_java "$_d" && return 0
  done
  return 1
}
