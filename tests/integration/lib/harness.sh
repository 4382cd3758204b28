# shellcheck shell=bash
# The integration-test harness. Every tests/integration/test_*.sh sources this file first:
#   . "$CCRFS_SRC/tests/integration/lib/harness.sh"
# and ends with `finish`.
#
# It gives each test:
#   - a scratch folder $TMP (removed at exit), which is also the current folder, and
#     CCRFS_STATE_DIR inside it, so nothing is written to the folder ctest runs in, the source
#     tree or /var/lib/ccrfs;
#   - one cleanup trap (normal exit, failure, Ctrl-C, SIGTERM) that unmounts every mount and
#     stops every process started through the harness, then scans the logs of those
#     processes for sanitizer reports and fails the test when one is found;
#   - one way of counting: pass, fail, skip, check, check_fails, expect_fail, and the closing
#     line "N passed, N failed[, N skipped]"; the exit status is 0 when nothing failed, 1
#     otherwise, 77 when the whole test was skipped (skip_all);
#   - waits that scale with CCRFS_TEST_TIMEOUT_SCALE (default 1), for daemons built with
#     sanitizers that run several times slower;
#   - the servers the tests talk to: nginx (nginx.sh), Azurite (azurite.sh), the key broker,
#     the governance service, the SKR stand-in and the fault server (services.sh); helpers
#     for mounts (mount.sh), governance (gov.sh), key release (kbs.sh) and source trees (data.sh).
#
# Environment:
#   CCRFS                     the built ccrfs binary (set by ctest)
#   CCRFS_SRC                 the source tree (set by ctest)
#   CCRFS_TEST_TIMEOUT_SCALE  multiplies every wait and timeout in the harness (default 1)
#   CCRFS_TEST_KEEP           set: keep the scratch folder (for looking into a failure)
#   CCRFS_SANITIZER           set when ccrfs is built with a sanitizer: slow tests that measure
#                             nothing may use smaller sizes (h_sanitized), never fewer checks

: "${CCRFS:?CCRFS must name the built ccrfs binary}"
: "${CCRFS_SRC:?CCRFS_SRC must name the source tree}"
if [ ! -x "$CCRFS" ]; then
  echo "FAIL - CCRFS ($CCRFS) is not an executable"
  echo "0 passed, 1 failed"
  exit 1
fi

# Absolute, because the test runs inside its scratch folder (below).
CCRFS=$(realpath "$CCRFS")
CCRFS_SRC=$(realpath "$CCRFS_SRC")
export CCRFS CCRFS_SRC
H_LIB=$CCRFS_SRC/tests/integration/lib
H_SCALE=${CCRFS_TEST_TIMEOUT_SCALE:-1}
if ! [[ $H_SCALE =~ ^[0-9]+([.][0-9]+)?$ ]] || [ "$H_SCALE" = 0 ]; then
  echo "CCRFS_TEST_TIMEOUT_SCALE must be a positive number, not '$H_SCALE'" >&2
  H_SCALE=1
fi

H_PASSED=0
H_FAILED=0
H_SKIPPED=0
H_SKIP_ALL=
H_FINISHING=
H_CLEANED=
H_CLEANUPS=() # commands registered with on_exit, run last registered first
H_PIDS=()     # processes started with h_spawn
H_MOUNTS=()   # mount points to unmount
H_LOGS=()     # files scanned for sanitizer reports, besides $TMP/logs and $TMP/san

TMP=$(mktemp -d "/tmp/ccrfs-it-$(basename "${0%.sh}").XXXXXX")
chmod 0755 "$TMP" # other users (uid 1000, nobody) reach mount points below it
mkdir -p "$TMP/logs" "$TMP/san" "$TMP/checks"
chmod 1777 "$TMP/san"
# Mounts keep their spool and default audit log under the state folder: keep them here.
export CCRFS_STATE_DIR=$TMP/state
# A binary built with a sanitizer writes its reports here, whatever became of its stderr
# (a daemonized mount has none); the harness scans them at exit.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$TMP/san/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$TMP/san/ubsan"
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$TMP/san/tsan"
# Python stand-ins must not leave __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1
# Whatever a tool writes to its current folder lands in the scratch folder, never in the
# folder ctest runs in or the source tree.
cd "$TMP" || exit 1

H_SANITIZER_PATTERN='ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|ERROR: ThreadSanitizer|runtime error:'

# ---------------------------------------------------------------------------------------------
# Counting and checks

pass() {
  H_PASSED=$((H_PASSED + 1))
  echo "ok - $*"
}

fail() {
  H_FAILED=$((H_FAILED + 1))
  echo "FAIL - $*"
}

# skip WHAT: one check that cannot run here (counted, does not fail the test).
skip() {
  H_SKIPPED=$((H_SKIPPED + 1))
  echo "skip - $*"
}

# skip_all REASON: the whole test cannot run here: exit 77 (unless something already failed).
skip_all() {
  echo "SKIP: $*"
  H_SKIP_ALL=1
  exit 77
}

