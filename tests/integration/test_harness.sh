#!/usr/bin/env bash
# The harness itself (lib/harness.sh), through small scripts run here: counting and the closing
# line, exit statuses (0, 1, 77), sanitizer reports failing a test, a script that stops early,
# Ctrl-C stopping every process and unmount, the time scale, and nothing left in the current
# folder.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

# run_child NAME BODY: writes a test script whose body is BODY and runs it in an empty folder;
# sets CHILD_RC and CHILD_OUT (its output).
run_child() {
  local name=$1 body=$2
  mkdir -p "$TMP/cwd-$name"
  printf '%s\n' 'set -uo pipefail' '. "$CCRFS_SRC/tests/integration/lib/harness.sh"' "$body" >"$TMP/$name.sh"
  CHILD_OUT=$(cd "$TMP/cwd-$name" && bash "$TMP/$name.sh" 2>&1)
  CHILD_RC=$?
}

last_line() { tail -n 1 <<<"$CHILD_OUT"; }

run_child counts 'pass one; pass two; fail three; finish'
check "failures: exit 1" test "$CHILD_RC" = 1
check "the closing line counts them" test "$(last_line)" = "2 passed, 1 failed"
check "a failure is shown as FAIL" grep -qx "FAIL - three" <<<"$CHILD_OUT"

run_child clean 'pass one; skip two; finish'
check "nothing failed: exit 0" test "$CHILD_RC" = 0
check "skipped checks follow on the closing line" test "$(last_line)" = "1 passed, 0 failed, 1 skipped"
check "nothing written in the current folder" test -z "$(ls -A "$TMP/cwd-clean")"

run_child skipped 'skip_all "no such tool"; pass never'
check "a skipped test exits 77" test "$CHILD_RC" = 77
check "and still ends with the closing line" test "$(last_line)" = "0 passed, 0 failed"

run_child early 'pass one; exit 3'
check "a test that stops before finish fails" test "$CHILD_RC" = 1
check "saying so" grep -q "FAIL - the test stopped early (exit 3)" <<<"$CHILD_OUT"

run_child checks 'check "true" true; check_fails "false" false; check "shown" sh -c "echo why; exit 1"
expect_fail "refused" "No such" ls /nonexistent-dir; expect_fail "crash is no refusal" "x" sh -c "kill -SEGV \$\$"
finish'
check "check, check_fails and expect_fail count" test "$(last_line)" = "3 passed, 2 failed"
check "a failed check shows its output" grep -q "| why" <<<"$CHILD_OUT"

run_child asan 'pass fine; printf "==1==ERROR: AddressSanitizer: heap-use-after-free\n" >"$TMP/san/asan.1"; finish'
check "an AddressSanitizer report fails the test" test "$CHILD_RC" = 1
check "and is printed" grep -q "heap-use-after-free" <<<"$CHILD_OUT"
run_child tsan 'h_spawn daemon sh -c "echo \"WARNING: ThreadSanitizer: data race\" >&2"; sleep 0.5; finish'
check "a ThreadSanitizer report on a daemon's stderr fails the test" grep -q "FAIL - a sanitizer reported an error (daemon.log)" <<<"$CHILD_OUT"
run_child ubsan 'echo "x.c:3:5: runtime error: signed integer overflow" >"$TMP/service.log"; finish'
check "an UndefinedBehaviorSanitizer report in a log fails the test" test "$CHILD_RC" = 1
check "a sanitizer's report path is set for every binary" \
  bash -c '[[ $ASAN_OPTIONS == *log_path=* && $TSAN_OPTIONS == *log_path=* && $UBSAN_OPTIONS == *log_path=* ]]'

run_child scale 'check "scaled" test "$(scaled 1.5)" = 6; finish'
CHILD_OUT=$(cd "$TMP" && CCRFS_TEST_TIMEOUT_SCALE=4 bash "$TMP/scale.sh" 2>&1)
check "CCRFS_TEST_TIMEOUT_SCALE scales waits" test "$(last_line)" = "1 passed, 0 failed"

# Ctrl-C: every process started and every mount made is gone, and the test fails.
body='h_spawn sleeper sleep 1000
echo "$H_PID" >"$PIDFILE"
echo "$TMP" >"$PIDFILE.tmp"
if [ -n "${DS:-}" ]; then
  mount_lib_require
  mkdir -p "$TMP/mnt"
  h_track_mount "$TMP/mnt"
  "$CCRFS" mount --key "$KEY" "$DS" "$TMP/mnt" 2>/dev/null && echo "$TMP/mnt" >"$PIDFILE.mnt"
fi
echo ready >"$PIDFILE.ready"
sleep 60 &
wait $!
finish'
printf '%s\n' 'set -uo pipefail' '. "$CCRFS_SRC/tests/integration/lib/harness.sh"' "$body" >"$TMP/interrupt.sh"
DS= KEY=
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
  mkdir -p "$TMP/isrc"
  echo hello >"$TMP/isrc/f"
  "$CCRFS" keygen -o "$TMP/ikey" >/dev/null 2>&1
  "$CCRFS" pack --key "$TMP/ikey" "$TMP/isrc" "$TMP/ids" >/dev/null 2>&1
  DS=$TMP/ids KEY=$TMP/ikey
fi
# A background job starts with SIGINT ignored: give it back its default, as a terminal would.
PIDFILE=$TMP/interrupt.pid DS=$DS KEY=$KEY env --default-signal=INT bash "$TMP/interrupt.sh" >"$TMP/interrupt.out" 2>&1 &
CHILD=$!
wait_until 20 test -e "$TMP/interrupt.pid.ready"
kill -INT "$CHILD"
wait "$CHILD"
CHILD_RC=$?
CHILD_OUT=$(cat "$TMP/interrupt.out")
check "Ctrl-C fails the test" test "$CHILD_RC" = 1
check "saying it was interrupted" grep -q "FAIL - interrupted by SIGINT" <<<"$CHILD_OUT"
check "and stops the processes it started" h_gone "$(cat "$TMP/interrupt.pid")"
check "and removes its scratch folder" test ! -e "$(cat "$TMP/interrupt.pid.tmp")"
if [ -n "$DS" ]; then
  check "and unmounts" bash -c "[ -s '$TMP/interrupt.pid.mnt' ] && ! grep -q \" \$(cat '$TMP/interrupt.pid.mnt') \" /proc/self/mounts"
else
  skip "unmount on Ctrl-C: mounting needs root, /dev/fuse and fusermount3"
fi

finish
