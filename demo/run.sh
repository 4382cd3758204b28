#!/usr/bin/env bash
# The ccrfs demo: the collaboration workflow of a confidential clean room, end to end, on
# this machine. Everything runs on 127.0.0.1 with ports the system picks:
#   - a blob store (nginx, with WebDAV uploads),
#   - a key broker (`ccrfs kbs serve`, Trustee KBS protocol) trusting a simulated SEV-SNP root,
#   - a governance service (`ccrfs gov serve`): contracts, consent, audit events.
# Two data providers encrypt, publish and register their keys with a release policy pinning
# the clean room's measurement; the consumer proposes a contract, everyone signs; the clean
# room is launched with init-data (its configuration, bound into its attestation) and mounts
# both datasets read-only and an output sink as the init-data says; an unmodified Python script trains
# on the CSV files and writes a model to the sink; the auditor verifies the log and reports
# per file; the consumer decrypts the model; a provider revokes and the next read is refused.
#
# Every server is stopped and every mount undone at the end, also when a step fails. Exits 0
# only when every step went as shown. CCRFS=/usr/bin/ccrfs uses an installed ccrfs.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

# One line from the governance service's JSON answer about a contract.
contract_line() {
  python3 -c 'import json,sys
c = json.load(sys.stdin)
line = "contract %s: %s" % (c.get("id"), c.get("status"))
if c.get("signedBy"): line += "; signed by " + ", ".join(c["signedBy"])
if c.get("awaiting"): line += "; awaiting " + ", ".join(c["awaiting"])
if c.get("revokedBy"): line += "; revoked by " + c["revokedBy"]
print("   " + line)'
}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
die() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }

# CCRFS=/usr/bin/ccrfs runs the demo with an installed ccrfs (the Debian package) instead of
# building one from this tree.
if [ -n "${CCRFS:-}" ]; then
  say "Installing what is missing; using $CCRFS"
  [ -x "$CCRFS" ] || die "CCRFS=$CCRFS is not an executable ccrfs"
  bash scripts/install-deps.sh
else
  say "Installing what is missing and building"
  bash scripts/install-deps.sh
  cmake -S . -B build >/dev/null
  cmake --build build -j"$(nproc)" >/dev/null
  CCRFS=$SRC/build/ccrfs
fi

