#!/usr/bin/env bash
# The az:// store with bearer tokens, against Azurite over HTTPS with its OAuth check: a token
# from a file, a token from a managed-identity endpoint (served here), and an expired token
# refused. The dataset is pushed with Shared Key first.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
start_azurite --oauth || skip_all "Azurite is not available (see above)"

export CCRFS_STORE_CA_FILE="$AZURITE_CA" CCRFS_AZURE_ENDPOINT="$AZURITE_ENDPOINT"
azurite_create_container data || { fail "cannot create a container in Azurite"; finish; }
A="az://$AZURITE_ACCOUNT/data/ds"
mkdir -p "$TMP/src"
head -c 300000 /dev/urandom >"$TMP/src/a.bin"
echo hi >"$TMP/src/b.txt"
"$CCRFS" keygen -o "$TMP/dek" >/dev/null 2>&1
id=$("$CCRFS" pack --key "$TMP/dek" "$TMP/src" "$TMP/ds" | tail -1)
if out=$("$CCRFS" push "$TMP/ds" "$A" 2>&1); then pass "push over HTTPS with Shared Key"; else fail "push: $out"; fi
unset AZURE_STORAGE_KEY

azurite_token 3600 >"$TMP/token"
if out=$(CCRFS_AZURE_TOKEN_FILE="$TMP/token" "$CCRFS" verify --key "$TMP/dek" --id "$id" "$A" 2>&1); then
    pass "verify with a bearer token from a file"
else
    fail "token file: $out"
fi

# A managed-identity endpoint: the fault server hands out a token document as a file.
mkdir -p "$TMP/mi"
printf '{"access_token":"%s","expires_on":"%s","resource":"https://storage.azure.com/","token_type":"Bearer"}' \
    "$(cat "$TMP/token")" "$(($(date +%s) + 3600))" >"$TMP/mi/token"
faultserver_start "$TMP/mi" || fail "the fault server did not start"
if out=$(CCRFS_AZURE_MANAGED_IDENTITY=1 CCRFS_AZURE_IDENTITY_ENDPOINT="$FAULT_URL/ok/token" \
    "$CCRFS" verify --key "$TMP/dek" --id "$id" "$A" 2>&1); then
    pass "verify with a token from a managed-identity endpoint"
else
    fail "managed identity: $out"
fi

azurite_token -10 >"$TMP/expired"
out=$(CCRFS_AZURE_TOKEN_FILE="$TMP/expired" "$CCRFS" verify --key "$TMP/dek" "$A" 2>&1)
if [ $? -eq 1 ] && grep -q "HTTP 401\|HTTP 403" <<<"$out" && ! grep -q "$(cut -c1-40 "$TMP/token")" <<<"$out"; then
    pass "an expired token is refused, and no token is printed"
else
    fail "expired token: $out"
fi
out=$(CCRFS_AZURE_TOKEN_FILE="$TMP/nonexistent" "$CCRFS" verify --key "$TMP/dek" "$A" 2>&1)
if [ $? -eq 1 ] && grep -q "bearer token" <<<"$out"; then pass "a missing token file is named"; else fail "missing token file: $out"; fi
out=$("$CCRFS" verify --key "$TMP/dek" "$A" 2>&1)
if [ $? -eq 1 ] && grep -q "HTTP 40[13]" <<<"$out"; then pass "no credentials: refused"; else fail "anonymous: $out"; fi

finish
