#!/usr/bin/env bash
# Reads are recorded before they are served: a daemon killed (SIGKILL) right after a read
# returned leaves the range in its spool folder, and the next mount on that spool records it
# (at the governance service and in the local audit log, the chain unbroken). Under a contract
# every open's reads reach the daemon: a file read twice, or mapped, is recorded each time.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd curl

mkdir -p "$TMP/src"
head -c 1000000 /dev/urandom >"$TMP/src/big.bin"
DS=$(mount_pack "$TMP/src" "$TMP/ds")
gov_start || { fail "the governance service did not start"; finish; }

# has_range FILE OFF LEN: an event of the chain (read, or an access entry) covers [OFF, OFF+LEN)
# of big.bin.
has_range() {
  python3 -c '
import json, sys
off, ln = int(sys.argv[2]), int(sys.argv[3])
def covers(r):
    return any(o <= off and off + ln <= o + l for o, l in r.get("ranges", []))
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] == "read" and e.get("path") == "big.bin" and covers(e):
        sys.exit(0)
    if e["type"] == "access" and any(f.get("path") == "big.bin" and covers(f) for f in e["files"]):
        sys.exit(0)
sys.exit(1)' "$@"
}

# --- SIGKILL right after a read ----------------------------------------------------------------
gov_contract cr "$DS"
check "contract cr proposed and signed" gov_register cr
MP=$TMP/mnt-cr
# A flush interval far longer than the test: only the journal can carry the range over.
GOVOPTS=(--governance "$GOV_URL" --contract cr --purpose TRAINING --audit-log "$TMP/cr.log" --spool "$TMP/spool-cr")
check "mount under contract cr" mount_foreground "$TMP/ds" "$MP" "${GOVOPTS[@]}" -o flush_interval_ms=30000 \
  2>"$TMP/cr-daemon.log"
CR_PID=$FG_PID
# Blocks 37..39 read (O_DIRECT: exactly this range reaches the daemon) by a reader that keeps
# the file open, so no release flushes the range; the daemon is killed as soon as it returns.
cat >"$TMP/reader.py" <<'EOF2'
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 12288)
n = os.preadv(fd, [buf], 37 * 4096)
open(sys.argv[2], "wb").write(buf[:n])
os.rename(sys.argv[2], sys.argv[2] + ".done")
while True:
    time.sleep(1)
EOF2
python3 "$TMP/reader.py" "$MP/big.bin" "$TMP/piece" &
READER=$!
h_adopt "$READER"
if wait_until 20 test -e "$TMP/piece.done"; then
  kill -KILL "$CR_PID"
  pass "a read of [151552, 163840) returned; the daemon killed right after, the file still open"
else
  kill -KILL "$CR_PID"
  fail "the read before the kill did not return"
fi
wait "$CR_PID" 2>/dev/null
kill -KILL "$READER" 2>/dev/null
wait "$READER" 2>/dev/null
fusermount3 -uz "$MP" 2>/dev/null || umount -l "$MP" 2>/dev/null
check "the piece read is the plaintext" cmp -s "$TMP/piece.done" <(dd if="$TMP/src/big.bin" bs=4096 skip=37 count=3 status=none)
check "a new mount on the same spool" mount_foreground "$TMP/ds" "$MP" "${GOVOPTS[@]}" 2>"$TMP/cr-daemon2.log"
kill -TERM "$FG_PID"
wait "$FG_PID" 2>/dev/null
check "the remount says it recorded reads of an earlier run" grep -q "served by an earlier run" "$TMP/cr-daemon2.log"
check "the local audit log holds the range read before the kill" has_range "$TMP/cr.log" 151552 12288
gov_events cr >"$TMP/cr-service.jsonl"
check "the service's chain holds it too" has_range "$TMP/cr-service.jsonl" 151552 12288
check "recorded once, as recovered" python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
rec = [e for e in ev if e.get("recovered")]
assert len(rec) == 1, [e["type"] for e in ev]
ids = [e["id"] for e in ev]
assert len(ids) == len(set(ids)) and sorted(e["seq"] for e in ev) == list(range(len(ev))), "duplicate or gap"
' "$TMP/cr-service.jsonl"
check "audit verify --strict of the local log" "$CCRFS" audit verify --strict "$TMP/cr.log"
check "audit verify --strict of the service's copy" "$CCRFS" audit verify --strict "$GOV_URL" --contract cr