W=$(mktemp -d /tmp/ccrfs-demo.XXXXXX)
PIDS=()
MOUNTS=()
cleanup() {
  local m p
  for m in "${MOUNTS[@]}"; do
    mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${NGINX_DIR:-}" ] && stop_nginx >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT

# Waits until FILE is non-empty (a server wrote its port there).
wait_file() { for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done; die "$2 did not start"; }

say "Starting the services on 127.0.0.1"
source "$SRC/tests/integration/lib/nginx.sh"
mkdir -p "$W/store"
start_nginx "$W/store" >/dev/null
[ "${NGINX_DAV:-0}" = 1 ] || die "nginx cannot accept uploads (no WebDAV module)"
STORE=http://127.0.0.1:$NGINX_PORT
note "blob store       $STORE (nginx)"

# Each party has its own governance credential, bound to its name and role: no token lets one
# party act for another, and the training script gets none.
: >"$W/gov.credentials"
# The clean room's daemon appends the modeller's audit trail as a clean room of its contract.
for cred in "hospital hospital provider" "lab lab provider" "modeller modeller consumer" \
  "cleanroom modeller cleanroom" "auditor auditor auditor" "broker broker broker"; do
  read -r name party role <<<"$cred"
  token=$(head -c 24 /dev/urandom | base64)
  printf '%s %s %s\n' "$token" "$party" "$role" >>"$W/gov.credentials"
  printf '%s %s %s\n' "$token" "$party" "$role" >"$W/cred.$name"
done
chmod 600 "$W/gov.credentials" "$W"/cred.*
"$CCRFS" gov serve --db "$W/gov.db" --token-file "$W/gov.credentials" --port-file "$W/gov.port" \
  2>"$W/gov.log" &
PIDS+=($!)
wait_file "$W/gov.port" "the governance service"
GOV=http://127.0.0.1:$(cat "$W/gov.port")
note "governance       $GOV (contracts, consent, audit events; one credential per party)"

say "Two data providers prepare their data"
mkdir -p "$W/hospital/patients" "$W/lab/results"
python3 - "$W" <<'PY'
import csv, os, random, sys
w = sys.argv[1]
random.seed(7)
with open(os.path.join(w, "hospital/patients/patients.csv"), "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(["patient", "age", "bmi", "smoker"])
    for i in range(4000):
        out.writerow([i, random.randint(20, 90), round(random.uniform(17, 40), 1), random.random() < 0.3])
with open(os.path.join(w, "lab/results/glucose.csv"), "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(["patient", "glucose", "diabetic"])
    for i in range(4000):
        g = round(random.gauss(105, 25), 1)
        out.writerow([i, g, int(g > 126)])
PY
note "hospital: patients/patients.csv    lab: results/glucose.csv"

MEASUREMENT=$(sha384sum "$CCRFS" | cut -d' ' -f1)
POLICY='{"version":"1.0.0","anyOf":[{"authority":"ccrfs-demo","allOf":[{"claim":"measurement","equals":"'$MEASUREMENT'"},{"claim":"debug","equals":false},{"claim":"vmpl","equals":0}]}]}'
for p in hospital lab; do
  say "Provider '$p': create a key, pack, push"
  "$CCRFS" keygen -o "$W/$p.key" 2>/dev/null
  id=$("$CCRFS" pack --key "$W/$p.key" "$W/$p" "$W/$p.ds" | tail -n 1)
  eval "ID_$p=$id"
  note "dataset id: $id"
  "$CCRFS" push "$W/$p.ds" "$STORE/$p" | grep -v '^sha256:' | sed 's/^/   /'
done

say "The key broker starts; it asks governance before every release"
head -c 24 /dev/urandom | base64 >"$W/kbs.token"
chmod 600 "$W/kbs.token"
"$CCRFS" attest sim-init "$W/cleanroom-sim" >/dev/null
"$CCRFS" kbs serve --state "$W/kbs" --admin-token-file "$W/kbs.token" --trust-sim-root "$W/cleanroom-sim" \
  --governance "$GOV" --governance-token-file "$W/cred.broker" \
  --resource-dataset "hospital/dek/v1=$ID_hospital" --resource-dataset "lab/dek/v1=$ID_lab" \
  --port-file "$W/kbs.port" 2>"$W/kbs.log" &
PIDS+=($!)
wait_file "$W/kbs.port" "the key broker"
KBS=http://127.0.0.1:$(cat "$W/kbs.port")
note "key broker       $KBS (KBS protocol; trusts the simulated SEV-SNP root; releases a key only"
note "                 for an active contract naming the dataset, and counts the use there)"

for p in hospital lab; do
  say "Provider '$p': register the key with a release policy"
  printf '%s\n' "$POLICY" >"$W/$p.policy.json"
  "$CCRFS" kbs put --url "$KBS" --token-file "$W/kbs.token" --resource "$p/dek/v1" \
    --policy "$W/$p.policy.json" --value-file "$W/$p.key" | sed 's/^/   /'
  note "the broker releases $p/dek/v1 only to a clean room measuring ${MEASUREMENT:0:16}... (no debug, VMPL 0)"
  "$CCRFS" gov keygen --out "$W/$p.sign" >"$W/$p.sign.pub"
done

say "The consumer proposes a contract; both providers sign it"
"$CCRFS" gov keygen --out "$W/modeller.sign" >"$W/modeller.sign.pub"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$W/modeller.recipient.pem" 2>/dev/null
openssl pkey -in "$W/modeller.recipient.pem" -pubout -out "$W/modeller.recipient.pub.pem"
SINK_ID=sha256:$(openssl pkey -pubin -in "$W/modeller.recipient.pub.pem" -outform DER | sha256sum | cut -d' ' -f1)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
later=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
cat >"$W/contract.json" <<JSON
{
  "id": "diabetes-study-1",
  "purpose": "train a diabetes risk model",
  "parties": [
    {"id": "hospital", "role": "data-provider", "publicKey": "$(tail -n 1 "$W/hospital.sign.pub")"},
    {"id": "lab", "role": "data-provider", "publicKey": "$(tail -n 1 "$W/lab.sign.pub")"},
    {"id": "modeller", "role": "data-consumer", "publicKey": "$(tail -n 1 "$W/modeller.sign.pub")"}
  ],
  "startTime": "$now",
  "expiryTime": "$later",
  "datasets": [
    {"id": "$ID_hospital", "name": "patients", "provider": "hospital", "accessMode": "read-only",
     "maxMounts": 3, "maxBytesPerMount": 104857600},
    {"id": "$ID_lab", "name": "glucose", "provider": "lab", "accessMode": "read-only",
     "maxMounts": 3, "maxBytesPerMount": 104857600},
    {"id": "$SINK_ID", "name": "model", "provider": "modeller", "accessMode": "sink", "maxMounts": 3,
     "recipient": "modeller"}
  ]
}
JSON
"$CCRFS" gov contract propose --url "$GOV" --token-file "$W/cred.modeller" "$W/contract.json" | contract_line
for party in modeller hospital lab; do
  "$CCRFS" gov contract sign --url "$GOV" --token-file "$W/cred.$party" --party "$party" --key "$W/$party.sign" \
    --file "$W/contract.json" diabetes-study-1 | contract_line
done

say "The clean room is launched with its configuration bound to its attestation (init-data)"
# Confidential Containers' init-data: the platform puts its SHA-256 in the guest's HOST_DATA at
# launch, so the governance service, contract, datasets, modes, broker and keys the clean room
# uses are part of what it attests to, not arguments its operator may change.
cat >"$W/cleanroom-init.toml" <<TOML
algorithm = "sha256"
version = "0.1.0"

[data]
"ccrfs.json" = '''
{
  "governance": "$GOV",
  "governanceApi": "ccrfs",
  "contract": "diabetes-study-1",
  "datasets": [
    {"id": "$ID_hospital", "mode": "read-only", "store": "$STORE/hospital"},
    {"id": "$ID_lab", "mode": "read-only", "store": "$STORE/lab"},
    {"id": "$SINK_ID", "mode": "sink", "store": "$STORE/outputs"}
  ],
  "broker": "$KBS",
  "resources": ["hospital/dek/v1", "lab/dek/v1"]
}
'''
TOML
"$CCRFS" attest sim-init "$W/cleanroom-sim" --relaunch --init-data "$W/cleanroom-init.toml" | sed 's/^/   /'
note "(a new simulated guest on the machine the broker trusts; its HOST_DATA is the init-data's digest)"

say "The clean room (simulated SEV-SNP) mounts both datasets read-only and an output sink"
mkdir -p "$W/mnt/patients" "$W/mnt/glucose" "$W/mnt/model" "$W/state"
export CCRFS_STATE_DIR=$W/state
# Governance, contract, broker, dataset id and mode come from the init-data, checked against the
# guest's own report; an argument contradicting it would be refused.
INIT=(--init-data "$W/cleanroom-init.toml" --attest "sim:$W/cleanroom-sim" --gov-token-file "$W/cred.cleanroom")
mount_dataset() { # NAME PROVIDER MOUNTPOINT
  "$CCRFS" mount "${INIT[@]}" --resource "$2/dek/v1" --purpose "train a diabetes risk model" \
    -o consent_interval=1 "$STORE/$2" "$3" 2>>"$W/mount-$1.log" ||
    { cat "$W/mount-$1.log" >&2; die "mounting $1"; }
  MOUNTS+=("$3")
  note "mounted $1 at $3 (key released by the broker after attestation with the init-data)"
}
mount_dataset patients hospital "$W/mnt/patients"
mount_dataset glucose lab "$W/mnt/glucose"
"$CCRFS" mount "${INIT[@]}" --purpose "train a diabetes risk model" \
  -o recipient="$W/modeller.recipient.pub.pem",consent_interval=1 "$STORE/outputs" "$W/mnt/model" \
  2>>"$W/mount-model.log" || { cat "$W/mount-model.log" >&2; die "mounting the sink"; }
MOUNTS+=("$W/mnt/model")
note "mounted the output sink at $W/mnt/model (outputs sealed for the modeller, uploaded on close)"
if "$CCRFS" mount "${INIT[@]}" --resource hospital/dek/v1 --contract another-contract "$STORE/hospital" \
  "$W/mnt/other" 2>"$W/contradict.err"; then
  die "a mount contradicting the init-data was accepted"
fi
note "a mount naming another contract is refused: $(head -n 1 "$W/contradict.err" | cut -c1-140)..."
find "$W/mnt" -type f -printf '   %P  %s bytes\n'

say "An unmodified Python training script reads the CSV files and writes a model to the sink"
cat >"$W/train.py" <<'PY'
# Plain Python, standard library only: it knows nothing about ccrfs.
import csv, json, sys
patients_csv, glucose_csv, model_out = sys.argv[1:4]
age = {}
with open(patients_csv, newline="") as f:
    for row in csv.DictReader(f):
        age[row["patient"]] = int(row["age"])
xs, ys = [], []
with open(glucose_csv, newline="") as f:
    for row in csv.DictReader(f):
        xs.append(age[row["patient"]])
        ys.append(float(row["glucose"]))
n = len(xs)
mx, my = sum(xs) / n, sum(ys) / n
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
model = {"model": "glucose ~ age", "slope": slope, "intercept": my - slope * mx, "samples": n}
with open(model_out, "w") as f:
    json.dump(model, f, indent=2)
print("trained on %d rows: glucose = %.3f * age + %.2f" % (n, slope, my - slope * mx))
PY
# No governance credential in its environment: it could not record, revoke or spend anything.
env -u CCRFS_GOV_TOKEN -u CCRFS_GOV_TOKEN_FILE \
  python3 "$W/train.py" "$W/mnt/patients/patients/patients.csv" "$W/mnt/glucose/results/glucose.csv" \
  "$W/mnt/model/model.json" | sed 's/^/   /'
for _ in $(seq 1 100); do [ -s "$W/store/outputs/model.json/manifest.ccrfs" ] && break; sleep 0.1; done
[ -s "$W/store/outputs/model.json/manifest.ccrfs" ] || die "the model was not uploaded"
note "uploaded, sealed for the modeller: $(find "$W/store/outputs" -type f | wc -l) objects under outputs/model.json/"

say "The consumer decrypts the model with its private key"
"$CCRFS" unpack --unwrap-key "$W/modeller.recipient.pem" "$STORE/outputs/model.json" "$W/received" | sed 's/^/   /'
sed 's/^/   /' "$W/received/model.json"
echo
cmp -s "$W/received/model.json" "$W/mnt/model/model.json" || die "the decrypted model differs from what was written"
note "identical to what the training script wrote"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/someone-else.pem" 2>/dev/null
if "$CCRFS" unpack --unwrap-key "$W/someone-else.pem" "$STORE/outputs/model.json" "$W/stolen" 2>"$W/stolen.err"; then
  die "someone other than the recipient decrypted the model"
fi
note "anyone else is refused: $(head -n 1 "$W/stolen.err")"

say "The auditor verifies the governance log and reports access per file"
"$CCRFS" gov events --url "$GOV" --token-file "$W/cred.auditor" --contract diabetes-study-1 >"$W/audit.jsonl"
"$CCRFS" audit verify "$W/audit.jsonl" | sed 's/^/   /'
"$CCRFS" audit report "$W/audit.jsonl" --by file | sed 's/^/   /'

say "The lab revokes the contract; the next read in the clean room is refused"
"$CCRFS" gov contract revoke --url "$GOV" --token-file "$W/cred.lab" --party lab --key "$W/lab.sign" \
  diabetes-study-1 | contract_line
refused=0
for _ in $(seq 1 50); do
  if ! head -c 100 "$W/mnt/glucose/results/glucose.csv" >/dev/null 2>"$W/revoked.err"; then
    refused=1
    break
  fi
  sleep 0.2
done
[ "$refused" = 1 ] || die "reads still succeed after revocation"
note "read refused: $(head -n 1 "$W/revoked.err")"

say "Unmounting; the auditor checks the complete log, signed at every unmount"
for m in "${MOUNTS[@]}"; do fusermount3 -u "$m" 2>/dev/null || true; done
MOUNTS=()
# Bound to the attested daemon: the evidence in each mount event binds the key that signed the
# checkpoints, and the report carries the init-data's digest as HOST_DATA. (Waits until each
# daemon's last checkpoint, written at unmount, has been delivered.)
HOST_DATA=$(sha256sum "$W/cleanroom-init.toml" | cut -d' ' -f1)
for _ in $(seq 1 100); do
  "$CCRFS" gov events --url "$GOV" --token-file "$W/cred.auditor" --contract diabetes-study-1 \
    >"$W/audit-final.jsonl"
  [ "$(grep -c '"unmount"' "$W/audit-final.jsonl")" -ge 3 ] &&
    "$CCRFS" audit verify --attested --trust "$W/cleanroom-sim" --host-data "$HOST_DATA" \
      "$W/audit-final.jsonl" >/dev/null 2>&1 && break
  sleep 0.2
done
"$CCRFS" audit verify --attested --trust "$W/cleanroom-sim" --host-data "$HOST_DATA" "$W/audit-final.jsonl" |
  cut -c1-150 | sed 's/^/   /'
grep -q '"revocation"' "$W/audit-final.jsonl" || die "the revocation is not in the log"
note "the log holds the key releases, every open and read, the upload, the revocation and the denials"

say "Demo complete: every step went as shown"
