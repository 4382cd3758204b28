#!/usr/bin/env bash
# DEPA contracts as written: the covid and brats scenario contracts of iSPIRT/depa-training
# (shared test vectors, placeholders filled) with their parties and datasets registered are
# proposed, signed against the registered keys, admitted and mounted by dataset UUID (the store
# from the registry, the id pinned), one party signing with COSE_Sign1; refused, each with its
# reason: an unregistered dataset UUID, a store whose manifest is not the registered id, a
# signature (party or COSE) by an unregistered key, an expired contract.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd python3
VEC=${CCRFS_TESTVECTORS:-$CCRFS_SRC/../shared/testvectors}/depa/contracts
[ -f "$VEC/covid-contract.json" ] && [ -f "$VEC/brats-contract.json" ] || skip_all "no DEPA vectors in $VEC"

gov_start || { fail "the governance service did not start"; finish; }
MP=$TMP/mnt
mkdir -p "$MP"
h_track_mount "$MP"
CCRP=did:web:ccrp.example.org

# fill SRC OUT [start expiry]: the deployment's placeholders filled; times replaced when given.
fill() {
  python3 - "$@" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read().replace("$CCRP_USERNAME", "ccrp.example.org".split(".")[0])
text = text.replace("did:web:ccrp.github.io", "did:web:ccrp.example.org")
text = re.sub(r"\$([A-Z_]+)", lambda m: m.group(1).lower().replace("_", "-"), text)
doc = json.loads(text)
if len(sys.argv) > 3:
    doc["startTime"], doc["expiryTime"] = sys.argv[3], sys.argv[4]
json.dump(doc, open(sys.argv[2], "w"), indent=2)
PY
}

# party NAME: a signing key, registered under NAME.
party() {
  "$CCRFS" gov keygen --out "$TMP/$1.pem" >/dev/null &&
    "$CCRFS" gov party register --url "$GOV_URL" --id "$1" --public-key "$TMP/$1.pem" --name "party $1" >/dev/null
}

# dataset UUID OWNER [KEY_SOURCE]: packs a small tree, registers it under UUID, signed by OWNER;
# sets DSID.
dataset() {
  local uuid=$1 owner=$2 ksrc=${3:-}
  mkdir -p "$TMP/src-$owner"
  echo "records of $owner" >"$TMP/src-$owner/records.csv"
  head -c 200000 /dev/urandom >"$TMP/src-$owner/blob.bin"
  DSID=$(mount_pack "$TMP/src-$owner" "$TMP/ds-$owner")
  "$CCRFS" gov dataset register --url "$GOV_URL" --uuid "$uuid" --id "$DSID" --owner "$owner" \
    --key "$TMP/$owner.pem" --name "$owner data" --store "$TMP/ds-$owner" ${ksrc:+--key-source "$ksrc"} >/dev/null
}

keyname() { if [ "$1" = "$CCRP" ]; then echo ccrp; else echo "$1"; fi; }

sign_all() {
  local id=$1 p
  shift
  for p in "$@"; do
    "$CCRFS" gov contract sign --url "$GOV_URL" --party "$p" --key "$TMP/$(keyname "$p").pem" "$id" >/dev/null ||
      return 1
  done
}

refused() {
  local what=$1 pattern=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] && grep -Eq -- "$pattern" <<<"$out" && mount_gone "$MP"; then
    pass "$what: $(grep -E -- "$pattern" <<<"$out" | head -1 | cut -c1-160)"
  else
    fail "$what (exit $rc): $out"
    mount_stop "$MP"
  fi
}

depa_mount() {
  "$CCRFS" mount --key "$TMP/key" --governance "$GOV_URL" --purpose TRAINING --audit-log "$TMP/$1.log" \
    --spool "$TMP/spool-$1" --contract "$2" --dataset "$3" "${@:4}" "$MP"
}

# --- covid --------------------------------------------------------------------------------
COVID=f4f72a88-bab1-11ed-afa1-0242ac120002
ICMR=19517ba8-bab8-11ed-afa1-0242ac120002
COWIN=216d5cc6-bab8-11ed-afa1-0242ac120002
INDEX=2830a144-bab8-11ed-afa1-0242ac120002
for p in ccrp icmr cowin index mallory; do party "$p" || fail "register party $p"; done
"$CCRFS" gov party register --url "$GOV_URL" --id "$CCRP" --public-key "$TMP/ccrp.pem" >/dev/null ||
  fail "register $CCRP"
dataset "$ICMR" icmr
dataset "$COWIN" cowin
COWIN_ID=$DSID
# index's dataset is packed but not registered
mkdir -p "$TMP/src-index" && echo x >"$TMP/src-index/a" && mount_pack "$TMP/src-index" "$TMP/ds-index" >/dev/null

fill "$VEC/covid-contract.json" "$TMP/covid.json" 2023-03-14T00:00:00.000Z 2099-03-14T00:00:00.000Z
check "the covid contract is proposed as written" "$CCRFS" gov contract propose --url "$GOV_URL" "$TMP/covid.json"
refused "a signature by an unregistered key" "cannot sign for that party|does not verify" \
  "$CCRFS" gov contract sign --url "$GOV_URL" --party cowin --key "$TMP/mallory.pem" "$COVID"
refused "a COSE signature by an unregistered key" "cannot sign for that party|does not verify" \
  "$CCRFS" gov contract sign --url "$GOV_URL" --party icmr --cose --key "$TMP/mallory.pem" "$COVID"
