#!/usr/bin/env bash
# Mounting under a contract: each refusal reason (unsigned by one party, expired, not yet
# valid, revoked, wrong dataset, wrong mode, wrong purpose, spent use budget, a sink whose
# recipient key the contract does not name) is a clear error with no mount left behind, from
# the service (--contract) and from a contract file (--contract-file); a byte budget crossed
# mid-read gives EACCES and a denial event; a successful mount records the contract id.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd curl

mkdir -p "$TMP/src"
head -c 1000000 /dev/urandom >"$TMP/src/data.bin"
DS=$(mount_pack "$TMP/src" "$TMP/ds")
OTHER="sha256:$(printf 'cd%.0s' $(seq 32))"
gov_start || { fail "the governance service did not start"; finish; }
MP=$TMP/mnt
mkdir -p "$MP"
h_track_mount "$MP"

# refused WHAT PATTERN [mount options...]: the mount fails with PATTERN on stderr, exit 1,
# and leaves no mount and no daemon.
refused() {
  local what=$1 pattern=$2 out rc
  shift 2
  out=$("$CCRFS" mount --key "$TMP/key" --audit-log "$TMP/refused.log" --spool "$TMP/spool-refused" \
    "$@" "$TMP/ds" "$MP" 2>&1)
  rc=$?
  if [ $rc -eq 1 ] && grep -Eq -- "$pattern" <<<"$out" && mount_gone "$MP"; then
    pass "$what: $(grep -E -- "$pattern" <<<"$out" | head -1 | cut -c1-150)"
  else
    fail "$what (exit $rc, mounted: $(mount_is_mounted "$MP" && echo yes || echo no)): $out"
    mount_stop "$MP"
  fi
}
svc() { echo --governance "$GOV_URL" --contract "$1" --purpose TRAINING; }
file() { echo --contract-file "$TMP/$1.view.json" --purpose TRAINING; }

# --- refusals ------------------------------------------------------------------------------
gov_contract unsigned "$DS"
gov_register unsigned provider
gov_show unsigned "$TMP/unsigned.view.json"
refused "service: signed by one party only" "not signed yet by party consumer" $(svc unsigned)
refused "file: signed by one party only" "not signed by party consumer" $(file unsigned)
# A signature copied under the other party's name does not verify.
python3 - "$TMP/unsigned.view.json" "$TMP/forged.view.json" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
v["signatures"]["consumer"] = v["signatures"]["provider"]
json.dump(v, open(sys.argv[2], "w"))
EOF
refused "file: a signature that is not the party's" "signature of party consumer does not verify" $(file forged)
refused "file: a bare contract has no signatures" "not signed by party provider" \
  --contract-file "$TMP/unsigned.json" --purpose TRAINING

gov_contract expired "$DS" start=2020-01-01T00:00:00Z expiry=2021-01-01T00:00:00Z
gov_register expired
gov_show expired "$TMP/expired.view.json"
refused "service: expired" "disabled.*expired" $(svc expired)
refused "file: expired" "expired at 2021-01-01T00:00:00Z" $(file expired)

gov_contract future "$DS" start=2098-01-01T00:00:00Z expiry=2099-01-01T00:00:00Z
gov_register future
gov_show future "$TMP/future.view.json"
refused "service: not yet valid" "disabled" $(svc future)
refused "file: not yet valid" "not valid yet: it starts at 2098-01-01T00:00:00Z" $(file future)

gov_contract revoked "$DS"
gov_register revoked
gov_revoke revoked consumer
gov_show revoked "$TMP/revoked.view.json"
refused "service: revoked" "disabled.*revoked" $(svc revoked)
refused "file: revoked" "contract revoked is revoked" $(file revoked)

gov_contract otherds "$OTHER"
gov_register otherds
gov_show otherds "$TMP/otherds.view.json"
refused "service: another dataset" "does not name dataset $DS" $(svc otherds)
refused "file: another dataset" "does not name dataset $DS" $(file otherds)

gov_contract noegress "$DS" mode=no-egress
gov_register noegress
gov_show noegress "$TMP/noegress.view.json"
refused "service: another access mode" "access mode no-egress; the mount asks for read-only" $(svc noegress)
refused "file: another access mode" "access mode no-egress; the mount asks for read-only" $(file noegress)

gov_contract purpose "$DS" purpose=RESEARCH
gov_register purpose
gov_show purpose "$TMP/purpose.view.json"
refused "service: another purpose" 'purpose "RESEARCH"; the mount asks for "TRAINING"' $(svc purpose)
refused "file: another purpose" 'purpose "RESEARCH"; the mount asks for "TRAINING"' $(file purpose)
refused "no --purpose given" "gives no --purpose" --governance "$GOV_URL" --contract purpose

# A sink's dataset is its recipient key's id: sha256 of the DER SubjectPublicKeyInfo.
openssl genpkey -algorithm x25519 -out "$TMP/recipient.pem" 2>/dev/null
openssl pkey -in "$TMP/recipient.pem" -pubout -out "$TMP/recipient.pub"
RID="sha256:$(openssl pkey -pubin -in "$TMP/recipient.pub" -outform DER | sha256sum | cut -d' ' -f1)"
gov_contract sinkother "$OTHER" mode=sink recipient=consumer
gov_register sinkother
refused "sink: the contract names another recipient key" "does not name dataset $RID \(the recipient key" \
  $(svc sinkother) -o mode=sink,recipient="$TMP/recipient.pub"

