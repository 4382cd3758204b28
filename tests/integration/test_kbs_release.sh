#!/usr/bin/env bash
# Key release end to end: simulated SEV-SNP evidence -> `ccrfs kbs serve` -> `ccrfs verify
# --kbs` of a packed dataset; and each refusal with its reason. No log may hold the key.
set -uo pipefail
: "${CCRFS:?}" "${CCRFS_SRC:?}"
. "$CCRFS_SRC/tests/integration/lib/kbs.sh"
trap kbs_cleanup EXIT

kbs_setup_common || { echo "setup failed"; exit 1; }
T=$KBS_TMP
kbs_policy_for_build >"$T/policy.json"
kbs_start main --trust-sim-root "$T/sim" || exit 1
MAIN_PID=$KBS_PID
PUT=("$CCRFS" kbs put --url "$KBS_URL" --token-file "$T/token")

if "${PUT[@]}" --resource ccrfs/dek/ds --policy "$T/policy.json" --value-file "$T/dek.key" >/dev/null; then
  ok "admin put with a token from a file"
else
  not_ok "admin put"
fi

# Happy path: attested release, the dataset verifies.
if out=$("$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$T/sim" "$T/ds" 2>&1); then
  ok "verify --kbs: key released after attestation, dataset verifies"
else
  not_ok "verify --kbs: $out"
fi
grep -q "released: resource=ccrfs/dek/ds" "$T/main.log" && ok "the release is logged with its claims" ||
  not_ok "no release line in the broker log"
grep -q "measurement=$(sha384sum "$CCRFS" | cut -d' ' -f1)" "$T/main.log" && ok "the log names the measurement" ||
  not_ok "the log lacks the measurement"

# unpack through the same path gives back the same bytes.
if "$CCRFS" unpack --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$T/sim" "$T/ds" "$T/out" >/dev/null 2>&1 &&
  cmp -s "$T/src/data.bin" "$T/out/data.bin"; then
  ok "unpack --kbs restores the files"
else
  not_ok "unpack --kbs"
fi

# Wrong measurement: a policy pinned to another build.
sed 's/"measurement","equals":"[0-9a-f]*"/"measurement","equals":"'"$(printf '%096d' 0)"'"/' "$T/policy.json" >"$T/other.json"
"${PUT[@]}" --resource ccrfs/dek/other --policy "$T/other.json" --value-file "$T/dek.key" >/dev/null
expect_fail "wrong measurement is refused" "claim measurement is" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/other --attest "sim:$T/sim" "$T/ds"

# Debug bit set, and a report from VMPL 1: simulated guests of their own.
"$CCRFS" attest sim-init "$T/sim-debug" --debug >/dev/null
"$CCRFS" attest sim-init "$T/sim-vmpl" --vmpl 1 >/dev/null
kbs_start debug --trust-sim-root "$T/sim-debug" || exit 1
DEBUG_URL=$KBS_URL
"$CCRFS" kbs put --url "$DEBUG_URL" --token-file "$T/token" --resource ccrfs/dek/ds --policy "$T/policy.json" \
  --value-file "$T/dek.key" >/dev/null
expect_fail "a debuggable guest is refused" "DEBUG bit" \
  "$CCRFS" verify --kbs "$DEBUG_URL" --resource ccrfs/dek/ds --attest "sim:$T/sim-debug" "$T/ds"
kbs_start vmpl --trust-sim-root "$T/sim-vmpl" || exit 1
"$CCRFS" kbs put --url "$KBS_URL" --token-file "$T/token" --resource ccrfs/dek/ds --policy "$T/policy.json" \
  --value-file "$T/dek.key" >/dev/null
expect_fail "VMPL 1 evidence is refused" "VMPL 1" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$T/sim-vmpl" "$T/ds"
MAIN_URL="http://127.0.0.1:$(cat "$T/main.port")"

# A guest whose root the broker was not told to trust.
expect_fail "an untrusted test root is refused" "not issued by any trusted root" \
  "$CCRFS" verify --kbs "$MAIN_URL" --resource ccrfs/dek/ds --attest "sim:$T/sim-debug" "$T/ds"

