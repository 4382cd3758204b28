#!/usr/bin/env bash
# Azure Secure Key Release: `ccrfs wrap` makes dek.wrapped.json for a data provider, and
# `ccrfs verify --skr` releases the KEK through (a local stand-in of) the SKR sidecar and
# unwraps the DEK. The endpoints go to the sidecar as bare host names (a URL is reduced, with a
# notice; a missing one is an error naming the option). An oct key is the DEK itself: a mount
# with it, no dek.wrapped.json. Refusals carry the sidecar's reason.
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

# The stand-in, like the sidecar, takes host names: it refuses a URL as the sidecar's lookup
# of host "https:" would fail.
cp "$TMP/dek.key" "$TMP/keys/ds-oct.oct"
skr_start --keys-dir "$TMP/keys" --require-maa sharedeus.eus.attest.azure.net ||
  { fail "the SKR stand-in did not start"; finish; }
URL=$SKR_URL
SKR=(--skr "$URL" --skr-maa sharedeus.eus.attest.azure.net --skr-akv vault.example.vault.azure.net)

if out=$("$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$TMP/ds" 2>&1); then
  pass "verify --skr: KEK released, DEK unwrapped, dataset verifies"
else
  fail "verify --skr: $out"
fi

# --- endpoints: host names, URLs reduced with a notice, missing or junk refused ------------
if out=$("$CCRFS" verify --skr "$URL" --skr-maa https://sharedeus.eus.attest.azure.net/ \
  --skr-akv https://Vault.Example.vault.azure.net/keys/ccrfs-kek --skr-kid ccrfs-kek "$TMP/ds" 2>&1) &&
  grep -q -- "--skr-maa: the URL is reduced to its host sharedeus.eus.attest.azure.net" <<<"$out" &&
  grep -q -- "--skr-akv: the URL is reduced to its host vault.example.vault.azure.net" <<<"$out"; then
  pass "URL endpoints are reduced to their hosts, with a notice, and the release works"
else
  fail "URL endpoints: $out"
fi
expect_fail "a missing --skr-maa is an error naming the option" "needs --skr-maa" \
  "$CCRFS" verify --skr "$URL" --skr-akv vault.example.vault.azure.net --skr-kid ccrfs-kek "$TMP/ds"
expect_fail "an empty --skr-akv is an error naming the option" "needs --skr-akv" \
  "$CCRFS" verify --skr "$URL" --skr-maa sharedeus.eus.attest.azure.net --skr-akv "" --skr-kid ccrfs-kek "$TMP/ds"
expect_fail "a junk --skr-akv is refused before any request" "--skr-akv: 'my_vault!' is not a host name" \
  "$CCRFS" verify --skr "$URL" --skr-maa sharedeus.eus.attest.azure.net --skr-akv 'my_vault!' --skr-kid ccrfs-kek "$TMP/ds"
expect_fail "an endpoint URL with credentials is refused" "credentials" \
  "$CCRFS" verify --skr "$URL" --skr-maa https://u:p@sharedeus.eus.attest.azure.net --skr-akv v --skr-kid ccrfs-kek "$TMP/ds"
if grep -q '"maa_endpoint": *""\|u:p@' "$TMP/skr.log"; then fail "a refused endpoint reached the sidecar"; else pass "refused endpoints never reach the sidecar"; fi

# --- an oct key: the DEK itself (as DEPA imports dataset keys), no dek.wrapped.json --------
cp -r "$TMP/ds" "$TMP/ds-oct"
rm "$TMP/ds-oct/dek.wrapped.json"
check "verify --skr with an oct key: the released key is the DEK" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ds-oct "$TMP/ds-oct"
expect_fail "an oct key for a dataset that has dek.wrapped.json is refused" "symmetric .oct. key" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ds-oct "$TMP/ds"
head -c 16 /dev/urandom >"$TMP/keys/short.oct"
expect_fail "an oct key that is not 32 bytes is refused" "16 bytes" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid short "$TMP/ds-oct"
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
  MP=$TMP/mnt
  mkdir -p "$MP"
  h_track_mount "$MP"
  if CCRFS_STATE_DIR=$TMP/state "$CCRFS" mount "${SKR[@]}" --skr-kid ds-oct "$TMP/ds-oct" "$MP" 2>"$TMP/mount.err" &&
    cmp -s "$MP/data.bin" "$TMP/src/data.bin" && cmp -s "$MP/sub/readme.txt" "$TMP/src/sub/readme.txt"; then
    pass "a mount keyed by an oct key released through SKR reads the plaintext"
  else
    fail "mount with an oct key: $(cat "$TMP/mount.err")"
  fi
  h_unmount "$MP"
else
  skip "mount with an oct key (needs root, /dev/fuse and fusermount3)"
fi
expect_fail "an unknown key id is refused with the sidecar's reason" "key nope not found" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid nope "$TMP/ds"
expect_fail "a failed attestation is refused with the sidecar's reason" "attestation failed" \
  "$CCRFS" verify --skr "$URL" --skr-maa evil.example --skr-akv v --skr-kid ccrfs-kek "$TMP/ds"
out=$("$CCRFS" verify "${SKR[@]}" --skr-kid nope "$TMP/ds" 2>&1)
if grep -q "HTTP 403" <<<"$out" && ! grep -q "Please refer to the documentation" <<<"$out"; then
  pass "a refusal shows the sidecar's reason without its documentation paragraph"
else
  fail "refusal text: $out"
fi

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
b64url=$(tr '+/' '-_' <<<"${b64%%=*}")
if grep -qiF -e "$hex" -e "$b64" -e "$b64url" "$TMP/skr.log" "$TMP/mount.err" 2>/dev/null; then fail "a log contains the key"; else pass "no log contains the key"; fi
finish