check "the refusals are denial events in the audit log" \
  python3 -c 'import json,sys; d=[json.loads(l) for l in open(sys.argv[1])]; d=[e for e in d if e["type"]=="denial" and e["op"]=="mount"]; assert len(d) >= 10 and any("purpose" in e["reason"] for e in d), len(d)' "$TMP/refused.log"

# --- the use budget -------------------------------------------------------------------------
gov_contract once "$DS" max_mounts=1
gov_register once
check "first mount under a budget of one" mount_start "$TMP/ds" "$MP" $(svc once) --audit-log "$TMP/once.log" \
  --spool "$TMP/spool-once"
mount_stop "$MP"
refused "the use budget is spent" "use budget of dataset $DS spent" $(svc once)
check "the service counted one use" grep -q '"used":1' <(curl -s -H "Authorization: Bearer $CCRFS_GOV_TOKEN" "$GOV_URL/contracts/once")

# --- a byte budget crossed mid-read; the contract id in every event --------------------------
gov_contract bytes "$DS" max_bytes=300000
gov_register bytes
check "mount under a byte budget of 300000" mount_start "$TMP/ds" "$MP" $(svc bytes) --audit-log "$TMP/bytes.log" \
  --spool "$TMP/spool-bytes"
results=
for i in 0 1 2 3 4 5; do
  if err=$(dd if="$MP/data.bin" of=/dev/null bs=65536 skip=$i count=1 iflag=direct status=none 2>&1); then
    results="$results ok"
  else
    results="$results $(grep -o 'Permission denied' <<<"$err" | head -1 | tr ' ' _)"
  fi
done
if [ "$results" = " ok ok ok ok Permission_denied Permission_denied" ]; then
  pass "reads within 300000 bytes pass, the fifth 64 KiB read is refused with EACCES"
else
  fail "byte budget reads:$results"
fi
mount_stop "$MP"
check "the refusal is a denial event naming the byte budget" \
  python3 -c 'import json,sys; e=[json.loads(l) for l in open(sys.argv[1])]; assert any(x["type"] == "denial" and x["op"] == "read" and "byte budget spent" in x["reason"] and x["path"] == "data.bin" for x in e)' "$TMP/bytes.log"
check "every event of the mount carries the contract id" \
  python3 -c 'import json,sys; e=[json.loads(l) for l in open(sys.argv[1])]; assert e and all(x.get("contract") == "bytes" for x in e)' "$TMP/bytes.log"
check "audit verify passes" "$CCRFS" audit verify --strict "$TMP/bytes.log"

# --- the -o forms (mount(8), fstab) --------------------------------------------------------
gov_contract viaopts "$DS"
gov_register viaopts
check "a contract mount through -o options only" mount_start "$TMP/ds" "$MP" \
  -o "governance=$GOV_URL,contract=viaopts,purpose=TRAINING,audit_log=$TMP/viaopts.log,spool=$TMP/spool-viaopts,consent_interval=2"
check "it serves" cmp -s "$MP/data.bin" "$TMP/src/data.bin"
check_fails "a contract that does not offer the plaintext hash: user.ccrfs.sha256 is not there" \
  getfattr --only-values -n user.ccrfs.sha256 "$MP/data.bin"
check "the other attributes are" getfattr --only-values -n user.ccrfs.blob "$MP/data.bin"
mount_stop "$MP"
check "its events name the contract" grep -q '"contract":"viaopts".*"type":"mount"' "$TMP/viaopts.log"
check "and reached the service" grep -q '"type":"mount"' <(gov_events viaopts)
refused "-o purpose must match too" "the mount asks for \"RESEARCH\"" \
  -o "governance=$GOV_URL,contract=viaopts,purpose=RESEARCH"

# --- a contract file, no service --------------------------------------------------------------
gov_contract local "$DS" max_bytes=500000
gov_register local
gov_show local "$TMP/local.view.json"
gov_stop
refused "governance unreachable at mount time" "mount refused: governance POST .*consentcheck.*(connect|refused)" \
  $(svc local)
out=$("$CCRFS" mount --key "$TMP/key" --contract-file "$TMP/local.view.json" --purpose TRAINING \
  --audit-log "$TMP/local.log" --spool "$TMP/spool-local" "$TMP/ds" "$MP" 2>&1)
if [ $? -eq 0 ] && mount_is_mounted "$MP" && grep -q "no governance service counts uses" <<<"$out"; then
  pass "a signed contract file mounts with no service, and says no uses are counted"
else
  fail "contract file mount: $out"
fi
check "reads under the file's byte budget" dd if="$MP/data.bin" of=/dev/null bs=65536 count=7 iflag=direct status=none
check_fails "and past it" dd if="$MP/data.bin" of=/dev/null bs=65536 skip=7 count=1 iflag=direct status=none
mount_stop "$MP"
check "the file's contract id is in every event" \
  python3 -c 'import json,sys; e=[json.loads(l) for l in open(sys.argv[1])]; assert e and all(x.get("contract") == "local" for x in e)' "$TMP/local.log"

finish
