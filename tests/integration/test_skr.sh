#!/usr/bin/env bash
# Azure Secure Key Release: `ccrfs wrap` makes dek.wrapped.json for a data provider, and
# `ccrfs verify --skr` releases the KEK through (a local stand-in of) the SKR sidecar and
# unwraps the DEK. Refusals carry the sidecar's reason.
set -uo pipefail
: "${CCRFS:?}" "${CCRFS_SRC:?}"
. "$CCRFS_SRC/tests/integration/lib/kbs.sh"
trap kbs_cleanup EXIT
command -v python3 >/dev/null && command -v openssl >/dev/null || { echo "python3 and openssl needed"; exit 77; }
T=$KBS_TMP
kbs_setup_common || exit 1
mkdir -p "$T/keys"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$T/keys/ccrfs-kek.pem" 2>/dev/null
openssl pkey -in "$T/keys/ccrfs-kek.pem" -pubout -out "$T/kek.pub" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null
openssl pkey -in "$T/other.pem" -pubout -out "$T/other.pub" 2>/dev/null

"$CCRFS" wrap --key "$T/dek.key" --kek-pub "$T/kek.pub" --kid ccrfs-kek -o "$T/ds/dek.wrapped.json" >/dev/null &&
  grep -q '"alg":"RSA-OAEP-256"' "$T/ds/dek.wrapped.json" && ok "wrap writes dek.wrapped.json" || not_ok "wrap"

python3 "$CCRFS_SRC/tests/integration/lib/skr_standin.py" --keys-dir "$T/keys" --port-file "$T/skr.port" \
  --require-maa https://sharedeus.eus.attest.azure.net 2>"$T/skr.log" &
KBS_PIDS+=($!)
SKR_PID=$!
for i in $(seq 1 100); do [ -s "$T/skr.port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$T/skr.port")"
SKR=(--skr "$URL" --skr-maa https://sharedeus.eus.attest.azure.net --skr-akv https://vault.example.vault.azure.net)

if out=$("$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$T/ds" 2>&1); then
  ok "verify --skr: KEK released, DEK unwrapped, dataset verifies"
else
  not_ok "verify --skr: $out"
fi
expect_fail "an unknown key id is refused with the sidecar's reason" "key nope not found" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid nope "$T/ds"
expect_fail "a failed attestation is refused with the sidecar's reason" "attestation failed" \
  "$CCRFS" verify --skr "$URL" --skr-maa https://evil.example --skr-akv https://v --skr-kid ccrfs-kek "$T/ds"

cp -r "$T/ds" "$T/ds-other"
"$CCRFS" wrap --key "$T/dek.key" --kek-pub "$T/other.pub" -o "$T/ds-other/dek.wrapped.json" >/dev/null
expect_fail "a DEK wrapped for another KEK does not unwrap" "does not unwrap" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$T/ds-other"
cp -r "$T/ds" "$T/ds-none"
rm "$T/ds-none/dek.wrapped.json"
expect_fail "a dataset without dek.wrapped.json" "dek.wrapped.json" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$T/ds-none"
echo '{"version":1,"alg":"RSA1_5","wrapped_key":"AA"}' >"$T/ds-none/dek.wrapped.json"
expect_fail "a wrapped key with another algorithm is refused" "RSA-OAEP-256" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$T/ds-none"
expect_fail "wrap refuses a small RSA key" "2048 bits" bash -c \
  "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl pkey -pubout >'$T/small.pub' 2>/dev/null; '$CCRFS' wrap --key '$T/dek.key' --kek-pub '$T/small.pub' -o '$T/x.json'"

kill "$SKR_PID" 2>/dev/null
wait "$SKR_PID" 2>/dev/null
expect_fail "a sidecar that is down" "connection refused" \
  "$CCRFS" verify "${SKR[@]}" --skr-kid ccrfs-kek "$T/ds"

hex=$(xxd -p -c 64 "$T/dek.key")
b64=$(base64 -w0 "$T/dek.key")
if grep -qiF -e "$hex" -e "$b64" "$T/skr.log"; then not_ok "a log contains the key"; else ok "no log contains the key"; fi
kbs_summary
