#!/usr/bin/env bash
# A mount's life around other mounts of the same place and where its messages go: unmount and
# an immediate remount (the new daemon waits for the old one's spool); a daemon killed with
# SIGKILL leaves a dead mount point that the next mount cleans; a live mount is still refused
# as busy, and so is another file system's dead mount; -o log_file= names the daemon's log, and
# without syslog (no /dev/log, hidden here in a private mount namespace) the detached daemon
# logs its startup, warnings and unmount to ccrfs.log in its state folder.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init

SRC=$TMP/src
DS=$TMP/ds
MNT=$TMP/mnt
mkdir -p "$SRC/sub" "$MNT"
echo "hello lifecycle" >"$SRC/a.txt"
head -c 300000 /dev/urandom >"$SRC/sub/b.bin"
ID=$(mount_pack "$SRC" "$DS")
case "$ID" in sha256:*) pass "packed the source tree" ;; *) fail "pack printed no dataset id"; finish ;; esac

reads_back() {
  cmp -s "$SRC/a.txt" "$1/a.txt" && cmp -s "$SRC/sub/b.bin" "$1/sub/b.bin"
}
# The mount point's state folder ($CCRFS_STATE_DIR/<first 16 hex of sha256(path)>).
state_of() {
  echo "$CCRFS_STATE_DIR/$(printf '%s' "$(realpath "$1")" | sha256sum | cut -c1-16)"
}

if ! mount_start "$DS" "$MNT" 2>"$TMP/m1.err"; then
  fail "mount: $(cat "$TMP/m1.err")"
  finish
fi
check "the first mount reads" reads_back "$MNT"

# --- unmount, then mount again right away -------------------------------------------------------
remount_now() {
  fusermount3 -u "$MNT" && "$CCRFS" mount --key "$TMP/key" "$DS" "$MNT" 2>"$TMP/m2.err"
}
check "fusermount3 -u and an immediate mount of the same path succeed" remount_now
h_show "$TMP/m2.err"
check "the remounted dataset reads" reads_back "$MNT"

# A previous daemon that takes its time to finish (its spool still locked): the mount waits and
# says for whom, then mounts.
SPOOL=$(state_of "$MNT")/spool
fusermount3 -u "$MNT"
wait_until 10 mount_gone "$MNT"
flock "$SPOOL/lock" sleep 2 &
HOLDER=$!
h_adopt "$HOLDER"
sleep 0.3
check "a mount while the spool is still held waits and then mounts" \
  "$CCRFS" mount --key "$TMP/key" "$DS" "$MNT" 2>"$TMP/m3.err"
check "it said it was waiting for the previous ccrfs of the spool" \
  grep -q "waiting for the previous ccrfs of this spool (pid [0-9]*) to finish" "$TMP/m3.err"
check "the dataset reads" reads_back "$MNT"
wait "$HOLDER" 2>/dev/null

# --- a live mount is refused ---------------------------------------------------------------------
check_fails "a second mount over a live one is refused" \
  "$CCRFS" mount --key "$TMP/key" "$DS" "$MNT" 2>"$TMP/busy.err"
check "as busy" grep -q "busy" "$TMP/busy.err"
check "and the live mount was not touched" reads_back "$MNT"

# --- SIGKILL leaves a dead mount point; the next mount cleans it ---------------------------------
PID=$(mount_daemon_pid "$MNT")
kill -KILL "$PID"
wait_until 5 h_gone "$PID"
dead() {
  ! stat -f "$MNT" >/dev/null 2>"$TMP/dead.err" && grep -q "not connected" "$TMP/dead.err"
}
check "after SIGKILL the mount point is dead (ENOTCONN)" dead
check "a mount of the same path cleans it and mounts" \
  "$CCRFS" mount --key "$TMP/key" "$DS" "$MNT" 2>"$TMP/m4.err"
h_show "$TMP/m4.err"
check "with a notice" grep -q "has no daemon any more" "$TMP/m4.err"
check "the dataset reads after the remount" reads_back "$MNT"
check "one ccrfs mount at the path" [ "$(grep -c " $MNT fuse.ccrfs " /proc/self/mounts)" = 1 ]
mount_stop "$MNT"

