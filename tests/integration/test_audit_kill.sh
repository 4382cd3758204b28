#!/usr/bin/env bash
# The compact audit record (the default) keeps an open's record off the open's path, but not
# out of reach of a kill: an open is journaled before it returns, so a daemon killed (SIGKILL)
# while a file is held open unread leaves it in the spool folder, and the next mount on that
# spool seals it as a recovered access entry (no ranges), once.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init

mkdir -p "$TMP/src"
echo "held open, never read" >"$TMP/src/held.txt"
DS=$(mount_pack "$TMP/src" "$TMP/ds")

# recovered_access LOG PATH: prints how many recovered access entries for PATH the log holds,
# each without ranges; exits 1 when one has ranges.
recovered_access() {
  python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] != "access" or not e.get("recovered"):
        continue
    for f in e["files"]:
        if f.get("path") == sys.argv[2]:
            if f.get("ranges") != [] or f.get("bytes") != 0 or f.get("process") in (None, ""):
                sys.exit("entry %r" % f)
            n += 1
print(n)' "$@"
}

# kill_with_open_file NAME [mount options]: mounts on spool NAME, holds held.txt open without
# reading it, kills the daemon, remounts the same spool and unmounts.
kill_with_open_file() {
  local name=$1 mp=$TMP/mnt-$1 pid holder
  shift
  # A flush interval far longer than the test: only the journal can carry the open over.
  check "$name: mount" mount_foreground "$TMP/ds" "$mp" --audit-log "$TMP/$name.log" --spool "$TMP/spool-$name" \
    -o flush_interval_ms=60000 "$@" 2>"$TMP/$name-daemon.log"
  pid=$FG_PID
  bash -c 'exec 3<"$1" && echo opened >"$2" && exec sleep 600' _ "$mp/held.txt" "$TMP/$name.opened" &
  holder=$!
  h_adopt "$holder"
  if wait_until 10 test -s "$TMP/$name.opened"; then
    kill -KILL "$pid"
    pass "$name: held.txt opened (not read); the daemon killed"
  else
    kill -KILL "$pid"
    fail "$name: the open did not return"
  fi
  wait "$pid" 2>/dev/null
  kill -KILL "$holder" 2>/dev/null
  wait "$holder" 2>/dev/null
  fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null
  check "$name: nothing of held.txt was sealed before the kill" test "$(recovered_access "$TMP/$name.log" held.txt 2>&1; grep -c held.txt "$TMP/$name.log" 2>/dev/null)" = "$(printf '0\n0')"
  check "$name: a new mount on the same spool" mount_foreground "$TMP/ds" "$mp" --audit-log "$TMP/$name.log" \
    --spool "$TMP/spool-$name" "$@" 2>"$TMP/$name-daemon2.log"
  kill -TERM "$FG_PID"
  wait "$FG_PID" 2>/dev/null
  check "$name: the audit log holds one recovered access entry for held.txt" \
    test "$(recovered_access "$TMP/$name.log" held.txt 2>&1)" = 1
  check "$name: the log verifies" "$CCRFS" audit verify "$TMP/$name.log"
  # A third mount finds nothing left to recover.
  check "$name: a third mount" mount_foreground "$TMP/ds" "$mp" --audit-log "$TMP/$name.log" \
    --spool "$TMP/spool-$name" "$@" 2>"$TMP/$name-daemon3.log"
  kill -TERM "$FG_PID"
  wait "$FG_PID" 2>/dev/null
  check "$name: recorded once" test "$(recovered_access "$TMP/$name.log" held.txt 2>&1)" = 1
}

kill_with_open_file compact -o audit_compact
kill_with_open_file default

finish
