#!/usr/bin/env bash
# Key-release latency on the local broker: start to key in hand, for the KBS path
# (auth, simulated SEV-SNP evidence, attest, resource JWE with an ephemeral P-256 key), measured as
# the wall time of `ccrfs verify --kbs` on a one-file dataset minus that of
# `ccrfs verify --key` on the same dataset (the rest of the work is the same).
#   bash bench/keys_latency.sh [RUNS]        (needs a built build/ccrfs, or CCRFS=...)
set -euo pipefail
cd "$(dirname "$0")/.."
CCRFS=${CCRFS:-$PWD/build/ccrfs}
RUNS=${1:-30}
T=$(mktemp -d /tmp/ccrfs-keys-bench.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

head -c 24 /dev/urandom | base64 >"$T/token"
"$CCRFS" attest sim-init "$T/sim" >/dev/null
mkdir "$T/src"
echo small >"$T/src/f"
"$CCRFS" keygen -o "$T/dek.key" >/dev/null 2>&1
"$CCRFS" pack --key "$T/dek.key" "$T/src" "$T/ds" >/dev/null 2>&1
M=$(sha384sum "$CCRFS" | cut -d' ' -f1)
printf '{"version":"1.0.0","anyOf":[{"allOf":[{"claim":"measurement","equals":"%s"},{"claim":"debug","equals":false}]}]}' \
  "$M" >"$T/policy.json"
"$CCRFS" kbs serve --state "$T/state" --admin-token-file "$T/token" --trust-sim-root "$T/sim" \
  --port-file "$T/port" 2>"$T/broker.log" &
PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$T/port")"
"$CCRFS" kbs put --url "$URL" --token-file "$T/token" --resource bench/dek/ds --policy "$T/policy.json" \
  --value-file "$T/dek.key" >/dev/null

python3 - "$CCRFS" "$URL" "$T" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
ccrfs, url, t, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def timed(args):
    out = []
    for _ in range(runs):
        s = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append((time.perf_counter() - s) * 1000)
    return out
kbs = timed([ccrfs, "verify", "--kbs", url, "--resource", "bench/dek/ds", "--attest", "sim:" + t + "/sim", t + "/ds"])
local = timed([ccrfs, "verify", "--key", t + "/dek.key", t + "/ds"])
mk, ml = statistics.median(kbs), statistics.median(local)
p90 = sorted(kbs)[int(0.9 * (runs - 1))]
print(f"runs: {runs}")
print(f"verify --kbs (sim evidence, local broker): median {mk:.1f} ms, p90 {p90:.1f} ms")
print(f"verify --key (same dataset):               median {ml:.1f} ms")
print(f"key release (start to key in hand):        median {mk - ml:.1f} ms")
PY