# --- another file system's dead mount is not ours to clean ---------------------------------------
OTHER=$TMP/other
mkdir -p "$OTHER"
dead_other() {
  python3 - "$OTHER" <<'PY'
import ctypes, os, sys
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
opts = "fd=%d,rootmode=40000,user_id=0,group_id=0" % fd
if libc.mount(b"other", sys.argv[1].encode(), b"fuse.other", 6, opts.encode()) != 0:
    sys.exit(1)
os.close(fd)
PY
}
if dead_other; then
  on_exit "umount -l '$OTHER' 2>/dev/null"
  check_fails "a dead mount of another file system is refused" \
    "$CCRFS" mount --key "$TMP/key" "$DS" "$OTHER" 2>"$TMP/other.err"
  check "and left in place" grep -q " $OTHER fuse.other " /proc/self/mounts
  umount -l "$OTHER"
else
  fail "could not make a dead FUSE mount of another type"
fi

# --- -o log_file= ---------------------------------------------------------------------------------
LOGMNT=$TMP/logmnt
if mount_start "$DS" "$LOGMNT" -o log_file=daemon.log 2>"$TMP/m5.err"; then
  check "a log file named with -o log_file= (relative) receives the startup" \
    grep -q "info: serving dataset $ID from .* at $LOGMNT (pid [0-9]*)" "$TMP/daemon.log"
  check "and the warnings" grep -q "warning: WARNING: the key was NOT released by attestation" "$TMP/daemon.log"
  check "log_file is not passed to FUSE" bash -c "! grep -q log_file /proc/self/mountinfo"
  check "the log file is private" [ "$(stat -c %a "$TMP/daemon.log")" = 600 ]
  mount_stop "$LOGMNT"
  check "and the unmount" grep -q "info: unmounted $LOGMNT" "$TMP/daemon.log"
else
  fail "mount -o log_file=: $(cat "$TMP/m5.err")"
fi

# --- no syslog: the state folder's ccrfs.log ----------------------------------------------------
# In a private mount namespace with /dev/log hidden (if there is one), the real code path: the
# daemon finds no syslog socket. Its mount lives in that namespace, so the reads and the
# unmount happen there too.
# A copy of the dataset with one block of sub/b.bin's blob (the largest object) altered: its
# read fails after the daemon detached, and that error must reach the log.
NSMNT=$TMP/nsmnt
NSDS=$TMP/ds-tampered
mkdir -p "$NSMNT"
cp -r "$DS" "$NSDS"
BLOB=$(find "$NSDS" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
python3 - "$BLOB" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(200000)
    b = f.read(1)
    f.seek(200000)
    f.write(bytes([b[0] ^ 0x55]))
PY
cat >"$TMP/nosyslog.sh" <<EOF
set -u
if [ -e /dev/log ]; then mount --bind /dev/null /dev/log || exit 3; fi
"$CCRFS" mount --key "$TMP/key" "$NSDS" "$NSMNT" 2>"$TMP/ns.err" || exit 1
cmp -s "$SRC/a.txt" "$NSMNT/a.txt" || exit 2
cat "$NSMNT/sub/b.bin" >/dev/null 2>&1 && exit 6
pid=\$(sed -n 's/.*serving dataset .*(pid \([0-9]*\)).*/\1/p' "$(state_of "$NSMNT")/ccrfs.log" | tail -n 1)
echo "\$pid" >"$TMP/ns.pid"
fusermount3 -u "$NSMNT" || exit 4
for _ in \$(seq 200); do kill -0 "\$pid" 2>/dev/null || exit 0; sleep 0.05; done
exit 5
EOF
unshare -m bash "$TMP/nosyslog.sh"
RC=$?
[ -s "$TMP/ns.pid" ] && on_exit "kill -KILL $(cat "$TMP/ns.pid") 2>/dev/null"
check "without syslog the daemon mounted, served and stopped (status $RC)" [ "$RC" = 0 ]
NSLOG=$(state_of "$NSMNT")/ccrfs.log
h_show "$NSLOG"
check "it logs to ccrfs.log in its state folder" [ -s "$NSLOG" ]
check "the log has the startup line of the detached daemon" grep -q "info: serving dataset $ID" "$NSLOG"
check "the log has an error of the detached daemon (a block that does not authenticate)" \
  grep -q "error: integrity failure: sub/b.bin: block [0-9]* does not authenticate" "$NSLOG"
check "the log has the startup warning" grep -q "warning: WARNING: the key was NOT released by attestation" "$NSLOG"
check "the log has the unmount, written after the daemon detached" grep -q "info: unmounted $NSMNT" "$NSLOG"
check "the mount said where it logs" grep -q "no syslog here (no /dev/log): logging to $NSLOG" "$TMP/ns.err"

finish
