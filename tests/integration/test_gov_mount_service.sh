#!/usr/bin/env bash
# Governance in a real mount against `ccrfs gov serve`: consent revoked mid-read stops reads
# within two consent intervals and wipes the keys; governance down: reads go on until the
# grace limit, then are refused, and resume when it is back, every event arriving exactly
# once; SIGKILL of the daemon mid-read and a new mount on the same spool lose no event.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd curl

mkdir -p "$TMP/src"
head -c 4000000 /dev/urandom >"$TMP/src/big.bin"
DS=$(mount_pack "$TMP/src" "$TMP/ds")
gov_start || { fail "the governance service did not start"; finish; }

# A reader that keeps one file open (O_DIRECT, so every read reaches the daemon) and logs
# "TIME ok" or "TIME ERRNO" for each 4 KiB read, every 50 ms, until told to stop.
cat >"$TMP/reader.py" <<'EOF'
import errno, mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
out = open(sys.argv[2], "w", buffering=1)
i = 0
while not os.path.exists(sys.argv[3]):
    try:
        os.preadv(fd, [buf], (i % 900) * 4096)
        out.write("%.3f ok\n" % time.time())
    except OSError as e:
        out.write("%.3f %d\n" % (time.time(), e.errno))
    i += 1
    time.sleep(0.05)
EOF
reader_start() { # reader_start FILE LOG
  rm -f "$TMP/reader.stop"
  python3 "$TMP/reader.py" "$1" "$2" "$TMP/reader.stop" &
  READER_PID=$!
  h_adopt "$READER_PID"
  # Under load python takes a while to start: the scenario starts with its first read.
  wait_until 10 test -s "$2"
}
reader_stop() {
  touch "$TMP/reader.stop"
  wait "$READER_PID" 2>/dev/null
}
# first_failure LOG AFTER: the time of the first failed read at or after AFTER, and its errno.
first_failure() {
  awk -v t="$2" '$1 >= t && $2 != "ok" { print $1, $2; exit }' "$1"
}
now() { date +%s.%N; }

# --- consent revoked mid-read -------------------------------------------------------------
gov_contract rv "$DS"
check "contract rv proposed and signed" gov_register rv
MP=$TMP/mnt-rv
check "mount under contract rv" mount_foreground "$TMP/ds" "$MP" --governance "$GOV_URL" --contract rv \
  --purpose TRAINING --audit-log "$TMP/rv.log" --spool "$TMP/spool-rv" -o consent_interval=1,flush_interval_ms=100 \
  2>"$TMP/rv-daemon.log"
RV_PID=$FG_PID
reader_start "$MP/big.bin" "$TMP/rv-reads"
sleep 1.5
T0=$(now)
check "contract revoked at the service" gov_revoke rv
failed_since() { [ -n "$(first_failure "$1" "$2")" ]; }
wait_until 6 failed_since "$TMP/rv-reads" "$T0"
sleep 0.5
reader_stop
read -r T1 ERR <<<"$(first_failure "$TMP/rv-reads" "$T0")"
if [ -n "${T1:-}" ] && [ "$ERR" = 13 ] && awk -v a="$T0" -v b="$T1" -v lim="$(scaled 2.5)" 'BEGIN { exit !(b - a <= lim) }'; then
  pass "reads stop with EACCES $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }') s after the revocation (interval 1 s)"
else
  fail "reads after revocation: first failure '${T1:-none} ${ERR:-}' after $T0"
fi
check "reads before the revocation succeeded" grep -q " ok$" "$TMP/rv-reads"
check "no read succeeds after the first refusal" awk -v t="${T1:-0}" '$1 > t && $2 == "ok" { bad = 1 } END { exit bad }' "$TMP/rv-reads"
check "stats: revoked" grep -qx "True\|1" <<<"$(mount_stat "$MP" revoked)"
check "the daemon logs that keys and cache were wiped" grep -q "keys and plaintext cache wiped" "$TMP/rv-daemon.log"
check_fails "a new open is refused" cat "$MP/big.bin"
check "stats: the refused reads are counted" test "$(mount_stat "$MP" denials)" -gt 0
kill -TERM "$RV_PID"; wait "$RV_PID" 2>/dev/null
# Every read recorded was served before the disabled answer, which the revocation follows at
# once; after it only refusals, releases and the unmount.
check "the audit log records the disabled consent and the revocation, then the unmount" \
  python3 -c 'import json,sys; t=[json.loads(l)["type"] for l in open(sys.argv[1])]; i=t.index("revocation"); assert t[i-1] == "consent" and "read" not in t[i:] and "denial" not in t[:i] and t[-2:] == ["unmount", "checkpoint"], t[-8:]' "$TMP/rv.log"
