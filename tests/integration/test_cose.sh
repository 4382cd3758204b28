#!/usr/bin/env bash
# COSE_Sign1 contract signatures against an independent implementation (Python's cbor2 and
# cryptography, written here from RFC 9052): a COSE_Sign1 made by `ccrfs gov contract sign
# --cose` verifies there, and one made there is accepted by the governance service and makes
# the contract active, for EdDSA and ES256, attached and detached. Forged, misplaced or
# malformed ones are refused with a reason and change nothing.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

# The first Python with both modules: the one on PATH may be another than Debian's.
PY=
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import cbor2, cryptography' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || skip_all "python3-cbor2 or python3-cryptography is not installed (scripts/install-deps.sh)"

cat >"$TMP/cose.py" <<'EOF'
"""An independent COSE_Sign1 (RFC 9052 4.2, 4.4): sign, verify, and the contract's signed bytes."""
import base64, hashlib, json, sys
import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ALGS = {"ES256": -7, "ES384": -35, "EdDSA": -8, "PS256": -37}
HASH = {-7: hashes.SHA256, -35: hashes.SHA384, -37: hashes.SHA256}

def tbs(protected, payload):
    return cbor2.dumps(["Signature1", protected, b"", payload])

def sign(key_pem, alg_name, payload, detached, kid, alg_where="protected"):
    key = serialization.load_pem_private_key(open(key_pem, "rb").read(), None)
    alg = ALGS[alg_name]
    hdr = {1: alg, 4: kid.encode()}
    unprot = {}
    if alg_where == "unprotected":
        unprot[1] = hdr.pop(1)
    protected = cbor2.dumps(hdr)
    data = tbs(protected, payload)
    if alg == -8:
        sig = key.sign(data)
    elif alg == -37:
        sig = key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(HASH[alg]())))
        n = key.curve.key_size // 8 + (1 if key.curve.key_size % 8 else 0)
        sig = r.to_bytes(n, "big") + s.to_bytes(n, "big")
    msg = cbor2.CBORTag(18, [protected, unprot, None if detached else payload, sig])
    return base64.b64encode(cbor2.dumps(msg)).decode()

def verify(msg_b64, spki_b64, payload):
    obj = cbor2.loads(base64.b64decode(msg_b64))
    if isinstance(obj, cbor2.CBORTag):
        assert obj.tag == 18, "not COSE_Sign1"
        obj = obj.value
    protected, unprot, attached, sig = obj
    hdr = cbor2.loads(protected) if protected else {}
    alg = hdr[1]
    if attached is not None:
        assert attached == payload, "attached payload differs"
    key = serialization.load_der_public_key(base64.b64decode(spki_b64))
    data = tbs(protected, payload)
    if alg == -8:
        assert isinstance(key, ed25519.Ed25519PublicKey)
        key.verify(sig, data)
    elif alg == -37:
        key.verify(sig, data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    else:
        n = len(sig) // 2
        der = encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))
        key.verify(der, data, ec.ECDSA(HASH[alg]()))
    kid = hdr.get(4, unprot.get(4, b"")).decode()
    print(f"verified alg {alg} kid {kid}")

