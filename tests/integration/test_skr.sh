#!/usr/bin/env bash
# Azure Secure Key Release: `ccrfs wrap` makes dek.wrapped.json for a data provider, and
# `ccrfs verify --skr` releases the KEK through (a local stand-in of) the SKR sidecar and
# unwraps the DEK. Refusals carry the sidecar's reason.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
require_cmd python3 openssl
kbs_setup_common || { fail "setup: sim-init, keygen or pack"; finish; }
mkdir -p "$TMP/keys"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$TMP/keys/ccrfs-kek.pem" 2>/dev/null
openssl pkey -in "$TMP/keys/ccrfs-kek.pem" -pubout -out "$TMP/kek.pub" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/other.pem" 2>/dev/null
openssl pkey -in "$TMP/other.pem" -pubout -out "$TMP/other.pub" 2>/dev/null

"$CCRFS" wrap --key "$TMP/dek.key" --kek-pub "$TMP/kek.pub" --kid ccrfs-kek -o "$TMP/ds/dek.wrapped.json" >/dev/null &&
  grep -q '"alg":"RSA-OAEP-256"' "$TMP/ds/dek.wrapped.json" && pass "wrap writes dek.wrapped.json" || fail "wrap"

skr_start --keys-dir "$TMP/keys" --require-maa https://sharedeus.eus.attest.azure.net ||
  { fail "the SKR stand-in did not start"; finish; }
URL=$SKR_URL
SKR=(--skr "$URL" --skr-maa https://sharedeus.eus.attest.azure.net --skr-akv https://vault.example.vault.azure.net)

if out=$("$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$TMP/ds" 2>&1); then
  pass "verify --skr: KEK released, DEK unwrapped, dataset verifies"
else
  fail "verify --skr: $out"
fi
expect_fail "an unknown key id is refused with the sidecar's reason" "key nope not found" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid nope "$TMP/ds"
expect_fail "a failed attestation is refused with the sidecar's reason" "attestation failed" \
  "$CCRFS" verify --skr "$URL" --skr-maa https://evil.example --skr-akv https://v --skr-kid ccrfs-kek "$TMP/ds"

cp -r "$TMP/ds" "$TMP/ds-other"
"$CCRFS" wrap --key "$TMP/dek.key" --kek-pub "$TMP/other.pub" -o "$TMP/ds-other/dek.wrapped.json" >/dev/null
expect_fail "a DEK wrapped for another KEK does not unwrap" "does not unwrap" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$TMP/ds-other"
cp -r "$TMP/ds" "$TMP/ds-none"
rm "$TMP/ds-none/dek.wrapped.json"
expect_fail "a dataset without dek.wrapped.json" "dek.wrapped.json" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$TMP/ds-none"
echo '{"version":1,"alg":"RSA1_5","wrapped_key":"AA"}' >"$TMP/ds-none/dek.wrapped.json"
expect_fail "a wrapped key with another algorithm is refused" "RSA-OAEP-256" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$TMP/ds-none"
expect_fail "wrap refuses a small RSA key" "2048 bits" bash -c \
  "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl pkey -pubout >'$TMP/small.pub' 2>/dev/null; '$CCRFS' wrap --key '$TMP/dek.key' --kek-pub '$TMP/small.pub' -o '$TMP/x.json'"

skr_stop
expect_fail "a sidecar that is down" "connection refused" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$TMP/ds"

hex=$(xxd -p -c 64 "$TMP/dek.key")
b64=$(base64 -w0 "$TMP/dek.key")
if grep -qiF -e "$hex" -e "$b64" "$TMP/skr.log"; then fail "a log contains the key"; else pass "no log contains the key"; fi
finish
