#!/usr/bin/env bash
# Keys at rest in the daemon's memory: while it serves, the DEK's derived keys are where the
# reads need them (the scan finds them: it works); after the contract is revoked, neither the
# DEK, nor the manifest key, nor any file key is left anywhere in the daemon's writable memory:
# not in its key table, not in a cipher context's key schedule, not in freed heap.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd python3 getfattr
python3 -c 'import cryptography' 2>/dev/null || skip_all "python3-cryptography is missing"

SCAN="$CCRFS_SRC/tests/integration/lib/memscan.py"
mkdir -p "$TMP/src/d"
for i in 1 2 3 4 5 6; do head -c $((200000 * i)) /dev/urandom >"$TMP/src/d/f$i.bin"; done
echo small >"$TMP/src/small.txt"
DS=$(mount_pack "$TMP/src" "$TMP/ds")
gov_start || { fail "the governance service did not start"; finish; }
gov_contract kw "$DS"
check "contract proposed and signed" gov_register kw

MP=$TMP/mnt
check "mount under the contract" mount_foreground "$TMP/ds" "$MP" --governance "$GOV_URL" --contract kw \
  --purpose TRAINING --audit-log "$TMP/kw.log" --spool "$TMP/spool" -o consent_interval=1 2>"$TMP/daemon.log"
PID=$FG_PID
check "every file reads back" diff -r "$TMP/src" "$MP"
# Keep two files open so their keys stay live, with a read in between, as a training job would.
exec 7<"$MP/d/f1.bin" 8<"$MP/d/f6.bin"
head -c 1000 <&7 >/dev/null
python3 "$SCAN" "$PID" "$TMP/key" "$TMP/ds" >"$TMP/before" 2>"$TMP/scan.err"
check "the scan finds the keys of the open files while serving (the scan works)" \
  test "$(grep -c '^file ' "$TMP/before")" -ge 2

check "contract revoked at the service" gov_revoke kw
wait_until 6 grep -q "keys and plaintext cache wiped" "$TMP/daemon.log"
check "the daemon says the keys are wiped" grep -q "keys and plaintext cache wiped" "$TMP/daemon.log"
check_fails "a read of an open file is refused" head -c 1000 <&7
python3 "$SCAN" "$PID" "$TMP/key" "$TMP/ds" >"$TMP/after" 2>>"$TMP/scan.err"
if [ -s "$TMP/after" ]; then
  fail "after the revocation the daemon's memory still holds: $(tr '\n' ' ' <"$TMP/after")"
else
  pass "after the revocation no DEK, manifest key or file key is left in the daemon's memory"
fi
exec 7<&- 8<&-
kill -TERM "$PID"
wait "$PID" 2>/dev/null
finish
