# Shared by the integration tests: a scratch folder removed on exit, pass/fail counting,
# and the closing "N passed, M failed" line. Source it, then call `finish` last.
set -uo pipefail

: "${CCRFS:?CCRFS must name the built ccrfs binary}"
: "${CCRFS_SRC:?CCRFS_SRC must name the source tree}"

T_PASSED=0
T_FAILED=0
T_CLEANUPS=()
T_DIR=$(mktemp -d /tmp/ccrfs-test.XXXXXX)

# Registers a command to run at exit (last registered runs first).
on_exit() { T_CLEANUPS=("$*" "${T_CLEANUPS[@]}"); }

t_cleanup() {
  local c
  for c in "${T_CLEANUPS[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  rm -rf "$T_DIR"
}
trap t_cleanup EXIT

pass() { T_PASSED=$((T_PASSED + 1)); echo "ok   - $*"; }
fail() { T_FAILED=$((T_FAILED + 1)); echo "FAIL - $*"; }

# check "description" command...: passes when the command succeeds.
check() {
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# expect_fail "description" PATTERN command...: passes when the command exits non-zero and
# its stderr matches PATTERN (an extended regular expression).
expect_fail() {
  local what=$1 pattern=$2; shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" -ne 0 ] && grep -Eq -- "$pattern" <<<"$err"; then
    pass "$what"
  else
    fail "$what (exit $rc, stderr: ${err:0:300})"
  fi
}

finish() {
  echo "$T_PASSED passed, $T_FAILED failed"
  [ "$T_FAILED" -eq 0 ]
  exit $?
}

# A random tree with the awkward cases: nested and empty folders, empty files, spaces and
# UTF-8 in names, and sizes around the block size $1.
make_tree() {
  local dir=$1 bs=$2
  mkdir -p "$dir/nested/deeper/deepest" "$dir/empty folder" "$dir/données"
  : >"$dir/empty"
  head -c 1 /dev/urandom >"$dir/one"
  head -c $((bs - 1)) /dev/urandom >"$dir/nested/bs-minus-1"
  head -c "$bs" /dev/urandom >"$dir/nested/deeper/bs"
  head -c $((bs + 1)) /dev/urandom >"$dir/nested/deeper/deepest/bs plus 1"
  head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$dir/données/big ünïcode.bin"
  printf 'a,b\n1,2\n' >"$dir/données/table.csv"
  chmod 0600 "$dir/one"
  chmod 0750 "$dir/nested/deeper"
  touch -d '2021-02-03 04:05:06.123456789' "$dir/nested/bs-minus-1"
}

# Lists a tree's content and metadata in a stable form, for comparing two trees.
tree_listing() {
  (cd "$1" && find . -mindepth 1 -printf '%y %m %s %T@ %p\n' | sort &&
    find . -type f -print0 | sort -z | xargs -0r sha256sum)
}
