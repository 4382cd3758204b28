#!/usr/bin/env bash
# The test command: installs what is missing, checks style and module dependencies, builds with
# warnings as errors, runs every test.
#   bash scripts/test.sh              style checks, then all tests (unit and integration)
#   bash scripts/test.sh --sanitize   ASan + UBSan build: unit tests and every integration test,
#                                     the mount daemon itself running under the sanitizers
#   bash scripts/test.sh --tsan       ThreadSanitizer build: unit tests and the mount integration
#                                     tests (the daemon under TSan while programs read concurrently)
# Sanitizer reports go to files under BUILD/sanitizer-logs/ (a daemon has no terminal); any
# report fails the run and is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=plain
for arg in "$@"; do
  case "$arg" in
    --sanitize) mode=asan ;;
    --tsan) mode=tsan ;;
    *) echo "test.sh: unknown option $arg (--sanitize, --tsan)" >&2; exit 2 ;;
  esac
done

bash scripts/install-deps.sh

# The reports of every sanitized process (tests, daemons they start) land here; the run fails
# on any, even when the process that found the problem was a detached daemon whose exit status
# nobody sees.
sanitizer_check() {
  local dir=$1 found=0
  for f in "$dir"/*; do
    [ -e "$f" ] || continue
    found=1
    echo "==== sanitizer report: $f" >&2
    head -c 20000 "$f" >&2
  done
  if ((found)); then
    echo "test.sh: sanitizer reports above" >&2
    return 1
  fi
  echo "test.sh: no sanitizer reports"
}

case "$mode" in
  plain)
    bash scripts/check-style.sh
    build=build
    cmake -S . -B "$build" -DCCRFS_WERROR=ON >/dev/null
    cmake --build "$build" -j"$(nproc)"
    ctest --test-dir "$build" --output-on-failure
    ;;
  asan)
    build=build-asan
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCCRFS_WERROR=ON -DCCRFS_SANITIZE=ON >/dev/null
    cmake --build "$build" -j"$(nproc)"
    logs=$PWD/$build/sanitizer-logs
    rm -rf "$logs" && mkdir -p "$logs"
    # Leaks are checked in the unit tests; a daemon stopped by a signal exits through libfuse's
    # teardown, where a leak report would be about the process's last moment, not a growing leak.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$logs/asan \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan \
      ctest --test-dir "$build" -L unit --output-on-failure
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$logs/asan \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan \
    CCRFS_SANITIZER=asan CCRFS_TEST_TIMEOUT_SCALE=3 \
      ctest --test-dir "$build" -L integration --output-on-failure
    sanitizer_check "$logs"
    ;;
  tsan)
    build=build-tsan
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCCRFS_WERROR=ON -DCCRFS_TSAN=ON >/dev/null
    cmake --build "$build" -j"$(nproc)"
    logs=$PWD/$build/sanitizer-logs
    rm -rf "$logs" && mkdir -p "$logs"
    export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:log_path=$logs/tsan:suppressions=$PWD/scripts/tsan.supp"
    ctest --test-dir "$build" -L unit --output-on-failure
    CCRFS_SANITIZER=tsan CCRFS_TEST_TIMEOUT_SCALE=4 \
      ctest --test-dir "$build" -L integration -R 'test_mount_(basic|http|noegress|sink|tamper|fio)|test_gov_mount|test_contract_mount' \
      --output-on-failure
    sanitizer_check "$logs"
    ;;
esac