check "audit verify passes on it" "$CCRFS" audit verify --strict "$TMP/rv.log"

# --- governance down, then back ------------------------------------------------------------
gov_contract gd "$DS"
check "contract gd proposed and signed" gov_register gd
MP=$TMP/mnt-gd
check "mount under contract gd (grace 3 s)" mount_foreground "$TMP/ds" "$MP" --governance "$GOV_URL" --contract gd \
  --purpose TRAINING --audit-log "$TMP/gd.log" --spool "$TMP/spool-gd" \
  -o consent_interval=1,grace=3,flush_interval_ms=100 2>"$TMP/gd-daemon.log"
GD_PID=$FG_PID
reader_start "$MP/big.bin" "$TMP/gd-reads"
sleep 1
PORT=$GOV_PORT
# Taken before the stop: the service is gone no earlier than this, so the grace ends no earlier
# than TSTOP + 3 however long the stop takes.
TSTOP=$(now)
gov_stop
sleep 1.5
check "reads go on while governance is down, within the grace" \
  awk -v t="$TSTOP" '$1 > t + 1 && $2 == "ok" { ok = 1 } END { exit !ok }' "$TMP/gd-reads"
wait_until 10 failed_since "$TMP/gd-reads" "$TSTOP"
read -r TF ERR <<<"$(first_failure "$TMP/gd-reads" "$TSTOP")"
if [ -n "${TF:-}" ] && [ "$ERR" = 13 ] && awk -v a="$TSTOP" -v b="$TF" -v lim="$(scaled 6)" 'BEGIN { exit !(b - a >= 3 && b - a <= lim) }'; then
  pass "past the grace reads are refused (EACCES, $(awk -v a="$TSTOP" -v b="$TF" 'BEGIN { printf "%.1f", b - a }') s after governance stopped)"
else
  fail "governance down: first failure '${TF:-none} ${ERR:-}' after $TSTOP"
fi
gov_start "$PORT"
TBACK=$(now)
read_ok_since() { awk -v t="$2" '$1 > t && $2 == "ok" { ok = 1 } END { exit !ok }' "$1"; }
wait_until 10 read_ok_since "$TMP/gd-reads" "$TBACK"
check "reads resume once governance is back" awk -v t="$TBACK" '$1 > t && $2 == "ok" { ok = 1 } END { exit !ok }' "$TMP/gd-reads"
reader_stop
kill -TERM "$GD_PID"; wait "$GD_PID" 2>/dev/null
gov_events gd >"$TMP/gd-service.jsonl"
check "every event reached the service exactly once, as in the audit log" python3 -c '
import json, sys
svc = [json.loads(l) for l in open(sys.argv[1])]
log = [json.loads(l) for l in open(sys.argv[2])]
ids = [e["id"] for e in svc]
assert len(ids) == len(set(ids)), "duplicates at the service"
assert sorted(ids) == sorted(e["id"] for e in log), (len(ids), len(log))
seqs = sorted(e["seq"] for e in svc)
assert seqs == list(range(len(seqs))), "gap in the chain"
assert any(e["type"] == "denial" for e in svc), "the refusals are recorded"
' "$TMP/gd-service.jsonl" "$TMP/gd.log"
check "audit verify of the service's copy" "$CCRFS" audit verify --strict "$GOV_URL" --contract gd

# --- SIGKILL mid-read, then a new mount on the same spool ----------------------------------
gov_contract kl "$DS"
check "contract kl proposed and signed" gov_register kl
MP=$TMP/mnt-kl
check "mount under contract kl" mount_foreground "$TMP/ds" "$MP" --governance "$GOV_URL" --contract kl \
  --purpose TRAINING --spool "$TMP/spool-kl" -o consent_interval=1,grace=30,flush_interval_ms=100 \
  2>"$TMP/kl-daemon.log"
