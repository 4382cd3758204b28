#!/usr/bin/env bash
# ccrfs audit verify catches every kind of tampering with an audit log, names the first bad
# event, and passes an intact one; ccrfs audit report summarises accesses correctly.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
gov_driver_require

LOG=$TMP/audit.log
"$GOV_DRIVER" --full --spool "$TMP/spool" --audit-log "$LOG" --files 5 --reads 8 --read-size 1000 --threads 3 \
    --checkpoint 20 >"$TMP/driver.out" 2>&1
check "driver ran" grep -q "opens_ok=15 opens_refused=0 reads_ok=120" "$TMP/driver.out"

check "intact log verifies" "$CCRFS" audit verify --strict "$LOG"
"$CCRFS" audit verify "$LOG" >"$TMP/verify.out"
check "verify counts every event" grep -q "verified $(wc -l <"$LOG") events in 1 chain" "$TMP/verify.out"
check "checkpoints are signed" grep -q "ed25519 local" "$TMP/verify.out"
check "pinned to the right key" "$CCRFS" audit verify --key "$TMP/spool/signing-key.pem" "$LOG"
"$CCRFS" gov keygen --out "$TMP/other.pem" >/dev/null
"$CCRFS" audit verify --key "$TMP/other.pem" "$LOG" >/dev/null 2>"$TMP/err"
check "pinned to another key: refused" grep -q "signed with a key other than the expected one" "$TMP/err"

# expect_bad NAME PATTERN: the tampered copy $TMP/t.log fails, naming PATTERN.
expect_bad() {
    if "$CCRFS" audit verify "$TMP/t.log" >/dev/null 2>"$TMP/err"; then
        fail "$1: accepted"
    elif grep -q -- "$2" "$TMP/err"; then
        pass "$1: $(head -1 "$TMP/err" | cut -c1-150)"
    else
        fail "$1: wrong message: $(cat "$TMP/err")"
    fi
}

n=$(wc -l <"$LOG")
sed '10s/"path":"t[0-9]/"path":"tX/' "$LOG" >"$TMP/t.log"
expect_bad "edited path" "line 10 .*hash does not match"
r=$(grep -n '"type":"read"' "$LOG" | head -1 | cut -d: -f1)
sed "${r}s/\"bytes\":[0-9]*/\"bytes\":1/" "$LOG" >"$TMP/t.log"
expect_bad "edited byte count of a read" "line $r .*hash does not match"
sed '7d' "$LOG" >"$TMP/t.log"
expect_bad "deleted event" "line 7 .*gap in the sequence"
awk 'NR==8{l=$0; next} NR==9{print; print l; next} {print}' "$LOG" >"$TMP/t.log"
expect_bad "two events swapped" "line 8 .*gap in the sequence"
awk 'NR==5{print} {print}' "$LOG" >"$TMP/t.log"
expect_bad "event duplicated" "line 6 .*duplicate"
# A forged event with a correct hash but a made-up prev, spliced in with the right seq.
python3 - "$LOG" "$TMP/t.log" <<'PY'
import hashlib, json, sys
lines = open(sys.argv[1]).read().splitlines()
ev = json.loads(lines[5])
ev["path"] = "secret/forged"
ev.pop("hash")
canon = json.dumps(ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
ev["hash"] = hashlib.sha256(canon.encode()).hexdigest()
lines[5] = json.dumps(ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
expect_bad "event replaced, rehashed" "line 7 .*prev does not match"
# Rewriting the whole tail from the forged event on leaves the signed checkpoint broken.
python3 - "$LOG" "$TMP/t.log" <<'PY'
import hashlib, json, sys
lines = open(sys.argv[1]).read().splitlines()
out, prev = [], None
for i, l in enumerate(lines):
    ev = json.loads(l)
    if i == 5:
        ev["path"] = "secret/forged"
    if prev is not None:
        ev["prev"] = prev
    if i >= 5:
        ev.pop("hash")
        ev["hash"] = hashlib.sha256(json.dumps(ev, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    prev = ev["hash"]
    out.append(json.dumps(ev, sort_keys=True, separators=(",", ":")))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
expect_bad "tail rewritten and rehashed" "checkpoint signature does not verify"
head -n $((n - 1)) "$LOG" >"$TMP/t.log"
if "$CCRFS" audit verify --strict "$TMP/t.log" >/dev/null 2>"$TMP/err"; then
    fail "cut-off final checkpoint not noticed by --strict"
else
    pass "cut-off final checkpoint: --strict fails ($(head -1 "$TMP/err" | cut -c1-100))"
fi
sed '3s/.*/{not json/' "$LOG" >"$TMP/t.log"
expect_bad "garbage line" "line 3"
"$CCRFS" audit verify "$TMP/nope.log" >/dev/null 2>"$TMP/err"; rc=$?
check "missing file: exit 1 naming it" bash -c "[ $rc -eq 1 ] && grep -q nope.log '$TMP/err'"
"$CCRFS" audit verify >/dev/null 2>&1; rc=$?
check "no source: usage exit 2" [ "$rc" -eq 2 ]

# Reports.
"$CCRFS" audit report --format json "$LOG" >"$TMP/report.json"
check "report json: every file, exact bytes, half of each file covered" python3 - "$TMP/report.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 15, len(rows)
for r in rows:
    assert r["opens"] == 1 and r["reads"] == 8 and r["bytes_read"] == 8000, r
    assert r["covered_bytes"] == 8000 and r["size"] == 16000, r
    assert r["share"] == 0.5 and r["share_of"] == "size" and r["processes"] == ["driver"], r
    assert r["first_access"] <= r["last_access"]
PY
"$CCRFS" audit report --format csv --by process "$LOG" >"$TMP/report.csv"
check "report csv by process" grep -q '^"driver",15,120,120000,120000,240000,120000,0.5000,size,0,0,' "$TMP/report.csv"
"$CCRFS" audit report "$LOG" >"$TMP/report.txt"
check "report table" grep -Eq "^t0/r0/f0 +1 +8 +8000 +8000 +16000 +50.0%" "$TMP/report.txt"
"$CCRFS" audit report --format yaml "$LOG" >/dev/null 2>&1; rc=$?
check "bad --format: usage exit 2" [ "$rc" -eq 2 ]

finish
