# Sourced by the launcher and the Makefile: sets FANOTIFYD_JAVA to a java binary of a JDK >= 25.
# Looks at $FANOTIFYD_JAVA_HOME, $JAVA_HOME, java on $PATH and the usual JDK locations ($FANOTIFYD_JDK_DIRS
# overrides those), reading each
# candidate's `release` file (no JVM is started to find out). Leaves FANOTIFYD_JAVA empty if none fits.
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
fanotifyd_find_java() {
  FANOTIFYD_JAVA=
  _cands=
  [ -n "${FANOTIFYD_JAVA_HOME:-}" ] && _cands="$_cands $FANOTIFYD_JAVA_HOME"
  [ -n "${JAVA_HOME:-}" ] && _cands="$_cands $JAVA_HOME"
  if _j=$(command -v java 2>/dev/null); then
    _j=$(readlink -f "$_j" 2>/dev/null || echo "$_j")
    _cands="$_cands ${_j%/bin/java}"
  fi
  # FANOTIFYD_JDK_DIRS replaces the list of places searched after JAVA_HOME and PATH (tests use it).
  for _d in ${FANOTIFYD_JDK_DIRS-/usr/lib/jvm/* /usr/local/lib/jvm/* /opt/java/* /opt/jdk* /opt/*jdk* /usr/java/*}; do
    [ -x "$_d/bin/java" ] && _cands="$_cands $_d"
  done
  for _d in $_cands; do
    fanotifyd_java_major "$_d"
    if [ -n "$_v" ] && [ "$_v" -ge 25 ] 2>/dev/null && [ -x "$_d/bin/java" ]; then
      FANOTIFYD_JAVA="$_d/bin/java"
      FANOTIFYD_JAVA_HOME_FOUND="$_d"
      return 0
    fi
  done
  return 1
}