# --- every open's reads reach the daemon under a contract ---------------------------------------
gov_contract tw "$DS"
check "contract tw proposed and signed" gov_register tw
MP=$TMP/mnt-tw
mkdir -p "$MP"
h_track_mount "$MP"
if "$CCRFS" mount --key "$TMP/key" --governance "$GOV_URL" --contract tw --purpose TRAINING \
  --audit-log "$TMP/tw-keep.log" --spool "$TMP/spool-tw-keep" -o page_cache=keep "$TMP/ds" "$MP" 2>"$TMP/keep.err"; then
  fail "a mount under a contract took page_cache=keep"
  h_unmount "$MP"
else
  check "page_cache=keep is refused under a contract, saying why" grep -q "page_cache=keep: under a contract" "$TMP/keep.err"
fi
check "mount under contract tw" mount_foreground "$TMP/ds" "$MP" --governance "$GOV_URL" --contract tw \
  --purpose TRAINING --audit-log "$TMP/tw.log" --spool "$TMP/spool-tw" 2>"$TMP/tw-daemon.log"
check "first read of big.bin" cmp -s "$MP/big.bin" "$TMP/src/big.bin"
check "second read of big.bin (the kernel had it cached)" cmp -s "$MP/big.bin" "$TMP/src/big.bin"
# An unmodified program mapping the file: pages through the daemon, contents right.
check "python3 mmap of big.bin reads the plaintext" python3 -c '
import mmap, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "rb") as g:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    want = g.read()
    assert m[:] == want and m[500000:500100] == want[500000:500100]
    m.close()
' "$MP/big.bin" "$TMP/src/big.bin"
# numpy may be in the system's python only (Debian's python3-numpy) when another python3 is first.
NPY=
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import numpy' 2>/dev/null; then NPY=$py && break; fi
done
if [ -n "$NPY" ]; then
  "$NPY" -c 'import numpy, sys; numpy.save(sys.argv[1], numpy.arange(100000, dtype="int64"))' "$TMP/arr.npy"
  mkdir -p "$TMP/src2" && cp "$TMP/arr.npy" "$TMP/src2/"
  DS2=$(mount_pack "$TMP/src2" "$TMP/ds2")
  gov_contract np "$DS2"
  gov_register np
  if mount_foreground "$TMP/ds2" "$TMP/mnt-np" --governance "$GOV_URL" --contract np --purpose TRAINING \
    --audit-log "$TMP/np.log" --spool "$TMP/spool-np" 2>"$TMP/np-daemon.log"; then
    check "numpy.load(mmap_mode='r') of a mapped array under a contract" "$NPY" -c '
import numpy, sys
a = numpy.load(sys.argv[1], mmap_mode="r")
assert int(a[99999]) == 99999 and int(a[:1000].sum()) == 499500
' "$TMP/mnt-np/arr.npy"
    kill -TERM "$FG_PID"
    wait "$FG_PID" 2>/dev/null
  else
    fail "mount under contract np"
  fi
else
  skip "numpy is not installed: numpy.load(mmap_mode='r') not tried"
fi
MP=$TMP/mnt-tw
h_unmount "$MP"
check "each of the three opens of big.bin has its reads recorded, the whole file each time" python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
opens = {e["seq"]: 0 for e in ev if e["type"] == "open" and e["path"] == "big.bin"}
for e in ev:
    if e["type"] == "read" and e["open"] in opens:
        opens[e["open"]] += e["bytes"]
    if e["type"] == "access":
        for f in e["files"]:
            if f["path"] == "big.bin":
                opens[-len(opens) - 1] = f["bytes"]
got = sorted(opens.values())
assert len(got) >= 3 and all(b >= 1000000 for b in got), got
' "$TMP/tw.log"
check "audit verify --strict of the two-opens log" "$CCRFS" audit verify --strict "$TMP/tw.log"

finish
