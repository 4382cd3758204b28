#!/usr/bin/env bash
# `ccrfs kbs serve` in Trustee's layout, as a user runs it: a guest whose host supplies no VCEK
# (a loopback proxy sets the evidence's cert_chain to null, as guest-components sends it) gets
# its key after the broker fetched the VCEK from a stand-in KDS (python3 http.server serving
# the simulator's certificate) and cached it; refusals name Trustee's error type; `kbs put
# --trustee` registers resources through Trustee's resource API under an admin JWT.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
require_cmd python3
require_cmd openssl

kbs_setup_common || { fail "setup: sim-init, keygen or pack"; finish; }
kbs_policy_for_build >"$TMP/policy.json"
openssl genpkey -algorithm ed25519 -out "$TMP/admin.key" 2>/dev/null &&
  openssl pkey -in "$TMP/admin.key" -pubout -out "$TMP/admin.pub" 2>/dev/null &&
  openssl genpkey -algorithm ed25519 -out "$TMP/intruder.key" 2>/dev/null ||
  { fail "setup: admin keys"; finish; }

# The stand-in KDS: files at vcek/v1/PRODUCT/HWID (http.server ignores the query string).
chip=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chip_id"])' "$TMP/sim/sim.json")
openssl x509 -in "$TMP/sim/vcek.pem" -outform DER -out "$TMP/vcek.der" 2>/dev/null || { fail "setup: VCEK"; finish; }
for p in Milan Genoa; do
  mkdir -p "$TMP/kds/vcek/v1/$p" && cp "$TMP/vcek.der" "$TMP/kds/vcek/v1/$p/$chip"
done
mkdir -p "$TMP/kds/vcek/v1/Turin" && cp "$TMP/vcek.der" "$TMP/kds/vcek/v1/Turin/${chip:0:16}"
cat >"$TMP/kds.py" <<'PY'
import http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("KDS %s\n" % self.path)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                    lambda *a, **k: H(*a, directory=sys.argv[1], **k))
open(sys.argv[2], "w").write("%d\n" % s.server_address[1])
s.serve_forever()
PY
# The host without certificates: forwards to the broker, nulling cert_chain in /kbs/v0/attest.
cat >"$TMP/nocerts.py" <<'PY'
import http.client, http.server, json, sys
up = int(sys.argv[1])
class P(http.server.BaseHTTPRequestHandler):
    def relay(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path in ("/kbs/v0/auth", "/kbs/v0/attest"):
            with open(sys.argv[3], "ab") as f:
                f.write(body + b"\n")
        if self.path == "/kbs/v0/attest":
            o = json.loads(body)
            o["tee-evidence"]["primary_evidence"]["cert_chain"] = None
            body = json.dumps(o).encode()
        c = http.client.HTTPConnection("127.0.0.1", up)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("cookie", "content-type", "authorization")}
        c.request(self.command, self.path, body=body if body else None, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("set-cookie", "content-type"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_DELETE = relay
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), P)
open(sys.argv[2], "w").write("%d\n" % s.server_address[1])
s.serve_forever()
PY
mkdir -p "$TMP/logs"
h_spawn kds python3 "$TMP/kds.py" "$TMP/kds" "$TMP/kds.port"
KDS_PID=$H_PID
h_wait_port_file "$TMP/kds.port" 10 "$KDS_PID" || { fail "the stand-in KDS did not start"; finish; }
KDS_URL="http://127.0.0.1:$(cat "$TMP/kds.port")"

kbs_start main --trust-sim-root "$TMP/sim" --kds-url "$KDS_URL" --kds-cache "$TMP/kds-cache" \
  --admin-jwt-key "$TMP/admin.pub" --default-policy "$TMP/policy.json" || { fail "the broker did not start"; finish; }
h_spawn proxy python3 "$TMP/nocerts.py" "$(cat "$TMP/main.port")" "$TMP/proxy.port" "$TMP/sent.jsonl"
h_wait_port_file "$TMP/proxy.port" 10 "$H_PID" || { fail "the proxy did not start"; finish; }
NOCERTS_URL="http://127.0.0.1:$(cat "$TMP/proxy.port")"

