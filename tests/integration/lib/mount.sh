# shellcheck shell=bash
# Mount helpers (sourced by harness.sh): packing with the test key, mounting, unmounting
# (every mount made here is unmounted at exit), the daemon's counters.

# mount_lib_require: skips the whole test unless it can mount: root, /dev/fuse, fusermount3.
mount_lib_require() {
  if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
    skip_all "mounting needs root, /dev/fuse and fusermount3"
  fi
}

# mount_lib_init: mount_lib_require, and the dataset key $TMP/key.
mount_lib_init() {
  mount_lib_require
  "$CCRFS" keygen -o "$TMP/key" >/dev/null 2>&1
}

# mount_pack SRC_DIR OUT_DIR [pack options]: prints the dataset id.
mount_pack() {
  local src=$1 out=$2
  shift 2
  "$CCRFS" pack --key "$TMP/key" "$@" "$src" "$out" 2>/dev/null | tail -n 1
}

# The pid of the daemon serving MOUNTPOINT, or nothing.
mount_daemon_pid() {
  h_daemon_pid "$1"
}

mount_is_mounted() {
  h_is_mounted "$1"
}

# mount_start STORE MOUNTPOINT [ccrfs mount options]: mounts (the command returns once the
# mount is live) and remembers it for cleanup.
mount_start() {
  local store=$1 mp=$2
  shift 2
  mkdir -p "$mp"
  h_track_mount "$mp"
  "$CCRFS" mount --key "$TMP/key" "$@" "$store" "$mp"
}

# mount_stop MOUNTPOINT: unmounts and waits for the daemon to exit.
mount_stop() {
  h_unmount "$1"
}

# mount_foreground STORE MOUNTPOINT [options]: starts "ccrfs mount -f" in the background with
# SIGINT at its default (a shell ignores it in background jobs), waits for the mount, and sets
# FG_PID to the daemon's pid. The daemon's stderr is the caller's.
mount_foreground() {
  local store=$1 mp=$2
  shift 2
  mkdir -p "$mp"
  h_track_mount "$mp"
  env --default-signal=INT "$CCRFS" mount -f --key "$TMP/key" "$@" "$store" "$mp" &
  FG_PID=$!
  H_PIDS+=("$FG_PID")
  wait_until 10 mount_live_or_gone "$mp" "$FG_PID" && mount_is_mounted "$mp"
}

mount_live_or_gone() {
  mount_is_mounted "$1" || ! kill -0 "$2" 2>/dev/null
}

# mount_gone MOUNTPOINT: true when nothing is mounted there and no daemon serves it.
mount_gone() {
  ! mount_is_mounted "$1" && ! mount_daemon_pid "$1" >/dev/null
}

# mount_stat MOUNTPOINT KEY: one counter of user.ccrfs.stats.
mount_stat() {
  getfattr --absolute-names --only-values -n user.ccrfs.stats "$1" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

# mount_read_at FILE OFFSET_BLOCKS [BS]: one direct read of a block (exact ranges reach the
# daemon); prints nothing, returns dd's status.
mount_read_at() {
  dd if="$1" of=/dev/null bs="${3:-4096}" skip="$2" count=1 iflag=direct status=none 2>/dev/null
}
