# Shared helpers for the mount tests: a scratch folder, packing, mounting and always
# unmounting, and pass/fail counting. Source it, then call mount_lib_init.
#   CCRFS      the built binary (set by ctest)
#   CCRFS_SRC  the source tree

MOUNT_LIB_PASSED=0
MOUNT_LIB_FAILED=0
MOUNT_LIB_MOUNTS=()
MOUNT_LIB_CLEANUPS=()

# Skips (exit 77) unless the test can mount: root, /dev/fuse, fusermount3.
mount_lib_require() {
  if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
    echo "SKIP: mounting needs root, /dev/fuse and fusermount3"
    exit 77
  fi
  if [ -z "${CCRFS:-}" ] || [ ! -x "$CCRFS" ]; then
    echo "FAIL: CCRFS is not set to the built ccrfs binary"
    exit 1
  fi
}

mount_lib_init() {
  mount_lib_require
  TMP=$(mktemp -d /tmp/ccrfs-mount-test.XXXXXX)
  chmod 0755 "$TMP" # other users (uid 1000) reach the mount point below it
  # Each mount keeps its spool and default audit log under the state folder: keep them here.
  export CCRFS_STATE_DIR=${CCRFS_STATE_DIR:-$TMP/state}
  trap mount_lib_cleanup EXIT
  "$CCRFS" keygen -o "$TMP/key" >/dev/null 2>&1
}

# Registers a command to run at exit (servers to stop), before the scratch folder goes.
mount_lib_on_exit() {
  MOUNT_LIB_CLEANUPS+=("$*")
}

mount_lib_cleanup() {
  local m c
  for m in "${MOUNT_LIB_MOUNTS[@]}"; do
    mount_stop "$m" >/dev/null 2>&1 || true
  done
  for c in "${MOUNT_LIB_CLEANUPS[@]}"; do
    eval "$c" >/dev/null 2>&1 || true
  done
  [ -n "${TMP:-}" ] && rm -rf "$TMP"
}

pass() {
  MOUNT_LIB_PASSED=$((MOUNT_LIB_PASSED + 1))
  echo "ok   - $*"
}

fail() {
  MOUNT_LIB_FAILED=$((MOUNT_LIB_FAILED + 1))
  echo "FAIL - $*"
}

# check "what" command...: passes when the command succeeds.
check() {
  local what=$1
  shift
  if "$@" >/dev/null; then pass "$what"; else fail "$what"; fi
}

# check_fails "what" command...: passes when the command fails.
check_fails() {
  local what=$1
  shift
  if "$@" >/dev/null; then fail "$what"; else pass "$what"; fi
}

mount_lib_finish() {
  # A daemon built with sanitizers reports to its log (the tests keep foreground logs in $TMP).
  if grep -l -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$TMP"/*.log >/dev/null 2>&1; then
    grep -h -A20 -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$TMP"/*.log | head -60
    fail "the daemon reported a sanitizer error"
  fi
  echo "$MOUNT_LIB_PASSED passed, $MOUNT_LIB_FAILED failed"
  [ "$MOUNT_LIB_FAILED" -eq 0 ]
}

# mount_pack SRC_DIR OUT_DIR [pack options]: prints the dataset id.
mount_pack() {
  local src=$1 out=$2
  shift 2
  "$CCRFS" pack --key "$TMP/key" "$@" "$src" "$out" 2>/dev/null | tail -n 1
}

# The pid of the daemon serving MOUNTPOINT (found through its command line), or nothing.
mount_daemon_pid() {
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

# mount_start STORE MOUNTPOINT [ccrfs mount options]: mounts (the command returns once the
# mount is live) and remembers it for cleanup.
mount_start() {
  local store=$1 mp=$2
  shift 2
  mkdir -p "$mp"
  MOUNT_LIB_MOUNTS+=("$mp")
  "$CCRFS" mount --key "$TMP/key" "$@" "$store" "$mp"
}

mount_is_mounted() {
  grep -q " $1 fuse.ccrfs " /proc/self/mounts
}

# mount_stop MOUNTPOINT: unmounts and waits for the daemon to exit.
mount_stop() {
  local mp=$1 pid i
  pid=$(mount_daemon_pid "$mp" || true)
  if mount_is_mounted "$mp"; then
    fusermount3 -u "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null || true
  fi
  if [ -n "$pid" ]; then
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
  fi
}

# mount_foreground STORE MOUNTPOINT [options]: starts "ccrfs mount -f" in the background with
# SIGINT at its default (a shell ignores it in background jobs), waits for the mount, and sets
# FG_PID to the daemon's pid.
mount_foreground() {
  local store=$1 mp=$2 i
  shift 2
  mkdir -p "$mp"
  MOUNT_LIB_MOUNTS+=("$mp")
  env --default-signal=INT "$CCRFS" mount -f --key "$TMP/key" "$@" "$store" "$mp" &
  FG_PID=$!
  for i in $(seq 1 100); do
    mount_is_mounted "$mp" && return 0
    kill -0 "$FG_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# mount_stat MOUNTPOINT KEY: one counter of user.ccrfs.stats.
mount_stat() {
  getfattr --absolute-names --only-values -n user.ccrfs.stats "$1" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

# A source tree with the shapes that matter: empty, one byte, block edges, several blocks,
# nested folders, a CSV and an SQLite database.
mount_make_tree() {
  local d=$1
  mkdir -p "$d/sub/deeper" "$d/empty_dir" "$d/data"
  : >"$d/empty"
  printf 'x' >"$d/one"
  head -c 65536 /dev/urandom >"$d/block_exact"
  head -c 65537 /dev/urandom >"$d/block_plus_one"
  head -c 3000000 /dev/urandom >"$d/sub/three_mb.bin"
  head -c 20000000 /dev/urandom >"$d/data/twenty_mb.bin"
  echo "hello from deeper" >"$d/sub/deeper/note.txt"
  chmod 0600 "$d/sub/deeper/note.txt"
  chmod 0750 "$d/sub"
  python3 - "$d/data/table.csv" <<'EOF'
import csv, sys
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "name", "value"])
    for i in range(50000):
        w.writerow([i, "row%d" % i, i * 3])
EOF
  sqlite3 "$d/data/db.sqlite" <<'EOF'
PRAGMA page_size=4096;
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, hex(randomblob(16)), x % 97 FROM c;
CREATE INDEX t_n ON t(n);
EOF
  touch -d '2021-03-04 05:06:07' "$d/one"
}
