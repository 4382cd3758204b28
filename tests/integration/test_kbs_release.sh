#!/usr/bin/env bash
# Key release end to end: simulated SEV-SNP evidence -> `ccrfs kbs serve` -> `ccrfs verify
# --kbs` of a packed dataset; and each refusal with its reason. No log may hold the key.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

kbs_setup_common || { fail "setup: sim-init, keygen or pack"; finish; }
kbs_policy_for_build >"$TMP/policy.json"
kbs_start main --trust-sim-root "$TMP/sim" || { fail "the broker did not start"; finish; }
MAIN_PID=$KBS_PID
PUT=("$CCRFS" kbs put --url "$KBS_URL" --token-file "$TMP/token")

if "${PUT[@]}" --resource ccrfs/dek/ds --policy "$TMP/policy.json" --value-file "$TMP/dek.key" >/dev/null; then
  pass "admin put with a token from a file"
else
  fail "admin put"
fi

# Happy path: attested release, the dataset verifies.
if out=$("$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" "$TMP/ds" 2>&1); then
  pass "verify --kbs: key released after attestation, dataset verifies"
else
  fail "verify --kbs: $out"
fi
grep -q "released: resource=ccrfs/dek/ds" "$TMP/main.log" && pass "the release is logged with its claims" ||
  fail "no release line in the broker log"
grep -q "measurement=$(sha384sum "$CCRFS" | cut -d' ' -f1)" "$TMP/main.log" && pass "the log names the measurement" ||
  fail "the log lacks the measurement"

# unpack through the same path gives back the same bytes.
if "$CCRFS" unpack --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" "$TMP/ds" "$TMP/out" >/dev/null 2>&1 &&
  cmp -s "$TMP/src/data.bin" "$TMP/out/data.bin"; then
  pass "unpack --kbs restores the files"
else
  fail "unpack --kbs"
fi

# Wrong measurement: a policy pinned to another build.
sed 's/"measurement","equals":"[0-9a-f]*"/"measurement","equals":"'"$(printf '%096d' 0)"'"/' "$TMP/policy.json" >"$TMP/other.json"
"${PUT[@]}" --resource ccrfs/dek/other --policy "$TMP/other.json" --value-file "$TMP/dek.key" >/dev/null
expect_fail "wrong measurement is refused" "claim measurement is" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/other --attest "sim:$TMP/sim" "$TMP/ds"

# Debug bit set, and a report from VMPL 1: simulated guests of their own.
"$CCRFS" attest sim-init "$TMP/sim-debug" --debug >/dev/null
"$CCRFS" attest sim-init "$TMP/sim-vmpl" --vmpl 1 >/dev/null
kbs_start debug --trust-sim-root "$TMP/sim-debug" || { fail "the broker did not start"; finish; }
DEBUG_URL=$KBS_URL
"$CCRFS" kbs put --url "$DEBUG_URL" --token-file "$TMP/token" --resource ccrfs/dek/ds --policy "$TMP/policy.json" \
  --value-file "$TMP/dek.key" >/dev/null
expect_fail "a debuggable guest is refused" "DEBUG bit" \
  "$CCRFS" verify --kbs "$DEBUG_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim-debug" "$TMP/ds"
kbs_start vmpl --trust-sim-root "$TMP/sim-vmpl" || { fail "the broker did not start"; finish; }
"$CCRFS" kbs put --url "$KBS_URL" --token-file "$TMP/token" --resource ccrfs/dek/ds --policy "$TMP/policy.json" \
  --value-file "$TMP/dek.key" >/dev/null
expect_fail "VMPL 1 evidence is refused" "VMPL 1" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim-vmpl" "$TMP/ds"
MAIN_URL="http://127.0.0.1:$(cat "$TMP/main.port")"

# A guest whose root the broker was not told to trust.
expect_fail "an untrusted test root is refused" "not issued by any trusted root" \
  "$CCRFS" verify --kbs "$MAIN_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim-debug" "$TMP/ds"

expect_fail "an unknown resource is refused" "no resource named ccrfs/dek/nothing" \
  "$CCRFS" verify --kbs "$MAIN_URL" --resource ccrfs/dek/nothing --attest "sim:$TMP/sim" "$TMP/ds"

# A malformed policy is refused when it is set, with the reason, and nothing is stored.
echo '{"anyOf":[{"claim":"measurment","equals":"00"}]}' >"$TMP/bad.json"
expect_fail "a malformed policy is refused at put" "unknown claim 'measurment'" \
  "$CCRFS" kbs put --url "$MAIN_URL" --token-file "$TMP/token" --resource ccrfs/dek/bad --policy "$TMP/bad.json" \
  --value-file "$TMP/dek.key"
expect_fail "admin calls need the token" "admin token is missing or wrong" \
  env CCRFS_KBS_ADMIN_TOKEN=not-the-token-at-all "$CCRFS" kbs list --url "$MAIN_URL"
if CCRFS_KBS_ADMIN_TOKEN=$(cat "$TMP/token") "$CCRFS" kbs list --url "$MAIN_URL" | grep -q '"ccrfs/dek/ds"' &&
  ! CCRFS_KBS_ADMIN_TOKEN=$(cat "$TMP/token") "$CCRFS" kbs list --url "$MAIN_URL" | grep -q 'ccrfs/dek/bad'; then
  pass "list (token from the environment) shows stored resources only"
else
  fail "list"
fi

