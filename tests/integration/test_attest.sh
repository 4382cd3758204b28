#!/usr/bin/env bash
# `ccrfs attest`: verify the public real SEV-SNP reports of every generation (Milan, Genoa,
# VLEK; Trustee's vectors against the built-in AMD roots), make and verify simulated ones of
# each version, and take evidence from a stand-in of the CoCo attestation agent's REST API.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
V=${CCRFS_TESTVECTORS:-}/snp
AT=2024-01-01T00:00:00Z

if [ -d "$V" ]; then
  awk '/BEGIN/{n++} n==1' "$V/aci-milan/uvm_host_amd_certificate.pem" >"$TMP/aci-vcek.pem"
  awk '/BEGIN/{n++} n>=2' "$V/aci-milan/uvm_host_amd_certificate.pem" >"$TMP/aci-chain.pem"
  if out=$("$CCRFS" attest verify "$V/aci-milan/snp_report.bin" --vcek "$TMP/aci-vcek.pem" --chain "$TMP/aci-chain.pem" --at $AT) &&
    grep -q '"host_data":"cadd74f7' <<<"$out" && ! grep -q WARNING <<<"$out"; then
    pass "aci-milan verifies, host_data is the policy hash"
  else
    fail "aci-milan: $out"
  fi
  "$CCRFS" attest verify "$V/virtee-milan/report_milan.hex" --vcek "$V/virtee-milan/vcek_milan.der" \
    --chain "$V/virtee-milan/cert_chain_milan" --at $AT >/dev/null && pass "virtee-milan (hex) verifies" ||
    fail "virtee-milan"
  out=$("$CCRFS" attest verify "$V/gosevguest-milan-debug/attestation.bin" --vcek "$V/gosevguest-milan-debug/vcek.der" \
    --chain "$V/gosevguest-milan-debug/ask_ark_milan.pem" --at $AT) && grep -q "allows debugging" <<<"$out" &&
    pass "go-sev-guest verifies and is reported as debuggable" || fail "go-sev-guest: $out"
  cp "$V/virtee-milan/report_milan.hex" "$TMP/flipped.hex"
  # flip one hex digit inside the measurement
  python3 -c "import sys;p=sys.argv[1];s=bytearray(open(p,'rb').read());i=2*0x95;s[i]=ord('0') if s[i]!=ord('0') else ord('1');open(p,'wb').write(s)" "$TMP/flipped.hex"
  expect_fail "a flipped byte fails" "signature" "$CCRFS" attest verify "$TMP/flipped.hex" \
    --vcek "$V/virtee-milan/vcek_milan.der" --chain "$V/virtee-milan/cert_chain_milan" --at $AT
  expect_fail "a VCEK from another folder fails" "FAILED" "$CCRFS" attest verify "$V/virtee-milan/report_milan.hex" \
    --vcek "$V/gosevguest-milan-debug/vcek.der" --chain "$V/virtee-milan/cert_chain_milan" --at $AT
  head -c 1000 "$V/aci-milan/snp_report.bin" >"$TMP/short.bin"
  expect_fail "a truncated report is refused" "1184" "$CCRFS" attest verify "$TMP/short.bin" \
    --vcek "$TMP/aci-vcek.pem" --chain "$TMP/aci-chain.pem" --at $AT
else
  echo "# $V absent: real-report checks skipped"
fi

