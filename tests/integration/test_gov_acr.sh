#!/usr/bin/env bash
# A mount in acr mode (Azure Clean Room's governance sidecar) against `ccrfs gov serve` as the
# sidecar stand-in: 20,000 small files read (fewer under a sanitizer) while every PUT /events
# is answered 2 s late; the mount never fails closed, every event arrives once in one stream
# per chain, and `audit fetch` reads it back for `audit verify --strict`. Then, the stand-in
# down past the grace period: reads are refused; when it returns nothing is lost.
# CCRFS_ACR_FILES sets the count, CCRFS_ACR_OPTS adds mount options to the timed mount (e.g.
# gov_inflight=16). Prints the events/s delivered with the 2 s delay.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd curl python3

N=${CCRFS_ACR_FILES:-20000}
h_sanitized && N=${CCRFS_ACR_FILES:-3000}
SRC=$TMP/src

python3 - "$SRC" "$N" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(100):
    os.makedirs(os.path.join(root, "d%02d" % d), exist_ok=True)
for i in range(n):
    size = 100 + (i * 7919) % 301
    data = (hashlib.sha256(b"%d" % i).digest() * 13)[:size]
    with open(os.path.join(root, "d%02d/f%06d.bin" % (i % 100, i)), "wb") as f:
        f.write(data)
PY
DS=$(mount_pack "$SRC" "$TMP/ds")
case "$DS" in sha256:*) pass "packed $N small files" ;; *) fail "pack printed no dataset id"; finish ;; esac

# The contract lives in the registry next to the stand-in (the ledger, for the test).
gov_start || { fail "the governance service did not start"; finish; }
gov_contract acr1 "$DS"
check "contract acr1 proposed and signed" gov_register acr1
gov_contract acr2 "$DS"
check "contract acr2 proposed and signed" gov_register acr2
gov_stop
gov_sidecar_start acr1 0 --put-delay-ms 2000 || { fail "the sidecar stand-in did not start"; finish; }
check "consent asked as the sidecar is: no query, its own contract" \
  bash -c "curl -sf -X POST -H 'Authorization: Bearer $CCRFS_GOV_TOKEN' '$GOV_URL/consentcheck/execution' | grep -q '\"status\":\"enabled\"'"

# --- 2 s per PUT, many small files ---------------------------------------------------------
MP=$TMP/mnt
check "mount in acr mode" mount_foreground "$TMP/ds" "$MP" --governance "$GOV_URL" --governance-api acr \
  --contract acr1 --audit-log "$TMP/acr1.log" --spool "$TMP/spool1" \
  -o flush_interval_ms=200${CCRFS_ACR_OPTS:+,$CCRFS_ACR_OPTS} \
  2>"$TMP/daemon1.log"
PID1=$FG_PID
T0=$(date +%s.%N)
python3 - "$MP" "$N" >"$TMP/read1.out" 2>&1 <<'PY'
import os, sys
mnt, n = sys.argv[1], int(sys.argv[2])
bad = 0
for i in range(n):
    try:
        with open(os.path.join(mnt, "d%02d/f%06d.bin" % (i % 100, i)), "rb") as f:
            f.read()
    except OSError as e:
        bad += 1
        if bad < 5:
            print("error", i, e)
print("failed", bad)
PY
T1=$(date +%s.%N)
check "every one of $N files read; the mount never failed closed ($(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s)" \
  grep -qx "failed 0" "$TMP/read1.out"
check "no refusal recorded" test "$(count_events "$TMP/acr1.log" denial)" -eq 0
kill -TERM "$PID1"
wait "$PID1" 2>/dev/null
T2=$(date +%s.%N)
CHAIN1=$(gov_chain_of "$TMP/acr1.log")
check "the unmount delivered the rest ($(awk -v a="$T1" -v b="$T2" 'BEGIN { printf "%.1f", b - a }') s after the reads): the spool acknowledged every event" \
  test "$(cat "$TMP/spool1/acked")" -eq "$(wc -l <"$TMP/acr1.log")"

