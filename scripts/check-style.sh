#!/usr/bin/env bash
# The tree's C files follow .clang-format (clang-format --dry-run -Werror); unsafe functions
# that have a bounded or checked replacement are banned; includes point one way.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files '*.c' '*.h')
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check-style: clang-format is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
clang-format --dry-run -Werror "${files[@]}"
echo "check-style: ${#files[@]} files formatted as .clang-format says"

# Banned in the product (tests and benchmarks may parse their own arguments loosely): unbounded
# copies and formats, and functions without error reporting.
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atoll|tmpnam|mktemp)[[:space:]]*\('
if git grep -n -E "$banned" -- '*.c' '*.h' ':!tests/*' ':!bench/*'; then
  echo "check-style: banned function used (see above); use snprintf, memcpy with a checked length, strtoul with end checks, mkstemp" >&2
  exit 1
fi
echo "check-style: no banned functions"

bash scripts/check-includes.sh