# Trustee's resource API: the value as the body, an EdDSA admin JWT signed from the key file.
if "$CCRFS" kbs put --trustee --url "$KBS_URL" --admin-key "$TMP/admin.key" --resource ccrfs/dek/ds \
  --value-file "$TMP/dek.key" >"$TMP/put.out" 2>&1; then
  pass "put --trustee registers the key with a signed admin JWT"
else
  fail "put --trustee: $(cat "$TMP/put.out")"
fi
expect_fail "put --trustee with a key the broker does not know is refused" \
  "AdminAuthInitialization.*signature does not verify" \
  "$CCRFS" kbs put --trustee --url "$KBS_URL" --admin-key "$TMP/intruder.key" --resource ccrfs/dek/x \
  --value-file "$TMP/dek.key"
# An unsigned token (alg none) from a file.
printf '%s.%s.\n' "$(printf '{"alg":"none"}' | base64 -w0 | tr '+/' '-_' | tr -d '=')" \
  "$(printf '{"exp":4102444800,"role":"admin"}' | base64 -w0 | tr '+/' '-_' | tr -d '=')" >"$TMP/none.jwt"
expect_fail "an unsigned admin token is refused" "algorithm \"none\" is not accepted" \
  "$CCRFS" kbs put --trustee --url "$KBS_URL" --admin-jwt-file "$TMP/none.jwt" --resource ccrfs/dek/x \
  --value-file "$TMP/dek.key"
expect_fail "put --trustee takes no ccrfs policy" "takes no --policy" \
  "$CCRFS" kbs put --trustee --url "$KBS_URL" --admin-key "$TMP/admin.key" --resource ccrfs/dek/x \
  --policy "$TMP/policy.json" --value-file "$TMP/dek.key"

# The guest without a VCEK: the broker asks the stand-in KDS once, then its cache.
if out=$("$CCRFS" verify --kbs "$NOCERTS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" "$TMP/ds" 2>&1); then
  pass "a guest whose evidence has cert_chain null gets its key (VCEK from the KDS)"
else
  fail "release without a VCEK in the evidence: $out"
fi
# What the client sent, checked independently: the Request and Attestation members as
# kbs-types 0.18 and guest-components have them, and report_data recomputed here from RFC 8785
# (members sorted by UTF-16 units, compact, UTF-8) with hashlib.
cat >"$TMP/check_sent.py" <<'PY'
import hashlib, json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
auth, att = lines[0], lines[1]
assert auth == {"version": "0.4.0", "tee": "snp",
                "extra-params": {"supported-hash-algorithms": ["sha256", "sha384", "sha512"]}}, auth
assert set(att) == {"init-data", "runtime-data", "tee-evidence"} and att["init-data"] is None, list(att)
rt, ev = att["runtime-data"], att["tee-evidence"]
assert set(rt) == {"nonce", "tee-pubkey"} and set(ev) == {"primary_evidence", "additional_evidence"}
assert ev["additional_evidence"] == ""
pk = rt["tee-pubkey"]
assert set(pk) == {"kty", "crv", "alg", "x", "y"} and pk["alg"] == "ECDH-ES+A256KW" and pk["crv"] == "P-256", pk
def jcs(v):
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(v[k])
                              for k in sorted(v, key=lambda k: k.encode("utf-16-be"))) + "}"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
text = jcs({"additional-evidence": ev["additional_evidence"], "nonce": rt["nonce"], "tee-pubkey": pk})
want = list(hashlib.sha384(text.encode()).digest()) + [0] * 16
got = ev["primary_evidence"]["attestation_report"]["report_data"]
if isinstance(got, str):
    got = list(bytes.fromhex(got))
assert got == want, (got, want)
print("ok")
PY
if out=$(python3 "$TMP/check_sent.py" "$TMP/sent.jsonl" 2>&1); then
  pass "the Request and Attestation are kbs-types' layout; report_data is SHA-384 of the RFC 8785 runtime data"
else
  fail "what the client sent: ${out:0:600}"
