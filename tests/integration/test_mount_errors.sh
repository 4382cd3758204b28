#!/usr/bin/env bash
# Mounts that must not happen, and ways a mount ends: a wrong key, a wrong dataset id, a store
# that is not there, a busy mount point and bad options all refuse with a clear error and leave
# no mount and no daemon behind; SIGTERM, SIGINT and fusermount3 -u unmount cleanly, also
# while a reader holds a file open.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init

SRC=$TMP/src
DS=$TMP/ds
MNT=$TMP/mnt
mkdir -p "$SRC" "$MNT"
head -c 5000000 /dev/urandom >"$SRC/file.bin"
echo small >"$SRC/small.txt"
ID=$(mount_pack "$SRC" "$DS")
"$CCRFS" keygen -o "$TMP/other.key" >/dev/null 2>&1

no_mount_left() {
  ! mount_is_mounted "$MNT" && ! mount_daemon_pid "$MNT" >/dev/null
}

# refuses "what" "expected message (regex)" mount arguments...
refuses() {
  local what=$1 msg=$2 rc
  shift 2
  "$CCRFS" mount "$@" 2>"$TMP/err"
  rc=$?
  if [ $rc -eq 0 ]; then
    fail "$what: mounted"
    mount_stop "$MNT"
    return
  fi
  if ! grep -qiE "$msg" "$TMP/err"; then
    fail "$what: exit $rc without the expected message; said: $(cat "$TMP/err")"
    return
  fi
  wait_until 2 no_mount_left
  if no_mount_left; then pass "$what (exit $rc)"; else fail "$what: something was left mounted"; fi
}

refuses "a wrong key refuses to mount" "manifest|authenticat|wrong key" --key "$TMP/other.key" "$DS" "$MNT"
refuses "a wrong dataset id refuses to mount" "dataset id mismatch" \
  --key "$TMP/key" --dataset-id "sha256:$(printf '0%.0s' $(seq 64))" "$DS" "$MNT"
refuses "a malformed dataset id is a usage error" "dataset id|sha256" --key "$TMP/key" --dataset-id "nope" "$DS" "$MNT"
refuses "a store that is not there refuses to mount" "no such file|not a dataset" --key "$TMP/key" "$TMP/nothere" "$MNT"
refuses "a missing key file refuses to mount" "key" --key "$TMP/nokey" "$DS" "$MNT"
refuses "no key source is a usage error" "key source" "$DS" "$MNT"
refuses "a bad option value is a usage error" "cache_size" --key "$TMP/key" -o cache_size=lots "$DS" "$MNT"
refuses "a mount point that does not exist" "no such file" --key "$TMP/key" "$DS" "$TMP/no/such/dir"
"$CCRFS" mount --key "$TMP/key" -o nosuchoption "$DS" "$MNT" >/dev/null 2>&1
check "an unknown FUSE option fails" [ $? -ne 0 ]
wait_until 2 no_mount_left
check "and leaves nothing" no_mount_left

# A busy mount point.
mount_start "$DS" "$MNT" 2>/dev/null
check_fails "mounting twice at the same point refuses" "$CCRFS" mount --key "$TMP/key" "$DS" "$MNT" 2>"$TMP/err"
check "saying the mount point is busy" grep -q "busy" "$TMP/err"
check "the first mount still works" cmp -s "$MNT/small.txt" "$SRC/small.txt"
check "and only one mount is there" [ "$(grep -c " $MNT fuse.ccrfs " /proc/self/mounts)" = 1 ]

# SIGTERM while a reader holds a file open and is reading.
exec 7<"$MNT/file.bin"
head -c 1000 <&7 >/dev/null
pid=$(mount_daemon_pid "$MNT")
check "the daemon runs detached" [ -n "$pid" ]
kill -TERM "$pid"
wait_until 5 h_gone "$pid"
check "SIGTERM stops the daemon although a file is open" h_gone "$pid"
check_fails "and the mount is gone" mount_is_mounted "$MNT"
check_fails "the open file now fails instead of hanging" timeout 10 head -c 100000 <&7
exec 7<&-

# SIGINT in the foreground.
mount_foreground "$DS" "$MNT" 2>/dev/null
check "mounted in the foreground" mount_is_mounted "$MNT"
kill -INT "$FG_PID"
wait "$FG_PID"
check "SIGINT unmounts and exits 0" [ $? -eq 0 ]
check_fails "no mount left after SIGINT" mount_is_mounted "$MNT"

# fusermount3 -u with a file open: refused as busy, then lazily.
mount_start "$DS" "$MNT" 2>/dev/null
pid=$(mount_daemon_pid "$MNT")
exec 7<"$MNT/small.txt"
check_fails "fusermount3 -u refuses while a file is open" fusermount3 -u "$MNT"
check "fusermount3 -uz detaches it" fusermount3 -uz "$MNT"
exec 7<&-
wait_until 5 h_gone "$pid"
check "the daemon exits once the last file closes" h_gone "$pid"
check "nothing left" no_mount_left

# Pinned to the right id: mounts and logs it.
mount_foreground "$DS" "$MNT" --dataset-id "$ID" 2>"$TMP/fg.log"
check "the right dataset id mounts" cmp -s "$MNT/file.bin" "$SRC/file.bin"
kill -TERM "$FG_PID"
wait "$FG_PID"
check "SIGTERM in the foreground exits 0" [ $? -eq 0 ]
check "the daemon logged the dataset id" grep -q "$ID" "$TMP/fg.log"

finish