# h_show FILE: the first lines of a command's output, indented, after a failure.
h_show() {
  [ -s "$1" ] && head -n 20 "$1" | sed 's/^/    | /'
  return 0
}

# A fresh file for one check's output (kept: a process the check starts may go on writing).
H_CHECKS=0
h_check_out() {
  H_CHECKS=$((H_CHECKS + 1))
  H_CHECK_OUT=$TMP/checks/$H_CHECKS.out
}

# check WHAT command...: passes when the command succeeds. The command runs in this shell
# (it may set variables); its standard output is shown only when it fails, its standard error
# goes where the caller sends it.
check() {
  local what=$1 out
  shift
  h_check_out
  out=$H_CHECK_OUT
  if "$@" >"$out"; then
    pass "$what"
  else
    fail "$what"
    h_show "$out"
  fi
}

# check_fails WHAT command...: passes when the command fails.
check_fails() {
  local what=$1 out
  shift
  h_check_out
  out=$H_CHECK_OUT
  if "$@" >"$out"; then
    fail "$what (it succeeded)"
    h_show "$out"
  else
    pass "$what"
  fi
}

# expect_fail WHAT PATTERN command...: passes when the command exits with an error (1..125: a
# refusal, not a crash) and its output (stdout and stderr) matches PATTERN, an extended
# regular expression.
expect_fail() {
  local what=$1 pattern=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ge 1 ] && [ "$rc" -le 125 ] && grep -Eq -- "$pattern" <<<"$out"; then
    pass "$what"
  else
    fail "$what (exit $rc, wanted /$pattern/): ${out:0:400}"
  fi
}

# ---------------------------------------------------------------------------------------------
# Time

# scaled SECONDS: SECONDS times CCRFS_TEST_TIMEOUT_SCALE.
scaled() {
  awk -v s="$1" -v k="$H_SCALE" 'BEGIN { printf "%g\n", s * k }'
}

# h_sleep SECONDS: sleeps SECONDS times the scale (for waits on the daemon, not for
# intervals the test itself sets).
h_sleep() {
  sleep "$(scaled "$1")"
}

# wait_until SECONDS command...: true as soon as the command succeeds, polling every 0.05 s for
# at most SECONDS times the scale.
wait_until() {
  local end
  end=$(awk -v s="$1" -v k="$H_SCALE" -v now="$(date +%s%N)" 'BEGIN { printf "%.0f\n", now / 1e6 + s * k * 1000 }')
  shift
  while :; do
    "$@" && return 0
    [ "$(($(date +%s%N) / 1000000))" -lt "$end" ] || return 1
    sleep 0.05
  done
}

# ---------------------------------------------------------------------------------------------
# Processes, mounts and cleanup

# on_exit COMMAND...: runs COMMAND at exit, before processes are stopped and the scratch folder
# goes (last registered runs first).
on_exit() {
  H_CLEANUPS=("$*" "${H_CLEANUPS[@]}")
}

# h_log FILE: scan FILE for sanitizer reports at exit (files in $TMP/logs always are).
h_log() {
  H_LOGS+=("$1")
}

# h_free_port: a free TCP port on 127.0.0.1 (another process may take it before it is used:
# servers started here retry).
h_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# h_spawn NAME command...: starts the command in the background with stdout and stderr in
# $TMP/logs/NAME.log (appended), SIGINT at its default, and stops it at exit. Sets H_PID.
h_spawn() {
  local name=$1
  shift
  env --default-signal=INT "$@" >>"$TMP/logs/$name.log" 2>&1 &
  H_PID=$!
  H_PIDS+=("$H_PID")
}

# h_adopt PID: a process the test started itself, stopped at exit if still running.
h_adopt() {
  H_PIDS+=("$1")
}

