#!/usr/bin/env bash
# `ccrfs attest`: verify the public real SEV-SNP reports, and make and verify simulated ones.
set -uo pipefail
: "${CCRFS:?}" "${CCRFS_SRC:?}"
. "$CCRFS_SRC/tests/integration/lib/kbs.sh"
trap kbs_cleanup EXIT
T=$KBS_TMP
V=${CCRFS_TESTVECTORS:-}/snp
AT=2024-01-01T00:00:00Z

if [ -d "$V" ]; then
  awk '/BEGIN/{n++} n==1' "$V/aci-milan/uvm_host_amd_certificate.pem" >"$T/aci-vcek.pem"
  awk '/BEGIN/{n++} n>=2' "$V/aci-milan/uvm_host_amd_certificate.pem" >"$T/aci-chain.pem"
  if out=$("$CCRFS" attest verify "$V/aci-milan/snp_report.bin" --vcek "$T/aci-vcek.pem" --chain "$T/aci-chain.pem" --at $AT) &&
    grep -q '"host_data":"cadd74f7' <<<"$out" && ! grep -q WARNING <<<"$out"; then
    ok "aci-milan verifies, host_data is the policy hash"
  else
    not_ok "aci-milan: $out"
  fi
  "$CCRFS" attest verify "$V/virtee-milan/report_milan.hex" --vcek "$V/virtee-milan/vcek_milan.der" \
    --chain "$V/virtee-milan/cert_chain_milan" --at $AT >/dev/null && ok "virtee-milan (hex) verifies" ||
    not_ok "virtee-milan"
  out=$("$CCRFS" attest verify "$V/gosevguest-milan-debug/attestation.bin" --vcek "$V/gosevguest-milan-debug/vcek.der" \
    --chain "$V/gosevguest-milan-debug/ask_ark_milan.pem" --at $AT) && grep -q "allows debugging" <<<"$out" &&
    ok "go-sev-guest verifies and is reported as debuggable" || not_ok "go-sev-guest: $out"
  cp "$V/virtee-milan/report_milan.hex" "$T/flipped.hex"
  # flip one hex digit inside the measurement
  python3 -c "import sys;p=sys.argv[1];s=bytearray(open(p,'rb').read());i=2*0x95;s[i]=ord('0') if s[i]!=ord('0') else ord('1');open(p,'wb').write(s)" "$T/flipped.hex"
  expect_fail "a flipped byte fails" "signature" "$CCRFS" attest verify "$T/flipped.hex" \
    --vcek "$V/virtee-milan/vcek_milan.der" --chain "$V/virtee-milan/cert_chain_milan" --at $AT
  expect_fail "a VCEK from another folder fails" "FAILED" "$CCRFS" attest verify "$V/virtee-milan/report_milan.hex" \
    --vcek "$V/gosevguest-milan-debug/vcek.der" --chain "$V/virtee-milan/cert_chain_milan" --at $AT
  head -c 1000 "$V/aci-milan/snp_report.bin" >"$T/short.bin"
  expect_fail "a truncated report is refused" "1184" "$CCRFS" attest verify "$T/short.bin" \
    --vcek "$T/aci-vcek.pem" --chain "$T/aci-chain.pem" --at $AT
else
  echo "# $V absent: real-report checks skipped"
fi

# The simulator: reports in the real layout that verify against its own chain only.
"$CCRFS" attest sim-init "$T/sim" --host-data "$(printf 'ab%.0s' $(seq 32))" >/dev/null && ok "sim-init" || not_ok "sim-init"
[ "$(stat -c %a "$T/sim/vcek.key")" = 600 ] && [ "$(stat -c %a "$T/sim/ark.key")" = 600 ] &&
  ok "the simulator's keys are mode 0600" || not_ok "key modes"
"$CCRFS" attest report --attest "sim:$T/sim" --report-data 00112233 -o "$T/r.bin" --vcek-out "$T/vcek.der" &&
  [ "$(stat -c %s "$T/r.bin")" = 1184 ] && ok "a simulated report is 1184 bytes" || not_ok "attest report"
cat "$T/sim/ask.pem" "$T/sim/ark.pem" >"$T/sim-chain.pem"
out=$("$CCRFS" attest verify "$T/r.bin" --vcek "$T/vcek.der" --chain "$T/sim-chain.pem")
if grep -q "\"measurement\":\"$(sha384sum "$CCRFS" | cut -d' ' -f1)\"" <<<"$out" &&
  grep -q '"report_data":"00112233000' <<<"$out" && grep -q '"host_data":"abababab' <<<"$out"; then
  ok "the simulated report carries the build's measurement, the report data and host data"
else
  not_ok "simulated claims: $out"
fi
openssl x509 -in "$T/sim/ark.pem" -noout -text | grep -q "rsassaPss" && ok "the test ARK is signed with RSA-PSS" ||
  not_ok "ARK signature algorithm"
openssl x509 -in "$T/vcek.der" -inform der -noout -text | grep -q "1.3.6.1.4.1.3704.1.4" &&
  ok "the VCEK carries the hwID extension" || not_ok "VCEK extensions"
if [ -d "$V" ]; then
  expect_fail "a simulated report does not verify under AMD's chain" "FAILED" "$CCRFS" attest verify "$T/r.bin" \
    --vcek "$T/vcek.der" --chain "$V/virtee-milan/cert_chain_milan"
fi
expect_fail "report data longer than 64 bytes is refused" "128 hex digits" "$CCRFS" attest report \
  --attest "sim:$T/sim" --report-data "$(printf '00%.0s' $(seq 65))" -o "$T/x.bin"
expect_fail "no SEV-SNP device here" "SEV-SNP" "$CCRFS" attest report --attest snp --report-data 00 -o "$T/x.bin"

kbs_summary
