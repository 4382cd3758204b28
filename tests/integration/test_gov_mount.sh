#!/usr/bin/env bash
# Governance in a real mount, with the embedded audit log: every open and read of a workload
# appears with the right ranges; the log verifies, and editing, deleting, reordering or
# inserting one event is caught; the default log location; a refused mount leaves nothing.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init

mkdir -p "$TMP/src/sub"
head -c 3000000 /dev/urandom >"$TMP/src/big.bin"
head -c 1048576 /dev/urandom >"$TMP/src/sub/mid.bin"
echo "hello" >"$TMP/src/small.txt"
DS=$(mount_pack "$TMP/src" "$TMP/ds")
MP=$TMP/mnt
LOG=$TMP/audit.log

# --- a workload with known offsets --------------------------------------------------------
# audit_full: this part checks the three-event form (open, read, release); the compact form, the
# default, is checked by test_audit_kill.sh and tests/unit/test_audit_compact.c.
check "mount with --audit-log" mount_start "$TMP/ds" "$MP" --audit-log "$LOG" --spool "$TMP/spool" \
  -o flush_interval_ms=100 -o audit_full
mount_read_at "$MP/big.bin" 100          # [409600, 4096)
mount_read_at "$MP/big.bin" 101          # adjacent: merged with the one before
mount_read_at "$MP/big.bin" 700          # [2867200, 4096)
mount_read_at "$MP/sub/mid.bin" 3 65536  # [196608, 65536)
cat "$MP/small.txt" >/dev/null
# Delivered while still mounted: governance's threads run in the daemon, after the fork.
wait_until 5 grep -q '"path":"small.txt"' "$LOG"
check "the background daemon delivers events while mounted" grep -q '"path":"small.txt"' "$LOG"
mount_stop "$MP"
check "the mount is gone" mount_gone "$MP"

python3 - "$LOG" "$DS" >"$TMP/ranges.out" 2>&1 <<'EOF'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
types = [e["type"] for e in events]
ranges, opens = {}, {}
for e in events:
    if e["type"] == "read":
        ranges.setdefault(e["path"], []).extend(e["ranges"])
    if e["type"] == "open":
        opens.setdefault(e["path"], []).append(e)
def union(rs):
    out = []
    for o, l in sorted(rs):
        if out and o <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], o + l - out[-1][0])
        else:
            out.append([o, l])
    return out
problems = []
if union(ranges.get("big.bin", [])) != [[409600, 8192], [2867200, 4096]]:
    problems.append("big.bin ranges %r" % union(ranges.get("big.bin", [])))
if union(ranges.get("sub/mid.bin", [])) != [[196608, 65536]]:
    problems.append("mid.bin ranges %r" % ranges.get("sub/mid.bin"))
if union(ranges.get("small.txt", [])) != [[0, 6]]:
    problems.append("small.txt ranges %r" % ranges.get("small.txt"))
if len(opens.get("big.bin", [])) != 3 or any(o["process"] != "dd" or o["size"] != 3000000 for o in opens["big.bin"]):
    problems.append("big.bin opens %r" % opens.get("big.bin"))
if [o["process"] for o in opens.get("small.txt", [])] != ["cat"]:
    problems.append("small.txt opens")
if types[:3] != ["consent", "key_release", "mount"] or "unmount" not in types:
    problems.append("event order %r" % types[:4])
m = [e for e in events if e["type"] == "mount"][0]
if m["dataset"] != sys.argv[2] or m["mode"] != "read-only":
    problems.append("mount event %r" % m)
k = [e for e in events if e["type"] == "key_release"][0]
if k["attested"] or k["detail"] != "unattested key file":
    problems.append("key release %r" % k)
rel = [e for e in events if e["type"] == "release"]
if len(rel) != 5:
    problems.append("%d release events" % len(rel))
print("\n".join(problems) if problems else "ranges ok")
sys.exit(1 if problems else 0)
EOF
if [ $? -eq 0 ]; then pass "every open and read is in the log with its exact ranges"; else
  fail "opens and reads in the log: $(cat "$TMP/ranges.out")"; fi

"$CCRFS" audit report --format json "$LOG" >"$TMP/report.json" 2>/dev/null
check "audit report: covered bytes per file" python3 -c '
import json, sys
r = {f["path"]: f for f in json.load(open(sys.argv[1]))}
assert r["big.bin"]["covered_bytes"] == 12288 and r["big.bin"]["opens"] == 3, r["big.bin"]
assert r["sub/mid.bin"]["covered_bytes"] == 65536 and r["sub/mid.bin"]["size"] == 1048576
assert r["small.txt"]["covered_bytes"] == 6 and r["small.txt"]["processes"] == ["cat"]
' "$TMP/report.json"