expect_fail "an unknown resource is refused" "no resource named ccrfs/dek/nothing" \
  "$CCRFS" verify --kbs "$MAIN_URL" --resource ccrfs/dek/nothing --attest "sim:$T/sim" "$T/ds"

# A malformed policy is refused when it is set, with the reason, and nothing is stored.
echo '{"anyOf":[{"claim":"measurment","equals":"00"}]}' >"$T/bad.json"
expect_fail "a malformed policy is refused at put" "unknown claim 'measurment'" \
  "$CCRFS" kbs put --url "$MAIN_URL" --token-file "$T/token" --resource ccrfs/dek/bad --policy "$T/bad.json" \
  --value-file "$T/dek.key"
expect_fail "admin calls need the token" "admin token is missing or wrong" \
  env CCRFS_KBS_ADMIN_TOKEN=not-the-token-at-all "$CCRFS" kbs list --url "$MAIN_URL"
if CCRFS_KBS_ADMIN_TOKEN=$(cat "$T/token") "$CCRFS" kbs list --url "$MAIN_URL" | grep -q '"ccrfs/dek/ds"' &&
  ! CCRFS_KBS_ADMIN_TOKEN=$(cat "$T/token") "$CCRFS" kbs list --url "$MAIN_URL" | grep -q 'ccrfs/dek/bad'; then
  ok "list (token from the environment) shows stored resources only"
else
  not_ok "list"
fi

# Resources survive a restart; the master key file is private.
KBS_PID=$MAIN_PID
kbs_stop
[ "$(stat -c %a "$T/main.state/master.key")" = 600 ] && ok "master.key is mode 0600" || not_ok "master.key mode"
grep -rqF "$(xxd -p -c 64 "$T/dek.key")" "$T/main.state" && not_ok "the key is readable at rest" ||
  ok "the key is not stored in the clear"
kbs_start main --trust-sim-root "$T/sim" || exit 1
if "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$T/sim" "$T/ds" >/dev/null 2>&1; then
  ok "resources survive a broker restart"
else
  not_ok "release after restart"
fi
"$CCRFS" kbs delete --url "$KBS_URL" --token-file "$T/token" --resource ccrfs/dek/other >/dev/null &&
  ok "delete" || not_ok "delete"

# The broker is down.
kbs_stop
expect_fail "a broker that is down" "connection refused" \
  "$CCRFS" verify --kbs "$KBS_URL" --resource ccrfs/dek/ds --attest "sim:$T/sim" "$T/ds"

# The same over https, trusting the broker's certificate with --broker-ca.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/tls.key" -out "$T/tls.crt" \
  -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
if kbs_start tls --trust-sim-root "$T/sim" --tls-cert "$T/tls.crt" --tls-key "$T/tls.key"; then
  TLS_URL=$KBS_URL
  TLS_URL=${TLS_URL/http:/https:}
  "$CCRFS" kbs put --url "$TLS_URL" --broker-ca "$T/tls.crt" --token-file "$T/token" --resource ccrfs/dek/ds \
    --policy "$T/policy.json" --value-file "$T/dek.key" >/dev/null
  if "$CCRFS" verify --kbs "$TLS_URL" --broker-ca "$T/tls.crt" --resource ccrfs/dek/ds --attest "sim:$T/sim" \
    "$T/ds" >/dev/null 2>&1; then
    ok "release over https with --broker-ca"
  else
    not_ok "release over https"
  fi
  expect_fail "an https broker with an unknown certificate is refused" "SSL" \
    "$CCRFS" verify --kbs "$TLS_URL" --resource ccrfs/dek/ds --attest "sim:$T/sim" "$T/ds"
  kbs_stop
else
  not_ok "the broker did not start with TLS"
fi

# No log holds the key, in hex or base64.
hex=$(xxd -p -c 64 "$T/dek.key")
b64=$(base64 -w0 "$T/dek.key")
b64url=$(printf %s "$b64" | tr '+/' '-_' | tr -d '=')
if grep -rqiF -e "$hex" "$T"/*.log || grep -rqF -e "$b64" -e "$b64url" "$T"/*.log; then
  not_ok "a log contains key bytes"
else
  ok "no broker log contains the key (hex, base64, base64url)"
fi

kbs_summary