# Release policies on the product and signing key; the minimum report version.
printf '{"allOf":[{"claim":"product","equals":"Milan"},{"claim":"signing_key","equals":"VCEK"}]}\n' >"$TMP/milan.json"
printf '{"allOf":[{"claim":"product","equals":"Genoa"}]}\n' >"$TMP/genoa.json"
"$CCRFS" kbs put --url "$MAIN_URL" --token-file "$TMP/token" --resource ccrfs/dek/milan --policy "$TMP/milan.json" \
  --value-file "$TMP/dek.key" >/dev/null
"$CCRFS" kbs put --url "$MAIN_URL" --token-file "$TMP/token" --resource ccrfs/dek/genoa --policy "$TMP/genoa.json" \
  --value-file "$TMP/dek.key" >/dev/null
if "$CCRFS" verify --kbs "$MAIN_URL" --resource ccrfs/dek/milan --attest "sim:$TMP/sim" "$TMP/ds" >/dev/null 2>&1; then
  pass "a policy on product and signing_key releases to the guest it names"
else
  fail "release under a product policy"
fi
expect_fail "a policy on another product refuses" "claim product is Milan, the policy requires Genoa" \
  "$CCRFS" verify --kbs "$MAIN_URL" --resource ccrfs/dek/genoa --attest "sim:$TMP/sim" "$TMP/ds"
printf '{"allOf":[{"claim":"product","equals":"milan"}]}\n' >"$TMP/badproduct.json"
expect_fail "a misspelt product is refused at put" "'product' cannot be \"milan\" \\(one of Milan, Genoa, Turin\\)" \
  "$CCRFS" kbs put --url "$MAIN_URL" --token-file "$TMP/token" --resource ccrfs/dek/bad \
  --policy "$TMP/badproduct.json" --value-file "$TMP/dek.key"
expect_fail "--min-report-version outside 2-5 is a usage error" "--min-report-version: expected a SEV-SNP report version 2 to 5" \
  "$CCRFS" kbs serve --state "$TMP/unused.state" --admin-token-file "$TMP/token" --min-report-version 1
"$CCRFS" attest sim-init "$TMP/sim-v2" --version 2 >/dev/null
kbs_start v2 --trust-sim-root "$TMP/sim-v2" || { fail "the broker did not start"; finish; }
V2_PID=$KBS_PID
"$CCRFS" kbs put --url "$KBS_URL" --token-file "$TMP/token" --resource ccrfs/dek/ds --policy "$TMP/policy.json" \
  --value-file "$TMP/dek.key" >/dev/null
if "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim-v2" "$TMP/ds" >/dev/null 2>&1; then
  pass "a version 2 report is accepted by default"
else
  fail "a version 2 report with the default minimum"
fi
KBS_PID=$V2_PID
kbs_stop
kbs_start v2 --trust-sim-root "$TMP/sim-v2" --min-report-version 3 || { fail "the broker did not start"; finish; }
expect_fail "--min-report-version 3 refuses a version 2 report" "version 2 is below the minimum of 3" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim-v2" "$TMP/ds"
grep -q "SEV-SNP reports of version 3 or later are accepted" "$TMP/v2.log" && pass "the broker logs its minimum" ||
  fail "the minimum report version is not logged"
kbs_stop

# Resources survive a restart; the master key file is private.
KBS_PID=$MAIN_PID
kbs_stop
[ "$(stat -c %a "$TMP/main.state/master.key")" = 600 ] && pass "master.key is mode 0600" || fail "master.key mode"
grep -rqF "$(xxd -p -c 64 "$TMP/dek.key")" "$TMP/main.state" && fail "the key is readable at rest" ||
  pass "the key is not stored in the clear"
kbs_start main --trust-sim-root "$TMP/sim" || { fail "the broker did not restart"; finish; }
if "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" "$TMP/ds" >/dev/null 2>&1; then
  pass "resources survive a broker restart"
else
  fail "release after restart"
fi
"$CCRFS" kbs delete --url "$KBS_URL" --token-file "$TMP/token" --resource ccrfs/dek/other >/dev/null &&
  pass "delete" || fail "delete"

# The broker is down.
kbs_stop
expect_fail "a broker that is down" "connection refused" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" "$TMP/ds"

# The same over https, trusting the broker's certificate with --broker-ca.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.crt" \
  -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
if kbs_start tls --trust-sim-root "$TMP/sim" --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key"; then
  TLS_URL=$KBS_URL
  TLS_URL=${TLS_URL/http:/https:}
  "$CCRFS" kbs put --url "$TLS_URL" --broker-ca "$TMP/tls.crt" --token-file "$TMP/token" --resource ccrfs/dek/ds \
    --policy "$TMP/policy.json" --value-file "$TMP/dek.key" >/dev/null
  if "$CCRFS" verify --kbs "$TLS_URL" --broker-ca "$TMP/tls.crt" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" \
    "$TMP/ds" >/dev/null 2>&1; then
    pass "release over https with --broker-ca"
  else
    fail "release over https"
  fi
  expect_fail "an https broker with an unknown certificate is refused" "SSL" \
    "$CCRFS" verify --kbs "$TLS_URL" --resource ccrfs/dek/ds --attest "sim:$TMP/sim" "$TMP/ds"
  kbs_stop
else
  fail "the broker did not start with TLS"
fi

# No log holds the key, in hex or base64.
hex=$(xxd -p -c 64 "$TMP/dek.key")
b64=$(base64 -w0 "$TMP/dek.key")
b64url=$(printf %s "$b64" | tr '+/' '-_' | tr -d '=')
if grep -rqiF -e "$hex" "$TMP"/*.log || grep -rqF -e "$b64" -e "$b64url" "$TMP"/*.log; then
  fail "a log contains key bytes"
else
  pass "no broker log contains the key (hex, base64, base64url)"
fi

finish
