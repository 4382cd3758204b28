#!/usr/bin/env bash
# Init-data: a simulated guest launched with Confidential Containers' init-data (HOST_DATA =
# its digest); an attested mount that takes its governance, contract, dataset, mode, broker
# and resource from it; arguments that contradict it refused with both values named; and an
# init-data edited after launch refused by the mount's own HOST_DATA check and by the broker,
# to which the attestation request carries the init-data as Trustee's KBS protocol does.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd curl
require_cmd openssl

mkdir -p "$TMP/src/sub"
head -c 300000 /dev/urandom >"$TMP/src/data.bin"
echo "hello clean room" >"$TMP/src/sub/readme.txt"
DS=$(mount_pack "$TMP/src" "$TMP/ds")
OTHER="sha256:$(printf 'cd%.0s' $(seq 32))"
head -c 24 /dev/urandom | base64 >"$TMP/token"
chmod 600 "$TMP/token"
gov_start || { fail "the governance service did not start"; finish; }
gov_contract room "$DS"
gov_register room || { fail "the contract could not be registered"; finish; }
# The broker must trust the simulated machine before the guest's init-data can name it.
"$CCRFS" attest sim-init "$TMP/sim" >/dev/null || { fail "sim-init"; finish; }
kbs_start kbs --trust-sim-root "$TMP/sim" || { fail "the broker did not start"; finish; }
kbs_policy_for_build >"$TMP/policy.json"
"$CCRFS" kbs put --url "$KBS_URL" --token-file "$TMP/token" --resource room/dek/v1 --policy "$TMP/policy.json" \
  --value-file "$TMP/key" >/dev/null || { fail "kbs put"; finish; }

# write_init FILE [contract]: the clean room's init-data, in CoCo's TOML with ccrfs's entry.
write_init() {
  cat >"$1" <<TOML
algorithm = "sha256"
version = "0.1.0"

[data]
"aa.toml" = '''
[token_configs]
[token_configs.kbs]
url = "$KBS_URL"
'''

"ccrfs.json" = '''
{
  "governance": "$GOV_URL",
  "contract": "${2:-room}",
  "datasets": [{"id": "$DS", "mode": "read-only", "store": "$TMP/ds"}],
  "broker": "$KBS_URL",
  "resources": ["room/dek/v1"]
}
'''
TOML
}
write_init "$TMP/init.toml"

# --- sim-init --init-data ---------------------------------------------------------------------
WANT=$(sha256sum "$TMP/init.toml" | cut -d' ' -f1)
out=$("$CCRFS" attest sim-init "$TMP/sim-fresh" --init-data "$TMP/init.toml" 2>&1)
grep -q "HOST_DATA $WANT" <<<"$out" && pass "sim-init --init-data prints the HOST_DATA, the file's SHA-256" ||
  fail "sim-init --init-data: $out"
host_data_of() { # SIM_DIR: the HOST_DATA of a fresh report, in hex
  "$CCRFS" attest report --attest "sim:$1" -o "$TMP/r.bin" >/dev/null &&
    od -An -tx1 -j 192 -N 32 -v "$TMP/r.bin" | tr -d ' \n'
}
[ "$(host_data_of "$TMP/sim-fresh")" = "$WANT" ] && pass "a new guest's report carries the init-data's SHA-256" ||
  fail "HOST_DATA of the new guest: $(host_data_of "$TMP/sim-fresh")"
out=$("$CCRFS" attest sim-init "$TMP/sim" --relaunch --init-data "$TMP/init.toml" 2>&1)
grep -q "new simulated guest" <<<"$out" && pass "--relaunch keeps the machine the broker trusts, sets HOST_DATA" ||
  fail "--relaunch: $out"
[ "$(host_data_of "$TMP/sim")" = "$WANT" ] && pass "the relaunched guest's report carries it" ||
  fail "HOST_DATA after --relaunch: $(host_data_of "$TMP/sim")"
printf 'version = 1\n' >"$TMP/bad.toml"
expect_fail "malformed init-data is refused naming line and key" "bad.toml:1: key 'version': only string values" \
  "$CCRFS" attest sim-init "$TMP/sim-bad" --init-data "$TMP/bad.toml"
[ ! -e "$TMP/sim-bad" ] && pass "and nothing was created" || fail "a refused sim-init left $TMP/sim-bad"

# --- an attested mount under init-data ---------------------------------------------------------
MP=$TMP/mnt
mkdir -p "$MP"
h_track_mount "$MP"
mount_init() { # [extra args...]: mounts $TMP/ds under init.toml
  "$CCRFS" mount --init-data "$TMP/init.toml" --attest "sim:$TMP/sim" --purpose TRAINING \
    --audit-log "$TMP/audit.log" --spool "$TMP/spool" --log-file "$TMP/mount.log" "$@" "$TMP/ds" "$MP"
}
if out=$(mount_init 2>&1) && cmp -s "$TMP/src/data.bin" "$MP/data.bin"; then
  pass "mount --init-data: governance, contract, broker and resource taken from it; the data reads back"