check "icmr signs with COSE_Sign1 under its registered key" \
  "$CCRFS" gov contract sign --url "$GOV_URL" --party icmr --cose --key "$TMP/icmr.pem" "$COVID"
check "the other parties sign with their registered keys" sign_all "$COVID" "$CCRP" cowin index
"$CCRFS" gov contract show --url "$GOV_URL" "$COVID" >"$TMP/covid.view.json"
check "contract show: active, format depa, constraints and terms kept, registry bindings" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["status"] == "active", v["status"]
assert v["format"] == "depa"
assert v["contract"]["constraints"][0]["privacy"][0]["epsilon_threshold"] == "1.5"
assert "payment" in v["contract"]["terms"]
assert v["registry"]["datasets"][sys.argv[2]]["id"] == sys.argv[3]
assert v["signatures"]["icmr"].startswith("cose:")
' "$TMP/covid.view.json" "$COWIN" "$COWIN_ID"

check "mount by UUID: store and pinned id from the registry" depa_mount covid "$COVID" "$COWIN"
check "it serves the owner's data" grep -qx "records of cowin" "$MP/records.csv"
mount_stop "$MP"
check "the mount event names the contract" grep -q "\"contract\":\"$COVID\".*\"type\":\"mount\"" "$TMP/covid.log"

refused "an unregistered dataset UUID" "dataset $INDEX of contract $COVID is not registered" \
  depa_mount covid-index "$COVID" "$INDEX" "$TMP/ds-index"
refused "a UUID the contract does not name" "does not name dataset 00000000-0000-0000-0000-000000000000" \
  depa_mount covid-none "$COVID" 00000000-0000-0000-0000-000000000000
# The owner's dataset swapped (or rolled back) in the store: another manifest than the registered id.
refused "a store whose manifest is not the registered id" "dataset id mismatch: expected $COWIN_ID" \
  depa_mount covid-swap "$COVID" "$COWIN" "$TMP/ds-icmr"

# --- the registry closes proposals that name someone else's dataset or key ----------------
python3 - "$TMP/covid.json" "$TMP/covid-steal.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["id"] = "covid-steal"
d["datasets"][1]["owner"] = "mallory"
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
refused "a proposal naming a registered dataset under another owner" "registered by owner cowin; the contract names mallory" \
  "$CCRFS" gov contract propose --url "$GOV_URL" "$TMP/covid-steal.json"
refused "a dataset registration signed by someone else than its owner" "does not verify with the registered key of owner index" \
  "$CCRFS" gov dataset register --url "$GOV_URL" --uuid "$INDEX" --id "$COWIN_ID" --owner index --key "$TMP/mallory.pem"
check "gov dataset list shows the registered datasets" grep -q "$COWIN_ID" <("$CCRFS" gov dataset list --url "$GOV_URL")
check "gov party show shows a party" grep -q '"name": *"party icmr"' <("$CCRFS" gov party show --url "$GOV_URL" icmr)

# --- brats: four owners; signed but expired as written ----------------------------------------
# Its dataset UUIDs are covid's: another deployment, another registry.
gov_stop
rm -f "$TMP"/gov.db*
gov_start || { fail "the governance service did not restart"; finish; }
"$CCRFS" gov party register --url "$GOV_URL" --id "$CCRP" --public-key "$TMP/ccrp.pem" >/dev/null ||
  fail "register $CCRP"
BRATS=brats-written
BRATS_A=19517ba8-bab8-11ed-afa1-0242ac120002
for p in brats_A brats_B brats_C brats_D; do party "$p" || fail "register party $p"; done
dataset "$BRATS_A" brats_A "key_file=$TMP/key"
fill "$VEC/brats-contract.json" "$TMP/brats.json"
python3 - "$TMP/brats.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["id"] = "brats-written"
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
check "the brats contract is proposed as written" "$CCRFS" gov contract propose --url "$GOV_URL" "$TMP/brats.json"
check "its five parties sign" sign_all "$BRATS" "$CCRP" brats_A brats_B brats_C brats_D
refused "an expired contract (the vector's own dates)" "disabled.*expired|expired at 2024-03-14" \
  depa_mount brats-expired "$BRATS" "$BRATS_A"

python3 - "$TMP/brats.json" "$TMP/brats-live.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["id"] = "brats-live"
d["expiryTime"] = "2099-03-14T00:00:00.000Z"
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
BRATS_B=216d5cc6-bab8-11ed-afa1-0242ac120002
dataset "$BRATS_B" brats_B "key_file=$TMP/key,overlay_dir=/tmp"
check "brats with a live period is proposed" "$CCRFS" gov contract propose --url "$GOV_URL" "$TMP/brats-live.json"
check "and signed" sign_all brats-live "$CCRP" brats_A brats_B brats_C brats_D
check "mounted by UUID, the key source from the registration (no key option given)" \
  "$CCRFS" mount --governance "$GOV_URL" --purpose TRAINING --audit-log "$TMP/brats.log" \
  --spool "$TMP/spool-brats" --contract brats-live --dataset "$BRATS_A" "$MP"
check "it serves brats_A's data" grep -qx "records of brats_A" "$MP/records.csv"
mount_stop "$MP"
refused "a registered key source holding more than key options" "overlay_dir.*which is not a key option" \
  "$CCRFS" mount --governance "$GOV_URL" --purpose TRAINING --audit-log "$TMP/brats-b.log" \
  --spool "$TMP/spool-brats-b" --contract brats-live --dataset "$BRATS_B" "$MP"

finish