# events/s delivered: events over the span of the stand-in's writes of this stream
curl -s -H "Authorization: Bearer $CCRFS_GOV_TOKEN" \
  "$GOV_URL/contracts/acr1/events?id=$CHAIN1&scope=ccrfs&from_seqno=1" >/dev/null # starts loading
sleep 1.2
curl -s -H "Authorization: Bearer $CCRFS_GOV_TOKEN" \
  "$GOV_URL/contracts/acr1/events?id=$CHAIN1&scope=ccrfs&from_seqno=1" >"$TMP/history1.json"
RATE=$(python3 - "$TMP/history1.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["value"]
n = sum(len(w["data"]["events"]) for w in v)
t = [int(w["timestamp"]) for w in v]
span = (max(t) - min(t)) / 1000.0 if len(t) > 1 else 0
biggest = max(len(json.dumps(w["data"], separators=(",", ":"))) for w in v)
print("%d events in %d PUTs over %.1f s: %.0f events/s; largest body %d bytes" % (n, len(v), span, n / span if span else 0, biggest))
PY
)
pass "measured with every PUT answered 2 s late: $RATE"

check "audit fetch reads the stream back" "$CCRFS" audit fetch --url "$GOV_URL" --contract acr1 --id "$CHAIN1" \
  -o "$TMP/fetched1.log"
check "audit verify --strict passes on the fetched trail" "$CCRFS" audit verify --strict "$TMP/fetched1.log"
check "every event arrived once, as in the local audit log" cmp -s "$TMP/fetched1.log" "$TMP/acr1.log"
check "one stream per chain: nothing under the contract's own id" \
  bash -c "curl -s -H 'Authorization: Bearer $CCRFS_GOV_TOKEN' '$GOV_URL/contracts/acr1/events?scope=ccrfs' | grep -qx '{\"value\":\\[\\]}'"
check "audit report reads it" "$CCRFS" audit report "$TMP/fetched1.log"
"$CCRFS" audit fetch --url "$GOV_URL" --contract acr1 -o "$TMP/x.log" 2>"$TMP/fetch-usage.err"
check "audit fetch without --id: usage error naming what it needs" \
  bash -c "[ $? -eq 2 ] && grep -q 'fetch needs --url URL --contract ID --id STREAM -o FILE' '$TMP/fetch-usage.err'"
gov_stop

# --- the stand-in down past the grace period, then back --------------------------------------
gov_sidecar_start acr2 || { fail "the sidecar stand-in did not start"; finish; }
PORT=$GOV_PORT
MP2=$TMP/mnt2
check "mount under acr2 (grace 3 s)" mount_foreground "$TMP/ds" "$MP2" --governance "$GOV_URL" \
  --governance-api acr --contract acr2 --audit-log "$TMP/acr2.log" --spool "$TMP/spool2" \
  -o consent_interval=1,grace=3,flush_interval_ms=100 2>"$TMP/daemon2.log"
PID2=$FG_PID
cat "$MP2/d00/f000000.bin" >/dev/null
gov_stop
TSTOP=$(date +%s)
refused() { ! cat "$MP2/d01/f000001.bin" >/dev/null 2>&1; }
if wait_until 12 refused; then
  pass "reads refused $(($(date +%s) - TSTOP)) s after the stand-in went away (grace 3 s)"
else
  fail "reads still served long after the grace period"
fi
gov_sidecar_start acr2 "$PORT" || { fail "the sidecar stand-in did not come back"; finish; }
served() { cat "$MP2/d02/f000002.bin" >/dev/null 2>&1; }
check "reads served again once it is back" wait_until 12 served
kill -TERM "$PID2"
wait "$PID2" 2>/dev/null
CHAIN2=$(gov_chain_of "$TMP/acr2.log")
check "audit fetch after the outage" "$CCRFS" audit fetch --url "$GOV_URL" --contract acr2 --id "$CHAIN2" \
  -o "$TMP/fetched2.log"
check "nothing lost: the fetched trail is the local log, and verifies" \
  bash -c "cmp -s '$TMP/fetched2.log' '$TMP/acr2.log' && '$CCRFS' audit verify --strict '$TMP/fetched2.log'"
check "the refusals are in it" test "$(count_events "$TMP/fetched2.log" denial)" -gt 0
gov_stop
finish
