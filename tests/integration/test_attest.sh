#!/usr/bin/env bash
# `ccrfs attest`: verify the public real SEV-SNP reports, and make and verify simulated ones.
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
expect_fail "report data longer than 64 bytes is refused" "128 hex digits" "$CCRFS" attest report \
  --attest "sim:$TMP/sim" --report-data "$(printf '00%.0s' $(seq 65))" -o "$TMP/x.bin"
expect_fail "no SEV-SNP device here" "SEV-SNP" "$CCRFS" attest report --attest snp --report-data 00 -o "$TMP/x.bin"

finish