fi
grep -q "KDS /vcek/v1/[A-Za-z]*/$chip?blSPL=[0-9][0-9]*&teeSPL=[0-9]*&snpSPL=[0-9]*&ucodeSPL=[0-9]*" "$TMP/logs/kds.log" &&
  pass "the KDS was asked in AMD's URL form with the chip id and reported TCB" ||
  fail "KDS requests: $(cat "$TMP/logs/kds.log")"
grep -q "VCEK from the KDS)" "$TMP/main.log" && pass "the broker log says where the VCEK came from" ||
  fail "no VCEK source in the broker log"
[ "$(find "$TMP/kds-cache" -name '*.der' | wc -l)" = 1 ] && pass "the VCEK is cached on disk" || fail "KDS cache"
h_stop "$KDS_PID"
if "$CCRFS" verify --kbs "$NOCERTS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" "$TMP/ds" >/dev/null 2>&1; then
  pass "with the KDS gone, the cached VCEK serves"
else
  fail "release from the KDS cache"
fi
grep -q "VCEK from the KDS cache)" "$TMP/main.log" && pass "the log says the cache served" || fail "cache use not logged"
rm -rf "$TMP/kds-cache/vcek"
expect_fail "neither a VCEK in the evidence nor a KDS: refused, saying so" \
  "AttestationError.*no VCEK in the evidence.*fetching the VCEK from the KDS" \
  "$CCRFS" verify --kbs "$NOCERTS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" "$TMP/ds"

# Refusals in Trustee's terms, told apart by type.
sed 's/"measurement","equals":"[0-9a-f]*"/"measurement","equals":"'"$(printf '%096d' 0)"'"/' "$TMP/policy.json" >"$TMP/other.json"
"$CCRFS" kbs put --url "$KBS_URL" --token-file "$TMP/token" --resource ccrfs/dek/other --policy "$TMP/other.json" \
  --value-file "$TMP/dek.key" >/dev/null
expect_fail "a policy denial is reported as Trustee's PolicyDeny" "denied by the KBS resource policy.*HTTP 401, PolicyDeny" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/other --attest "sim:$TMP/sim" "$TMP/ds"
expect_fail "a missing resource is reported apart from a denial" "cannot serve it.*HTTP 401, PluginInternalError" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/none --attest "sim:$TMP/sim" "$TMP/ds"
body=$(curl -s -o - -w ' %{http_code}' "$KBS_URL/kbs/v0/resource/ccrfs/dek")
[[ $body == '{"type":"https://github.com/confidential-containers/kbs/errors/InvalidRequestPath","detail":"Request path /kbs/v0/resource/ccrfs/dek is invalid"} 404' ]] &&
  pass "a bad path is Trustee's 404 InvalidRequestPath" || fail "bad path answer: $body"
body=$(curl -s -o - -w ' %{http_code}' "$KBS_URL/kbs/v0/resource/ccrfs/dek/ds")
[[ $body == '{"type":"https://github.com/confidential-containers/kbs/errors/TokenNotFound","detail":"Attestation Token not found"} 401' ]] &&
  pass "no session is Trustee's 401 TokenNotFound" || fail "unattested answer: $body"

# delete --trustee removes it; the guest is then told the KBS cannot serve it.
if "$CCRFS" kbs delete --trustee --url "$KBS_URL" --admin-key "$TMP/admin.key" --resource ccrfs/dek/ds >/dev/null; then
  pass "delete --trustee under a signed admin JWT"
else
  fail "delete --trustee"
fi
expect_fail "a deleted resource is no longer released" "PluginInternalError: Plugin internal error: no resource named" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" "$TMP/ds"

# No log holds the key.
hex=$(xxd -p -c 64 "$TMP/dek.key")
b64=$(base64 -w0 "$TMP/dek.key")
if grep -rqiF -e "$hex" "$TMP"/*.log "$TMP"/logs/*.log || grep -rqF -e "$b64" "$TMP"/*.log "$TMP"/logs/*.log; then
  fail "a log contains key bytes"
else
  pass "no log contains the key"
fi
finish