else
  fail "mount --init-data: $out"
fi
grep -q "init-data: its sha256 digest is this guest's HOST_DATA" "$TMP/mount.log" &&
  pass "the mount checked its own report first" || fail "no HOST_DATA check in the mount's log"
grep -q "released: resource=room/dek/v1" "$TMP/kbs.log" &&
  pass "the key came from the init-data's broker and resource" || fail "no release of room/dek/v1 in the broker log"
grep -q '"contract":"room"\|"contract": "room"\|contract room' "$TMP/audit.log" &&
  pass "events are recorded under the init-data's contract" || fail "the audit log does not name contract room"
mount_stop "$MP"

# refused WHAT PATTERN [args...]: exit 1, PATTERN in the message, nothing mounted.
refused() {
  local what=$1 pattern=$2 out rc
  shift 2
  out=$(mount_init "$@" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] && grep -Eq -- "$pattern" <<<"$out" && mount_gone "$MP"; then
    pass "$what: $(grep -E -- "$pattern" <<<"$out" | head -1 | cut -c1-160)"
  else
    fail "$what (exit $rc): $out"
    mount_stop "$MP"
  fi
}
refused "another --contract" "--contract other contradicts the init-data .*init.toml, which names contract room" \
  --contract other
refused "another --governance" "--governance http://127.0.0.1:9 contradicts .* names governance $GOV_URL" \
  --governance http://127.0.0.1:9
refused "another --kbs" "--kbs http://127.0.0.1:9 contradicts .* names key broker $KBS_URL" --kbs http://127.0.0.1:9
refused "a resource not listed" "--resource room/dek/v2 contradicts .* room/dek/v1" --resource room/dek/v2
refused "a dataset id not listed" "--dataset-id $OTHER is not among the datasets" --dataset-id "$OTHER"
refused "a mode not listed" "-o mode=no-egress contradicts .* names mode read-only for dataset $DS" -o mode=no-egress
refused "a key file instead of the broker" "--key \\(a local key file\\) contradicts" --key "$TMP/key"
mkdir -p "$TMP/elsewhere"
cp -a "$TMP/ds/." "$TMP/elsewhere/"
out=$("$CCRFS" mount --init-data "$TMP/init.toml" --attest "sim:$TMP/sim" --purpose TRAINING \
  --audit-log "$TMP/audit.log" --spool "$TMP/spool" "$TMP/elsewhere" "$MP" 2>&1)
grep -q "STORE_URL $TMP/elsewhere contradicts the init-data .* names store $TMP/ds" <<<"$out" && mount_gone "$MP" &&
  pass "another store is refused, both named" || fail "another store: $out"
out=$("$CCRFS" mount --init-data "$TMP/init.toml" --key "$TMP/key" --purpose TRAINING --audit-log "$TMP/audit.log" \
  --spool "$TMP/spool" "$TMP/ds" "$MP" 2>&1)
grep -q "contradicts" <<<"$out" && mount_gone "$MP" && pass "an unattested key source is refused" ||
  fail "unattested: $out"
# A contract the init-data names, when the service says otherwise, is still checked there.
write_init "$TMP/init-nocontract.toml" nosuch
"$CCRFS" attest sim-init "$TMP/sim" --relaunch --init-data "$TMP/init-nocontract.toml" >/dev/null
out=$("$CCRFS" mount --init-data "$TMP/init-nocontract.toml" --attest "sim:$TMP/sim" --purpose TRAINING \
  --audit-log "$TMP/audit.log" --spool "$TMP/spool" "$TMP/ds" "$MP" 2>&1)
grep -q "nosuch" <<<"$out" && mount_gone "$MP" && pass "the init-data's contract is checked by governance" ||
  fail "contract nosuch: $out"
"$CCRFS" attest sim-init "$TMP/sim" --relaunch --init-data "$TMP/init.toml" >/dev/null

# A sink's recipient key must have the id the init-data lists for it.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/recipient.pem" 2>/dev/null
openssl pkey -in "$TMP/recipient.pem" -pubout -out "$TMP/recipient.pub.pem"
mkdir -p "$TMP/out"
cat >"$TMP/init-sink.toml" <<TOML
algorithm = "sha384"
version = "0.1.0"
[data]
"ccrfs.json" = '{"governance": "$GOV_URL", "contract": "room", "datasets": [{"id": "$OTHER", "mode": "sink"}]}'
TOML
"$CCRFS" attest sim-init "$TMP/sim" --relaunch --init-data "$TMP/init-sink.toml" >/dev/null
out=$("$CCRFS" mount --init-data "$TMP/init-sink.toml" --attest "sim:$TMP/sim" -o recipient="$TMP/recipient.pub.pem" \
  --audit-log "$TMP/audit.log" --spool "$TMP/spool" "$TMP/out" "$MP" 2>&1)