# Trustee's and newer vectors against the AMD roots built into ccrfs (ASK and ASVK).
T=${CCRFS_TESTVECTORS:-}
if [ -d "$T/trustee/snp" ] && [ -d "$T/snp-newer" ]; then
  out=$("$CCRFS" attest verify "$T/snp-newer/genoa-v3/report.bin" --vcek "$T/snp-newer/genoa-v3/vcek.der" \
    --amd-roots --min-version 3 --at 2025-09-01) && grep -q '"product":"Genoa"' <<<"$out" &&
    grep -q "ARK-Genoa chain (Genoa)" <<<"$out" && pass "Genoa v3 (Trustee's e2e report) verifies with the AMD roots" ||
    fail "genoa-v3: $out"
  out=$("$CCRFS" attest verify "$T/snp-newer/genoa-v5/report.bin" --vcek "$T/snp-newer/genoa-v5/vcek.der" \
    --amd-roots --at 2025-09-01) && grep -q '"version":5' <<<"$out" && pass "Genoa v5 verifies" || fail "genoa-v5: $out"
  out=$("$CCRFS" attest verify "$T/trustee/snp/test-vlek-report.bin" --vcek "$T/trustee/snp/test-vlek.der" \
    --amd-roots --at 2025-06-01) && grep -q '"signing_key":"VLEK"' <<<"$out" && grep -q "VLEK -> ASVK -> ARK-Milan" <<<"$out" &&
    pass "a VLEK report verifies through the Milan ASVK" || fail "vlek: $out"
  expect_fail "a VLEK report checked as VCEK is refused" "a VCEK is demanded" "$CCRFS" attest verify \
    "$T/trustee/snp/test-vlek-report.bin" --vcek "$T/trustee/snp/test-vlek.der" --amd-roots --at 2025-06-01 --key vcek
  out=$("$CCRFS" attest verify "$T/trustee/snp/test-report.bin" --vcek "$T/trustee/snp/test-vcek.der" --amd-roots --at $AT) &&
    grep -q '"product":"Milan"' <<<"$out" && pass "a Milan v2 report verifies (product from the chain)" || fail "milan v2: $out"
  expect_fail "a v2 report is refused where version 3 is demanded" "below the minimum of 3" "$CCRFS" attest verify \
    "$T/trustee/snp/test-report.bin" --vcek "$T/trustee/snp/test-vcek.der" --amd-roots --at $AT --min-version 3
  expect_fail "a Genoa report under Milan's chain is refused" "FAILED" "$CCRFS" attest verify \
    "$T/snp-newer/genoa-v3/report.bin" --vcek "$T/snp-newer/genoa-v3/vcek.der" --chain "$V/virtee-milan/cert_chain_milan" --at 2025-09-01
else
  echo "# $T/trustee/snp or $T/snp-newer absent: Trustee vector checks skipped"
fi

# The simulator: reports in the real layout that verify against its own chain only.
"$CCRFS" attest sim-init "$TMP/sim" --host-data "$(printf 'ab%.0s' $(seq 32))" >/dev/null && pass "sim-init" || fail "sim-init"
[ "$(stat -c %a "$TMP/sim/vcek.key")" = 600 ] && [ "$(stat -c %a "$TMP/sim/ark.key")" = 600 ] &&
  pass "the simulator's keys are mode 0600" || fail "key modes"
"$CCRFS" attest report --attest "sim:$TMP/sim" --report-data 00112233 -o "$TMP/r.bin" --vcek-out "$TMP/vcek.der" &&
  [ "$(stat -c %s "$TMP/r.bin")" = 1184 ] && pass "a simulated report is 1184 bytes" || fail "attest report"
cat "$TMP/sim/ask.pem" "$TMP/sim/ark.pem" >"$TMP/sim-chain.pem"
out=$("$CCRFS" attest verify "$TMP/r.bin" --vcek "$TMP/vcek.der" --chain "$TMP/sim-chain.pem")
if grep -q "\"measurement\":\"$(sha384sum "$CCRFS" | cut -d' ' -f1)\"" <<<"$out" &&
  grep -q '"report_data":"00112233000' <<<"$out" && grep -q '"host_data":"abababab' <<<"$out"; then
  pass "the simulated report carries the build's measurement, the report data and host data"
else
  fail "simulated claims: $out"
fi
openssl x509 -in "$TMP/sim/ark.pem" -noout -text | grep -q "rsassaPss" && pass "the test ARK is signed with RSA-PSS" ||
  fail "ARK signature algorithm"
openssl x509 -in "$TMP/vcek.der" -inform der -noout -text | grep -q "1.3.6.1.4.1.3704.1.4" &&
  pass "the VCEK carries the hwID extension" || fail "VCEK extensions"
if [ -d "$V" ]; then
  expect_fail "a simulated report does not verify under AMD's chain" "FAILED" "$CCRFS" attest verify "$TMP/r.bin" \
    --vcek "$TMP/vcek.der" --chain "$V/virtee-milan/cert_chain_milan"
