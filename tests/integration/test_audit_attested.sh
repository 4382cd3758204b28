#!/usr/bin/env bash
# An audit log that proves its origin: a mount attested with a simulated SEV-SNP guest signs its
# checkpoints with a key its evidence binds; `audit verify --attested` checks evidence -> key ->
# checkpoints -> events and prints what the log is bound to; and under `ccrfs gov serve` nobody
# else, not even a holder of the governance token, can append to the mount's chain: a forged
# next-sequence event is refused and the real events still land.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd curl
require_cmd python3

gov_start || { fail "the governance service did not start"; finish; }
KBS_DIR=$TMP/kbs
K=$KBS_DIR
kbs_setup_common >/dev/null 2>&1 || { fail "the simulated guest and dataset could not be made"; finish; }
kbs_policy_for_build >"$K/policy.json"
kbs_start att --trust-sim-root "$K/sim" || { fail "the key broker did not start"; finish; }
"$CCRFS" kbs put --url "$KBS_URL" --token-file "$K/token" --resource ccrfs/dek/att \
  --policy "$K/policy.json" --value-file "$K/dek.key" >/dev/null 2>&1 || { fail "kbs put"; finish; }
KDS="sha256:$(sha256sum "$K/ds/manifest.ccrfs" | cut -d' ' -f1)"
gov_contract att "$KDS"
check "contract att proposed and signed" gov_register att
MEAS=$(sha384sum "$CCRFS" | cut -d' ' -f1)

MP=$TMP/mnt
mkdir -p "$MP"
h_track_mount "$MP"
check "an attested mount under governance" "$CCRFS" mount --kbs "$KBS_URL" --resource ccrfs/dek/att \
  --attest "sim:$K/sim" --governance "$GOV_URL" --contract att --purpose TRAINING \
  --audit-log "$TMP/att.log" --spool "$TMP/spool" -o flush_interval_ms=100 "$K/ds" "$MP"
check "it serves" cmp -s "$MP/data.bin" "$K/src/data.bin"

# The chain as the service holds it so far.
wait_until 10 sh -c '"$0" gov events --url "$1" --contract att | grep -qE "\"type\":\"(read|access)\""' "$CCRFS" "$GOV_URL"
gov_events att >"$TMP/before.jsonl"

# The attacker: the governance token, and the next event of the live chain, correctly hashed.
python3 - "$TMP/before.jsonl" >"$TMP/forged.json" <<'EOF'
import hashlib, json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
last = max(ev, key=lambda e: e["seq"])
f = {"v": 1, "chain": last["chain"], "seq": last["seq"] + 1, "id": "%s-%d" % (last["chain"], last["seq"] + 1),
     "time": last["time"], "type": "read", "prev": last["hash"], "contract": "att", "open": 0,
     "path": "FORGED", "ranges": [[0, 1]], "bytes": 1, "reads": 1}
canon = lambda o: json.dumps(o, sort_keys=True, separators=(",", ":"))
# The forgery is well-formed: this canonical form reproduces the hashes of the real events.
for e in ev:
    assert hashlib.sha256(canon({k: v for k, v in e.items() if k != "hash"}).encode()).hexdigest() == e["hash"]
f["hash"] = hashlib.sha256(canon(f).encode()).hexdigest()
print(canon(f))
EOF
FID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/forged.json")
R=$(gov_api PUT "/events?id=$FID&scope=ccrfs" "$(cat "$TMP/forged.json")")
case "$R" in
  403*NotChainOwner*) pass "a forged next-sequence event with the governance token is refused (403)" ;;
  *) fail "the forged event was not refused: $R" ;;
esac

check "the mount still serves after the attack" cmp -s "$MP/sub/readme.txt" "$K/src/sub/readme.txt"
mount_stop "$MP"
wait_until 10 sh -c '"$0" gov events --url "$1" --contract att | grep -q "\"type\":\"unmount\""' "$CCRFS" "$GOV_URL"
gov_events att >"$TMP/after.jsonl"
check "the real events landed, contiguous, and the forged one is nowhere" python3 -c '
import json, sys
svc = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
local = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert not [e for e in svc if e.get("path") == "FORGED"], "forged event stored"
seqs = sorted(e["seq"] for e in svc)
assert seqs == list(range(len(seqs))), "gap"
assert [e["id"] for e in local] == [e["id"] for e in sorted(svc, key=lambda e: e["seq"])], "differs from the local log"
read = lambda e: (e["type"] == "read" and e["path"] == "sub/readme.txt") or (
    e["type"] == "access" and any(f["path"] == "sub/readme.txt" and f["bytes"] > 0 for f in e["files"]))
assert any(read(e) for e in svc), "the read after the attack is missing"
' "$TMP/after.jsonl" "$TMP/att.log"

check "the mount event carries the evidence and checkpoints say attested" python3 -c '
import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
m = [x for x in e if x["type"] == "mount"][0]
assert m["attestation"]["binding"] == "sha256(publicKey)||zeros" and m["attestation"]["source"] == "sim", m
cps = [x for x in e if x["type"] == "checkpoint"]
assert cps and all(c["key_source"] == "attested" and c["key"] == m["signing_key"] for c in cps)
' "$TMP/att.log"
check "the signing key is nowhere on disk" sh -c '! grep -rqs "PRIVATE KEY" "$0"' "$TMP/spool"

OUT=$("$CCRFS" audit verify --attested --trust "$K/sim" --measurement "$MEAS" "$TMP/att.log" 2>&1)
RC=$?
if [ $RC -eq 0 ] && grep -q "measurement $MEAS" <<<"$OUT" && grep -q "key sha256:" <<<"$OUT" &&
  grep -q "host_data" <<<"$OUT" && grep -q "chip_id" <<<"$OUT"; then
  pass "audit verify --attested passes and prints the binding"
else
  fail "audit verify --attested: rc $RC: $OUT"
fi
check "the service's copy verifies as attested too" "$CCRFS" audit verify --attested --trust "$K/sim" \
  "$GOV_URL" --contract att
check_fails "another measurement is refused" "$CCRFS" audit verify --attested --trust "$K/sim" \
  --measurement "$(printf '0%.0s' $(seq 96))" "$TMP/att.log"
check_fails "without trusting the simulator's root the evidence is refused" "$CCRFS" audit verify --attested \
  "$TMP/att.log"

finish
