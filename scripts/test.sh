#!/usr/bin/env bash
# The test command: installs what is missing, builds with warnings as errors, runs every test.
#   bash scripts/test.sh              all tests (unit and integration)
#   bash scripts/test.sh --sanitize   unit tests only, built with ASan + UBSan
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    *) echo "test.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

bash scripts/install-deps.sh

if ((sanitize)); then
  build=build-asan
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCCRFS_WERROR=ON -DCCRFS_SANITIZE=ON >/dev/null
  cmake --build "$build" -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$build" -L unit --output-on-failure
else
  build=build
  cmake -S . -B "$build" -DCCRFS_WERROR=ON >/dev/null
  cmake --build "$build" -j"$(nproc)"
  ctest --test-dir "$build" --output-on-failure
fi