fi
grep -q '"version":3' <<<"$out" && grep -q '"product":"Milan"' <<<"$out" && pass "the simulator makes version 3 reports by default" ||
  fail "sim default version: $out"
for vp in "2 genoa" "5 turin"; do
  set -- $vp
  "$CCRFS" attest sim-init "$TMP/sim$1" --version "$1" --product "$2" >/dev/null &&
    "$CCRFS" attest report --attest "sim:$TMP/sim$1" --report-data 01 -o "$TMP/r$1.bin" --vcek-out "$TMP/v$1.der" &&
    cat "$TMP/sim$1/ask.pem" "$TMP/sim$1/ark.pem" >"$TMP/c$1.pem" &&
    out=$("$CCRFS" attest verify "$TMP/r$1.bin" --vcek "$TMP/v$1.der" --chain "$TMP/c$1.pem") &&
    grep -q "\"version\":$1" <<<"$out" && pass "sim-init --version $1 --product $2 verifies" || fail "sim v$1 $2: $out"
done
grep -q '"reported_tcb_fmc":1' <<<"$out" && pass "the Turin report carries the FMC" || fail "turin fmc: $out"
expect_fail "a version 4 simulator is refused" "expected 2, 3 or 5" "$CCRFS" attest sim-init "$TMP/sim4" --version 4

# Evidence from a stand-in of guest-components' api-server-rest (GET /aa/evidence with
# runtime_data as unpadded URL-safe base64 and encoding=base64), answering the simulator's
# evidence JSON.
cat >"$TMP/aa.py" <<'PY'
import base64, http.server, subprocess, sys, urllib.parse
ccrfs, sim, portfile, tmp = sys.argv[1:5]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path != "/aa/evidence":
            return self.answer(404, b"")
        if q.get("encoding") != ["base64"] or "runtime_data" not in q:
            return self.answer(400, b"bad runtime_data")
        rd = q["runtime_data"][0]
        data = base64.urlsafe_b64decode(rd + "=" * (-len(rd) % 4))
        subprocess.run([ccrfs, "attest", "report", "--attest", "sim:" + sim, "--report-data", data.hex(),
                        "-o", tmp + "/aa-r.bin", "--evidence-out", tmp + "/aa-ev.json"], check=True)
        self.answer(200, open(tmp + "/aa-ev.json", "rb").read())
    def answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_port))
s.serve_forever()
PY
h_spawn aa python3 "$TMP/aa.py" "$CCRFS" "$TMP/sim" "$TMP/aa.port" "$TMP"
AA_PID=$H_PID
wait_until 10 test -s "$TMP/aa.port"
RD=$(printf 'fe%.0s' $(seq 64))
if "$CCRFS" attest report --attest "aa:http://127.0.0.1:$(cat "$TMP/aa.port")" --report-data "$RD" -o "$TMP/aa.bin" \
  --vcek-out "$TMP/aa-vcek.der" && out=$("$CCRFS" attest verify "$TMP/aa.bin" --vcek "$TMP/aa-vcek.der" --chain "$TMP/sim-chain.pem") &&
  grep -q "\"report_data\":\"$RD\"" <<<"$out"; then
  pass "aa: evidence from the attestation agent's REST API binds the report data and verifies"
else
  fail "aa: $out"
fi
expect_fail "aa: an agent without the evidence endpoint is refused" "answered 404" "$CCRFS" attest report \
  --attest "aa:http://127.0.0.1:$(cat "$TMP/aa.port")/nothing" --report-data 00 -o "$TMP/x.bin"
h_stop "$AA_PID"

expect_fail "report data longer than 64 bytes is refused" "128 hex digits" "$CCRFS" attest report \
  --attest "sim:$TMP/sim" --report-data "$(printf '00%.0s' $(seq 65))" -o "$TMP/x.bin"
expect_fail "no SEV-SNP device here" "SEV-SNP" "$CCRFS" attest report --attest snp --report-data 00 -o "$TMP/x.bin"

finish