check "audit verify --strict passes" "$CCRFS" audit verify --strict "$LOG"

# --- tampering: each change of one event is caught ----------------------------------------
N=$(wc -l <"$LOG")
tamper() { # tamper NAME PYTHON-EXPR-OVER-lines
  python3 - "$LOG" "$TMP/t-$1.log" "$2" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines(True)
exec(sys.argv[3])
open(sys.argv[2], "w").writelines(lines)
EOF
  if "$CCRFS" audit verify "$TMP/t-$1.log" >/dev/null 2>"$TMP/t-$1.err"; then
    fail "audit verify catches $1"
  else
    pass "audit verify catches $1: $(head -c 160 "$TMP/t-$1.err")"
  fi
}
tamper "an edited range" 'i = next(i for i, l in enumerate(lines) if "\"type\":\"read\"" in l); lines[i] = lines[i].replace("409600", "409601", 1)'
tamper "an edited process name" 'i = next(i for i, l in enumerate(lines) if "\"process\":\"cat\"" in l); lines[i] = lines[i].replace("\"cat\"", "\"cut\"")'
tamper "a deleted event" 'del lines[4]'
tamper "two events swapped" 'lines[3], lines[4] = lines[4], lines[3]'
tamper "an inserted copy" 'lines.insert(5, lines[2])'
# A well-formed event with a correct hash, linked to the one before it: the next one breaks.
tamper "an inserted well-formed event" '
import json, hashlib
prev = json.loads(lines[3]); e = dict(prev); del e["hash"]
e["seq"] = prev["seq"] + 1; e["id"] = "%s-%d" % (e["chain"], e["seq"]); e["prev"] = prev["hash"]
e["hash"] = hashlib.sha256(json.dumps(e, separators=(",", ":"), sort_keys=True).encode()).hexdigest()
lines.insert(4, json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n")'
check "the original log still verifies" "$CCRFS" audit verify "$LOG"

# --- the embedded default: no --audit-log, no --governance ---------------------------------
MP2=$TMP/mnt2
export CCRFS_STATE_DIR=$TMP/state-default
mkdir -p "$MP2"
h_track_mount "$MP2"
"$CCRFS" mount --key "$TMP/key" "$TMP/ds" "$MP2" 2>"$TMP/default.err"
cat "$MP2/small.txt" >/dev/null
mount_stop "$MP2"
DEFLOG=$(sed -n 's/.*audit log: \([^ ]*\) .*/\1/p' "$TMP/default.err")
if [ -n "$DEFLOG" ] && [ -f "$DEFLOG" ] && case "$DEFLOG" in "$TMP/state-default/"*) true ;; *) false ;; esac; then
  pass "the default audit log is named on stderr and lives under \$CCRFS_STATE_DIR ($DEFLOG)"
else
  fail "default audit log (stderr: $(cat "$TMP/default.err"))"
fi
check "the default log records the open of small.txt" grep -q '"path":"small.txt"' "${DEFLOG:-/nonexistent}"
check "the default spool sits beside it" test -d "$(dirname "${DEFLOG:-/x}")/spool"
export CCRFS_STATE_DIR=$TMP/state

# --- bad governance options leave nothing behind -------------------------------------------
MP3=$TMP/mnt3
mkdir -p "$MP3"
h_track_mount "$MP3"
out=$("$CCRFS" mount --key "$TMP/key" -o consent_interval=0 "$TMP/ds" "$MP3" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "consent_interval" <<<"$out"; then pass "a bad -o consent_interval is a usage error"; else
  fail "bad consent_interval (exit $rc: $out)"; fi
out=$("$CCRFS" mount --key "$TMP/key" --contract c1 "$TMP/ds" "$MP3" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "needs --governance" <<<"$out"; then pass "--contract without --governance is a usage error"; else
  fail "--contract alone (exit $rc: $out)"; fi
out=$("$CCRFS" mount --key "$TMP/key" --audit-log /nonexistent-dir/x/audit.log --spool "$TMP/spool3" "$TMP/ds" "$MP3" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "audit.log" <<<"$out"; then pass "an audit log that cannot be written: no mount, a clear error"; else
  fail "unwritable audit log (exit $rc: $out)"; fi
"$CCRFS" mount --key "$TMP/key" --audit-log "$TMP/failed.log" --spool "$TMP/spool-failed" -o nosuchoption \
  "$TMP/ds" "$MP3" >/dev/null 2>&1
check "a mount FUSE refuses: its mount event is closed by an unmount saying it failed" python3 -c '
import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
u = [x for x in e if x["type"] == "unmount"]
assert [x["type"] for x in e].count("mount") == 1 and len(u) == 1 and u[0]["reason"] == "the mount failed", e[-2:]
' "$TMP/failed.log"
check "no mount left behind" mount_gone "$MP3"

finish