def signed_bytes(view_file):
    view = json.load(open(view_file))
    canon = json.dumps(view["contract"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    data = b"ccrfs-contract-v1\n" + canon.encode()
    assert hashlib.sha256(data).hexdigest() == view["digest"], "canonical form differs from the service's"
    return data

cmd = sys.argv[1]
if cmd == "payload":
    open(sys.argv[3], "wb").write(signed_bytes(sys.argv[2]))
elif cmd == "sign":
    key, alg, payload_file, mode, kid = sys.argv[2:7]
    where = sys.argv[7] if len(sys.argv) > 7 else "protected"
    print(sign(key, alg, open(payload_file, "rb").read(), mode == "detached", kid, where))
elif cmd == "verify":
    try:
        verify(sys.argv[2], sys.argv[3], open(sys.argv[4], "rb").read())
    except Exception as e:
        sys.exit(f"refused: {type(e).__name__} {e}")
elif cmd == "sig":
    print(json.load(open(sys.argv[2]))["signatures"][sys.argv[3]])
EOF
py() { "$PY" "$TMP/cose.py" "$@"; }
# flip_b64 B64: the same message with one bit of its last byte (in the signature) flipped.
flip_b64() { python3 -c 'import base64,sys; b=bytearray(base64.b64decode(sys.argv[1])); b[-1]^=1; print(base64.b64encode(bytes(b)).decode())' "$1"; }

gov_keys
gov_start || { fail "the governance service did not start"; finish; }
U=$GOV_URL
consent() { gov_api POST "/consentcheck/execution?contract=$1" | cut -d' ' -f2- | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
openssl genpkey -algorithm ed25519 -out "$TMP/stranger.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/stranger256.pem" 2>/dev/null

# ---- ccrfs makes, Python verifies ----
gov_make_contract c1
check "propose c1" "$CCRFS" gov contract propose --url "$U" "$TMP/c1.json"
check "provider (Ed25519) signs with --cose" "$CCRFS" gov contract sign --url "$U" --party provider \
  --key "$TMP/provider.pem" --cose --file "$TMP/c1.json" c1
check "consumer (P-256) signs with --cose --alg ES256" "$CCRFS" gov contract sign --url "$U" --party consumer \
  --key "$TMP/consumer.pem" --cose --alg ES256 c1
check "all signed with COSE: consent enabled" [ "$(consent c1)" = enabled ]
gov_show c1 "$TMP/c1.view"
check "the signed bytes rebuilt independently match the service's digest" py payload "$TMP/c1.view" "$TMP/c1.bytes"
SP=$(py sig "$TMP/c1.view" provider)
SC=$(py sig "$TMP/c1.view" consumer)
check "the service shows them as cose:BASE64" bash -c "[[ '$SP' == cose:* && '$SC' == cose:* ]]"
out=$(py verify "${SP#cose:}" "$(cat "$TMP/provider.pub")" "$TMP/c1.bytes" 2>&1)
check "Python verifies ccrfs's EdDSA COSE_Sign1 ($out)" bash -c "[[ '$out' == 'verified alg -8 kid provider' ]]"
out=$(py verify "${SC#cose:}" "$(cat "$TMP/consumer.pub")" "$TMP/c1.bytes" 2>&1)
check "Python verifies ccrfs's ES256 COSE_Sign1 ($out)" bash -c "[[ '$out' == 'verified alg -7 kid consumer' ]]"
check_fails "Python refuses it with a flipped signature bit" py verify "$(flip_b64 "${SC#cose:}")" \
  "$(cat "$TMP/consumer.pub")" "$TMP/c1.bytes"
check_fails "Python refuses it over other bytes" py verify "${SC#cose:}" "$(cat "$TMP/consumer.pub")" \
  "$TMP/c1.view"

# ---- Python makes, ccrfs verifies ----
gov_contract c2 "$GOV_DATASET" max_mounts=2
check "propose c2" "$CCRFS" gov contract propose --url "$U" "$TMP/c2.json"
gov_show c2 "$TMP/c2.view"
py payload "$TMP/c2.view" "$TMP/c2.bytes"
before=$(gov_api GET /contracts/c2)
post_cose() { gov_api POST /contracts/c2/sign "{\"party\":\"$1\",\"cose\":\"$2\"}"; }
r=$(post_cose consumer "$(py sign "$TMP/stranger256.pem" ES256 "$TMP/c2.bytes" detached consumer)")
check "a COSE_Sign1 by a key not the party's: 403" bash -c "[[ '$r' == 403*BadSignature*'does not verify'* ]]"
r=$(post_cose provider "$(py sign "$TMP/stranger.pem" EdDSA "$TMP/c2.bytes" detached provider)")
check "the same for EdDSA: 403" bash -c "[[ '$r' == 403*BadSignature* ]]"
r=$(post_cose consumer "$(py sign "$TMP/consumer.pem" ES256 "$TMP/c1.bytes" attached consumer)")
check "a COSE_Sign1 over another contract's bytes: 403" bash -c "[[ '$r' == 403*'attached payload'* ]]"
r=$(post_cose consumer "$(py sign "$TMP/consumer.pem" ES256 "$TMP/c2.bytes" detached consumer unprotected)")
check "the algorithm only in the unprotected header: 403 naming it" bash -c "[[ '$r' == 403*unprotected* ]]"
r=$(post_cose consumer "$(flip_b64 "$(py sign "$TMP/consumer.pem" ES256 "$TMP/c2.bytes" detached consumer)")")
check "a flipped signature bit: 403" bash -c "[[ '$r' == 403*BadSignature* ]]"
r=$(post_cose consumer "not*base64")
check "not base64: 403 naming it" bash -c "[[ '$r' == 403*base64* ]]"
r=$(gov_api POST /contracts/c2/sign '{"party":"consumer","cose":"AAAA","signature":"AAAA"}')
check "both signature and cose: 400" bash -c "[[ '$r' == 400* ]]"
check "nothing changed" [ "$(gov_api GET /contracts/c2)" = "$before" ]

r=$(post_cose provider "$(py sign "$TMP/provider.pem" EdDSA "$TMP/c2.bytes" detached provider)")
check "ccrfs accepts Python's EdDSA COSE_Sign1 (detached)" bash -c "[[ '$r' == 200* ]]"
check "one signature: still disabled" [ "$(consent c2)" = disabled ]
r=$(post_cose consumer "$(py sign "$TMP/consumer.pem" ES256 "$TMP/c2.bytes" attached consumer)")
check "ccrfs accepts Python's ES256 COSE_Sign1 (attached)" bash -c "[[ '$r' == 200* ]]"
check "all signed: consent enabled" [ "$(consent c2)" = enabled ]
gov_show c2 "$TMP/c2.signed"
check "show keeps the COSE signatures" grep -q '"consumer":"cose:' "$TMP/c2.signed"

# ---- the command line ----
expect_fail "--alg without --cose: usage" "alg goes with --cose" "$CCRFS" gov contract sign --url "$U" \
  --party consumer --key "$TMP/consumer.pem" --alg ES256 c2
expect_fail "an unknown --alg: refused" "unknown COSE algorithm" "$CCRFS" gov contract sign --url "$U" \
  --party consumer --key "$TMP/consumer.pem" --cose --alg HS256 c2
expect_fail "an --alg the key cannot make: refused" "cannot make EdDSA" "$CCRFS" gov contract sign --url "$U" \
  --party consumer --key "$TMP/consumer.pem" --cose --alg EdDSA c2
expect_fail "another party's key with --cose: refused before sending" "cannot sign for that party" "$CCRFS" gov \
  contract sign --url "$U" --party provider --key "$TMP/consumer.pem" --cose c2
expect_fail "--cose on revoke: usage" "cose is for sign" "$CCRFS" gov contract revoke --url "$U" \
  --party consumer --key "$TMP/consumer.pem" --cose c2

finish