grep -q "the recipient key's dataset id sha256:[0-9a-f]* is not the init-data's $OTHER" <<<"$out" && mount_gone "$MP" &&
  pass "a sink for another recipient than the init-data lists is refused" || fail "sink recipient: $out"
"$CCRFS" attest sim-init "$TMP/sim" --relaunch --init-data "$TMP/init.toml" >/dev/null

# --- init-data edited after launch -------------------------------------------------------------
cp "$TMP/init.toml" "$TMP/edited.toml"
sed -i 's/"mode": "read-only"/"mode": "no-egress"/' "$TMP/edited.toml"
out=$("$CCRFS" mount --init-data "$TMP/edited.toml" --attest "sim:$TMP/sim" --purpose TRAINING \
  --audit-log "$TMP/audit.log" --spool "$TMP/spool" "$TMP/ds" "$MP" 2>&1)
if grep -q "init-data does not match this guest's HOST_DATA" <<<"$out" && grep -q "$WANT" <<<"$out" && mount_gone "$MP"; then
  pass "the mount refuses edited init-data by its own report: $(grep -o 'init-data does not match[^:]*' <<<"$out")"
else
  fail "edited init-data: $out"
fi

# The broker checks it too: an attestation request as Trustee's KBS protocol carries it
# (auth, then attest with "init-data": {"format": "toml", "body": ...}), from Python.
kbs_attest_with() { # INIT_FILE: prints "STATUS BODY" of POST /kbs/v0/attest
  python3 - "$KBS_URL" "$CCRFS" "$TMP/sim" "$1" "$TMP" <<'PY'
import base64, hashlib, json, subprocess, sys, urllib.request
url, ccrfs, sim, init_file, tmp = sys.argv[1:6]
def post(path, body, cookie=None):
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode(), r.headers.get("Set-Cookie")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), None
status, body, cookie = post("/kbs/v0/auth", {"version": "0.4.0", "tee": "snp", "extra-params": ""})
nonce = json.loads(body)["nonce"]
cookie = cookie.split(";")[0]
subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", tmp + "/tee.pem"], check=True, capture_output=True)
der = subprocess.run(["openssl", "pkey", "-in", tmp + "/tee.pem", "-pubout", "-outform", "DER"],
                     check=True, capture_output=True).stdout
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
jwk = {"alg": "ECDH-ES+A256KW", "crv": "P-256", "kty": "EC", "x": b64(der[-64:-32]), "y": b64(der[-32:])}
canon = json.dumps({"additional-evidence": "", "nonce": nonce, "tee-pubkey": jwk}, sort_keys=True,
                   separators=(",", ":"))
rd = hashlib.sha384(canon.encode()).hexdigest() + "00" * 16
subprocess.run([ccrfs, "attest", "report", "--attest", "sim:" + sim, "--report-data", rd, "-o", tmp + "/ev.bin",
                "--evidence-out", tmp + "/ev.json"], check=True, capture_output=True)
ev = json.load(open(tmp + "/ev.json"))
text = open(init_file, newline="").read()
status, body, _ = post("/kbs/v0/attest", {"init-data": {"format": "toml", "body": text},
                                          "runtime-data": {"nonce": nonce, "tee-pubkey": jwk},
                                          "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}},
                       cookie)
print(status, body)
PY
}
out=$(kbs_attest_with "$TMP/init.toml" 2>&1)
[ "${out%% *}" = 200 ] && pass "the broker accepts the guest's own init-data" || fail "broker, own init-data: $out"
out=$(kbs_attest_with "$TMP/edited.toml" 2>&1)
if [ "${out%% *}" = 401 ] && grep -q "init-data does not match the report's HOST_DATA" <<<"$out"; then
  pass "the broker refuses edited init-data: $(grep -o 'init-data does not match[^"]*' <<<"$out")"
else
  fail "broker, edited init-data: $out"
fi

# --- without --init-data everything is as before ------------------------------------------------
if "$CCRFS" mount --kbs "$KBS_URL" --resource room/dek/v1 --attest "sim:$TMP/sim" --audit-log "$TMP/plain.log" \
  --spool "$TMP/spool-plain" "$TMP/ds" "$MP" >/dev/null 2>&1 && cmp -s "$TMP/src/data.bin" "$MP/data.bin"; then
  pass "a mount without --init-data works as before"
else
  fail "a mount without --init-data"
fi
mount_stop "$MP"
finish