# h_stop PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 5, scaled); reaps it.
# Returns within a few hundredths of a second of the process ending, so that a test can time
# what follows a stop. (No timer subshell: killing a freshly forked one can run this shell's
# traps in it.)
h_stop() {
  local pid=$1 tries
  [ -n "$pid" ] || return 0
  # Only this shell's own jobs: a pid already reaped may belong to someone else by now.
  jobs -p | grep -qx -- "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  tries=$(awk -v s="${2:-5}" -v k="$H_SCALE" 'BEGIN { printf "%d\n", s * k * 50 }')
  while [ "$tries" -gt 0 ] && ! h_gone "$pid"; do
    sleep 0.02
    tries=$((tries - 1))
  done
  h_gone "$pid" || kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# h_gone PID: the process has exited (a zombie not yet reaped counts as exited).
h_gone() {
  local _pid _comm state
  kill -0 "$1" 2>/dev/null || return 0
  # No fork: this runs in tight loops. (The command name has no spaces: ccrfs, python3, ...)
  read -r _pid _comm state _ <"/proc/$1/stat" 2>/dev/null || return 0
  [ "$state" = Z ]
}

# h_track_mount MOUNTPOINT: unmount it at exit.
h_track_mount() {
  H_MOUNTS+=("$1")
}

h_is_mounted() {
  grep -q " $1 fuse.ccrfs " /proc/self/mounts
}

# h_daemon_pid MOUNTPOINT: the pid of the ccrfs daemon serving MOUNTPOINT (found through its
# command line), or nothing.
h_daemon_pid() {
  local mp=$1 p a args
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    mapfile -d '' args 2>/dev/null <"$p/cmdline" || continue
    [ ${#args[@]} -gt 0 ] || continue
    case "${args[0]##*/}" in ccrfs | mount.ccrfs | mount.fuse.ccrfs) ;; *) continue ;; esac
    for a in "${args[@]:1}"; do
      if [ "$a" = "$mp" ]; then
        echo "${p#/proc/}"
        return 0
      fi
    done
  done
  return 1
}

# h_unmount MOUNTPOINT: unmounts (lazily when busy) and waits for the daemon to exit; a daemon
# that does not exit is stopped.
h_unmount() {
  local mp=$1 pid
  pid=$(h_daemon_pid "$mp" || true)
  if h_is_mounted "$mp"; then
    fusermount3 -u "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
  fi
  if [ -n "$pid" ] && ! wait_until 10 h_gone "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    wait_until 5 h_gone "$pid" || kill -KILL "$pid" 2>/dev/null
  fi
  return 0
}

# Sanitizer reports in the logs of this test's processes: prints them, fails the test.
h_scan_sanitizers() {
  local f found=()
  for f in "$TMP"/san/* "$TMP"/logs/* "${H_LOGS[@]}"; do
    [ -f "$f" ] || continue
    grep -Eq -- "$H_SANITIZER_PATTERN" "$f" 2>/dev/null && found+=("$f")
  done
  # Tests keep some daemon logs next to their data; those end in .log.
  while IFS= read -r -d '' f; do
    grep -Eq -- "$H_SANITIZER_PATTERN" "$f" 2>/dev/null && found+=("$f")
  done < <(find "$TMP" -path "$TMP/san" -prune -o -path "$TMP/logs" -prune -o -type f -name '*.log' -print0 2>/dev/null)
  [ ${#found[@]} -gt 0 ] || return 0
  for f in $(printf '%s\n' "${found[@]}" | sort -u); do
    echo "# sanitizer report in ${f#"$TMP"/}:"
    grep -E -B2 -A30 -- "$H_SANITIZER_PATTERN" "$f" | head -n 80 | sed 's/^/    | /'
    fail "a sanitizer reported an error (${f##*/})"
  done
}

h_cleanup() {
  local c pid mp
  [ -n "$H_CLEANED" ] && return 0
  H_CLEANED=1
  for c in "${H_CLEANUPS[@]}"; do
    eval "$c" >/dev/null 2>&1 || true
  done
  for mp in "${H_MOUNTS[@]}"; do
    h_unmount "$mp" >/dev/null 2>&1
  done
  for pid in "${H_PIDS[@]}"; do
    h_stop "$pid" >/dev/null 2>&1
  done
}

h_on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  h_cleanup
  h_scan_sanitizers
  if [ -n "$H_SKIP_ALL" ] && [ "$H_FAILED" -eq 0 ]; then
    rc=77
  elif [ -z "$H_FINISHING" ] && [ "$H_FAILED" -eq 0 ]; then
    # The script stopped before `finish` without counting a failure.
    fail "the test stopped early (exit $rc)"
  fi
  if [ "$H_SKIPPED" -gt 0 ]; then
    echo "$H_PASSED passed, $H_FAILED failed, $H_SKIPPED skipped"
  else
    echo "$H_PASSED passed, $H_FAILED failed"
  fi
  if [ -n "${CCRFS_TEST_KEEP:-}" ]; then
    echo "# scratch folder kept: $TMP"
  else
    cd / && rm -rf "$TMP"
  fi
  if [ "$rc" -ne 77 ]; then
    rc=0
    [ "$H_FAILED" -eq 0 ] || rc=1
  fi
  exit "$rc"
}

h_on_signal() {
  fail "interrupted by SIG$1"
  exit 130
}

trap h_on_exit EXIT
trap 'h_on_signal INT' INT
trap 'h_on_signal TERM' TERM

# finish: the last line of every test: cleanup, sanitizer scan, the closing line, the exit status.
finish() {
  H_FINISHING=1
  exit 0
}

# ---------------------------------------------------------------------------------------------
# Requirements

# require_cmd CMD...: skips the whole test unless every command is installed.
require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || skip_all "$c is not installed"
  done
}

# h_sanitized: true when the binary is built with a sanitizer (CCRFS_SANITIZER set).
h_sanitized() {
  [ -n "${CCRFS_SANITIZER:-}" ]
}

. "$H_LIB/nginx.sh"
. "$H_LIB/azurite.sh"
. "$H_LIB/services.sh"
. "$H_LIB/mount.sh"
. "$H_LIB/gov.sh"
. "$H_LIB/kbs.sh"
. "$H_LIB/data.sh"