KL_PID=$FG_PID
PORT=$GOV_PORT
# With governance away, what is read stays in the spool: the kill finds undelivered events.
gov_stop
for i in $(seq 0 20); do mount_read_at "$MP/big.bin" $((i * 17)); done
reader_start "$MP/big.bin" "$TMP/kl-reads"
sleep 0.5
kill -KILL "$KL_PID"
wait "$KL_PID" 2>/dev/null
reader_stop
fusermount3 -uz "$MP" 2>/dev/null || umount -l "$MP" 2>/dev/null
cat "$TMP/spool-kl"/seg-*.log >"$TMP/kl-spooled.jsonl" 2>/dev/null
check "the spool holds undelivered opens at the kill" grep -qE '"type":"(open|access)"' "$TMP/kl-spooled.jsonl"
gov_start "$PORT"
check "a new mount on the same spool" mount_foreground "$TMP/ds" "$MP" --governance "$GOV_URL" --contract kl \
  --purpose TRAINING --spool "$TMP/spool-kl" -o flush_interval_ms=100 2>"$TMP/kl-daemon2.log"
cat "$MP/big.bin" >/dev/null
kill -TERM "$FG_PID"; wait "$FG_PID" 2>/dev/null
gov_events kl >"$TMP/kl-service.jsonl"
check "no event lost: everything spooled before the kill is at the service once, the chain unbroken" python3 -c '
import json, sys
svc = [json.loads(l) for l in open(sys.argv[1])]
spooled = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ids = [e["id"] for e in svc]
assert len(ids) == len(set(ids)), "duplicates"
assert set(e["id"] for e in spooled) <= set(ids), "spooled events missing at the service"
seqs = sorted(e["seq"] for e in svc)
assert seqs == list(range(len(seqs))), "gap"
assert [e["type"] for e in svc].count("mount") == 2
' "$TMP/kl-service.jsonl" "$TMP/kl-spooled.jsonl"
check "audit verify of the service's copy after the kill" "$CCRFS" audit verify "$GOV_URL" --contract kl

# --- an attested key release under a contract ----------------------------------------------
# The broker, its guest and its dataset in a folder of their own.
KBS_DIR=$TMP/kbs
K=$KBS_DIR
kbs_setup_common >/dev/null 2>&1
kbs_policy_for_build >"$K/policy.json"
if kbs_start gov --trust-sim-root "$K/sim" &&
  "$CCRFS" kbs put --url "$KBS_URL" --token-file "$K/token" --resource ccrfs/dek/gov \
    --policy "$K/policy.json" --value-file "$K/dek.key" >/dev/null 2>&1; then
  KDS="sha256:$(sha256sum "$K/ds/manifest.ccrfs" | cut -d' ' -f1)" # the dataset id
  gov_contract att "$KDS" max_mounts=1
  gov_register att
  MP=$TMP/mnt-att
  mkdir -p "$MP"
  h_track_mount "$MP"
  ATT=(--kbs "$KBS_URL" --resource ccrfs/dek/gov --attest "sim:$K/sim" --governance "$GOV_URL"
    --contract att --purpose TRAINING --audit-log "$TMP/att.log" --spool "$TMP/spool-att")
  check "a mount with a key released by the broker after attestation" "$CCRFS" mount "${ATT[@]}" "$K/ds" "$MP"
  check "it serves" cmp -s "$MP/data.bin" "$K/src/data.bin"
  mount_stop "$MP"
  check "the key_release event says attested, kbs, sim evidence, the broker" python3 -c '
import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
k = [x for x in e if x["type"] == "key_release"][0]
assert k["attested"] is True and k["method"] == "kbs" and k["evidence"] == "sim" and k["broker"] == sys.argv[2], k
assert k["contract"] == "att"
' "$TMP/att.log" "$KBS_URL"
  N_RELEASES=$(grep -c "released" "$K/gov.log" || true)
  if "$CCRFS" mount "${ATT[@]}" "$K/ds" "$MP" 2>"$TMP/att2.err"; then
    fail "the second mount under a budget of one was allowed"
  else
    grep -q "use budget" "$TMP/att2.err" && pass "the spent budget refuses the mount" || fail "budget: $(cat "$TMP/att2.err")"
  fi
  check "and no key was requested from the broker for it" test "$(grep -c "released" "$K/gov.log" || true)" = "$N_RELEASES"
else
  fail "the key broker did not start"
fi

finish
